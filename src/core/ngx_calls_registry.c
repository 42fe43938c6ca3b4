
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The calls and sessions of this worker: lookups by call, channel,
 * session id, ICE ufrag and network path, the glue between the media
 * engine and nginx (timers, events, lifetimes), and the entry point that
 * hands a datagram to its session.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <openssl/rand.h>

#include "ngx_calls.h"
#include "ngx_calls_stats.h"
#include "ngx_calls_stun.h"
#include "ngx_calls_rtp.h"


#define NGX_CALLS_UFRAG_LEN    16
#define NGX_CALLS_PWD_LEN      32
#define NGX_CALLS_NEW_ID_LEN   26
#define NGX_CALLS_MAX_SESSION  40        /* NGX_CALLS_MAX_SESSION_ID */
#define NGX_CALLS_MAX_PATHS_GLUE  32


typedef struct ngx_calls_call_entry_s     ngx_calls_call_entry_t;
typedef struct ngx_calls_session_entry_s  ngx_calls_session_entry_t;


struct ngx_calls_call_entry_s {
    ngx_str_node_t              node;          /* "<group>/<call id>" */
    ngx_str_node_t              channel;       /* "<group>/<channel id>" */
    ngx_str_t                   group;
    ngx_str_t                   id;
    ngx_calls_call_t           *call;
    ngx_queue_t                 sessions;
    ngx_pool_t                 *pool;
};


struct ngx_calls_session_entry_s {
    ngx_str_node_t              node;          /* session id */
    ngx_str_node_t              ufrag;
    ngx_queue_t                 queue;         /* in the call */
    ngx_calls_call_entry_t     *call;
    ngx_calls_session_t        *session;
    ngx_calls_endpoint_t       *endpoint;
    ngx_str_t                   user_id;
    ngx_str_t                   channel_id;
    ngx_array_t                 paths;         /* ngx_calls_addr_node_t * */
    ngx_event_t                 timer;
    ngx_event_t                 destroy;
    ngx_str_t                   reason;
    unsigned                    unmuted:1;
    unsigned                    screen:1;
    unsigned                    video:1;
    unsigned                    closed:1;
    unsigned                    av1_support:1;
    unsigned                    dc_signaling:1;
    ngx_pool_t                 *pool;
};


typedef struct {
    ngx_rbtree_node_t           node;          /* key: hash of the path */
    ngx_calls_path_t            path;
    ngx_calls_session_entry_t  *entry;
} ngx_calls_addr_node_t;


typedef struct {
    ngx_rbtree_t                calls;
    ngx_rbtree_node_t           calls_sentinel;
    ngx_rbtree_t                channels;
    ngx_rbtree_node_t           channels_sentinel;
    ngx_rbtree_t                sessions;
    ngx_rbtree_node_t           sessions_sentinel;
    ngx_rbtree_t                ufrags;
    ngx_rbtree_node_t           ufrags_sentinel;
    ngx_rbtree_t                paths;
    ngx_rbtree_node_t           paths_sentinel;

    ngx_calls_candidate_t      *cands;
    ngx_uint_t                  ncands;

    ngx_uint_t                  endpoint_id;
    ngx_uint_t                  ncalls;
    ngx_uint_t                  nsessions;
    ngx_event_t                 sctp_timer;
    ngx_log_t                  *log;
    unsigned                    ready:1;
} ngx_calls_registry_t;


static ngx_int_t ngx_calls_check_id(ngx_str_t *id, size_t max,
    const char *what, ngx_str_t *err);
static void ngx_calls_new_id(u_char *p, size_t len, const char *alphabet);
static ngx_calls_call_entry_t *ngx_calls_call_lookup(ngx_rbtree_t *tree,
    ngx_str_t *group, ngx_str_t *id);
static ngx_calls_call_entry_t *ngx_calls_call_entry_create(ngx_str_t *group,
    ngx_str_t *id, ngx_str_t *channel);
static void ngx_calls_call_entry_destroy(ngx_calls_call_entry_t *c);
static ngx_calls_session_entry_t *ngx_calls_session_lookup(ngx_str_t *id);
static void ngx_calls_session_entry_destroy(ngx_calls_session_entry_t *e);
static void ngx_calls_destroy_handler(ngx_event_t *ev);
static void ngx_calls_timer_handler(ngx_event_t *ev);
static void ngx_calls_sctp_timer_handler(ngx_event_t *ev);
static void ngx_calls_notify(ngx_calls_session_entry_t *e,
    ngx_calls_endpoint_t *ep, ngx_calls_event_e type, ngx_uint_t rtc_type,
    ngx_str_t *data, ngx_calls_session_entry_t *to);
static void ngx_calls_broadcast(ngx_calls_session_entry_t *e,
    ngx_calls_event_e type);
static uint32_t ngx_calls_path_hash(ngx_calls_path_t *path);
static void ngx_calls_addr_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_calls_addr_node_t *ngx_calls_addr_lookup(ngx_calls_path_t *path,
    uint32_t hash);
static ngx_int_t ngx_calls_add_path(ngx_calls_session_entry_t *e,
    ngx_calls_path_t *path, uint32_t hash);

static int ngx_calls_media_send(ngx_calls_path_t *path, const uint8_t *buf,
    size_t len);
static void ngx_calls_media_event(ngx_calls_session_t *s, void *data,
    const ngx_calls_media_event_t *ev);
static void ngx_calls_media_timer(ngx_calls_session_t *s, void *data,
    uint64_t when);
static void ngx_calls_media_log(unsigned level, const char *fmt,
    va_list args);


#define ngx_calls_str_nonnull(s)                                            \
    if ((s)->data == NULL) { (s)->data = (u_char *) ""; (s)->len = 0; }


static ngx_calls_registry_t  ngx_calls_registry;
static uint64_t              ngx_calls_counter_slots[NGX_CALLS_CNT_N];

static const char  ngx_calls_id_alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
static const char  ngx_calls_ice_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


ngx_int_t
ngx_calls_registry_init(ngx_cycle_t *cycle)
{
    char                     err[256];
    ngx_calls_conf_t        *ccf;
    ngx_calls_registry_t    *reg;
    ngx_calls_media_conf_t   mcf;

    reg = &ngx_calls_registry;
    ngx_memzero(reg, sizeof(ngx_calls_registry_t));

    ngx_rbtree_init(&reg->calls, &reg->calls_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&reg->channels, &reg->channels_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&reg->sessions, &reg->sessions_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&reg->ufrags, &reg->ufrags_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&reg->paths, &reg->paths_sentinel,
                    ngx_calls_addr_insert);

    reg->log = cycle->log;

    reg->sctp_timer.handler = ngx_calls_sctp_timer_handler;
    reg->sctp_timer.log = cycle->log;
    reg->sctp_timer.data = reg;
    reg->sctp_timer.cancelable = 1;

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_calls_module);

    ngx_memzero(&mcf, sizeof(ngx_calls_media_conf_t));
    mcf.handler.send = ngx_calls_media_send;
    mcf.handler.event = ngx_calls_media_event;
    mcf.handler.timer = ngx_calls_media_timer;
    mcf.handler.log = ngx_calls_media_log;
    mcf.dtls = ccf->dtls;
    mcf.counters = ngx_calls_counter_slots;

    if (ngx_calls_media_init(&mcf, err, sizeof(err)) != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "calls: media engine: %s", err);
        return NGX_ERROR;
    }

    reg->ready = 1;

    return NGX_OK;
}


void
ngx_calls_registry_done(ngx_cycle_t *cycle)
{
    ngx_queue_t                *q;
    ngx_rbtree_node_t          *node;
    ngx_calls_registry_t       *reg;
    ngx_calls_call_entry_t     *c;
    ngx_calls_session_entry_t  *e;

    reg = &ngx_calls_registry;

    if (!reg->ready) {
        return;
    }

    /* the worker exits: free every session (and so every call), telling
     * no connection: they are going away too */

    ngx_calls_endpoint_close(NULL);

    while (reg->calls.root != reg->calls.sentinel) {
        node = ngx_rbtree_min(reg->calls.root, reg->calls.sentinel);
        c = (ngx_calls_call_entry_t *) node;

        q = ngx_queue_head(&c->sessions);
        e = ngx_queue_data(q, ngx_calls_session_entry_t, queue);

        if (e->reason.len == 0) {
            ngx_str_set(&e->reason, "worker exiting");
        }

        ngx_calls_session_entry_destroy(e);
    }

    if (reg->sctp_timer.timer_set) {
        ngx_del_timer(&reg->sctp_timer);
    }

    ngx_calls_media_done();

    reg->ready = 0;
}


uint64_t *
ngx_calls_counters(void)
{
    return ngx_calls_counter_slots;
}


/* how loaded this worker is, for metrics */

void
ngx_calls_load(ngx_uint_t *calls, ngx_uint_t *sessions)
{
    *calls = ngx_calls_registry.ncalls;
    *sessions = ngx_calls_registry.nsessions;
}


ngx_int_t
ngx_calls_set_candidates(ngx_calls_candidate_t *cands, ngx_uint_t n)
{
    ngx_calls_registry_t  *reg;

    reg = &ngx_calls_registry;

    reg->cands = ngx_alloc(n * sizeof(ngx_calls_candidate_t) + 1, reg->log);
    if (reg->cands == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(reg->cands, cands, n * sizeof(ngx_calls_candidate_t));
    reg->ncands = n;

    return NGX_OK;
}


void
ngx_calls_sctp_timer_start(void)
{
    ngx_calls_registry_t  *reg;

    reg = &ngx_calls_registry;

    if (!reg->sctp_timer.timer_set) {
        (void) ngx_calls_media_tick(ngx_current_msec);
        ngx_add_timer(&reg->sctp_timer, 10);
    }
}


/* endpoints */

ngx_int_t
ngx_calls_endpoint_open(ngx_calls_endpoint_t *ep)
{
    ep->id = ++ngx_calls_registry.endpoint_id;

    return NGX_OK;
}


void
ngx_calls_endpoint_close(ngx_calls_endpoint_t *ep)
{
    ngx_rbtree_node_t          *node, *root, *sentinel;
    ngx_calls_session_entry_t  *e;

    root = ngx_calls_registry.sessions.root;
    sentinel = ngx_calls_registry.sessions.sentinel;

    if (root == sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&ngx_calls_registry.sessions, node))
    {
        e = (ngx_calls_session_entry_t *) node;

        /* NULL: every connection (the worker exits) */
        if (e->endpoint == ep || ep == NULL) {
            e->endpoint = NULL;
        }
    }
}


/* signaling */

ngx_int_t
ngx_calls_join(ngx_calls_endpoint_t *ep, ngx_calls_join_t *j,
    ngx_pool_t *pool, ngx_str_t *err)
{
    u_char                      ufrag[NGX_CALLS_UFRAG_LEN + 1];
    u_char                      pwd[NGX_CALLS_PWD_LEN + 1];
    u_char                     *p;
    char                        merr[256];
    ngx_str_t                   key;
    ngx_pool_t                 *spool;
    ngx_calls_call_entry_t     *c;
    ngx_calls_registry_t       *reg;
    ngx_calls_session_conf_t    scf;
    ngx_calls_session_entry_t  *e;

    reg = &ngx_calls_registry;

    if (!reg->ready) {
        ngx_str_set(err, "media is not configured (no calls_media server)");
        return NGX_DECLINED;
    }

    if (j->call_id.len == 0 && j->channel_id.len == 0) {
        ngx_str_set(err, "join needs a call id or a channel id");
        return NGX_DECLINED;
    }

    /* empty ids may come as { 0, NULL }: "%V" must not copy from NULL */
    ngx_calls_str_nonnull(&j->call_id);
    ngx_calls_str_nonnull(&j->channel_id);
    ngx_calls_str_nonnull(&j->session_id);
    ngx_calls_str_nonnull(&j->user_id);
    ngx_calls_str_nonnull(&ep->group);

    if (ngx_calls_check_id(&j->call_id, NGX_CALLS_MAX_ID, "call id", err)
        != NGX_OK
        || ngx_calls_check_id(&j->channel_id, NGX_CALLS_MAX_ID,
                              "channel id", err) != NGX_OK
        || ngx_calls_check_id(&j->session_id, NGX_CALLS_MAX_SESSION,
                              "session id", err) != NGX_OK
        || ngx_calls_check_id(&j->user_id, NGX_CALLS_MAX_ID, "user id", err)
           != NGX_OK
        || ngx_calls_check_id(&ep->group, NGX_CALLS_MAX_ID, "group", err)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (j->session_id.len == 0) {
        p = ngx_pnalloc(pool, NGX_CALLS_NEW_ID_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_calls_new_id(p, NGX_CALLS_NEW_ID_LEN, ngx_calls_id_alphabet);
        j->session_id.data = p;
        j->session_id.len = NGX_CALLS_NEW_ID_LEN;

    } else if (ngx_calls_session_lookup(&j->session_id) != NULL) {
        ngx_str_set(err, "user session already exists");
        return NGX_DECLINED;
    }

    /* the call: by id (RTCD), or the one on the channel (standalone) */

    if (j->call_id.len) {
        c = ngx_calls_call_lookup(&reg->calls, &ep->group, &j->call_id);

    } else {
        c = ngx_calls_call_lookup(&reg->channels, &ep->group,
                                  &j->channel_id);

        if (c == NULL) {
            p = ngx_pnalloc(pool, NGX_CALLS_NEW_ID_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_calls_new_id(p, NGX_CALLS_NEW_ID_LEN, ngx_calls_id_alphabet);
            j->call_id.data = p;
            j->call_id.len = NGX_CALLS_NEW_ID_LEN;
        }
    }

    if (c == NULL) {
        c = ngx_calls_call_entry_create(&ep->group, &j->call_id,
                                        &j->channel_id);
        if (c == NULL) {
            return NGX_ERROR;
        }
    }

    j->call_id = c->id;

    spool = ngx_create_pool(1024, reg->log);
    if (spool == NULL) {
        goto failed;
    }

    e = ngx_pcalloc(spool, sizeof(ngx_calls_session_entry_t));
    if (e == NULL) {
        goto failed;
    }

    e->pool = spool;
    e->call = c;
    e->endpoint = ep;

    e->node.str.data = ngx_pstrdup(spool, &j->session_id);
    e->user_id.data = ngx_pstrdup(spool, &j->user_id);
    e->channel_id.data = ngx_pnalloc(spool, j->channel_id.len + 1);
    if (e->node.str.data == NULL || e->user_id.data == NULL
        || e->channel_id.data == NULL)
    {
        goto failed;
    }

    e->node.str.len = j->session_id.len;
    e->user_id.len = j->user_id.len;
    e->channel_id.len = ngx_cpymem(e->channel_id.data, j->channel_id.data,
                                   j->channel_id.len)
                        - e->channel_id.data;
    e->av1_support = j->av1_support;
    e->dc_signaling = j->dc_signaling;

    if (ngx_array_init(&e->paths, spool, 2, sizeof(ngx_calls_addr_node_t *))
        != NGX_OK)
    {
        goto failed;
    }

    /*
     * Our ICE ufrag must not name another session of this worker: the
     * first STUN request of a path is routed by it.
     */

    do {
        ngx_calls_new_id(ufrag, NGX_CALLS_UFRAG_LEN, ngx_calls_ice_alphabet);
        key.data = ufrag;
        key.len = NGX_CALLS_UFRAG_LEN;
    } while (ngx_str_rbtree_lookup(&reg->ufrags, &key,
                                   ngx_crc32_long(ufrag, key.len))
             != NULL);

    ufrag[NGX_CALLS_UFRAG_LEN] = '\0';
    ngx_calls_new_id(pwd, NGX_CALLS_PWD_LEN, ngx_calls_ice_alphabet);
    pwd[NGX_CALLS_PWD_LEN] = '\0';

    e->ufrag.str.data = ngx_pstrdup(spool, &key);
    if (e->ufrag.str.data == NULL) {
        goto failed;
    }

    e->ufrag.str.len = key.len;

    ngx_memzero(&scf, sizeof(ngx_calls_session_conf_t));

    scf.session_id = (char *) ngx_pnalloc(spool, j->session_id.len + 1);
    scf.user_id = (char *) ngx_pnalloc(spool, j->user_id.len + 1);
    if (scf.session_id == NULL || scf.user_id == NULL) {
        goto failed;
    }

    ngx_cpystrn((u_char *) scf.session_id, j->session_id.data,
                j->session_id.len + 1);
    ngx_cpystrn((u_char *) scf.user_id, j->user_id.data, j->user_id.len + 1);

    scf.ufrag = (char *) ufrag;
    scf.pwd = (char *) pwd;
    scf.candidates = reg->cands;
    scf.ncandidates = reg->ncands;
    scf.av1_support = j->av1_support;
    scf.dc_signaling = j->dc_signaling;
    scf.data = e;

    e->timer.handler = ngx_calls_timer_handler;
    e->timer.data = e;
    e->timer.log = reg->log;
    e->timer.cancelable = 1;

    e->destroy.handler = ngx_calls_destroy_handler;
    e->destroy.data = e;
    e->destroy.log = reg->log;

    e->session = ngx_calls_session_create(c->call, &scf, ngx_current_msec,
                                          merr, sizeof(merr));
    if (e->session == NULL) {
        ngx_log_error(NGX_LOG_ERR, reg->log, 0,
                      "calls: session \"%V\" not created: %s",
                      &j->session_id, merr);

        err->len = ngx_strlen(merr);
        err->data = ngx_pnalloc(pool, err->len);
        if (err->data == NULL) {
            goto failed;
        }

        ngx_memcpy(err->data, merr, err->len);

        if (e->timer.timer_set) {
            ngx_del_timer(&e->timer);
        }

        ngx_destroy_pool(spool);

        if (ngx_queue_empty(&c->sessions)) {
            ngx_calls_call_entry_destroy(c);
        }

        return NGX_DECLINED;
    }

    e->node.node.key = ngx_crc32_long(e->node.str.data, e->node.str.len);
    ngx_rbtree_insert(&reg->sessions, &e->node.node);

    e->ufrag.node.key = ngx_crc32_long(e->ufrag.str.data, e->ufrag.str.len);
    ngx_rbtree_insert(&reg->ufrags, &e->ufrag.node);

    ngx_queue_insert_tail(&c->sessions, &e->queue);

    ngx_log_error(NGX_LOG_INFO, reg->log, 0,
                  "calls: session \"%V\" of user \"%V\" joined call \"%V\"",
                  &e->node.str, &e->user_id, &c->id);

    reg->nsessions++;
    ngx_calls_stats_sessions(&c->group, 1);

    ngx_calls_broadcast(e, NGX_CALLS_EVENT_USER_JOINED);

    return NGX_OK;

failed:

    if (spool) {
        ngx_destroy_pool(spool);
    }

    if (ngx_queue_empty(&c->sessions)) {
        ngx_calls_call_entry_destroy(c);
    }

    return NGX_ERROR;
}


ngx_int_t
ngx_calls_signal(ngx_calls_endpoint_t *ep, ngx_str_t *session_id,
    ngx_uint_t rtc_type, ngx_str_t *data, ngx_str_t *err)
{
    ngx_calls_session_entry_t  *e;

    e = ngx_calls_session_lookup(session_id);

    if (e == NULL || e->closed) {
        ngx_str_set(err, "session not found");
        return NGX_DECLINED;
    }

    if (rtc_type == NGX_CALLS_RTC_MUTE || rtc_type == NGX_CALLS_RTC_UNMUTE) {
        if (e->unmuted != (rtc_type == NGX_CALLS_RTC_UNMUTE)) {
            e->unmuted = (rtc_type == NGX_CALLS_RTC_UNMUTE);
            ngx_calls_broadcast(e, e->unmuted ? NGX_CALLS_EVENT_USER_UNMUTED
                                              : NGX_CALLS_EVENT_USER_MUTED);
        }
    }

    if (ngx_calls_session_signal(e->session, rtc_type,
                                 (const char *) data->data, data->len,
                                 ngx_current_msec)
        != 0)
    {
        return NGX_OK;                    /* an ERROR event says why */
    }

    switch (rtc_type) {

    case NGX_CALLS_RTC_SCREEN_ON:
        e->screen = 1;
        ngx_calls_broadcast(e, NGX_CALLS_EVENT_USER_SCREEN_ON);
        break;

    case NGX_CALLS_RTC_SCREEN_OFF:
        if (e->screen) {
            e->screen = 0;
            ngx_calls_broadcast(e, NGX_CALLS_EVENT_USER_SCREEN_OFF);
        }
        break;

    case NGX_CALLS_RTC_VIDEO_ON:
        e->video = 1;
        ngx_calls_broadcast(e, NGX_CALLS_EVENT_USER_VIDEO_ON);
        break;

    case NGX_CALLS_RTC_VIDEO_OFF:
        if (e->video) {
            e->video = 0;
            ngx_calls_broadcast(e, NGX_CALLS_EVENT_USER_VIDEO_OFF);
        }
        break;
    }

    return NGX_OK;
}


ngx_int_t
ngx_calls_leave(ngx_str_t *session_id, const char *reason)
{
    ngx_calls_session_entry_t  *e;

    e = ngx_calls_session_lookup(session_id);

    if (e == NULL || e->closed) {
        return NGX_DECLINED;
    }

    ngx_calls_session_close(e->session, reason, ngx_current_msec);

    return NGX_OK;
}


ngx_int_t
ngx_calls_claim(ngx_calls_endpoint_t *ep, ngx_str_t *session_id)
{
    ngx_calls_session_entry_t  *e;

    e = ngx_calls_session_lookup(session_id);

    if (e == NULL || e->closed) {
        return NGX_DECLINED;
    }

    e->endpoint = ep;

    return NGX_OK;
}


ngx_int_t
ngx_calls_members(ngx_str_t *group, ngx_str_t *call_id,
    ngx_calls_member_pt handler, void *data)
{
    ngx_queue_t                *q;
    ngx_calls_call_entry_t     *c;
    ngx_calls_session_entry_t  *e;

    c = ngx_calls_call_lookup(&ngx_calls_registry.calls, group, call_id);

    if (c == NULL) {
        return NGX_DECLINED;
    }

    for (q = ngx_queue_head(&c->sessions);
         q != ngx_queue_sentinel(&c->sessions);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_calls_session_entry_t, queue);

        if (!e->closed) {
            handler(data, &e->node.str, &e->user_id,
                    (e->unmuted ? NGX_CALLS_MEMBER_UNMUTED : 0)
                    | (e->screen ? NGX_CALLS_MEMBER_SCREEN : 0)
                    | (e->video ? NGX_CALLS_MEMBER_VIDEO : 0));
        }
    }

    return NGX_OK;
}


/*
 * RTCD: a plugin connection came back; the sessions of its client that
 * lost their connection are routed to the new one.
 */

ngx_uint_t
ngx_calls_endpoint_adopt(ngx_calls_endpoint_t *ep)
{
    ngx_uint_t                  n;
    ngx_rbtree_node_t          *node, *root, *sentinel;
    ngx_calls_session_entry_t  *e;

    n = 0;
    root = ngx_calls_registry.sessions.root;
    sentinel = ngx_calls_registry.sessions.sentinel;

    if (root == sentinel) {
        return 0;
    }

    for (node = ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&ngx_calls_registry.sessions, node))
    {
        e = (ngx_calls_session_entry_t *) node;

        if (e->endpoint == NULL && !e->closed
            && e->call->group.len == ep->group.len
            && ngx_strncmp(e->call->group.data, ep->group.data,
                           ep->group.len) == 0)
        {
            e->endpoint = ep;
            n++;
        }
    }

    return n;
}


ngx_int_t
ngx_calls_session_group(ngx_str_t *session_id, ngx_str_t *group)
{
    ngx_calls_session_entry_t  *e;

    e = ngx_calls_session_lookup(session_id);

    if (e == NULL || e->closed) {
        return NGX_DECLINED;
    }

    *group = e->call->group;

    return NGX_OK;
}


/*
 * RTCD's /calls/{callID}/sessions[/{sessionID}]: the configurations of a
 * call's sessions, or of one, with rtcd's reasons when there is none.
 */

ngx_int_t
ngx_calls_session_configs(ngx_str_t *group, ngx_str_t *call_id,
    ngx_str_t *session_id, ngx_calls_session_info_pt handler, void *data,
    const char **err)
{
    ngx_uint_t                  n;
    ngx_queue_t                *q;
    ngx_rbtree_node_t          *node, *root, *sentinel;
    ngx_calls_call_entry_t     *c;
    ngx_calls_session_info_t    info;
    ngx_calls_session_entry_t  *e;

    c = ngx_calls_call_lookup(&ngx_calls_registry.calls, group, call_id);

    if (c == NULL) {

        /* a group exists while it has a call */

        *err = "group not found";

        root = ngx_calls_registry.calls.root;
        sentinel = ngx_calls_registry.calls.sentinel;

        if (root == sentinel) {
            return NGX_DECLINED;
        }

        for (node = ngx_rbtree_min(root, sentinel);
             node;
             node = ngx_rbtree_next(&ngx_calls_registry.calls, node))
        {
            c = (ngx_calls_call_entry_t *) node;

            if (c->group.len == group->len
                && ngx_strncmp(c->group.data, group->data, group->len) == 0)
            {
                *err = "call not found";
                break;
            }
        }

        return NGX_DECLINED;
    }

    n = 0;

    for (q = ngx_queue_head(&c->sessions);
         q != ngx_queue_sentinel(&c->sessions);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_calls_session_entry_t, queue);

        if (e->closed) {
            continue;
        }

        if (session_id
            && (e->node.str.len != session_id->len
                || ngx_strncmp(e->node.str.data, session_id->data,
                               session_id->len) != 0))
        {
            continue;
        }

        info.group_id = c->group;
        info.call_id = c->id;
        info.user_id = e->user_id;
        info.session_id = e->node.str;
        info.channel_id = e->channel_id;
        info.av1_support = e->av1_support;
        info.dc_signaling = e->dc_signaling;

        handler(data, &info);
        n++;
    }

    if (n == 0) {
        *err = session_id ? "session not found" : "no sessions found";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* media */

void
ngx_calls_deliver(ngx_calls_path_t *path, u_char *buf, size_t len,
    uint64_t arrival_us)
{
    size_t                      ulen;
    uint32_t                    hash;
    ngx_str_t                   ufrag;
    ngx_calls_stun_rc_e         why;
    const uint8_t              *u;
    ngx_str_node_t             *sn;
    ngx_calls_addr_node_t      *an;
    ngx_calls_session_entry_t  *e;

    hash = ngx_calls_path_hash(path);

    an = ngx_calls_addr_lookup(path, hash);

    if (an) {
        e = an->entry;

        if (e->closed) {
            ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
            ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
            ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PATH, 1);
            return;
        }

        (void) ngx_calls_session_input(e->session, path, buf, len,
                                       arrival_us, ngx_current_msec);
        return;
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

    ufrag.data = (u_char *) u;
    ufrag.len = ulen;

    sn = ngx_str_rbtree_lookup(&ngx_calls_registry.ufrags, &ufrag,
                               ngx_crc32_long(ufrag.data, ufrag.len));

    if (sn == NULL) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
        ngx_calls_count(NGX_CALLS_CNT_DROP_STUN_UNKNOWN_USER, 1);
        return;
    }

    e = (ngx_calls_session_entry_t *)
            ((u_char *) sn - offsetof(ngx_calls_session_entry_t, ufrag));

    if (e->closed) {
        return;
    }

    if (ngx_calls_session_input(e->session, path, buf, len, arrival_us,
                                ngx_current_msec)
        == NGX_CALLS_IN_NEW_PATH
        && ngx_calls_add_path(e, path, hash) != NGX_OK
        && path->tcp)
    {
        /* a connection we cannot find again must not stay in the engine */
        ngx_calls_session_path_gone(e->session, path->transport,
                                    ngx_current_msec);
    }
}


ngx_int_t
ngx_calls_path_bound(ngx_calls_path_t *path)
{
    ngx_calls_addr_node_t  *an;

    an = ngx_calls_addr_lookup(path, ngx_calls_path_hash(path));

    return (an && !an->entry->closed) ? NGX_OK : NGX_DECLINED;
}


void
ngx_calls_path_gone(ngx_calls_path_t *path)
{
    ngx_uint_t                  i;
    ngx_calls_addr_node_t      *an, **slot;
    ngx_calls_session_entry_t  *e;

    an = ngx_calls_addr_lookup(path, ngx_calls_path_hash(path));

    if (an == NULL) {
        return;
    }

    e = an->entry;

    ngx_rbtree_delete(&ngx_calls_registry.paths, &an->node);

    slot = e->paths.elts;

    for (i = 0; i < e->paths.nelts; i++) {
        if (slot[i] == an) {
            slot[i] = slot[--e->paths.nelts];
            break;
        }
    }

    /* a closed session is still there until its destroy event runs */
    if (e->session) {
        ngx_calls_session_path_gone(e->session, path->transport,
                                    ngx_current_msec);
    }
}


/* engine callbacks */

static int
ngx_calls_media_send(ngx_calls_path_t *path, const uint8_t *buf, size_t len)
{
    ngx_calls_listener_t  *l;

    l = path->transport;

    return l->send(l, path, (u_char *) buf, len) == NGX_OK ? 0 : -1;
}


static void
ngx_calls_media_event(ngx_calls_session_t *s, void *data,
    const ngx_calls_media_event_t *ev)
{
    ngx_str_t                   text;
    ngx_calls_session_entry_t  *e;

    e = data;

    text.data = (u_char *) ev->text;
    text.len = ev->len;

    switch (ev->type) {

    case NGX_CALLS_MEDIA_EV_SIGNAL:
        ngx_calls_notify(e, e->endpoint, NGX_CALLS_EVENT_SIGNAL,
                         ev->rtc_type, &text, NULL);
        break;

    case NGX_CALLS_MEDIA_EV_ERROR:
        ngx_calls_notify(e, e->endpoint, NGX_CALLS_EVENT_ERROR, 0, &text,
                         NULL);
        break;

    case NGX_CALLS_MEDIA_EV_CONNECTED:
        ngx_calls_notify(e, e->endpoint, NGX_CALLS_EVENT_CONNECTED, 0, &text,
                         NULL);
        ngx_calls_sctp_timer_start();
        break;

    case NGX_CALLS_MEDIA_EV_DC_OPEN:
        break;

    case NGX_CALLS_MEDIA_EV_STAT:
        ngx_calls_stats_media(&e->call->group, ev->stat, ev->value, &text);
        break;

    case NGX_CALLS_MEDIA_EV_VOICE_ON:
    case NGX_CALLS_MEDIA_EV_VOICE_OFF:
        ngx_calls_broadcast(e, ev->type == NGX_CALLS_MEDIA_EV_VOICE_ON
                               ? NGX_CALLS_EVENT_VOICE_ON
                               : NGX_CALLS_EVENT_VOICE_OFF);
        break;

    case NGX_CALLS_MEDIA_EV_CLOSED:

        /*
         * The engine is still on the stack: the session goes away once the
         * current event handler returns.
         */

        e->closed = 1;

        e->reason.data = ngx_pnalloc(e->pool, ev->len + 1);
        if (e->reason.data) {
            ngx_memcpy(e->reason.data, ev->text, ev->len);
            e->reason.len = ev->len;

        } else {
            ngx_str_set(&e->reason, "closed");
        }

        if (e->timer.timer_set) {
            ngx_del_timer(&e->timer);
        }

        ngx_post_event(&e->destroy, &ngx_posted_events);
        break;
    }
}


static void
ngx_calls_media_timer(ngx_calls_session_t *s, void *data, uint64_t when)
{
    ngx_msec_t                  delay;
    ngx_calls_session_entry_t  *e;

    e = data;

    if (e->closed) {
        return;
    }

    delay = (when > ngx_current_msec) ? (ngx_msec_t) (when - ngx_current_msec)
                                      : 0;

    /* ngx_add_timer keeps a set timer within its lazy delay; an earlier
     * deadline must win */
    if (e->timer.timer_set && e->timer.timer.key > ngx_current_msec + delay) {
        ngx_del_timer(&e->timer);
    }

    ngx_add_timer(&e->timer, delay);
}


static void
ngx_calls_media_log(unsigned level, const char *fmt, va_list args)
{
    u_char     buf[NGX_MAX_ERROR_STR];
    int        n;
    ngx_log_t  *log;

    log = ngx_calls_registry.log ? ngx_calls_registry.log : ngx_cycle->log;

    if (log->log_level < level) {
        return;
    }

    n = vsnprintf((char *) buf, sizeof(buf), fmt, args);
    if (n < 0) {
        return;
    }

    if ((size_t) n >= sizeof(buf)) {
        n = sizeof(buf) - 1;
    }

    /* usrsctp's lines end in a newline of their own */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    ngx_log_error(level, log, 0, "%*s", (size_t) n, buf);
}


/* timers and teardown */

static void
ngx_calls_timer_handler(ngx_event_t *ev)
{
    ngx_calls_session_entry_t  *e;

    e = ev->data;

    if (!e->closed) {
        ngx_calls_session_timer(e->session, ngx_current_msec);
    }
}


static void
ngx_calls_destroy_handler(ngx_event_t *ev)
{
    ngx_calls_session_entry_destroy(ev->data);
}


static void
ngx_calls_sctp_timer_handler(ngx_event_t *ev)
{
    unsigned  next;

    next = ngx_calls_media_tick(ngx_current_msec);

    if (next) {
        ngx_add_timer(ev, next);
    }
}


static void
ngx_calls_session_entry_destroy(ngx_calls_session_entry_t *e)
{
    ngx_uint_t               i;
    ngx_calls_call_entry_t  *c;
    ngx_calls_addr_node_t  **an;

    if (e->timer.timer_set) {
        ngx_del_timer(&e->timer);
    }

    if (e->destroy.posted) {
        ngx_delete_posted_event(&e->destroy);
    }

    e->closed = 1;

    an = e->paths.elts;
    for (i = 0; i < e->paths.nelts; i++) {
        ngx_rbtree_delete(&ngx_calls_registry.paths, &an[i]->node);
    }

    ngx_rbtree_delete(&ngx_calls_registry.sessions, &e->node.node);
    ngx_rbtree_delete(&ngx_calls_registry.ufrags, &e->ufrag.node);

    ngx_calls_session_destroy(e->session);
    e->session = NULL;

    ngx_queue_remove(&e->queue);

    ngx_log_error(NGX_LOG_INFO, ngx_calls_registry.log, 0,
                  "calls: session \"%V\" left call \"%V\": %V",
                  &e->node.str, &e->call->id, &e->reason);

    ngx_calls_registry.nsessions--;
    ngx_calls_stats_sessions(&e->call->group, -1);

    ngx_calls_notify(e, e->endpoint, NGX_CALLS_EVENT_CLOSE, 0, &e->reason,
                     NULL);

    /* as the plugin does when the sharer leaves */
    if (e->screen) {
        ngx_calls_broadcast(e, NGX_CALLS_EVENT_USER_SCREEN_OFF);
    }

    ngx_calls_broadcast(e, NGX_CALLS_EVENT_USER_LEFT);

    c = e->call;

    ngx_destroy_pool(e->pool);

    if (ngx_queue_empty(&c->sessions)) {
        ngx_calls_call_entry_destroy(c);
    }
}


/* events to endpoints */

static void
ngx_calls_notify(ngx_calls_session_entry_t *e, ngx_calls_endpoint_t *ep,
    ngx_calls_event_e type, ngx_uint_t rtc_type, ngx_str_t *data,
    ngx_calls_session_entry_t *to)
{
    ngx_calls_event_t  ev;

    if (ep == NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_CORE, ngx_calls_registry.log, 0,
                       "calls: session \"%V\": event %d dropped, no "
                       "signaling connection", &e->node.str, type);
        return;
    }

    ngx_memzero(&ev, sizeof(ngx_calls_event_t));

    ev.type = type;
    ev.rtc_type = rtc_type;
    ev.group_id = e->call->group;
    ev.call_id = e->call->id;
    ev.session_id = e->node.str;
    ev.user_id = e->user_id;

    if (to) {
        ev.to_session_id = to->node.str;
    }

    if (data) {
        ev.data = *data;
    }

    ep->handler(ep, &ev);
}


/*
 * Membership (and voice activity) to the other sessions' connections that
 * want it; voice activity also to the session's own connection (rtcd's
 * "vad" to the plugin).
 */

static void
ngx_calls_broadcast(ngx_calls_session_entry_t *e, ngx_calls_event_e type)
{
    ngx_queue_t                *q;
    ngx_calls_session_entry_t  *o;

    if (type == NGX_CALLS_EVENT_VOICE_ON || type == NGX_CALLS_EVENT_VOICE_OFF)
    {
        ngx_calls_notify(e, e->endpoint, type, 0, NULL, NULL);
    }

    for (q = ngx_queue_head(&e->call->sessions);
         q != ngx_queue_sentinel(&e->call->sessions);
         q = ngx_queue_next(q))
    {
        o = ngx_queue_data(q, ngx_calls_session_entry_t, queue);

        if (o == e || o->closed || o->endpoint == NULL
            || !o->endpoint->members)
        {
            continue;
        }

        ngx_calls_notify(e, o->endpoint, type, 0, NULL, o);
    }
}


/* lookups */

static ngx_calls_call_entry_t *
ngx_calls_call_lookup(ngx_rbtree_t *tree, ngx_str_t *group, ngx_str_t *id)
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

    if (tree == &ngx_calls_registry.channels) {
        return (ngx_calls_call_entry_t *)
                   ((u_char *) sn - offsetof(ngx_calls_call_entry_t, channel));
    }

    return (ngx_calls_call_entry_t *) sn;
}


static ngx_calls_call_entry_t *
ngx_calls_call_entry_create(ngx_str_t *group, ngx_str_t *id,
    ngx_str_t *channel)
{
    u_char                  *p;
    ngx_pool_t              *pool;
    ngx_calls_registry_t    *reg;
    ngx_calls_call_entry_t  *c;

    reg = &ngx_calls_registry;

    pool = ngx_create_pool(1024, reg->log);
    if (pool == NULL) {
        return NULL;
    }

    c = ngx_pcalloc(pool, sizeof(ngx_calls_call_entry_t));
    if (c == NULL) {
        goto failed;
    }

    c->pool = pool;
    ngx_queue_init(&c->sessions);

    p = ngx_pnalloc(pool, 2 * (group->len + 1) + id->len + channel->len);
    if (p == NULL) {
        goto failed;
    }

    c->node.str.data = p;
    p = ngx_sprintf(p, "%V/%V", group, id);
    c->node.str.len = p - c->node.str.data;

    c->group.data = c->node.str.data;
    c->group.len = group->len;
    c->id.data = c->node.str.data + group->len + 1;
    c->id.len = id->len;

    c->channel.str.data = p;
    p = ngx_sprintf(p, "%V/%V", group, channel);
    c->channel.str.len = p - c->channel.str.data;

    /* the engine takes the id as a C string */
    p = ngx_pnalloc(pool, id->len + 1);
    if (p == NULL) {
        goto failed;
    }

    ngx_cpystrn(p, id->data, id->len + 1);

    c->call = ngx_calls_call_create((char *) p, c);
    if (c->call == NULL) {
        goto failed;
    }

    c->node.node.key = ngx_crc32_long(c->node.str.data, c->node.str.len);
    ngx_rbtree_insert(&reg->calls, &c->node.node);

    if (channel->len) {
        c->channel.node.key = ngx_crc32_long(c->channel.str.data,
                                             c->channel.str.len);
        ngx_rbtree_insert(&reg->channels, &c->channel.node);

    } else {
        c->channel.str.len = 0;
    }

    reg->ncalls++;

    ngx_log_error(NGX_LOG_INFO, reg->log, 0, "calls: call \"%V\" started",
                  &c->id);

    return c;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}


static void
ngx_calls_call_entry_destroy(ngx_calls_call_entry_t *c)
{
    ngx_log_error(NGX_LOG_INFO, ngx_calls_registry.log, 0,
                  "calls: call \"%V\" ended", &c->id);

    ngx_calls_registry.ncalls--;

    ngx_rbtree_delete(&ngx_calls_registry.calls, &c->node.node);

    if (c->channel.str.len) {
        ngx_rbtree_delete(&ngx_calls_registry.channels, &c->channel.node);
    }

    ngx_calls_call_destroy(c->call);
    ngx_destroy_pool(c->pool);
}


static ngx_calls_session_entry_t *
ngx_calls_session_lookup(ngx_str_t *id)
{
    return (ngx_calls_session_entry_t *)
               ngx_str_rbtree_lookup(&ngx_calls_registry.sessions, id,
                                     ngx_crc32_long(id->data, id->len));
}


/* ids: printable ASCII without spaces or slashes */

static ngx_int_t
ngx_calls_check_id(ngx_str_t *id, size_t max, const char *what,
    ngx_str_t *err)
{
    size_t         i;
    static u_char  buf[128];

    /* the message is read by the caller before anything else runs */

    if (id->len > max) {
        err->data = buf;
        err->len = ngx_snprintf(buf, sizeof(buf), "%s longer than %uz "
                                "characters", what, max) - buf;
        return NGX_DECLINED;
    }

    for (i = 0; i < id->len; i++) {
        if (id->data[i] <= 0x20 || id->data[i] >= 0x7f || id->data[i] == '/')
        {
            err->data = buf;
            err->len = ngx_snprintf(buf, sizeof(buf), "%s has a space, a "
                                    "'/' or a character outside printable "
                                    "ASCII", what) - buf;
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static void
ngx_calls_new_id(u_char *p, size_t len, const char *alphabet)
{
    size_t  i, n;
    u_char  rnd[64];

    n = ngx_strlen(alphabet);

    if (RAND_bytes(rnd, (int) len) != 1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_calls_registry.log, 0,
                      "calls: RAND_bytes() failed");
    }

    /* both alphabets have a power-of-two size: no modulo bias */

    for (i = 0; i < len; i++) {
        p[i] = alphabet[rnd[i] % n];
    }
}


/* network paths */

static uint32_t
ngx_calls_path_hash(ngx_calls_path_t *path)
{
    uint32_t  crc;

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) &path->peer, path->peer_len);
    ngx_crc32_update(&crc, (u_char *) &path->transport, sizeof(void *));
    ngx_crc32_final(crc);

    return crc;
}


static ngx_int_t
ngx_calls_path_cmp(ngx_calls_path_t *a, ngx_calls_path_t *b)
{
    if (a->transport != b->transport) {
        return a->transport < b->transport ? -1 : 1;
    }

    if (a->peer_len != b->peer_len) {
        return a->peer_len < b->peer_len ? -1 : 1;
    }

    return ngx_memcmp(&a->peer, &b->peer, a->peer_len);
}


static void
ngx_calls_addr_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t      **p;
    ngx_calls_addr_node_t   *an, *at;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            an = (ngx_calls_addr_node_t *) node;
            at = (ngx_calls_addr_node_t *) temp;

            p = (ngx_calls_path_cmp(&an->path, &at->path) < 0)
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


static ngx_calls_addr_node_t *
ngx_calls_addr_lookup(ngx_calls_path_t *path, uint32_t hash)
{
    ngx_int_t               rc;
    ngx_rbtree_node_t      *node, *sentinel;
    ngx_calls_addr_node_t  *an;

    node = ngx_calls_registry.paths.root;
    sentinel = ngx_calls_registry.paths.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        an = (ngx_calls_addr_node_t *) node;
        rc = ngx_calls_path_cmp(path, &an->path);

        if (rc == 0) {
            return an;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static ngx_int_t
ngx_calls_add_path(ngx_calls_session_entry_t *e, ngx_calls_path_t *path,
    uint32_t hash)
{
    ngx_calls_addr_node_t   *an, **slot;

    /* the engine keeps a few paths per session; so do we, a few more */
    if (e->paths.nelts >= NGX_CALLS_MAX_PATHS_GLUE) {
        return NGX_DECLINED;
    }

    an = ngx_pcalloc(e->pool, sizeof(ngx_calls_addr_node_t));
    if (an == NULL) {
        return NGX_ERROR;
    }

    slot = ngx_array_push(&e->paths);
    if (slot == NULL) {
        return NGX_ERROR;
    }

    an->path = *path;
    an->entry = e;
    an->node.key = hash;
    *slot = an;

    ngx_rbtree_insert(&ngx_calls_registry.paths, &an->node);

    return NGX_OK;
}
