
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * SRTP unit tests: both profiles, RTP and RTCP round trips, replay,
 * authentication failure, the outbound repeat allowance, the inbound
 * replay window, and keys that come out of a real DTLS handshake.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_calls_dtls.h"
#include "ngx_calls_srtp.h"
#include "tap.h"


#define PAYLOAD      160
#define RTP_LEN      (12 + PAYLOAD)
#define SR_LEN       28
#define BUF_SIZE     (RTP_LEN + NGX_CALLS_SRTP_TRAILER)


static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t) (seed + i * 7);
    }
}


static size_t
rtp(uint8_t *buf, uint16_t seq, uint32_t ssrc)
{
    uint32_t  ts;

    ts = (uint32_t) seq * 960;

    buf[0] = 0x80;
    buf[1] = 111;
    buf[2] = (uint8_t) (seq >> 8);
    buf[3] = (uint8_t) seq;
    buf[4] = (uint8_t) (ts >> 24);
    buf[5] = (uint8_t) (ts >> 16);
    buf[6] = (uint8_t) (ts >> 8);
    buf[7] = (uint8_t) ts;
    buf[8] = (uint8_t) (ssrc >> 24);
    buf[9] = (uint8_t) (ssrc >> 16);
    buf[10] = (uint8_t) (ssrc >> 8);
    buf[11] = (uint8_t) ssrc;

    fill(buf + 12, PAYLOAD, (uint8_t) seq);

    return RTP_LEN;
}


/* a sender report without report blocks */

static size_t
sr(uint8_t *buf, uint32_t ssrc)
{
    memset(buf, 0, SR_LEN);

    buf[0] = 0x80;
    buf[1] = 200;
    buf[2] = 0;
    buf[3] = SR_LEN / 4 - 1;
    buf[4] = (uint8_t) (ssrc >> 24);
    buf[5] = (uint8_t) (ssrc >> 16);
    buf[6] = (uint8_t) (ssrc >> 8);
    buf[7] = (uint8_t) ssrc;

    fill(buf + 8, SR_LEN - 8, 0x5a);

    return SR_LEN;
}


static void
test_profile(unsigned profile, const char *name, size_t tag)
{
    int                rc;
    char               err[256], t[128];
    size_t             len, plen, len2;
    uint8_t            k1[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t            k2[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t            orig[BUF_SIZE], buf[BUF_SIZE], prot[BUF_SIZE];
    uint8_t            buf2[BUF_SIZE];
    ngx_calls_srtp_t   a, b;

#define T(s)  (snprintf(t, sizeof(t), "%s: %s", name, s), t)

    fill(k1, sizeof(k1), 1);
    fill(k2, sizeof(k2), 99);

    rc = ngx_calls_srtp_create(&a, profile, k1, k2, err, sizeof(err));
    is_int(rc, 0, T("create A (local K1, remote K2)"));
    rc = ngx_calls_srtp_create(&b, profile, k2, k1, err, sizeof(err));
    is_int(rc, 0, T("create B (local K2, remote K1)"));
    is_int(a.profile, profile, T("profile recorded"));

    if (a.in == NULL || b.in == NULL) {
        diag("%s", err);
        return;
    }

    /* RTP */

    len = rtp(orig, 1000, 0x11223344);
    memcpy(buf, orig, len);

    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_OK,
           T("protect RTP"));
    is_int(len, RTP_LEN + tag, T("the tag is appended"));
    ok(memcmp(buf, orig, 12) == 0, T("header in the clear"));
    ok(memcmp(buf + 12, orig + 12, PAYLOAD) != 0, T("payload encrypted"));

    memcpy(prot, buf, len);
    plen = len;

    is_int(ngx_calls_srtp_unprotect(&b, buf, &len), NGX_CALLS_SRTP_OK,
           T("unprotect RTP"));
    is_int(len, RTP_LEN, T("length restored"));
    is_mem(buf, orig, RTP_LEN, T("packet identical"));

    memcpy(buf, prot, plen);
    len = plen;
    is_int(ngx_calls_srtp_unprotect(&b, buf, &len), NGX_CALLS_SRTP_REPLAY,
           T("replayed RTP"));

    memcpy(buf, prot, plen);
    len = plen;
    is_int(ngx_calls_srtp_unprotect(&a, buf, &len), NGX_CALLS_SRTP_AUTH_FAIL,
           T("our own packet does not pass our inbound key"));

    len = rtp(buf, 1001, 0x11223344);
    (void) ngx_calls_srtp_protect(&a, buf, &len);
    memcpy(prot, buf, len);
    plen = len;

    buf[40] ^= 0x04;
    is_int(ngx_calls_srtp_unprotect(&b, buf, &len), NGX_CALLS_SRTP_AUTH_FAIL,
           T("flipped payload bit"));

    memcpy(buf, prot, plen);
    len = plen;
    buf[plen - 1] ^= 0x80;
    is_int(ngx_calls_srtp_unprotect(&b, buf, &len), NGX_CALLS_SRTP_AUTH_FAIL,
           T("flipped tag bit"));

    memcpy(buf, prot, plen);
    len = plen;
    is_int(ngx_calls_srtp_unprotect(&b, buf, &len), NGX_CALLS_SRTP_OK,
           T("the intact packet still passes after the forgeries"));

    /* retransmission of a packet already sent (NACK answer) */

    len = rtp(buf, 2000, 0x11223344);
    len2 = rtp(buf2, 2000, 0x11223344);
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_OK,
           T("protect seq 2000"));
    is_int(ngx_calls_srtp_protect(&a, buf2, &len2), NGX_CALLS_SRTP_OK,
           T("protect seq 2000 again (allow_repeat_tx)"));
    ok(len == len2 && memcmp(buf, buf2, len) == 0,
       T("same packet, same bytes"));

    /* the peer takes the first copy, drops the second as a replay */
    is_int(ngx_calls_srtp_unprotect(&b, buf, &len), NGX_CALLS_SRTP_OK,
           T("peer accepts it once"));
    is_int(ngx_calls_srtp_unprotect(&b, buf2, &len2), NGX_CALLS_SRTP_REPLAY,
           T("and the repeat is a replay"));

    /* the other direction */

    len = rtp(orig, 7, 0xcafe0001);
    memcpy(buf, orig, len);
    is_int(ngx_calls_srtp_protect(&b, buf, &len), NGX_CALLS_SRTP_OK,
           T("B protects"));
    is_int(ngx_calls_srtp_unprotect(&a, buf, &len), NGX_CALLS_SRTP_OK,
           T("A unprotects"));
    ok(len == RTP_LEN && memcmp(buf, orig, len) == 0, T("B to A intact"));

    /* RTCP */

    len = sr(orig, 0x11223344);
    memcpy(buf, orig, len);

    is_int(ngx_calls_srtp_protect_rtcp(&a, buf, &len), NGX_CALLS_SRTP_OK,
           T("protect RTCP"));
    is_int(len, SR_LEN + 4 + tag, T("SRTCP index and tag appended"));
    ok(memcmp(buf + 8, orig + 8, SR_LEN - 8) != 0, T("report encrypted"));

    memcpy(prot, buf, len);
    plen = len;

    is_int(ngx_calls_srtp_unprotect_rtcp(&b, buf, &len), NGX_CALLS_SRTP_OK,
           T("unprotect RTCP"));
    is_int(len, SR_LEN, T("RTCP length restored"));
    is_mem(buf, orig, SR_LEN, T("RTCP identical"));

    memcpy(buf, prot, plen);
    len = plen;
    is_int(ngx_calls_srtp_unprotect_rtcp(&b, buf, &len),
           NGX_CALLS_SRTP_REPLAY, T("replayed RTCP"));

    len = sr(buf, 0x11223344);
    (void) ngx_calls_srtp_protect_rtcp(&a, buf, &len);
    buf[10] ^= 0x01;
    is_int(ngx_calls_srtp_unprotect_rtcp(&b, buf, &len),
           NGX_CALLS_SRTP_AUTH_FAIL, T("flipped RTCP bit"));

    /* malformed */

    len = 5;
    is_int(ngx_calls_srtp_unprotect(&b, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("5-byte RTP is malformed"));

    ngx_calls_srtp_free(&a);
    ngx_calls_srtp_free(&b);

    ok(a.in == NULL && a.out == NULL, T("freed"));
    ngx_calls_srtp_free(&a);

#undef T
}


static void
test_window(void)
{
    int                rc;
    char               err[256];
    size_t             len[1101];
    uint8_t            k1[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t            k2[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint16_t           seq;
    ngx_calls_srtp_t   a, b;
    static uint8_t     pkt[1101][BUF_SIZE];

    fill(k1, sizeof(k1), 3);
    fill(k2, sizeof(k2), 4);

    rc = ngx_calls_srtp_create(&a, NGX_CALLS_SRTP_AEAD_AES_128_GCM, k1, k2,
                               err, sizeof(err));
    rc |= ngx_calls_srtp_create(&b, NGX_CALLS_SRTP_AEAD_AES_128_GCM, k2, k1,
                                err, sizeof(err));
    is_int(rc, 0, "window: contexts");

    if (rc != 0) {
        return;
    }

    rc = 0;

    for (seq = 1; seq <= 1100; seq++) {
        len[seq] = rtp(pkt[seq], seq, 0xabcdef01);
        rc |= ngx_calls_srtp_protect(&a, pkt[seq], &len[seq]);
    }

    is_int(rc, 0, "window: 1100 packets protected");

    is_int(ngx_calls_srtp_unprotect(&b, pkt[1100], &len[1100]),
           NGX_CALLS_SRTP_OK, "window: newest first");
    is_int(ngx_calls_srtp_unprotect(&b, pkt[200], &len[200]),
           NGX_CALLS_SRTP_OK, "window: 900 behind still accepted");
    is_int(ngx_calls_srtp_unprotect(&b, pkt[50], &len[50]),
           NGX_CALLS_SRTP_REPLAY, "window: 1050 behind is too old");

    ngx_calls_srtp_free(&a);
    ngx_calls_srtp_free(&b);
}


/* a DTLS handshake between two of our associations, for real keys */

typedef struct {
    uint8_t            pkt[32][NGX_CALLS_DTLS_MTU];
    size_t             len[32];
    unsigned           n;
} queue_t;


static int
send_cb(void *user, const uint8_t *buf, size_t len)
{
    queue_t  *q = user;

    if (q->n == 32 || len > NGX_CALLS_DTLS_MTU) {
        return -1;
    }

    memcpy(q->pkt[q->n], buf, len);
    q->len[q->n++] = len;

    return 0;
}


static void
data_cb(void *user, const uint8_t *buf, size_t len)
{
}


static int
flush(queue_t *q, ngx_calls_dtls_t *to, uint64_t now)
{
    int       moved;
    unsigned  i, n;

    n = q->n;
    q->n = 0;
    moved = (int) n;

    for (i = 0; i < n; i++) {
        (void) ngx_calls_dtls_input(to, q->pkt[i], q->len[i], now);
    }

    return moved;
}


static void
test_dtls_keys(void)
{
    int                        i, rc;
    char                       err[256];
    size_t                     cl, sl, len;
    uint8_t                    cloc[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                    crem[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                    sloc[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                    srem[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                    orig[BUF_SIZE], buf[BUF_SIZE];
    uint64_t                   now;
    unsigned                   cp, sp;
    ngx_calls_srtp_t           cs, ss;
    ngx_calls_dtls_t          *c, *s;
    ngx_calls_dtls_ctx_t      *cctx, *sctx;
    ngx_calls_dtls_handler_t   ch, sh;
    static queue_t             cq, sq;

    ch.send = send_cb;
    ch.data = data_cb;
    sh = ch;

    cctx = ngx_calls_dtls_ctx_create(NULL, NULL, err, sizeof(err));
    sctx = ngx_calls_dtls_ctx_create(NULL, NULL, err, sizeof(err));
    ok(cctx != NULL && sctx != NULL, "dtls: contexts");

    if (cctx == NULL || sctx == NULL) {
        diag("%s", err);
        ngx_calls_dtls_ctx_free(cctx);
        ngx_calls_dtls_ctx_free(sctx);
        return;
    }

    c = ngx_calls_dtls_create(cctx, 1, "sha-256",
                              ngx_calls_dtls_fingerprint(sctx), &ch, &cq);
    s = ngx_calls_dtls_create(sctx, 0, "sha-256",
                              ngx_calls_dtls_fingerprint(cctx), &sh, &sq);

    now = 1000;

    if (c != NULL && s != NULL && ngx_calls_dtls_start(c, now) == 0) {
        for (i = 0; i < 20; i++) {
            if (flush(&cq, s, now) + flush(&sq, c, now) == 0) {
                break;
            }

            now += 10;
        }
    }

    ok(c != NULL && s != NULL
       && ngx_calls_dtls_state(c) == NGX_CALLS_DTLS_CONNECTED
       && ngx_calls_dtls_state(s) == NGX_CALLS_DTLS_CONNECTED,
       "dtls: handshake");

    rc = -1;

    if (c != NULL && s != NULL) {
        rc = ngx_calls_dtls_srtp_keys(c, &cp, cloc, crem, &cl);
        rc |= ngx_calls_dtls_srtp_keys(s, &sp, sloc, srem, &sl);
    }

    ok(rc == 0 && cp == sp && cl == sl, "dtls: keys");

    if (rc == 0) {
        rc = ngx_calls_srtp_create(&cs, cp, cloc, crem, err, sizeof(err));
        rc |= ngx_calls_srtp_create(&ss, sp, sloc, srem, err, sizeof(err));
        is_int(rc, 0, "dtls: SRTP contexts from the exported keys");

        len = rtp(orig, 42, 0x01020304);
        memcpy(buf, orig, len);

        ok(ngx_calls_srtp_protect(&cs, buf, &len) == NGX_CALLS_SRTP_OK
           && ngx_calls_srtp_unprotect(&ss, buf, &len) == NGX_CALLS_SRTP_OK
           && len == RTP_LEN && memcmp(buf, orig, len) == 0,
           "dtls: client to server RTP");

        len = sr(orig, 0x05060708);
        memcpy(buf, orig, len);

        ok(ngx_calls_srtp_protect_rtcp(&ss, buf, &len) == NGX_CALLS_SRTP_OK
           && ngx_calls_srtp_unprotect_rtcp(&cs, buf, &len)
              == NGX_CALLS_SRTP_OK
           && len == SR_LEN && memcmp(buf, orig, len) == 0,
           "dtls: server to client RTCP");

        ngx_calls_srtp_free(&cs);
        ngx_calls_srtp_free(&ss);
    }

    ngx_calls_dtls_free(c);
    ngx_calls_dtls_free(s);
    ngx_calls_dtls_ctx_free(cctx);
    ngx_calls_dtls_ctx_free(sctx);
}


int
main(void)
{
    char              err[256];
    uint8_t           key[NGX_CALLS_SRTP_MAX_KEY_SALT];
    ngx_calls_srtp_t  s;

    memset(key, 1, sizeof(key));

    err[0] = '\0';
    is_int(ngx_calls_srtp_create(&s, NGX_CALLS_SRTP_AES128_CM_SHA1_80, key,
                                 key, err, sizeof(err)), -1,
           "create before init fails");
    ok(strstr(err, "not initialized") != NULL, "and says so");

    is_int(ngx_calls_srtp_init(), 0, "init");
    is_int(ngx_calls_srtp_init(), 0, "init again");

    err[0] = '\0';
    is_int(ngx_calls_srtp_create(&s, 0x0002, key, key, err, sizeof(err)),
           -1, "AES-CM-32 is not supported");
    ok(strstr(err, "0x0002") != NULL, "error names the profile");
    ok(s.in == NULL && s.out == NULL, "nothing allocated");

    test_profile(NGX_CALLS_SRTP_AES128_CM_SHA1_80, "AES-CM-80", 10);
    test_profile(NGX_CALLS_SRTP_AEAD_AES_128_GCM, "AEAD-GCM-128", 16);
    test_window();
    test_dtls_keys();

    return done_testing();
}
