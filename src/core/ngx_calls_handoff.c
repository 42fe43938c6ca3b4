
/*
 * Copyright (C) ngx_calls authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_calls_handoff.h"


/* messages taken per read event before other events get their turn */
#define NGX_CALLS_HANDOFF_BATCH  64


typedef struct {
    ngx_uint_t                   workers;
    ngx_socket_t               (*pairs)[2];    /* [0] sends, [1] receives */

    /* in a worker */
    ngx_calls_handoff_pt         handler;
    ngx_connection_t            *conn;
} ngx_calls_handoff_state_t;


static void ngx_calls_handoff_cleanup(void *data);
static void ngx_calls_handoff_read(ngx_event_t *rev);
static void ngx_calls_handoff_dummy(ngx_event_t *ev);


static ngx_calls_handoff_state_t  ngx_calls_handoff_state;

static u_char  ngx_calls_handoff_buf[NGX_CALLS_HANDOFF_MAX];


ngx_int_t
ngx_calls_handoff_init_module(ngx_cycle_t *cycle, ngx_uint_t n)
{
    ngx_uint_t                  i, k;
    ngx_pool_cleanup_t         *cln;
    ngx_calls_handoff_state_t  *st, *made;

    st = &ngx_calls_handoff_state;
    ngx_memzero(st, sizeof(ngx_calls_handoff_state_t));

    if (n < 2) {
        return NGX_OK;
    }

    st->pairs = ngx_palloc(cycle->pool, n * sizeof(ngx_socket_t[2]));
    if (st->pairs == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        st->pairs[i][0] = (ngx_socket_t) -1;
        st->pairs[i][1] = (ngx_socket_t) -1;
    }

    /*
     * The cleanup gets a copy: on a reload the master destroys the old
     * cycle after it made the new one, whose sockets must stay.
     */

    made = ngx_palloc(cycle->pool, sizeof(ngx_calls_handoff_state_t));
    cln = ngx_pool_cleanup_add(cycle->pool, 0);

    if (made == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    st->workers = n;
    *made = *st;
    cln->handler = ngx_calls_handoff_cleanup;
    cln->data = made;

    for (i = 0; i < n; i++) {
        if (socketpair(AF_UNIX, SOCK_DGRAM, 0, st->pairs[i]) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                          "calls: socketpair() for worker %ui failed", i);
            st->pairs[i][0] = (ngx_socket_t) -1;
            st->pairs[i][1] = (ngx_socket_t) -1;
            return NGX_ERROR;
        }

        for (k = 0; k < 2; k++) {
            if (ngx_nonblocking(st->pairs[i][k]) == -1
                || fcntl(st->pairs[i][k], F_SETFD, FD_CLOEXEC) == -1)
            {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                              "calls: setting up the hand-off socket of "
                              "worker %ui failed", i);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static void
ngx_calls_handoff_cleanup(void *data)
{
    ngx_calls_handoff_state_t *st = data;

    ngx_uint_t  i, k;

    for (i = 0; i < st->workers; i++) {
        for (k = 0; k < 2; k++) {
            if (st->pairs[i][k] != (ngx_socket_t) -1) {
                (void) close(st->pairs[i][k]);
                st->pairs[i][k] = (ngx_socket_t) -1;
            }
        }
    }

    st->workers = 0;
}


ngx_int_t
ngx_calls_handoff_init_process(ngx_cycle_t *cycle,
    ngx_calls_handoff_pt handler)
{
    ngx_connection_t           *c;
    ngx_calls_handoff_state_t  *st;

    st = &ngx_calls_handoff_state;

    if (st->workers < 2 || ngx_worker >= st->workers) {
        return NGX_OK;
    }

    c = ngx_get_connection(st->pairs[ngx_worker][1], cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->read->handler = ngx_calls_handoff_read;
    c->read->log = cycle->log;
    c->write->handler = ngx_calls_handoff_dummy;
    c->log = cycle->log;

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT) != NGX_OK) {
        c->fd = (ngx_socket_t) -1;
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    st->handler = handler;
    st->conn = c;

    /* what came for a worker that died in this slot is ours now */
    ngx_post_event(c->read, &ngx_posted_events);

    return NGX_OK;
}


void
ngx_calls_handoff_exit_process(void)
{
    ngx_calls_handoff_state_t  *st;

    st = &ngx_calls_handoff_state;

    if (st->conn == NULL) {
        return;
    }

    if (st->conn->read->posted) {
        ngx_delete_posted_event(st->conn->read);
    }

    /* the socket belongs to the cycle; the connection does not */
    st->conn->fd = (ngx_socket_t) -1;
    ngx_free_connection(st->conn);
    st->conn = NULL;
    st->handler = NULL;
}


ngx_int_t
ngx_calls_handoff(ngx_uint_t worker, ngx_socket_t fd, u_char *data,
    size_t len, ngx_log_t *log)
{
    ngx_err_t                   err;
    struct iovec                iov;
    struct msghdr               msg;
    struct cmsghdr             *cmsg;
    ngx_calls_handoff_state_t  *st;

    union {
        struct cmsghdr          cm;
        u_char                  space[CMSG_SPACE(sizeof(int))];
    } control;

    st = &ngx_calls_handoff_state;

    if (st->workers < 2 || worker >= st->workers || worker == ngx_worker) {
        return NGX_DECLINED;
    }

    if (len == 0 || len > NGX_CALLS_HANDOFF_MAX) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "calls: %uz bytes cannot go with a connection", len);
        return NGX_ERROR;
    }

    ngx_memzero(&msg, sizeof(struct msghdr));
    ngx_memzero(&control, sizeof(control));

    iov.iov_base = data;
    iov.iov_len = len;

    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof(control.space);

    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    ngx_memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));

    if (sendmsg(st->pairs[worker][0], &msg, 0) == -1) {
        err = ngx_socket_errno;

        if (err == NGX_EAGAIN || err == ENOBUFS) {
            return NGX_AGAIN;
        }

        ngx_log_error(NGX_LOG_ALERT, log, err,
                      "calls: sendmsg() to worker %ui failed", worker);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_calls_handoff_read(ngx_event_t *rev)
{
    int                         fd;
    ssize_t                     n;
    ngx_err_t                   err;
    ngx_uint_t                  i;
    struct iovec                iov;
    struct msghdr               msg;
    struct cmsghdr             *cmsg;
    ngx_connection_t           *c;
    ngx_calls_handoff_state_t  *st;

    union {
        struct cmsghdr          cm;
        u_char                  space[CMSG_SPACE(sizeof(int))];
    } control;

    c = rev->data;
    st = &ngx_calls_handoff_state;

    for (i = 0; i < NGX_CALLS_HANDOFF_BATCH; i++) {

        ngx_memzero(&msg, sizeof(struct msghdr));

        iov.iov_base = ngx_calls_handoff_buf;
        iov.iov_len = NGX_CALLS_HANDOFF_MAX;

        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.space;
        msg.msg_controllen = sizeof(control.space);

        n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err != NGX_EAGAIN && err != NGX_EINTR) {
                ngx_log_error(NGX_LOG_ALERT, rev->log, err,
                              "calls: recvmsg() of handed connections "
                              "failed");
            }

            return;
        }

        fd = -1;

        for (cmsg = CMSG_FIRSTHDR(&msg);
             cmsg != NULL;
             cmsg = CMSG_NXTHDR(&msg, cmsg))
        {
            if (cmsg->cmsg_level == SOL_SOCKET
                && cmsg->cmsg_type == SCM_RIGHTS
                && cmsg->cmsg_len == CMSG_LEN(sizeof(int)))
            {
                ngx_memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
            }
        }

        if (fd == -1 || (msg.msg_flags & (MSG_TRUNC|MSG_CTRUNC))) {
            ngx_log_error(NGX_LOG_ALERT, rev->log, 0,
                          "calls: a handed connection came broken "
                          "(%z bytes, flags %xd)", n, msg.msg_flags);

            if (fd != -1) {
                (void) close(fd);
            }

            continue;
        }

        if (st->handler == NULL || n == 0) {
            (void) close(fd);
            continue;
        }

        st->handler((ngx_socket_t) fd, ngx_calls_handoff_buf, (size_t) n);
    }

    /* more may wait: other events first */
    ngx_post_event(rev, &ngx_posted_events);
}


static void
ngx_calls_handoff_dummy(ngx_event_t *ev)
{
}
