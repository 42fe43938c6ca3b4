
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>

#include "ngx_calls_session.h"
#include "ngx_calls_stun.h"


/* usrsctp's tick (ms), while SCTP has traffic and for LINGER after */
#define NGX_CALLS_SCTP_TICK          10
#define NGX_CALLS_SCTP_TICK_IDLE     100
#define NGX_CALLS_SCTP_LINGER        1000


ngx_calls_media_handler_t  *ngx_calls_handler;
ngx_calls_dtls_ctx_t       *ngx_calls_dtls_ctx;

/*
 * The time of the engine call in progress: callbacks from DTLS and SCTP
 * have no time argument of their own.
 */
uint64_t                    ngx_calls_now;

static ngx_calls_media_handler_t   ngx_calls_media_handler;
static uint64_t                   *ngx_calls_counters;
static uint64_t                    ngx_calls_last_tick;
static uint64_t                    ngx_calls_sctp_busy_until;


static const char  *ngx_calls_counter_names[NGX_CALLS_CNT_N] = {
    "rx_packets",
    "rx_bytes",
    "tx_packets",
    "tx_bytes",
    "rtp_forwarded",
    "stun_answered",
    "role_conflicts",
    "rtp_retransmitted",
    "nacks_sent",
    "keyframe_requests",
    "handed_over",
    "tcp_handed_over",
    "tcp_accepted",
    "tcp_closed_peer",
    "tcp_closed_bad_frame",
    "tcp_closed_ice",
    "tcp_closed_idle",
    "tcp_closed_session",
    "tcp_closed_error",
    "tcp_closed_shutdown",
    "drop_unknown_proto",
    "drop_stun_malformed",
    "drop_stun_not_request",
    "drop_stun_unknown_user",
    "drop_stun_bad_integrity",
    "drop_unknown_path",
    "drop_dtls_unverified",
    "drop_dtls_state",
    "drop_srtp_not_ready",
    "drop_srtp_auth",
    "drop_srtp_replay",
    "drop_rtp_malformed",
    "drop_rtcp_malformed",
    "drop_rtp_unknown_ssrc",
    "drop_rtp_muted",
    "drop_send_failed",
    "drop_dc_malformed",
    "drop_rtx_missing",
    "drop_bus_full",
    "drop_tcp_framing"
};


static void ngx_calls_sctp_debug(const char *fmt, ...);


int
ngx_calls_media_init(const ngx_calls_media_conf_t *conf, char *err,
    size_t errlen)
{
    ngx_calls_media_handler = conf->handler;
    ngx_calls_handler = &ngx_calls_media_handler;
    ngx_calls_dtls_ctx = conf->dtls;
    ngx_calls_counters = conf->counters;

    ngx_calls_stun_init();

    if (ngx_calls_srtp_init() != 0) {
        snprintf(err, errlen, "SRTP initialization failed");
        return -1;
    }

    if (ngx_calls_sctp_init(ngx_calls_sctp_debug) != 0) {
        snprintf(err, errlen, "usrsctp initialization failed");
        return -1;
    }

    return 0;
}


void
ngx_calls_media_done(void)
{
    ngx_calls_handler = NULL;
}


unsigned
ngx_calls_media_tick(uint64_t now)
{
    uint64_t  elapsed;

    if (ngx_calls_sctp_count() == 0) {
        ngx_calls_last_tick = 0;
        return 0;
    }

    elapsed = ngx_calls_last_tick ? now - ngx_calls_last_tick : 0;
    ngx_calls_last_tick = now;
    ngx_calls_now = now;

    ngx_calls_sctp_timers((uint32_t) elapsed);

    if (ngx_calls_sctp_count() == 0) {
        return 0;
    }

    /*
     * usrsctp walks its whole list of timers on every tick, so 10 ms
     * ticks for hundreds of idle associations cost more than their
     * traffic.  They tick at 10 ms while SCTP packets come and go and for
     * a while after; an idle association has only heartbeats (30 s) and
     * retransmission timeouts of a second or more, which 100 ms ticks
     * serve well enough.
     */

    if (ngx_calls_sctp_busy()) {
        ngx_calls_sctp_busy_until = now + NGX_CALLS_SCTP_LINGER;
    }

    return now < ngx_calls_sctp_busy_until ? NGX_CALLS_SCTP_TICK
                                           : NGX_CALLS_SCTP_TICK_IDLE;
}


const char *
ngx_calls_counter_name(ngx_calls_counter_e c)
{
    return c < NGX_CALLS_CNT_N ? ngx_calls_counter_names[c] : "unknown";
}


void
ngx_calls_count(ngx_calls_counter_e c, uint64_t n)
{
    if (ngx_calls_counters != NULL) {
        ngx_calls_counters[c] += n;
    }
}


void
ngx_calls_log(unsigned level, const char *fmt, ...)
{
    va_list  args;

    if (ngx_calls_handler == NULL || ngx_calls_handler->log == NULL) {
        return;
    }

    va_start(args, fmt);
    ngx_calls_handler->log(level, fmt, args);
    va_end(args);
}


void
ngx_calls_random(void *buf, size_t len)
{
    /* RAND_bytes only fails without an entropy source: fall back loudly */
    if (RAND_bytes(buf, (int) len) != 1) {
        ngx_calls_log(NGX_CALLS_LOG_ERR, "calls: RAND_bytes() failed");
        memset(buf, 0x5a, len);
    }
}


void
ngx_calls_event(ngx_calls_session_t *s, ngx_calls_media_ev_e type,
    unsigned rtc_type, const char *text, size_t len)
{
    ngx_calls_media_event_t  ev;

    ev.type = type;
    ev.rtc_type = rtc_type;
    ev.text = text;
    ev.len = len;
    ev.stat = 0;
    ev.value = 0;

    ngx_calls_handler->event(s, s->data, &ev);
}


void
ngx_calls_stat(ngx_calls_session_t *s, ngx_calls_stat_e stat, double value,
    const char *label)
{
    ngx_calls_media_event_t  ev;

    ev.type = NGX_CALLS_MEDIA_EV_STAT;
    ev.rtc_type = 0;
    ev.text = label ? label : "";
    ev.len = label ? strlen(label) : 0;
    ev.stat = stat;
    ev.value = value;

    ngx_calls_handler->event(s, s->data, &ev);
}


void
ngx_calls_error(ngx_calls_session_t *s, const char *fmt, ...)
{
    int      n;
    char     buf[512];
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    if (n < 0) {
        return;
    }

    if ((size_t) n >= sizeof(buf)) {
        n = sizeof(buf) - 1;
    }

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: %s", s->id, buf);
    ngx_calls_stat(s, NGX_CALLS_STAT_ERROR, 1, "signaling");
    ngx_calls_event(s, NGX_CALLS_MEDIA_EV_ERROR, 0, buf, (size_t) n);
}


static void
ngx_calls_sctp_debug(const char *fmt, ...)
{
    char     buf[256];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    ngx_calls_log(NGX_CALLS_LOG_DEBUG, "calls: usrsctp: %s", buf);
}
