
/*
 * Copyright (C) ngx_calls authors
 */


/* NACK: the retransmission buffer and the receive tracker. */


#include <stdlib.h>
#include <math.h>

#include "tap.h"
#include "ngx_calls_nack.h"


static size_t
fill(uint8_t *p, uint16_t seq, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t) (seq + i);
    }

    return len;
}


static int
holds(ngx_calls_nack_buf_t *b, uint16_t seq, size_t want_len, uint64_t now)
{
    size_t          len;
    uint8_t         want[1500];
    const uint8_t  *p;

    p = ngx_calls_nack_buf_get(b, seq, &len, now, NGX_CALLS_NACK_BUF_AGE_MS);

    return p != NULL && len == want_len
           && memcmp(p, want, fill(want, seq, want_len)) == 0;
}


static void
test_buf(void)
{
    int                    i, bad;
    size_t                 len;
    uint8_t                pkt[1600];
    uint16_t               seq;
    ngx_calls_nack_buf_t  *b;

    ok(ngx_calls_nack_buf_create(100, 1500) == NULL, "100 slots refused");
    ok(ngx_calls_nack_buf_create(16, 1500) == NULL, "16 slots refused");
    ok(ngx_calls_nack_buf_create(16384, 1500) == NULL, "16384 refused");
    ok(ngx_calls_nack_buf_create(256, 70000) == NULL, "70000 bytes refused");

    b = ngx_calls_nack_buf_create(0, 0);
    ok(b != NULL, "0, 0: the defaults");
    ok(ngx_calls_nack_buf_get(b, 0, &len, 0, 1000) == NULL, "empty buffer");
    ok(ngx_calls_nack_buf_put(b, 1, pkt, fill(pkt, 1, 1500), 0) == 0,
       "1500 bytes fit");
    ok(ngx_calls_nack_buf_put(b, 2, pkt, 1501, 0) < 0, "1501 refused");
    ok(ngx_calls_nack_buf_put(b, 2, pkt, 0, 0) < 0, "empty refused");
    ok(holds(b, 1, 1500, 0), "and 1 is there");
    ok(!holds(b, 2, 1501, 0), "2 is not");
    ngx_calls_nack_buf_free(b);

    b = ngx_calls_nack_buf_create(256, 1500);

    /* across the wrap, lengths varying */
    for (i = 0; i < 200; i++) {
        seq = (uint16_t) (65436 + i);
        ngx_calls_nack_buf_put(b, seq, pkt, fill(pkt, seq, 100 + i), 1000);
    }

    bad = 0;
    for (i = 0; i < 200; i++) {
        seq = (uint16_t) (65436 + i);
        bad += !holds(b, seq, 100 + i, 1000);
    }
    is_int(bad, 0, "200 packets across 65535 -> 0 all there");
    ok(ngx_calls_nack_buf_get(b, 100, &len, 1000, 1000) == NULL,
       "the next number, not sent yet");
    ok(ngx_calls_nack_buf_get(b, 65435, &len, 1000, 1000) == NULL,
       "one before the first");

    /* age limit */
    ok(holds(b, 50, 250, 2000), "1000 ms old: still there");
    ok(!holds(b, 50, 250, 2001), "1001 ms old: gone");
    ok(ngx_calls_nack_buf_get(b, 50, &len, 2001, 5000) != NULL,
       "the caller's limit decides");
    ok(ngx_calls_nack_buf_get(b, 50, &len, 500, 1000) != NULL,
       "a clock behind the packet's: age 0");

    /* 256 more: the oldest are overwritten */
    for (i = 0; i < 256; i++) {
        seq = (uint16_t) (100 + i);
        ngx_calls_nack_buf_put(b, seq, pkt, fill(pkt, seq, 64), 3000);
    }

    ok(!holds(b, 99, 299, 3000), "256 packets ago: gone");
    ok(ngx_calls_nack_buf_get(b, 99, &len, 3000, 100000) == NULL,
       "gone whatever the age limit");
    ok(holds(b, 100, 64, 3000), "255 packets ago: there");
    ok(holds(b, 355, 64, 3000), "the newest");

    /* a reordered packet within reach is kept; the newest stays */
    ok(ngx_calls_nack_buf_put(b, 354, pkt, fill(pkt, 354, 70), 3001) == 0,
       "the same number again (resent by the sender)");
    ok(holds(b, 354, 70, 3001), "replaced");

    /* a skipped number: its slot holds an older one */
    ngx_calls_nack_buf_put(b, 357, pkt, fill(pkt, 357, 64), 3002);
    ok(ngx_calls_nack_buf_get(b, 356, &len, 3002, 1000) == NULL,
       "356 was never put");
    ok(ngx_calls_nack_buf_put(b, 356, pkt, fill(pkt, 356, 64), 3003) == 0
       && holds(b, 356, 64, 3003), "356 late: kept");
    ok(holds(b, 357, 64, 3003), "357 still newest");

    /* older than reach: refused, the buffer unchanged */
    ok(ngx_calls_nack_buf_put(b, 90, pkt, fill(pkt, 90, 64), 3004) < 0,
       "267 behind: refused");
    ok(holds(b, 102, 64, 3004), "and 102 is not overwritten");
    ok(ngx_calls_nack_buf_put(b, 50, pkt, fill(pkt, 50, 64), 3004) < 0,
       "another old one");
    ok(holds(b, 357, 64, 3004), "newest unchanged");

    /* the sender restarts behind: two in sequence move the buffer */
    ok(ngx_calls_nack_buf_put(b, 10, pkt, fill(pkt, 10, 64), 3005) < 0,
       "restart: first packet refused");
    ok(ngx_calls_nack_buf_put(b, 11, pkt, fill(pkt, 11, 64), 3006) == 0,
       "the next in sequence: accepted");
    ok(holds(b, 11, 64, 3006), "11 there");
    ok(!holds(b, 357, 64, 3006) && !holds(b, 300, 64, 3006),
       "the old numbers are gone");
    ok(ngx_calls_nack_buf_put(b, 12, pkt, fill(pkt, 12, 64), 3007) == 0,
       "and it goes on");

    /* a jump forward is just newer */
    ok(ngx_calls_nack_buf_put(b, 30000, pkt, fill(pkt, 30000, 64), 3008)
       == 0, "30000 ahead: accepted");
    ok(holds(b, 30000, 64, 3008) && !holds(b, 12, 64, 3008),
       "only the new number");

    ngx_calls_nack_buf_free(b);

    /* the smallest and largest sizes, a long run through every slot */
    b = ngx_calls_nack_buf_create(32, 200);
    bad = 0;
    for (i = 0; i < 70000; i++) {
        seq = (uint16_t) i;
        ngx_calls_nack_buf_put(b, seq, pkt, fill(pkt, seq, 1 + i % 200),
                               (uint64_t) i);
        bad += !holds(b, seq, 1 + i % 200, (uint64_t) i);
        if (i >= 31) {
            bad += !holds(b, (uint16_t) (i - 31), 1 + (i - 31) % 200,
                          (uint64_t) i);
        }
        if (i >= 32) {
            bad += ngx_calls_nack_buf_get(b, (uint16_t) (i - 32), &len,
                                          (uint64_t) i, 100000) != NULL;
        }
    }
    is_int(bad, 0, "32 slots, 70000 packets: exactly the last 32");
    ngx_calls_nack_buf_free(b);

    b = ngx_calls_nack_buf_create(8192, 1500);
    ok(b != NULL, "8192 slots of 1500 bytes");
    ngx_calls_nack_buf_put(b, 7, pkt, fill(pkt, 7, 1500), 0);
    ok(holds(b, 7, 1500, 0), "and it works");
    ngx_calls_nack_buf_free(b);
}


static void
test_in_order(void)
{
    int                   i, r;
    double                j, d;
    uint64_t              now, arr[1000];
    uint32_t              ts;
    uint16_t              out[64];
    ngx_calls_rtcp_rb_t   rb;
    ngx_calls_nack_rx_t   rx;

    /* Opus: 20 ms, 960 ticks per packet, exact timing, across the wrap */
    ngx_calls_nack_rx_init(&rx, 48000);

    ok(ngx_calls_nack_rx_report(&rx, 1, 0, &rb) < 0,
       "nothing to report before any packet");

    r = ngx_calls_nack_rx_packet(&rx, 65000, 5000, 100000);
    is_int(r, NGX_CALLS_RX_PROBATION, "first packet: probation");
    ok(ngx_calls_nack_rx_report(&rx, 1, 0, &rb) < 0,
       "nothing to report on probation");

    for (i = 1; i < 1000; i++) {
        r = ngx_calls_nack_rx_packet(&rx, (uint16_t) (65000 + i),
                                     5000 + 960 * (uint32_t) i,
                                     100000 + 20 * (uint64_t) i);
        if (r != NGX_CALLS_RX_NEW) {
            break;
        }
    }
    is_int(i, 1000, "then all new");
    is_int(ngx_calls_nack_rx_nacks(&rx, 200000, 50, out, 64), 0, "no NACK");

    is_int(ngx_calls_nack_rx_report(&rx, 0xabc, 200000, &rb), 0, "report");
    is_int(rb.ssrc, 0xabc, "ssrc");
    is_int(rb.fraction_lost, 0, "no loss");
    is_int(rb.cumulative_lost, 0, "no cumulative loss");
    is_int(rb.ext_highest_seq, 65000 + 999, "ext seq across the wrap");
    is_int(rb.jitter, 0, "perfect timing: jitter 0");
    ok(rb.lsr == 0 && rb.dlsr == 0, "no SR: LSR, DLSR 0");

    /* video at 90 kHz, jittered arrivals against A.8 computed directly */
    ngx_calls_nack_rx_init(&rx, 90000);
    srandom(3550);
    j = 0;
    ts = 123456;

    for (i = 0; i < 1000; i++) {
        arr[i] = 500000 + 40 * (uint64_t) i + (uint64_t) (random() % 25);
        ngx_calls_nack_rx_packet(&rx, (uint16_t) (7 + i),
                                 ts + 3600 * (uint32_t) i, arr[i]);

        /* the tracker starts once the source is valid: packet 1 */
        if (i >= 2) {
            d = (double) ((int64_t) arr[i] - (int64_t) arr[i - 1]) * 90
                - 3600;
            j += (fabs(d) - j) / 16;
        }
    }

    ngx_calls_nack_rx_report(&rx, 1, arr[999], &rb);
    diag("jitter: tracker %u, A.8 in floating point %.2f", rb.jitter, j);
    ok(rb.jitter > 100, "jittered arrivals: positive jitter");
    ok(fabs((double) rb.jitter - j) <= 1.0, "matches A.8 within 1 tick");

    /* packets of one frame share a timestamp: only frame starts count */
    ngx_calls_nack_rx_init(&rx, 90000);
    now = 1000;
    for (i = 0; i < 300; i++) {
        ngx_calls_nack_rx_packet(&rx, (uint16_t) i,
                                 3600 * (uint32_t) (i / 3),
                                 now + 40 * (uint64_t) (i / 3) + i % 3 * 5);
    }
    ngx_calls_nack_rx_report(&rx, 1, now + 4000, &rb);
    is_int(rb.jitter, 0, "paced packets of a frame are not jitter");

    /* a timestamp discontinuity is not jitter either */
    ngx_calls_nack_rx_packet(&rx, 300, 3600 * 100 + 90000 * 10, now + 4000);
    ngx_calls_nack_rx_packet(&rx, 301, 3600 * 101 + 90000 * 10, now + 4040);
    ngx_calls_nack_rx_report(&rx, 1, now + 4000, &rb);
    is_int(rb.jitter, 0, "a 10 s timestamp jump is skipped");
}


static int
same(const uint16_t *got, size_t n, const uint16_t *want, size_t m)
{
    return n == m && memcmp(got, want, n * sizeof(uint16_t)) == 0;
}


/* seqs from..to at 1 ms apart from t, skipping those in skip[] */
static uint64_t
run(ngx_calls_nack_rx_t *rx, int from, int to, uint64_t t,
    const int *skip, size_t nskip)
{
    int     i;
    size_t  k;

    for (i = from; i <= to; i++) {
        for (k = 0; k < nskip; k++) {
            if (skip[k] == i) {
                break;
            }
        }

        if (k == nskip) {
            ngx_calls_nack_rx_packet(rx, (uint16_t) i, 3000 * (uint32_t) i,
                                     t++);
        }
    }

    return t;
}


static void
test_nacks(void)
{
    int                   r, counts[2] = { 0, 0 };
    size_t                n;
    uint64_t              t;
    uint16_t              out[600];
    ngx_calls_nack_rx_t   rx;
    ngx_calls_rtcp_rb_t   rb;

    static const uint16_t  gap3[] = { 11, 12, 13 };
    static const uint16_t  gap2[] = { 11, 13 };

    /* 1..10, then 14: 11, 12, 13 missing */
    ngx_calls_nack_rx_init(&rx, 90000);
    t = run(&rx, 1, 10, 1000, NULL, 0);
    t = 1100;
    is_int(ngx_calls_nack_rx_packet(&rx, 14, 3000 * 14, t),
           NGX_CALLS_RX_NEW, "14 after 10");
    is_int(rx.nmissing, 3, "3 missing");

    n = ngx_calls_nack_rx_nacks(&rx, t, 50, out, 600);
    is_int(n, 0, "not at once: could be reordering");
    n = ngx_calls_nack_rx_nacks(&rx, t + 9, 50, out, 600);
    is_int(n, 0, "not after 9 ms");
    n = ngx_calls_nack_rx_nacks(&rx, t + 10, 50, out, 600);
    ok(same(out, n, gap3, 3), "after the reorder delay: 11, 12, 13");
    n = ngx_calls_nack_rx_nacks(&rx, t + 11, 50, out, 600);
    is_int(n, 0, "not again at once");
    n = ngx_calls_nack_rx_nacks(&rx, t + 59, 50, out, 600);
    is_int(n, 0, "nor before one RTT");
    n = ngx_calls_nack_rx_nacks(&rx, t + 60, 50, out, 600);
    ok(same(out, n, gap3, 3), "again after one RTT (50 ms)");

    is_int(ngx_calls_nack_rx_packet(&rx, 12, 3000 * 12, t + 70),
           NGX_CALLS_RX_LATE, "12 arrives: late");
    is_int(ngx_calls_nack_rx_packet(&rx, 12, 3000 * 12, t + 71),
           NGX_CALLS_RX_DUPLICATE, "12 again: duplicate");
    n = ngx_calls_nack_rx_nacks(&rx, t + 110, 50, out, 600);
    ok(same(out, n, gap2, 2), "then only 11, 13");

    /* a small RTT: 20 ms at least between NACKs of one packet */
    n = ngx_calls_nack_rx_nacks(&rx, t + 125, 1, out, 600);
    is_int(n, 0, "RTT 1 ms: not after 15 ms");
    n = ngx_calls_nack_rx_nacks(&rx, t + 130, 1, out, 600);
    ok(same(out, n, gap2, 2), "RTT 1 ms: after 20 ms");

    /* retry limit: 10 NACKs per packet */
    counts[0] = 4;                           /* 11 and 13 so far */
    for (t = 1100 + 150; t < 1100 + 900; t += 20) {
        n = ngx_calls_nack_rx_nacks(&rx, t, 1, out, 600);
        if (n) {
            counts[0]++;
        }
    }
    is_int(counts[0], NGX_CALLS_NACK_MAX_TRIES, "10 NACKs, no more");
    is_int(rx.nmissing, 0, "given up");
    is_int(rx.gave_up, 2, "11 and 13 given up");
    is_int(ngx_calls_nack_rx_packet(&rx, 11, 3000 * 11, t),
           NGX_CALLS_RX_LATE, "11 after all: still counted");
    ngx_calls_nack_rx_report(&rx, 1, t, &rb);
    is_int(rb.cumulative_lost, 1, "only 13 lost");

    /* age limit: RTT 300 ms, 4 NACKs fit in 1 s */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1, 10, 0, NULL, 0);
    ngx_calls_nack_rx_packet(&rx, 12, 3000 * 12, 100);
    counts[0] = 0;
    for (t = 100; t < 2000; t++) {
        n = ngx_calls_nack_rx_nacks(&rx, t, 300, out, 600);
        if (n) {
            counts[0]++;
            counts[1] = (int) t;
        }
    }
    is_int(counts[0], 4, "RTT 300: 110, 410, 710, 1010, then too old");
    is_int(counts[1], 1010, "the last at 1010");
    ok(rx.nmissing == 0 && rx.gave_up == 1, "given up after 1 s");

    /* unknown RTT: 100 ms */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1, 10, 0, NULL, 0);
    ngx_calls_nack_rx_packet(&rx, 12, 3000 * 12, 100);
    ngx_calls_nack_rx_nacks(&rx, 110, 0, out, 600);
    ok(ngx_calls_nack_rx_nacks(&rx, 209, 0, out, 600) == 0
       && ngx_calls_nack_rx_nacks(&rx, 210, 0, out, 600) == 1,
       "RTT 0: retried after 100 ms");

    /* three later packets make it a loss before the delay */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1, 10, 0, NULL, 0);
    ngx_calls_nack_rx_packet(&rx, 12, 3000 * 12, 100);
    ngx_calls_nack_rx_packet(&rx, 13, 3000 * 13, 100);
    is_int(ngx_calls_nack_rx_nacks(&rx, 100, 50, out, 600), 0,
           "two later packets: wait");
    ngx_calls_nack_rx_packet(&rx, 14, 3000 * 14, 100);
    n = ngx_calls_nack_rx_nacks(&rx, 100, 50, out, 600);
    ok(n == 1 && out[0] == 11, "three later packets: NACK 11 at once");

    /* reordering within the delay is never NACKed */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1, 10, 0, NULL, 0);
    counts[0] = 0;
    ngx_calls_nack_rx_packet(&rx, 12, 3000 * 12, 100);
    counts[0] += (int) ngx_calls_nack_rx_nacks(&rx, 100, 50, out, 600);
    ngx_calls_nack_rx_packet(&rx, 13, 3000 * 13, 103);
    counts[0] += (int) ngx_calls_nack_rx_nacks(&rx, 104, 50, out, 600);
    r = ngx_calls_nack_rx_packet(&rx, 11, 3000 * 11, 105);
    counts[0] += (int) ngx_calls_nack_rx_nacks(&rx, 106, 50, out, 600);
    counts[0] += (int) ngx_calls_nack_rx_nacks(&rx, 500, 50, out, 600);
    is_int(r, NGX_CALLS_RX_LATE, "11 after 12, 13: late");
    is_int(counts[0], 0, "no NACK for a reordered packet");
    ngx_calls_nack_rx_report(&rx, 1, 500, &rb);
    ok(rb.cumulative_lost == 0 && rb.fraction_lost == 0, "and no loss");

    /* max bounds the answer; the rest come next time, oldest first */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1, 10, 0, NULL, 0);
    ngx_calls_nack_rx_packet(&rx, 31, 3000 * 31, 100);
    n = ngx_calls_nack_rx_nacks(&rx, 200, 50, out, 5);
    ok(n == 5 && out[0] == 11 && out[4] == 15, "max 5: 11..15");
    n = ngx_calls_nack_rx_nacks(&rx, 200, 50, out, 5);
    ok(n == 5 && out[0] == 16 && out[4] == 20, "then 16..20");
    n = ngx_calls_nack_rx_nacks(&rx, 200, 50, out, 600);
    ok(n == 10 && out[0] == 21 && out[9] == 30, "then 21..30");
    is_int(ngx_calls_nack_rx_nacks(&rx, 200, 50, out, 0), 0, "max 0");

    /* across the wrap, in order */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 65520, 65534, 0, NULL, 0);
    ngx_calls_nack_rx_packet(&rx, 2, 1, 100);
    n = ngx_calls_nack_rx_nacks(&rx, 200, 50, out, 600);
    ok(n == 3 && out[0] == 65535 && out[1] == 0 && out[2] == 1,
       "65535, 0, 1 in that order");

    /* a gap longer than the window: only the last 511 are remembered */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1, 10, 0, NULL, 0);
    ngx_calls_nack_rx_packet(&rx, 1011, 1, 100);
    is_int(rx.nmissing, NGX_CALLS_NACK_WINDOW - 1, "511 missing tracked");
    is_int(rx.gave_up, 1000 - (NGX_CALLS_NACK_WINDOW - 1),
           "the 489 older given up at once");
    n = ngx_calls_nack_rx_nacks(&rx, 200, 50, out, 600);
    ok(n == 511 && out[0] == 500 && out[510] == 1010, "NACK 500..1010");
    ngx_calls_nack_rx_packet(&rx, 1111, 1, 201);
    is_int(rx.nmissing, 411 + 99, "100 more: 600..1010 and 1011..1110");
    is_int(rx.gave_up, 489 + 100, "500..599 pushed out: given up");
    ngx_calls_nack_rx_report(&rx, 1, 300, &rb);
    is_int(rb.cumulative_lost, 1099, "all counted as lost");
}


static void
test_loss(void)
{
    int                   i;
    uint64_t              t;
    ngx_calls_rtcp_rb_t   rb;
    ngx_calls_nack_rx_t   rx;

    static const int  skip1[] = { 10, 20, 30, 40, 50 };
    int               skip2[25];

    for (i = 0; i < 25; i++) {
        skip2[i] = 101 + i;
    }

    /* seq 0 is the probation packet: counting begins at 1 */
    ngx_calls_nack_rx_init(&rx, 90000);
    t = run(&rx, 0, 100, 1000, skip1, 5);

    ngx_calls_nack_rx_report(&rx, 1, t, &rb);
    is_int(rb.ext_highest_seq, 100, "interval 1: highest 100");
    is_int(rb.cumulative_lost, 5, "interval 1: 5 of 100 lost");
    is_int(rb.fraction_lost, 12, "interval 1: 5 * 256 / 100 = 12");

    t = run(&rx, 101, 200, t, skip2, 25);
    ngx_calls_nack_rx_report(&rx, 1, t, &rb);
    is_int(rb.cumulative_lost, 30, "interval 2: 30 lost in all");
    is_int(rb.fraction_lost, 64, "interval 2: 25 of 100 = 64/256");

    t = run(&rx, 201, 300, t, NULL, 0);
    is_int(ngx_calls_nack_rx_packet(&rx, 10, 1, t), NGX_CALLS_RX_LATE,
           "10 comes late");
    is_int(ngx_calls_nack_rx_packet(&rx, 20, 1, t), NGX_CALLS_RX_LATE,
           "20 too");
    is_int(ngx_calls_nack_rx_packet(&rx, 20, 1, t), NGX_CALLS_RX_DUPLICATE,
           "20 again: duplicate, not counted");
    ngx_calls_nack_rx_report(&rx, 1, t, &rb);
    is_int(rb.cumulative_lost, 28, "interval 3: late ones reduce the loss");
    is_int(rb.fraction_lost, 0, "interval 3: more received than expected");
    is_int(rb.ext_highest_seq, 300, "interval 3: highest 300");

    ngx_calls_nack_rx_report(&rx, 1, t, &rb);
    ok(rb.fraction_lost == 0 && rb.cumulative_lost == 28,
       "interval 4, nothing received: fraction 0, cumulative kept");

    /* one packet of 2 lost: 128/256 */
    ngx_calls_nack_rx_packet(&rx, 302, 1, t);
    ngx_calls_nack_rx_report(&rx, 1, t, &rb);
    is_int(rb.fraction_lost, 128, "interval 5: 1 of 2 = 128/256");

    /* LSR and DLSR */
    ngx_calls_nack_rx_sr(&rx, 0x12345678, 10000);
    ngx_calls_nack_rx_report(&rx, 1, 10500, &rb);
    ok(rb.lsr == 0x12345678 && rb.dlsr == 32768, "LSR, DLSR 0.5 s");
    ngx_calls_nack_rx_report(&rx, 1, 9000, &rb);
    ok(rb.dlsr == 0, "clock behind the SR: DLSR 0");

    /* duplicates everywhere do not make loss negative */
    ngx_calls_nack_rx_init(&rx, 90000);
    for (i = 0; i < 100; i++) {
        ngx_calls_nack_rx_packet(&rx, (uint16_t) i, 1, (uint64_t) i);
        ngx_calls_nack_rx_packet(&rx, (uint16_t) i, 1, (uint64_t) i);
        if (i > 5) {
            ngx_calls_nack_rx_packet(&rx, (uint16_t) (i - 5), 1,
                                     (uint64_t) i);
        }
    }
    ngx_calls_nack_rx_report(&rx, 1, 200, &rb);
    ok(rb.cumulative_lost == 0 && rb.fraction_lost == 0,
       "every packet duplicated: no loss, not negative");
    is_int(ngx_calls_nack_rx_packet(&rx, 0, 1, 300), NGX_CALLS_RX_OLD,
           "the probation packet again: before counting began");
}


static void
test_wrap_and_jumps(void)
{
    int                   i, r;
    uint16_t              out[16];
    ngx_calls_rtcp_rb_t   rb;
    ngx_calls_nack_rx_t   rx;

    /* 200000 packets: three wraps */
    ngx_calls_nack_rx_init(&rx, 90000);
    for (i = 0; i < 200000; i++) {
        ngx_calls_nack_rx_packet(&rx, (uint16_t) (65530 + i),
                                 3000 * (uint32_t) i, (uint64_t) i);
    }
    ngx_calls_nack_rx_report(&rx, 1, 200000, &rb);
    is_int(rb.ext_highest_seq, 65530 + 199999, "extended seq after wraps");
    is_int(rx.cycles, 4 * 65536, "4 cycles");
    is_int(rb.cumulative_lost, 0, "no loss");

    /* a single stray far number is ignored */
    r = ngx_calls_nack_rx_packet(&rx, 30000, 1, 200001);
    is_int(r, NGX_CALLS_RX_JUMP, "stray jump ignored");
    r = ngx_calls_nack_rx_packet(&rx, (uint16_t) (65530 + 200000), 1,
                                 200002);
    is_int(r, NGX_CALLS_RX_NEW, "the stream goes on");
    ngx_calls_nack_rx_report(&rx, 1, 200003, &rb);
    ok(rb.cumulative_lost == 0 && rb.ext_highest_seq == 65530 + 200000,
       "unaffected");

    /* a restart: new numbers, confirmed by the next packet */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1000, 1100, 0, NULL, 0);
    r = ngx_calls_nack_rx_packet(&rx, 40000, 1, 200);
    is_int(r, NGX_CALLS_RX_JUMP, "restart: first packet is a jump");
    r = ngx_calls_nack_rx_packet(&rx, 40001, 1, 201);
    is_int(r, NGX_CALLS_RX_RESYNC, "second in sequence: resync");
    r = ngx_calls_nack_rx_packet(&rx, 40003, 1, 202);
    is_int(r, NGX_CALLS_RX_NEW, "then new");
    ngx_calls_nack_rx_report(&rx, 1, 300, &rb);
    is_int(rb.ext_highest_seq, 40003, "counting from the new numbers");
    is_int(rb.cumulative_lost, 1, "only 40002 lost, not the jump");
    is_int(rb.fraction_lost, 85, "1 of 3 since the resync");
    ok(ngx_calls_nack_rx_nacks(&rx, 300, 50, out, 16) == 1 && out[0] == 40002,
       "and NACKed");

    /* a restart behind, beyond the window */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 5000, 5100, 0, NULL, 0);
    ok(ngx_calls_nack_rx_packet(&rx, 100, 1, 200) == NGX_CALLS_RX_JUMP
       && ngx_calls_nack_rx_packet(&rx, 101, 1, 201) == NGX_CALLS_RX_RESYNC,
       "restart behind: jump, resync");
    ngx_calls_nack_rx_report(&rx, 1, 300, &rb);
    ok(rb.ext_highest_seq == 101 && rb.cumulative_lost == 0, "counted anew");

    /* a forward jump under 3000 is loss */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1, 100, 0, NULL, 0);
    is_int(ngx_calls_nack_rx_packet(&rx, 2100, 1, 200), NGX_CALLS_RX_NEW,
           "2000 ahead: loss, not a jump");
    ngx_calls_nack_rx_report(&rx, 1, 300, &rb);
    is_int(rb.cumulative_lost, 1999, "1999 lost");

    /* probation: out-of-sequence packets restart it */
    ngx_calls_nack_rx_init(&rx, 90000);
    ok(ngx_calls_nack_rx_packet(&rx, 10, 1, 0) == NGX_CALLS_RX_PROBATION
       && ngx_calls_nack_rx_packet(&rx, 20, 1, 1) == NGX_CALLS_RX_PROBATION
       && ngx_calls_nack_rx_packet(&rx, 5, 1, 2) == NGX_CALLS_RX_PROBATION,
       "10, 20, 5: still on probation");
    ok(ngx_calls_nack_rx_report(&rx, 1, 3, &rb) < 0, "nothing to report");
    is_int(ngx_calls_nack_rx_packet(&rx, 6, 1, 3), NGX_CALLS_RX_NEW,
           "6 after 5: valid");
    ngx_calls_nack_rx_report(&rx, 1, 4, &rb);
    ok(rb.ext_highest_seq == 6 && rb.cumulative_lost == 0,
       "counting begins at 6");
    is_int(ngx_calls_nack_rx_packet(&rx, 5, 1, 5), NGX_CALLS_RX_OLD,
           "5: before counting began");

    /* behind the window and sequential: treated as a restart (A.1) */
    ngx_calls_nack_rx_init(&rx, 90000);
    run(&rx, 1, 1000, 0, NULL, 0);
    ok(ngx_calls_nack_rx_packet(&rx, 400, 1, 2000) == NGX_CALLS_RX_JUMP,
       "600 behind: a jump, not a late packet");
}


static void
test_random(void)
{
    int                   i, bad;
    size_t                n, k;
    uint16_t              seq, out[NGX_CALLS_NACK_WINDOW];
    uint64_t              t;
    ngx_calls_rtcp_rb_t   rb;
    ngx_calls_nack_rx_t   rx;

    /* 20% loss, some duplicates, NACKs answered half the time: the
     * counters stay consistent and nothing outside the window is NACKed */
    ngx_calls_nack_rx_init(&rx, 90000);
    srandom(4585);
    bad = 0;
    t = 0;
    seq = 60000;

    for (i = 0; i < 100000; i++) {
        t += (uint64_t) (random() % 3);

        if (random() % 5) {
            ngx_calls_nack_rx_packet(&rx, seq, 90 * (uint32_t) t, t);
        }

        if (random() % 10 == 0) {
            ngx_calls_nack_rx_packet(&rx, (uint16_t) (seq - random() % 8),
                                     1, t);
        }

        seq++;

        if (i % 10 == 0) {
            n = ngx_calls_nack_rx_nacks(&rx, t, 30, out,
                                        NGX_CALLS_NACK_WINDOW);

            for (k = 0; k < n; k++) {
                if ((uint16_t) (rx.max_seq - out[k]) >= NGX_CALLS_NACK_WINDOW
                    || (k && (uint16_t) (out[k] - out[k - 1]) >= 0x8000))
                {
                    bad++;
                }

                if (random() % 2) {
                    ngx_calls_nack_rx_packet(&rx, out[k], 1, t);
                }
            }
        }

        if (i % 1000 == 0) {
            unsigned  m = 0, w;

            for (w = 0; w < NGX_CALLS_NACK_WINDOW; w++) {
                m += rx.slots[w].state == NGX_CALLS_NACK_MISSING;
            }

            bad += m != rx.nmissing;

            ngx_calls_nack_rx_report(&rx, 1, t, &rb);
            bad += rb.cumulative_lost < 0;
        }
    }

    is_int(bad, 0, "100000 packets, loss, reordering, NACKs: consistent");
    ngx_calls_nack_rx_report(&rx, 1, t, &rb);
    diag("cumulative lost %d of %u, gave up %llu", rb.cumulative_lost,
         rb.ext_highest_seq, (unsigned long long) rx.gave_up);
    ok(rb.cumulative_lost > 0 && rb.cumulative_lost < 100,
       "10 NACKs answered half the time: ~20000 / 2^10 lost for good");
}


int
main(void)
{
    test_buf();
    test_in_order();
    test_nacks();
    test_loss();
    test_wrap_and_jumps();
    test_random();

    return done_testing();
}
