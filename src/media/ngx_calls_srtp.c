
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * SRTP and SRTCP on OpenSSL libcrypto, for the two profiles the DTLS code
 * negotiates: AES_CM_128_HMAC_SHA1_80 (RFC 3711) and AEAD_AES_128_GCM
 * (RFC 7714, 16-byte tag).
 *
 * Protect is the hot path of the SFU: every forwarded packet is protected
 * once per receiver.  So everything that can be is done once at create:
 * the session keys are derived, the AES key schedules live in kept EVP
 * contexts, and the HMAC inner and outer SHA-1 states are precomputed.
 * A packet then costs one EVP_EncryptUpdate over its counter blocks plus
 * two SHA-1 finals (AES-CM), or one GCM pass (AEAD), and no allocation.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ngx_calls_bytes.h"
#include "ngx_calls_dtls.h"
#include "ngx_calls_srtp.h"


#define NGX_CALLS_SRTP_KEY_LEN      16        /* AES-128 session key */
#define NGX_CALLS_SRTP_CM_SALT      14        /* RFC 3711 master salt */
#define NGX_CALLS_SRTP_GCM_SALT     12        /* RFC 7714 master salt */
#define NGX_CALLS_SRTP_AUTH_KEY     20        /* HMAC-SHA1 session key */
#define NGX_CALLS_SRTP_CM_TAG       10        /* HMAC-SHA1-80 */
#define NGX_CALLS_SRTP_GCM_TAG      16
#define NGX_CALLS_SRTCP_TRAILER     4         /* E flag, SRTCP index */

#define NGX_CALLS_SRTCP_E           0x80000000
#define NGX_CALLS_SRTCP_MAX_INDEX   0x7fffffff

/* RFC 3711 4.3.1 key derivation labels */
#define NGX_CALLS_SRTP_LABEL_RTP_ENC     0x00
#define NGX_CALLS_SRTP_LABEL_RTP_AUTH    0x01
#define NGX_CALLS_SRTP_LABEL_RTP_SALT    0x02
#define NGX_CALLS_SRTP_LABEL_RTCP_ENC    0x03
#define NGX_CALLS_SRTP_LABEL_RTCP_AUTH   0x04
#define NGX_CALLS_SRTP_LABEL_RTCP_SALT   0x05

/* replay window of the inbound direction: video key frames come in bursts */
#define NGX_CALLS_SRTP_WINDOW       1024

/* SRTCP replay window, as libsrtp's */
#define NGX_CALLS_SRTCP_WINDOW      128

/*
 * SSRC states per direction.  Inbound streams are only made for packets
 * that authenticate, so these are the peer's own SSRCs: a few per track.
 * Outbound, a receiver gets one SSRC per remote track and may be in a
 * large call; evicting an outbound stream loses its ROC (the receiver then
 * fails every packet after the first wrap), so that bound is generous and
 * only stops a runaway.
 */
#define NGX_CALLS_SRTP_MAX_IN       64
#define NGX_CALLS_SRTP_MAX_OUT      1024
#define NGX_CALLS_SRTP_INIT_STREAMS 8

/*
 * The AES-CM counter is 16 bits wide (2^16 blocks of keystream per
 * packet); datagrams are far shorter, anything longer is refused.
 */
#define NGX_CALLS_SRTP_MAX_LEN      65535

/* keystream made per EVP_EncryptUpdate: a 1200-byte payload in one call */
#define NGX_CALLS_SRTP_CM_BLOCKS    128


_Static_assert(NGX_CALLS_SRTP_TRAILER
               >= NGX_CALLS_SRTCP_TRAILER + NGX_CALLS_SRTP_GCM_TAG,
               "NGX_CALLS_SRTP_TRAILER too small");
_Static_assert(NGX_CALLS_SRTP_MAX_KEY_SALT
               >= NGX_CALLS_SRTP_KEY_LEN + NGX_CALLS_SRTP_CM_SALT,
               "NGX_CALLS_SRTP_MAX_KEY_SALT too small");
_Static_assert(NGX_CALLS_SRTP_WINDOW % 64 == 0
               && NGX_CALLS_SRTCP_WINDOW % 64 == 0,
               "replay windows are whole 64-bit words");


typedef struct {
    uint64_t                  used;           /* LRU stamp */

    /* RTP: the highest index (ROC << 16 | SEQ) seen */
    uint64_t                  rtp_index;

    /* SRTCP: out the last index sent, in the highest index accepted */
    uint32_t                  rtcp_index;

    uint32_t                  ssrc;
    unsigned                  rtp_valid:1;
    unsigned                  rtcp_valid:1;

    /*
     * Inbound replay windows, circular: the bit of index i is
     * i % window, valid for the window below the highest index.
     */
    uint64_t                  rtp_win[NGX_CALLS_SRTP_WINDOW / 64];
    uint64_t                  rtcp_win[NGX_CALLS_SRTCP_WINDOW / 64];
} ngx_calls_srtp_stream_t;


typedef struct {
    EVP_CIPHER_CTX           *rtp;            /* AES-128-ECB or -GCM */
    EVP_CIPHER_CTX           *rtcp;

    /* HMAC-SHA1 states after the ipad/opad block (AES-CM only) */
    SHA_CTX                   rtp_inner;
    SHA_CTX                   rtp_outer;
    SHA_CTX                   rtcp_inner;
    SHA_CTX                   rtcp_outer;

    uint8_t                   rtp_salt[NGX_CALLS_SRTP_CM_SALT];
    uint8_t                   rtcp_salt[NGX_CALLS_SRTP_CM_SALT];

    unsigned                  gcm:1;
    unsigned                  inbound:1;

    /* SSRC states: ssrcs[] mirrors streams[].ssrc for a cheap scan */
    ngx_calls_srtp_stream_t  *streams;
    uint32_t                 *ssrcs;
    uint32_t                  nstreams;
    uint32_t                  cap;
    uint32_t                  max;
    uint32_t                  last;           /* the last stream hit */
    uint32_t                  last_ssrc;      /* its SSRC: no scan then */
    uint64_t                  clock;
} ngx_calls_srtp_dir_t;


/* the session keys of one direction; salts are 12 bytes for GCM */
typedef struct {
    uint8_t                   rtp_key[NGX_CALLS_SRTP_KEY_LEN];
    uint8_t                   rtcp_key[NGX_CALLS_SRTP_KEY_LEN];
    uint8_t                   rtp_salt[NGX_CALLS_SRTP_CM_SALT];
    uint8_t                   rtcp_salt[NGX_CALLS_SRTP_CM_SALT];
    uint8_t                   rtp_auth[NGX_CALLS_SRTP_AUTH_KEY];
    uint8_t                   rtcp_auth[NGX_CALLS_SRTP_AUTH_KEY];
} ngx_calls_srtp_keys_t;


static ngx_calls_srtp_dir_t *ngx_calls_srtp_dir_create(unsigned profile,
    const uint8_t *master, int inbound);
static ngx_calls_srtp_dir_t *ngx_calls_srtp_dir_alloc(unsigned profile,
    int inbound);
static int ngx_calls_srtp_dir_keys(ngx_calls_srtp_dir_t *d,
    const ngx_calls_srtp_keys_t *k);
static void ngx_calls_srtp_dir_free(ngx_calls_srtp_dir_t *d);
static int ngx_calls_srtp_kdf(EVP_CIPHER_CTX *ecb, const uint8_t *salt,
    unsigned label, uint8_t *out, size_t n);
static EVP_CIPHER_CTX *ngx_calls_srtp_cipher(const EVP_CIPHER *cipher,
    const uint8_t *key, int enc);
static int ngx_calls_srtp_hmac_init(SHA_CTX *inner, SHA_CTX *outer,
    const uint8_t *key);
static int ngx_calls_srtp_hmac(const SHA_CTX *inner, const SHA_CTX *outer,
    const uint8_t *p, size_t n, const uint8_t *p2, size_t n2,
    uint8_t *tag);
static int ngx_calls_srtp_cm_xor(EVP_CIPHER_CTX *ecb, const uint8_t *iv,
    uint8_t *p, size_t n);
static int ngx_calls_srtp_gcm(EVP_CIPHER_CTX *ctx, int enc,
    const uint8_t *iv, const uint8_t *aad, size_t aadlen,
    const uint8_t *aad2, size_t aad2len, uint8_t *p, size_t n,
    uint8_t *tag);
static int ngx_calls_srtp_rtp_header(const uint8_t *buf, size_t len,
    size_t *hlen);
static int ngx_calls_srtp_padding(const uint8_t *buf, size_t hlen,
    size_t len);
static uint64_t ngx_calls_srtp_estimate(const ngx_calls_srtp_stream_t *st,
    uint16_t seq);
static int ngx_calls_srtp_check(const uint64_t *win, unsigned size,
    uint64_t top, uint64_t index);
static void ngx_calls_srtp_add(uint64_t *win, unsigned size, int valid,
    uint64_t *top, uint64_t index);
static ngx_calls_srtp_stream_t *ngx_calls_srtp_find(ngx_calls_srtp_dir_t *d,
    uint32_t ssrc);
static ngx_calls_srtp_stream_t *ngx_calls_srtp_stream(
    ngx_calls_srtp_dir_t *d, uint32_t ssrc);
static void ngx_calls_srtp_cm_iv(uint8_t *iv, const uint8_t *salt,
    uint32_t ssrc, uint64_t index);
static void ngx_calls_srtp_gcm_iv(uint8_t *iv, const uint8_t *salt,
    uint32_t ssrc, uint32_t hi, uint32_t lo, int rtcp);


static const EVP_CIPHER  *ngx_calls_srtp_ecb;
static const EVP_CIPHER  *ngx_calls_srtp_aes_gcm;


int
ngx_calls_srtp_init(void)
{
    EVP_CIPHER  *ecb, *gcm;

    if (ngx_calls_srtp_ecb != NULL) {
        return 0;
    }

    /*
     * Fetched once: EVP_aes_128_*() would make every context creation
     * look the implementation up again.  They live as long as the process.
     */

    ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
    gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);

    if (ecb == NULL || gcm == NULL) {
        EVP_CIPHER_free(ecb);
        EVP_CIPHER_free(gcm);
        return -1;
    }

    ngx_calls_srtp_ecb = ecb;
    ngx_calls_srtp_aes_gcm = gcm;

    return 0;
}


int
ngx_calls_srtp_create(ngx_calls_srtp_t *s, unsigned profile,
    const uint8_t *local, const uint8_t *remote, char *err, size_t errlen)
{
    ngx_calls_srtp_dir_t  *in, *out;

    s->in = NULL;
    s->out = NULL;
    s->profile = 0;

    if (ngx_calls_srtp_ecb == NULL) {
        snprintf(err, errlen, "SRTP is not initialized");
        return -1;
    }

    if (profile != NGX_CALLS_SRTP_AES128_CM_SHA1_80
        && profile != NGX_CALLS_SRTP_AEAD_AES_128_GCM)
    {
        snprintf(err, errlen, "unsupported SRTP profile 0x%04x", profile);
        return -1;
    }

    in = ngx_calls_srtp_dir_create(profile, remote, 1);

    if (in == NULL) {
        snprintf(err, errlen, "SRTP inbound context failed");
        return -1;
    }

    out = ngx_calls_srtp_dir_create(profile, local, 0);

    if (out == NULL) {
        ngx_calls_srtp_dir_free(in);
        snprintf(err, errlen, "SRTP outbound context failed");
        return -1;
    }

    s->in = in;
    s->out = out;
    s->profile = profile;

    return 0;
}


void
ngx_calls_srtp_free(ngx_calls_srtp_t *s)
{
    if (s->in != NULL) {
        ngx_calls_srtp_dir_free(s->in);
        s->in = NULL;
    }

    if (s->out != NULL) {
        ngx_calls_srtp_dir_free(s->out);
        s->out = NULL;
    }
}


/*
 * One direction: the session keys of RFC 3711 4.3 (kdr 0, so derived
 * once), also for GCM, whose 96-bit master salt RFC 7714 section 11 pads
 * with zeros to the 112 bits of the AES-CM PRF.
 */

static ngx_calls_srtp_dir_t *
ngx_calls_srtp_dir_create(unsigned profile, const uint8_t *master,
    int inbound)
{
    int                    ok;
    size_t                 slen;
    uint8_t                salt[NGX_CALLS_SRTP_CM_SALT];
    EVP_CIPHER_CTX        *kdf;
    ngx_calls_srtp_keys_t  k;
    ngx_calls_srtp_dir_t  *d;

    d = ngx_calls_srtp_dir_alloc(profile, inbound);
    if (d == NULL) {
        return NULL;
    }

    slen = d->gcm ? NGX_CALLS_SRTP_GCM_SALT : NGX_CALLS_SRTP_CM_SALT;

    memset(salt, 0, sizeof(salt));
    memcpy(salt, master + NGX_CALLS_SRTP_KEY_LEN, slen);
    memset(&k, 0, sizeof(ngx_calls_srtp_keys_t));

    kdf = ngx_calls_srtp_cipher(ngx_calls_srtp_ecb, master, 1);

    ok = kdf != NULL
         && ngx_calls_srtp_kdf(kdf, salt, NGX_CALLS_SRTP_LABEL_RTP_ENC,
                               k.rtp_key, NGX_CALLS_SRTP_KEY_LEN) == 0
         && ngx_calls_srtp_kdf(kdf, salt, NGX_CALLS_SRTP_LABEL_RTP_SALT,
                               k.rtp_salt, slen) == 0
         && ngx_calls_srtp_kdf(kdf, salt, NGX_CALLS_SRTP_LABEL_RTCP_ENC,
                               k.rtcp_key, NGX_CALLS_SRTP_KEY_LEN) == 0
         && ngx_calls_srtp_kdf(kdf, salt, NGX_CALLS_SRTP_LABEL_RTCP_SALT,
                               k.rtcp_salt, slen) == 0;

    if (ok && !d->gcm) {
        ok = ngx_calls_srtp_kdf(kdf, salt, NGX_CALLS_SRTP_LABEL_RTP_AUTH,
                                k.rtp_auth, NGX_CALLS_SRTP_AUTH_KEY) == 0
             && ngx_calls_srtp_kdf(kdf, salt,
                                   NGX_CALLS_SRTP_LABEL_RTCP_AUTH,
                                   k.rtcp_auth, NGX_CALLS_SRTP_AUTH_KEY)
                == 0;
    }

    EVP_CIPHER_CTX_free(kdf);

    ok = ok && ngx_calls_srtp_dir_keys(d, &k) == 0;

    OPENSSL_cleanse(salt, sizeof(salt));
    OPENSSL_cleanse(&k, sizeof(ngx_calls_srtp_keys_t));

    if (!ok) {
        ngx_calls_srtp_dir_free(d);
        return NULL;
    }

    return d;
}


static ngx_calls_srtp_dir_t *
ngx_calls_srtp_dir_alloc(unsigned profile, int inbound)
{
    ngx_calls_srtp_dir_t  *d;

    d = calloc(1, sizeof(ngx_calls_srtp_dir_t));
    if (d == NULL) {
        return NULL;
    }

    d->gcm = (profile == NGX_CALLS_SRTP_AEAD_AES_128_GCM);
    d->inbound = inbound;
    d->max = inbound ? NGX_CALLS_SRTP_MAX_IN : NGX_CALLS_SRTP_MAX_OUT;
    d->cap = NGX_CALLS_SRTP_INIT_STREAMS;
    d->streams = calloc(d->cap, sizeof(ngx_calls_srtp_stream_t));
    d->ssrcs = calloc(d->cap, sizeof(uint32_t));

    if (d->streams == NULL || d->ssrcs == NULL) {
        ngx_calls_srtp_dir_free(d);
        return NULL;
    }

    return d;
}


/* the session keys into the kept contexts (the unit test sets its own) */

static int
ngx_calls_srtp_dir_keys(ngx_calls_srtp_dir_t *d,
    const ngx_calls_srtp_keys_t *k)
{
    int                enc;
    const EVP_CIPHER  *cipher;

    memcpy(d->rtp_salt, k->rtp_salt, NGX_CALLS_SRTP_CM_SALT);
    memcpy(d->rtcp_salt, k->rtcp_salt, NGX_CALLS_SRTP_CM_SALT);

    if (d->gcm) {
        cipher = ngx_calls_srtp_aes_gcm;
        enc = !d->inbound;

    } else {
        /* AES-CM encrypts counter blocks either way */
        cipher = ngx_calls_srtp_ecb;
        enc = 1;

        if (ngx_calls_srtp_hmac_init(&d->rtp_inner, &d->rtp_outer,
                                     k->rtp_auth)
            != 0
            || ngx_calls_srtp_hmac_init(&d->rtcp_inner, &d->rtcp_outer,
                                        k->rtcp_auth)
               != 0)
        {
            return -1;
        }
    }

    d->rtp = ngx_calls_srtp_cipher(cipher, k->rtp_key, enc);
    d->rtcp = ngx_calls_srtp_cipher(cipher, k->rtcp_key, enc);

    return (d->rtp != NULL && d->rtcp != NULL) ? 0 : -1;
}


static void
ngx_calls_srtp_dir_free(ngx_calls_srtp_dir_t *d)
{
    /* EVP_CIPHER_CTX_free() cleanses the key schedules itself */

    EVP_CIPHER_CTX_free(d->rtp);
    EVP_CIPHER_CTX_free(d->rtcp);

    free(d->streams);
    free(d->ssrcs);

    /* the HMAC states and the salts are key material */
    OPENSSL_cleanse(d, sizeof(ngx_calls_srtp_dir_t));

    free(d);
}


static EVP_CIPHER_CTX *
ngx_calls_srtp_cipher(const EVP_CIPHER *cipher, const uint8_t *key, int enc)
{
    EVP_CIPHER_CTX  *ctx;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return NULL;
    }

    if (EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc) != 1
        || EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
    {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }

    return ctx;
}


/*
 * RFC 3711 4.3.1/4.3.3 with kdr 0: x = label << 48 XOR master salt, the
 * keystream of AES-CM under the master key from IV = x * 2^16
 */

static int
ngx_calls_srtp_kdf(EVP_CIPHER_CTX *ecb, const uint8_t *salt, unsigned label,
    uint8_t *out, size_t n)
{
    uint8_t  iv[16];

    memcpy(iv, salt, NGX_CALLS_SRTP_CM_SALT);
    iv[7] ^= (uint8_t) label;
    iv[14] = 0;
    iv[15] = 0;

    memset(out, 0, n);

    return ngx_calls_srtp_cm_xor(ecb, iv, out, n);
}


/*
 * SHA1_Init() and friends are deprecated in OpenSSL 3 in favour of
 * EVP_MD, but remain exported and run the same SHA-NI/AVX block code.
 * EVP_MD_CTX_copy_ex() + EVP_DigestFinal_ex() go through the provider
 * layer (allocations, locks) on every packet, which is what this file
 * exists to avoid; a plain SHA_CTX is copied with a struct assignment.
 */

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif


static int
ngx_calls_srtp_hmac_init(SHA_CTX *inner, SHA_CTX *outer, const uint8_t *key)
{
    int      ok;
    size_t   i;
    uint8_t  pad[SHA_CBLOCK];

    memset(pad, 0x36, sizeof(pad));

    for (i = 0; i < NGX_CALLS_SRTP_AUTH_KEY; i++) {
        pad[i] ^= key[i];
    }

    ok = SHA1_Init(inner) == 1 && SHA1_Update(inner, pad, sizeof(pad)) == 1;

    memset(pad, 0x5c, sizeof(pad));

    for (i = 0; i < NGX_CALLS_SRTP_AUTH_KEY; i++) {
        pad[i] ^= key[i];
    }

    ok = ok && SHA1_Init(outer) == 1
         && SHA1_Update(outer, pad, sizeof(pad)) == 1;

    OPENSSL_cleanse(pad, sizeof(pad));

    return ok ? 0 : -1;
}


/* HMAC-SHA1 of p || p2 into tag (20 bytes) */

static int
ngx_calls_srtp_hmac(const SHA_CTX *inner, const SHA_CTX *outer,
    const uint8_t *p, size_t n, const uint8_t *p2, size_t n2, uint8_t *tag)
{
    SHA_CTX  ctx;

    ctx = *inner;

    if (SHA1_Update(&ctx, p, n) != 1
        || SHA1_Update(&ctx, p2, n2) != 1
        || SHA1_Final(tag, &ctx) != 1)
    {
        return -1;
    }

    ctx = *outer;

    if (SHA1_Update(&ctx, tag, SHA_DIGEST_LENGTH) != 1
        || SHA1_Final(tag, &ctx) != 1)
    {
        return -1;
    }

    return 0;
}


#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif


/*
 * AES-CM: p ^= AES_k(iv + i), i = 0, 1, ... in the low 16 bits.  The
 * counter blocks are encrypted in place by one EVP_EncryptUpdate() call
 * per NGX_CALLS_SRTP_CM_BLOCKS, which lets AES-NI pipeline them.
 */

static int
ngx_calls_srtp_cm_xor(EVP_CIPHER_CTX *ecb, const uint8_t *iv, uint8_t *p,
    size_t n)
{
    int       outl;
    size_t    i, k, nb, blk, len;
    uint8_t  *b;
    uint64_t  x, y;
    uint8_t   ks[NGX_CALLS_SRTP_CM_BLOCKS * 16];

    blk = 0;

    while (n > 0) {
        len = n < sizeof(ks) ? n : sizeof(ks);
        nb = (len + 15) / 16;

        for (i = 0; i < nb; i++) {
            b = ks + i * 16;
            memcpy(b, iv, 14);
            b[14] = (uint8_t) (blk >> 8);
            b[15] = (uint8_t) blk;
            blk++;
        }

        if (EVP_EncryptUpdate(ecb, ks, &outl, ks, (int) (nb * 16)) != 1
            || outl != (int) (nb * 16))
        {
            return -1;
        }

        for (k = 0; k + 8 <= len; k += 8) {
            memcpy(&x, p + k, 8);
            memcpy(&y, ks + k, 8);
            x ^= y;
            memcpy(p + k, &x, 8);
        }

        for ( /* void */ ; k < len; k++) {
            p[k] ^= ks[k];
        }

        p += len;
        n -= len;
    }

    return 0;
}


/*
 * AES-GCM on a kept context: only the IV changes per packet.  enc: the
 * tag is written to tag; otherwise it is checked, and 1 means it failed.
 */

static int
ngx_calls_srtp_gcm(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *iv,
    const uint8_t *aad, size_t aadlen, const uint8_t *aad2, size_t aad2len,
    uint8_t *p, size_t n, uint8_t *tag)
{
    int      outl;
    uint8_t  t[NGX_CALLS_SRTP_GCM_TAG];

    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) != 1
        || EVP_CipherUpdate(ctx, NULL, &outl, aad, (int) aadlen) != 1)
    {
        return -1;
    }

    if (aad2len
        && EVP_CipherUpdate(ctx, NULL, &outl, aad2, (int) aad2len) != 1)
    {
        return -1;
    }

    if (n && EVP_CipherUpdate(ctx, p, &outl, p, (int) n) != 1) {
        return -1;
    }

    if (enc) {
        if (EVP_CipherFinal_ex(ctx, p + n, &outl) != 1
            || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
                                   NGX_CALLS_SRTP_GCM_TAG, tag) != 1)
        {
            return -1;
        }

        return 0;
    }

    memcpy(t, tag, sizeof(t));

    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
                            NGX_CALLS_SRTP_GCM_TAG, t) != 1)
    {
        return -1;
    }

    return EVP_CipherFinal_ex(ctx, p + n, &outl) == 1 ? 0 : 1;
}


/* RFC 3711 4.1.1: IV = salt * 2^16 XOR SSRC * 2^64 XOR index * 2^16 */

static void
ngx_calls_srtp_cm_iv(uint8_t *iv, const uint8_t *salt, uint32_t ssrc,
    uint64_t index)
{
    memcpy(iv, salt, NGX_CALLS_SRTP_CM_SALT);
    iv[14] = 0;
    iv[15] = 0;

    iv[4] ^= (uint8_t) (ssrc >> 24);
    iv[5] ^= (uint8_t) (ssrc >> 16);
    iv[6] ^= (uint8_t) (ssrc >> 8);
    iv[7] ^= (uint8_t) ssrc;
    iv[8] ^= (uint8_t) (index >> 40);
    iv[9] ^= (uint8_t) (index >> 32);
    iv[10] ^= (uint8_t) (index >> 24);
    iv[11] ^= (uint8_t) (index >> 16);
    iv[12] ^= (uint8_t) (index >> 8);
    iv[13] ^= (uint8_t) index;
}


/*
 * RFC 7714 8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt;
 * 9.1: IV = (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt.
 * hi/lo: ROC and SEQ, or 0 and the index.
 */

static void
ngx_calls_srtp_gcm_iv(uint8_t *iv, const uint8_t *salt, uint32_t ssrc,
    uint32_t hi, uint32_t lo, int rtcp)
{
    uint8_t  in[NGX_CALLS_SRTP_GCM_SALT];
    size_t   i;

    in[0] = 0;
    in[1] = 0;
    ngx_calls_put32(in + 2, ssrc);

    if (rtcp) {
        in[6] = 0;
        in[7] = 0;
        ngx_calls_put32(in + 8, lo);

    } else {
        ngx_calls_put32(in + 6, hi);
        in[10] = (uint8_t) (lo >> 8);
        in[11] = (uint8_t) lo;
    }

    for (i = 0; i < NGX_CALLS_SRTP_GCM_SALT; i++) {
        iv[i] = in[i] ^ salt[i];
    }
}


/* the RTP header length (CSRCs, extension), or -1 if malformed */

static int
ngx_calls_srtp_rtp_header(const uint8_t *buf, size_t len, size_t *hlen)
{
    size_t  h;

    if (len < 12 || (buf[0] >> 6) != 2) {
        return -1;
    }

    h = 12 + 4 * (size_t) (buf[0] & 0x0f);

    if (buf[0] & 0x10) {
        if (h + 4 > len) {
            return -1;
        }

        h += 4 + 4 * (size_t) ((buf[h + 2] << 8) | buf[h + 3]);
    }

    if (h > len) {
        return -1;
    }

    *hlen = h;

    return 0;
}


/* with the P bit, the last octet counts the padding, itself included */

static int
ngx_calls_srtp_padding(const uint8_t *buf, size_t hlen, size_t len)
{
    if (!(buf[0] & 0x20)) {
        return 0;
    }

    if (len == hlen || buf[len - 1] == 0 || buf[len - 1] > len - hlen) {
        return -1;
    }

    return 0;
}


/*
 * RFC 3711 3.3.1 and Appendix A, as libsrtp does it: while the highest
 * index is at most 2^15 the ROC is 0 and no wrap backwards is guessed.
 */

static uint64_t
ngx_calls_srtp_estimate(const ngx_calls_srtp_stream_t *st, uint16_t seq)
{
    uint16_t  s_l;
    uint64_t  roc;

    if (!st->rtp_valid || st->rtp_index <= 0x8000) {
        return seq;
    }

    roc = st->rtp_index >> 16;
    s_l = (uint16_t) st->rtp_index;

    if (s_l < 0x8000) {
        if (seq > s_l && seq - s_l > 0x8000) {
            roc--;
        }

    } else if (s_l - 0x8000 > seq) {
        roc++;
    }

    return ((roc << 16) | seq) & 0xffffffffffffULL;
}


/* 0 if index may be accepted, NGX_CALLS_SRTP_REPLAY if not */

static int
ngx_calls_srtp_check(const uint64_t *win, unsigned size, uint64_t top,
    uint64_t index)
{
    uint64_t  bit;

    if (index > top) {
        return 0;
    }

    if (top - index >= size) {
        return NGX_CALLS_SRTP_REPLAY;
    }

    bit = index % size;

    if (win[bit / 64] & ((uint64_t) 1 << (bit % 64))) {
        return NGX_CALLS_SRTP_REPLAY;
    }

    return 0;
}


static void
ngx_calls_srtp_add(uint64_t *win, unsigned size, int valid, uint64_t *top,
    uint64_t index)
{
    uint64_t  i, bit;

    if (!valid || index >= *top + size) {
        memset(win, 0, size / 8);
        *top = index;

    } else if (index > *top) {
        /* the indices skipped over leave the window unreceived */
        for (i = *top + 1; i <= index; i++) {
            bit = i % size;
            win[bit / 64] &= ~((uint64_t) 1 << (bit % 64));
        }

        *top = index;
    }

    bit = index % size;
    win[bit / 64] |= (uint64_t) 1 << (bit % 64);
}


static ngx_calls_srtp_stream_t *
ngx_calls_srtp_find(ngx_calls_srtp_dir_t *d, uint32_t ssrc)
{
    uint32_t  i;

    if (d->nstreams && d->last_ssrc == ssrc) {
        i = d->last;

    } else {
        for (i = 0; i < d->nstreams; i++) {
            if (d->ssrcs[i] == ssrc) {
                break;
            }
        }

        if (i == d->nstreams) {
            return NULL;
        }

        d->last = i;
        d->last_ssrc = ssrc;
    }

    d->streams[i].used = ++d->clock;

    return &d->streams[i];
}


/* a new SSRC state: grows the table up to max, then evicts the LRU */

static ngx_calls_srtp_stream_t *
ngx_calls_srtp_stream(ngx_calls_srtp_dir_t *d, uint32_t ssrc)
{
    uint32_t                  i, cap, *ssrcs;
    ngx_calls_srtp_stream_t  *streams;

    if (d->nstreams == d->cap && d->cap < d->max) {
        cap = d->cap * 2 < d->max ? d->cap * 2 : d->max;

        streams = realloc(d->streams, cap * sizeof(ngx_calls_srtp_stream_t));
        if (streams == NULL) {
            return NULL;
        }

        d->streams = streams;

        ssrcs = realloc(d->ssrcs, cap * sizeof(uint32_t));
        if (ssrcs == NULL) {
            return NULL;
        }

        d->ssrcs = ssrcs;
        d->cap = cap;
    }

    if (d->nstreams < d->cap) {
        i = d->nstreams++;

    } else {
        cap = 0;

        for (i = 1; i < d->nstreams; i++) {
            if (d->streams[i].used < d->streams[cap].used) {
                cap = i;
            }
        }

        i = cap;
    }

    memset(&d->streams[i], 0, sizeof(ngx_calls_srtp_stream_t));
    d->streams[i].ssrc = ssrc;
    d->streams[i].used = ++d->clock;
    d->ssrcs[i] = ssrc;
    d->last = i;
    d->last_ssrc = ssrc;

    return &d->streams[i];
}


int
ngx_calls_srtp_protect(ngx_calls_srtp_t *s, uint8_t *buf, size_t *len)
{
    size_t                    n, hlen;
    uint8_t                   iv[16], tag[SHA_DIGEST_LENGTH], roc[4];
    uint32_t                  ssrc;
    uint64_t                  index;
    ngx_calls_srtp_dir_t     *d;
    ngx_calls_srtp_stream_t  *st;

    d = s->out;
    n = *len;

    if (d == NULL || n > NGX_CALLS_SRTP_MAX_LEN
        || ngx_calls_srtp_rtp_header(buf, n, &hlen) != 0
        || ngx_calls_srtp_padding(buf, hlen, n) != 0)
    {
        return NGX_CALLS_SRTP_ERROR;
    }

    ssrc = ngx_calls_get32(buf + 8);

    st = ngx_calls_srtp_find(d, ssrc);

    if (st == NULL) {
        st = ngx_calls_srtp_stream(d, ssrc);
        if (st == NULL) {
            return NGX_CALLS_SRTP_ERROR;
        }
    }

    /*
     * No replay check outbound: a NACK answer resends a sequence number
     * already sent, with the same index, so the same bytes
     */

    index = ngx_calls_srtp_estimate(st, ngx_calls_get16(buf + 2));

    if (d->gcm) {
        ngx_calls_srtp_gcm_iv(iv, d->rtp_salt, ssrc, (uint32_t) (index >> 16),
                              (uint32_t) index & 0xffff, 0);

        if (ngx_calls_srtp_gcm(d->rtp, 1, iv, buf, hlen, NULL, 0, buf + hlen,
                               n - hlen, buf + n)
            != 0)
        {
            return NGX_CALLS_SRTP_ERROR;
        }

        n += NGX_CALLS_SRTP_GCM_TAG;

    } else {
        ngx_calls_srtp_cm_iv(iv, d->rtp_salt, ssrc, index);
        ngx_calls_put32(roc, (uint32_t) (index >> 16));

        if (ngx_calls_srtp_cm_xor(d->rtp, iv, buf + hlen, n - hlen) != 0
            || ngx_calls_srtp_hmac(&d->rtp_inner, &d->rtp_outer, buf, n,
                                   roc, 4, tag)
               != 0)
        {
            return NGX_CALLS_SRTP_ERROR;
        }

        memcpy(buf + n, tag, NGX_CALLS_SRTP_CM_TAG);
        n += NGX_CALLS_SRTP_CM_TAG;
    }

    if (!st->rtp_valid || index > st->rtp_index) {
        st->rtp_index = index;
        st->rtp_valid = 1;
    }

    *len = n;

    return NGX_CALLS_SRTP_OK;
}


int
ngx_calls_srtp_unprotect(ngx_calls_srtp_t *s, uint8_t *buf, size_t *len)
{
    int                       rc;
    size_t                    n, hlen, tlen;
    uint8_t                   iv[16], tag[SHA_DIGEST_LENGTH], roc[4];
    uint32_t                  ssrc;
    uint64_t                  index;
    ngx_calls_srtp_dir_t     *d;
    ngx_calls_srtp_stream_t  *st;

    d = s->in;

    if (d == NULL) {
        return NGX_CALLS_SRTP_ERROR;
    }

    tlen = d->gcm ? NGX_CALLS_SRTP_GCM_TAG : NGX_CALLS_SRTP_CM_TAG;

    if (*len > NGX_CALLS_SRTP_MAX_LEN || *len < 12 + tlen) {
        return NGX_CALLS_SRTP_ERROR;
    }

    n = *len - tlen;

    if (ngx_calls_srtp_rtp_header(buf, n, &hlen) != 0) {
        return NGX_CALLS_SRTP_ERROR;
    }

    ssrc = ngx_calls_get32(buf + 8);

    /* a new SSRC gets its state only once its packet authenticates */

    st = ngx_calls_srtp_find(d, ssrc);

    if (st != NULL) {
        index = ngx_calls_srtp_estimate(st,
                                        ngx_calls_get16(buf + 2));

        if (st->rtp_valid) {
            rc = ngx_calls_srtp_check(st->rtp_win, NGX_CALLS_SRTP_WINDOW,
                                      st->rtp_index, index);
            if (rc != 0) {
                return rc;
            }
        }

    } else {
        index = ngx_calls_get16(buf + 2);
    }

    if (d->gcm) {
        ngx_calls_srtp_gcm_iv(iv, d->rtp_salt, ssrc, (uint32_t) (index >> 16),
                              (uint32_t) index & 0xffff, 0);

        rc = ngx_calls_srtp_gcm(d->rtp, 0, iv, buf, hlen, NULL, 0, buf + hlen,
                                n - hlen, buf + n);
        if (rc != 0) {
            return rc > 0 ? NGX_CALLS_SRTP_AUTH_FAIL : NGX_CALLS_SRTP_ERROR;
        }

    } else {
        ngx_calls_put32(roc, (uint32_t) (index >> 16));

        if (ngx_calls_srtp_hmac(&d->rtp_inner, &d->rtp_outer, buf, n, roc, 4,
                                tag)
            != 0)
        {
            return NGX_CALLS_SRTP_ERROR;
        }

        if (CRYPTO_memcmp(tag, buf + n, NGX_CALLS_SRTP_CM_TAG) != 0) {
            return NGX_CALLS_SRTP_AUTH_FAIL;
        }

        ngx_calls_srtp_cm_iv(iv, d->rtp_salt, ssrc, index);

        if (ngx_calls_srtp_cm_xor(d->rtp, iv, buf + hlen, n - hlen) != 0) {
            return NGX_CALLS_SRTP_ERROR;
        }
    }

    if (st == NULL) {
        st = ngx_calls_srtp_stream(d, ssrc);
        if (st == NULL) {
            return NGX_CALLS_SRTP_ERROR;
        }
    }

    ngx_calls_srtp_add(st->rtp_win, NGX_CALLS_SRTP_WINDOW, st->rtp_valid,
                       &st->rtp_index, index);
    st->rtp_valid = 1;

    /* authentic, so it counts as received, but its padding is bogus */
    if (ngx_calls_srtp_padding(buf, hlen, n) != 0) {
        return NGX_CALLS_SRTP_ERROR;
    }

    *len = n;

    return NGX_CALLS_SRTP_OK;
}


/*
 * SRTCP, RFC 3711 3.4: header (8) || encrypted || E|index || tag;
 * RFC 7714 9 and 17: header (8) || encrypted || tag || E|index, with the
 * header and E|index as the AAD.
 */

int
ngx_calls_srtp_protect_rtcp(ngx_calls_srtp_t *s, uint8_t *buf, size_t *len)
{
    size_t                    n;
    uint8_t                   iv[16], tag[SHA_DIGEST_LENGTH], trailer[4];
    uint32_t                  ssrc, index;
    ngx_calls_srtp_dir_t     *d;
    ngx_calls_srtp_stream_t  *st;

    d = s->out;
    n = *len;

    if (d == NULL || n < 8 || n > NGX_CALLS_SRTP_MAX_LEN
        || (buf[0] >> 6) != 2)
    {
        return NGX_CALLS_SRTP_ERROR;
    }

    ssrc = ngx_calls_get32(buf + 4);

    st = ngx_calls_srtp_find(d, ssrc);

    if (st == NULL) {
        st = ngx_calls_srtp_stream(d, ssrc);
        if (st == NULL) {
            return NGX_CALLS_SRTP_ERROR;
        }
    }

    /* the first index sent is 1, as libsrtp's; 2^31 packets end it */

    if (st->rtcp_index == NGX_CALLS_SRTCP_MAX_INDEX) {
        return NGX_CALLS_SRTP_ERROR;
    }

    index = ++st->rtcp_index;
    ngx_calls_put32(trailer, NGX_CALLS_SRTCP_E | index);

    if (d->gcm) {
        ngx_calls_srtp_gcm_iv(iv, d->rtcp_salt, ssrc, 0, index, 1);

        if (ngx_calls_srtp_gcm(d->rtcp, 1, iv, buf, 8, trailer, 4, buf + 8,
                               n - 8, buf + n)
            != 0)
        {
            return NGX_CALLS_SRTP_ERROR;
        }

        memcpy(buf + n + NGX_CALLS_SRTP_GCM_TAG, trailer, 4);
        n += NGX_CALLS_SRTP_GCM_TAG + 4;

    } else {
        ngx_calls_srtp_cm_iv(iv, d->rtcp_salt, ssrc, index);

        if (ngx_calls_srtp_cm_xor(d->rtcp, iv, buf + 8, n - 8) != 0) {
            return NGX_CALLS_SRTP_ERROR;
        }

        memcpy(buf + n, trailer, 4);
        n += 4;

        if (ngx_calls_srtp_hmac(&d->rtcp_inner, &d->rtcp_outer, buf, n,
                                NULL, 0, tag)
            != 0)
        {
            return NGX_CALLS_SRTP_ERROR;
        }

        memcpy(buf + n, tag, NGX_CALLS_SRTP_CM_TAG);
        n += NGX_CALLS_SRTP_CM_TAG;
    }

    *len = n;

    return NGX_CALLS_SRTP_OK;
}


int
ngx_calls_srtp_unprotect_rtcp(ngx_calls_srtp_t *s, uint8_t *buf,
    size_t *len)
{
    int                       rc;
    size_t                    n, tlen;
    uint8_t                   iv[16], tag[SHA_DIGEST_LENGTH];
    uint8_t                  *trailer;
    uint32_t                  ssrc, index;
    uint64_t                  top;
    ngx_calls_srtp_dir_t     *d;
    ngx_calls_srtp_stream_t  *st;

    d = s->in;

    if (d == NULL) {
        return NGX_CALLS_SRTP_ERROR;
    }

    tlen = d->gcm ? NGX_CALLS_SRTP_GCM_TAG : NGX_CALLS_SRTP_CM_TAG;

    if (*len > NGX_CALLS_SRTP_MAX_LEN || *len < 8 + 4 + tlen
        || (buf[0] >> 6) != 2)
    {
        return NGX_CALLS_SRTP_ERROR;
    }

    n = *len - 4 - tlen;
    trailer = d->gcm ? buf + *len - 4 : buf + n;

    /* no unencrypted SRTCP: both profiles here encrypt */
    if (!(trailer[0] & 0x80)) {
        return NGX_CALLS_SRTP_ERROR;
    }

    index = ngx_calls_get32(trailer) & NGX_CALLS_SRTCP_MAX_INDEX;
    ssrc = ngx_calls_get32(buf + 4);

    st = ngx_calls_srtp_find(d, ssrc);

    if (st != NULL && st->rtcp_valid) {
        rc = ngx_calls_srtp_check(st->rtcp_win, NGX_CALLS_SRTCP_WINDOW,
                                  st->rtcp_index, index);
        if (rc != 0) {
            return rc;
        }
    }

    if (d->gcm) {
        ngx_calls_srtp_gcm_iv(iv, d->rtcp_salt, ssrc, 0, index, 1);

        rc = ngx_calls_srtp_gcm(d->rtcp, 0, iv, buf, 8, trailer, 4, buf + 8,
                                n - 8, buf + n);
        if (rc != 0) {
            return rc > 0 ? NGX_CALLS_SRTP_AUTH_FAIL : NGX_CALLS_SRTP_ERROR;
        }

    } else {
        if (ngx_calls_srtp_hmac(&d->rtcp_inner, &d->rtcp_outer, buf, n + 4,
                                NULL, 0, tag)
            != 0)
        {
            return NGX_CALLS_SRTP_ERROR;
        }

        if (CRYPTO_memcmp(tag, buf + n + 4, NGX_CALLS_SRTP_CM_TAG) != 0) {
            return NGX_CALLS_SRTP_AUTH_FAIL;
        }

        ngx_calls_srtp_cm_iv(iv, d->rtcp_salt, ssrc, index);

        if (ngx_calls_srtp_cm_xor(d->rtcp, iv, buf + 8, n - 8) != 0) {
            return NGX_CALLS_SRTP_ERROR;
        }
    }

    if (st == NULL) {
        st = ngx_calls_srtp_stream(d, ssrc);
        if (st == NULL) {
            return NGX_CALLS_SRTP_ERROR;
        }
    }

    top = st->rtcp_index;
    ngx_calls_srtp_add(st->rtcp_win, NGX_CALLS_SRTCP_WINDOW, st->rtcp_valid,
                       &top, index);
    st->rtcp_index = (uint32_t) top;
    st->rtcp_valid = 1;

    *len = n;

    return NGX_CALLS_SRTP_OK;
}
