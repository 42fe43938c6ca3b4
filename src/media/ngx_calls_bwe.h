
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_BWE_H_INCLUDED_
#define _NGX_CALLS_BWE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_calls_twcc.h"


/*
 * Send-side bandwidth estimation for what we send one receiver, driven by
 * its transport-wide feedback: a simplified GCC (draft-ietf-rmcat-gcc-02),
 * its delay part filtered with libwebrtc's trendline estimator where
 * pion's gcc package (which rtcd uses) has a Kalman filter.  rtcd runs one
 * per receiver with min = start = 250 kbit/s and max = 3.75 Mbit/s and
 * picks the simulcast layer from it.
 *
 * Delay-based estimate A_r:
 *   - received packets, in send order, form groups: those sent within
 *     GROUP_US of the first of a group, or arriving in a burst with it;
 *   - per pair of groups, the delay variation d = (arrival delta) -
 *     (send delta) is accumulated, smoothed, and the slope of the last
 *     TREND_WINDOW smoothed values against arrival time is the trend;
 *   - trend * min(groups, 60) * TREND_GAIN is compared with an adaptive
 *     threshold: above it for OVERUSE_US (and rising) is overuse, below
 *     minus it underuse, else normal;
 *   - AIMD, once per feedback: overuse -> decrease to BETA x the
 *     acknowledged rate; underuse -> hold; normal -> increase by INCREASE
 *     per second (STARTUP per second until the first congestion, while
 *     the sender actually uses the estimate), not beyond ACKED_CAP x the
 *     acknowledged rate unless the sender is app-limited.
 * Loss-based estimate A_s, per LOSS_MIN_PACKETS reported and at most every
 * LOSS_INTERVAL_US, with the fraction p lost among them:
 *   p > 10%: A_s = min(A_s, target) x (1 - p/2); p < 2%: A_s x 1.05;
 *   else hold at min(A_s, target).  A_s starts at max (no losses, no
 *   limit) and, as it acts on the current target, never lags behind.
 * target = min(A_r, A_s) within [min, max].
 *
 * Everything is in this fixed-size structure: no allocation at all.
 */


/*
 * Packet groups (GCC 5.2): sent within 5 ms of the group's first packet,
 * or arriving within 5 ms of the group and sooner after it than sent
 * (a burst), up to 100 ms of arrivals (libwebrtc's kBurstDeltaThresholdMs
 * and kMaxBurstDuration).
 */
#define NGX_CALLS_BWE_GROUP_US          5000
#define NGX_CALLS_BWE_BURST_US          100000

/* trendline (libwebrtc's TrendlineEstimator defaults) */
#define NGX_CALLS_BWE_TREND_WINDOW      20      /* groups in the fit */
#define NGX_CALLS_BWE_TREND_SMOOTHING   0.9     /* of the accumulated delay */
#define NGX_CALLS_BWE_TREND_GAIN        4.0
#define NGX_CALLS_BWE_TREND_MAX_GROUPS  60      /* cap of the group factor */

/* adaptive threshold, ms (GCC 5.4; libwebrtc's values for the trendline) */
#define NGX_CALLS_BWE_THRESHOLD_INIT    12.5
#define NGX_CALLS_BWE_THRESHOLD_MIN     6.0
#define NGX_CALLS_BWE_THRESHOLD_MAX     600.0
#define NGX_CALLS_BWE_K_UP              0.0087  /* when |trend| > threshold */
#define NGX_CALLS_BWE_K_DOWN            0.039   /* when below: adapts down */
#define NGX_CALLS_BWE_ADAPT_SKIP        15.0    /* spikes beyond +15 ms */
#define NGX_CALLS_BWE_OVERUSE_US        10000   /* overuse lasts 10 ms */

/*
 * Rate control.  GCC's multiplicative increase is at most 8% per second,
 * which takes 20 s from 250 kbit/s to 1.1 Mbit/s; libwebrtc gets there
 * by probing, which an SFU forwarding media cannot do.  Until the first
 * congestion (overuse, or loss above 10%) the increase is 50% per second
 * instead, as long as the sender sends at least 2/3 of the estimate (the
 * path is really being tried with it; an app-limited sender grows at 8%).
 * Overshoot is bounded by ACKED_CAP and corrected at the first overuse to
 * BETA x what the path delivered.
 */
#define NGX_CALLS_BWE_INCREASE          1.08    /* per second */
#define NGX_CALLS_BWE_STARTUP           1.5     /* per second */
#define NGX_CALLS_BWE_STARTUP_USE       0.667   /* sent / estimate */
#define NGX_CALLS_BWE_BETA              0.85    /* GCC 5.5 */
#define NGX_CALLS_BWE_ACKED_CAP         1.5     /* GCC 5.5: A_r < 1.5 R */
#define NGX_CALLS_BWE_MAX_DT_US         1000000 /* an increase step, at most */

/* the acknowledged rate: receive rate over 500 ms of arrivals */
#define NGX_CALLS_BWE_RATE_WINDOW_US    500000
#define NGX_CALLS_BWE_BUCKET_US         50000
#define NGX_CALLS_BWE_BUCKETS           16      /* > window / bucket + 1 */

/* loss (GCC 6; pion's 200 ms between changes) */
#define NGX_CALLS_BWE_LOSS_HIGH         0.10
#define NGX_CALLS_BWE_LOSS_LOW          0.02
#define NGX_CALLS_BWE_LOSS_INCREASE     1.05
#define NGX_CALLS_BWE_LOSS_MIN_PACKETS  20      /* 1 packet = 5%: not less */
#define NGX_CALLS_BWE_LOSS_INTERVAL_US  200000


/* the delay signal */
#define NGX_CALLS_BWE_NORMAL            0
#define NGX_CALLS_BWE_OVERUSE           1
#define NGX_CALLS_BWE_UNDERUSE          2

/* the rate controller */
#define NGX_CALLS_BWE_HOLD              0
#define NGX_CALLS_BWE_INCREASING        1
#define NGX_CALLS_BWE_DECREASING        2


/* bytes per bucket of a clock: a rate over the last 500 ms of it */
typedef struct {
    int64_t                   id[NGX_CALLS_BWE_BUCKETS];
    uint64_t                  bytes[NGX_CALLS_BWE_BUCKETS];
    int64_t                   first;         /* earliest time seen */
    int64_t                   last;          /* latest time seen */
    unsigned                  valid:1;
} ngx_calls_bwe_rate_t;


typedef struct {
    double                    min;
    double                    max;
    double                    delay_bps;     /* A_r */
    double                    loss_bps;      /* A_s */
    double                    target;

    /* the group being filled and the last complete one */
    uint64_t                  grp_first_send;
    uint64_t                  grp_last_send;
    int64_t                   grp_first_arrival;
    int64_t                   grp_arrival;
    uint64_t                  prev_send;
    int64_t                   prev_arrival;
    unsigned                  grp_valid:1;
    unsigned                  prev_valid:1;

    /* trendline */
    double                    accumulated;   /* ms */
    double                    smoothed;      /* ms */
    double                    trend;
    double                    hist_x[NGX_CALLS_BWE_TREND_WINDOW];
    double                    hist_y[NGX_CALLS_BWE_TREND_WINDOW];
    unsigned                  hist_n;
    unsigned                  hist_pos;
    unsigned                  groups;        /* deltas seen, up to 1000 */
    int64_t                   first_arrival; /* of the trendline, us */

    /* overuse detector */
    double                    threshold;     /* ms */
    double                    modified;      /* the trend as compared */
    double                    over_us;       /* time over, -1: none */
    unsigned                  over_count;
    double                    prev_trend;
    int64_t                   threshold_at;  /* arrival, us; -1: never */
    unsigned                  usage;         /* the last signal */

    /* rate controller */
    unsigned                  state;
    unsigned                  startup:1;
    unsigned                  updated:1;     /* last_update_us is set */
    uint64_t                  last_update_us;
    double                    ln_increase;
    double                    ln_startup;

    /* acknowledged (by arrival time) and sent (by send time) rates */
    ngx_calls_bwe_rate_t      acked;
    ngx_calls_bwe_rate_t      sent;
    double                    acked_bps;     /* 0: not known yet */
    double                    sent_bps;

    /* loss */
    unsigned                  loss_lost;
    unsigned                  loss_total;
    unsigned                  loss_evaluated:1;
    uint64_t                  loss_at_us;
    double                    loss_fraction; /* the last one evaluated */

    uint64_t                  feedbacks;
} ngx_calls_bwe_t;


/* bit/s; start is clamped to [min, max] */
void ngx_calls_bwe_init(ngx_calls_bwe_t *bwe, uint64_t min_bps,
    uint64_t start_bps, uint64_t max_bps);

/*
 * The results of one ngx_calls_twcc_tx_feedback() call, at now_us (our
 * clock; arrival times are the receiver's and only their differences
 * matter).  Returns the new target.
 */
uint64_t ngx_calls_bwe_feedback(ngx_calls_bwe_t *bwe,
    const ngx_calls_twcc_result_t *results, int n, uint64_t now_us);

/* the target bit rate */
uint64_t ngx_calls_bwe_target(ngx_calls_bwe_t *bwe);

/*
 * Sets the estimate (rtcd sets it to the new layer's rate after switching
 * a receiver up): the delay-based estimate becomes bps, the loss-based one
 * at least bps.
 */
void ngx_calls_bwe_set_target(ngx_calls_bwe_t *bwe, uint64_t bps);

/* the two parts, the acknowledged rate (0 until known), bit/s */
uint64_t ngx_calls_bwe_delay_target(ngx_calls_bwe_t *bwe);
uint64_t ngx_calls_bwe_loss_target(ngx_calls_bwe_t *bwe);
uint64_t ngx_calls_bwe_acked(ngx_calls_bwe_t *bwe);

/* NGX_CALLS_BWE_NORMAL, _OVERUSE, _UNDERUSE: the last delay signal */
unsigned ngx_calls_bwe_usage(ngx_calls_bwe_t *bwe);

/* NGX_CALLS_BWE_HOLD, _INCREASING, _DECREASING */
unsigned ngx_calls_bwe_state(ngx_calls_bwe_t *bwe);

/* the last loss fraction evaluated, 0 .. 1 */
double ngx_calls_bwe_loss(ngx_calls_bwe_t *bwe);


#endif /* _NGX_CALLS_BWE_H_INCLUDED_ */
