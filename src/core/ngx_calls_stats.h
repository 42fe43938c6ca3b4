
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_STATS_H_INCLUDED_
#define _NGX_CALLS_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_calls_media.h"


/*
 * What rtcd exports as metrics (service/perf/metrics.go), aggregated per
 * group (the RTCD client ID): the sessions, the media engine's STAT
 * events, the plugin WebSocket connections and messages.
 *
 * The figures are those of this worker process.  Everything goes through
 * the functions below, so that a version in shared memory (several
 * workers) can replace this one without touching the callers.  A group
 * once seen is kept for the life of the process, as rtcd's metric vectors
 * keep their label sets.
 */


/* histograms, in the order of NGX_CALLS_STAT_CONNECTION_TIME .. JITTER */
#define NGX_CALLS_STATS_HIST_N        7
#define NGX_CALLS_STATS_MAX_BUCKETS   16

/* rtcd_rtc_errors_total types */
#define NGX_CALLS_STATS_ERR_RTP                 0
#define NGX_CALLS_STATS_ERR_SIGNALING           1
#define NGX_CALLS_STATS_ERR_ICE                 2
#define NGX_CALLS_STATS_ERR_TRACK               3
#define NGX_CALLS_STATS_ERR_LOCK_TIMEOUT        4
#define NGX_CALLS_STATS_ERR_N                   5

/* rtcd_rtc_conn_states_total types */
#define NGX_CALLS_STATS_STATE_CONNECTED         0
#define NGX_CALLS_STATS_STATE_DISCONNECTED      1
#define NGX_CALLS_STATS_STATE_FAILED            2
#define NGX_CALLS_STATS_STATE_CLOSED            3
#define NGX_CALLS_STATS_STATE_N                 4

/* rtcd_ws_messages_total types: the ClientMessage types rtcd counts */
#define NGX_CALLS_STATS_MSG_JOIN                0
#define NGX_CALLS_STATS_MSG_LEAVE               1
#define NGX_CALLS_STATS_MSG_RTC                 2
#define NGX_CALLS_STATS_MSG_RECONNECT           3
#define NGX_CALLS_STATS_MSG_VAD                 4
#define NGX_CALLS_STATS_MSG_N                   5

/* track gauges kept per group: direction x MIME type */
#define NGX_CALLS_STATS_TRACKS        8
#define NGX_CALLS_STATS_MIME_LEN      32


typedef struct {
    const char                *name;      /* rtcd_rtc_connection_time ... */
    const char                *help;
    const double              *bounds;
    ngx_uint_t                 nbounds;
} ngx_calls_stats_hist_def_t;


typedef struct {
    uint64_t                   buckets[NGX_CALLS_STATS_MAX_BUCKETS];
    uint64_t                   count;
    double                     sum;
} ngx_calls_stats_hist_t;


typedef struct {
    ngx_uint_t                 out;       /* direction: 0 in, 1 out */
    u_char                     mime[NGX_CALLS_STATS_MIME_LEN];
    size_t                     mime_len;
    int64_t                    count;
} ngx_calls_stats_tracks_t;


typedef struct ngx_calls_stats_group_s  ngx_calls_stats_group_t;

struct ngx_calls_stats_group_s {
    ngx_str_node_t             node;      /* the group (client) ID */
    ngx_calls_stats_group_t   *next;      /* in the order first seen */

    int64_t                    sessions;
    uint64_t                   errors[NGX_CALLS_STATS_ERR_N];
    ngx_calls_stats_tracks_t   tracks[NGX_CALLS_STATS_TRACKS];
    ngx_uint_t                 ntracks;
    ngx_calls_stats_hist_t     hist[NGX_CALLS_STATS_HIST_N];

    int64_t                    ws_connections;
    uint64_t                   ws_messages[NGX_CALLS_STATS_MSG_N][2];

    /* which families have a sample of this group, as in rtcd */
    unsigned                   has_sessions:1;
    unsigned                   has_ws:1;
};


extern const char *ngx_calls_stats_error_names[NGX_CALLS_STATS_ERR_N];
extern const char *ngx_calls_stats_state_names[NGX_CALLS_STATS_STATE_N];
extern const char *ngx_calls_stats_msg_names[NGX_CALLS_STATS_MSG_N];
extern const ngx_calls_stats_hist_def_t
    ngx_calls_stats_hist_defs[NGX_CALLS_STATS_HIST_N];


/* a STAT event of the media engine for a session of group */
void ngx_calls_stats_media(ngx_str_t *group, ngx_calls_stat_e stat,
    double value, ngx_str_t *label);

void ngx_calls_stats_sessions(ngx_str_t *group, ngx_int_t delta);
void ngx_calls_stats_ws_connections(ngx_str_t *client, ngx_int_t delta);

/* msg: NGX_CALLS_STATS_MSG_*; out: 0 received, 1 sent */
void ngx_calls_stats_ws_message(ngx_str_t *client, ngx_uint_t msg,
    ngx_uint_t out);

typedef struct ngx_calls_stats_s  ngx_calls_stats_t;

/* a worker slot's numbers, in the calls zone (at its initialization) */
ngx_calls_stats_t *ngx_calls_stats_create(ngx_slab_pool_t *shpool);

/* the worker counts in its slot from now on */
void ngx_calls_stats_init_process(void);


/* the sum of every worker's numbers */
typedef struct {
    ngx_calls_stats_group_t   *groups;    /* oldest first, NULL: none */
    uint64_t                   states[NGX_CALLS_STATS_STATE_N];

    /* how many groups were not counted because memory ran out */
    ngx_uint_t                 lost;
} ngx_calls_stats_snapshot_t;

ngx_int_t ngx_calls_stats_snapshot(ngx_pool_t *pool,
    ngx_calls_stats_snapshot_t *snap);


#endif /* _NGX_CALLS_STATS_H_INCLUDED_ */
