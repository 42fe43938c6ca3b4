
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_HTTP_CALLS_WS_H_INCLUDED_
#define _NGX_HTTP_CALLS_WS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * A WebSocket server (RFC 6455) for HTTP/1.1 content handlers.
 *
 * The content handler calls ngx_http_calls_ws_accept().  It checks the
 * handshake, answers a refusal itself (with a plain-text body that says
 * what is wrong) or switches the connection to the WebSocket protocol with
 * a 101 response.  From then on the connection is driven by this code:
 * it reads and validates frames, reassembles messages and hands each
 * complete text or binary message to handler->message; it answers pings,
 * sends its own pings, enforces the read deadline, queues outgoing frames
 * with a byte cap, and runs the close handshake.
 *
 * Callbacks are never made from inside ngx_http_calls_ws_accept(),
 * ngx_http_calls_ws_send() or ngx_http_calls_ws_close(): those only queue
 * and schedule, so they are safe to call from any event handler, also one
 * running for another connection.
 *
 * handler->closed is called exactly once, as soon as the WebSocket is
 * over for the application: a close frame was sent or received, or the
 * connection broke.  Our close frame may still wait behind queued output
 * and the client's answer may be awaited; that ends by itself.  After
 * the callback returns the application must not use ws.
 *
 * The ws object lives in the request pool and takes the request's module
 * context slot of ngx_http_calls_module.
 */


#define NGX_HTTP_CALLS_WS_CONT                 0x0
#define NGX_HTTP_CALLS_WS_TEXT                 0x1
#define NGX_HTTP_CALLS_WS_BINARY               0x2
#define NGX_HTTP_CALLS_WS_CLOSE                0x8
#define NGX_HTTP_CALLS_WS_PING                 0x9
#define NGX_HTTP_CALLS_WS_PONG                 0xa


/* close codes (RFC 6455, 7.4.1) */
#define NGX_HTTP_CALLS_WS_NORMAL               1000
#define NGX_HTTP_CALLS_WS_GOING_AWAY           1001
#define NGX_HTTP_CALLS_WS_PROTOCOL_ERROR       1002
#define NGX_HTTP_CALLS_WS_UNSUPPORTED          1003
#define NGX_HTTP_CALLS_WS_NO_STATUS            1005
#define NGX_HTTP_CALLS_WS_INVALID_DATA         1007
#define NGX_HTTP_CALLS_WS_POLICY               1008
#define NGX_HTTP_CALLS_WS_TOO_BIG              1009
#define NGX_HTTP_CALLS_WS_INTERNAL_ERROR       1011


typedef struct ngx_http_calls_ws_s  ngx_http_calls_ws_t;


typedef struct {
    size_t                      max_message_size;  /* reassembled, bytes */
    size_t                      send_queue;        /* queued output cap */
    ngx_msec_t                  ping_interval;
    ngx_msec_t                  timeout;           /* read and send */
} ngx_http_calls_ws_conf_t;


/*
 * A complete message: opcode is NGX_HTTP_CALLS_WS_TEXT (valid UTF-8) or
 * NGX_HTTP_CALLS_WS_BINARY.  data is valid until the callback returns.
 */
typedef void (*ngx_http_calls_ws_message_pt)(ngx_http_calls_ws_t *ws,
    ngx_uint_t opcode, u_char *data, size_t len);

/* the connection is gone; free what refers to ws */
typedef void (*ngx_http_calls_ws_closed_pt)(ngx_http_calls_ws_t *ws);


typedef struct {
    ngx_http_calls_ws_message_pt  message;
    ngx_http_calls_ws_closed_pt   closed;
} ngx_http_calls_ws_handler_t;


/*
 * Returns NGX_DONE when the connection became a WebSocket (*wsp is set;
 * return NGX_DONE from the content handler), otherwise a code for the
 * content handler to return (the refusal was sent or is an HTTP error
 * status).  conf and handler must outlive the connection (configuration
 * or static data).
 */
ngx_int_t ngx_http_calls_ws_accept(ngx_http_request_t *r,
    const ngx_http_calls_ws_conf_t *conf,
    const ngx_http_calls_ws_handler_t *handler, void *data,
    ngx_http_calls_ws_t **wsp);

/*
 * Queues one message (a single frame) of opcode NGX_HTTP_CALLS_WS_TEXT or
 * NGX_HTTP_CALLS_WS_BINARY.  NGX_OK: queued; NGX_DECLINED: the connection
 * is closing and the message was dropped; NGX_ERROR: the message could
 * not be queued and the connection is being closed (queue over its cap:
 * with 1008; no memory: dropped).
 */
ngx_int_t ngx_http_calls_ws_send(ngx_http_calls_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len);

/*
 * Starts the closing handshake with code and an optional reason (at most
 * 123 bytes of UTF-8; longer ones are cut).  Messages queued before are
 * sent first; nothing is delivered to handler->message afterwards.
 */
void ngx_http_calls_ws_close(ngx_http_calls_ws_t *ws, ngx_uint_t code,
    const char *reason);

void *ngx_http_calls_ws_data(ngx_http_calls_ws_t *ws);
ngx_connection_t *ngx_http_calls_ws_connection(ngx_http_calls_ws_t *ws);


#endif /* _NGX_HTTP_CALLS_WS_H_INCLUDED_ */
