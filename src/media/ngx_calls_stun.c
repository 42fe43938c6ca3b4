
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include "ngx_calls_stun.h"


struct ngx_calls_stun_client_s {
    StunAgent                 agent;
    StunTransactionId         id;            /* the request in flight */
    unsigned                  in_flight:1;
};


typedef struct {
    const char               *ufrag;
    const char               *remote_ufrag;
    const char               *pwd;
    unsigned                  user_ok:1;
} ngx_calls_stun_cred_t;


static bool ngx_calls_stun_validater(StunAgent *agent, StunMessage *msg,
    uint8_t *username, uint16_t username_len, uint8_t **password,
    size_t *password_len, void *data);
static int ngx_calls_stun_parse(StunMessage *msg, const uint8_t *buf,
    size_t len);


/*
 * Comprehension-required attributes we understand; a request with another
 * one is dropped.  Comprehension-optional ones (GOOG-NETWORK-INFO ...)
 * pass.
 */
static const uint16_t  ngx_calls_stun_known[] = {
    STUN_ATTRIBUTE_USERNAME,
    STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
    STUN_ATTRIBUTE_FINGERPRINT,
    STUN_ATTRIBUTE_PRIORITY,
    STUN_ATTRIBUTE_USE_CANDIDATE,
    STUN_ATTRIBUTE_ICE_CONTROLLED,
    STUN_ATTRIBUTE_ICE_CONTROLLING,
    0
};


/* what a response to our check may carry that matters */
static const uint16_t  ngx_calls_stun_known_responses[] = {
    STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
    STUN_ATTRIBUTE_MAPPED_ADDRESS,
    STUN_ATTRIBUTE_ERROR_CODE,
    STUN_ATTRIBUTE_USERNAME,
    STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
    STUN_ATTRIBUTE_FINGERPRINT,
    0
};


/*
 * One agent answers for every session: for incoming requests it keeps no
 * state (the password travels in the StunMessage).  Requests we send are
 * remembered by the client's own agent (ngx_calls_stun_client_t).
 */
static StunAgent  ngx_calls_stun_agent;


void
ngx_calls_stun_init(void)
{
    stun_agent_init(&ngx_calls_stun_agent, ngx_calls_stun_known,
                    STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS
                    | STUN_AGENT_USAGE_USE_FINGERPRINT);
}


const uint8_t *
ngx_calls_stun_local_ufrag(const uint8_t *buf, size_t len, size_t *ufrag_len,
    ngx_calls_stun_rc_e *why)
{
    uint16_t        ulen;
    const uint8_t  *user, *colon;
    StunMessage     msg;

    *why = NGX_CALLS_STUN_MALFORMED;

    if (ngx_calls_stun_parse(&msg, buf, len) != 0) {
        return NULL;
    }

    if (stun_message_get_class(&msg) != STUN_REQUEST
        || stun_message_get_method(&msg) != STUN_BINDING)
    {
        *why = NGX_CALLS_STUN_NOT_REQUEST;
        return NULL;
    }

    /* a request without "ufrag:ufrag" names no one */
    *why = NGX_CALLS_STUN_UNKNOWN_USER;

    user = stun_message_find(&msg, STUN_ATTRIBUTE_USERNAME, &ulen);
    if (user == NULL) {
        return NULL;
    }

    colon = memchr(user, ':', ulen);
    if (colon == NULL || colon == user) {
        return NULL;
    }

    *ufrag_len = colon - user;

    return user;
}


ngx_calls_stun_rc_e
ngx_calls_stun_process(const uint8_t *buf, size_t len, const char *ufrag,
    const char *pwd, const char *remote_ufrag, int controlling,
    const struct sockaddr *peer, socklen_t peer_len,
    ngx_calls_stun_check_t *check, uint8_t *out, size_t *out_len)
{
    bool                   control;
    size_t                 n;
    uint64_t               tie;
    StunMessage            req, res;
    StunUsageIceReturn     irc;
    StunValidationStatus   vrc;
    ngx_calls_stun_cred_t  cred;

    if (ngx_calls_stun_parse(&req, buf, len) != 0) {
        return NGX_CALLS_STUN_MALFORMED;
    }

    if (stun_message_get_class(&req) != STUN_REQUEST
        || stun_message_get_method(&req) != STUN_BINDING)
    {
        return NGX_CALLS_STUN_NOT_REQUEST;
    }

    cred.ufrag = ufrag;
    cred.remote_ufrag = remote_ufrag;
    cred.pwd = pwd;
    cred.user_ok = 0;

    vrc = stun_agent_validate(&ngx_calls_stun_agent, &req, buf, len,
                              ngx_calls_stun_validater, &cred);

    switch (vrc) {

    case STUN_VALIDATION_SUCCESS:
        break;

    case STUN_VALIDATION_UNAUTHORIZED:
    case STUN_VALIDATION_UNAUTHORIZED_BAD_REQUEST:
        return cred.user_ok ? NGX_CALLS_STUN_BAD_INTEGRITY
                            : NGX_CALLS_STUN_UNKNOWN_USER;

    default:
        /* bad FINGERPRINT, unknown comprehension-required attribute ... */
        return NGX_CALLS_STUN_MALFORMED;
    }

    memset(check, 0, sizeof(ngx_calls_stun_check_t));

    check->priority = stun_usage_ice_conncheck_priority(&req);
    check->use_candidate = stun_usage_ice_conncheck_use_candidate(&req);
    check->controlling =
        stun_message_has_attribute(&req, STUN_ATTRIBUTE_ICE_CONTROLLING);

    if (stun_message_has_attribute(&req, controlling
                                         ? STUN_ATTRIBUTE_ICE_CONTROLLING
                                         : STUN_ATTRIBUTE_ICE_CONTROLLED))
    {
        /*
         * Both sides claim our role.  We keep it whatever the peer's
         * tie-breaker (ours would be all ones).  libnice would build the
         * 487 without MESSAGE-INTEGRITY, which browsers discard for an
         * authenticated request, so the error is made here with it.
         */

        if (!stun_agent_init_error(&ngx_calls_stun_agent, &res, out,
                                   NGX_CALLS_STUN_MAX_RESPONSE, &req,
                                   STUN_ERROR_ROLE_CONFLICT))
        {
            return NGX_CALLS_STUN_MALFORMED;
        }

        n = stun_agent_finish_message(&ngx_calls_stun_agent, &res,
                                      (const uint8_t *) pwd, strlen(pwd));
        if (n == 0) {
            return NGX_CALLS_STUN_MALFORMED;
        }

        *out_len = n;

        return NGX_CALLS_STUN_CONFLICT;
    }

    /*
     * The peer takes the other role or did not say: no conflict is
     * possible, and a tie-breaker of all ones keeps it that way.
     */

    control = controlling ? true : false;
    tie = UINT64_MAX;
    n = NGX_CALLS_STUN_MAX_RESPONSE;

    irc = stun_usage_ice_conncheck_create_reply(&ngx_calls_stun_agent, &req,
                                                &res, out, &n,
                                    (const struct sockaddr_storage *) peer,
                                                peer_len, &control, tie,
                                       STUN_USAGE_ICE_COMPATIBILITY_RFC5245);

    if (irc != STUN_USAGE_ICE_RETURN_SUCCESS || n == 0
        || control != (controlling ? true : false))
    {
        return NGX_CALLS_STUN_MALFORMED;
    }

    *out_len = n;

    return NGX_CALLS_STUN_ANSWER;
}


ngx_calls_stun_client_t *
ngx_calls_stun_client_create(void)
{
    ngx_calls_stun_client_t  *c;

    c = calloc(1, sizeof(ngx_calls_stun_client_t));
    if (c == NULL) {
        return NULL;
    }

    stun_agent_init(&c->agent, ngx_calls_stun_known_responses,
                    STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS
                    | STUN_AGENT_USAGE_USE_FINGERPRINT);

    return c;
}


void
ngx_calls_stun_client_free(ngx_calls_stun_client_t *c)
{
    free(c);
}


size_t
ngx_calls_stun_request(ngx_calls_stun_client_t *c,
    const ngx_calls_stun_request_t *r, uint8_t *out, size_t size)
{
    char         user[2 * NGX_CALLS_STUN_MAX_UFRAG + 2];
    size_t       n;
    StunMessage  msg;

    if (snprintf(user, sizeof(user), "%s:%s", r->remote_ufrag,
                 r->local_ufrag)
        >= (int) sizeof(user))
    {
        return 0;
    }

    /* at most one request in flight: the agent's table never fills */
    if (c->in_flight) {
        (void) stun_agent_forget_transaction(&c->agent, c->id);
        c->in_flight = 0;
    }

    n = stun_usage_ice_conncheck_create(&c->agent, &msg, out, size,
                                        (const uint8_t *) user, strlen(user),
                                        (const uint8_t *) r->remote_pwd,
                                        strlen(r->remote_pwd),
                                        r->nominate ? true : false,
                                        r->controlling ? true : false,
                                        r->priority, r->tie_breaker, NULL,
                                        STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    if (n == 0) {
        return 0;
    }

    stun_message_id(&msg, c->id);
    c->in_flight = 1;

    return n;
}


ngx_calls_stun_rc_e
ngx_calls_stun_response(ngx_calls_stun_client_t *c, const uint8_t *buf,
    size_t len, struct sockaddr_storage *mapped, socklen_t *mapped_len)
{
    socklen_t                alen;
    StunMessage              msg;
    StunUsageIceReturn       irc;
    StunValidationStatus     vrc;
    struct sockaddr_storage  ss;

    if (ngx_calls_stun_parse(&msg, buf, len) != 0) {
        return NGX_CALLS_STUN_MALFORMED;
    }

    if (stun_message_get_class(&msg) != STUN_RESPONSE
        && stun_message_get_class(&msg) != STUN_ERROR)
    {
        return NGX_CALLS_STUN_NOT_REQUEST;
    }

    /* the password comes from the request it answers */
    vrc = stun_agent_validate(&c->agent, &msg, buf, len, NULL, NULL);

    switch (vrc) {

    case STUN_VALIDATION_SUCCESS:
        break;

    case STUN_VALIDATION_UNMATCHED_RESPONSE:
        return NGX_CALLS_STUN_UNMATCHED;

    case STUN_VALIDATION_UNAUTHORIZED:
    case STUN_VALIDATION_UNAUTHORIZED_BAD_REQUEST:
        return NGX_CALLS_STUN_BAD_INTEGRITY;

    default:
        return NGX_CALLS_STUN_MALFORMED;
    }

    /* validation forgot the transaction: it is answered */
    c->in_flight = 0;

    alen = sizeof(ss);
    irc = stun_usage_ice_conncheck_process(&msg, &ss, &alen,
                                         STUN_USAGE_ICE_COMPATIBILITY_RFC5245);

    switch (irc) {

    case STUN_USAGE_ICE_RETURN_SUCCESS:
        break;

    case STUN_USAGE_ICE_RETURN_ROLE_CONFLICT:
        return NGX_CALLS_STUN_CONFLICT;

    default:
        return NGX_CALLS_STUN_MALFORMED;
    }

    if (mapped != NULL) {
        memcpy(mapped, &ss, alen);
        *mapped_len = alen;
    }

    return NGX_CALLS_STUN_ANSWER;
}


static int
ngx_calls_stun_parse(StunMessage *msg, const uint8_t *buf, size_t len)
{
    int  n;

    /* RFC 7983: STUN starts with 0..3 */
    if (len < 20 || buf[0] > 3) {
        return -1;
    }

    n = stun_message_validate_buffer_length(buf, len, true);
    if (n != (int) len) {
        return -1;
    }

    memset(msg, 0, sizeof(StunMessage));
    msg->buffer = (uint8_t *) buf;
    msg->buffer_len = len;
    msg->agent = &ngx_calls_stun_agent;

    return 0;
}


static bool
ngx_calls_stun_validater(StunAgent *agent, StunMessage *msg,
    uint8_t *username, uint16_t username_len, uint8_t **password,
    size_t *password_len, void *data)
{
    size_t                  ulen, rlen;
    ngx_calls_stun_cred_t  *cred;

    cred = data;
    ulen = strlen(cred->ufrag);

    /* USERNAME is "<our ufrag>:<their ufrag>" */

    if (username_len < ulen + 1
        || memcmp(username, cred->ufrag, ulen) != 0
        || username[ulen] != ':')
    {
        return false;
    }

    if (cred->remote_ufrag != NULL) {
        rlen = strlen(cred->remote_ufrag);

        if (username_len - ulen - 1 != rlen
            || memcmp(username + ulen + 1, cred->remote_ufrag, rlen) != 0)
        {
            return false;
        }
    }

    cred->user_ok = 1;

    *password = (uint8_t *) cred->pwd;
    *password_len = strlen(cred->pwd);

    return true;
}
