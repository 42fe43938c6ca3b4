
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_HANDOFF_H_INCLUDED_
#define _NGX_CALLS_HANDOFF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Connections handed from one worker to another: a UNIX datagram socket
 * pair per worker, made before the fork, carries a descriptor
 * (SCM_RIGHTS) with up to NGX_CALLS_HANDOFF_MAX bytes that go with it.
 * An ICE-TCP connection accepted by one worker moves this way to the
 * worker whose call it checks into.
 */


#define NGX_CALLS_HANDOFF_MAX   32768


typedef void (*ngx_calls_handoff_pt)(ngx_socket_t fd, u_char *data,
    size_t len);


/* the master, before the fork: a socket pair for each of n workers */
ngx_int_t ngx_calls_handoff_init_module(ngx_cycle_t *cycle, ngx_uint_t n);

/* a worker: what is handed to it goes to handler, which owns the fd */
ngx_int_t ngx_calls_handoff_init_process(ngx_cycle_t *cycle,
    ngx_calls_handoff_pt handler);
void ngx_calls_handoff_exit_process(void);

/*
 * Sends fd and data to worker: NGX_OK, and the caller closes its own
 * descriptor (the socket lives on in the message); NGX_AGAIN when the
 * worker's queue is full; NGX_DECLINED with a single worker or for
 * ourselves; NGX_ERROR with the cause logged.
 */
ngx_int_t ngx_calls_handoff(ngx_uint_t worker, ngx_socket_t fd,
    u_char *data, size_t len, ngx_log_t *log);


#endif /* _NGX_CALLS_HANDOFF_H_INCLUDED_ */
