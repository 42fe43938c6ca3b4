
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * Calls and forwarding: who receives which source, and the packet path
 * from a sender's SRTP to every receiver's SRTP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_calls_session.h"


static ngx_calls_source_t *ngx_calls_call_find_source(ngx_calls_session_t *s,
    const uint8_t *buf, const ngx_calls_rtp_t *rtp);


static const char  *ngx_calls_track_names[] = {
    "voice", "screen", "screen-audio", "video"
};


ngx_calls_call_t *
ngx_calls_call_create(const char *call_id, void *data)
{
    ngx_calls_call_t  *call;

    if (strlen(call_id) == 0 || strlen(call_id) > NGX_CALLS_SDP_MAX_ID) {
        return NULL;
    }

    call = calloc(1, sizeof(ngx_calls_call_t));
    if (call == NULL) {
        return NULL;
    }

    strcpy(call->id, call_id);
    call->data = data;

    return call;
}


void
ngx_calls_call_destroy(ngx_calls_call_t *call)
{
    free(call);
}


size_t
ngx_calls_call_sessions(ngx_calls_call_t *call)
{
    return call->nsessions;
}


const char *
ngx_calls_track_name(ngx_calls_track_e type)
{
    return ngx_calls_track_names[type];
}


void
ngx_calls_call_attach(ngx_calls_call_t *call, ngx_calls_session_t *s)
{
    s->call = call;
    s->prev = NULL;
    s->next = call->sessions;

    if (call->sessions) {
        call->sessions->prev = s;
    }

    call->sessions = s;
    call->nsessions++;
}


void
ngx_calls_call_detach(ngx_calls_session_t *s)
{
    size_t  i;

    /* what others receive from s: audio just stops, as in rtcd */

    for (i = 0; i < s->ntrs; i++) {
        if (s->trs[i].source) {
            ngx_calls_source_destroy(s->trs[i].source);
            s->trs[i].source = NULL;
        }
    }

    /* what s receives */

    for (i = 0; i < s->ntrs; i++) {
        if (s->trs[i].sink) {
            ngx_calls_sink_destroy(s->trs[i].sink);
        }
    }

    if (s->prev) {
        s->prev->next = s->next;

    } else {
        s->call->sessions = s->next;
    }

    if (s->next) {
        s->next->prev = s->prev;
    }

    s->call->nsessions--;
    s->prev = NULL;
    s->next = NULL;
}


void
ngx_calls_call_tracks_init(ngx_calls_session_t *s, uint64_t now)
{
    size_t                i;
    ngx_calls_session_t  *r;

    s->tracks_init = 1;

    for (r = s->call->sessions; r; r = r->next) {
        if (r == s) {
            continue;
        }

        for (i = 0; i < r->ntrs; i++) {
            if (r->trs[i].source) {
                ngx_calls_negotiate_queue(s, NGX_CALLS_OP_ADD,
                                          r->trs[i].source, now);
            }
        }
    }
}


ngx_calls_source_t *
ngx_calls_source_create(ngx_calls_session_t *s, ngx_calls_transceiver_t *tr,
    ngx_calls_track_e type, uint64_t now)
{
    size_t               i, k;
    uint8_t              rnd[8];
    ngx_calls_source_t  *src;

    static const char  alnum[] = "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    src = calloc(1, sizeof(ngx_calls_source_t));
    if (src == NULL) {
        return NULL;
    }

    src->session = s;
    src->tr = tr;
    src->type = type;

    /* rtcd genTrackID: <type>_<sender session id>_<8 random characters> */

    ngx_calls_random(rnd, sizeof(rnd));

    i = snprintf(src->track_id, sizeof(src->track_id), "%s_%s_",
                 ngx_calls_track_names[type], s->id);

    for (k = 0; k < sizeof(rnd); k++) {
        src->track_id[i + k] = alnum[rnd[k] % (sizeof(alnum) - 1)];
    }

    src->track_id[i + sizeof(rnd)] = '\0';

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: new track %s",
                  s->id, src->track_id);

    ngx_calls_stat(s, NGX_CALLS_STAT_TRACK_IN, 1, "audio/opus");

    return src;
}


void
ngx_calls_source_destroy(ngx_calls_source_t *src)
{
    ngx_calls_session_t  *r;

    while (src->nsinks) {
        ngx_calls_sink_destroy(src->sinks[src->nsinks - 1]);
    }

    for (r = src->session->call->sessions; r; r = r->next) {
        ngx_calls_negotiate_unqueue(r, src);

        if (r->last_source == src) {
            r->last_source = NULL;
        }
    }

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: track %s ended",
                  src->session->id, src->track_id);

    ngx_calls_stat(src->session, NGX_CALLS_STAT_TRACK_IN, -1, "audio/opus");

    free(src->sinks);
    free(src);
}


ngx_calls_sink_t *
ngx_calls_sink_create(ngx_calls_source_t *src, ngx_calls_session_t *receiver,
    ngx_calls_transceiver_t *tr)
{
    size_t              i, cap;
    uint32_t            ssrc;
    ngx_calls_sink_t   *sink, **sinks;

    if (src->nsinks == src->sinks_cap) {
        cap = src->sinks_cap ? 2 * src->sinks_cap : 4;

        sinks = realloc(src->sinks, cap * sizeof(ngx_calls_sink_t *));
        if (sinks == NULL) {
            return NULL;
        }

        src->sinks = sinks;
        src->sinks_cap = cap;
    }

    sink = calloc(1, sizeof(ngx_calls_sink_t));
    if (sink == NULL) {
        return NULL;
    }

    /* an SSRC of our own toward this receiver, unique in its session */

    do {
        ngx_calls_random(&ssrc, sizeof(ssrc));

        for (i = 0; i < receiver->ntrs; i++) {
            if (receiver->trs[i].sink && receiver->trs[i].sink->ssrc == ssrc)
            {
                break;
            }
        }

    } while (ssrc == 0 || i < receiver->ntrs);

    sink->source = src;
    sink->session = receiver;
    sink->tr = tr;
    sink->ssrc = ssrc;
    sink->pt = tr->pt;

    src->sinks[src->nsinks++] = sink;

    return sink;
}


void
ngx_calls_sink_destroy(ngx_calls_sink_t *sink)
{
    size_t               i;
    ngx_calls_source_t  *src;

    src = sink->source;

    for (i = 0; i < src->nsinks; i++) {
        if (src->sinks[i] == sink) {
            src->sinks[i] = src->sinks[--src->nsinks];
            break;
        }
    }

    if (sink->tr && sink->tr->sink == sink) {
        sink->tr->sink = NULL;
    }

    if (sink->active) {
        ngx_calls_stat(sink->session, NGX_CALLS_STAT_TRACK_OUT, -1,
                       "audio/opus");
    }

    free(sink);
}


/*
 * The hot path: one unprotected RTP packet of sender s, copied for each
 * receiver with its SSRC, payload type and extension ids, protected with
 * the receiver's SRTP context and sent on its path.  No allocation.
 */

void
ngx_calls_call_rtp(ngx_calls_session_t *s, uint8_t *buf, size_t len,
    uint64_t now)
{
    size_t                i, n;
    uint8_t               out[NGX_CALLS_PACKET_SIZE];
    ngx_calls_sink_t     *sink;
    ngx_calls_rtp_t       rtp;
    ngx_calls_source_t   *src;
    ngx_calls_session_t  *r;

    if (ngx_calls_rtp_parse(buf, len, &rtp) != 0) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_RTP_MALFORMED, 1);
        return;
    }

    src = s->last_source;

    if (src == NULL || src->ssrc != rtp.ssrc) {
        src = ngx_calls_call_find_source(s, buf, &rtp);

        if (src == NULL) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_RTP_UNKNOWN_SSRC, 1);
            return;
        }

        s->last_source = src;
    }

    if (src->muted) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_RTP_MUTED, 1);
        return;
    }

    for (i = 0; i < src->nsinks; i++) {
        sink = src->sinks[i];
        r = sink->session;

        if (!sink->active || !r->srtp_ready || r->closed) {
            continue;
        }

        n = ngx_calls_rtp_rewrite(out, sizeof(out) - NGX_CALLS_SRTP_TRAILER,
                                  buf, &rtp, sink->ssrc, sink->pt,
                                  &sink->extmap, r->twcc_seq);
        if (n == 0) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_RTP_MALFORMED, 1);
            continue;
        }

        if (sink->extmap.twcc_id) {
            r->twcc_seq++;
        }

        if (ngx_calls_srtp_protect(&r->srtp, out, &n) != NGX_CALLS_SRTP_OK) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_SEND_FAILED, 1);
            ngx_calls_stat(r, NGX_CALLS_STAT_ERROR, 1, "rtp");
            continue;
        }

        if (ngx_calls_session_send(r, out, n) == 0) {
            ngx_calls_count(NGX_CALLS_CNT_RTP_FORWARDED, 1);
        }
    }
}


static ngx_calls_source_t *
ngx_calls_call_find_source(ngx_calls_session_t *s, const uint8_t *buf,
    const ngx_calls_rtp_t *rtp)
{
    size_t               i, len;
    const uint8_t       *mid;
    ngx_calls_source_t  *src, *unbound;

    unbound = NULL;

    for (i = 0; i < s->ntrs; i++) {
        src = s->trs[i].source;

        if (src == NULL) {
            continue;
        }

        if (src->ssrc == rtp->ssrc) {
            return src;
        }

        if (src->ssrc != 0) {
            continue;
        }

        /* an unsignaled SSRC: the mid extension names the m-section */

        if (src->ext_mid) {
            mid = ngx_calls_rtp_ext_find(buf, rtp, src->ext_mid, &len);

            if (mid && len == strlen(s->trs[i].mid)
                && memcmp(mid, s->trs[i].mid, len) == 0)
            {
                src->ssrc = rtp->ssrc;
                return src;
            }
        }

        unbound = (unbound == NULL) ? src : unbound;
    }

    /* without the extension, one unbound source can only be this one */

    if (unbound && unbound->ext_mid == 0) {
        unbound->ssrc = rtp->ssrc;
        return unbound;
    }

    return NULL;
}
