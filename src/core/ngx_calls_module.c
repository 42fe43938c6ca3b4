
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The core module: what the HTTP and stream modules share.  The DTLS
 * certificate is made (or loaded) here at configuration time, in the
 * master, so that every worker advertises the same fingerprint; each
 * worker starts its media engine and registry in init_process.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_calls.h"
#include "ngx_calls_dtls.h"
#include "ngx_calls_stats.h"


static void *ngx_calls_create_conf(ngx_cycle_t *cycle);
static char *ngx_calls_init_conf(ngx_cycle_t *cycle, void *conf);
static void ngx_calls_dtls_cleanup(void *data);
static ngx_int_t ngx_calls_init_process(ngx_cycle_t *cycle);
static void ngx_calls_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_calls_commands[] = {

    { ngx_string("calls_certificate"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_calls_conf_t, certificate),
      NULL },

    { ngx_string("calls_certificate_key"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_calls_conf_t, certificate_key),
      NULL },

      ngx_null_command
};


static ngx_core_module_t  ngx_calls_module_ctx = {
    ngx_string("calls"),
    ngx_calls_create_conf,
    ngx_calls_init_conf
};


ngx_module_t  ngx_calls_module = {
    NGX_MODULE_V1,
    &ngx_calls_module_ctx,                 /* module context */
    ngx_calls_commands,                    /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_calls_init_process,                /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_calls_exit_process,                /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_calls_create_conf(ngx_cycle_t *cycle)
{
    ngx_calls_conf_t  *ccf;

    ccf = ngx_pcalloc(cycle->pool, sizeof(ngx_calls_conf_t));
    if (ccf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ccf->certificate = { 0, NULL };
     *     ccf->certificate_key = { 0, NULL };
     *     ccf->dtls = NULL;
     *     ccf->media = NULL;
     */

    return ccf;
}


static char *
ngx_calls_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_calls_conf_t *ccf = conf;

    char                 err[256];
    ngx_core_conf_t     *core;
    ngx_pool_cleanup_t  *cln;

    if (ccf->media == NULL) {
        return NGX_CONF_OK;
    }

    core = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    /*
     * A call's sessions, signaling and media must meet in one process
     * until calls get a home worker and a worker bus.
     */
    if (core->master && core->worker_processes > 1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "calls: \"worker_processes %i\" is not supported yet "
                      "with calls_media: use \"worker_processes 1\"",
                      core->worker_processes);
        return NGX_CONF_ERROR;
    }

    if ((ccf->certificate.len == 0) != (ccf->certificate_key.len == 0)) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"calls_certificate\" and \"calls_certificate_key\" "
                      "go together");
        return NGX_CONF_ERROR;
    }

    if (ccf->certificate.len) {
        if (ngx_conf_full_name(cycle, &ccf->certificate, 1) != NGX_OK
            || ngx_conf_full_name(cycle, &ccf->certificate_key, 1) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    /* paths from ngx_conf_full_name() are NUL-terminated */

    ccf->dtls = ngx_calls_dtls_ctx_create(
                    ccf->certificate.len ? (char *) ccf->certificate.data
                                         : NULL,
                    ccf->certificate_key.len
                    ? (char *) ccf->certificate_key.data : NULL,
                    err, sizeof(err));

    if (ccf->dtls == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "calls: DTLS certificate: %s", err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_calls_dtls_cleanup;
    cln->data = ccf->dtls;

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "calls: DTLS certificate fingerprint sha-256 %s",
                  ngx_calls_dtls_fingerprint(ccf->dtls));

    return NGX_CONF_OK;
}


static void
ngx_calls_dtls_cleanup(void *data)
{
    ngx_calls_dtls_ctx_free(data);
}


static ngx_int_t
ngx_calls_init_process(ngx_cycle_t *cycle)
{
    ngx_calls_conf_t  *ccf;

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_calls_module);

    if (ccf->media == NULL) {
        return NGX_OK;
    }

    return ngx_calls_registry_init(cycle);
}


static void
ngx_calls_exit_process(ngx_cycle_t *cycle)
{
    /* sessions that end here still report to the statistics */
    ngx_calls_registry_done(cycle);
    ngx_calls_stats_done();
}
