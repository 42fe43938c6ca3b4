
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * Calls and forwarding: who receives which track, which simulcast layer
 * each receiver follows, and the packet path from a sender's SRTP to
 * every receiver's SRTP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_calls_bytes.h"
#include "ngx_calls_session.h"


static void ngx_calls_sink_attach(ngx_calls_sink_t *sink,
    ngx_calls_source_t *src);
static void ngx_calls_sink_detach(ngx_calls_sink_t *sink,
    ngx_calls_source_t *src);
static ngx_calls_source_t *ngx_calls_call_layer(ngx_calls_session_t *sender,
    ngx_calls_track_e type, ngx_calls_codec_e codec, const char *rid);
static ngx_calls_source_t *ngx_calls_call_find_source(ngx_calls_session_t *s,
    const uint8_t *buf, const ngx_calls_rtp_t *rtp);
static void ngx_calls_call_forward(ngx_calls_sink_t *sink,
    const uint8_t *buf, const ngx_calls_rtp_t *rtp, int rtx, uint64_t now);
static ngx_calls_sink_t *ngx_calls_call_sink(ngx_calls_session_t *s,
    uint32_t ssrc);
static void ngx_calls_call_nack(ngx_calls_sink_t *sink,
    const ngx_calls_rtcp_item_t *item, uint64_t now);
static void ngx_calls_call_rtt(ngx_calls_session_t *s,
    const ngx_calls_rtcp_rb_t *rb, size_t n);
static size_t ngx_calls_call_reports(ngx_calls_session_t *s, uint8_t *buf,
    size_t size, uint64_t now);
static void ngx_calls_call_twcc(ngx_calls_session_t *r,
    const ngx_calls_rtcp_item_t *item, uint64_t now);
static void ngx_calls_call_layers(ngx_calls_session_t *r, uint64_t now);
static uint32_t ngx_calls_call_media_ssrc(ngx_calls_session_t *s);


static const char  *ngx_calls_track_names[] = {
    "voice", "screen", "screen-audio", "video"
};

static const char  *ngx_calls_codec_mimes[] = {
    "audio/opus", "video/VP8", "video/AV1"
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


const char *
ngx_calls_codec_mime(ngx_calls_codec_e codec)
{
    return ngx_calls_codec_mimes[codec];
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
ngx_calls_call_detach(ngx_calls_session_t *s, uint64_t now)
{
    size_t                    i, j;
    ngx_calls_transceiver_t  *tr;

    /*
     * What others receive from s: audio just stops, video m-sections are
     * renegotiated away, as in rtcd.
     */

    for (i = 0; i < s->ntrs; i++) {
        tr = &s->trs[i];

        for (j = tr->nsources; j > 0; j--) {
            ngx_calls_source_destroy(tr->sources[j - 1], now);
        }
    }

    /* what s receives */

    for (i = 0; i < s->ntrs; i++) {
        if (s->trs[i].sink) {
            ngx_calls_sink_destroy(s->trs[i].sink);
        }
    }

    if (s->call->screen == s) {
        s->call->screen = NULL;
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


int
ngx_calls_call_has_track(ngx_calls_session_t *s, ngx_calls_track_e type)
{
    size_t  i, j;

    for (i = 0; i < s->ntrs; i++) {
        for (j = 0; j < s->trs[i].nsources; j++) {
            if (s->trs[i].sources[j]->type == type) {
                return 1;
            }
        }
    }

    return 0;
}


/* rtcd sends a joiner the existing tracks once its channel is open */

void
ngx_calls_call_tracks_init(ngx_calls_session_t *s, uint64_t now)
{
    unsigned              type;
    ngx_calls_session_t  *r;

    s->tracks_init = 1;

    for (r = s->call->sessions; r; r = r->next) {
        if (r == s) {
            continue;
        }

        for (type = NGX_CALLS_TRACK_VOICE; type <= NGX_CALLS_TRACK_VIDEO;
             type++)
        {
            if (ngx_calls_call_has_track(r, type)) {
                ngx_calls_negotiate_queue(s, NGX_CALLS_OP_ADD, r, type, now);
            }
        }
    }
}


/* a new track of s goes to everyone already set up */

void
ngx_calls_call_announce(ngx_calls_session_t *s, ngx_calls_track_e type,
    uint64_t now)
{
    ngx_calls_session_t  *r;

    for (r = s->call->sessions; r; r = r->next) {
        if (r != s && r->tracks_init) {
            ngx_calls_negotiate_queue(r, NGX_CALLS_OP_ADD, s, type, now);
        }
    }
}


ngx_calls_source_t *
ngx_calls_source_create(ngx_calls_session_t *s, ngx_calls_transceiver_t *tr,
    ngx_calls_track_e type, ngx_calls_codec_e codec, const char *rid,
    uint64_t now)
{
    size_t               i, k;
    uint8_t              rnd[8];
    ngx_calls_source_t  *src;

    static const char  alnum[] = "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    if (tr->nsources == NGX_CALLS_MAX_LAYERS) {
        return NULL;
    }

    src = calloc(1, sizeof(ngx_calls_source_t));
    if (src == NULL) {
        return NULL;
    }

    src->session = s;
    src->tr = tr;
    src->type = type;
    src->codec = codec;
    snprintf(src->rid, sizeof(src->rid), "%s", rid);

    ngx_calls_nack_rx_init(&src->rx, codec == NGX_CALLS_CODEC_OPUS ? 48000
                                                                   : 90000);
    ngx_calls_vad_init(&src->vad);

    /* rtcd keeps 256 packets per video stream for receivers' NACKs */

    if (codec != NGX_CALLS_CODEC_OPUS) {
        src->rtx = ngx_calls_nack_buf_create(NGX_CALLS_NACK_BUF_DEFAULT,
                                             NGX_CALLS_NACK_PACKET_DEFAULT);
        if (src->rtx == NULL) {
            free(src);
            return NULL;
        }
    }

    /* rtcd genTrackID: <type>_<sender session id>_<8 random characters> */

    ngx_calls_random(rnd, sizeof(rnd));

    i = snprintf(src->track_id, sizeof(src->track_id), "%s_%s_",
                 ngx_calls_track_names[type], s->id);

    for (k = 0; k < sizeof(rnd); k++) {
        src->track_id[i + k] = alnum[rnd[k] % (sizeof(alnum) - 1)];
    }

    src->track_id[i + sizeof(rnd)] = '\0';

    tr->sources[tr->nsources++] = src;

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: new track %s "
                  "(%s%s%s)", s->id, src->track_id,
                  ngx_calls_codec_mimes[codec], rid[0] ? ", rid " : "", rid);

    ngx_calls_stat(s, NGX_CALLS_STAT_TRACK_IN, 1,
                   ngx_calls_codec_mimes[codec]);

    return src;
}


void
ngx_calls_source_destroy(ngx_calls_source_t *src, uint64_t now)
{
    size_t                    i;
    ngx_calls_sink_t         *sink;
    ngx_calls_session_t      *r, *s;
    ngx_calls_source_t       *other;
    ngx_calls_transceiver_t  *tr;

    s = src->session;
    tr = src->tr;

    for (i = 0; i < tr->nsources; i++) {
        if (tr->sources[i] == src) {
            tr->sources[i] = tr->sources[--tr->nsources];
            break;
        }
    }

    for (r = s->call->sessions; r; r = r->next) {
        if (r->last_source == src) {
            r->last_source = NULL;
        }
    }

    /*
     * Its receivers follow another layer of the track if one is left;
     * otherwise the track is gone for them.
     */

    while (src->nsinks) {
        sink = src->sinks[src->nsinks - 1];
        ngx_calls_sink_detach(sink, src);

        if (sink->pending == src) {
            sink->pending = NULL;
        }

        /* still forwarding another layer: nothing lost */
        if (sink->source != NULL && sink->source != src) {
            continue;
        }

        sink->source = NULL;

        other = ngx_calls_call_layer(s, sink->type, sink->codec, "l");

        if (other && other != src) {
            sink->pending = other;
            ngx_calls_sink_attach(sink, other);
            ngx_calls_source_keyframe(other, now);
            continue;
        }

        r = sink->session;

        ngx_calls_sink_destroy(sink);

        if (ngx_calls_track_is_video(src->type)) {
            ngx_calls_negotiate_queue(r, NGX_CALLS_OP_RENEGOTIATE, s,
                                      src->type, now);
        }
    }

    if (!ngx_calls_call_has_track(s, src->type)) {
        for (r = s->call->sessions; r; r = r->next) {
            ngx_calls_negotiate_unqueue(r, s, src->type);
        }

        if (src->type == NGX_CALLS_TRACK_SCREEN && s->call->screen == s) {
            s->call->screen = NULL;
        }
    }

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: track %s ended",
                  s->id, src->track_id);

    ngx_calls_stat(s, NGX_CALLS_STAT_TRACK_IN, -1,
                   ngx_calls_codec_mimes[src->codec]);

    if (src->rtx) {
        ngx_calls_nack_buf_free(src->rtx);
    }

    free(src->sinks);
    free(src);
}


/*
 * The layer of sender's track of this type and codec with this rid, or
 * else the lowest one ("l", or the single encoding).
 */

static ngx_calls_source_t *
ngx_calls_call_layer(ngx_calls_session_t *sender, ngx_calls_track_e type,
    ngx_calls_codec_e codec, const char *rid)
{
    size_t               i, j;
    ngx_calls_source_t  *src, *low;

    low = NULL;

    for (i = 0; i < sender->ntrs; i++) {
        for (j = 0; j < sender->trs[i].nsources; j++) {
            src = sender->trs[i].sources[j];

            if (src->type != type || src->codec != codec) {
                continue;
            }

            if (strcmp(src->rid, rid) == 0) {
                return src;
            }

            if (low == NULL || src->rid[0] == '\0'
                || strcmp(src->rid, "l") == 0)
            {
                low = src;
            }
        }
    }

    return low;
}


ngx_calls_sink_t *
ngx_calls_sink_create(ngx_calls_session_t *sender, ngx_calls_track_e type,
    ngx_calls_session_t *receiver, ngx_calls_transceiver_t *tr)
{
    size_t               i;
    uint32_t             ssrc;
    ngx_calls_sink_t    *sink;
    ngx_calls_codec_e    codec;
    ngx_calls_source_t  *src;

    /*
     * rtcd sends AV1 only when both ends support it, VP8 otherwise; new
     * receivers start on the low simulcast layer.
     */

    codec = ngx_calls_track_is_video(type) ? NGX_CALLS_CODEC_VP8
                                           : NGX_CALLS_CODEC_OPUS;

    if (ngx_calls_track_is_video(type) && receiver->av1_support
        && ngx_calls_call_layer(sender, type, NGX_CALLS_CODEC_AV1, "l"))
    {
        codec = NGX_CALLS_CODEC_AV1;
    }

    src = ngx_calls_call_layer(sender, type, codec, "l");
    if (src == NULL) {
        return NULL;
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

    sink->sender = sender;
    sink->type = type;
    sink->codec = codec;
    sink->session = receiver;
    sink->tr = tr;
    sink->ssrc = ssrc;
    sink->pt = tr->pt;
    sink->backoff = 10000;                /* rtcd's initial level backoff */
    strcpy(sink->track_id, src->track_id);

    /* video starts at a keyframe; audio at once */

    if (ngx_calls_track_is_video(type)) {
        sink->pending = src;

    } else {
        sink->source = src;
    }

    ngx_calls_sink_attach(sink, src);

    return sink;
}


void
ngx_calls_sink_destroy(ngx_calls_sink_t *sink)
{
    if (sink->source) {
        ngx_calls_sink_detach(sink, sink->source);
    }

    if (sink->pending && sink->pending != sink->source) {
        ngx_calls_sink_detach(sink, sink->pending);
    }

    if (sink->tr && sink->tr->sink == sink) {
        sink->tr->sink = NULL;
    }

    if (sink->active) {
        ngx_calls_stat(sink->session, NGX_CALLS_STAT_TRACK_OUT, -1,
                       ngx_calls_codec_mimes[sink->codec]);
    }

    free(sink);
}


static void
ngx_calls_sink_attach(ngx_calls_sink_t *sink, ngx_calls_source_t *src)
{
    size_t               cap;
    ngx_calls_sink_t   **sinks;

    if (src->nsinks == src->sinks_cap) {
        cap = src->sinks_cap ? 2 * src->sinks_cap : 4;

        sinks = realloc(src->sinks, cap * sizeof(ngx_calls_sink_t *));
        if (sinks == NULL) {
            ngx_calls_log(NGX_CALLS_LOG_ERR, "calls: out of memory, track %s "
                          "not forwarded to session %s", src->track_id,
                          sink->session->id);
            return;
        }

        src->sinks = sinks;
        src->sinks_cap = cap;
    }

    src->sinks[src->nsinks++] = sink;
}


static void
ngx_calls_sink_detach(ngx_calls_sink_t *sink, ngx_calls_source_t *src)
{
    size_t  i;

    for (i = 0; i < src->nsinks; i++) {
        if (src->sinks[i] == sink) {
            src->sinks[i] = src->sinks[--src->nsinks];
            return;
        }
    }
}


/* asks the sender for a keyframe: PLI, at most once a second per stream */

void
ngx_calls_source_keyframe(ngx_calls_source_t *src, uint64_t now)
{
    size_t   n;
    uint8_t  buf[64 + NGX_CALLS_SRTP_TRAILER];

    if (src->ssrc == 0 || !src->session->srtp_ready) {
        return;
    }

    /*
     * At most one request a second per stream, as rtcd; one held back
     * goes out when the second is over (the sender's RTCP round), so a
     * receiver that asked in between still gets its keyframe.
     */

    if (src->last_pli && now < src->last_pli + 1000) {
        if (!src->pli_wanted) {
            src->pli_wanted = 1;
            ngx_calls_session_schedule(src->session, src->last_pli + 1000);
            if (src->session->rtcp_at > src->last_pli + 1000) {
                src->session->rtcp_at = src->last_pli + 1000;
            }
        }

        return;
    }

    src->last_pli = now;
    src->pli_wanted = 0;

    n = ngx_calls_rtcp_build_pli(buf, 64, src->session->rtcp_ssrc,
                                 src->ssrc);

    if (n && ngx_calls_session_send_rtcp(src->session, buf, n) == 0) {
        ngx_calls_count(NGX_CALLS_CNT_KEYFRAME_REQUESTS, 1);
    }
}


/*
 * The hot path: one unprotected RTP packet of sender s, copied for each
 * receiver with its SSRC, payload type, sequence numbers, timestamps and
 * extension ids, protected with the receiver's SRTP context and sent on
 * its path.  No allocation.
 */

void
ngx_calls_call_rtp(ngx_calls_session_t *s, uint8_t *buf, size_t len,
    uint64_t arrival_us, uint64_t now)
{
    int                  keyframe;
    size_t               i, elen;
    unsigned             level, voice;
    const uint8_t       *ext;
    ngx_calls_rtp_t      rtp;
    ngx_calls_vp8_ids_t  vp8;
    ngx_calls_sink_t    *sink;
    ngx_calls_source_t  *src;

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

    if (rtp.pt != src->pt) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_RTP_MALFORMED, 1);
        return;
    }

    /* losses and reception statistics, even while muted (for reports) */
    (void) ngx_calls_nack_rx_packet(&src->rx, rtp.seq, rtp.ts, now);

    /* its transport-wide sequence number, for our feedback to it */

    if (s->ext_twcc) {
        ext = ngx_calls_rtp_ext_find(buf, &rtp, s->ext_twcc, &elen);

        if (ext && elen == 2) {
            if (s->twcc_rx == NULL) {
                s->twcc_rx = malloc(sizeof(ngx_calls_twcc_rx_t));

                if (s->twcc_rx) {
                    ngx_calls_twcc_rx_init(s->twcc_rx);
                }
            }

            if (s->twcc_rx) {
                (void) ngx_calls_twcc_rx_packet(s->twcc_rx,
                                          (uint16_t) ((ext[0] << 8) | ext[1]),
                                                arrival_us ? arrival_us
                                                : ngx_calls_wallclock());
            }
        }
    }

    /* voice activity, as rtcd computes it (while muted too) */

    if (src->type == NGX_CALLS_TRACK_VOICE
        && ngx_calls_rtp_audio_level(buf, &rtp, src->ext_audio_level,
                                     &level, &voice) == 0)
    {
        switch (ngx_calls_vad_push(&src->vad, level, now * 1000)) {

        case NGX_CALLS_VAD_ON:
            ngx_calls_event(s, NGX_CALLS_MEDIA_EV_VOICE_ON, 0, "", 0);
            break;

        case NGX_CALLS_VAD_OFF:
            ngx_calls_event(s, NGX_CALLS_MEDIA_EV_VOICE_OFF, 0, "", 0);
            break;
        }
    }

    if (src->muted) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_RTP_MUTED, 1);
        return;
    }

    if (src->rtx) {
        (void) ngx_calls_nack_buf_put(src->rtx, rtp.seq, buf, len, now);
    }

    keyframe = 0;

    if (ngx_calls_track_is_video(src->type)) {

        /*
         * The rate of each layer decides which one a receiver can take:
         * measured over whole windows from the layer's first packet, as
         * rtcd waits for its rate monitor's window.
         */

        if (src->rate_start == 0) {
            src->rate_start = now;
        }

        src->rate_bytes += len;

        if (now >= src->rate_start + NGX_CALLS_RATE_WINDOW) {
            src->rate_bps = (uint32_t) (src->rate_bytes * 8 * 1000
                                        / (now - src->rate_start));
            src->rate_bytes = 0;
            src->rate_start = now;
        }

        keyframe = ngx_calls_video_keyframe(src->codec, buf + rtp.header_len,
                                            rtp.payload_len);

        /* the keyframe came anyway: nothing left to ask for */
        if (keyframe) {
            src->pli_wanted = 0;
        }
    }

    for (i = 0; i < src->nsinks; /* void */) {
        sink = src->sinks[i];

        if (sink->pending == src) {

            /* a receiver that has not answered yet waits for its own */
            if (!sink->active) {
                i++;
                continue;
            }

            if (!keyframe) {
                ngx_calls_source_keyframe(src, now);
                i++;
                continue;
            }

            /* the switch: the old layer's last packet is behind us */

            if (sink->source && sink->source != src) {
                ngx_calls_sink_detach(sink, sink->source);
            }

            sink->source = src;
            sink->pending = NULL;

            if (sink->started) {
                sink->seq_delta = (uint16_t) (sink->last_seq + 1 - rtp.seq);
                sink->ts_delta = sink->last_ts + 1
                                 + (uint32_t) ((now - sink->last_time) * 90)
                                 - rtp.ts;

                /*
                 * VP8 picture ids and TL0PICIDX go on from the last ones
                 * too: Chrome drops frames whose picture id looks old.
                 */
                if (sink->codec == NGX_CALLS_CODEC_VP8
                    && ngx_calls_vp8_ids(buf + rtp.header_len,
                                         rtp.payload_len, &vp8) == 0)
                {
                    sink->pic_delta = (uint16_t) (sink->last_pic + 1
                                                  - vp8.picture_id);
                    sink->tl0_delta = (uint8_t) (sink->last_tl0 + 1
                                                 - vp8.tl0picidx);
                }
            }

            ngx_calls_log(NGX_CALLS_LOG_DEBUG, "calls: session %s gets %s "
                          "layer \"%s\"", sink->session->id,
                          sink->track_id, src->rid);
        }

        if (sink->source == src) {
            ngx_calls_call_forward(sink, buf, &rtp, 0, now);
        }

        i++;
    }
}


static void
ngx_calls_call_forward(ngx_calls_sink_t *sink, const uint8_t *buf,
    const ngx_calls_rtp_t *rtp, int rtx, uint64_t now)
{
    size_t                n;
    uint8_t               out[NGX_CALLS_PACKET_SIZE];
    uint16_t              seq, tseq;
    uint32_t              ts;
    ngx_calls_session_t  *r;

    r = sink->session;

    if (!sink->active || !r->srtp_ready || r->closed) {
        return;
    }

    /*
     * Our transport-wide sequence number toward r: remembered with the
     * send time once r's feedback drives a bandwidth estimate.
     */

    tseq = 0;

    if (sink->extmap.twcc_id) {
        tseq = r->twcc_tx
               ? ngx_calls_twcc_tx_sent(r->twcc_tx, rtp->payload_len
                                        + rtp->header_len
                                        + NGX_CALLS_SRTP_OVERHEAD,
                                        ngx_calls_wallclock())
               : r->twcc_seq++;
    }

    n = ngx_calls_rtp_rewrite(out, sizeof(out) - NGX_CALLS_SRTP_TRAILER,
                              buf, rtp, sink->ssrc, sink->pt, &sink->extmap,
                              tseq);
    if (n == 0) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_RTP_MALFORMED, 1);
        return;
    }

    /* continuity across layer switches (no-op while the deltas are 0) */

    seq = (uint16_t) (rtp->seq + sink->seq_delta);
    ts = rtp->ts + sink->ts_delta;

    ngx_calls_put16(out + 2, seq);
    ngx_calls_put32(out + 4, ts);

    if (sink->codec == NGX_CALLS_CODEC_VP8) {
        (void) ngx_calls_vp8_rewrite(out + n - rtp->payload_len
                                     - rtp->pad_len, rtp->payload_len,
                                     sink->pic_delta, sink->tl0_delta,
                                     &sink->last_pic, &sink->last_tl0);
    }

    /* a sequence number from before the switch stays behind */
    if (sink->started && (int16_t) (seq - sink->last_seq) > 0) {
        sink->last_seq = seq;
        sink->last_ts = ts;
        sink->last_time = now;

    } else if (!sink->started) {
        sink->started = 1;
        sink->last_seq = seq;
        sink->last_ts = ts;
        sink->last_time = now;
    }

    sink->packets++;
    sink->octets += (uint32_t) rtp->payload_len;

    if (ngx_calls_srtp_protect(&r->srtp, out, &n) != NGX_CALLS_SRTP_OK) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_SEND_FAILED, 1);
        ngx_calls_stat(r, NGX_CALLS_STAT_ERROR, 1, "rtp");
        return;
    }

    if (ngx_calls_session_send(r, out, n) == 0) {
        ngx_calls_count(rtx ? NGX_CALLS_CNT_RTP_RETRANSMITTED
                            : NGX_CALLS_CNT_RTP_FORWARDED, 1);
    }
}


static ngx_calls_source_t *
ngx_calls_call_find_source(ngx_calls_session_t *s, const uint8_t *buf,
    const ngx_calls_rtp_t *rtp)
{
    size_t                    i, j, len, ridlen;
    const uint8_t            *mid, *rid;
    ngx_calls_source_t       *src, *unbound;
    ngx_calls_transceiver_t  *tr;

    unbound = NULL;

    for (i = 0; i < s->ntrs; i++) {
        tr = &s->trs[i];

        for (j = 0; j < tr->nsources; j++) {
            src = tr->sources[j];

            if (src->ssrc == rtp->ssrc) {
                return src;
            }

            if (src->ssrc != 0) {
                continue;
            }

            /*
             * An unsignaled SSRC (simulcast never signals them): the mid
             * extension names the m-section, the rid one the layer.
             */

            if (src->ext_mid) {
                mid = ngx_calls_rtp_ext_find(buf, rtp, src->ext_mid, &len);

                if (mid == NULL || len != strlen(tr->mid)
                    || memcmp(mid, tr->mid, len) != 0)
                {
                    continue;
                }

                if (src->rid[0] == '\0') {
                    src->ssrc = rtp->ssrc;
                    return src;
                }

                rid = src->ext_rid
                      ? ngx_calls_rtp_ext_find(buf, rtp, src->ext_rid,
                                               &ridlen)
                      : NULL;

                if (rid && ridlen == strlen(src->rid)
                    && memcmp(rid, src->rid, ridlen) == 0)
                {
                    src->ssrc = rtp->ssrc;
                    return src;
                }

                continue;
            }

            unbound = (unbound == NULL) ? src : unbound;
        }
    }

    /* without the extension, one unbound source can only be this one */

    if (unbound && unbound->ext_mid == 0 && unbound->rid[0] == '\0') {
        unbound->ssrc = rtp->ssrc;
        return unbound;
    }

    return NULL;
}


/* RTCP from a session: about what it sends us, and what we send it */

void
ngx_calls_call_rtcp(ngx_calls_session_t *s, const uint8_t *buf, size_t len,
    uint64_t now)
{
    int                            n, i;
    size_t                         j;
    uint32_t                       ssrc;
    ngx_calls_sink_t              *sink;
    ngx_calls_source_t            *src;
    ngx_calls_rtcp_rb_t            rb[31];
    ngx_calls_rtcp_fir_t           fir[8];
    ngx_calls_rtcp_item_t          item;
    ngx_calls_rtcp_iter_t          it;
    ngx_calls_rtcp_sender_info_t   si;

    if (ngx_calls_rtcp_iter_init(&it, buf, len) < 0) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_RTCP_MALFORMED, 1);
        ngx_calls_log(NGX_CALLS_LOG_DEBUG, "calls: session %s: malformed "
                      "RTCP (%zu bytes) dropped", s->id, len);
        return;
    }

    while (ngx_calls_rtcp_iter_next(&it, &item) == 1) {

        switch (item.pt) {

        case 200:                                 /* SR */
            n = ngx_calls_rtcp_sr(&item, &si, rb, 31);
            if (n < 0) {
                break;
            }

            /* the sender's clock, for our receiver reports' LSR */

            for (j = 0; j < s->ntrs; j++) {
                for (i = 0; i < (int) s->trs[j].nsources; i++) {
                    src = s->trs[j].sources[i];

                    if (src->ssrc == item.sender_ssrc) {
                        ngx_calls_nack_rx_sr(&src->rx,
                                             ngx_calls_ntp_middle(si.ntp),
                                             now);
                    }
                }
            }

            ngx_calls_call_rtt(s, rb, n);
            break;

        case 201:                                 /* RR */
            n = ngx_calls_rtcp_rr(&item, rb, 31);
            if (n > 0) {
                ngx_calls_call_rtt(s, rb, n);
            }
            break;

        case 205:                                 /* RTPFB */
            if (item.count == 1) {                /* generic NACK */
                sink = ngx_calls_call_sink(s, item.media_ssrc);
                if (sink) {
                    ngx_calls_call_nack(sink, &item, now);
                }

            } else if (item.count == 15) {        /* transport-wide cc */
                ngx_calls_call_twcc(s, &item, now);
            }

            break;

        case 206:                                 /* PSFB */

            /* a receiver's PLI or FIR goes to the sender, at most 1/s */

            if (item.count == 1) {
                if (ngx_calls_rtcp_pli(&item, &ssrc) == 0) {
                    sink = ngx_calls_call_sink(s, ssrc);
                    src = sink ? (sink->pending ? sink->pending
                                                : sink->source)
                               : NULL;
                    if (src) {
                        ngx_calls_source_keyframe(src, now);
                    }
                }

            } else if (item.count == 4) {
                n = ngx_calls_rtcp_fir(&item, fir, 8);

                for (i = 0; i < n; i++) {
                    sink = ngx_calls_call_sink(s, fir[i].ssrc);
                    src = sink ? (sink->pending ? sink->pending
                                                : sink->source)
                               : NULL;
                    if (src) {
                        ngx_calls_source_keyframe(src, now);
                    }
                }
            }

            break;

        default:
            break;
        }
    }
}


/* a forwarded track of s by our SSRC toward s */

static ngx_calls_sink_t *
ngx_calls_call_sink(ngx_calls_session_t *s, uint32_t ssrc)
{
    size_t  i;

    for (i = 0; i < s->ntrs; i++) {
        if (s->trs[i].sink && s->trs[i].sink->ssrc == ssrc) {
            return s->trs[i].sink;
        }
    }

    return NULL;
}


/*
 * A receiver lost packets we forwarded: resend them from the source's
 * buffer (no RTX: the original SSRC and sequence number, as rtcd).
 */

static void
ngx_calls_call_nack(ngx_calls_sink_t *sink, const ngx_calls_rtcp_item_t *item,
    uint64_t now)
{
    int                  n, i;
    size_t               len;
    uint16_t             seqs[256];
    const uint8_t       *pkt;
    ngx_calls_rtp_t      rtp;
    ngx_calls_source_t  *src;

    n = ngx_calls_rtcp_nack(item, seqs, 256);

    src = sink->source;

    for (i = 0; i < n; i++) {
        pkt = (src && src->rtx)
              ? ngx_calls_nack_buf_get(src->rtx,
                                       (uint16_t) (seqs[i] - sink->seq_delta),
                                       &len, now, NGX_CALLS_NACK_BUF_AGE_MS)
              : NULL;

        if (pkt == NULL || ngx_calls_rtp_parse(pkt, len, &rtp) != 0) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_RTX_MISSING, 1);
            continue;
        }

        ngx_calls_call_forward(sink, pkt, &rtp, 1, now);
    }
}


/* the round trip to s, from its reports about what we send it */

static void
ngx_calls_call_rtt(ngx_calls_session_t *s, const ngx_calls_rtcp_rb_t *rb,
    size_t n)
{
    size_t    i;
    int64_t   rtt;
    uint32_t  now_middle;

    now_middle = ngx_calls_ntp_middle(ngx_calls_ntp_from_unix_us(
                                          ngx_calls_wallclock()));

    for (i = 0; i < n; i++) {
        if (rb[i].lsr == 0 || ngx_calls_call_sink(s, rb[i].ssrc) == NULL) {
            continue;
        }

        rtt = ngx_calls_rtcp_rtt_ms(now_middle, &rb[i]);

        if (rtt >= 0 && rtt < 10000) {
            /* smoothed as RFC 6298 does for TCP */
            s->rtt_ms = s->rtt_ms ? (7 * s->rtt_ms + (uint32_t) rtt) / 8
                                  : (uint32_t) rtt;
        }
    }
}


/*
 * The session's RTCP round: NACKs for its video we lost (every 20 ms
 * while it sends video), and every second our receiver report on its
 * streams and a sender report for each track we forward it.
 */

void
ngx_calls_call_rtcp_timer(ngx_calls_session_t *s, uint64_t now)
{
    int                  video;
    size_t               i, j, n, m;
    uint64_t             wall;
    uint8_t              buf[1200 + NGX_CALLS_SRTP_TRAILER];
    uint16_t             seqs[128];
    ngx_calls_source_t  *src;

    video = 0;

    for (i = 0; i < s->ntrs; i++) {
        for (j = 0; j < s->trs[i].nsources; j++) {
            src = s->trs[i].sources[j];

            if (src->rtx == NULL || src->ssrc == 0) {
                continue;
            }

            video = 1;

            if (src->pli_wanted && now >= src->last_pli + 1000) {
                ngx_calls_source_keyframe(src, now);
            }

            m = ngx_calls_nack_rx_nacks(&src->rx, now, s->rtt_ms, seqs, 128);
            if (m == 0) {
                continue;
            }

            n = ngx_calls_rtcp_build_nack(buf, 1200, s->rtcp_ssrc, src->ssrc,
                                          seqs, m);

            if (n && ngx_calls_session_send_rtcp(s, buf, n) == 0) {
                ngx_calls_count(NGX_CALLS_CNT_NACKS_SENT, 1);
            }
        }
    }

    /* feedback on its transport-wide sequence numbers, every 100 ms */

    if (s->twcc_rx) {
        wall = ngx_calls_wallclock();

        while (ngx_calls_twcc_rx_due(s->twcc_rx, wall)) {
            n = ngx_calls_twcc_rx_feedback(s->twcc_rx, buf, 1200,
                                           s->rtcp_ssrc,
                                           ngx_calls_call_media_ssrc(s),
                                           wall);
            if (n == 0 || ngx_calls_session_send_rtcp(s, buf, n) != 0) {
                break;
            }
        }
    }

    if (now >= s->report_at) {
        s->report_at = now + 1000;

        n = ngx_calls_call_reports(s, buf, 1200, now);
        if (n) {
            (void) ngx_calls_session_send_rtcp(s, buf, n);
        }
    }

    s->rtcp_at = video ? now + 20 : s->twcc_rx ? now + 50 : s->report_at;
}


/* a media SSRC for our feedback: any stream of s */

static uint32_t
ngx_calls_call_media_ssrc(ngx_calls_session_t *s)
{
    size_t  i, j;

    for (i = 0; i < s->ntrs; i++) {
        for (j = 0; j < s->trs[i].nsources; j++) {
            if (s->trs[i].sources[j]->ssrc) {
                return s->trs[i].sources[j]->ssrc;
            }
        }
    }

    return 0;
}


/* r gets video: from now on its feedback drives a downlink estimate */

void
ngx_calls_call_twcc_start(ngx_calls_session_t *r)
{
    if (r->twcc_tx != NULL) {
        return;
    }

    r->twcc_tx = malloc(sizeof(ngx_calls_twcc_tx_t));
    r->bwe = malloc(sizeof(ngx_calls_bwe_t));

    if (r->twcc_tx == NULL || r->bwe == NULL) {
        free(r->twcc_tx);
        free(r->bwe);
        r->twcc_tx = NULL;
        r->bwe = NULL;
        return;
    }

    /* the sequence numbers go on from the ones audio used */
    ngx_calls_twcc_tx_init(r->twcc_tx, r->twcc_seq);

    /* rtcd's GCC: start = min = 250 kbps, max = 3.75 Mbps */
    ngx_calls_bwe_init(r->bwe, 250000, 250000, 3750000);
}


/* r's feedback on what we sent it: its downlink estimate */

static void
ngx_calls_call_twcc(ngx_calls_session_t *r, const ngx_calls_rtcp_item_t *item,
    uint64_t now)
{
    int                       n;
    size_t                    len;
    const uint8_t            *fci;

    /* 128 KiB: static, the process is single-threaded */
    static ngx_calls_twcc_result_t  res[NGX_CALLS_TWCC_TX_RING];

    if (r->twcc_tx == NULL
        || ngx_calls_twcc_fci(item->pkt, item->pkt_len, &fci, &len) != 0)
    {
        return;
    }

    n = ngx_calls_twcc_tx_feedback(r->twcc_tx, fci, len, res,
                                   NGX_CALLS_TWCC_TX_RING);
    if (n <= 0) {
        if (n < 0) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_RTCP_MALFORMED, 1);
        }
        return;
    }

    (void) ngx_calls_bwe_feedback(r->bwe, res, n, ngx_calls_wallclock());

    if (now >= r->layers_at) {
        r->layers_at = now + 1000;
        ngx_calls_call_layers(r, now);
    }
}


/*
 * rtcd's simulcast policy per receiver (service/rtc/simulcast.go): up to
 * "h" when the estimate passes 0.9 of its measured rate, not within the
 * backoff of the last switch (10 s, growing 1.5 times a switch); down to
 * "l" when both the estimate and its loss-based part fall below that.
 */

static void
ngx_calls_call_layers(ngx_calls_session_t *r, uint64_t now)
{
    size_t               i;
    uint64_t             target, lossy;
    ngx_calls_sink_t    *sink;
    ngx_calls_source_t  *cur, *high, *low;

    target = ngx_calls_bwe_target(r->bwe);
    lossy = ngx_calls_bwe_loss_target(r->bwe);

    for (i = 0; i < r->ntrs; i++) {
        sink = r->trs[i].sink;

        if (sink == NULL || !sink->active || sink->pending
            || !ngx_calls_track_is_video(sink->type)
            || sink->source == NULL)
        {
            continue;
        }

        cur = sink->source;
        high = ngx_calls_call_layer(sink->sender, sink->type, sink->codec,
                                    "h");
        low = ngx_calls_call_layer(sink->sender, sink->type, sink->codec,
                                   "l");

        if (high == NULL || high == low || high->rate_bps == 0) {
            continue;
        }

        if (cur != high) {
            if (target > (uint64_t) high->rate_bps * 9 / 10
                && now >= sink->switch_at)
            {
                sink->pending = high;
                ngx_calls_sink_attach(sink, high);
                ngx_calls_source_keyframe(high, now);

                sink->switch_at = now + sink->backoff;
                sink->backoff = sink->backoff * 3 / 2;

                /* as rtcd: the estimate starts from the new layer's rate */
                ngx_calls_bwe_set_target(r->bwe, high->rate_bps);

                ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: up to "
                              "the \"h\" layer of %s (estimate %llu bps, "
                              "layer %u bps)", r->id, sink->track_id,
                              (unsigned long long) target, high->rate_bps);
            }

            continue;
        }

        if (target < (uint64_t) high->rate_bps * 9 / 10
            && lossy < (uint64_t) high->rate_bps * 9 / 10)
        {
            sink->pending = low;
            ngx_calls_sink_attach(sink, low);
            ngx_calls_source_keyframe(low, now);

            ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: down to "
                          "the \"l\" layer of %s (estimate %llu bps, layer "
                          "%u bps)", r->id, sink->track_id,
                          (unsigned long long) target, high->rate_bps);
        }
    }
}


/* mute: voice activity starts over, and rtcd says voice off each time */

void
ngx_calls_call_vad_reset(ngx_calls_session_t *s)
{
    size_t               i, j;
    ngx_calls_source_t  *src;

    for (i = 0; i < s->ntrs; i++) {
        for (j = 0; j < s->trs[i].nsources; j++) {
            src = s->trs[i].sources[j];

            if (src->type == NGX_CALLS_TRACK_VOICE
                && ngx_calls_vad_reset(&src->vad) == NGX_CALLS_VAD_OFF)
            {
                ngx_calls_event(s, NGX_CALLS_MEDIA_EV_VOICE_OFF, 0, "", 0);
            }
        }
    }
}


/*
 * Our reports to s in one compound packet: an RR with a block per stream
 * it sends us, then an SR per track we forward it (RFC 5506 reduced size
 * is negotiated, so the order is free).  What does not fit 1200 bytes
 * waits for the next round.
 */

static size_t
ngx_calls_call_reports(ngx_calls_session_t *s, uint8_t *buf, size_t size,
    uint64_t now)
{
    size_t                         i, j, n, k, nrb;
    uint64_t                       wall;
    uint32_t                       khz;
    ngx_calls_sink_t              *sink;
    ngx_calls_source_t            *src;
    ngx_calls_rtcp_rb_t            rb[31];
    ngx_calls_rtcp_sender_info_t   si;

    nrb = 0;

    for (i = 0; i < s->ntrs && nrb < 31; i++) {
        for (j = 0; j < s->trs[i].nsources && nrb < 31; j++) {
            src = s->trs[i].sources[j];

            if (src->ssrc
                && ngx_calls_nack_rx_report(&src->rx, src->ssrc, now,
                                            &rb[nrb]) == 0)
            {
                nrb++;
            }
        }
    }

    n = ngx_calls_rtcp_build_rr(buf, size, s->rtcp_ssrc, rb, nrb);
    if (n == 0) {
        return 0;
    }

    wall = ngx_calls_wallclock();

    for (i = 0; i < s->ntrs; i++) {
        sink = s->trs[i].sink;

        if (sink == NULL || !sink->active || !sink->started) {
            continue;
        }

        /* our RTP clock now, from the last packet we forwarded */

        khz = (sink->codec == NGX_CALLS_CODEC_OPUS) ? 48 : 90;

        si.ntp = ngx_calls_ntp_from_unix_us(wall);
        si.rtp_ts = sink->last_ts + (uint32_t) ((now - sink->last_time) * khz);
        si.packet_count = sink->packets;
        si.octet_count = sink->octets;

        k = ngx_calls_rtcp_build_sr(buf + n, size - n, sink->ssrc, &si,
                                    NULL, 0);
        if (k == 0) {
            break;
        }

        n += k;
    }

    return n;
}


uint64_t
ngx_calls_wallclock(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
