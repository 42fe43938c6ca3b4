
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _LIBSRTP_ORACLE_H_INCLUDED_
#define _LIBSRTP_ORACLE_H_INCLUDED_


/*
 * libsrtp2 set up as ngx_calls_srtp sets itself up, for the unit test
 * and tools/srtp_bench.c to check ours against: any SSRC, a replay
 * window of 1024 inbound (ngx_calls_srtp.c's), repeated sequence numbers
 * allowed outbound (NACK answers).  key: master key || master salt.
 */

#include <string.h>
#include <srtp2/srtp.h>

#include "ngx_calls_dtls.h"
#include "ngx_calls_srtp.h"


static srtp_t
libsrtp_create(unsigned profile, const uint8_t *key, int inbound)
{
    srtp_t         ctx;
    srtp_policy_t  policy;
    unsigned char  k[NGX_CALLS_SRTP_MAX_KEY_SALT];

    memset(&policy, 0, sizeof(policy));

    if (profile == NGX_CALLS_SRTP_AES128_CM_SHA1_80) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);

    } else {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    }

    memcpy(k, key, sizeof(k));
    policy.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    policy.key = k;
    policy.window_size = 1024;
    policy.allow_repeat_tx = !inbound;

    if (srtp_create(&ctx, &policy) != srtp_err_status_ok) {
        return NULL;
    }

    return ctx;
}


#endif /* _LIBSRTP_ORACLE_H_INCLUDED_ */
