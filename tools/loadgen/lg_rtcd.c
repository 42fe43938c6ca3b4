
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The RTCD backend: the load generator plays the Mattermost Calls plugin
 * in RTCD mode (reference/rtcd-protocol.md 1.3, 2) in front of its
 * simulated clients.  Per process, one plugin connection: POST /register
 * (self-registration) unless the URL carries credentials, then the
 * WebSocket /ws with Basic auth.  Every message is the plugin's msgpack
 * envelope, a type string and its data: "join" {callID, userID,
 * sessionID, channelID, av1Support, dcSignaling} (no reply: the client
 * offers at once), "rtc" rtc.Message maps whose data is the client's
 * JSON (SDP 2, ICE 1, unmute 4, screen on 5), "leave" {sessionID}.  What
 * comes back: "hello", "rtc" for a session (its signal), "vad", "close".
 *
 * The clients are the standalone backend's (lg_calls.c), with their
 * actions sent here.
 *
 *   --backend rtcd --url http://[clientID:authKey@]HOST:PORT
 */


#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "loadgen.h"
#include "ngx_calls_media.h"


#define LG_RTCD_ID_LEN       26
#define LG_RTCD_ALPHABET     "ybndrfg8ejkmcpqxot1uwisza345h769"


typedef struct {
    char                      host[256];
    char                      port[16];
    char                      client_id[128];
    char                      auth_key[128];
    lg_ws_t                  *ws;
    unsigned                  hello:1;
} lg_rtcd_conf_t;


static lg_rtcd_conf_t  lg_rtcd;


static int lg_rtcd_parse_url(const char *url);
static int lg_rtcd_register(lg_t *lg);
static void lg_rtcd_open(lg_ws_t *ws, void *data);
static void lg_rtcd_message(lg_ws_t *ws, void *data, int binary,
    const uint8_t *buf, size_t len);
static void lg_rtcd_closed(lg_ws_t *ws, void *data, const char *why);
static lg_client_t *lg_rtcd_client(lg_t *lg, const char *sid, size_t len);
static const msgpack_object *lg_rtcd_get(const msgpack_object *map,
    const char *key);
static void lg_rtcd_id(char *id, uint64_t seed);
static void lg_mp_str(msgpack_packer *pk, const char *s);
static int lg_rtcd_send(msgpack_sbuffer *sb);


static const lg_ws_handler_t  lg_rtcd_ws_handler = {
    lg_rtcd_open,
    lg_rtcd_message,
    lg_rtcd_closed
};


/*
 * Once for every process: one client (a group, in rtcd's terms), so that
 * a call split between processes is one call
 */

static int
lg_rtcd_prepare(lg_t *lg)
{
    unsigned char  rnd[24];

    if (lg_rtcd_parse_url(lg->conf.url) != 0) {
        fprintf(stderr, "loadgen: --url http://[clientID:authKey@]HOST:PORT "
                "for the RTCD backend\n");
        return -1;
    }

    if (lg_rtcd.client_id[0] != '\0') {
        return 0;
    }

    /* a client of our own: self-registration, a 32-character key */

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return -1;
    }

    snprintf(lg_rtcd.client_id, sizeof(lg_rtcd.client_id),
             "loadgen-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    EVP_EncodeBlock((unsigned char *) lg_rtcd.auth_key, rnd, sizeof(rnd));

    return lg_rtcd_register(lg);
}


/* the plugin's connection of this process */

static int
lg_rtcd_init(lg_t *lg)
{
    char  err[256], url[512], cred[300], basic[420], head[512];

    snprintf(cred, sizeof(cred), "%s:%s", lg_rtcd.client_id,
             lg_rtcd.auth_key);
    EVP_EncodeBlock((unsigned char *) basic, (unsigned char *) cred,
                    (int) strlen(cred));
    snprintf(head, sizeof(head), "Authorization: Basic %s\r\n", basic);

    snprintf(url, sizeof(url), "ws://%s:%s/ws", lg_rtcd.host, lg_rtcd.port);

    lg_rtcd.ws = lg_ws_connect(lg, url, head, &lg_rtcd_ws_handler, lg, err,
                               sizeof(err));
    if (lg_rtcd.ws == NULL) {
        fprintf(stderr, "loadgen: rtcd: %s\n", err);
        return -1;
    }

    return 0;
}


static int
lg_rtcd_parse_url(const char *url)
{
    size_t       n;
    const char  *p, *at, *colon, *end;

    if (strncmp(url, "http://", 7) != 0) {
        return -1;
    }

    p = url + 7;
    end = p + strcspn(p, "/");
    at = memchr(p, '@', end - p);

    if (at != NULL) {
        colon = memchr(p, ':', at - p);

        if (colon == NULL
            || (size_t) (colon - p) >= sizeof(lg_rtcd.client_id)
            || (size_t) (at - colon - 1) >= sizeof(lg_rtcd.auth_key))
        {
            return -1;
        }

        memcpy(lg_rtcd.client_id, p, colon - p);
        memcpy(lg_rtcd.auth_key, colon + 1, at - colon - 1);
        p = at + 1;
    }

    colon = memchr(p, ':', end - p);
    if (colon == NULL) {
        return -1;                   /* the plugin wants a port, too */
    }

    n = colon - p;
    if (n == 0 || n >= sizeof(lg_rtcd.host)) {
        return -1;
    }

    memcpy(lg_rtcd.host, p, n);

    n = end - colon - 1;
    if (n == 0 || n >= sizeof(lg_rtcd.port)) {
        return -1;
    }

    memcpy(lg_rtcd.port, colon + 1, n);

    return 0;
}


/* POST /register, before the event loop runs: blocking, once */

static int
lg_rtcd_register(lg_t *lg)
{
    int               fd, rc;
    char              body[512], req[1024], res[1024];
    size_t            len, got;
    ssize_t           n;
    unsigned          status;
    struct timeval    tv;
    struct addrinfo   hints, *ai;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(lg_rtcd.host, lg_rtcd.port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "loadgen: rtcd: %s: %s\n", lg_rtcd.host,
                gai_strerror(rc));
        return -1;
    }

    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd == -1 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fprintf(stderr, "loadgen: rtcd: connect(): %s\n", strerror(errno));
        freeaddrinfo(ai);

        if (fd != -1) {
            close(fd);
        }

        return -1;
    }

    freeaddrinfo(ai);

    tv.tv_sec = 15;
    tv.tv_usec = 0;
    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    len = snprintf(body, sizeof(body), "{\"clientID\":\"%s\",\"authKey\":"
                   "\"%s\"}", lg_rtcd.client_id, lg_rtcd.auth_key);

    len = snprintf(req, sizeof(req),
                   "POST /register HTTP/1.1\r\n"
                   "Host: %s:%s\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: %zu\r\n"
                   "Connection: close\r\n"
                   "\r\n%s", lg_rtcd.host, lg_rtcd.port, len, body);

    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t) len) {
        fprintf(stderr, "loadgen: rtcd: /register not sent\n");
        close(fd);
        return -1;
    }

    got = 0;

    while (got < sizeof(res) - 1) {
        n = recv(fd, res + got, sizeof(res) - 1 - got, 0);
        if (n <= 0) {
            break;
        }

        got += n;
    }

    close(fd);
    res[got] = '\0';

    if (sscanf(res, "HTTP/1.1 %u", &status) != 1 || status != 201) {
        fprintf(stderr, "loadgen: rtcd: /register: %.200s\n", res);
        return -1;
    }

    lg_log(lg, 1, "rtcd: registered client \"%s\"", lg_rtcd.client_id);

    return 0;
}


static void
lg_rtcd_open(lg_ws_t *ws, void *data)
{
    lg_log(data, 1, "rtcd: plugin connection open");
}


static void
lg_rtcd_message(lg_ws_t *ws, void *data, int binary, const uint8_t *buf,
    size_t len)
{
    lg_t                  *lg = data;
    size_t                 off;
    uint64_t               now;
    lg_client_t           *c;
    msgpack_unpacked       type, body;
    const msgpack_object  *sid, *d, *t;

    if (!binary) {
        return;
    }

    msgpack_unpacked_init(&type);
    msgpack_unpacked_init(&body);

    off = 0;

    if (msgpack_unpack_next(&type, (const char *) buf, len, &off)
        != MSGPACK_UNPACK_SUCCESS
        || type.data.type != MSGPACK_OBJECT_STR
        || msgpack_unpack_next(&body, (const char *) buf, len, &off)
           != MSGPACK_UNPACK_SUCCESS)
    {
        lg_log(lg, 0, "rtcd: a message that is not a type and its data");
        goto done;
    }

#define lg_rtcd_type_is(s)                                                    \
    (type.data.via.str.size == sizeof(s) - 1                                  \
     && memcmp(type.data.via.str.ptr, s, sizeof(s) - 1) == 0)

    if (lg_rtcd_type_is("hello")) {
        lg_rtcd.hello = 1;
        goto done;
    }

    if (lg_rtcd_type_is("rtc")) {
        sid = lg_rtcd_get(&body.data, "session_id");
        t = lg_rtcd_get(&body.data, "type");
        d = lg_rtcd_get(&body.data, "data");

        if (sid == NULL || sid->type != MSGPACK_OBJECT_STR || d == NULL
            || t == NULL)
        {
            goto done;
        }

        c = lg_rtcd_client(lg, sid->via.str.ptr, sid->via.str.size);

        if (c == NULL || c->failed || c->left) {
            goto done;
        }

        now = lg_now_us();

        if (d->type == MSGPACK_OBJECT_BIN) {
            lg_calls_signal_in(c, d->via.bin.ptr, d->via.bin.size, now);

        } else if (d->type == MSGPACK_OBJECT_STR) {
            lg_calls_signal_in(c, d->via.str.ptr, d->via.str.size, now);
        }

        goto done;
    }

    if (lg_rtcd_type_is("close")) {
        sid = lg_rtcd_get(&body.data, "sessionID");

        if (sid != NULL && sid->type == MSGPACK_OBJECT_STR) {
            c = lg_rtcd_client(lg, sid->via.str.ptr, sid->via.str.size);

            if (c != NULL && !c->left) {
                lg_client_fail(c, "rtcd closed the session");
            }
        }
    }

    /* vad: nothing to do */

done:

    msgpack_unpacked_destroy(&type);
    msgpack_unpacked_destroy(&body);
}


static void
lg_rtcd_closed(lg_ws_t *ws, void *data, const char *why)
{
    lg_t      *lg = data;
    unsigned   i;

    lg_rtcd.ws = NULL;

    for (i = 0; i < lg->nclients; i++) {
        if (lg->clients[i].t_join && !lg->clients[i].left) {
            lg_client_fail(&lg->clients[i], "plugin connection closed: %s",
                           why);
        }
    }
}


static lg_client_t *
lg_rtcd_client(lg_t *lg, const char *sid, size_t len)
{
    unsigned      i;
    lg_client_t  *c;

    if (len != LG_RTCD_ID_LEN) {
        return NULL;
    }

    for (i = 0; i < lg->nclients; i++) {
        c = &lg->clients[i];

        if (c->t_join && memcmp(c->session_id, sid, len) == 0) {
            return c;
        }
    }

    return NULL;
}


static const msgpack_object *
lg_rtcd_get(const msgpack_object *map, const char *key)
{
    size_t                    n;
    uint32_t                  i;
    const msgpack_object_kv  *kv;

    if (map->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }

    n = strlen(key);

    for (i = 0; i < map->via.map.size; i++) {
        kv = &map->via.map.ptr[i];

        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == n
            && memcmp(kv->key.via.str.ptr, key, n) == 0)
        {
            return &kv->val;
        }
    }

    return NULL;
}


static int
lg_rtcd_join(lg_client_t *c, uint64_t now)
{
    uint64_t          h;
    unsigned          i;
    msgpack_packer    pk;
    msgpack_sbuffer   sb;
    unsigned char     rnd[16];

    if (lg_rtcd.ws == NULL) {
        lg_client_fail(c, "no plugin connection");
        return -1;
    }

    if (lg_calls_client(c) != 0) {
        return -1;
    }

    /*
     * Mattermost-style ids: the session's and the user's random, the
     * call's the same in every process (from the call's name)
     */

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return -1;
    }

    memcpy(&h, rnd, 8);
    lg_rtcd_id(c->session_id, h);
    memcpy(&h, rnd + 8, 8);
    lg_rtcd_id(c->user_id, h);

    h = 1469598103934665603ULL;
    for (i = 0; c->room[i]; i++) {
        h = (h ^ (unsigned char) c->room[i]) * 1099511628211ULL;
    }

    lg_rtcd_id(c->call_id, h);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    lg_mp_str(&pk, "join");
    msgpack_pack_map(&pk, 6);
    lg_mp_str(&pk, "callID");
    lg_mp_str(&pk, c->call_id);
    lg_mp_str(&pk, "userID");
    lg_mp_str(&pk, c->user_id);
    lg_mp_str(&pk, "sessionID");
    lg_mp_str(&pk, c->session_id);
    lg_mp_str(&pk, "channelID");
    lg_mp_str(&pk, c->room);
    lg_mp_str(&pk, "av1Support");
    msgpack_pack_false(&pk);
    lg_mp_str(&pk, "dcSignaling");
    msgpack_pack_false(&pk);

    if (lg_rtcd_send(&sb) != 0) {
        lg_client_fail(c, "join not sent");
        return -1;
    }

    /* rtcd does not answer a join: the client offers right away */
    lg_calls_start(c, now);

    return 0;
}


/* the client's actions, as the plugin turns them into rtcd messages */

int
lg_rtcd_action(lg_client_t *c, const char *action, const char *data)
{
    int64_t           type;
    msgpack_packer    pk;
    msgpack_sbuffer   sb;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    if (strcmp(action, "leave") == 0) {
        lg_mp_str(&pk, "leave");
        msgpack_pack_map(&pk, 1);
        lg_mp_str(&pk, "sessionID");
        lg_mp_str(&pk, c->session_id);

        return lg_rtcd_send(&sb);
    }

    if (strcmp(action, "sdp") == 0) {
        type = NGX_CALLS_RTC_SDP;

    } else if (strcmp(action, "ice") == 0) {
        type = NGX_CALLS_RTC_ICE;

    } else if (strcmp(action, "unmute") == 0) {
        type = NGX_CALLS_RTC_UNMUTE;

    } else if (strcmp(action, "mute") == 0) {
        type = NGX_CALLS_RTC_MUTE;

    } else if (strcmp(action, "screen_on") == 0) {
        type = NGX_CALLS_RTC_SCREEN_ON;

    } else if (strcmp(action, "screen_off") == 0) {
        type = NGX_CALLS_RTC_SCREEN_OFF;

    } else {
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }

    /* rtc.Message as the plugin's Go client writes it */

    lg_mp_str(&pk, "rtc");
    msgpack_pack_map(&pk, data ? 6 : 5);
    lg_mp_str(&pk, "group_id");
    lg_mp_str(&pk, "");
    lg_mp_str(&pk, "user_id");
    lg_mp_str(&pk, "");
    lg_mp_str(&pk, "session_id");
    lg_mp_str(&pk, c->session_id);
    lg_mp_str(&pk, "call_id");
    lg_mp_str(&pk, "");
    lg_mp_str(&pk, "type");
    msgpack_pack_int64(&pk, type);

    if (data != NULL) {
        lg_mp_str(&pk, "data");
        msgpack_pack_bin(&pk, strlen(data));
        msgpack_pack_bin_body(&pk, data, strlen(data));
    }

    return lg_rtcd_send(&sb);
}


static int
lg_rtcd_send(msgpack_sbuffer *sb)
{
    int  rc;

    rc = lg_ws_send(lg_rtcd.ws, 1, sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);

    return rc;
}


static void
lg_mp_str(msgpack_packer *pk, const char *s)
{
    size_t  n;

    n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}


/* 26 characters of z-base-32, as Mattermost's ids */

static void
lg_rtcd_id(char *id, uint64_t seed)
{
    unsigned  i;

    for (i = 0; i < LG_RTCD_ID_LEN; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        id[i] = LG_RTCD_ALPHABET[(seed >> 59) & 31];
    }

    id[LG_RTCD_ID_LEN] = '\0';
}


const lg_backend_t  lg_backend_rtcd = {
    "rtcd",
    lg_rtcd_prepare,
    lg_rtcd_init,
    lg_rtcd_join,
    NULL,
    NULL,
    lg_calls_signal,
    lg_calls_send,
    lg_calls_leave
};
