
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_HTTP_CALLS_H_INCLUDED_
#define _NGX_HTTP_CALLS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_calls_ws.h"


/*
 * What the files of ngx_http_calls_module share: the location
 * configuration and the content handlers the directives install.
 */


typedef struct {
    ngx_http_calls_ws_conf_t   ws;
} ngx_http_calls_loc_conf_t;


ngx_int_t ngx_http_calls_signaling_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_calls_metrics_handler(ngx_http_request_t *r);

/* the media counters in the Prometheus text format, in size bytes */
size_t ngx_http_calls_metrics_size(void);
u_char *ngx_http_calls_metrics_write(u_char *p, u_char *end,
    uint64_t *counters);

/* a complete response with a text/plain body, for refusals */
ngx_int_t ngx_http_calls_send_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *text);
ngx_int_t ngx_http_calls_add_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);


extern ngx_module_t  ngx_http_calls_module;


#endif /* _NGX_HTTP_CALLS_H_INCLUDED_ */
