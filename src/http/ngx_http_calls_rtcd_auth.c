
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * rtcd's authentication (service/auth.go and service/auth/):
 *
 *   - "Authorization: Bearer <token>", a token from POST /login, valid
 *     for calls_rtcd_token_expiry, one per client;
 *   - "Authorization: Basic base64(clientID:authKey)": the admin when the
 *     key is the admin secret, else a registered client whose key matches
 *     its bcrypt hash in the store.
 *
 * bcrypt (cost 10, tens of milliseconds of CPU) runs in the thread pool,
 * never in the event loop, after a rate limit as rtcd's: 12 hashes per
 * second per CPU, burst 1, and a request that would wait more than 10 s
 * fails.  Secrets are compared in constant time: the admin secret and
 * bearer tokens as SHA-256 digests, keys by crypt_r() and CRYPTO_memcmp().
 *
 * The limiter and the tokens are in the calls zone, under its mutex, so
 * that every worker sees the same: a token from any worker is good on
 * all, and the rate is the whole server's, as rtcd's single process
 * has it.  The zone is made anew for each cycle: tokens do not survive
 * a reload (nor a restart, nor does rtcd keep them across one), and the
 * plugin logs in again or, as it does, authenticates with Basic.
 * Tokens are bounded: each expires, a client has one, and past
 * calls_rtcd_max_tokens the oldest goes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ngx_calls.h"
#include "ngx_calls_directory.h"
#include "ngx_http_calls_rtcd.h"


#define NGX_HTTP_CALLS_RTCD_BCRYPT_COST  10     /* bcrypt.DefaultCost */


typedef struct {
    ngx_rbtree_node_t           node;          /* key: digest bytes 0-3 */
    ngx_queue_t                 queue;
    u_char                      digest[SHA256_DIGEST_LENGTH];
    ngx_msec_t                  expires;
    size_t                      len;
    u_char                      client_id[1];
} ngx_http_calls_rtcd_token_t;


/* in the calls zone */
typedef struct {
    ngx_rbtree_t                tokens;
    ngx_rbtree_node_t           sentinel;

    /*
     * oldest first: the expiry is the same for all tokens of a cycle,
     * so this is also the order in which they expire
     */
    ngx_queue_t                 queue;
    ngx_uint_t                  ntokens;
    ngx_uint_t                  max_tokens;
    ngx_msec_t                  expiry;

    /* the limiter: when its next hash may start, ms; ms per hash */
    double                      next;
    double                      interval;
} ngx_http_calls_rtcd_auth_sh_t;


/* a worker's view of it */
typedef struct {
    ngx_slab_pool_t                *shpool;
    ngx_http_calls_rtcd_auth_sh_t  *sh;
} ngx_http_calls_rtcd_auth_t;


static void ngx_http_calls_rtcd_basic(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_str_t *header);
static void ngx_http_calls_rtcd_bearer(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_str_t *header);
static void ngx_http_calls_rtcd_basic_checked(ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_key_checked(ngx_http_calls_rtcd_ctx_t *ctx);
static ngx_int_t ngx_http_calls_rtcd_limit(ngx_msec_t *wait);
static void ngx_http_calls_rtcd_wait_handler(ngx_event_t *ev);
static void ngx_http_calls_rtcd_post(ngx_http_calls_rtcd_ctx_t *ctx);
#if (NGX_THREADS)
static void ngx_http_calls_rtcd_thread(void *data, ngx_log_t *log);
static void ngx_http_calls_rtcd_thread_done(ngx_event_t *ev);
#endif
static void ngx_http_calls_rtcd_token_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_calls_rtcd_token_t *ngx_http_calls_rtcd_token_find(
    u_char *digest);
static void ngx_http_calls_rtcd_token_drop(ngx_str_t *client_id);
static void ngx_http_calls_rtcd_token_free(ngx_http_calls_rtcd_token_t *t);


static ngx_http_calls_rtcd_auth_t  ngx_http_calls_rtcd_auth;


/* in the master, when the cycle's calls zone is made */

void *
ngx_http_calls_rtcd_auth_zone(ngx_slab_pool_t *shpool, void *data)
{
    ngx_http_calls_rtcd_main_conf_t *rmcf = data;

    ngx_http_calls_rtcd_auth_sh_t  *sh;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_calls_rtcd_auth_sh_t));
    if (sh == NULL) {
        return NULL;
    }

    ngx_rbtree_init(&sh->tokens, &sh->sentinel,
                    ngx_http_calls_rtcd_token_insert);
    ngx_queue_init(&sh->queue);

    sh->max_tokens = rmcf->max_tokens;
    sh->expiry = (ngx_msec_t) rmcf->token_expiry * 1000;
    sh->interval = 1000.0 / (double) rmcf->auth_rate;
    sh->next = 0;

    return sh;
}


ngx_int_t
ngx_http_calls_rtcd_auth_init(ngx_cycle_t *cycle)
{
    ngx_http_calls_rtcd_auth_t  *a;

    a = &ngx_http_calls_rtcd_auth;

    a->shpool = ngx_calls_dir_pool();
    a->sh = ngx_calls_dir_data(NGX_CALLS_ZONE_RTCD);

    if (a->shpool == NULL || a->sh == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "calls rtcd: no tokens in the calls zone");
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_calls_rtcd_auth_done(void)
{
    /* the tokens are the zone's: they go with it, not with a worker */

    ngx_http_calls_rtcd_auth.shpool = NULL;
    ngx_http_calls_rtcd_auth.sh = NULL;
}


/* rtcd's authHandler */

void
ngx_http_calls_rtcd_authenticate(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_http_calls_rtcd_next_pt done)
{
    ngx_str_t            header;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = ctx->request;

    ctx->auth_done = done;
    ctx->auth_status = NGX_HTTP_UNAUTHORIZED;
    ngx_str_set(&ctx->client_id, "");

    h = r->headers_in.authorization;

    if (h) {
        header = h->value;

    } else {
        ngx_str_set(&header, "");
    }

    /* rtcd looks for "Bearer " as it is, then parses it in any case */

    if (header.len >= sizeof("Bearer ") - 1
        && ngx_strncmp(header.data, "Bearer ", sizeof("Bearer ") - 1) == 0)
    {
        ngx_http_calls_rtcd_bearer(ctx, &header);
        return;
    }

    ngx_http_calls_rtcd_basic(ctx, &header);
}


static void
ngx_http_calls_rtcd_bearer(ngx_http_calls_rtcd_ctx_t *ctx, ngx_str_t *header)
{
    u_char                        digest[SHA256_DIGEST_LENGTH];
    u_char                        id[NGX_HTTP_CALLS_RTCD_MAX_CLIENT];
    size_t                        len;
    ngx_int_t                     rc;
    ngx_http_calls_rtcd_auth_t   *a;
    ngx_http_calls_rtcd_token_t  *t;

    a = &ngx_http_calls_rtcd_auth;

    SHA256(header->data + sizeof("Bearer ") - 1,
           header->len - (sizeof("Bearer ") - 1), digest);

    if (a->sh == NULL) {
        ngx_str_set(&ctx->auth_error, "authentication failed: token is "
                    "invalid");
        ctx->auth_done(ctx);
        return;
    }

    len = 0;

    ngx_shmtx_lock(&a->shpool->mutex);

    t = ngx_http_calls_rtcd_token_find(digest);

    if (t == NULL) {
        rc = NGX_DECLINED;

    } else if ((ngx_msec_int_t) (ngx_current_msec - t->expires) >= 0) {
        ngx_http_calls_rtcd_token_free(t);
        rc = NGX_ABORT;

    } else {
        /* the token may go once the lock is released: its ID is copied */
        len = t->len;
        ngx_memcpy(id, t->client_id, len);
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&a->shpool->mutex);

    if (rc == NGX_DECLINED) {
        ngx_str_set(&ctx->auth_error, "authentication failed: token is "
                    "invalid");

    } else if (rc == NGX_ABORT) {
        ngx_str_set(&ctx->auth_error, "authentication failed: session is "
                    "expired");

    } else {
        ctx->client_id.data = ngx_pnalloc(ctx->request->pool, len);
        if (ctx->client_id.data == NULL) {
            ngx_str_set(&ctx->client_id, "");
            ngx_str_set(&ctx->auth_error, "authentication failed: out of "
                        "memory");

        } else {
            ngx_memcpy(ctx->client_id.data, id, len);
            ctx->client_id.len = len;
            ctx->auth_status = NGX_HTTP_OK;
        }
    }

    ctx->auth_done(ctx);
}


/* Go's Request.BasicAuth(), then the admin secret or the store */

static void
ngx_http_calls_rtcd_basic(ngx_http_calls_rtcd_ctx_t *ctx, ngx_str_t *header)
{
    u_char                           *colon;
    u_char                            digest[SHA256_DIGEST_LENGTH];
    ngx_str_t                         src, dst;
    ngx_http_request_t               *r;
    ngx_http_calls_rtcd_main_conf_t  *rmcf;

    r = ctx->request;

    if (header->len < sizeof("Basic ") - 1
        || ngx_strncasecmp(header->data, (u_char *) "Basic ",
                           sizeof("Basic ") - 1) != 0)
    {
        goto invalid;
    }

    src.data = header->data + sizeof("Basic ") - 1;
    src.len = header->len - (sizeof("Basic ") - 1);

    /* standard base64 with its padding, as base64.StdEncoding */

    if (src.len % 4) {
        goto invalid;
    }

    dst.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(src.len) + 1);
    if (dst.data == NULL) {
        ngx_str_set(&ctx->auth_error, "authentication failed: out of "
                    "memory");
        ctx->auth_done(ctx);
        return;
    }

    if (ngx_decode_base64(&dst, &src) != NGX_OK) {
        goto invalid;
    }

    colon = ngx_strlchr(dst.data, dst.data + dst.len, ':');
    if (colon == NULL) {
        goto invalid;
    }

    ctx->check_id.data = dst.data;
    ctx->check_id.len = colon - dst.data;
    ctx->check_key.data = colon + 1;
    ctx->check_key.len = dst.data + dst.len - (colon + 1);

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_calls_rtcd_module);

    if (rmcf->admin_secret.len) {
        SHA256(ctx->check_key.data, ctx->check_key.len, digest);

        if (CRYPTO_memcmp(digest, rmcf->admin_digest, sizeof(digest)) == 0) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "calls rtcd: admin authenticated");
            ctx->auth_status = NGX_HTTP_OK;
            ctx->auth_done(ctx);
            return;
        }
    }

    if (ctx->check_id.len == 0) {
        ngx_str_set(&ctx->auth_error, "authentication failed: unauthorized");
        ctx->auth_done(ctx);
        return;
    }

    ngx_http_calls_rtcd_check_key(ctx, &ctx->check_id, &ctx->check_key,
                                  ngx_http_calls_rtcd_basic_checked);
    return;

invalid:

    ngx_str_set(&ctx->auth_error,
                "authentication failed: invalid auth header");
    ctx->auth_done(ctx);
}


static void
ngx_http_calls_rtcd_basic_checked(ngx_http_calls_rtcd_ctx_t *ctx)
{
    if (ctx->check_rc == NGX_OK) {
        ctx->client_id = ctx->check_id;
        ctx->auth_status = NGX_HTTP_OK;

    } else if (ngx_http_calls_rtcd_valid_id(&ctx->check_id) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "calls rtcd: authentication of a client ID of %uz "
                      "bytes, not all printable, failed", ctx->check_id.len);

        ngx_str_set(&ctx->auth_error, "authentication failed");

    } else {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "calls rtcd: authentication of client \"%V\" failed: "
                      "%V", &ctx->check_id, &ctx->check_error);

        ngx_str_set(&ctx->auth_error, "authentication failed");
    }

    ctx->auth_done(ctx);
}


/* auth.Service.Authenticate(): the stored hash, the limit, bcrypt */

void
ngx_http_calls_rtcd_check_key(ngx_http_calls_rtcd_ctx_t *ctx, ngx_str_t *id,
    ngx_str_t *key, ngx_http_calls_rtcd_next_pt done)
{
    char       err[128];
    u_char     hash[NGX_HTTP_CALLS_RTCD_MAX_HASH], *p;
    size_t     len;
    ngx_int_t  rc;
    ngx_str_t  stored, reason;

    ctx->check_done = done;
    ctx->check_rc = NGX_DECLINED;

    if (id->len == 0) {
        ngx_str_set(&ctx->check_error,
                    "authentication failed: error: empty key");
        done(ctx);
        return;
    }

    /* an ID no registration can have is in no store (nor key limit) */

    if (ngx_http_calls_rtcd_valid_id(id) != NGX_OK) {
        ngx_str_set(&ctx->check_error,
                    "authentication failed: error: not found");
        done(ctx);
        return;
    }

    rc = ngx_http_calls_rtcd_store_get(id, hash, sizeof(hash), &len, err,
                                       sizeof(err));

    if (rc == NGX_DECLINED) {
        ngx_str_set(&ctx->check_error,
                    "authentication failed: error: not found");
        done(ctx);
        return;
    }

    if (rc != NGX_OK) {
        p = ngx_pnalloc(ctx->request->pool, 256);
        if (p == NULL) {
            ngx_str_set(&ctx->check_error, "authentication failed");

        } else {
            ctx->check_error.data = p;
            ctx->check_error.len = ngx_snprintf(p, 256, "authentication "
                                                "failed: %s", err) - p;
        }

        done(ctx);
        return;
    }

    /* bcrypt of an empty key is refused (compareKeyHash) */

    if (key->len == 0 || key->len > NGX_HTTP_CALLS_RTCD_MAX_KEY) {
        ngx_str_set(&ctx->check_error, "authentication failed");
        done(ctx);
        return;
    }

    stored.data = hash;
    stored.len = len;

    if (ngx_http_calls_rtcd_job(ctx, NGX_HTTP_CALLS_RTCD_JOB_VERIFY, id, key,
                                &stored, ngx_http_calls_rtcd_key_checked,
                                &reason)
        != NGX_OK)
    {
        p = ngx_pnalloc(ctx->request->pool, 256);
        if (p == NULL) {
            ngx_str_set(&ctx->check_error, "authentication failed");

        } else {
            ctx->check_error.data = p;
            ctx->check_error.len = ngx_snprintf(p, 256, "authentication "
                                                "failed: %V", &reason) - p;
        }

        done(ctx);
    }
}


static void
ngx_http_calls_rtcd_key_checked(ngx_http_calls_rtcd_ctx_t *ctx)
{
    if (ctx->job->rc == NGX_OK) {
        ctx->check_rc = NGX_OK;

    } else {
        if (ctx->job->rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                          "calls rtcd: checking the key of \"%V\" failed: "
                          "%s", &ctx->check_id, ctx->job->err);
        }

        ngx_str_set(&ctx->check_error, "authentication failed");
    }

    ctx->check_done(ctx);
}


/*
 * A job for the thread pool.  Hashing waits for the limiter first;
 * NGX_DECLINED with err when the wait would be longer than rtcd's.
 * Otherwise done runs later (or now, if the job could not be posted),
 * with ctx->job->rc.
 */

ngx_int_t
ngx_http_calls_rtcd_job(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_http_calls_rtcd_job_e op, ngx_str_t *id, ngx_str_t *key,
    ngx_str_t *hash, ngx_http_calls_rtcd_next_pt done, ngx_str_t *err)
{
#if (NGX_THREADS)
    ngx_msec_t                  wait;
    ngx_thread_task_t          *task;
    ngx_http_request_t         *r;
    ngx_http_calls_rtcd_job_t  *job;

    r = ctx->request;

    task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_calls_rtcd_job_t));
    if (task == NULL) {
        ngx_str_set(err, "out of memory");
        return NGX_DECLINED;
    }

    job = task->ctx;
    ctx->job = job;
    ctx->task = task;
    ctx->job_done = done;

    job->op = op;
    job->rc = NGX_ERROR;

    if (id->len > NGX_HTTP_CALLS_RTCD_MAX_CLIENT
        || (key && key->len > NGX_HTTP_CALLS_RTCD_MAX_KEY)
        || (hash && hash->len >= NGX_HTTP_CALLS_RTCD_MAX_HASH))
    {
        ngx_str_set(err, "too long");
        return NGX_DECLINED;
    }

    *ngx_cpymem(job->client_id, id->data, id->len) = '\0';

    if (key) {
        *ngx_cpymem(job->key, key->data, key->len) = '\0';
    }

    if (hash) {
        *ngx_cpymem(job->hash, hash->data, hash->len) = '\0';
    }

    if (op == NGX_HTTP_CALLS_RTCD_JOB_DELETE) {
        ngx_http_calls_rtcd_post(ctx);
        return NGX_OK;
    }

    /* crypt_r() wants its work area zeroed before the first use */

    job->crypt = ngx_pcalloc(r->pool, sizeof(struct crypt_data));
    if (job->crypt == NULL) {
        ngx_str_set(err, "out of memory");
        return NGX_DECLINED;
    }

    if (op == NGX_HTTP_CALLS_RTCD_JOB_REGISTER) {
        ngx_http_calls_rtcd_random(job->salt, sizeof(job->salt),
                                   ngx_http_calls_rtcd_base64url);
    }

    if (ngx_http_calls_rtcd_limit(&wait) != NGX_OK) {
        ngx_str_set(err, "rate: Wait(n=1) would exceed context deadline");
        return NGX_DECLINED;
    }

    if (wait == 0) {
        ngx_http_calls_rtcd_post(ctx);
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "calls rtcd: hash rate limit, waiting %M ms", wait);

    ngx_http_calls_rtcd_block(ctx, ngx_http_calls_rtcd_post);

    ctx->wait.handler = ngx_http_calls_rtcd_wait_handler;
    ngx_add_timer(&ctx->wait, wait);

    return NGX_OK;

#else

    ngx_str_set(err, "no thread pool");
    return NGX_DECLINED;

#endif
}


/*
 * rtcd's rate.Limiter(12 * NumCPU, 1) with a 10 s deadline, one for all
 * workers: each takes its turn from the zone
 */

static ngx_int_t
ngx_http_calls_rtcd_limit(ngx_msec_t *wait)
{
    double                          now, delay;
    ngx_int_t                       rc;
    ngx_http_calls_rtcd_auth_t     *a;
    ngx_http_calls_rtcd_auth_sh_t  *sh;

    a = &ngx_http_calls_rtcd_auth;
    sh = a->sh;

    if (sh == NULL) {
        return NGX_DECLINED;
    }

    /* the monotonic clock of every worker is the system's */
    now = (double) ngx_current_msec;

    ngx_shmtx_lock(&a->shpool->mutex);

    if (sh->next <= now) {
        sh->next = now + sh->interval;
        *wait = 0;
        rc = NGX_OK;

    } else {
        delay = sh->next - now;

        if (delay > NGX_HTTP_CALLS_RTCD_AUTH_WAIT) {
            rc = NGX_DECLINED;

        } else {
            sh->next += sh->interval;
            *wait = (ngx_msec_t) delay + 1;
            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&a->shpool->mutex);

    return rc;
}


static void
ngx_http_calls_rtcd_wait_handler(ngx_event_t *ev)
{
    ngx_http_calls_rtcd_unblock(ev->data);
}


static void
ngx_http_calls_rtcd_post(ngx_http_calls_rtcd_ctx_t *ctx)
{
#if (NGX_THREADS)
    ngx_thread_task_t                *task;
    ngx_http_calls_rtcd_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(ctx->request,
                                         ngx_http_calls_rtcd_module);

    task = ctx->task;

    task->handler = ngx_http_calls_rtcd_thread;
    task->event.handler = ngx_http_calls_rtcd_thread_done;
    task->event.data = ctx;

    if (ngx_thread_task_post(rmcf->thread_pool, task) != NGX_OK) {
        /* the pool logged why (its queue is full) */
        ctx->job->rc = NGX_ERROR;
        ngx_cpystrn((u_char *) ctx->job->err,
                    (u_char *) "the thread pool refused the task",
                    sizeof(ctx->job->err));
        ctx->job_done(ctx);
        return;
    }

    ngx_http_calls_rtcd_block(ctx, ctx->job_done);
#endif
}


#if (NGX_THREADS)

/* in a thread of the pool: no pools, no logging, the job only */

static void
ngx_http_calls_rtcd_thread(void *data, ngx_log_t *log)
{
    ngx_http_calls_rtcd_job_t *job = data;

    char                *out;
    char                 setting[CRYPT_GENSALT_OUTPUT_SIZE];
    size_t               len;
    struct crypt_data   *cd;

    cd = job->crypt;

    switch (job->op) {

    case NGX_HTTP_CALLS_RTCD_JOB_VERIFY:

        out = crypt_r((char *) job->key, (char *) job->hash, cd);

        if (out == NULL || out[0] == '*') {
            job->rc = NGX_ERROR;
            ngx_cpystrn((u_char *) job->err,
                        (u_char *) "the stored hash is not a valid bcrypt "
                        "hash", sizeof(job->err));
            break;
        }

        len = ngx_strlen(job->hash);

        job->rc = (ngx_strlen(out) == len
                   && CRYPTO_memcmp(out, job->hash, len) == 0)
                  ? NGX_OK : NGX_DECLINED;
        break;

    case NGX_HTTP_CALLS_RTCD_JOB_REGISTER:

        if (crypt_gensalt_rn("$2b$", NGX_HTTP_CALLS_RTCD_BCRYPT_COST,
                             (char *) job->salt, sizeof(job->salt), setting,
                             sizeof(setting))
            == NULL)
        {
            job->rc = NGX_ERROR;
            ngx_cpystrn((u_char *) job->err,
                        (u_char *) "crypt_gensalt_rn() failed",
                        sizeof(job->err));
            break;
        }

        out = crypt_r((char *) job->key, setting, cd);

        if (out == NULL || out[0] == '*'
            || ngx_strlen(out) >= NGX_HTTP_CALLS_RTCD_MAX_HASH)
        {
            job->rc = NGX_ERROR;
            ngx_cpystrn((u_char *) job->err, (u_char *) "crypt_r() failed",
                        sizeof(job->err));
            break;
        }

        ngx_cpystrn(job->hash, (u_char *) out, NGX_HTTP_CALLS_RTCD_MAX_HASH);

        job->rc = ngx_http_calls_rtcd_store_put(job->client_id, job->hash,
                                                job->err, sizeof(job->err));
        break;

    default: /* NGX_HTTP_CALLS_RTCD_JOB_DELETE */

        job->rc = ngx_http_calls_rtcd_store_delete(job->client_id, job->err,
                                                   sizeof(job->err));
        break;
    }

    /* the key stays no longer than needed */

    ngx_explicit_memzero(job->key, sizeof(job->key));

    if (cd) {
        ngx_explicit_memzero(cd, sizeof(struct crypt_data));
    }
}


static void
ngx_http_calls_rtcd_thread_done(ngx_event_t *ev)
{
    ngx_http_calls_rtcd_unblock(ev->data);
}

#endif


/* bearer tokens */

ngx_int_t
ngx_http_calls_rtcd_login(ngx_str_t *client_id, ngx_str_t *token,
    ngx_log_t *log)
{
    u_char                          evicted[NGX_HTTP_CALLS_RTCD_MAX_CLIENT];
    u_char                          digest[SHA256_DIGEST_LENGTH];
    size_t                          evicted_len;
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_calls_rtcd_auth_t     *a;
    ngx_http_calls_rtcd_token_t    *t, *old;
    ngx_http_calls_rtcd_auth_sh_t  *sh;

    a = &ngx_http_calls_rtcd_auth;
    sh = a->sh;

    if (sh == NULL || client_id->len == 0
        || client_id->len > NGX_HTTP_CALLS_RTCD_MAX_CLIENT)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "calls rtcd: a token for a client ID of %uz bytes",
                      client_id->len);
        return NGX_ERROR;
    }

    /* 32 characters of base64url: 192 random bits */

    ngx_http_calls_rtcd_random(token->data, NGX_HTTP_CALLS_RTCD_TOKEN_LEN,
                               ngx_http_calls_rtcd_base64url);
    token->len = NGX_HTTP_CALLS_RTCD_TOKEN_LEN;

    SHA256(token->data, token->len, digest);

    evicted_len = 0;

    ngx_shmtx_lock(&a->shpool->mutex);

    /* one token per client: a new login ends the last one */

    ngx_http_calls_rtcd_token_drop(client_id);

    if (sh->ntokens >= sh->max_tokens) {
        q = ngx_queue_head(&sh->queue);
        old = ngx_queue_data(q, ngx_http_calls_rtcd_token_t, queue);

        evicted_len = old->len;
        ngx_memcpy(evicted, old->client_id, old->len);

        ngx_http_calls_rtcd_token_free(old);
    }

    t = ngx_slab_alloc_locked(a->shpool,
                              offsetof(ngx_http_calls_rtcd_token_t, client_id)
                              + client_id->len);

    if (t) {
        ngx_memcpy(t->digest, digest, sizeof(digest));
        ngx_memcpy(t->client_id, client_id->data, client_id->len);
        t->len = client_id->len;

        t->expires = ngx_current_msec + sh->expiry;
        t->node.key = ((ngx_rbtree_key_t) digest[0] << 24)
                      | (digest[1] << 16) | (digest[2] << 8) | digest[3];

        ngx_rbtree_insert(&sh->tokens, &t->node);
        ngx_queue_insert_tail(&sh->queue, &t->queue);
        sh->ntokens++;
    }

    n = sh->ntokens;

    ngx_shmtx_unlock(&a->shpool->mutex);

    ngx_explicit_memzero(digest, sizeof(digest));

    if (evicted_len) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "calls rtcd: %ui bearer tokens (calls_rtcd_max_tokens),"
                      " the oldest, of client \"%*s\", is dropped",
                      sh->max_tokens, evicted_len, evicted);
    }

    if (t == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "calls rtcd: no room for the bearer token of client "
                      "\"%V\" in the calls zone, which holds %ui tokens "
                      "and the calls: calls_zone_size is too small",
                      client_id, n);
        ngx_explicit_memzero(token->data, token->len);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_calls_rtcd_logout(ngx_str_t *client_id)
{
    ngx_http_calls_rtcd_auth_t  *a;

    a = &ngx_http_calls_rtcd_auth;

    if (a->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&a->shpool->mutex);
    ngx_http_calls_rtcd_token_drop(client_id);
    ngx_shmtx_unlock(&a->shpool->mutex);
}


/* under the zone's mutex from here on */

/* the client's token and, as rtcd scans its map too, expired ones */

static void
ngx_http_calls_rtcd_token_drop(ngx_str_t *client_id)
{
    ngx_queue_t                    *q, *next;
    ngx_http_calls_rtcd_token_t    *t;
    ngx_http_calls_rtcd_auth_sh_t  *sh;

    sh = ngx_http_calls_rtcd_auth.sh;

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue);
         q = next)
    {
        next = ngx_queue_next(q);
        t = ngx_queue_data(q, ngx_http_calls_rtcd_token_t, queue);

        if ((t->len == client_id->len
             && ngx_strncmp(t->client_id, client_id->data, t->len) == 0)
            || (ngx_msec_int_t) (ngx_current_msec - t->expires) >= 0)
        {
            ngx_http_calls_rtcd_token_free(t);
        }
    }
}


static ngx_http_calls_rtcd_token_t *
ngx_http_calls_rtcd_token_find(u_char *digest)
{
    ngx_rbtree_key_t              key;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_http_calls_rtcd_token_t  *t;

    key = ((ngx_rbtree_key_t) digest[0] << 24) | (digest[1] << 16)
          | (digest[2] << 8) | digest[3];

    node = ngx_http_calls_rtcd_auth.sh->tokens.root;
    sentinel = ngx_http_calls_rtcd_auth.sh->tokens.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        t = (ngx_http_calls_rtcd_token_t *) node;

        if (CRYPTO_memcmp(digest, t->digest, SHA256_DIGEST_LENGTH) == 0) {
            return t;
        }

        node = (ngx_memcmp(digest, t->digest, SHA256_DIGEST_LENGTH) < 0)
               ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_calls_rtcd_token_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t            **p;
    ngx_http_calls_rtcd_token_t   *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = (ngx_http_calls_rtcd_token_t *) node;
            t = (ngx_http_calls_rtcd_token_t *) temp;

            p = (ngx_memcmp(n->digest, t->digest, SHA256_DIGEST_LENGTH) < 0)
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


static void
ngx_http_calls_rtcd_token_free(ngx_http_calls_rtcd_token_t *t)
{
    ngx_http_calls_rtcd_auth_t  *a;

    a = &ngx_http_calls_rtcd_auth;

    ngx_rbtree_delete(&a->sh->tokens, &t->node);
    ngx_queue_remove(&t->queue);
    a->sh->ntokens--;

    ngx_explicit_memzero(t->digest, sizeof(t->digest));
    ngx_slab_free_locked(a->shpool, t);
}
