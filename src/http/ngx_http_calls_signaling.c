
/*
 * Copyright (C) ngx_calls authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <cJSON.h>

#include "ngx_calls.h"
#include "ngx_http_calls.h"
#include "ngx_http_calls_ws.h"


/*
 * The standalone signaling endpoint (calls_signaling): one WebSocket, one
 * session at a time, JSON text messages.
 *
 *   client: {"action":"join","data":{"channelID":"room",
 *                                    "av1Support":false,"dcSignaling":false}}
 *           {"action":"sdp","data":"<RTCSessionDescription JSON>"}
 *           {"action":"ice","data":"<RTCIceCandidateInit JSON>"}
 *           {"action":"mute"} {"action":"unmute"} {"action":"leave"}
 *           {"action":"screen_on","data":"{\"screenStreamID\":\"..\"}"}
 *           {"action":"video_on","data":"{\"videoStreamID\":\"..\"}"}
 *           {"action":"screen_off"} {"action":"video_off"}
 *
 *   server: {"event":"join","data":{"session_id":"..","call_id":"..",
 *                                   "ice_servers":[{"urls":[".."],
 *                                       "username":"..","credential":".."}]}}
 *           {"event":"signal","data":{"data":"<JSON>"}}
 *           {"event":"user_joined"|"user_left"|"user_muted"|
 *                    "user_unmuted"|"user_voice_on"|"user_voice_off"|
 *                    "user_screen_on"|"user_screen_off"|
 *                    "user_video_on"|"user_video_off",
 *            "data":{"session_id":".."}}
 *           {"event":"error","data":{"message":".."}}
 *
 * Bad messages get an error event; the connection stays open.  When the
 * server ends the session (not the client's leave) the client gets an
 * error event "session ended: <reason>" and user_left with its own
 * session id.
 */


#define NGX_HTTP_CALLS_ROOM_MAX  64


typedef struct {
    ngx_http_calls_ws_t       *ws;
    ngx_calls_endpoint_t       ep;
    ngx_log_t                 *log;

    /* the current session */
    ngx_str_t                  session_id;
    ngx_str_t                  call_id;
    u_char                     session_buf[NGX_CALLS_MAX_ID];
    u_char                     call_buf[NGX_CALLS_MAX_ID];

    /* a session we left whose CLOSE event is yet to come */
    ngx_str_t                  left_id;
    u_char                     left_buf[NGX_CALLS_MAX_ID];

    unsigned                   joined:1;
    unsigned                   ep_open:1;
    unsigned                   closed:1;
} ngx_http_calls_signaling_ctx_t;


static void ngx_http_calls_signaling_message(ngx_http_calls_ws_t *ws,
    ngx_uint_t opcode, u_char *data, size_t len);
static void ngx_http_calls_signaling_closed(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_signaling_join(ngx_http_calls_signaling_ctx_t *ctx,
    cJSON *data);
static ngx_int_t ngx_http_calls_signaling_ice_servers(
    ngx_http_calls_signaling_ctx_t *ctx, cJSON *reply, ngx_pool_t *pool);
static void ngx_http_calls_signaling_signal(
    ngx_http_calls_signaling_ctx_t *ctx, ngx_uint_t rtc_type, cJSON *data,
    const char *action);
static void ngx_http_calls_signaling_leave(
    ngx_http_calls_signaling_ctx_t *ctx, const char *reason);
static void ngx_http_calls_signaling_event(ngx_calls_endpoint_t *ep,
    ngx_calls_event_t *ev);
static void ngx_http_calls_signaling_user(ngx_http_calls_signaling_ctx_t *ctx,
    const char *event, ngx_str_t *session_id);
static void ngx_http_calls_signaling_error(ngx_http_calls_signaling_ctx_t *ctx,
    const char *fmt, ...);
static void ngx_http_calls_signaling_send(ngx_http_calls_signaling_ctx_t *ctx,
    const char *event, cJSON *data);
static ngx_int_t ngx_http_calls_signaling_add_str(cJSON *obj,
    const char *name, ngx_str_t *value);
static cJSON *ngx_http_calls_signaling_string(ngx_str_t *value);
static size_t ngx_http_calls_signaling_utf8_cut(u_char *p, size_t len);
static ngx_int_t ngx_http_calls_signaling_valid_room(const char *room);
static void ngx_http_calls_signaling_copy_id(ngx_str_t *dst, u_char *buf,
    ngx_str_t *src);
static ngx_uint_t ngx_http_calls_signaling_same(ngx_str_t *a, ngx_str_t *b);


static const ngx_http_calls_ws_handler_t  ngx_http_calls_signaling_ws = {
    ngx_http_calls_signaling_message,
    ngx_http_calls_signaling_closed
};


ngx_int_t
ngx_http_calls_signaling_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_calls_loc_conf_t       *clcf;
    ngx_http_calls_signaling_ctx_t  *ctx;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_calls_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_calls_signaling_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->log = r->connection->log;

    rc = ngx_http_calls_ws_accept(r, &clcf->ws, &ngx_http_calls_signaling_ws,
                                  ctx, &ctx->ws);

    if (rc != NGX_DONE) {
        return rc;
    }

    ctx->ep.handler = ngx_http_calls_signaling_event;
    ctx->ep.data = ctx;
    ctx->ep.log = r->connection->log;
    /*
     * Empty strings here and below point somewhere: code that copies or
     * prints them must not see memcpy(dst, NULL, 0).
     */

    ngx_str_set(&ctx->ep.group, "");
    ctx->ep.members = 1;

    if (ngx_calls_endpoint_open(&ctx->ep) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls signaling: endpoint registration failed");
        ngx_http_calls_ws_close(ctx->ws, NGX_HTTP_CALLS_WS_INTERNAL_ERROR,
                                "internal error");
        return NGX_DONE;
    }

    ctx->ep_open = 1;

    return NGX_DONE;
}


static void
ngx_http_calls_signaling_message(ngx_http_calls_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    cJSON                           *msg, *action, *payload;
    size_t                           n;
    const char                      *name, *end;
    ngx_http_calls_signaling_ctx_t  *ctx;

    ctx = ngx_http_calls_ws_data(ws);

    if (!ctx->ep_open) {
        return;
    }

    if (opcode != NGX_HTTP_CALLS_WS_TEXT) {
        ngx_http_calls_signaling_error(ctx, "binary messages are not "
                                       "supported, send JSON text");
        return;
    }

    end = NULL;
    msg = cJSON_ParseWithLengthOpts((const char *) data, len, &end, 0);

    if (msg == NULL) {
        ngx_http_calls_signaling_error(ctx, "invalid JSON at offset %uz",
                     (size_t) (end ? end - (const char *) data : 0));
        return;
    }

    /* one value per message: nothing but spaces may follow it */

    while (end < (const char *) data + len
           && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
    {
        end++;
    }

    if (end != (const char *) data + len) {
        ngx_http_calls_signaling_error(ctx, "invalid JSON at offset %uz: "
                                       "data after the value",
                                       (size_t) (end - (const char *) data));
        goto done;
    }

    if (!cJSON_IsObject(msg)) {
        ngx_http_calls_signaling_error(ctx, "a message must be a JSON object");
        goto done;
    }

    action = cJSON_GetObjectItemCaseSensitive(msg, "action");

    if (action == NULL) {
        ngx_http_calls_signaling_error(ctx, "missing \"action\"");
        goto done;
    }

    if (!cJSON_IsString(action)) {
        ngx_http_calls_signaling_error(ctx, "\"action\" must be a string");
        goto done;
    }

    name = action->valuestring;
    payload = cJSON_GetObjectItemCaseSensitive(msg, "data");

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->log, 0,
                   "calls signaling action \"%s\"", name);

    if (ngx_strcmp(name, "join") == 0) {
        ngx_http_calls_signaling_join(ctx, payload);

    } else if (ngx_strcmp(name, "sdp") == 0) {
        ngx_http_calls_signaling_signal(ctx, NGX_CALLS_RTC_SDP, payload,
                                        name);

    } else if (ngx_strcmp(name, "ice") == 0) {
        ngx_http_calls_signaling_signal(ctx, NGX_CALLS_RTC_ICE, payload,
                                        name);

    } else if (ngx_strcmp(name, "mute") == 0) {
        ngx_http_calls_signaling_signal(ctx, NGX_CALLS_RTC_MUTE, NULL, name);

    } else if (ngx_strcmp(name, "unmute") == 0) {
        ngx_http_calls_signaling_signal(ctx, NGX_CALLS_RTC_UNMUTE, NULL,
                                        name);

    } else if (ngx_strcmp(name, "screen_on") == 0) {
        ngx_http_calls_signaling_signal(ctx, NGX_CALLS_RTC_SCREEN_ON,
                                        payload, name);

    } else if (ngx_strcmp(name, "screen_off") == 0) {
        ngx_http_calls_signaling_signal(ctx, NGX_CALLS_RTC_SCREEN_OFF, NULL,
                                        name);

    } else if (ngx_strcmp(name, "video_on") == 0) {
        ngx_http_calls_signaling_signal(ctx, NGX_CALLS_RTC_VIDEO_ON,
                                        payload, name);

    } else if (ngx_strcmp(name, "video_off") == 0) {
        ngx_http_calls_signaling_signal(ctx, NGX_CALLS_RTC_VIDEO_OFF, NULL,
                                        name);

    } else if (ngx_strcmp(name, "leave") == 0) {

        if (!ctx->joined) {
            ngx_http_calls_signaling_error(ctx, "leave: not in a call");
            goto done;
        }

        ngx_http_calls_signaling_leave(ctx, "left");

    } else {
        /* echo at most 64 bytes of it, cut between UTF-8 sequences */

        n = ngx_min(ngx_strlen(name), NGX_HTTP_CALLS_ROOM_MAX);
        n = ngx_http_calls_signaling_utf8_cut((u_char *) name, n);

        ngx_http_calls_signaling_error(ctx, "unknown action \"%*s\"",
                                       n, name);
    }

done:

    cJSON_Delete(msg);
}


static void
ngx_http_calls_signaling_join(ngx_http_calls_signaling_ctx_t *ctx,
    cJSON *data)
{
    cJSON             *channel, *av1, *dc, *reply;
    ngx_int_t          rc;
    ngx_str_t          err;
    ngx_pool_t        *pool;
    ngx_calls_join_t   j;

    if (ctx->joined) {
        ngx_http_calls_signaling_error(ctx, "join: already in a call");
        return;
    }

    if (!cJSON_IsObject(data)) {
        ngx_http_calls_signaling_error(ctx, "join: \"data\" must be an object");
        return;
    }

    channel = cJSON_GetObjectItemCaseSensitive(data, "channelID");

    if (!cJSON_IsString(channel)) {
        ngx_http_calls_signaling_error(ctx, "join: \"data.channelID\" must be "
                                       "a string");
        return;
    }

    if (ngx_http_calls_signaling_valid_room(channel->valuestring) != NGX_OK) {
        ngx_http_calls_signaling_error(ctx, "join: invalid channelID, use "
                                       "1 to %d of A-Z a-z 0-9 . _ -",
                                       NGX_HTTP_CALLS_ROOM_MAX);
        return;
    }

    av1 = cJSON_GetObjectItemCaseSensitive(data, "av1Support");
    dc = cJSON_GetObjectItemCaseSensitive(data, "dcSignaling");

    if (av1 && !cJSON_IsBool(av1)) {
        ngx_http_calls_signaling_error(ctx, "join: \"data.av1Support\" must "
                                       "be a boolean");
        return;
    }

    if (dc && !cJSON_IsBool(dc)) {
        ngx_http_calls_signaling_error(ctx, "join: \"data.dcSignaling\" must "
                                       "be a boolean");
        return;
    }

    ngx_memzero(&j, sizeof(ngx_calls_join_t));

    j.channel_id.data = (u_char *) channel->valuestring;
    j.channel_id.len = ngx_strlen(channel->valuestring);

    /* standalone mode has no users, only sessions */
    ngx_str_set(&j.user_id, "");
    ngx_str_set(&j.call_id, "");
    ngx_str_set(&j.session_id, "");
    j.av1_support = cJSON_IsTrue(av1) ? 1 : 0;
    j.dc_signaling = cJSON_IsTrue(dc) ? 1 : 0;

    /* the ids are copied out: a connection may join many times */

    pool = ngx_create_pool(1024, ctx->log);
    if (pool == NULL) {
        ngx_http_calls_signaling_error(ctx, "join: internal error");
        return;
    }

    ngx_str_set(&err, "refused");

    rc = ngx_calls_join(&ctx->ep, &j, pool, &err);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                      "calls signaling: join \"%V\" refused: %V",
                      &j.channel_id, &err);
        ngx_http_calls_signaling_error(ctx, "join: %V", &err);
        goto done;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls signaling: join \"%V\" failed",
                      &j.channel_id);
        ngx_http_calls_signaling_error(ctx, "join: internal error");
        goto done;
    }

    if (j.session_id.len == 0 || j.session_id.len > NGX_CALLS_MAX_ID
        || j.call_id.len == 0 || j.call_id.len > NGX_CALLS_MAX_ID)
    {
        ngx_log_error(NGX_LOG_ALERT, ctx->log, 0,
                      "calls signaling: join \"%V\" gave ids of %uz and "
                      "%uz bytes", &j.channel_id, j.session_id.len,
                      j.call_id.len);

        if (j.session_id.len) {
            (void) ngx_calls_leave(&j.session_id, "invalid ids");
        }

        ngx_http_calls_signaling_error(ctx, "join: internal error");
        goto done;
    }

    ngx_http_calls_signaling_copy_id(&ctx->session_id, ctx->session_buf,
                                     &j.session_id);
    ngx_http_calls_signaling_copy_id(&ctx->call_id, ctx->call_buf,
                                     &j.call_id);
    ctx->joined = 1;

    ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                  "calls signaling: session \"%V\" joined call \"%V\" "
                  "(channel \"%V\")",
                  &ctx->session_id, &ctx->call_id, &j.channel_id);

    reply = cJSON_CreateObject();

    if (reply == NULL
        || ngx_http_calls_signaling_add_str(reply, "session_id",
                                            &ctx->session_id) != NGX_OK
        || ngx_http_calls_signaling_add_str(reply, "call_id", &ctx->call_id)
           != NGX_OK
        || ngx_http_calls_signaling_ice_servers(ctx, reply, pool) != NGX_OK)
    {
        cJSON_Delete(reply);
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls signaling: out of memory");
        ngx_http_calls_ws_close(ctx->ws, NGX_HTTP_CALLS_WS_INTERNAL_ERROR,
                                "internal error");
        goto done;
    }

    /* who is already in the call comes next, as events */

    ngx_http_calls_signaling_send(ctx, "join", reply);

done:

    ngx_destroy_pool(pool);
}


/*
 * "ice_servers": what the client gives its RTCPeerConnection, as
 * RTCIceServer dictionaries: {"urls":[...]} and for TURN servers
 * "username" and "credential", made for this session when they are TURN
 * REST ones (the Calls plugin hands its clients the same).
 */

static ngx_int_t
ngx_http_calls_signaling_ice_servers(ngx_http_calls_signaling_ctx_t *ctx,
    cJSON *reply, ngx_pool_t *pool)
{
    cJSON                   *list, *server, *urls, *url;
    ngx_str_t               *u;
    ngx_uint_t               i, j;
    ngx_array_t             *servers;
    ngx_calls_ice_server_t  *s;

    servers = ngx_calls_ice_servers(&ctx->session_id, pool, ctx->log);
    if (servers == NULL) {
        return NGX_ERROR;
    }

    list = cJSON_AddArrayToObject(reply, "ice_servers");
    if (list == NULL) {
        return NGX_ERROR;
    }

    s = servers->elts;

    for (i = 0; i < servers->nelts; i++) {

        server = cJSON_CreateObject();
        if (server == NULL) {
            return NGX_ERROR;
        }

        cJSON_AddItemToArray(list, server);

        urls = cJSON_AddArrayToObject(server, "urls");
        if (urls == NULL) {
            return NGX_ERROR;
        }

        u = s[i].urls->elts;

        for (j = 0; j < s[i].urls->nelts; j++) {
            url = ngx_http_calls_signaling_string(&u[j]);
            if (url == NULL) {
                return NGX_ERROR;
            }

            cJSON_AddItemToArray(urls, url);
        }

        if (s[i].username.len
            && (ngx_http_calls_signaling_add_str(server, "username",
                                                 &s[i].username)
                != NGX_OK
                || ngx_http_calls_signaling_add_str(server, "credential",
                                                    &s[i].credential)
                   != NGX_OK))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_calls_signaling_signal(ngx_http_calls_signaling_ctx_t *ctx,
    ngx_uint_t rtc_type, cJSON *data, const char *action)
{
    ngx_str_t  value, err;

    if (!ctx->joined) {
        ngx_http_calls_signaling_error(ctx, "%s: not in a call", action);
        return;
    }

    ngx_str_set(&value, "");

    if (rtc_type == NGX_CALLS_RTC_SDP || rtc_type == NGX_CALLS_RTC_ICE
        || rtc_type == NGX_CALLS_RTC_SCREEN_ON
        || rtc_type == NGX_CALLS_RTC_VIDEO_ON)
    {

        if (!cJSON_IsString(data) || data->valuestring[0] == '\0') {
            ngx_http_calls_signaling_error(ctx, "%s: \"data\" must be "
                                           "a non-empty string", action);
            return;
        }

        value.data = (u_char *) data->valuestring;
        value.len = ngx_strlen(data->valuestring);
    }

    ngx_str_set(&err, "internal error");

    if (ngx_calls_signal(&ctx->ep, &ctx->session_id, rtc_type, &value, &err)
        != NGX_OK)
    {
        ngx_http_calls_signaling_error(ctx, "%s: %V", action, &err);
    }
}


static void
ngx_http_calls_signaling_leave(ngx_http_calls_signaling_ctx_t *ctx,
    const char *reason)
{
    ngx_http_calls_signaling_copy_id(&ctx->left_id, ctx->left_buf,
                                     &ctx->session_id);

    ctx->joined = 0;

    ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                  "calls signaling: session \"%V\" leaves: %s",
                  &ctx->left_id, reason);

    /* the CLOSE event that follows, now or later, is expected */

    if (ngx_calls_leave(&ctx->left_id, reason) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                      "calls signaling: session \"%V\" was already gone",
                      &ctx->left_id);
        ctx->left_id.len = 0;
    }
}


static void
ngx_http_calls_signaling_closed(ngx_http_calls_ws_t *ws)
{
    ngx_http_calls_signaling_ctx_t  *ctx;

    ctx = ngx_http_calls_ws_data(ws);

    ctx->closed = 1;

    if (!ctx->ep_open) {
        return;
    }

    if (ctx->joined) {
        ngx_http_calls_signaling_leave(ctx, "connection closed");
    }

    ctx->ep_open = 0;
    ngx_calls_endpoint_close(&ctx->ep);
}


static void
ngx_http_calls_signaling_event(ngx_calls_endpoint_t *ep,
    ngx_calls_event_t *ev)
{
    cJSON                           *data;
    ngx_http_calls_signaling_ctx_t  *ctx;

    ctx = ep->data;

    if (ctx->closed) {
        return;
    }

    /* what concerns a session we left is of no use to the client */

    if ((ev->type == NGX_CALLS_EVENT_SIGNAL
         || ev->type == NGX_CALLS_EVENT_ERROR)
        && ev->session_id.len
        && !(ctx->joined
             && ngx_http_calls_signaling_same(&ev->session_id,
                                              &ctx->session_id)))
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->log, 0,
                       "calls signaling: event of session \"%V\" dropped",
                       &ev->session_id);
        return;
    }

    switch (ev->type) {

    case NGX_CALLS_EVENT_SIGNAL:
        data = cJSON_CreateObject();

        if (data == NULL
            || ngx_http_calls_signaling_add_str(data, "data", &ev->data)
               != NGX_OK)
        {
            cJSON_Delete(data);
            ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                          "calls signaling: out of memory");
            return;
        }

        ngx_http_calls_signaling_send(ctx, "signal", data);
        return;

    case NGX_CALLS_EVENT_ERROR:
        ngx_http_calls_signaling_error(ctx, "%V", &ev->data);
        return;

    case NGX_CALLS_EVENT_VOICE_ON:
        if (ctx->joined) {
            ngx_http_calls_signaling_user(ctx, "user_voice_on",
                                          &ev->session_id);
        }

        return;

    case NGX_CALLS_EVENT_VOICE_OFF:
        if (ctx->joined) {
            ngx_http_calls_signaling_user(ctx, "user_voice_off",
                                          &ev->session_id);
        }

        return;

    case NGX_CALLS_EVENT_CLOSE:

        if (ctx->left_id.len
            && ngx_http_calls_signaling_same(&ev->session_id, &ctx->left_id))
        {
            ctx->left_id.len = 0;
            return;
        }

        if (ctx->joined
            && ngx_http_calls_signaling_same(&ev->session_id,
                                             &ctx->session_id))
        {
            ctx->joined = 0;

            ngx_log_error(NGX_LOG_INFO, ctx->log, 0,
                          "calls signaling: session \"%V\" ended: %V",
                          &ctx->session_id, &ev->data);

            /* the client learns why, and that it is out of the call */

            ngx_http_calls_signaling_error(ctx, "session ended: %V",
                                           &ev->data);
            ngx_http_calls_signaling_user(ctx, "user_left",
                                          &ctx->session_id);
        }

        return;

    case NGX_CALLS_EVENT_USER_JOINED:
    case NGX_CALLS_EVENT_USER_LEFT:
    case NGX_CALLS_EVENT_USER_MUTED:
    case NGX_CALLS_EVENT_USER_UNMUTED:
    case NGX_CALLS_EVENT_USER_SCREEN_ON:
    case NGX_CALLS_EVENT_USER_SCREEN_OFF:
    case NGX_CALLS_EVENT_USER_VIDEO_ON:
    case NGX_CALLS_EVENT_USER_VIDEO_OFF:
        break;

    default:
        /* CONNECTED: the client sees that itself */
        return;
    }

    /* membership: the participant list is about the others */

    if (!ctx->joined
        || ngx_http_calls_signaling_same(&ev->session_id, &ctx->session_id))
    {
        return;
    }

    if (ev->to_session_id.len
        && !ngx_http_calls_signaling_same(&ev->to_session_id,
                                          &ctx->session_id))
    {
        return;
    }

    switch (ev->type) {

    case NGX_CALLS_EVENT_USER_JOINED:
        ngx_http_calls_signaling_user(ctx, "user_joined", &ev->session_id);
        break;

    case NGX_CALLS_EVENT_USER_LEFT:
        ngx_http_calls_signaling_user(ctx, "user_left", &ev->session_id);
        break;

    case NGX_CALLS_EVENT_USER_MUTED:
        ngx_http_calls_signaling_user(ctx, "user_muted", &ev->session_id);
        break;

    case NGX_CALLS_EVENT_USER_SCREEN_ON:
        ngx_http_calls_signaling_user(ctx, "user_screen_on",
                                      &ev->session_id);
        break;

    case NGX_CALLS_EVENT_USER_SCREEN_OFF:
        ngx_http_calls_signaling_user(ctx, "user_screen_off",
                                      &ev->session_id);
        break;

    case NGX_CALLS_EVENT_USER_VIDEO_ON:
        ngx_http_calls_signaling_user(ctx, "user_video_on", &ev->session_id);
        break;

    case NGX_CALLS_EVENT_USER_VIDEO_OFF:
        ngx_http_calls_signaling_user(ctx, "user_video_off",
                                      &ev->session_id);
        break;

    default: /* NGX_CALLS_EVENT_USER_UNMUTED */
        ngx_http_calls_signaling_user(ctx, "user_unmuted", &ev->session_id);
        break;
    }
}


static void
ngx_http_calls_signaling_user(ngx_http_calls_signaling_ctx_t *ctx,
    const char *event, ngx_str_t *session_id)
{
    cJSON  *data;

    data = cJSON_CreateObject();

    if (data == NULL
        || ngx_http_calls_signaling_add_str(data, "session_id", session_id)
           != NGX_OK)
    {
        cJSON_Delete(data);
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls signaling: out of memory");
        return;
    }

    ngx_http_calls_signaling_send(ctx, event, data);
}


static void
ngx_http_calls_signaling_error(ngx_http_calls_signaling_ctx_t *ctx,
    const char *fmt, ...)
{
    cJSON     *data;
    u_char    *p, buf[512];
    va_list    args;
    ngx_str_t  text;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    /* echoed text may have been cut inside a UTF-8 sequence */

    text.data = buf;
    text.len = ngx_http_calls_signaling_utf8_cut(buf, p - buf);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->log, 0,
                   "calls signaling error: \"%V\"", &text);

    data = cJSON_CreateObject();

    if (data == NULL
        || ngx_http_calls_signaling_add_str(data, "message", &text) != NGX_OK)
    {
        cJSON_Delete(data);
        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "calls signaling: out of memory");
        return;
    }

    ngx_http_calls_signaling_send(ctx, "error", data);
}


/* sends {"event":event,"data":data}; takes data */

static void
ngx_http_calls_signaling_send(ngx_http_calls_signaling_ctx_t *ctx,
    const char *event, cJSON *data)
{
    char   *text;
    cJSON  *msg;

    msg = cJSON_CreateObject();

    if (msg == NULL || cJSON_AddStringToObject(msg, "event", event) == NULL) {
        cJSON_Delete(msg);
        cJSON_Delete(data);
        goto failed;
    }

    if (!cJSON_AddItemToObject(msg, "data", data)) {
        cJSON_Delete(msg);
        cJSON_Delete(data);
        goto failed;
    }

    text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);

    if (text == NULL) {
        goto failed;
    }

    (void) ngx_http_calls_ws_send(ctx->ws, NGX_HTTP_CALLS_WS_TEXT,
                                  (u_char *) text, ngx_strlen(text));

    cJSON_free(text);

    return;

failed:

    ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                  "calls signaling: out of memory for a \"%s\" event", event);
}


static ngx_int_t
ngx_http_calls_signaling_add_str(cJSON *obj, const char *name,
    ngx_str_t *value)
{
    cJSON  *item;

    item = ngx_http_calls_signaling_string(value);
    if (item == NULL) {
        return NGX_ERROR;
    }

    if (!cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* cJSON wants NUL-terminated strings; ngx_str_t values are not */

static cJSON *
ngx_http_calls_signaling_string(ngx_str_t *value)
{
    cJSON   *item;
    u_char  *s;

    s = ngx_alloc(value->len + 1, ngx_cycle->log);
    if (s == NULL) {
        return NULL;
    }

    *ngx_cpymem(s, value->data, value->len) = '\0';

    item = cJSON_CreateString((char *) s);

    ngx_free(s);

    return item;
}


/* the length of p without an incomplete UTF-8 sequence at its end */

static size_t
ngx_http_calls_signaling_utf8_cut(u_char *p, size_t len)
{
    size_t  i, need;

    for (i = len; i > 0 && len - i < 4; i--) {

        if ((p[i - 1] & 0xc0) == 0x80) {
            continue;
        }

        if (p[i - 1] < 0x80) {
            return len;
        }

        need = (p[i - 1] >= 0xf0) ? 4 : (p[i - 1] >= 0xe0) ? 3 : 2;

        return (len - (i - 1) >= need) ? len : i - 1;
    }

    return len;
}


static ngx_int_t
ngx_http_calls_signaling_valid_room(const char *room)
{
    size_t  len;
    u_char  c;

    for (len = 0; room[len]; len++) {

        if (len == NGX_HTTP_CALLS_ROOM_MAX) {
            return NGX_ERROR;
        }

        c = room[len];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return NGX_ERROR;
        }
    }

    return len ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_calls_signaling_copy_id(ngx_str_t *dst, u_char *buf, ngx_str_t *src)
{
    size_t  len;

    len = ngx_min(src->len, NGX_CALLS_MAX_ID);

    if (len) {
        ngx_memcpy(buf, src->data, len);
    }

    dst->data = buf;
    dst->len = len;
}


static ngx_uint_t
ngx_http_calls_signaling_same(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}
