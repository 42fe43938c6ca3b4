
/*
 * Copyright (C) ngx_calls authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_calls.h"
#include "ngx_http_calls.h"


/*
 * calls_metrics: the media counters of this worker process in the
 * Prometheus text format (version 0.0.4).  Counters that share a meaning
 * are one metric with a label: packets and bytes by direction, drops by
 * reason; the others are a metric each.
 */


#define NGX_HTTP_CALLS_METRIC_LINE  256


typedef struct {
    ngx_calls_counter_e        counter;
    char                      *metric;
    char                      *label;
    char                      *help;
} ngx_http_calls_metric_t;


static u_char *ngx_http_calls_metrics_family(u_char *p, u_char *end,
    char *metric, char *help);
static u_char *ngx_http_calls_metrics_drops(u_char *p, u_char *end,
    uint64_t *counters);
static u_char *ngx_http_calls_metrics_others(u_char *p, u_char *end,
    uint64_t *counters);
static ngx_uint_t ngx_http_calls_metrics_known(ngx_calls_counter_e c);
static ngx_uint_t ngx_http_calls_metrics_valid_name(const char *name);


static ngx_http_calls_metric_t  ngx_http_calls_labeled[] = {

    { NGX_CALLS_CNT_RX_PACKETS, "ngx_calls_packets_total",
      "direction=\"rx\"",
      "Media packets received (rx) and sent (tx)." },

    { NGX_CALLS_CNT_TX_PACKETS, "ngx_calls_packets_total",
      "direction=\"tx\"", NULL },

    { NGX_CALLS_CNT_RX_BYTES, "ngx_calls_bytes_total",
      "direction=\"rx\"",
      "Media bytes received (rx) and sent (tx)." },

    { NGX_CALLS_CNT_TX_BYTES, "ngx_calls_bytes_total",
      "direction=\"tx\"", NULL },

    { NGX_CALLS_CNT_RTP_FORWARDED, "ngx_calls_rtp_forwarded_total", NULL,
      "RTP packets forwarded, counted once per receiver." },

    { NGX_CALLS_CNT_STUN_ANSWERED, "ngx_calls_stun_answered_total", NULL,
      "STUN binding requests answered." },

    { NGX_CALLS_CNT_ROLE_CONFLICTS, "ngx_calls_role_conflicts_total", NULL,
      "ICE role conflicts answered with 487." }
};


ngx_int_t
ngx_http_calls_metrics_handler(ngx_http_request_t *r)
{
    u_char                   *p;
    uint64_t                  counters[NGX_CALLS_CNT_N];
    ngx_int_t                 rc;
    ngx_str_t                 allow, methods;
    ngx_buf_t                *b;
    ngx_chain_t               out;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        ngx_str_set(&allow, "Allow");
        ngx_str_set(&methods, "GET, HEAD");

        if (ngx_http_calls_add_header(r, &allow, &methods) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&methods, "metrics are read with GET or HEAD\n");

        return ngx_http_calls_send_text(r, NGX_HTTP_NOT_ALLOWED, &methods);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_calls_counters(counters) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "calls_metrics: no media counters (no calls zone)");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    b = ngx_create_temp_buf(r->pool, ngx_http_calls_metrics_size());
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_calls_metrics_write(b->last, b->end, counters);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


size_t
ngx_http_calls_metrics_size(void)
{
    /* two lines of family text and one sample line per counter at most */
    return NGX_CALLS_CNT_N * 3 * NGX_HTTP_CALLS_METRIC_LINE;
}


/* the media counters' families, for calls_metrics and the RTCD API */

u_char *
ngx_http_calls_metrics_write(u_char *p, u_char *end, uint64_t *counters)
{
    ngx_uint_t                i;
    ngx_http_calls_metric_t  *m;

    for (i = 0; i < sizeof(ngx_http_calls_labeled)
                    / sizeof(ngx_http_calls_metric_t); i++)
    {
        m = &ngx_http_calls_labeled[i];

        if (m->help) {
            p = ngx_http_calls_metrics_family(p, end, m->metric, m->help);
        }

        if (m->label) {
            p = ngx_slprintf(p, end, "%s{%s} %uL\n", m->metric, m->label,
                             counters[m->counter]);

        } else {
            p = ngx_slprintf(p, end, "%s %uL\n", m->metric,
                             counters[m->counter]);
        }
    }

    p = ngx_http_calls_metrics_others(p, end, counters);

    return ngx_http_calls_metrics_drops(p, end, counters);
}


static u_char *
ngx_http_calls_metrics_family(u_char *p, u_char *end, char *metric,
    char *help)
{
    return ngx_slprintf(p, end, "# HELP %s %s\n# TYPE %s counter\n",
                        metric, help, metric);
}


/* counters the table above does not know, should the engine add some */

static u_char *
ngx_http_calls_metrics_others(u_char *p, u_char *end, uint64_t *counters)
{
    u_char       metric[NGX_HTTP_CALLS_METRIC_LINE];
    ngx_uint_t   c;
    const char  *name;

    for (c = 0; c < NGX_CALLS_CNT_DROP_FIRST; c++) {

        if (ngx_http_calls_metrics_known(c)) {
            continue;
        }

        name = ngx_calls_counter_name(c);

        if (!ngx_http_calls_metrics_valid_name(name)) {
            continue;
        }

        *ngx_snprintf(metric, sizeof(metric) - 1, "ngx_calls_%s_total",
                      name) = '\0';

        p = ngx_http_calls_metrics_family(p, end, (char *) metric,
                                          "Media engine counter.");
        p = ngx_slprintf(p, end, "%s %uL\n", metric, counters[c]);
    }

    return p;
}


static u_char *
ngx_http_calls_metrics_drops(u_char *p, u_char *end, uint64_t *counters)
{
    ngx_uint_t   c;
    const char  *name;

    p = ngx_http_calls_metrics_family(p, end, "ngx_calls_drops_total",
                           "Packets dropped by the media engine, by reason.");

    for (c = NGX_CALLS_CNT_DROP_FIRST; c < NGX_CALLS_CNT_DROP_LAST; c++) {

        name = ngx_calls_counter_name(c);

        if (!ngx_http_calls_metrics_valid_name(name)) {
            continue;
        }

        if (ngx_strncmp(name, "drop_", 5) == 0 && name[5] != '\0') {
            name += 5;
        }

        p = ngx_slprintf(p, end, "ngx_calls_drops_total{reason=\"%s\"} %uL\n",
                         name, counters[c]);
    }

    return p;
}


static ngx_uint_t
ngx_http_calls_metrics_known(ngx_calls_counter_e c)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_http_calls_labeled)
                    / sizeof(ngx_http_calls_metric_t); i++)
    {
        if (ngx_http_calls_labeled[i].counter == c) {
            return 1;
        }
    }

    return 0;
}


/* names go into metric names and label values: [a-z0-9_] only */

static ngx_uint_t
ngx_http_calls_metrics_valid_name(const char *name)
{
    size_t  len;

    if (name == NULL || *name == '\0') {
        return 0;
    }

    for (len = 0; name[len]; len++) {

        if (len > 64) {
            return 0;
        }

        if (!((name[len] >= 'a' && name[len] <= 'z')
              || (name[len] >= '0' && name[len] <= '9')
              || name[len] == '_'))
        {
            return 0;
        }
    }

    return 1;
}
