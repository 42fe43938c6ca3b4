
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * rtcd's HTTP API (mattermost/rtcd service/service.go and the handlers in
 * service/auth.go, session.go, system.go, version.go), in "calls_rtcd"
 * locations.  Routes are matched on the whole URI, exactly as rtcd's
 * ServeMux does, so the location is "/".  Bodies and status codes are
 * rtcd's: a wrong method is 404 "404 page not found", the POST routes
 * answer a flat JSON object with "code" (and "error"), the session routes
 * answer JSON or a text error.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <math.h>
#include <cJSON.h>

#include "ngx_calls.h"
#include "ngx_http_calls.h"
#include "ngx_http_calls_rtcd.h"


#define NGX_HTTP_CALLS_RTCD_R_VERSION      1
#define NGX_HTTP_CALLS_RTCD_R_SYSTEM       2
#define NGX_HTTP_CALLS_RTCD_R_REGISTER     3
#define NGX_HTTP_CALLS_RTCD_R_UNREGISTER   4
#define NGX_HTTP_CALLS_RTCD_R_LOGIN        5
#define NGX_HTTP_CALLS_RTCD_R_SESSIONS     6
#define NGX_HTTP_CALLS_RTCD_R_SESSION      7
#define NGX_HTTP_CALLS_RTCD_R_WS           8
#define NGX_HTTP_CALLS_RTCD_R_METRICS      9


#if defined(__x86_64__)
#define NGX_HTTP_CALLS_RTCD_ARCH           "amd64"
#elif defined(__aarch64__)
#define NGX_HTTP_CALLS_RTCD_ARCH           "arm64"
#elif defined(__i386__)
#define NGX_HTTP_CALLS_RTCD_ARCH           "386"
#else
#define NGX_HTTP_CALLS_RTCD_ARCH           "unknown"
#endif


typedef struct {
    ngx_http_request_t        *request;
    ngx_chain_t               *out;
    ngx_chain_t              **last;
    ngx_buf_t                 *buf;
    ngx_uint_t                 n;
    ngx_int_t                  failed;
} ngx_http_calls_rtcd_list_t;


static ngx_int_t ngx_http_calls_rtcd_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_calls_rtcd_route(ngx_http_request_t *r,
    ngx_str_t *call_id, ngx_str_t *session_id);
static ngx_int_t ngx_http_calls_rtcd_not_found(ngx_http_request_t *r);
static ngx_int_t ngx_http_calls_rtcd_version(ngx_http_request_t *r);
static ngx_int_t ngx_http_calls_rtcd_system(ngx_http_request_t *r);
static void ngx_http_calls_rtcd_body_handler(ngx_http_request_t *r);
static void ngx_http_calls_rtcd_decode_body(ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_register(ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_register_checked(
    ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_register_done(ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_unregister(ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_unregister_done(
    ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_login_start(ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_login_checked(
    ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_sessions(ngx_http_calls_rtcd_ctx_t *ctx);
static void ngx_http_calls_rtcd_session_config(void *data,
    ngx_calls_session_info_t *info);
static void ngx_http_calls_rtcd_audit(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_uint_t status, const char *fmt, ...);
static ngx_int_t ngx_http_calls_rtcd_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body, const char *type);
static ngx_int_t ngx_http_calls_rtcd_send_chain(ngx_http_request_t *r,
    ngx_chain_t *out);
static ngx_int_t ngx_http_calls_rtcd_output(ngx_http_request_t *r,
    ngx_uint_t status, ngx_chain_t *out, const char *type);
static void ngx_http_calls_rtcd_resume(ngx_http_request_t *r);
static void ngx_http_calls_rtcd_cleanup(void *data);
static ngx_http_calls_rtcd_ctx_t *ngx_http_calls_rtcd_ctx(
    ngx_http_request_t *r);

static void ngx_http_calls_rtcd_cpu_sample(ngx_event_t *ev);

static char *ngx_http_calls_rtcd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_calls_rtcd_admin_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_calls_rtcd_check_expiry(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_calls_rtcd_check_rate(ngx_conf_t *cf, void *post,
    void *data);
static void *ngx_http_calls_rtcd_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_calls_rtcd_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_calls_rtcd_init_process(ngx_cycle_t *cycle);
static void ngx_http_calls_rtcd_exit_process(ngx_cycle_t *cycle);


static ngx_str_t  ngx_http_calls_rtcd_code = ngx_string("code");
static ngx_str_t  ngx_http_calls_rtcd_error = ngx_string("error");
static ngx_str_t  ngx_http_calls_rtcd_client_key = ngx_string("clientID");
static ngx_str_t  ngx_http_calls_rtcd_token_key = ngx_string("bearerToken");


const char  ngx_http_calls_rtcd_id_alphabet[] =
    "ybndrfg8ejkmcpqxot1uwisza345h769";
const char  ngx_http_calls_rtcd_base64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static ngx_conf_post_handler_pt  ngx_http_calls_rtcd_expiry_post =
    ngx_http_calls_rtcd_check_expiry;

static ngx_conf_post_handler_pt  ngx_http_calls_rtcd_rate_post =
    ngx_http_calls_rtcd_check_rate;


static ngx_command_t  ngx_http_calls_rtcd_commands[] = {

    { ngx_string("calls_rtcd"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_calls_rtcd,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("calls_rtcd_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_calls_rtcd_main_conf_t, store),
      NULL },

    { ngx_string("calls_rtcd_self_registration"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_calls_rtcd_main_conf_t, self_registration),
      NULL },

    { ngx_string("calls_rtcd_admin_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_calls_rtcd_admin_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("calls_rtcd_token_expiry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_calls_rtcd_main_conf_t, token_expiry),
      &ngx_http_calls_rtcd_expiry_post },

    { ngx_string("calls_rtcd_auth_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_calls_rtcd_main_conf_t, auth_rate),
      &ngx_http_calls_rtcd_rate_post },

    { ngx_string("calls_rtcd_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_calls_rtcd_main_conf_t, thread_pool_name),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_calls_rtcd_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_calls_rtcd_create_main_conf,  /* create main configuration */
    ngx_http_calls_rtcd_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_calls_rtcd_module = {
    NGX_MODULE_V1,
    &ngx_http_calls_rtcd_module_ctx,       /* module context */
    ngx_http_calls_rtcd_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_calls_rtcd_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_calls_rtcd_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* /system: rtcd samples /proc/stat every second (service/system.go) */

typedef struct {
    ngx_event_t                timer;
    double                     load;
    double                     idle;         /* seconds, all CPUs */
    ngx_msec_t                 at;
    long                       hz;
    unsigned                   sampled:1;
} ngx_http_calls_rtcd_cpu_t;

static ngx_http_calls_rtcd_cpu_t  ngx_http_calls_rtcd_cpu;


static ngx_int_t
ngx_http_calls_rtcd_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   call_id, session_id;
    ngx_uint_t                  route;
    ngx_http_calls_rtcd_ctx_t  *ctx;

    route = ngx_http_calls_rtcd_route(r, &call_id, &session_id);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "calls rtcd: \"%V\" route %ui", &r->uri, route);

    switch (route) {

    case NGX_HTTP_CALLS_RTCD_R_VERSION:
        return ngx_http_calls_rtcd_version(r);

    case NGX_HTTP_CALLS_RTCD_R_SYSTEM:
        return ngx_http_calls_rtcd_system(r);

    case NGX_HTTP_CALLS_RTCD_R_METRICS:
        /* promhttp serves any method */
        return ngx_http_calls_rtcd_metrics(r);

    case NGX_HTTP_CALLS_RTCD_R_REGISTER:
    case NGX_HTTP_CALLS_RTCD_R_UNREGISTER:
    case NGX_HTTP_CALLS_RTCD_R_LOGIN:

        if (r->method != NGX_HTTP_POST) {
            return ngx_http_calls_rtcd_not_found(r);
        }

        ctx = ngx_http_calls_rtcd_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->route = route;

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r,
                                             ngx_http_calls_rtcd_body_handler);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;

    case NGX_HTTP_CALLS_RTCD_R_SESSIONS:
    case NGX_HTTP_CALLS_RTCD_R_SESSION:

        if (r->method != NGX_HTTP_GET) {
            return ngx_http_calls_rtcd_not_found(r);
        }

        break;

    case NGX_HTTP_CALLS_RTCD_R_WS:
        /* the WebSocket handshake checks the method after the auth */
        break;

    default:
        return ngx_http_calls_rtcd_not_found(r);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_calls_rtcd_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->route = route;

    /* the request lives until ngx_http_calls_rtcd_finish() */

    r->main->count++;

    ngx_http_calls_rtcd_authenticate(ctx,
                                     route == NGX_HTTP_CALLS_RTCD_R_WS
                                     ? ngx_http_calls_rtcd_ws
                                     : ngx_http_calls_rtcd_sessions);

    return NGX_DONE;
}


/*
 * rtcd's routes, exactly: "/calls/{callID}/sessions" and
 * "/calls/{callID}/sessions/{sessionID}" take one non-empty segment each.
 */

static ngx_uint_t
ngx_http_calls_rtcd_route(ngx_http_request_t *r, ngx_str_t *call_id,
    ngx_str_t *session_id)
{
    u_char     *p, *end, *slash;
    ngx_str_t  *uri;

    uri = &r->uri;

#define ngx_http_calls_rtcd_is(s)                                            \
    (uri->len == sizeof(s) - 1 && ngx_strncmp(uri->data, s, uri->len) == 0)

    if (ngx_http_calls_rtcd_is("/version")) {
        return NGX_HTTP_CALLS_RTCD_R_VERSION;
    }

    if (ngx_http_calls_rtcd_is("/system")) {
        return NGX_HTTP_CALLS_RTCD_R_SYSTEM;
    }

    if (ngx_http_calls_rtcd_is("/register")) {
        return NGX_HTTP_CALLS_RTCD_R_REGISTER;
    }

    if (ngx_http_calls_rtcd_is("/unregister")) {
        return NGX_HTTP_CALLS_RTCD_R_UNREGISTER;
    }

    if (ngx_http_calls_rtcd_is("/login")) {
        return NGX_HTTP_CALLS_RTCD_R_LOGIN;
    }

    if (ngx_http_calls_rtcd_is("/ws")) {
        return NGX_HTTP_CALLS_RTCD_R_WS;
    }

    if (ngx_http_calls_rtcd_is("/metrics")) {
        return NGX_HTTP_CALLS_RTCD_R_METRICS;
    }

#undef ngx_http_calls_rtcd_is

    if (uri->len < sizeof("/calls/") - 1
        || ngx_strncmp(uri->data, "/calls/", sizeof("/calls/") - 1) != 0)
    {
        return 0;
    }

    p = uri->data + sizeof("/calls/") - 1;
    end = uri->data + uri->len;

    slash = ngx_strlchr(p, end, '/');
    if (slash == NULL || slash == p) {
        return 0;
    }

    call_id->data = p;
    call_id->len = slash - p;

    p = slash;

    if ((size_t) (end - p) < sizeof("/sessions") - 1
        || ngx_strncmp(p, "/sessions", sizeof("/sessions") - 1) != 0)
    {
        return 0;
    }

    p += sizeof("/sessions") - 1;

    if (p == end) {
        return NGX_HTTP_CALLS_RTCD_R_SESSIONS;
    }

    if (*p++ != '/' || p == end || ngx_strlchr(p, end, '/') != NULL) {
        return 0;
    }

    session_id->data = p;
    session_id->len = end - p;

    return NGX_HTTP_CALLS_RTCD_R_SESSION;
}


/* as Go's http.NotFound */

static ngx_int_t
ngx_http_calls_rtcd_not_found(ngx_http_request_t *r)
{
    ngx_str_t  text = ngx_string("404 page not found\n");

    return ngx_http_calls_rtcd_text(r, NGX_HTTP_NOT_FOUND, &text);
}


static ngx_int_t
ngx_http_calls_rtcd_version(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    if (r->method != NGX_HTTP_GET) {
        return ngx_http_calls_rtcd_not_found(r);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * A semantic version: the plugin checks it against its
     * min_rtcd_version, needs v1.0.0 for the sessions route and v1.1.0
     * for the clients' signaling lock.
     */

    ngx_str_set(&body, "{\"buildDate\":\"\",\"buildVersion\":\""
                NGX_HTTP_CALLS_RTCD_VERSION "\",\"buildHash\":\"ngx_calls\","
                "\"goVersion\":\"" NGINX_VER "\",\"goOS\":\"linux\","
                "\"goArch\":\"" NGX_HTTP_CALLS_RTCD_ARCH "\"}\n");

    return ngx_http_calls_rtcd_send(r, NGX_HTTP_OK, &body,
                                    "application/json");
}


static ngx_int_t
ngx_http_calls_rtcd_system(ngx_http_request_t *r)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   body;

    if (r->method != NGX_HTTP_GET) {
        return ngx_http_calls_rtcd_not_found(r);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    body.data = ngx_pnalloc(r->pool, 64);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data, "{\"cpu_load\":", sizeof("{\"cpu_load\":") - 1);
    p = ngx_http_calls_rtcd_float(p, ngx_http_calls_rtcd_cpu_load());
    *p++ = '}';
    *p++ = '\n';

    body.len = p - body.data;

    return ngx_http_calls_rtcd_send(r, NGX_HTTP_OK, &body,
                                    "application/json");
}


double
ngx_http_calls_rtcd_cpu_load(void)
{
    return ngx_http_calls_rtcd_cpu.load;
}


/*
 * CPULoad = 1 / (idle CPU-seconds per second, summed over the CPUs): the
 * inverse of how many CPUs were idle, lower is less loaded.  A second
 * with no idle tick at all counts as one tick idle (rtcd would divide by
 * zero and fail to encode the answer).
 */

static void
ngx_http_calls_rtcd_cpu_sample(ngx_event_t *ev)
{
    int                         fd;
    u_char                     *p, *last, buf[512];
    double                      idle, elapsed, diff;
    ssize_t                     n;
    ngx_uint_t                  field;
    unsigned long long          v;
    ngx_http_calls_rtcd_cpu_t  *cpu;

    cpu = &ngx_http_calls_rtcd_cpu;

    if (!ngx_exiting && !ngx_quit) {
        ngx_add_timer(ev, 1000);
    }

    fd = open("/proc/stat", O_RDONLY);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ERR, ev->log, ngx_errno,
                      "calls rtcd: open(\"/proc/stat\") failed");
        return;
    }

    n = read(fd, buf, sizeof(buf) - 1);

    if (n == -1) {
        ngx_log_error(NGX_LOG_ERR, ev->log, ngx_errno,
                      "calls rtcd: read(\"/proc/stat\") failed");
        (void) close(fd);
        return;
    }

    (void) close(fd);

    /* "cpu  user nice system idle ...": the fourth number */

    last = buf + n;

    if (n < 4 || ngx_strncmp(buf, "cpu ", 4) != 0) {
        goto invalid;
    }

    p = buf + 4;
    v = 0;

    for (field = 0; field < 4; field++) {

        while (p < last && *p == ' ') {
            p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            goto invalid;
        }

        v = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
        }
    }

    idle = (double) v / cpu->hz;

    if (cpu->sampled && ngx_current_msec > cpu->at) {
        elapsed = (double) (ngx_current_msec - cpu->at) / 1000;
        diff = idle - cpu->idle;

        if (diff < 1.0 / cpu->hz) {
            diff = 1.0 / cpu->hz;
        }

        cpu->load = 1 / (diff / elapsed);
    }

    cpu->idle = idle;
    cpu->at = ngx_current_msec;
    cpu->sampled = 1;

    return;

invalid:

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "calls rtcd: no CPU line in /proc/stat");
}


/* POST /register, /unregister, /login */

static void
ngx_http_calls_rtcd_body_handler(ngx_http_request_t *r)
{
    ngx_http_calls_rtcd_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_calls_rtcd_module);

    ngx_http_calls_rtcd_decode_body(ctx);

    switch (ctx->route) {

    case NGX_HTTP_CALLS_RTCD_R_REGISTER:
        ngx_http_calls_rtcd_register(ctx);
        return;

    case NGX_HTTP_CALLS_RTCD_R_UNREGISTER:
        ngx_http_calls_rtcd_unregister(ctx);
        return;

    default: /* NGX_HTTP_CALLS_RTCD_R_LOGIN */
        ngx_http_calls_rtcd_login_start(ctx);
        return;
    }
}


/*
 * The body as Go's json.Decoder fills a map[string]string: one JSON
 * value, an object (or null) whose values are strings (or null); the
 * last of duplicate keys wins.  Errors read as Go's, more or less.
 */

static void
ngx_http_calls_rtcd_decode_body(ngx_http_calls_rtcd_ctx_t *ctx)
{
    cJSON               *json, *item;
    u_char              *p, *data;
    size_t               len;
    ngx_buf_t           *b;
    ngx_str_t           *dst;
    const char          *end, *kind;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_str_set(&ctx->body_client_id, "");
    ngx_str_set(&ctx->body_auth_key, "");

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file) {
            ngx_str_set(&ctx->body_error, "http: request body too large");
            return;
        }

        len += b->last - b->pos;
    }

    if (len > NGX_HTTP_CALLS_RTCD_MAX_BODY) {
        ngx_str_set(&ctx->body_error, "http: request body too large");
        return;
    }

    data = ngx_pnalloc(r->pool, len + 1);
    if (data == NULL) {
        ngx_str_set(&ctx->body_error, "out of memory");
        return;
    }

    p = data;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *p = '\0';

    /* only spaces: the decoder meets the end of input first */

    for (p = data; p < data + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            break;
        }
    }

    if (p == data + len) {
        ngx_str_set(&ctx->body_error, "EOF");
        return;
    }

    end = NULL;
    json = cJSON_ParseWithLengthOpts((const char *) data, len, &end, 0);

    if (json == NULL) {

        /* cJSON stops at the last byte when the input ends too soon */

        if (end == NULL || end >= (const char *) data + len - 1) {
            ngx_str_set(&ctx->body_error, "unexpected EOF");
            return;
        }

        ctx->body_error.data = ngx_pnalloc(r->pool, 80);
        if (ctx->body_error.data == NULL) {
            ngx_str_set(&ctx->body_error, "out of memory");
            return;
        }

        ctx->body_error.len = ngx_sprintf(ctx->body_error.data,
                                          "invalid character at offset %uz",
                                          (size_t) (end - (char *) data))
                              - ctx->body_error.data;
        return;
    }

    if (cJSON_IsNull(json)) {
        goto done;
    }

    kind = cJSON_IsObject(json) ? NULL
           : cJSON_IsArray(json) ? "array"
           : cJSON_IsString(json) ? "string"
           : cJSON_IsNumber(json) ? "number" : "bool";

    if (kind) {
        ctx->body_error.data = ngx_pnalloc(r->pool, 80);
        if (ctx->body_error.data == NULL) {
            ngx_str_set(&ctx->body_error, "out of memory");
            goto done;
        }

        ctx->body_error.len = ngx_sprintf(ctx->body_error.data,
                                  "json: cannot unmarshal %s into Go value "
                                  "of type map[string]string", kind)
                              - ctx->body_error.data;
        goto done;
    }

    cJSON_ArrayForEach(item, json) {

        if (cJSON_IsNull(item)) {
            continue;
        }

        if (!cJSON_IsString(item)) {
            kind = cJSON_IsArray(item) ? "array"
                   : cJSON_IsObject(item) ? "object"
                   : cJSON_IsNumber(item) ? "number" : "bool";

            ctx->body_error.data = ngx_pnalloc(r->pool, 80);
            if (ctx->body_error.data == NULL) {
                ngx_str_set(&ctx->body_error, "out of memory");
                goto done;
            }

            ctx->body_error.len = ngx_sprintf(ctx->body_error.data,
                                      "json: cannot unmarshal %s into Go "
                                      "value of type string", kind)
                                  - ctx->body_error.data;
            goto done;
        }

        if (ngx_strcmp(item->string, "clientID") == 0) {
            dst = &ctx->body_client_id;

        } else if (ngx_strcmp(item->string, "authKey") == 0) {
            dst = &ctx->body_auth_key;

        } else {
            continue;
        }

        dst->len = ngx_strlen(item->valuestring);
        dst->data = ngx_pnalloc(r->pool, dst->len + 1);
        if (dst->data == NULL) {
            ngx_str_set(&ctx->body_error, "out of memory");
            goto done;
        }

        ngx_memcpy(dst->data, item->valuestring, dst->len + 1);
    }

done:

    cJSON_Delete(json);
}


/*
 * rtcd: with self-registration anyone may register; without it, the
 * request must authenticate, as the admin or as any registered client.
 */

static void
ngx_http_calls_rtcd_register(ngx_http_calls_rtcd_ctx_t *ctx)
{
    ngx_http_calls_rtcd_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(ctx->request,
                                         ngx_http_calls_rtcd_module);

    if (!rmcf->self_registration && ctx->auth_done == NULL) {
        ngx_http_calls_rtcd_authenticate(ctx, ngx_http_calls_rtcd_register);
        return;
    }

    if (ctx->auth_done && ctx->auth_status != NGX_HTTP_OK) {
        ngx_http_calls_rtcd_audit(ctx, ctx->auth_status, "%V",
                                  &ctx->auth_error);
        return;
    }

    if (ctx->body_error.len) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST, "%V",
                                  &ctx->body_error);
        return;
    }

    ngx_http_calls_rtcd_register_checked(ctx);
}


static void
ngx_http_calls_rtcd_register_checked(ngx_http_calls_rtcd_ctx_t *ctx)
{
    char        err[128];
    u_char      hash[NGX_HTTP_CALLS_RTCD_MAX_HASH];
    size_t      i, len;
    ngx_int_t   rc;
    ngx_str_t  *id, *key, reason;

    id = &ctx->body_client_id;
    key = &ctx->body_auth_key;

    if (key->len < NGX_HTTP_CALLS_RTCD_MIN_KEY) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: key not long enough");
        return;
    }

    if (key->len > NGX_HTTP_CALLS_RTCD_MAX_KEY) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: key longer than %d "
                                  "bytes", NGX_HTTP_CALLS_RTCD_MAX_KEY);
        return;
    }

    if (id->len == 0) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: error: empty key");
        return;
    }

    /*
     * The client ID becomes the group of its calls and a label of the
     * metrics, and Basic auth cannot carry a ':' in it: printable ASCII
     * without spaces, '/', ':' or '"', as the Calls plugin's IDs are.
     */

    if (id->len > NGX_HTTP_CALLS_RTCD_MAX_CLIENT) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: client id longer "
                                  "than %d bytes",
                                  NGX_HTTP_CALLS_RTCD_MAX_CLIENT);
        return;
    }

    for (i = 0; i < id->len; i++) {
        if (id->data[i] <= 0x20 || id->data[i] >= 0x7f || id->data[i] == '/'
            || id->data[i] == ':' || id->data[i] == '"'
            || id->data[i] == '\\')
        {
            ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                      "registration failed: client id has a "
                                      "character other than printable ASCII "
                                      "without space, '/', ':', '\"' or "
                                      "'\\\\'");
            return;
        }
    }

    rc = ngx_http_calls_rtcd_store_get(id, hash, sizeof(hash), &len, err,
                                       sizeof(err));

    if (rc == NGX_OK) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: already registered");
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: %s", err);
        return;
    }

    if (ngx_http_calls_rtcd_job(ctx, NGX_HTTP_CALLS_RTCD_JOB_REGISTER, id,
                                key, NULL, ngx_http_calls_rtcd_register_done,
                                &reason)
        != NGX_OK)
    {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: %V", &reason);
    }
}


static void
ngx_http_calls_rtcd_register_done(ngx_http_calls_rtcd_ctx_t *ctx)
{
    ngx_str_t   keys[2], values[2];
    ngx_uint_t  status;

    if (ctx->job->rc == NGX_DECLINED) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: already registered");
        return;
    }

    if (ctx->job->rc != NGX_OK) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "registration failed: %s", ctx->job->err);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                  "calls rtcd: registered new mattermost client \"%V\"",
                  &ctx->body_client_id);

    status = NGX_HTTP_CREATED;

    keys[0] = ngx_http_calls_rtcd_client_key;
    values[0] = ctx->body_client_id;
    keys[1] = ngx_http_calls_rtcd_code;
    ngx_str_set(&values[1], "201");

    ngx_http_calls_rtcd_finish(ctx, ngx_http_calls_rtcd_json(ctx->request,
                                                  status, keys, values, 2));
}


static void
ngx_http_calls_rtcd_unregister(ngx_http_calls_rtcd_ctx_t *ctx)
{
    char                              err[128];
    u_char                            hash[NGX_HTTP_CALLS_RTCD_MAX_HASH];
    size_t                            len;
    ngx_int_t                         rc;
    ngx_str_t                         reason;
    ngx_http_calls_rtcd_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(ctx->request,
                                         ngx_http_calls_rtcd_module);

    /* without an admin nor self-registration, nobody may unregister */

    if (rmcf->admin_secret.len == 0 && !rmcf->self_registration) {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "calls rtcd: /unregister was called, but neither "
                      "calls_rtcd_admin_secret nor "
                      "calls_rtcd_self_registration is set");
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_FORBIDDEN,
                                  "unregister not enabled");
        return;
    }

    if (ctx->auth_done == NULL) {
        ngx_http_calls_rtcd_authenticate(ctx,
                                         ngx_http_calls_rtcd_unregister);
        return;
    }

    if (ctx->auth_status != NGX_HTTP_OK) {
        ngx_http_calls_rtcd_audit(ctx, ctx->auth_status, "%V",
                                  &ctx->auth_error);
        return;
    }

    if (ctx->body_error.len) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST, "%V",
                                  &ctx->body_error);
        return;
    }

    if (ctx->body_client_id.len == 0) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "client id should not be empty");
        return;
    }

    /* an empty authenticated ID is the admin; a client only itself */

    if (ctx->client_id.len
        && (ctx->client_id.len != ctx->body_client_id.len
            || ngx_strncmp(ctx->client_id.data, ctx->body_client_id.data,
                           ctx->client_id.len) != 0))
    {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_FORBIDDEN,
                                  "client id not valid");
        return;
    }

    rc = ngx_http_calls_rtcd_store_get(&ctx->body_client_id, hash,
                                       sizeof(hash), &len, err, sizeof(err));

    if (rc == NGX_DECLINED) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "unregister failed: error: not found");
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "unregister failed: %s", err);
        return;
    }

    if (ngx_http_calls_rtcd_job(ctx, NGX_HTTP_CALLS_RTCD_JOB_DELETE,
                                &ctx->body_client_id, NULL, NULL,
                                ngx_http_calls_rtcd_unregister_done, &reason)
        != NGX_OK)
    {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "unregister failed: %V", &reason);
    }
}


static void
ngx_http_calls_rtcd_unregister_done(ngx_http_calls_rtcd_ctx_t *ctx)
{
    if (ctx->job->rc == NGX_DECLINED) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "unregister failed: error: not found");
        return;
    }

    if (ctx->job->rc != NGX_OK) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "unregister failed: %s", ctx->job->err);
        return;
    }

    /* its bearer token goes too */

    ngx_http_calls_rtcd_logout(&ctx->body_client_id);

    ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                  "calls rtcd: unregistered mattermost client \"%V\"",
                  &ctx->body_client_id);

    ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_OK, NULL);
}


static void
ngx_http_calls_rtcd_login_start(ngx_http_calls_rtcd_ctx_t *ctx)
{
    if (ctx->body_error.len) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST, "%V",
                                  &ctx->body_error);
        return;
    }

    ngx_http_calls_rtcd_check_key(ctx, &ctx->body_client_id,
                                  &ctx->body_auth_key,
                                  ngx_http_calls_rtcd_login_checked);
}


static void
ngx_http_calls_rtcd_login_checked(ngx_http_calls_rtcd_ctx_t *ctx)
{
    u_char      token[NGX_HTTP_CALLS_RTCD_TOKEN_LEN];
    ngx_str_t   keys[2], values[2];

    if (ctx->check_rc != NGX_OK) {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "login failed: %V", &ctx->check_error);
        return;
    }

    values[0].data = token;
    values[0].len = sizeof(token);

    if (ngx_http_calls_rtcd_login(&ctx->body_client_id, &values[0])
        != NGX_OK)
    {
        ngx_http_calls_rtcd_audit(ctx, NGX_HTTP_BAD_REQUEST,
                                  "login failed: can not cache: out of "
                                  "memory");
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "calls rtcd: logged in mattermost client \"%V\"",
                  &ctx->body_client_id);

    keys[0] = ngx_http_calls_rtcd_token_key;
    keys[1] = ngx_http_calls_rtcd_code;
    ngx_str_set(&values[1], "200");

    ngx_http_calls_rtcd_finish(ctx, ngx_http_calls_rtcd_json(ctx->request,
                                          NGX_HTTP_OK, keys, values, 2));
}


/*
 * rtcd's httpAudit: the answer of the POST routes, {"code":"<status>"}
 * with "error" on failure (and "clientID" on registration, above).
 */

static void
ngx_http_calls_rtcd_audit(ngx_http_calls_rtcd_ctx_t *ctx, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char     *p, code[NGX_INT_T_LEN];
    va_list     args;
    ngx_str_t   keys[2], values[2];
    ngx_uint_t  n;

    n = 0;

    keys[n] = ngx_http_calls_rtcd_code;
    values[n].data = code;
    values[n].len = ngx_sprintf(code, "%ui", status) - code;
    n++;

    if (fmt) {
        p = ngx_pnalloc(ctx->request->pool, 512);
        if (p == NULL) {
            ngx_http_calls_rtcd_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        keys[n] = ngx_http_calls_rtcd_error;
        values[n].data = p;

        va_start(args, fmt);
        values[n].len = ngx_vslprintf(p, p + 512, fmt, args) - p;
        va_end(args);

        n++;

        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "calls rtcd: %ui \"%V\"", status, &values[1]);
    }

    ngx_http_calls_rtcd_finish(ctx, ngx_http_calls_rtcd_json(ctx->request,
                                                  status, keys, values, n));
}


/* GET /calls/{callID}/sessions[/{sessionID}] */

static void
ngx_http_calls_rtcd_sessions(ngx_http_calls_rtcd_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    call_id, session_id, text;
    ngx_buf_t                   *b;
    const char                  *err;
    ngx_http_request_t          *r;
    ngx_http_calls_rtcd_list_t   list;

    r = ctx->request;

    /* the admin has no group: it is refused too */

    if (ctx->auth_status != NGX_HTTP_OK || ctx->client_id.len == 0) {
        if (ctx->auth_status != NGX_HTTP_OK) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "calls rtcd: failed to authenticate: %V",
                          &ctx->auth_error);
        }

        ngx_str_set(&text, "unauthorized\n");
        ngx_http_calls_rtcd_finish(ctx,
                      ngx_http_calls_rtcd_text(r, NGX_HTTP_UNAUTHORIZED,
                                               &text));
        return;
    }

    ngx_str_null(&session_id);

    (void) ngx_http_calls_rtcd_route(r, &call_id, &session_id);

    ngx_memzero(&list, sizeof(ngx_http_calls_rtcd_list_t));

    list.request = r;
    list.last = &list.out;

    err = "";

    rc = ngx_calls_session_configs(&ctx->client_id, &call_id,
                                   ctx->route == NGX_HTTP_CALLS_RTCD_R_SESSION
                                   ? &session_id : NULL,
                                   ngx_http_calls_rtcd_session_config, &list,
                                   &err);

    if (list.failed) {
        ngx_http_calls_rtcd_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc != NGX_OK) {
        text.data = ngx_pnalloc(r->pool, 80);
        if (text.data == NULL) {
            ngx_http_calls_rtcd_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        text.len = ngx_sprintf(text.data, "failed to get session %s: %s\n",
                               ctx->route == NGX_HTTP_CALLS_RTCD_R_SESSION
                               ? "config" : "configs", err)
                   - text.data;

        ngx_http_calls_rtcd_finish(ctx,
                          ngx_http_calls_rtcd_text(r, NGX_HTTP_NOT_FOUND,
                                                   &text));
        return;
    }

    /* close the array (one session: a bare object) */

    b = ngx_create_temp_buf(r->pool, 2);
    if (b == NULL) {
        ngx_http_calls_rtcd_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->route == NGX_HTTP_CALLS_RTCD_R_SESSIONS) {
        *b->last++ = ']';
    }

    *b->last++ = '\n';

    list.buf = b;
    ngx_http_calls_rtcd_session_config(&list, NULL);

    ngx_http_calls_rtcd_finish(ctx, ngx_http_calls_rtcd_send_chain(r,
                                                                 list.out));
}


/*
 * One rtc.SessionConfig as encoding/json writes it: the struct's Go
 * field names in order, Props a map with sorted keys.  info NULL: append
 * list->buf as it is.
 */

static void
ngx_http_calls_rtcd_session_config(void *data, ngx_calls_session_info_t *info)
{
    ngx_http_calls_rtcd_list_t *list = data;

    u_char       *p;
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (list->failed) {
        return;
    }

    if (info) {
        len = sizeof("[{\"GroupID\":,\"CallID\":,\"UserID\":,\"SessionID\":,"
                     "\"Props\":{\"av1Support\":false,\"channelID\":,"
                     "\"dcSignaling\":false}}")
              + ngx_http_calls_rtcd_json_len(&info->group_id)
              + ngx_http_calls_rtcd_json_len(&info->call_id)
              + ngx_http_calls_rtcd_json_len(&info->user_id)
              + ngx_http_calls_rtcd_json_len(&info->session_id)
              + ngx_http_calls_rtcd_json_len(&info->channel_id);

        b = ngx_create_temp_buf(list->request->pool, len);
        if (b == NULL) {
            list->failed = 1;
            return;
        }

        p = b->last;

        if (list->n++ == 0) {
            if (((ngx_http_calls_rtcd_ctx_t *)
                 ngx_http_get_module_ctx(list->request,
                                         ngx_http_calls_rtcd_module))->route
                == NGX_HTTP_CALLS_RTCD_R_SESSIONS)
            {
                *p++ = '[';
            }

        } else {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"GroupID\":", sizeof("{\"GroupID\":") - 1);
        p = ngx_http_calls_rtcd_json_string(p, &info->group_id);
        p = ngx_cpymem(p, ",\"CallID\":", sizeof(",\"CallID\":") - 1);
        p = ngx_http_calls_rtcd_json_string(p, &info->call_id);
        p = ngx_cpymem(p, ",\"UserID\":", sizeof(",\"UserID\":") - 1);
        p = ngx_http_calls_rtcd_json_string(p, &info->user_id);
        p = ngx_cpymem(p, ",\"SessionID\":", sizeof(",\"SessionID\":") - 1);
        p = ngx_http_calls_rtcd_json_string(p, &info->session_id);
        p = ngx_sprintf(p, ",\"Props\":{\"av1Support\":%s,\"channelID\":",
                        info->av1_support ? "true" : "false");
        p = ngx_http_calls_rtcd_json_string(p, &info->channel_id);
        p = ngx_sprintf(p, ",\"dcSignaling\":%s}}",
                        info->dc_signaling ? "true" : "false");

        b->last = p;

    } else {
        b = list->buf;
    }

    cl = ngx_alloc_chain_link(list->request->pool);
    if (cl == NULL) {
        list->failed = 1;
        return;
    }

    cl->buf = b;
    cl->next = NULL;

    *list->last = cl;
    list->last = &cl->next;
}


/* responses */

static ngx_int_t
ngx_http_calls_rtcd_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body, const char *type)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_calls_rtcd_output(r, status, &out, type);
}


static ngx_int_t
ngx_http_calls_rtcd_send_chain(ngx_http_request_t *r, ngx_chain_t *out)
{
    return ngx_http_calls_rtcd_output(r, NGX_HTTP_OK, out,
                                      "application/json");
}


static ngx_int_t
ngx_http_calls_rtcd_output(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, const char *type)
{
    off_t         len;
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    /* a body nobody read (a 404 to a POST) must not look like a request */

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    len = 0;

    for (cl = out; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main) ? 1 : 0;
            cl->buf->last_in_chain = 1;
        }
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/* as Go's http.Error */

ngx_int_t
ngx_http_calls_rtcd_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *text)
{
    ngx_str_t  name = ngx_string("X-Content-Type-Options");
    ngx_str_t  value = ngx_string("nosniff");

    if (ngx_http_calls_add_header(r, &name, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_calls_rtcd_send(r, status, text,
                                    "text/plain; charset=utf-8");
}


/*
 * A flat JSON object of strings, keys in the order given (the caller
 * sorts them, as encoding/json does for maps), and a newline.
 */

ngx_int_t
ngx_http_calls_rtcd_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *keys, ngx_str_t *values, ngx_uint_t n)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    body;
    ngx_uint_t   i;

    len = sizeof("{}\n");

    for (i = 0; i < n; i++) {
        len += ngx_http_calls_rtcd_json_len(&keys[i])
               + ngx_http_calls_rtcd_json_len(&values[i]) + 2;
    }

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body.data;
    *p++ = '{';

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_calls_rtcd_json_string(p, &keys[i]);
        *p++ = ':';
        p = ngx_http_calls_rtcd_json_string(p, &values[i]);
    }

    *p++ = '}';
    *p++ = '\n';

    body.len = p - body.data;

    return ngx_http_calls_rtcd_send(r, status, &body, "application/json");
}


/*
 * A JSON string as encoding/json writes it: HTML-safe (<, >, & escaped),
 * control characters as \u00XX except \n \r \t, U+2028 and U+2029
 * escaped, and bytes that are not UTF-8 as U+FFFD.
 */

size_t
ngx_http_calls_rtcd_json_len(ngx_str_t *s)
{
    /* at most 6 bytes out per byte in, and the quotes */
    return 6 * s->len + 2;
}


u_char *
ngx_http_calls_rtcd_json_string(u_char *p, ngx_str_t *s)
{
    u_char         c, *src, *end, *next;
    uint32_t       u;
    static u_char  hex[] = "0123456789abcdef";

    *p++ = '"';

    src = s->data;
    end = s->data + s->len;

    while (src < end) {
        c = *src;

        if (c < 0x80) {
            src++;

            if (c == '"' || c == '\\') {
                *p++ = '\\';
                *p++ = c;

            } else if (c == '\n') {
                *p++ = '\\'; *p++ = 'n';

            } else if (c == '\r') {
                *p++ = '\\'; *p++ = 'r';

            } else if (c == '\t') {
                *p++ = '\\'; *p++ = 't';

            } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                p = ngx_cpymem(p, "\\u00", 4);
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0xf];

            } else {
                *p++ = c;
            }

            continue;
        }

        next = src;
        u = ngx_utf8_decode(&next, end - src);

        if (u > 0x10ffff) {
            /* 3 bytes out for 1 in: within the 6 of the length */
            p = ngx_cpymem(p, "\xef\xbf\xbd", 3);
            src++;
            continue;
        }

        if (u == 0x2028 || u == 0x2029) {
            p = ngx_sprintf(p, "\\u%04xD", u);

        } else {
            p = ngx_cpymem(p, src, next - src);
        }

        src = next;
    }

    *p++ = '"';

    return p;
}


/*
 * A float64 as Go's strconv.FormatFloat(v, 'f' or 'e', -1): the shortest
 * digits that read back as v, in plain notation unless the exponent is
 * below -6 or at least 21 (encoding/json's choice).  p needs 32 bytes.
 */

u_char *
ngx_http_calls_rtcd_float(u_char *p, double v)
{
    int     exp, prec, ndigits, i;
    char    buf[40], digits[24], *e, *q;

    if (isnan(v) || isinf(v)) {
        return ngx_cpymem(p, "0", 1);
    }

    if (v == 0) {
        return ngx_cpymem(p, "0", 1);
    }

    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);

        if (strtod(buf, NULL) == v) {
            break;
        }
    }

    /* buf: [-]d[.ddd]e[+-]xx */

    q = buf;

    if (*q == '-') {
        *p++ = '-';
        q++;
    }

    ndigits = 0;

    for ( /* void */ ; *q != 'e'; q++) {
        if (*q != '.') {
            digits[ndigits++] = *q;
        }
    }

    exp = (int) strtol(q + 1, &e, 10);

    /* the shortest form may still end in zeros: "1.0e+02" is "100" */

    while (ndigits > 1 && digits[ndigits - 1] == '0') {
        ndigits--;
    }

    if (exp < -6 || exp >= 21) {
        *p++ = (u_char) digits[0];

        if (ndigits > 1) {
            *p++ = '.';
            p = ngx_cpymem(p, digits + 1, ndigits - 1);
        }

        return ngx_sprintf(p, "e%c%d", exp < 0 ? '-' : '+',
                           exp < 0 ? -exp : exp);
    }

    if (exp < 0) {
        *p++ = '0';
        *p++ = '.';

        for (i = -1; i > exp; i--) {
            *p++ = '0';
        }

        return ngx_cpymem(p, digits, ndigits);
    }

    for (i = 0; i <= exp || i < ndigits; i++) {

        if (i == exp + 1) {
            *p++ = '.';
        }

        *p++ = (u_char) (i < ndigits ? digits[i] : '0');
    }

    return p;
}


/*
 * IDs that may be logged as they are: 1 to 64 bytes of printable ASCII
 * without spaces (the registry's own rule, and what the plugin sends).
 */

ngx_int_t
ngx_http_calls_rtcd_valid_id(ngx_str_t *id)
{
    size_t  i;

    if (id->len == 0 || id->len > NGX_HTTP_CALLS_RTCD_MAX_CLIENT) {
        return NGX_DECLINED;
    }

    for (i = 0; i < id->len; i++) {
        if (id->data[i] <= 0x20 || id->data[i] >= 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


void
ngx_http_calls_rtcd_random(u_char *p, size_t len, const char *alphabet)
{
    size_t  i;
    u_char  rnd[64];

    /* both alphabets have 32 or 64 characters: no modulo bias */

    while (len) {
        i = ngx_min(len, sizeof(rnd));

        if (RAND_bytes(rnd, (int) i) != 1) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "calls rtcd: RAND_bytes() failed");
        }

        for (len -= i; i > 0; i--) {
            *p++ = alphabet[rnd[i - 1] % ngx_strlen(alphabet)];
        }
    }
}


/* the request's life across waits */

static ngx_http_calls_rtcd_ctx_t *
ngx_http_calls_rtcd_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_calls_rtcd_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_calls_rtcd_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_calls_rtcd_cleanup;
    cln->data = ctx;

    ctx->request = r;

    ctx->wait.data = ctx;
    ctx->wait.log = r->connection->log;

    ngx_http_set_ctx(r, ctx, ngx_http_calls_rtcd_module);

    return ctx;
}


static void
ngx_http_calls_rtcd_cleanup(void *data)
{
    ngx_http_calls_rtcd_ctx_t  *ctx = data;

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }
}


void
ngx_http_calls_rtcd_finish(ngx_http_calls_rtcd_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_finalize_request(ctx->request, rc);
}


/*
 * A wait starts: the request stays (blocked, as nginx's thread reads do)
 * even if it is terminated meanwhile; next runs when it ends.
 */

void
ngx_http_calls_rtcd_block(ngx_http_calls_rtcd_ctx_t *ctx,
    ngx_http_calls_rtcd_next_pt next)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    ctx->next = next;
    ctx->waiting = 1;

    r->main->blocked++;
    r->aio = 1;
    r->write_event_handler = ngx_http_calls_rtcd_resume;
}


void
ngx_http_calls_rtcd_unblock(ngx_http_calls_rtcd_ctx_t *ctx)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx->waiting = 0;

    r->main->blocked--;
    r->aio = 0;

    /* ngx_http_request_finalizer if the request was terminated */
    r->write_event_handler(r);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_calls_rtcd_resume(ngx_http_request_t *r)
{
    ngx_http_calls_rtcd_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_calls_rtcd_module);

    if (ctx == NULL || ctx->waiting || ctx->next == NULL) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ctx->next(ctx);
}


/* configuration */

static char *
ngx_http_calls_rtcd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_calls_rtcd_main_conf_t  *rmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_calls_rtcd_handler) {
        return "is duplicate";
    }

    if (clcf->handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"calls_rtcd\" conflicts with another content "
                           "handler in this location (proxy_pass, "
                           "calls_signaling, calls_metrics ...)");
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_calls_rtcd_handler;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_calls_rtcd_module);
    rmcf->enabled = 1;

    ngx_calls_need_zone(cf);

    return NGX_CONF_OK;
}


static char *
ngx_http_calls_rtcd_admin_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_calls_rtcd_main_conf_t *rmcf = conf;

    ngx_str_t  *value;

    if (rmcf->admin_secret.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* rtcd: enable_admin needs a non-empty admin_secret_key */

    if (value[1].len == 0) {
        return "must not be empty";
    }

    rmcf->admin_secret = value[1];

    /* compared as digests: in constant time whatever the lengths */

    SHA256(value[1].data, value[1].len, rmcf->admin_digest);

    return NGX_CONF_OK;
}


static char *
ngx_http_calls_rtcd_check_expiry(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *tp = data;

    /* rtcd: expiration_minutes > 0; a year keeps the sums far from
     * overflowing */

    if (*tp < 1 || *tp > 366 * 86400) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"calls_rtcd_token_expiry\" must be between 1s "
                           "and 366d");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_calls_rtcd_check_rate(ngx_conf_t *cf, void *post, void *data)
{
    ngx_int_t  *np = data;

    if (*np < 1 || *np > 100000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"calls_rtcd_auth_rate\" must be between 1 and "
                           "100000 key hashes per second");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_calls_rtcd_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_calls_rtcd_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_calls_rtcd_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->enabled = 0;
     *     conf->store = { 0, NULL };
     *     conf->admin_secret = { 0, NULL };
     *     conf->thread_pool_name = { 0, NULL };
     *     conf->thread_pool = NULL;
     */

    conf->self_registration = NGX_CONF_UNSET;
    conf->token_expiry = NGX_CONF_UNSET;
    conf->auth_rate = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_calls_rtcd_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_calls_rtcd_main_conf_t *rmcf = conf;

    ngx_conf_init_value(rmcf->self_registration, 0);
    ngx_conf_init_value(rmcf->token_expiry, 1440 * 60);

    /* rtcd: 12 hashes per second per CPU (auth.authRequestsPerSecondPerCPU) */
    ngx_conf_init_value(rmcf->auth_rate,
                        NGX_HTTP_CALLS_RTCD_AUTH_RATE * ngx_max(ngx_ncpu, 1));

    if (rmcf->thread_pool_name.data == NULL) {
        ngx_str_set(&rmcf->thread_pool_name, "default");
    }

    if (!rmcf->enabled) {
        return NGX_CONF_OK;
    }

    if (rmcf->store.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"calls_rtcd\" needs \"calls_rtcd_store\": the "
                           "directory where client registrations are kept");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &rmcf->store, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_calls_rtcd_store_path(cf, &rmcf->store) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)

    /*
     * bcrypt and the store's synced writes run in this pool; "default"
     * exists with 32 threads unless "thread_pool default" says otherwise
     */

    rmcf->thread_pool = ngx_thread_pool_add(cf, &rmcf->thread_pool_name);
    if (rmcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"calls_rtcd\" needs nginx built with threads "
                       "(--with-threads): key hashing and the store's "
                       "writes run in a thread pool");
    return NGX_CONF_ERROR;

#endif

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_calls_rtcd_init_process(ngx_cycle_t *cycle)
{
    ngx_http_calls_rtcd_cpu_t        *cpu;
    ngx_http_calls_rtcd_main_conf_t  *rmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_calls_rtcd_module)
        == NULL)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_calls_rtcd_module);

    if (!rmcf->enabled) {
        return NGX_OK;
    }

    /* a store that does not open leaves the API answering its error */

    (void) ngx_http_calls_rtcd_store_init(cycle, &rmcf->store);

    if (ngx_http_calls_rtcd_auth_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    cpu = &ngx_http_calls_rtcd_cpu;

    ngx_memzero(cpu, sizeof(ngx_http_calls_rtcd_cpu_t));

    cpu->hz = sysconf(_SC_CLK_TCK);
    if (cpu->hz <= 0) {
        cpu->hz = 100;
    }

    cpu->timer.handler = ngx_http_calls_rtcd_cpu_sample;
    cpu->timer.log = cycle->log;
    cpu->timer.data = cpu;
    cpu->timer.cancelable = 1;

    /* the first sample now, the first load a second later */

    ngx_http_calls_rtcd_cpu_sample(&cpu->timer);

    return NGX_OK;
}


static void
ngx_http_calls_rtcd_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_calls_rtcd_auth_done();
    ngx_http_calls_rtcd_store_done();
}
