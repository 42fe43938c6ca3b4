
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The media of the load generator.
 *
 * Senders: Opus frames encoded once at start by libopus from a synthetic
 * voice (a buzz whose pitch drifts, in syllables and pauses) at the
 * configured bitrate, replayed at 50 packets a second with the audio
 * level and transport-wide sequence extensions a browser sends; VP8
 * frames of the size the video bitrate gives (keyframes three times as
 * large, on request and every few seconds) cut into packets with the
 * RFC 7741 payload descriptor, optionally in two simulcast layers.
 * Every payload ends with a stamp: magic, sender, send time.
 *
 * Receivers: each stream (SSRC) is counted by its clear RTP header:
 * packets, bytes, and the highest extended sequence number, whose growth
 * is what was expected.  The packets the peer unprotects (one in
 * conf.sample) give the latency from the stamp in their payload to the
 * kernel's receive timestamp.
 */


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <opus/opus.h>

#include "loadgen.h"
#include "ngx_calls_rtp.h"
#include "ngx_calls_rtcp.h"
#include "ngx_calls_offer.h"


#define LG_OPUS_FRAMES       500         /* 10 s, replayed */
#define LG_OPUS_MAX          1275
#define LG_AUDIO_US          20000
#define LG_KEYFRAME_US       5000000
#define LG_RR_US             1000000
#define LG_LATE_US           100000

#define LG_EXT_TWCC          NGX_CALLS_OFFER_EXT_TWCC
#define LG_EXT_LEVEL         NGX_CALLS_OFFER_EXT_AUDIO_LEVEL
#define LG_EXT_MID           NGX_CALLS_OFFER_EXT_MID
#define LG_EXT_RID           NGX_CALLS_OFFER_EXT_RID


static uint8_t  *lg_levels;


static size_t lg_rtp_header(uint8_t *p, uint8_t pt, unsigned marker,
    uint16_t seq, uint32_t ts, uint32_t ssrc, const uint8_t *ext,
    size_t extlen);
static void lg_stamp(uint8_t *p, unsigned sender);
static void lg_send_audio(lg_client_t *c, uint64_t now);
static void lg_send_video(lg_client_t *c, uint64_t now);
static void lg_send_packet(lg_client_t *c, unsigned kind, uint8_t *buf,
    size_t len);
static lg_leg_t *lg_sending_leg(lg_client_t *c);


int
lg_media_init(lg_t *lg)
{
    int           err, n;
    float         pcm[960];
    double        t, f, env, phase, v, rms;
    unsigned      i, k, j;
    OpusEncoder  *enc;

    lg->opus = malloc(LG_OPUS_FRAMES * LG_OPUS_MAX);
    lg->opus_len = calloc(LG_OPUS_FRAMES, sizeof(uint16_t));
    lg_levels = calloc(LG_OPUS_FRAMES, 1);

    if (lg->opus == NULL || lg->opus_len == NULL || lg_levels == NULL) {
        return -1;
    }

    enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
    if (enc == NULL) {
        fprintf(stderr, "loadgen: opus_encoder_create(): %s\n",
                opus_strerror(err));
        return -1;
    }

    (void) opus_encoder_ctl(enc, OPUS_SET_BITRATE(lg->conf.audio_bitrate));
    (void) opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
    (void) opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(5));

    srandom(1);
    phase = 0;

    for (i = 0; i < LG_OPUS_FRAMES; i++) {
        rms = 0;

        for (k = 0; k < 960; k++) {
            t = (i * 960 + k) / 48000.0;

            /* syllables at about 4 Hz, a pause every 2.5 s */
            env = 0.5 + 0.5 * sin(2 * M_PI * 4 * t);
            if (fmod(t, 2.5) > 2.0) {
                env = 0.02;
            }

            f = 140 + 30 * sin(2 * M_PI * 0.7 * t);
            phase += 2 * M_PI * f / 48000;

            v = 0;
            for (j = 1; j <= 8; j++) {
                v += sin(j * phase) / j;
            }

            v = 0.25 * env * v
                + 0.01 * ((double) random() / RAND_MAX - 0.5);
            pcm[k] = (float) v;
            rms += v * v;
        }

        rms = sqrt(rms / 960);

        /* RFC 6464: -dBov, 0 the loudest, 127 silence */
        v = rms > 0 ? -20 * log10(rms) : 127;
        lg_levels[i] = (uint8_t) (v < 0 ? 0 : v > 127 ? 127 : v);

        n = opus_encode_float(enc, pcm, 960, lg->opus + i * LG_OPUS_MAX,
                              LG_OPUS_MAX);
        if (n < 0) {
            fprintf(stderr, "loadgen: opus_encode_float(): %s\n",
                    opus_strerror(n));
            opus_encoder_destroy(enc);
            return -1;
        }

        lg->opus_len[i] = (uint16_t) n;
    }

    lg->opus_n = LG_OPUS_FRAMES;
    opus_encoder_destroy(enc);

    srandom((unsigned) lg_now_us());

    return 0;
}


void
lg_media_free(lg_t *lg)
{
    free(lg->opus);
    free(lg->opus_len);
    free(lg_levels);
}


void
lg_start_audio(lg_client_t *c, uint64_t now)
{
    if (c->audio.on) {
        return;
    }

    c->audio.on = 1;

    /* a phase of its own, so that the senders do not all send at once */
    c->audio.next_at = now + random() % LG_AUDIO_US;
    c->audio.frame = random() % LG_OPUS_FRAMES;

    lg_client_wake(c, c->audio.next_at);
}


void
lg_start_video(lg_client_t *c, uint64_t now)
{
    if (c->video.on) {
        return;
    }

    c->video.on = 1;
    c->video.keyframe = 1;
    c->video.next_at = now;
    c->video.key_at = now + LG_KEYFRAME_US;

    lg_client_wake(c, now);
}


uint64_t
lg_media_send(lg_client_t *c, uint64_t now)
{
    uint64_t   next;
    lg_leg_t  *leg;

    next = 0;

    if (c->audio.on) {
        if (now >= c->audio.next_at) {
            if (now - c->audio.next_at > LG_LATE_US) {
                c->lg->res.late_sends++;
                c->audio.next_at = now;
            }

            while (now >= c->audio.next_at) {
                lg_send_audio(c, now);
                c->audio.next_at += LG_AUDIO_US;
            }
        }

        next = c->audio.next_at;
    }

    if (c->video.on) {
        if (now >= c->video.next_at) {
            if (now - c->video.next_at > LG_LATE_US) {
                c->lg->res.late_sends++;
                c->video.next_at = now;
            }

            lg_send_video(c, now);
            c->video.next_at += 1000000 / c->lg->conf.fps;
        }

        if (next == 0 || c->video.next_at < next) {
            next = c->video.next_at;
        }
    }

    /* receiver reports on the legs media comes in on */

    if (c->rr_at && now >= c->rr_at) {
        for (leg = c->legs; leg < c->legs + c->nlegs; leg++) {
            if (leg->receives && leg->peer != NULL && leg->connected) {
                lg_media_reports(c, leg, now);
            }
        }

        c->rr_at = now + LG_RR_US;
    }

    if (c->rr_at && (next == 0 || c->rr_at < next)) {
        next = c->rr_at;
    }

    return next;
}


static lg_leg_t *
lg_sending_leg(lg_client_t *c)
{
    unsigned  i;

    for (i = 0; i < c->nlegs; i++) {
        if (c->legs[i].sends) {
            return &c->legs[i];
        }
    }

    return NULL;
}


static void
lg_send_audio(lg_client_t *c, uint64_t now)
{
    lg_t      *lg = c->lg;
    size_t     n, len, plen;
    uint8_t    ext[8], level;
    uint8_t    buf[LG_MAX_PKT + NGX_CALLS_SRTP_TRAILER];
    unsigned   f;

    f = c->audio.frame++ % lg->opus_n;
    level = lg_levels[f];
    plen = lg->opus_len[f];

    c->twcc_seq++;

    ext[0] = (LG_EXT_LEVEL << 4) | 0;
    ext[1] = (level < 60 ? 0x80 : 0) | level;       /* V: voice */
    ext[2] = (LG_EXT_TWCC << 4) | 1;
    ext[3] = (uint8_t) (c->twcc_seq >> 8);
    ext[4] = (uint8_t) c->twcc_seq;
    n = 5;

    len = lg_rtp_header(buf, LG_PT_OPUS, 0, c->audio.seq[0]++, c->audio.ts,
                        c->audio.ssrc[0], ext, n);
    c->audio.ts += 960;

    memcpy(buf + len, lg->opus + f * LG_OPUS_MAX, plen);
    len += plen;

    lg_stamp(buf + len, c->index);
    len += LG_STAMP_LEN;

    lg_send_packet(c, LG_AUDIO, buf, len);
}


static void
lg_send_video(lg_client_t *c, uint64_t now)
{
    lg_t          *lg = c->lg;
    size_t         n, len, size, left, chunk, h;
    uint8_t        ext[16], *p;
    uint8_t        buf[LG_MAX_PKT + NGX_CALLS_SRTP_TRAILER];
    unsigned       layer, key, first, rate, nlayers;
    const char    *rid;

    key = c->video.keyframe || now >= c->video.key_at;

    if (key) {
        c->video.keyframe = 0;
        c->video.key_at = now + LG_KEYFRAME_US;
    }

    nlayers = lg->conf.simulcast ? 2 : 1;

    for (layer = 0; layer < nlayers; layer++) {

        /* simulcast: "h" at the bitrate, "l" at a quarter of it */
        rate = lg->conf.video_bitrate;
        if (nlayers == 2 && layer == 0) {
            rate /= 4;
        }

        size = rate / 8 / lg->conf.fps;
        if (key) {
            size *= 3;
        }

        if (size < 200) {
            size = 200;
        }

        left = size;
        first = 1;

        while (left > 0) {
            chunk = left > LG_VIDEO_PAYLOAD ? LG_VIDEO_PAYLOAD : left;
            left -= chunk;

            c->twcc_seq++;

            n = 0;
            ext[n++] = (LG_EXT_TWCC << 4) | 1;
            ext[n++] = (uint8_t) (c->twcc_seq >> 8);
            ext[n++] = (uint8_t) c->twcc_seq;

            if (nlayers == 2) {
                rid = layer ? "h" : "l";
                ext[n++] = (LG_EXT_RID << 4) | 0;
                ext[n++] = (uint8_t) rid[0];
            }

            len = lg_rtp_header(buf, LG_PT_VP8, left == 0,
                                c->video.seq[layer]++, c->video.ts,
                                c->video.ssrc[layer], ext, n);
            p = buf + len;

            /* RFC 7741: X, S at the frame's start, PID 0; I: 15-bit id */
            p[0] = 0x80 | (first ? 0x10 : 0);
            p[1] = 0x80;
            p[2] = 0x80 | (uint8_t) ((c->video.picture_id >> 8) & 0x7f);
            p[3] = (uint8_t) c->video.picture_id;
            h = 4;

            if (first) {
                /* the frame tag: P (bit 0) clear on keyframes, show */
                p[h++] = key ? 0x10 : 0x11;
                p[h++] = 0;
                p[h++] = 0;

                if (key) {
                    p[h++] = 0x9d;
                    p[h++] = 0x01;
                    p[h++] = 0x2a;
                    p[h++] = 0x80;               /* 1920 x 1080 */
                    p[h++] = 0x07;
                    p[h++] = 0x38;
                    p[h++] = 0x04;
                }
            }

            if (chunk < h + LG_STAMP_LEN) {
                chunk = h + LG_STAMP_LEN;
            }

            memset(p + h, 0x5a, chunk - h - LG_STAMP_LEN);
            lg_stamp(p + chunk - LG_STAMP_LEN, c->index);
            len += chunk;

            lg_send_packet(c, LG_VIDEO, buf, len);

            first = 0;
        }
    }

    c->video.picture_id = (c->video.picture_id + 1) & 0x7fff;
    c->video.ts += 90000 / lg->conf.fps;

    if (key) {
        lg->res.keyframes++;
    }
}


static void
lg_send_packet(lg_client_t *c, unsigned kind, uint8_t *buf, size_t len)
{
    lg_t      *lg = c->lg;
    lg_leg_t  *leg;

    leg = lg_sending_leg(c);

    if (leg == NULL || !leg->connected) {
        return;                     /* not yet: the sender starts early */
    }

    if (lg->backend->send(c, leg, buf, len) != 0) {
        lg->res.send_errors++;
        return;
    }

    if (lg->in_window) {
        lg->res.sent[kind]++;
        lg->res.sent_bytes[kind] += len;
    }
}


static size_t
lg_rtp_header(uint8_t *p, uint8_t pt, unsigned marker, uint16_t seq,
    uint32_t ts, uint32_t ssrc, const uint8_t *ext, size_t extlen)
{
    size_t  words, n;

    p[0] = extlen ? 0x90 : 0x80;
    p[1] = (uint8_t) ((marker ? 0x80 : 0) | pt);
    p[2] = (uint8_t) (seq >> 8);
    p[3] = (uint8_t) seq;
    p[4] = (uint8_t) (ts >> 24);
    p[5] = (uint8_t) (ts >> 16);
    p[6] = (uint8_t) (ts >> 8);
    p[7] = (uint8_t) ts;
    p[8] = (uint8_t) (ssrc >> 24);
    p[9] = (uint8_t) (ssrc >> 16);
    p[10] = (uint8_t) (ssrc >> 8);
    p[11] = (uint8_t) ssrc;

    if (extlen == 0) {
        return 12;
    }

    /* RFC 8285 one-byte form, padded to words */
    words = (extlen + 3) / 4;

    p[12] = 0xbe;
    p[13] = 0xde;
    p[14] = (uint8_t) (words >> 8);
    p[15] = (uint8_t) words;

    memcpy(p + 16, ext, extlen);

    for (n = extlen; n < words * 4; n++) {
        p[16 + n] = 0;
    }

    return 16 + words * 4;
}


static void
lg_stamp(uint8_t *p, unsigned sender)
{
    uint64_t  t;
    uint32_t  magic;

    magic = LG_STAMP_MAGIC;
    t = lg_realtime_ns();

    memcpy(p, &magic, 4);
    memcpy(p + 4, &sender, 4);
    memcpy(p + 8, &t, 8);
}


/* the kind of a received stream, by its payload type */

unsigned
lg_stream_kind(lg_leg_t *leg, uint8_t pt)
{
    size_t              i;
    ngx_calls_offer_t  *d;

    if (leg->peer == NULL) {
        return pt == LG_PT_OPUS ? LG_AUDIO : LG_VIDEO;
    }

    d = ngx_calls_peer_description(leg->peer);

    for (i = 0; i < d->nmedia; i++) {
        if (d->media[i].role == NGX_CALLS_OFFER_RECV
            && d->media[i].pt == pt)
        {
            return d->media[i].kind == NGX_CALLS_SDP_AUDIO ? LG_AUDIO
                                                           : LG_VIDEO;
        }
    }

    return pt == LG_PT_OPUS ? LG_AUDIO : LG_VIDEO;
}


void
lg_media_rtp(lg_client_t *c, lg_leg_t *leg, const uint8_t *buf, size_t len,
    int clear)
{
    lg_t             *lg = c->lg;
    int16_t           delta;
    uint16_t          seq;
    uint32_t          ssrc, magic, sender;
    uint64_t          t, lat;
    unsigned          i;
    lg_stream_t      *s;
    ngx_calls_rtp_t   rtp;

    if (len < 12) {
        return;
    }

    seq = (uint16_t) (buf[2] << 8 | buf[3]);
    ssrc = (uint32_t) buf[8] << 24 | (uint32_t) buf[9] << 16
           | (uint32_t) buf[10] << 8 | buf[11];

    s = NULL;

    for (i = 0; i < c->nstreams; i++) {
        if (c->streams[i].ssrc == ssrc) {
            s = &c->streams[i];
            break;
        }
    }

    if (s == NULL) {
        if (c->nstreams == LG_MAX_STREAMS) {
            return;
        }

        s = &c->streams[c->nstreams++];
        memset(s, 0, sizeof(lg_stream_t));
        s->ssrc = ssrc;
        s->leg = (unsigned) (leg - c->legs);
        s->kind = lg_stream_kind(leg, buf[1] & 0x7f);
        s->started = 1;
        s->first_seq = seq;
        s->ext_seq = seq;
        s->received = 0;

    } else {
        delta = (int16_t) (seq - (uint16_t) s->ext_seq);

        if (delta > 0) {
            s->ext_seq += delta;
        }
    }

    s->received++;
    s->bytes += len;

    if (s->kind == LG_AUDIO && !c->heard) {
        c->heard = 1;
        lg_hist_add(&lg->res.join_audio, lg_now_us() - c->t_join);
    }

    if (!clear || !lg->in_window) {
        return;
    }

    /* a sample: its stamp says when it was sent */

    if (ngx_calls_rtp_parse(buf, len, &rtp) != 0
        || rtp.payload_len < LG_STAMP_LEN)
    {
        return;
    }

    buf += rtp.header_len + rtp.payload_len - LG_STAMP_LEN;

    memcpy(&magic, buf, 4);
    memcpy(&sender, buf + 4, 4);
    memcpy(&t, buf + 8, 8);

    if (magic != LG_STAMP_MAGIC || lg->rx_realtime_ns < t) {
        return;
    }

    lat = (lg->rx_realtime_ns - t) / 1000;
    lg_hist_add(&lg->res.latency[s->kind], lat);
}


/* what the server says about our streams: keyframe requests */

void
lg_media_rtcp(lg_client_t *c, const uint8_t *buf, size_t len)
{
    uint32_t               ssrc;
    ngx_calls_rtcp_fir_t   fir[4];
    ngx_calls_rtcp_item_t  item;
    ngx_calls_rtcp_iter_t  it;

    if (c->lg->in_window) {
        c->lg->res.rtcp_in++;
    }

    if (ngx_calls_rtcp_iter_init(&it, buf, len) < 0) {
        return;
    }

    while (ngx_calls_rtcp_iter_next(&it, &item)) {
        if (item.pt != NGX_CALLS_RTCP_PSFB) {
            continue;
        }

        if (ngx_calls_rtcp_pli(&item, &ssrc) == 0
            || ngx_calls_rtcp_fir(&item, fir, 4) > 0)
        {
            c->video.keyframe = 1;
        }
    }
}


/* a receiver report about every stream coming in on leg */

void
lg_media_reports(lg_client_t *c, lg_leg_t *leg, uint64_t now)
{
    size_t               len, nrb;
    int64_t              lost;
    unsigned             i;
    uint8_t              buf[LG_MAX_PKT + NGX_CALLS_SRTP_TRAILER];
    lg_stream_t         *s;
    ngx_calls_rtcp_rb_t  rb[NGX_CALLS_RTCP_MAX_RB];

    nrb = 0;

    for (i = 0; i < c->nstreams && nrb < NGX_CALLS_RTCP_MAX_RB; i++) {
        s = &c->streams[i];

        if (s->leg != (unsigned) (leg - c->legs)) {
            continue;
        }

        lost = (int64_t) (s->ext_seq - s->first_seq + 1)
               - (int64_t) s->received;

        memset(&rb[nrb], 0, sizeof(ngx_calls_rtcp_rb_t));
        rb[nrb].ssrc = s->ssrc;
        rb[nrb].cumulative_lost = (int32_t) (lost < 0 ? 0 : lost);
        rb[nrb].ext_highest_seq = s->ext_seq;
        nrb++;
    }

    if (nrb == 0) {
        return;
    }

    len = ngx_calls_rtcp_build_rr(buf, LG_MAX_PKT, c->audio.ssrc[0], rb,
                                  nrb);
    if (len == 0) {
        return;
    }

    if (c->lg->backend->send(c, leg, buf, len) == 0 && c->lg->in_window) {
        c->lg->res.rtcp_out++;
    }
}


/* the measured window: counts at its start, what grew at its end */

void
lg_media_window(lg_t *lg, int end)
{
    unsigned      i, k;
    lg_client_t  *c;
    lg_stream_t  *s;

    for (i = 0; i < lg->nclients; i++) {
        c = &lg->clients[i];

        for (k = 0; k < c->nstreams; k++) {
            s = &c->streams[k];

            if (!end) {
                s->w_started = 1;
                s->w_ext_seq = s->ext_seq;
                s->w_received = s->received;
                s->w_bytes = s->bytes;
                continue;
            }

            if (s->w_started) {
                lg->res.expected[s->kind] += s->ext_seq - s->w_ext_seq;

            } else {
                lg->res.expected[s->kind] += s->ext_seq - s->first_seq + 1;
            }

            lg->res.recv[s->kind] += s->received - s->w_received;
            lg->res.recv_bytes[s->kind] += s->bytes - s->w_bytes;
        }

        if (end) {
            lg->res.streams += c->nstreams;
        }
    }
}


/* histograms: exact below 64 us, then 32 buckets per octave */

static unsigned
lg_hist_bucket(uint64_t v)
{
    unsigned  e, b;

    if (v < 64) {
        return (unsigned) v;
    }

    e = 63 - __builtin_clzll(v);
    b = 64 + (e - 6) * 32 + (unsigned) ((v >> (e - 5)) & 31);

    return b < LG_HIST_BUCKETS ? b : LG_HIST_BUCKETS - 1;
}


static uint64_t
lg_hist_value(unsigned b)
{
    unsigned  e;

    if (b < 64) {
        return b;
    }

    e = (b - 64) / 32 + 6;

    /* the middle of the bucket */
    return ((uint64_t) (32 + (b - 64) % 32) << (e - 5))
           + ((uint64_t) 1 << (e - 6));
}


void
lg_hist_add(lg_hist_t *h, uint64_t v)
{
    h->n++;
    h->sum += v;

    if (v > h->max) {
        h->max = v;
    }

    h->b[lg_hist_bucket(v)]++;
}


void
lg_hist_merge(lg_hist_t *to, const lg_hist_t *from)
{
    unsigned  i;

    to->n += from->n;
    to->sum += from->sum;

    if (from->max > to->max) {
        to->max = from->max;
    }

    for (i = 0; i < LG_HIST_BUCKETS; i++) {
        to->b[i] += from->b[i];
    }
}


uint64_t
lg_hist_pct(const lg_hist_t *h, double pct)
{
    unsigned  i;
    uint64_t  want, seen, v;

    if (h->n == 0) {
        return 0;
    }

    want = (uint64_t) ceil(h->n * pct / 100.0);
    if (want == 0) {
        want = 1;
    }

    seen = 0;

    for (i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->b[i];

        if (seen >= want) {
            v = lg_hist_value(i);
            return v < h->max ? v : h->max;
        }
    }

    return h->max;
}
