
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * Send-side bandwidth estimation against a simulated path: a sender that
 * sends at the estimator's target, a bottleneck queue with a rate and a
 * tail-drop limit, propagation delay both ways, random loss; the
 * receiver's transport-wide feedback comes back through ngx_calls_twcc.
 */


#include <stdlib.h>

#include "tap.h"
#include "ngx_calls_bwe.h"


#define MS              1000ULL
#define SEC             1000000ULL
#define STEP            100                  /* us */
#define PACKET          1200                 /* bytes */
#define INFLIGHT        16384
#define FEEDBACKS       256
#define SAMPLES         1000                 /* one per 100 ms */

#define RTCD_MIN        250000
#define RTCD_START      250000
#define RTCD_MAX        3750000


typedef struct {
    uint16_t                  tseq;
    uint64_t                  arrival;
} sim_packet_t;


typedef struct {
    uint8_t                   buf[1200];
    size_t                    len;
    uint64_t                  at;
} sim_feedback_t;


typedef struct {
    /* the path */
    double                    capacity;      /* bit/s */
    uint64_t                  prop_us;       /* one way, both ways */
    double                    loss;          /* random, 0 .. 1 */
    uint64_t                  queue_limit_us;
    double                    fixed_rate;    /* > 0: app-limited sender */
    uint64_t                  jitter_us;     /* random extra delay, FIFO */
    uint64_t                  frame_us;      /* > 0: send in bursts */

    /* state */
    uint64_t                  now;
    uint64_t                  next_send;
    uint64_t                  link_free;
    uint64_t                  last_arrival;
    uint64_t                  frame_start;
    double                    frame_left;    /* bytes */
    sim_packet_t              inflight[INFLIGHT];
    unsigned                  if_head, if_tail;
    sim_feedback_t            fb[FEEDBACKS];
    unsigned                  fb_head, fb_tail;

    ngx_calls_twcc_rx_t       rx;
    ngx_calls_twcc_tx_t       tx;
    ngx_calls_bwe_t           bwe;
    ngx_calls_twcc_result_t   results[NGX_CALLS_TWCC_TX_RING];

    /* what happened */
    double                    target[SAMPLES];   /* per 100 ms */
    double                    queue[SAMPLES];    /* queueing delay, ms */
    double                    loss_seen[SAMPLES];
    uint64_t                  delivered[SAMPLES];/* bytes */
    unsigned                  tail_drops, random_drops;
    unsigned                  out_of_bounds;
    double                    lo, hi;
} sim_t;


static sim_t     sim;
static uint32_t  rnd_state;


static uint32_t
rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}


static void
sim_init(double capacity, uint64_t min, uint64_t start, uint64_t max,
    uint32_t seed)
{
    memset(&sim, 0, sizeof(sim));

    sim.capacity = capacity;
    sim.prop_us = 25 * MS;
    sim.queue_limit_us = 400 * MS;
    sim.lo = (double) min;
    sim.hi = (double) max;

    ngx_calls_twcc_rx_init(&sim.rx);
    ngx_calls_twcc_tx_init(&sim.tx, (uint16_t) seed);
    ngx_calls_bwe_init(&sim.bwe, min, start, max);

    rnd_state = seed;
}


static void
sim_run(uint64_t until)
{
    int              n;
    size_t           len, fci_len;
    double           target;
    uint16_t         tseq;
    uint64_t         start, t;
    unsigned         s;
    sim_packet_t    *p;
    sim_feedback_t  *f;
    const uint8_t   *fci;

    while (sim.now < until) {
        sim.now += STEP;

        /* the sender: paced at the target */

        while (sim.next_send <= sim.now) {
            t = sim.next_send;
            tseq = ngx_calls_twcc_tx_sent(&sim.tx, PACKET, t);

            target = sim.fixed_rate > 0
                     ? sim.fixed_rate
                     : (double) ngx_calls_bwe_target(&sim.bwe);

            if (sim.frame_us == 0) {
                sim.next_send += (uint64_t) (PACKET * 8 * 1e6 / target);

            } else {
                /* frames: what a frame period allows goes out at once */
                sim.frame_left -= PACKET;

                if (sim.frame_left > 0) {
                    sim.next_send = t + 20;

                } else {
                    sim.frame_start += sim.frame_us;
                    sim.next_send = sim.frame_start;
                    sim.frame_left += target * (double) sim.frame_us / 8e6;
                }
            }

            if (sim.loss > 0 && rnd() % 1000000 < sim.loss * 1000000) {
                sim.random_drops++;
                continue;
            }

            start = sim.link_free > t ? sim.link_free : t;

            if (start - t > sim.queue_limit_us) {
                sim.tail_drops++;
                continue;
            }

            sim.link_free = start + (uint64_t) (PACKET * 8 * 1e6
                                                / sim.capacity);

            p = &sim.inflight[sim.if_tail++ % INFLIGHT];
            p->tseq = tseq;
            p->arrival = sim.link_free + sim.prop_us;

            if (sim.jitter_us) {
                p->arrival += rnd() % sim.jitter_us;
                if (p->arrival < sim.last_arrival) {
                    p->arrival = sim.last_arrival;
                }
            }

            sim.last_arrival = p->arrival;

            s = (unsigned) (t / (100 * MS));
            if (s < SAMPLES) {
                sim.queue[s] = (double) (start - t) / 1000;
            }
        }

        /* the receiver */

        while (sim.if_head != sim.if_tail
               && sim.inflight[sim.if_head % INFLIGHT].arrival <= sim.now)
        {
            p = &sim.inflight[sim.if_head++ % INFLIGHT];
            ngx_calls_twcc_rx_packet(&sim.rx, p->tseq, p->arrival);

            s = (unsigned) (p->arrival / (100 * MS));
            if (s < SAMPLES) {
                sim.delivered[s] += PACKET;
            }
        }

        if (ngx_calls_twcc_rx_due(&sim.rx, sim.now)) {
            for ( ;; ) {
                f = &sim.fb[sim.fb_tail % FEEDBACKS];
                len = ngx_calls_twcc_rx_feedback(&sim.rx, f->buf,
                                                 sizeof(f->buf), 1, 2,
                                                 sim.now);
                if (len == 0) {
                    break;
                }

                f->len = len;
                f->at = sim.now + sim.prop_us;
                sim.fb_tail++;
            }
        }

        /* feedback back at the sender */

        while (sim.fb_head != sim.fb_tail
               && sim.fb[sim.fb_head % FEEDBACKS].at <= sim.now)
        {
            f = &sim.fb[sim.fb_head++ % FEEDBACKS];

            if (ngx_calls_twcc_fci(f->buf, f->len, &fci, &fci_len) != 0) {
                continue;
            }

            n = ngx_calls_twcc_tx_feedback(&sim.tx, fci, fci_len,
                                           sim.results,
                                           NGX_CALLS_TWCC_TX_RING);
            if (n > 0) {
                ngx_calls_bwe_feedback(&sim.bwe, sim.results, n, sim.now);
            }

            target = (double) ngx_calls_bwe_target(&sim.bwe);
            if (target < sim.lo || target > sim.hi) {
                sim.out_of_bounds++;
            }
        }

        if (sim.now % (100 * MS) == 0) {
            s = (unsigned) (sim.now / (100 * MS));
            if (s < SAMPLES) {
                sim.target[s] = (double) ngx_calls_bwe_target(&sim.bwe);
                sim.loss_seen[s] = ngx_calls_bwe_loss(&sim.bwe);
            }
        }
    }
}


/* the first sample from which the target stays within [lo, hi] up to end */
static double
converged_at(double lo, double hi, unsigned from, unsigned end)
{
    unsigned  s, first;

    first = end;

    for (s = end; s > from; s--) {
        if (sim.target[s - 1] < lo || sim.target[s - 1] > hi) {
            break;
        }

        first = s - 1;
    }

    return (double) (first - from) / 10;
}


static double
mean(const double *v, unsigned from, unsigned to)
{
    unsigned  s;
    double    sum;

    sum = 0;
    for (s = from; s < to; s++) {
        sum += v[s];
    }

    return sum / (to - from);
}


static double
delivered_bps(unsigned from, unsigned to)
{
    unsigned  s;
    uint64_t  sum;

    sum = 0;
    for (s = from; s < to; s++) {
        sum += sim.delivered[s];
    }

    return (double) sum * 8 / ((double) (to - from) / 10);
}


static double
min_of(const double *v, unsigned from, unsigned to)
{
    unsigned  s;
    double    m;

    m = v[from];
    for (s = from; s < to; s++) {
        if (v[s] < m) {
            m = v[s];
        }
    }

    return m;
}


static double
max_of(const double *v, unsigned from, unsigned to)
{
    unsigned  s;
    double    m;

    m = v[from];
    for (s = from; s < to; s++) {
        if (v[s] > m) {
            m = v[s];
        }
    }

    return m;
}


static void
test_bottleneck(void)
{
    unsigned  s, below;
    double    t;

    sim_init(1500000, RTCD_MIN, RTCD_START, RTCD_MAX, 1);
    sim_run(30 * SEC);

    t = converged_at(1125000, 1875000, 0, 300);
    diag("1.5 Mbit/s bottleneck, 250 kbit/s start: within +-25%% from "
         "%.1f s on", t);
    ok(t <= 10, "converges within +-25% of 1.5 Mbit/s within 10 s");

    for (s = 0; s < 300; s += 10) {
        diag("  t=%2u s target %7.0f  queue %5.1f ms", s / 10, sim.target[s],
             sim.queue[s]);
    }

    diag("10..30 s: target mean %.0f (min %.0f, max %.0f), delivered %.0f "
         "bit/s, queue mean %.1f ms max %.1f ms, tail drops %u",
         mean(sim.target, 100, 300), min_of(sim.target, 100, 300),
         max_of(sim.target, 100, 300), delivered_bps(100, 300),
         mean(sim.queue, 100, 300), max_of(sim.queue, 100, 300),
         sim.tail_drops);

    ok(delivered_bps(100, 300) > 0.8 * 1500000,
       "the path is used (> 80% of its capacity delivered)");
    ok(mean(sim.queue, 100, 300) < 100, "the queue stays short (< 100 ms)");

    /* the capacity drops to 600 kbit/s */

    sim.capacity = 600000;
    sim_run(50 * SEC);

    below = 0;
    for (s = 300; s < 500; s++) {
        if (sim.target[s] < 700000) {
            below = s;
            break;
        }
    }

    diag("capacity down to 600 kbit/s at 30 s: target below 700 kbit/s "
         "after %.1f s", below ? (double) (below - 300) / 10 : -1.0);
    ok(below && below - 300 <= 30, "below 700 kbit/s within 3 s");
    ok(sim.target[330] < 700000, "and so at 3 s");

    for (s = 300; s < 500; s += 10) {
        diag("  t=%2u s target %7.0f  queue %5.1f ms", s / 10, sim.target[s],
             sim.queue[s]);
    }

    diag("35..50 s: target mean %.0f (min %.0f, max %.0f), delivered %.0f "
         "bit/s, queue mean %.1f ms", mean(sim.target, 350, 500),
         min_of(sim.target, 350, 500), max_of(sim.target, 350, 500),
         delivered_bps(350, 500), mean(sim.queue, 350, 500));

    ok(mean(sim.target, 350, 500) > 0.6 * 600000
       && mean(sim.target, 350, 500) < 1.25 * 600000,
       "then it follows 600 kbit/s");

    is_int(sim.out_of_bounds, 0, "the target always within [min, max]");
}


static void
test_loss(void)
{
    unsigned  s, t_max;
    double    before;

    /* 20% random loss, ample capacity, from 1 Mbit/s */

    sim_init(20000000, RTCD_MIN, 1000000, RTCD_MAX, 2);
    sim.loss = 0.2;
    sim_run(10 * SEC);

    diag("20%% loss from 1 Mbit/s: target at 1 s %.0f, 2 s %.0f, 5 s %.0f, "
         "10 s %.0f; loss fraction seen, mean %.3f", sim.target[10],
         sim.target[20], sim.target[50], sim.target[99],
         mean(sim.loss_seen, 10, 100));
    ok(sim.target[50] < 1000000, "20% loss: the target drops");
    ok(sim.target[99] <= 1.1 * RTCD_MIN, "down to the minimum");
    ok(mean(sim.loss_seen, 10, 100) > 0.15
       && mean(sim.loss_seen, 10, 100) < 0.25, "loss fraction about 20%");
    is_int(sim.out_of_bounds, 0, "the target always within [min, max]");

    /* clean to the maximum first, then 20% loss */

    sim_init(20000000, RTCD_MIN, RTCD_START, RTCD_MAX, 3);
    sim_run(20 * SEC);
    before = sim.target[199];
    ok(before == RTCD_MAX, "clean and ample: the maximum in 20 s");

    sim.loss = 0.2;
    sim_run(30 * SEC);

    for (s = 200; s < 300 && sim.target[s] > before / 2; s++) {
        /* void */
    }

    diag("20%% loss at the maximum: halved after %.1f s, at 10 s %.0f",
         (double) (s - 200) / 10, sim.target[299]);
    ok(s - 200 <= 30, "20% loss: halved within 3 s");
    is_int(sim.out_of_bounds, 0, "the target always within [min, max]");

    /* 1% loss: up to the maximum anyway */

    sim_init(20000000, RTCD_MIN, RTCD_START, RTCD_MAX, 4);
    sim.loss = 0.01;
    sim_run(60 * SEC);

    for (t_max = 0; t_max < 600 && sim.target[t_max] < RTCD_MAX; t_max++) {
        /* void */
    }

    diag("1%% loss: the maximum after %.1f s; target at 5 s %.0f, 10 s %.0f",
         (double) t_max / 10, sim.target[50], sim.target[100]);
    ok(t_max < 600, "1% loss: grows to the maximum");
    ok(sim.target[599] == RTCD_MAX, "and stays there");
    is_int(sim.out_of_bounds, 0, "the target always within [min, max]");

    /* no loss, ample capacity */

    sim_init(20000000, RTCD_MIN, RTCD_START, RTCD_MAX, 5);
    sim_run(20 * SEC);

    for (t_max = 0; t_max < 200 && sim.target[t_max] < RTCD_MAX; t_max++) {
        /* void */
    }

    diag("no loss, 20 Mbit/s path: the maximum after %.1f s",
         (double) t_max / 10);
    ok(t_max < 200, "clean: the maximum");
}


/* video-like: 30 frames a second sent at once, 0..10 ms of jitter */
static void
test_bursty(void)
{
    double  t;

    sim_init(1500000, RTCD_MIN, RTCD_START, RTCD_MAX, 7);
    sim.frame_us = 33333;
    sim.jitter_us = 10 * MS;
    sim_run(40 * SEC);

    t = converged_at(1125000, 1875000, 0, 400);
    diag("frames at 30/s, 10 ms jitter, 1.5 Mbit/s: within +-25%% from "
         "%.1f s on; 20..40 s mean %.0f, delivered %.0f bit/s, queue mean "
         "%.1f ms", t, mean(sim.target, 200, 400),
         delivered_bps(200, 400), mean(sim.queue, 200, 400));
    ok(t <= 10, "bursty sender, jittery path: converges within 10 s");
    is_int(sim.out_of_bounds, 0, "the target always within [min, max]");
}


/*
 * An SFU forwarding a 500 kbit/s layer cannot send at the target: the
 * estimate must still grow past 1.5 x what is acknowledged, as pion's
 * does, or the receiver would never be moved to the 2.5 Mbit/s layer
 * (rtcd: when the estimate > 0.9 x 2.5 Mbit/s).
 */
static void
test_app_limited(void)
{
    unsigned  s;

    sim_init(20000000, RTCD_MIN, RTCD_START, RTCD_MAX, 6);
    sim.fixed_rate = 500000;
    sim_run(60 * SEC);

    for (s = 0; s < 600 && sim.target[s] <= 2250000; s++) {
        /* void */
    }

    diag("sending 500 kbit/s whatever the target: target at 5 s %.0f, "
         "10 s %.0f, above 2.25 Mbit/s after %.1f s", sim.target[50],
         sim.target[100], (double) s / 10);
    ok(sim.target[100] > 750000, "grows past 1.5 x the acknowledged rate");
    ok(s < 600, "reaches 0.9 x 2.5 Mbit/s");
    is_int(sim.out_of_bounds, 0, "the target always within [min, max]");
}


/* the API around the simulation */
static void
test_api(void)
{
    int                       i, n, bad;
    ngx_calls_bwe_t           bwe;
    ngx_calls_twcc_result_t   r[64];

    ngx_calls_bwe_init(&bwe, 100000, 50000, 2000000);
    is_int(ngx_calls_bwe_target(&bwe), 100000, "start below min: min");
    ngx_calls_bwe_init(&bwe, 100000, 5000000, 2000000);
    is_int(ngx_calls_bwe_target(&bwe), 2000000, "start above max: max");
    ngx_calls_bwe_init(&bwe, 100000, 300000, 2000000);
    is_int(ngx_calls_bwe_target(&bwe), 300000, "start");
    is_int(ngx_calls_bwe_loss_target(&bwe), 2000000,
           "no loss seen: the loss part does not limit");
    is_int(ngx_calls_bwe_state(&bwe), NGX_CALLS_BWE_INCREASING, "increasing");
    is_int(ngx_calls_bwe_usage(&bwe), NGX_CALLS_BWE_NORMAL, "normal");
    is_int(ngx_calls_bwe_acked(&bwe), 0, "acked rate not known");

    is_int(ngx_calls_bwe_feedback(&bwe, r, 0, 1000), 300000,
           "empty feedback: no change");

    ngx_calls_bwe_set_target(&bwe, 1500000);
    is_int(ngx_calls_bwe_target(&bwe), 1500000, "set_target");
    is_int(ngx_calls_bwe_delay_target(&bwe), 1500000, "delay part set");
    ngx_calls_bwe_set_target(&bwe, 9000000);
    is_int(ngx_calls_bwe_target(&bwe), 2000000, "set_target clamps");

    /* all lost: the loss part takes it down */
    ngx_calls_bwe_init(&bwe, 100000, 1000000, 2000000);
    memset(r, 0, sizeof(r));
    for (i = 0; i < 64; i++) {
        r[i].tseq = (uint16_t) i;
        r[i].send_us = 1000 * i;
        r[i].size = 1000;
    }
    ngx_calls_bwe_feedback(&bwe, r, 64, 100000);
    ok(ngx_calls_bwe_target(&bwe) == 500000
       && ngx_calls_bwe_loss(&bwe) == 1.0, "100% lost: halved");

    /* garbage results: arbitrary times, never outside [min, max] */
    ngx_calls_bwe_init(&bwe, 100000, 1000000, 2000000);
    rnd_state = 77;
    bad = 0;
    for (i = 0; i < 20000; i++) {
        n = rnd() % 64;
        for (int k = 0; k < n; k++) {
            r[k].send_us = (uint64_t) rnd() * (rnd() % 3);
            r[k].arrival_us = (int64_t) rnd() - (int64_t) rnd() * 1000;
            r[k].size = rnd() % 70000;
            r[k].received = rnd() % 2;
            r[k].late = rnd() % 8 == 0;
        }
        ngx_calls_bwe_feedback(&bwe, r, n, (uint64_t) i * 50000);
        if (ngx_calls_bwe_target(&bwe) < 100000
            || ngx_calls_bwe_target(&bwe) > 2000000)
        {
            bad++;
        }
    }
    is_int(bad, 0, "20000 garbage feedbacks: the target within [min, max]");
}


int
main(void)
{
    test_api();
    test_bottleneck();
    test_bursty();
    test_loss();
    test_app_limited();

    return done_testing();
}
