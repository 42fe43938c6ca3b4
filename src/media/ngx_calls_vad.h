
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_VAD_H_INCLUDED_
#define _NGX_CALLS_VAD_H_INCLUDED_


#include <stdint.h>


/*
 * Voice activity detection as rtcd does it (service/rtc/vad/vad.go with
 * its default MonitorConfig), one detector per voice track.  The input is
 * the RFC 6464 audio level of every packet (0 loudest .. 127 silence);
 * the server never decodes audio.
 *
 * The last NGX_CALLS_VAD_WINDOW levels are kept.  While fewer than that
 * have arrived a level is only stored.  Every level after that replaces
 * the oldest and the window is judged: mean = round(sum / 50), stddev =
 * round(sqrt(sum((x - mean)^2) / 49)) (Bessel's correction, both rounded
 * half away from zero, as Go's math.Round).  Then
 *   - off, stddev > NGX_CALLS_VAD_ON_THRESHOLD: voice on, the time noted;
 *   - on, stddev < NGX_CALLS_VAD_OFF_THRESHOLD and at least
 *     NGX_CALLS_VAD_MIN_ACTIVE_US since it went on: voice off;
 *   - anything else: no change.
 * Speech makes the level jump about; a steady level, loud or silent, is
 * not speech.
 */


#define NGX_CALLS_VAD_WINDOW          50       /* levels, ~1 s at 20 ms */
#define NGX_CALLS_VAD_ON_THRESHOLD    10       /* on when stddev > 10 */
#define NGX_CALLS_VAD_OFF_THRESHOLD   4        /* off when stddev < 4 */
#define NGX_CALLS_VAD_MIN_ACTIVE_US   2000000  /* on for at least 2 s */


/* what a level (or a reset) means for the caller */
#define NGX_CALLS_VAD_NONE            0        /* no change */
#define NGX_CALLS_VAD_ON              1        /* send voice on (vad 7) */
#define NGX_CALLS_VAD_OFF             2        /* send voice off (vad 8) */


typedef struct {
    uint8_t                   levels[NGX_CALLS_VAD_WINDOW];
    unsigned                  n;            /* levels held */
    unsigned                  next;         /* slot replaced next, once full */
    unsigned                  active;       /* voice is on */
    uint64_t                  activated_us; /* when it went on */

    /* the last judgement, for logs and tests */
    unsigned                  mean;
    unsigned                  stddev;
} ngx_calls_vad_t;


void ngx_calls_vad_init(ngx_calls_vad_t *vad);

/*
 * One packet's level (the V bit and anything above 7 bits are ignored)
 * at now_us (a monotonic clock).  Returns NGX_CALLS_VAD_NONE, _ON or _OFF.
 */
int ngx_calls_vad_push(ngx_calls_vad_t *vad, unsigned level, uint64_t now_us);

/*
 * On mute: forget the window and the state.  Like rtcd's Monitor.Reset(),
 * which calls its callback with false unconditionally, this always returns
 * NGX_CALLS_VAD_OFF, whether voice was on or not: the caller sends a voice
 * off message either way, as rtcd does.
 */
int ngx_calls_vad_reset(ngx_calls_vad_t *vad);


#endif /* _NGX_CALLS_VAD_H_INCLUDED_ */
