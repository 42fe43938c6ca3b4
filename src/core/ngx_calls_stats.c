
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * rtcd's metrics of this worker, per group.  Groups live in a tree by
 * name and in a list in the order they were first seen, which is the
 * order /metrics prints them in.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_calls_stats.h"


typedef struct {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_calls_stats_group_t    *first;
    ngx_calls_stats_group_t    *last;
    uint64_t                    states[NGX_CALLS_STATS_STATE_N];
    ngx_uint_t                  lost;
    unsigned                    ready:1;
} ngx_calls_stats_t;


static ngx_calls_stats_group_t *ngx_calls_stats_group(ngx_str_t *name);
static void ngx_calls_stats_observe(ngx_calls_stats_hist_t *h,
    const ngx_calls_stats_hist_def_t *def, double value);
static void ngx_calls_stats_track(ngx_calls_stats_group_t *g,
    ngx_uint_t out, double delta, ngx_str_t *mime);
static ngx_int_t ngx_calls_stats_index(const char **names, ngx_uint_t n,
    ngx_str_t *label);


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


static ngx_calls_stats_t  ngx_calls_stats;


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

        ngx_calls_stats.states[i]++;
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


ngx_calls_stats_group_t *
ngx_calls_stats_groups(void)
{
    return ngx_calls_stats.first;
}


uint64_t *
ngx_calls_stats_states(void)
{
    return ngx_calls_stats.states;
}


ngx_uint_t
ngx_calls_stats_lost(void)
{
    return ngx_calls_stats.lost;
}


void
ngx_calls_stats_done(void)
{
    ngx_calls_stats_group_t  *g, *next;

    for (g = ngx_calls_stats.first; g; g = next) {
        next = g->next;
        ngx_free(g);
    }

    ngx_memzero(&ngx_calls_stats, sizeof(ngx_calls_stats_t));
}


static ngx_calls_stats_group_t *
ngx_calls_stats_group(ngx_str_t *name)
{
    uint32_t                  hash;
    ngx_str_node_t           *sn;
    ngx_calls_stats_t        *st;
    ngx_calls_stats_group_t  *g;

    st = &ngx_calls_stats;

    if (!st->ready) {
        ngx_rbtree_init(&st->tree, &st->sentinel,
                        ngx_str_rbtree_insert_value);
        st->ready = 1;
    }

    hash = ngx_crc32_long(name->data, name->len);

    sn = ngx_str_rbtree_lookup(&st->tree, name, hash);

    if (sn) {
        return (ngx_calls_stats_group_t *) sn;
    }

    /* the name is kept right after the record */

    g = ngx_alloc(sizeof(ngx_calls_stats_group_t) + name->len + 1,
                  ngx_cycle->log);
    if (g == NULL) {
        st->lost++;
        return NULL;
    }

    ngx_memzero(g, sizeof(ngx_calls_stats_group_t));

    g->node.str.data = (u_char *) g + sizeof(ngx_calls_stats_group_t);
    g->node.str.len = name->len;
    ngx_memcpy(g->node.str.data, name->data, name->len);
    g->node.str.data[name->len] = '\0';

    g->node.node.key = hash;
    ngx_rbtree_insert(&st->tree, &g->node.node);

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
