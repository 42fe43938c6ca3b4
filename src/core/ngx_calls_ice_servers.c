
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The ICE servers handed to a client when it joins (standalone mode,
 * where nginx plays the Calls plugin's part): the STUN and TURN servers
 * of calls_ice_servers, TURN ones with static credentials or with TURN
 * REST credentials made for the session.
 *
 * The REST credentials are those of rtcd's GenTURNConfigs() and of
 * coturn's use-auth-secret: username "<expiry unix time>:<name>",
 * password base64(HMAC-SHA1(static secret, username)).  coturn checks
 * them with the same secret and refuses an expired username; the name
 * part is ours (the session id), so its log tells sessions apart.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_calls.h"


static ngx_int_t ngx_calls_turn_credentials(ngx_str_t *secret, time_t expiry,
    ngx_str_t *name, ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *username,
    ngx_str_t *password);


ngx_array_t *
ngx_calls_ice_servers(ngx_str_t *id, ngx_pool_t *pool, ngx_log_t *log)
{
    time_t                   expiry;
    ngx_str_t                username, password;
    ngx_uint_t               i, n, rest;
    ngx_array_t             *servers;
    ngx_calls_conf_t        *ccf;
    ngx_calls_ice_server_t  *conf, *s;

    ccf = (ngx_calls_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                            ngx_calls_module);

    n = ccf->ice_servers ? ccf->ice_servers->nelts : 0;

    servers = ngx_array_create(pool, n ? n : 1,
                               sizeof(ngx_calls_ice_server_t));
    if (servers == NULL) {
        return NULL;
    }

    conf = n ? ccf->ice_servers->elts : NULL;

    /*
     * The Calls plugin's order: the servers as configured, less the TURN
     * ones without credentials (getICEServers(forClient)), then those
     * with the TURN REST credentials of /turn-credentials; without a
     * secret there are none of them (rtcd skips them too).
     */

    rest = 0;

    for (i = 0; i < n; i++) {

        if (conf[i].turn && conf[i].username.len == 0) {
            rest++;
            continue;
        }

        s = ngx_array_push(servers);
        if (s == NULL) {
            return NULL;
        }

        *s = conf[i];
    }

    if (rest == 0 || ccf->turn_secret.len == 0) {
        return servers;
    }

    /* one expiry and one username for all of them, as GenTURNConfigs() */

    expiry = ngx_time() + ccf->turn_expiry;

    if (ngx_calls_turn_credentials(&ccf->turn_secret, expiry, id, pool, log,
                                   &username, &password)
        != NGX_OK)
    {
        return NULL;
    }

    for (i = 0; i < n; i++) {

        if (!conf[i].turn || conf[i].username.len) {
            continue;
        }

        s = ngx_array_push(servers);
        if (s == NULL) {
            return NULL;
        }

        *s = conf[i];
        s->username = username;
        s->credential = password;
    }

    return servers;
}


static ngx_int_t
ngx_calls_turn_credentials(ngx_str_t *secret, time_t expiry, ngx_str_t *name,
    ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *username,
    ngx_str_t *password)
{
    u_char        *p;
    u_char         md[EVP_MAX_MD_SIZE];
    ngx_str_t      mac;
    unsigned int   len;

    p = ngx_pnalloc(pool, NGX_TIME_T_LEN + 1 + name->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    username->data = p;
    username->len = ngx_sprintf(p, "%T:%V", expiry, name) - p;

    if (HMAC(EVP_sha1(), secret->data, (int) secret->len, username->data,
             username->len, md, &len)
        == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "calls: HMAC-SHA1 of TURN credentials failed");
        return NGX_ERROR;
    }

    mac.data = md;
    mac.len = len;

    password->data = ngx_pnalloc(pool, ngx_base64_encoded_length(len));
    if (password->data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64(password, &mac);

    return NGX_OK;
}
