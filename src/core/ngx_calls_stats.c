
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * rtcd's metrics, per group and per worker: each worker counts in its own
 * slot of the calls zone (ngx_calls_directory.c), without locks; /metrics
 * adds the slots up.  A slot's groups live in a tree by name, which only
 * its worker touches, and in a list in the order they were first seen,
 * which is the order /metrics prints them in; others only walk the list.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_calls.h"
#include "ngx_calls_directory.h"
#include "ngx_calls_stats.h"


struct ngx_calls_stats_s {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_calls_stats_group_t    *first;
    ngx_calls_stats_group_t    *last;
    uint64_t                    states[NGX_CALLS_STATS_STATE_N];
    ngx_uint_t                  lost;
};


static ngx_calls_stats_group_t *ngx_calls_stats_group(ngx_str_t *name);
static void ngx_calls_stats_observe(ngx_calls_stats_hist_t *h,
    const ngx_calls_stats_hist_def_t *def, double value);
static void ngx_calls_stats_track(ngx_calls_stats_group_t *g,
    ngx_uint_t out, double delta, ngx_str_t *mime);
static ngx_int_t ngx_calls_stats_index(const char **names, ngx_uint_t n,
    ngx_str_t *label);
static ngx_int_t ngx_calls_stats_merge(ngx_pool_t *pool,
    ngx_calls_stats_snapshot_t *snap, ngx_calls_stats_group_t *g);


/* prometheus.DefBuckets */
static const double  ngx_calls_stats_default_bounds[] = {
    .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10
};

/* rtcd's latencyBuckets and lossBuckets */
static const double  ngx_calls_stats_latency_bounds[] = {
    .001, .005, .0075, .01, .025, .05, .075, .1, .25, .3, .4, .5, .75, 1
};

static const double  ngx_calls_stats_loss_bounds[] = {
    .001, .005, .0075, .01, .025, .05, .075, .1, .25, .5, .75, 1
};

#define ngx_calls_stats_bounds(b)  b, sizeof(b) / sizeof(double)


const ngx_calls_stats_hist_def_t
    ngx_calls_stats_hist_defs[NGX_CALLS_STATS_HIST_N] =
{
    { "rtcd_rtc_connection_time", "Time taken to establish the connection",
      ngx_calls_stats_bounds(ngx_calls_stats_default_bounds) },

    { "rtcd_rtc_dc_open_time", "Time taken to open the data channel",
      ngx_calls_stats_bounds(ngx_calls_stats_default_bounds) },

    { "rtcd_rtc_signaling_lock_grab_time",
      "Time taken to acquire the signaling lock",
      ngx_calls_stats_bounds(ngx_calls_stats_default_bounds) },

    { "rtcd_rtc_signaling_lock_locked_time",
      "Time the signaling lock was held",
      ngx_calls_stats_bounds(ngx_calls_stats_default_bounds) },

    { "rtcd_rtc_client_loss_rate", "Client loss rate",
      ngx_calls_stats_bounds(ngx_calls_stats_loss_bounds) },

    { "rtcd_rtc_client_rtt", "Client round trip time",
      ngx_calls_stats_bounds(ngx_calls_stats_latency_bounds) },

    { "rtcd_rtc_client_jitter", "Client latency jitter",
      ngx_calls_stats_bounds(ngx_calls_stats_latency_bounds) }
};


const char *ngx_calls_stats_error_names[NGX_CALLS_STATS_ERR_N] = {
    "rtp", "signaling", "ice", "track", "signaling_lock_timeout"
};

const char *ngx_calls_stats_state_names[NGX_CALLS_STATS_STATE_N] = {
    "connected", "disconnected", "failed", "closed"
};

const char *ngx_calls_stats_msg_names[NGX_CALLS_STATS_MSG_N] = {
    "join", "leave", "rtc", "reconnect", "vad"
};


/* this worker's slot; NULL without a calls zone */
static ngx_calls_stats_t  *ngx_calls_stats;


void
ngx_calls_stats_media(ngx_str_t *group, ngx_calls_stat_e stat, double value,
    ngx_str_t *label)
{
    ngx_int_t                 i;
    ngx_calls_stats_group_t  *g;

    /* a NaN or an infinity would poison the sums for good */

    if (value != value || value > 1e15 || value < -1e15) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "calls: statistic %d of group \"%V\" with value %f "
                      "ignored", (int) stat, group, value);
        return;
    }

    if (stat == NGX_CALLS_STAT_CONN_STATE) {
        i = ngx_calls_stats_index(ngx_calls_stats_state_names,
                                  NGX_CALLS_STATS_STATE_N, label);
        if (i == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "calls: connection state \"%V\" not counted",
                          label);
            return;
        }

        if (ngx_calls_stats) {
            ngx_calls_stats->states[i]++;
        }

        return;
    }

    g = ngx_calls_stats_group(group);
    if (g == NULL) {
        return;
    }

    switch (stat) {

    case NGX_CALLS_STAT_CONNECTION_TIME:
    case NGX_CALLS_STAT_DC_OPEN_TIME:
    case NGX_CALLS_STAT_LOCK_GRAB_TIME:
    case NGX_CALLS_STAT_LOCK_LOCKED_TIME:
    case NGX_CALLS_STAT_CLIENT_LOSS_RATE:
    case NGX_CALLS_STAT_CLIENT_RTT:
    case NGX_CALLS_STAT_CLIENT_JITTER:
        i = stat - NGX_CALLS_STAT_CONNECTION_TIME;
        ngx_calls_stats_observe(&g->hist[i], &ngx_calls_stats_hist_defs[i],
                                value);
        return;

    case NGX_CALLS_STAT_ERROR:
        i = ngx_calls_stats_index(ngx_calls_stats_error_names,
                                  NGX_CALLS_STATS_ERR_N, label);
        if (i == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "calls: error type \"%V\" not counted", label);
            return;
        }

        g->errors[i]++;
        return;

    case NGX_CALLS_STAT_TRACK_IN:
    case NGX_CALLS_STAT_TRACK_OUT:
        ngx_calls_stats_track(g, stat == NGX_CALLS_STAT_TRACK_OUT, value,
                              label);
        return;

    default:
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "calls: unknown statistic %d ignored", (int) stat);
        return;
    }
}


void
ngx_calls_stats_sessions(ngx_str_t *group, ngx_int_t delta)
{
    ngx_calls_stats_group_t  *g;

    g = ngx_calls_stats_group(group);

    if (g) {
        g->sessions += delta;
        g->has_sessions = 1;
    }
}


void
ngx_calls_stats_ws_connections(ngx_str_t *client, ngx_int_t delta)
{
    ngx_calls_stats_group_t  *g;

    g = ngx_calls_stats_group(client);

    if (g) {
        g->ws_connections += delta;
        g->has_ws = 1;
    }
}


void
ngx_calls_stats_ws_message(ngx_str_t *client, ngx_uint_t msg, ngx_uint_t out)
{
    ngx_calls_stats_group_t  *g;

    if (msg >= NGX_CALLS_STATS_MSG_N) {
        return;
    }

    g = ngx_calls_stats_group(client);

    if (g) {
        g->ws_messages[msg][out ? 1 : 0]++;
    }
}


ngx_calls_stats_t *
ngx_calls_stats_create(ngx_slab_pool_t *shpool)
{
    ngx_calls_stats_t  *st;

    st = ngx_slab_calloc(shpool, sizeof(ngx_calls_stats_t));
    if (st == NULL) {
        return NULL;
    }

    ngx_rbtree_init(&st->tree, &st->sentinel, ngx_str_rbtree_insert_value);

    return st;
}


void
ngx_calls_stats_init_process(void)
{
    ngx_calls_slot_t         *slot;
    ngx_calls_stats_group_t  *g;

    slot = ngx_calls_dir_slot(ngx_worker);

    ngx_calls_stats = slot ? slot->stats : NULL;

    if (ngx_calls_stats == NULL) {
        return;
    }

    /*
     * A worker that died left its gauges: its sessions, connections and
     * tracks are gone.  The counters go on from where they were.
     */

    for (g = ngx_calls_stats->first; g; g = g->next) {
        g->sessions = 0;
        g->ws_connections = 0;
        ngx_memzero(g->tracks, sizeof(g->tracks));
        g->ntracks = 0;
    }
}


/* every worker's numbers added up, in the request's pool */

ngx_int_t
ngx_calls_stats_snapshot(ngx_pool_t *pool, ngx_calls_stats_snapshot_t *snap)
{
    ngx_uint_t                i, n, k;
    ngx_calls_slot_t         *slot;
    ngx_calls_stats_t        *st;
    ngx_calls_stats_group_t  *g;

    ngx_memzero(snap, sizeof(ngx_calls_stats_snapshot_t));

    n = ngx_calls_dir_nslots();

    for (i = 0; i < n; i++) {
        slot = ngx_calls_dir_slot(i);
        st = slot->stats;

        for (k = 0; k < NGX_CALLS_STATS_STATE_N; k++) {
            snap->states[k] += st->states[k];
        }

        snap->lost += st->lost;

        for (g = st->first; g; g = g->next) {
            if (ngx_calls_stats_merge(pool, snap, g) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_calls_stats_merge(ngx_pool_t *pool, ngx_calls_stats_snapshot_t *snap,
    ngx_calls_stats_group_t *g)
{
    ngx_uint_t                 i, j, k;
    ngx_calls_stats_group_t   *m, **last;
    ngx_calls_stats_tracks_t  *t;

    last = &snap->groups;

    for (m = snap->groups; m; m = m->next) {
        if (m->node.str.len == g->node.str.len
            && ngx_strncmp(m->node.str.data, g->node.str.data,
                           g->node.str.len) == 0)
        {
            break;
        }

        last = &m->next;
    }

    if (m == NULL) {
        m = ngx_pcalloc(pool, sizeof(ngx_calls_stats_group_t));
        if (m == NULL) {
            return NGX_ERROR;
        }

        m->node.str.data = ngx_pstrdup(pool, &g->node.str);
        if (m->node.str.data == NULL) {
            return NGX_ERROR;
        }

        m->node.str.len = g->node.str.len;
        *last = m;
    }

    m->sessions += g->sessions;
    m->ws_connections += g->ws_connections;
    m->has_sessions |= g->has_sessions;
    m->has_ws |= g->has_ws;

    for (i = 0; i < NGX_CALLS_STATS_ERR_N; i++) {
        m->errors[i] += g->errors[i];
    }

    for (i = 0; i < NGX_CALLS_STATS_MSG_N; i++) {
        m->ws_messages[i][0] += g->ws_messages[i][0];
        m->ws_messages[i][1] += g->ws_messages[i][1];
    }

    for (i = 0; i < NGX_CALLS_STATS_HIST_N; i++) {
        for (k = 0; k < NGX_CALLS_STATS_MAX_BUCKETS; k++) {
            m->hist[i].buckets[k] += g->hist[i].buckets[k];
        }

        m->hist[i].count += g->hist[i].count;
        m->hist[i].sum += g->hist[i].sum;
    }

    for (i = 0; i < g->ntracks && i < NGX_CALLS_STATS_TRACKS; i++) {
        t = &g->tracks[i];

        for (j = 0; j < m->ntracks; j++) {
            if (m->tracks[j].out == t->out
                && m->tracks[j].mime_len == t->mime_len
                && ngx_memcmp(m->tracks[j].mime, t->mime, t->mime_len) == 0)
            {
                break;
            }
        }

        if (j == m->ntracks) {
            if (j == NGX_CALLS_STATS_TRACKS) {
                continue;
            }

            m->tracks[j] = *t;
            m->tracks[j].count = 0;
            m->ntracks++;
        }

        m->tracks[j].count += t->count;
    }

    return NGX_OK;
}


static ngx_calls_stats_group_t *
ngx_calls_stats_group(ngx_str_t *name)
{
    uint32_t                  hash;
    ngx_str_node_t           *sn;
    ngx_calls_stats_t        *st;
    ngx_calls_stats_group_t  *g;

    st = ngx_calls_stats;

    if (st == NULL) {
        return NULL;
    }

    hash = ngx_crc32_long(name->data, name->len);

    sn = ngx_str_rbtree_lookup(&st->tree, name, hash);

    if (sn) {
        return (ngx_calls_stats_group_t *) sn;
    }

    /* the name is kept right after the record */

    g = ngx_slab_calloc(ngx_calls_dir_pool(),
                        sizeof(ngx_calls_stats_group_t) + name->len + 1);
    if (g == NULL) {
        st->lost++;
        return NULL;
    }

    g->node.str.data = (u_char *) g + sizeof(ngx_calls_stats_group_t);
    g->node.str.len = name->len;
    ngx_memcpy(g->node.str.data, name->data, name->len);
    g->node.str.data[name->len] = '\0';

    g->node.node.key = hash;
    ngx_rbtree_insert(&st->tree, &g->node.node);

    /* other workers walk the list: the record before the link to it */
    ngx_memory_barrier();

    if (st->last) {
        st->last->next = g;

    } else {
        st->first = g;
    }

    st->last = g;

    return g;
}


static void
ngx_calls_stats_observe(ngx_calls_stats_hist_t *h,
    const ngx_calls_stats_hist_def_t *def, double value)
{
    ngx_uint_t  i;

    /* buckets are not cumulative here: each value counts once */

    for (i = 0; i < def->nbounds; i++) {
        if (value <= def->bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }

    h->count++;
    h->sum += value;
}


static void
ngx_calls_stats_track(ngx_calls_stats_group_t *g, ngx_uint_t out,
    double delta, ngx_str_t *mime)
{
    u_char                     c;
    ngx_uint_t                 i;
    ngx_calls_stats_tracks_t  *t;

    /* a label of a MIME type: "audio/opus", "video/VP8" */

    if (mime->len == 0 || mime->len >= NGX_CALLS_STATS_MIME_LEN) {
        goto invalid;
    }

    for (i = 0; i < mime->len; i++) {
        c = mime->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '.'
              || c == '_'))
        {
            goto invalid;
        }
    }

    for (i = 0; i < g->ntracks; i++) {
        t = &g->tracks[i];

        if (t->out == out && t->mime_len == mime->len
            && ngx_memcmp(t->mime, mime->data, mime->len) == 0)
        {
            t->count += (int64_t) delta;
            return;
        }
    }

    if (g->ntracks == NGX_CALLS_STATS_TRACKS) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "calls: more than %d track types in group \"%V\", "
                      "\"%V\" not counted", NGX_CALLS_STATS_TRACKS,
                      &g->node.str, mime);
        return;
    }

    t = &g->tracks[g->ntracks++];

    t->out = out;
    ngx_memcpy(t->mime, mime->data, mime->len);
    t->mime_len = mime->len;
    t->count = (int64_t) delta;

    return;

invalid:

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "calls: track type \"%V\" not counted", mime);
}


static ngx_int_t
ngx_calls_stats_index(const char **names, ngx_uint_t n, ngx_str_t *label)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_strlen(names[i]) == label->len
            && ngx_strncmp(names[i], label->data, label->len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}
