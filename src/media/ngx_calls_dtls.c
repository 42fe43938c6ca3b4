
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>

#include "ngx_calls_dtls.h"


/* give up a handshake that has not completed after this long (ms) */
#define NGX_CALLS_DTLS_HANDSHAKE_TIMEOUT  30000

/* retransmission interval: first value and cap, microseconds */
#define NGX_CALLS_DTLS_RTO_INITIAL        500000
#define NGX_CALLS_DTLS_RTO_MAX            4000000

/* "AB:" per byte of a sha-256 digest, the last ':' becomes the NUL */
#define NGX_CALLS_DTLS_FP_SIZE            (32 * 3)

#define NGX_CALLS_DTLS_ERR_SIZE           192

/* DTLS record header: type, version, epoch, sequence number, length */
#define NGX_CALLS_DTLS_RECORD_HEADER      13

#define NGX_CALLS_DTLS_SRTP_LABEL         "EXTRACTOR-dtls_srtp"

#define NGX_CALLS_DTLS_CIPHERS                                                \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"            \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"              \
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"                \
    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"                          \
    "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"

/* GCM first: half the per-packet cost of AES-CM + HMAC in libsrtp */
#define NGX_CALLS_DTLS_SRTP_PROFILES                                          \
    "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"


struct ngx_calls_dtls_ctx_s {
    SSL_CTX                    *ssl_ctx;
    BIO_METHOD                 *bio_method;
    char                        fingerprint[NGX_CALLS_DTLS_FP_SIZE];
};


struct ngx_calls_dtls_s {
    SSL                        *ssl;
    BIO                        *rbio;

    ngx_calls_dtls_handler_t    handler;
    void                       *user;

    ngx_calls_dtls_state_e      state;
    unsigned                    client:1;
    unsigned                    send_failed:1;

    /* caller time (ms) the handshake began: start() or the ClientHello */
    uint64_t                    start;

    /* the expected peer certificate digest, from the SDP fingerprint */
    const EVP_MD               *fp_md;
    unsigned char               fp[EVP_MAX_MD_SIZE];
    unsigned int                fp_len;

    unsigned                    profile;
    size_t                      key_salt_len;
    uint8_t                     local[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t                     remote[NGX_CALLS_SRTP_MAX_KEY_SALT];

    char                        error[NGX_CALLS_DTLS_ERR_SIZE];
};


static int ngx_calls_dtls_generate_cert(SSL_CTX *ssl_ctx, char *err,
    size_t errlen);
static int ngx_calls_dtls_load_cert(SSL_CTX *ssl_ctx, const char *cert_file,
    const char *key_file, char *err, size_t errlen);
static int ngx_calls_dtls_setup_ctx(ngx_calls_dtls_ctx_t *ctx, char *err,
    size_t errlen);
static void ngx_calls_dtls_ssl_error(char *buf, size_t size,
    const char *what);
static int ngx_calls_dtls_parse_fp(ngx_calls_dtls_t *d, const char *alg,
    const char *fp);
static int ngx_calls_dtls_verify_cb(int ok, X509_STORE_CTX *store);
static unsigned int ngx_calls_dtls_timer_cb(SSL *ssl, unsigned int prev_us);
static int ngx_calls_dtls_bio_write(BIO *b, const char *buf, int len);
static long ngx_calls_dtls_bio_ctrl(BIO *b, int cmd, long num, void *ptr);
static int ngx_calls_dtls_records_ok(const uint8_t *p, size_t len);
static void ngx_calls_dtls_handshake(ngx_calls_dtls_t *d, uint64_t now);
static void ngx_calls_dtls_connected(ngx_calls_dtls_t *d);
static void ngx_calls_dtls_read(ngx_calls_dtls_t *d);
static int ngx_calls_dtls_expired(ngx_calls_dtls_t *d, uint64_t now);
static void ngx_calls_dtls_fail(ngx_calls_dtls_t *d, const char *msg);
static void ngx_calls_dtls_fail_ssl(ngx_calls_dtls_t *d, int rc,
    const char *what);


ngx_calls_dtls_ctx_t *
ngx_calls_dtls_ctx_create(const char *cert_file, const char *key_file,
    char *err, size_t errlen)
{
    int                    rc;
    ngx_calls_dtls_ctx_t  *ctx;

    ERR_clear_error();

    ctx = calloc(1, sizeof(ngx_calls_dtls_ctx_t));
    if (ctx == NULL) {
        snprintf(err, errlen, "calloc() failed");
        return NULL;
    }

    ctx->ssl_ctx = SSL_CTX_new(DTLS_method());
    if (ctx->ssl_ctx == NULL) {
        ngx_calls_dtls_ssl_error(err, errlen, "SSL_CTX_new() failed");
        goto failed;
    }

    if (cert_file == NULL && key_file == NULL) {
        rc = ngx_calls_dtls_generate_cert(ctx->ssl_ctx, err, errlen);

    } else {
        rc = ngx_calls_dtls_load_cert(ctx->ssl_ctx, cert_file, key_file,
                                      err, errlen);
    }

    if (rc != 0) {
        goto failed;
    }

    if (ngx_calls_dtls_setup_ctx(ctx, err, errlen) != 0) {
        goto failed;
    }

    ERR_clear_error();

    return ctx;

failed:

    ngx_calls_dtls_ctx_free(ctx);
    ERR_clear_error();

    return NULL;
}


void
ngx_calls_dtls_ctx_free(ngx_calls_dtls_ctx_t *ctx)
{
    if (ctx == NULL) {
        return;
    }

    /* SSL objects still alive hold their own reference to the SSL_CTX */
    SSL_CTX_free(ctx->ssl_ctx);
    BIO_meth_free(ctx->bio_method);
    free(ctx);
}


const char *
ngx_calls_dtls_fingerprint(ngx_calls_dtls_ctx_t *ctx)
{
    return ctx->fingerprint;
}


static int
ngx_calls_dtls_generate_cert(SSL_CTX *ssl_ctx, char *err, size_t errlen)
{
    int         rc;
    BIGNUM     *serial;
    X509       *x509;
    EVP_PKEY   *pkey;
    X509_NAME  *name;

    rc = -1;
    x509 = NULL;
    serial = NULL;

    pkey = EVP_EC_gen("P-256");
    if (pkey == NULL) {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot generate P-256 key");
        return -1;
    }

    x509 = X509_new();
    serial = BN_new();

    if (x509 == NULL || serial == NULL) {
        ngx_calls_dtls_ssl_error(err, errlen, "X509_new() failed");
        goto done;
    }

    /*
     * a random serial: certificates of different nginx instances (or of
     * one instance across restarts) must not look like reissues
     */

    if (BN_rand(serial, 64, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1
        || BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x509)) == NULL)
    {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot set serial number");
        goto done;
    }

    /* starts a day back so a peer with a slow clock still accepts it */

    if (X509_set_version(x509, X509_VERSION_3) != 1
        || X509_gmtime_adj(X509_getm_notBefore(x509), -86400L) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(x509), 29 * 86400L) == NULL)
    {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot set validity");
        goto done;
    }

    name = X509_get_subject_name(x509);

    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *) "ngx_calls",
                                   -1, -1, 0)
        != 1
        || X509_set_issuer_name(x509, name) != 1)
    {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot set name");
        goto done;
    }

    if (X509_set_pubkey(x509, pkey) != 1
        || X509_sign(x509, pkey, EVP_sha256()) <= 0)
    {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot sign certificate");
        goto done;
    }

    if (SSL_CTX_use_certificate(ssl_ctx, x509) != 1
        || SSL_CTX_use_PrivateKey(ssl_ctx, pkey) != 1)
    {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot use certificate");
        goto done;
    }

    rc = 0;

done:

    /* the SSL_CTX keeps its own references */
    BN_free(serial);
    X509_free(x509);
    EVP_PKEY_free(pkey);

    return rc;
}


static int
ngx_calls_dtls_load_cert(SSL_CTX *ssl_ctx, const char *cert_file,
    const char *key_file, char *err, size_t errlen)
{
    int        rc;
    BIO       *bio;
    X509      *cert;
    EVP_PKEY  *pkey;
    char       what[NGX_CALLS_DTLS_ERR_SIZE];

    if (cert_file == NULL) {
        snprintf(err, errlen, "a DTLS key without a certificate");
        return -1;
    }

    /* the key may sit in the certificate file */
    if (key_file == NULL) {
        key_file = cert_file;
    }

    if (SSL_CTX_use_certificate_chain_file(ssl_ctx, cert_file) != 1) {
        snprintf(what, sizeof(what), "cannot load certificate \"%s\"",
                 cert_file);
        ngx_calls_dtls_ssl_error(err, errlen, what);
        return -1;
    }

    bio = BIO_new_file(key_file, "r");
    if (bio == NULL) {
        snprintf(what, sizeof(what), "cannot open key \"%s\"", key_file);
        ngx_calls_dtls_ssl_error(err, errlen, what);
        return -1;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

    BIO_free(bio);

    if (pkey == NULL) {
        snprintf(what, sizeof(what), "cannot read key \"%s\"", key_file);
        ngx_calls_dtls_ssl_error(err, errlen, what);
        return -1;
    }

    rc = -1;

    /*
     * checked here rather than left to SSL_CTX_use_PrivateKey(), whose
     * "key values mismatch" does not say which files are involved
     */

    cert = SSL_CTX_get0_certificate(ssl_ctx);

    if (cert == NULL || X509_check_private_key(cert, pkey) != 1) {
        snprintf(err, errlen,
                 "certificate \"%s\" and key \"%s\" do not match",
                 cert_file, key_file);
        goto done;
    }

    if (SSL_CTX_use_PrivateKey(ssl_ctx, pkey) != 1
        || SSL_CTX_check_private_key(ssl_ctx) != 1)
    {
        snprintf(what, sizeof(what), "cannot use key \"%s\"", key_file);
        ngx_calls_dtls_ssl_error(err, errlen, what);
        goto done;
    }

    rc = 0;

done:

    EVP_PKEY_free(pkey);

    return rc;
}


static int
ngx_calls_dtls_setup_ctx(ngx_calls_dtls_ctx_t *ctx, char *err,
    size_t errlen)
{
    int            type;
    char          *p;
    X509          *cert;
    SSL_CTX       *ssl_ctx;
    unsigned int   i, n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    static const char  hex[] = "0123456789ABCDEF";

    ssl_ctx = ctx->ssl_ctx;

    cert = SSL_CTX_get0_certificate(ssl_ctx);

    if (cert == NULL
        || X509_digest(cert, EVP_sha256(), md, &n) != 1
        || n != 32)
    {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot hash certificate");
        return -1;
    }

    p = ctx->fingerprint;

    for (i = 0; i < n; i++) {
        *p++ = hex[md[i] >> 4];
        *p++ = hex[md[i] & 0x0f];
        *p++ = ':';
    }

    p[-1] = '\0';

    if (SSL_CTX_set_min_proto_version(ssl_ctx, DTLS1_2_VERSION) != 1) {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot require DTLS 1.2");
        return -1;
    }

    if (SSL_CTX_set_cipher_list(ssl_ctx, NGX_CALLS_DTLS_CIPHERS) != 1) {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot set ciphers");
        return -1;
    }

    if (SSL_CTX_set1_groups_list(ssl_ctx, "P-256:X25519") != 1) {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot set groups");
        return -1;
    }

    /* note: this one returns 0 on success */
    if (SSL_CTX_set_tlsext_use_srtp(ssl_ctx, NGX_CALLS_DTLS_SRTP_PROFILES)
        != 0)
    {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot set SRTP profiles");
        return -1;
    }

    /*
     * The peer's certificate is self-signed; what authenticates it is its
     * digest in the SDP, which the callback compares.  No session reuse
     * (a resumed session would skip the certificate), no tickets, no
     * renegotiation (the certificate could change under us).  The MTU is
     * ours to set, the BIO has no path to query.
     */

    SSL_CTX_set_verify(ssl_ctx,
                       SSL_VERIFY_PEER|SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       ngx_calls_dtls_verify_cb);

    (void) SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);

    (void) SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_QUERY_MTU
                                        |SSL_OP_NO_TICKET
                                        |SSL_OP_NO_RENEGOTIATION
                                        |SSL_OP_CIPHER_SERVER_PREFERENCE);

    SSL_CTX_set_read_ahead(ssl_ctx, 0);

    /*
     * OpenSSL sizes each association's write buffer for the largest
     * record it may send (16 KB by default) and keeps it for the life of
     * the association.  No record of ours exceeds a datagram (handshake
     * messages are fragmented to the MTU, ngx_calls_dtls_write() refuses
     * more than DTLS_get_data_mtu()), so a buffer for one datagram does:
     * 15 KB less per association.  The read buffer cannot shrink: the
     * peer may send records of any size.
     */

    if (SSL_CTX_set_max_send_fragment(ssl_ctx, NGX_CALLS_DTLS_MTU) != 1) {
        ngx_calls_dtls_ssl_error(err, errlen,
                                 "cannot set the maximum send fragment");
        return -1;
    }

    type = BIO_get_new_index();
    if (type == -1) {
        ngx_calls_dtls_ssl_error(err, errlen, "BIO_get_new_index() failed");
        return -1;
    }

    ctx->bio_method = BIO_meth_new(type|BIO_TYPE_SOURCE_SINK,
                                   "ngx_calls DTLS datagram");
    if (ctx->bio_method == NULL
        || BIO_meth_set_write(ctx->bio_method, ngx_calls_dtls_bio_write)
           != 1
        || BIO_meth_set_ctrl(ctx->bio_method, ngx_calls_dtls_bio_ctrl) != 1)
    {
        ngx_calls_dtls_ssl_error(err, errlen, "cannot create BIO method");
        return -1;
    }

    return 0;
}


ngx_calls_dtls_t *
ngx_calls_dtls_create(ngx_calls_dtls_ctx_t *ctx, int client,
    const char *fp_alg, const char *fp,
    const ngx_calls_dtls_handler_t *handler, void *user)
{
    BIO               *rbio, *wbio;
    ngx_calls_dtls_t  *d;

    if (handler == NULL || handler->send == NULL || handler->data == NULL) {
        return NULL;
    }

    d = calloc(1, sizeof(ngx_calls_dtls_t));
    if (d == NULL) {
        return NULL;
    }

    if (ngx_calls_dtls_parse_fp(d, fp_alg, fp) != 0) {
        free(d);
        return NULL;
    }

    d->handler = *handler;
    d->user = user;
    d->client = client ? 1 : 0;
    d->state = NGX_CALLS_DTLS_NEW;

    ERR_clear_error();

    d->ssl = SSL_new(ctx->ssl_ctx);
    if (d->ssl == NULL) {
        goto failed;
    }

    rbio = BIO_new(BIO_s_mem());
    if (rbio == NULL) {
        goto failed;
    }

    wbio = BIO_new(ctx->bio_method);
    if (wbio == NULL) {
        BIO_free(rbio);
        goto failed;
    }

    /* an empty read BIO means "no datagram yet", not end of file */
    (void) BIO_set_mem_eof_return(rbio, -1);

    BIO_set_data(wbio, d);
    BIO_set_init(wbio, 1);

    /* the SSL owns both BIOs from here on */
    SSL_set_bio(d->ssl, rbio, wbio);
    d->rbio = rbio;

    if (SSL_set_app_data(d->ssl, d) != 1
        || SSL_set_mtu(d->ssl, NGX_CALLS_DTLS_MTU) <= 0)
    {
        goto failed;
    }

    DTLS_set_timer_cb(d->ssl, ngx_calls_dtls_timer_cb);

    if (d->client) {
        SSL_set_connect_state(d->ssl);

    } else {
        SSL_set_accept_state(d->ssl);
    }

    return d;

failed:

    ERR_clear_error();
    ngx_calls_dtls_free(d);

    return NULL;
}


void
ngx_calls_dtls_free(ngx_calls_dtls_t *d)
{
    if (d == NULL) {
        return;
    }

    SSL_free(d->ssl);
    OPENSSL_cleanse(d, sizeof(ngx_calls_dtls_t));
    free(d);
}


int
ngx_calls_dtls_start(ngx_calls_dtls_t *d, uint64_t now)
{
    int  n;

    if (d->state != NGX_CALLS_DTLS_NEW) {
        return -1;
    }

    /*
     * For the server role nothing is sent: start() only arms the give-up
     * deadline, so a peer that never sends a ClientHello is noticed too.
     */

    d->state = NGX_CALLS_DTLS_HANDSHAKING;
    d->start = now;

    if (!d->client) {
        return 0;
    }

    ERR_clear_error();

    n = SSL_do_handshake(d->ssl);

    if (SSL_get_error(d->ssl, n) != SSL_ERROR_WANT_READ) {
        ngx_calls_dtls_fail_ssl(d, n, "cannot start DTLS handshake");
        ERR_clear_error();
        return -1;
    }

    return 0;
}


ngx_calls_dtls_state_e
ngx_calls_dtls_input(ngx_calls_dtls_t *d, const uint8_t *buf, size_t len,
    uint64_t now)
{
    switch (d->state) {

    case NGX_CALLS_DTLS_CLOSED:
    case NGX_CALLS_DTLS_FAILED:
        return d->state;

    case NGX_CALLS_DTLS_NEW:

        /* a client that has not sent its ClientHello expects nothing */
        if (d->client) {
            return d->state;
        }

        break;

    default:
        break;
    }

    if (ngx_calls_dtls_records_ok(buf, len) != 0) {
        return d->state;
    }

    if (ngx_calls_dtls_expired(d, now)) {
        return d->state;
    }

    ERR_clear_error();

    /*
     * The read BIO holds exactly this datagram: DTLS reads a whole
     * datagram per BIO_read, and the reset below discards anything left
     * over (there should be nothing), so datagrams never run together.
     */

    if (BIO_write(d->rbio, buf, (int) len) != (int) len) {
        /* no memory: as good as a lost datagram */
        (void) BIO_reset(d->rbio);
        ERR_clear_error();
        return d->state;
    }

    if (d->state != NGX_CALLS_DTLS_CONNECTED) {
        ngx_calls_dtls_handshake(d, now);
    }

    if (d->state == NGX_CALLS_DTLS_CONNECTED) {
        ngx_calls_dtls_read(d);
    }

    (void) BIO_reset(d->rbio);
    ERR_clear_error();

    return d->state;
}


int
ngx_calls_dtls_write(ngx_calls_dtls_t *d, const uint8_t *buf, size_t len)
{
    int  n;

    if (d->state != NGX_CALLS_DTLS_CONNECTED || len == 0) {
        return -1;
    }

    /* one record, one datagram: larger payloads are not fragmented */
    if (len > DTLS_get_data_mtu(d->ssl)) {
        return -1;
    }

    ERR_clear_error();

    d->send_failed = 0;

    n = SSL_write(d->ssl, buf, (int) len);

    if (n != (int) len) {
        ngx_calls_dtls_fail_ssl(d, n, "DTLS write failed");
        ERR_clear_error();
        return -1;
    }

    return d->send_failed ? -1 : 0;
}


ngx_calls_dtls_state_e
ngx_calls_dtls_state(ngx_calls_dtls_t *d)
{
    return d->state;
}


const char *
ngx_calls_dtls_error(ngx_calls_dtls_t *d)
{
    return d->error;
}


/*
 * Time and OpenSSL.  OpenSSL 3.0 keeps the DTLS retransmission timer
 * itself and reads gettimeofday() to decide whether it has expired, in
 * DTLSv1_handle_timeout() and also on every read that finds no data; there
 * is no API to feed it another clock, and no way to force a retransmission
 * of an unexpired timer.  So:
 *
 *   - the retransmission intervals are ours (DTLS_set_timer_cb: 500 ms,
 *     doubling, at most 4 s), but they elapse on OpenSSL's wall clock;
 *     next_timeout() translates the time left into the caller's clock
 *     (now + remaining), and timer() asks OpenSSL to act on it.  With the
 *     nginx event loop time both clocks run at the same rate; a timer()
 *     call that comes early is harmless, the caller re-arms with
 *     next_timeout();
 *   - the give-up deadline (30 s after the handshake began) is measured
 *     purely in the caller's time.
 */

uint64_t
ngx_calls_dtls_next_timeout(ngx_calls_dtls_t *d, uint64_t now)
{
    uint64_t        t, ms;
    struct timeval  tv;

    if (d->state != NGX_CALLS_DTLS_HANDSHAKING) {
        return 0;
    }

    t = d->start + NGX_CALLS_DTLS_HANDSHAKE_TIMEOUT;

    if (DTLSv1_get_timeout(d->ssl, &tv) == 1) {

        /* rounded up: an early call would find the timer not expired */
        ms = (uint64_t) tv.tv_sec * 1000
             + ((uint64_t) tv.tv_usec + 999) / 1000;

        if (now + ms < t) {
            t = now + ms;
        }
    }

    /* 0 means "nothing pending" */
    return t ? t : 1;
}


ngx_calls_dtls_state_e
ngx_calls_dtls_timer(ngx_calls_dtls_t *d, uint64_t now)
{
    if (d->state != NGX_CALLS_DTLS_HANDSHAKING) {
        return d->state;
    }

    if (ngx_calls_dtls_expired(d, now)) {
        return d->state;
    }

    ERR_clear_error();

    /* retransmits the last flight if OpenSSL's timer has run out */
    if (DTLSv1_handle_timeout(d->ssl) < 0) {
        ngx_calls_dtls_fail_ssl(d, -1, "DTLS retransmission failed");
    }

    ERR_clear_error();

    return d->state;
}


int
ngx_calls_dtls_srtp_keys(ngx_calls_dtls_t *d, unsigned *profile,
    uint8_t *local, uint8_t *remote, size_t *key_salt_len)
{
    if (d->state != NGX_CALLS_DTLS_CONNECTED || d->key_salt_len == 0) {
        return -1;
    }

    *profile = d->profile;
    memcpy(local, d->local, d->key_salt_len);
    memcpy(remote, d->remote, d->key_salt_len);
    *key_salt_len = d->key_salt_len;

    return 0;
}


void
ngx_calls_dtls_shutdown(ngx_calls_dtls_t *d)
{
    if (d->state == NGX_CALLS_DTLS_CONNECTED) {
        ERR_clear_error();

        /*
         * 0 means "close_notify sent, the peer's not yet seen", which is
         * all we want: nothing is read after this; a failure leaves the
         * peer to notice through ICE consent, so it is not reported
         */

        (void) SSL_shutdown(d->ssl);

        ERR_clear_error();
    }

    /*
     * After a local shutdown the association is as finished as after the
     * peer's close_notify: no more application data either way.
     */

    if (d->state != NGX_CALLS_DTLS_FAILED) {
        d->state = NGX_CALLS_DTLS_CLOSED;
    }
}


static void
ngx_calls_dtls_handshake(ngx_calls_dtls_t *d, uint64_t now)
{
    int  n, e;

    n = SSL_do_handshake(d->ssl);

    if (n == 1) {
        if (d->state == NGX_CALLS_DTLS_NEW) {
            d->start = now;
        }

        ngx_calls_dtls_connected(d);
        return;
    }

    e = SSL_get_error(d->ssl, n);

    if (e != SSL_ERROR_WANT_READ) {
        ngx_calls_dtls_fail_ssl(d, n, "DTLS handshake failed");
        return;
    }

    /*
     * a server that has not been start()ed begins with the first
     * datagram OpenSSL accepted as a ClientHello; anything it dropped
     * leaves the state alone (SSL_in_before() would not do: it turns
     * false on the first SSL_do_handshake(), whatever it read)
     */

    if (d->state == NGX_CALLS_DTLS_NEW
        && SSL_get_state(d->ssl) != TLS_ST_BEFORE)
    {
        d->state = NGX_CALLS_DTLS_HANDSHAKING;
        d->start = now;
    }
}


static void
ngx_calls_dtls_connected(ngx_calls_dtls_t *d)
{
    int                       rc;
    X509                     *cert;
    size_t                    klen, slen;
    unsigned int              n;
    unsigned char            *ck, *sk, *cs, *ss;
    unsigned char             md[EVP_MAX_MD_SIZE];
    unsigned char             km[2 * NGX_CALLS_SRTP_MAX_KEY_SALT];
    SRTP_PROTECTION_PROFILE  *p;

    /*
     * The verify callback has compared the fingerprint already and failed
     * the handshake (with an alert) on a mismatch.  It is checked again
     * here, where it matters, so no path that skips the callback (a
     * resumed session, a chain the callback never saw at depth 0) can
     * yield keys for an unauthenticated peer.
     */

    cert = SSL_get1_peer_certificate(d->ssl);
    if (cert == NULL) {
        ngx_calls_dtls_fail(d, "no peer certificate");
        return;
    }

    rc = X509_digest(cert, d->fp_md, md, &n);

    X509_free(cert);

    if (rc != 1) {
        ngx_calls_dtls_fail(d, "cannot hash the peer certificate");
        return;
    }

    if (n != d->fp_len || CRYPTO_memcmp(md, d->fp, n) != 0) {
        ngx_calls_dtls_fail(d, "certificate fingerprint mismatch");
        return;
    }

    p = SSL_get_selected_srtp_profile(d->ssl);
    if (p == NULL) {
        ngx_calls_dtls_fail(d, "no SRTP profile negotiated");
        return;
    }

    switch (p->id) {

    case SRTP_AES128_CM_SHA1_80:
        d->profile = NGX_CALLS_SRTP_AES128_CM_SHA1_80;
        klen = 16;
        slen = 14;
        break;

    case SRTP_AEAD_AES_128_GCM:
        d->profile = NGX_CALLS_SRTP_AEAD_AES_128_GCM;
        klen = 16;
        slen = 12;
        break;

    default:
        /* cannot happen: only these two are offered */
        ngx_calls_dtls_fail(d, "unexpected SRTP profile negotiated");
        return;
    }

    /* RFC 5764 4.2: client key | server key | client salt | server salt */

    if (SSL_export_keying_material(d->ssl, km, 2 * (klen + slen),
                                   NGX_CALLS_DTLS_SRTP_LABEL,
                                   sizeof(NGX_CALLS_DTLS_SRTP_LABEL) - 1,
                                   NULL, 0, 0)
        != 1)
    {
        ngx_calls_dtls_fail(d, "cannot export SRTP keying material");
        return;
    }

    ck = km;
    sk = km + klen;
    cs = km + 2 * klen;
    ss = km + 2 * klen + slen;

    if (d->client) {
        memcpy(d->local, ck, klen);
        memcpy(d->local + klen, cs, slen);
        memcpy(d->remote, sk, klen);
        memcpy(d->remote + klen, ss, slen);

    } else {
        memcpy(d->local, sk, klen);
        memcpy(d->local + klen, ss, slen);
        memcpy(d->remote, ck, klen);
        memcpy(d->remote + klen, cs, slen);
    }

    OPENSSL_cleanse(km, sizeof(km));

    d->key_salt_len = klen + slen;
    d->state = NGX_CALLS_DTLS_CONNECTED;
}


static void
ngx_calls_dtls_read(ngx_calls_dtls_t *d)
{
    int      n, e;
    uint8_t  buf[SSL3_RT_MAX_PLAIN_LENGTH];

    /*
     * A whole record per SSL_read (the buffer holds the largest one), so
     * each SCTP packet reaches the data callback in one piece.  Records
     * that are not application data (a retransmitted Finished, a warning
     * alert) are handled inside SSL_read.
     */

    for ( ;; ) {
        n = SSL_read(d->ssl, buf, sizeof(buf));

        if (n > 0) {
            d->handler.data(d->user, buf, (size_t) n);

            /* the callback may have shut the association down */
            if (d->state != NGX_CALLS_DTLS_CONNECTED) {
                return;
            }

            continue;
        }

        e = SSL_get_error(d->ssl, n);

        switch (e) {

        case SSL_ERROR_WANT_READ:
            return;

        case SSL_ERROR_ZERO_RETURN:
            d->state = NGX_CALLS_DTLS_CLOSED;

            /* answer with our close_notify; its failure changes nothing */
            (void) SSL_shutdown(d->ssl);

            return;

        default:
            ngx_calls_dtls_fail_ssl(d, n, "DTLS read failed");
            return;
        }
    }
}


/*
 * Datagrams that are not a sequence of whole DTLS 1.0/1.2 records are
 * garbage; so is plaintext (epoch 0) application data, which DTLS 1.2
 * never sends and which OpenSSL would answer with a fatal alert during a
 * handshake.  Content types beyond application data (heartbeat, CID) are
 * not supported and would be fatal too.
 */

static int
ngx_calls_dtls_records_ok(const uint8_t *p, size_t len)
{
    size_t  n;

    if (len == 0 || len > 65535) {
        return -1;
    }

    while (len) {
        if (len < NGX_CALLS_DTLS_RECORD_HEADER) {
            return -1;
        }

        if (p[0] < 20 || p[0] > 23) {
            return -1;
        }

        if (p[1] != 0xfe || (p[2] != 0xfd && p[2] != 0xff)) {
            return -1;
        }

        if (p[0] == 23 && p[3] == 0 && p[4] == 0) {
            return -1;
        }

        n = NGX_CALLS_DTLS_RECORD_HEADER + ((size_t) p[11] << 8 | p[12]);

        if (n > len) {
            return -1;
        }

        p += n;
        len -= n;
    }

    return 0;
}


static int
ngx_calls_dtls_expired(ngx_calls_dtls_t *d, uint64_t now)
{
    if (d->state != NGX_CALLS_DTLS_HANDSHAKING
        || now < d->start + NGX_CALLS_DTLS_HANDSHAKE_TIMEOUT)
    {
        return 0;
    }

    ngx_calls_dtls_fail(d, "DTLS handshake timed out");

    return 1;
}


static int
ngx_calls_dtls_parse_fp(ngx_calls_dtls_t *d, const char *alg,
    const char *fp)
{
    int            hi, lo;
    size_t         size;
    const char    *p;
    unsigned int   n;

    if (alg == NULL || fp == NULL) {
        return -1;
    }

    if (strcasecmp(alg, "sha-256") == 0) {
        d->fp_md = EVP_sha256();

    } else if (strcasecmp(alg, "sha-384") == 0) {
        d->fp_md = EVP_sha384();

    } else if (strcasecmp(alg, "sha-512") == 0) {
        d->fp_md = EVP_sha512();

    } else {
        return -1;
    }

    size = (size_t) EVP_MD_get_size(d->fp_md);

    /* "XX:XX:...:XX", hex digits in either case */

    p = fp;

    for (n = 0; n < size; n++) {
        hi = OPENSSL_hexchar2int((unsigned char) p[0]);
        lo = (hi < 0) ? -1 : OPENSSL_hexchar2int((unsigned char) p[1]);

        if (lo < 0) {
            return -1;
        }

        d->fp[n] = (unsigned char) (hi << 4 | lo);
        p += 2;

        if (n + 1 < size) {
            if (*p != ':') {
                return -1;
            }

            p++;
        }
    }

    if (*p != '\0') {
        return -1;
    }

    d->fp_len = n;

    return 0;
}


/*
 * WebRTC certificates are self-signed and chain to nothing, so OpenSSL's
 * own verdict (ok) is irrelevant; the end-entity certificate is accepted
 * if and only if its digest is the one the SDP announced.  Failing here
 * rather than after the handshake sends the peer a bad_certificate alert
 * and never derives keys for it.
 */

static int
ngx_calls_dtls_verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL               *ssl;
    X509              *cert;
    unsigned int       n;
    unsigned char      md[EVP_MAX_MD_SIZE];
    ngx_calls_dtls_t  *d;

    if (X509_STORE_CTX_get_error_depth(store) != 0) {
        return 1;
    }

    ssl = X509_STORE_CTX_get_ex_data(store,
                                     SSL_get_ex_data_X509_STORE_CTX_idx());
    if (ssl == NULL) {
        return 0;
    }

    d = SSL_get_app_data(ssl);
    cert = X509_STORE_CTX_get_current_cert(store);

    if (d == NULL || cert == NULL) {
        return 0;
    }

    if (X509_digest(cert, d->fp_md, md, &n) != 1) {
        ngx_calls_dtls_fail(d, "cannot hash the peer certificate");
        return 0;
    }

    if (n != d->fp_len || CRYPTO_memcmp(md, d->fp, n) != 0) {
        ngx_calls_dtls_fail(d, "certificate fingerprint mismatch");
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
        return 0;
    }

    return 1;
}


static unsigned int
ngx_calls_dtls_timer_cb(SSL *ssl, unsigned int prev_us)
{
    if (prev_us == 0) {
        return NGX_CALLS_DTLS_RTO_INITIAL;
    }

    if (prev_us >= NGX_CALLS_DTLS_RTO_MAX / 2) {
        return NGX_CALLS_DTLS_RTO_MAX;
    }

    return prev_us * 2;
}


/*
 * The write side of every association: each BIO_write() is sent as one
 * datagram, at once.  That is what keeps datagram boundaries:
 *
 *   - during a handshake OpenSSL pushes its own buffering BIO on top of
 *     this one and packs whole records into it while they fit the MTU set
 *     with SSL_set_mtu() (it measures with BIO_wpending() of that buffer,
 *     fragmenting handshake messages that are larger); when the next
 *     record would not fit, and at the end of each flight, it flushes the
 *     buffer with a single BIO_write(): one datagram of whole records,
 *     never above the MTU;
 *   - after the handshake every record (application data, alerts, the
 *     retransmitted last flight) arrives here as its own BIO_write().
 *
 * So this BIO must never hold data back (PENDING/WPENDING are 0, FLUSH is
 * a no-op); a memory BIO drained after each SSL call would instead merge
 * several of those writes into one buffer.
 *
 * A failed send is reported as success: for UDP it is a lost datagram,
 * which DTLS retransmission recovers during the handshake; an error here
 * would abort the handshake.  ngx_calls_dtls_write() reports it instead.
 */

static int
ngx_calls_dtls_bio_write(BIO *b, const char *buf, int len)
{
    ngx_calls_dtls_t  *d;

    BIO_clear_retry_flags(b);

    d = BIO_get_data(b);

    if (d == NULL || len < 0) {
        return -1;
    }

    if (len == 0) {
        return 0;
    }

    if (len > NGX_CALLS_DTLS_MTU) {
        /* never sent: OpenSSL honours SSL_set_mtu(), this is a safety net */
        d->send_failed = 1;
        return len;
    }

    if (d->handler.send(d->user, (const uint8_t *) buf, (size_t) len) != 0) {
        d->send_failed = 1;
    }

    return len;
}


static long
ngx_calls_dtls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {

    case BIO_CTRL_FLUSH:
        /* every write went out at once */
        return 1;

    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return NGX_CALLS_DTLS_MTU;

    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
        /* NGX_CALLS_DTLS_MTU already is the UDP payload size */
        return 0;

    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
        /* nothing is ever buffered, so OpenSSL packs nothing behind it */
        return 0;

    default:
        /* incl. BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT, MTU_EXCEEDED: no socket */
        return 0;
    }
}


static void
ngx_calls_dtls_fail(ngx_calls_dtls_t *d, const char *msg)
{
    /* the first reason is the one to log: later errors are consequences */
    if (d->error[0] == '\0') {
        snprintf(d->error, sizeof(d->error), "%s", msg);
    }

    d->state = NGX_CALLS_DTLS_FAILED;
}


static void
ngx_calls_dtls_fail_ssl(ngx_calls_dtls_t *d, int rc, const char *what)
{
    int   e;
    char  buf[NGX_CALLS_DTLS_ERR_SIZE];

    e = SSL_get_error(d->ssl, rc);

    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(buf, sizeof(buf), "%s: I/O error", what);

    } else if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL) {
        ngx_calls_dtls_ssl_error(buf, sizeof(buf), what);

    } else {
        snprintf(buf, sizeof(buf), "%s: SSL_get_error() %d", what, e);
    }

    ngx_calls_dtls_fail(d, buf);
}


/* "what: reason" from the first error OpenSSL queued, the root cause */

static void
ngx_calls_dtls_ssl_error(char *buf, size_t size, const char *what)
{
    const char     *reason;
    unsigned long   e;

    e = ERR_peek_error();

    if (e == 0) {
        snprintf(buf, size, "%s", what);
        return;
    }

    /* OpenSSL 3 keeps errno values, e.g. of fopen(), as "system" errors */
    reason = ERR_SYSTEM_ERROR(e) ? strerror((int) ERR_GET_REASON(e))
                                 : ERR_reason_error_string(e);

    if (reason != NULL) {
        snprintf(buf, size, "%s: %s", what, reason);

    } else {
        snprintf(buf, size, "%s: error %lu", what, e);
    }
}
