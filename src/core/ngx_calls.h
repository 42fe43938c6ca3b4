
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_H_INCLUDED_
#define _NGX_CALLS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_calls_media.h"


/*
 * The nginx glue both modules share: the core module (certificate, media
 * listener configuration) and the registry of calls and sessions.
 *
 * Signaling code (the standalone WebSocket endpoint, the RTCD API) talks
 * to calls only through the functions below.  It never touches media
 * sessions directly: a call lives on its home worker, and the glue
 * carries messages there and events back.
 */


#define NGX_CALLS_MAX_ID         64          /* call, session, user ids */


typedef struct ngx_calls_endpoint_s  ngx_calls_endpoint_t;


/* an endpoint anywhere: its worker, its id there (0: none) */
typedef struct {
    ngx_uint_t                slot;
    ngx_uint_t                id;
    ngx_uint_t                members;       /* it wants membership events */
} ngx_calls_ref_t;


typedef enum {
    NGX_CALLS_EVENT_SIGNAL = 1,              /* rtc_type, data: JSON */
    NGX_CALLS_EVENT_ERROR,                   /* data: message */
    NGX_CALLS_EVENT_CONNECTED,               /* ICE + DTLS up */
    NGX_CALLS_EVENT_VOICE_ON,
    NGX_CALLS_EVENT_VOICE_OFF,
    NGX_CALLS_EVENT_CLOSE,                   /* data: reason; session gone */

    /* call membership, only to endpoints that set `members' */
    NGX_CALLS_EVENT_USER_JOINED,
    NGX_CALLS_EVENT_USER_LEFT,
    NGX_CALLS_EVENT_USER_MUTED,
    NGX_CALLS_EVENT_USER_UNMUTED,
    NGX_CALLS_EVENT_USER_SCREEN_ON,
    NGX_CALLS_EVENT_USER_SCREEN_OFF,
    NGX_CALLS_EVENT_USER_VIDEO_ON,
    NGX_CALLS_EVENT_USER_VIDEO_OFF
} ngx_calls_event_e;


typedef struct {
    ngx_calls_event_e         type;
    ngx_uint_t                rtc_type;      /* SIGNAL: NGX_CALLS_RTC_* */

    /* the session the event is about */
    ngx_str_t                 group_id;
    ngx_str_t                 call_id;
    ngx_str_t                 session_id;
    ngx_str_t                 user_id;

    /* for membership events: the session that receives the event */
    ngx_str_t                 to_session_id;

    ngx_str_t                 data;
} ngx_calls_event_t;


/*
 * A signaling connection (a WebSocket): the sessions it joined or claimed
 * send their events to it.  The owner fills the public fields and calls
 * ngx_calls_endpoint_open() before use, ngx_calls_endpoint_close() when
 * the connection goes.
 */
struct ngx_calls_endpoint_s {
    void                    (*handler)(ngx_calls_endpoint_t *ep,
                                       ngx_calls_event_t *ev);
    void                     *data;
    ngx_log_t                *log;
    ngx_str_t                 group;         /* RTCD client ID, or empty */
    unsigned                  members:1;     /* wants membership events */

    /* private */
    ngx_uint_t                id;
    ngx_rbtree_node_t         node;
};


typedef struct {
    ngx_str_t                 call_id;       /* empty: by channel_id */
    ngx_str_t                 channel_id;
    ngx_str_t                 session_id;    /* empty: generated */
    ngx_str_t                 user_id;
    unsigned                  av1_support:1;
    unsigned                  dc_signaling:1;
} ngx_calls_join_t;


ngx_int_t ngx_calls_endpoint_open(ngx_calls_endpoint_t *ep);

/*
 * The connection is gone.  Its sessions live on (rtcd keeps calls when a
 * plugin connection drops); their events are dropped until another
 * endpoint claims them.
 */
void ngx_calls_endpoint_close(ngx_calls_endpoint_t *ep);

/*
 * Creates the session (and the call, on its first join) in the call's
 * home worker.  On NGX_OK j->call_id and j->session_id hold the ids
 * (allocated from pool when generated); the session's events follow,
 * never before this returns: for an endpoint with `members', first the
 * call's other sessions (USER_JOINED and their state, to_session_id set).
 * A session the home worker cannot make ends with ERROR and CLOSE.
 * NGX_DECLINED: refused, err says why (for the client).  NGX_ERROR:
 * internal failure, logged.
 */
ngx_int_t ngx_calls_join(ngx_calls_endpoint_t *ep, ngx_calls_join_t *j,
    ngx_pool_t *pool, ngx_str_t *err);

/*
 * A message for a session: rtc_type is NGX_CALLS_RTC_*; data as the
 * client sent it.  NGX_DECLINED with err when the session is unknown.
 * Problems with the content itself come back as an ERROR event.
 */
ngx_int_t ngx_calls_signal(ngx_calls_endpoint_t *ep, ngx_str_t *session_id,
    ngx_uint_t rtc_type, ngx_str_t *data, ngx_str_t *err);

/* ends a session; a CLOSE event follows.  NGX_DECLINED if unknown */
ngx_int_t ngx_calls_leave(ngx_str_t *session_id, const char *reason);

/* routes a session's events to ep from now on (RTCD reconnect) */
ngx_int_t ngx_calls_claim(ngx_calls_endpoint_t *ep, ngx_str_t *session_id);

/*
 * RTCD mode.  adopt: the sessions of ep's group whose connection is gone
 * report to ep from now on (a plugin connection came back).
 * session_group: NGX_OK when the session lives and is of group,
 * NGX_DECLINED when there is no such session, NGX_ABORT when it is of
 * another group.
 */
void ngx_calls_endpoint_adopt(ngx_calls_endpoint_t *ep);
ngx_int_t ngx_calls_session_group(ngx_str_t *session_id, ngx_str_t *group);

/*
 * The configurations of the sessions of a call (session_id NULL) or of
 * one session, as rtcd's /calls/{id}/sessions returns them.  NGX_DECLINED
 * with rtcd's reason in err: "group not found", "call not found", "no
 * sessions found", "session not found".
 */
typedef struct {
    ngx_str_t                 group_id;
    ngx_str_t                 call_id;
    ngx_str_t                 user_id;
    ngx_str_t                 session_id;
    ngx_str_t                 channel_id;
    unsigned                  av1_support:1;
    unsigned                  dc_signaling:1;
} ngx_calls_session_info_t;

typedef void (*ngx_calls_session_info_pt)(void *data,
    ngx_calls_session_info_t *info);
ngx_int_t ngx_calls_session_configs(ngx_str_t *group, ngx_str_t *call_id,
    ngx_str_t *session_id, ngx_calls_session_info_pt handler, void *data,
    const char **err);

/* the media counters of every worker added up, NGX_CALLS_CNT_N slots */
ngx_int_t ngx_calls_counters(uint64_t *sum);

/* this worker's media counters (NULL without the calls zone) */
uint64_t *ngx_calls_worker_counters(void);

/* the worker processes: how many, and each one's calls and sessions */
ngx_uint_t ngx_calls_workers(void);
ngx_int_t ngx_calls_load(ngx_uint_t worker, ngx_uint_t *calls,
    ngx_uint_t *sessions, ngx_pid_t *pid);


/*
 * For the media listeners (the stream module).  A listener is the
 * transport of the paths it receives on: the engine sends through it.
 */

typedef struct ngx_calls_listener_s  ngx_calls_listener_t;

struct ngx_calls_listener_s {
    ngx_int_t               (*send)(ngx_calls_listener_t *l,
                                    ngx_calls_path_t *path, u_char *buf,
                                    size_t len);

    /* sends what send() queued, or NULL when send() does not queue */
    void                    (*flush)(ngx_calls_listener_t *l);

    ngx_connection_t         *connection;
    void                     *data;

    /* private: the same in every worker for the same listen */
    ngx_uint_t                index;
};


/*
 * Each worker adds its UDP listeners in the order of the configuration,
 * so that a datagram handed to another worker is answered from that
 * worker's socket of the same listen (reuseport: the same address).
 */
ngx_int_t ngx_calls_listener_add(ngx_calls_listener_t *l);

/*
 * Sends what the listeners queued: before signaling leaves, so that what
 * a session sent on its media path (a MediaMap on calls-dc before the
 * offer it describes) reaches the client first, as it was sent.
 */
void ngx_calls_listener_flush(void);


/*
 * State other modules keep in the calls zone, one slot each: made when
 * the zone is (in the master, once per cycle, before the workers start)
 * by the module's init, which allocates from the zone's slab pool.
 */
typedef enum {
    NGX_CALLS_ZONE_RTCD = 0,                 /* RTCD tokens, rate limit */
    NGX_CALLS_ZONE_N
} ngx_calls_zone_slot_e;

typedef void *(*ngx_calls_zone_init_pt)(ngx_slab_pool_t *shpool,
    void *data);

typedef struct {
    ngx_calls_zone_init_pt    init;
    void                     *data;
} ngx_calls_zone_data_t;


/*
 * An ICE server for clients (one calls_ice_servers): its URLs, and the
 * static credentials of a TURN server, or none when TURN REST ones are
 * made per session from calls_turn_static_auth_secret.
 */
typedef struct {
    ngx_array_t              *urls;          /* ngx_str_t */
    ngx_str_t                 username;
    ngx_str_t                 credential;
    unsigned                  turn:1;        /* has turn: or turns: URLs */
} ngx_calls_ice_server_t;


typedef struct {
    ngx_str_t                 certificate;
    ngx_str_t                 certificate_key;
    struct ngx_calls_dtls_ctx_s  *dtls;
    void                     *media;         /* the calls_media server */

    /* a media UDP listen without reuseport: its workers share a socket */
    ngx_str_t                 media_shared;

    /* packets kept per video SSRC for NACK (calls_nack_buffer_size) */
    ngx_uint_t                nack_buffer_size;

    size_t                    zone_size;     /* calls_zone_size */
    ngx_uint_t                zone;          /* a module of ours needs it */
    ngx_calls_zone_data_t     zone_data[NGX_CALLS_ZONE_N];

    /*
     * The calls_media server's ICE servers, for the standalone signaling
     * (the Calls plugin hands out its own in RTCD mode)
     */
    ngx_array_t              *ice_servers;   /* ngx_calls_ice_server_t */
    ngx_str_t                 turn_secret;
    time_t                    turn_expiry;
} ngx_calls_conf_t;


/* a directive of ours was used: the calls zone will be made */
void ngx_calls_need_zone(ngx_conf_t *cf);

/* a worker's start of the core: after the event modules' (see there) */
ngx_int_t ngx_calls_init_process(ngx_cycle_t *cycle);

/*
 * The calls zone will be made, with init's state in slot (see
 * ngx_calls_dir_data()); data is of this cycle's configuration.
 */
void ngx_calls_zone_data_add(ngx_conf_t *cf, ngx_calls_zone_slot_e slot,
    ngx_calls_zone_init_pt init, void *data);


/*
 * The ICE servers a client of session id is to use, in pool, in the
 * Calls plugin's order: those with static credentials or none needed,
 * then the TURN servers without static credentials with TURN REST ones
 * (username "<expiry>:<id>", password base64(HMAC-SHA1(secret,
 * username))), as rtcd and the plugin make them for coturn's
 * use-auth-secret; without a secret these are left out.  An empty array
 * when none are configured, NULL on failure (logged).
 */
ngx_array_t *ngx_calls_ice_servers(ngx_str_t *id, ngx_pool_t *pool,
    ngx_log_t *log);


/*
 * STUN discovery (when nginx reads its configuration): for each local
 * address, the public one a STUN server sees (found), or why not (error).
 * Waits at most 5 s in all.
 */
typedef struct {
    ngx_sockaddr_t            local;
    socklen_t                 local_len;
    ngx_sockaddr_t            public;
    socklen_t                 public_len;
    unsigned                  found:1;
    const char               *error;
} ngx_calls_public_t;

ngx_int_t ngx_calls_discover(ngx_log_t *log, struct sockaddr *server,
    socklen_t server_len, ngx_calls_public_t *pub, ngx_uint_t n);

/*
 * The single entry point of media: a datagram (or TCP frame) on path,
 * arrived at arrival_us (CLOCK_REALTIME microseconds, the kernel's
 * receive timestamp; 0 when unknown).
 */
void ngx_calls_deliver(ngx_calls_path_t *path, u_char *buf, size_t len,
    uint64_t arrival_us);

/*
 * The worker whose session a STUN request names by its ufrag (it may be
 * this one), or NGX_DECLINED when it names none.
 */
ngx_int_t ngx_calls_stun_home(u_char *buf, size_t len);

/*
 * ICE-TCP: whether a connection's path passed an ICE check and belongs to
 * a live session (NGX_OK, else NGX_DECLINED); path_gone when the
 * connection closes, so that nothing sends on it any more.
 */
ngx_int_t ngx_calls_path_bound(ngx_calls_path_t *path);
void ngx_calls_path_gone(ngx_calls_path_t *path);

/* the host candidates every session advertises (a copy is kept) */
ngx_int_t ngx_calls_set_candidates(ngx_calls_candidate_t *cands,
    ngx_uint_t n);

/* the SCTP timer must run: an association exists */
void ngx_calls_sctp_timer_start(void);

ngx_int_t ngx_calls_registry_init(ngx_cycle_t *cycle);
void ngx_calls_registry_done(ngx_cycle_t *cycle);


extern ngx_module_t  ngx_calls_module;


#endif /* _NGX_CALLS_H_INCLUDED_ */
