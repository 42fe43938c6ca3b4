
/*
 * Copyright (C) ngx_calls authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_calls.h"
#include "ngx_http_calls.h"


#define NGX_HTTP_CALLS_MAX_SIZE  (1024 * 1024 * 1024)


/* a ngx_conf_post_t with bounds, as ngx_conf_num_bounds_t */
typedef struct {
    ngx_conf_post_handler_pt   post_handler;
    size_t                     min;
    size_t                     max;
} ngx_http_calls_size_bounds_t;


static char *ngx_http_calls_signaling(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_calls_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_calls_set_handler(ngx_conf_t *cf,
    ngx_http_handler_pt handler);
static char *ngx_http_calls_check_size(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_calls_check_msec(ngx_conf_t *cf, void *post,
    void *data);
static void *ngx_http_calls_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_calls_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


/* what a control frame may carry (125 bytes) fits in any message */
static ngx_http_calls_size_bounds_t  ngx_http_calls_message_size_bounds = {
    ngx_http_calls_check_size, 125, NGX_HTTP_CALLS_MAX_SIZE
};

static ngx_http_calls_size_bounds_t  ngx_http_calls_send_queue_bounds = {
    ngx_http_calls_check_size, 1024, NGX_HTTP_CALLS_MAX_SIZE
};

static ngx_conf_post_handler_pt  ngx_http_calls_msec_post =
    ngx_http_calls_check_msec;


static ngx_command_t  ngx_http_calls_commands[] = {

    { ngx_string("calls_signaling"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_calls_signaling,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("calls_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_calls_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("calls_ws_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_calls_loc_conf_t, ws.max_message_size),
      &ngx_http_calls_message_size_bounds },

    { ngx_string("calls_ws_send_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_calls_loc_conf_t, ws.send_queue),
      &ngx_http_calls_send_queue_bounds },

    { ngx_string("calls_ws_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_calls_loc_conf_t, ws.ping_interval),
      &ngx_http_calls_msec_post },

    { ngx_string("calls_ws_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_calls_loc_conf_t, ws.timeout),
      &ngx_http_calls_msec_post },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_calls_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_calls_create_loc_conf,        /* create location configuration */
    ngx_http_calls_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_calls_module = {
    NGX_MODULE_V1,
    &ngx_http_calls_module_ctx,            /* module context */
    ngx_http_calls_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_int_t
ngx_http_calls_send_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *text)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = text->len;

    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = text->data;
    b->last = text->data + text->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_calls_add_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *name;
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static char *
ngx_http_calls_signaling(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_calls_set_handler(cf, ngx_http_calls_signaling_handler);
}


static char *
ngx_http_calls_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_calls_set_handler(cf, ngx_http_calls_metrics_handler);
}


static char *
ngx_http_calls_set_handler(ngx_conf_t *cf, ngx_http_handler_pt handler)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == handler) {
        return "is duplicate";
    }

    if (clcf->handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" conflicts with another content handler "
                           "in this location (proxy_pass, calls_signaling, "
                           "calls_metrics ...)",
                           &((ngx_str_t *) cf->args->elts)[0]);
        return NGX_CONF_ERROR;
    }

    clcf->handler = handler;

    /* sessions and counters of every worker are in the calls zone */
    ngx_calls_need_zone(cf);

    return NGX_CONF_OK;
}


static char *
ngx_http_calls_check_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t                        *sp = data;
    ngx_http_calls_size_bounds_t  *b = post;

    if (*sp < b->min || *sp > b->max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be between %uz and %uz bytes",
                           &((ngx_str_t *) cf->args->elts)[0],
                           b->min, b->max);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_calls_check_msec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *mp = data;

    /* an hour keeps the timers far below their range */

    if (*mp == 0 || *mp > 3600000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be between 1ms and 1h",
                           &((ngx_str_t *) cf->args->elts)[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_calls_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_calls_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_calls_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->ws.max_message_size = NGX_CONF_UNSET_SIZE;
    conf->ws.send_queue = NGX_CONF_UNSET_SIZE;
    conf->ws.ping_interval = NGX_CONF_UNSET_MSEC;
    conf->ws.timeout = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_calls_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_calls_loc_conf_t *prev = parent;
    ngx_http_calls_loc_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->ws.max_message_size,
                              prev->ws.max_message_size, 1024 * 1024);
    ngx_conf_merge_size_value(conf->ws.send_queue,
                              prev->ws.send_queue, 4 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->ws.ping_interval,
                              prev->ws.ping_interval, 10000);
    ngx_conf_merge_msec_value(conf->ws.timeout, prev->ws.timeout, 20000);

    /* a client that answers every ping must never time out */

    if (conf->ws.timeout <= conf->ws.ping_interval) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "calls_ws_timeout (%Mms) must be longer than "
                           "calls_ws_ping_interval (%Mms)",
                           conf->ws.timeout, conf->ws.ping_interval);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
