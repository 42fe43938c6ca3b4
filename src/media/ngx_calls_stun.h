
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
 * The server is always the controlled agent (the browser offers first and
 * is full ICE).  A peer that claims the controlled role too gets 487 Role
 * Conflict, so that it takes the controlling role: a server that does not
 * send checks of its own cannot nominate.
 *
 * The client side (the load generator, the tests) is the controlling
 * agent as a browser is: it sends checks with USE-CANDIDATE and reads
 * their responses, and answers the checks of a full ICE server in the
 * controlling role.
 */


#define NGX_CALLS_STUN_MAX_RESPONSE  512
#define NGX_CALLS_STUN_MAX_UFRAG     256     /* as NGX_CALLS_SDP_MAX_UFRAG */


typedef enum {
    NGX_CALLS_STUN_ANSWER = 0,               /* out holds a success response */
    NGX_CALLS_STUN_CONFLICT,                 /* out holds 487 Role Conflict */
    NGX_CALLS_STUN_MALFORMED,
    NGX_CALLS_STUN_NOT_REQUEST,
    NGX_CALLS_STUN_UNKNOWN_USER,
    NGX_CALLS_STUN_BAD_INTEGRITY,
    NGX_CALLS_STUN_UNMATCHED                 /* a response to no request */
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
 * controlling: our role; a peer that claims it too gets 487.
 */
ngx_calls_stun_rc_e ngx_calls_stun_process(const uint8_t *buf, size_t len,
    const char *ufrag, const char *pwd, const char *remote_ufrag,
    int controlling, const struct sockaddr *peer, socklen_t peer_len,
    ngx_calls_stun_check_t *check, uint8_t *out, size_t *out_len);


/*
 * The checks we send.  A client remembers its requests in flight (a
 * libnice StunAgent of its own, so responses are matched to requests and
 * verified with the password they were sent with) and forgets a request
 * when it sends the next one: a late response to an older check is then
 * UNMATCHED, which changes nothing.
 */
typedef struct ngx_calls_stun_client_s  ngx_calls_stun_client_t;

typedef struct {
    const char               *local_ufrag;
    const char               *remote_ufrag;
    const char               *remote_pwd;    /* must outlive the request */
    uint32_t                  priority;
    uint64_t                  tie_breaker;
    unsigned                  controlling:1;
    unsigned                  nominate:1;    /* USE-CANDIDATE */
} ngx_calls_stun_request_t;

/* NULL when out of memory */
ngx_calls_stun_client_t *ngx_calls_stun_client_create(void);
void ngx_calls_stun_client_free(ngx_calls_stun_client_t *c);

/*
 * A Binding Request "remote_ufrag:local_ufrag" with PRIORITY, the role
 * and its tie-breaker, USE-CANDIDATE if asked, MESSAGE-INTEGRITY and
 * FINGERPRINT.  Returns its length, or 0 if it does not fit in size.
 */
size_t ngx_calls_stun_request(ngx_calls_stun_client_t *c,
    const ngx_calls_stun_request_t *req, uint8_t *out, size_t size);

/*
 * A response to our request in flight: ANSWER (success, verified; the
 * address the peer saw us at in *mapped when not NULL), CONFLICT (487:
 * the peer wants the other role), UNMATCHED, BAD_INTEGRITY or MALFORMED.
 */
ngx_calls_stun_rc_e ngx_calls_stun_response(ngx_calls_stun_client_t *c,
    const uint8_t *buf, size_t len, struct sockaddr_storage *mapped,
    socklen_t *mapped_len);


#endif /* _NGX_CALLS_STUN_H_INCLUDED_ */
