
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_ROUTE_H_INCLUDED_
#define _NGX_CALLS_ROUTE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_calls.h"
#include "ngx_calls_directory.h"


/*
 * Inside the glue: the messages between workers (ngx_calls_route.c sends
 * and dispatches them), what the home worker of a call does with them
 * (ngx_calls_registry.c), and the media datagrams that arrive at a worker
 * other than their call's home (ngx_calls_deliver.c).
 *
 * A message to the home worker goes over the bus even when that is this
 * worker: every operation on a call then runs in one order, later in
 * the event loop, never under its caller.
 */


typedef enum {
    NGX_CALLS_MSG_JOIN = 1,                  /* to the call's home */
    NGX_CALLS_MSG_SIGNAL,
    NGX_CALLS_MSG_LEAVE,
    NGX_CALLS_MSG_CLAIM,
    NGX_CALLS_MSG_ADOPT,                     /* to every worker */
    NGX_CALLS_MSG_ENDPOINT_CLOSED,           /* to every worker */
    NGX_CALLS_MSG_EVENT,                     /* to an endpoint's worker */
    NGX_CALLS_MSG_DGRAM,                     /* to the call's home */
    NGX_CALLS_MSG_PATH_GONE                  /* home to the receiving one */
} ngx_calls_msg_e;


typedef struct {
    u_char                    len;
    u_char                    data[NGX_CALLS_MAX_ID];
} ngx_calls_msg_id_t;


/* the fixed part of a signaling message; data (SDP, a reason) follows */
typedef struct {
    ngx_calls_ref_t           endpoint;
    ngx_uint_t                type;          /* rtc_type, or event type */
    ngx_uint_t                rtc_type;      /* of an event */
    unsigned                  av1_support:1;
    unsigned                  dc_signaling:1;
    ngx_calls_msg_id_t        group_id;
    ngx_calls_msg_id_t        call_id;
    ngx_calls_msg_id_t        channel_id;
    ngx_calls_msg_id_t        session_id;
    ngx_calls_msg_id_t        user_id;
    ngx_calls_msg_id_t        to_session_id;
} ngx_calls_msg_t;


void ngx_calls_msg_set(ngx_calls_msg_id_t *id, ngx_str_t *s);
void ngx_calls_msg_get(ngx_calls_msg_id_t *id, ngx_str_t *s);

/* to a worker, or to all (NGX_CALLS_ALL): NGX_OK, NGX_BUSY, NGX_ERROR */
#define NGX_CALLS_ALL  ((ngx_uint_t) -1)

ngx_int_t ngx_calls_msg_send(ngx_uint_t to, ngx_calls_msg_e type,
    ngx_calls_msg_t *m, u_char *data, size_t len);

/* an event to its endpoint, here or in another worker */
void ngx_calls_route_event(ngx_calls_ref_t *ref, ngx_calls_event_t *ev);

ngx_int_t ngx_calls_route_init_process(ngx_cycle_t *cycle);
void ngx_calls_route_exit_process(ngx_cycle_t *cycle);

/* this worker has sessions now: a graceful stop must wait to end them */
void ngx_calls_route_hold(void);


/* the home worker (ngx_calls_registry.c) */

void ngx_calls_home_join(ngx_calls_msg_t *m);
void ngx_calls_home_signal(ngx_calls_msg_t *m, u_char *data, size_t len);
void ngx_calls_home_leave(ngx_calls_msg_t *m, u_char *data, size_t len);
void ngx_calls_home_claim(ngx_calls_msg_t *m);
void ngx_calls_home_adopt(ngx_calls_msg_t *m);
void ngx_calls_home_endpoint_closed(ngx_calls_msg_t *m);

/* a session that ended where nobody could say so (its worker died) */
void ngx_calls_home_orphan(ngx_calls_orphan_t *o);

/* the worker exits: its sessions end now and tell their endpoints */
void ngx_calls_home_shutdown(const char *reason);
ngx_uint_t ngx_calls_home_sessions(void);

/*
 * A datagram for a session of this worker, if it has one: NGX_OK when it
 * was handled (or dropped as the session's), NGX_DECLINED when no session
 * of ours knows the path.  via: the worker it arrived at.
 */
ngx_int_t ngx_calls_home_input(ngx_calls_path_t *path, u_char *buf,
    size_t len, uint64_t arrival_us, ngx_uint_t via);
ngx_int_t ngx_calls_home_stun(ngx_calls_path_t *path, ngx_str_t *ufrag,
    u_char *buf, size_t len, uint64_t arrival_us, ngx_uint_t via);


/* datagrams between workers (ngx_calls_deliver.c) */

void ngx_calls_deliver_msg(ngx_uint_t from, ngx_calls_msg_e type,
    u_char *buf, size_t len);

/* a path of ours that came through worker via is gone */
void ngx_calls_deliver_path_gone(ngx_calls_path_t *path, ngx_uint_t via);

/* an ICE ufrag of this worker starts with its number */
void ngx_calls_ufrag_worker(u_char *ufrag);

void ngx_calls_deliver_expire(ngx_msec_t now);
void ngx_calls_deliver_exit_process(void);


#endif /* _NGX_CALLS_ROUTE_H_INCLUDED_ */
