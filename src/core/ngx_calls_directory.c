
/*
 * Copyright (C) ngx_calls authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/rand.h>

#include "ngx_calls.h"
#include "ngx_calls_directory.h"
#include "ngx_calls_stats.h"


typedef struct {
    ngx_str_node_t            node;          /* "<group>/<call id>" */
    ngx_str_node_t            channel;       /* "<group>/<channel id>" */
    size_t                    group_len;
    ngx_uint_t                home;
    ngx_queue_t               sessions;
} ngx_calls_dir_call_t;


typedef struct {
    ngx_str_node_t            node;          /* session id */
    ngx_queue_t               queue;         /* in the call */
    ngx_calls_dir_call_t     *call;
    ngx_str_t                 user_id;
    ngx_str_t                 channel_id;
    ngx_calls_ref_t           endpoint;
    unsigned                  av1_support:1;
    unsigned                  dc_signaling:1;
} ngx_calls_dir_session_t;


typedef struct {
    ngx_rbtree_t              calls;
    ngx_rbtree_node_t         calls_sentinel;
    ngx_rbtree_t              channels;
    ngx_rbtree_node_t         channels_sentinel;
    ngx_rbtree_t              sessions;
    ngx_rbtree_node_t         sessions_sentinel;
    ngx_uint_t                nslots;
    ngx_calls_slot_t         *slots;
} ngx_calls_dir_sh_t;


/* a worker's view of its cycle's zone */
typedef struct {
    ngx_slab_pool_t          *shpool;
    ngx_calls_dir_sh_t       *sh;
} ngx_calls_dir_t;


static ngx_int_t ngx_calls_dir_init_zone(ngx_shm_zone_t *zone, void *data);
static ngx_calls_dir_call_t *ngx_calls_dir_call(ngx_rbtree_t *tree,
    ngx_str_t *group, ngx_str_t *id);
static ngx_calls_dir_call_t *ngx_calls_dir_call_create(ngx_str_t *group,
    ngx_str_t *id, ngx_str_t *channel);
static ngx_calls_dir_session_t *ngx_calls_dir_lookup(ngx_str_t *id);
static void ngx_calls_dir_remove(ngx_calls_dir_session_t *s);
static ngx_uint_t ngx_calls_dir_pick_home(void);
static u_char *ngx_calls_dir_strdup(u_char *dst, ngx_str_t *dstr,
    ngx_str_t *src);


#define NGX_CALLS_DIR_NEW_ID_LEN  26


static ngx_calls_dir_t  ngx_calls_dir;

static const char  ngx_calls_dir_id_alphabet[] =
    "ybndrfg8ejkmcpqxot1uwisza345h769";


/*
 * A zone of its own for each cycle (noreuse): the calls of the workers of
 * the previous configuration end with them, the new workers start empty.
 * zone->data is the cycle, for the number of workers.
 */

ngx_int_t
ngx_calls_dir_add(ngx_cycle_t *cycle, size_t size)
{
    ngx_str_t        name;
    ngx_conf_t       cf;
    ngx_shm_zone_t  *zone;

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.cycle = cycle;
    cf.pool = cycle->pool;
    cf.log = cycle->log;

    ngx_str_set(&name, "calls");

    zone = ngx_shared_memory_add(&cf, &name, size, &ngx_calls_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_calls_dir_init_zone;
    zone->data = cycle;
    zone->noreuse = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_calls_dir_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t               len;
    ngx_uint_t           i, n;
    ngx_cycle_t         *cycle;
    ngx_core_conf_t     *ccf;
    ngx_slab_pool_t     *shpool;
    ngx_calls_dir_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    cycle = zone->data;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = (ccf->master && ccf->worker_processes > 0) ? ccf->worker_processes
                                                   : 1;

    sh = ngx_slab_alloc(shpool, sizeof(ngx_calls_dir_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->calls, &sh->calls_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&sh->channels, &sh->channels_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&sh->sessions, &sh->sessions_sentinel,
                    ngx_str_rbtree_insert_value);

    sh->nslots = n;
    sh->slots = ngx_slab_calloc(shpool, n * sizeof(ngx_calls_slot_t));
    if (sh->slots == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        sh->slots[i].stats = ngx_calls_stats_create(shpool);
        if (sh->slots[i].stats == NULL) {
            return NGX_ERROR;
        }
    }

    len = sizeof(" in calls zone \"\"") + zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in calls zone \"%V\"%Z", &zone->shm.name);

    shpool->data = sh;

    return NGX_OK;
}


ngx_int_t
ngx_calls_dir_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t        i;
    ngx_shm_zone_t   *zone;
    ngx_list_part_t  *part;

    ngx_calls_dir.shpool = NULL;
    ngx_calls_dir.sh = NULL;

    /* our own cycle's zone: the globals may be of a reload that failed */

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == &ngx_calls_module) {
            ngx_calls_dir.shpool = (ngx_slab_pool_t *) zone[i].shm.addr;
            ngx_calls_dir.sh = ngx_calls_dir.shpool->data;
            break;
        }
    }

    if (ngx_calls_dir.sh == NULL) {
        return NGX_OK;
    }

    if ((ngx_uint_t) ngx_worker >= ngx_calls_dir.sh->nslots) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "calls: worker %i has no slot in the calls zone",
                      ngx_worker);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_calls_dir_orphans(ngx_log_t *log, ngx_calls_orphan_pt handler)
{
    ngx_uint_t                n, last;
    ngx_queue_t              *q;
    ngx_calls_slot_t         *slot;
    ngx_rbtree_node_t        *node, *next;
    ngx_calls_orphan_t        o;
    ngx_calls_dir_call_t     *c;
    ngx_calls_dir_session_t  *s;

    if (ngx_calls_dir.sh == NULL) {
        return;
    }

    slot = &ngx_calls_dir.sh->slots[ngx_worker];

    ngx_shmtx_lock(&ngx_calls_dir.shpool->mutex);

    if (slot->pid) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "calls: worker %i takes the place of process %P, "
                      "which exited unexpectedly: its calls end",
                      ngx_worker, slot->pid);
    }

    slot->pid = ngx_pid;

    /* what a worker that died left: its calls are gone with it */

    n = 0;

    node = ngx_calls_dir.sh->calls.root;

    if (node != ngx_calls_dir.sh->calls.sentinel) {
        node = ngx_rbtree_min(node, ngx_calls_dir.sh->calls.sentinel);

    } else {
        node = NULL;
    }

    for ( /* void */ ; node; node = next) {
        next = ngx_rbtree_next(&ngx_calls_dir.sh->calls, node);

        c = (ngx_calls_dir_call_t *) node;

        if (c->home != (ngx_uint_t) ngx_worker) {
            continue;
        }

        do {
            q = ngx_queue_head(&c->sessions);
            s = ngx_queue_data(q, ngx_calls_dir_session_t, queue);
            last = (ngx_queue_next(q) == ngx_queue_sentinel(&c->sessions));

            o.group_id.data = c->node.str.data;
            o.group_id.len = c->group_len;
            o.call_id.data = c->node.str.data + c->group_len + 1;
            o.call_id.len = c->node.str.len - c->group_len - 1;
            o.session_id = s->node.str;
            o.user_id = s->user_id;
            o.endpoint = s->endpoint;

            handler(&o);
            n++;

            /* the last session takes the call with it */
            ngx_calls_dir_remove(s);

        } while (!last);
    }

    ngx_shmtx_unlock(&ngx_calls_dir.shpool->mutex);

    if (n) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "calls: %ui sessions of the worker that exited "
                      "ended", n);
    }
}


ngx_uint_t
ngx_calls_dir_nslots(void)
{
    return ngx_calls_dir.sh ? ngx_calls_dir.sh->nslots : 0;
}


ngx_calls_slot_t *
ngx_calls_dir_slot(ngx_uint_t n)
{
    if (ngx_calls_dir.sh == NULL || n >= ngx_calls_dir.sh->nslots) {
        return NULL;
    }

    return &ngx_calls_dir.sh->slots[n];
}


ngx_slab_pool_t *
ngx_calls_dir_pool(void)
{
    return ngx_calls_dir.shpool;
}


ngx_int_t
ngx_calls_dir_join(ngx_str_t *group, ngx_calls_join_t *j,
    ngx_calls_ref_t *ep, ngx_pool_t *pool, ngx_uint_t *home, ngx_str_t *err)
{
    u_char                   *p;
    size_t                    size;
    ngx_int_t                 rc;
    ngx_str_t                 id;
    ngx_calls_dir_call_t     *c;
    ngx_calls_dir_session_t  *s;

    if (ngx_calls_dir.sh == NULL) {
        ngx_str_set(err, "media is not configured (no calls_media server)");
        return NGX_DECLINED;
    }

    c = NULL;
    s = NULL;
    rc = NGX_ERROR;

    ngx_shmtx_lock(&ngx_calls_dir.shpool->mutex);

    if (ngx_calls_dir_lookup(&j->session_id) != NULL) {
        ngx_str_set(err, "user session already exists");
        rc = NGX_DECLINED;
        goto done;
    }

    /* the call: by id (RTCD), or the one on the channel (standalone) */

    if (j->call_id.len) {
        c = ngx_calls_dir_call(&ngx_calls_dir.sh->calls, group, &j->call_id);

    } else {
        c = ngx_calls_dir_call(&ngx_calls_dir.sh->channels, group,
                               &j->channel_id);

        if (c == NULL) {
            p = ngx_pnalloc(pool, NGX_CALLS_DIR_NEW_ID_LEN);
            if (p == NULL) {
                goto done;
            }

            ngx_calls_random_id(p, NGX_CALLS_DIR_NEW_ID_LEN,
                                ngx_calls_dir_id_alphabet);
            j->call_id.data = p;
            j->call_id.len = NGX_CALLS_DIR_NEW_ID_LEN;
        }
    }

    if (c == NULL) {
        c = ngx_calls_dir_call_create(group, &j->call_id, &j->channel_id);
        if (c == NULL) {
            goto done;
        }
    }

    size = sizeof(ngx_calls_dir_session_t) + j->session_id.len
           + j->user_id.len + j->channel_id.len;

    s = ngx_slab_calloc_locked(ngx_calls_dir.shpool, size);
    if (s == NULL) {
        goto done;
    }

    p = (u_char *) (s + 1);
    p = ngx_calls_dir_strdup(p, &s->node.str, &j->session_id);
    p = ngx_calls_dir_strdup(p, &s->user_id, &j->user_id);
    (void) ngx_calls_dir_strdup(p, &s->channel_id, &j->channel_id);

    s->call = c;
    s->endpoint = *ep;
    s->av1_support = j->av1_support;
    s->dc_signaling = j->dc_signaling;

    s->node.node.key = ngx_crc32_long(s->node.str.data, s->node.str.len);
    ngx_rbtree_insert(&ngx_calls_dir.sh->sessions, &s->node.node);
    ngx_queue_insert_tail(&c->sessions, &s->queue);

    /* the load counts at once: joins in a burst spread */
    ngx_calls_dir.sh->slots[c->home].sessions++;

    /* the caller's copy of the call id: ours may go with the call */

    id.data = c->node.str.data + c->group_len + 1;
    id.len = c->node.str.len - c->group_len - 1;

    j->call_id.data = ngx_pstrdup(pool, &id);
    if (j->call_id.data == NULL) {
        ngx_calls_dir_remove(s);
        c = NULL;
        goto done;
    }

    j->call_id.len = id.len;

    *home = c->home;
    rc = NGX_OK;

done:

    if (rc != NGX_OK && c && ngx_queue_empty(&c->sessions)) {
        ngx_calls_dir.sh->slots[c->home].calls--;
        ngx_rbtree_delete(&ngx_calls_dir.sh->calls, &c->node.node);

        if (c->channel.str.len) {
            ngx_rbtree_delete(&ngx_calls_dir.sh->channels, &c->channel.node);
        }

        ngx_slab_free_locked(ngx_calls_dir.shpool, c);
    }

    ngx_shmtx_unlock(&ngx_calls_dir.shpool->mutex);

    if (rc == NGX_ERROR) {
        ngx_str_set(err, "the calls zone is full (calls_zone_size)");
    }

    return rc;
}


void
ngx_calls_dir_leave(ngx_str_t *session_id)
{
    ngx_calls_dir_session_t  *s;

    if (ngx_calls_dir.sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&ngx_calls_dir.shpool->mutex);

    s = ngx_calls_dir_lookup(session_id);

    if (s) {
        ngx_calls_dir_remove(s);
    }

    ngx_shmtx_unlock(&ngx_calls_dir.shpool->mutex);
}


ngx_int_t
ngx_calls_dir_session(ngx_str_t *session_id, ngx_str_t *group,
    ngx_uint_t *home)
{
    ngx_int_t                 rc;
    ngx_calls_dir_session_t  *s;

    if (ngx_calls_dir.sh == NULL) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&ngx_calls_dir.shpool->mutex);

    s = ngx_calls_dir_lookup(session_id);

    if (s == NULL) {
        rc = NGX_DECLINED;

    } else if (group
               && (s->call->group_len != group->len
                   || ngx_strncmp(s->call->node.str.data, group->data,
                                  group->len) != 0))
    {
        rc = NGX_ABORT;

    } else {
        *home = s->call->home;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&ngx_calls_dir.shpool->mutex);

    return rc;
}


void
ngx_calls_dir_endpoint(ngx_str_t *session_id, ngx_calls_ref_t *ep)
{
    ngx_calls_dir_session_t  *s;

    if (ngx_calls_dir.sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&ngx_calls_dir.shpool->mutex);

    s = ngx_calls_dir_lookup(session_id);

    if (s) {
        s->endpoint = *ep;
    }

    ngx_shmtx_unlock(&ngx_calls_dir.shpool->mutex);
}


/*
 * RTCD's /calls/{callID}/sessions[/{sessionID}]: the configurations of a
 * call's sessions, or of one, with rtcd's reasons when there is none.
 */

ngx_int_t
ngx_calls_dir_configs(ngx_str_t *group, ngx_str_t *call_id,
    ngx_str_t *session_id, ngx_calls_session_info_pt handler, void *data,
    const char **err)
{
    ngx_int_t                  rc;
    ngx_uint_t                 n;
    ngx_queue_t               *q;
    ngx_rbtree_node_t         *node, *root, *sentinel;
    ngx_calls_dir_call_t      *c;
    ngx_calls_dir_session_t   *s;
    ngx_calls_session_info_t   info;

    *err = "group not found";

    if (ngx_calls_dir.sh == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&ngx_calls_dir.shpool->mutex);

    c = ngx_calls_dir_call(&ngx_calls_dir.sh->calls, group, call_id);

    if (c == NULL) {

        /* a group exists while it has a call */

        root = ngx_calls_dir.sh->calls.root;
        sentinel = ngx_calls_dir.sh->calls.sentinel;

        if (root == sentinel) {
            goto done;
        }

        for (node = ngx_rbtree_min(root, sentinel);
             node;
             node = ngx_rbtree_next(&ngx_calls_dir.sh->calls, node))
        {
            c = (ngx_calls_dir_call_t *) node;

            if (c->group_len == group->len
                && ngx_strncmp(c->node.str.data, group->data, group->len)
                   == 0)
            {
                *err = "call not found";
                break;
            }
        }

        goto done;
    }

    n = 0;

    for (q = ngx_queue_head(&c->sessions);
         q != ngx_queue_sentinel(&c->sessions);
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_calls_dir_session_t, queue);

        if (session_id
            && (s->node.str.len != session_id->len
                || ngx_strncmp(s->node.str.data, session_id->data,
                               session_id->len) != 0))
        {
            continue;
        }

        info.group_id.data = c->node.str.data;
        info.group_id.len = c->group_len;
        info.call_id.data = c->node.str.data + c->group_len + 1;
        info.call_id.len = c->node.str.len - c->group_len - 1;
        info.user_id = s->user_id;
        info.session_id = s->node.str;
        info.channel_id = s->channel_id;
        info.av1_support = s->av1_support;
        info.dc_signaling = s->dc_signaling;

        handler(data, &info);
        n++;
    }

    if (n == 0) {
        *err = session_id ? "session not found" : "no sessions found";
        goto done;
    }

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&ngx_calls_dir.shpool->mutex);

    return rc;
}


void
ngx_calls_random_id(u_char *p, size_t len, const char *alphabet)
{
    size_t  i, n;
    u_char  rnd[64];

    n = ngx_strlen(alphabet);

    if (len > sizeof(rnd) || RAND_bytes(rnd, (int) len) != 1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "calls: RAND_bytes() failed");
        ngx_memzero(rnd, sizeof(rnd));
        len = ngx_min(len, sizeof(rnd));
    }

    /* the alphabets have a power-of-two size: no modulo bias */

    for (i = 0; i < len; i++) {
        p[i] = alphabet[rnd[i] % n];
    }
}


/* under the mutex from here on */

static ngx_calls_dir_call_t *
ngx_calls_dir_call(ngx_rbtree_t *tree, ngx_str_t *group, ngx_str_t *id)
{
    u_char           buf[2 * NGX_CALLS_MAX_ID + 1];
    ngx_str_t        key;
    ngx_str_node_t  *sn;

    if (group->len + 1 + id->len > sizeof(buf)) {
        return NULL;
    }

    key.data = buf;
    key.len = ngx_sprintf(buf, "%V/%V", group, id) - buf;

    sn = ngx_str_rbtree_lookup(tree, &key, ngx_crc32_long(key.data, key.len));

    if (sn == NULL) {
        return NULL;
    }

    if (tree == &ngx_calls_dir.sh->channels) {
        return (ngx_calls_dir_call_t *)
                   ((u_char *) sn - offsetof(ngx_calls_dir_call_t, channel));
    }

    return (ngx_calls_dir_call_t *) sn;
}


static ngx_calls_dir_call_t *
ngx_calls_dir_call_create(ngx_str_t *group, ngx_str_t *id,
    ngx_str_t *channel)
{
    u_char                *p;
    ngx_calls_dir_call_t  *c;

    c = ngx_slab_calloc_locked(ngx_calls_dir.shpool,
                               sizeof(ngx_calls_dir_call_t)
                               + 2 * (group->len + 1) + id->len
                               + channel->len);
    if (c == NULL) {
        return NULL;
    }

    ngx_queue_init(&c->sessions);

    p = (u_char *) (c + 1);

    c->node.str.data = p;
    p = ngx_sprintf(p, "%V/%V", group, id);
    c->node.str.len = p - c->node.str.data;
    c->group_len = group->len;

    c->node.node.key = ngx_crc32_long(c->node.str.data, c->node.str.len);
    ngx_rbtree_insert(&ngx_calls_dir.sh->calls, &c->node.node);

    if (channel->len) {
        c->channel.str.data = p;
        p = ngx_sprintf(p, "%V/%V", group, channel);
        c->channel.str.len = p - c->channel.str.data;

        c->channel.node.key = ngx_crc32_long(c->channel.str.data,
                                             c->channel.str.len);
        ngx_rbtree_insert(&ngx_calls_dir.sh->channels, &c->channel.node);
    }

    c->home = ngx_calls_dir_pick_home();
    ngx_calls_dir.sh->slots[c->home].calls++;

    return c;
}


static ngx_calls_dir_session_t *
ngx_calls_dir_lookup(ngx_str_t *id)
{
    return (ngx_calls_dir_session_t *)
               ngx_str_rbtree_lookup(&ngx_calls_dir.sh->sessions, id,
                                     ngx_crc32_long(id->data, id->len));
}


static void
ngx_calls_dir_remove(ngx_calls_dir_session_t *s)
{
    ngx_calls_dir_call_t  *c;

    c = s->call;

    ngx_rbtree_delete(&ngx_calls_dir.sh->sessions, &s->node.node);
    ngx_queue_remove(&s->queue);
    ngx_slab_free_locked(ngx_calls_dir.shpool, s);

    ngx_calls_dir.sh->slots[c->home].sessions--;

    if (!ngx_queue_empty(&c->sessions)) {
        return;
    }

    ngx_calls_dir.sh->slots[c->home].calls--;

    ngx_rbtree_delete(&ngx_calls_dir.sh->calls, &c->node.node);

    if (c->channel.str.len) {
        ngx_rbtree_delete(&ngx_calls_dir.sh->channels, &c->channel.node);
    }

    ngx_slab_free_locked(ngx_calls_dir.shpool, c);
}


/*
 * The least loaded worker that runs (this one on a tie: the signaling
 * then stays in the process).
 */

static ngx_uint_t
ngx_calls_dir_pick_home(void)
{
    ngx_uint_t         i, best;
    ngx_atomic_uint_t  load, min;
    ngx_calls_slot_t  *slot;

    best = ngx_worker;
    min = ngx_calls_dir.sh->slots[best].sessions;

    for (i = 0; i < ngx_calls_dir.sh->nslots; i++) {
        slot = &ngx_calls_dir.sh->slots[i];
        load = slot->sessions;

        if (slot->pid && load < min) {
            min = load;
            best = i;
        }
    }

    return best;
}


static u_char *
ngx_calls_dir_strdup(u_char *dst, ngx_str_t *dstr, ngx_str_t *src)
{
    dstr->data = dst;
    dstr->len = src->len;

    return ngx_cpymem(dst, src->data, src->len);
}
