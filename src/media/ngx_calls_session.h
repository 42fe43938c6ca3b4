
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_SESSION_H_INCLUDED_
#define _NGX_CALLS_SESSION_H_INCLUDED_


/*
 * Inside the media engine: sessions, their m-sections (transceivers), the
 * sources (tracks a session sends us) and sinks (a source forwarded to
 * one receiver).  Shared by ngx_calls_session.c (transport: ICE, DTLS,
 * SRTP, SCTP), ngx_calls_negotiate.c (offer/answer) and ngx_calls_call.c
 * (calls and forwarding).
 */


#include "ngx_calls_media.h"
#include "ngx_calls_dtls.h"
#include "ngx_calls_srtp.h"
#include "ngx_calls_sctp.h"
#include "ngx_calls_sdp.h"
#include "ngx_calls_rtp.h"
#include "ngx_calls_rtcp.h"
#include "ngx_calls_nack.h"
#include "ngx_calls_twcc.h"
#include "ngx_calls_bwe.h"
#include "ngx_calls_vad.h"


#define NGX_CALLS_MAX_PATHS          8
#define NGX_CALLS_MAX_CANDIDATES     16
#define NGX_CALLS_MAX_OPS            256
#define NGX_CALLS_MIN_OPS            8       /* first allocation of ops */

#define NGX_CALLS_SIGNALING_TIMEOUT  10000   /* first offer, each answer */
#define NGX_CALLS_LOCK_TIMEOUT       5000    /* our wait for the DC lock */
#define NGX_CALLS_CONNECT_TIMEOUT    30000   /* answer -> ICE+DTLS up */
#define NGX_CALLS_CONSENT_TIMEOUT    30000   /* RFC 7675 */
#define NGX_CALLS_MAX_SDP            (1024 * 1024)
#define NGX_CALLS_DC_MAX_SDP         65536   /* inflated, as the plugin */

/* Mattermost ids have 26 characters; track ids must fit an msid */
#define NGX_CALLS_MAX_SESSION_ID     40

/* rtcd's payload types (service/rtc/sfu.go), Chrome's too */
#define NGX_CALLS_OPUS_PT            111
#define NGX_CALLS_OPUS_FMTP          "minptime=10;useinbandfec=1"
#define NGX_CALLS_VP8_PT             96
#define NGX_CALLS_AV1_PT             45

/* what SRTP adds to a packet on the wire, for congestion control */
#define NGX_CALLS_SRTP_OVERHEAD      16

/* packet buffers: one datagram plus the SRTP trailer we may add */
#define NGX_CALLS_PACKET_SIZE        (1500 + NGX_CALLS_SRTP_TRAILER)


typedef struct ngx_calls_source_s       ngx_calls_source_t;
typedef struct ngx_calls_sink_s         ngx_calls_sink_t;
typedef struct ngx_calls_transceiver_s  ngx_calls_transceiver_t;


typedef enum {
    NGX_CALLS_TRACK_VOICE = 0,
    NGX_CALLS_TRACK_SCREEN,
    NGX_CALLS_TRACK_SCREEN_AUDIO,
    NGX_CALLS_TRACK_VIDEO
} ngx_calls_track_e;

#define ngx_calls_track_is_video(t)                                          \
    ((t) == NGX_CALLS_TRACK_SCREEN || (t) == NGX_CALLS_TRACK_VIDEO)


/* the codecs rtcd serves: Opus, VP8 and AV1 (no RTX, no FEC) */
typedef enum {
    NGX_CALLS_CODEC_OPUS = 0,
    NGX_CALLS_CODEC_VP8,
    NGX_CALLS_CODEC_AV1
} ngx_calls_codec_e;


#define NGX_CALLS_MAX_LAYERS         3        /* simulcast rids per m-line */
#define NGX_CALLS_RATE_WINDOW        2000     /* ms, a layer's rate */


/*
 * One RTP stream a session sends us: a voice or screen-audio track, or
 * one simulcast layer (rid) of a screen or camera track.  The layers of
 * one video track share their m-section.
 */
struct ngx_calls_source_s {
    ngx_calls_session_t      *session;
    ngx_calls_transceiver_t  *tr;
    ngx_calls_track_e         type;
    ngx_calls_codec_e         codec;
    char                      rid[16];        /* "": one encoding */
    char                      track_id[NGX_CALLS_SDP_MAX_ID];
                                              /* "voice_<session>_<8>" */

    uint32_t                  ssrc;           /* 0: not known yet */
    uint8_t                   pt;
    uint8_t                   ext_audio_level;
    uint8_t                   ext_mid;
    uint8_t                   ext_rid;

    unsigned                  muted:1;

    /* video: the measured rate, and keyframe requests (at most 1/s) */
    uint64_t                  rate_bytes;
    uint64_t                  rate_start;
    uint32_t                  rate_bps;
    uint64_t                  last_pli;
    unsigned                  pli_wanted:1;   /* held back by the 1/s rule */

    /* losses (our NACKs, video) and reception (our receiver reports) */
    ngx_calls_nack_rx_t       rx;

    /* video: recent packets, to answer receivers' NACKs */
    ngx_calls_nack_buf_t     *rtx;

    /* voice: rtcd's voice activity from the audio level extension */
    ngx_calls_vad_t           vad;

    /* sinks forwarding this stream, or waiting for its keyframe */
    ngx_calls_sink_t        **sinks;
    size_t                    nsinks;
    size_t                    sinks_cap;
};


/*
 * A track forwarded to one receiver: one m-section there, one SSRC of
 * ours.  For video it follows one layer of the sender's track at a time;
 * a switch waits for a keyframe of the new layer and keeps sequence
 * numbers and timestamps continuous, so the receiver's picture goes on.
 */
struct ngx_calls_sink_s {
    ngx_calls_session_t      *sender;
    ngx_calls_track_e         type;
    ngx_calls_codec_e         codec;
    ngx_calls_source_t       *source;         /* the layer forwarded */
    ngx_calls_source_t       *pending;        /* to switch to */

    ngx_calls_session_t      *session;        /* the receiver */
    ngx_calls_transceiver_t  *tr;             /* its m-section there */
    char                      track_id[NGX_CALLS_SDP_MAX_ID];
    uint32_t                  ssrc;           /* ours, toward the receiver */
    uint8_t                   pt;
    unsigned                  active:1;       /* the receiver answered */
    unsigned                  started:1;      /* a packet went out */
    ngx_calls_rtp_extmap_t    extmap;

    /* output = input + delta, re-based at each layer switch */
    uint16_t                  seq_delta;
    uint32_t                  ts_delta;
    uint16_t                  last_seq;
    uint32_t                  last_ts;
    uint64_t                  last_time;
    uint16_t                  pic_delta;      /* VP8 picture id */
    uint16_t                  last_pic;
    uint8_t                   tl0_delta;      /* VP8 TL0PICIDX */
    uint8_t                   last_tl0;

    /* for our sender reports */
    uint32_t                  packets;
    uint32_t                  octets;

    /* simulcast: no upgrade before switch_at; the wait grows */
    uint64_t                  switch_at;
    uint64_t                  backoff;
};


typedef enum {
    NGX_CALLS_TR_RECV = 0,                    /* the client sends on it */
    NGX_CALLS_TR_SEND,                        /* we forward a track on it */
    NGX_CALLS_TR_DATA                         /* m=application */
} ngx_calls_tr_e;


/* one m-section of the session's description */
struct ngx_calls_transceiver_s {
    ngx_calls_tr_e            role;
    ngx_calls_sdp_kind_e      kind;
    char                      mid[NGX_CALLS_SDP_MAX_ID];
    char                      media[16];
    char                      proto[32];
    unsigned                  rejected:1;     /* port 0 */
    unsigned                  client_sends:1; /* sendrecv/sendonly */

    /* the codec we accepted or offered, with its payload type */
    ngx_calls_codec_e         codec;
    uint8_t                   pt;

    /* what the client sends on it: one source per layer */
    ngx_calls_source_t       *sources[NGX_CALLS_MAX_LAYERS];
    size_t                    nsources;
    char                      rids[NGX_CALLS_MAX_LAYERS][16];
    size_t                    nrids;          /* offered simulcast rids */

    ngx_calls_sink_t         *sink;           /* SEND; NULL once gone */

    uint16_t                  sctp_port;      /* DATA: the client's */
};


typedef enum {
    NGX_CALLS_OP_ADD = 1,                     /* forward a track to us */
    NGX_CALLS_OP_RENEGOTIATE                  /* a video track went away */
} ngx_calls_op_e;


/* a track change queued for a receiver, one offer/answer round each */
typedef struct {
    ngx_calls_op_e            type;
    ngx_calls_session_t      *sender;         /* ADD: whose track */
    ngx_calls_track_e         track;
    uint64_t                  queued;         /* when, for the lock metrics */
} ngx_calls_op_t;


typedef struct {
    ngx_calls_path_t          path;
    uint64_t                  last_check;     /* last valid STUN check */
} ngx_calls_ice_path_t;


typedef enum {
    NGX_CALLS_SIG_STABLE = 0,
    NGX_CALLS_SIG_LOCAL_OFFER                 /* our offer awaits answer */
} ngx_calls_sig_e;


typedef enum {
    NGX_CALLS_LOCK_FREE = 0,
    NGX_CALLS_LOCK_CLIENT,                    /* granted to the client */
    NGX_CALLS_LOCK_SERVER                     /* our offer holds it */
} ngx_calls_lock_e;


struct ngx_calls_session_s {
    ngx_calls_call_t         *call;
    ngx_calls_session_t      *prev;           /* in call->sessions */
    ngx_calls_session_t      *next;
    void                     *data;

    char                      id[NGX_CALLS_MAX_SESSION_ID + 1];
    char                      user_id[NGX_CALLS_SDP_MAX_ID + 1];
    char                      ufrag[NGX_CALLS_SDP_MAX_UFRAG];
    char                      pwd[NGX_CALLS_SDP_MAX_PWD];
    ngx_calls_candidate_t     cands[NGX_CALLS_MAX_CANDIDATES];
    size_t                    ncands;
    unsigned                  av1_support:1;
    unsigned                  dc_signaling:1;
    unsigned                  muted:1;        /* voice not forwarded */

    /* the MediaStream ids the client announced (screen_on, video_on) */
    char                      screen_stream[NGX_CALLS_SDP_MAX_ID];
    char                      video_stream[NGX_CALLS_SDP_MAX_ID];

    uint64_t                  created;
    uint64_t                  answered_at;

    /* what the client told us in its first offer */
    char                      remote_ufrag[NGX_CALLS_SDP_MAX_UFRAG];
    char                      remote_fp_alg[16];
    char                      remote_fp[NGX_CALLS_SDP_MAX_FP];
    unsigned                  dtls_client:1;  /* we are the DTLS client */

    /* ICE */
    ngx_calls_ice_path_t      paths[NGX_CALLS_MAX_PATHS];
    size_t                    npaths;
    ngx_calls_ice_path_t     *selected;
    uint64_t                  last_check;

    /* DTLS, SRTP, SCTP */
    ngx_calls_dtls_t         *dtls;
    ngx_calls_srtp_t          srtp;
    ngx_calls_sctp_t         *sctp;
    uint16_t                  dc_sid;
    unsigned                  srtp_ready:1;
    unsigned                  connected:1;
    unsigned                  sctp_up:1;
    unsigned                  dc_open:1;

    /* negotiation */
    ngx_calls_transceiver_t  *trs;
    size_t                    ntrs;
    size_t                    trs_cap;
    char                      ext_uris[NGX_CALLS_RTP_MAX_EXT_ID + 1]
                                      [NGX_CALLS_SDP_MAX_URI];
    uint64_t                  sdp_id;
    uint64_t                  sdp_version;
    ngx_calls_sig_e           sig;
    unsigned                  answered:1;     /* first offer answered */
    unsigned                  extmap_allow_mixed:1;
    unsigned                  tracks_init:1;  /* may receive forwards */
    unsigned                  offer_on_dc:1;  /* pending offer went by DC */
    ngx_calls_lock_e          lock;
    uint64_t                  lock_since;
    uint64_t                  offer_sent;     /* 0: none pending */
    ngx_calls_op_t           *ops;            /* ring, grows on demand */
    size_t                    ops_size;
    size_t                    ops_head;
    size_t                    nops;
    size_t                    op_tr;          /* m-section it added */
    ngx_calls_source_t       *last_source;    /* of the last RTP packet */

    /* timers and teardown */
    uint64_t                  timer_at;
    char                      close_reason[128];
    const char               *close_state;    /* "failed" or "closed" */
    unsigned                  close_pending:1;
    unsigned                  closed:1;

    uint16_t                  twcc_seq;
    uint32_t                  rtcp_ssrc;      /* ours in feedback we send */
    uint32_t                  rtt_ms;         /* from its receiver reports */
    uint64_t                  rtcp_at;        /* next NACK/report round */
    uint64_t                  report_at;      /* next SR/RR */

    /*
     * Transport-wide congestion control: what it sends us (we give
     * feedback, made on its first packet with the extension) and what we
     * send it (its feedback drives our estimate of its downlink, which
     * picks simulcast layers; made with its first video track).
     */
    uint8_t                   ext_twcc;       /* its id for transport-cc */
    ngx_calls_twcc_rx_t      *twcc_rx;
    ngx_calls_twcc_tx_t      *twcc_tx;
    ngx_calls_bwe_t          *bwe;
    uint64_t                  layers_at;      /* next simulcast decision */

    /* calls-dc statistics from the client, for metrics */
    double                    loss_rate;
    double                    rtt;
    double                    jitter;
};


struct ngx_calls_call_s {
    char                      id[NGX_CALLS_SDP_MAX_ID + 1];
    void                     *data;
    ngx_calls_session_t      *sessions;
    size_t                    nsessions;
    ngx_calls_session_t      *screen;         /* the one sharing, if any */
};


/* ngx_calls_media.c */
extern ngx_calls_media_handler_t  *ngx_calls_handler;
extern ngx_calls_dtls_ctx_t       *ngx_calls_dtls_ctx;
extern uint64_t                    ngx_calls_now;

void ngx_calls_log(unsigned level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ngx_calls_random(void *buf, size_t len);
void ngx_calls_event(ngx_calls_session_t *s, ngx_calls_media_ev_e type,
    unsigned rtc_type, const char *text, size_t len);
void ngx_calls_error(ngx_calls_session_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ngx_calls_stat(ngx_calls_session_t *s, ngx_calls_stat_e stat,
    double value, const char *label);

/* ngx_calls_session.c */
int ngx_calls_session_send(ngx_calls_session_t *s, const uint8_t *buf,
    size_t len);
void ngx_calls_session_fail(ngx_calls_session_t *s, uint64_t now,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ngx_calls_session_schedule(ngx_calls_session_t *s, uint64_t when);
int ngx_calls_session_send_rtcp(ngx_calls_session_t *s, uint8_t *buf,
    size_t len);
int ngx_calls_session_dc_send(ngx_calls_session_t *s, int binary,
    const uint8_t *buf, size_t len);

/* ngx_calls_negotiate.c */
int ngx_calls_negotiate_sdp(ngx_calls_session_t *s, const char *json,
    size_t len, int from_dc, uint64_t now);
int ngx_calls_negotiate_ice(ngx_calls_session_t *s, const char *json,
    size_t len);
int ngx_calls_negotiate_stream(ngx_calls_session_t *s, unsigned type,
    const char *json, size_t len, uint64_t now);
void ngx_calls_negotiate_queue(ngx_calls_session_t *s, ngx_calls_op_e type,
    ngx_calls_session_t *sender, ngx_calls_track_e track, uint64_t now);
void ngx_calls_negotiate_unqueue(ngx_calls_session_t *s,
    ngx_calls_session_t *sender, ngx_calls_track_e track);
void ngx_calls_negotiate_next(ngx_calls_session_t *s, uint64_t now);
void ngx_calls_negotiate_timer(ngx_calls_session_t *s, uint64_t now);
uint64_t ngx_calls_negotiate_deadline(ngx_calls_session_t *s);
void ngx_calls_negotiate_free(ngx_calls_session_t *s);

/* ngx_calls_call.c */
ngx_calls_source_t *ngx_calls_source_create(ngx_calls_session_t *s,
    ngx_calls_transceiver_t *tr, ngx_calls_track_e type,
    ngx_calls_codec_e codec, const char *rid, uint64_t now);
void ngx_calls_source_destroy(ngx_calls_source_t *src, uint64_t now);
ngx_calls_sink_t *ngx_calls_sink_create(ngx_calls_session_t *sender,
    ngx_calls_track_e type, ngx_calls_session_t *receiver,
    ngx_calls_transceiver_t *tr);
void ngx_calls_sink_destroy(ngx_calls_sink_t *sink);
int ngx_calls_call_has_track(ngx_calls_session_t *s, ngx_calls_track_e type);
void ngx_calls_call_attach(ngx_calls_call_t *call, ngx_calls_session_t *s);
void ngx_calls_call_detach(ngx_calls_session_t *s, uint64_t now);
void ngx_calls_call_tracks_init(ngx_calls_session_t *s, uint64_t now);
void ngx_calls_call_announce(ngx_calls_session_t *s, ngx_calls_track_e type,
    uint64_t now);
void ngx_calls_call_rtp(ngx_calls_session_t *s, uint8_t *buf, size_t len,
    uint64_t arrival_us, uint64_t now);
void ngx_calls_call_twcc_start(ngx_calls_session_t *s);
void ngx_calls_call_vad_reset(ngx_calls_session_t *s);
uint64_t ngx_calls_wallclock(void);
void ngx_calls_source_keyframe(ngx_calls_source_t *src, uint64_t now);
void ngx_calls_call_rtcp(ngx_calls_session_t *s, const uint8_t *buf,
    size_t len, uint64_t now);
void ngx_calls_call_rtcp_timer(ngx_calls_session_t *s, uint64_t now);
const char *ngx_calls_track_name(ngx_calls_track_e type);
const char *ngx_calls_codec_mime(ngx_calls_codec_e codec);

/* ngx_calls_video.c */
typedef struct {
    uint16_t                  picture_id;
    uint8_t                   tl0picidx;
    unsigned                  has_picture_id:1;
    unsigned                  long_picture_id:1;   /* 15 bits, M set */
    unsigned                  has_tl0picidx:1;
} ngx_calls_vp8_ids_t;

int ngx_calls_video_keyframe(ngx_calls_codec_e codec, const uint8_t *payload,
    size_t len);
int ngx_calls_vp8_ids(const uint8_t *payload, size_t len,
    ngx_calls_vp8_ids_t *ids);
int ngx_calls_vp8_rewrite(uint8_t *payload, size_t len, uint16_t pic_delta,
    uint8_t tl0_delta, uint16_t *last_pic, uint8_t *last_tl0);


#endif /* _NGX_CALLS_SESSION_H_INCLUDED_ */
