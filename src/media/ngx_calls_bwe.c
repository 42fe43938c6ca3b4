
/*
 * Copyright (C) ngx_calls authors
 */


#include <string.h>

#include "ngx_calls_bwe.h"


#define NGX_CALLS_BWE_NO_BUCKET   INT64_MIN


static void ngx_calls_bwe_rate_init(ngx_calls_bwe_rate_t *rt);
static void ngx_calls_bwe_rate_add(ngx_calls_bwe_rate_t *rt, int64_t t,
    uint32_t bytes);
static double ngx_calls_bwe_rate_get(ngx_calls_bwe_rate_t *rt);
static void ngx_calls_bwe_group(ngx_calls_bwe_t *bwe, uint64_t send,
    int64_t arrival);
static void ngx_calls_bwe_trendline(ngx_calls_bwe_t *bwe, double recv_ms,
    double send_ms, int64_t arrival);
static void ngx_calls_bwe_detect(ngx_calls_bwe_t *bwe, double send_ms,
    int64_t arrival);
static void ngx_calls_bwe_aimd(ngx_calls_bwe_t *bwe, unsigned signal,
    uint64_t now_us);
static void ngx_calls_bwe_loss_update(ngx_calls_bwe_t *bwe, uint64_t now_us);
static double ngx_calls_bwe_clamp(ngx_calls_bwe_t *bwe, double bps);
static double ngx_calls_bwe_ln(double y);
static double ngx_calls_bwe_exp(double x);
static int64_t ngx_calls_bwe_floor_div(int64_t a, int64_t b);


void
ngx_calls_bwe_init(ngx_calls_bwe_t *bwe, uint64_t min_bps, uint64_t start_bps,
    uint64_t max_bps)
{
    memset(bwe, 0, sizeof(ngx_calls_bwe_t));

    if (max_bps < min_bps) {
        max_bps = min_bps;
    }

    bwe->min = (double) min_bps;
    bwe->max = (double) max_bps;

    bwe->delay_bps = ngx_calls_bwe_clamp(bwe, (double) start_bps);
    bwe->loss_bps = bwe->max;
    bwe->target = bwe->delay_bps;

    bwe->threshold = NGX_CALLS_BWE_THRESHOLD_INIT;
    bwe->over_us = -1;
    bwe->threshold_at = -1;
    bwe->usage = NGX_CALLS_BWE_NORMAL;

    bwe->state = NGX_CALLS_BWE_INCREASING;
    bwe->startup = 1;

    bwe->ln_increase = ngx_calls_bwe_ln(NGX_CALLS_BWE_INCREASE);
    bwe->ln_startup = ngx_calls_bwe_ln(NGX_CALLS_BWE_STARTUP);

    ngx_calls_bwe_rate_init(&bwe->acked);
    ngx_calls_bwe_rate_init(&bwe->sent);
}


uint64_t
ngx_calls_bwe_feedback(ngx_calls_bwe_t *bwe,
    const ngx_calls_twcc_result_t *results, int n, uint64_t now_us)
{
    int                             i, received, overuse;
    unsigned                        signal;
    const ngx_calls_twcc_result_t  *r;

    received = 0;
    overuse = 0;

    for (i = 0; i < n; i++) {
        r = &results[i];

        if (!r->received) {
            bwe->loss_lost++;
            bwe->loss_total++;
            ngx_calls_bwe_rate_add(&bwe->sent, (int64_t) r->send_us, r->size);
            continue;
        }

        if (r->late) {
            /* counted lost before: take that back if still counted */
            if (bwe->loss_lost) {
                bwe->loss_lost--;
            }

            ngx_calls_bwe_rate_add(&bwe->acked, r->arrival_us, r->size);
            continue;
        }

        received++;
        bwe->loss_total++;

        ngx_calls_bwe_rate_add(&bwe->acked, r->arrival_us, r->size);
        ngx_calls_bwe_rate_add(&bwe->sent, (int64_t) r->send_us, r->size);

        ngx_calls_bwe_group(bwe, r->send_us, r->arrival_us);

        overuse |= bwe->usage == NGX_CALLS_BWE_OVERUSE;
    }

    bwe->acked_bps = ngx_calls_bwe_rate_get(&bwe->acked);
    bwe->sent_bps = ngx_calls_bwe_rate_get(&bwe->sent);

    if (received) {
        /* an overuse anywhere in the batch counts */
        signal = overuse ? NGX_CALLS_BWE_OVERUSE : bwe->usage;
        ngx_calls_bwe_aimd(bwe, signal, now_us);
    }

    ngx_calls_bwe_loss_update(bwe, now_us);

    bwe->target = ngx_calls_bwe_clamp(bwe, bwe->delay_bps < bwe->loss_bps
                                           ? bwe->delay_bps : bwe->loss_bps);

    bwe->last_update_us = now_us;
    bwe->updated = 1;
    bwe->feedbacks++;

    return (uint64_t) bwe->target;
}


uint64_t
ngx_calls_bwe_target(ngx_calls_bwe_t *bwe)
{
    return (uint64_t) bwe->target;
}


void
ngx_calls_bwe_set_target(ngx_calls_bwe_t *bwe, uint64_t bps)
{
    bwe->delay_bps = ngx_calls_bwe_clamp(bwe, (double) bps);

    if (bwe->loss_bps < bwe->delay_bps) {
        bwe->loss_bps = bwe->delay_bps;
    }

    bwe->target = bwe->delay_bps;
}


uint64_t
ngx_calls_bwe_delay_target(ngx_calls_bwe_t *bwe)
{
    return (uint64_t) bwe->delay_bps;
}


uint64_t
ngx_calls_bwe_loss_target(ngx_calls_bwe_t *bwe)
{
    return (uint64_t) bwe->loss_bps;
}


uint64_t
ngx_calls_bwe_acked(ngx_calls_bwe_t *bwe)
{
    return (uint64_t) bwe->acked_bps;
}


unsigned
ngx_calls_bwe_usage(ngx_calls_bwe_t *bwe)
{
    return bwe->usage;
}


unsigned
ngx_calls_bwe_state(ngx_calls_bwe_t *bwe)
{
    return bwe->state;
}


double
ngx_calls_bwe_loss(ngx_calls_bwe_t *bwe)
{
    return bwe->loss_fraction;
}


/*
 * Groups (GCC 5.2): packets sent within NGX_CALLS_BWE_GROUP_US of the
 * first of a group belong to it, and so do those that arrive in a burst
 * with it; its send time is that of its last packet, its arrival the
 * latest of its packets.  Each group completed gives the trendline one
 * (arrival delta, send delta) with the group before.
 */

static void
ngx_calls_bwe_group(ngx_calls_bwe_t *bwe, uint64_t send, int64_t arrival)
{
    int64_t  send_delta, recv_delta;

    if (!bwe->grp_valid) {
        bwe->grp_valid = 1;
        bwe->grp_first_send = send;
        bwe->grp_last_send = send;
        bwe->grp_first_arrival = arrival;
        bwe->grp_arrival = arrival;
        return;
    }

    if (send < bwe->grp_first_send) {
        return;                             /* out of order: ignored */
    }

    recv_delta = arrival - bwe->grp_arrival;
    send_delta = (int64_t) (send - bwe->grp_last_send);

    if (send - bwe->grp_first_send <= NGX_CALLS_BWE_GROUP_US

        /*
         * or a burst: delivered within 5 ms of the group, sooner than it
         * was sent after it (a link that holds packets and lets them go
         * together, as Wi-Fi does), for up to 100 ms
         */

        || (recv_delta <= NGX_CALLS_BWE_GROUP_US
            && recv_delta - send_delta < 0
            && arrival - bwe->grp_first_arrival < NGX_CALLS_BWE_BURST_US))
    {
        if (send > bwe->grp_last_send) {
            bwe->grp_last_send = send;
        }

        if (arrival > bwe->grp_arrival) {
            bwe->grp_arrival = arrival;
        }

        return;
    }

    if (bwe->prev_valid) {
        send_delta = (int64_t) (bwe->grp_last_send - bwe->prev_send);
        recv_delta = bwe->grp_arrival - bwe->prev_arrival;

        /* a group that arrived before the one sent before it: reordered */

        if (recv_delta >= 0) {
            ngx_calls_bwe_trendline(bwe, (double) recv_delta / 1000,
                                    (double) send_delta / 1000,
                                    bwe->grp_arrival);
        }
    }

    bwe->prev_valid = 1;
    bwe->prev_send = bwe->grp_last_send;
    bwe->prev_arrival = bwe->grp_arrival;

    bwe->grp_first_send = send;
    bwe->grp_last_send = send;
    bwe->grp_first_arrival = arrival;
    bwe->grp_arrival = arrival;
}


/*
 * The accumulated delay variation, smoothed, against arrival time: the
 * slope of its least-squares line over the last NGX_CALLS_BWE_TREND_WINDOW
 * groups says whether queues grow (> 0) or drain (< 0).
 */

static void
ngx_calls_bwe_trendline(ngx_calls_bwe_t *bwe, double recv_ms,
    double send_ms, int64_t arrival)
{
    double    x, y, mx, my, num, den;
    unsigned  i, groups;

    if (bwe->groups < 1000) {
        bwe->groups++;
    }

    if (bwe->hist_n == 0) {
        bwe->first_arrival = arrival;
    }

    bwe->accumulated += recv_ms - send_ms;
    bwe->smoothed = NGX_CALLS_BWE_TREND_SMOOTHING * bwe->smoothed
                    + (1 - NGX_CALLS_BWE_TREND_SMOOTHING) * bwe->accumulated;

    bwe->hist_x[bwe->hist_pos] = (double) (arrival - bwe->first_arrival)
                                 / 1000;
    bwe->hist_y[bwe->hist_pos] = bwe->smoothed;
    bwe->hist_pos = (bwe->hist_pos + 1) % NGX_CALLS_BWE_TREND_WINDOW;

    if (bwe->hist_n < NGX_CALLS_BWE_TREND_WINDOW) {
        bwe->hist_n++;
    }

    if (bwe->hist_n == NGX_CALLS_BWE_TREND_WINDOW) {
        mx = 0;
        my = 0;

        for (i = 0; i < NGX_CALLS_BWE_TREND_WINDOW; i++) {
            mx += bwe->hist_x[i];
            my += bwe->hist_y[i];
        }

        mx /= NGX_CALLS_BWE_TREND_WINDOW;
        my /= NGX_CALLS_BWE_TREND_WINDOW;

        num = 0;
        den = 0;

        for (i = 0; i < NGX_CALLS_BWE_TREND_WINDOW; i++) {
            x = bwe->hist_x[i] - mx;
            y = bwe->hist_y[i] - my;
            num += x * y;
            den += x * x;
        }

        if (den > 0) {
            bwe->trend = num / den;
        }
    }

    groups = bwe->groups < NGX_CALLS_BWE_TREND_MAX_GROUPS
             ? bwe->groups : NGX_CALLS_BWE_TREND_MAX_GROUPS;

    bwe->modified = groups * bwe->trend * NGX_CALLS_BWE_TREND_GAIN;

    ngx_calls_bwe_detect(bwe, send_ms, arrival);
}


/*
 * Overuse: the modified trend above the threshold for more than
 * NGX_CALLS_BWE_OVERUSE_US (of send time), twice at least, and not
 * falling.  Underuse: below minus the threshold.  The threshold follows
 * |trend| (quickly down, slowly up) so that competing TCP flows do not
 * starve the estimate, but not to sudden spikes.
 */

static void
ngx_calls_bwe_detect(ngx_calls_bwe_t *bwe, double send_ms, int64_t arrival)
{
    double  t, a, k, dt;

    if (bwe->groups < 2) {
        bwe->usage = NGX_CALLS_BWE_NORMAL;
        return;
    }

    t = bwe->modified;

    if (t > bwe->threshold) {
        if (bwe->over_us < 0) {
            bwe->over_us = send_ms * 1000 / 2;

        } else {
            bwe->over_us += send_ms * 1000;
        }

        bwe->over_count++;

        if (bwe->over_us > NGX_CALLS_BWE_OVERUSE_US && bwe->over_count > 1
            && bwe->trend >= bwe->prev_trend)
        {
            bwe->over_us = 0;
            bwe->over_count = 0;
            bwe->usage = NGX_CALLS_BWE_OVERUSE;
        }

    } else if (t < -bwe->threshold) {
        bwe->over_us = -1;
        bwe->over_count = 0;
        bwe->usage = NGX_CALLS_BWE_UNDERUSE;

    } else {
        bwe->over_us = -1;
        bwe->over_count = 0;
        bwe->usage = NGX_CALLS_BWE_NORMAL;
    }

    bwe->prev_trend = bwe->trend;

    /* the threshold */

    if (bwe->threshold_at < 0) {
        bwe->threshold_at = arrival;
    }

    a = t < 0 ? -t : t;

    if (a > bwe->threshold + NGX_CALLS_BWE_ADAPT_SKIP) {
        bwe->threshold_at = arrival;
        return;
    }

    k = (a < bwe->threshold) ? NGX_CALLS_BWE_K_DOWN : NGX_CALLS_BWE_K_UP;

    dt = (double) (arrival - bwe->threshold_at) / 1000;
    if (dt > 100) {
        dt = 100;
    }

    if (dt > 0) {
        bwe->threshold += k * (a - bwe->threshold) * dt;
    }

    if (bwe->threshold < NGX_CALLS_BWE_THRESHOLD_MIN) {
        bwe->threshold = NGX_CALLS_BWE_THRESHOLD_MIN;

    } else if (bwe->threshold > NGX_CALLS_BWE_THRESHOLD_MAX) {
        bwe->threshold = NGX_CALLS_BWE_THRESHOLD_MAX;
    }

    bwe->threshold_at = arrival;
}


/*
 * GCC 5.5: the signal moves the state (overuse -> decrease, underuse ->
 * hold, normal -> increase, or hold after a decrease), the state moves
 * the delay-based estimate.
 */

static void
ngx_calls_bwe_aimd(ngx_calls_bwe_t *bwe, unsigned signal, uint64_t now_us)
{
    int     app_limited;
    double  dt, r, cap;

    switch (signal) {

    case NGX_CALLS_BWE_OVERUSE:
        bwe->state = NGX_CALLS_BWE_DECREASING;
        break;

    case NGX_CALLS_BWE_UNDERUSE:
        bwe->state = NGX_CALLS_BWE_HOLD;
        break;

    default:
        bwe->state = (bwe->state == NGX_CALLS_BWE_DECREASING)
                     ? NGX_CALLS_BWE_HOLD : NGX_CALLS_BWE_INCREASING;
    }

    /* the sender does not use 2/3 of the estimate: the path is untried */

    app_limited = bwe->sent_bps < NGX_CALLS_BWE_STARTUP_USE * bwe->delay_bps;

    switch (bwe->state) {

    case NGX_CALLS_BWE_INCREASING:

        dt = 0;

        if (bwe->updated && now_us > bwe->last_update_us) {
            dt = (double) (now_us - bwe->last_update_us);
            if (dt > NGX_CALLS_BWE_MAX_DT_US) {
                dt = NGX_CALLS_BWE_MAX_DT_US;
            }
        }

        r = bwe->delay_bps
            * ngx_calls_bwe_exp(dt / 1000000
                                * ((bwe->startup && !app_limited)
                                   ? bwe->ln_startup : bwe->ln_increase));

        /*
         * Not more than 1.5 x what the path delivers, unless the sender
         * sends less than that: then the estimate may grow beyond it (as
         * pion's does), or an SFU could never find room for a higher
         * layer while it forwards a lower one.
         */

        if (!app_limited && bwe->acked_bps > 0) {
            cap = NGX_CALLS_BWE_ACKED_CAP * bwe->acked_bps;

            if (r > cap) {
                r = cap > bwe->delay_bps ? cap : bwe->delay_bps;
            }
        }

        bwe->delay_bps = ngx_calls_bwe_clamp(bwe, r);
        break;

    case NGX_CALLS_BWE_DECREASING:

        bwe->startup = 0;

        r = (bwe->acked_bps > 0) ? NGX_CALLS_BWE_BETA * bwe->acked_bps
                                 : NGX_CALLS_BWE_BETA * bwe->delay_bps;

        if (r < bwe->delay_bps) {
            bwe->delay_bps = ngx_calls_bwe_clamp(bwe, r);
        }

        break;

    default:
        break;
    }
}


/*
 * GCC 6: the fraction lost among at least NGX_CALLS_BWE_LOSS_MIN_PACKETS
 * reported, at most every NGX_CALLS_BWE_LOSS_INTERVAL_US.
 */

static void
ngx_calls_bwe_loss_update(ngx_calls_bwe_t *bwe, uint64_t now_us)
{
    double  p, current;

    if (bwe->loss_total < NGX_CALLS_BWE_LOSS_MIN_PACKETS) {
        return;
    }

    if (bwe->loss_evaluated
        && (now_us < bwe->loss_at_us
            || now_us - bwe->loss_at_us < NGX_CALLS_BWE_LOSS_INTERVAL_US))
    {
        return;
    }

    p = (double) bwe->loss_lost / bwe->loss_total;

    current = bwe->loss_bps < bwe->target ? bwe->loss_bps : bwe->target;

    if (p > NGX_CALLS_BWE_LOSS_HIGH) {
        bwe->loss_bps = current * (1 - 0.5 * p);
        bwe->startup = 0;

    } else if (p < NGX_CALLS_BWE_LOSS_LOW) {
        bwe->loss_bps *= NGX_CALLS_BWE_LOSS_INCREASE;

    } else {
        bwe->loss_bps = current;
    }

    bwe->loss_bps = ngx_calls_bwe_clamp(bwe, bwe->loss_bps);

    bwe->loss_fraction = p;
    bwe->loss_lost = 0;
    bwe->loss_total = 0;
    bwe->loss_at_us = now_us;
    bwe->loss_evaluated = 1;
}


/*
 * A rate over the last NGX_CALLS_BWE_RATE_WINDOW_US of a clock (arrival
 * times for what was acknowledged, send times for what was sent): bytes
 * in buckets of NGX_CALLS_BWE_BUCKET_US, whatever the packet rate.
 */

static void
ngx_calls_bwe_rate_init(ngx_calls_bwe_rate_t *rt)
{
    unsigned  i;

    memset(rt, 0, sizeof(ngx_calls_bwe_rate_t));

    for (i = 0; i < NGX_CALLS_BWE_BUCKETS; i++) {
        rt->id[i] = NGX_CALLS_BWE_NO_BUCKET;
    }
}


static void
ngx_calls_bwe_rate_add(ngx_calls_bwe_rate_t *rt, int64_t t, uint32_t bytes)
{
    int64_t   id;
    unsigned  slot;

    id = ngx_calls_bwe_floor_div(t, NGX_CALLS_BWE_BUCKET_US);

    if (!rt->valid) {
        rt->valid = 1;
        rt->first = t;
        rt->last = t;

    } else if (id <= ngx_calls_bwe_floor_div(rt->last, NGX_CALLS_BWE_BUCKET_US)
                     - NGX_CALLS_BWE_BUCKETS)
    {
        return;                              /* older than the ring */
    }

    slot = (unsigned) ((uint64_t) id & (NGX_CALLS_BWE_BUCKETS - 1));

    if (rt->id[slot] != id) {
        if (rt->id[slot] > id) {
            return;                          /* the slot is newer's */
        }

        rt->id[slot] = id;
        rt->bytes[slot] = 0;
    }

    rt->bytes[slot] += bytes;

    if (t > rt->last) {
        rt->last = t;
    }

    if (t < rt->first) {
        rt->first = t;
    }
}


static double
ngx_calls_bwe_rate_get(ngx_calls_bwe_rate_t *rt)
{
    int64_t   last, lo, start;
    uint64_t  bytes;
    unsigned  i;

    if (!rt->valid) {
        return 0;
    }

    last = ngx_calls_bwe_floor_div(rt->last, NGX_CALLS_BWE_BUCKET_US);
    lo = last - (NGX_CALLS_BWE_RATE_WINDOW_US / NGX_CALLS_BWE_BUCKET_US - 1);

    start = lo * NGX_CALLS_BWE_BUCKET_US;
    if (start < rt->first) {
        start = rt->first;
    }

    /* not known until a bucket's worth has been seen */

    if (rt->last - start < NGX_CALLS_BWE_BUCKET_US) {
        return 0;
    }

    bytes = 0;

    for (i = 0; i < NGX_CALLS_BWE_BUCKETS; i++) {
        if (rt->id[i] >= lo && rt->id[i] <= last) {
            bytes += rt->bytes[i];
        }
    }

    return (double) bytes * 8 * 1000000 / (double) (rt->last - start);
}


static double
ngx_calls_bwe_clamp(ngx_calls_bwe_t *bwe, double bps)
{
    if (!(bps >= bwe->min)) {               /* NaN too */
        return bwe->min;
    }

    return bps > bwe->max ? bwe->max : bps;
}


/* ln y = 2 atanh((y - 1) / (y + 1)), for the constants above (y near 1) */

static double
ngx_calls_bwe_ln(double y)
{
    double    z, z2, term, sum;
    unsigned  k;

    z = (y - 1) / (y + 1);
    z2 = z * z;
    term = z;
    sum = 0;

    for (k = 1; k < 60; k += 2) {
        sum += term / k;
        term *= z2;
    }

    return 2 * sum;
}


/* e^x for 0 <= x <= ln 1.5 (an increase step): the series */

static double
ngx_calls_bwe_exp(double x)
{
    double    sum, term;
    unsigned  k;

    sum = 1;
    term = 1;

    for (k = 1; k < 16; k++) {
        term *= x / k;
        sum += term;
    }

    return sum;
}


static int64_t
ngx_calls_bwe_floor_div(int64_t a, int64_t b)
{
    int64_t  q;

    q = a / b;

    if ((a % b != 0) && (a < 0)) {
        q--;
    }

    return q;
}
