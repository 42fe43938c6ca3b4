
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * STUN server side: RFC 5769 test vectors, checks made by libnice's client
 * side, and garbage.  Client side: our checks against our server side and
 * libnice's, in both roles.
 */


#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include "tap.h"
#include "ngx_calls_stun.h"


/* RFC 5769 2.1: sample request, password "VOkJxbRl1RmTxUk/WvJxBt" */
static const uint8_t  rfc5769_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42,
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
    0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,
    0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
    0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56,
    0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04,
    0xe5, 0x7a, 0x3b, 0xcf
};

/* RFC 5769 2.2: sample IPv4 response (192.0.2.1 port 32853) */
static const uint8_t  rfc5769_response4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42,
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08,
    0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
    0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96
};

/* RFC 5769 2.3: sample IPv6 response (2001:db8:1234:5678:11:2233:4455:6677
 * port 32853) */
static const uint8_t  rfc5769_response6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42,
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14,
    0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
    0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
    0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04,
    0xc8, 0xfb, 0x0b, 0x4c
};

static const char  *vec_pwd = "VOkJxbRl1RmTxUk/WvJxBt";

static const uint16_t  client_attrs[] = {
    STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, STUN_ATTRIBUTE_MAPPED_ADDRESS,
    STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
    STUN_ATTRIBUTE_FINGERPRINT, STUN_ATTRIBUTE_ERROR_CODE, 0
};


static void
peer4(struct sockaddr_in *sin, const char *ip, uint16_t port)
{
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    inet_pton(AF_INET, ip, &sin->sin_addr);
}


/* a Binding Request as a controlling browser sends it, made by libnice */
static size_t
make_request(StunAgent *client, uint8_t *buf, size_t size,
    const char *username, const char *pwd, int controlling, int use)
{
    StunMessage  msg;

    return stun_usage_ice_conncheck_create(client, &msg, buf, size,
               (const uint8_t *) username, strlen(username),
               (const uint8_t *) pwd, strlen(pwd), use, controlling,
               0x6e0001ff, 0x1234567890abcdefULL, NULL,
               STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
}


static void
test_vectors(void)
{
    size_t                  ulen, n;
    uint8_t                 out[NGX_CALLS_STUN_MAX_RESPONSE];
    uint8_t                 buf[sizeof(rfc5769_request)];
    socklen_t               alen;
    StunAgent               client;
    StunMessage             msg;
    const uint8_t          *u;
    struct sockaddr_in      sin;
    struct sockaddr_in6     sin6;
    ngx_calls_stun_rc_e     rc;
    ngx_calls_stun_check_t  check;
    struct sockaddr_storage ss;

    u = ngx_calls_stun_local_ufrag(rfc5769_request, sizeof(rfc5769_request),
                                   &ulen, &rc);
    ok(u != NULL && ulen == 4 && memcmp(u, "evtj", 4) == 0,
       "RFC 5769 request: local ufrag is evtj");

    peer4(&sin, "192.0.2.1", 32853);

    /* the vector comes from a controlled agent: we are controlled too */
    rc = ngx_calls_stun_process(rfc5769_request, sizeof(rfc5769_request),
                                "evtj", vec_pwd, "h6vY", 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_CONFLICT,
           "RFC 5769 request verifies and, ICE-CONTROLLED, gets 487");

    memset(&msg, 0, sizeof(msg));
    msg.buffer = out;
    msg.buffer_len = n;
    {
        int  code = 0;

        ok(stun_message_get_class(&msg) == STUN_ERROR
           && stun_message_find_error(&msg, &code) == 0 && code == 487,
           "the answer is a 487 Role Conflict error");
    }
    ok(memcmp(out + 8, rfc5769_request + 8, 12) == 0,
       "487 keeps the transaction id");
    ok(stun_message_has_attribute(&msg, STUN_ATTRIBUTE_MESSAGE_INTEGRITY)
       && stun_message_has_attribute(&msg, STUN_ATTRIBUTE_FINGERPRINT),
       "487 carries MESSAGE-INTEGRITY and FINGERPRINT");

    rc = ngx_calls_stun_process(rfc5769_request, sizeof(rfc5769_request),
                                "evtj", "VOkJxbRl1RmTxUk/WvJxBX", NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_BAD_INTEGRITY, "wrong password: bad integrity");

    rc = ngx_calls_stun_process(rfc5769_request, sizeof(rfc5769_request),
                                "evtk", vec_pwd, NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_UNKNOWN_USER, "other ufrag: unknown user");

    rc = ngx_calls_stun_process(rfc5769_request, sizeof(rfc5769_request),
                                "evtj", vec_pwd, "h6vZ", 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_UNKNOWN_USER, "other remote ufrag: unknown");

    rc = ngx_calls_stun_process(rfc5769_request, sizeof(rfc5769_request),
                                "evt", vec_pwd, NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_UNKNOWN_USER, "ufrag prefix is not a match");

    memcpy(buf, rfc5769_request, sizeof(buf));
    buf[sizeof(buf) - 1] ^= 0x01;
    rc = ngx_calls_stun_process(buf, sizeof(buf), "evtj", vec_pwd, NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_MALFORMED, "bad FINGERPRINT: malformed");

    memcpy(buf, rfc5769_request, sizeof(buf));
    buf[30] ^= 0x01;                        /* inside SOFTWARE */
    rc = ngx_calls_stun_process(buf, sizeof(buf), "evtj", vec_pwd, NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    ok(rc == NGX_CALLS_STUN_MALFORMED || rc == NGX_CALLS_STUN_BAD_INTEGRITY,
       "altered body is refused");

    rc = ngx_calls_stun_process(rfc5769_request, sizeof(rfc5769_request) - 4,
                                "evtj", vec_pwd, NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_MALFORMED, "truncated: malformed");

    /* the responses are not requests: never answered */

    rc = ngx_calls_stun_process(rfc5769_response4,
                                sizeof(rfc5769_response4), "evtj", vec_pwd,
                                NULL, 0, (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_NOT_REQUEST, "RFC 5769 response: not answered");
    ok(ngx_calls_stun_local_ufrag(rfc5769_response4,
                                  sizeof(rfc5769_response4), &ulen, &rc)
       == NULL && rc == NGX_CALLS_STUN_NOT_REQUEST,
       "a response names no session: not a request");
    ok(ngx_calls_stun_local_ufrag(rfc5769_request,
                                  sizeof(rfc5769_request) - 1, &ulen, &rc)
       == NULL && rc == NGX_CALLS_STUN_MALFORMED,
       "a cut request names no session: malformed");

    /* and the vectors decode: checks our transcription and libnice */

    stun_agent_init(&client, client_attrs, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS
                    | STUN_AGENT_USAGE_USE_FINGERPRINT);

    is_int(stun_agent_validate(&client, &msg, rfc5769_response4,
                               sizeof(rfc5769_response4), NULL, NULL),
           STUN_VALIDATION_UNMATCHED_RESPONSE,
           "IPv4 response vector: FINGERPRINT verifies");

    alen = sizeof(ss);
    ok(stun_message_find_xor_addr(&msg, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                  (struct sockaddr_storage *) &ss, &alen)
       == 0, "IPv4 response: XOR-MAPPED-ADDRESS found");
    memcpy(&sin, &ss, sizeof(sin));
    ok(sin.sin_family == AF_INET && ntohs(sin.sin_port) == 32853
       && sin.sin_addr.s_addr == inet_addr("192.0.2.1"),
       "IPv4 response: 192.0.2.1:32853");

    is_int(stun_agent_validate(&client, &msg, rfc5769_response6,
                               sizeof(rfc5769_response6), NULL, NULL),
           STUN_VALIDATION_UNMATCHED_RESPONSE,
           "IPv6 response vector: FINGERPRINT verifies");

    alen = sizeof(ss);
    ok(stun_message_find_xor_addr(&msg, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                  (struct sockaddr_storage *) &ss, &alen)
       == 0, "IPv6 response: XOR-MAPPED-ADDRESS found");
    memcpy(&sin6, &ss, sizeof(sin6));
    {
        struct in6_addr  want;

        inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &want);
        ok(sin6.sin6_family == AF_INET6 && ntohs(sin6.sin6_port) == 32853
           && memcmp(&sin6.sin6_addr, &want, 16) == 0,
           "IPv6 response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853");
    }
}


static void
test_browser_check(void)
{
    size_t                   reqlen, n, ulen;
    uint8_t                  req[512], out[NGX_CALLS_STUN_MAX_RESPONSE];
    socklen_t                alen;
    StunAgent                client;
    StunMessage              msg;
    const uint8_t           *u;
    struct sockaddr_in       sin, *got;
    struct sockaddr_in6      sin6;
    ngx_calls_stun_rc_e      rc;
    struct sockaddr_storage  ss;
    ngx_calls_stun_check_t   check;

    stun_agent_init(&client, client_attrs, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS
                    | STUN_AGENT_USAGE_USE_FINGERPRINT);

    /* a controlling browser nominates with USE-CANDIDATE */
    reqlen = make_request(&client, req, sizeof(req), "srvUfrag:brws",
                          "server-password-1234567", 1, 1);
    ok(reqlen > 0, "libnice made a controlling check");

    u = ngx_calls_stun_local_ufrag(req, reqlen, &ulen, &rc);
    ok(u != NULL && ulen == 8 && memcmp(u, "srvUfrag", 8) == 0,
       "local ufrag of a browser check");

    peer4(&sin, "10.1.2.3", 54321);

    rc = ngx_calls_stun_process(req, reqlen, "srvUfrag",
                                "server-password-1234567", "brws", 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_ANSWER, "controlling check is answered");
    ok(check.use_candidate, "USE-CANDIDATE seen");
    ok(check.controlling, "ICE-CONTROLLING seen");
    is_int(check.priority, 0x6e0001ff, "PRIORITY read");

    /* the response verifies on the client that sent the request */
    is_int(stun_agent_validate(&client, &msg, out, n, NULL, NULL),
           STUN_VALIDATION_SUCCESS,
           "response verifies (MESSAGE-INTEGRITY, FINGERPRINT) at client");
    ok(stun_message_get_class(&msg) == STUN_RESPONSE, "success response");

    alen = sizeof(ss);
    is_int(stun_usage_ice_conncheck_process(&msg,
                                            (struct sockaddr_storage *) &ss,
                                            &alen,
                                         STUN_USAGE_ICE_COMPATIBILITY_RFC5245),
           STUN_USAGE_ICE_RETURN_SUCCESS, "client accepts the response");
    got = (struct sockaddr_in *) &ss;
    ok(got->sin_family == AF_INET && got->sin_port == sin.sin_port
       && got->sin_addr.s_addr == sin.sin_addr.s_addr,
       "XOR-MAPPED-ADDRESS is the peer's address");

    /* IPv6 peer */
    reqlen = make_request(&client, req, sizeof(req), "srvUfrag:brws",
                          "server-password-1234567", 1, 0);
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(40000);
    inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);

    rc = ngx_calls_stun_process(req, reqlen, "srvUfrag",
                                "server-password-1234567", NULL, 0,
                                (struct sockaddr *) &sin6, sizeof(sin6),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_ANSWER, "IPv6 check is answered");
    ok(!check.use_candidate, "no USE-CANDIDATE");
    ok(stun_agent_validate(&client, &msg, out, n, NULL, NULL)
       == STUN_VALIDATION_SUCCESS, "IPv6 response verifies");

    /* a controlled peer is told to switch roles */
    reqlen = make_request(&client, req, sizeof(req), "srvUfrag:brws",
                          "server-password-1234567", 0, 0);
    rc = ngx_calls_stun_process(req, reqlen, "srvUfrag",
                                "server-password-1234567", NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_CONFLICT, "controlled peer: 487");
    is_int(stun_agent_validate(&client, &msg, out, n, NULL, NULL),
           STUN_VALIDATION_SUCCESS, "487 verifies at the client");
    {
        int  code = 0;

        ok(stun_message_find_error(&msg, &code) == 0 && code == 487,
           "error code 487");
        alen = sizeof(ss);
        is_int(stun_usage_ice_conncheck_process(&msg,
                                            (struct sockaddr_storage *) &ss,
                                                &alen,
                                         STUN_USAGE_ICE_COMPATIBILITY_RFC5245),
               STUN_USAGE_ICE_RETURN_ROLE_CONFLICT,
               "client sees a role conflict");
    }

    /* a Binding Indication is never answered */
    {
        StunMessage  ind;

        ok(stun_agent_init_indication(&client, &ind, req, sizeof(req),
                                      STUN_BINDING), "indication built");
        n = stun_agent_finish_message(&client, &ind, NULL, 0);
        rc = ngx_calls_stun_process(req, n, "srvUfrag",
                                    "server-password-1234567", NULL, 0,
                                    (struct sockaddr *) &sin, sizeof(sin),
                                    &check, out, &n);
        is_int(rc, NGX_CALLS_STUN_NOT_REQUEST, "indication: not answered");
    }

    /* no MESSAGE-INTEGRITY: not answered */
    {
        StunMessage  bare;

        stun_agent_init_request(&client, &bare, req, sizeof(req),
                                STUN_BINDING);
        stun_message_append_bytes(&bare, STUN_ATTRIBUTE_USERNAME,
                                  "srvUfrag:brws", 13);
        n = stun_agent_finish_message(&client, &bare, NULL, 0);
        rc = ngx_calls_stun_process(req, n, "srvUfrag",
                                    "server-password-1234567", NULL, 0,
                                    (struct sockaddr *) &sin, sizeof(sin),
                                    &check, out, &n);
        ok(rc != NGX_CALLS_STUN_ANSWER && rc != NGX_CALLS_STUN_CONFLICT,
           "request without MESSAGE-INTEGRITY is not answered");
    }
}


static void
test_garbage(void)
{
    int                     i, j, answered;
    size_t                  n, ulen, len;
    ngx_calls_stun_rc_e     rc;
    uint8_t                 buf[sizeof(rfc5769_request)];
    uint8_t                 out[NGX_CALLS_STUN_MAX_RESPONSE];
    struct sockaddr_in      sin;
    ngx_calls_stun_check_t  check;

    peer4(&sin, "192.0.2.1", 32853);
    srandom(5769);
    answered = 0;

    for (i = 0; i < 20000; i++) {
        memcpy(buf, rfc5769_request, sizeof(buf));

        for (j = random() % 6; j >= 0; j--) {
            buf[random() % sizeof(buf)] = (uint8_t) random();
        }

        len = random() % (sizeof(buf) + 1);

        (void) ngx_calls_stun_local_ufrag(buf, len, &ulen, &rc);

        if (ngx_calls_stun_process(buf, len, "evtj", vec_pwd, NULL, 0,
                                   (struct sockaddr *) &sin, sizeof(sin),
                                   &check, out, &n)
            <= NGX_CALLS_STUN_CONFLICT)
        {
            answered++;
        }
    }

    /* a mutation survives only where it does not change the message */
    ok(1, "20000 mutated requests processed without a crash");
    diag("answered %d of 20000 mutated requests", answered);

    for (i = 0; i < 2000; i++) {
        len = 20 + random() % 200;

        for (j = 0; j < (int) len && j < (int) sizeof(buf); j++) {
            buf[j] = (uint8_t) random();
        }

        buf[0] &= 0x03;

        if (ngx_calls_stun_process(buf, len < sizeof(buf) ? len : sizeof(buf),
                                   "evtj", vec_pwd, NULL, 0,
                                   (struct sockaddr *) &sin, sizeof(sin),
                                   &check, out, &n)
            <= NGX_CALLS_STUN_CONFLICT)
        {
            break;
        }
    }

    is_int(i, 2000, "random bytes are never answered");
}


/* a server answers with a key other than the one the check was sent with */
static size_t
make_forged_response(uint8_t *req, size_t reqlen, uint8_t *out, size_t size)
{
    StunAgent    agent;
    StunMessage  request, res;

    stun_agent_init(&agent, client_attrs, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS
                    | STUN_AGENT_USAGE_USE_FINGERPRINT);

    memset(&request, 0, sizeof(request));
    request.buffer = req;
    request.buffer_len = reqlen;
    request.agent = &agent;

    if (!stun_agent_init_response(&agent, &res, out, size, &request)) {
        return 0;
    }

    return stun_agent_finish_message(&agent, &res,
                                     (const uint8_t *) "not-the-password-xyz1",
                                     21);
}


static void
test_client(void)
{
    size_t                    reqlen, n, ulen;
    uint8_t                   req[512], req2[512];
    uint8_t                   out[NGX_CALLS_STUN_MAX_RESPONSE];
    uint8_t                   out2[NGX_CALLS_STUN_MAX_RESPONSE];
    socklen_t                 mlen;
    StunAgent                 client;
    StunMessage               msg;
    const uint8_t            *u;
    struct sockaddr_in        sin, *got;
    ngx_calls_stun_rc_e       rc;
    ngx_calls_stun_check_t    check;
    ngx_calls_stun_client_t  *c;
    ngx_calls_stun_request_t  r;
    struct sockaddr_storage   mapped;

    c = ngx_calls_stun_client_create();
    ok(c != NULL, "client created");

    memset(&r, 0, sizeof(r));
    r.local_ufrag = "brws";
    r.remote_ufrag = "srvUfrag";
    r.remote_pwd = "server-password-1234567";
    r.priority = 0x6e0001ff;
    r.tie_breaker = 0x1234567890abcdefULL;
    r.controlling = 1;
    r.nominate = 1;

    reqlen = ngx_calls_stun_request(c, &r, req, sizeof(req));
    ok(reqlen > 0, "controlling check with USE-CANDIDATE made");

    u = ngx_calls_stun_local_ufrag(req, reqlen, &ulen, &rc);
    ok(u != NULL && ulen == 8 && memcmp(u, "srvUfrag", 8) == 0,
       "USERNAME is remote:local");

    peer4(&sin, "10.1.2.3", 54321);

    rc = ngx_calls_stun_process(req, reqlen, "srvUfrag",
                                "server-password-1234567", "brws", 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_ANSWER, "server answers our check");
    ok(check.use_candidate && check.controlling
       && check.priority == 0x6e0001ff,
       "server sees USE-CANDIDATE, ICE-CONTROLLING and PRIORITY");

    memset(&mapped, 0, sizeof(mapped));
    mlen = 0;
    rc = ngx_calls_stun_response(c, out, n, &mapped, &mlen);
    is_int(rc, NGX_CALLS_STUN_ANSWER, "client accepts the response");
    got = (struct sockaddr_in *) &mapped;
    ok(mlen == sizeof(struct sockaddr_in) && got->sin_family == AF_INET
       && got->sin_port == sin.sin_port
       && got->sin_addr.s_addr == sin.sin_addr.s_addr,
       "mapped address is where the server saw us");

    is_int(ngx_calls_stun_response(c, out, n, NULL, NULL),
           NGX_CALLS_STUN_UNMATCHED, "the same response again: unmatched");

    /* a newer check forgets the older one */
    reqlen = ngx_calls_stun_request(c, &r, req, sizeof(req));
    n = ngx_calls_stun_request(c, &r, req2, sizeof(req2));
    ok(reqlen > 0 && n > 0, "two checks made");

    rc = ngx_calls_stun_process(req, reqlen, "srvUfrag",
                                "server-password-1234567", NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_ANSWER, "first check answered");
    is_int(ngx_calls_stun_response(c, out, n, NULL, NULL),
           NGX_CALLS_STUN_UNMATCHED, "its response comes too late");

    /* the second check, answered with the wrong key */
    reqlen = ngx_calls_stun_request(c, &r, req2, sizeof(req2));
    n = make_forged_response(req2, reqlen, out2, sizeof(out2));
    ok(n > 0, "response with another key made");
    is_int(ngx_calls_stun_response(c, out2, n, NULL, NULL),
           NGX_CALLS_STUN_BAD_INTEGRITY, "wrong MESSAGE-INTEGRITY refused");

    /* a request is not a response */
    is_int(ngx_calls_stun_response(c, req2, reqlen, NULL, NULL),
           NGX_CALLS_STUN_NOT_REQUEST, "a request is not taken as answer");

    /* controlled on both sides: the server's 487 reaches the client */
    r.controlling = 0;
    r.nominate = 0;
    reqlen = ngx_calls_stun_request(c, &r, req, sizeof(req));
    rc = ngx_calls_stun_process(req, reqlen, "srvUfrag",
                                "server-password-1234567", NULL, 0,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_CONFLICT, "controlled check: server sends 487");
    is_int(ngx_calls_stun_response(c, out, n, NULL, NULL),
           NGX_CALLS_STUN_CONFLICT, "client sees the role conflict");

    ngx_calls_stun_client_free(c);

    /* answering a full ICE server's checks as the controlling agent */

    stun_agent_init(&client, client_attrs, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS
                    | STUN_AGENT_USAGE_USE_FINGERPRINT);

    reqlen = make_request(&client, req, sizeof(req), "brws:srvUfrag",
                          "browser-password-123456", 0, 0);
    rc = ngx_calls_stun_process(req, reqlen, "brws",
                                "browser-password-123456", "srvUfrag", 1,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_ANSWER, "controlling: a controlled check is "
           "answered");
    is_int(stun_agent_validate(&client, &msg, out, n, NULL, NULL),
           STUN_VALIDATION_SUCCESS, "its response verifies at libnice");

    reqlen = make_request(&client, req, sizeof(req), "brws:srvUfrag",
                          "browser-password-123456", 1, 0);
    rc = ngx_calls_stun_process(req, reqlen, "brws",
                                "browser-password-123456", "srvUfrag", 1,
                                (struct sockaddr *) &sin, sizeof(sin),
                                &check, out, &n);
    is_int(rc, NGX_CALLS_STUN_CONFLICT, "controlling: a controlling check "
           "gets 487");
    is_int(stun_agent_validate(&client, &msg, out, n, NULL, NULL),
           STUN_VALIDATION_SUCCESS, "the 487 verifies at libnice");
}


int
main(void)
{
    ngx_calls_stun_init();

    test_vectors();
    test_browser_check();
    test_garbage();
    test_client();

    return done_testing();
}
