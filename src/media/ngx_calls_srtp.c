
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdio.h>
#include <string.h>
#include <limits.h>

#include <srtp2/srtp.h>

#include "ngx_calls_dtls.h"
#include "ngx_calls_srtp.h"


/*
 * libsrtp2 works in place and appends up to SRTP_MAX_TRAILER_LEN bytes
 * (authentication tag plus an optional MKI) to an RTP packet; callers size
 * their buffers with NGX_CALLS_SRTP_TRAILER, so it must cover that.
 */
_Static_assert(NGX_CALLS_SRTP_TRAILER >= SRTP_MAX_TRAILER_LEN,
               "NGX_CALLS_SRTP_TRAILER < SRTP_MAX_TRAILER_LEN");

/*
 * srtp_protect_rtcp() documents "SRTP_MAX_TRAILER_LEN + 4" spare bytes:
 * the 4-byte E flag and SRTCP index, the MKI and the tag.  No MKI is ever
 * configured here (policy.keys is NULL), so at most 4 + SRTP_MAX_TAG_LEN
 * bytes are appended, which the trailer covers with room to spare.
 */
_Static_assert(NGX_CALLS_SRTP_TRAILER >= 4 + SRTP_MAX_TAG_LEN,
               "NGX_CALLS_SRTP_TRAILER too small for SRTCP");

/* the key material ngx_calls_dtls_srtp_keys() hands over must fit */
_Static_assert(NGX_CALLS_SRTP_MAX_KEY_SALT >= SRTP_AES_ICM_128_KEY_LEN_WSALT,
               "NGX_CALLS_SRTP_MAX_KEY_SALT too small for AES-CM");
_Static_assert(NGX_CALLS_SRTP_MAX_KEY_SALT >= SRTP_AES_GCM_128_KEY_LEN_WSALT,
               "NGX_CALLS_SRTP_MAX_KEY_SALT too small for AES-GCM");


/* replay window of the inbound direction: video key frames come in bursts */
#define NGX_CALLS_SRTP_WINDOW  1024


static int ngx_calls_srtp_status(srtp_err_status_t st);
static int ngx_calls_srtp_len_in(size_t len, int *n);


static int  ngx_calls_srtp_initialized;


int
ngx_calls_srtp_init(void)
{
    if (ngx_calls_srtp_initialized) {
        return 0;
    }

    if (srtp_init() != srtp_err_status_ok) {
        return -1;
    }

    ngx_calls_srtp_initialized = 1;

    return 0;
}


int
ngx_calls_srtp_create(ngx_calls_srtp_t *s, unsigned profile,
    const uint8_t *local, const uint8_t *remote, char *err, size_t errlen)
{
    size_t             klen;
    srtp_t             in, out;
    srtp_policy_t      policy;
    srtp_err_status_t  st;
    unsigned char      key[NGX_CALLS_SRTP_MAX_KEY_SALT];

    s->in = NULL;
    s->out = NULL;
    s->profile = 0;

    if (!ngx_calls_srtp_initialized) {
        snprintf(err, errlen, "libsrtp is not initialized");
        return -1;
    }

    memset(&policy, 0, sizeof(srtp_policy_t));

    switch (profile) {

    case NGX_CALLS_SRTP_AES128_CM_SHA1_80:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
        klen = SRTP_AES_ICM_128_KEY_LEN_WSALT;
        break;

    case NGX_CALLS_SRTP_AEAD_AES_128_GCM:
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
        klen = SRTP_AES_GCM_128_KEY_LEN_WSALT;
        break;

    default:
        snprintf(err, errlen, "unsupported SRTP profile 0x%04x", profile);
        return -1;
    }

    /*
     * libsrtp reads the master key followed by the master salt from one
     * buffer, the layout ngx_calls_dtls_srtp_keys() produces; it copies
     * what it needs, so the local copy is wiped right after srtp_create()
     */

    memcpy(key, remote, klen);
    policy.ssrc.type = ssrc_any_inbound;
    policy.key = key;
    policy.window_size = NGX_CALLS_SRTP_WINDOW;
    policy.allow_repeat_tx = 0;
    policy.next = NULL;

    st = srtp_create(&in, &policy);

    if (st != srtp_err_status_ok) {
        memset(key, 0, sizeof(key));
        snprintf(err, errlen, "srtp_create(inbound) failed: status %d",
                 (int) st);
        return -1;
    }

    memcpy(key, local, klen);
    policy.ssrc.type = ssrc_any_outbound;
    policy.key = key;

    /* NACK answers resend the original packet with its sequence number */
    policy.allow_repeat_tx = 1;

    st = srtp_create(&out, &policy);

    memset(key, 0, sizeof(key));

    if (st != srtp_err_status_ok) {
        (void) srtp_dealloc(in);
        snprintf(err, errlen, "srtp_create(outbound) failed: status %d",
                 (int) st);
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
    /*
     * srtp_dealloc() only fails on a bad argument; there is nothing to
     * recover from here, so its status is deliberately ignored
     */

    if (s->in != NULL) {
        (void) srtp_dealloc((srtp_t) s->in);
        s->in = NULL;
    }

    if (s->out != NULL) {
        (void) srtp_dealloc((srtp_t) s->out);
        s->out = NULL;
    }
}


int
ngx_calls_srtp_protect(ngx_calls_srtp_t *s, uint8_t *buf, size_t *len)
{
    int                n;
    srtp_err_status_t  st;

    if (s->out == NULL || ngx_calls_srtp_len_in(*len, &n) != 0) {
        return NGX_CALLS_SRTP_ERROR;
    }

    st = srtp_protect((srtp_t) s->out, buf, &n);

    if (st != srtp_err_status_ok) {
        return ngx_calls_srtp_status(st);
    }

    *len = (size_t) n;

    return NGX_CALLS_SRTP_OK;
}


int
ngx_calls_srtp_unprotect(ngx_calls_srtp_t *s, uint8_t *buf, size_t *len)
{
    int                n;
    srtp_err_status_t  st;

    if (s->in == NULL || ngx_calls_srtp_len_in(*len, &n) != 0) {
        return NGX_CALLS_SRTP_ERROR;
    }

    st = srtp_unprotect((srtp_t) s->in, buf, &n);

    if (st != srtp_err_status_ok) {
        return ngx_calls_srtp_status(st);
    }

    *len = (size_t) n;

    return NGX_CALLS_SRTP_OK;
}


int
ngx_calls_srtp_protect_rtcp(ngx_calls_srtp_t *s, uint8_t *buf, size_t *len)
{
    int                n;
    srtp_err_status_t  st;

    if (s->out == NULL || ngx_calls_srtp_len_in(*len, &n) != 0) {
        return NGX_CALLS_SRTP_ERROR;
    }

    st = srtp_protect_rtcp((srtp_t) s->out, buf, &n);

    if (st != srtp_err_status_ok) {
        return ngx_calls_srtp_status(st);
    }

    *len = (size_t) n;

    return NGX_CALLS_SRTP_OK;
}


int
ngx_calls_srtp_unprotect_rtcp(ngx_calls_srtp_t *s, uint8_t *buf,
    size_t *len)
{
    int                n;
    srtp_err_status_t  st;

    if (s->in == NULL || ngx_calls_srtp_len_in(*len, &n) != 0) {
        return NGX_CALLS_SRTP_ERROR;
    }

    st = srtp_unprotect_rtcp((srtp_t) s->in, buf, &n);

    if (st != srtp_err_status_ok) {
        return ngx_calls_srtp_status(st);
    }

    *len = (size_t) n;

    return NGX_CALLS_SRTP_OK;
}


static int
ngx_calls_srtp_status(srtp_err_status_t st)
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


/*
 * libsrtp takes the length as an int and adds the trailer to it; refuse
 * lengths where that could overflow rather than let it wrap
 */

static int
ngx_calls_srtp_len_in(size_t len, int *n)
{
    if (len > (size_t) (INT_MAX - NGX_CALLS_SRTP_TRAILER)) {
        return -1;
    }

    *n = (int) len;

    return 0;
}
