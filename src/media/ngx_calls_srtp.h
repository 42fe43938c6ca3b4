
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_SRTP_H_INCLUDED_
#define _NGX_CALLS_SRTP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * SRTP/SRTCP (RFC 3711 AES_CM_128_HMAC_SHA1_80, RFC 7714 AEAD_AES_128_GCM)
 * on OpenSSL libcrypto.  One ngx_calls_srtp_t holds the two directions of
 * a DTLS-SRTP association: "in" unprotects what the peer sends (any SSRC),
 * "out" protects what we send (any SSRC).
 *
 * Buffers are modified in place; protect needs NGX_CALLS_SRTP_TRAILER
 * spare bytes after the packet (at most 20 are used: the SRTCP E flag and
 * index plus a 16-byte tag; the value is kept from the libsrtp days).
 */


#define NGX_CALLS_SRTP_TRAILER       144

#define NGX_CALLS_SRTP_OK            0
#define NGX_CALLS_SRTP_ERROR        -1        /* malformed, bad state */
#define NGX_CALLS_SRTP_AUTH_FAIL    -2        /* authentication failed */
#define NGX_CALLS_SRTP_REPLAY       -3        /* replayed or too old */


typedef struct {
    void      *in;                /* ngx_calls_srtp_dir_t, opaque */
    void      *out;               /* ngx_calls_srtp_dir_t, opaque */
    unsigned   profile;
} ngx_calls_srtp_t;


/* once per process; returns 0 or -1 */
int ngx_calls_srtp_init(void);

/*
 * profile: NGX_CALLS_SRTP_* of ngx_calls_dtls.h; local/remote: master
 * key || master salt as ngx_calls_dtls_srtp_keys() returns them.  The out
 * direction allows retransmission of a sequence number already sent
 * (NACK answers reuse the original packet).
 */
int ngx_calls_srtp_create(ngx_calls_srtp_t *s, unsigned profile,
    const uint8_t *local, const uint8_t *remote, char *err, size_t errlen);
void ngx_calls_srtp_free(ngx_calls_srtp_t *s);

/* *len: in the packet length, out the new length; 0 or an error above */
int ngx_calls_srtp_protect(ngx_calls_srtp_t *s, uint8_t *buf, size_t *len);
int ngx_calls_srtp_unprotect(ngx_calls_srtp_t *s, uint8_t *buf,
    size_t *len);
int ngx_calls_srtp_protect_rtcp(ngx_calls_srtp_t *s, uint8_t *buf,
    size_t *len);
int ngx_calls_srtp_unprotect_rtcp(ngx_calls_srtp_t *s, uint8_t *buf,
    size_t *len);


#endif /* _NGX_CALLS_SRTP_H_INCLUDED_ */
