
/*
 * Copyright (C) ngx_calls authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <sys/eventfd.h>

#include "ngx_calls_bus.h"


/*
 * A ring is written by one worker and read by one other.  head and tail
 * count bytes ever written and read; the producer publishes a record by
 * storing head after the record's bytes, the consumer frees it by storing
 * tail after handling it.  Records are 8-byte aligned and never wrap: a
 * skip record fills the end of the ring when the next one does not fit.
 */

typedef struct {
    volatile ngx_atomic_uint_t   head;
    u_char                       pad1[64 - sizeof(ngx_atomic_uint_t)];
    volatile ngx_atomic_uint_t   tail;
    u_char                       pad2[64 - sizeof(ngx_atomic_uint_t)];
} ngx_calls_bus_ring_t;


typedef struct {
    uint32_t                     len;            /* payload bytes */
    uint16_t                     type;
    uint8_t                      flags;
    uint8_t                      reserved;
} ngx_calls_bus_record_t;


#define NGX_CALLS_BUS_FIRST      0x01
#define NGX_CALLS_BUS_LAST       0x02
#define NGX_CALLS_BUS_SKIP       0x04

/* messages handled per wakeup before others get the event loop back */
#define NGX_CALLS_BUS_BATCH      1024


typedef struct {
    u_char                      *buf;            /* a message in pieces */
    size_t                       len;
    size_t                       size;
    ngx_uint_t                   type;
} ngx_calls_bus_reasm_t;


/* a message to ourselves, kept until the posted event hands it over */
typedef struct ngx_calls_bus_local_s  ngx_calls_bus_local_t;

struct ngx_calls_bus_local_s {
    ngx_calls_bus_local_t       *next;
    ngx_uint_t                   type;
    size_t                       len;
};


typedef struct {
    ngx_uint_t                   workers;
    size_t                       ring_size;
    ngx_shm_t                    shm;
    ngx_fd_t                    *doorbells;

    /* in a worker */
    ngx_calls_bus_handler_pt     handler;
    ngx_connection_t            *conn;
    ngx_event_t                  flush;
    uint64_t                    *pending;        /* doorbells to ring */
    ngx_calls_bus_reasm_t       *reasm;          /* per producer */
    ngx_event_t                  local;
    ngx_calls_bus_local_t       *local_first;
    ngx_calls_bus_local_t      **local_last;
    ngx_log_t                   *log;
} ngx_calls_bus_t;


static ngx_calls_bus_ring_t *ngx_calls_bus_ring(ngx_uint_t from,
    ngx_uint_t to);
static void ngx_calls_bus_cleanup(void *data);
static void ngx_calls_bus_read(ngx_event_t *ev);
static ngx_uint_t ngx_calls_bus_drain(ngx_uint_t from, ngx_uint_t max);
static void ngx_calls_bus_flush(ngx_event_t *ev);
static void ngx_calls_bus_dummy(ngx_event_t *ev);
static ngx_int_t ngx_calls_bus_send_local(ngx_uint_t type, const void *hdr,
    size_t hlen, const u_char *data, size_t dlen);
static void ngx_calls_bus_local_handler(ngx_event_t *ev);


static ngx_calls_bus_t  ngx_calls_bus;


ngx_int_t
ngx_calls_bus_init_module(ngx_cycle_t *cycle, ngx_uint_t workers,
    size_t ring_size)
{
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;

    ngx_memzero(&ngx_calls_bus, sizeof(ngx_calls_bus_t));

    ngx_calls_bus.workers = workers;
    ngx_calls_bus.ring_size = ngx_align(ring_size, 8);
    ngx_calls_bus.log = cycle->log;

    if (workers < 2) {
        return NGX_OK;
    }

    ngx_calls_bus.doorbells = ngx_pcalloc(cycle->pool,
                                          workers * sizeof(ngx_fd_t));
    if (ngx_calls_bus.doorbells == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ngx_calls_bus.shm.size = workers * workers
                             * (sizeof(ngx_calls_bus_ring_t)
                                + ngx_calls_bus.ring_size);
    ngx_str_set(&ngx_calls_bus.shm.name, "calls_bus");
    ngx_calls_bus.shm.log = cycle->log;

    if (ngx_shm_alloc(&ngx_calls_bus.shm) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < workers; i++) {
        ngx_calls_bus.doorbells[i] = -1;
    }

    cln->handler = ngx_calls_bus_cleanup;
    cln->data = &ngx_calls_bus;

    for (i = 0; i < workers; i++) {
        ngx_calls_bus.doorbells[i] = eventfd(0, EFD_NONBLOCK);

        if (ngx_calls_bus.doorbells[i] == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "calls: eventfd() failed");
            return NGX_ERROR;
        }
    }

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "calls: worker bus for %ui workers, %uz bytes",
                  workers, ngx_calls_bus.shm.size);

    return NGX_OK;
}


static void
ngx_calls_bus_cleanup(void *data)
{
    ngx_calls_bus_t *bus = data;

    ngx_uint_t  i;

    for (i = 0; i < bus->workers; i++) {
        if (bus->doorbells[i] != -1) {
            (void) close(bus->doorbells[i]);
            bus->doorbells[i] = -1;
        }
    }

    if (bus->shm.addr) {
        ngx_shm_free(&bus->shm);
        bus->shm.addr = NULL;
    }
}


ngx_int_t
ngx_calls_bus_init_process(ngx_cycle_t *cycle,
    ngx_calls_bus_handler_pt handler)
{
    ngx_event_t       *rev;
    ngx_connection_t  *c;

    ngx_calls_bus.handler = handler;
    ngx_calls_bus.log = cycle->log;

    ngx_calls_bus.local.handler = ngx_calls_bus_local_handler;
    ngx_calls_bus.local.log = cycle->log;
    ngx_calls_bus.local.data = &ngx_calls_bus;
    ngx_calls_bus.local_first = NULL;
    ngx_calls_bus.local_last = &ngx_calls_bus.local_first;

    if (ngx_calls_bus.workers < 2) {
        return NGX_OK;
    }

    ngx_calls_bus.pending = ngx_pcalloc(cycle->pool,
                                ((ngx_calls_bus.workers + 63) / 64)
                                * sizeof(uint64_t));
    ngx_calls_bus.reasm = ngx_pcalloc(cycle->pool, ngx_calls_bus.workers
                                      * sizeof(ngx_calls_bus_reasm_t));
    if (ngx_calls_bus.pending == NULL || ngx_calls_bus.reasm == NULL) {
        return NGX_ERROR;
    }

    /* the other workers' doorbells stay open: we ring them */

    c = ngx_get_connection(ngx_calls_bus.doorbells[ngx_worker], cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->write->handler = ngx_calls_bus_dummy;

    rev = c->read;
    rev->handler = ngx_calls_bus_read;
    rev->log = cycle->log;
    c->log = cycle->log;

    if (ngx_add_event(rev, NGX_READ_EVENT, NGX_CLEAR_EVENT) != NGX_OK) {
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    ngx_calls_bus.conn = c;

    ngx_calls_bus.flush.handler = ngx_calls_bus_flush;
    ngx_calls_bus.flush.log = cycle->log;
    ngx_calls_bus.flush.data = &ngx_calls_bus;

    /*
     * A new worker in the slot of one that died: what was queued for it
     * is read from the event loop, once the worker is all set up (and
     * dropped by whoever finds its sessions gone).
     */

    ngx_post_event(rev, &ngx_posted_events);

    return NGX_OK;
}


void
ngx_calls_bus_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t              i;
    ngx_calls_bus_local_t  *m;

    if (ngx_calls_bus.local.posted) {
        ngx_delete_posted_event(&ngx_calls_bus.local);
    }

    while (ngx_calls_bus.local_first) {
        m = ngx_calls_bus.local_first;
        ngx_calls_bus.local_first = m->next;
        ngx_free(m);
    }

    ngx_calls_bus.local_last = &ngx_calls_bus.local_first;
    ngx_calls_bus.handler = NULL;

    if (ngx_calls_bus.workers < 2 || ngx_calls_bus.conn == NULL) {
        return;
    }

    if (ngx_calls_bus.flush.posted) {
        ngx_delete_posted_event(&ngx_calls_bus.flush);
    }

    for (i = 0; i < ngx_calls_bus.workers; i++) {
        ngx_free(ngx_calls_bus.reasm[i].buf);
        ngx_calls_bus.reasm[i].buf = NULL;
    }

    /*
     * The doorbell belongs to the cycle (made before the fork, closed
     * with it); only the connection is ours, and a connection left with
     * a descriptor is reported as an open socket at exit.
     */

    ngx_calls_bus.conn->fd = (ngx_socket_t) -1;
    ngx_free_connection(ngx_calls_bus.conn);
    ngx_calls_bus.conn = NULL;
}


ngx_uint_t
ngx_calls_bus_workers(void)
{
    return ngx_calls_bus.workers;
}


ngx_int_t
ngx_calls_bus_send(ngx_uint_t to, ngx_uint_t type, const void *hdr,
    size_t hlen, const u_char *data, size_t dlen)
{
    u_char                  *p, *base;
    size_t                   total, frag, piece, size, room, pos, need;
    size_t                   off, take;
    ngx_atomic_uint_t        head, tail;
    ngx_calls_bus_ring_t    *ring;
    ngx_calls_bus_record_t  *rec;

    if (to == (ngx_uint_t) ngx_worker) {
        return ngx_calls_bus_send_local(type, hdr, hlen, data, dlen);
    }

    if (to >= ngx_calls_bus.workers || ngx_calls_bus.conn == NULL) {
        return NGX_ERROR;
    }

    total = hlen + dlen;

    if (total > NGX_CALLS_BUS_MAX_MESSAGE) {
        return NGX_ERROR;
    }

    ring = ngx_calls_bus_ring(ngx_worker, to);
    base = (u_char *) (ring + 1);
    size = ngx_calls_bus.ring_size;

    /* a piece takes at most a quarter of the ring */
    frag = size / 4 - sizeof(ngx_calls_bus_record_t);

    head = ring->head;
    tail = ring->tail;

    /* the consumer is done with what is behind tail before we reuse it */
    ngx_memory_barrier();

    /*
     * All pieces or none: room for each, and for the skip record each
     * may need first (a skip is shorter than a piece's record).
     */

    need = 0;

    for (off = 0; /* void */; off += frag) {
        piece = ngx_min(total - off, frag);
        need += 2 * (sizeof(ngx_calls_bus_record_t) + ngx_align(piece, 8));

        if (off + piece >= total) {
            break;
        }
    }

    if (need > size - (size_t) (head - tail)) {
        return NGX_BUSY;
    }

    off = 0;

    do {
        piece = ngx_min(total - off, frag);
        need = sizeof(ngx_calls_bus_record_t) + ngx_align(piece, 8);

        pos = head % size;
        room = size - pos;

        if (room < need) {
            rec = (ngx_calls_bus_record_t *) (base + pos);
            rec->len = 0;
            rec->type = 0;
            rec->flags = NGX_CALLS_BUS_SKIP;
            head += room;
            pos = 0;
        }

        rec = (ngx_calls_bus_record_t *) (base + pos);
        rec->len = (uint32_t) piece;
        rec->type = (uint16_t) type;
        rec->flags = (off == 0 ? NGX_CALLS_BUS_FIRST : 0)
                     | (off + piece == total ? NGX_CALLS_BUS_LAST : 0);

        p = (u_char *) (rec + 1);

        /* the piece [off, off + piece) of hdr followed by data */

        if (off < hlen) {
            take = ngx_min(hlen - off, piece);
            p = ngx_cpymem(p, (u_char *) hdr + off, take);

            if (take < piece) {
                ngx_memcpy(p, data, piece - take);
            }

        } else {
            ngx_memcpy(p, data + (off - hlen), piece);
        }

        head += need;
        off += piece;

        /* the record's bytes before the head that publishes them */
        ngx_memory_barrier();
        ring->head = head;

    } while (off < total);

    ngx_calls_bus.pending[to / 64] |= (uint64_t) 1 << (to % 64);

    if (!ngx_calls_bus.flush.posted) {
        ngx_post_event(&ngx_calls_bus.flush, &ngx_posted_events);
    }

    return NGX_OK;
}


static ngx_calls_bus_ring_t *
ngx_calls_bus_ring(ngx_uint_t from, ngx_uint_t to)
{
    return (ngx_calls_bus_ring_t *)
               (ngx_calls_bus.shm.addr
                + (from * ngx_calls_bus.workers + to)
                  * (sizeof(ngx_calls_bus_ring_t)
                     + ngx_calls_bus.ring_size));
}


/* once per event loop iteration: a doorbell per worker we wrote to */

static void
ngx_calls_bus_flush(ngx_event_t *ev)
{
    uint64_t    one;
    ngx_uint_t  i;

    one = 1;

    for (i = 0; i < ngx_calls_bus.workers; i++) {

        if (!(ngx_calls_bus.pending[i / 64] & ((uint64_t) 1 << (i % 64)))) {
            continue;
        }

        ngx_calls_bus.pending[i / 64] &= ~((uint64_t) 1 << (i % 64));

        if (write(ngx_calls_bus.doorbells[i], &one, sizeof(one)) == -1
            && ngx_errno != NGX_EAGAIN)
        {
            ngx_log_error(NGX_LOG_ALERT, ngx_calls_bus.log, ngx_errno,
                          "calls: doorbell of worker %ui failed", i);
        }
    }
}


static void
ngx_calls_bus_read(ngx_event_t *ev)
{
    uint64_t    n;
    ngx_uint_t  i, done;

    /* the count first: anything published after it rings again */
    while (read(ngx_calls_bus.doorbells[ngx_worker], &n, sizeof(n)) > 0) {
        /* void */
    }

    done = 0;

    for (i = 0; i < ngx_calls_bus.workers; i++) {
        if (i != ngx_worker) {
            done += ngx_calls_bus_drain(i, NGX_CALLS_BUS_BATCH);
        }
    }

    /* more than a batch waiting: come back after the others had a turn */
    if (done >= NGX_CALLS_BUS_BATCH && !ev->posted) {
        ngx_post_event(ev, &ngx_posted_events);
    }
}


static ngx_uint_t
ngx_calls_bus_drain(ngx_uint_t from, ngx_uint_t max)
{
    u_char                  *base, *p, *nbuf;
    size_t                   size, pos, len, nsize;
    ngx_uint_t               n;
    ngx_atomic_uint_t        head, tail;
    ngx_calls_bus_ring_t    *ring;
    ngx_calls_bus_reasm_t   *ra;
    ngx_calls_bus_record_t  *rec;

    ring = ngx_calls_bus_ring(from, ngx_worker);
    base = (u_char *) (ring + 1);
    size = ngx_calls_bus.ring_size;
    ra = &ngx_calls_bus.reasm[from];

    tail = ring->tail;
    n = 0;

    while (n < max) {
        head = ring->head;
        ngx_memory_barrier();

        if (tail == head) {
            break;
        }

        pos = tail % size;
        rec = (ngx_calls_bus_record_t *) (base + pos);

        if (rec->flags & NGX_CALLS_BUS_SKIP) {
            tail += size - pos;
            ring->tail = tail;
            continue;
        }

        len = rec->len;
        p = (u_char *) (rec + 1);

        if ((rec->flags & (NGX_CALLS_BUS_FIRST|NGX_CALLS_BUS_LAST))
            == (NGX_CALLS_BUS_FIRST|NGX_CALLS_BUS_LAST))
        {
            ngx_calls_bus.handler(from, rec->type, p, len);

        } else {

            if (rec->flags & NGX_CALLS_BUS_FIRST) {
                ra->len = 0;
                ra->type = rec->type;
            }

            if (ra->len + len > ra->size
                && ra->len + len <= NGX_CALLS_BUS_MAX_MESSAGE)
            {
                nsize = ngx_min(ngx_max(ra->len + len, 2 * ra->size),
                                NGX_CALLS_BUS_MAX_MESSAGE);

                nbuf = ngx_alloc(nsize, ngx_calls_bus.log);

                if (nbuf) {
                    if (ra->len) {
                        ngx_memcpy(nbuf, ra->buf, ra->len);
                    }

                    ngx_free(ra->buf);
                    ra->buf = nbuf;
                    ra->size = nsize;
                }
            }

            /* without memory the message is lost, and said so */
            if (ra->len + len > ra->size) {
                ngx_log_error(NGX_LOG_ERR, ngx_calls_bus.log, 0,
                              "calls: bus message from worker %ui lost",
                              from);
                ra->len = 0;

            } else {
                ngx_memcpy(ra->buf + ra->len, p, len);
                ra->len += len;

                if (rec->flags & NGX_CALLS_BUS_LAST) {
                    ngx_calls_bus.handler(from, ra->type, ra->buf, ra->len);
                    ra->len = 0;
                }
            }
        }

        tail += sizeof(ngx_calls_bus_record_t) + ngx_align(len, 8);

        /* handled: the producer may reuse the bytes */
        ngx_memory_barrier();
        ring->tail = tail;

        n++;
    }

    return n;
}


static void
ngx_calls_bus_dummy(ngx_event_t *ev)
{
}


/*
 * A message to this worker takes the same way as any other, later in the
 * event loop: the sender never sees its own handler run under it.
 */

static ngx_int_t
ngx_calls_bus_send_local(ngx_uint_t type, const void *hdr, size_t hlen,
    const u_char *data, size_t dlen)
{
    u_char                 *p;
    ngx_calls_bus_local_t  *m;

    if (ngx_calls_bus.handler == NULL
        || hlen + dlen > NGX_CALLS_BUS_MAX_MESSAGE)
    {
        return NGX_ERROR;
    }

    m = ngx_alloc(sizeof(ngx_calls_bus_local_t) + hlen + dlen,
                  ngx_calls_bus.log);
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->next = NULL;
    m->type = type;
    m->len = hlen + dlen;

    p = (u_char *) (m + 1);

    if (hlen) {
        p = ngx_cpymem(p, hdr, hlen);
    }

    if (dlen) {
        ngx_memcpy(p, data, dlen);
    }

    *ngx_calls_bus.local_last = m;
    ngx_calls_bus.local_last = &m->next;

    if (!ngx_calls_bus.local.posted) {
        ngx_post_event(&ngx_calls_bus.local, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_calls_bus_local_handler(ngx_event_t *ev)
{
    ngx_calls_bus_local_t  *m, *next;

    /* what the handlers queue meanwhile waits for the next round */

    m = ngx_calls_bus.local_first;
    ngx_calls_bus.local_first = NULL;
    ngx_calls_bus.local_last = &ngx_calls_bus.local_first;

    while (m) {
        next = m->next;

        if (ngx_calls_bus.handler) {
            ngx_calls_bus.handler(ngx_worker, m->type, (u_char *) (m + 1),
                                  m->len);
        }

        ngx_free(m);
        m = next;
    }
}
