
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The calls this worker is home to: their sessions with their media
 * engine state, lookups by call, session id, ICE ufrag and network path,
 * the glue between the engine and nginx (timers, events, lifetimes).
 * Operations arrive as messages (ngx_calls_route.c), from this worker or
 * another; events go back to the endpoint of each session wherever it is.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_calls.h"
#include "ngx_calls_directory.h"
#include "ngx_calls_route.h"
#include "ngx_calls_stats.h"
#include "ngx_calls_stun.h"
#include "ngx_calls_rtp.h"


#define NGX_CALLS_UFRAG_LEN    16
#define NGX_CALLS_PWD_LEN      32
#define NGX_CALLS_MAX_PATHS_GLUE  32


typedef struct ngx_calls_call_entry_s     ngx_calls_call_entry_t;
typedef struct ngx_calls_session_entry_s  ngx_calls_session_entry_t;


struct ngx_calls_call_entry_s {
    ngx_str_node_t              node;          /* "<group>/<call id>" */
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
    ngx_calls_ref_t             endpoint;
    ngx_str_t                   user_id;
    ngx_array_t                 paths;         /* ngx_calls_addr_node_t * */
    ngx_event_t                 timer;
    ngx_event_t                 destroy;
    ngx_str_t                   reason;
    unsigned                    unmuted:1;
    unsigned                    screen:1;
    unsigned                    video:1;
    unsigned                    closed:1;
    ngx_pool_t                 *pool;
};


typedef struct {
    ngx_rbtree_node_t           node;          /* key: hash of the path */
    ngx_calls_path_t            path;
    ngx_calls_session_entry_t  *entry;
    ngx_uint_t                  via;           /* the worker it comes to */
} ngx_calls_addr_node_t;


/* RTCD: the connection of a group that took its sessions over last */
typedef struct {
    ngx_calls_ref_t             endpoint;
    size_t                      len;           /* the group */
    u_char                      group[NGX_CALLS_MAX_ID];
} ngx_calls_adopter_t;


typedef struct {
    ngx_rbtree_t                calls;
    ngx_rbtree_node_t           calls_sentinel;
    ngx_rbtree_t                sessions;
    ngx_rbtree_node_t           sessions_sentinel;
    ngx_rbtree_t                ufrags;
    ngx_rbtree_node_t           ufrags_sentinel;
    ngx_rbtree_t                paths;
    ngx_rbtree_node_t           paths_sentinel;

    ngx_calls_candidate_t      *cands;
    ngx_uint_t                  ncands;

    ngx_array_t                 adopters;      /* ngx_calls_adopter_t */
    ngx_uint_t                  nsessions;
    ngx_event_t                 sctp_timer;
    ngx_log_t                  *log;
    unsigned                    ready:1;
} ngx_calls_registry_t;


static ngx_calls_call_entry_t *ngx_calls_call_lookup(ngx_str_t *group,
    ngx_str_t *id);
static ngx_calls_call_entry_t *ngx_calls_call_entry_create(ngx_str_t *group,
    ngx_str_t *id);
static void ngx_calls_call_entry_destroy(ngx_calls_call_entry_t *c);
static ngx_calls_session_entry_t *ngx_calls_session_lookup(ngx_str_t *id);
static ngx_calls_session_entry_t *ngx_calls_session_by_msg(
    ngx_calls_msg_t *m, const char *what);
static void ngx_calls_session_entry_destroy(ngx_calls_session_entry_t *e);
static void ngx_calls_list_members(ngx_calls_session_entry_t *e);
static void ngx_calls_set_endpoint(ngx_calls_session_entry_t *e,
    ngx_calls_ref_t *ref);
static ngx_calls_adopter_t *ngx_calls_adopter(ngx_str_t *group);
static void ngx_calls_destroy_handler(ngx_event_t *ev);
static void ngx_calls_timer_handler(ngx_event_t *ev);
static void ngx_calls_sctp_timer_handler(ngx_event_t *ev);
static void ngx_calls_notify(ngx_calls_session_entry_t *e,
    ngx_calls_ref_t *ref, ngx_calls_event_e type, ngx_uint_t rtc_type,
    ngx_str_t *data, ngx_calls_session_entry_t *to);
static void ngx_calls_broadcast(ngx_calls_session_entry_t *e,
    ngx_calls_event_e type);
static uint32_t ngx_calls_path_hash(ngx_calls_path_t *path);
static void ngx_calls_addr_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_calls_addr_node_t *ngx_calls_addr_lookup(ngx_calls_path_t *path,
    uint32_t hash);
static ngx_int_t ngx_calls_add_path(ngx_calls_session_entry_t *e,
    ngx_calls_path_t *path, uint32_t hash, ngx_uint_t via);

static int ngx_calls_media_send(ngx_calls_path_t *path, const uint8_t *buf,
    size_t len);
static void ngx_calls_media_event(ngx_calls_session_t *s, void *data,
    const ngx_calls_media_event_t *ev);
static void ngx_calls_media_timer(ngx_calls_session_t *s, void *data,
    uint64_t when);
static void ngx_calls_media_log(unsigned level, const char *fmt,
    va_list args);


static ngx_calls_registry_t  ngx_calls_registry;

static const char  ngx_calls_ice_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


ngx_int_t
ngx_calls_registry_init(ngx_cycle_t *cycle)
{
    char                     err[256];
    ngx_calls_conf_t        *ccf;
    ngx_calls_slot_t        *slot;
    ngx_calls_registry_t    *reg;
    ngx_calls_media_conf_t   mcf;

    reg = &ngx_calls_registry;
    ngx_memzero(reg, sizeof(ngx_calls_registry_t));

    ngx_rbtree_init(&reg->calls, &reg->calls_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&reg->sessions, &reg->sessions_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&reg->ufrags, &reg->ufrags_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&reg->paths, &reg->paths_sentinel,
                    ngx_calls_addr_insert);

    if (ngx_array_init(&reg->adopters, cycle->pool, 2,
                       sizeof(ngx_calls_adopter_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    reg->log = cycle->log;

    reg->sctp_timer.handler = ngx_calls_sctp_timer_handler;
    reg->sctp_timer.log = cycle->log;
    reg->sctp_timer.data = reg;
    reg->sctp_timer.cancelable = 1;

    slot = ngx_calls_dir_slot(ngx_worker);

    if (slot == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "calls: no calls zone for the media engine");
        return NGX_ERROR;
    }

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_calls_module);

    ngx_memzero(&mcf, sizeof(ngx_calls_media_conf_t));
    mcf.handler.send = ngx_calls_media_send;
    mcf.handler.event = ngx_calls_media_event;
    mcf.handler.timer = ngx_calls_media_timer;
    mcf.handler.log = ngx_calls_media_log;
    mcf.dtls = ccf->dtls;
    mcf.counters = slot->counters;

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
    ngx_rbtree_node_t          *node;
    ngx_calls_registry_t       *reg;
    ngx_calls_session_entry_t  *e;

    reg = &ngx_calls_registry;

    if (!reg->ready) {
        return;
    }

    /*
     * The worker exits at once (or its graceful stop has ended the
     * sessions already): free what is left, telling nobody, the
     * connections go too.
     */

    while (reg->sessions.root != reg->sessions.sentinel) {
        node = ngx_rbtree_min(reg->sessions.root, reg->sessions.sentinel);
        e = (ngx_calls_session_entry_t *) node;

        e->endpoint.id = 0;

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


ngx_uint_t
ngx_calls_home_sessions(void)
{
    return ngx_calls_registry.nsessions;
}


/* a new session of a call of ours */

void
ngx_calls_home_join(ngx_calls_msg_t *m)
{
    u_char                      ufrag[NGX_CALLS_UFRAG_LEN + 1];
    u_char                      pwd[NGX_CALLS_PWD_LEN + 1];
    char                        merr[256];
    ngx_str_t                   key, group, call_id, session_id, user_id;
    ngx_str_t                   text;
    ngx_uint_t                  home;
    ngx_pool_t                 *spool;
    ngx_calls_event_t           ev;
    ngx_calls_call_entry_t     *c;
    ngx_calls_registry_t       *reg;
    ngx_calls_session_conf_t    scf;
    ngx_calls_session_entry_t  *e;

    reg = &ngx_calls_registry;

    ngx_calls_msg_get(&m->group_id, &group);
    ngx_calls_msg_get(&m->call_id, &call_id);
    ngx_calls_msg_get(&m->session_id, &session_id);
    ngx_calls_msg_get(&m->user_id, &user_id);

    /* the directory may have let it go: a leave came first, or we are
     * the new worker of a slot whose old one died */

    if (ngx_calls_dir_session(&session_id, &group, &home) != NGX_OK
        || home != (ngx_uint_t) ngx_worker
        || ngx_calls_session_lookup(&session_id) != NULL)
    {
        ngx_log_error(NGX_LOG_INFO, reg->log, 0,
                      "calls: session \"%V\" is gone before it started",
                      &session_id);
        return;
    }

    spool = NULL;

    c = ngx_calls_call_lookup(&group, &call_id);

    if (c == NULL) {
        c = ngx_calls_call_entry_create(&group, &call_id);
        if (c == NULL) {
            ngx_str_set(&text, "internal error");
            goto failed;
        }
    }

    spool = ngx_create_pool(1024, reg->log);
    if (spool == NULL) {
        ngx_str_set(&text, "internal error");
        goto failed;
    }

    e = ngx_pcalloc(spool, sizeof(ngx_calls_session_entry_t));
    if (e == NULL) {
        ngx_str_set(&text, "internal error");
        goto failed;
    }

    e->pool = spool;
    e->call = c;
    e->endpoint = m->endpoint;

    e->node.str.data = ngx_pstrdup(spool, &session_id);
    e->user_id.data = ngx_pnalloc(spool, user_id.len + 1);
    if (e->node.str.data == NULL || e->user_id.data == NULL) {
        ngx_str_set(&text, "internal error");
        goto failed;
    }

    e->node.str.len = session_id.len;
    e->user_id.len = user_id.len;

    if (user_id.len) {
        ngx_memcpy(e->user_id.data, user_id.data, user_id.len);
    }

    if (ngx_array_init(&e->paths, spool, 2, sizeof(ngx_calls_addr_node_t *))
        != NGX_OK)
    {
        ngx_str_set(&text, "internal error");
        goto failed;
    }

    /*
     * Our ICE ufrag names this worker, for whichever worker gets the
     * first STUN request of a path, and no other session of ours.
     */

    do {
        ngx_calls_random_id(ufrag, NGX_CALLS_UFRAG_LEN,
                            ngx_calls_ice_alphabet);
        ngx_calls_ufrag_worker(ufrag);
        key.data = ufrag;
        key.len = NGX_CALLS_UFRAG_LEN;
    } while (ngx_str_rbtree_lookup(&reg->ufrags, &key,
                                   ngx_crc32_long(ufrag, key.len))
             != NULL);

    ufrag[NGX_CALLS_UFRAG_LEN] = '\0';
    ngx_calls_random_id(pwd, NGX_CALLS_PWD_LEN, ngx_calls_ice_alphabet);
    pwd[NGX_CALLS_PWD_LEN] = '\0';

    e->ufrag.str.data = ngx_pstrdup(spool, &key);
    if (e->ufrag.str.data == NULL) {
        ngx_str_set(&text, "internal error");
        goto failed;
    }

    e->ufrag.str.len = key.len;

    ngx_memzero(&scf, sizeof(ngx_calls_session_conf_t));

    scf.session_id = (char *) ngx_pnalloc(spool, session_id.len + 1);
    scf.user_id = (char *) ngx_pnalloc(spool, user_id.len + 1);
    if (scf.session_id == NULL || scf.user_id == NULL) {
        ngx_str_set(&text, "internal error");
        goto failed;
    }

    ngx_cpystrn((u_char *) scf.session_id, session_id.data,
                session_id.len + 1);
    ngx_cpystrn((u_char *) scf.user_id, user_id.data, user_id.len + 1);

    scf.ufrag = (char *) ufrag;
    scf.pwd = (char *) pwd;
    scf.candidates = reg->cands;
    scf.ncandidates = reg->ncands;
    scf.av1_support = m->av1_support;
    scf.dc_signaling = m->dc_signaling;
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
                      &session_id, merr);

        if (e->timer.timer_set) {
            ngx_del_timer(&e->timer);
        }

        text.data = (u_char *) merr;
        text.len = ngx_strlen(merr);
        goto failed;
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
    ngx_calls_route_hold();
    ngx_calls_stats_sessions(&c->group, 1);

    ngx_calls_list_members(e);
    ngx_calls_broadcast(e, NGX_CALLS_EVENT_USER_JOINED);

    return;

failed:

    if (spool) {
        ngx_destroy_pool(spool);
    }

    if (c && ngx_queue_empty(&c->sessions)) {
        ngx_calls_call_entry_destroy(c);
    }

    ngx_calls_dir_leave(&session_id);

    /* the session's endpoint learns it from its events, as any other */

    ngx_memzero(&ev, sizeof(ngx_calls_event_t));
    ev.group_id = group;
    ev.call_id = call_id;
    ev.session_id = session_id;
    ev.user_id = user_id;
    ev.data = text;

    ev.type = NGX_CALLS_EVENT_ERROR;
    ngx_calls_route_event(&m->endpoint, &ev);

    ev.type = NGX_CALLS_EVENT_CLOSE;
    ngx_calls_route_event(&m->endpoint, &ev);
}


void
ngx_calls_home_signal(ngx_calls_msg_t *m, u_char *data, size_t len)
{
    ngx_calls_session_entry_t  *e;

    e = ngx_calls_session_by_msg(m, "message");
    if (e == NULL) {
        return;
    }

    if (m->type == NGX_CALLS_RTC_MUTE || m->type == NGX_CALLS_RTC_UNMUTE) {
        if (e->unmuted != (m->type == NGX_CALLS_RTC_UNMUTE)) {
            e->unmuted = (m->type == NGX_CALLS_RTC_UNMUTE);
            ngx_calls_broadcast(e, e->unmuted ? NGX_CALLS_EVENT_USER_UNMUTED
                                              : NGX_CALLS_EVENT_USER_MUTED);
        }
    }

    if (ngx_calls_session_signal(e->session, m->type, (const char *) data,
                                 len, ngx_current_msec)
        != 0)
    {
        return;                           /* an ERROR event says why */
    }

    switch (m->type) {

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
}


void
ngx_calls_home_leave(ngx_calls_msg_t *m, u_char *data, size_t len)
{
    u_char                      reason[128];
    ngx_calls_session_entry_t  *e;

    e = ngx_calls_session_by_msg(m, "leave");
    if (e == NULL) {
        return;
    }

    /* the engine takes a C string */
    len = ngx_min(len, sizeof(reason) - 1);
    ngx_memcpy(reason, data, len);
    reason[len] = '\0';

    ngx_calls_session_close(e->session, (char *) reason, ngx_current_msec);
}


void
ngx_calls_home_claim(ngx_calls_msg_t *m)
{
    ngx_calls_session_entry_t  *e;

    e = ngx_calls_session_by_msg(m, "reconnect");
    if (e == NULL) {
        return;
    }

    ngx_calls_set_endpoint(e, &m->endpoint);
}


/* the sessions of this worker: for (e = first(); e; e = next(e)) */

static ngx_calls_session_entry_t *
ngx_calls_session_first(void)
{
    ngx_rbtree_t  *tree;

    tree = &ngx_calls_registry.sessions;

    if (tree->root == tree->sentinel) {
        return NULL;
    }

    return (ngx_calls_session_entry_t *) ngx_rbtree_min(tree->root,
                                                        tree->sentinel);
}


static ngx_calls_session_entry_t *
ngx_calls_session_next(ngx_calls_session_entry_t *e)
{
    return (ngx_calls_session_entry_t *)
               ngx_rbtree_next(&ngx_calls_registry.sessions,
                               (ngx_rbtree_node_t *) e);
}


/*
 * RTCD: a plugin connection came back; the sessions of its client that
 * lost their connection are routed to the new one, and so are those whose
 * connection goes later, when we learn of it (the messages about the old
 * connection and the new one come from different workers, in any order).
 */

void
ngx_calls_home_adopt(ngx_calls_msg_t *m)
{
    ngx_str_t                   group;
    ngx_uint_t                  n;
    ngx_calls_adopter_t        *a;
    ngx_calls_session_entry_t  *e;

    ngx_calls_msg_get(&m->group_id, &group);

    a = ngx_calls_adopter(&group);

    if (a) {
        a->endpoint = m->endpoint;
    }

    n = 0;
    for (e = ngx_calls_session_first(); e; e = ngx_calls_session_next(e)) {
        if (e->endpoint.id == 0 && !e->closed
            && e->call->group.len == group.len
            && ngx_strncmp(e->call->group.data, group.data, group.len) == 0)
        {
            ngx_calls_set_endpoint(e, &m->endpoint);
            n++;
        }
    }

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_calls_registry.log, 0,
                      "calls: a new connection took %ui sessions of "
                      "client \"%V\" over", n, &group);
    }
}


void
ngx_calls_home_endpoint_closed(ngx_calls_msg_t *m)
{
    ngx_str_t                   group;
    ngx_uint_t                  i;
    ngx_calls_ref_t             none, *to;
    ngx_calls_adopter_t        *a;
    ngx_calls_session_entry_t  *e;

    ngx_calls_msg_get(&m->group_id, &group);

    ngx_memzero(&none, sizeof(ngx_calls_ref_t));
    to = &none;

    a = ngx_calls_registry.adopters.elts;

    for (i = 0; i < ngx_calls_registry.adopters.nelts; i++) {
        if (a[i].endpoint.slot == m->endpoint.slot
            && a[i].endpoint.id == m->endpoint.id)
        {
            a[i].endpoint = none;

        } else if (a[i].endpoint.id
                   && a[i].len == group.len
                   && ngx_strncmp(a[i].group, group.data, group.len) == 0)
        {
            to = &a[i].endpoint;
        }
    }

    for (e = ngx_calls_session_first(); e; e = ngx_calls_session_next(e)) {
        if (e->endpoint.slot == m->endpoint.slot
            && e->endpoint.id == m->endpoint.id)
        {
            ngx_calls_set_endpoint(e, to);
        }
    }
}


/*
 * A new worker in the slot of one that died: the sessions it was home to
 * are gone, their endpoints (in other workers) learn it.
 */

void
ngx_calls_home_orphan(ngx_calls_orphan_t *o)
{
    ngx_calls_event_t  ev;

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "calls: session \"%V\" of call \"%V\" ended with its "
                  "worker", &o->session_id, &o->call_id);

    ngx_calls_stats_sessions(&o->group_id, 0);

    if (o->endpoint.slot == (ngx_uint_t) ngx_worker) {
        return;                           /* it died with the worker too */
    }

    ngx_memzero(&ev, sizeof(ngx_calls_event_t));
    ev.type = NGX_CALLS_EVENT_CLOSE;
    ev.group_id = o->group_id;
    ev.call_id = o->call_id;
    ev.session_id = o->session_id;
    ev.user_id = o->user_id;
    ngx_str_set(&ev.data, "the media worker of the call exited "
                "unexpectedly");

    ngx_calls_route_event(&o->endpoint, &ev);
}


void
ngx_calls_home_shutdown(const char *reason)
{
    ngx_calls_session_entry_t  *e;

    for (e = ngx_calls_session_first(); e; e = ngx_calls_session_next(e)) {
        if (!e->closed) {
            ngx_calls_session_close(e->session, reason, ngx_current_msec);
        }
    }
}


/* media */

ngx_int_t
ngx_calls_home_input(ngx_calls_path_t *path, u_char *buf, size_t len,
    uint64_t arrival_us, ngx_uint_t via)
{
    uint32_t                    hash;
    ngx_calls_addr_node_t      *an;
    ngx_calls_session_entry_t  *e;

    if (ngx_calls_registry.paths.root == ngx_calls_registry.paths.sentinel) {
        return NGX_DECLINED;
    }

    hash = ngx_calls_path_hash(path);

    an = ngx_calls_addr_lookup(path, hash);

    if (an == NULL) {
        return NGX_DECLINED;
    }

    e = an->entry;

    if (e->closed) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
        ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PATH, 1);
        return NGX_OK;
    }

    (void) ngx_calls_session_input(e->session, path, buf, len, arrival_us,
                                   ngx_current_msec);

    return NGX_OK;
}


ngx_int_t
ngx_calls_home_stun(ngx_calls_path_t *path, ngx_str_t *ufrag, u_char *buf,
    size_t len, uint64_t arrival_us, ngx_uint_t via)
{
    ngx_str_node_t             *sn;
    ngx_calls_session_entry_t  *e;

    sn = ngx_str_rbtree_lookup(&ngx_calls_registry.ufrags, ufrag,
                               ngx_crc32_long(ufrag->data, ufrag->len));

    if (sn == NULL) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
        ngx_calls_count(NGX_CALLS_CNT_DROP_STUN_UNKNOWN_USER, 1);
        return NGX_DECLINED;
    }

    e = (ngx_calls_session_entry_t *)
            ((u_char *) sn - offsetof(ngx_calls_session_entry_t, ufrag));

    if (e->closed) {
        ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
        ngx_calls_count(NGX_CALLS_CNT_RX_BYTES, len);
        ngx_calls_count(NGX_CALLS_CNT_DROP_STUN_UNKNOWN_USER, 1);
        return NGX_OK;
    }

    if (ngx_calls_session_input(e->session, path, buf, len, arrival_us,
                                ngx_current_msec)
        == NGX_CALLS_IN_NEW_PATH
        && ngx_calls_add_path(e, path, ngx_calls_path_hash(path), via)
           != NGX_OK
        && path->tcp)
    {
        /* a connection we cannot find again must not stay in the engine */
        ngx_calls_session_path_gone(e->session, path->transport,
                                    ngx_current_msec);
    }

    return NGX_OK;
}


/* the paths whose datagrams come to worker via: it is new and asks */

void
ngx_calls_home_paths_via(ngx_uint_t via)
{
    ngx_rbtree_node_t      *node, *root, *sentinel;
    ngx_calls_addr_node_t  *an;

    root = ngx_calls_registry.paths.root;
    sentinel = ngx_calls_registry.paths.sentinel;

    if (root == NULL || root == sentinel || via == ngx_worker) {
        return;
    }

    for (node = ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&ngx_calls_registry.paths, node))
    {
        an = (ngx_calls_addr_node_t *) node;

        if (an->via == via && !an->entry->closed) {
            ngx_calls_deliver_path_via(&an->path, via);
        }
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

    /* the media path's datagrams first: they were sent before this */
    ngx_calls_listener_flush();

    switch (ev->type) {

    case NGX_CALLS_MEDIA_EV_SIGNAL:
        ngx_calls_notify(e, &e->endpoint, NGX_CALLS_EVENT_SIGNAL,
                         ev->rtc_type, &text, NULL);
        break;

    case NGX_CALLS_MEDIA_EV_ERROR:
        ngx_calls_notify(e, &e->endpoint, NGX_CALLS_EVENT_ERROR, 0, &text,
                         NULL);
        break;

    case NGX_CALLS_MEDIA_EV_CONNECTED:
        ngx_calls_notify(e, &e->endpoint, NGX_CALLS_EVENT_CONNECTED, 0,
                         &text, NULL);
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

        if (an[i]->via != (ngx_uint_t) ngx_worker) {
            ngx_calls_deliver_path_gone(&an[i]->path, an[i]->via);
        }
    }

    ngx_rbtree_delete(&ngx_calls_registry.sessions, &e->node.node);
    ngx_rbtree_delete(&ngx_calls_registry.ufrags, &e->ufrag.node);

    ngx_calls_session_destroy(e->session);
    e->session = NULL;

    ngx_queue_remove(&e->queue);

    ngx_calls_dir_leave(&e->node.str);

    ngx_log_error(NGX_LOG_INFO, ngx_calls_registry.log, 0,
                  "calls: session \"%V\" left call \"%V\": %V",
                  &e->node.str, &e->call->id, &e->reason);

    ngx_calls_registry.nsessions--;
    ngx_calls_stats_sessions(&e->call->group, -1);

    ngx_calls_notify(e, &e->endpoint, NGX_CALLS_EVENT_CLOSE, 0, &e->reason,
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
ngx_calls_notify(ngx_calls_session_entry_t *e, ngx_calls_ref_t *ref,
    ngx_calls_event_e type, ngx_uint_t rtc_type, ngx_str_t *data,
    ngx_calls_session_entry_t *to)
{
    ngx_calls_event_t  ev;

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

    ngx_calls_route_event(ref, &ev);
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
        ngx_calls_notify(e, &e->endpoint, type, 0, NULL, NULL);
    }

    for (q = ngx_queue_head(&e->call->sessions);
         q != ngx_queue_sentinel(&e->call->sessions);
         q = ngx_queue_next(q))
    {
        o = ngx_queue_data(q, ngx_calls_session_entry_t, queue);

        if (o == e || o->closed || o->endpoint.id == 0
            || !o->endpoint.members)
        {
            continue;
        }

        ngx_calls_notify(e, &o->endpoint, type, 0, NULL, o);
    }
}


/* a joiner learns who is in the call already, and in what state */

static void
ngx_calls_list_members(ngx_calls_session_entry_t *e)
{
    ngx_queue_t                *q;
    ngx_calls_session_entry_t  *o;

    if (e->endpoint.id == 0 || !e->endpoint.members) {
        return;
    }

    for (q = ngx_queue_head(&e->call->sessions);
         q != ngx_queue_sentinel(&e->call->sessions);
         q = ngx_queue_next(q))
    {
        o = ngx_queue_data(q, ngx_calls_session_entry_t, queue);

        if (o == e || o->closed) {
            continue;
        }

        ngx_calls_notify(o, &e->endpoint, NGX_CALLS_EVENT_USER_JOINED, 0,
                         NULL, e);

        if (o->screen) {
            ngx_calls_notify(o, &e->endpoint, NGX_CALLS_EVENT_USER_SCREEN_ON,
                             0, NULL, e);
        }

        if (o->video) {
            ngx_calls_notify(o, &e->endpoint, NGX_CALLS_EVENT_USER_VIDEO_ON,
                             0, NULL, e);
        }

        if (o->unmuted) {
            ngx_calls_notify(o, &e->endpoint, NGX_CALLS_EVENT_USER_UNMUTED,
                             0, NULL, e);
        }
    }
}


static void
ngx_calls_set_endpoint(ngx_calls_session_entry_t *e, ngx_calls_ref_t *ref)
{
    e->endpoint = *ref;

    /* for the next worker in our slot, should this one die */
    ngx_calls_dir_endpoint(&e->node.str, ref);
}


static ngx_calls_adopter_t *
ngx_calls_adopter(ngx_str_t *group)
{
    ngx_uint_t            i;
    ngx_calls_adopter_t  *a;

    a = ngx_calls_registry.adopters.elts;

    for (i = 0; i < ngx_calls_registry.adopters.nelts; i++) {
        if (a[i].len == group->len
            && ngx_strncmp(a[i].group, group->data, group->len) == 0)
        {
            return &a[i];
        }
    }

    /* few: one per Mattermost installation that uses this server */

    a = ngx_array_push(&ngx_calls_registry.adopters);
    if (a == NULL) {
        return NULL;
    }

    ngx_memzero(a, sizeof(ngx_calls_adopter_t));
    a->len = ngx_min(group->len, NGX_CALLS_MAX_ID);
    ngx_memcpy(a->group, group->data, a->len);

    return a;
}


/* lookups */

static ngx_calls_call_entry_t *
ngx_calls_call_lookup(ngx_str_t *group, ngx_str_t *id)
{
    u_char     buf[2 * NGX_CALLS_MAX_ID + 1];
    ngx_str_t  key;

    if (group->len + 1 + id->len > sizeof(buf)) {
        return NULL;
    }

    key.data = buf;
    key.len = ngx_sprintf(buf, "%V/%V", group, id) - buf;

    return (ngx_calls_call_entry_t *)
               ngx_str_rbtree_lookup(&ngx_calls_registry.calls, &key,
                                     ngx_crc32_long(key.data, key.len));
}


static ngx_calls_call_entry_t *
ngx_calls_call_entry_create(ngx_str_t *group, ngx_str_t *id)
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

    p = ngx_pnalloc(pool, group->len + 1 + id->len);
    if (p == NULL) {
        goto failed;
    }

    c->node.str.data = p;
    c->node.str.len = ngx_sprintf(p, "%V/%V", group, id) - p;

    c->group.data = c->node.str.data;
    c->group.len = group->len;
    c->id.data = c->node.str.data + group->len + 1;
    c->id.len = id->len;

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

    ngx_rbtree_delete(&ngx_calls_registry.calls, &c->node.node);

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


static ngx_calls_session_entry_t *
ngx_calls_session_by_msg(ngx_calls_msg_t *m, const char *what)
{
    ngx_str_t                   id;
    ngx_calls_session_entry_t  *e;

    ngx_calls_msg_get(&m->session_id, &id);

    e = ngx_calls_session_lookup(&id);

    if (e == NULL || e->closed) {
        ngx_log_error(NGX_LOG_INFO, ngx_calls_registry.log, 0,
                      "calls: %s for session \"%V\", which is gone",
                      what, &id);
        return NULL;
    }

    return e;
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
    uint32_t hash, ngx_uint_t via)
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
    an->via = via;
    an->node.key = hash;
    *slot = an;

    ngx_rbtree_insert(&ngx_calls_registry.paths, &an->node);

    return NGX_OK;
}
