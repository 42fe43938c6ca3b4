
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * A WebSocket client on a non-blocking socket in the load generator's
 * event loop: the HTTP/1.1 upgrade (RFC 6455 4.1) written here, the
 * framing by wslay.  Plain ws:// only: the servers run on loopback.
 */


#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <cJSON.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <wslay/wslay.h>

#include "loadgen.h"


#define LG_WS_GUID       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define LG_WS_HEADER_MAX 4096


enum {
    LG_WS_CONNECTING = 0,
    LG_WS_HANDSHAKE,
    LG_WS_OPEN,
    LG_WS_DEAD
};


struct lg_ws_s {
    unsigned                  io;            /* LG_IO_WS */
    lg_t                     *lg;
    int                       fd;
    int                       state;
    uint32_t                  events;

    char                      accept[32];    /* Sec-WebSocket-Accept */
    char                     *req;
    size_t                    req_len;
    size_t                    req_sent;

    uint8_t                   head[LG_WS_HEADER_MAX];
    size_t                    head_len;
    size_t                    rest_pos;      /* frames read with the head */
    size_t                    rest_len;

    wslay_event_context_ptr   ctx;
    lg_ws_handler_t           handler;
    void                     *data;

    unsigned                  busy;          /* in lg_ws_event() */
    unsigned                  close_req:1;   /* lg_ws_close() meanwhile */
};


static int lg_ws_parse_url(const char *url, char *host, size_t hostlen,
    char *port, size_t portlen, const char **path);
static void lg_ws_handle(lg_ws_t *ws, uint32_t events);
static void lg_ws_update(lg_ws_t *ws);
static void lg_ws_fail(lg_ws_t *ws, const char *why);
static void lg_ws_free(lg_ws_t *ws);
static int lg_ws_write_request(lg_ws_t *ws);
static int lg_ws_read_head(lg_ws_t *ws);
static ssize_t lg_ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf,
    size_t len, int flags, void *user);
static ssize_t lg_ws_send_cb(wslay_event_context_ptr ctx,
    const uint8_t *data, size_t len, int flags, void *user);
static int lg_ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf,
    size_t len, void *user);
static void lg_ws_msg_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *arg, void *user);


static const struct wslay_event_callbacks  lg_ws_callbacks = {
    lg_ws_recv_cb,
    lg_ws_send_cb,
    lg_ws_genmask_cb,
    NULL,
    NULL,
    NULL,
    lg_ws_msg_cb
};


lg_ws_t *
lg_ws_connect(lg_t *lg, const char *url, const char *headers,
    const lg_ws_handler_t *handler, void *data, char *err, size_t errlen)
{
    int               fd, one, rc;
    char              host[256], port[16], key[32];
    lg_ws_t          *ws;
    const char       *path;
    unsigned char     nonce[16], sha[EVP_MAX_MD_SIZE];
    unsigned int      shalen;
    struct addrinfo   hints, *ai;
    char              both[96];

    if (lg_ws_parse_url(url, host, sizeof(host), port, sizeof(port), &path)
        != 0)
    {
        snprintf(err, errlen, "bad url \"%s\" (ws://host:port/path)", url);
        return NULL;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return NULL;
    }

    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket(): %s", strerror(errno));
        freeaddrinfo(ai);
        return NULL;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1
        && errno != EINPROGRESS)
    {
        snprintf(err, errlen, "connect() to %s:%s: %s", host, port,
                 strerror(errno));
        freeaddrinfo(ai);
        close(fd);
        return NULL;
    }

    freeaddrinfo(ai);

    ws = calloc(1, sizeof(lg_ws_t));
    if (ws == NULL) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return NULL;
    }

    ws->io = LG_IO_WS;
    ws->lg = lg;
    ws->fd = fd;
    ws->handler = *handler;
    ws->data = data;

    /* the key, and the accept value the server must send back */

    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        snprintf(err, errlen, "RAND_bytes() failed");
        goto failed;
    }

    EVP_EncodeBlock((unsigned char *) key, nonce, sizeof(nonce));

    snprintf(both, sizeof(both), "%s%s", key, LG_WS_GUID);

    if (EVP_Digest(both, strlen(both), sha, &shalen, EVP_sha1(), NULL) != 1)
    {
        snprintf(err, errlen, "SHA-1 failed");
        goto failed;
    }

    EVP_EncodeBlock((unsigned char *) ws->accept, sha, shalen);

    if (headers == NULL) {
        headers = "";
    }

    ws->req = malloc(1024 + strlen(path) + strlen(host) + strlen(headers));
    if (ws->req == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    ws->req_len = sprintf(ws->req,
                          "GET %s HTTP/1.1\r\n"
                          "Host: %s:%s\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                          "%s"
                          "User-Agent: ngx_calls-loadgen\r\n"
                          "\r\n",
                          path, host, port, key, headers);

    if (wslay_event_context_client_init(&ws->ctx, &lg_ws_callbacks, ws) != 0)
    {
        snprintf(err, errlen, "wslay: out of memory");
        goto failed;
    }

    wslay_event_config_set_max_recv_msg_length(ws->ctx, 16 * 1024 * 1024);

    ws->events = EPOLLOUT;

    if (lg_fd_add(lg, fd, ws->events, ws) != 0) {
        snprintf(err, errlen, "epoll_ctl(): %s", strerror(errno));
        goto failed;
    }

    return ws;

failed:

    lg_ws_free(ws);
    return NULL;
}


static int
lg_ws_parse_url(const char *url, char *host, size_t hostlen, char *port,
    size_t portlen, const char **path)
{
    size_t       n;
    const char  *p, *colon, *slash;

    if (strncmp(url, "ws://", 5) != 0) {
        return -1;
    }

    p = url + 5;
    slash = strchr(p, '/');
    *path = slash ? slash : "/";

    if (slash == NULL) {
        slash = p + strlen(p);
    }

    if (*p == '[') {                             /* [v6]:port */
        colon = memchr(p, ']', slash - p);
        if (colon == NULL) {
            return -1;
        }

        n = colon - p - 1;
        p++;
        colon = (colon + 1 < slash && colon[1] == ':') ? colon + 1 : NULL;

    } else {
        colon = memchr(p, ':', slash - p);
        n = (colon ? colon : slash) - p;
    }

    if (n == 0 || n >= hostlen) {
        return -1;
    }

    memcpy(host, p, n);
    host[n] = '\0';

    if (colon == NULL) {
        snprintf(port, portlen, "80");
        return 0;
    }

    n = slash - colon - 1;

    if (n == 0 || n >= portlen) {
        return -1;
    }

    memcpy(port, colon + 1, n);
    port[n] = '\0';

    return 0;
}


int
lg_ws_send(lg_ws_t *ws, int binary, const void *buf, size_t len)
{
    struct wslay_event_msg  msg;

    if (ws == NULL || ws->state == LG_WS_DEAD || ws->ctx == NULL) {
        return -1;
    }

    msg.opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME;
    msg.msg = buf;
    msg.msg_length = len;

    if (wslay_event_queue_msg(ws->ctx, &msg) != 0) {
        return -1;
    }

    /* before the handshake is done, it waits in wslay's queue */
    if (ws->state == LG_WS_OPEN) {
        if (wslay_event_send(ws->ctx) != 0) {
            lg_ws_fail(ws, "send failed");

            if (!ws->busy) {
                lg_ws_free(ws);
            }

            return -1;
        }

        lg_ws_update(ws);
    }

    return 0;
}


int
lg_ws_send_json(lg_ws_t *ws, void *cjson)
{
    int    rc;
    char  *text;

    text = cJSON_PrintUnformatted(cjson);
    cJSON_Delete(cjson);

    if (text == NULL) {
        return -1;
    }

    if (ws->lg->conf.verbose > 1) {
        lg_log(ws->lg, 2, "ws -> %.300s", text);
    }

    rc = lg_ws_send(ws, 0, text, strlen(text));
    cJSON_free(text);

    return rc;
}


void
lg_ws_close(lg_ws_t *ws)
{
    if (ws == NULL) {
        return;
    }

    if (ws->busy) {
        ws->close_req = 1;                  /* when lg_ws_event() returns */
        return;
    }

    if (ws->state == LG_WS_OPEN) {
        (void) wslay_event_queue_close(ws->ctx, WSLAY_CODE_NORMAL_CLOSURE,
                                       NULL, 0);
        (void) wslay_event_send(ws->ctx);
    }

    lg_ws_free(ws);
}


static void
lg_ws_free(lg_ws_t *ws)
{
    if (ws->fd != -1) {
        lg_fd_del(ws->lg, ws->fd);
        close(ws->fd);
    }

    if (ws->ctx != NULL) {
        wslay_event_context_free(ws->ctx);
    }

    free(ws->req);
    free(ws);
}


/* the connection failed or ended: the owner hears of it, then it is gone */

static void
lg_ws_fail(lg_ws_t *ws, const char *why)
{
    if (ws->state == LG_WS_DEAD) {
        return;
    }

    ws->state = LG_WS_DEAD;
    lg_fd_del(ws->lg, ws->fd);
    close(ws->fd);
    ws->fd = -1;

    ws->handler.closed(ws, ws->data, why);
}


void
lg_ws_event(lg_ws_t *ws, uint32_t events)
{
    ws->busy++;
    lg_ws_handle(ws, events);
    ws->busy--;

    if (ws->close_req) {
        ws->close_req = 0;

        if (ws->state != LG_WS_DEAD) {
            lg_ws_close(ws);
            return;
        }
    }

    if (ws->state == LG_WS_DEAD) {
        lg_ws_free(ws);
    }
}


static void
lg_ws_handle(lg_ws_t *ws, uint32_t events)
{
    int        err;
    socklen_t  len;

    if (ws->state == LG_WS_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }

        err = 0;
        len = sizeof(err);
        (void) getsockopt(ws->fd, SOL_SOCKET, SO_ERROR, &err, &len);

        if (err != 0) {
            lg_ws_fail(ws, strerror(err));
            return;
        }

        ws->state = LG_WS_HANDSHAKE;
    }

    if (ws->state == LG_WS_HANDSHAKE) {
        if (ws->req_sent < ws->req_len && lg_ws_write_request(ws) != 0) {
            return;
        }

        if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
            lg_ws_update(ws);
            return;
        }

        if (lg_ws_read_head(ws) != 0) {
            return;
        }

        if (ws->state != LG_WS_OPEN) {
            lg_ws_update(ws);
            return;
        }

        /* open: the frames read with the head, then what is queued */
        ws->handler.open(ws, ws->data);

        if (ws->state != LG_WS_OPEN || ws->close_req) {
            return;
        }
    }

    if (ws->state != LG_WS_OPEN) {
        return;
    }

    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || ws->rest_len) {
        if (wslay_event_recv(ws->ctx) != 0) {
            lg_ws_fail(ws, "connection closed or protocol error");
            return;
        }

        if (ws->state != LG_WS_OPEN || ws->close_req) {
            return;
        }

        if (!wslay_event_want_read(ws->ctx)) {
            lg_ws_fail(ws, "closed by the server");
            return;
        }
    }

    if (wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) != 0) {
        lg_ws_fail(ws, "send failed");
        return;
    }

    lg_ws_update(ws);
}


static void
lg_ws_update(lg_ws_t *ws)
{
    uint32_t  events;

    if (ws->state == LG_WS_DEAD) {
        return;
    }

    events = EPOLLIN;

    if (ws->state == LG_WS_CONNECTING
        || (ws->state == LG_WS_HANDSHAKE && ws->req_sent < ws->req_len)
        || (ws->state == LG_WS_OPEN && wslay_event_want_write(ws->ctx)))
    {
        events |= EPOLLOUT;
    }

    if (events != ws->events) {
        ws->events = events;
        (void) lg_fd_mod(ws->lg, ws->fd, events, ws);
    }
}


static int
lg_ws_write_request(lg_ws_t *ws)
{
    ssize_t  n;

    while (ws->req_sent < ws->req_len) {
        n = send(ws->fd, ws->req + ws->req_sent, ws->req_len - ws->req_sent,
                 MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }

            lg_ws_fail(ws, strerror(errno));
            return -1;
        }

        ws->req_sent += n;
    }

    return 0;
}


/* the server's 101 response; what follows its head is frames */

static int
lg_ws_read_head(lg_ws_t *ws)
{
    char      *end, *line, *next, *colon, *value;
    size_t     hlen;
    ssize_t    n;
    unsigned   status, upgraded, accepted;

    for ( ;; ) {
        if (ws->head_len == sizeof(ws->head) - 1) {
            lg_ws_fail(ws, "response head too large");
            return -1;
        }

        n = recv(ws->fd, ws->head + ws->head_len,
                 sizeof(ws->head) - 1 - ws->head_len, 0);

        if (n == 0) {
            lg_ws_fail(ws, "closed during the handshake");
            return -1;
        }

        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }

            lg_ws_fail(ws, strerror(errno));
            return -1;
        }

        ws->head_len += n;
        ws->head[ws->head_len] = '\0';

        end = strstr((char *) ws->head, "\r\n\r\n");
        if (end != NULL) {
            break;
        }
    }

    hlen = end + 4 - (char *) ws->head;
    ws->rest_pos = hlen;
    ws->rest_len = ws->head_len - hlen;
    *end = '\0';

    if (sscanf((char *) ws->head, "HTTP/1.1 %u", &status) != 1
        || status != 101)
    {
        line = strchr((char *) ws->head, '\r');
        if (line) {
            *line = '\0';
        }

        lg_ws_fail(ws, (char *) ws->head);
        return -1;
    }

    upgraded = 0;
    accepted = 0;

    for (line = strstr((char *) ws->head, "\r\n"); line; line = next) {
        line += 2;
        next = strstr(line, "\r\n");

        if (next) {
            *next = '\0';
        }

        colon = strchr(line, ':');
        if (colon == NULL) {
            continue;
        }

        *colon = '\0';
        value = colon + 1;

        while (*value == ' ' || *value == '\t') {
            value++;
        }

        if (strcasecmp(line, "Upgrade") == 0
            && strcasecmp(value, "websocket") == 0)
        {
            upgraded = 1;

        } else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0
                   && strcmp(value, ws->accept) == 0)
        {
            accepted = 1;
        }
    }

    if (!upgraded || !accepted) {
        lg_ws_fail(ws, "101 without a valid upgrade");
        return -1;
    }

    ws->state = LG_WS_OPEN;

    return 0;
}


static ssize_t
lg_ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags, void *user)
{
    lg_ws_t  *ws = user;
    ssize_t   n;

    if (ws->rest_len) {
        n = ws->rest_len < len ? ws->rest_len : len;
        memcpy(buf, ws->head + ws->rest_pos, n);
        ws->rest_pos += n;
        ws->rest_len -= n;
        return n;
    }

    n = recv(ws->fd, buf, len, 0);

    if (n == -1) {
        if (errno == EAGAIN || errno == EINTR) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);

        } else {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        }

        return -1;
    }

    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }

    return n;
}


static ssize_t
lg_ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *user)
{
    lg_ws_t  *ws = user;
    ssize_t   n;

    n = send(ws->fd, data, len, MSG_NOSIGNAL);

    if (n == -1) {
        if (errno == EAGAIN || errno == EINTR) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);

        } else {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        }

        return -1;
    }

    return n;
}


static int
lg_ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *user)
{
    /* masking is not secrecy: a cheap generator is enough */
    size_t  i;

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t) random();
    }

    return 0;
}


static void
lg_ws_msg_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    lg_ws_t  *ws = user;

    if (ws->state != LG_WS_OPEN) {
        return;
    }

    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
    {
        ws->handler.message(ws, ws->data, arg->opcode == WSLAY_BINARY_FRAME,
                            arg->msg, arg->msg_length);
    }

    /* pings are answered by wslay; a close is answered and ends reading */
}
