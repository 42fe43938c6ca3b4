
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_SDP_H_INCLUDED_
#define _NGX_CALLS_SDP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * SDP as WebRTC uses it (RFC 8866, RFC 8829 JSEP, RFC 8843 BUNDLE,
 * RFC 8830 msid, RFC 8851 rid, RFC 8853 simulcast, RFC 8841 SCTP).
 *
 * One structure serves both directions: ngx_calls_sdp_parse() fills it from
 * a remote description, and ngx_calls_sdp_build() writes a local
 * description (answer or offer) from one the engine filled in.
 *
 * Fixed-size fields hold what WebRTC endpoints send; anything longer is a
 * parse error naming the line, never a silent truncation.
 */


#define NGX_CALLS_SDP_MAX_ID         64      /* mid, msid parts, cname ... */
#define NGX_CALLS_SDP_MAX_UFRAG      256
#define NGX_CALLS_SDP_MAX_PWD        256
#define NGX_CALLS_SDP_MAX_FP         192     /* hex with colons, sha-512 */
#define NGX_CALLS_SDP_MAX_CODECS     32
#define NGX_CALLS_SDP_MAX_FMTP       256
#define NGX_CALLS_SDP_MAX_EXTMAPS    16
#define NGX_CALLS_SDP_MAX_URI        128
#define NGX_CALLS_SDP_MAX_SSRCS      8
#define NGX_CALLS_SDP_MAX_RIDS       4
#define NGX_CALLS_SDP_MAX_CANDS      16
#define NGX_CALLS_SDP_MAX_CAND_LINE  256
#define NGX_CALLS_SDP_MAX_BUNDLE     1024    /* m-sections in one BUNDLE */


typedef enum {
    NGX_CALLS_SDP_AUDIO = 0,
    NGX_CALLS_SDP_VIDEO,
    NGX_CALLS_SDP_APPLICATION,
    NGX_CALLS_SDP_OTHER                      /* parsed, then rejected */
} ngx_calls_sdp_kind_e;


typedef enum {
    NGX_CALLS_SDP_SENDRECV = 0,              /* also the default */
    NGX_CALLS_SDP_SENDONLY,
    NGX_CALLS_SDP_RECVONLY,
    NGX_CALLS_SDP_INACTIVE
} ngx_calls_sdp_dir_e;


typedef enum {
    NGX_CALLS_SDP_SETUP_NONE = 0,
    NGX_CALLS_SDP_SETUP_ACTPASS,
    NGX_CALLS_SDP_SETUP_ACTIVE,
    NGX_CALLS_SDP_SETUP_PASSIVE
} ngx_calls_sdp_setup_e;


/* rtcp-fb flags of a codec */
#define NGX_CALLS_SDP_FB_NACK        0x01
#define NGX_CALLS_SDP_FB_NACK_PLI    0x02
#define NGX_CALLS_SDP_FB_CCM_FIR     0x04
#define NGX_CALLS_SDP_FB_REMB        0x08
#define NGX_CALLS_SDP_FB_TWCC        0x10


typedef struct {
    uint8_t                   pt;
    char                      name[16];      /* "opus", "VP8", "rtx" ... */
    uint32_t                  clock;
    uint8_t                   channels;      /* 0 when not given */
    uint8_t                   fb;            /* NGX_CALLS_SDP_FB_* */
    uint8_t                   apt;           /* rtx: apt= of fmtp, else 0 */
    char                      fmtp[NGX_CALLS_SDP_MAX_FMTP];
} ngx_calls_sdp_codec_t;


typedef struct {
    uint8_t                   id;
    char                      uri[NGX_CALLS_SDP_MAX_URI];
} ngx_calls_sdp_extmap_t;


typedef struct {
    uint32_t                  ssrc;
    char                      cname[NGX_CALLS_SDP_MAX_ID];
    char                      msid_stream[NGX_CALLS_SDP_MAX_ID];
    char                      msid_track[NGX_CALLS_SDP_MAX_ID];
} ngx_calls_sdp_ssrc_t;


typedef struct {
    char                      id[16];
    unsigned                  send:1;        /* "a=rid:<id> send" */
} ngx_calls_sdp_rid_t;


typedef struct {
    ngx_calls_sdp_kind_e      kind;
    char                      media[16];     /* the m= media token */
    uint16_t                  port;          /* 0: rejected / stopped */
    char                      proto[32];     /* UDP/TLS/RTP/SAVPF ... */
    char                      mid[NGX_CALLS_SDP_MAX_ID];
    ngx_calls_sdp_dir_e       dir;

    /* transport, per m-section (BUNDLE peers repeat the same values) */
    char                      ice_ufrag[NGX_CALLS_SDP_MAX_UFRAG];
    char                      ice_pwd[NGX_CALLS_SDP_MAX_PWD];
    char                      fp_alg[16];    /* "sha-256" */
    char                      fp[NGX_CALLS_SDP_MAX_FP];  /* "AB:CD:..." */
    ngx_calls_sdp_setup_e     setup;

    unsigned                  rtcp_mux:1;
    unsigned                  rtcp_rsize:1;
    unsigned                  end_of_candidates:1;
    unsigned                  bundle_only:1;

    /* RTP */
    ngx_calls_sdp_codec_t     codecs[NGX_CALLS_SDP_MAX_CODECS];
    size_t                    ncodecs;       /* in m= line order */
    ngx_calls_sdp_extmap_t    extmaps[NGX_CALLS_SDP_MAX_EXTMAPS];
    size_t                    nextmaps;

    char                      msid_stream[NGX_CALLS_SDP_MAX_ID];  /* a=msid */
    char                      msid_track[NGX_CALLS_SDP_MAX_ID];

    ngx_calls_sdp_ssrc_t      ssrcs[NGX_CALLS_SDP_MAX_SSRCS];
    size_t                    nssrcs;
    uint32_t                  fid[2];        /* a=ssrc-group:FID media rtx */

    ngx_calls_sdp_rid_t       rids[NGX_CALLS_SDP_MAX_RIDS];
    size_t                    nrids;
    unsigned                  simulcast:1;   /* a=simulcast present */

    /* application (data channels) */
    uint16_t                  sctp_port;     /* a=sctp-port */
    uint32_t                  max_message_size;

    /* candidates, as the text after "a=candidate:" */
    char                      cands[NGX_CALLS_SDP_MAX_CANDS]
                                   [NGX_CALLS_SDP_MAX_CAND_LINE];
    size_t                    ncands;
} ngx_calls_sdp_media_t;


typedef struct {
    uint64_t                  sess_id;       /* o= */
    uint64_t                  sess_version;

    /* session-level defaults, copied into m-sections that lack them */
    char                      ice_ufrag[NGX_CALLS_SDP_MAX_UFRAG];
    char                      ice_pwd[NGX_CALLS_SDP_MAX_PWD];
    char                      fp_alg[16];
    char                      fp[NGX_CALLS_SDP_MAX_FP];
    ngx_calls_sdp_setup_e     setup;

    unsigned                  ice_lite:1;
    unsigned                  ice_trickle:1; /* a=ice-options:trickle */
    unsigned                  extmap_allow_mixed:1;

    char                      msid_semantic[NGX_CALLS_SDP_MAX_ID];

    /* a=group:BUNDLE, indexes into media[] in group order */
    size_t                    bundle[NGX_CALLS_SDP_MAX_BUNDLE];
    size_t                    nbundle;
    unsigned                  has_bundle:1;

    ngx_calls_sdp_media_t    *media;         /* heap array, see below */
    size_t                    nmedia;
    size_t                    media_cap;
} ngx_calls_sdp_t;


/*
 * Parses text into sdp (which must be zeroed or freshly freed).  Returns 0,
 * or -1 with a message in err that names the problem and the line, e.g.
 * "line 7: bad a=rtpmap".  Session-level ICE/fingerprint/setup values are
 * inherited by m-sections that have none.  The caller frees with
 * ngx_calls_sdp_free() in both cases.
 */
int ngx_calls_sdp_parse(ngx_calls_sdp_t *sdp, const char *text, size_t len,
    char *err, size_t errlen);

/*
 * Semantic checks a WebRTC answerer needs: BUNDLE present and covering
 * every accepted m-section, ICE credentials and a sha-256 fingerprint
 * present, rtcp-mux on every RTP m-section.  Returns 0, or -1 with a
 * message naming the problem ("offer has no BUNDLE group", "m-section 2
 * (mid 1) lacks a=rtcp-mux", ...).
 */
int ngx_calls_sdp_check_webrtc(const ngx_calls_sdp_t *sdp, char *err,
    size_t errlen);

/* Appends an m-section; returns it zeroed, or NULL on allocation failure. */
ngx_calls_sdp_media_t *ngx_calls_sdp_add_media(ngx_calls_sdp_t *sdp);

/*
 * Writes sdp as text (CRLF line ends) into buf.  Returns the length, or -1
 * when size is too small.  Session-level ICE credentials, fingerprint and
 * setup are written per m-section as browsers do.  Attributes written for
 * an m-section: mid, direction, ice-ufrag/pwd, fingerprint, setup,
 * rtcp-mux, rtcp-rsize, rtpmap/fmtp/rtcp-fb per codec, extmap, msid,
 * ssrc (cname, msid), ssrc-group, rid, simulcast, sctp-port,
 * max-message-size, candidates, end-of-candidates.
 */
long ngx_calls_sdp_build(const ngx_calls_sdp_t *sdp, char *buf, size_t size);

void ngx_calls_sdp_free(ngx_calls_sdp_t *sdp);

/* helpers */
const ngx_calls_sdp_codec_t *ngx_calls_sdp_find_codec(
    const ngx_calls_sdp_media_t *m, const char *name, uint32_t clock);
uint8_t ngx_calls_sdp_find_extmap(const ngx_calls_sdp_media_t *m,
    const char *uri);                        /* id, or 0 if absent */


#endif /* _NGX_CALLS_SDP_H_INCLUDED_ */
