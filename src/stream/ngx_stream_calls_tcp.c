
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * ICE-TCP on the media port (RFC 6544, passive candidates only): a TCP
 * connection to a "listen" of the calls_media server carries RFC 4571
 * frames, a 2-byte big-endian length then one packet (STUN, DTLS, SRTP),
 * both ways.  Each frame in goes to ngx_calls_deliver() as a datagram
 * would, on a path whose transport is the connection; what the engine
 * sends on that path goes out framed on the same connection.
 *
 * A connection must pass an ICE check (a STUN request naming a session,
 * with its MESSAGE-INTEGRITY) within NGX_STREAM_CALLS_TCP_HANDSHAKE; a
 * frame dropped before that, a frame of length 0 or above
 * NGX_STREAM_CALLS_TCP_FRAME, silence or the end of its session close it.
 * Memory per connection is bounded: a partial frame in, and output the
 * socket did not take up to NGX_STREAM_CALLS_TCP_OUT (beyond it frames
 * are dropped and counted, never a part of one), allocated only when the
 * socket falls behind.  Nothing waits: full sockets wait for the write
 * event.
 *
 * With several workers a connection is accepted by any of them; the
 * first STUN request names the session by its ufrag, and so the worker of
 * its call: a connection for another worker moves there (descriptor and
 * the bytes read so far, ngx_calls_handoff()) before anything is
 * answered, and from then on lives in that worker alone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_stream.h>

#include "ngx_calls.h"
#include "ngx_calls_handoff.h"
#include "ngx_stream_calls_tcp.h"


/* the largest frame in: the UDP side's largest datagram */
#define NGX_STREAM_CALLS_TCP_FRAME      2048
#define NGX_STREAM_CALLS_TCP_READ       16384    /* one recv() */
#define NGX_STREAM_CALLS_TCP_ROUNDS     8        /* recv()s per read event */

/* output queued while the socket is full: one frame at least */
#define NGX_STREAM_CALLS_TCP_OUT        (65535 + 2)

#define NGX_STREAM_CALLS_TCP_HANDSHAKE  10000    /* ms to pass ICE */
#define NGX_STREAM_CALLS_TCP_IDLE       30000    /* ms, as ICE consent */
#define NGX_STREAM_CALLS_TCP_CHECK      5000     /* ms between checks */


typedef struct {
    ngx_calls_listener_t         listener;        /* the path's transport */
    ngx_stream_session_t        *session;
    ngx_calls_path_t             path;
    ngx_buf_t                   *out;             /* what is not sent yet */
    ngx_msec_t                   last_frame;
    ngx_calls_counter_e          reason;          /* why it closed */
    size_t                       nrest;
    unsigned                     bound:1;         /* passed ICE */
    unsigned                     error:1;         /* sending failed */
    unsigned                     moved:1;         /* to another worker */
    u_char                       rest[2 + NGX_STREAM_CALLS_TCP_FRAME];
} ngx_stream_calls_tcp_t;


/* what goes with a connection to another worker, then the bytes read */
typedef struct {
    ngx_sockaddr_t               peer;
    ngx_sockaddr_t               local;
    socklen_t                    peer_len;
    socklen_t                    local_len;
} ngx_stream_calls_tcp_moved_t;


static void ngx_stream_calls_tcp_read(ngx_event_t *rev);
static ngx_int_t ngx_stream_calls_tcp_frames(ngx_stream_calls_tcp_t *tc,
    u_char *p, u_char *end, uint64_t arrival);
static void ngx_stream_calls_tcp_move(ngx_stream_calls_tcp_t *tc,
    ngx_uint_t worker, u_char *p, u_char *end);
static ngx_listening_t *ngx_stream_calls_tcp_listening(
    ngx_stream_calls_tcp_moved_t *m);
static uint64_t ngx_stream_calls_tcp_now(void);
static ngx_int_t ngx_stream_calls_tcp_frame(ngx_stream_calls_tcp_t *tc,
    u_char *buf, size_t len, uint64_t arrival);
static void ngx_stream_calls_tcp_timer(ngx_stream_calls_tcp_t *tc);
static void ngx_stream_calls_tcp_write(ngx_event_t *wev);
static ngx_int_t ngx_stream_calls_tcp_send(ngx_calls_listener_t *l,
    ngx_calls_path_t *path, u_char *buf, size_t len);
static void ngx_stream_calls_tcp_fail(ngx_stream_calls_tcp_t *tc);
static void ngx_stream_calls_tcp_close(ngx_stream_calls_tcp_t *tc,
    ngx_calls_counter_e reason, const char *fmt, ...);
static void ngx_stream_calls_tcp_cleanup(void *data);


/* one read of one connection at a time; frames are handled in place */
static u_char  ngx_stream_calls_tcp_buf[NGX_STREAM_CALLS_TCP_READ];
static u_char  ngx_stream_calls_tcp_msg[NGX_CALLS_HANDOFF_MAX];


void
ngx_stream_calls_tcp_init(ngx_stream_session_t *s)
{
    size_t                   n;
    ngx_buf_t               *b;
    ngx_connection_t        *c;
    ngx_pool_cleanup_t      *cln;
    ngx_stream_calls_tcp_t  *tc;

    c = s->connection;

    tc = ngx_pcalloc(c->pool, sizeof(ngx_stream_calls_tcp_t));
    if (tc == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_connection_local_sockaddr(c, NULL, 0) != NGX_OK) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    cln = ngx_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    tc->listener.send = ngx_stream_calls_tcp_send;
    tc->listener.connection = c;
    tc->listener.data = tc;
    tc->session = s;
    tc->reason = NGX_CALLS_CNT_TCP_CLOSED_ERROR;
    tc->last_frame = ngx_current_msec;

    ngx_memcpy(&tc->path.peer, c->sockaddr, c->socklen);
    tc->path.peer_len = c->socklen;
    ngx_memcpy(&tc->path.local, c->local_sockaddr, c->local_socklen);
    tc->path.local_len = c->local_socklen;
    tc->path.transport = &tc->listener;
    tc->path.tcp = 1;

    /* from here on every way the connection ends goes through this */
    cln->handler = ngx_stream_calls_tcp_cleanup;
    cln->data = tc;

    /* a connection another worker handed us was counted there */
    if (!c->buffer || !c->buffer->temporary || c->buffer->tag
        != (ngx_buf_tag_t) &ngx_stream_calls_module)
    {
        ngx_calls_count(NGX_CALLS_CNT_TCP_ACCEPTED, 1);
    }

    ngx_stream_set_ctx(s, tc, ngx_stream_calls_module);

    /* nginx's graceful shutdown closes "idle" connections: so do we */
    c->idle = 1;

    c->read->handler = ngx_stream_calls_tcp_read;
    c->write->handler = ngx_stream_calls_tcp_write;

    ngx_add_timer(c->read, NGX_STREAM_CALLS_TCP_HANDSHAKE);

    ngx_log_debug0(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "calls: ICE-TCP connection");

    /* what was read before: by another worker, or by the preread phase */

    b = c->buffer;

    while (b && b->pos < b->last) {
        ngx_memcpy(ngx_stream_calls_tcp_buf, tc->rest, tc->nrest);

        n = ngx_min((size_t) (b->last - b->pos),
                    NGX_STREAM_CALLS_TCP_READ - tc->nrest);

        ngx_memcpy(ngx_stream_calls_tcp_buf + tc->nrest, b->pos, n);
        b->pos += n;

        if (ngx_stream_calls_tcp_frames(tc, ngx_stream_calls_tcp_buf,
                                        ngx_stream_calls_tcp_buf
                                        + tc->nrest + n,
                                        ngx_stream_calls_tcp_now())
            != NGX_OK)
        {
            return;
        }
    }

    ngx_stream_calls_tcp_read(c->read);
}


static void
ngx_stream_calls_tcp_read(ngx_event_t *rev)
{
    u_char                  *buf;
    ssize_t                  n;
    ngx_uint_t               round;
    ngx_connection_t        *c;
    ngx_stream_session_t    *s;
    ngx_stream_calls_tcp_t  *tc;

    c = rev->data;
    s = c->data;
    tc = ngx_stream_get_module_ctx(s, ngx_stream_calls_module);

    if (c->close) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_SHUTDOWN,
                                   "the worker is shutting down");
        return;
    }

    if (rev->timedout) {
        rev->timedout = 0;
        ngx_stream_calls_tcp_timer(tc);
        return;
    }

    buf = ngx_stream_calls_tcp_buf;

    for (round = 0; round < NGX_STREAM_CALLS_TCP_ROUNDS; round++) {

        /* the partial frame the last read ended with goes first */
        ngx_memcpy(buf, tc->rest, tc->nrest);

        n = c->recv(c, buf + tc->nrest, NGX_STREAM_CALLS_TCP_READ - tc->nrest);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0) {
            ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_PEER,
                                       "the peer closed it");
            return;
        }

        if (n == NGX_ERROR) {
            ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                       "reading failed");
            return;
        }

        if (ngx_stream_calls_tcp_frames(tc, buf, buf + tc->nrest + n,
                                        ngx_stream_calls_tcp_now())
            != NGX_OK)
        {
            return;
        }

        if (!rev->ready) {
            break;
        }
    }

    /* more may be waiting: the other connections get their turn first */
    if (round == NGX_STREAM_CALLS_TCP_ROUNDS && rev->ready) {
        ngx_post_event(rev, &ngx_posted_events);
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                   "the read event failed");
    }
}


/* one arrival time per read, for congestion control */

static uint64_t
ngx_stream_calls_tcp_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/*
 * The frames in p .. end; a partial one at the end is kept for the next
 * read.  NGX_OK, or NGX_DONE when the connection was closed or moved.
 */

static ngx_int_t
ngx_stream_calls_tcp_frames(ngx_stream_calls_tcp_t *tc, u_char *p,
    u_char *end, uint64_t arrival)
{
    size_t     len;
    ngx_int_t  home;

    while (end - p >= 2) {
        len = (p[0] << 8) | p[1];

        if (len == 0 || len > NGX_STREAM_CALLS_TCP_FRAME) {
            ngx_calls_count(NGX_CALLS_CNT_DROP_TCP_FRAMING, 1);
            ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_BAD_FRAME,
                                       "a frame of %uz bytes (1 to %d "
                                       "are allowed)", len,
                                       NGX_STREAM_CALLS_TCP_FRAME);
            return NGX_DONE;
        }

        if ((size_t) (end - p) < 2 + len) {
            break;
        }

        if (!tc->bound) {
            home = ngx_calls_stun_home(p + 2, len);

            if (home != NGX_DECLINED && (ngx_uint_t) home != ngx_worker) {
                ngx_stream_calls_tcp_move(tc, home, p, end);
                return NGX_DONE;
            }
        }

        if (ngx_stream_calls_tcp_frame(tc, p + 2, len, arrival) != NGX_OK) {
            return NGX_DONE;
        }

        p += 2 + len;
    }

    tc->nrest = end - p;
    ngx_memcpy(tc->rest, p, tc->nrest);

    return NGX_OK;
}


/*
 * The connection goes to the worker of the call its first ICE check names,
 * with what was read of it and not handled (p .. end, and the rest of a
 * buffer read before); this worker forgets it.
 */

static void
ngx_stream_calls_tcp_move(ngx_stream_calls_tcp_t *tc, ngx_uint_t worker,
    u_char *p, u_char *end)
{
    u_char                        *q;
    size_t                         len, more;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_connection_t              *c;
    ngx_stream_calls_tcp_moved_t   m;

    c = tc->listener.connection;
    b = c->buffer;
    more = (b && b->last > b->pos) ? (size_t) (b->last - b->pos) : 0;

    len = sizeof(ngx_stream_calls_tcp_moved_t) + (end - p) + more;

    if (len > NGX_CALLS_HANDOFF_MAX) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ICE,
                                   "%uz bytes came before an ICE check "
                                   "of worker %ui's call", len, worker);
        return;
    }

    ngx_memzero(&m, sizeof(ngx_stream_calls_tcp_moved_t));
    ngx_memcpy(&m.peer, &tc->path.peer, tc->path.peer_len);
    m.peer_len = tc->path.peer_len;
    ngx_memcpy(&m.local, &tc->path.local, tc->path.local_len);
    m.local_len = tc->path.local_len;

    q = ngx_cpymem(ngx_stream_calls_tcp_msg, &m, sizeof(m));
    q = ngx_cpymem(q, p, end - p);

    if (more) {
        q = ngx_cpymem(q, b->pos, more);
        b->pos = b->last;
    }

    /*
     * Our epoll keeps watching a socket whose descriptor is closed while
     * another process holds it: the events go first, explicitly.
     */

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    rc = ngx_calls_handoff(worker, c->fd, ngx_stream_calls_tcp_msg,
                           q - ngx_stream_calls_tcp_msg, c->log);

    if (rc != NGX_OK) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                   "worker %ui, its call's, could not take "
                                   "it%s", worker,
                                   rc == NGX_AGAIN ? " (queue full)" : "");
        return;
    }

    ngx_calls_count(NGX_CALLS_CNT_TCP_HANDED_OVER, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "calls: ICE-TCP connection handed to worker %ui", worker);

    tc->moved = 1;
    ngx_stream_finalize_session(tc->session, NGX_STREAM_OK);
}


/*
 * A connection another worker handed us: it starts over here as if this
 * worker had accepted it, the bytes read so far in c->buffer.
 */

void
ngx_stream_calls_tcp_adopt(ngx_socket_t fd, u_char *data, size_t len)
{
    ngx_buf_t                     *b;
    ngx_log_t                     *log;
    ngx_listening_t               *ls;
    ngx_connection_t              *c;
    ngx_stream_calls_tcp_moved_t   m;

    if (len <= sizeof(ngx_stream_calls_tcp_moved_t)) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "calls: a handed ICE-TCP connection of %uz bytes",
                      len);
        (void) ngx_close_socket(fd);
        return;
    }

    ngx_memcpy(&m, data, sizeof(ngx_stream_calls_tcp_moved_t));
    data += sizeof(ngx_stream_calls_tcp_moved_t);
    len -= sizeof(ngx_stream_calls_tcp_moved_t);

    if (ngx_exiting || ngx_terminate) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "calls: a handed ICE-TCP connection closed: the worker "
                      "is shutting down");
        (void) ngx_close_socket(fd);
        return;
    }

    ls = (m.peer_len <= sizeof(ngx_sockaddr_t)
          && m.local_len <= sizeof(ngx_sockaddr_t))
         ? ngx_stream_calls_tcp_listening(&m) : NULL;

    if (ls == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "calls: a handed ICE-TCP connection has no listen "
                      "of its address in this worker");
        (void) ngx_close_socket(fd);
        return;
    }

    c = ngx_get_connection(fd, ngx_cycle->log);
    if (c == NULL) {
        (void) ngx_close_socket(fd);
        return;
    }

    c->pool = ngx_create_pool(ls->pool_size, ngx_cycle->log);
    if (c->pool == NULL) {
        ngx_close_connection(c);
        return;
    }

    c->sockaddr = ngx_palloc(c->pool, m.peer_len);
    c->local_sockaddr = ngx_palloc(c->pool, m.local_len);
    log = ngx_palloc(c->pool, sizeof(ngx_log_t));
    b = ngx_create_temp_buf(c->pool, len);
    c->addr_text.data = ngx_pnalloc(c->pool, ls->addr_text_max_len);

    if (c->sockaddr == NULL || c->local_sockaddr == NULL || log == NULL
        || b == NULL || c->addr_text.data == NULL)
    {
        ngx_destroy_pool(c->pool);
        ngx_close_connection(c);
        return;
    }

    ngx_memcpy(c->sockaddr, &m.peer, m.peer_len);
    c->socklen = m.peer_len;
    ngx_memcpy(c->local_sockaddr, &m.local, m.local_len);
    c->local_socklen = m.local_len;

    c->addr_text.len = ngx_sock_ntop(c->sockaddr, c->socklen,
                                     c->addr_text.data,
                                     ls->addr_text_max_len, 0);

    *log = ls->log;
    log->data = NULL;
    log->handler = NULL;

    c->log = log;
    c->pool->log = log;
    c->read->log = log;
    c->write->log = log;

    c->recv = ngx_recv;
    c->send = ngx_send;
    c->recv_chain = ngx_recv_chain;
    c->send_chain = ngx_send_chain;

    c->listening = ls;
    c->type = SOCK_STREAM;
    c->write->ready = 1;
    c->start_time = ngx_current_msec;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    /* the tag says the bytes come from another worker */
    b->last = ngx_cpymem(b->last, data, len);
    b->tag = (ngx_buf_tag_t) &ngx_stream_calls_module;
    c->buffer = b;

#if (NGX_STAT_STUB)
    (void) ngx_atomic_fetch_add(ngx_stat_active, 1);
#endif

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, log, 0,
                   "calls: ICE-TCP connection from %V handed to us",
                   &c->addr_text);

    ls->handler(c);
}


/* this worker's listen of the address the connection came to */

static ngx_listening_t *
ngx_stream_calls_tcp_listening(ngx_stream_calls_tcp_moved_t *m)
{
    ngx_uint_t        i;
    ngx_listening_t  *ls, *wildcard;
    struct sockaddr  *local;

    local = &m->local.sockaddr;
    wildcard = NULL;
    ls = ngx_cycle->listening.elts;

    for (i = 0; i < ngx_cycle->listening.nelts; i++) {

        if (ls[i].type != SOCK_STREAM
            || ls[i].handler != ngx_stream_init_connection
            || ls[i].connection == NULL
            || ls[i].sockaddr->sa_family != local->sa_family
            || ngx_inet_get_port(ls[i].sockaddr) != ngx_inet_get_port(local))
        {
            continue;
        }

        if (ngx_cmp_sockaddr(ls[i].sockaddr, ls[i].socklen, local,
                             m->local_len, 1)
            == NGX_OK)
        {
            return &ls[i];
        }

        if (ls[i].wildcard) {
            wildcard = &ls[i];
        }
    }

    return wildcard;
}


/* NGX_OK, or NGX_DONE when the connection was closed */

static ngx_int_t
ngx_stream_calls_tcp_frame(ngx_stream_calls_tcp_t *tc, u_char *buf,
    size_t len, uint64_t arrival)
{
    uint64_t           *cnt, before[NGX_CALLS_CNT_DROP_LAST
                                    - NGX_CALLS_CNT_DROP_FIRST];
    ngx_uint_t          i;
    ngx_connection_t   *c;

    c = tc->listener.connection;
    tc->last_frame = ngx_current_msec;

    if (tc->bound) {
        ngx_calls_deliver(&tc->path, buf, len, arrival);

        if (tc->error) {
            ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                       "sending failed");
            return NGX_DONE;
        }

        return NGX_OK;
    }

    /*
     * Not ICE-checked yet: only a STUN request naming a session of this
     * worker may come (one of another worker's moved the connection
     * there, see ngx_stream_calls_tcp_frames()).
     */

    cnt = ngx_calls_worker_counters();

    if (cnt == NULL) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                   "no calls zone");
        return NGX_DONE;
    }

    ngx_memcpy(before, &cnt[NGX_CALLS_CNT_DROP_FIRST], sizeof(before));

    ngx_calls_deliver(&tc->path, buf, len, arrival);

    if (tc->error) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                   "sending failed");
        return NGX_DONE;
    }

    if (ngx_calls_path_bound(&tc->path) == NGX_OK) {
        tc->bound = 1;
        ngx_add_timer(c->read, NGX_STREAM_CALLS_TCP_CHECK);

        ngx_log_debug0(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "calls: ICE-TCP connection passed ICE");
        return NGX_OK;
    }

    /* dropped (and counted, by its reason), or answered (487): go on */

    for (i = 0; i < NGX_CALLS_CNT_DROP_LAST - NGX_CALLS_CNT_DROP_FIRST; i++) {
        if (cnt[NGX_CALLS_CNT_DROP_FIRST + i] != before[i]) {
            ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ICE,
                                "a frame before ICE passed was dropped: %s",
                                ngx_calls_counter_name((ngx_calls_counter_e)
                                    (NGX_CALLS_CNT_DROP_FIRST + i)));
            return NGX_DONE;
        }
    }

    return NGX_OK;
}


static void
ngx_stream_calls_tcp_timer(ngx_stream_calls_tcp_t *tc)
{
    ngx_connection_t  *c;

    c = tc->listener.connection;

    if (!tc->bound) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_IDLE,
                                   "no ICE check passed within %d s",
                                   NGX_STREAM_CALLS_TCP_HANDSHAKE / 1000);
        return;
    }

    if (ngx_calls_path_bound(&tc->path) != NGX_OK) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_SESSION,
                                   "its session ended");
        return;
    }

    /* only whole frames count: bytes trickling in keep nothing alive */
    if (ngx_current_msec - tc->last_frame >= NGX_STREAM_CALLS_TCP_IDLE) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_IDLE,
                                   "no frame for %d s",
                                   NGX_STREAM_CALLS_TCP_IDLE / 1000);
        return;
    }

    ngx_add_timer(c->read, NGX_STREAM_CALLS_TCP_CHECK);
}


static void
ngx_stream_calls_tcp_write(ngx_event_t *wev)
{
    ssize_t                  n;
    ngx_buf_t               *b;
    ngx_connection_t        *c;
    ngx_stream_session_t    *s;
    ngx_stream_calls_tcp_t  *tc;

    c = wev->data;
    s = c->data;
    tc = ngx_stream_get_module_ctx(s, ngx_stream_calls_module);

    if (tc->error) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                   "sending failed");
        return;
    }

    b = tc->out;

    while (b && b->pos < b->last) {
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_ERROR) {
            ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                       "sending failed");
            return;
        }

        if (n == NGX_AGAIN || n == 0) {
            break;
        }

        b->pos += n;
    }

    if (b && b->pos == b->last) {
        b->pos = b->start;
        b->last = b->start;
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_stream_calls_tcp_close(tc, NGX_CALLS_CNT_TCP_CLOSED_ERROR,
                                   "the write event failed");
    }
}


/*
 * The engine's packet on the connection: straight to the socket when
 * nothing waits before it, else behind what waits.  A frame that does not
 * fit is dropped (the engine counts a failed send); once a part of a frame
 * is on the wire, the rest is always kept.
 */

static ngx_int_t
ngx_stream_calls_tcp_send(ngx_calls_listener_t *l, ngx_calls_path_t *path,
    u_char *buf, size_t len)
{
    size_t                   sent, size;
    ssize_t                  n;
    ngx_buf_t               *b;
    ngx_iovec_t              vec;
    struct iovec             iov[2];
    ngx_connection_t        *c;
    ngx_stream_calls_tcp_t  *tc;
    u_char                   head[2];

    tc = l->data;
    c = l->connection;

    if (tc->error || len == 0 || len > 65535) {
        return NGX_ERROR;
    }

    head[0] = (u_char) (len >> 8);
    head[1] = (u_char) len;

    sent = 0;
    b = tc->out;

    if ((b == NULL || b->pos == b->last) && c->write->ready) {
        iov[0].iov_base = head;
        iov[0].iov_len = 2;
        iov[1].iov_base = buf;
        iov[1].iov_len = len;

        vec.iovs = iov;
        vec.count = 2;
        vec.size = 2 + len;
        vec.nalloc = 2;

        n = ngx_writev(c, &vec);

        if (n == NGX_ERROR) {
            ngx_stream_calls_tcp_fail(tc);
            return NGX_ERROR;
        }

        if ((size_t) n == 2 + len) {
            return NGX_OK;
        }

        /* the write event says when there is room again */
        c->write->ready = 0;
        sent = (n == NGX_AGAIN) ? 0 : (size_t) n;
    }

    if (b == NULL) {
        b = ngx_create_temp_buf(c->pool, NGX_STREAM_CALLS_TCP_OUT);
        if (b == NULL) {
            ngx_stream_calls_tcp_fail(tc);
            return NGX_ERROR;
        }

        tc->out = b;
    }

    size = 2 + len - sent;

    if ((size_t) (b->end - b->last) < size && b->pos > b->start) {
        b->last = ngx_movemem(b->start, b->pos, b->last - b->pos);
        b->pos = b->start;
    }

    if ((size_t) (b->end - b->last) < size) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "calls: ICE-TCP output full, %uz bytes dropped", len);
        return NGX_ERROR;
    }

    if (sent < 2) {
        b->last = ngx_cpymem(b->last, head + sent, 2 - sent);
        sent = 2;
    }

    b->last = ngx_cpymem(b->last, buf + (sent - 2), len - (sent - 2));

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_stream_calls_tcp_fail(tc);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_stream_calls_tcp_fail(ngx_stream_calls_tcp_t *tc)
{
    /* the engine is on the stack: the connection closes a bit later */
    tc->error = 1;
    ngx_post_event(tc->listener.connection->write, &ngx_posted_events);
}


static void
ngx_stream_calls_tcp_close(ngx_stream_calls_tcp_t *tc,
    ngx_calls_counter_e reason, const char *fmt, ...)
{
    u_char   *p, text[256];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    ngx_log_error(NGX_LOG_INFO, tc->listener.connection->log, 0,
                  "calls: ICE-TCP connection closed: %*s", p - text, text);

    tc->reason = reason;

    ngx_stream_finalize_session(tc->session, NGX_STREAM_OK);
}


static void
ngx_stream_calls_tcp_cleanup(void *data)
{
    ngx_stream_calls_tcp_t  *tc = data;

    /* nothing may send on the connection once it is gone */
    ngx_calls_path_gone(&tc->path);

    /* a connection that moved is counted by the worker it moved to */
    if (!tc->moved) {
        ngx_calls_count(tc->reason, 1);
    }
}
