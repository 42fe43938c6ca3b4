
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_STUN_H_INCLUDED_
#define _NGX_CALLS_STUN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>


/*
 * The server side of ICE connectivity checks (RFC 8445, RFC 5389) on
 * libnice's STUN API, used without NiceAgent.  We answer Binding Requests
 * whose USERNAME names our ufrag and whose MESSAGE-INTEGRITY verifies with
 * our password, and nothing else: no answer to unknown users, responses,
 * indications or broken messages, so the port cannot be used to amplify.
 *
 * We are always the controlled agent (the browser offers first and is
 * full ICE).  A peer that claims the controlled role too gets 487 Role
 * Conflict, so that it takes the controlling role: a server that does not
 * send checks of its own cannot nominate.
 */


#define NGX_CALLS_STUN_MAX_RESPONSE  512


typedef enum {
    NGX_CALLS_STUN_ANSWER = 0,               /* out holds a success response */
    NGX_CALLS_STUN_CONFLICT,                 /* out holds 487 Role Conflict */
    NGX_CALLS_STUN_MALFORMED,
    NGX_CALLS_STUN_NOT_REQUEST,
    NGX_CALLS_STUN_UNKNOWN_USER,
    NGX_CALLS_STUN_BAD_INTEGRITY
} ngx_calls_stun_rc_e;


typedef struct {
    uint32_t                  priority;
    unsigned                  use_candidate:1;
    unsigned                  controlling:1; /* ICE-CONTROLLING present */
} ngx_calls_stun_check_t;


/* once per process */
void ngx_calls_stun_init(void);

/*
 * For the lookup of a datagram from an unknown address: if buf is a
 * well-formed STUN Binding Request with a USERNAME "local:remote",
 * returns a pointer to "local" (inside buf) and its length; else NULL
 * and in *why NGX_CALLS_STUN_MALFORMED or NGX_CALLS_STUN_NOT_REQUEST.
 * Nothing is verified yet.
 */
const uint8_t *ngx_calls_stun_local_ufrag(const uint8_t *buf, size_t len,
    size_t *ufrag_len, ngx_calls_stun_rc_e *why);

/*
 * Checks a STUN message against our credentials (ufrag, pwd) and, when
 * remote_ufrag is not NULL, the peer's ufrag.  On ANSWER or CONFLICT, out
 * (NGX_CALLS_STUN_MAX_RESPONSE bytes) holds the response for peer and
 * *out_len its length; on ANSWER, check says what the request asked.
 */
ngx_calls_stun_rc_e ngx_calls_stun_process(const uint8_t *buf, size_t len,
    const char *ufrag, const char *pwd, const char *remote_ufrag,
    const struct sockaddr *peer, socklen_t peer_len,
    ngx_calls_stun_check_t *check, uint8_t *out, size_t *out_len);


#endif /* _NGX_CALLS_STUN_H_INCLUDED_ */
