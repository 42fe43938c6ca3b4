
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The public address of each local address, as a STUN server sees it
 * (RFC 5389 Binding, libnice's bind usage): rtcd does this at startup
 * when it has ICE servers and no host override (service/rtc/stun.go),
 * and advertises the public address instead of the local one.
 *
 * It runs when nginx reads its configuration, in the master: one UDP
 * socket per local address (its own port: a 1:1 NAT maps the address,
 * whatever the port), a request every 500 ms, at most 5 s in all, as
 * rtcd waits.  A connected socket hears an ICMP refusal at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <poll.h>
#include <stun/stunagent.h>
#include <stun/usages/bind.h>

#include "ngx_calls.h"


#define NGX_CALLS_DISCOVER_TIMEOUT  5000
#define NGX_CALLS_DISCOVER_RESEND   500
#define NGX_CALLS_DISCOVER_MAX      16


typedef struct {
    int                         fd;
    StunAgent                   agent;
    StunMessage                 req;
    uint8_t                     buf[STUN_MAX_MESSAGE_SIZE];
    size_t                      len;
    ngx_uint_t                  done;
} ngx_calls_discover_t;


static ngx_int_t ngx_calls_discover_open(ngx_calls_discover_t *d,
    ngx_sockaddr_t *local, socklen_t local_len, struct sockaddr *server,
    socklen_t server_len, ngx_log_t *log);
static void ngx_calls_discover_read(ngx_calls_discover_t *d,
    ngx_calls_public_t *pub, ngx_log_t *log);


ngx_int_t
ngx_calls_discover(ngx_log_t *log, struct sockaddr *server,
    socklen_t server_len, ngx_calls_public_t *pub, ngx_uint_t n)
{
    int                    rc, timeout;
    ngx_uint_t             i, left;
    ngx_msec_t             start, now, resend;
    struct pollfd          pfd[NGX_CALLS_DISCOVER_MAX];
    ngx_calls_discover_t  *d;

    n = ngx_min(n, NGX_CALLS_DISCOVER_MAX);

    d = ngx_calloc(n * sizeof(ngx_calls_discover_t) + 1, log);
    if (d == NULL) {
        return NGX_ERROR;
    }

    left = 0;

    for (i = 0; i < n; i++) {
        d[i].fd = -1;
        pub[i].found = 0;

        if (pub[i].local.sockaddr.sa_family != server->sa_family) {
            pub[i].error = "the STUN server is of another address family";
            d[i].done = 1;
            continue;
        }

        if (ngx_calls_discover_open(&d[i], &pub[i].local, pub[i].local_len,
                                    server, server_len, log)
            != NGX_OK)
        {
            pub[i].error = "no socket";
            d[i].done = 1;
            continue;
        }

        left++;
    }

    ngx_time_update();
    start = ngx_current_msec;
    resend = 0;

    while (left) {

        ngx_time_update();
        now = ngx_current_msec;

        if (now - start >= NGX_CALLS_DISCOVER_TIMEOUT) {
            break;
        }

        if (now >= resend) {
            for (i = 0; i < n; i++) {
                if (!d[i].done
                    && send(d[i].fd, d[i].buf, d[i].len, 0) == -1
                    && ngx_errno != NGX_EAGAIN)
                {
                    pub[i].error = "sending failed";
                    d[i].done = 1;
                    left--;
                }
            }

            resend = now + NGX_CALLS_DISCOVER_RESEND;
        }

        for (i = 0; i < n; i++) {
            pfd[i].fd = d[i].done ? -1 : d[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
        }

        timeout = (int) ngx_min(resend - now,
                                start + NGX_CALLS_DISCOVER_TIMEOUT - now);

        rc = poll(pfd, n, timeout);

        if (rc == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "calls: poll() for STUN failed");
            break;
        }

        for (i = 0; i < n; i++) {
            if (d[i].done || !(pfd[i].revents & (POLLIN|POLLERR))) {
                continue;
            }

            ngx_calls_discover_read(&d[i], &pub[i], log);

            if (d[i].done) {
                left--;
            }
        }
    }

    for (i = 0; i < n; i++) {
        if (!d[i].done) {
            pub[i].error = "no answer within 5 s";
        }

        if (d[i].fd != -1) {
            (void) close(d[i].fd);
        }
    }

    ngx_free(d);

    return NGX_OK;
}


static ngx_int_t
ngx_calls_discover_open(ngx_calls_discover_t *d, ngx_sockaddr_t *local,
    socklen_t local_len, struct sockaddr *server, socklen_t server_len,
    ngx_log_t *log)
{
    ngx_sockaddr_t  sa;

    d->fd = socket(server->sa_family, SOCK_DGRAM, 0);
    if (d->fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_socket_errno,
                      "calls: STUN socket() failed");
        return NGX_ERROR;
    }

    if (ngx_nonblocking(d->fd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_socket_errno,
                      "calls: STUN " ngx_nonblocking_n " failed");
        return NGX_ERROR;
    }

    /* the local address, any port */

    ngx_memcpy(&sa, local, local_len);
    ngx_inet_set_port(&sa.sockaddr, 0);

    if (bind(d->fd, &sa.sockaddr, local_len) == -1) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_socket_errno,
                      "calls: STUN bind() failed");
        return NGX_ERROR;
    }

    if (connect(d->fd, server, server_len) == -1) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_socket_errno,
                      "calls: STUN connect() failed");
        return NGX_ERROR;
    }

    stun_agent_init(&d->agent, STUN_ALL_KNOWN_ATTRIBUTES,
                    STUN_COMPATIBILITY_RFC5389, 0);

    d->len = stun_usage_bind_create(&d->agent, &d->req, d->buf,
                                    sizeof(d->buf));
    if (d->len == 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "calls: stun_usage_bind_create() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_calls_discover_read(ngx_calls_discover_t *d, ngx_calls_public_t *pub,
    ngx_log_t *log)
{
    uint8_t                 buf[STUN_MAX_MESSAGE_SIZE];
    ssize_t                 n;
    socklen_t               len, alt_len;
    StunMessage             res;
    ngx_sockaddr_t          alt;
    StunUsageBindReturn     rc;
    StunValidationStatus    valid;

    for ( ;; ) {

        n = recv(d->fd, buf, sizeof(buf), 0);

        if (n == -1) {
            if (ngx_socket_errno == NGX_EAGAIN) {
                return;
            }

            /* an ICMP error on the connected socket: nobody there */

            pub->error = (ngx_socket_errno == NGX_ECONNREFUSED)
                         ? "the STUN server refused (ICMP port unreachable)"
                         : "receiving failed";
            d->done = 1;
            return;
        }

        valid = stun_agent_validate(&d->agent, &res, buf, n, NULL, NULL);

        if (valid != STUN_VALIDATION_SUCCESS) {
            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "calls: a datagram that is not our STUN answer "
                          "ignored (%d)", (int) valid);
            continue;
        }

        len = sizeof(ngx_sockaddr_t);
        alt_len = sizeof(ngx_sockaddr_t);

        rc = stun_usage_bind_process(&res, &pub->public.sockaddr, &len,
                                     &alt.sockaddr, &alt_len);

        if (rc == STUN_USAGE_BIND_RETURN_SUCCESS) {
            pub->public_len = len;
            pub->found = 1;
            d->done = 1;
            return;
        }

        if (rc == STUN_USAGE_BIND_RETURN_ERROR
            || rc == STUN_USAGE_BIND_RETURN_ALTERNATE_SERVER)
        {
            pub->error = "the STUN server answered with an error";
            d->done = 1;
            return;
        }

        /* an invalid answer: wait for another */
    }
}
