
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_DIRECTORY_H_INCLUDED_
#define _NGX_CALLS_DIRECTORY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_calls.h"


/*
 * The call directory: what every worker of a cycle must know about calls
 * it does not run, in a shared memory zone made anew for each cycle
 * ("calls_zone_size").  Which worker is a call's home, the sessions of
 * each call with what RTCD's API returns about them, and where their
 * events go; per worker slot, its process, its load and its counters.
 *
 * Everything but the slots' counters is read and written under the
 * zone's mutex, which nginx's master unlocks when a worker dies holding
 * it.  The slab pool of the zone holds the entries.
 */


typedef struct {
    ngx_pid_t                 pid;           /* 0: not started yet */
    ngx_atomic_t              sessions;      /* homed in this worker */
    ngx_atomic_t              calls;
    uint64_t                  counters[NGX_CALLS_CNT_N];
    void                     *stats;         /* ngx_calls_stats.c's */
} ngx_calls_slot_t;


/* a session whose worker died, for the new worker to report */
typedef struct {
    ngx_str_t                 group_id;
    ngx_str_t                 call_id;
    ngx_str_t                 session_id;
    ngx_str_t                 user_id;
    ngx_calls_ref_t           endpoint;
} ngx_calls_orphan_t;

typedef void (*ngx_calls_orphan_pt)(ngx_calls_orphan_t *o);


/* configuration: the zone, when a module of ours needs it */
ngx_int_t ngx_calls_dir_add(ngx_cycle_t *cycle, size_t size);

/* a worker finds its cycle's zone */
ngx_int_t ngx_calls_dir_init_process(ngx_cycle_t *cycle);

/*
 * The worker takes its slot: calls homed there by a worker that died are
 * removed, each of their sessions handed to handler first.
 */
void ngx_calls_dir_orphans(ngx_log_t *log, ngx_calls_orphan_pt handler);

ngx_uint_t ngx_calls_dir_nslots(void);
ngx_calls_slot_t *ngx_calls_dir_slot(ngx_uint_t n);

/* the zone's slab pool, for ngx_calls_stats.c */
ngx_slab_pool_t *ngx_calls_dir_pool(void);

/*
 * A new session of j (ids checked by the caller; an empty call id with a
 * channel id finds or makes the channel's call, the id then allocated
 * from pool).  NGX_OK with the call's home worker; NGX_DECLINED with
 * err; NGX_ERROR when the zone is full.
 */
ngx_int_t ngx_calls_dir_join(ngx_str_t *group, ngx_calls_join_t *j,
    ngx_calls_ref_t *ep, ngx_pool_t *pool, ngx_uint_t *home,
    ngx_str_t *err);

/* the session is gone (its call too when it was the last) */
void ngx_calls_dir_leave(ngx_str_t *session_id);

/*
 * Where a session lives: NGX_OK with its home worker; NGX_DECLINED when
 * there is no such session, NGX_ABORT when it is not of group (unless
 * group is NULL).
 */
ngx_int_t ngx_calls_dir_session(ngx_str_t *session_id, ngx_str_t *group,
    ngx_uint_t *home);

/* the session's events go to ep (for a worker that dies meanwhile) */
void ngx_calls_dir_endpoint(ngx_str_t *session_id, ngx_calls_ref_t *ep);

ngx_int_t ngx_calls_dir_configs(ngx_str_t *group, ngx_str_t *call_id,
    ngx_str_t *session_id, ngx_calls_session_info_pt handler, void *data,
    const char **err);

/* random ids from an alphabet of a power-of-two size */
void ngx_calls_random_id(u_char *p, size_t len, const char *alphabet);


#endif /* _NGX_CALLS_DIRECTORY_H_INCLUDED_ */
