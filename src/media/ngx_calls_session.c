
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * A session's transport: ICE checks, DTLS, SRTP and the SCTP association
 * that carries calls-dc, plus the session's lifetime and timers.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_calls_session.h"
#include "ngx_calls_rtcp.h"
#include "ngx_calls_stun.h"
#include "ngx_calls_dc.h"


static int ngx_calls_session_stun(ngx_calls_session_t *s,
    ngx_calls_path_t *path, uint8_t *buf, size_t len, uint64_t now);
static ngx_calls_ice_path_t *ngx_calls_session_find_path(
    ngx_calls_session_t *s, ngx_calls_path_t *path);
static ngx_calls_ice_path_t *ngx_calls_session_add_path(
    ngx_calls_session_t *s, ngx_calls_path_t *path);
static void ngx_calls_session_select(ngx_calls_session_t *s,
    ngx_calls_ice_path_t *p, uint64_t now);
static int ngx_calls_session_dtls(ngx_calls_session_t *s, uint8_t *buf,
    size_t len, uint64_t now);
static int ngx_calls_session_dtls_start(ngx_calls_session_t *s,
    uint64_t now);
static void ngx_calls_session_dtls_state(ngx_calls_session_t *s,
    ngx_calls_dtls_state_e state, uint64_t now);
static void ngx_calls_session_connected(ngx_calls_session_t *s,
    uint64_t now);
static int ngx_calls_session_srtp(ngx_calls_session_t *s, uint8_t *buf,
    size_t len, uint64_t arrival_us, uint64_t now);
static uint64_t ngx_calls_session_deadline(ngx_calls_session_t *s);

static int ngx_calls_dtls_send_handler(void *user, const uint8_t *buf,
    size_t len);
static void ngx_calls_dtls_data_handler(void *user, const uint8_t *buf,
    size_t len);
static int ngx_calls_sctp_send_handler(void *user, const uint8_t *buf,
    size_t len);
static void ngx_calls_sctp_up_handler(void *user);
static void ngx_calls_sctp_down_handler(void *user);
static void ngx_calls_sctp_open_handler(void *user, uint16_t sid,
    const char *label, const char *protocol);
static void ngx_calls_sctp_message_handler(void *user, uint16_t sid,
    int binary, const uint8_t *buf, size_t len);
static void ngx_calls_sctp_close_handler(void *user, uint16_t sid);
static void ngx_calls_session_dc_message(ngx_calls_session_t *s,
    int binary, const uint8_t *buf, size_t len);


static const ngx_calls_dtls_handler_t  ngx_calls_session_dtls_handler = {
    ngx_calls_dtls_send_handler,
    ngx_calls_dtls_data_handler
};


static const ngx_calls_sctp_handler_t  ngx_calls_session_sctp_handler = {
    ngx_calls_sctp_send_handler,
    ngx_calls_sctp_up_handler,
    ngx_calls_sctp_down_handler,
    ngx_calls_sctp_open_handler,
    ngx_calls_sctp_message_handler,
    ngx_calls_sctp_close_handler
};


ngx_calls_session_t *
ngx_calls_session_create(ngx_calls_call_t *call,
    const ngx_calls_session_conf_t *conf, uint64_t now, char *err,
    size_t errlen)
{
    size_t                i, n;
    ngx_calls_session_t  *s;

    n = conf->session_id ? strlen(conf->session_id) : 0;
    if (n == 0 || n > NGX_CALLS_MAX_SESSION_ID) {
        snprintf(err, errlen, "session id must have 1 to %d characters",
                 NGX_CALLS_MAX_SESSION_ID);
        return NULL;
    }

    if (conf->user_id && strlen(conf->user_id) > NGX_CALLS_SDP_MAX_ID) {
        snprintf(err, errlen, "user id longer than %d characters",
                 NGX_CALLS_SDP_MAX_ID);
        return NULL;
    }

    /* RFC 8839 5.4: ufrag at least 4 characters, password at least 22 */
    n = strlen(conf->ufrag);
    if (n < 4 || n >= NGX_CALLS_SDP_MAX_UFRAG) {
        snprintf(err, errlen, "bad ICE ufrag length %zu", n);
        return NULL;
    }

    n = strlen(conf->pwd);
    if (n < 22 || n >= NGX_CALLS_SDP_MAX_PWD) {
        snprintf(err, errlen, "bad ICE password length %zu", n);
        return NULL;
    }

    if (conf->ncandidates > NGX_CALLS_MAX_CANDIDATES) {
        snprintf(err, errlen, "more than %d candidates",
                 NGX_CALLS_MAX_CANDIDATES);
        return NULL;
    }

    s = calloc(1, sizeof(ngx_calls_session_t));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    strcpy(s->id, conf->session_id);
    if (conf->user_id) {
        strcpy(s->user_id, conf->user_id);
    }
    strcpy(s->ufrag, conf->ufrag);
    strcpy(s->pwd, conf->pwd);

    for (i = 0; i < conf->ncandidates; i++) {
        s->cands[i] = conf->candidates[i];
    }

    s->ncands = conf->ncandidates;
    s->av1_support = conf->av1_support;
    s->dc_signaling = conf->dc_signaling;
    s->data = conf->data;
    s->created = now;

    ngx_calls_random(&s->sdp_id, sizeof(s->sdp_id));
    s->sdp_id &= 0x3fffffffffffffffULL;      /* JSEP: < 2^62 */
    s->sdp_version = 1;
    ngx_calls_random(&s->twcc_seq, sizeof(s->twcc_seq));
    ngx_calls_random(&s->rtcp_ssrc, sizeof(s->rtcp_ssrc));

    ngx_calls_call_attach(call, s);

    /* rtcd: a session whose first offer does not come in 10 s is closed */
    ngx_calls_session_schedule(s, now + NGX_CALLS_SIGNALING_TIMEOUT);

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s created in call %s",
                  s->id, call->id);

    return s;
}


void
ngx_calls_session_destroy(ngx_calls_session_t *s)
{
    s->closed = 1;

    ngx_calls_call_detach(s, ngx_calls_now);

    /* SCTP first: its ABORT still travels over DTLS */
    if (s->sctp) {
        ngx_calls_sctp_free(s->sctp);
        s->sctp = NULL;
    }

    if (s->dtls) {
        ngx_calls_dtls_free(s->dtls);
        s->dtls = NULL;
    }

    if (s->srtp_ready) {
        ngx_calls_srtp_free(&s->srtp);
        s->srtp_ready = 0;
    }

    free(s->twcc_rx);
    free(s->twcc_tx);
    free(s->bwe);

    ngx_calls_negotiate_free(s);

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s destroyed", s->id);

    free(s);
}


const char *
ngx_calls_session_id(ngx_calls_session_t *s)
{
    return s->id;
}


int
ngx_calls_session_signal(ngx_calls_session_t *s, unsigned type,
    const char *data, size_t len, uint64_t now)
{
    size_t                    i, j;
    ngx_calls_source_t       *src;
    ngx_calls_transceiver_t  *tr;

    if (s->closed || s->close_pending) {
        return -1;
    }

    ngx_calls_now = now;

    switch (type) {

    case NGX_CALLS_RTC_SDP:
        return ngx_calls_negotiate_sdp(s, data, len, 0, now);

    case NGX_CALLS_RTC_ICE:
        return ngx_calls_negotiate_ice(s, data, len);

    case NGX_CALLS_RTC_MUTE:
    case NGX_CALLS_RTC_UNMUTE:

        /* mute stops forwarding the voice; the track stays negotiated */

        s->muted = (type == NGX_CALLS_RTC_MUTE);

        /* rtcd resets voice activity on mute, and says voice off */
        if (s->muted) {
            ngx_calls_call_vad_reset(s);
        }

        for (i = 0; i < s->ntrs; i++) {
            tr = &s->trs[i];

            for (j = 0; j < tr->nsources; j++) {
                src = tr->sources[j];

                if (src->type == NGX_CALLS_TRACK_VOICE) {
                    src->muted = s->muted;
                }
            }
        }

        return 0;

    case NGX_CALLS_RTC_SCREEN_ON:
    case NGX_CALLS_RTC_SCREEN_OFF:
    case NGX_CALLS_RTC_VIDEO_ON:
    case NGX_CALLS_RTC_VIDEO_OFF:
        return ngx_calls_negotiate_stream(s, type, data, len, now);

    default:
        ngx_calls_error(s, "unknown signaling message type %u", type);
        return -1;
    }
}


void
ngx_calls_session_close(ngx_calls_session_t *s, const char *reason,
    uint64_t now)
{
    if (s->closed) {
        return;
    }

    ngx_calls_now = now;
    s->closed = 1;

    /* an orderly end for the peer: SCTP ABORT, then DTLS close_notify */

    if (s->sctp) {
        ngx_calls_sctp_free(s->sctp);
        s->sctp = NULL;
    }

    if (s->dtls && s->connected) {
        ngx_calls_dtls_shutdown(s->dtls);
    }

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s closed: %s", s->id,
                  reason);

    ngx_calls_stat(s, NGX_CALLS_STAT_CONN_STATE, 1, "closed");
    ngx_calls_event(s, NGX_CALLS_MEDIA_EV_CLOSED, 0, reason, strlen(reason));
}


void
ngx_calls_session_fail(ngx_calls_session_t *s, uint64_t now,
    const char *fmt, ...)
{
    va_list  args;

    if (s->closed || s->close_pending) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(s->close_reason, sizeof(s->close_reason), fmt, args);
    va_end(args);

    if (s->close_state == NULL) {
        s->close_state = "failed";
    }

    /*
     * The CLOSED event is reported from the timer, at the top of a later
     * engine call: here we may be deep inside DTLS or SCTP callbacks, and
     * the glue destroys the session when it hears of it.
     */
    s->close_pending = 1;
    ngx_calls_session_schedule(s, now);
}


int
ngx_calls_session_input(ngx_calls_session_t *s, ngx_calls_path_t *path,
    uint8_t *buf, size_t len, uint64_t arrival_us, uint64_t now)
{
    ngx_calls_ice_path_t  *p;

    ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
    ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);

    if (len == 0) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PROTO, 1);
        return NGX_CALLS_IN_DROP;
    }

    ngx_calls_now = now;

    if (ngx_calls_is_stun(buf[0])) {
        return ngx_calls_session_stun(s, path, buf, len, now);
    }

    /* DTLS and SRTP only on a path that passed an ICE check */

    p = ngx_calls_session_find_path(s, path);

    if (ngx_calls_is_dtls(buf[0])) {
        if (p == NULL) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_DTLS_UNVERIFIED, 1);
            return NGX_CALLS_IN_DROP;
        }

        return ngx_calls_session_dtls(s, buf, len, now);
    }

    if (ngx_calls_is_rtp(buf[0])) {
        if (p == NULL) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PATH, 1);
            return NGX_CALLS_IN_DROP;
        }

        return ngx_calls_session_srtp(s, buf, len, arrival_us, now);
    }

    ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PROTO, 1);

    return NGX_CALLS_IN_DROP;
}


void
ngx_calls_session_path_gone(ngx_calls_session_t *s, void *transport,
    uint64_t now)
{
    size_t                 i;
    ngx_calls_ice_path_t  *best;

    ngx_calls_now = now;

    for (i = 0; i < s->npaths; /* void */) {

        if (s->paths[i].path.transport != transport) {
            i++;
            continue;
        }

        if (s->selected == &s->paths[i]) {
            s->selected = NULL;
        }

        s->npaths--;

        if (i < s->npaths) {
            if (s->selected == &s->paths[s->npaths]) {
                s->selected = &s->paths[i];
            }

            s->paths[i] = s->paths[s->npaths];
        }
    }

    if (s->selected || s->npaths == 0 || s->closed || s->close_pending) {
        return;
    }

    /*
     * The selected path went with its connection: until the peer
     * nominates another, send on the one it checked last, which it is
     * most likely still using.
     */

    best = &s->paths[0];

    for (i = 1; i < s->npaths; i++) {
        if (s->paths[i].last_check > best->last_check) {
            best = &s->paths[i];
        }
    }

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: its selected "
                  "path is gone, another one takes over", s->id);

    ngx_calls_session_select(s, best, now);
}


void
ngx_calls_session_timer(ngx_calls_session_t *s, uint64_t now)
{
    uint64_t  t;

    if (s->closed) {
        return;
    }

    ngx_calls_now = now;
    s->timer_at = 0;

    if (s->close_pending) {
        s->closed = 1;

        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s closed: %s",
                      s->id, s->close_reason);

        ngx_calls_stat(s, NGX_CALLS_STAT_CONN_STATE, 1, s->close_state);

        ngx_calls_event(s, NGX_CALLS_MEDIA_EV_CLOSED, 0, s->close_reason,
                        strlen(s->close_reason));
        return;
    }

    if (!s->answered) {
        if (now >= s->created + NGX_CALLS_SIGNALING_TIMEOUT) {
            ngx_calls_session_fail(s, now, "no offer within %d s",
                                   NGX_CALLS_SIGNALING_TIMEOUT / 1000);
            return;
        }

    } else if (!s->connected) {
        if (now >= s->created + NGX_CALLS_CONNECT_TIMEOUT) {
            ngx_calls_stat(s, NGX_CALLS_STAT_ERROR, 1, "ice");
            ngx_calls_session_fail(s, now,
                                   "not connected (ICE, DTLS) within %d s",
                                   NGX_CALLS_CONNECT_TIMEOUT / 1000);
            return;
        }

    } else if (now >= s->last_check + NGX_CALLS_CONSENT_TIMEOUT) {
        ngx_calls_stat(s, NGX_CALLS_STAT_ERROR, 1, "ice");
        ngx_calls_session_fail(s, now, "ICE consent expired: no check "
                               "for %d s", NGX_CALLS_CONSENT_TIMEOUT / 1000);
        return;
    }

    if (s->dtls) {
        t = ngx_calls_dtls_next_timeout(s->dtls, now);

        if (t && t <= now) {
            ngx_calls_session_dtls_state(s,
                                         ngx_calls_dtls_timer(s->dtls, now),
                                         now);
        }
    }

    ngx_calls_negotiate_timer(s, now);

    if (s->connected && now >= s->rtcp_at) {
        ngx_calls_call_rtcp_timer(s, now);
    }

    if (!s->closed && !s->close_pending) {
        ngx_calls_session_schedule(s, ngx_calls_session_deadline(s));
    }
}


void
ngx_calls_session_schedule(ngx_calls_session_t *s, uint64_t when)
{
    /* later deadlines are found when the earlier timer fires */
    if (s->timer_at == 0 || when < s->timer_at) {
        s->timer_at = when;
        ngx_calls_handler->timer(s, s->data, when);
    }
}


int
ngx_calls_session_send(ngx_calls_session_t *s, const uint8_t *buf,
    size_t len)
{
    if (s->selected == NULL
        || ngx_calls_handler->send(&s->selected->path, buf, len) != 0)
    {
        ngx_calls_count(NGX_CALLS_CNT_DROP_SEND_FAILED, 1);
        return -1;
    }

    ngx_calls_count(NGX_CALLS_CNT_TX_PACKETS, 1);
    ngx_calls_count(NGX_CALLS_CNT_TX_BYTES, len);

    return 0;
}


/* buf has NGX_CALLS_SRTP_TRAILER bytes of room after len */

int
ngx_calls_session_send_rtcp(ngx_calls_session_t *s, uint8_t *buf,
    size_t len)
{
    if (!s->srtp_ready || s->closed) {
        return -1;
    }

    if (ngx_calls_srtp_protect_rtcp(&s->srtp, buf, &len)
        != NGX_CALLS_SRTP_OK)
    {
        ngx_calls_count(NGX_CALLS_CNT_DROP_SEND_FAILED, 1);
        ngx_calls_stat(s, NGX_CALLS_STAT_ERROR, 1, "rtp");
        return -1;
    }

    return ngx_calls_session_send(s, buf, len);
}


int
ngx_calls_session_dc_send(ngx_calls_session_t *s, int binary,
    const uint8_t *buf, size_t len)
{
    if (s->sctp == NULL || !s->dc_open) {
        return -1;
    }

    return ngx_calls_sctp_send(s->sctp, s->dc_sid, binary, buf, len);
}


/* ICE */

static int
ngx_calls_session_stun(ngx_calls_session_t *s, ngx_calls_path_t *path,
    uint8_t *buf, size_t len, uint64_t now)
{
    int                      rc;
    size_t                   n;
    uint8_t                  out[NGX_CALLS_STUN_MAX_RESPONSE];
    ngx_calls_ice_path_t    *p;
    ngx_calls_stun_check_t   check;
    ngx_calls_stun_rc_e      src;

    if (s->closed || s->close_pending) {
        return NGX_CALLS_IN_DROP;
    }

    src = ngx_calls_stun_process(buf, len, s->ufrag, s->pwd,
                                 s->remote_ufrag[0] ? s->remote_ufrag : NULL,
                                 0, (struct sockaddr *) &path->peer,
                                 path->peer_len, &check, out, &n);

    switch (src) {

    case NGX_CALLS_STUN_ANSWER:
        break;

    case NGX_CALLS_STUN_CONFLICT:
        ngx_calls_count(NGX_CALLS_CNT_ROLE_CONFLICTS, 1);
        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: peer claims "
                      "the controlled role, sent 487", s->id);

        if (ngx_calls_handler->send(path, out, n) != 0) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_SEND_FAILED, 1);
        }

        return NGX_CALLS_IN_OK;

    case NGX_CALLS_STUN_NOT_REQUEST:
        ngx_calls_count(NGX_CALLS_CNT_DROP_STUN_NOT_REQUEST, 1);
        return NGX_CALLS_IN_DROP;

    case NGX_CALLS_STUN_UNKNOWN_USER:
        ngx_calls_count(NGX_CALLS_CNT_DROP_STUN_UNKNOWN_USER, 1);
        return NGX_CALLS_IN_DROP;

    case NGX_CALLS_STUN_BAD_INTEGRITY:
        ngx_calls_count(NGX_CALLS_CNT_DROP_STUN_BAD_INTEGRITY, 1);
        return NGX_CALLS_IN_DROP;

    default:
        ngx_calls_count(NGX_CALLS_CNT_DROP_STUN_MALFORMED, 1);
        return NGX_CALLS_IN_DROP;
    }

    if (ngx_calls_handler->send(path, out, n) != 0) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_SEND_FAILED, 1);

    } else {
        ngx_calls_count(NGX_CALLS_CNT_STUN_ANSWERED, 1);
        ngx_calls_count(NGX_CALLS_CNT_TX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_TX_BYTES, n);
    }

    rc = NGX_CALLS_IN_OK;

    p = ngx_calls_session_find_path(s, path);

    if (p == NULL) {
        p = ngx_calls_session_add_path(s, path);
        rc = NGX_CALLS_IN_NEW_PATH;
    }

    p->last_check = now;
    s->last_check = now;

    /*
     * The controlling browser nominates with USE-CANDIDATE; until it does,
     * the first path that passes a check is the best we know.
     */
    if (check.use_candidate || s->selected == NULL) {
        ngx_calls_session_select(s, p, now);
    }

    return rc;
}


static ngx_calls_ice_path_t *
ngx_calls_session_find_path(ngx_calls_session_t *s, ngx_calls_path_t *path)
{
    size_t  i;

    for (i = 0; i < s->npaths; i++) {
        if (s->paths[i].path.transport == path->transport
            && s->paths[i].path.peer_len == path->peer_len
            && memcmp(&s->paths[i].path.peer, &path->peer, path->peer_len)
               == 0)
        {
            return &s->paths[i];
        }
    }

    return NULL;
}


static ngx_calls_ice_path_t *
ngx_calls_session_add_path(ngx_calls_session_t *s, ngx_calls_path_t *path)
{
    size_t                 i;
    ngx_calls_ice_path_t  *p, *oldest;

    if (s->npaths < NGX_CALLS_MAX_PATHS) {
        p = &s->paths[s->npaths++];

    } else {

        /* replace the path checked longest ago, never the selected one */

        oldest = NULL;

        for (i = 0; i < s->npaths; i++) {
            p = &s->paths[i];

            if (p != s->selected
                && (oldest == NULL || p->last_check < oldest->last_check))
            {
                oldest = p;
            }
        }

        p = oldest;
    }

    p->path = *path;
    p->last_check = 0;

    return p;
}


static void
ngx_calls_session_select(ngx_calls_session_t *s, ngx_calls_ice_path_t *p,
    uint64_t now)
{
    if (s->selected != p) {
        s->selected = p;
        ngx_calls_log(NGX_CALLS_LOG_DEBUG, "calls: session %s: path "
                      "selected", s->id);
    }

    if (s->dtls == NULL && s->dtls_client && s->answered) {
        (void) ngx_calls_session_dtls_start(s, now);
    }
}


/* DTLS */

static int
ngx_calls_session_dtls_start(ngx_calls_session_t *s, uint64_t now)
{
    uint64_t  t;

    s->dtls = ngx_calls_dtls_create(ngx_calls_dtls_ctx, s->dtls_client,
                                    s->remote_fp_alg, s->remote_fp,
                                    &ngx_calls_session_dtls_handler, s);
    if (s->dtls == NULL) {
        ngx_calls_session_fail(s, now, "DTLS setup failed");
        return -1;
    }

    if (s->dtls_client && ngx_calls_dtls_start(s->dtls, now) != 0) {
        ngx_calls_session_fail(s, now, "DTLS handshake could not start: %s",
                               ngx_calls_dtls_error(s->dtls));
        return -1;
    }

    t = ngx_calls_dtls_next_timeout(s->dtls, now);
    if (t) {
        ngx_calls_session_schedule(s, t);
    }

    return 0;
}


static int
ngx_calls_session_dtls(ngx_calls_session_t *s, uint8_t *buf, size_t len,
    uint64_t now)
{
    uint64_t                t;
    ngx_calls_dtls_state_e  state;

    if (s->closed || s->close_pending || !s->answered) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_DTLS_STATE, 1);
        return NGX_CALLS_IN_DROP;
    }

    /* as DTLS server, the client's ClientHello starts it all */
    if (s->dtls == NULL) {
        if (s->dtls_client || ngx_calls_session_dtls_start(s, now) != 0) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_DTLS_STATE, 1);
            return NGX_CALLS_IN_DROP;
        }
    }

    state = ngx_calls_dtls_state(s->dtls);

    if (state == NGX_CALLS_DTLS_FAILED || state == NGX_CALLS_DTLS_CLOSED) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_DTLS_STATE, 1);
        return NGX_CALLS_IN_DROP;
    }

    ngx_calls_session_dtls_state(s, ngx_calls_dtls_input(s->dtls, buf, len,
                                                         now),
                                 now);

    if (s->dtls) {
        t = ngx_calls_dtls_next_timeout(s->dtls, now);
        if (t) {
            ngx_calls_session_schedule(s, t);
        }
    }

    return NGX_CALLS_IN_OK;
}


static void
ngx_calls_session_dtls_state(ngx_calls_session_t *s,
    ngx_calls_dtls_state_e state, uint64_t now)
{
    switch (state) {

    case NGX_CALLS_DTLS_CONNECTED:
        if (!s->connected) {
            ngx_calls_session_connected(s, now);
        }
        break;

    case NGX_CALLS_DTLS_FAILED:
        ngx_calls_session_fail(s, now, "DTLS failed: %s",
                               ngx_calls_dtls_error(s->dtls));
        break;

    case NGX_CALLS_DTLS_CLOSED:
        s->close_state = "closed";
        ngx_calls_session_fail(s, now, "peer closed the connection "
                               "(DTLS close_notify)");
        break;

    default:
        break;
    }
}


static void
ngx_calls_session_connected(ngx_calls_session_t *s, uint64_t now)
{
    size_t                    i, klen;
    char                      err[256];
    uint8_t                   local[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                   remote[NGX_CALLS_SRTP_MAX_KEY_SALT];
    unsigned                  profile;
    ngx_calls_transceiver_t  *data;

    if (ngx_calls_dtls_srtp_keys(s->dtls, &profile, local, remote, &klen)
        != 0)
    {
        ngx_calls_session_fail(s, now, "DTLS-SRTP key export failed");
        return;
    }

    if (ngx_calls_srtp_create(&s->srtp, profile, local, remote, err,
                              sizeof(err))
        != 0)
    {
        ngx_calls_session_fail(s, now, "SRTP setup failed: %s", err);
        return;
    }

    s->srtp_ready = 1;
    s->connected = 1;
    s->report_at = now + 1000;
    s->rtcp_at = now + 1000;

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s connected, SRTP "
                  "profile %s", s->id,
                  profile == NGX_CALLS_SRTP_AEAD_AES_128_GCM
                  ? "AEAD_AES_128_GCM" : "AES128_CM_HMAC_SHA1_80");

    ngx_calls_event(s, NGX_CALLS_MEDIA_EV_CONNECTED, 0, "", 0);
    ngx_calls_stat(s, NGX_CALLS_STAT_CONN_STATE, 1, "connected");
    ngx_calls_stat(s, NGX_CALLS_STAT_CONNECTION_TIME,
                   (double) (now - s->created) / 1000, NULL);

    data = NULL;

    for (i = 0; i < s->ntrs; i++) {
        if (s->trs[i].role == NGX_CALLS_TR_DATA && !s->trs[i].rejected) {
            data = &s->trs[i];
            break;
        }
    }

    if (data == NULL) {
        return;
    }

    s->sctp = ngx_calls_sctp_create(NGX_CALLS_SCTP_DEFAULT_PORT,
                                    data->sctp_port, s->dtls_client,
                                    &ngx_calls_session_sctp_handler, s, err,
                                    sizeof(err));
    if (s->sctp == NULL) {
        ngx_calls_session_fail(s, now, "SCTP setup failed: %s", err);
    }
}


/* SRTP */

static int
ngx_calls_session_srtp(ngx_calls_session_t *s, uint8_t *buf, size_t len,
    uint64_t arrival_us, uint64_t now)
{
    int     rc;
    size_t  n;

    if (!s->srtp_ready || s->closed || s->close_pending) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_SRTP_NOT_READY, 1);
        return NGX_CALLS_IN_DROP;
    }

    if (len < 12) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_RTP_MALFORMED, 1);
        return NGX_CALLS_IN_DROP;
    }

    n = len;

    if (ngx_calls_rtp_is_rtcp(buf)) {
        rc = ngx_calls_srtp_unprotect_rtcp(&s->srtp, buf, &n);

    } else {
        rc = ngx_calls_srtp_unprotect(&s->srtp, buf, &n);
    }

    switch (rc) {

    case NGX_CALLS_SRTP_OK:
        break;

    case NGX_CALLS_SRTP_AUTH_FAIL:
        ngx_calls_count(NGX_CALLS_CNT_DROP_SRTP_AUTH, 1);
        return NGX_CALLS_IN_DROP;

    case NGX_CALLS_SRTP_REPLAY:
        ngx_calls_count(NGX_CALLS_CNT_DROP_SRTP_REPLAY, 1);
        return NGX_CALLS_IN_DROP;

    default:
        ngx_calls_count(ngx_calls_rtp_is_rtcp(buf)
                        ? NGX_CALLS_CNT_DROP_RTCP_MALFORMED
                        : NGX_CALLS_CNT_DROP_RTP_MALFORMED, 1);
        return NGX_CALLS_IN_DROP;
    }

    if (ngx_calls_rtp_is_rtcp(buf)) {
        ngx_calls_call_rtcp(s, buf, n, now);
        return NGX_CALLS_IN_OK;
    }

    ngx_calls_call_rtp(s, buf, n, arrival_us, now);

    return NGX_CALLS_IN_OK;
}


static uint64_t
ngx_calls_session_deadline(ngx_calls_session_t *s)
{
    uint64_t  d, t;

    if (!s->answered) {
        d = s->created + NGX_CALLS_SIGNALING_TIMEOUT;

    } else if (!s->connected) {
        d = s->created + NGX_CALLS_CONNECT_TIMEOUT;

    } else {
        d = s->last_check + NGX_CALLS_CONSENT_TIMEOUT;
    }

    if (s->dtls) {
        t = ngx_calls_dtls_next_timeout(s->dtls, ngx_calls_now);
        if (t && t < d) {
            d = t;
        }
    }

    t = ngx_calls_negotiate_deadline(s);
    if (t && t < d) {
        d = t;
    }

    if (s->connected && s->rtcp_at < d) {
        d = s->rtcp_at;
    }

    return d;
}


/* DTLS and SCTP callbacks */

static int
ngx_calls_dtls_send_handler(void *user, const uint8_t *buf, size_t len)
{
    return ngx_calls_session_send(user, buf, len);
}


static void
ngx_calls_dtls_data_handler(void *user, const uint8_t *buf, size_t len)
{
    ngx_calls_session_t  *s = user;

    if (s->sctp) {
        ngx_calls_sctp_input(s->sctp, buf, len);
    }
}


static int
ngx_calls_sctp_send_handler(void *user, const uint8_t *buf, size_t len)
{
    ngx_calls_session_t  *s = user;

    if (s->dtls == NULL) {
        return -1;
    }

    return ngx_calls_dtls_write(s->dtls, buf, len);
}


static void
ngx_calls_sctp_up_handler(void *user)
{
    ngx_calls_session_t  *s = user;

    s->sctp_up = 1;

    ngx_calls_log(NGX_CALLS_LOG_DEBUG, "calls: session %s: SCTP up", s->id);
}


static void
ngx_calls_sctp_down_handler(void *user)
{
    ngx_calls_session_t  *s = user;

    s->sctp_up = 0;
    s->dc_open = 0;

    if (!s->closed) {
        s->close_state = "closed";
        ngx_calls_session_fail(s, ngx_calls_now, "SCTP association ended");
    }
}


static void
ngx_calls_sctp_open_handler(void *user, uint16_t sid, const char *label,
    const char *protocol)
{
    ngx_calls_session_t  *s = user;

    if (strcmp(label, "calls-dc") != 0) {
        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: data channel "
                      "\"%s\" opened, not used", s->id, label);
        return;
    }

    if (s->dc_open) {
        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: second "
                      "calls-dc on stream %u, not used", s->id, sid);
        return;
    }

    s->dc_sid = sid;
    s->dc_open = 1;

    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: calls-dc open",
                  s->id);

    ngx_calls_event(s, NGX_CALLS_MEDIA_EV_DC_OPEN, 0, "", 0);
    ngx_calls_stat(s, NGX_CALLS_STAT_DC_OPEN_TIME,
                   (double) (ngx_calls_now - s->answered_at) / 1000, NULL);

    /* rtcd sends a joiner the existing tracks once its channel is open */
    ngx_calls_call_tracks_init(s, ngx_calls_now);
}


static void
ngx_calls_sctp_message_handler(void *user, uint16_t sid, int binary,
    const uint8_t *buf, size_t len)
{
    ngx_calls_session_t  *s = user;

    if (!s->dc_open || sid != s->dc_sid) {
        return;
    }

    ngx_calls_session_dc_message(s, binary, buf, len);
}


static void
ngx_calls_sctp_close_handler(void *user, uint16_t sid)
{
    ngx_calls_session_t  *s = user;

    if (s->dc_open && sid == s->dc_sid) {
        s->dc_open = 0;
        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: calls-dc "
                      "closed by the client", s->id);
    }
}


/* calls-dc messages (calls-common src/dc_msg.ts, rtcd service/rtc/dc.go) */

static void
ngx_calls_session_dc_message(ngx_calls_session_t *s, int binary,
    const uint8_t *buf, size_t len)
{
    long                n;
    char                err[128];
    uint8_t             out[16];
    uint8_t            *sdp;
    ngx_calls_dc_msg_t  msg;

    if (!binary) {

        /* legacy clients (mobile, npm calls-common) ping in text */

        if (len == 4 && memcmp(buf, "ping", 4) == 0) {
            (void) ngx_calls_session_dc_send(s, 0, (const uint8_t *) "pong",
                                             4);
            return;
        }

        ngx_calls_count(NGX_CALLS_CNT_DROP_DC_MALFORMED, 1);
        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: unexpected "
                      "text message on calls-dc (%zu bytes)", s->id, len);
        return;
    }

    if (ngx_calls_dc_decode(buf, len, &msg, err, sizeof(err)) != 0) {
        ngx_calls_count(NGX_CALLS_CNT_DROP_DC_MALFORMED, 1);
        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: bad calls-dc "
                      "message: %s", s->id, err);
        return;
    }

    switch (msg.type) {

    case NGX_CALLS_DC_PING:
        n = ngx_calls_dc_encode(out, sizeof(out), NGX_CALLS_DC_PONG);
        if (n > 0) {
            (void) ngx_calls_session_dc_send(s, 1, out, n);
        }
        return;

    case NGX_CALLS_DC_PONG:
        return;

    case NGX_CALLS_DC_SDP:
        if (msg.kind != NGX_CALLS_DC_BIN) {
            break;
        }

        sdp = malloc(NGX_CALLS_DC_MAX_SDP);
        if (sdp == NULL) {
            return;
        }

        n = ngx_calls_dc_inflate(msg.bin, msg.bin_len, sdp,
                                 NGX_CALLS_DC_MAX_SDP, err, sizeof(err));
        if (n < 0) {
            free(sdp);
            ngx_calls_count(NGX_CALLS_CNT_DROP_DC_MALFORMED, 1);
            ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: SDP on "
                          "calls-dc: %s", s->id, err);
            return;
        }

        (void) ngx_calls_negotiate_sdp(s, (char *) sdp, n, 1, ngx_calls_now);
        free(sdp);
        return;

    case NGX_CALLS_DC_LOSS_RATE:
    case NGX_CALLS_DC_ROUND_TRIP_TIME:
    case NGX_CALLS_DC_JITTER:
        if (msg.kind != NGX_CALLS_DC_NUMBER) {
            break;
        }

        if (msg.type == NGX_CALLS_DC_LOSS_RATE) {
            s->loss_rate = msg.number;
            ngx_calls_stat(s, NGX_CALLS_STAT_CLIENT_LOSS_RATE, msg.number,
                           NULL);

        } else if (msg.type == NGX_CALLS_DC_ROUND_TRIP_TIME) {
            s->rtt = msg.number;
            ngx_calls_stat(s, NGX_CALLS_STAT_CLIENT_RTT, msg.number, NULL);

        } else {
            s->jitter = msg.number;
            ngx_calls_stat(s, NGX_CALLS_STAT_CLIENT_JITTER, msg.number,
                           NULL);
        }

        return;

    case NGX_CALLS_DC_LOCK:

        /*
         * rtcd's TryLock: granted only when neither side negotiates; the
         * client then offers and unlocks once it has our answer
         */

        if (s->lock == NGX_CALLS_LOCK_FREE && s->sig == NGX_CALLS_SIG_STABLE)
        {
            s->lock = NGX_CALLS_LOCK_CLIENT;
            s->lock_since = ngx_calls_now;
            n = ngx_calls_dc_encode_bool(out, sizeof(out), NGX_CALLS_DC_LOCK,
                                         1);

        } else {
            n = ngx_calls_dc_encode_bool(out, sizeof(out), NGX_CALLS_DC_LOCK,
                                         0);
        }

        if (n > 0) {
            (void) ngx_calls_session_dc_send(s, 1, out, n);
        }

        return;

    case NGX_CALLS_DC_UNLOCK:

        /* the client unlocks after every answer, locked or not */

        if (s->lock == NGX_CALLS_LOCK_CLIENT) {
            s->lock = NGX_CALLS_LOCK_FREE;
            ngx_calls_negotiate_next(s, ngx_calls_now);
        }

        return;

    default:
        ngx_calls_count(NGX_CALLS_CNT_DROP_DC_MALFORMED, 1);
        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: unknown "
                      "calls-dc message type %u", s->id, msg.type);
        return;
    }

    ngx_calls_count(NGX_CALLS_CNT_DROP_DC_MALFORMED, 1);
    ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: calls-dc message "
                  "type %u with a payload of the wrong kind", s->id,
                  msg.type);
}
