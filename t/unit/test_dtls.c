
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * DTLS unit tests: our client against our server, against a plain
 * OpenSSL peer (memory BIOs, nothing of ngx_calls_dtls.c) in both roles,
 * loss and retransmission, garbage, fingerprints, application data,
 * close_notify, PEM files.
 */


#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ngx_calls_dtls.h"
#include "tap.h"


#define QUEUE_SLOTS    128
#define PKT_MAX        4096
#define FP_MAX         (64 * 3)


typedef struct {
    uint8_t            pkt[QUEUE_SLOTS][PKT_MAX];
    size_t             len[QUEUE_SLOTS];
    unsigned           head;
    unsigned           tail;
} queue_t;


/* one side of a test connection: ngx_calls_dtls_t or a plain SSL */
typedef struct {
    ngx_calls_dtls_t  *dtls;

    SSL               *ssl;
    BIO               *rbio;
    BIO               *wbio;
    int                plain_done;
    int                plain_failed;

    queue_t            out;
    int                drop;          /* drop the next n datagrams sent */
    int                sent;          /* datagrams sent, dropped or not */
    size_t             max_len;
    int                overflow;
    int                split;         /* datagrams cutting a record */

    uint8_t            rx[PKT_MAX];
    size_t             rx_len;
    int                rx_count;
} peer_t;


static peer_t  pa, pb;


static void
queue_push(queue_t *q, const uint8_t *buf, size_t len, peer_t *p)
{
    if (q->tail - q->head >= QUEUE_SLOTS || len > PKT_MAX) {
        p->overflow++;
        return;
    }

    memcpy(q->pkt[q->tail % QUEUE_SLOTS], buf, len);
    q->len[q->tail % QUEUE_SLOTS] = len;
    q->tail++;
}


static int
queue_pop(queue_t *q, uint8_t *buf, size_t *len)
{
    if (q->head == q->tail) {
        return 0;
    }

    *len = q->len[q->head % QUEUE_SLOTS];
    memcpy(buf, q->pkt[q->head % QUEUE_SLOTS], *len);
    q->head++;

    return 1;
}


/* a datagram must be a sequence of whole DTLS records */

static int
whole_records(const uint8_t *buf, size_t len)
{
    size_t  n;

    while (len > 0) {
        if (len < 13) {
            return 0;
        }

        n = 13 + ((size_t) buf[11] << 8 | buf[12]);

        if (n > len) {
            return 0;
        }

        buf += n;
        len -= n;
    }

    return 1;
}


static void
peer_sent(peer_t *p, const uint8_t *buf, size_t len)
{
    p->sent++;

    if (!whole_records(buf, len)) {
        p->split++;
    }

    if (len > p->max_len) {
        p->max_len = len;
    }

    if (p->drop > 0) {
        p->drop--;
        return;
    }

    queue_push(&p->out, buf, len, p);
}


static int
send_cb(void *user, const uint8_t *buf, size_t len)
{
    peer_sent(user, buf, len);

    return 0;
}


static void
data_cb(void *user, const uint8_t *buf, size_t len)
{
    peer_t  *p = user;

    if (len <= sizeof(p->rx)) {
        memcpy(p->rx, buf, len);
    }

    p->rx_len = len;
    p->rx_count++;
}


static const ngx_calls_dtls_handler_t  handler = { send_cb, data_cb };


static void
peer_reset(peer_t *p)
{
    if (p->dtls) {
        ngx_calls_dtls_free(p->dtls);
    }

    if (p->ssl) {
        SSL_free(p->ssl);
    }

    memset(p, 0, sizeof(peer_t));
}


static int
peer_dtls(peer_t *p, ngx_calls_dtls_ctx_t *ctx, int client, const char *alg,
    const char *fp)
{
    peer_reset(p);

    p->dtls = ngx_calls_dtls_create(ctx, client, alg, fp, &handler, p);

    return p->dtls != NULL;
}


/* plain OpenSSL peer: a whole drained write BIO is one datagram */

static void
plain_flush(peer_t *p)
{
    int      n;
    uint8_t  buf[PKT_MAX];

    while (BIO_ctrl_pending(p->wbio) > 0) {
        n = BIO_read(p->wbio, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }

        peer_sent(p, buf, (size_t) n);
    }
}


static void
plain_step(peer_t *p)
{
    int  n, e;

    if (!p->plain_done && !p->plain_failed) {
        n = SSL_do_handshake(p->ssl);

        if (n == 1) {
            p->plain_done = 1;

        } else {
            e = SSL_get_error(p->ssl, n);

            if (e != SSL_ERROR_WANT_READ) {
                p->plain_failed = 1;
            }
        }
    }

    if (p->plain_done) {
        for ( ;; ) {
            n = SSL_read(p->ssl, p->rx, sizeof(p->rx));
            if (n <= 0) {
                break;
            }

            p->rx_len = (size_t) n;
            p->rx_count++;
        }
    }

    plain_flush(p);
    ERR_clear_error();
}


static int
accept_any_cb(int ok, X509_STORE_CTX *store)
{
    return 1;
}


static int
peer_plain(peer_t *p, SSL_CTX *ctx, int client)
{
    peer_reset(p);

    p->ssl = SSL_new(ctx);
    p->rbio = BIO_new(BIO_s_mem());
    p->wbio = BIO_new(BIO_s_mem());

    if (p->ssl == NULL || p->rbio == NULL || p->wbio == NULL) {
        return 0;
    }

    BIO_set_mem_eof_return(p->rbio, -1);
    SSL_set_bio(p->ssl, p->rbio, p->wbio);

    if (SSL_set_mtu(p->ssl, 1200) <= 0) {
        return 0;
    }

    if (client) {
        SSL_set_connect_state(p->ssl);
        plain_step(p);

    } else {
        SSL_set_accept_state(p->ssl);
    }

    return 1;
}


static void
deliver(peer_t *to, const uint8_t *buf, size_t len, uint64_t now)
{
    if (to->dtls) {
        (void) ngx_calls_dtls_input(to->dtls, buf, len, now);
        return;
    }

    if (BIO_write(to->rbio, buf, (int) len) == (int) len) {
        plain_step(to);
    }
}


static int
deliver_all(peer_t *from, peer_t *to, uint64_t now)
{
    int      n;
    size_t   len;
    uint8_t  buf[PKT_MAX];

    n = 0;

    while (queue_pop(&from->out, buf, &len)) {
        deliver(to, buf, len, now);
        n++;
    }

    return n;
}


static void
pump(peer_t *a, peer_t *b, uint64_t *now)
{
    int  i, moved;

    for (i = 0; i < 200; i++) {
        moved = deliver_all(a, b, *now);
        moved += deliver_all(b, a, *now);

        if (moved == 0) {
            break;
        }

        *now += 5;
    }
}


static void
sleep_ms(uint64_t ms)
{
    struct timespec  ts;

    ts.tv_sec = (time_t) (ms / 1000);
    ts.tv_nsec = (long) (ms % 1000) * 1000000L;

    while (nanosleep(&ts, &ts) != 0) {
        /* interrupted: sleep the rest */
    }
}


static uint32_t  rnd_state = 2463534242u;

static uint32_t
rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;

    return rnd_state;
}


/* certificates made by the test itself, independent of the module */

static X509 *
make_cert(EVP_PKEY *pkey, int big)
{
    int         i;
    X509       *x;
    X509_NAME  *name;
    char        ou[64];

    x = X509_new();
    if (x == NULL) {
        return NULL;
    }

    name = X509_get_subject_name(x);

    (void) ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    (void) X509_set_version(x, X509_VERSION_3);
    (void) X509_gmtime_adj(X509_getm_notBefore(x), 0);
    (void) X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    (void) X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                      (const unsigned char *) "test", -1,
                                      -1, 0);

    /* many OUs: a certificate too big for one 1200-byte datagram */
    for (i = 0; big && i < 40; i++) {
        snprintf(ou, sizeof(ou), "unit %02d of a certificate too big for "
                 "one datagram", i);

        if (X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
                                       (const unsigned char *) ou, -1, -1, 0)
            != 1)
        {
            X509_free(x);
            return NULL;
        }
    }

    if (X509_set_issuer_name(x, name) != 1
        || X509_set_pubkey(x, pkey) != 1
        || X509_sign(x, pkey, EVP_sha256()) <= 0)
    {
        X509_free(x);
        return NULL;
    }

    return x;
}


static void
hex_fp(X509 *x, const EVP_MD *md, char *out)
{
    unsigned int   i, n;
    unsigned char  d[EVP_MAX_MD_SIZE];

    out[0] = '\0';

    if (X509_digest(x, md, d, &n) != 1) {
        return;
    }

    for (i = 0; i < n; i++) {
        sprintf(out + 3 * i, "%02X%s", d[i], i + 1 < n ? ":" : "");
    }
}


static SSL_CTX *
plain_ctx(int server, const char *profiles, X509 **cert_out)
{
    X509      *x;
    SSL_CTX   *ctx;
    EVP_PKEY  *pkey;

    ctx = SSL_CTX_new(DTLS_method());
    pkey = EVP_EC_gen("P-256");
    x = (pkey != NULL) ? make_cert(pkey, 0) : NULL;

    if (ctx == NULL || x == NULL
        || SSL_CTX_use_certificate(ctx, x) != 1
        || SSL_CTX_use_PrivateKey(ctx, pkey) != 1
        || (profiles != NULL && SSL_CTX_set_tlsext_use_srtp(ctx, profiles)))
    {
        SSL_CTX_free(ctx);
        X509_free(x);
        EVP_PKEY_free(pkey);
        return NULL;
    }

    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER
                            |(server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       accept_any_cb);
    (void) SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU);

    EVP_PKEY_free(pkey);
    *cert_out = x;

    return ctx;
}


static int
is_fingerprint(const char *fp)
{
    size_t  i;

    if (strlen(fp) != 95) {
        return 0;
    }

    for (i = 0; i < 95; i++) {
        if (i % 3 == 2) {
            if (fp[i] != ':') {
                return 0;
            }

        } else if (!isxdigit((unsigned char) fp[i])
                   || islower((unsigned char) fp[i]))
        {
            return 0;
        }
    }

    return 1;
}


static void
lower(char *dst, const char *src)
{
    while (*src) {
        *dst++ = (char) tolower((unsigned char) *src++);
    }

    *dst = '\0';
}


static int
handshake_ours(ngx_calls_dtls_ctx_t *cctx, ngx_calls_dtls_ctx_t *sctx,
    uint64_t *now)
{
    if (!peer_dtls(&pa, cctx, 1, "sha-256", ngx_calls_dtls_fingerprint(sctx))
        || !peer_dtls(&pb, sctx, 0, "sha-256",
                      ngx_calls_dtls_fingerprint(cctx)))
    {
        return 0;
    }

    if (ngx_calls_dtls_start(pa.dtls, *now) != 0) {
        return 0;
    }

    pump(&pa, &pb, now);

    return ngx_calls_dtls_state(pa.dtls) == NGX_CALLS_DTLS_CONNECTED
           && ngx_calls_dtls_state(pb.dtls) == NGX_CALLS_DTLS_CONNECTED;
}


static void
test_ctx(ngx_calls_dtls_ctx_t *a, ngx_calls_dtls_ctx_t *b)
{
    ok(a != NULL && b != NULL, "ctx with generated certificates");
    ok(is_fingerprint(ngx_calls_dtls_fingerprint(a)),
       "fingerprint: 32 uppercase hex pairs with colons");
    ok(strcmp(ngx_calls_dtls_fingerprint(a), ngx_calls_dtls_fingerprint(b))
       != 0, "two contexts, two certificates");
}


static void
test_bad_fingerprints(ngx_calls_dtls_ctx_t *a)
{
    char        fp[FP_MAX];
    const char  *good;

    good = ngx_calls_dtls_fingerprint(a);

    ok(ngx_calls_dtls_create(a, 1, "md5", good, &handler, &pa) == NULL,
       "unknown fingerprint algorithm refused");
    ok(ngx_calls_dtls_create(a, 1, "sha-384", good, &handler, &pa) == NULL,
       "fingerprint of the wrong length refused");

    strcpy(fp, good);
    fp[10] = 'G';
    ok(ngx_calls_dtls_create(a, 1, "sha-256", fp, &handler, &pa) == NULL,
       "non-hex fingerprint refused");

    strcpy(fp, good);
    fp[2] = '-';
    ok(ngx_calls_dtls_create(a, 1, "sha-256", fp, &handler, &pa) == NULL,
       "fingerprint without colons refused");
}


static void
test_handshake(ngx_calls_dtls_ctx_t *a, ngx_calls_dtls_ctx_t *b)
{
    int       rc;
    char      lfp[FP_MAX];
    size_t    cl, sl;
    uint8_t   cloc[NGX_CALLS_SRTP_MAX_KEY_SALT], crem[sizeof(cloc)];
    uint8_t   sloc[sizeof(cloc)], srem[sizeof(cloc)];
    uint64_t  now;
    unsigned  cp, sp;

    now = 1000000;

    /* the server gets the client's fingerprint in lowercase */
    lower(lfp, ngx_calls_dtls_fingerprint(a));

    ok(peer_dtls(&pa, a, 1, "sha-256", ngx_calls_dtls_fingerprint(b))
       && peer_dtls(&pb, b, 0, "SHA-256", lfp), "two associations");

    is_int(ngx_calls_dtls_state(pa.dtls), NGX_CALLS_DTLS_NEW, "client NEW");
    is_int(ngx_calls_dtls_next_timeout(pa.dtls, now), 0,
           "no timer before start");
    is_int(ngx_calls_dtls_write(pa.dtls, (const uint8_t *) "x", 1), -1,
           "no application data before the handshake");

    is_int(ngx_calls_dtls_start(pa.dtls, now), 0, "client starts");
    is_int(pa.sent, 1, "ClientHello sent as one datagram");
    is_int(ngx_calls_dtls_start(pa.dtls, now), -1, "second start refused");
    is_int(ngx_calls_dtls_state(pa.dtls), NGX_CALLS_DTLS_HANDSHAKING,
           "client HANDSHAKING");

    pump(&pa, &pb, &now);

    is_int(ngx_calls_dtls_state(pa.dtls), NGX_CALLS_DTLS_CONNECTED,
           "client CONNECTED");
    is_int(ngx_calls_dtls_state(pb.dtls), NGX_CALLS_DTLS_CONNECTED,
           "server CONNECTED");
    is_str(ngx_calls_dtls_error(pa.dtls), "", "no client error");
    is_str(ngx_calls_dtls_error(pb.dtls), "", "no server error");
    ok(pa.max_len <= NGX_CALLS_DTLS_MTU && pb.max_len <= NGX_CALLS_DTLS_MTU,
       "no datagram above the MTU");
    ok(pa.split == 0 && pb.split == 0 && pa.overflow == 0
       && pb.overflow == 0, "every datagram holds whole records");
    is_int(ngx_calls_dtls_next_timeout(pa.dtls, now), 0,
           "no client timer once connected");
    is_int(ngx_calls_dtls_next_timeout(pb.dtls, now), 0,
           "no server timer once connected");

    rc = ngx_calls_dtls_srtp_keys(pa.dtls, &cp, cloc, crem, &cl);
    rc |= ngx_calls_dtls_srtp_keys(pb.dtls, &sp, sloc, srem, &sl);

    is_int(rc, 0, "keys exported on both sides");
    is_int(cp, NGX_CALLS_SRTP_AEAD_AES_128_GCM, "client: GCM negotiated");
    is_int(sp, NGX_CALLS_SRTP_AEAD_AES_128_GCM, "server: GCM negotiated");
    is_int(cl, 28, "GCM key + salt is 28 bytes");
    is_int(sl, 28, "same on the server");
    is_mem(cloc, srem, 28, "client local key == server remote key");
    is_mem(crem, sloc, 28, "client remote key == server local key");
    ok(memcmp(cloc, crem, 28) != 0, "the two directions differ");
}


static void
test_app_data(void)
{
    size_t   i;
    uint8_t  msg[1100], big[1300];

    for (i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t) rnd();
    }

    is_int(ngx_calls_dtls_write(pa.dtls, msg, sizeof(msg)), 0,
           "client writes 1100 bytes");
    (void) deliver_all(&pa, &pb, 0);

    is_int(pb.rx_count, 1, "server got one message");
    is_int(pb.rx_len, sizeof(msg), "of the right length");
    is_mem(pb.rx, msg, sizeof(msg), "byte for byte");

    is_int(ngx_calls_dtls_write(pb.dtls, (const uint8_t *) "pong", 4), 0,
           "server writes");
    (void) deliver_all(&pb, &pa, 0);

    is_int(pa.rx_count, 1, "client got one message");
    ok(pa.rx_len == 4 && memcmp(pa.rx, "pong", 4) == 0, "it is \"pong\"");

    memset(big, 'b', sizeof(big));
    i = (size_t) pa.sent;
    is_int(ngx_calls_dtls_write(pa.dtls, big, sizeof(big)), -1,
           "a write above the MTU fails");
    is_int(pa.sent, i, "and sends nothing");
}


static void
garbage(uint8_t *buf, size_t *len, int framed, int epoch_min)
{
    size_t    i, n;
    unsigned  epoch;

    n = 13 + rnd() % 300;

    for (i = 0; i < n; i++) {
        buf[i] = (uint8_t) rnd();
    }

    buf[0] = 22;

    if (framed) {
        /* a well-formed DTLS 1.2 record header over random content */
        buf[0] = (uint8_t) (20 + rnd() % 4);
        buf[1] = 0xfe;
        buf[2] = 0xfd;
        epoch = epoch_min + rnd() % (0x10000 - epoch_min);
        buf[3] = (uint8_t) (epoch >> 8);
        buf[4] = (uint8_t) epoch;
        buf[11] = (uint8_t) ((n - 13) >> 8);
        buf[12] = (uint8_t) (n - 13);
    }

    *len = n;
}


static int
garbage_run(peer_t *p, int framed, int epoch_min, uint64_t now)
{
    int                     i, same;
    size_t                  len;
    uint8_t                 buf[PKT_MAX];
    ngx_calls_dtls_state_e  st;

    same = 1;
    st = ngx_calls_dtls_state(p->dtls);

    for (i = 0; i < 300; i++) {
        garbage(buf, &len, framed, epoch_min);

        if (ngx_calls_dtls_input(p->dtls, buf, len, now) != st) {
            same = 0;
        }
    }

    return same && p->rx_count == 0;
}


static void
test_garbage(ngx_calls_dtls_ctx_t *a, ngx_calls_dtls_ctx_t *b)
{
    uint64_t  now;

    now = 2000000;

    /* a server that has seen nothing yet */
    ok(peer_dtls(&pb, b, 0, "sha-256", ngx_calls_dtls_fingerprint(a)),
       "fresh server");
    ok(garbage_run(&pb, 0, 0, now), "random bytes: server stays NEW");
    ok(garbage_run(&pb, 1, 1, now), "framed garbage: server stays NEW");
    is_int(pb.sent, 0, "and answers nothing");

    /* in the middle of a handshake */
    ok(peer_dtls(&pa, a, 1, "sha-256", ngx_calls_dtls_fingerprint(b)),
       "client");
    (void) ngx_calls_dtls_start(pa.dtls, now);
    (void) deliver_all(&pa, &pb, now);

    ok(garbage_run(&pb, 0, 0, now), "random bytes: server HANDSHAKING");
    ok(garbage_run(&pb, 1, 1, now), "framed garbage: server HANDSHAKING");
    ok(garbage_run(&pa, 0, 0, now), "random bytes: client HANDSHAKING");
    ok(garbage_run(&pa, 1, 1, now), "framed garbage: client HANDSHAKING");

    pump(&pa, &pb, &now);

    ok(ngx_calls_dtls_state(pa.dtls) == NGX_CALLS_DTLS_CONNECTED
       && ngx_calls_dtls_state(pb.dtls) == NGX_CALLS_DTLS_CONNECTED,
       "the handshake completes anyway");

    /* connected: epoch 0 and forged epochs are dropped, MACs fail */
    ok(garbage_run(&pa, 0, 0, now), "random bytes: client CONNECTED");
    ok(garbage_run(&pa, 1, 0, now), "framed garbage: client CONNECTED");
    ok(garbage_run(&pb, 1, 0, now), "framed garbage: server CONNECTED");

    is_int(ngx_calls_dtls_write(pa.dtls, (const uint8_t *) "still", 5), 0,
           "write after garbage");
    (void) deliver_all(&pa, &pb, now);
    ok(pb.rx_count == 1 && pb.rx_len == 5 && memcmp(pb.rx, "still", 5) == 0,
       "application data still flows");
}


static void
test_mismatch(ngx_calls_dtls_ctx_t *a, ngx_calls_dtls_ctx_t *b,
    ngx_calls_dtls_ctx_t *c)
{
    uint64_t  now;

    now = 3000000;

    /* the client expects c's certificate, the server presents b's */
    ok(peer_dtls(&pa, a, 1, "sha-256", ngx_calls_dtls_fingerprint(c))
       && peer_dtls(&pb, b, 0, "sha-256", ngx_calls_dtls_fingerprint(a)),
       "client with a wrong fingerprint");

    (void) ngx_calls_dtls_start(pa.dtls, now);
    pump(&pa, &pb, &now);

    is_int(ngx_calls_dtls_state(pa.dtls), NGX_CALLS_DTLS_FAILED,
           "client FAILED");
    is_str(ngx_calls_dtls_error(pa.dtls), "certificate fingerprint mismatch",
           "client says why");
    is_int(ngx_calls_dtls_state(pb.dtls), NGX_CALLS_DTLS_FAILED,
           "server FAILED on the client's alert");
    ok(strstr(ngx_calls_dtls_error(pb.dtls), "alert") != NULL,
       "server error names the alert");
    diag("server: %s", ngx_calls_dtls_error(pb.dtls));

    /* now the server expects the wrong client certificate */
    ok(peer_dtls(&pa, a, 1, "sha-256", ngx_calls_dtls_fingerprint(b))
       && peer_dtls(&pb, b, 0, "sha-256", ngx_calls_dtls_fingerprint(c)),
       "server with a wrong fingerprint");

    (void) ngx_calls_dtls_start(pa.dtls, now);
    pump(&pa, &pb, &now);

    is_int(ngx_calls_dtls_state(pb.dtls), NGX_CALLS_DTLS_FAILED,
           "server FAILED");
    is_str(ngx_calls_dtls_error(pb.dtls), "certificate fingerprint mismatch",
           "server says why");
    ok(ngx_calls_dtls_state(pa.dtls) != NGX_CALLS_DTLS_CONNECTED,
       "client never CONNECTED");
    ok(ngx_calls_dtls_input(pa.dtls, (const uint8_t *) "\x16", 1, now)
       == ngx_calls_dtls_state(pa.dtls), "input after failure is inert");
}


static void
test_loss(ngx_calls_dtls_ctx_t *a, ngx_calls_dtls_ctx_t *b)
{
    int       sent;
    size_t    cl, sl;
    uint8_t   cloc[NGX_CALLS_SRTP_MAX_KEY_SALT], crem[sizeof(cloc)];
    uint8_t   sloc[sizeof(cloc)], srem[sizeof(cloc)];
    uint64_t  now, t;
    unsigned  cp, sp;

    now = 4000000;

    ok(peer_dtls(&pa, a, 1, "sha-256", ngx_calls_dtls_fingerprint(b))
       && peer_dtls(&pb, b, 0, "sha-256", ngx_calls_dtls_fingerprint(a)),
       "associations for the loss test");

    pa.drop = 1;
    (void) ngx_calls_dtls_start(pa.dtls, now);
    pump(&pa, &pb, &now);

    is_int(pa.sent, 1, "ClientHello sent");
    is_int(ngx_calls_dtls_state(pb.dtls), NGX_CALLS_DTLS_NEW,
           "and lost: server still NEW");

    t = ngx_calls_dtls_next_timeout(pa.dtls, now);
    ok(t > now && t <= now + 1000, "retransmission timer armed");
    diag("retransmission in %llu ms", (unsigned long long) (t - now));

    is_int(ngx_calls_dtls_timer(pa.dtls, now), NGX_CALLS_DTLS_HANDSHAKING,
           "early timer call");
    is_int(pa.sent, 1, "retransmits nothing");

    /* OpenSSL's own timer runs on the wall clock: let it expire too */
    sleep_ms(t - now + 20);
    now = t;

    is_int(ngx_calls_dtls_timer(pa.dtls, now), NGX_CALLS_DTLS_HANDSHAKING,
           "timer at the deadline");
    is_int(pa.sent, 2, "ClientHello retransmitted");

    t = ngx_calls_dtls_next_timeout(pa.dtls, now);
    ok(t > now + 500, "next interval is longer");

    pump(&pa, &pb, &now);

    ok(ngx_calls_dtls_state(pa.dtls) == NGX_CALLS_DTLS_CONNECTED
       && ngx_calls_dtls_state(pb.dtls) == NGX_CALLS_DTLS_CONNECTED,
       "handshake completes after the loss");

    /* now lose the server's last flight (ChangeCipherSpec, Finished) */

    ok(peer_dtls(&pa, a, 1, "sha-256", ngx_calls_dtls_fingerprint(b))
       && peer_dtls(&pb, b, 0, "sha-256", ngx_calls_dtls_fingerprint(a)),
       "associations for the lost last flight");

    (void) ngx_calls_dtls_start(pa.dtls, now);
    (void) deliver_all(&pa, &pb, now);          /* ClientHello */
    (void) deliver_all(&pb, &pa, now);          /* ServerHello...Done */

    pb.drop = 1000;
    (void) deliver_all(&pa, &pb, now);          /* Certificate...Finished */
    pb.drop = 0;

    is_int(ngx_calls_dtls_state(pb.dtls), NGX_CALLS_DTLS_CONNECTED,
           "server done, its last flight lost");
    is_int(ngx_calls_dtls_state(pa.dtls), NGX_CALLS_DTLS_HANDSHAKING,
           "client still waiting");

    t = ngx_calls_dtls_next_timeout(pa.dtls, now);
    sleep_ms(t - now + 20);
    now = t;

    sent = pa.sent;
    (void) ngx_calls_dtls_timer(pa.dtls, now);
    ok(pa.sent > sent, "client retransmits its flight");

    pump(&pa, &pb, &now);

    is_int(ngx_calls_dtls_state(pa.dtls), NGX_CALLS_DTLS_CONNECTED,
           "the CONNECTED server answered it: client CONNECTED");

    ok(ngx_calls_dtls_srtp_keys(pa.dtls, &cp, cloc, crem, &cl) == 0
       && ngx_calls_dtls_srtp_keys(pb.dtls, &sp, sloc, srem, &sl) == 0
       && cl == sl && memcmp(cloc, srem, cl) == 0
       && memcmp(crem, sloc, cl) == 0, "and the keys agree");
}


static void
test_give_up(ngx_calls_dtls_ctx_t *a, ngx_calls_dtls_ctx_t *b)
{
    uint64_t  now;

    now = 5000000;

    ok(peer_dtls(&pa, a, 1, "sha-256", ngx_calls_dtls_fingerprint(b)),
       "client that hears nothing");

    pa.drop = 1000;
    (void) ngx_calls_dtls_start(pa.dtls, now);

    is_int(ngx_calls_dtls_timer(pa.dtls, now + 29999),
           NGX_CALLS_DTLS_HANDSHAKING, "still trying at 29.999 s");
    is_int(ngx_calls_dtls_timer(pa.dtls, now + 30000), NGX_CALLS_DTLS_FAILED,
           "gives up at 30 s (caller's clock)");
    is_str(ngx_calls_dtls_error(pa.dtls), "DTLS handshake timed out",
           "with a reason");
    is_int(ngx_calls_dtls_next_timeout(pa.dtls, now + 30000), 0,
           "no timer after failure");

    ok(peer_dtls(&pb, b, 0, "sha-256", ngx_calls_dtls_fingerprint(a)),
       "server never contacted");
    is_int(ngx_calls_dtls_start(pb.dtls, now), 0, "server start()");
    is_int(pb.sent, 0, "sends nothing");
    is_int(ngx_calls_dtls_next_timeout(pb.dtls, now + 10), now + 30000,
           "its only timer is the deadline");
    is_int(ngx_calls_dtls_timer(pb.dtls, now + 30000), NGX_CALLS_DTLS_FAILED,
           "server gives up too");
}


static void
test_shutdown(ngx_calls_dtls_ctx_t *a, ngx_calls_dtls_ctx_t *b)
{
    uint64_t  now;

    now = 6000000;

    ok(handshake_ours(a, b, &now), "connected for the shutdown test");

    ngx_calls_dtls_shutdown(pa.dtls);

    is_int(ngx_calls_dtls_state(pa.dtls), NGX_CALLS_DTLS_CLOSED,
           "shutdown: CLOSED locally");
    ok(pa.out.tail > pa.out.head, "close_notify sent");

    pump(&pa, &pb, &now);

    is_int(ngx_calls_dtls_state(pb.dtls), NGX_CALLS_DTLS_CLOSED,
           "peer CLOSED on close_notify");
    is_str(ngx_calls_dtls_error(pb.dtls), "", "not an error");
    is_int(ngx_calls_dtls_write(pb.dtls, (const uint8_t *) "x", 1), -1,
           "no writes after close");
}


static void
test_plain_server(ngx_calls_dtls_ctx_t *a)
{
    int       rc;
    char      fp[FP_MAX];
    X509     *cert, *peer;
    size_t    len;
    SSL_CTX  *ctx;
    uint8_t   loc[NGX_CALLS_SRTP_MAX_KEY_SALT], rem[sizeof(loc)];
    uint8_t   km[60], want[30];
    uint64_t  now;
    unsigned  profile;

    now = 7000000;
    cert = NULL;

    ctx = plain_ctx(1, "SRTP_AES128_CM_SHA1_80", &cert);
    ok(ctx != NULL, "plain OpenSSL server context");
    if (ctx == NULL) {
        return;
    }

    /* sha-512 this time */
    hex_fp(cert, EVP_sha512(), fp);

    ok(peer_dtls(&pa, a, 1, "sha-512", fp) && peer_plain(&pb, ctx, 0),
       "our client, plain server");

    (void) ngx_calls_dtls_start(pa.dtls, now);
    pump(&pa, &pb, &now);

    is_int(ngx_calls_dtls_state(pa.dtls), NGX_CALLS_DTLS_CONNECTED,
           "our client CONNECTED to plain OpenSSL");
    ok(pb.plain_done && !pb.plain_failed, "plain server done");
    ok(pb.max_len <= NGX_CALLS_DTLS_MTU, "its flights fit one datagram");

    rc = ngx_calls_dtls_srtp_keys(pa.dtls, &profile, loc, rem, &len);
    is_int(rc, 0, "keys");
    is_int(profile, NGX_CALLS_SRTP_AES128_CM_SHA1_80,
           "the server's only profile: AES-CM-80");
    is_int(len, 30, "AES-CM key + salt is 30 bytes");

    rc = SSL_export_keying_material(pb.ssl, km, sizeof(km),
                                    "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0);
    is_int(rc, 1, "plain server exports its keys");

    /* client key, server key, client salt, server salt */
    memcpy(want, km, 16);
    memcpy(want + 16, km + 32, 14);
    is_mem(loc, want, 30, "our local key == the server's client key");
    memcpy(want, km + 16, 16);
    memcpy(want + 16, km + 46, 14);
    is_mem(rem, want, 30, "our remote key == the server's server key");

    peer = SSL_get1_peer_certificate(pb.ssl);
    fp[0] = '\0';
    if (peer != NULL) {
        hex_fp(peer, EVP_sha256(), fp);
        X509_free(peer);
    }

    is_str(fp, ngx_calls_dtls_fingerprint(a),
           "the fingerprint we advertise is the certificate we present");

    is_int(ngx_calls_dtls_write(pa.dtls, (const uint8_t *) "hello", 5), 0,
           "write to the plain server");
    (void) deliver_all(&pa, &pb, now);
    ok(pb.rx_count == 1 && pb.rx_len == 5 && memcmp(pb.rx, "hello", 5) == 0,
       "plain server reads it");

    is_int(SSL_write(pb.ssl, "world!", 6), 6, "plain server writes");
    plain_flush(&pb);
    (void) deliver_all(&pb, &pa, now);
    ok(pa.rx_count == 1 && pa.rx_len == 6 && memcmp(pa.rx, "world!", 6) == 0,
       "we read it");

    peer_reset(&pa);
    peer_reset(&pb);
    SSL_CTX_free(ctx);
    X509_free(cert);
}


static void
test_plain_client(ngx_calls_dtls_ctx_t *b)
{
    int       rc;
    char      fp[FP_MAX];
    X509     *cert;
    size_t    len;
    SSL_CTX  *ctx;
    uint8_t   loc[NGX_CALLS_SRTP_MAX_KEY_SALT], rem[sizeof(loc)];
    uint8_t   km[56], want[28];
    uint64_t  now;
    unsigned  profile;

    now = 8000000;
    cert = NULL;

    /* the client prefers AES-CM; our server's preference must win */
    ctx = plain_ctx(0, "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM",
                    &cert);
    ok(ctx != NULL, "plain OpenSSL client context");
    if (ctx == NULL) {
        return;
    }

    hex_fp(cert, EVP_sha256(), fp);

    ok(peer_dtls(&pb, b, 0, "sha-256", fp) && peer_plain(&pa, ctx, 1),
       "plain client, our server");

    pump(&pa, &pb, &now);

    is_int(ngx_calls_dtls_state(pb.dtls), NGX_CALLS_DTLS_CONNECTED,
           "our server CONNECTED to plain OpenSSL");
    ok(pa.plain_done && !pa.plain_failed, "plain client done");

    rc = ngx_calls_dtls_srtp_keys(pb.dtls, &profile, loc, rem, &len);
    ok(rc == 0 && profile == NGX_CALLS_SRTP_AEAD_AES_128_GCM && len == 28,
       "server preference: GCM");

    rc = SSL_export_keying_material(pa.ssl, km, sizeof(km),
                                    "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0);
    is_int(rc, 1, "plain client exports its keys");

    memcpy(want, km + 16, 16);
    memcpy(want + 16, km + 32 + 12, 12);
    is_mem(loc, want, 28, "our local key == the client's server key");
    memcpy(want, km, 16);
    memcpy(want + 16, km + 32, 12);
    is_mem(rem, want, 28, "our remote key == the client's client key");

    peer_reset(&pa);
    peer_reset(&pb);
    SSL_CTX_free(ctx);
    X509_free(cert);

    /* a client that does not offer DTLS-SRTP at all */

    ctx = plain_ctx(0, NULL, &cert);
    ok(ctx != NULL, "plain client without use_srtp");
    if (ctx == NULL) {
        return;
    }

    hex_fp(cert, EVP_sha256(), fp);

    ok(peer_dtls(&pb, b, 0, "sha-256", fp) && peer_plain(&pa, ctx, 1),
       "plain client without SRTP, our server");

    pump(&pa, &pb, &now);

    is_int(ngx_calls_dtls_state(pb.dtls), NGX_CALLS_DTLS_FAILED,
           "no SRTP: FAILED");
    is_str(ngx_calls_dtls_error(pb.dtls), "no SRTP profile negotiated",
           "with the reason");
    ok(ngx_calls_dtls_srtp_keys(pb.dtls, &profile, loc, rem, &len) == -1,
       "and no keys");

    peer_reset(&pa);
    peer_reset(&pb);
    SSL_CTX_free(ctx);
    X509_free(cert);
}


static int
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    int   rc;
    BIO  *bio;

    bio = BIO_new_file(path, "w");
    if (bio == NULL) {
        return 0;
    }

    rc = (x == NULL || PEM_write_bio_X509(bio, x) == 1)
         && (k == NULL
             || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)
                == 1);

    BIO_free(bio);

    return rc;
}


static int
temp_name(char *path)
{
    int  fd;

    strcpy(path, "/tmp/ngx_calls_dtls_XXXXXX");

    fd = mkstemp(path);
    if (fd == -1) {
        return 0;
    }

    (void) close(fd);

    return 1;
}


static void
test_pem(ngx_calls_dtls_ctx_t *a)
{
    char                   err[256], fp[FP_MAX];
    char                   cpath[64], kpath[64], opath[64], both[64];
    X509                  *x;
    EVP_PKEY              *k, *other;
    uint64_t               now;
    ngx_calls_dtls_ctx_t  *pem;

    now = 9000000;

    k = EVP_EC_gen("P-256");
    other = EVP_EC_gen("P-256");
    x = (k != NULL) ? make_cert(k, 1) : NULL;

    ok(x != NULL && other != NULL, "test certificate made");
    if (x == NULL || other == NULL) {
        X509_free(x);
        EVP_PKEY_free(k);
        EVP_PKEY_free(other);
        return;
    }

    ok(i2d_X509(x, NULL) > NGX_CALLS_DTLS_MTU,
       "it does not fit one datagram");

    ok(temp_name(cpath) && temp_name(kpath) && temp_name(opath)
       && temp_name(both), "temp files");
    ok(write_pem(cpath, x, NULL) && write_pem(kpath, NULL, k)
       && write_pem(opath, NULL, other) && write_pem(both, x, k),
       "PEM files written");

    err[0] = '\0';
    pem = ngx_calls_dtls_ctx_create(cpath, kpath, err, sizeof(err));
    ok(pem != NULL, "ctx from PEM certificate and key");
    is_str(err, "", "no error");

    if (pem != NULL) {
        hex_fp(x, EVP_sha256(), fp);
        is_str(ngx_calls_dtls_fingerprint(pem), fp,
               "fingerprint of the loaded certificate");

        ok(handshake_ours(a, pem, &now), "handshake with the loaded one");
        ok(pb.max_len <= NGX_CALLS_DTLS_MTU && pb.split == 0,
           "its certificate went out in fragments within the MTU");
        diag("largest server datagram %zu bytes", pb.max_len);

        peer_reset(&pa);
        peer_reset(&pb);
        ngx_calls_dtls_ctx_free(pem);
    }

    pem = ngx_calls_dtls_ctx_create(both, NULL, err, sizeof(err));
    ok(pem != NULL, "certificate and key in one file");
    ngx_calls_dtls_ctx_free(pem);

    err[0] = '\0';
    pem = ngx_calls_dtls_ctx_create(cpath, opath, err, sizeof(err));
    ok(pem == NULL, "mismatched key refused");
    ok(strstr(err, "do not match") != NULL, "with a message");
    diag("%s", err);

    err[0] = '\0';
    pem = ngx_calls_dtls_ctx_create("/nonexistent/cert.pem", kpath, err,
                                    sizeof(err));
    ok(pem == NULL && strstr(err, "/nonexistent/cert.pem") != NULL,
       "missing certificate file named in the error");
    diag("%s", err);

    err[0] = '\0';
    pem = ngx_calls_dtls_ctx_create(NULL, kpath, err, sizeof(err));
    ok(pem == NULL && err[0] != '\0', "key without certificate refused");

    (void) unlink(cpath);
    (void) unlink(kpath);
    (void) unlink(opath);
    (void) unlink(both);

    X509_free(x);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}


int
main(void)
{
    char                   err[256];
    ngx_calls_dtls_ctx_t  *a, *b, *c;

    a = ngx_calls_dtls_ctx_create(NULL, NULL, err, sizeof(err));
    b = ngx_calls_dtls_ctx_create(NULL, NULL, err, sizeof(err));
    c = ngx_calls_dtls_ctx_create(NULL, NULL, err, sizeof(err));

    test_ctx(a, b);

    if (a == NULL || b == NULL || c == NULL) {
        diag("ctx: %s", err);
        return done_testing();
    }

    test_bad_fingerprints(a);
    test_handshake(a, b);
    test_app_data();
    test_garbage(a, b);
    test_mismatch(a, b, c);
    test_loss(a, b);
    test_give_up(a, b);
    test_shutdown(a, b);
    test_plain_server(a);
    test_plain_client(b);
    test_pem(a);

    peer_reset(&pa);
    peer_reset(&pb);

    ngx_calls_dtls_ctx_free(a);
    ngx_calls_dtls_ctx_free(b);
    ngx_calls_dtls_ctx_free(c);

    return done_testing();
}
