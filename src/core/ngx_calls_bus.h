
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_BUS_H_INCLUDED_
#define _NGX_CALLS_BUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The worker bus: messages between the worker processes of one nginx
 * cycle.  Shared memory holds a single-producer single-consumer ring for
 * every ordered pair of workers; each worker has an eventfd, made before
 * the fork, that its producers ring once per event loop iteration.
 * Messages larger than a ring slot travel in fragments and arrive whole.
 *
 * A worker that is not there (it crashed) does not take messages: its
 * rings fill up and sends fail with NGX_BUSY until a new worker runs in
 * its slot and resets them.
 */


#define NGX_CALLS_BUS_RING_DEFAULT   (256 * 1024)
#define NGX_CALLS_BUS_MAX_MESSAGE    (4 * 1024 * 1024)


typedef void (*ngx_calls_bus_handler_pt)(ngx_uint_t from, ngx_uint_t type,
    u_char *data, size_t len);


/* the master, before the fork: rings and doorbells for n workers */
ngx_int_t ngx_calls_bus_init_module(ngx_cycle_t *cycle, ngx_uint_t workers,
    size_t ring_size);

/* each worker: listen to its doorbell, hand messages to handler */
ngx_int_t ngx_calls_bus_init_process(ngx_cycle_t *cycle,
    ngx_calls_bus_handler_pt handler);
void ngx_calls_bus_exit_process(ngx_cycle_t *cycle);

/*
 * Queues a message of hdr then data (either may be empty) for worker to,
 * this one included (handed over from a posted event, never at once).
 * NGX_OK; NGX_BUSY when the ring is full (the caller counts the drop);
 * NGX_ERROR for a bad worker number or a message over the maximum.
 */
ngx_int_t ngx_calls_bus_send(ngx_uint_t to, ngx_uint_t type,
    const void *hdr, size_t hlen, const u_char *data, size_t dlen);

/* the number of workers the bus was made for (1: no bus needed) */
ngx_uint_t ngx_calls_bus_workers(void);


#endif /* _NGX_CALLS_BUS_H_INCLUDED_ */
