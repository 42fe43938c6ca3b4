
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
 * Creates the session (and the call, on its first join).  On NGX_OK
 * j->call_id and j->session_id hold the ids (allocated from pool when
 * generated).  NGX_DECLINED: refused, err says why (for the client).
 * NGX_ERROR: internal failure, logged.
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

/* lists the sessions of a call (for a joiner's participant list) */
#define NGX_CALLS_MEMBER_UNMUTED  0x01
#define NGX_CALLS_MEMBER_SCREEN   0x02       /* shares its screen */
#define NGX_CALLS_MEMBER_VIDEO    0x04       /* its camera is on */

typedef void (*ngx_calls_member_pt)(void *data, ngx_str_t *session_id,
    ngx_str_t *user_id, ngx_uint_t flags);
ngx_int_t ngx_calls_members(ngx_str_t *group, ngx_str_t *call_id,
    ngx_calls_member_pt handler, void *data);

/*
 * RTCD mode.  adopt: the sessions of ep's group whose connection is gone
 * now report to ep (a plugin connection came back); returns how many.
 * session_group: the group of a live session, NGX_DECLINED if none.
 */
ngx_uint_t ngx_calls_endpoint_adopt(ngx_calls_endpoint_t *ep);
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

/* media counters of this process, NGX_CALLS_CNT_N slots */
uint64_t *ngx_calls_counters(void);

/* the calls and sessions of this process */
void ngx_calls_load(ngx_uint_t *calls, ngx_uint_t *sessions);


/*
 * For the media listeners (the stream module).  A listener is the
 * transport of the paths it receives on: the engine sends through it.
 */

typedef struct ngx_calls_listener_s  ngx_calls_listener_t;

struct ngx_calls_listener_s {
    ngx_int_t               (*send)(ngx_calls_listener_t *l,
                                    ngx_calls_path_t *path, u_char *buf,
                                    size_t len);
    ngx_connection_t         *connection;
    void                     *data;
};


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

    /* packets kept per video SSRC for NACK (calls_nack_buffer_size) */
    ngx_uint_t                nack_buffer_size;

    /*
     * The calls_media server's ICE servers, for the standalone signaling
     * (the Calls plugin hands out its own in RTCD mode)
     */
    ngx_array_t              *ice_servers;   /* ngx_calls_ice_server_t */
    ngx_str_t                 turn_secret;
    time_t                    turn_expiry;
} ngx_calls_conf_t;


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

/* the host candidates every session advertises (a copy is kept) */
ngx_int_t ngx_calls_set_candidates(ngx_calls_candidate_t *cands,
    ngx_uint_t n);

/* the SCTP timer must run: an association exists */
void ngx_calls_sctp_timer_start(void);

ngx_int_t ngx_calls_registry_init(ngx_cycle_t *cycle);
void ngx_calls_registry_done(ngx_cycle_t *cycle);


extern ngx_module_t  ngx_calls_module;


#endif /* _NGX_CALLS_H_INCLUDED_ */
