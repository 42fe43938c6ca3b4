
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * libFuzzer: SRTP and SRTCP of src/media/ngx_calls_srtp.c, on input
 * shaped like a packet.  The first byte picks the profile and RTP or
 * RTCP; the rest is the packet.  It is unprotected as it stands (header
 * parsing, lengths, the tag and trailer offsets), then protected by one
 * side and unprotected by the other, which must give back the same
 * bytes, whatever the CSRCs, extension and padding claim.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_calls_dtls.h"
#include "ngx_calls_srtp.h"


#define FUZZ_MAX  4096


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rtcp, rc;
    char              err[128];
    size_t            len, n;
    uint8_t           k1[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t           k2[NGX_CALLS_SRTP_MAX_KEY_SALT];
    unsigned          profile;
    ngx_calls_srtp_t  a, b;
    static uint8_t    buf[FUZZ_MAX + NGX_CALLS_SRTP_TRAILER];

    if (size < 1 || size - 1 > FUZZ_MAX || ngx_calls_srtp_init() != 0) {
        return 0;
    }

    profile = (data[0] & 1) ? NGX_CALLS_SRTP_AEAD_AES_128_GCM
                            : NGX_CALLS_SRTP_AES128_CM_SHA1_80;
    rtcp = (data[0] & 2) != 0;
    data++;
    size--;

    memset(k1, 0x11, sizeof(k1));
    memset(k2, 0x22, sizeof(k2));

    if (ngx_calls_srtp_create(&a, profile, k1, k2, err, sizeof(err)) != 0) {
        abort();
    }

    if (ngx_calls_srtp_create(&b, profile, k2, k1, err, sizeof(err)) != 0) {
        abort();
    }

    /* as received from the network */

    memcpy(buf, data, size);
    len = size;

    (void) (rtcp ? ngx_calls_srtp_unprotect_rtcp(&b, buf, &len)
                 : ngx_calls_srtp_unprotect(&b, buf, &len));

    /* a round trip */

    memcpy(buf, data, size);
    len = size;

    rc = rtcp ? ngx_calls_srtp_protect_rtcp(&a, buf, &len)
              : ngx_calls_srtp_protect(&a, buf, &len);

    if (rc == NGX_CALLS_SRTP_OK) {
        if (len > size + NGX_CALLS_SRTP_TRAILER) {
            abort();
        }

        n = len;
        rc = rtcp ? ngx_calls_srtp_unprotect_rtcp(&b, buf, &n)
                  : ngx_calls_srtp_unprotect(&b, buf, &n);

        /* the first call may have made the stream: a replay is fine */

        if ((rc != NGX_CALLS_SRTP_OK && rc != NGX_CALLS_SRTP_REPLAY)
            || (rc == NGX_CALLS_SRTP_OK
                && (n != size || memcmp(buf, data, size) != 0)))
        {
            abort();
        }
    }

    ngx_calls_srtp_free(&a);
    ngx_calls_srtp_free(&b);

    return 0;
}
