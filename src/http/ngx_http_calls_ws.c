
/*
 * Copyright (C) ngx_calls authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include "ngx_http_calls.h"
#include "ngx_http_calls_ws.h"


/*
 * The connection after the 101 is driven by ngx_http_calls_ws_run(),
 * called from the read and write event handlers of the request and from
 * the ping timer.  It reads and parses input while the output queue is
 * at most half full, flushes output, and finishes the connection when the
 * closing handshake is over.  Everything that decides to close only sets
 * flags and queues a close frame; the connection is finalized in
 * ngx_http_calls_ws_run() alone, so no callback ever sees the ws object
 * go away under it.
 */


#define NGX_HTTP_CALLS_WS_GUID       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/*
 * Sizes of the read buffer and of the output chunks.  Both are at least
 * a page, so that they are "large" pool allocations that ngx_pfree()
 * gives back.  An idle connection keeps neither (nor a message buffer):
 * a call's WebSocket is idle nearly all its life, and with one per
 * participant those buffers were 20 KB of each participant's memory.
 * What it costs is an allocation per burst of input or output.
 */

#define NGX_HTTP_CALLS_WS_READ_SIZE  4096
#define NGX_HTTP_CALLS_WS_CHUNK      8192

/* a message buffer larger than this is freed after each message */
#define NGX_HTTP_CALLS_WS_MSG_KEEP   65536

/* smallest message buffer: above the pool's small allocation limit, so
 * that ngx_pfree() returns it */
#define NGX_HTTP_CALLS_WS_MSG_MIN    8192

/* how long to wait for the client's close frame after ours went out */
#define NGX_HTTP_CALLS_WS_CLOSE_WAIT 2000

#define NGX_HTTP_CALLS_WS_MAX_REASON 123

/* nginx has neither the code nor its reason phrase */
#define NGX_HTTP_CALLS_WS_UPGRADE_REQUIRED  426


typedef struct {
    ngx_uint_t                          need;     /* bytes to come */
    u_char                              lo;       /* next byte's range */
    u_char                              hi;
} ngx_http_calls_ws_utf8_t;


struct ngx_http_calls_ws_s {
    ngx_http_request_t                 *request;
    ngx_connection_t                   *connection;
    ngx_pool_t                         *pool;
    const ngx_http_calls_ws_conf_t     *conf;
    const ngx_http_calls_ws_handler_t  *handler;
    void                               *data;

    ngx_buf_t                           in;

    /* the frame being parsed */
    uint64_t                            left;
    size_t                              hdr_len;
    size_t                              hdr_need;
    ngx_uint_t                          opcode;
    ngx_uint_t                          mask_pos;
    u_char                              mask[4];
    u_char                              hdr[14];

    /* a control frame's payload */
    size_t                              ctl_len;
    u_char                              ctl[125];

    /* the message being reassembled; msg_opcode 0: none */
    u_char                             *msg;
    size_t                              msg_len;
    size_t                              msg_size;
    ngx_uint_t                          msg_opcode;

    /* UTF-8 validation of a text message, across its frames */
    ngx_http_calls_ws_utf8_t            utf8;

    /* output: chunks of serialized frames */
    ngx_chain_t                        *out;
    ngx_chain_t                        *out_tail;
    ngx_chain_t                        *free;
    size_t                              queued;

    /* ping interval; once closing, the closing deadline */
    ngx_event_t                         ping;

    unsigned                            fin:1;
    unsigned                            in_payload:1;
    unsigned                            close_sent:1;
    unsigned                            close_received:1;
    unsigned                            close_wait:1;
    unsigned                            read_closed:1;
    unsigned                            failed:1;
    unsigned                            abort:1;
    unsigned                            notified:1;
    unsigned                            finalized:1;
};


static ngx_int_t ngx_http_calls_ws_refuse(ngx_http_request_t *r,
    ngx_uint_t status, char *text);
static ngx_int_t ngx_http_calls_ws_has_token(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *token);
static ngx_table_elt_t *ngx_http_calls_ws_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t *n);
static void ngx_http_calls_ws_trim(ngx_str_t *s);

static void ngx_http_calls_ws_event_handler(ngx_event_t *ev);
static void ngx_http_calls_ws_read_timeout(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_ws_write_timeout(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_ws_ping_handler(ngx_event_t *ev);
static void ngx_http_calls_ws_run(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_ws_read(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_ws_idle(ngx_http_calls_ws_t *ws);
static ngx_int_t ngx_http_calls_ws_parse(ngx_http_calls_ws_t *ws);
static ngx_int_t ngx_http_calls_ws_frame_start(ngx_http_calls_ws_t *ws);
static ngx_int_t ngx_http_calls_ws_frame_header(ngx_http_calls_ws_t *ws);
static ngx_int_t ngx_http_calls_ws_frame_end(ngx_http_calls_ws_t *ws);
static ngx_int_t ngx_http_calls_ws_close_frame(ngx_http_calls_ws_t *ws);
static ngx_int_t ngx_http_calls_ws_fail(ngx_http_calls_ws_t *ws,
    ngx_uint_t code, char *reason);
static ngx_uint_t ngx_http_calls_ws_valid_code(ngx_uint_t code);
static ngx_int_t ngx_http_calls_ws_utf8(ngx_http_calls_ws_utf8_t *st,
    u_char *p, size_t len);
static void ngx_http_calls_ws_start_close(ngx_http_calls_ws_t *ws,
    ngx_uint_t code, u_char *reason, size_t len);
static ngx_int_t ngx_http_calls_ws_queue(ngx_http_calls_ws_t *ws,
    ngx_uint_t opcode, u_char *data, size_t len);
static ngx_int_t ngx_http_calls_ws_append(ngx_http_calls_ws_t *ws,
    u_char *data, size_t len);
static ngx_int_t ngx_http_calls_ws_flush(ngx_http_calls_ws_t *ws);
static ngx_uint_t ngx_http_calls_ws_pending(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_ws_kick(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_ws_notify(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_ws_finalize(ngx_http_calls_ws_t *ws);
static void ngx_http_calls_ws_release(ngx_http_calls_ws_t *ws,
    ngx_uint_t free_memory);
static void ngx_http_calls_ws_cleanup(void *data);


static ngx_str_t  ngx_http_calls_ws_upgrade = ngx_string("Upgrade");
static ngx_str_t  ngx_http_calls_ws_connection_h = ngx_string("Connection");
static ngx_str_t  ngx_http_calls_ws_version =
    ngx_string("Sec-WebSocket-Version");
static ngx_str_t  ngx_http_calls_ws_key = ngx_string("Sec-WebSocket-Key");
static ngx_str_t  ngx_http_calls_ws_accept_h =
    ngx_string("Sec-WebSocket-Accept");
static ngx_str_t  ngx_http_calls_ws_websocket = ngx_string("websocket");
static ngx_str_t  ngx_http_calls_ws_upgrade_token = ngx_string("upgrade");
static ngx_str_t  ngx_http_calls_ws_13 = ngx_string("13");
static ngx_str_t  ngx_http_calls_ws_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_calls_ws_get = ngx_string("GET");


ngx_int_t
ngx_http_calls_ws_accept(ngx_http_request_t *r,
    const ngx_http_calls_ws_conf_t *conf,
    const ngx_http_calls_ws_handler_t *handler, void *data,
    ngx_http_calls_ws_t **wsp)
{
    size_t                     size, pipelined;
    u_char                     hash[20], decoded[18];
    ngx_int_t                  rc;
    ngx_str_t                  key, src, dst;
    ngx_uint_t                 n;
    ngx_sha1_t                 sha1;
    ngx_event_t               *rev;
    ngx_table_elt_t           *h;
    ngx_connection_t          *c;
    ngx_pool_cleanup_t        *cln;
    ngx_http_calls_ws_t       *ws;
    ngx_http_core_loc_conf_t  *clcf;

    c = r->connection;

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "WebSocket endpoint used in a subrequest");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method != NGX_HTTP_GET) {
        if (ngx_http_calls_add_header(r, &ngx_http_calls_ws_allow,
                                      &ngx_http_calls_ws_get)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_calls_ws_refuse(r, NGX_HTTP_NOT_ALLOWED,
                                    "a WebSocket handshake must use GET\n");
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                       "WebSocket over HTTP/2 is not supported, "
                       "use HTTP/1.1\n");
    }
#endif

    if (r->http_version < NGX_HTTP_VERSION_11) {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                 "a WebSocket handshake needs HTTP/1.1\n");
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                       "a WebSocket handshake must not have a body\n");
    }

    if (ngx_http_calls_ws_has_token(r, &ngx_http_calls_ws_upgrade,
                                    &ngx_http_calls_ws_websocket)
        != NGX_OK)
    {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_CALLS_WS_UPGRADE_REQUIRED,
                       "this is a WebSocket endpoint: the request needs "
                       "\"Upgrade: websocket\"\n");
    }

    if (ngx_http_calls_ws_has_token(r, &ngx_http_calls_ws_connection_h,
                                    &ngx_http_calls_ws_upgrade_token)
        != NGX_OK)
    {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_CALLS_WS_UPGRADE_REQUIRED,
                       "this is a WebSocket endpoint: the request needs "
                       "\"Connection: Upgrade\"\n");
    }

    h = ngx_http_calls_ws_header(r, &ngx_http_calls_ws_version, &n);

    if (h == NULL) {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_CALLS_WS_UPGRADE_REQUIRED,
                       "missing Sec-WebSocket-Version, "
                       "this server speaks version 13\n");
    }

    key = h->value;
    ngx_http_calls_ws_trim(&key);

    if (n != 1
        || key.len != ngx_http_calls_ws_13.len
        || ngx_strncmp(key.data, ngx_http_calls_ws_13.data, key.len) != 0)
    {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_CALLS_WS_UPGRADE_REQUIRED,
                       "unsupported Sec-WebSocket-Version, "
                       "this server speaks version 13\n");
    }

    h = ngx_http_calls_ws_header(r, &ngx_http_calls_ws_key, &n);

    if (h == NULL) {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                        "missing Sec-WebSocket-Key\n");
    }

    if (n != 1) {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                                        "more than one Sec-WebSocket-Key\n");
    }

    key = h->value;
    ngx_http_calls_ws_trim(&key);

    /* 16 bytes in base64: 22 characters and "==" */

    src = key;
    dst.data = decoded;

    if (key.len != 24
        || key.data[22] != '='
        || key.data[23] != '='
        || ngx_decode_base64(&dst, &src) != NGX_OK
        || dst.len != 16)
    {
        return ngx_http_calls_ws_refuse(r, NGX_HTTP_BAD_REQUEST,
                       "Sec-WebSocket-Key must be 16 bytes in base64\n");
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "websocket handshake, key \"%V\"", &key);

    ws = ngx_pcalloc(r->pool, sizeof(ngx_http_calls_ws_t));
    if (ws == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* bytes the client sent after the handshake are the first frames */

    pipelined = r->header_in->last - r->header_in->pos;
    size = ngx_max(pipelined, NGX_HTTP_CALLS_WS_READ_SIZE);

    ws->in.start = ngx_palloc(r->pool, size);
    if (ws->in.start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ws->in.pos = ws->in.start;
    ws->in.last = ngx_cpymem(ws->in.start, r->header_in->pos, pipelined);
    ws->in.end = ws->in.start + size;
    ws->in.temporary = 1;

    r->header_in->pos = r->header_in->last;

    ws->request = r;
    ws->connection = c;
    ws->pool = r->pool;
    ws->conf = conf;
    ws->handler = handler;
    ws->data = data;
    ws->hdr_need = 2;

    /* a ws is "finalized" until it is handed out: no callback before */
    ws->finalized = 1;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_calls_ws_cleanup;
    cln->data = ws;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key.data, key.len);
    ngx_sha1_update(&sha1, NGX_HTTP_CALLS_WS_GUID,
                    sizeof(NGX_HTTP_CALLS_WS_GUID) - 1);
    ngx_sha1_final(hash, &sha1);

    src.data = hash;
    src.len = sizeof(hash);

    dst.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(sizeof(hash)));
    if (dst.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_encode_base64(&dst, &src);

    if (ngx_http_calls_add_header(r, &ngx_http_calls_ws_upgrade,
                                  &ngx_http_calls_ws_websocket)
        != NGX_OK
        || ngx_http_calls_add_header(r, &ngx_http_calls_ws_accept_h, &dst)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;

    /* the header filter adds "Connection: upgrade" for a 101 */

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        return NGX_ERROR;
    }

    rev = c->read;

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    /* nothing fails from here on */

    c->log->action = "handling WebSocket";

    ngx_http_set_ctx(r, ws, ngx_http_calls_module);

    /*
     * The connection's own handlers, not the request's: a worker that
     * shuts down calls the read handler of "idle" connections with
     * c->close set, which for us is a reason to close with 1001, not to
     * drop the connection as ngx_http_request_handler() would.
     */

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    c->read->handler = ngx_http_calls_ws_event_handler;
    c->write->handler = ngx_http_calls_ws_event_handler;
    c->idle = 1;

    /*
     * The ping timer does not hold up a worker that is shutting down:
     * the read or send timer does, and the next ping closes with 1001.
     */

    ws->ping.handler = ngx_http_calls_ws_ping_handler;
    ws->ping.data = ws;
    ws->ping.log = c->log;
    ws->ping.cancelable = 1;

    ngx_add_timer(&ws->ping, conf->ping_interval);
    ngx_add_timer(rev, conf->timeout);

    /*
     * Input that is already here (pipelined, or signaled before the
     * handlers changed) is parsed from the posted event, after the
     * caller has set up for the messages.
     */

    if (ws->in.pos < ws->in.last || rev->ready) {
        ngx_post_event(rev, &ngx_posted_events);
    }

    if (r->out) {
        /* the 101 is still on its way */
        ngx_post_event(c->write, &ngx_posted_events);
    }

    ws->finalized = 0;

    r->main->count++;

    *wsp = ws;

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "WebSocket connection open");

    return NGX_DONE;
}


ngx_int_t
ngx_http_calls_ws_send(ngx_http_calls_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    size_t  size;

    if (ws->notified || ws->close_sent || ws->abort) {
        return NGX_DECLINED;
    }

    if (opcode != NGX_HTTP_CALLS_WS_TEXT && opcode != NGX_HTTP_CALLS_WS_BINARY)
    {
        ngx_log_error(NGX_LOG_ALERT, ws->connection->log, 0,
                      "WebSocket send with opcode %ui", opcode);
        return NGX_ERROR;
    }

    size = len + 10;

    /*
     * A client that reads slower than we produce would hold any amount
     * of memory.  A message larger than the whole cap still goes out
     * when nothing else is queued.
     */

    if (ws->queued && ws->queued + size > ws->conf->send_queue) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "WebSocket client too slow: %uz bytes queued, "
                      "limit %uz, closing with 1008",
                      ws->queued, ws->conf->send_queue);

        ngx_http_calls_ws_start_close(ws, NGX_HTTP_CALLS_WS_POLICY,
                                      (u_char *) "client too slow",
                                      sizeof("client too slow") - 1);
        ws->failed = 1;
        ws->read_closed = 1;

        ngx_http_calls_ws_kick(ws);

        return NGX_ERROR;
    }

    if (ngx_http_calls_ws_queue(ws, opcode, data, len) != NGX_OK) {
        ngx_http_calls_ws_kick(ws);
        return NGX_ERROR;
    }

    ngx_http_calls_ws_kick(ws);

    return NGX_OK;
}


void
ngx_http_calls_ws_close(ngx_http_calls_ws_t *ws, ngx_uint_t code,
    const char *reason)
{
    size_t  len;

    if (ws->notified || ws->close_sent || ws->abort) {
        return;
    }

    if (reason == NULL) {
        reason = "";
    }

    len = ngx_strlen(reason);

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "WebSocket closing with %ui \"%*s\"", code, len, reason);

    ngx_http_calls_ws_start_close(ws, code, (u_char *) reason, len);

    ngx_http_calls_ws_kick(ws);
}


void *
ngx_http_calls_ws_data(ngx_http_calls_ws_t *ws)
{
    return ws->data;
}


ngx_connection_t *
ngx_http_calls_ws_connection(ngx_http_calls_ws_t *ws)
{
    return ws->connection;
}


static ngx_int_t
ngx_http_calls_ws_refuse(ngx_http_request_t *r, ngx_uint_t status,
    char *text)
{
    ngx_str_t  body;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "WebSocket handshake refused with %ui: %*s", status,
                  ngx_strlen(text) - 1, text);

    if (status == NGX_HTTP_CALLS_WS_UPGRADE_REQUIRED) {
        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");

        if (ngx_http_calls_add_header(r, &ngx_http_calls_ws_upgrade,
                                      &ngx_http_calls_ws_websocket)
            != NGX_OK
            || ngx_http_calls_add_header(r, &ngx_http_calls_ws_version,
                                         &ngx_http_calls_ws_13)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    body.data = (u_char *) text;
    body.len = ngx_strlen(text);

    return ngx_http_calls_send_text(r, status, &body);
}


/* whether a comma-separated header (any of its lines) has the token */

static ngx_int_t
ngx_http_calls_ws_has_token(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *token)
{
    u_char           *p, *last, *start;
    ngx_str_t         t;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != name->len
            || ngx_strncasecmp(h[i].key.data, name->data, name->len) != 0)
        {
            continue;
        }

        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last) {
            start = p;

            while (p < last && *p != ',') {
                p++;
            }

            t.data = start;
            t.len = p - start;
            ngx_http_calls_ws_trim(&t);

            if (t.len == token->len
                && ngx_strncasecmp(t.data, token->data, t.len) == 0)
            {
                return NGX_OK;
            }

            p++;
        }
    }

    return NGX_DECLINED;
}


/* the first header line called name; *n: how many there are */

static ngx_table_elt_t *
ngx_http_calls_ws_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t *n)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    *n = 0;
    found = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            if (found == NULL) {
                found = &h[i];
            }

            (*n)++;
        }
    }

    return found;
}


static void
ngx_http_calls_ws_trim(ngx_str_t *s)
{
    while (s->len && (s->data[0] == ' ' || s->data[0] == '\t')) {
        s->data++;
        s->len--;
    }

    while (s->len
           && (s->data[s->len - 1] == ' ' || s->data[s->len - 1] == '\t'))
    {
        s->len--;
    }
}


static void
ngx_http_calls_ws_event_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_calls_ws_t  *ws;

    c = ev->data;
    r = c->data;

    ngx_http_set_log_request(c->log, r);

    ws = ngx_http_get_module_ctx(r, ngx_http_calls_module);

    if (ws == NULL || ws->finalized) {
        ngx_http_run_posted_requests(c);
        return;
    }

    if (c->close) {
        c->close = 0;

        if (c->error) {
            /* worker_shutdown_timeout: no more waiting */
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "WebSocket dropped: worker shutdown timed out");
            ws->abort = 1;

        } else if (!ws->close_sent) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "WebSocket closing with 1001: server shutting down");

            ngx_http_calls_ws_start_close(ws, NGX_HTTP_CALLS_WS_GOING_AWAY,
                                          (u_char *) "server shutting down",
                                          sizeof("server shutting down") - 1);
        }

    } else if (ev->write) {

        if (ev->timedout) {
            ev->timedout = 0;
            ngx_http_calls_ws_write_timeout(ws);
        }

    } else if (ev->timedout) {
        ev->timedout = 0;
        ngx_http_calls_ws_read_timeout(ws);
    }

    ngx_http_calls_ws_run(ws);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_calls_ws_read_timeout(ngx_http_calls_ws_t *ws)
{
    ngx_connection_t  *c;

    c = ws->connection;

    if (ws->close_sent) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "WebSocket client did not finish the closing "
                      "handshake in time");
        ws->failed = 1;
        ws->abort = ngx_http_calls_ws_pending(ws);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "WebSocket client timed out: nothing received "
                  "in %M ms, closing with 1001", ws->conf->timeout);

    ngx_http_calls_ws_start_close(ws, NGX_HTTP_CALLS_WS_GOING_AWAY,
                                  (u_char *) "timeout", sizeof("timeout") - 1);
    ws->failed = 1;
    ws->read_closed = 1;
}


static void
ngx_http_calls_ws_write_timeout(ngx_http_calls_ws_t *ws)
{
    ngx_connection_t  *c;

    c = ws->connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "WebSocket client timed out: could not send for "
                  "%M ms, %uz bytes queued", ws->conf->timeout, ws->queued);

    c->timedout = 1;
    ws->abort = 1;
}


static void
ngx_http_calls_ws_ping_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_http_calls_ws_t  *ws;

    ws = ev->data;
    c = ws->connection;

    if (ws->close_sent) {

        /* no reply needed any more; output still queued is given up */

        ws->failed = 1;
        ws->abort = ngx_http_calls_ws_pending(ws);

        if (ws->abort) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "WebSocket client does not read: close frame "
                          "not sent in %M ms, %uz bytes queued",
                          ws->conf->timeout, ws->queued);

        } else {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "WebSocket client did not answer the close frame");
        }

    } else if (ngx_exiting || ngx_terminate) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "WebSocket closing with 1001: server shutting down");

        ngx_http_calls_ws_start_close(ws, NGX_HTTP_CALLS_WS_GOING_AWAY,
                                      (u_char *) "server shutting down",
                                      sizeof("server shutting down") - 1);

    } else {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "websocket ping");

        (void) ngx_http_calls_ws_queue(ws, NGX_HTTP_CALLS_WS_PING, NULL, 0);

        ngx_add_timer(&ws->ping, ws->conf->ping_interval);
    }

    ngx_http_calls_ws_run(ws);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_calls_ws_run(ngx_http_calls_ws_t *ws)
{
    ngx_int_t          rc;
    ngx_msec_t         wait;
    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    if (ws->finalized) {
        return;
    }

    c = ws->connection;
    rev = c->read;
    wev = c->write;

    if (!ws->abort) {
        ngx_http_calls_ws_read(ws);
    }

    if (!ws->abort) {
        rc = ngx_http_calls_ws_flush(ws);

        if (rc == NGX_ERROR) {
            ws->abort = 1;
        }
    }

    if (ws->abort) {
        ngx_http_calls_ws_finalize(ws);
        return;
    }

    /*
     * Once closing, the application is done with the connection, even
     * if our close frame waits behind a queue the client does not read.
     */

    if (ws->close_sent && !ws->notified) {
        ngx_http_calls_ws_notify(ws);

        if (ws->abort) {
            ngx_http_calls_ws_finalize(ws);
            return;
        }
    }

    if (ngx_http_calls_ws_pending(ws)) {
        if (!wev->timer_set) {
            ngx_add_timer(wev, ws->conf->timeout);
        }

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ws->abort = 1;
            ngx_http_calls_ws_finalize(ws);
            return;
        }

    } else if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ws->close_sent && !ngx_http_calls_ws_pending(ws)) {

        if (ws->close_received || ws->failed) {
            ngx_http_calls_ws_finalize(ws);
            return;
        }

        if (!ws->close_wait) {
            ws->close_wait = 1;

            wait = ngx_min(ws->conf->timeout, NGX_HTTP_CALLS_WS_CLOSE_WAIT);
            ngx_add_timer(&ws->ping, wait);
        }
    }

    if (ws->read_closed || ws->queued > ws->conf->send_queue / 2) {

        /* not reading: the deadline is the send timeout, if any */

        if (rev->timer_set) {
            ngx_del_timer(rev);
        }

        if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && rev->active) {
            if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
                ws->abort = 1;
                ngx_http_calls_ws_finalize(ws);
            }
        }

        return;
    }

    if (!rev->timer_set) {
        ngx_add_timer(rev, ws->conf->timeout);
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ws->abort = 1;
        ngx_http_calls_ws_finalize(ws);
    }
}


static void
ngx_http_calls_ws_read(ngx_http_calls_ws_t *ws)
{
    ssize_t            n;
    ngx_err_t          err;
    ngx_buf_t         *b;
    ngx_event_t       *rev;
    ngx_connection_t  *c;

    c = ws->connection;
    rev = c->read;
    b = &ws->in;

    for ( ;; ) {

        if (ws->read_closed || ws->abort) {
            return;
        }

        if (b->pos < b->last) {
            (void) ngx_http_calls_ws_parse(ws);

            if (ws->read_closed || ws->abort) {
                return;
            }
        }

        if (ws->queued > ws->conf->send_queue / 2) {

            /* backpressure: make room before taking more input */

            if (ngx_http_calls_ws_flush(ws) == NGX_ERROR) {
                ws->abort = 1;
                return;
            }

            if (ws->queued > ws->conf->send_queue / 2) {
                ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                               "websocket read paused, %uz queued",
                               ws->queued);
                return;
            }

            continue;
        }

        if (b->pos < b->last) {
            continue;
        }

        if (!rev->ready) {
            ngx_http_calls_ws_idle(ws);
            return;
        }

        if (b->start == NULL) {
            b->start = ngx_palloc(ws->pool, NGX_HTTP_CALLS_WS_READ_SIZE);
            if (b->start == NULL) {
                ws->abort = 1;
                return;
            }

            b->end = b->start + NGX_HTTP_CALLS_WS_READ_SIZE;
        }

        b->pos = b->start;
        b->last = b->start;

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            ngx_http_calls_ws_idle(ws);
            return;
        }

        if (n == 0) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          ws->close_sent
                          ? "WebSocket client closed connection"
                          : "WebSocket client closed connection "
                            "without a close frame");

            ws->abort = 1;
            return;
        }

        if (n == NGX_ERROR) {
            err = ngx_socket_errno;
            ngx_log_error(NGX_LOG_INFO, c->log, err,
                          "WebSocket connection broken while reading");
            c->error = 1;
            ws->abort = 1;
            return;
        }

        b->last += n;

        /* the read deadline counts from the last byte received */
        ngx_add_timer(rev, ws->conf->timeout);
    }
}


/*
 * All input so far is parsed and the socket has no more: the read buffer
 * goes back to the allocator, and so does the message buffer unless a
 * fragmented message is half way through.  ngx_http_calls_ws_read()
 * allocates them again when data comes.
 */

static void
ngx_http_calls_ws_idle(ngx_http_calls_ws_t *ws)
{
    ngx_buf_t  *b;

    b = &ws->in;

    if (b->start && b->pos == b->last) {
        ngx_pfree(ws->pool, b->start);
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    if (ws->msg && ws->msg_opcode == 0) {
        ngx_pfree(ws->pool, ws->msg);
        ws->msg = NULL;
        ws->msg_size = 0;
    }
}


/*
 * Parses ws->in.  Stops early when the output queue is over half its cap
 * (the rest of the input stays in the buffer), on a close frame and on
 * protocol errors (then read_closed is set).
 */

static ngx_int_t
ngx_http_calls_ws_parse(ngx_http_calls_ws_t *ws)
{
    size_t      n, i;
    u_char     *dst, *src;
    ngx_buf_t  *b;

    b = &ws->in;

    while (b->pos < b->last) {

        if (ws->read_closed || ws->abort) {
            b->pos = b->last;
            return NGX_DONE;
        }

        if (ws->queued > ws->conf->send_queue / 2) {
            return NGX_AGAIN;
        }

        if (!ws->in_payload) {
            n = ngx_min((size_t) (b->last - b->pos),
                        ws->hdr_need - ws->hdr_len);

            ngx_memcpy(ws->hdr + ws->hdr_len, b->pos, n);
            ws->hdr_len += n;
            b->pos += n;

            if (ws->hdr_len < ws->hdr_need) {
                continue;
            }

            if (ws->hdr_need == 2) {
                if (ngx_http_calls_ws_frame_start(ws) != NGX_OK) {
                    continue;
                }

                if (ws->hdr_len < ws->hdr_need) {
                    continue;
                }
            }

            if (ngx_http_calls_ws_frame_header(ws) != NGX_OK) {
                continue;
            }

            if (ws->left == 0) {
                (void) ngx_http_calls_ws_frame_end(ws);
            }

            continue;
        }

        n = (size_t) ngx_min((uint64_t) (b->last - b->pos), ws->left);

        if (ws->opcode & 0x8) {
            dst = ws->ctl + ws->ctl_len;
            ws->ctl_len += n;

        } else {
            dst = ws->msg + ws->msg_len;
            ws->msg_len += n;
        }

        src = b->pos;

        for (i = 0; i < n; i++) {
            dst[i] = src[i] ^ ws->mask[ws->mask_pos];
            ws->mask_pos = (ws->mask_pos + 1) & 3;
        }

        b->pos += n;
        ws->left -= n;

        /* text is checked as it arrives: a bad byte fails at once */

        if (!(ws->opcode & 0x8)
            && ws->msg_opcode == NGX_HTTP_CALLS_WS_TEXT
            && ngx_http_calls_ws_utf8(&ws->utf8, dst, n) != NGX_OK)
        {
            (void) ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_INVALID_DATA,
                                          "invalid UTF-8 in a text message");
            continue;
        }

        if (ws->left == 0) {
            (void) ngx_http_calls_ws_frame_end(ws);
        }
    }

    return NGX_OK;
}


/* the first two bytes of a frame are in ws->hdr */

static ngx_int_t
ngx_http_calls_ws_frame_start(ngx_http_calls_ws_t *ws)
{
    u_char      reason[64];
    ngx_uint_t  len;

    ws->fin = (ws->hdr[0] & 0x80) ? 1 : 0;
    ws->opcode = ws->hdr[0] & 0x0f;
    len = ws->hdr[1] & 0x7f;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "websocket frame fin:%ui opcode:%ui mask:%ui len:%ui",
                   (ngx_uint_t) ws->fin, ws->opcode,
                   (ngx_uint_t) (ws->hdr[1] >> 7), len);

    /* no extension is negotiated, so no reserved bit may be set */

    if (ws->hdr[0] & 0x70) {
        return ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                      "reserved bits set");
    }

    switch (ws->opcode) {

    case NGX_HTTP_CALLS_WS_CONT:
    case NGX_HTTP_CALLS_WS_TEXT:
    case NGX_HTTP_CALLS_WS_BINARY:
    case NGX_HTTP_CALLS_WS_CLOSE:
    case NGX_HTTP_CALLS_WS_PING:
    case NGX_HTTP_CALLS_WS_PONG:
        break;

    default:
        *ngx_snprintf(reason, sizeof(reason) - 1, "unknown opcode %ui",
                      ws->opcode) = '\0';
        return ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                      (char *) reason);
    }

    if (!(ws->hdr[1] & 0x80)) {
        return ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                      "unmasked frame");
    }

    if (ws->opcode & 0x8) {

        if (!ws->fin) {
            return ngx_http_calls_ws_fail(ws,
                                          NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                          "fragmented control frame");
        }

        if (len > 125) {
            return ngx_http_calls_ws_fail(ws,
                                          NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                          "control frame over 125 bytes");
        }

    } else if (ws->opcode == NGX_HTTP_CALLS_WS_CONT) {

        if (ws->msg_opcode == 0) {
            return ngx_http_calls_ws_fail(ws,
                                          NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                          "continuation frame outside "
                                          "a message");
        }

    } else if (ws->msg_opcode != 0) {
        return ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                      "new message inside a fragmented "
                                      "message");
    }

    ws->hdr_need = 2 + 4 + (len == 126 ? 2 : (len == 127 ? 8 : 0));

    return NGX_OK;
}


/* the whole frame header is in ws->hdr */

static ngx_int_t
ngx_http_calls_ws_frame_header(ngx_http_calls_ws_t *ws)
{
    u_char      *p, *m, reason[64];
    size_t       size, need;
    uint64_t     len;
    ngx_uint_t   i;

    len = ws->hdr[1] & 0x7f;
    p = &ws->hdr[2];

    if (len == 126) {
        len = ((uint64_t) p[0] << 8) | p[1];
        p += 2;

    } else if (len == 127) {
        len = 0;

        for (i = 0; i < 8; i++) {
            len = (len << 8) | p[i];
        }

        p += 8;

        if (len >> 63) {
            return ngx_http_calls_ws_fail(ws,
                                          NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                          "invalid frame length");
        }
    }

    ngx_memcpy(ws->mask, p, 4);
    ws->mask_pos = 0;
    ws->left = len;

    if (ws->opcode & 0x8) {
        ws->ctl_len = 0;
        ws->in_payload = 1;
        return NGX_OK;
    }

    /* the cap is checked before anything is allocated for the frame */

    if (len > (uint64_t) (ws->conf->max_message_size - ws->msg_len)) {
        *ngx_snprintf(reason, sizeof(reason) - 1, "message over %uz bytes",
                      ws->conf->max_message_size) = '\0';
        return ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_TOO_BIG,
                                      (char *) reason);
    }

    if (ws->opcode != NGX_HTTP_CALLS_WS_CONT) {
        ws->msg_opcode = ws->opcode;
        ws->msg_len = 0;
        ws->utf8.need = 0;
    }

    need = ws->msg_len + (size_t) len;

    if (need > ws->msg_size) {
        size = ngx_max(ws->msg_size * 2, NGX_HTTP_CALLS_WS_MSG_MIN);
        size = ngx_min(size, ws->conf->max_message_size);
        size = ngx_max(size, need);

        m = ngx_palloc(ws->pool, size);
        if (m == NULL) {
            ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                          "WebSocket message buffer of %uz bytes "
                          "not allocated", size);
            ws->abort = 1;
            return NGX_ERROR;
        }

        if (ws->msg) {
            ngx_memcpy(m, ws->msg, ws->msg_len);
            ngx_pfree(ws->pool, ws->msg);
        }

        ws->msg = m;
        ws->msg_size = size;
    }

    ws->in_payload = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_calls_ws_frame_end(ngx_http_calls_ws_t *ws)
{
    u_char  *data;
    size_t   len;

    ws->in_payload = 0;
    ws->hdr_len = 0;
    ws->hdr_need = 2;

    switch (ws->opcode) {

    case NGX_HTTP_CALLS_WS_PING:
        if (!ws->close_sent) {
            return ngx_http_calls_ws_queue(ws, NGX_HTTP_CALLS_WS_PONG,
                                           ws->ctl, ws->ctl_len);
        }

        return NGX_OK;

    case NGX_HTTP_CALLS_WS_PONG:
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "websocket pong");
        return NGX_OK;

    case NGX_HTTP_CALLS_WS_CLOSE:
        return ngx_http_calls_ws_close_frame(ws);
    }

    if (!ws->fin) {
        return NGX_OK;
    }

    if (ws->msg_opcode == NGX_HTTP_CALLS_WS_TEXT && ws->utf8.need) {
        return ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_INVALID_DATA,
                                      "text message ends inside a UTF-8 "
                                      "sequence");
    }

    data = ws->msg ? ws->msg : (u_char *) "";
    len = ws->msg_len;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "websocket message opcode:%ui len:%uz",
                   ws->msg_opcode, len);

    if (!ws->close_sent) {
        ws->handler->message(ws, ws->msg_opcode, data, len);
    }

    ws->msg_opcode = 0;
    ws->msg_len = 0;

    if (ws->msg_size > NGX_HTTP_CALLS_WS_MSG_KEEP) {
        ngx_pfree(ws->pool, ws->msg);
        ws->msg = NULL;
        ws->msg_size = 0;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_calls_ws_close_frame(ngx_http_calls_ws_t *ws)
{
    u_char                    *reason, buf[64];
    size_t                     len;
    ngx_uint_t                 code;
    ngx_http_calls_ws_utf8_t   utf8;

    if (ws->ctl_len == 1) {
        return ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                      "close frame with a 1-byte payload");
    }

    code = NGX_HTTP_CALLS_WS_NO_STATUS;
    reason = (u_char *) "";
    len = 0;

    if (ws->ctl_len >= 2) {
        code = (ws->ctl[0] << 8) | ws->ctl[1];

        if (!ngx_http_calls_ws_valid_code(code)) {
            *ngx_snprintf(buf, sizeof(buf) - 1, "invalid close code %ui",
                      code) = '\0';
        return ngx_http_calls_ws_fail(ws,
                                          NGX_HTTP_CALLS_WS_PROTOCOL_ERROR,
                                          (char *) buf);
        }

        reason = ws->ctl + 2;
        len = ws->ctl_len - 2;

        utf8.need = 0;

        if (ngx_http_calls_ws_utf8(&utf8, reason, len) != NGX_OK
            || utf8.need)
        {
            return ngx_http_calls_ws_fail(ws, NGX_HTTP_CALLS_WS_INVALID_DATA,
                                          "close reason is not UTF-8");
        }
    }

    ws->close_received = 1;
    ws->read_closed = 1;

    if (ws->close_sent) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "WebSocket closing handshake done, client answered "
                      "with %ui", code);
        return NGX_DONE;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "WebSocket closed by client with %ui \"%*s\"",
                  code, len, reason);

    /* the echo carries the client's code, as RFC 6455 5.5.1 suggests */

    ngx_http_calls_ws_start_close(ws, code, NULL, 0);

    return NGX_DONE;
}


/* fails the connection: a close frame with code, then the end */

static ngx_int_t
ngx_http_calls_ws_fail(ngx_http_calls_ws_t *ws, ngx_uint_t code,
    char *reason)
{
    size_t  len;

    len = ngx_strlen(reason);

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "WebSocket protocol error: %s, closing with %ui",
                  reason, code);

    ngx_http_calls_ws_start_close(ws, code, (u_char *) reason, len);

    ws->failed = 1;
    ws->read_closed = 1;

    return NGX_ERROR;
}


static ngx_uint_t
ngx_http_calls_ws_valid_code(ngx_uint_t code)
{
    /* RFC 6455 7.4 and the IANA registry: 1004-1006 and 1015 are never
     * sent, 1016-2999 are reserved */

    if (code >= 1000 && code <= 1003) {
        return 1;
    }

    if (code >= 1007 && code <= 1014) {
        return 1;
    }

    return code >= 3000 && code <= 4999;
}


/*
 * Incremental UTF-8 check (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF.  st->need > 0 means a sequence is open.
 */

static ngx_int_t
ngx_http_calls_ws_utf8(ngx_http_calls_ws_utf8_t *st, u_char *p, size_t len)
{
    u_char  c, *last;

    last = p + len;

    while (p < last) {
        c = *p++;

        if (st->need) {
            if (c < st->lo || c > st->hi) {
                return NGX_ERROR;
            }

            st->need--;
            st->lo = 0x80;
            st->hi = 0xbf;
            continue;
        }

        if (c < 0x80) {
            continue;
        }

        st->lo = 0x80;
        st->hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            st->need = 1;

        } else if (c == 0xe0) {
            st->need = 2;
            st->lo = 0xa0;

        } else if (c == 0xed) {
            st->need = 2;
            st->hi = 0x9f;

        } else if (c >= 0xe1 && c <= 0xef) {
            st->need = 2;

        } else if (c == 0xf0) {
            st->need = 3;
            st->lo = 0x90;

        } else if (c >= 0xf1 && c <= 0xf3) {
            st->need = 3;

        } else if (c == 0xf4) {
            st->need = 3;
            st->hi = 0x8f;

        } else {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Queues our close frame: code (none for 1005) and reason.  Messages
 * are not delivered from now on; the closing deadline starts.
 */

static void
ngx_http_calls_ws_start_close(ngx_http_calls_ws_t *ws, ngx_uint_t code,
    u_char *reason, size_t len)
{
    u_char  payload[125];
    size_t  n;

    if (ws->close_sent) {
        return;
    }

    ws->close_sent = 1;

    n = 0;

    if (code != NGX_HTTP_CALLS_WS_NO_STATUS) {
        payload[0] = (u_char) (code >> 8);
        payload[1] = (u_char) (code & 0xff);
        n = 2;

        if (len > NGX_HTTP_CALLS_WS_MAX_REASON) {
            len = NGX_HTTP_CALLS_WS_MAX_REASON;

            /* do not cut a UTF-8 sequence */
            while (len && (reason[len] & 0xc0) == 0x80) {
                len--;
            }
        }

        n += len;

        if (len) {
            ngx_memcpy(&payload[2], reason, len);
        }
    }

    (void) ngx_http_calls_ws_queue(ws, NGX_HTTP_CALLS_WS_CLOSE, payload, n);

    /* the whole closing handshake must fit in one timeout */

    ngx_add_timer(&ws->ping, ws->conf->timeout);
}


static ngx_int_t
ngx_http_calls_ws_queue(ngx_http_calls_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    u_char     hdr[10];
    size_t     n;
    ngx_int_t  rc;

    hdr[0] = (u_char) (0x80 | opcode);

    if (len < 126) {
        hdr[1] = (u_char) len;
        n = 2;

    } else if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (u_char) (len >> 8);
        hdr[3] = (u_char) (len & 0xff);
        n = 4;

    } else {
        hdr[1] = 127;
        hdr[2] = 0;
        hdr[3] = 0;
        hdr[4] = 0;
        hdr[5] = 0;
        hdr[6] = (u_char) ((uint32_t) len >> 24);
        hdr[7] = (u_char) ((uint32_t) len >> 16);
        hdr[8] = (u_char) ((uint32_t) len >> 8);
        hdr[9] = (u_char) (len & 0xff);
        n = 10;
    }

    rc = ngx_http_calls_ws_append(ws, hdr, n);

    if (rc == NGX_OK && len) {
        rc = ngx_http_calls_ws_append(ws, data, len);
    }

    if (rc != NGX_OK) {
        /* a half-queued frame cannot be taken back */
        ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                      "WebSocket output allocation failed");
        ws->abort = 1;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_calls_ws_append(ngx_http_calls_ws_t *ws, u_char *data, size_t len)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_pool_t   *pool;
    ngx_chain_t  *cl;

    pool = ws->pool;

    while (len) {
        cl = ws->out_tail;

        if (cl == NULL || cl->buf->last == cl->buf->end) {

            if (ws->free) {
                cl = ws->free;
                ws->free = cl->next;
                b = cl->buf;

            } else {
                cl = ngx_alloc_chain_link(pool);
                if (cl == NULL) {
                    return NGX_ERROR;
                }

                b = ngx_calloc_buf(pool);
                if (b == NULL) {
                    return NGX_ERROR;
                }

                cl->buf = b;
            }

            if (b->start == NULL) {
                b->start = ngx_palloc(pool, NGX_HTTP_CALLS_WS_CHUNK);
                if (b->start == NULL) {
                    cl->next = ws->free;
                    ws->free = cl;
                    return NGX_ERROR;
                }

                b->end = b->start + NGX_HTTP_CALLS_WS_CHUNK;
                b->temporary = 1;

                /* TLS with ssl buffering holds data until a flush */
                b->flush = 1;
            }

            b->pos = b->start;
            b->last = b->start;
            cl->next = NULL;

            if (ws->out_tail) {
                ws->out_tail->next = cl;

            } else {
                ws->out = cl;
            }

            ws->out_tail = cl;
        }

        b = cl->buf;

        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, data, n);

        data += n;
        len -= n;
        ws->queued += n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_calls_ws_flush(ngx_http_calls_ws_t *ws)
{
    off_t                sent;
    size_t               queued;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_event_t         *wev;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ws->request;
    c = ws->connection;
    wev = c->write;

    if (r->out) {
        /* the rest of the 101 response goes first */

        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (r->out) {
            return NGX_AGAIN;
        }
    }

    /* TLS may hold bytes it took from us earlier */

    if (ws->out == NULL && !(c->buffered & NGX_LOWLEVEL_BUFFERED)) {
        return NGX_OK;
    }

    if (!wev->ready) {
        return NGX_AGAIN;
    }

    sent = c->sent;

    cl = c->send_chain(c, ws->out, 0);

    if (cl == NGX_CHAIN_ERROR) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "WebSocket connection broken while sending");
        c->error = 1;
        return NGX_ERROR;
    }

    if (c->sent != sent && wev->timer_set) {
        /* progress: the send timeout starts again */
        ngx_del_timer(wev);
    }

    while (ws->out && ws->out->buf->pos == ws->out->buf->last) {
        cl = ws->out;
        ws->out = cl->next;

        b = cl->buf;

        /* a sent chunk goes back to the allocator, its links are kept */

        ngx_pfree(ws->pool, b->start);
        b->start = NULL;
        b->end = NULL;
        b->pos = NULL;
        b->last = NULL;

        cl->next = ws->free;
        ws->free = cl;
    }

    /* what TLS buffered has left our chain, though not the socket yet */

    queued = 0;

    for (cl = ws->out; cl; cl = cl->next) {
        queued += cl->buf->last - cl->buf->pos;
    }

    ws->queued = queued;

    if (ws->out == NULL) {
        ws->out_tail = NULL;
    }

    if (ws->out || (c->buffered & NGX_LOWLEVEL_BUFFERED)) {
        return NGX_AGAIN;
    }

    return NGX_OK;
}


/* whether output is waiting: ours, the 101's or inside TLS */

static ngx_uint_t
ngx_http_calls_ws_pending(ngx_http_calls_ws_t *ws)
{
    return ws->out != NULL
           || ws->request->out != NULL
           || (ws->connection->buffered & NGX_LOWLEVEL_BUFFERED);
}


/* runs the connection soon, from the posted events of this iteration */

static void
ngx_http_calls_ws_kick(ngx_http_calls_ws_t *ws)
{
    ngx_post_event(ws->connection->write, &ngx_posted_events);
}


static void
ngx_http_calls_ws_finalize(ngx_http_calls_ws_t *ws)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ws->request;
    c = ws->connection;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "websocket finalize abort:%ui queued:%uz",
                   (ngx_uint_t) ws->abort, ws->queued);

    ngx_http_calls_ws_release(ws, 1);

    c->idle = 0;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (ws->abort) {
        c->error = 1;
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    /*
     * After the closing handshake the server closes TCP first (RFC 6455
     * 7.1.1); lingering close shuts down our side and drains the rest.
     */

    r->lingering_close = 1;
    ngx_http_finalize_request(r, NGX_DONE);
}


static void
ngx_http_calls_ws_notify(ngx_http_calls_ws_t *ws)
{
    if (ws->notified) {
        return;
    }

    ws->notified = 1;

    ws->handler->closed(ws);
}


/* the end of the WebSocket, whichever way: timers, buffers, callback */

static void
ngx_http_calls_ws_release(ngx_http_calls_ws_t *ws, ngx_uint_t free_memory)
{
    ngx_pool_t   *pool;
    ngx_chain_t  *cl;

    if (ws->ping.timer_set) {
        ngx_del_timer(&ws->ping);
    }

    if (ws->ping.posted) {
        ngx_delete_posted_event(&ws->ping);
    }

    if (ws->finalized) {
        return;
    }

    ws->finalized = 1;

    ngx_http_calls_ws_notify(ws);

    if (!free_memory) {
        return;
    }

    /* lingering close may keep the request a while: memory goes now */

    pool = ws->pool;

    if (ws->msg) {
        ngx_pfree(pool, ws->msg);
        ws->msg = NULL;
        ws->msg_size = 0;
    }

    for (cl = ws->out; cl; cl = cl->next) {
        ngx_pfree(pool, cl->buf->start);
        cl->buf->start = NULL;
    }

    for (cl = ws->free; cl; cl = cl->next) {
        if (cl->buf->start) {
            ngx_pfree(pool, cl->buf->start);
            cl->buf->start = NULL;
        }
    }

    ws->out = NULL;
    ws->out_tail = NULL;
    ws->free = NULL;
    ws->queued = 0;
}


/* the request went away without ngx_http_calls_ws_finalize() */

static void
ngx_http_calls_ws_cleanup(void *data)
{
    ngx_http_calls_ws_t  *ws = data;

    if (!ws->finalized) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "WebSocket connection terminated");
    }

    /* the pool frees the memory itself */

    ngx_http_calls_ws_release(ws, 0);
}
