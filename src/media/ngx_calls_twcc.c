
/*
 * Copyright (C) ngx_calls authors
 */


#include <string.h>

#include "ngx_calls_bytes.h"
#include "ngx_calls_twcc.h"


#define NGX_CALLS_RTCP_RTPFB         205
#define NGX_CALLS_TWCC_FMT           15

#define NGX_CALLS_TWCC_HEADER        20      /* RTCP + SSRCs + FCI header */
#define NGX_CALLS_TWCC_TICK_US       250     /* receive delta unit */
#define NGX_CALLS_TWCC_REF_US        64000   /* reference time unit */
#define NGX_CALLS_TWCC_REF_MASK      0xffffff

/* status symbols; in a packet, also the size of the receive delta */
#define NGX_CALLS_TWCC_LOST          0
#define NGX_CALLS_TWCC_SMALL         1
#define NGX_CALLS_TWCC_LARGE         2
#define NGX_CALLS_TWCC_RESERVED      3

/* chunk capacities */
#define NGX_CALLS_TWCC_TWO_BIT       7
#define NGX_CALLS_TWCC_ONE_BIT       14
#define NGX_CALLS_TWCC_RUN_MAX       0x1fff

#define NGX_CALLS_TWCC_RX_MASK       (NGX_CALLS_TWCC_RX_WINDOW - 1)
#define NGX_CALLS_TWCC_TX_MASK       (NGX_CALLS_TWCC_TX_RING - 1)

/* state of a sent packet: what feedback has said of it */
#define NGX_CALLS_TWCC_UNREPORTED    0
#define NGX_CALLS_TWCC_REPORTED_LOST 1
#define NGX_CALLS_TWCC_REPORTED_RECV 2


#if (NGX_CALLS_TWCC_RX_WINDOW & NGX_CALLS_TWCC_RX_MASK)                     \
    || NGX_CALLS_TWCC_RX_WINDOW > 0xffff
#error NGX_CALLS_TWCC_RX_WINDOW must be a power of two below 65536
#endif

#if (NGX_CALLS_TWCC_TX_RING & NGX_CALLS_TWCC_TX_MASK)                       \
    || NGX_CALLS_TWCC_TX_RING > 0x8000
#error NGX_CALLS_TWCC_TX_RING must be a power of two up to 32768
#endif


/*
 * The status chunk being filled (the same scheme as libwebrtc's): up to 7
 * symbols fit a two-bit vector whatever they are, up to 14 a one-bit
 * vector if none is a large delta, any number up to 8191 a run if all are
 * the same.  A chunk is written out only when the next symbol does not
 * fit; a two-bit vector then takes the first 7 and the rest stay.
 */

typedef struct {
    uint8_t                   sym[NGX_CALLS_TWCC_ONE_BIT];
    unsigned                  n;
    unsigned                  all_same:1;
    unsigned                  has_large:1;
    unsigned                  chunks;    /* written out */
    uint8_t                  *out;       /* NULL: only count */
} ngx_calls_twcc_enc_t;


static void ngx_calls_twcc_enc_add(ngx_calls_twcc_enc_t *enc, unsigned s);
static void ngx_calls_twcc_enc_put(ngx_calls_twcc_enc_t *enc, uint16_t chunk);
static uint16_t ngx_calls_twcc_enc_two_bit(ngx_calls_twcc_enc_t *enc,
    unsigned n);
static uint16_t ngx_calls_twcc_enc_one_bit(ngx_calls_twcc_enc_t *enc);
static size_t ngx_calls_twcc_rx_build(ngx_calls_twcc_rx_t *rx,
    ngx_calls_twcc_enc_t *enc, uint8_t *deltas, size_t size, int64_t *last);
static unsigned ngx_calls_twcc_chunk_len(uint16_t chunk);
static unsigned ngx_calls_twcc_chunk_sym(uint16_t chunk, unsigned i);


/* rx */


void
ngx_calls_twcc_rx_init(ngx_calls_twcc_rx_t *rx)
{
    memset(rx, 0, sizeof(ngx_calls_twcc_rx_t));
    memset(rx->arrival, 0xff, sizeof(rx->arrival));          /* all -1 */
}


int
ngx_calls_twcc_rx_packet(ngx_calls_twcc_rx_t *rx, uint16_t tseq,
    uint64_t now_us)
{
    int64_t   u, s, last;
    uint16_t  d;

    if (!rx->started) {
        rx->started = 1;
        u = 0x10000 + (int64_t) tseq;        /* room for older ones */
        rx->begin = u;
        rx->end = u;
        rx->last_feedback_us = now_us;

    } else {
        /* the 64-bit number nearest to the highest received */
        last = rx->end - 1;
        d = (uint16_t) (tseq - (uint16_t) last);
        u = (d < 0x8000) ? last + d : last - (0x10000 - (int64_t) d);
    }

    if (u >= rx->end) {

        /* forget what the window leaves behind */

        if (u - rx->end >= NGX_CALLS_TWCC_RX_WINDOW) {
            memset(rx->arrival, 0xff, sizeof(rx->arrival));

        } else {
            for (s = rx->end; s < u; s++) {
                rx->arrival[s & NGX_CALLS_TWCC_RX_MASK] = -1;
            }
        }

        rx->end = u + 1;

        if (rx->begin < rx->end - NGX_CALLS_TWCC_RX_WINDOW) {
            rx->evicted += rx->end - NGX_CALLS_TWCC_RX_WINDOW - rx->begin;
            rx->begin = rx->end - NGX_CALLS_TWCC_RX_WINDOW;
        }

    } else if (u < rx->end - NGX_CALLS_TWCC_RX_WINDOW) {
        rx->too_old++;
        return -1;

    } else if (rx->arrival[u & NGX_CALLS_TWCC_RX_MASK] >= 0) {
        rx->duplicates++;
        return 1;

    } else if (u < rx->begin) {
        /* reported lost already: report again from here */
        rx->begin = u;
    }

    rx->arrival[u & NGX_CALLS_TWCC_RX_MASK] = (int64_t) now_us;
    rx->packets++;

    return 0;
}


int
ngx_calls_twcc_rx_due(ngx_calls_twcc_rx_t *rx, uint64_t now_us)
{
    if (rx->begin >= rx->end) {
        return 0;
    }

    if (rx->more || rx->end - rx->begin >= NGX_CALLS_TWCC_MAX_PENDING) {
        return 1;
    }

    return now_us >= rx->last_feedback_us
           && now_us - rx->last_feedback_us >= NGX_CALLS_TWCC_INTERVAL_US;
}


size_t
ngx_calls_twcc_rx_feedback(ngx_calls_twcc_rx_t *rx, uint8_t *buf,
    size_t size, uint32_t sender_ssrc, uint32_t media_ssrc, uint64_t now_us)
{
    size_t                len, pad, dlen;
    int64_t               last, count, ref;
    ngx_calls_twcc_enc_t  enc;

    if (rx->begin >= rx->end || size < NGX_CALLS_TWCC_FEEDBACK_MIN) {
        return 0;
    }

    /*
     * First pass: how far the packet goes within size bytes.  Second: the
     * same again, writing the chunks after the header and the deltas
     * after the chunks, whose number the first pass told.
     */

    memset(&enc, 0, sizeof(ngx_calls_twcc_enc_t));

    dlen = ngx_calls_twcc_rx_build(rx, &enc, NULL, size, &last);
    if (dlen == (size_t) -1) {
        return 0;
    }

    len = NGX_CALLS_TWCC_HEADER + 2 * (enc.chunks + (enc.n > 0)) + dlen;

    memset(&enc, 0, sizeof(ngx_calls_twcc_enc_t));
    enc.out = buf + NGX_CALLS_TWCC_HEADER;

    ngx_calls_twcc_rx_build(rx, &enc, buf + len - dlen, (size_t) -1, &last);

    /* the open chunk */

    if (enc.n > 0) {
        if (enc.all_same) {
            ngx_calls_twcc_enc_put(&enc, (uint16_t) ((enc.sym[0] << 13)
                                                     | enc.n));

        } else if (enc.n <= NGX_CALLS_TWCC_TWO_BIT) {
            ngx_calls_twcc_enc_put(&enc,
                                   ngx_calls_twcc_enc_two_bit(&enc, enc.n));

        } else {
            ngx_calls_twcc_enc_put(&enc, ngx_calls_twcc_enc_one_bit(&enc));
        }
    }

    pad = (4 - len % 4) % 4;

    if (pad) {
        memset(buf + len, 0, pad - 1);
        buf[len + pad - 1] = (uint8_t) pad;
    }

    count = last - rx->begin + 1;

    /* the reference time: that of the first received packet, floored */

    for (ref = rx->begin; rx->arrival[ref & NGX_CALLS_TWCC_RX_MASK] < 0;
         ref++)
    {
        /* void */
    }

    ref = rx->arrival[ref & NGX_CALLS_TWCC_RX_MASK] / NGX_CALLS_TWCC_REF_US;

    buf[0] = (uint8_t) (0x80 | (pad ? 0x20 : 0) | NGX_CALLS_TWCC_FMT);
    buf[1] = NGX_CALLS_RTCP_RTPFB;
    ngx_calls_put16(buf + 2, (len + pad) / 4 - 1);
    ngx_calls_put32(buf + 4, sender_ssrc);
    ngx_calls_put32(buf + 8, media_ssrc);
    ngx_calls_put16(buf + 12, (uint16_t) rx->begin);
    ngx_calls_put16(buf + 14, (uint16_t) count);
    ngx_calls_put24(buf + 16, (uint32_t) ref & NGX_CALLS_TWCC_REF_MASK);
    buf[19] = rx->fb_count;

    rx->fb_count = (uint8_t) (rx->fb_count + 1);

    rx->begin = last + 1;
    rx->more = rx->begin < rx->end;
    rx->last_feedback_us = now_us;
    rx->feedbacks++;

    return len + pad;
}


/*
 * Walks the sequence numbers from rx->begin, adding their statuses to enc
 * and, if deltas is not NULL, writing the receive deltas there.  Lost
 * numbers are added only with the received one that follows them, so the
 * packet ends on a received one.  Stops before a delta that does not fit
 * 16 bits, before anything that would make the packet longer than size,
 * or after *last when counting is done (deltas != NULL).  Returns the
 * length of the deltas and sets *last to the last number covered; -1 if
 * not even the first received packet fits.
 */

static size_t
ngx_calls_twcc_rx_build(ngx_calls_twcc_rx_t *rx, ngx_calls_twcc_enc_t *enc,
    uint8_t *deltas, size_t size, int64_t *last)
{
    size_t                len, dlen, dsz;
    int64_t               s, a, t, delta, ticks, lost, end, covered;
    ngx_calls_twcc_enc_t  saved;

    end = deltas ? *last + 1 : rx->end;
    covered = -1;
    dlen = 0;
    lost = 0;
    t = -1;

    for (s = rx->begin; s < end; s++) {
        a = rx->arrival[s & NGX_CALLS_TWCC_RX_MASK];

        if (a < 0) {
            lost++;
            continue;
        }

        if (t < 0) {
            t = a / NGX_CALLS_TWCC_REF_US * NGX_CALLS_TWCC_REF_US;
        }

        /* round half away from zero, as libwebrtc and pion */

        delta = a - t;
        ticks = (delta >= 0) ? (delta + NGX_CALLS_TWCC_TICK_US / 2)
                               / NGX_CALLS_TWCC_TICK_US
                             : (delta - NGX_CALLS_TWCC_TICK_US / 2)
                               / NGX_CALLS_TWCC_TICK_US;

        if (ticks < -32768 || ticks > 32767) {
            break;
        }

        dsz = (ticks >= 0 && ticks <= 0xff) ? NGX_CALLS_TWCC_SMALL
                                            : NGX_CALLS_TWCC_LARGE;

        if (deltas == NULL) {
            saved = *enc;
        }

        for ( /* void */ ; lost; lost--) {
            ngx_calls_twcc_enc_add(enc, NGX_CALLS_TWCC_LOST);
        }

        ngx_calls_twcc_enc_add(enc, (unsigned) dsz);

        if (deltas == NULL) {
            len = NGX_CALLS_TWCC_HEADER + 2 * (enc->chunks + (enc->n > 0))
                  + dlen + dsz;

            if (((len + 3) & ~(size_t) 3) > size) {
                *enc = saved;
                break;
            }

        } else if (dsz == NGX_CALLS_TWCC_SMALL) {
            deltas[dlen] = (uint8_t) ticks;

        } else {
            ngx_calls_put16(deltas + dlen, (uint16_t) (ticks & 0xffff));
        }

        dlen += dsz;
        t += ticks * NGX_CALLS_TWCC_TICK_US;
        covered = s;
    }

    if (covered < 0) {
        return (size_t) -1;
    }

    *last = covered;

    return dlen;
}


static void
ngx_calls_twcc_enc_add(ngx_calls_twcc_enc_t *enc, unsigned s)
{
    unsigned  i, fits;

    if (enc->n < NGX_CALLS_TWCC_TWO_BIT) {
        fits = 1;

    } else if (enc->n < NGX_CALLS_TWCC_ONE_BIT && !enc->has_large
               && s != NGX_CALLS_TWCC_LARGE)
    {
        fits = 1;

    } else {
        fits = enc->n < NGX_CALLS_TWCC_RUN_MAX && enc->all_same
               && s == enc->sym[0];
    }

    if (!fits) {

        if (enc->all_same) {
            ngx_calls_twcc_enc_put(enc, (uint16_t) ((enc->sym[0] << 13)
                                                    | enc->n));
            enc->n = 0;

        } else if (enc->n == NGX_CALLS_TWCC_ONE_BIT) {
            ngx_calls_twcc_enc_put(enc, ngx_calls_twcc_enc_one_bit(enc));
            enc->n = 0;

        } else {
            /* 8..13 mixed symbols and now a large delta */

            ngx_calls_twcc_enc_put(enc,
                         ngx_calls_twcc_enc_two_bit(enc, NGX_CALLS_TWCC_TWO_BIT));

            enc->n -= NGX_CALLS_TWCC_TWO_BIT;
            enc->all_same = 1;
            enc->has_large = 0;

            for (i = 0; i < enc->n; i++) {
                enc->sym[i] = enc->sym[i + NGX_CALLS_TWCC_TWO_BIT];
                enc->all_same &= enc->sym[i] == enc->sym[0];
                enc->has_large |= enc->sym[i] == NGX_CALLS_TWCC_LARGE;
            }
        }
    }

    if (enc->n == 0) {
        enc->all_same = 1;
        enc->has_large = 0;
        enc->sym[0] = (uint8_t) s;
    }

    if (enc->n < NGX_CALLS_TWCC_ONE_BIT) {
        enc->sym[enc->n] = (uint8_t) s;
    }

    enc->n++;
    enc->all_same &= s == enc->sym[0];
    enc->has_large |= s == NGX_CALLS_TWCC_LARGE;
}


static void
ngx_calls_twcc_enc_put(ngx_calls_twcc_enc_t *enc, uint16_t chunk)
{
    if (enc->out) {
        ngx_calls_put16(enc->out + 2 * enc->chunks, chunk);
    }

    enc->chunks++;
}


static uint16_t
ngx_calls_twcc_enc_two_bit(ngx_calls_twcc_enc_t *enc, unsigned n)
{
    unsigned  i;
    uint16_t  chunk;

    chunk = 0xc000;

    for (i = 0; i < n; i++) {
        chunk |= (uint16_t) (enc->sym[i] << (2 * (NGX_CALLS_TWCC_TWO_BIT - 1
                                                  - i)));
    }

    return chunk;
}


static uint16_t
ngx_calls_twcc_enc_one_bit(ngx_calls_twcc_enc_t *enc)
{
    unsigned  i;
    uint16_t  chunk;

    chunk = 0x8000;

    for (i = 0; i < enc->n; i++) {
        chunk |= (uint16_t) (enc->sym[i] << (NGX_CALLS_TWCC_ONE_BIT - 1 - i));
    }

    return chunk;
}


/* tx */


void
ngx_calls_twcc_tx_init(ngx_calls_twcc_tx_t *tx, uint16_t first_tseq)
{
    memset(tx, 0, sizeof(ngx_calls_twcc_tx_t));

    /* 64-bit numbers from 2^16 up, so that none is taken for negative */
    tx->first = 0x10000 + (uint64_t) first_tseq;
    tx->next = tx->first;
}


uint16_t
ngx_calls_twcc_tx_sent(ngx_calls_twcc_tx_t *tx, size_t size, uint64_t now_us)
{
    ngx_calls_twcc_sent_t  *p;

    p = &tx->ring[tx->next & NGX_CALLS_TWCC_TX_MASK];

    p->send_lo = (uint32_t) now_us;
    p->size = (uint16_t) (size > 0xffff ? 0xffff : size);
    p->state = NGX_CALLS_TWCC_UNREPORTED;

    tx->last_send_us = now_us;

    return (uint16_t) tx->next++;
}


int
ngx_calls_twcc_tx_feedback(ngx_calls_twcc_tx_t *tx, const uint8_t *fci,
    size_t len, ngx_calls_twcc_result_t *results, int max)
{
    int                       n;
    size_t                    pos, dpos, need;
    int64_t                   ref, t, delta;
    uint16_t                  base, count, chunk, seq, d;
    uint32_t                  ref24, diff;
    uint64_t                  u, newest, held;
    unsigned                  seen, k, i, sym;
    ngx_calls_twcc_sent_t    *p;
    ngx_calls_twcc_result_t  *r;

    if (max < 0) {
        max = 0;
    }

    /* validate it all first: nothing is taken from a malformed FCI */

    if (len < 8 + 2) {
        goto malformed;
    }

    base = ngx_calls_get16(fci);
    count = ngx_calls_get16(fci + 2);
    ref24 = ngx_calls_get24(fci + 4);

    if (count == 0) {
        goto malformed;
    }

    pos = 8;
    seen = 0;
    need = 0;

    while (seen < count) {
        if (len - pos < 2) {
            goto malformed;
        }

        chunk = ngx_calls_get16(fci + pos);
        pos += 2;

        k = ngx_calls_twcc_chunk_len(chunk);
        if (k > count - seen) {
            k = count - seen;
        }

        if ((chunk & 0x8000) == 0) {
            sym = ngx_calls_twcc_chunk_sym(chunk, 0);
            if (sym == NGX_CALLS_TWCC_RESERVED) {
                goto malformed;
            }

            need += (size_t) sym * k;

        } else {
            for (i = 0; i < k; i++) {
                sym = ngx_calls_twcc_chunk_sym(chunk, i);
                if (sym == NGX_CALLS_TWCC_RESERVED) {
                    goto malformed;
                }

                need += sym;
            }
        }

        seen += k;
    }

    if (len - pos < need) {
        goto malformed;
    }

    /* the reference time, unwrapped from the last one (24 bits) */

    if (!tx->have_ref) {
        tx->have_ref = 1;
        tx->ref = ref24;

    } else {
        diff = (ref24 - (uint32_t) tx->ref) & NGX_CALLS_TWCC_REF_MASK;
        tx->ref += (diff < 0x800000) ? (int64_t) diff
                                     : (int64_t) diff - 0x1000000;
    }

    ref = tx->ref;
    tx->fb_count = fci[7];
    tx->feedbacks++;

    /* the packets held: the last NGX_CALLS_TWCC_TX_RING sent */

    held = tx->next - tx->first;
    if (held > NGX_CALLS_TWCC_TX_RING) {
        held = NGX_CALLS_TWCC_TX_RING;
    }

    newest = tx->next - 1;

    dpos = pos;
    pos = 8;
    seen = 0;
    seq = base;
    t = ref * NGX_CALLS_TWCC_REF_US;
    n = 0;

    while (seen < count) {
        chunk = ngx_calls_get16(fci + pos);
        pos += 2;

        k = ngx_calls_twcc_chunk_len(chunk);
        if (k > count - seen) {
            k = count - seen;
        }

        for (i = 0; i < k; i++, seq = (uint16_t) (seq + 1)) {
            sym = ngx_calls_twcc_chunk_sym(chunk, i);

            if (sym == NGX_CALLS_TWCC_SMALL) {
                delta = fci[dpos];
                dpos += 1;

            } else if (sym == NGX_CALLS_TWCC_LARGE) {
                delta = (int16_t) ngx_calls_get16(fci + dpos);
                dpos += 2;

            } else {
                delta = 0;
            }

            t += delta * NGX_CALLS_TWCC_TICK_US;

            /* which of ours: the nearest at or before the newest sent */

            d = (uint16_t) ((uint16_t) newest - seq);

            if (d >= held) {
                tx->unknown++;
                continue;
            }

            u = newest - d;
            p = &tx->ring[u & NGX_CALLS_TWCC_TX_MASK];

            if (sym == NGX_CALLS_TWCC_LOST) {
                if (p->state != NGX_CALLS_TWCC_UNREPORTED) {
                    continue;
                }

            } else if (p->state == NGX_CALLS_TWCC_REPORTED_RECV) {
                continue;
            }

            if (n == max) {
                return n;
            }

            r = &results[n++];

            r->tseq = seq;
            r->size = p->size;
            r->send_us = tx->last_send_us
                         - (uint32_t) ((uint32_t) tx->last_send_us
                                       - p->send_lo);
            r->received = sym != NGX_CALLS_TWCC_LOST;
            r->late = r->received
                      && p->state == NGX_CALLS_TWCC_REPORTED_LOST;
            r->arrival_us = r->received ? t : 0;

            p->state = r->received ? NGX_CALLS_TWCC_REPORTED_RECV
                                   : NGX_CALLS_TWCC_REPORTED_LOST;
        }

        seen += k;
    }

    return n;

malformed:

    tx->malformed++;

    return -1;
}


int
ngx_calls_twcc_fci(const uint8_t *pkt, size_t len, const uint8_t **fci,
    size_t *fci_len)
{
    size_t  plen, pad;

    if (len < 12 || (pkt[0] >> 6) != 2 || pkt[1] != NGX_CALLS_RTCP_RTPFB
        || (pkt[0] & 0x1f) != NGX_CALLS_TWCC_FMT)
    {
        return -1;
    }

    plen = 4 * ((size_t) ngx_calls_get16(pkt + 2) + 1);

    if (plen > len || plen < 12) {
        return -1;
    }

    pad = 0;

    if (pkt[0] & 0x20) {
        pad = pkt[plen - 1];

        if (pad == 0 || pad > plen - 12) {
            return -1;
        }
    }

    *fci = pkt + 12;
    *fci_len = plen - 12 - pad;

    return 0;
}


static unsigned
ngx_calls_twcc_chunk_len(uint16_t chunk)
{
    if ((chunk & 0x8000) == 0) {
        return chunk & NGX_CALLS_TWCC_RUN_MAX;
    }

    return (chunk & 0x4000) ? NGX_CALLS_TWCC_TWO_BIT : NGX_CALLS_TWCC_ONE_BIT;
}


static unsigned
ngx_calls_twcc_chunk_sym(uint16_t chunk, unsigned i)
{
    if ((chunk & 0x8000) == 0) {
        return (chunk >> 13) & 3;
    }

    if ((chunk & 0x4000) == 0) {
        return (chunk >> (NGX_CALLS_TWCC_ONE_BIT - 1 - i)) & 1;
    }

    return (chunk >> (2 * (NGX_CALLS_TWCC_TWO_BIT - 1 - i))) & 3;
}
