
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cJSON.h>
#include <openssl/rand.h>

#include "ngx_calls_media.h"
#include "ngx_calls_peer.h"
#include "ngx_calls_stun.h"
#include "ngx_calls_srtp.h"
#include "ngx_calls_sctp.h"
#include "ngx_calls_rtp.h"


#define NGX_CALLS_PEER_MAX_CANDS     4
#define NGX_CALLS_PEER_CHECK         50      /* ms between checks, at first */
#define NGX_CALLS_PEER_CONSENT       2500    /* ms between consent checks */
#define NGX_CALLS_PEER_MAX_SDP       (256 * 1024)


typedef struct {
    struct sockaddr_storage   addr;
    socklen_t                 len;
} ngx_calls_peer_addr_t;


struct ngx_calls_peer_s {
    ngx_calls_peer_handler_t  handler;
    void                     *user;
    ngx_calls_dtls_ctx_t     *dtls_ctx;
    unsigned                  sample;
    unsigned                  rx_count;

    unsigned                  calls_dc:1;
    unsigned                  role_known:1;
    unsigned                  controlling:1; /* ICE */
    unsigned                  remote_known:1;
    unsigned                  srtp_ready:1;
    unsigned                  dc_open:1;
    unsigned                  failed:1;

    char                      ufrag[9];
    char                      pwd[25];
    ngx_calls_offer_t         desc;

    char                      remote_ufrag[NGX_CALLS_SDP_MAX_UFRAG];
    char                      remote_pwd[NGX_CALLS_SDP_MAX_PWD];
    char                      remote_fp_alg[16];
    char                      remote_fp[NGX_CALLS_SDP_MAX_FP];
    uint16_t                  remote_sctp_port;

    /* ICE: where to check, and the path in use */
    ngx_calls_peer_addr_t     cands[NGX_CALLS_PEER_MAX_CANDS];
    size_t                    ncands;
    size_t                    next_cand;
    ngx_calls_peer_addr_t     selected;
    unsigned                  has_selected:1;
    ngx_calls_stun_client_t  *stun;
    uint64_t                  tie_breaker;
    uint64_t                  next_check;

    ngx_calls_dtls_t         *dtls;
    ngx_calls_srtp_t          srtp;
    ngx_calls_sctp_t         *sctp;
    uint16_t                  dc_sid;
};


static void ngx_calls_peer_credentials(char *buf, size_t n);
static int ngx_calls_peer_describe(ngx_calls_peer_t *p, int answer);
static int ngx_calls_peer_sdp(ngx_calls_peer_t *p, const char *type,
    const char *text, uint64_t now, char *err, size_t errlen);
static int ngx_calls_peer_candidate(ngx_calls_peer_t *p, const char *line);
static void ngx_calls_peer_stun(ngx_calls_peer_t *p,
    const struct sockaddr *from, socklen_t fromlen, uint8_t *buf,
    size_t len, uint64_t now);
static void ngx_calls_peer_check(ngx_calls_peer_t *p, uint64_t now);
static void ngx_calls_peer_select(ngx_calls_peer_t *p,
    const struct sockaddr *addr, socklen_t len, uint64_t now);
static void ngx_calls_peer_dtls_state(ngx_calls_peer_t *p,
    ngx_calls_dtls_state_e state);
static void ngx_calls_peer_connected_now(ngx_calls_peer_t *p);
static void ngx_calls_peer_srtp_input(ngx_calls_peer_t *p, uint8_t *buf,
    size_t len);
static void ngx_calls_peer_fail(ngx_calls_peer_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int ngx_calls_peer_same(const struct sockaddr *a, socklen_t alen,
    const ngx_calls_peer_addr_t *b);

static int ngx_calls_peer_dtls_send(void *user, const uint8_t *buf,
    size_t len);
static void ngx_calls_peer_dtls_data(void *user, const uint8_t *buf,
    size_t len);
static int ngx_calls_peer_sctp_send(void *user, const uint8_t *buf,
    size_t len);
static void ngx_calls_peer_sctp_up(void *user);
static void ngx_calls_peer_sctp_down(void *user);
static void ngx_calls_peer_sctp_open(void *user, uint16_t sid,
    const char *label, const char *protocol);
static void ngx_calls_peer_sctp_message(void *user, uint16_t sid,
    int binary, const uint8_t *buf, size_t len);


static const ngx_calls_dtls_handler_t  ngx_calls_peer_dtls_handler = {
    ngx_calls_peer_dtls_send,
    ngx_calls_peer_dtls_data
};


static const ngx_calls_sctp_handler_t  ngx_calls_peer_sctp_handler = {
    ngx_calls_peer_sctp_send,
    ngx_calls_peer_sctp_up,
    ngx_calls_peer_sctp_down,
    ngx_calls_peer_sctp_open,
    ngx_calls_peer_sctp_message,
    NULL
};


ngx_calls_peer_t *
ngx_calls_peer_create(const ngx_calls_peer_conf_t *conf,
    const ngx_calls_peer_handler_t *handler, char *err, size_t errlen)
{
    ngx_calls_peer_t  *p;

    p = calloc(1, sizeof(ngx_calls_peer_t));
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    p->handler = *handler;
    p->user = conf->user;
    p->dtls_ctx = conf->dtls;
    p->sample = conf->sample;
    p->calls_dc = conf->calls_dc;

    ngx_calls_peer_credentials(p->ufrag, sizeof(p->ufrag) - 1);
    ngx_calls_peer_credentials(p->pwd, sizeof(p->pwd) - 1);

    if (RAND_bytes((unsigned char *) &p->tie_breaker,
                   sizeof(p->tie_breaker)) != 1)
    {
        p->tie_breaker = (uint64_t) random() << 32 | (uint64_t) random();
    }

    if (ngx_calls_offer_init(&p->desc, p->ufrag, p->pwd,
                             ngx_calls_dtls_fingerprint(conf->dtls),
                             conf->candidate)
        != 0)
    {
        snprintf(err, errlen, "candidate too long");
        free(p);
        return NULL;
    }

    p->stun = ngx_calls_stun_client_create();
    if (p->stun == NULL) {
        snprintf(err, errlen, "out of memory");
        ngx_calls_offer_free(&p->desc);
        free(p);
        return NULL;
    }

    return p;
}


void
ngx_calls_peer_free(ngx_calls_peer_t *p)
{
    if (p == NULL) {
        return;
    }

    /* SCTP first: its ABORT still travels over DTLS */
    ngx_calls_sctp_free(p->sctp);
    ngx_calls_dtls_free(p->dtls);

    if (p->srtp_ready) {
        ngx_calls_srtp_free(&p->srtp);
    }

    ngx_calls_stun_client_free(p->stun);
    ngx_calls_offer_free(&p->desc);
    free(p);
}


ngx_calls_offer_t *
ngx_calls_peer_description(ngx_calls_peer_t *p)
{
    return &p->desc;
}


int
ngx_calls_peer_connected(ngx_calls_peer_t *p)
{
    return p->srtp_ready;
}


/* ICE credentials: ice-char (RFC 8839), from a CSPRNG */

static void
ngx_calls_peer_credentials(char *buf, size_t n)
{
    size_t         i;
    unsigned char  rnd[64];

    static const char  chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    if (n > sizeof(rnd) || RAND_bytes(rnd, (int) n) != 1) {
        for (i = 0; i < n && i < sizeof(rnd); i++) {
            rnd[i] = (unsigned char) random();
        }
    }

    for (i = 0; i < n; i++) {
        buf[i] = chars[rnd[i] & 63];
    }

    buf[n] = '\0';
}


int
ngx_calls_peer_offer(ngx_calls_peer_t *p, uint64_t now)
{
    /* whoever offers first is the controlling agent (RFC 8445 6.1.1) */
    if (!p->role_known) {
        p->role_known = 1;
        p->controlling = 1;
    }

    return ngx_calls_peer_describe(p, 0);
}


static int
ngx_calls_peer_describe(ngx_calls_peer_t *p, int answer)
{
    int     rc;
    long    n;
    char   *text, *json;
    cJSON  *root;

    text = malloc(NGX_CALLS_PEER_MAX_SDP);
    if (text == NULL) {
        return -1;
    }

    n = ngx_calls_offer_build(&p->desc, answer, text,
                              NGX_CALLS_PEER_MAX_SDP);
    if (n < 0) {
        free(text);
        return -1;
    }

    rc = -1;
    json = NULL;

    root = cJSON_CreateObject();

    if (root != NULL
        && cJSON_AddStringToObject(root, "type", answer ? "answer" : "offer")
           != NULL
        && cJSON_AddStringToObject(root, "sdp", text) != NULL)
    {
        json = cJSON_PrintUnformatted(root);
    }

    if (json != NULL) {
        p->handler.signal(p->user, NGX_CALLS_RTC_SDP, json, strlen(json));
        cJSON_free(json);
        rc = 0;
    }

    cJSON_Delete(root);
    free(text);

    return rc;
}


int
ngx_calls_peer_signal(ngx_calls_peer_t *p, const char *json, size_t len,
    uint64_t now, char *err, size_t errlen)
{
    int     rc;
    cJSON  *root, *type, *sdp, *cand, *line;

    root = cJSON_ParseWithLength(json, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, errlen, "signal is not a JSON object");
        return -1;
    }

    type = cJSON_GetObjectItemCaseSensitive(root, "type");
    sdp = cJSON_GetObjectItemCaseSensitive(root, "sdp");
    cand = cJSON_GetObjectItemCaseSensitive(root, "candidate");

    rc = 0;

    if (cJSON_IsString(type) && cJSON_IsString(sdp)) {
        rc = ngx_calls_peer_sdp(p, type->valuestring, sdp->valuestring, now,
                                err, errlen);

    } else if (cand != NULL) {

        /* {"type":"candidate","candidate":{"candidate":"..."}} or bare */
        line = cJSON_IsObject(cand)
               ? cJSON_GetObjectItemCaseSensitive(cand, "candidate") : cand;

        if (cJSON_IsString(line) && line->valuestring[0] != '\0') {
            (void) ngx_calls_peer_candidate(p, line->valuestring);
        }

    } else {
        snprintf(err, errlen, "signal is neither a description nor a "
                 "candidate");
        rc = -1;
    }

    cJSON_Delete(root);

    return rc;
}


static int
ngx_calls_peer_sdp(ngx_calls_peer_t *p, const char *type, const char *text,
    uint64_t now, char *err, size_t errlen)
{
    int                     rc, is_offer;
    size_t                  i, j;
    ngx_calls_sdp_t         sdp;
    ngx_calls_sdp_media_t  *m;

    if (strcmp(type, "offer") == 0) {
        is_offer = 1;

    } else if (strcmp(type, "answer") == 0) {
        is_offer = 0;

    } else {
        snprintf(err, errlen, "description of type \"%.16s\"", type);
        return -1;
    }

    memset(&sdp, 0, sizeof(ngx_calls_sdp_t));

    rc = -1;

    if (ngx_calls_sdp_parse(&sdp, text, strlen(text), err, errlen) != 0) {
        goto done;
    }

    if (ngx_calls_offer_remote(&p->desc, &sdp, is_offer, err, errlen) != 0)
    {
        goto done;
    }

    if (!p->role_known) {
        p->role_known = 1;
        p->controlling = 0;
    }

    for (i = 0; i < sdp.nmedia; i++) {
        m = &sdp.media[i];

        if (m->port == 0) {
            continue;
        }

        if (!p->remote_known) {
            p->remote_known = 1;
            snprintf(p->remote_ufrag, sizeof(p->remote_ufrag), "%s",
                     m->ice_ufrag);
            snprintf(p->remote_pwd, sizeof(p->remote_pwd), "%s", m->ice_pwd);
            snprintf(p->remote_fp_alg, sizeof(p->remote_fp_alg), "%s",
                     m->fp_alg);
            snprintf(p->remote_fp, sizeof(p->remote_fp), "%s", m->fp);
            p->next_check = now;
        }

        if (m->kind == NGX_CALLS_SDP_APPLICATION && p->remote_sctp_port == 0)
        {
            p->remote_sctp_port = m->sctp_port ? m->sctp_port
                                               : NGX_CALLS_SCTP_DEFAULT_PORT;
        }

        for (j = 0; j < m->ncands; j++) {
            (void) ngx_calls_peer_candidate(p, m->cands[j]);
        }
    }

    rc = 0;

    if (is_offer && ngx_calls_peer_describe(p, 1) != 0) {
        snprintf(err, errlen, "our answer could not be written");
        rc = -1;
    }

done:

    ngx_calls_sdp_free(&sdp);

    return rc;
}


/* "candidate:<foundation> <component> udp <priority> <ip> <port> typ .." */

static int
ngx_calls_peer_candidate(ngx_calls_peer_t *p, const char *line)
{
    char                    proto[8], ip[64];
    size_t                  i;
    unsigned                port, component;
    struct sockaddr_in     *sin;
    struct sockaddr_in6    *sin6;
    ngx_calls_peer_addr_t   a;

    if (strncmp(line, "candidate:", 10) == 0) {
        line += 10;
    }

    if (sscanf(line, "%*s %u %7s %*u %63s %u", &component, proto, ip, &port)
        != 4
        || component != 1 || strcasecmp(proto, "udp") != 0 || port == 0
        || port > 65535)
    {
        return -1;
    }

    memset(&a, 0, sizeof(a));

    sin = (struct sockaddr_in *) &a.addr;
    sin6 = (struct sockaddr_in6 *) &a.addr;

    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t) port);
        a.len = sizeof(struct sockaddr_in);

    } else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t) port);
        a.len = sizeof(struct sockaddr_in6);

    } else {
        return -1;                        /* mDNS names and the like */
    }

    for (i = 0; i < p->ncands; i++) {
        if (ngx_calls_peer_same((struct sockaddr *) &a.addr, a.len,
                                &p->cands[i]))
        {
            return 0;
        }
    }

    if (p->ncands == NGX_CALLS_PEER_MAX_CANDS) {
        return -1;
    }

    p->cands[p->ncands++] = a;

    return 0;
}


void
ngx_calls_peer_input(ngx_calls_peer_t *p, const struct sockaddr *from,
    socklen_t fromlen, uint8_t *buf, size_t len, uint64_t now)
{
    if (len == 0 || p->failed) {
        return;
    }

    if (ngx_calls_is_stun(buf[0])) {
        ngx_calls_peer_stun(p, from, fromlen, buf, len, now);
        return;
    }

    /* DTLS and SRTP only on the path ICE chose */
    if (!p->has_selected || !ngx_calls_peer_same(from, fromlen, &p->selected))
    {
        return;
    }

    if (ngx_calls_is_dtls(buf[0])) {
        if (p->dtls != NULL) {
            ngx_calls_peer_dtls_state(p, ngx_calls_dtls_input(p->dtls, buf,
                                                              len, now));
        }

        return;
    }

    if (ngx_calls_is_rtp(buf[0])) {
        ngx_calls_peer_srtp_input(p, buf, len);
    }
}


static void
ngx_calls_peer_stun(ngx_calls_peer_t *p, const struct sockaddr *from,
    socklen_t fromlen, uint8_t *buf, size_t len, uint64_t now)
{
    size_t                   n;
    uint8_t                  out[NGX_CALLS_STUN_MAX_RESPONSE];
    ngx_calls_stun_rc_e      rc;
    ngx_calls_stun_check_t   check;

    rc = ngx_calls_stun_response(p->stun, buf, len, NULL, NULL);

    if (rc == NGX_CALLS_STUN_ANSWER) {

        /* our check came back: the first path that works is the one */
        if (!p->has_selected) {
            ngx_calls_peer_select(p, from, fromlen, now);
        }

        return;
    }

    if (rc != NGX_CALLS_STUN_NOT_REQUEST || !p->remote_known) {
        return;
    }

    /* a check of a full ICE agent (the server offered first, or Janus) */

    rc = ngx_calls_stun_process(buf, len, p->ufrag, p->pwd, p->remote_ufrag,
                                p->controlling, from, fromlen, &check, out,
                                &n);

    if (rc != NGX_CALLS_STUN_ANSWER && rc != NGX_CALLS_STUN_CONFLICT) {
        return;
    }

    (void) p->handler.send(p->user, from, fromlen, out, n);

    if (rc == NGX_CALLS_STUN_ANSWER && !p->controlling
        && (check.use_candidate || !p->has_selected))
    {
        ngx_calls_peer_select(p, from, fromlen, now);
    }
}


uint64_t
ngx_calls_peer_timer(ngx_calls_peer_t *p, uint64_t now)
{
    uint64_t  next, t;

    if (p->failed) {
        return 0;
    }

    next = 0;

    if (p->controlling && p->remote_known
        && (p->ncands > 0 || p->has_selected))
    {
        if (now >= p->next_check) {
            ngx_calls_peer_check(p, now);
        }

        next = p->next_check;
    }

    if (p->dtls != NULL) {
        t = ngx_calls_dtls_next_timeout(p->dtls, now);

        if (t && t <= now) {
            ngx_calls_peer_dtls_state(p, ngx_calls_dtls_timer(p->dtls, now));
            t = p->dtls ? ngx_calls_dtls_next_timeout(p->dtls, now) : 0;
        }

        if (t && (next == 0 || t < next)) {
            next = t;
        }
    }

    return p->failed ? 0 : next;
}


/* checks to every candidate until one answers, then consent checks */

static void
ngx_calls_peer_check(ngx_calls_peer_t *p, uint64_t now)
{
    size_t                    i, n;
    uint8_t                   buf[512];
    ngx_calls_stun_request_t  r;

    memset(&r, 0, sizeof(r));
    r.local_ufrag = p->ufrag;
    r.remote_ufrag = p->remote_ufrag;
    r.remote_pwd = p->remote_pwd;
    r.priority = 2130706431;                 /* host, RFC 8445 5.1.2.1 */
    r.tie_breaker = p->tie_breaker;
    r.controlling = 1;
    r.nominate = 1;

    if (p->has_selected) {
        n = ngx_calls_stun_request(p->stun, &r, buf, sizeof(buf));

        if (n > 0) {
            (void) p->handler.send(p->user,
                                   (struct sockaddr *) &p->selected.addr,
                                   p->selected.len, buf, n);
        }

        p->next_check = now + NGX_CALLS_PEER_CONSENT;
        return;
    }

    /*
     * One request in flight per client: the candidates take turns, each
     * with the time until the next check to answer.
     */

    i = p->next_cand++ % p->ncands;

    n = ngx_calls_stun_request(p->stun, &r, buf, sizeof(buf));

    if (n > 0) {
        (void) p->handler.send(p->user, (struct sockaddr *) &p->cands[i].addr,
                               p->cands[i].len, buf, n);
    }

    p->next_check = now + NGX_CALLS_PEER_CHECK;
}


static void
ngx_calls_peer_select(ngx_calls_peer_t *p, const struct sockaddr *addr,
    socklen_t len, uint64_t now)
{
    int  client;

    if (len > sizeof(p->selected.addr)) {
        return;
    }

    memcpy(&p->selected.addr, addr, len);
    p->selected.len = len;
    p->has_selected = 1;

    if (p->dtls != NULL) {
        return;
    }

    /* "active" in our answers: we are the DTLS client */
    client = (p->desc.answer_setup == NGX_CALLS_SDP_SETUP_ACTIVE);

    p->dtls = ngx_calls_dtls_create(p->dtls_ctx, client, p->remote_fp_alg,
                                    p->remote_fp,
                                    &ngx_calls_peer_dtls_handler, p);
    if (p->dtls == NULL) {
        ngx_calls_peer_fail(p, "DTLS setup failed (fingerprint \"%s %s\")",
                            p->remote_fp_alg, p->remote_fp);
        return;
    }

    if (ngx_calls_dtls_start(p->dtls, now) != 0) {
        ngx_calls_peer_fail(p, "DTLS handshake could not start: %s",
                            ngx_calls_dtls_error(p->dtls));
    }
}


static void
ngx_calls_peer_dtls_state(ngx_calls_peer_t *p, ngx_calls_dtls_state_e state)
{
    switch (state) {

    case NGX_CALLS_DTLS_CONNECTED:
        if (!p->srtp_ready) {
            ngx_calls_peer_connected_now(p);
        }
        break;

    case NGX_CALLS_DTLS_FAILED:
        ngx_calls_peer_fail(p, "DTLS failed: %s",
                            ngx_calls_dtls_error(p->dtls));
        break;

    case NGX_CALLS_DTLS_CLOSED:
        ngx_calls_peer_fail(p, "DTLS closed by the other side");
        break;

    default:
        break;
    }
}


static void
ngx_calls_peer_connected_now(ngx_calls_peer_t *p)
{
    int       client;
    char      err[256];
    size_t    klen;
    uint8_t   local[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t   remote[NGX_CALLS_SRTP_MAX_KEY_SALT];
    unsigned  profile;

    if (ngx_calls_dtls_srtp_keys(p->dtls, &profile, local, remote, &klen)
        != 0)
    {
        ngx_calls_peer_fail(p, "DTLS-SRTP key export failed");
        return;
    }

    if (ngx_calls_srtp_create(&p->srtp, profile, local, remote, err,
                              sizeof(err))
        != 0)
    {
        ngx_calls_peer_fail(p, "SRTP setup failed: %s", err);
        return;
    }

    p->srtp_ready = 1;

    p->handler.event(p->user, NGX_CALLS_PEER_CONNECTED, "");

    if (!p->calls_dc || p->remote_sctp_port == 0 || p->failed) {
        return;
    }

    client = (p->desc.answer_setup == NGX_CALLS_SDP_SETUP_ACTIVE);

    p->sctp = ngx_calls_sctp_create(NGX_CALLS_SCTP_DEFAULT_PORT,
                                    p->remote_sctp_port, client,
                                    &ngx_calls_peer_sctp_handler, p, err,
                                    sizeof(err));
    if (p->sctp == NULL) {
        ngx_calls_peer_fail(p, "SCTP setup failed: %s", err);
        return;
    }

    /* RFC 8832 6: the DTLS client's channels have even ids */
    p->dc_sid = client ? 0 : 1;
}


static void
ngx_calls_peer_srtp_input(ngx_calls_peer_t *p, uint8_t *buf, size_t len)
{
    size_t  n;

    if (!p->srtp_ready || len < 12) {
        return;
    }

    n = len;

    if (ngx_calls_rtp_is_rtcp(buf)) {
        if (p->handler.rtcp != NULL
            && ngx_calls_srtp_unprotect_rtcp(&p->srtp, buf, &n)
               == NGX_CALLS_SRTP_OK)
        {
            p->handler.rtcp(p->user, buf, n);
        }

        return;
    }

    /*
     * The header is in clear text: counting, loss and order need nothing
     * more.  A sample is authenticated and decrypted, which keeps the
     * receive side cheap enough to load a server from one core.
     */

    if (p->sample == 0 || ++p->rx_count % p->sample != 0) {
        p->handler.rtp(p->user, buf, len, 0);
        return;
    }

    if (ngx_calls_srtp_unprotect(&p->srtp, buf, &n) == NGX_CALLS_SRTP_OK) {
        p->handler.rtp(p->user, buf, n, 1);
    }
}


int
ngx_calls_peer_send_rtp(ngx_calls_peer_t *p, uint8_t *buf, size_t len)
{
    int  rc;

    if (!p->srtp_ready || !p->has_selected || p->failed || len < 12) {
        return -1;
    }

    if (ngx_calls_rtp_is_rtcp(buf)) {
        rc = ngx_calls_srtp_protect_rtcp(&p->srtp, buf, &len);

    } else {
        rc = ngx_calls_srtp_protect(&p->srtp, buf, &len);
    }

    if (rc != NGX_CALLS_SRTP_OK) {
        return -1;
    }

    return p->handler.send(p->user, (struct sockaddr *) &p->selected.addr,
                           p->selected.len, buf, len);
}


int
ngx_calls_peer_dc_send(ngx_calls_peer_t *p, int binary, const uint8_t *buf,
    size_t len)
{
    if (p->sctp == NULL || !p->dc_open) {
        return -1;
    }

    return ngx_calls_sctp_send(p->sctp, p->dc_sid, binary, buf, len);
}


static void
ngx_calls_peer_fail(ngx_calls_peer_t *p, const char *fmt, ...)
{
    char     text[256];
    va_list  args;

    if (p->failed) {
        return;
    }

    p->failed = 1;

    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);

    p->handler.event(p->user, NGX_CALLS_PEER_FAILED, text);
}


static int
ngx_calls_peer_same(const struct sockaddr *a, socklen_t alen,
    const ngx_calls_peer_addr_t *b)
{
    const struct sockaddr_in   *a4, *b4;
    const struct sockaddr_in6  *a6, *b6;

    if (a->sa_family != b->addr.ss_family) {
        return 0;
    }

    if (a->sa_family == AF_INET) {
        a4 = (const struct sockaddr_in *) a;
        b4 = (const struct sockaddr_in *) &b->addr;

        return a4->sin_port == b4->sin_port
               && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
    }

    if (a->sa_family == AF_INET6) {
        a6 = (const struct sockaddr_in6 *) a;
        b6 = (const struct sockaddr_in6 *) &b->addr;

        return a6->sin6_port == b6->sin6_port
               && memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
    }

    return alen == b->len && memcmp(a, &b->addr, alen) == 0;
}


/* DTLS and SCTP callbacks */

static int
ngx_calls_peer_dtls_send(void *user, const uint8_t *buf, size_t len)
{
    ngx_calls_peer_t  *p = user;

    if (!p->has_selected) {
        return -1;
    }

    return p->handler.send(p->user, (struct sockaddr *) &p->selected.addr,
                           p->selected.len, buf, len);
}


static void
ngx_calls_peer_dtls_data(void *user, const uint8_t *buf, size_t len)
{
    ngx_calls_peer_t  *p = user;

    if (p->sctp != NULL) {
        ngx_calls_sctp_input(p->sctp, buf, len);
    }
}


static int
ngx_calls_peer_sctp_send(void *user, const uint8_t *buf, size_t len)
{
    ngx_calls_peer_t  *p = user;

    if (p->dtls == NULL) {
        return -1;
    }

    return ngx_calls_dtls_write(p->dtls, buf, len);
}


static void
ngx_calls_peer_sctp_up(void *user)
{
    ngx_calls_peer_t  *p = user;

    /* what createDataChannel("calls-dc") does once SCTP is up */
    if (ngx_calls_sctp_open(p->sctp, p->dc_sid, "calls-dc", "") != 0) {
        ngx_calls_peer_fail(p, "calls-dc could not be opened");
    }
}


static void
ngx_calls_peer_sctp_down(void *user)
{
    ngx_calls_peer_t  *p = user;

    p->dc_open = 0;
    ngx_calls_peer_fail(p, "SCTP association ended");
}


static void
ngx_calls_peer_sctp_open(void *user, uint16_t sid, const char *label,
    const char *protocol)
{
    ngx_calls_peer_t  *p = user;

    if (sid != p->dc_sid || p->dc_open) {
        return;
    }

    p->dc_open = 1;
    p->handler.event(p->user, NGX_CALLS_PEER_DC_OPEN, "");
}


static void
ngx_calls_peer_sctp_message(void *user, uint16_t sid, int binary,
    const uint8_t *buf, size_t len)
{
    ngx_calls_peer_t  *p = user;

    if (sid == p->dc_sid && p->handler.dc != NULL) {
        p->handler.dc(p->user, binary, buf, len);
    }
}
