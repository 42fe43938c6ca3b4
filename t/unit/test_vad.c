
/*
 * Copyright (C) ngx_calls authors
 */


/* Voice activity detection: rtcd's vad.Monitor with its defaults. */


#include <stdlib.h>

#include "tap.h"
#include "ngx_calls_vad.h"


#define MS  1000ULL


/*
 * Go's math.Sqrt and math.Round, independently of the detector's integer
 * arithmetic: Newton's method to well within a double's precision, then
 * round half away from zero.
 */

static double
go_sqrt(double x)
{
    int     i;
    double  r;

    if (x <= 0) {
        return 0;
    }

    r = x > 1 ? x : 1;

    for (i = 0; i < 200; i++) {
        r = (r + x / r) / 2;
    }

    return r;
}


static unsigned
go_round(double x)
{
    return (unsigned) (x + 0.5);             /* x >= 0 here */
}


/* stat.Avg and stat.StdDev of rtcd, on a window in push order */
static void
go_stats(const uint8_t *w, unsigned n, unsigned *avg, unsigned *dev)
{
    unsigned  i;
    double    total;

    total = 0;
    for (i = 0; i < n; i++) {
        total += w[i];
    }

    *avg = go_round(total / n);

    total = 0;
    for (i = 0; i < n; i++) {
        total += ((double) w[i] - *avg) * ((double) w[i] - *avg);
    }

    *dev = go_round(go_sqrt(total / (n - 1)));
}


/*
 * Pushes a dummy level, then the 50 levels of w (times t, t+1ms, ...):
 * the only judgement made is on exactly w.  Returns what the last push
 * returned; *events counts everything else that was returned.
 */
static int
push_window(ngx_calls_vad_t *vad, const uint8_t *w, uint64_t t, int *events)
{
    int       rc;
    unsigned  i;

    ngx_calls_vad_init(vad);
    rc = ngx_calls_vad_push(vad, 0, t);
    *events = rc != NGX_CALLS_VAD_NONE;

    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        rc = ngx_calls_vad_push(vad, w[i], t + i * MS);
        if (i < NGX_CALLS_VAD_WINDOW - 1 && rc != NGX_CALLS_VAD_NONE) {
            (*events)++;
        }
    }

    return rc;
}


/*
 * A window of 50 levels around 60 with the given deviations (the rest
 * 60).  Their sum is the offset of the sum from 50 * 60, their squares
 * add up to t = sum((x - avg)^2), since avg rounds to 60.
 */
static void
make_window(uint8_t *w, const int *dev, unsigned ndev)
{
    unsigned  i;

    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        w[i] = 60;
    }

    /* spread them out: the order does not matter to the statistics */
    for (i = 0; i < ndev; i++) {
        w[(i * 7) % NGX_CALLS_VAD_WINDOW] = (uint8_t) (60 + dev[i]);
    }
}


static void
test_speech(void)
{
    int              rc, ons, offs;
    unsigned         i, level;
    uint64_t         t;
    ngx_calls_vad_t  vad;

    ngx_calls_vad_init(&vad);

    /* speech: the level swings between loud syllables and pauses */
    t = 0;
    ons = 0;

    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++, t += 20 * MS) {
        level = (i % 4 < 2) ? 25 + i % 7 : 60 + i % 11;
        ons += ngx_calls_vad_push(&vad, level, t) != NGX_CALLS_VAD_NONE;
    }

    is_int(ons, 0, "50 speech levels only fill the window");
    ok(!vad.active, "not active yet");

    rc = ngx_calls_vad_push(&vad, 30, t);
    is_int(rc, NGX_CALLS_VAD_ON, "the 51st level is judged: voice on");
    ok(vad.stddev > NGX_CALLS_VAD_ON_THRESHOLD, "stddev above 10");
    is_int(vad.activated_us, t, "activation time noted");

    /* more speech: no repeated on */
    ons = 0;
    for (i = 0; i < 200; i++) {
        t += 20 * MS;
        level = (i % 4 < 2) ? 25 + i % 7 : 60 + i % 11;
        ons += ngx_calls_vad_push(&vad, level, t) != NGX_CALLS_VAD_NONE;
    }

    is_int(ons, 0, "speech goes on: no more events");

    /*
     * A steady level, 4 s after activation: off as soon as the window is
     * steady enough (the activation duration has long passed).
     */
    offs = 0;
    rc = NGX_CALLS_VAD_NONE;

    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        t += 20 * MS;
        rc = ngx_calls_vad_push(&vad, 70, t);
        if (rc == NGX_CALLS_VAD_OFF) {
            offs++;
            break;
        }
    }

    is_int(offs, 1, "a steady level turns voice off");
    ok(vad.stddev < NGX_CALLS_VAD_OFF_THRESHOLD, "with stddev below 4");
    ok(i < NGX_CALLS_VAD_WINDOW - 1,
       "before the window is all steady (stddev < 4 is enough)");
    diag("voice off after %u steady levels, stddev %u", i + 1, vad.stddev);

    /* steady: nothing more */
    offs = 0;
    for (i = 0; i < 500; i++) {
        t += 20 * MS;
        offs += ngx_calls_vad_push(&vad, 70, t) != NGX_CALLS_VAD_NONE;
    }
    is_int(offs, 0, "steady level: no events");

    /* speech again: on again */
    rc = NGX_CALLS_VAD_NONE;
    for (i = 0; i < 100 && rc == NGX_CALLS_VAD_NONE; i++) {
        t += 20 * MS;
        rc = ngx_calls_vad_push(&vad, (i % 2) ? 20 : 90, t);
    }
    is_int(rc, NGX_CALLS_VAD_ON, "speech after silence: voice on again");
}


static void
test_activation_duration(void)
{
    int              rc, events;
    unsigned         i;
    uint64_t         t, t0;
    ngx_calls_vad_t  vad;

    ngx_calls_vad_init(&vad);

    /* 50 alternating levels, then the 51st judged: on at t0 */
    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        ngx_calls_vad_push(&vad, (i % 2) ? 20 : 80, i * 20 * MS);
    }

    t0 = 10000 * MS;
    is_int(ngx_calls_vad_push(&vad, 20, t0), NGX_CALLS_VAD_ON, "on at t0");

    /* steady at once: stddev falls below 4 long before 2 s */
    events = 0;
    t = t0;
    for (i = 0; i < 150; i++) {
        t = t0 + (i + 1) * 10 * MS;                       /* up to t0+1.5s */
        events += ngx_calls_vad_push(&vad, 50, t) != NGX_CALLS_VAD_NONE;
    }

    is_int(events, 0, "steady for 1.5 s after activation: still on");
    is_int(vad.stddev, 0, "window all steady");
    ok(vad.active, "active");

    rc = ngx_calls_vad_push(&vad, 50, t0 + 2000 * MS - 1);
    is_int(rc, NGX_CALLS_VAD_NONE, "1 us before 2 s: still on");

    rc = ngx_calls_vad_push(&vad, 50, t0 + 2000 * MS);
    is_int(rc, NGX_CALLS_VAD_OFF, "exactly 2 s after activation: off");

    rc = ngx_calls_vad_push(&vad, 50, t0 + 2100 * MS);
    is_int(rc, NGX_CALLS_VAD_NONE, "off stays off");

    /* a clock that goes backwards does not count as time elapsed */
    ngx_calls_vad_init(&vad);
    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        ngx_calls_vad_push(&vad, (i % 2) ? 20 : 80, 5000 * MS);
    }
    ngx_calls_vad_push(&vad, 20, 5000 * MS);
    ok(vad.active, "on");
    events = 0;
    for (i = 0; i < 60; i++) {
        events += ngx_calls_vad_push(&vad, 50, 100 * MS) != NGX_CALLS_VAD_NONE;
    }
    is_int(events, 0, "time before the activation: no off");
}


static void
test_silence(void)
{
    int              events;
    unsigned         i;
    ngx_calls_vad_t  vad;

    ngx_calls_vad_init(&vad);
    events = 0;

    for (i = 0; i < 5000; i++) {
        events += ngx_calls_vad_push(&vad, 127, i * 20 * MS)
                  != NGX_CALLS_VAD_NONE;
    }

    is_int(events, 0, "silence (127) never turns voice on");
    is_int(vad.mean, 127, "mean 127");
    is_int(vad.stddev, 0, "stddev 0");

    /* a steady loud level is not speech either */
    ngx_calls_vad_init(&vad);
    events = 0;
    for (i = 0; i < 5000; i++) {
        events += ngx_calls_vad_push(&vad, 10 + (i % 3), i * 20 * MS)
                  != NGX_CALLS_VAD_NONE;
    }
    is_int(events, 0, "a steady loud level (10..12) never turns voice on");

    /* the V bit of the extension byte is ignored */
    ngx_calls_vad_init(&vad);
    events = 0;
    for (i = 0; i < 200; i++) {
        events += ngx_calls_vad_push(&vad, 0x80 | 127, i * 20 * MS)
                  != NGX_CALLS_VAD_NONE;
    }
    is_int(events, 0, "V bit set, level 127: silence");
    is_int(vad.mean, 127, "level masked to 7 bits");
}


static void
test_reset(void)
{
    int              rc;
    unsigned         i;
    ngx_calls_vad_t  vad;

    /* reset while off: voice off all the same (rtcd calls cb(false)) */
    ngx_calls_vad_init(&vad);
    is_int(ngx_calls_vad_reset(&vad), NGX_CALLS_VAD_OFF,
           "reset when never on returns off, as rtcd's Reset");

    /* reset while on */
    for (i = 0; i <= NGX_CALLS_VAD_WINDOW; i++) {
        rc = ngx_calls_vad_push(&vad, (i % 2) ? 20 : 80, i * 20 * MS);
    }
    is_int(rc, NGX_CALLS_VAD_ON, "on");

    is_int(ngx_calls_vad_reset(&vad), NGX_CALLS_VAD_OFF, "reset when on: off");
    ok(!vad.active && vad.n == 0 && vad.next == 0 && vad.activated_us == 0,
       "window, position, state and activation time cleared");

    /* the window fills again from empty: 50 levels are only stored */
    rc = NGX_CALLS_VAD_NONE;
    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        rc |= ngx_calls_vad_push(&vad, (i % 2) ? 20 : 80, 10000 * MS);
    }
    is_int(rc, NGX_CALLS_VAD_NONE, "after reset: 50 levels only fill");
    is_int(ngx_calls_vad_push(&vad, 20, 10000 * MS), NGX_CALLS_VAD_ON,
           "the 51st judges: on");

    /* and the activation time is the new one, not 0 */
    for (i = 0; i < NGX_CALLS_VAD_WINDOW; i++) {
        rc = ngx_calls_vad_push(&vad, 50, 10000 * MS + 1000 * MS);
    }
    is_int(rc, NGX_CALLS_VAD_NONE, "steady 1 s after the new activation: on");
}


static void
test_boundaries(void)
{
    int              rc, events;
    uint8_t          w[NGX_CALLS_VAD_WINDOW];
    unsigned         i, avg, dev;
    uint64_t         t0;
    ngx_calls_vad_t  vad;

    /*
     * stddev = round(sqrt(t / 49)); rounds to 10 for t in [4423, 5402],
     * to 11 for t in [5403, 6480]; to 3 for t in [307, 600], to 4 for
     * t in [601, 992].
     */
    static const int  t5402[] = { 51, -51, 10, -10 };          /* sum 0 */
    static const int  t5403[] = { 51, -51, 10, -10, 1 };       /* sum 1 */
    static const int  t4422[] = { 47, -47, 1, -1, 1, -1 };      /* sum 0 */
    static const int  t4423[] = { 47, -47, 1, -1, 1, -1, 1 };   /* sum 1 */
    static const int  t600[] = { 10, -10, 10, -10, 10, -10 };  /* sum 0 */
    static const int  t601[] = { 10, -10, 10, -10, 10, -10, 1 };
    static const int  t992[] = { 22, -22, 2, -2, 2, -2, 2, -2 };

    make_window(w, t5402, 4);
    go_stats(w, NGX_CALLS_VAD_WINDOW, &avg, &dev);
    is_int(dev, 10, "reference: t = 5402 is stddev 10");
    rc = push_window(&vad, w, 0, &events);
    is_int(vad.mean, 60, "mean 60");
    is_int(vad.stddev, 10, "stddev 10 (sqrt(5402/49) = 10.4999)");
    is_int(rc, NGX_CALLS_VAD_NONE, "stddev exactly 10: not on (> 10)");
    is_int(events, 0, "one judgement only");

    make_window(w, t5403, 5);
    go_stats(w, NGX_CALLS_VAD_WINDOW, &avg, &dev);
    is_int(dev, 11, "reference: t = 5403 is stddev 11");
    rc = push_window(&vad, w, 0, &events);
    is_int(vad.mean, 60, "mean 60.02 rounds to 60");
    is_int(vad.stddev, 11, "stddev 11 (sqrt(5403/49) = 10.5005)");
    is_int(rc, NGX_CALLS_VAD_ON, "stddev 11: on");

    make_window(w, t4422, 6);
    go_stats(w, NGX_CALLS_VAD_WINDOW, &avg, &dev);
    push_window(&vad, w, 0, &events);
    is_int(dev, 9, "reference: t = 4422 is stddev 9");
    is_int(vad.stddev, 9, "t = 4422: stddev 9 (9.4997)");

    make_window(w, t4423, 7);
    go_stats(w, NGX_CALLS_VAD_WINDOW, &avg, &dev);
    push_window(&vad, w, 0, &events);
    is_int(dev, 10, "reference: t = 4423 is stddev 10");
    is_int(vad.stddev, 10, "t = 4423: stddev 10 (9.5007)");

    /*
     * Off: activated at t0, then the 50 levels of a window, all but the
     * last before t0 + 2 s; the last at t0 + 2 s exactly.
     */
    for (i = 0; i < 3; i++) {
        const int  *d;
        unsigned    nd, want_dev;
        int         want;
        uint8_t     on[NGX_CALLS_VAD_WINDOW];
        unsigned    j;

        d = (i == 0) ? t601 : (i == 1) ? t600 : t992;
        nd = (i == 0) ? 7 : (i == 1) ? 6 : 8;
        want_dev = (i == 1) ? 3 : 4;
        want = (i == 1) ? NGX_CALLS_VAD_OFF : NGX_CALLS_VAD_NONE;

        make_window(w, d, nd);
        go_stats(w, NGX_CALLS_VAD_WINDOW, &avg, &dev);
        is_int(dev, want_dev, "reference stddev of the off window");

        for (j = 0; j < NGX_CALLS_VAD_WINDOW; j++) {
            on[j] = (j % 2) ? 20 : 80;
        }

        t0 = 1000 * MS;
        rc = push_window(&vad, on, t0 - 49 * MS, &events);
        is_int(rc, NGX_CALLS_VAD_ON, "on");
        t0 = vad.activated_us;

        events = 0;
        for (j = 0; j < NGX_CALLS_VAD_WINDOW - 1; j++) {
            events += ngx_calls_vad_push(&vad, w[j], t0 + (j + 1) * 10 * MS)
                      != NGX_CALLS_VAD_NONE;
        }
        rc = ngx_calls_vad_push(&vad, w[NGX_CALLS_VAD_WINDOW - 1],
                                t0 + 2000 * MS);

        is_int(events, 0, "no event during the first 2 s");
        is_int(vad.stddev, want_dev, "stddev of the window as rtcd");
        is_int(rc, want, want == NGX_CALLS_VAD_OFF
                         ? "stddev 3 (t = 600) at 2 s: off"
                         : "stddev 4 (t = 601 or 992): stays on");
    }
}


/* the integer arithmetic against Go's float64 formula, random windows */
static void
test_against_go(void)
{
    int              bad;
    uint8_t          w[NGX_CALLS_VAD_WINDOW];
    unsigned         i, j, avg, dev, spread, centre;
    ngx_calls_vad_t  vad;

    srand(6464);
    bad = 0;

    for (i = 0; i < 20000; i++) {
        spread = 1 + rand() % 128;
        centre = rand() % 128;

        ngx_calls_vad_init(&vad);
        ngx_calls_vad_push(&vad, 0, 0);

        for (j = 0; j < NGX_CALLS_VAD_WINDOW; j++) {
            int  v = (int) centre + (int) (rand() % spread) - (int) spread / 2;

            w[j] = (uint8_t) (v < 0 ? 0 : v > 127 ? 127 : v);
            ngx_calls_vad_push(&vad, w[j], 0);
        }

        go_stats(w, NGX_CALLS_VAD_WINDOW, &avg, &dev);

        if (vad.mean != avg || vad.stddev != dev) {
            if (bad++ < 5) {
                diag("window %u: mean %u/%u stddev %u/%u", i, vad.mean, avg,
                     vad.stddev, dev);
            }
        }
    }

    is_int(bad, 0, "20000 random windows: mean and stddev as Go computes");
}


int
main(void)
{
    test_speech();
    test_activation_duration();
    test_silence();
    test_reset();
    test_boundaries();
    test_against_go();

    return done_testing();
}
