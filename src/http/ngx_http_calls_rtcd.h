
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_HTTP_CALLS_RTCD_H_INCLUDED_
#define _NGX_HTTP_CALLS_RTCD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * ngx_http_calls_rtcd_module: rtcd's control plane, so that the Calls
 * plugin talks to nginx as to rtcd (mattermost/rtcd service/service.go):
 * the HTTP API (/version, /system, /register, /unregister, /login,
 * /calls/{id}/sessions, /metrics), its authentication, and the plugin
 * WebSocket (/ws, msgpack).
 *
 * The files:
 *   ngx_http_calls_rtcd_module.c   directives, routes, JSON, /system
 *   ngx_http_calls_rtcd_auth.c     Basic, Bearer and admin authentication,
 *                                  bcrypt in a thread pool, rate limit,
 *                                  bearer tokens (the last two in the
 *                                  calls zone, for all workers)
 *   ngx_http_calls_rtcd_store.c    the registrations, in LMDB
 *   ngx_http_calls_rtcd_ws.c       the plugin WebSocket protocol
 *   ngx_http_calls_rtcd_metrics.c  /metrics with rtcd's names
 *
 * A request that must wait (a hash in the thread pool, the rate limit)
 * is "blocked" as nginx's own thread reads are: r->main->blocked keeps it
 * alive, and when the wait ends the continuation in ctx->next runs, unless
 * the request was terminated meanwhile.
 */


/* the rtcd release whose API this is (>= v1.1.0: clients lock over DC) */
#define NGX_HTTP_CALLS_RTCD_VERSION      "v1.2.6"

#define NGX_HTTP_CALLS_RTCD_MIN_KEY      32       /* auth.MinKeyLen */
#define NGX_HTTP_CALLS_RTCD_TOKEN_LEN    32
#define NGX_HTTP_CALLS_RTCD_MAX_CLIENT   64       /* NGX_CALLS_MAX_ID */
#define NGX_HTTP_CALLS_RTCD_MAX_KEY      1024
#define NGX_HTTP_CALLS_RTCD_MAX_HASH     128
#define NGX_HTTP_CALLS_RTCD_MAX_BODY     16384
#define NGX_HTTP_CALLS_RTCD_ID_LEN       26

/* rtcd waits up to 10 s for the rate limiter (auth.authTimeout) */
#define NGX_HTTP_CALLS_RTCD_AUTH_WAIT    10000
/* auth.authRequestsPerSecondPerCPU */
#define NGX_HTTP_CALLS_RTCD_AUTH_RATE    12

/* bearer tokens kept at most (one per client); rtcd has no bound */
#define NGX_HTTP_CALLS_RTCD_MAX_TOKENS   4096


typedef struct ngx_http_calls_rtcd_ctx_s  ngx_http_calls_rtcd_ctx_t;
typedef struct ngx_http_calls_rtcd_job_s  ngx_http_calls_rtcd_job_t;

typedef void (*ngx_http_calls_rtcd_next_pt)(ngx_http_calls_rtcd_ctx_t *ctx);


typedef struct {
    ngx_flag_t                    enabled;       /* a calls_rtcd location */
    ngx_str_t                     store;
    ngx_flag_t                    self_registration;
    ngx_str_t                     admin_secret;  /* empty: no admin */
    u_char                        admin_digest[32];
    time_t                        token_expiry;
    ngx_int_t                     max_tokens;
    ngx_int_t                     auth_rate;     /* hashes per second */
    ngx_str_t                     thread_pool_name;
#if (NGX_THREADS)
    ngx_thread_pool_t            *thread_pool;
#endif
} ngx_http_calls_rtcd_main_conf_t;


/* what a thread of the pool does for a request */
typedef enum {
    NGX_HTTP_CALLS_RTCD_JOB_VERIFY = 1,     /* bcrypt compare */
    NGX_HTTP_CALLS_RTCD_JOB_REGISTER,       /* bcrypt hash, store put */
    NGX_HTTP_CALLS_RTCD_JOB_DELETE          /* store delete */
} ngx_http_calls_rtcd_job_e;


struct ngx_http_calls_rtcd_ctx_s {
    ngx_http_request_t           *request;
    ngx_http_calls_rtcd_next_pt   next;         /* after a wait */
    ngx_event_t                   wait;         /* the rate limit */
    ngx_http_calls_rtcd_job_t    *job;
#if (NGX_THREADS)
    ngx_thread_task_t            *task;
#endif
    ngx_http_calls_rtcd_next_pt   job_done;

    /* the authentication: status 200 or 401, and why not */
    ngx_uint_t                    auth_status;
    ngx_str_t                     auth_error;
    ngx_str_t                     client_id;    /* empty: admin */
    ngx_http_calls_rtcd_next_pt   auth_done;

    /* a key check on its way: for Basic auth or /login */
    ngx_str_t                     check_id;
    ngx_str_t                     check_key;
    ngx_int_t                     check_rc;     /* NGX_OK, NGX_DECLINED */
    ngx_str_t                     check_error;  /* rtcd's Authenticate() */
    ngx_http_calls_rtcd_next_pt   check_done;

    /* the JSON body of POST routes: {"clientID":..,"authKey":..} */
    ngx_str_t                     body_error;   /* decoding failed */
    ngx_str_t                     body_client_id;
    ngx_str_t                     body_auth_key;

    ngx_uint_t                    route;
    unsigned                      waiting:1;
};


/* the module */

ngx_int_t ngx_http_calls_rtcd_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *keys, ngx_str_t *values, ngx_uint_t n);
ngx_int_t ngx_http_calls_rtcd_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *text);
u_char *ngx_http_calls_rtcd_json_string(u_char *p, ngx_str_t *s);
size_t ngx_http_calls_rtcd_json_len(ngx_str_t *s);
u_char *ngx_http_calls_rtcd_float(u_char *p, double v);
void ngx_http_calls_rtcd_random(u_char *p, size_t len, const char *alphabet);
ngx_int_t ngx_http_calls_rtcd_valid_id(ngx_str_t *id);
void ngx_http_calls_rtcd_finish(ngx_http_calls_rtcd_ctx_t *ctx, ngx_int_t rc);
void ngx_http_calls_rtcd_block(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_http_calls_rtcd_next_pt next);
void ngx_http_calls_rtcd_unblock(ngx_http_calls_rtcd_ctx_t *ctx);
double ngx_http_calls_rtcd_cpu_load(void);

extern const char  ngx_http_calls_rtcd_id_alphabet[];
extern const char  ngx_http_calls_rtcd_base64url[];


/* authentication */

/*
 * rtcd's authHandler: Bearer, else Basic (admin or a registered client).
 * Sets ctx->auth_status, auth_error and client_id, then calls done.
 */
void ngx_http_calls_rtcd_authenticate(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_http_calls_rtcd_next_pt done);

/*
 * rtcd's auth.Service.Authenticate(id, key): sets ctx->check_rc and
 * check_error ("authentication failed: error: not found" ...).
 */
void ngx_http_calls_rtcd_check_key(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_str_t *id, ngx_str_t *key, ngx_http_calls_rtcd_next_pt done);

/*
 * A job in the thread pool, after the rate limit for hashing jobs.
 * done runs with ctx->job->rc and err set.
 */
struct ngx_http_calls_rtcd_job_s {
    ngx_http_calls_rtcd_job_e     op;
    u_char                        client_id[NGX_HTTP_CALLS_RTCD_MAX_CLIENT
                                            + 1];
    u_char                        key[NGX_HTTP_CALLS_RTCD_MAX_KEY + 1];
    u_char                        hash[NGX_HTTP_CALLS_RTCD_MAX_HASH];
    u_char                        salt[16];
    ngx_int_t                     rc;       /* NGX_OK, NGX_DECLINED */
    char                          err[128];
    void                         *crypt;    /* struct crypt_data */
};

ngx_int_t ngx_http_calls_rtcd_job(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_http_calls_rtcd_job_e op, ngx_str_t *id, ngx_str_t *key,
    ngx_str_t *hash, ngx_http_calls_rtcd_next_pt done, ngx_str_t *err);

/* a new token for the client (its last one ends); NGX_ERROR: logged */
ngx_int_t ngx_http_calls_rtcd_login(ngx_str_t *client_id, ngx_str_t *token,
    ngx_log_t *log);
void ngx_http_calls_rtcd_logout(ngx_str_t *client_id);

/* the tokens and the limiter in a new calls zone: data is the main conf */
void *ngx_http_calls_rtcd_auth_zone(ngx_slab_pool_t *shpool, void *data);
ngx_int_t ngx_http_calls_rtcd_auth_init(ngx_cycle_t *cycle);
void ngx_http_calls_rtcd_auth_done(void);


/* the store of registrations: client ID -> bcrypt hash of its key */

ngx_int_t ngx_http_calls_rtcd_store_init(ngx_cycle_t *cycle,
    ngx_str_t *path);
ngx_int_t ngx_http_calls_rtcd_store_path(ngx_conf_t *cf, ngx_str_t *path);
void ngx_http_calls_rtcd_store_done(void);

/* NGX_OK and the hash, NGX_DECLINED: not found, NGX_ERROR: err */
ngx_int_t ngx_http_calls_rtcd_store_get(ngx_str_t *id, u_char *hash,
    size_t size, size_t *len, char *err, size_t errlen);

/* in a thread: NGX_DECLINED if id exists (put) or does not (delete) */
ngx_int_t ngx_http_calls_rtcd_store_put(u_char *id, u_char *hash, char *err,
    size_t errlen);
ngx_int_t ngx_http_calls_rtcd_store_delete(u_char *id, char *err,
    size_t errlen);


/* the plugin WebSocket and the metrics */

void ngx_http_calls_rtcd_ws(ngx_http_calls_rtcd_ctx_t *ctx);
ngx_int_t ngx_http_calls_rtcd_metrics(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_calls_rtcd_module;


#endif /* _NGX_HTTP_CALLS_RTCD_H_INCLUDED_ */
