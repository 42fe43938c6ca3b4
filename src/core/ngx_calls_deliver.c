
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The single entry point of media: a datagram from a network path goes to
 * the session it belongs to, in this worker or in its call's home.
 *
 * With reuseport the kernel gives each client address to one worker's
 * socket, not to the worker of its call.  The first packet of a path is a
 * STUN check whose ufrag names the home worker (its first two characters,
 * ngx_calls_ufrag_worker()); the receiving worker hands it over and
 * remembers the path as foreign, so that DTLS and RTP from it follow
 * without a lookup elsewhere.  The home worker answers from its own
 * socket of the same listen: the client sees one address.  It forgets a
 * foreign path when told that its session is gone, or after a minute of
 * silence (consent checks come every few seconds).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_calls.h"
#include "ngx_calls_rtp.h"
#include "ngx_calls_bus.h"
#include "ngx_calls_directory.h"
#include "ngx_calls_route.h"
#include "ngx_calls_stun.h"


#define NGX_CALLS_FOREIGN_MAX      65536
#define NGX_CALLS_FOREIGN_IDLE     60000          /* ms */
#define NGX_CALLS_LISTENERS_MAX    64


/* a datagram handed to another worker: the header, then its bytes */
typedef struct {
    uint64_t                  arrival_us;
    uint32_t                  listener;
    uint8_t                   peer_len;
    uint8_t                   local_len;
    uint8_t                   reserved[2];
    u_char                    peer[sizeof(struct sockaddr_in6)];
    u_char                    local[sizeof(struct sockaddr_in6)];
} ngx_calls_dgram_t;


typedef struct {
    ngx_rbtree_node_t         node;          /* key: hash of the path */
    ngx_queue_t               lru;
    ngx_calls_dgram_t         addr;          /* listener, peer */
    ngx_uint_t                home;
    ngx_msec_t                used;
} ngx_calls_foreign_t;


typedef struct {
    ngx_rbtree_t              tree;
    ngx_rbtree_node_t         sentinel;
    ngx_queue_t               lru;           /* most recently used first */
    ngx_uint_t                n;
    ngx_calls_listener_t     *listeners[NGX_CALLS_LISTENERS_MAX];
    ngx_uint_t                nlisteners;
    unsigned                  ready:1;
} ngx_calls_deliver_t;


static ngx_int_t ngx_calls_deliver_pack(ngx_calls_path_t *path,
    uint64_t arrival_us, ngx_calls_dgram_t *d);
static ngx_int_t ngx_calls_deliver_unpack(ngx_calls_dgram_t *d,
    ngx_calls_path_t *path);
static void ngx_calls_deliver_forward(ngx_calls_path_t *path, u_char *buf,
    size_t len, uint64_t arrival_us, ngx_uint_t home, ngx_uint_t remember);
static void ngx_calls_foreign_remember(ngx_calls_dgram_t *d,
    ngx_uint_t home);
static uint32_t ngx_calls_foreign_hash(ngx_calls_dgram_t *d);
static ngx_calls_foreign_t *ngx_calls_foreign_lookup(ngx_calls_dgram_t *d,
    uint32_t hash);
static void ngx_calls_foreign_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_calls_foreign_remove(ngx_calls_foreign_t *f);
static void ngx_calls_deliver_init(void);


static ngx_calls_deliver_t  ngx_calls_deliver_state;

static const char  ngx_calls_ice_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


ngx_int_t
ngx_calls_listener_add(ngx_calls_listener_t *l)
{
    ngx_calls_deliver_t  *st;

    st = &ngx_calls_deliver_state;

    if (st->nlisteners == NGX_CALLS_LISTENERS_MAX) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "calls: more than %d media listeners",
                      NGX_CALLS_LISTENERS_MAX);
        return NGX_ERROR;
    }

    l->index = st->nlisteners;
    st->listeners[st->nlisteners++] = l;

    return NGX_OK;
}


void
ngx_calls_listener_flush(void)
{
    ngx_uint_t            i;
    ngx_calls_deliver_t  *st;

    st = &ngx_calls_deliver_state;

    for (i = 0; i < st->nlisteners; i++) {
        if (st->listeners[i]->flush) {
            st->listeners[i]->flush(st->listeners[i]);
        }
    }
}


/* the first two characters of our ufrags name the worker (up to 4096) */

void
ngx_calls_ufrag_worker(u_char *ufrag)
{
    ufrag[0] = ngx_calls_ice_alphabet[(ngx_worker / 64) % 64];
    ufrag[1] = ngx_calls_ice_alphabet[ngx_worker % 64];
}


static ngx_int_t
ngx_calls_ufrag_home(const u_char *ufrag, size_t len)
{
    u_char       *p;
    ngx_uint_t    i, v[2];

    if (len < 2) {
        return NGX_ERROR;
    }

    for (i = 0; i < 2; i++) {
        p = (u_char *) ngx_strlchr((u_char *) ngx_calls_ice_alphabet,
                                   (u_char *) ngx_calls_ice_alphabet + 64,
                                   ufrag[i]);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v[i] = p - (u_char *) ngx_calls_ice_alphabet;
    }

    return v[0] * 64 + v[1];
}


ngx_int_t
ngx_calls_stun_home(u_char *buf, size_t len)
{
    size_t                ulen;
    ngx_int_t             home;
    ngx_calls_stun_rc_e   why;
    const uint8_t        *u;

    if (len == 0 || !ngx_calls_is_stun(buf[0])) {
        return NGX_DECLINED;
    }

    u = ngx_calls_stun_local_ufrag(buf, len, &ulen, &why);

    if (u == NULL) {
        return NGX_DECLINED;
    }

    home = ngx_calls_ufrag_home(u, ulen);

    if (home == NGX_ERROR || (ngx_uint_t) home >= ngx_calls_dir_nslots()) {
        return NGX_DECLINED;
    }

    return home;
}


void
ngx_calls_deliver(ngx_calls_path_t *path, u_char *buf, size_t len,
    uint64_t arrival_us)
{
    size_t                ulen;
    uint32_t              hash;
    ngx_int_t             home;
    ngx_str_t             ufrag;
    ngx_calls_dgram_t     d;
    ngx_calls_stun_rc_e   why;
    const uint8_t        *u;
    ngx_calls_foreign_t  *f;

    if (ngx_calls_home_input(path, buf, len, arrival_us, ngx_worker)
        == NGX_OK)
    {
        return;
    }

    /* a path whose call lives in another worker */

    if (ngx_calls_deliver_state.n
        && ngx_calls_deliver_pack(path, 0, &d) == NGX_OK)
    {
        hash = ngx_calls_foreign_hash(&d);
        f = ngx_calls_foreign_lookup(&d, hash);

        if (f) {
            f->used = ngx_current_msec;
            ngx_queue_remove(&f->lru);
            ngx_queue_insert_head(&ngx_calls_deliver_state.lru, &f->lru);

            ngx_calls_deliver_forward(path, buf, len, arrival_us, f->home, 0);
            return;
        }
    }

    /* a new path: only a STUN check naming a session may open it */

    if (len == 0 || !ngx_calls_is_stun(buf[0])) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
        ngx_calls_count(len && ngx_calls_is_dtls(buf[0])
                        ? NGX_CALLS_CNT_DROP_DTLS_UNVERIFIED
                        : len && ngx_calls_is_rtp(buf[0])
                          ? NGX_CALLS_CNT_DROP_UNKNOWN_PATH
                          : NGX_CALLS_CNT_DROP_UNKNOWN_PROTO, 1);
        return;
    }

    u = ngx_calls_stun_local_ufrag(buf, len, &ulen, &why);

    if (u == NULL) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
        ngx_calls_count(why == NGX_CALLS_STUN_NOT_REQUEST
                        ? NGX_CALLS_CNT_DROP_STUN_NOT_REQUEST
                        : why == NGX_CALLS_STUN_UNKNOWN_USER
                          ? NGX_CALLS_CNT_DROP_STUN_UNKNOWN_USER
                          : NGX_CALLS_CNT_DROP_STUN_MALFORMED, 1);
        return;
    }

    home = ngx_calls_ufrag_home(u, ulen);

    if (home == NGX_ERROR || (ngx_uint_t) home >= ngx_calls_dir_nslots()) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
        ngx_calls_count(NGX_CALLS_CNT_DROP_STUN_UNKNOWN_USER, 1);
        return;
    }

    if ((ngx_uint_t) home == ngx_worker) {
        ufrag.data = (u_char *) u;
        ufrag.len = ulen;

        (void) ngx_calls_home_stun(path, &ufrag, buf, len, arrival_us,
                                   ngx_worker);
        return;
    }

    ngx_calls_deliver_forward(path, buf, len, arrival_us, home, 1);
}


static void
ngx_calls_deliver_forward(ngx_calls_path_t *path, u_char *buf, size_t len,
    uint64_t arrival_us, ngx_uint_t home, ngx_uint_t remember)
{
    ngx_calls_dgram_t  d;

    if (ngx_calls_deliver_pack(path, arrival_us, &d) != NGX_OK) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PATH, 1);
        return;
    }

    if (ngx_calls_bus_send(home, NGX_CALLS_MSG_DGRAM, &d, sizeof(d), buf, len)
        != NGX_OK)
    {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_DROP_BUS_FULL, 1);
        return;
    }

    ngx_calls_count(NGX_CALLS_CNT_HANDED_OVER, 1);

    if (remember) {
        ngx_calls_foreign_remember(&d, home);
    }
}


/*
 * Any STUN request with a ufrag naming a worker gets here, checked or not
 * (the home worker checks it): the table is bounded, the least recently
 * used path makes room.
 */

static void
ngx_calls_foreign_remember(ngx_calls_dgram_t *d, ngx_uint_t home)
{
    uint32_t              hash;
    ngx_queue_t          *q;
    ngx_calls_foreign_t  *f;
    ngx_calls_deliver_t  *st;

    st = &ngx_calls_deliver_state;

    if (!st->ready) {
        ngx_calls_deliver_init();
    }

    hash = ngx_calls_foreign_hash(d);
    f = ngx_calls_foreign_lookup(d, hash);

    if (f == NULL) {

        if (st->n >= NGX_CALLS_FOREIGN_MAX) {
            q = ngx_queue_last(&st->lru);
            ngx_calls_foreign_remove(ngx_queue_data(q, ngx_calls_foreign_t,
                                                    lru));
        }

        f = ngx_alloc(sizeof(ngx_calls_foreign_t), ngx_cycle->log);
        if (f == NULL) {
            return;
        }

        f->addr = *d;
        f->addr.arrival_us = 0;
        f->node.key = hash;
        ngx_rbtree_insert(&st->tree, &f->node);
        ngx_queue_insert_head(&st->lru, &f->lru);
        st->n++;

    } else {
        ngx_queue_remove(&f->lru);
        ngx_queue_insert_head(&st->lru, &f->lru);
    }

    f->home = home;
    f->used = ngx_current_msec;
}


/* from another worker: a datagram for us, or a path of ours gone */

void
ngx_calls_deliver_msg(ngx_uint_t from, ngx_calls_msg_e type, u_char *buf,
    size_t len)
{
    uint32_t              hash;
    ngx_str_t             ufrag;
    ngx_calls_path_t      path;
    ngx_calls_dgram_t     d;
    ngx_calls_stun_rc_e   why;
    ngx_calls_foreign_t  *f;

    if (len < sizeof(ngx_calls_dgram_t)) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "calls: datagram message of %uz bytes from worker %ui",
                      len, from);
        return;
    }

    ngx_memcpy(&d, buf, sizeof(ngx_calls_dgram_t));
    buf += sizeof(ngx_calls_dgram_t);
    len -= sizeof(ngx_calls_dgram_t);

    if (type == NGX_CALLS_MSG_PATH_GONE) {
        if (ngx_calls_deliver_state.n) {
            d.arrival_us = 0;
            hash = ngx_calls_foreign_hash(&d);
            f = ngx_calls_foreign_lookup(&d, hash);

            if (f) {
                ngx_calls_foreign_remove(f);
            }
        }

        return;
    }

    if (type == NGX_CALLS_MSG_PATH_VIA) {
        d.arrival_us = 0;
        ngx_calls_foreign_remember(&d, from);
        return;
    }

    if (ngx_calls_deliver_unpack(&d, &path) != NGX_OK) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PATH, 1);
        return;
    }

    if (ngx_calls_home_input(&path, buf, len, d.arrival_us, from) == NGX_OK) {
        return;
    }

    if (len && ngx_calls_is_stun(buf[0])) {
        ufrag.data = (u_char *) ngx_calls_stun_local_ufrag(buf, len,
                                                           &ufrag.len, &why);
        if (ufrag.data) {
            (void) ngx_calls_home_stun(&path, &ufrag, buf, len,
                                       d.arrival_us, from);
            return;
        }
    }

    /* the session went away meanwhile */

    ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
    ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
    ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PATH, 1);
}


void
ngx_calls_deliver_path_gone(ngx_calls_path_t *path, ngx_uint_t via)
{
    ngx_calls_dgram_t  d;

    if (ngx_calls_deliver_pack(path, 0, &d) != NGX_OK) {
        return;
    }

    /* lost when the ring is full: the entry then ages out */
    (void) ngx_calls_bus_send(via, NGX_CALLS_MSG_PATH_GONE, &d, sizeof(d),
                              NULL, 0);
}


void
ngx_calls_deliver_paths_ask(void)
{
    ngx_uint_t  i, n;

    n = ngx_calls_dir_nslots();

    for (i = 0; i < n; i++) {
        if (i != ngx_worker) {
            /* lost when the ring is full: the paths' next checks tell */
            (void) ngx_calls_bus_send(i, NGX_CALLS_MSG_PATHS_ASK, NULL, 0,
                                      NULL, 0);
        }
    }
}


void
ngx_calls_deliver_path_via(ngx_calls_path_t *path, ngx_uint_t via)
{
    ngx_calls_dgram_t  d;

    if (ngx_calls_deliver_pack(path, 0, &d) != NGX_OK) {
        return;
    }

    (void) ngx_calls_bus_send(via, NGX_CALLS_MSG_PATH_VIA, &d, sizeof(d),
                              NULL, 0);
}


void
ngx_calls_deliver_expire(ngx_msec_t now)
{
    ngx_queue_t          *q;
    ngx_calls_foreign_t  *f;

    while (ngx_calls_deliver_state.n) {
        q = ngx_queue_last(&ngx_calls_deliver_state.lru);
        f = ngx_queue_data(q, ngx_calls_foreign_t, lru);

        if ((ngx_msec_int_t) (now - f->used) < NGX_CALLS_FOREIGN_IDLE) {
            break;
        }

        ngx_calls_foreign_remove(f);
    }
}


void
ngx_calls_deliver_exit_process(void)
{
    ngx_queue_t          *q;
    ngx_calls_foreign_t  *f;

    while (ngx_calls_deliver_state.n) {
        q = ngx_queue_last(&ngx_calls_deliver_state.lru);
        f = ngx_queue_data(q, ngx_calls_foreign_t, lru);
        ngx_calls_foreign_remove(f);
    }
}


static ngx_int_t
ngx_calls_deliver_pack(ngx_calls_path_t *path, uint64_t arrival_us,
    ngx_calls_dgram_t *d)
{
    ngx_calls_listener_t  *l;

    if (path->tcp
        || path->peer_len > sizeof(d->peer)
        || path->local_len > sizeof(d->local))
    {
        return NGX_ERROR;
    }

    l = path->transport;

    ngx_memzero(d, sizeof(ngx_calls_dgram_t));

    d->arrival_us = arrival_us;
    d->listener = (uint32_t) l->index;
    d->peer_len = (uint8_t) path->peer_len;
    d->local_len = (uint8_t) path->local_len;
    ngx_memcpy(d->peer, &path->peer, path->peer_len);
    ngx_memcpy(d->local, &path->local, path->local_len);

    return NGX_OK;
}


static ngx_int_t
ngx_calls_deliver_unpack(ngx_calls_dgram_t *d, ngx_calls_path_t *path)
{
    if (d->listener >= ngx_calls_deliver_state.nlisteners
        || d->peer_len > sizeof(d->peer)
        || d->local_len > sizeof(d->local))
    {
        return NGX_ERROR;
    }

    ngx_memzero(path, sizeof(ngx_calls_path_t));

    ngx_memcpy(&path->peer, d->peer, d->peer_len);
    path->peer_len = d->peer_len;
    ngx_memcpy(&path->local, d->local, d->local_len);
    path->local_len = d->local_len;

    /* our own socket of the same listen */
    path->transport = ngx_calls_deliver_state.listeners[d->listener];

    return NGX_OK;
}


/* foreign paths: by listener and peer address (the local one may vary) */

static uint32_t
ngx_calls_foreign_hash(ngx_calls_dgram_t *d)
{
    uint32_t  crc;

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) &d->listener, sizeof(d->listener));
    ngx_crc32_update(&crc, d->peer, d->peer_len);
    ngx_crc32_final(crc);

    return crc;
}


static ngx_int_t
ngx_calls_foreign_cmp(ngx_calls_dgram_t *a, ngx_calls_dgram_t *b)
{
    if (a->listener != b->listener) {
        return a->listener < b->listener ? -1 : 1;
    }

    if (a->peer_len != b->peer_len) {
        return a->peer_len < b->peer_len ? -1 : 1;
    }

    return ngx_memcmp(a->peer, b->peer, a->peer_len);
}


static ngx_calls_foreign_t *
ngx_calls_foreign_lookup(ngx_calls_dgram_t *d, uint32_t hash)
{
    ngx_int_t             rc;
    ngx_rbtree_node_t    *node, *sentinel;
    ngx_calls_foreign_t  *f;

    if (!ngx_calls_deliver_state.ready) {
        return NULL;
    }

    node = ngx_calls_deliver_state.tree.root;
    sentinel = ngx_calls_deliver_state.tree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        f = (ngx_calls_foreign_t *) node;
        rc = ngx_calls_foreign_cmp(d, &f->addr);

        if (rc == 0) {
            return f;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_calls_foreign_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t   **p;
    ngx_calls_foreign_t  *fn, *ft;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            fn = (ngx_calls_foreign_t *) node;
            ft = (ngx_calls_foreign_t *) temp;

            p = (ngx_calls_foreign_cmp(&fn->addr, &ft->addr) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static void
ngx_calls_foreign_remove(ngx_calls_foreign_t *f)
{
    ngx_rbtree_delete(&ngx_calls_deliver_state.tree, &f->node);
    ngx_queue_remove(&f->lru);
    ngx_calls_deliver_state.n--;
    ngx_free(f);
}


static void
ngx_calls_deliver_init(void)
{
    ngx_rbtree_init(&ngx_calls_deliver_state.tree,
                    &ngx_calls_deliver_state.sentinel,
                    ngx_calls_foreign_insert);
    ngx_queue_init(&ngx_calls_deliver_state.lru);
    ngx_calls_deliver_state.ready = 1;
}
