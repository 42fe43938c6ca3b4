
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * What signaling code calls (ngx_calls.h), whatever worker it runs in:
 * the call directory says where a call lives, a message over the worker
 * bus takes the operation there, and the home worker's events come back
 * to the endpoint that holds the session, here or in another worker.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_calls.h"
#include "ngx_calls_bus.h"
#include "ngx_calls_directory.h"
#include "ngx_calls_route.h"
#include "ngx_calls_stats.h"


/* how often a worker looks after itself: exiting, stale paths */
#define NGX_CALLS_HOUSEKEEPING     1000


typedef struct {
    ngx_rbtree_t              endpoints;     /* of this worker, by id */
    ngx_rbtree_node_t         sentinel;
    ngx_uint_t                endpoint_id;
    ngx_event_t               housekeeping;
    ngx_log_t                *log;
    unsigned                  ready:1;
    unsigned                  exiting:1;
} ngx_calls_route_t;


static ngx_int_t ngx_calls_route_check(ngx_str_t *id, size_t max,
    const char *what, ngx_str_t *err);
static ngx_int_t ngx_calls_route_to(ngx_str_t *session_id, ngx_uint_t *home,
    ngx_str_t *err);
static void ngx_calls_route_bus(ngx_uint_t from, ngx_uint_t type,
    u_char *data, size_t len);
static void ngx_calls_route_deliver_event(ngx_calls_msg_t *m, u_char *data,
    size_t len);
static ngx_calls_endpoint_t *ngx_calls_route_endpoint(ngx_uint_t id);
static void ngx_calls_route_housekeeping(ngx_event_t *ev);


#define NGX_CALLS_MAX_SESSION      40    /* rtcd's session ids, ours 26 */
#define NGX_CALLS_NEW_ID_LEN       26


static ngx_calls_route_t  ngx_calls_route;

static const char  ngx_calls_id_alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";


ngx_int_t
ngx_calls_route_init_process(ngx_cycle_t *cycle)
{
    ngx_calls_route_t  *rt;

    rt = &ngx_calls_route;

    ngx_rbtree_init(&rt->endpoints, &rt->sentinel, ngx_rbtree_insert_value);

    rt->log = cycle->log;

    rt->housekeeping.handler = ngx_calls_route_housekeeping;
    /* the event core logs data as a connection: give it a large object */
    rt->housekeeping.data = cycle;
    rt->housekeeping.log = cycle->log;
    rt->housekeeping.cancelable = 1;

    ngx_add_timer(&rt->housekeeping, NGX_CALLS_HOUSEKEEPING);

    if (ngx_calls_bus_init_process(cycle, ngx_calls_route_bus) != NGX_OK) {
        return NGX_ERROR;
    }

    rt->ready = 1;

    return NGX_OK;
}


void
ngx_calls_route_exit_process(ngx_cycle_t *cycle)
{
    if (!ngx_calls_route.ready) {
        return;
    }

    if (ngx_calls_route.housekeeping.timer_set) {
        ngx_del_timer(&ngx_calls_route.housekeeping);
    }

    ngx_calls_bus_exit_process(cycle);
    ngx_calls_deliver_exit_process();

    ngx_calls_route.ready = 0;
}


void
ngx_calls_route_hold(void)
{
    if (!ngx_calls_route.exiting) {
        ngx_calls_route.housekeeping.cancelable = 0;
    }
}


/* endpoints */

ngx_int_t
ngx_calls_endpoint_open(ngx_calls_endpoint_t *ep)
{
    ep->id = ++ngx_calls_route.endpoint_id;

    ep->node.key = ep->id;
    ngx_rbtree_insert(&ngx_calls_route.endpoints, &ep->node);

    return NGX_OK;
}


void
ngx_calls_endpoint_close(ngx_calls_endpoint_t *ep)
{
    ngx_calls_msg_t  m;

    if (ep->id == 0) {
        return;
    }

    ngx_rbtree_delete(&ngx_calls_route.endpoints, &ep->node);

    /* its sessions, wherever they live, report to nobody now */

    ngx_memzero(&m, sizeof(ngx_calls_msg_t));
    m.endpoint.slot = ngx_worker;
    m.endpoint.id = ep->id;
    ngx_calls_msg_set(&m.group_id, &ep->group);

    (void) ngx_calls_msg_send(NGX_CALLS_ALL, NGX_CALLS_MSG_ENDPOINT_CLOSED,
                              &m, NULL, 0);

    ep->id = 0;
}


void
ngx_calls_endpoint_adopt(ngx_calls_endpoint_t *ep)
{
    ngx_calls_msg_t  m;

    ngx_memzero(&m, sizeof(ngx_calls_msg_t));
    m.endpoint.slot = ngx_worker;
    m.endpoint.id = ep->id;
    m.endpoint.members = ep->members;
    ngx_calls_msg_set(&m.group_id, &ep->group);

    (void) ngx_calls_msg_send(NGX_CALLS_ALL, NGX_CALLS_MSG_ADOPT, &m,
                              NULL, 0);
}


/* signaling */

ngx_int_t
ngx_calls_join(ngx_calls_endpoint_t *ep, ngx_calls_join_t *j,
    ngx_pool_t *pool, ngx_str_t *err)
{
    u_char           *p;
    ngx_int_t         rc;
    ngx_uint_t        home;
    ngx_calls_ref_t   ref;
    ngx_calls_msg_t   m;

    if (!ngx_calls_route.ready || ngx_calls_dir_nslots() == 0) {
        ngx_str_set(err, "media is not configured (no calls_media server)");
        return NGX_DECLINED;
    }

    if (ngx_calls_route.exiting) {
        ngx_str_set(err, "the server is shutting down");
        return NGX_DECLINED;
    }

    if (j->call_id.len == 0 && j->channel_id.len == 0) {
        ngx_str_set(err, "join needs a call id or a channel id");
        return NGX_DECLINED;
    }

    if (j->call_id.data == NULL) {
        ngx_str_set(&j->call_id, "");
    }

    if (j->channel_id.data == NULL) {
        ngx_str_set(&j->channel_id, "");
    }

    if (j->session_id.data == NULL) {
        ngx_str_set(&j->session_id, "");
    }

    if (j->user_id.data == NULL) {
        ngx_str_set(&j->user_id, "");
    }

    if (ep->group.data == NULL) {
        ngx_str_set(&ep->group, "");
    }

    if (ngx_calls_route_check(&j->call_id, NGX_CALLS_MAX_ID, "call id", err)
        != NGX_OK
        || ngx_calls_route_check(&j->channel_id, NGX_CALLS_MAX_ID,
                                 "channel id", err) != NGX_OK
        || ngx_calls_route_check(&j->session_id, NGX_CALLS_MAX_SESSION,
                                 "session id", err) != NGX_OK
        || ngx_calls_route_check(&j->user_id, NGX_CALLS_MAX_ID, "user id",
                                 err) != NGX_OK
        || ngx_calls_route_check(&ep->group, NGX_CALLS_MAX_ID, "group", err)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (j->session_id.len == 0) {
        p = ngx_pnalloc(pool, NGX_CALLS_NEW_ID_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_calls_random_id(p, NGX_CALLS_NEW_ID_LEN, ngx_calls_id_alphabet);
        j->session_id.data = p;
        j->session_id.len = NGX_CALLS_NEW_ID_LEN;
    }

    ref.slot = ngx_worker;
    ref.id = ep->id;
    ref.members = ep->members;

    rc = ngx_calls_dir_join(&ep->group, j, &ref, pool, &home, err);

    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_calls_route.log, 0,
                          "calls: session \"%V\" not created: %V",
                          &j->session_id, err);
            return NGX_DECLINED;
        }

        return rc;
    }

    ngx_memzero(&m, sizeof(ngx_calls_msg_t));
    m.endpoint = ref;
    m.av1_support = j->av1_support;
    m.dc_signaling = j->dc_signaling;
    ngx_calls_msg_set(&m.group_id, &ep->group);
    ngx_calls_msg_set(&m.call_id, &j->call_id);
    ngx_calls_msg_set(&m.channel_id, &j->channel_id);
    ngx_calls_msg_set(&m.session_id, &j->session_id);
    ngx_calls_msg_set(&m.user_id, &j->user_id);

    rc = ngx_calls_msg_send(home, NGX_CALLS_MSG_JOIN, &m, NULL, 0);

    if (rc != NGX_OK) {
        ngx_calls_dir_leave(&j->session_id);

        ngx_log_error(NGX_LOG_ERR, ngx_calls_route.log, 0,
                      "calls: session \"%V\" not created: worker %ui %s",
                      &j->session_id, home,
                      rc == NGX_BUSY ? "is too busy" : "is unreachable");

        ngx_str_set(err, "the server is too busy");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_calls_signal(ngx_calls_endpoint_t *ep, ngx_str_t *session_id,
    ngx_uint_t rtc_type, ngx_str_t *data, ngx_str_t *err)
{
    ngx_uint_t       home;
    ngx_calls_msg_t  m;

    if (ngx_calls_route_to(session_id, &home, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_memzero(&m, sizeof(ngx_calls_msg_t));
    m.endpoint.slot = ngx_worker;
    m.endpoint.id = ep->id;
    m.type = rtc_type;
    ngx_calls_msg_set(&m.session_id, session_id);

    if (ngx_calls_msg_send(home, NGX_CALLS_MSG_SIGNAL, &m, data->data,
                           data->len)
        != NGX_OK)
    {
        ngx_str_set(err, "the server is too busy");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_calls_leave(ngx_str_t *session_id, const char *reason)
{
    ngx_str_t        err;
    ngx_uint_t       home;
    ngx_calls_msg_t  m;

    if (ngx_calls_route_to(session_id, &home, &err) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_memzero(&m, sizeof(ngx_calls_msg_t));
    ngx_calls_msg_set(&m.session_id, session_id);

    if (ngx_calls_msg_send(home, NGX_CALLS_MSG_LEAVE, &m, (u_char *) reason,
                           ngx_strlen(reason))
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_calls_route.log, 0,
                      "calls: session \"%V\" could not be told to leave: "
                      "worker %ui is too busy", session_id, home);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_calls_claim(ngx_calls_endpoint_t *ep, ngx_str_t *session_id)
{
    ngx_str_t        err;
    ngx_uint_t       home;
    ngx_calls_msg_t  m;

    if (ngx_calls_route_to(session_id, &home, &err) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_memzero(&m, sizeof(ngx_calls_msg_t));
    m.endpoint.slot = ngx_worker;
    m.endpoint.id = ep->id;
    m.endpoint.members = ep->members;
    ngx_calls_msg_set(&m.session_id, session_id);

    return ngx_calls_msg_send(home, NGX_CALLS_MSG_CLAIM, &m, NULL, 0);
}


ngx_int_t
ngx_calls_session_group(ngx_str_t *session_id, ngx_str_t *group)
{
    ngx_uint_t  home;

    return ngx_calls_dir_session(session_id, group, &home);
}


ngx_int_t
ngx_calls_session_configs(ngx_str_t *group, ngx_str_t *call_id,
    ngx_str_t *session_id, ngx_calls_session_info_pt handler, void *data,
    const char **err)
{
    return ngx_calls_dir_configs(group, call_id, session_id, handler, data,
                                 err);
}


ngx_int_t
ngx_calls_counters(uint64_t *sum)
{
    ngx_uint_t         i, k, n;
    ngx_calls_slot_t  *slot;

    n = ngx_calls_dir_nslots();

    if (n == 0) {
        return NGX_DECLINED;
    }

    ngx_memzero(sum, NGX_CALLS_CNT_N * sizeof(uint64_t));

    for (i = 0; i < n; i++) {
        slot = ngx_calls_dir_slot(i);

        for (k = 0; k < NGX_CALLS_CNT_N; k++) {
            sum[k] += slot->counters[k];
        }
    }

    return NGX_OK;
}


ngx_uint_t
ngx_calls_workers(void)
{
    return ngx_calls_dir_nslots();
}


ngx_int_t
ngx_calls_load(ngx_uint_t worker, ngx_uint_t *calls, ngx_uint_t *sessions,
    ngx_pid_t *pid)
{
    ngx_calls_slot_t  *slot;

    slot = ngx_calls_dir_slot(worker);

    if (slot == NULL) {
        return NGX_DECLINED;
    }

    *calls = slot->calls;
    *sessions = slot->sessions;
    *pid = slot->pid;

    return NGX_OK;
}


/* messages */

void
ngx_calls_msg_set(ngx_calls_msg_id_t *id, ngx_str_t *s)
{
    /* ids were checked against NGX_CALLS_MAX_ID before */
    id->len = (u_char) ngx_min(s->len, NGX_CALLS_MAX_ID);
    ngx_memcpy(id->data, s->data, id->len);
}


void
ngx_calls_msg_get(ngx_calls_msg_id_t *id, ngx_str_t *s)
{
    s->data = id->data;
    s->len = ngx_min(id->len, NGX_CALLS_MAX_ID);
}


ngx_int_t
ngx_calls_msg_send(ngx_uint_t to, ngx_calls_msg_e type, ngx_calls_msg_t *m,
    u_char *data, size_t len)
{
    ngx_int_t   rc;
    ngx_uint_t  i, n;

    if (to != NGX_CALLS_ALL) {
        return ngx_calls_bus_send(to, type, m, sizeof(ngx_calls_msg_t), data,
                                  len);
    }

    n = ngx_calls_dir_nslots();

    for (i = 0; i < n; i++) {
        rc = ngx_calls_bus_send(i, type, m, sizeof(ngx_calls_msg_t), data,
                                len);

        /* a worker that is not there has nothing of ours */
        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN, ngx_calls_route.log, 0,
                          "calls: message %d for worker %ui lost",
                          (int) type, i);
        }
    }

    return NGX_OK;
}


void
ngx_calls_route_event(ngx_calls_ref_t *ref, ngx_calls_event_t *ev)
{
    ngx_calls_msg_t        m;
    ngx_calls_endpoint_t  *ep;

    if (ref->id == 0) {
        ngx_log_debug2(NGX_LOG_DEBUG_CORE, ngx_calls_route.log, 0,
                       "calls: session \"%V\": event %d dropped, no "
                       "signaling connection", &ev->session_id, ev->type);
        return;
    }

    if (ref->slot == (ngx_uint_t) ngx_worker) {
        ep = ngx_calls_route_endpoint(ref->id);

        if (ep) {
            ep->handler(ep, ev);
        }

        return;
    }

    ngx_memzero(&m, sizeof(ngx_calls_msg_t));
    m.endpoint = *ref;
    m.type = ev->type;
    m.rtc_type = ev->rtc_type;
    ngx_calls_msg_set(&m.group_id, &ev->group_id);
    ngx_calls_msg_set(&m.call_id, &ev->call_id);
    ngx_calls_msg_set(&m.session_id, &ev->session_id);
    ngx_calls_msg_set(&m.user_id, &ev->user_id);
    ngx_calls_msg_set(&m.to_session_id, &ev->to_session_id);

    if (ngx_calls_msg_send(ref->slot, NGX_CALLS_MSG_EVENT, &m, ev->data.data,
                           ev->data.len)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_calls_route.log, 0,
                      "calls: session \"%V\": event %d for worker %ui lost",
                      &ev->session_id, ev->type, ref->slot);
    }
}


static void
ngx_calls_route_bus(ngx_uint_t from, ngx_uint_t type, u_char *data,
    size_t len)
{
    ngx_calls_msg_t  m;

    if (type == NGX_CALLS_MSG_DGRAM || type == NGX_CALLS_MSG_PATH_GONE) {
        ngx_calls_deliver_msg(from, type, data, len);
        return;
    }

    if (len < sizeof(ngx_calls_msg_t)) {
        ngx_log_error(NGX_LOG_ALERT, ngx_calls_route.log, 0,
                      "calls: message %ui of %uz bytes from worker %ui",
                      type, len, from);
        return;
    }

    /* the ring's bytes are only 8-byte aligned */
    ngx_memcpy(&m, data, sizeof(ngx_calls_msg_t));

    data += sizeof(ngx_calls_msg_t);
    len -= sizeof(ngx_calls_msg_t);

    switch (type) {

    case NGX_CALLS_MSG_JOIN:
        ngx_calls_home_join(&m);
        break;

    case NGX_CALLS_MSG_SIGNAL:
        ngx_calls_home_signal(&m, data, len);
        break;

    case NGX_CALLS_MSG_LEAVE:
        ngx_calls_home_leave(&m, data, len);
        break;

    case NGX_CALLS_MSG_CLAIM:
        ngx_calls_home_claim(&m);
        break;

    case NGX_CALLS_MSG_ADOPT:
        ngx_calls_home_adopt(&m);
        break;

    case NGX_CALLS_MSG_ENDPOINT_CLOSED:
        ngx_calls_home_endpoint_closed(&m);
        break;

    case NGX_CALLS_MSG_EVENT:
        ngx_calls_route_deliver_event(&m, data, len);
        break;

    default:
        ngx_log_error(NGX_LOG_ALERT, ngx_calls_route.log, 0,
                      "calls: unknown message %ui from worker %ui",
                      type, from);
    }
}


static void
ngx_calls_route_deliver_event(ngx_calls_msg_t *m, u_char *data, size_t len)
{
    ngx_calls_event_t      ev;
    ngx_calls_endpoint_t  *ep;

    ep = ngx_calls_route_endpoint(m->endpoint.id);

    if (ep == NULL) {
        return;                           /* the connection went meanwhile */
    }

    ngx_memzero(&ev, sizeof(ngx_calls_event_t));

    ev.type = m->type;
    ev.rtc_type = m->rtc_type;
    ngx_calls_msg_get(&m->group_id, &ev.group_id);
    ngx_calls_msg_get(&m->call_id, &ev.call_id);
    ngx_calls_msg_get(&m->session_id, &ev.session_id);
    ngx_calls_msg_get(&m->user_id, &ev.user_id);
    ngx_calls_msg_get(&m->to_session_id, &ev.to_session_id);
    ev.data.data = data;
    ev.data.len = len;

    ep->handler(ep, &ev);
}


static ngx_calls_endpoint_t *
ngx_calls_route_endpoint(ngx_uint_t id)
{
    ngx_rbtree_node_t  *node, *sentinel;

    node = ngx_calls_route.endpoints.root;
    sentinel = ngx_calls_route.endpoints.sentinel;

    while (node != sentinel) {

        if (id < node->key) {
            node = node->left;
            continue;
        }

        if (id > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_calls_endpoint_t *)
                   ((u_char *) node - offsetof(ngx_calls_endpoint_t, node));
    }

    return NULL;
}


/*
 * nginx stops a worker gracefully (a reload, "nginx -s quit") once only
 * cancelable timers are left.  While this worker has sessions the timer
 * is not cancelable, so that it comes once more and ends them telling
 * their endpoints, before the connections go.
 */

static void
ngx_calls_route_housekeeping(ngx_event_t *ev)
{
    if (ngx_exiting && !ngx_calls_route.exiting) {
        ngx_calls_route.exiting = 1;

        if (ngx_calls_home_sessions()) {
            ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                          "calls: the worker is shutting down: %ui "
                          "sessions end", ngx_calls_home_sessions());

            ngx_calls_home_shutdown("the server is shutting down");
        }
    }

    ngx_calls_deliver_expire(ngx_current_msec);

    ev->cancelable = (ngx_calls_home_sessions() == 0
                      || ngx_calls_route.exiting);

    ngx_add_timer(ev, NGX_CALLS_HOUSEKEEPING);
}


/* who must be reached, or where a session lives */

static ngx_int_t
ngx_calls_route_to(ngx_str_t *session_id, ngx_uint_t *home, ngx_str_t *err)
{
    if (ngx_calls_dir_session(session_id, NULL, home) != NGX_OK) {
        ngx_str_set(err, "session not found");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* ids: printable ASCII without spaces or slashes */

static ngx_int_t
ngx_calls_route_check(ngx_str_t *id, size_t max, const char *what,
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
