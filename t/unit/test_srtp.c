
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * SRTP unit tests: both profiles, RTP and RTCP round trips, replay,
 * authentication failure, the outbound repeat allowance, the inbound
 * replay window, and keys that come out of a real DTLS handshake; the
 * RFC 3711 (B.2, B.3) and RFC 7714 (16.1.1, 17.1) test vectors; the SSRC
 * table bound; and a cross-check against libsrtp2 as the oracle, which
 * only this test links.
 *
 * White box: the implementation is included, so that its key derivation,
 * keystream and session key setup can be fed the RFCs' vectors.  The
 * object of the library archive is then never pulled in.
 */


#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "ngx_calls_dtls.h"
#include "ngx_calls_srtp.c"
#include "tap.h"
#include "libsrtp_oracle.h"


/* the oracle's replay window is ours */
_Static_assert(NGX_CALLS_SRTP_WINDOW == 1024,
               "libsrtp_oracle.h: window_size differs from ours");


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


/* RFC test vectors */

static void
unhex(uint8_t *out, const char *hex)
{
    unsigned  v;

    while (hex[0] && hex[1]) {
        if (sscanf(hex, "%2x", &v) != 1) {
            return;
        }

        *out++ = (uint8_t) v;
        hex += 2;
    }
}


static void
test_rfc3711(void)
{
    size_t           n;
    uint8_t          key[16], salt[14], iv[16], out[20], want[20];
    uint8_t         *ks;
    EVP_CIPHER_CTX  *ecb;

    /* B.2: AES-CM keystream, counter blocks 0, 1, 2, 0xfeff ... 0xff01 */

    unhex(key, "2B7E151628AED2A6ABF7158809CF4F3C");
    unhex(iv, "F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");

    n = 0xff02 * 16;
    ks = calloc(1, n);
    ecb = ngx_calls_srtp_cipher(ngx_calls_srtp_ecb, key, 1);

    ok(ks != NULL && ecb != NULL
       && ngx_calls_srtp_cm_xor(ecb, iv, ks, n) == 0,
       "B.2: AES-CM keystream of 0xff02 blocks");

    if (ks != NULL) {
        unhex(want, "E03EAD0935C95E80E166B16DD92B4EB4");
        is_mem(ks, want, 16, "B.2: block 0000");
        unhex(want, "D23513162B02D0F72A43A2FE4A5F97AB");
        is_mem(ks + 16, want, 16, "B.2: block 0001");
        unhex(want, "41E95B3BB0A2E8DD477901E4FCA894C0");
        is_mem(ks + 32, want, 16, "B.2: block 0002");
        unhex(want, "EC8CDF7398607CB0F2D21675EA9EA1E4");
        is_mem(ks + 0xfeff * 16, want, 16, "B.2: block feff");
        unhex(want, "362B7C3C6773516318A077D7FC5073AE");
        is_mem(ks + 0xff00 * 16, want, 16, "B.2: block ff00");
        unhex(want, "6A2CC3787889374FBEB4C81B17BA6C44");
        is_mem(ks + 0xff01 * 16, want, 16, "B.2: block ff01");
    }

    free(ks);
    EVP_CIPHER_CTX_free(ecb);

    /* B.3: key derivation, kdr 0 */

    unhex(key, "E1F97A0D3E018BE0D64FA32C06DE4139");
    unhex(salt, "0EC675AD498AFEEBB6960B3AABE6");

    ecb = ngx_calls_srtp_cipher(ngx_calls_srtp_ecb, key, 1);
    ok(ecb != NULL, "B.3: master key context");

    if (ecb == NULL) {
        return;
    }

    unhex(want, "C61E7A93744F39EE10734AFE3FF7A087");
    ok(ngx_calls_srtp_kdf(ecb, salt, 0x00, out, 16) == 0
       && memcmp(out, want, 16) == 0, "B.3: cipher key");

    unhex(want, "30CBBC08863D8C85D49DB34A9AE1");
    ok(ngx_calls_srtp_kdf(ecb, salt, 0x02, out, 14) == 0
       && memcmp(out, want, 14) == 0, "B.3: cipher salt");

    unhex(want, "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4");
    ok(ngx_calls_srtp_kdf(ecb, salt, 0x01, out, 20) == 0
       && memcmp(out, want, 20) == 0, "B.3: auth key (first 160 bits)");

    EVP_CIPHER_CTX_free(ecb);
}


/* RFC 7714 states its vectors with session keys: set them directly */

static int
gcm_session(ngx_calls_srtp_t *s)
{
    int                    rc;
    ngx_calls_srtp_keys_t  k;

    memset(&k, 0, sizeof(k));
    unhex(k.rtp_key, "000102030405060708090a0b0c0d0e0f");
    unhex(k.rtp_salt, "517569642070726f2071756f");
    memcpy(k.rtcp_key, k.rtp_key, 16);
    memcpy(k.rtcp_salt, k.rtp_salt, 12);

    s->profile = NGX_CALLS_SRTP_AEAD_AES_128_GCM;
    s->in = ngx_calls_srtp_dir_alloc(s->profile, 1);
    s->out = ngx_calls_srtp_dir_alloc(s->profile, 0);

    rc = (s->in != NULL && s->out != NULL
          && ngx_calls_srtp_dir_keys(s->in, &k) == 0
          && ngx_calls_srtp_dir_keys(s->out, &k) == 0) ? 0 : -1;

    return rc;
}


static void
test_rfc7714(void)
{
    size_t                    len;
    uint8_t                   plain[128], prot[128], buf[128 + 144];
    ngx_calls_srtp_t          s;
    ngx_calls_srtp_stream_t  *st;

    static const char  rtp[] =
        "8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e697320646976"
        "69736120696e207061727465732074726573";
    static const char  srtp[] =
        "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd5"
        "0d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee439"
        "0cce";
    static const char  rtcp[] =
        "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61"
        "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";
    static const char  srtcp[] =
        "81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32d"
        "c676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf872"
        "45d9eade800005d4";

    if (gcm_session(&s) != 0) {
        ok(0, "7714: session keys");
        ngx_calls_srtp_free(&s);
        return;
    }

    /* 16.1.1: the first packet of its SSRC, ROC 0 */

    unhex(plain, rtp);
    unhex(prot, srtp);
    memcpy(buf, plain, 50);
    len = 50;

    is_int(ngx_calls_srtp_protect(&s, buf, &len), NGX_CALLS_SRTP_OK,
           "7714 16.1.1: protect");
    ok(len == 66 && memcmp(buf, prot, 66) == 0,
       "7714 16.1.1: the RFC's ciphertext and tag");

    memcpy(buf, prot, 66);
    len = 66;
    ok(ngx_calls_srtp_unprotect(&s, buf, &len) == NGX_CALLS_SRTP_OK
       && len == 50 && memcmp(buf, plain, 50) == 0,
       "7714 16.1.1: unprotect");

    /*
     * 17.1: SRTCP index 0x5d4, the tag before E|index; the packet the
     * subsections encrypt is 52 bytes, whatever its length field says
     */

    unhex(plain, rtcp);
    unhex(prot, srtcp);
    memcpy(buf, prot, 72);
    len = 72;
    ok(ngx_calls_srtp_unprotect_rtcp(&s, buf, &len) == NGX_CALLS_SRTP_OK
       && len == 52 && memcmp(buf, plain, 52) == 0,
       "7714 17.1: unprotect");

    memcpy(buf, plain, 52);
    len = 52;
    (void) ngx_calls_srtp_protect_rtcp(&s, buf, &len);

    st = ngx_calls_srtp_find(s.out, 0x4d617273);
    ok(st != NULL && st->rtcp_index == 1, "7714 17.1: first index 1");

    if (st != NULL) {
        st->rtcp_index = 0x5d3;
    }

    memcpy(buf, plain, 52);
    len = 52;
    ok(ngx_calls_srtp_protect_rtcp(&s, buf, &len) == NGX_CALLS_SRTP_OK
       && len == 72 && memcmp(buf, prot, 72) == 0,
       "7714 17.1: protect at index 0x5d4");

    ngx_calls_srtp_free(&s);
}


/* malformed input, and the SSRC table of each direction */

static void
test_malformed(unsigned profile, const char *name)
{
    int                    rc, i;
    char                   err[256], t[128];
    size_t                 len;
    uint8_t                k1[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                k2[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                buf[BUF_SIZE], prot[BUF_SIZE];
    ngx_calls_srtp_t       a, b;
    ngx_calls_srtp_dir_t  *in;

#define T(s)  (snprintf(t, sizeof(t), "%s: %s", name, s), t)

    fill(k1, sizeof(k1), 7);
    fill(k2, sizeof(k2), 8);

    rc = ngx_calls_srtp_create(&a, profile, k1, k2, err, sizeof(err));
    rc |= ngx_calls_srtp_create(&b, profile, k2, k1, err, sizeof(err));
    is_int(rc, 0, T("contexts"));

    if (rc != 0) {
        return;
    }

    len = rtp(buf, 1, 1);
    buf[0] = 0x40;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: RTP version 1"));

    len = 11;
    buf[0] = 0x80;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: 11 bytes"));

    len = 12 + 4 * 14;
    rtp(buf, 1, 1);
    buf[0] = 0x8f;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: 15 CSRCs in 68 bytes"));

    len = 12 + 4 + 8;
    rtp(buf, 1, 1);
    buf[0] = 0x90;
    buf[12] = 0xbe;
    buf[13] = 0xde;
    buf[14] = 0;
    buf[15] = 3;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: extension longer than the packet"));

    len = 12 + 2;
    buf[0] = 0x90;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: X bit, no room for the extension header"));

    len = rtp(buf, 1, 1);
    buf[0] = 0xa0;
    buf[len - 1] = 0;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: padding count 0"));

    len = rtp(buf, 1, 1);
    buf[0] = 0xa0;
    buf[len - 1] = PAYLOAD + 1;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: padding longer than the payload"));

    len = 12;
    rtp(buf, 1, 1);
    buf[0] = 0xa0;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: P bit without a payload"));

    len = rtp(buf, 1, 1);
    buf[0] = 0xa0;
    buf[len - 1] = PAYLOAD;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_OK,
           T("protect: a payload of padding only"));
    is_int(ngx_calls_srtp_unprotect(&b, buf, &len), NGX_CALLS_SRTP_OK,
           T("unprotect: a payload of padding only"));

    /* an authentic packet whose padding is bogus */
    len = rtp(buf, 2, 1);
    (void) ngx_calls_srtp_protect(&a, buf, &len);
    memcpy(prot, buf, len);

    for (i = 0; i < 12; i++) {
        len = 12 + i;
        memcpy(buf, prot, BUF_SIZE);
        rc = ngx_calls_srtp_unprotect(&b, buf, &len);

        if (rc != NGX_CALLS_SRTP_ERROR && rc != NGX_CALLS_SRTP_AUTH_FAIL) {
            break;
        }
    }

    ok(i == 12, T("unprotect: truncated packets refused"));

    len = 5;
    is_int(ngx_calls_srtp_unprotect_rtcp(&b, buf, &len),
           NGX_CALLS_SRTP_ERROR, T("unprotect RTCP: 5 bytes"));

    len = 8 + 4 + (profile == NGX_CALLS_SRTP_AEAD_AES_128_GCM ? 16 : 10);
    memset(buf, 0, len);
    buf[0] = 0x80;
    buf[1] = 200;
    is_int(ngx_calls_srtp_unprotect_rtcp(&b, buf, &len),
           NGX_CALLS_SRTP_ERROR, T("unprotect RTCP: E flag clear"));

    len = 4;
    is_int(ngx_calls_srtp_protect_rtcp(&a, buf, &len),
           NGX_CALLS_SRTP_ERROR, T("protect RTCP: 4 bytes"));

    len = NGX_CALLS_SRTP_MAX_LEN + 1;
    is_int(ngx_calls_srtp_protect(&a, buf, &len), NGX_CALLS_SRTP_ERROR,
           T("protect: longer than 65535"));

    /* forgeries from new SSRCs leave no state behind */

    in = b.in;
    rc = (int) in->nstreams;

    for (i = 0; i < 200; i++) {
        len = rtp(buf, 5, 0x70000000 + i);
        (void) ngx_calls_srtp_protect(&a, buf, &len);
        buf[len - 1] ^= 1;
        (void) ngx_calls_srtp_unprotect(&b, buf, &len);
    }

    is_int(in->nstreams, rc, T("forged packets of 200 SSRCs: no state"));

    /* authentic ones: up to NGX_CALLS_SRTP_MAX_IN, the oldest evicted */

    for (i = 0; i < 100; i++) {
        len = rtp(buf, 5, 0x60000000 + i);
        (void) ngx_calls_srtp_protect(&a, buf, &len);
        rc = ngx_calls_srtp_unprotect(&b, buf, &len);

        if (rc != NGX_CALLS_SRTP_OK) {
            break;
        }
    }

    ok(i == 100, T("100 SSRCs accepted"));
    is_int(in->nstreams, NGX_CALLS_SRTP_MAX_IN, T("inbound states bounded"));
    ok(ngx_calls_srtp_find(in, 0x60000000 + 99) != NULL
       && ngx_calls_srtp_find(in, 0x60000000) == NULL,
       T("the newest kept, the least recently used evicted"));

    ngx_calls_srtp_free(&a);
    ngx_calls_srtp_free(&b);

#undef T
}


/* libsrtp2 as the oracle */

static uint64_t  rng = 0x9e3779b97f4a7c15ULL;


static uint32_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return (uint32_t) (rng >> 11);
}


static int
lib_code(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok:
        return NGX_CALLS_SRTP_OK;
    case srtp_err_status_auth_fail:
        return NGX_CALLS_SRTP_AUTH_FAIL;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
        return NGX_CALLS_SRTP_REPLAY;
    default:
        return NGX_CALLS_SRTP_ERROR;
    }
}


#define X_MAX      1500
#define X_SSRCS    3
#define X_RTP      2400
#define X_RTCP     400


typedef struct {
    uint8_t            plain[X_MAX];
    size_t             plen;
    uint8_t            prot[X_MAX + NGX_CALLS_SRTP_TRAILER];
    size_t             len;
} x_pkt_t;


/* a random RTP packet: CSRCs, a header extension, padding, 0-1200 bytes */

static size_t
x_rtp(uint8_t *p, uint16_t seq, uint32_t ssrc)
{
    size_t    n, i, cc, ext, data, pad;
    uint32_t  ts;

    cc = (rnd() % 4 == 0) ? rnd() % 16 : 0;
    ext = (rnd() % 2) ? 1 + rnd() % 6 : 0;
    data = (rnd() % 8 == 0) ? rnd() % 1200 : rnd() % 200;
    pad = (rnd() % 6 == 0) ? 1 + rnd() % 32 : 0;
    ts = (uint32_t) seq * 960;

    p[0] = (uint8_t) (0x80 | (pad ? 0x20 : 0) | (ext ? 0x10 : 0) | cc);
    p[1] = (uint8_t) ((rnd() & 0x80) | 111);
    p[2] = (uint8_t) (seq >> 8);
    p[3] = (uint8_t) seq;
    ngx_calls_put32(p + 4, ts);
    ngx_calls_put32(p + 8, ssrc);
    n = 12;

    for (i = 0; i < cc; i++, n += 4) {
        ngx_calls_put32(p + n, rnd());
    }

    if (ext) {
        p[n] = 0xbe;
        p[n + 1] = 0xde;
        p[n + 2] = 0;
        p[n + 3] = (uint8_t) (ext - 1);
        n += 4;

        for (i = 0; i < 4 * (ext - 1); i++) {
            p[n++] = (uint8_t) rnd();
        }
    }

    for (i = 0; i < data; i++) {
        p[n++] = (uint8_t) rnd();
    }

    if (pad) {
        memset(p + n, 0, pad - 1);
        n += pad;
        p[n - 1] = (uint8_t) pad;
    }

    return n;
}


/* a random RTCP compound: 8 to 600 bytes, a multiple of 4 */

static size_t
x_rtcp(uint8_t *p, uint32_t ssrc)
{
    size_t  n, i;

    n = 8 + 4 * (rnd() % 149);

    p[0] = 0x81;
    p[1] = (rnd() % 2) ? 200 : 201;
    p[2] = (uint8_t) ((n / 4 - 1) >> 8);
    p[3] = (uint8_t) (n / 4 - 1);
    ngx_calls_put32(p + 4, ssrc);

    for (i = 8; i < n; i++) {
        p[i] = (uint8_t) rnd();
    }

    return n;
}


/*
 * Ours protects: libsrtp, with the same key, must produce the same bytes
 * and its inbound must accept them.  The sequence numbers wrap, go out
 * of order, and some packets are sent again (NACK answers).
 */

static void
x_send(unsigned profile, const char *name, int rtcp)
{
    int                        st, want, fails, same, ours, got;
    int                        replays;
    char                       t[128], err[256];
    size_t                     i, k, n;
    uint8_t                    key[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                    peer[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint16_t                   seq[X_SSRCS];
    uint32_t                   ssrc;
    unsigned                   r;
    srtp_t                     lib_ref, lib_in;
    x_pkt_t                   *p, *q;
    ngx_calls_srtp_t           s;
    ngx_calls_srtp_stream_t   *x;
    static x_pkt_t             pkts[X_RTP];
    static uint8_t             ref[X_MAX + NGX_CALLS_SRTP_TRAILER];

#define T(s)  (snprintf(t, sizeof(t), "%s %s: %s", name, \
                        rtcp ? "RTCP" : "RTP", s), t)

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t) rnd();
        peer[i] = (uint8_t) rnd();
    }

    lib_ref = libsrtp_create(profile, key, 0);
    lib_in = libsrtp_create(profile, key, 1);

    if (lib_ref == NULL || lib_in == NULL
        || ngx_calls_srtp_create(&s, profile, key, peer, err, sizeof(err))
           != 0)
    {
        ok(0, T("contexts"));
        return;
    }

    for (k = 0; k < X_SSRCS; k++) {
        seq[k] = (uint16_t) (65536 - 200 - 150 * k);
    }

    fails = 0;
    same = 0;
    replays = 0;
    n = rtcp ? X_RTCP : X_RTP;

    for (i = 0; i < n; i++) {
        p = &pkts[i];
        k = rnd() % X_SSRCS;
        ssrc = 0x10203040 + (uint32_t) k;

        if (i > 10 && rnd() % 10 == 0) {
            /* a retransmission of a recent packet, or an RTCP again */
            q = &pkts[i - 1 - rnd() % 10];
            memcpy(p->plain, q->plain, q->plen);
            p->plen = q->plen;

        } else if (rtcp) {
            p->plen = x_rtcp(p->plain, ssrc);

        } else {
            /*
             * forward, with a gap now and then, or a step back (into a
             * gap, or onto a number already sent with other content,
             * which the receiver must call a replay)
             */
            r = rnd() % 8;
            seq[k] += (r == 0) ? 3 : 1;
            p->plen = x_rtp(p->plain, (uint16_t) (seq[k] - (r == 1 ? 2 : 0)),
                            ssrc);
        }

        memcpy(p->prot, p->plain, p->plen);
        p->len = p->plen;
        memcpy(ref, p->plain, p->plen);
        st = (int) p->plen;

        if (rtcp) {
            ours = ngx_calls_srtp_protect_rtcp(&s, p->prot, &p->len);
            got = srtp_protect_rtcp(lib_ref, ref, &st);

        } else {
            ours = ngx_calls_srtp_protect(&s, p->prot, &p->len);
            got = srtp_protect(lib_ref, ref, &st);
        }

        if (ours != NGX_CALLS_SRTP_OK || got != srtp_err_status_ok) {
            diag("packet %zu: ours %d, libsrtp %d", i, ours, got);
            fails++;
            continue;
        }

        if (p->len == (size_t) st && memcmp(p->prot, ref, p->len) == 0) {
            same++;

        } else if (fails++ < 3) {
            diag("packet %zu differs from libsrtp's", i);
        }

        /* the receiver: a copy already received is a replay */

        memcpy(ref, p->prot, p->len);
        st = (int) p->len;
        want = srtp_err_status_ok;

        for (k = 0; k < i; k++) {
            q = &pkts[k];

            if (rtcp ? q->len == p->len
                       && memcmp(q->prot, p->prot, p->len) == 0
                     : memcmp(q->plain + 2, p->plain + 2, 2) == 0
                       && memcmp(q->plain + 8, p->plain + 8, 4) == 0)
            {
                want = srtp_err_status_replay_fail;
                break;
            }
        }

        got = rtcp ? srtp_unprotect_rtcp(lib_in, ref, &st)
                   : srtp_unprotect(lib_in, ref, &st);

        if (want != srtp_err_status_ok) {
            replays++;
        }

        if (got != want
            || (got == srtp_err_status_ok
                && ((size_t) st != p->plen
                    || memcmp(ref, p->plain, p->plen) != 0)))
        {
            if (fails++ < 3) {
                diag("packet %zu: libsrtp unprotect %d, want %d", i, got,
                     want);
            }
        }
    }

    is_int(fails, 0, T("libsrtp agrees with every packet we protect"));
    is_int(same, n, T("byte-identical to libsrtp's protect"));

    if (!rtcp) {
        /* SRTCP sent again is a new index: only RTP repeats */
        ok(replays > 10, T("resent packets seen as replays by libsrtp"));

        x = ngx_calls_srtp_find(s.out, 0x10203040);
        ok(x != NULL && (x->rtp_index >> 16) == 1,
           T("the sequence numbers wrapped: ROC 1"));
    }

    ngx_calls_srtp_free(&s);
    (void) srtp_dealloc(lib_ref);
    (void) srtp_dealloc(lib_in);

#undef T
}


/*
 * libsrtp protects, ours unprotects, and a second libsrtp inbound context
 * judges the same packets in the same order: every verdict must match.
 * Delivery reorders, duplicates, tampers with and reaches back far.
 */

static void
x_recv(unsigned profile, const char *name, int rtcp)
{
    int                 st, got, ours, fails, okays, replays, forged;
    char                t[128], err[256];
    size_t              i, j, k, n, len, pos;
    uint8_t             key[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t             local[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint16_t            seq[X_SSRCS];
    uint32_t            ssrc;
    srtp_t              lib_out, lib_chk;
    x_pkt_t            *p, tmp;
    ngx_calls_srtp_t    s;
    static x_pkt_t      pkts[X_RTP];
    static uint8_t      a[X_MAX + NGX_CALLS_SRTP_TRAILER];
    static uint8_t      b[X_MAX + NGX_CALLS_SRTP_TRAILER];

#define T(s)  (snprintf(t, sizeof(t), "%s %s: %s", name, \
                        rtcp ? "RTCP" : "RTP", s), t)

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t) rnd();
        local[i] = (uint8_t) rnd();
    }

    lib_out = libsrtp_create(profile, key, 0);
    lib_chk = libsrtp_create(profile, key, 1);

    if (lib_out == NULL || lib_chk == NULL
        || ngx_calls_srtp_create(&s, profile, local, key, err, sizeof(err))
           != 0)
    {
        ok(0, T("contexts"));
        return;
    }

    for (k = 0; k < X_SSRCS; k++) {
        seq[k] = (uint16_t) (65536 - 300 - 100 * k);
    }

    n = rtcp ? X_RTCP : X_RTP;

    for (i = 0; i < n; i++) {
        p = &pkts[i];
        k = rnd() % X_SSRCS;
        ssrc = 0x0a0b0c00 + (uint32_t) k;

        if (rtcp) {
            p->plen = x_rtcp(p->plain, ssrc);

        } else {
            seq[k]++;
            p->plen = x_rtp(p->plain, seq[k], ssrc);
        }

        memcpy(p->prot, p->plain, p->plen);
        st = (int) p->plen;
        got = rtcp ? srtp_protect_rtcp(lib_out, p->prot, &st)
                   : srtp_protect(lib_out, p->prot, &st);
        p->len = (size_t) st;

        if (got != srtp_err_status_ok) {
            ok(0, T("libsrtp protect"));
            goto done;
        }
    }

    /* reorder: swap with one up to 12 later */

    for (i = 0; i + 1 < n; i++) {
        if (rnd() % 3 == 0) {
            j = i + 1 + rnd() % 12;
            if (j < n) {
                tmp = pkts[i];
                pkts[i] = pkts[j];
                pkts[j] = tmp;
            }
        }
    }

    fails = 0;
    okays = 0;
    replays = 0;
    forged = 0;

    for (i = 0; i < n; i++) {
        /* mostly the next packet; else an old one, or a forgery */

        j = i;
        k = rnd() % 16;

        if (i > 0 && k == 0) {
            j = i - 1 - rnd() % (i < 1500 ? i : 1500);
        }

        p = &pkts[j];
        len = p->len;
        memcpy(a, p->prot, len);

        if (k == 1) {
            pos = (rtcp ? 8 : 12) + rnd() % (len - (rtcp ? 8 : 12));
            a[pos] ^= (uint8_t) (1 << (rnd() % 8));

            /* the SRTCP E bit is not a forgery but a different packet */
            if (rtcp && (a[pos] & 0x80) == 0 && pos == len - 4
                && profile == NGX_CALLS_SRTP_AEAD_AES_128_GCM)
            {
                a[pos] |= 0x80;
            }
        }

        memcpy(b, a, len);
        st = (int) len;

        got = lib_code(rtcp ? srtp_unprotect_rtcp(lib_chk, b, &st)
                            : srtp_unprotect(lib_chk, b, &st));
        ours = rtcp ? ngx_calls_srtp_unprotect_rtcp(&s, a, &len)
                    : ngx_calls_srtp_unprotect(&s, a, &len);

        if (ours != got
            || (ours == NGX_CALLS_SRTP_OK
                && (len != p->plen || memcmp(a, p->plain, len) != 0)))
        {
            if (fails++ < 5) {
                diag("delivery %zu (packet %zu%s): ours %d, libsrtp %d",
                     i, j, k == 1 ? ", tampered" : "", ours, got);
            }
        }

        okays += (ours == NGX_CALLS_SRTP_OK);
        replays += (ours == NGX_CALLS_SRTP_REPLAY);
        forged += (ours == NGX_CALLS_SRTP_AUTH_FAIL);

        if (k == 0) {
            /* the old packet was delivered instead of this one: again */
            i--;
        }
    }

    is_int(fails, 0, T("every verdict matches libsrtp's"));
    ok(okays > (int) n * 8 / 10 && replays > 10 && forged > 10,
       T("accepted, replayed and forged packets all seen"));
    diag("%s %s: %d accepted, %d replays, %d forgeries", name,
         rtcp ? "RTCP" : "RTP", okays, replays, forged);

done:

    ngx_calls_srtp_free(&s);
    (void) srtp_dealloc(lib_out);
    (void) srtp_dealloc(lib_chk);

#undef T
}


static void
test_oracle(void)
{
    is_int(srtp_init(), srtp_err_status_ok, "libsrtp: init");

    x_send(NGX_CALLS_SRTP_AES128_CM_SHA1_80, "AES-CM-80", 0);
    x_send(NGX_CALLS_SRTP_AES128_CM_SHA1_80, "AES-CM-80", 1);
    x_send(NGX_CALLS_SRTP_AEAD_AES_128_GCM, "AEAD-GCM-128", 0);
    x_send(NGX_CALLS_SRTP_AEAD_AES_128_GCM, "AEAD-GCM-128", 1);

    x_recv(NGX_CALLS_SRTP_AES128_CM_SHA1_80, "AES-CM-80", 0);
    x_recv(NGX_CALLS_SRTP_AES128_CM_SHA1_80, "AES-CM-80", 1);
    x_recv(NGX_CALLS_SRTP_AEAD_AES_128_GCM, "AEAD-GCM-128", 0);
    x_recv(NGX_CALLS_SRTP_AEAD_AES_128_GCM, "AEAD-GCM-128", 1);
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
    test_rfc3711();
    test_rfc7714();
    test_malformed(NGX_CALLS_SRTP_AES128_CM_SHA1_80, "AES-CM-80");
    test_malformed(NGX_CALLS_SRTP_AEAD_AES_128_GCM, "AEAD-GCM-128");
    test_oracle();

    return done_testing();
}
