
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The registrations of RTCD clients: client ID -> bcrypt hash of its key,
 * in an LMDB environment (the directory of calls_rtcd_store), as rtcd
 * keeps them in bitcask.  LMDB serializes writers across processes with
 * its lock file, so every worker opens the environment and any of them
 * may write.
 *
 * Reads are a memory-mapped lookup and run in the event loop; writes
 * commit with fsync() and run in the thread pool only.  The environment
 * is opened in each worker, never across fork().
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <lmdb.h>

#include "ngx_http_calls_rtcd.h"


/* thousands of registrations take well under a megabyte */
#define NGX_HTTP_CALLS_RTCD_MAP_SIZE  (16 * 1024 * 1024)


static MDB_env    *ngx_http_calls_rtcd_env;
static MDB_dbi     ngx_http_calls_rtcd_dbi;


/*
 * The directory is one of nginx's paths, as a temp path is: nginx makes
 * it (mode 0700) and gives it to the workers' user at every start and
 * reload, and a failure there fails the configuration, not the master.
 */

ngx_int_t
ngx_http_calls_rtcd_store_path(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_path_t       *path;
    ngx_file_info_t   fi;

    /* name is NUL-terminated: from ngx_conf_full_name() */

    if (ngx_file_info(name->data, &fi) != NGX_FILE_ERROR
        && !ngx_is_dir(&fi))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "calls_rtcd_store: \"%V\" is not a directory",
                           name);
        return NGX_ERROR;
    }

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_ERROR;
    }

    path->name = *name;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    return ngx_add_path(cf, &path);
}


ngx_int_t
ngx_http_calls_rtcd_store_init(ngx_cycle_t *cycle, ngx_str_t *path)
{
    int        rc, dead;
    MDB_env   *env;
    MDB_txn   *txn;

    rc = mdb_env_create(&env);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "calls_rtcd_store: mdb_env_create() failed: %s",
                      mdb_strerror(rc));
        return NGX_ERROR;
    }

    rc = mdb_env_set_mapsize(env, NGX_HTTP_CALLS_RTCD_MAP_SIZE);
    if (rc != 0) {
        goto failed;
    }

    /*
     * MDB_NOTLS: read transactions are not bound to a thread, the event
     * loop's and the pool threads' may interleave
     */

    rc = mdb_env_open(env, (char *) path->data, MDB_NOTLS, 0600);
    if (rc != 0) {
        goto failed;
    }

    /* readers a crashed worker left in the lock table */

    dead = 0;
    (void) mdb_reader_check(env, &dead);

    if (dead) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "calls_rtcd_store: cleared %d stale readers", dead);
    }

    rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc != 0) {
        goto failed;
    }

    rc = mdb_dbi_open(txn, NULL, 0, &ngx_http_calls_rtcd_dbi);
    if (rc != 0) {
        mdb_txn_abort(txn);
        goto failed;
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        goto failed;
    }

    ngx_http_calls_rtcd_env = env;

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                  "calls_rtcd_store: opening \"%V\" failed: %s", path,
                  mdb_strerror(rc));

    mdb_env_close(env);

    return NGX_ERROR;
}


void
ngx_http_calls_rtcd_store_done(void)
{
    if (ngx_http_calls_rtcd_env) {
        mdb_env_close(ngx_http_calls_rtcd_env);
        ngx_http_calls_rtcd_env = NULL;
    }
}


ngx_int_t
ngx_http_calls_rtcd_store_get(ngx_str_t *id, u_char *hash, size_t size,
    size_t *len, char *err, size_t errlen)
{
    int        rc;
    MDB_val    key, val;
    MDB_txn   *txn;

    if (ngx_http_calls_rtcd_env == NULL) {
        ngx_cpystrn((u_char *) err, (u_char *) "the store is not open",
                    errlen);
        return NGX_ERROR;
    }

    rc = mdb_txn_begin(ngx_http_calls_rtcd_env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        goto failed;
    }

    key.mv_data = id->data;
    key.mv_size = id->len;

    rc = mdb_get(txn, ngx_http_calls_rtcd_dbi, &key, &val);

    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return NGX_DECLINED;
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        goto failed;
    }

    if (val.mv_size == 0 || val.mv_size >= size) {
        mdb_txn_abort(txn);
        *ngx_snprintf((u_char *) err, errlen - 1,
                      "stored value of %uz bytes", val.mv_size) = '\0';
        return NGX_ERROR;
    }

    ngx_memcpy(hash, val.mv_data, val.mv_size);
    hash[val.mv_size] = '\0';
    *len = val.mv_size;

    mdb_txn_abort(txn);

    return NGX_OK;

failed:

    *ngx_snprintf((u_char *) err, errlen - 1, "failed to get key: %s",
                  mdb_strerror(rc)) = '\0';

    return NGX_ERROR;
}


/* in a thread of the pool */

ngx_int_t
ngx_http_calls_rtcd_store_put(u_char *id, u_char *hash, char *err,
    size_t errlen)
{
    int        rc;
    MDB_val    key, val;
    MDB_txn   *txn;

    if (ngx_http_calls_rtcd_env == NULL) {
        ngx_cpystrn((u_char *) err, (u_char *) "the store is not open",
                    errlen);
        return NGX_ERROR;
    }

    rc = mdb_txn_begin(ngx_http_calls_rtcd_env, NULL, 0, &txn);
    if (rc != 0) {
        goto failed;
    }

    key.mv_data = id;
    key.mv_size = ngx_strlen(id);
    val.mv_data = hash;
    val.mv_size = ngx_strlen(hash);

    /* a registration never replaces another (rtcd's ErrConflict) */

    rc = mdb_put(txn, ngx_http_calls_rtcd_dbi, &key, &val, MDB_NOOVERWRITE);

    if (rc == MDB_KEYEXIST) {
        mdb_txn_abort(txn);
        return NGX_DECLINED;
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        goto failed;
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        goto failed;
    }

    return NGX_OK;

failed:

    *ngx_snprintf((u_char *) err, errlen - 1, "failed to set key: %s",
                  mdb_strerror(rc)) = '\0';

    return NGX_ERROR;
}


/* in a thread of the pool */

ngx_int_t
ngx_http_calls_rtcd_store_delete(u_char *id, char *err, size_t errlen)
{
    int        rc;
    MDB_val    key;
    MDB_txn   *txn;

    if (ngx_http_calls_rtcd_env == NULL) {
        ngx_cpystrn((u_char *) err, (u_char *) "the store is not open",
                    errlen);
        return NGX_ERROR;
    }

    rc = mdb_txn_begin(ngx_http_calls_rtcd_env, NULL, 0, &txn);
    if (rc != 0) {
        goto failed;
    }

    key.mv_data = id;
    key.mv_size = ngx_strlen(id);

    rc = mdb_del(txn, ngx_http_calls_rtcd_dbi, &key, NULL);

    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return NGX_DECLINED;
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        goto failed;
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        goto failed;
    }

    return NGX_OK;

failed:

    *ngx_snprintf((u_char *) err, errlen - 1, "failed to delete key: %s",
                  mdb_strerror(rc)) = '\0';

    return NGX_ERROR;
}
