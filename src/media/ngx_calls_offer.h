
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_OFFER_H_INCLUDED_
#define _NGX_CALLS_OFFER_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_calls_sdp.h"


/*
 * The client's side of offer/answer, as the Calls client (Chrome's
 * RTCPeerConnection under calls-common's RTCPeer) does it: a first offer
 * with the data channel only, offers that add its tracks (Opus with the
 * audio level and transport-cc extensions; VP8, optionally simulcast
 * with rids "l" and "h" sent with the mid and rid extensions), and
 * answers to the server's offers of forwarded tracks.  The server's
 * side of the same exchange is ngx_calls_negotiate.c; both write their
 * text with ngx_calls_sdp_build().
 *
 * One m-section per entry, in description order; an entry is small (the
 * SDP structures are built only while writing).
 */


#define NGX_CALLS_OFFER_MAX_ID       64
#define NGX_CALLS_OFFER_MAX_LAYERS   2

/* extension ids a client offers (Chrome's) */
#define NGX_CALLS_OFFER_EXT_AUDIO_LEVEL  1
#define NGX_CALLS_OFFER_EXT_TWCC         3
#define NGX_CALLS_OFFER_EXT_MID          4
#define NGX_CALLS_OFFER_EXT_RID          10


typedef enum {
    NGX_CALLS_OFFER_DATA = 0,                /* m=application, calls-dc */
    NGX_CALLS_OFFER_SEND,                    /* a track of ours */
    NGX_CALLS_OFFER_RECV                     /* a track offered to us */
} ngx_calls_offer_role_e;


/* the extensions a client knows, by what they are */
typedef enum {
    NGX_CALLS_OFFER_X_AUDIO_LEVEL = 0,
    NGX_CALLS_OFFER_X_TWCC,
    NGX_CALLS_OFFER_X_MID,
    NGX_CALLS_OFFER_X_RID,
    NGX_CALLS_OFFER_X_N
} ngx_calls_offer_ext_e;


typedef struct {
    ngx_calls_offer_role_e    role;
    ngx_calls_sdp_kind_e      kind;
    char                      mid[16];
    unsigned                  rejected:1;    /* port 0 */
    unsigned                  answered:1;    /* the other side accepted */

    /* the codec: ours, or the one we take of those offered */
    uint8_t                   pt;
    char                      codec[16];     /* "opus", "VP8" */
    uint32_t                  clock;
    uint8_t                   channels;
    uint8_t                   fb;            /* NGX_CALLS_SDP_FB_* */
    char                      fmtp[64];

    /* ids of the known extensions, 0 when not used */
    uint8_t                   ext[NGX_CALLS_OFFER_X_N];

    /* SEND: the MediaStream and track, one SSRC per layer */
    char                      stream[NGX_CALLS_OFFER_MAX_ID];
    char                      track[NGX_CALLS_OFFER_MAX_ID];
    uint32_t                  ssrcs[NGX_CALLS_OFFER_MAX_LAYERS];
    char                      rids[NGX_CALLS_OFFER_MAX_LAYERS][4];
    size_t                    nrids;         /* 0: one encoding */

    /* RECV: what the sender side said about the track */
    char                      remote_stream[NGX_CALLS_OFFER_MAX_ID];
    uint32_t                  remote_ssrc;
    unsigned                  remote_sends:1;
} ngx_calls_offer_media_t;


typedef struct {
    char                      ufrag[32];
    char                      pwd[64];
    char                      fp[NGX_CALLS_SDP_MAX_FP];   /* sha-256 */
    char                      candidate[128];  /* ours, "" for none */
    uint64_t                  sess_id;
    uint64_t                  sess_version;

    /* our a=setup in answers, decided by the first exchange */
    ngx_calls_sdp_setup_e     answer_setup;

    ngx_calls_offer_media_t  *media;
    size_t                    nmedia;
    size_t                    cap;
} ngx_calls_offer_t;


/*
 * ufrag, pwd: our ICE credentials; fp: our certificate's sha-256
 * fingerprint; candidate: the text after "a=candidate:" of our host
 * candidate, or NULL.  Returns 0, or -1 when a value does not fit.
 */
int ngx_calls_offer_init(ngx_calls_offer_t *o, const char *ufrag,
    const char *pwd, const char *fp, const char *candidate);
void ngx_calls_offer_free(ngx_calls_offer_t *o);

/* m-sections of ours, appended; NULL when out of memory or bad layers */
ngx_calls_offer_media_t *ngx_calls_offer_add_data(ngx_calls_offer_t *o);
ngx_calls_offer_media_t *ngx_calls_offer_add_audio(ngx_calls_offer_t *o,
    const char *stream, const char *track, uint32_t ssrc);
ngx_calls_offer_media_t *ngx_calls_offer_add_video(ngx_calls_offer_t *o,
    const char *stream, const char *track, const uint32_t *ssrcs,
    const char *const *rids, size_t nrids);

/*
 * Writes our offer (answer == 0) or our answer to the last remote offer
 * (answer != 0) into buf.  Returns the length, or -1 when size is short.
 */
long ngx_calls_offer_build(ngx_calls_offer_t *o, int answer, char *buf,
    size_t size);

/*
 * The other side's description of the same session.  A remote offer may
 * add m-sections (tracks offered to us: RECV entries with the offered
 * codec, extensions and stream id); it must keep the existing ones.  A
 * remote answer accepts or rejects ours and decides our DTLS role.
 * Returns 0, or -1 with the reason in err.
 */
int ngx_calls_offer_remote(ngx_calls_offer_t *o, const ngx_calls_sdp_t *sdp,
    int is_offer, char *err, size_t errlen);


#endif /* _NGX_CALLS_OFFER_H_INCLUDED_ */
