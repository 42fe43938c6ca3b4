
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The plugin's WebSocket (rtcd service/ws, service/client_msg.go,
 * service/service.go): binary messages, each two msgpack values one
 * after the other, the type (a string) and its data.
 *
 *   in:  join {callID, userID, sessionID, channelID, av1Support,
 *              dcSignaling}
 *        leave {sessionID}, reconnect {sessionID}
 *        rtc {group_id, user_id, session_id, call_id, type, data}
 *   out: hello {clientID, connID} when the connection opens
 *        rtc, vad (the same map, vad without data)
 *        close {sessionID} when a session ends
 *
 * Decoding is tolerant as vmihailenco/msgpack is: any integer width,
 * str or bin for strings and data, keys in any order, unknown keys
 * ignored.  A message that does not decode closes this connection with
 * 1007 and the reason (rtcd only logs it); one that decodes but cannot be
 * carried out (an unknown session, a join refused) is logged, as rtcd
 * does, and the connection goes on.
 *
 * The authenticated client ID is the group of the sessions joined here,
 * and a connection acts on its group's sessions only.  A session's
 * events go to the connection that last claimed it (join, reconnect);
 * when a connection closes, its sessions wait for the next connection of
 * the same client, which takes them all (rtcd keeps sending them to the
 * closed connection until each is reconnected).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <msgpack.h>

#include "ngx_calls.h"
#include "ngx_calls_dc.h"
#include "ngx_calls_stats.h"
#include "ngx_http_calls.h"
#include "ngx_http_calls_ws.h"
#include "ngx_http_calls_rtcd.h"


typedef struct {
    ngx_http_calls_ws_t       *ws;
    ngx_calls_endpoint_t       ep;
    ngx_log_t                 *log;
    ngx_str_t                  conn_id;
    u_char                     conn_buf[NGX_HTTP_CALLS_RTCD_ID_LEN];
    unsigned                   ep_open:1;
    unsigned                   closed:1;
} ngx_http_calls_rtcd_ws_ctx_t;


/* what we use of an rtc.Message: the session decides the rest */
typedef struct {
    ngx_str_t                  session_id;
    int64_t                    type;
    ngx_str_t                  data;
} ngx_http_calls_rtcd_msg_t;


static void ngx_http_calls_rtcd_ws_message(ngx_http_calls_ws_t *ws,
    ngx_uint_t opcode, u_char *data, size_t len);
static void ngx_http_calls_rtcd_ws_closed(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_rtcd_ws_dispatch(
    ngx_http_calls_rtcd_ws_ctx_t *ctx, ngx_str_t *type, msgpack_object *data);
static void ngx_http_calls_rtcd_ws_join(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    msgpack_object *data);
static void ngx_http_calls_rtcd_ws_session(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    ngx_str_t *type, msgpack_object *data);
static void ngx_http_calls_rtcd_ws_rtc(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    msgpack_object *data);
static ngx_int_t ngx_http_calls_rtcd_ws_mine(
    ngx_http_calls_rtcd_ws_ctx_t *ctx, ngx_str_t *session_id,
    const char *what);
static void ngx_http_calls_rtcd_ws_event(ngx_calls_endpoint_t *ep,
    ngx_calls_event_t *ev);
static void ngx_http_calls_rtcd_ws_hello(ngx_http_calls_rtcd_ws_ctx_t *ctx);
static void ngx_http_calls_rtcd_ws_send_rtc(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    const char *type, ngx_calls_event_t *ev, ngx_uint_t rtc_type);
static void ngx_http_calls_rtcd_ws_send_close(
    ngx_http_calls_rtcd_ws_ctx_t *ctx, ngx_str_t *session_id);
static void ngx_http_calls_rtcd_ws_send(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    msgpack_sbuffer *sb, const char *type);
static void ngx_http_calls_rtcd_ws_bad(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    const char *fmt, ...);

static ngx_int_t ngx_http_calls_rtcd_mp_str(msgpack_object *o, ngx_str_t *s);
static msgpack_object *ngx_http_calls_rtcd_mp_get(msgpack_object *map,
    const char *key);
static int ngx_http_calls_rtcd_mp_pack_str(msgpack_packer *pk, ngx_str_t *s);
static int ngx_http_calls_rtcd_mp_pack_cstr(msgpack_packer *pk,
    const char *s);


static const ngx_http_calls_ws_handler_t  ngx_http_calls_rtcd_ws_handler = {
    ngx_http_calls_rtcd_ws_message,
    ngx_http_calls_rtcd_ws_closed
};


/* after the authentication of GET /ws */

void
ngx_http_calls_rtcd_ws(ngx_http_calls_rtcd_ctx_t *actx)
{
    ngx_int_t                      rc;
    ngx_str_t                      text;
    ngx_http_request_t            *r;
    ngx_http_calls_loc_conf_t     *clcf;
    ngx_http_calls_rtcd_ws_ctx_t  *ctx;

    r = actx->request;

    /*
     * rtcd answers nothing at all to a failed authentication (Go then
     * sends an empty 200); the client fails either way, and a 401 says
     * why.
     */

    if (actx->auth_status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "calls rtcd: WebSocket refused: %V", &actx->auth_error);

        text.data = ngx_pnalloc(r->pool, actx->auth_error.len + 1);
        if (text.data == NULL) {
            ngx_http_calls_rtcd_finish(actx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        text.len = ngx_sprintf(text.data, "%V\n", &actx->auth_error)
                   - text.data;

        ngx_http_calls_rtcd_finish(actx,
                      ngx_http_calls_rtcd_text(r, NGX_HTTP_UNAUTHORIZED,
                                               &text));
        return;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_calls_rtcd_ws_ctx_t));
    if (ctx == NULL) {
        ngx_http_calls_rtcd_finish(actx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->log = r->connection->log;

    /* the request's pool outlives the connection's endpoint */

    ctx->ep.group.data = ngx_pnalloc(r->pool, actx->client_id.len + 1);
    if (ctx->ep.group.data == NULL) {
        ngx_http_calls_rtcd_finish(actx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->ep.group.len = actx->client_id.len;
    ngx_memcpy(ctx->ep.group.data, actx->client_id.data,
               actx->client_id.len);

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_calls_module);

    rc = ngx_http_calls_ws_accept(r, &clcf->ws, &ngx_http_calls_rtcd_ws_handler,
                                  ctx, &ctx->ws);

    if (rc != NGX_DONE) {
        ngx_http_calls_rtcd_finish(actx, rc);
        return;
    }

    /* a connection ID of ours, as rtcd's random.NewID() */

    ngx_http_calls_rtcd_random(ctx->conn_buf, NGX_HTTP_CALLS_RTCD_ID_LEN,
                               ngx_http_calls_rtcd_id_alphabet);
    ctx->conn_id.data = ctx->conn_buf;
    ctx->conn_id.len = NGX_HTTP_CALLS_RTCD_ID_LEN;

    ctx->ep.handler = ngx_http_calls_rtcd_ws_event;
    ctx->ep.data = ctx;
    ctx->ep.log = r->connection->log;
    ctx->ep.members = 0;

    ngx_log_error(NGX_LOG_NOTICE, ctx->log, 0,
                  "calls rtcd: mattermost client \"%V\" connected, "
                  "connection \"%V\"", &ctx->ep.group, &ctx->conn_id);

    if (ngx_calls_endpoint_open(&ctx->ep) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: endpoint registration failed");
        ngx_http_calls_ws_close(ctx->ws, NGX_HTTP_CALLS_WS_INTERNAL_ERROR,
                                "internal error");
        ngx_http_calls_rtcd_finish(actx, NGX_DONE);
        return;
    }

    ctx->ep_open = 1;

    ngx_calls_stats_ws_connections(&ctx->ep.group, 1);

    ngx_http_calls_rtcd_ws_hello(ctx);

    /* sessions of this client whose connection went away come here */

    ngx_calls_endpoint_adopt(&ctx->ep);

    ngx_http_calls_rtcd_finish(actx, NGX_DONE);
}


static void
ngx_http_calls_rtcd_ws_closed(ngx_http_calls_ws_t *ws)
{
    ngx_http_calls_rtcd_ws_ctx_t  *ctx;

    ctx = ngx_http_calls_ws_data(ws);

    ctx->closed = 1;

    if (!ctx->ep_open) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ctx->log, 0,
                  "calls rtcd: mattermost client \"%V\" disconnected, "
                  "connection \"%V\"", &ctx->ep.group, &ctx->conn_id);

    /* its sessions live on (rtcd keeps calls when the plugin goes) */

    ctx->ep_open = 0;
    ngx_calls_endpoint_close(&ctx->ep);

    ngx_calls_stats_ws_connections(&ctx->ep.group, -1);
}


static void
ngx_http_calls_rtcd_ws_message(ngx_http_calls_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    size_t                         off, end;
    ngx_str_t                      type;
    msgpack_unpacked               mtype, mdata;
    msgpack_unpack_return          ret;
    ngx_http_calls_rtcd_ws_ctx_t  *ctx;

    ctx = ngx_http_calls_ws_data(ws);

    if (!ctx->ep_open) {
        return;
    }

    if (opcode != NGX_HTTP_CALLS_WS_BINARY) {
        ngx_log_error(NGX_LOG_WARN, ctx->log, 0,
                      "calls rtcd: unexpected text message from client "
                      "\"%V\" ignored", &ctx->ep.group);
        return;
    }

    /*
     * The containers must fit the message before msgpack-c builds them:
     * it allocates what a header declares.
     */

    if (ngx_calls_dc_walk(data, len, 2, &end) != 0) {
        ngx_http_calls_rtcd_ws_bad(ctx, "not msgpack, or cut short");
        return;
    }

    if (end != len) {
        ngx_http_calls_rtcd_ws_bad(ctx, "bytes after the data");
        return;
    }

    off = 0;

    msgpack_unpacked_init(&mtype);
    msgpack_unpacked_init(&mdata);

    ret = msgpack_unpack_next(&mtype, (const char *) data, len, &off);

    if (ret != MSGPACK_UNPACK_SUCCESS && ret != MSGPACK_UNPACK_EXTRA_BYTES) {
        if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
            goto nomem;
        }

        ngx_http_calls_rtcd_ws_bad(ctx, "not msgpack");
        goto done;
    }

    if (ngx_http_calls_rtcd_mp_str(&mtype.data, &type) != NGX_OK
        || type.len == 0)
    {
        ngx_http_calls_rtcd_ws_bad(ctx, "the type is not a string");
        goto done;
    }

    ret = msgpack_unpack_next(&mdata, (const char *) data, len, &off);

    if (ret == MSGPACK_UNPACK_CONTINUE) {
        ngx_http_calls_rtcd_ws_bad(ctx, "no data after the type");
        goto done;
    }

    if (ret != MSGPACK_UNPACK_SUCCESS) {
        if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
            goto nomem;
        }

        ngx_http_calls_rtcd_ws_bad(ctx, "the data is not msgpack");
        goto done;
    }

    ngx_http_calls_rtcd_ws_dispatch(ctx, &type, &mdata.data);

done:

    msgpack_unpacked_destroy(&mtype);
    msgpack_unpacked_destroy(&mdata);

    return;

nomem:

    msgpack_unpacked_destroy(&mtype);
    msgpack_unpacked_destroy(&mdata);

    ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                  "calls rtcd: out of memory decoding a message of %uz bytes",
                  len);

    ngx_http_calls_ws_close(ctx->ws, NGX_HTTP_CALLS_WS_INTERNAL_ERROR,
                            "out of memory");
}


static void
ngx_http_calls_rtcd_ws_dispatch(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    ngx_str_t *type, msgpack_object *data)
{
    ngx_uint_t  i;

#define ngx_http_calls_rtcd_is(s)                                            \
    (type->len == sizeof(s) - 1 && ngx_strncmp(type->data, s, type->len) == 0)

    /* rtcd counts each message it could decode, by type */

    for (i = 0; i < NGX_CALLS_STATS_MSG_N; i++) {
        if (i != NGX_CALLS_STATS_MSG_VAD
            && type->len == ngx_strlen(ngx_calls_stats_msg_names[i])
            && ngx_strncmp(type->data, ngx_calls_stats_msg_names[i],
                           type->len) == 0)
        {
            break;
        }
    }

    if (ngx_http_calls_rtcd_is("join")) {

        if (data->type != MSGPACK_OBJECT_MAP) {
            ngx_http_calls_rtcd_ws_bad(ctx, "join: the data is not a map");
            return;
        }

        ngx_calls_stats_ws_message(&ctx->ep.group, i, 0);
        ngx_http_calls_rtcd_ws_join(ctx, data);

    } else if (ngx_http_calls_rtcd_is("leave")
               || ngx_http_calls_rtcd_is("reconnect"))
    {
        if (data->type != MSGPACK_OBJECT_MAP) {
            ngx_http_calls_rtcd_ws_bad(ctx, "%V: the data is not a map",
                                       type);
            return;
        }

        ngx_calls_stats_ws_message(&ctx->ep.group, i, 0);
        ngx_http_calls_rtcd_ws_session(ctx, type, data);

    } else if (ngx_http_calls_rtcd_is("rtc")) {

        if (data->type != MSGPACK_OBJECT_MAP) {
            ngx_http_calls_rtcd_ws_bad(ctx, "rtc: the data is not a map");
            return;
        }

        ngx_http_calls_rtcd_ws_rtc(ctx, data);

    } else {
        /* hello, close, vad or unknown: rtcd logs and goes on */

        if (ngx_http_calls_rtcd_valid_id(type) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                          "calls rtcd: unexpected client message type of "
                          "%uz bytes, not all printable, from client \"%V\"",
                          type->len, &ctx->ep.group);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: unexpected client message type \"%V\" "
                      "from client \"%V\"", type, &ctx->ep.group);
    }

#undef ngx_http_calls_rtcd_is
}


/*
 * join: rtc.SessionConfig.FromMap(); the group is the connection's client
 * ID, not something the message says.
 */

static void
ngx_http_calls_rtcd_ws_join(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    msgpack_object *data)
{
    ngx_int_t          rc;
    ngx_str_t          err;
    ngx_pool_t        *pool;
    msgpack_object    *o;
    ngx_calls_join_t   j;

    ngx_memzero(&j, sizeof(ngx_calls_join_t));

    /* values of another type read as empty, as Go's type assertions */

    (void) ngx_http_calls_rtcd_mp_str(ngx_http_calls_rtcd_mp_get(data,
                                                   "callID"), &j.call_id);
    (void) ngx_http_calls_rtcd_mp_str(ngx_http_calls_rtcd_mp_get(data,
                                                   "userID"), &j.user_id);
    (void) ngx_http_calls_rtcd_mp_str(ngx_http_calls_rtcd_mp_get(data,
                                                 "sessionID"), &j.session_id);
    (void) ngx_http_calls_rtcd_mp_str(ngx_http_calls_rtcd_mp_get(data,
                                                 "channelID"), &j.channel_id);

    o = ngx_http_calls_rtcd_mp_get(data, "av1Support");
    j.av1_support = (o && o->type == MSGPACK_OBJECT_BOOLEAN
                     && o->via.boolean) ? 1 : 0;

    o = ngx_http_calls_rtcd_mp_get(data, "dcSignaling");
    j.dc_signaling = (o && o->type == MSGPACK_OBJECT_BOOLEAN
                      && o->via.boolean) ? 1 : 0;

    /* rtc.SessionConfig.IsValid() */

    if (ctx->ep.group.len == 0) {
        ngx_str_set(&err, "invalid GroupID value: should not be empty "
                    "(the admin cannot join)");
        goto refused;
    }

    if (j.call_id.len == 0) {
        ngx_str_set(&err, "invalid CallID value: should not be empty");
        goto refused;
    }

    if (j.user_id.len == 0) {
        ngx_str_set(&err, "invalid UserID value: should not be empty");
        goto refused;
    }

    if (j.session_id.len == 0) {
        ngx_str_set(&err, "invalid SessionID value: should not be empty");
        goto refused;
    }

    if (ngx_http_calls_rtcd_valid_id(&j.call_id) != NGX_OK
        || ngx_http_calls_rtcd_valid_id(&j.user_id) != NGX_OK
        || ngx_http_calls_rtcd_valid_id(&j.session_id) != NGX_OK)
    {
        ngx_str_set(&err, "callID, userID and sessionID must be 1 to 64 "
                    "printable ASCII characters without spaces");
        goto refused;
    }

    pool = ngx_create_pool(1024, ctx->log);
    if (pool == NULL) {
        ngx_str_set(&err, "out of memory");
        goto refused;
    }

    ngx_str_set(&err, "refused");

    rc = ngx_calls_join(&ctx->ep, &j, pool, &err);

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                      "calls rtcd: session \"%V\" of user \"%V\" joined "
                      "call \"%V\" of client \"%V\"", &j.session_id,
                      &j.user_id, &j.call_id, &ctx->ep.group);
        ngx_destroy_pool(pool);
        return;
    }

    if (rc != NGX_DECLINED) {
        ngx_str_set(&err, "internal error");
    }

    ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                  "calls rtcd: failed to initialize rtc session \"%V\" of "
                  "client \"%V\": %V", &j.session_id, &ctx->ep.group, &err);

    ngx_destroy_pool(pool);

    return;

refused:

    ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                  "calls rtcd: join from client \"%V\" refused: %V",
                  &ctx->ep.group, &err);
}


/* leave, reconnect: {"sessionID": ...} */

static void
ngx_http_calls_rtcd_ws_session(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    ngx_str_t *type, msgpack_object *data)
{
    ngx_str_t   session_id;
    ngx_uint_t  leave;

    if (ngx_http_calls_rtcd_mp_str(ngx_http_calls_rtcd_mp_get(data,
                                                              "sessionID"),
                                   &session_id)
        != NGX_OK
        || session_id.len == 0)
    {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: %V from client \"%V\": missing sessionID "
                      "in client message", type, &ctx->ep.group);
        return;
    }

    if (ngx_http_calls_rtcd_valid_id(&session_id) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: %V from client \"%V\": a sessionID of "
                      "%uz bytes, not all printable", type, &ctx->ep.group,
                      session_id.len);
        return;
    }

    leave = (type->data[0] == 'l');

    if (ngx_http_calls_rtcd_ws_mine(ctx, &session_id,
                                    leave ? "leave" : "reconnect")
        != NGX_OK)
    {
        return;
    }

    if (leave) {
        ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                      "calls rtcd: session \"%V\" leaves", &session_id);

        (void) ngx_calls_leave(&session_id, "left");
        return;
    }

    /* reconnect: this connection carries the session from now on */

    if (ngx_calls_claim(&ctx->ep, &session_id) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                      "calls rtcd: session \"%V\" now on connection \"%V\"",
                      &session_id, &ctx->conn_id);
    }
}


/* rtc: an rtc.Message for a session */

static void
ngx_http_calls_rtcd_ws_rtc(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    msgpack_object *data)
{
    ngx_str_t                   err, other;
    ngx_uint_t                  i;
    msgpack_object_kv          *kv;
    ngx_http_calls_rtcd_msg_t   m;

    static ngx_str_t  empty = ngx_string("");

    ngx_memzero(&m, sizeof(ngx_http_calls_rtcd_msg_t));
    m.data = empty;

    /* a struct from a map: known keys, any order, nil for empty */

    for (i = 0; i < data->via.map.size; i++) {
        kv = &data->via.map.ptr[i];

        if (kv->key.type != MSGPACK_OBJECT_STR
            && kv->key.type != MSGPACK_OBJECT_BIN)
        {
            ngx_http_calls_rtcd_ws_bad(ctx, "rtc: a key is not a string");
            return;
        }

#define ngx_http_calls_rtcd_key(s)                                           \
    (kv->key.via.str.size == sizeof(s) - 1                                   \
     && ngx_strncmp(kv->key.via.str.ptr, s, sizeof(s) - 1) == 0)

        if (ngx_http_calls_rtcd_key("type")) {

            if (kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                m.type = kv->val.via.u64 > 1000 ? 1000
                                                : (int64_t) kv->val.via.u64;

            } else if (kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                m.type = -1;

            } else if (kv->val.type != MSGPACK_OBJECT_NIL) {
                ngx_http_calls_rtcd_ws_bad(ctx, "rtc: \"type\" is not an "
                                           "integer");
                return;
            }

            continue;
        }

        if (ngx_http_calls_rtcd_key("data")) {
            if (ngx_http_calls_rtcd_mp_str(&kv->val, &m.data) != NGX_OK) {
                ngx_http_calls_rtcd_ws_bad(ctx, "rtc: \"data\" is not bin "
                                           "or str");
                return;
            }

            continue;
        }

        if (ngx_http_calls_rtcd_key("session_id")) {
            if (ngx_http_calls_rtcd_mp_str(&kv->val, &m.session_id)
                != NGX_OK)
            {
                ngx_http_calls_rtcd_ws_bad(ctx, "rtc: \"session_id\" is not "
                                           "a string");
                return;
            }

            continue;
        }

        if ((ngx_http_calls_rtcd_key("group_id")
             || ngx_http_calls_rtcd_key("user_id")
             || ngx_http_calls_rtcd_key("call_id"))
            && ngx_http_calls_rtcd_mp_str(&kv->val, &other) != NGX_OK)
        {
            ngx_http_calls_rtcd_ws_bad(ctx, "rtc: \"%*s\" is not a string",
                                       (size_t) kv->key.via.str.size,
                                       kv->key.via.str.ptr);
            return;
        }

#undef ngx_http_calls_rtcd_key
    }

    ngx_calls_stats_ws_message(&ctx->ep.group, NGX_CALLS_STATS_MSG_RTC, 0);

    /* rtc.Message.IsValid() */

    if (m.session_id.len == 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: invalid message from client \"%V\": "
                      "invalid SessionID value: should not be empty",
                      &ctx->ep.group);
        return;
    }

    if (ngx_http_calls_rtcd_valid_id(&m.session_id) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: rtc from client \"%V\": a session_id of "
                      "%uz bytes, not all printable", &ctx->ep.group,
                      m.session_id.len);
        return;
    }

    if (m.type == 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: invalid message from client \"%V\" for "
                      "session \"%V\": invalid Type value", &ctx->ep.group,
                      &m.session_id);
        return;
    }

    if (ngx_http_calls_rtcd_ws_mine(ctx, &m.session_id, "rtc") != NGX_OK) {
        return;
    }

    switch (m.type) {

    case NGX_CALLS_RTC_ICE:
    case NGX_CALLS_RTC_SDP:
    case NGX_CALLS_RTC_MUTE:
    case NGX_CALLS_RTC_UNMUTE:
    case NGX_CALLS_RTC_SCREEN_ON:
    case NGX_CALLS_RTC_SCREEN_OFF:
    case NGX_CALLS_RTC_VIDEO_ON:
    case NGX_CALLS_RTC_VIDEO_OFF:
        break;

    default:
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: received unexpected message type %L for "
                      "session \"%V\"", m.type, &m.session_id);
        return;
    }

    /* an ICE message with no candidate ends the candidates: nothing to do */

    if (m.type == NGX_CALLS_RTC_ICE && m.data.len == 0) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->log, 0,
                   "calls rtcd: rtc message type %L for session \"%V\"",
                   m.type, &m.session_id);

    ngx_str_set(&err, "refused");

    if (ngx_calls_signal(&ctx->ep, &m.session_id, (ngx_uint_t) m.type,
                         &m.data, &err)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: message type %L for session \"%V\": %V",
                      m.type, &m.session_id, &err);
    }
}


/*
 * A connection acts on the sessions of its own client: rtcd routes by
 * session ID alone, so one Mattermost installation could reach into
 * another's calls.
 */

static ngx_int_t
ngx_http_calls_rtcd_ws_mine(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    ngx_str_t *session_id, const char *what)
{
    ngx_int_t  rc;

    rc = ngx_calls_session_group(session_id, &ctx->ep.group);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: %s from client \"%V\": session \"%V\" "
                      "not found", what, &ctx->ep.group, session_id);
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ctx->log, 0,
                      "calls rtcd: %s from client \"%V\": session \"%V\" "
                      "belongs to another client", what, &ctx->ep.group,
                      session_id);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* events of the sessions this connection carries */

static void
ngx_http_calls_rtcd_ws_event(ngx_calls_endpoint_t *ep, ngx_calls_event_t *ev)
{
    ngx_http_calls_rtcd_ws_ctx_t  *ctx;

    ctx = ep->data;

    if (ctx->closed) {
        return;
    }

    switch (ev->type) {

    case NGX_CALLS_EVENT_SIGNAL:
        ngx_http_calls_rtcd_ws_send_rtc(ctx, "rtc", ev, ev->rtc_type);
        return;

    case NGX_CALLS_EVENT_VOICE_ON:
        ngx_http_calls_rtcd_ws_send_rtc(ctx, "vad", ev,
                                        NGX_CALLS_RTC_VOICE_ON);
        return;

    case NGX_CALLS_EVENT_VOICE_OFF:
        ngx_http_calls_rtcd_ws_send_rtc(ctx, "vad", ev,
                                        NGX_CALLS_RTC_VOICE_OFF);
        return;

    case NGX_CALLS_EVENT_CLOSE:
        ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                      "calls rtcd: session \"%V\" closed: %V",
                      &ev->session_id, &ev->data);
        ngx_http_calls_rtcd_ws_send_close(ctx, &ev->session_id);
        return;

    case NGX_CALLS_EVENT_ERROR:
        /* the plugin has no message for it; rtcd logs such errors */
        ngx_log_error(NGX_LOG_WARN, ctx->log, 0,
                      "calls rtcd: session \"%V\": %V", &ev->session_id,
                      &ev->data);
        return;

    default:
        return;
    }
}


static void
ngx_http_calls_rtcd_ws_hello(ngx_http_calls_rtcd_ws_ctx_t *ctx)
{
    msgpack_packer   pk;
    msgpack_sbuffer  sb;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    if (ngx_http_calls_rtcd_mp_pack_cstr(&pk, "hello") != 0
        || msgpack_pack_map(&pk, 2) != 0
        || ngx_http_calls_rtcd_mp_pack_cstr(&pk, "clientID") != 0
        || ngx_http_calls_rtcd_mp_pack_str(&pk, &ctx->ep.group) != 0
        || ngx_http_calls_rtcd_mp_pack_cstr(&pk, "connID") != 0
        || ngx_http_calls_rtcd_mp_pack_str(&pk, &ctx->conn_id) != 0)
    {
        msgpack_sbuffer_destroy(&sb);
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: failed to pack hello message");
        return;
    }

    ngx_http_calls_rtcd_ws_send(ctx, &sb, NULL);
}


/* rtc and vad: the rtc.Message of the session, vad without data */

static void
ngx_http_calls_rtcd_ws_send_rtc(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    const char *type, ngx_calls_event_t *ev, ngx_uint_t rtc_type)
{
    ngx_uint_t       data;
    msgpack_packer   pk;
    msgpack_sbuffer  sb;

    data = (ev->type == NGX_CALLS_EVENT_SIGNAL && ev->data.len) ? 1 : 0;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    if (ngx_http_calls_rtcd_mp_pack_cstr(&pk, type) != 0
        || msgpack_pack_map(&pk, 5 + data) != 0
        || ngx_http_calls_rtcd_mp_pack_cstr(&pk, "group_id") != 0
        || ngx_http_calls_rtcd_mp_pack_str(&pk, &ev->group_id) != 0
        || ngx_http_calls_rtcd_mp_pack_cstr(&pk, "user_id") != 0
        || ngx_http_calls_rtcd_mp_pack_str(&pk, &ev->user_id) != 0
        || ngx_http_calls_rtcd_mp_pack_cstr(&pk, "session_id") != 0
        || ngx_http_calls_rtcd_mp_pack_str(&pk, &ev->session_id) != 0
        || ngx_http_calls_rtcd_mp_pack_cstr(&pk, "call_id") != 0
        || ngx_http_calls_rtcd_mp_pack_str(&pk, &ev->call_id) != 0
        || ngx_http_calls_rtcd_mp_pack_cstr(&pk, "type") != 0
        || msgpack_pack_int64(&pk, (int64_t) rtc_type) != 0
        || (data
            && (ngx_http_calls_rtcd_mp_pack_cstr(&pk, "data") != 0
                || msgpack_pack_bin_with_body(&pk, ev->data.data,
                                              ev->data.len) != 0)))
    {
        msgpack_sbuffer_destroy(&sb);
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: failed to pack %s message of session "
                      "\"%V\"", type, &ev->session_id);
        return;
    }

    ngx_http_calls_rtcd_ws_send(ctx, &sb, type);
}


static void
ngx_http_calls_rtcd_ws_send_close(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    ngx_str_t *session_id)
{
    msgpack_packer   pk;
    msgpack_sbuffer  sb;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    if (ngx_http_calls_rtcd_mp_pack_cstr(&pk, "close") != 0
        || msgpack_pack_map(&pk, 1) != 0
        || ngx_http_calls_rtcd_mp_pack_cstr(&pk, "sessionID") != 0
        || ngx_http_calls_rtcd_mp_pack_str(&pk, session_id) != 0)
    {
        msgpack_sbuffer_destroy(&sb);
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls rtcd: failed to pack close message");
        return;
    }

    ngx_http_calls_rtcd_ws_send(ctx, &sb, NULL);
}


/* sends and frees sb; type: the metric's message type, or NULL */

static void
ngx_http_calls_rtcd_ws_send(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    msgpack_sbuffer *sb, const char *type)
{
    ngx_int_t  rc;

    rc = ngx_http_calls_ws_send(ctx->ws, NGX_HTTP_CALLS_WS_BINARY,
                                (u_char *) sb->data, sb->size);

    msgpack_sbuffer_destroy(sb);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                      "calls rtcd: a message to client \"%V\" was dropped: "
                      "the connection is closing", &ctx->ep.group);
        return;
    }

    if (type) {
        ngx_calls_stats_ws_message(&ctx->ep.group,
                                   type[0] == 'r' ? NGX_CALLS_STATS_MSG_RTC
                                                  : NGX_CALLS_STATS_MSG_VAD,
                                   1);
    }
}


/* a message that does not decode: this connection ends, with why */

static void
ngx_http_calls_rtcd_ws_bad(ngx_http_calls_rtcd_ws_ctx_t *ctx,
    const char *fmt, ...)
{
    u_char   *p, buf[128];
    va_list   args;

    p = ngx_cpymem(buf, "bad message: ", sizeof("bad message: ") - 1);

    va_start(args, fmt);
    p = ngx_vslprintf(p, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                  "calls rtcd: client \"%V\" sent a %s, closing its "
                  "connection \"%V\"", &ctx->ep.group, buf, &ctx->conn_id);

    ngx_http_calls_ws_close(ctx->ws, NGX_HTTP_CALLS_WS_INVALID_DATA,
                            (char *) buf);
}


/* msgpack helpers */

/* a string as vmihailenco decodes one: str, bin, or nil for "" */

static ngx_int_t
ngx_http_calls_rtcd_mp_str(msgpack_object *o, ngx_str_t *s)
{
    ngx_str_set(s, "");

    if (o == NULL || o->type == MSGPACK_OBJECT_NIL) {
        return NGX_OK;
    }

    if (o->type == MSGPACK_OBJECT_STR) {
        s->data = (u_char *) (o->via.str.size ? o->via.str.ptr : "");
        s->len = o->via.str.size;
        return NGX_OK;
    }

    if (o->type == MSGPACK_OBJECT_BIN) {
        s->data = (u_char *) (o->via.bin.size ? o->via.bin.ptr : "");
        s->len = o->via.bin.size;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the last value of key in a map (Go maps keep the last one) */

static msgpack_object *
ngx_http_calls_rtcd_mp_get(msgpack_object *map, const char *key)
{
    size_t              len;
    ngx_uint_t          i;
    msgpack_object     *found;
    msgpack_object_kv  *kv;

    len = ngx_strlen(key);
    found = NULL;

    for (i = 0; i < map->via.map.size; i++) {
        kv = &map->via.map.ptr[i];

        if ((kv->key.type == MSGPACK_OBJECT_STR
             || kv->key.type == MSGPACK_OBJECT_BIN)
            && kv->key.via.str.size == len
            && ngx_strncmp(kv->key.via.str.ptr, key, len) == 0)
        {
            found = &kv->val;
        }
    }

    return found;
}


static int
ngx_http_calls_rtcd_mp_pack_str(msgpack_packer *pk, ngx_str_t *s)
{
    if (msgpack_pack_str(pk, s->len) != 0) {
        return -1;
    }

    return s->len ? msgpack_pack_str_body(pk, s->data, s->len) : 0;
}


static int
ngx_http_calls_rtcd_mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    return msgpack_pack_str_with_body(pk, s, ngx_strlen(s));
}
