
/*
 * Copyright (C) ngx_calls authors
 */


#include <string.h>

#include "ngx_calls_vad.h"


static void ngx_calls_vad_judge(ngx_calls_vad_t *vad);


void
ngx_calls_vad_init(ngx_calls_vad_t *vad)
{
    memset(vad, 0, sizeof(ngx_calls_vad_t));
}


int
ngx_calls_vad_push(ngx_calls_vad_t *vad, unsigned level, uint64_t now_us)
{
    level &= 0x7f;

    /* rtcd: while the sample is not full, append and return */

    if (vad->n < NGX_CALLS_VAD_WINDOW) {
        vad->levels[vad->n++] = (uint8_t) level;
        return NGX_CALLS_VAD_NONE;
    }

    vad->levels[vad->next] = (uint8_t) level;
    vad->next = (vad->next + 1) % NGX_CALLS_VAD_WINDOW;

    ngx_calls_vad_judge(vad);

    if (!vad->active) {
        if (vad->stddev > NGX_CALLS_VAD_ON_THRESHOLD) {
            vad->active = 1;
            vad->activated_us = now_us;
            return NGX_CALLS_VAD_ON;
        }

        return NGX_CALLS_VAD_NONE;
    }

    if (vad->stddev < NGX_CALLS_VAD_OFF_THRESHOLD
        && now_us >= vad->activated_us
        && now_us - vad->activated_us >= NGX_CALLS_VAD_MIN_ACTIVE_US)
    {
        vad->active = 0;
        return NGX_CALLS_VAD_OFF;
    }

    return NGX_CALLS_VAD_NONE;
}


int
ngx_calls_vad_reset(ngx_calls_vad_t *vad)
{
    memset(vad, 0, sizeof(ngx_calls_vad_t));

    return NGX_CALLS_VAD_OFF;
}


/*
 * rtcd computes in float64: avg = round(sum / n), then
 * round(sqrt(sum((x - avg)^2) / (n - 1))).  The same in integers, exactly:
 * levels are 7 bits, so every sum is exact in a double, and the real
 * value is never close enough to a rounding boundary for the two double
 * roundings (division, sqrt) to land on the other side of it (the
 * nearest a window of 50 gets is a relative 3e-7).
 *
 *   avg = round half away from zero of sum / n = (2 sum + n) / (2 n)
 *   round(sqrt(q)) >= k  <=>  sqrt(q) >= k - 1/2  <=>  4 t >= (n-1)(2k-1)^2
 *   with q = t / (n - 1); at equality sqrt(q) = k - 1/2 rounds up, to k.
 */

static void
ngx_calls_vad_judge(ngx_calls_vad_t *vad)
{
    int       d;
    unsigned  i, sum, t, k;

    sum = 0;

    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        sum += vad->levels[i];
    }

    vad->mean = (2 * sum + NGX_CALLS_VAD_WINDOW) / (2 * NGX_CALLS_VAD_WINDOW);

    t = 0;

    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        d = (int) vad->levels[i] - (int) vad->mean;
        t += (unsigned) (d * d);
    }

    /* t <= 50 * 127^2, so k stays below 128 */

    k = 0;

    while ((NGX_CALLS_VAD_WINDOW - 1) * (2 * k + 1) * (2 * k + 1) <= 4 * t) {
        k++;
    }

    vad->stddev = k;
}
