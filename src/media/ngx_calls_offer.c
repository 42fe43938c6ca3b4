
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_calls_offer.h"
#include "ngx_calls_rtp.h"


static ngx_calls_offer_media_t *ngx_calls_offer_add(ngx_calls_offer_t *o,
    ngx_calls_offer_role_e role, ngx_calls_sdp_kind_e kind);
static int ngx_calls_offer_copy(char *dst, size_t size, const char *src);
static void ngx_calls_offer_take_codec(ngx_calls_offer_media_t *e,
    const ngx_calls_sdp_media_t *m);
static void ngx_calls_offer_take_exts(ngx_calls_offer_media_t *e,
    const ngx_calls_sdp_media_t *m);
static void ngx_calls_offer_take_remote(ngx_calls_offer_media_t *e,
    const ngx_calls_sdp_media_t *m);
static int ngx_calls_offer_media(ngx_calls_offer_t *o,
    const ngx_calls_offer_media_t *e, int answer, ngx_calls_sdp_t *sdp);
static ngx_calls_sdp_dir_e ngx_calls_offer_dir(
    const ngx_calls_offer_media_t *e, int answer);


static const char  *ngx_calls_offer_ext_uris[NGX_CALLS_OFFER_X_N] = {
    NGX_CALLS_URI_AUDIO_LEVEL,
    NGX_CALLS_URI_TWCC,
    NGX_CALLS_URI_MID,
    NGX_CALLS_URI_RID
};


int
ngx_calls_offer_init(ngx_calls_offer_t *o, const char *ufrag,
    const char *pwd, const char *fp, const char *candidate)
{
    memset(o, 0, sizeof(ngx_calls_offer_t));

    if (ngx_calls_offer_copy(o->ufrag, sizeof(o->ufrag), ufrag) != 0
        || ngx_calls_offer_copy(o->pwd, sizeof(o->pwd), pwd) != 0
        || ngx_calls_offer_copy(o->fp, sizeof(o->fp), fp) != 0
        || ngx_calls_offer_copy(o->candidate, sizeof(o->candidate),
                                candidate ? candidate : "") != 0)
    {
        return -1;
    }

    /* JSEP: a session id below 2^63, the version counts descriptions */
    o->sess_id = ((uint64_t) random() << 31 | (uint64_t) random())
                 & 0x3fffffffffffffffULL;
    o->sess_version = 1;

    return 0;
}


void
ngx_calls_offer_free(ngx_calls_offer_t *o)
{
    free(o->media);
    o->media = NULL;
    o->nmedia = 0;
    o->cap = 0;
}


ngx_calls_offer_media_t *
ngx_calls_offer_add_data(ngx_calls_offer_t *o)
{
    return ngx_calls_offer_add(o, NGX_CALLS_OFFER_DATA,
                               NGX_CALLS_SDP_APPLICATION);
}


ngx_calls_offer_media_t *
ngx_calls_offer_add_audio(ngx_calls_offer_t *o, const char *stream,
    const char *track, uint32_t ssrc)
{
    ngx_calls_offer_media_t  *e;

    e = ngx_calls_offer_add(o, NGX_CALLS_OFFER_SEND, NGX_CALLS_SDP_AUDIO);
    if (e == NULL) {
        return NULL;
    }

    if (ngx_calls_offer_copy(e->stream, sizeof(e->stream), stream) != 0
        || ngx_calls_offer_copy(e->track, sizeof(e->track), track) != 0)
    {
        o->nmedia--;
        return NULL;
    }

    /* Chrome's Opus, as the Calls client offers it */
    e->pt = 111;
    strcpy(e->codec, "opus");
    e->clock = 48000;
    e->channels = 2;
    e->fb = NGX_CALLS_SDP_FB_TWCC;
    strcpy(e->fmtp, "minptime=10;useinbandfec=1");

    e->ext[NGX_CALLS_OFFER_X_AUDIO_LEVEL] = NGX_CALLS_OFFER_EXT_AUDIO_LEVEL;
    e->ext[NGX_CALLS_OFFER_X_TWCC] = NGX_CALLS_OFFER_EXT_TWCC;
    e->ext[NGX_CALLS_OFFER_X_MID] = NGX_CALLS_OFFER_EXT_MID;

    e->ssrcs[0] = ssrc;

    return e;
}


ngx_calls_offer_media_t *
ngx_calls_offer_add_video(ngx_calls_offer_t *o, const char *stream,
    const char *track, const uint32_t *ssrcs, const char *const *rids,
    size_t nrids)
{
    size_t                    i;
    ngx_calls_offer_media_t  *e;

    if (nrids > NGX_CALLS_OFFER_MAX_LAYERS) {
        return NULL;
    }

    e = ngx_calls_offer_add(o, NGX_CALLS_OFFER_SEND, NGX_CALLS_SDP_VIDEO);
    if (e == NULL) {
        return NULL;
    }

    if (ngx_calls_offer_copy(e->stream, sizeof(e->stream), stream) != 0
        || ngx_calls_offer_copy(e->track, sizeof(e->track), track) != 0)
    {
        o->nmedia--;
        return NULL;
    }

    for (i = 0; i < nrids; i++) {
        if (ngx_calls_offer_copy(e->rids[i], sizeof(e->rids[i]), rids[i])
            != 0)
        {
            o->nmedia--;
            return NULL;
        }

        e->ssrcs[i] = ssrcs[i];
    }

    e->nrids = nrids;

    if (nrids == 0) {
        e->ssrcs[0] = ssrcs[0];
    }

    e->pt = 96;
    strcpy(e->codec, "VP8");
    e->clock = 90000;
    e->fb = NGX_CALLS_SDP_FB_TWCC | NGX_CALLS_SDP_FB_CCM_FIR
            | NGX_CALLS_SDP_FB_NACK | NGX_CALLS_SDP_FB_NACK_PLI
            | NGX_CALLS_SDP_FB_REMB;

    e->ext[NGX_CALLS_OFFER_X_TWCC] = NGX_CALLS_OFFER_EXT_TWCC;
    e->ext[NGX_CALLS_OFFER_X_MID] = NGX_CALLS_OFFER_EXT_MID;

    /* the layers are told apart by the rid extension, not by a=ssrc */
    if (nrids) {
        e->ext[NGX_CALLS_OFFER_X_RID] = NGX_CALLS_OFFER_EXT_RID;
    }

    return e;
}


static ngx_calls_offer_media_t *
ngx_calls_offer_add(ngx_calls_offer_t *o, ngx_calls_offer_role_e role,
    ngx_calls_sdp_kind_e kind)
{
    size_t                    cap;
    ngx_calls_offer_media_t  *e;

    if (o->nmedia == o->cap) {
        cap = o->cap ? 2 * o->cap : 4;

        e = realloc(o->media, cap * sizeof(ngx_calls_offer_media_t));
        if (e == NULL) {
            return NULL;
        }

        o->media = e;
        o->cap = cap;
    }

    e = &o->media[o->nmedia];
    memset(e, 0, sizeof(ngx_calls_offer_media_t));

    e->role = role;
    e->kind = kind;

    /* Chrome numbers its mids; the server numbers the ones it adds */
    snprintf(e->mid, sizeof(e->mid), "%zu", o->nmedia);

    o->nmedia++;

    return e;
}


long
ngx_calls_offer_build(ngx_calls_offer_t *o, int answer, char *buf,
    size_t size)
{
    long                      n;
    size_t                    i;
    ngx_calls_sdp_t           sdp;
    ngx_calls_sdp_media_t    *m;

    memset(&sdp, 0, sizeof(ngx_calls_sdp_t));

    sdp.sess_id = o->sess_id;
    sdp.sess_version = o->sess_version++;
    sdp.has_bundle = 1;
    sdp.extmap_allow_mixed = 1;
    sdp.ice_trickle = 1;
    strcpy(sdp.msid_semantic, "WMS");

    n = -1;

    for (i = 0; i < o->nmedia; i++) {
        if (ngx_calls_offer_media(o, &o->media[i], answer, &sdp) != 0) {
            goto done;
        }
    }

    /* our host candidate goes with the first m-section of the bundle */

    if (o->candidate[0] && sdp.nbundle > 0) {
        m = &sdp.media[sdp.bundle[0]];
        strcpy(m->cands[0], o->candidate);
        m->ncands = 1;
        m->end_of_candidates = 1;
    }

    n = ngx_calls_sdp_build(&sdp, buf, size);

done:

    ngx_calls_sdp_free(&sdp);

    return n;
}


static int
ngx_calls_offer_media(ngx_calls_offer_t *o, const ngx_calls_offer_media_t *e,
    int answer, ngx_calls_sdp_t *sdp)
{
    size_t                  i, k;
    ngx_calls_sdp_media_t  *m;
    ngx_calls_sdp_codec_t  *c;

    m = ngx_calls_sdp_add_media(sdp);
    if (m == NULL) {
        return -1;
    }

    m->kind = e->kind;
    strcpy(m->mid, e->mid);
    m->port = e->rejected ? 0 : 9;

    strcpy(m->ice_ufrag, o->ufrag);
    strcpy(m->ice_pwd, o->pwd);
    strcpy(m->fp_alg, "sha-256");
    strcpy(m->fp, o->fp);
    m->setup = answer ? o->answer_setup : NGX_CALLS_SDP_SETUP_ACTPASS;

    if (!e->rejected) {
        sdp->bundle[sdp->nbundle++] = sdp->nmedia - 1;
    }

    if (e->kind == NGX_CALLS_SDP_APPLICATION) {
        m->sctp_port = 5000;
        m->max_message_size = 262144;
        return 0;
    }

    strcpy(m->media, e->kind == NGX_CALLS_SDP_AUDIO ? "audio" : "video");
    strcpy(m->proto, "UDP/TLS/RTP/SAVPF");
    m->dir = ngx_calls_offer_dir(e, answer);
    m->rtcp_mux = 1;
    m->rtcp_rsize = 1;

    c = &m->codecs[m->ncodecs++];
    c->pt = e->pt;

    if (e->rejected) {
        m->dir = NGX_CALLS_SDP_INACTIVE;
        return 0;
    }

    snprintf(c->name, sizeof(c->name), "%s", e->codec);
    c->clock = e->clock;
    c->channels = e->channels;
    c->fb = e->fb;
    snprintf(c->fmtp, sizeof(c->fmtp), "%s", e->fmtp);

    for (k = 0; k < NGX_CALLS_OFFER_X_N; k++) {
        if (e->ext[k]) {
            m->extmaps[m->nextmaps].id = e->ext[k];
            strcpy(m->extmaps[m->nextmaps].uri, ngx_calls_offer_ext_uris[k]);
            m->nextmaps++;
        }
    }

    if (e->role != NGX_CALLS_OFFER_SEND) {
        return 0;
    }

    strcpy(m->msid_stream, e->stream);
    strcpy(m->msid_track, e->track);

    if (e->nrids == 0) {
        m->ssrcs[0].ssrc = e->ssrcs[0];
        strcpy(m->ssrcs[0].cname, e->stream);
        strcpy(m->ssrcs[0].msid_stream, e->stream);
        strcpy(m->ssrcs[0].msid_track, e->track);
        m->nssrcs = 1;
        return 0;
    }

    for (i = 0; i < e->nrids; i++) {
        strcpy(m->rids[i].id, e->rids[i]);
        m->rids[i].send = 1;
    }

    m->nrids = e->nrids;
    m->simulcast = 1;

    return 0;
}


/* our direction: we send our tracks and receive what is offered to us */

static ngx_calls_sdp_dir_e
ngx_calls_offer_dir(const ngx_calls_offer_media_t *e, int answer)
{
    int  send, recv;

    send = (e->role == NGX_CALLS_OFFER_SEND);

    /* Chrome's addTrack() makes a sendrecv transceiver */
    if (!answer) {
        return send ? NGX_CALLS_SDP_SENDRECV : NGX_CALLS_SDP_RECVONLY;
    }

    recv = e->remote_sends;

    if (send && recv) {
        return NGX_CALLS_SDP_SENDRECV;
    }

    if (send) {
        return NGX_CALLS_SDP_SENDONLY;
    }

    return recv ? NGX_CALLS_SDP_RECVONLY : NGX_CALLS_SDP_INACTIVE;
}


int
ngx_calls_offer_remote(ngx_calls_offer_t *o, const ngx_calls_sdp_t *sdp,
    int is_offer, char *err, size_t errlen)
{
    size_t                        i;
    ngx_calls_offer_media_t      *e;
    const ngx_calls_sdp_media_t  *m, *first;

    if (sdp->nmedia < o->nmedia || (!is_offer && sdp->nmedia != o->nmedia)) {
        snprintf(err, errlen, "the %s has %zu m-sections, we have %zu",
                 is_offer ? "offer" : "answer", sdp->nmedia, o->nmedia);
        return -1;
    }

    for (i = 0; i < o->nmedia; i++) {
        if (strcmp(sdp->media[i].mid, o->media[i].mid) != 0) {
            snprintf(err, errlen, "m-section %zu has mid \"%s\", not \"%s\"",
                     i, sdp->media[i].mid, o->media[i].mid);
            return -1;
        }
    }

    /* the first exchange fixes our DTLS role (RFC 5763 5) */

    if (o->answer_setup == NGX_CALLS_SDP_SETUP_NONE) {
        first = NULL;

        for (i = 0; i < sdp->nmedia; i++) {
            if (sdp->media[i].port != 0) {
                first = &sdp->media[i];
                break;
            }
        }

        if (first == NULL) {
            snprintf(err, errlen, "every m-section is rejected");
            return -1;
        }

        if (is_offer) {
            /* a browser answers an actpass offer as the DTLS client */
            o->answer_setup = (first->setup == NGX_CALLS_SDP_SETUP_ACTIVE)
                              ? NGX_CALLS_SDP_SETUP_PASSIVE
                              : NGX_CALLS_SDP_SETUP_ACTIVE;

        } else if (first->setup == NGX_CALLS_SDP_SETUP_ACTIVE) {
            o->answer_setup = NGX_CALLS_SDP_SETUP_PASSIVE;

        } else if (first->setup == NGX_CALLS_SDP_SETUP_PASSIVE) {
            o->answer_setup = NGX_CALLS_SDP_SETUP_ACTIVE;

        } else {
            snprintf(err, errlen, "the answer has a=setup:%s",
                     first->setup == NGX_CALLS_SDP_SETUP_ACTPASS ? "actpass"
                                                                : "(none)");
            return -1;
        }
    }

    for (i = 0; i < o->nmedia; i++) {
        e = &o->media[i];
        m = &sdp->media[i];

        if (m->port == 0) {
            e->rejected = 1;
            continue;
        }

        ngx_calls_offer_take_remote(e, m);

        if (!is_offer) {
            e->answered = 1;
        }
    }

    for (i = o->nmedia; i < sdp->nmedia; i++) {
        m = &sdp->media[i];

        e = ngx_calls_offer_add(o, m->kind == NGX_CALLS_SDP_APPLICATION
                                   ? NGX_CALLS_OFFER_DATA
                                   : NGX_CALLS_OFFER_RECV,
                                m->kind);
        if (e == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        if (ngx_calls_offer_copy(e->mid, sizeof(e->mid), m->mid) != 0) {
            o->nmedia--;
            snprintf(err, errlen, "mid \"%s\" too long", m->mid);
            return -1;
        }

        if (m->port == 0 || m->kind == NGX_CALLS_SDP_OTHER) {
            e->rejected = 1;
            e->pt = m->ncodecs ? m->codecs[0].pt : 0;
            continue;
        }

        if (m->kind == NGX_CALLS_SDP_APPLICATION) {
            continue;
        }

        ngx_calls_offer_take_codec(e, m);

        if (e->codec[0] == '\0') {
            e->rejected = 1;
            continue;
        }

        ngx_calls_offer_take_exts(e, m);
        ngx_calls_offer_take_remote(e, m);
    }

    return 0;
}


/* Opus for audio, VP8 for video: what the load generator receives */

static void
ngx_calls_offer_take_codec(ngx_calls_offer_media_t *e,
    const ngx_calls_sdp_media_t *m)
{
    const ngx_calls_sdp_codec_t  *c;

    if (m->kind == NGX_CALLS_SDP_AUDIO) {
        c = ngx_calls_sdp_find_codec(m, "opus", 48000);

    } else {
        c = ngx_calls_sdp_find_codec(m, "VP8", 90000);
    }

    e->pt = m->ncodecs ? m->codecs[0].pt : 0;

    if (c == NULL) {
        return;
    }

    e->pt = c->pt;
    snprintf(e->codec, sizeof(e->codec), "%s", c->name);
    e->clock = c->clock;
    e->channels = c->channels;
    e->fb = c->fb;

    if (strlen(c->fmtp) < sizeof(e->fmtp)) {
        strcpy(e->fmtp, c->fmtp);
    }
}


static void
ngx_calls_offer_take_exts(ngx_calls_offer_media_t *e,
    const ngx_calls_sdp_media_t *m)
{
    size_t  k;

    for (k = 0; k < NGX_CALLS_OFFER_X_N; k++) {
        e->ext[k] = ngx_calls_sdp_find_extmap(m, ngx_calls_offer_ext_uris[k]);
    }
}


static void
ngx_calls_offer_take_remote(ngx_calls_offer_media_t *e,
    const ngx_calls_sdp_media_t *m)
{
    const char  *stream;

    e->remote_sends = (m->dir == NGX_CALLS_SDP_SENDRECV
                       || m->dir == NGX_CALLS_SDP_SENDONLY);

    if (e->role != NGX_CALLS_OFFER_RECV) {
        return;
    }

    stream = m->msid_stream[0] ? m->msid_stream
             : m->nssrcs ? m->ssrcs[0].msid_stream : "";

    (void) ngx_calls_offer_copy(e->remote_stream, sizeof(e->remote_stream),
                                stream);

    e->remote_ssrc = m->nssrcs ? m->ssrcs[0].ssrc : 0;
}


static int
ngx_calls_offer_copy(char *dst, size_t size, const char *src)
{
    size_t  n;

    n = strlen(src);

    if (n >= size) {
        dst[0] = '\0';
        return -1;
    }

    memcpy(dst, src, n + 1);

    return 0;
}
