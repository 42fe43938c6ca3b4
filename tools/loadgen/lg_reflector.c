
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The reflector backend: clients of tools/reflector, the bare UDP fan-out
 * that stands for what this machine can forward at all.  No signaling,
 * no ICE, DTLS or SRTP: a client says hello ("RFL1", its call, its
 * index) until the reflector says it back, then sends its RTP in the
 * clear; the reflector sends every datagram of a call's member to all
 * the others.  The packets and their pacing are the same as with the
 * real servers; the receive side reads the stamp of 1 packet in
 * conf.sample, as it would unprotect it.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "loadgen.h"


#define LG_REFLECTOR_MAGIC   "RFL1"
#define LG_REFLECTOR_HELLO   12
#define LG_REFLECTOR_RETRY   200000          /* us */


typedef struct {
    struct sockaddr_in        addr;
} lg_reflector_conf_t;


typedef struct {
    uint64_t                  hello_at;
    unsigned                  rx;
} lg_reflector_t;


static lg_reflector_conf_t  lg_reflector_conf;


static int
lg_reflector_init(lg_t *lg)
{
    struct sockaddr_in  *sin = &lg_reflector_conf.addr;

    if (lg->conf.media_host == NULL) {
        fprintf(stderr, "loadgen: the reflector needs --media HOST:PORT\n");
        return -1;
    }

    memset(sin, 0, sizeof(struct sockaddr_in));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(lg->conf.media_port);

    if (inet_pton(AF_INET, lg->conf.media_host, &sin->sin_addr) != 1) {
        fprintf(stderr, "loadgen: --media %s: an IPv4 address, please\n",
                lg->conf.media_host);
        return -1;
    }

    return 0;
}


static void
lg_reflector_hello(lg_client_t *c, uint8_t *buf)
{
    uint32_t  v;

    memcpy(buf, LG_REFLECTOR_MAGIC, 4);
    v = htonl(c->call);
    memcpy(buf + 4, &v, 4);
    v = htonl(c->index);
    memcpy(buf + 8, &v, 4);
}


static int
lg_reflector_join(lg_client_t *c, uint64_t now)
{
    lg_reflector_t  *bk;

    bk = calloc(1, sizeof(lg_reflector_t));
    if (bk == NULL) {
        return -1;
    }

    c->bk = bk;
    c->nlegs = 1;
    c->legs[0].sends = 1;
    c->legs[0].receives = 1;

    if (lg_leg_open(c, &c->legs[0]) != 0) {
        return -1;
    }

    bk->hello_at = now;

    return 0;
}


static uint64_t
lg_reflector_timer(lg_client_t *c, uint64_t now)
{
    uint8_t          hello[LG_REFLECTOR_HELLO];
    lg_reflector_t  *bk = c->bk;

    if (c->joined || bk == NULL) {
        return 0;
    }

    if (now >= bk->hello_at) {
        lg_reflector_hello(c, hello);

        (void) lg_send_to(c->legs[0].fd,
                          (struct sockaddr *) &lg_reflector_conf.addr,
                          sizeof(struct sockaddr_in), hello, sizeof(hello));

        bk->hello_at = now + LG_REFLECTOR_RETRY;
    }

    return bk->hello_at;
}


static void
lg_reflector_input(lg_leg_t *leg, uint8_t *buf, size_t len, uint64_t now)
{
    uint8_t          hello[LG_REFLECTOR_HELLO];
    lg_client_t     *c = leg->client;
    lg_reflector_t  *bk = c->bk;

    if (bk == NULL) {
        return;
    }

    if (len == LG_REFLECTOR_HELLO && memcmp(buf, LG_REFLECTOR_MAGIC, 4) == 0)
    {
        lg_reflector_hello(c, hello);

        if (c->joined || memcmp(buf, hello, sizeof(hello)) != 0) {
            return;
        }

        /* registered: as good as connected, and there is no calls-dc */

        lg_joined(c, now);
        lg_peer_event(leg, NGX_CALLS_PEER_CONNECTED, "");

        if (c->unmuted) {
            lg_start_audio(c, now);
        }

        if (c->screen) {
            lg_start_video(c, now);
        }

        return;
    }

    if (len < 12 || (buf[0] & 0xc0) != 0x80) {
        return;
    }

    lg_media_rtp(c, leg, buf, len,
                 c->lg->conf.sample && ++bk->rx % c->lg->conf.sample == 0);
}


static int
lg_reflector_send(lg_client_t *c, lg_leg_t *leg, uint8_t *buf, size_t len)
{
    return lg_send_to(leg->fd, (struct sockaddr *) &lg_reflector_conf.addr,
                      sizeof(struct sockaddr_in), buf, len);
}


static void
lg_reflector_leave(lg_client_t *c)
{
    free(c->bk);
    c->bk = NULL;
}


const lg_backend_t  lg_backend_reflector = {
    "reflector",
    NULL,
    lg_reflector_init,
    lg_reflector_join,
    lg_reflector_timer,
    lg_reflector_input,
    NULL,
    lg_reflector_send,
    lg_reflector_leave
};
