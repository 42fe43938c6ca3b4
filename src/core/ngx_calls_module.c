
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The core module: what the HTTP and stream modules share.  The DTLS
 * certificate is made (or loaded) here at configuration time, in the
 * master, so that every worker advertises the same fingerprint; so are
 * the calls zone (ngx_calls_directory.c) and the worker bus, before the
 * fork.  Each worker starts its media engine and registry in
 * init_process.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <dlfcn.h>

#include "ngx_calls.h"
#include "ngx_calls_bus.h"
#include "ngx_calls_handoff.h"
#include "ngx_calls_directory.h"
#include "ngx_calls_dtls.h"
#include "ngx_calls_route.h"
#include "ngx_calls_stats.h"


#define NGX_CALLS_ZONE_SIZE   (16 * 1024 * 1024)


static void *ngx_calls_create_conf(ngx_cycle_t *cycle);
static char *ngx_calls_init_conf(ngx_cycle_t *cycle, void *conf);
static void ngx_calls_dtls_cleanup(void *data);
static ngx_int_t ngx_calls_init_module(ngx_cycle_t *cycle);
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

    { ngx_string("calls_zone_size"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      0,
      offsetof(ngx_calls_conf_t, zone_size),
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
    ngx_calls_init_module,                 /* init module */
    NULL,                                  /* init process: see below */
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
     *     ccf->zone = 0;
     *     ccf->zone_data = { { NULL, NULL } ... };
     */

    ccf->zone_size = NGX_CONF_UNSET_SIZE;

    return ccf;
}


static char *
ngx_calls_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_calls_conf_t *ccf = conf;

    char                 err[256];
    ngx_core_conf_t     *core;
    ngx_pool_cleanup_t  *cln;

    ngx_conf_init_size_value(ccf->zone_size, NGX_CALLS_ZONE_SIZE);

    if (ccf->media) {
        ccf->zone = 1;
    }

    /*
     * Workers that share one socket read each other's datagrams in any
     * order: a client's DTLS could reach its call's worker before the
     * STUN check that another worker handed over.  With reuseport the
     * kernel keeps a client's address on one worker.
     */

    core = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf->media_shared.len && core->master && core->worker_processes > 1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "calls_media with %i worker processes needs "
                      "\"reuseport\" on its UDP listen: "
                      "\"listen %V udp reuseport;\"",
                      core->worker_processes, &ccf->media_shared);
        return NGX_CONF_ERROR;
    }

    if (ccf->zone) {
        if (ccf->zone_size < 256 * 1024) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "\"calls_zone_size\" of %uz is too small, "
                          "256k at least", ccf->zone_size);
            return NGX_CONF_ERROR;
        }

        if (ngx_calls_dir_add(cycle, ccf->zone_size) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (ccf->media == NULL) {
        return NGX_CONF_OK;
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


/* the master, before the fork: the worker bus for this cycle */

static ngx_int_t
ngx_calls_init_module(ngx_cycle_t *cycle)
{
    size_t             ring;
    ngx_uint_t         n;
    Dl_info            info;
    ngx_core_conf_t   *core;
    ngx_calls_conf_t  *ccf;

    /*
     * A library loaded with us may leave a thread that still runs code
     * of a mapping of ours when a worker exits and nginx unloads the
     * module (Debian's libsrtp2 on NSS did; none we link now is known
     * to): it stays mapped until the process ends.
     */

    if (dladdr((void *) &ngx_calls_module, &info) && info.dli_fname) {
        (void) dlopen(info.dli_fname, RTLD_LAZY|RTLD_NOLOAD|RTLD_NODELETE);
    }

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_calls_module);

    if (!ccf->zone) {
        return NGX_OK;
    }

    core = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = (core->master && core->worker_processes > 0)
        ? (ngx_uint_t) core->worker_processes : 1;

    /* a ring for every ordered pair of workers: smaller when many */
    ring = (n <= 16) ? NGX_CALLS_BUS_RING_DEFAULT
                     : NGX_CALLS_BUS_RING_DEFAULT / 4;

    if (ngx_calls_bus_init_module(cycle, n, ring) != NGX_OK) {
        return NGX_ERROR;
    }

    /* ICE-TCP connections move to the worker of their call */
    return ccf->media ? ngx_calls_handoff_init_module(cycle, n) : NGX_OK;
}


/*
 * A worker's start, called by the first of our HTTP modules: built into
 * nginx (--add-module), a core module of ours comes before the event
 * modules and would run before the timers, posted events and connections
 * exist; HTTP modules come after them in either build.
 */

ngx_int_t
ngx_calls_init_process(ngx_cycle_t *cycle)
{
    ngx_calls_conf_t  *ccf;

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_calls_module);

    if (!ccf->zone) {
        return NGX_OK;
    }

    /*
     * The zone, the bus, the engine; then what a worker that died in our
     * slot left is cleaned up (its endpoints are told over the bus), and
     * only then messages queued for it are read.
     */

    if (ngx_calls_dir_init_process(cycle) != NGX_OK
        || ngx_calls_route_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ccf->media && ngx_calls_registry_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_calls_stats_init_process();
    ngx_calls_dir_orphans(cycle->log, ngx_calls_home_orphan);

    return NGX_OK;
}


static void
ngx_calls_exit_process(ngx_cycle_t *cycle)
{
    /* sessions that end here still report to the statistics */
    ngx_calls_registry_done(cycle);
    ngx_calls_route_exit_process(cycle);
}


void
ngx_calls_need_zone(ngx_conf_t *cf)
{
    ngx_calls_conf_t  *ccf;

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_calls_module);
    ccf->zone = 1;
}


void
ngx_calls_zone_data_add(ngx_conf_t *cf, ngx_calls_zone_slot_e slot,
    ngx_calls_zone_init_pt init, void *data)
{
    ngx_calls_conf_t  *ccf;

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_calls_module);
    ccf->zone = 1;
    ccf->zone_data[slot].init = init;
    ccf->zone_data[slot].data = data;
}
