
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_calls_nack.h"


#define NGX_CALLS_RTP_SEQ_MOD       65536

/* bad_seq when no jump is pending: no 16-bit number equals it */
#define NGX_CALLS_RX_NO_BAD_SEQ     (NGX_CALLS_RTP_SEQ_MOD + 1)

#define NGX_CALLS_RTCP_LOST_MAX     0x7fffff
#define NGX_CALLS_RTCP_LOST_MIN     (-0x800000)


typedef struct {
    uint64_t                  time;
    uint16_t                  seq;
    uint16_t                  len;           /* 0: empty */
} ngx_calls_nack_buf_slot_t;


struct ngx_calls_nack_buf_s {
    unsigned                  mask;
    size_t                    max_packet;
    uint16_t                  highest;
    uint32_t                  bad_seq;
    unsigned                  started:1;
    ngx_calls_nack_buf_slot_t *slots;
    uint8_t                  *data;
};


static void ngx_calls_nack_rx_init_seq(ngx_calls_nack_rx_t *rx, uint16_t seq);
static void ngx_calls_nack_rx_advance(ngx_calls_nack_rx_t *rx,
    unsigned delta, uint32_t now);
static ngx_calls_rx_result_e ngx_calls_nack_rx_late(ngx_calls_nack_rx_t *rx,
    uint16_t seq);
static void ngx_calls_nack_rx_jitter(ngx_calls_nack_rx_t *rx,
    uint32_t rtp_ts, uint64_t now_ms);


ngx_calls_nack_buf_t *
ngx_calls_nack_buf_create(unsigned slots, size_t max_packet)
{
    size_t                 size;
    ngx_calls_nack_buf_t  *b;

    if (slots == 0) {
        slots = NGX_CALLS_NACK_BUF_DEFAULT;
    }

    if (max_packet == 0) {
        max_packet = NGX_CALLS_NACK_PACKET_DEFAULT;
    }

    if (slots < NGX_CALLS_NACK_BUF_MIN || slots > NGX_CALLS_NACK_BUF_MAX
        || (slots & (slots - 1)) != 0
        || max_packet > NGX_CALLS_NACK_PACKET_MAX)
    {
        return NULL;
    }

    /* one allocation: the struct, the slots, then the packet copies */

    size = sizeof(ngx_calls_nack_buf_t)
           + slots * sizeof(ngx_calls_nack_buf_slot_t)
           + slots * max_packet;

    b = malloc(size);
    if (b == NULL) {
        return NULL;
    }

    b->mask = slots - 1;
    b->max_packet = max_packet;
    b->highest = 0;
    b->bad_seq = NGX_CALLS_RX_NO_BAD_SEQ;
    b->started = 0;
    b->slots = (ngx_calls_nack_buf_slot_t *) (b + 1);
    b->data = (uint8_t *) (b->slots + slots);

    memset(b->slots, 0, slots * sizeof(ngx_calls_nack_buf_slot_t));

    return b;
}


void
ngx_calls_nack_buf_free(ngx_calls_nack_buf_t *b)
{
    free(b);
}


int
ngx_calls_nack_buf_put(ngx_calls_nack_buf_t *b, uint16_t seq,
    const uint8_t *pkt, size_t len, uint64_t now_ms)
{
    uint16_t                    diff;
    ngx_calls_nack_buf_slot_t  *slot;

    if (len == 0 || len > b->max_packet) {
        return -1;
    }

    diff = (uint16_t) (seq - b->highest);

    if (!b->started) {
        b->started = 1;
        b->highest = seq;

    } else if (diff != 0 && diff < 0x8000) {
        /* newer: the slots of any skipped numbers hold older numbers,
         * which ngx_calls_nack_buf_get() tells apart by seq */
        b->highest = seq;

    } else if ((uint16_t) (b->highest - seq) > b->mask) {

        if (seq != b->bad_seq) {
            b->bad_seq = (uint16_t) (seq + 1);
            return -1;
        }

        /* two in sequence: the stream restarted with other numbers */

        memset(b->slots, 0, (b->mask + 1) * sizeof(ngx_calls_nack_buf_slot_t));
        b->highest = seq;
        b->bad_seq = NGX_CALLS_RX_NO_BAD_SEQ;
    }

    /* else: the same or an older number within reach, e.g. reordered */

    slot = &b->slots[seq & b->mask];
    slot->seq = seq;
    slot->len = (uint16_t) len;
    slot->time = now_ms;

    memcpy(b->data + (size_t) (seq & b->mask) * b->max_packet, pkt, len);

    return 0;
}


const uint8_t *
ngx_calls_nack_buf_get(ngx_calls_nack_buf_t *b, uint16_t seq, size_t *len,
    uint64_t now_ms, uint64_t max_age_ms)
{
    ngx_calls_nack_buf_slot_t  *slot;

    if (!b->started || (uint16_t) (b->highest - seq) > b->mask) {
        return NULL;                             /* too old, or ahead */
    }

    slot = &b->slots[seq & b->mask];

    if (slot->len == 0 || slot->seq != seq) {
        return NULL;                             /* never put, overwritten */
    }

    if (now_ms > slot->time && now_ms - slot->time > max_age_ms) {
        return NULL;
    }

    *len = slot->len;

    return b->data + (size_t) (seq & b->mask) * b->max_packet;
}


void
ngx_calls_nack_rx_init(ngx_calls_nack_rx_t *rx, uint32_t clock_rate)
{
    memset(rx, 0, sizeof(ngx_calls_nack_rx_t));

    rx->clock_rate = clock_rate;
    rx->bad_seq = NGX_CALLS_RX_NO_BAD_SEQ;
}


ngx_calls_rx_result_e
ngx_calls_nack_rx_packet(ngx_calls_nack_rx_t *rx, uint16_t seq,
    uint32_t rtp_ts, uint64_t now_ms)
{
    uint16_t  udelta;

    if (!rx->started) {
        /* RFC 3550 A.1: a new source is on probation */
        rx->started = 1;
        ngx_calls_nack_rx_init_seq(rx, seq);
        rx->max_seq = (uint16_t) (seq - 1);
        rx->probation = NGX_CALLS_RX_MIN_SEQUENTIAL;
    }

    udelta = (uint16_t) (seq - rx->max_seq);

    if (rx->probation) {

        if (udelta == 1) {
            rx->probation--;
            rx->max_seq = seq;

            if (rx->probation == 0) {
                ngx_calls_nack_rx_init_seq(rx, seq);
                rx->received++;
                ngx_calls_nack_rx_jitter(rx, rtp_ts, now_ms);
                return NGX_CALLS_RX_NEW;
            }

        } else {
            rx->probation = NGX_CALLS_RX_MIN_SEQUENTIAL - 1;
            rx->max_seq = seq;
        }

        return NGX_CALLS_RX_PROBATION;
    }

    if (udelta == 0) {
        return NGX_CALLS_RX_DUPLICATE;
    }

    if (udelta < NGX_CALLS_RX_MAX_DROPOUT) {
        /* in order, with a gap of udelta - 1 */

        ngx_calls_nack_rx_advance(rx, udelta, (uint32_t) now_ms);

        if (seq < rx->max_seq) {
            rx->cycles += NGX_CALLS_RTP_SEQ_MOD;
        }

        rx->max_seq = seq;
        rx->received++;
        ngx_calls_nack_rx_jitter(rx, rtp_ts, now_ms);

        return NGX_CALLS_RX_NEW;
    }

    if (udelta > NGX_CALLS_RTP_SEQ_MOD - NGX_CALLS_NACK_WINDOW) {
        /* behind, within the window */
        return ngx_calls_nack_rx_late(rx, seq);
    }

    /* a very large jump */

    if (seq != rx->bad_seq) {
        rx->bad_seq = (uint16_t) (seq + 1);
        return NGX_CALLS_RX_JUMP;
    }

    /* two sequential packets: the source restarted, assume it is valid */

    ngx_calls_nack_rx_init_seq(rx, seq);
    rx->received++;
    ngx_calls_nack_rx_jitter(rx, rtp_ts, now_ms);

    return NGX_CALLS_RX_RESYNC;
}


size_t
ngx_calls_nack_rx_nacks(ngx_calls_nack_rx_t *rx, uint64_t now_ms,
    uint32_t rtt_ms, uint16_t *out, size_t max)
{
    size_t                  n;
    uint16_t                seq;
    uint32_t                now, interval, left;
    unsigned                back;
    ngx_calls_nack_slot_t  *slot;

    if (rx->nmissing == 0 || rx->probation) {
        return 0;
    }

    now = (uint32_t) now_ms;

    if (rtt_ms == 0) {
        rtt_ms = NGX_CALLS_NACK_DEFAULT_RTT_MS;
    }

    interval = rtt_ms > NGX_CALLS_NACK_MIN_INTERVAL_MS
               ? rtt_ms : NGX_CALLS_NACK_MIN_INTERVAL_MS;

    n = 0;
    left = rx->nmissing;

    /* oldest first; the newest, max_seq itself, is never missing */

    for (back = NGX_CALLS_NACK_WINDOW - 1; back > 0 && left > 0; back--) {
        seq = (uint16_t) (rx->max_seq - back);
        slot = &rx->slots[seq & (NGX_CALLS_NACK_WINDOW - 1)];

        if (slot->state != NGX_CALLS_NACK_MISSING) {
            continue;
        }

        left--;

        if (now - slot->since >= NGX_CALLS_NACK_MAX_AGE_MS
            || slot->tries >= NGX_CALLS_NACK_MAX_TRIES)
        {
            slot->state = NGX_CALLS_NACK_GAVE_UP;
            rx->nmissing--;
            rx->gave_up++;
            continue;
        }

        if (n == max) {
            continue;
        }

        if (slot->tries == 0) {
            if (now - slot->since < NGX_CALLS_NACK_REORDER_MS
                && rx->received - slot->received < NGX_CALLS_NACK_REORDER_PKTS)
            {
                continue;
            }

        } else if (now - slot->last < interval) {
            continue;
        }

        slot->tries++;
        slot->last = now;
        out[n++] = seq;
    }

    return n;
}


int
ngx_calls_nack_rx_report(ngx_calls_nack_rx_t *rx, uint32_t ssrc,
    uint64_t now_ms, ngx_calls_rtcp_rb_t *rb)
{
    int64_t   lost, lost_interval;
    uint32_t  ext_max, expected, expected_interval, received_interval;

    if (!rx->started || rx->probation) {
        return -1;
    }

    /* RFC 3550 A.3 */

    ext_max = rx->cycles + rx->max_seq;
    expected = ext_max - rx->base_seq + 1;

    lost = (int64_t) expected - rx->received;

    if (lost > NGX_CALLS_RTCP_LOST_MAX) {
        lost = NGX_CALLS_RTCP_LOST_MAX;

    } else if (lost < NGX_CALLS_RTCP_LOST_MIN) {
        lost = NGX_CALLS_RTCP_LOST_MIN;
    }

    expected_interval = expected - rx->expected_prior;
    rx->expected_prior = expected;
    received_interval = rx->received - rx->received_prior;
    rx->received_prior = rx->received;
    lost_interval = (int64_t) expected_interval - received_interval;

    rb->ssrc = ssrc;
    rb->cumulative_lost = (int32_t) lost;
    rb->ext_highest_seq = ext_max;
    rb->jitter = rx->jitter >> 4;

    if (expected_interval == 0 || lost_interval <= 0) {
        rb->fraction_lost = 0;

    } else if (lost_interval >= expected_interval) {
        rb->fraction_lost = 255;

    } else {
        rb->fraction_lost = (uint8_t) ((lost_interval << 8)
                                       / expected_interval);
    }

    if (rx->lsr_ms) {
        rb->lsr = rx->lsr;
        /* 1/65536 s since the SR arrived */
        rb->dlsr = now_ms > rx->lsr_ms
                   ? (uint32_t) ((now_ms - rx->lsr_ms) * 65536 / 1000) : 0;

    } else {
        rb->lsr = 0;
        rb->dlsr = 0;
    }

    return 0;
}


void
ngx_calls_nack_rx_sr(ngx_calls_nack_rx_t *rx, uint32_t ntp_middle,
    uint64_t now_ms)
{
    rx->lsr = ntp_middle;
    rx->lsr_ms = now_ms ? now_ms : 1;            /* 0: no SR yet */
}


/* RFC 3550 A.1 init_seq(), and the window emptied */

static void
ngx_calls_nack_rx_init_seq(ngx_calls_nack_rx_t *rx, uint16_t seq)
{
    rx->base_seq = seq;
    rx->max_seq = seq;
    rx->bad_seq = NGX_CALLS_RX_NO_BAD_SEQ;
    rx->cycles = 0;
    rx->received = 0;
    rx->received_prior = 0;
    rx->expected_prior = 0;

    /* timestamps of a restarted source are unrelated to the old ones */
    rx->have_transit = 0;

    rx->nmissing = 0;
    memset(rx->slots, 0, sizeof(rx->slots));
    rx->slots[seq & (NGX_CALLS_NACK_WINDOW - 1)].state =
                                                   NGX_CALLS_NACK_RECEIVED;
}


/*
 * A packet delta ahead of max_seq: the delta - 1 numbers between go
 * missing (only the last WINDOW - 1 of them can be remembered), the
 * packet's own is received.
 * Every slot reused held a number now out of the window; if that one was
 * still missing, it is given up.
 */

static void
ngx_calls_nack_rx_advance(ngx_calls_nack_rx_t *rx, unsigned delta,
    uint32_t now)
{
    unsigned                i, first;
    ngx_calls_nack_slot_t  *slot;

    first = 1;

    if (delta > NGX_CALLS_NACK_WINDOW) {
        /* the oldest of a long gap never enter the window */
        first = delta - NGX_CALLS_NACK_WINDOW + 1;
        rx->gave_up += first - 1;
    }

    for (i = first; i <= delta; i++) {
        slot = &rx->slots[(uint16_t) (rx->max_seq + i)
                          & (NGX_CALLS_NACK_WINDOW - 1)];

        if (slot->state == NGX_CALLS_NACK_MISSING) {
            rx->nmissing--;
            rx->gave_up++;
        }

        if (i == delta) {
            slot->state = NGX_CALLS_NACK_RECEIVED;
            break;
        }

        slot->state = NGX_CALLS_NACK_MISSING;
        slot->tries = 0;
        slot->since = now;
        slot->last = 0;
        slot->received = rx->received;
        rx->nmissing++;
    }
}


static ngx_calls_rx_result_e
ngx_calls_nack_rx_late(ngx_calls_nack_rx_t *rx, uint16_t seq)
{
    ngx_calls_nack_slot_t  *slot;

    slot = &rx->slots[seq & (NGX_CALLS_NACK_WINDOW - 1)];

    switch (slot->state) {

    case NGX_CALLS_NACK_MISSING:
        rx->nmissing--;
        /* fall through */

    case NGX_CALLS_NACK_GAVE_UP:
        slot->state = NGX_CALLS_NACK_RECEIVED;
        rx->received++;
        return NGX_CALLS_RX_LATE;

    case NGX_CALLS_NACK_RECEIVED:
        return NGX_CALLS_RX_DUPLICATE;

    default:
        return NGX_CALLS_RX_OLD;
    }
}


/*
 * RFC 3550 A.8 in its integer form (jitter kept << 4), arrival time in
 * timestamp units from milliseconds.  Only packets that advance the
 * sequence and start a new timestamp count: the later packets of a frame
 * share its timestamp and leave as the pacer spaces them, which is not
 * network jitter (libwebrtc does the same).
 */

static void
ngx_calls_nack_rx_jitter(ngx_calls_nack_rx_t *rx, uint32_t rtp_ts,
    uint64_t now_ms)
{
    int32_t   d;
    uint32_t  arrival, transit, ad;

    arrival = (uint32_t) (now_ms * rx->clock_rate / 1000);
    transit = arrival - rtp_ts;

    if (!rx->have_transit) {
        rx->have_transit = 1;
        rx->transit = transit;
        rx->last_ts = rtp_ts;
        return;
    }

    if (rtp_ts == rx->last_ts) {
        return;
    }

    rx->last_ts = rtp_ts;

    d = (int32_t) (transit - rx->transit);
    rx->transit = transit;

    ad = d < 0 ? (uint32_t) 0 - (uint32_t) d : (uint32_t) d;

    if (ad >= (uint64_t) rx->clock_rate * NGX_CALLS_RX_JITTER_MAX_S) {
        return;
    }

    rx->jitter += ad - ((rx->jitter + 8) >> 4);
}
