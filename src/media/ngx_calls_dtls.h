
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_DTLS_H_INCLUDED_
#define _NGX_CALLS_DTLS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * DTLS 1.2 for WebRTC (RFC 8827, RFC 5764 DTLS-SRTP) over OpenSSL 3 with
 * memory BIOs: no sockets, no clocks of its own.  Records go out through
 * the send callback one datagram at a time (never merged beyond the MTU);
 * time is passed in by the caller in milliseconds.
 */


#define NGX_CALLS_DTLS_MTU              1200

/* SRTP protection profiles (values match RFC 5764 / RFC 7714 ids) */
#define NGX_CALLS_SRTP_AES128_CM_SHA1_80   0x0001
#define NGX_CALLS_SRTP_AEAD_AES_128_GCM    0x0007

/* master key + master salt lengths, per profile */
#define NGX_CALLS_SRTP_MAX_KEY_SALT     (16 + 14)


typedef struct ngx_calls_dtls_ctx_s  ngx_calls_dtls_ctx_t;
typedef struct ngx_calls_dtls_s      ngx_calls_dtls_t;


typedef enum {
    NGX_CALLS_DTLS_NEW = 0,
    NGX_CALLS_DTLS_HANDSHAKING,
    NGX_CALLS_DTLS_CONNECTED,                /* keys available */
    NGX_CALLS_DTLS_CLOSED,                   /* close_notify received */
    NGX_CALLS_DTLS_FAILED
} ngx_calls_dtls_state_e;


typedef struct {
    /* one DTLS datagram to the peer; returns 0 or -1 */
    int    (*send)(void *user, const uint8_t *buf, size_t len);

    /* decrypted application data (SCTP packets) */
    void   (*data)(void *user, const uint8_t *buf, size_t len);
} ngx_calls_dtls_handler_t;


/*
 * Process-wide context: one SSL_CTX and one ECDSA P-256 certificate.
 * Made once at configuration time (in the nginx master) so every worker
 * advertises the same fingerprint.  With cert/key file names, the
 * certificate is loaded instead of generated.  On failure returns NULL
 * with a message in err.
 */
ngx_calls_dtls_ctx_t *ngx_calls_dtls_ctx_create(const char *cert_file,
    const char *key_file, char *err, size_t errlen);
void ngx_calls_dtls_ctx_free(ngx_calls_dtls_ctx_t *ctx);

/* "sha-256" fingerprint of our certificate, "AB:CD:...", NUL-terminated */
const char *ngx_calls_dtls_fingerprint(ngx_calls_dtls_ctx_t *ctx);


/*
 * One DTLS association.  client != 0: we take the DTLS client role
 * (a=setup:active) and send the ClientHello on ngx_calls_dtls_start().
 * The peer's certificate must match fp (alg "sha-256", "sha-384" or
 * "sha-512"; hex with colons, any case) or the handshake fails.
 */
ngx_calls_dtls_t *ngx_calls_dtls_create(ngx_calls_dtls_ctx_t *ctx,
    int client, const char *fp_alg, const char *fp,
    const ngx_calls_dtls_handler_t *handler, void *user);
void ngx_calls_dtls_free(ngx_calls_dtls_t *d);

/* client role: begin the handshake (sends the first flight) */
int ngx_calls_dtls_start(ngx_calls_dtls_t *d, uint64_t now);

/*
 * One datagram from the peer (first byte 20..63).  Drives the handshake,
 * delivers application data through handler->data.  Returns the state
 * after processing; a garbage datagram is ignored (state unchanged).
 */
ngx_calls_dtls_state_e ngx_calls_dtls_input(ngx_calls_dtls_t *d,
    const uint8_t *buf, size_t len, uint64_t now);

/* application data (one SCTP packet) to the peer; 0 or -1 */
int ngx_calls_dtls_write(ngx_calls_dtls_t *d, const uint8_t *buf,
    size_t len);

ngx_calls_dtls_state_e ngx_calls_dtls_state(ngx_calls_dtls_t *d);

/* why the handshake failed, for the log; "" if it did not */
const char *ngx_calls_dtls_error(ngx_calls_dtls_t *d);

/* absolute time (ms) of the next retransmission, or 0 if none pending */
uint64_t ngx_calls_dtls_next_timeout(ngx_calls_dtls_t *d, uint64_t now);

/* call when that time has come; retransmits or fails the handshake */
ngx_calls_dtls_state_e ngx_calls_dtls_timer(ngx_calls_dtls_t *d,
    uint64_t now);

/*
 * After CONNECTED: the negotiated SRTP profile and the exported keying
 * material split into our (local) and the peer's (remote) master
 * key || master salt, by DTLS role.  Returns 0 or -1.
 */
int ngx_calls_dtls_srtp_keys(ngx_calls_dtls_t *d, unsigned *profile,
    uint8_t *local, uint8_t *remote, size_t *key_salt_len);

/* sends close_notify */
void ngx_calls_dtls_shutdown(ngx_calls_dtls_t *d);


#endif /* _NGX_CALLS_DTLS_H_INCLUDED_ */
