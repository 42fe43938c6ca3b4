
/*
 * Copyright (C) ngx_calls authors
 */


/* Transport-wide congestion control feedback: building and reading it. */


#include <stdlib.h>

#include "tap.h"
#include "ngx_calls_twcc.h"


#define RESULTS  NGX_CALLS_TWCC_TX_RING

static ngx_calls_twcc_rx_t      rx;
static ngx_calls_twcc_tx_t      tx;
static ngx_calls_twcc_result_t  res[RESULTS];


static uint32_t  rnd_state;

static uint32_t
rnd(void)
{
    /* xorshift32: the same sequence on every platform */
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}


/* sends n packets of 100 + i bytes at 1000 * (i + 1) us */
static void
send_n(uint16_t first, unsigned n)
{
    unsigned  i;

    ngx_calls_twcc_tx_init(&tx, first);

    for (i = 0; i < n; i++) {
        ngx_calls_twcc_tx_sent(&tx, 100 + i, 1000 * (i + 1));
    }
}


static void
test_vectors(void)
{
    int  n;

    /* a run-length chunk: 5 received, small deltas */
    {
        static const uint8_t  fci[] = {
            0x00, 0x64, 0x00, 0x05,             /* base 100, count 5 */
            0x00, 0x00, 0x10, 0x07,             /* ref 16 (1.024 s), fb 7 */
            0x20, 0x05,                         /* run: small x 5 */
            0x04, 0x08, 0x00, 0xff, 0x01,       /* deltas */
            0x00                                /* padding */
        };

        send_n(100, 10);
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 5, "run length: 5 results");
        ok(res[0].tseq == 100 && res[4].tseq == 104, "tseq 100..104");
        ok(res[0].received && res[4].received, "received");
        is_int(res[0].arrival_us, 1024000 + 1000, "ref * 64 ms + 4 ticks");
        is_int(res[1].arrival_us, 1025000 + 2000, "+ 8 ticks");
        is_int(res[2].arrival_us, 1027000, "+ 0");
        is_int(res[3].arrival_us, 1027000 + 255 * 250, "+ 255 ticks");
        is_int(res[4].arrival_us, 1027000 + 256 * 250, "+ 1 tick");
        is_int(res[0].send_us, 1000, "send time of 100");
        is_int(res[4].send_us, 5000, "send time of 104");
        is_int(res[4].size, 104, "size of 104");
        is_int(tx.fb_count, 7, "feedback packet count read");

        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 0, "the same feedback again: nothing new");
    }

    /* a one-bit status vector: 14 statuses, 3 lost */
    {
        static const uint8_t  fci[] = {
            0x00, 0x66, 0x00, 0x0e,             /* base 102, count 14 */
            0x00, 0x00, 0x01, 0x00,             /* ref 1 */
            0xac, 0xff,                         /* 1 0 1 1 0 0 1 1 1 1 1 1 1 1 */
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11   /* 11 small deltas */
        };
        static const int  recv[14] = { 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1,
                                       1, 1 };
        int     i, good;
        long    t;
        size_t  d;

        send_n(100, 20);
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 14, "one-bit vector: 14 results");

        good = 1;
        t = 64000;
        d = 10;
        for (i = 0; i < 14 && i < n; i++) {
            if (res[i].tseq != 102 + i || res[i].received != recv[i]) {
                good = 0;
            }
            if (recv[i]) {
                t += 250 * (long) fci[d++];
                if (res[i].arrival_us != t) {
                    good = 0;
                }
            } else if (res[i].arrival_us != 0) {
                good = 0;
            }
        }
        ok(good, "statuses, lost ones without arrival, deltas in order");
    }

    /* a two-bit status vector: small, large (negative), lost, large */
    {
        static const uint8_t  fci[] = {
            0x00, 0xc8, 0x00, 0x07,             /* base 200, count 7 */
            0x00, 0x00, 0x02, 0x09,             /* ref 2 */
            0xd8, 0x90,                         /* 1 2 0 2 1 0 0 */
            0x0a,                               /* +10 ticks */
            0xff, 0xd8,                         /* -40 ticks */
            0x03, 0xe8,                         /* +1000 ticks */
            0x03,                               /* +3 ticks */
            0x00, 0x00                          /* padding */
        };
        long  t0;

        send_n(195, 20);
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 7, "two-bit vector: 7 results");
        t0 = 128000 + 2500;
        ok(n == 7 && res[0].received && res[0].arrival_us == t0,
           "small delta");
        ok(n == 7 && res[1].received && res[1].arrival_us == t0 - 10000,
           "large negative delta: earlier than the one before");
        ok(n == 7 && !res[2].received, "lost");
        ok(n == 7 && res[3].arrival_us == t0 - 10000 + 250000,
           "large delta of 250 ms");
        ok(n == 7 && res[4].arrival_us == t0 - 10000 + 250750, "small again");
        ok(n == 7 && !res[5].received && !res[6].received
           && res[6].tseq == 206, "two lost at the end");
        ok(n == 7 && res[1].size == 106 && res[1].send_us == 7000,
           "size and send time of 201");
    }

    /* a run of lost, then a two-bit vector cut short by the count; the
     * unused symbols (reserved ones even) are ignored */
    {
        static const uint8_t  fci[] = {
            0x00, 0x0a, 0x00, 0x05,             /* base 10, count 5 */
            0x00, 0x00, 0x00, 0x00,
            0x00, 0x03,                         /* run: lost x 3 */
            0xd7, 0xff,                         /* 1 1 3 3 3 3 3 */
            0x01, 0x02
        };

        send_n(0, 20);
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 5, "run of lost + short vector: 5 results");
        ok(n == 5 && !res[0].received && !res[2].received && res[3].received
           && res[4].received && res[4].arrival_us == 750,
           "3 lost, 2 received");
    }

    /* tseq wraparound: 65534, 65535, 0, 1, 2 */
    {
        static const uint8_t  fci[] = {
            0xff, 0xfe, 0x00, 0x05,
            0x00, 0x00, 0x03, 0x00,
            0x20, 0x05,
            1, 1, 1, 1, 1
        };

        send_n(65533, 8);
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 5, "wraparound: 5 results");
        ok(n == 5 && res[0].tseq == 65534 && res[1].tseq == 65535
           && res[2].tseq == 0 && res[4].tseq == 2, "tseq 65534 .. 2");
        ok(n == 5 && res[0].send_us == 2000 && res[2].send_us == 4000
           && res[4].send_us == 6000, "their send times");
    }

    /* reference time wrap: 0xffffff, then 1, then 0xfffffe */
    {
        uint8_t  fci[] = {
            0x00, 0x00, 0x00, 0x01,
            0xff, 0xff, 0xff, 0x00,
            0x20, 0x01,
            0x00
        };
        long     a0;

        send_n(0, 10);
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        a0 = (long) res[0].arrival_us;
        is_int(a0, 0xffffffL * 64000, "reference time 0xffffff");

        fci[1] = 1; fci[4] = 0; fci[5] = 0; fci[6] = 1;
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 1, "next feedback");
        is_int(res[0].arrival_us - a0, 2 * 64000,
               "reference time 1 after 0xffffff: 128 ms later");

        fci[1] = 2; fci[4] = 0xff; fci[5] = 0xff; fci[6] = 0xfe;
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(res[0].arrival_us - a0, -64000,
               "an older reference time (reordered feedback): earlier");
    }

    /* statuses of packets never sent are not reported */
    {
        static const uint8_t  fci[] = {
            0x00, 0x0a, 0x00, 0x0a,             /* 10 .. 19 */
            0x00, 0x00, 0x00, 0x00,
            0x20, 0x0a,
            1, 1, 1, 1, 1, 1, 1, 1, 1, 1
        };

        send_n(0, 15);                          /* 0 .. 14 sent */
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 5, "only 10 .. 14 of 10 .. 19 were sent");
        is_int(tx.unknown, 5, "5 unknown");

        ngx_calls_twcc_tx_init(&tx, 0);
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 0, "nothing sent: nothing reported");

        send_n(65530, 30);                      /* 65530 .. 23 */
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, RESULTS);
        is_int(n, 10, "after a wrap, 10 .. 19 are ours");
        is_int(res[0].send_us, 17000, "the right ones");

        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, 3);
        is_int(n, 0, "all reported already");

        send_n(0, 30);
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, 3);
        is_int(n, 3, "max results");
        n = ngx_calls_twcc_tx_feedback(&tx, fci, sizeof(fci), res, -1);
        is_int(n, 0, "negative max: none");
    }
}


/* what rx builds, byte for byte */
static void
test_build(void)
{
    size_t         len;
    uint8_t        buf[1500];
    unsigned       i;
    const uint8_t *fci;
    size_t         fci_len;

    /* 10, 11, 12 received, 13 lost, 14 received */
    {
        static const uint8_t  want[] = {
            0xaf, 0xcd, 0x00, 0x06,             /* V=2 P FMT 15, 205, len 6 */
            0x11, 0x22, 0x33, 0x44,
            0x55, 0x66, 0x77, 0x88,
            0x00, 0x0a, 0x00, 0x05,             /* base 10, count 5 */
            0x00, 0x00, 0x05, 0x00,             /* ref 5, fb count 0 */
            0xd5, 0x10,                         /* 2-bit: 1 1 1 0 1 */
            0x04, 0x04, 0x04, 0x05,             /* deltas */
            0x00, 0x02                          /* padding */
        };

        ngx_calls_twcc_rx_init(&rx);
        ngx_calls_twcc_rx_packet(&rx, 10, 5 * 64000 + 1000);
        ngx_calls_twcc_rx_packet(&rx, 11, 5 * 64000 + 2000);
        ngx_calls_twcc_rx_packet(&rx, 12, 5 * 64000 + 3000);
        ngx_calls_twcc_rx_packet(&rx, 14, 5 * 64000 + 4250);

        len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 0x11223344,
                                         0x55667788, 400000);
        is_int(len, sizeof(want), "feedback length 28");
        ok(len == sizeof(want) && memcmp(buf, want, len) == 0, "feedback bytes");

        ok(ngx_calls_twcc_fci(buf, len, &fci, &fci_len) == 0
           && fci == buf + 12 && fci_len == 14, "FCI found, padding off");

        is_int(ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2,
                                          400000), 0, "then nothing new");
        ok(!ngx_calls_twcc_rx_due(&rx, 10000000), "not due");
    }

    /* 20 received in a row: one run chunk; then 15 alternating: a one-bit
     * vector of 14 and a run of 1 */
    {
        static const uint8_t  run[] = { 0x20, 0x14 };
        static const uint8_t  vec[] = { 0xaa, 0xaa, 0x20, 0x01 };

        ngx_calls_twcc_rx_init(&rx);
        for (i = 0; i < 20; i++) {
            ngx_calls_twcc_rx_packet(&rx, (uint16_t) (1000 + i), 1000 * i);
        }

        len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 0);
        is_int(len, 20 + 2 + 20 + 2, "run: 20 + 2 + 20 deltas + 2 padding");
        ok(memcmp(buf + 20, run, 2) == 0, "run chunk of 20 small");
        is_int(buf[14] << 8 | buf[15], 20, "status count 20");
        is_int(buf[0], 0xaf, "padded");
        is_int(buf[len - 1], 2, "padding count");

        for (i = 0; i < 15; i += 2) {
            ngx_calls_twcc_rx_packet(&rx, (uint16_t) (1020 + i), 20000 + i);
        }

        len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 0);
        ok(memcmp(buf + 20, vec, 4) == 0, "one-bit vector of 14, run of 1");
        is_int(buf[14] << 8 | buf[15], 15, "status count 15");
        is_int(buf[19], 1, "feedback packet count 1");
        is_int(len, 20 + 4 + 8, "8 deltas, no padding");
        is_int(buf[0], 0x8f, "not padded");
    }

    /* a gap of 100 ms: a large delta in a two-bit vector */
    {
        ngx_calls_twcc_rx_init(&rx);
        ngx_calls_twcc_rx_packet(&rx, 1, 0);
        ngx_calls_twcc_rx_packet(&rx, 2, 100000);
        len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 0);
        is_int(len, 28, "large delta");
        is_int(buf[20], 0xd8, "two-bit: small, large");
        is_int(buf[21], 0x00, "two-bit: rest");
        is_int(buf[22], 0, "first delta 0");
        is_int(buf[23] << 8 | buf[24], 400, "400 ticks");
    }

    /*
     * The worst first packet: 7 lost before it, and a delta of 63.9 ms,
     * which rounds to 256 ticks, a large delta: two chunks, 2 bytes of
     * delta, 26 bytes, padded to 28.
     */
    {
        ngx_calls_twcc_rx_init(&rx);
        ngx_calls_twcc_rx_packet(&rx, 0, 0);
        ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 0);

        ngx_calls_twcc_rx_packet(&rx, 8, 64000 + 63900);
        ngx_calls_twcc_rx_packet(&rx, 20, 2 * 64000);
        len = ngx_calls_twcc_rx_feedback(&rx, buf,
                                         NGX_CALLS_TWCC_FEEDBACK_MIN, 1, 2,
                                         0);
        is_int(len, 28, "7 lost and a 256-tick delta fit the minimum buffer");
        is_int(buf[12] << 8 | buf[13], 1, "base 1");
        is_int(buf[14] << 8 | buf[15], 8, "1 .. 8: 20 did not fit");
        ok(buf[20] == 0x00 && buf[21] == 0x07 && buf[22] == 0x40
           && buf[23] == 0x01 && buf[24] == 1 && buf[25] == 0,
           "run of 7 lost, run of 1 large, delta 256");
        ok(ngx_calls_twcc_rx_due(&rx, 0), "the rest is due");

        len = ngx_calls_twcc_rx_feedback(&rx, buf,
                                         NGX_CALLS_TWCC_FEEDBACK_MIN, 1, 2,
                                         0);
        is_int(len, 24, "the rest in the next (one-bit vector, 1 delta)");
        is_int(buf[12] << 8 | buf[13], 9, "base 9");
        is_int(buf[14] << 8 | buf[15], 12, "9 .. 20");

        ngx_calls_twcc_rx_packet(&rx, 21, 2 * 64000);
        is_int(ngx_calls_twcc_rx_feedback(&rx, buf, 27, 1, 2, 0), 0,
               "a buffer below the minimum gets nothing");
    }
}


/* rx: ordering, duplicates, wraparound, due */
static void
test_rx(void)
{
    size_t   len;
    uint8_t  buf[1500];
    int      i, n;

    ngx_calls_twcc_rx_init(&rx);
    ok(!ngx_calls_twcc_rx_due(&rx, 0), "nothing: not due");
    is_int(ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 0), 0,
           "nothing: no feedback");

    is_int(ngx_calls_twcc_rx_packet(&rx, 65534, 1000), 0, "65534");
    is_int(ngx_calls_twcc_rx_packet(&rx, 1, 2000), 0, "1 after the wrap");
    is_int(ngx_calls_twcc_rx_packet(&rx, 65535, 3000), 0, "65535 reordered");
    is_int(ngx_calls_twcc_rx_packet(&rx, 65535, 4000), 1, "duplicate");
    is_int(rx.duplicates, 1, "counted");

    ok(!ngx_calls_twcc_rx_due(&rx, 1000 + 99999), "not due before 100 ms");
    ok(ngx_calls_twcc_rx_due(&rx, 1000 + 100000), "due at 100 ms");

    len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 101000);
    ok(len > 0, "feedback");
    is_int(buf[12] << 8 | buf[13], 65534, "base 65534");
    is_int(buf[14] << 8 | buf[15], 4, "65534, 65535, 0 (lost), 1");

    ngx_calls_twcc_tx_init(&tx, 65534);
    for (i = 0; i < 4; i++) {
        ngx_calls_twcc_tx_sent(&tx, 50, i);
    }
    n = ngx_calls_twcc_tx_feedback(&tx, buf + 12, len - 12, res, RESULTS);
    is_int(n, 4, "tx reads it");
    ok(n == 4 && res[1].arrival_us == 3000 && !res[2].received
       && res[3].arrival_us == 2000, "arrivals as recorded, 0 lost");

    /* 0 arrives late: reported again from 0 */
    is_int(ngx_calls_twcc_rx_packet(&rx, 0, 150000), 0, "0 arrives late");
    len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 200000);
    is_int(buf[12] << 8 | buf[13], 0, "re-reported from 0");
    n = ngx_calls_twcc_tx_feedback(&tx, buf + 12, len - 12, res, RESULTS);
    ok(n == 1 && res[0].tseq == 0 && res[0].received && res[0].late
       && res[0].arrival_us == 150000, "tx: 0 received late; 1 not again");

    /* 100 pending: due at once */
    for (i = 2; i < 101; i++) {
        ngx_calls_twcc_rx_packet(&rx, (uint16_t) i, 200000 + i);
        if (i == 100) {
            ok(!ngx_calls_twcc_rx_due(&rx, 200000 + i), "99 pending");
        }
    }
    ngx_calls_twcc_rx_packet(&rx, 101, 200200);
    ok(ngx_calls_twcc_rx_due(&rx, 200200), "100 pending: due");

    /* too old */
    is_int(ngx_calls_twcc_rx_packet(&rx, (uint16_t) (101 - 3000), 300000),
           -1, "3000 behind: too old");
    is_int(rx.too_old, 1, "counted");
}


static void
test_gaps(void)
{
    size_t   len, l1;
    uint8_t  buf[1500], buf2[1500];
    int      i, n, m, good;
    unsigned fbc;

    /* 5 packets, then 10 s of nothing, then 5: split at the gap */
    ngx_calls_twcc_rx_init(&rx);
    ngx_calls_twcc_tx_init(&tx, 0);

    for (i = 0; i < 10; i++) {
        ngx_calls_twcc_tx_sent(&tx, 1000, 0);
    }
    for (i = 0; i < 5; i++) {
        ngx_calls_twcc_rx_packet(&rx, (uint16_t) i, 1000000 + 1000 * i);
    }
    for (i = 5; i < 10; i++) {
        ngx_calls_twcc_rx_packet(&rx, (uint16_t) i, 11000000 + 1000 * i);
    }

    l1 = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 11100000);
    is_int(buf[14] << 8 | buf[15], 5, "10 s gap: the first feedback stops");
    ok(ngx_calls_twcc_rx_due(&rx, 11100000), "the rest is due at once");
    len = ngx_calls_twcc_rx_feedback(&rx, buf2, sizeof(buf2), 1, 2, 11100000);
    is_int(buf2[12] << 8 | buf2[13], 5, "the second starts at 5");
    is_int(buf2[14] << 8 | buf2[15], 5, "with 5");
    is_int(buf2[19], 1, "feedback packet count 1");
    ok(!ngx_calls_twcc_rx_due(&rx, 11100000), "then not due");

    n = ngx_calls_twcc_tx_feedback(&tx, buf + 12, l1 - 12, res, RESULTS);
    m = ngx_calls_twcc_tx_feedback(&tx, buf2 + 12, len - 12, res + n,
                                   RESULTS - n);
    ok(n == 5 && m == 5 && res[4].arrival_us == 1004000
       && res[5].arrival_us == 11005000 && res[9].arrival_us == 11009000,
       "tx reads both, arrival times across the gap exact");

    /* 8.1 s: still one packet, with a large delta */
    ngx_calls_twcc_rx_init(&rx);
    ngx_calls_twcc_rx_packet(&rx, 0, 64000);
    ngx_calls_twcc_rx_packet(&rx, 1, 64000 + 8100000);
    ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 0);
    is_int(buf[14] << 8 | buf[15], 2, "8.1 s gap fits a large delta");

    /* a sequence gap of 1000: one run of lost */
    ngx_calls_twcc_rx_init(&rx);
    ngx_calls_twcc_rx_packet(&rx, 0, 0);
    ngx_calls_twcc_rx_packet(&rx, 1001, 1000);
    len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 0);
    is_int(buf[14] << 8 | buf[15], 1002, "gap of 1000: 1002 statuses");
    is_int(len, 20 + 6 + 2 + 0, "three chunks, 2 deltas");
    ok(buf[20] == 0xa0 && buf[21] == 0x00 && buf[22] == 0x03
       && buf[23] == 0xdb && buf[24] == 0x20 && buf[25] == 0x01,
       "one-bit vector (1, 13 lost), run of 987 lost, run of 1 small");

    /* a jump ahead beyond the window: the oldest are given up */
    ngx_calls_twcc_rx_init(&rx);
    for (i = 0; i < 10; i++) {
        ngx_calls_twcc_rx_packet(&rx, (uint16_t) i, 1000 * i);
    }
    ngx_calls_twcc_rx_packet(&rx, 5000, 20000);
    is_int(rx.evicted, 5000 + 1 - NGX_CALLS_TWCC_RX_WINDOW,
           "unreported numbers before the window counted");
    len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf), 1, 2, 30000);
    is_int(buf[12] << 8 | buf[13], 5001 - NGX_CALLS_TWCC_RX_WINDOW,
           "base: the oldest in the window");
    is_int(buf[14] << 8 | buf[15], NGX_CALLS_TWCC_RX_WINDOW,
           "the window, all lost but the last");
    is_int(ngx_calls_twcc_rx_packet(&rx, 9, 40000), -1,
           "and an old one after it is too old");

    /* 300 pending in 100-byte buffers: several packets, nothing missed */
    ngx_calls_twcc_rx_init(&rx);
    ngx_calls_twcc_tx_init(&tx, 0);
    for (i = 0; i < 300; i++) {
        ngx_calls_twcc_tx_sent(&tx, 1000, 0);
        if (i % 7 != 3) {
            ngx_calls_twcc_rx_packet(&rx, (uint16_t) i,
                                     1000000 + 300 * i + (i % 5) * 40000);
        }
    }

    good = 1;
    m = 0;
    fbc = 0;
    while ((len = ngx_calls_twcc_rx_feedback(&rx, buf, 100, 1, 2, 0)) > 0) {
        if (len > 100 || len % 4 || buf[19] != fbc++) {
            good = 0;
        }
        n = ngx_calls_twcc_tx_feedback(&tx, buf + 12, len - 12, res + m,
                                       RESULTS - m);
        if (n <= 0) {
            good = 0;
            break;
        }
        m += n;
    }
    ok(good, "each at most 100 bytes, counts 0, 1, 2 ...");
    ok(fbc > 5, "split into several");
    diag("300 packets in %u feedback packets of at most 100 bytes", fbc);
    is_int(m, 300, "all 300 reported");

    good = 1;
    for (i = 0; i < m; i++) {
        if (res[i].tseq != i
            || res[i].received != (i % 7 != 3)
            || (res[i].received
                && res[i].arrival_us != 1000000 + 300 * i + (i % 5) * 40000
                && abs((int) (res[i].arrival_us
                              - (1000000 + 300 * i + (i % 5) * 40000)))
                   > 125))
        {
            good = 0;
        }
    }
    ok(good, "in order, lost ones lost, arrivals within 125 us");
}


typedef struct {
    uint64_t  t;
    unsigned  i;
} arrival_t;


static int
arrival_cmp(const void *a, const void *b)
{
    const arrival_t  *x = a, *y = b;

    if (x->t != y->t) {
        return x->t < y->t ? -1 : 1;
    }

    return x->i < y->i ? -1 : x->i > y->i;
}


#define RT_N  10000

static uint64_t   rt_send[RT_N], rt_arr[RT_N];
static unsigned   rt_size[RT_N];
static uint8_t    rt_lost[RT_N], rt_got_recv[RT_N], rt_got_lost[RT_N];
static uint8_t    rt_late[RT_N];
static arrival_t  rt_ev[RT_N * 2];
static int        rt_index[65536];
static int        rt_bad_send, rt_bad_size, rt_unknown;
static int64_t    rt_max_err;


static void
rt_feedback(uint64_t now, unsigned *fbs)
{
    int                       n, k, i;
    size_t                    len, fci_len;
    uint8_t                   buf[1200];
    const uint8_t            *fci;
    ngx_calls_twcc_result_t  *r;
    int64_t                   err;

    while ((len = ngx_calls_twcc_rx_feedback(&rx, buf, sizeof(buf),
                                             0x1234, 0x5678, now)) > 0)
    {
        (*fbs)++;

        if (ngx_calls_twcc_fci(buf, len, &fci, &fci_len) != 0) {
            rt_unknown++;
            continue;
        }

        n = ngx_calls_twcc_tx_feedback(&tx, fci, fci_len, res, RESULTS);

        for (k = 0; k < n; k++) {
            r = &res[k];
            i = rt_index[r->tseq];

            if (i < 0) {
                rt_unknown++;
                continue;
            }

            if (r->send_us != rt_send[i]) {
                rt_bad_send++;
            }

            if (r->size != rt_size[i]) {
                rt_bad_size++;
            }

            if (r->received) {
                rt_got_recv[i]++;
                rt_late[i] = r->late;
                err = r->arrival_us - (int64_t) rt_arr[i];
                if (err < 0) {
                    err = -err;
                }
                if (err > rt_max_err) {
                    rt_max_err = err;
                }

            } else {
                rt_got_lost[i]++;
            }
        }
    }
}


static void
test_round_trip(void)
{
    int       bad_recv, bad_lost, lost, late, dups;
    unsigned  i, ne, s, a, fbs;
    uint64_t  now, t0;
    uint16_t  first, tseq;

    rnd_state = 20240601;
    t0 = 1000000000;                            /* 1000 s */
    first = 60000;                              /* wraps after 5536 */

    ne = 0;
    dups = 0;

    for (i = 0; i < RT_N; i++) {
        rt_send[i] = t0 + 1000 * (uint64_t) i + rnd() % 500;
        rt_size[i] = 100 + rnd() % 1100;
        rt_lost[i] = (rnd() % 100 < 5) || (i % 1000 >= 500 && i % 1000 < 530);
        rt_arr[i] = rt_send[i] + 30000 + rnd() % 20000;   /* 0..20 ms jitter */

        /* now and then a late straggler, after its feedback went */
        if (rnd() % 200 == 0) {
            rt_arr[i] += 150000;
        }

        if (i == RT_N - 1) {
            rt_lost[i] = 0;
        }

        if (!rt_lost[i]) {
            rt_ev[ne].t = rt_arr[i];
            rt_ev[ne++].i = i;

            if (rnd() % 100 == 0) {
                rt_ev[ne].t = rt_arr[i] + rnd() % 5000;
                rt_ev[ne++].i = i;
                dups++;
            }
        }
    }

    qsort(rt_ev, ne, sizeof(arrival_t), arrival_cmp);

    for (i = 0; i < 65536; i++) {
        rt_index[i] = -1;
    }

    ngx_calls_twcc_rx_init(&rx);
    ngx_calls_twcc_tx_init(&tx, first);

    s = 0;
    a = 0;
    fbs = 0;

    while (s < RT_N || a < ne) {
        if (s < RT_N && (a == ne || rt_send[s] <= rt_ev[a].t)) {
            now = rt_send[s];
            tseq = ngx_calls_twcc_tx_sent(&tx, rt_size[s], now);
            if (tseq != (uint16_t) (first + s)) {
                rt_unknown++;
            }
            rt_index[tseq] = (int) s;
            s++;

        } else {
            now = rt_ev[a].t;
            ngx_calls_twcc_rx_packet(&rx, (uint16_t) (first + rt_ev[a].i),
                                     now);
            a++;
        }

        if (ngx_calls_twcc_rx_due(&rx, now)) {
            rt_feedback(now, &fbs);
        }
    }

    rt_feedback(now + 1000000, &fbs);

    bad_recv = 0;
    bad_lost = 0;
    lost = 0;
    late = 0;

    for (i = 0; i < RT_N; i++) {
        if (rt_lost[i]) {
            lost++;
            if (rt_got_recv[i] != 0 || rt_got_lost[i] != 1) {
                bad_lost++;
            }

        } else {
            if (rt_got_recv[i] != 1 || rt_got_lost[i] > 1
                || (rt_got_lost[i] == 1) != rt_late[i])
            {
                bad_recv++;
            }
            late += rt_late[i];
        }
    }

    diag("round trip: %d packets, %d lost, %d late, %d duplicated, "
         "%u feedback packets, max arrival error %lld us",
         RT_N, lost, late, dups, fbs, (long long) rt_max_err);

    is_int(bad_recv, 0, "every received packet reported received once");
    is_int(bad_lost, 0, "every lost packet reported lost once");
    ok(late > 0, "some reported lost, then received late");
    ok(rt_max_err <= 125, "arrival times within 125 us (half a tick)");
    is_int(rt_bad_send, 0, "send times as sent");
    is_int(rt_bad_size, 0, "sizes as sent");
    is_int(rt_unknown, 0, "no packet reported that was not sent");
    is_int(rx.duplicates, dups, "duplicates counted by rx");
    is_int(rx.too_old + rx.evicted, 0, "none too old, none evicted");
    is_int(tx.malformed, 0, "no feedback malformed");
}


static int
check_results(int n, int max, uint16_t first, unsigned sent)
{
    int       k;
    unsigned  i;

    if (n < -1 || n > max) {
        return 0;
    }

    for (k = 0; k < n; k++) {
        i = (uint16_t) (res[k].tseq - first);

        if (i >= sent || res[k].size != 100 + i
            || res[k].send_us != 1000 * (i + 1))
        {
            return 0;
        }
    }

    return 1;
}


static void
test_malformed(void)
{
    int       n, bad, k, max, valid, rejected;
    size_t    len, l, fci_len;
    uint16_t  first;
    uint8_t   buf[256], fb[1500];
    unsigned  i, j;
    const uint8_t *fci;

    send_n(100, 50);

    /* truncated chunks: count 20, one chunk of 7 */
    {
        static const uint8_t  fci1[] = {
            0x00, 0x64, 0x00, 0x14, 0, 0, 0, 0, 0xd5, 0x55, 1, 1, 1, 1
        };

        n = ngx_calls_twcc_tx_feedback(&tx, fci1, sizeof(fci1), res, RESULTS);
        is_int(n, -1, "count beyond the chunks: malformed");
    }

    /* deltas missing */
    {
        static const uint8_t  fci1[] = {
            0x00, 0x64, 0x00, 0x05, 0, 0, 0, 0, 0x20, 0x05, 1, 1, 1, 1
        };
        static const uint8_t  fci2[] = {
            0x00, 0x64, 0x00, 0x02, 0, 0, 0, 0, 0x40, 0x02, 1, 1, 1
        };

        n = ngx_calls_twcc_tx_feedback(&tx, fci1, sizeof(fci1), res, RESULTS);
        is_int(n, -1, "4 deltas for 5 received: malformed");
        n = ngx_calls_twcc_tx_feedback(&tx, fci2, sizeof(fci2), res, RESULTS);
        is_int(n, -1, "3 bytes for 2 large deltas: malformed");
        n = ngx_calls_twcc_tx_feedback(&tx, fci2, 10, res, RESULTS);
        is_int(n, -1, "no deltas at all: malformed");
    }

    /* reserved symbol, empty, short */
    {
        static const uint8_t  fci1[] = {
            0x00, 0x64, 0x00, 0x02, 0, 0, 0, 0, 0xdc, 0x00, 1, 0, 0, 0
        };
        static const uint8_t  fci2[] = {
            0x00, 0x64, 0x00, 0x02, 0, 0, 0, 0, 0x60, 0x02, 0, 0, 0, 0
        };
        static const uint8_t  fci3[] = {
            0x00, 0x64, 0x00, 0x00, 0, 0, 0, 0, 0x20, 0x01, 1, 0
        };

        is_int(ngx_calls_twcc_tx_feedback(&tx, fci1, sizeof(fci1), res,
                                          RESULTS), -1,
               "reserved symbol in a vector: malformed");
        is_int(ngx_calls_twcc_tx_feedback(&tx, fci2, sizeof(fci2), res,
                                          RESULTS), -1,
               "reserved symbol in a run: malformed");
        is_int(ngx_calls_twcc_tx_feedback(&tx, fci3, sizeof(fci3), res,
                                          RESULTS), -1,
               "status count 0: malformed");
        is_int(ngx_calls_twcc_tx_feedback(&tx, fci3, 9, res, RESULTS), -1,
               "9 bytes: malformed");
        is_int(ngx_calls_twcc_tx_feedback(&tx, fci3, 0, res, RESULTS), -1,
               "0 bytes: malformed");
        is_int(tx.malformed, 9, "9 malformed counted");
    }

    /* a run of 8191 received packets, but only 50 sent */
    {
        uint8_t  big[8 + 2 + 8191];

        memset(big, 0, sizeof(big));
        big[0] = 0x00; big[1] = 0x64;
        big[2] = 0x1f; big[3] = 0xff;
        big[8] = 0x3f; big[9] = 0xff;
        n = ngx_calls_twcc_tx_feedback(&tx, big, sizeof(big), res, RESULTS);
        is_int(n, 50, "8191 reported, 50 of them ours");
        ok(check_results(n, RESULTS, 100, 50), "only ours");
        n = ngx_calls_twcc_tx_feedback(&tx, big, sizeof(big) - 1, res,
                                       RESULTS);
        is_int(n, -1, "one delta short: malformed");
    }

    /* the RTCP wrapper */
    {
        uint8_t  pkt[32];

        memset(pkt, 0, sizeof(pkt));
        pkt[0] = 0xaf; pkt[1] = 205; pkt[3] = 4;  /* 20 bytes */
        pkt[19] = 3;
        ok(ngx_calls_twcc_fci(pkt, 20, &fci, &fci_len) == 0 && fci_len == 5,
           "FCI of 8 bytes less 3 of padding");
        pkt[19] = 9;
        ok(ngx_calls_twcc_fci(pkt, 20, &fci, &fci_len) < 0,
           "padding beyond the FCI");
        pkt[19] = 0;
        ok(ngx_calls_twcc_fci(pkt, 20, &fci, &fci_len) < 0, "padding 0");
        pkt[0] = 0x8f;
        ok(ngx_calls_twcc_fci(pkt, 19, &fci, &fci_len) < 0,
           "shorter than its length");
        pkt[0] = 0x81;
        ok(ngx_calls_twcc_fci(pkt, 20, &fci, &fci_len) < 0, "FMT 1 (NACK)");
        pkt[0] = 0x8f; pkt[1] = 206;
        ok(ngx_calls_twcc_fci(pkt, 20, &fci, &fci_len) < 0, "PSFB");
        pkt[1] = 205; pkt[3] = 1;
        ok(ngx_calls_twcc_fci(pkt, 20, &fci, &fci_len) < 0, "length 8");
    }

    /* random bytes: never a crash (ASan), never a packet not sent */
    rnd_state = 99;
    bad = 0;
    valid = 0;
    rejected = 0;

    first = 100;

    for (i = 0; i < 300000; i++) {
        if (i % 1000 == 0) {
            first = (uint16_t) (100 + rnd() % 3);
            send_n(first, 50);
        }

        len = rnd() % 80;
        for (j = 0; j < len; j++) {
            buf[j] = (uint8_t) rnd();
        }

        /* half of them near what was sent, with a count that fits */
        if (len >= 4 && (i & 1)) {
            buf[0] = 0;
            buf[1] = (uint8_t) (90 + rnd() % 70);
            buf[2] = 0;
            buf[3] = (uint8_t) (rnd() % 64);
        }

        max = (int) (rnd() % 70) - 2;
        n = ngx_calls_twcc_tx_feedback(&tx, buf, len, res, max);

        if (!check_results(n, max < 0 ? 0 : max, first, 50)) {
            bad++;
        }

        valid += n > 0;
        rejected += n < 0;

        ngx_calls_twcc_fci(buf, len, &fci, &fci_len);
    }

    is_int(bad, 0, "300000 random FCIs: results only for packets sent");
    diag("random FCIs: %d with results, %d rejected", valid, rejected);
    ok(valid > 1000 && rejected > 1000, "both kinds seen");

    /* real feedback, damaged: cut short, bits flipped */
    bad = 0;

    for (i = 0; i < 20000; i++) {
        ngx_calls_twcc_rx_init(&rx);
        send_n(100, 50);

        for (j = 0; j < 50; j++) {
            if (rnd() % 4) {
                ngx_calls_twcc_rx_packet(&rx, (uint16_t) (100 + j),
                                         1000000 + 1000 * j
                                         + rnd() % 100000);
            }
        }

        len = ngx_calls_twcc_rx_feedback(&rx, fb, sizeof(fb), 1, 2, 0);
        if (len == 0) {
            continue;
        }

        l = len - 12;
        if (rnd() % 2) {
            l = rnd() % (l + 1);
        }

        for (k = rnd() % 4; k > 0; k--) {
            fb[12 + rnd() % (len - 12)] ^= (uint8_t) (1 << (rnd() % 8));
        }

        n = ngx_calls_twcc_tx_feedback(&tx, fb + 12, l, res, RESULTS);

        if (!check_results(n, RESULTS, 100, 50)) {
            bad++;
        }
    }

    is_int(bad, 0, "20000 damaged feedback packets: only packets sent");
}


/*
 * rx fed anything: random sequence numbers (near and far), duplicates,
 * arrival times jumping about; every feedback it builds is well formed.
 */
static void
test_rx_random(void)
{
    int       bad, n;
    size_t    len, fci_len, size;
    uint8_t   buf[1500];
    uint16_t  seq;
    uint64_t  now;
    unsigned  i, built;
    const uint8_t  *fci;

    rnd_state = 4242;
    bad = 0;
    built = 0;
    seq = 0;
    now = 1000000;

    ngx_calls_twcc_rx_init(&rx);
    ngx_calls_twcc_tx_init(&tx, 0);

    for (i = 0; i < 200000; i++) {
        switch (rnd() % 8) {
        case 0:
            seq = (uint16_t) rnd();                     /* anywhere */
            break;
        case 1:
            seq = (uint16_t) (seq - rnd() % 3000);      /* back */
            break;
        case 2:
            now += rnd() % 20000000;                    /* up to 20 s */
            break;
        default:
            seq = (uint16_t) (seq + 1 + rnd() % 4);
            now += rnd() % 5000;
        }

        ngx_calls_twcc_rx_packet(&rx, seq, now - rnd() % 3000);

        if (rnd() % 16 == 0 || ngx_calls_twcc_rx_due(&rx, now)) {
            size = NGX_CALLS_TWCC_FEEDBACK_MIN + rnd() % 300;

            while ((len = ngx_calls_twcc_rx_feedback(&rx, buf, size, 1, 2,
                                                     now)) > 0)
            {
                built++;

                if (len > size || len % 4
                    || ngx_calls_twcc_fci(buf, len, &fci, &fci_len) != 0)
                {
                    bad++;
                    break;
                }

                n = ngx_calls_twcc_tx_feedback(&tx, fci, fci_len, res,
                                               RESULTS);
                if (n != 0) {                /* nothing sent: nothing */
                    bad++;
                }
            }
        }
    }

    is_int(bad, 0, "random arrivals: every feedback fits and parses");
    is_int(tx.malformed, 0, "none malformed");
    diag("random arrivals: %u feedback packets; %llu recorded, %llu "
         "duplicates, %llu too old, %llu evicted", built,
         (unsigned long long) rx.packets, (unsigned long long) rx.duplicates,
         (unsigned long long) rx.too_old, (unsigned long long) rx.evicted);
    ok(built > 10000, "many built");
}


int
main(void)
{
    test_vectors();
    test_build();
    test_rx();
    test_gaps();
    test_round_trip();
    test_rx_random();
    test_malformed();

    return done_testing();
}
