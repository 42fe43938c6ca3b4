
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The server role against the client role, in memory: the engine's
 * sessions (ngx_calls_session_*) and client peers (ngx_calls_peer_*) in one
 * process, their datagrams carried by a queue and their signaling handed
 * across directly.  Two participants join a call (offer of calls-dc,
 * answer, trickled candidate, ICE checks with USE-CANDIDATE, DTLS with the
 * server as client, SCTP, DCEP OPEN of calls-dc), one unmutes, the server
 * offers its voice to the other, whose peer answers, and Opus-sized RTP
 * goes from one to the other through the server's forwarding.
 */


#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "tap.h"
#include "ngx_calls_media.h"
#include "ngx_calls_peer.h"
#include "ngx_calls_srtp.h"
#include "ngx_calls_rtp.h"
#include "ngx_calls_session.h"


#define NPART        2
#define QUEUE_SIZE   4096
#define STEP_MS      5


typedef struct {
    const char                *name;
    int                        index;

    /* the server's end */
    ngx_calls_session_t       *s;
    uint64_t                   timer_at;
    unsigned                   server_dc_open;
    unsigned                   server_connected;
    unsigned                   server_errors;
    char                       server_error[256];

    /* the client's end */
    ngx_calls_peer_t          *p;
    struct sockaddr_in         addr;      /* the client's address */
    unsigned                   connected;
    unsigned                   dc_open;
    unsigned                   failed;
    char                       failure[256];
    unsigned                   answers;
    unsigned                   media_maps;
    unsigned                   rtp_in;
    unsigned                   rtp_clear;
    uint8_t                    last_payload[256];
    size_t                     last_payload_len;
    uint32_t                   last_ssrc;
} part_t;


typedef struct {
    int                        to_server; /* else to the client */
    int                        part;
    size_t                     len;
    uint8_t                    data[NGX_CALLS_SRTP_TRAILER + 1500];
} pkt_t;


static part_t               parts[NPART];
static struct sockaddr_in   server_addr;
static uint64_t             now = 1000;
static pkt_t               *queue;
static size_t               qhead, qtail;
static uint64_t             counters[NGX_CALLS_CNT_N];


static void
enqueue(int to_server, int part, const uint8_t *buf, size_t len)
{
    pkt_t  *p;

    if ((qtail + 1) % QUEUE_SIZE == qhead || len > 1500) {
        diag("packet lost (queue full or too large)");
        return;
    }

    p = &queue[qtail];
    p->to_server = to_server;
    p->part = part;
    p->len = len;
    memcpy(p->data, buf, len);

    qtail = (qtail + 1) % QUEUE_SIZE;
}


/* the engine's handler: the glue of a server */

static int
server_send(ngx_calls_path_t *path, const uint8_t *buf, size_t len)
{
    enqueue(0, (int) (intptr_t) path->transport, buf, len);

    return 0;
}


static void
server_event(ngx_calls_session_t *s, void *data,
    const ngx_calls_media_event_t *ev)
{
    char     err[256];
    part_t  *pt = data;

    switch (ev->type) {

    case NGX_CALLS_MEDIA_EV_SIGNAL:
        if (ngx_calls_peer_signal(pt->p, ev->text, ev->len, now, err,
                                  sizeof(err))
            != 0)
        {
            diag("%s: peer refused the server's signal: %s", pt->name, err);
        }
        break;

    case NGX_CALLS_MEDIA_EV_ERROR:
        pt->server_errors++;
        snprintf(pt->server_error, sizeof(pt->server_error), "%.*s",
                 (int) ev->len, ev->text);
        diag("%s: server error: %s", pt->name, pt->server_error);
        break;

    case NGX_CALLS_MEDIA_EV_CONNECTED:
        pt->server_connected = 1;
        break;

    case NGX_CALLS_MEDIA_EV_DC_OPEN:
        pt->server_dc_open = 1;
        break;

    case NGX_CALLS_MEDIA_EV_CLOSED:
        diag("%s: server closed the session: %.*s", pt->name, (int) ev->len,
             ev->text);
        break;

    default:
        break;
    }
}


static void
server_timer(ngx_calls_session_t *s, void *data, uint64_t when)
{
    part_t  *pt = data;

    pt->timer_at = when;
}


static void
server_log(unsigned level, const char *fmt, va_list args)
{
    if (getenv("TEST_PEER_LOG") == NULL) {
        return;
    }

    fputs("# ", stdout);
    vprintf(fmt, args);
    fputs("\n", stdout);
}


/* the peer's handler: the glue of a client */

static int
peer_send(void *user, const struct sockaddr *to, socklen_t tolen,
    const uint8_t *buf, size_t len)
{
    part_t  *pt = user;

    if (tolen != sizeof(struct sockaddr_in)
        || memcmp(to, &server_addr, sizeof(struct sockaddr_in)) != 0)
    {
        diag("%s: datagram to an address that is not the server's",
             pt->name);
        return -1;
    }

    enqueue(1, pt->index, buf, len);

    return 0;
}


static void
peer_signal(void *user, unsigned rtc_type, const char *json, size_t len)
{
    part_t  *pt = user;

    if (strstr(json, "\"type\":\"answer\"") != NULL) {
        pt->answers++;              /* to an offer of the server's */
    }

    (void) ngx_calls_session_signal(pt->s, rtc_type, json, len, now);
}


static void
peer_event(void *user, ngx_calls_peer_ev_e ev, const char *text)
{
    part_t  *pt = user;

    switch (ev) {

    case NGX_CALLS_PEER_CONNECTED:
        pt->connected = 1;
        break;

    case NGX_CALLS_PEER_DC_OPEN:
        pt->dc_open = 1;
        break;

    case NGX_CALLS_PEER_FAILED:
        pt->failed = 1;
        snprintf(pt->failure, sizeof(pt->failure), "%s", text);
        diag("%s: peer failed: %s", pt->name, text);
        break;
    }
}


static void
peer_rtp(void *user, const uint8_t *buf, size_t len, int clear)
{
    part_t           *pt = user;
    ngx_calls_rtp_t   rtp;

    if (ngx_calls_rtp_parse(buf, len, &rtp) != 0) {
        diag("%s: malformed RTP received", pt->name);
        return;
    }

    pt->rtp_in++;
    pt->last_ssrc = rtp.ssrc;

    if (clear && rtp.payload_len <= sizeof(pt->last_payload)) {
        pt->rtp_clear++;
        memcpy(pt->last_payload, buf + rtp.header_len, rtp.payload_len);
        pt->last_payload_len = rtp.payload_len;
    }
}


static void
peer_dc(void *user, int binary, const uint8_t *buf, size_t len)
{
    part_t  *pt = user;

    /* msgpack type 9 as uint8: a MediaMap before each server offer */
    if (binary && len >= 2 && buf[0] == 0xcc && buf[1] == 9) {
        pt->media_maps++;
    }
}


static void
deliver_all(void)
{
    pkt_t               *p;
    part_t              *pt;
    ngx_calls_path_t     path;

    while (qhead != qtail) {
        p = &queue[qhead];
        qhead = (qhead + 1) % QUEUE_SIZE;
        pt = &parts[p->part];

        if (!p->to_server) {
            ngx_calls_peer_input(pt->p, (struct sockaddr *) &server_addr,
                                 sizeof(server_addr), p->data, p->len, now);
            continue;
        }

        memset(&path, 0, sizeof(path));
        memcpy(&path.peer, &pt->addr, sizeof(pt->addr));
        path.peer_len = sizeof(pt->addr);
        memcpy(&path.local, &server_addr, sizeof(server_addr));
        path.local_len = sizeof(server_addr);
        path.transport = (void *) (intptr_t) pt->index;

        (void) ngx_calls_session_input(pt->s, &path, p->data, p->len,
                                       now * 1000, now);
    }
}


static void
step(void)
{
    int      i;
    part_t  *pt;

    now += STEP_MS;

    (void) ngx_calls_media_tick(now);

    for (i = 0; i < NPART; i++) {
        pt = &parts[i];

        if (pt->p == NULL) {
            continue;                     /* not joined yet */
        }

        if (pt->timer_at && pt->timer_at <= now) {
            pt->timer_at = 0;
            ngx_calls_session_timer(pt->s, now);
        }

        (void) ngx_calls_peer_timer(pt->p, now);
    }

    deliver_all();
}


#define run_until(cond, ms)                                                   \
    ({                                                                        \
        unsigned  t__;                                                        \
        for (t__ = 0; !(cond) && t__ < (ms); t__ += STEP_MS) {                \
            step();                                                           \
        }                                                                     \
        (cond);                                                               \
    })


static int
join(ngx_calls_call_t *call, ngx_calls_dtls_ctx_t *client_ctx, int i,
    const char *name)
{
    char                      err[256], sid[32], cand[128];
    ngx_calls_candidate_t     c;
    ngx_calls_peer_conf_t     pc;
    ngx_calls_session_conf_t  sc;

    static const ngx_calls_peer_handler_t  ph = {
        peer_send, peer_signal, peer_event, peer_rtp, NULL, peer_dc
    };

    part_t  *pt = &parts[i];

    pt->name = name;
    pt->index = i;

    memset(&pt->addr, 0, sizeof(pt->addr));
    pt->addr.sin_family = AF_INET;
    pt->addr.sin_port = htons((uint16_t) (50000 + i));
    pt->addr.sin_addr.s_addr = htonl(0x7f000002);

    memset(&c, 0, sizeof(c));
    strcpy(c.addr, "127.0.0.1");
    c.port = 8443;

    snprintf(sid, sizeof(sid), "session%d", i);

    memset(&sc, 0, sizeof(sc));
    sc.session_id = sid;
    sc.user_id = name;
    sc.ufrag = i ? "srvUfragB" : "srvUfragA";
    sc.pwd = "serverPassword0123456789";
    sc.candidates = &c;
    sc.ncandidates = 1;
    sc.data = pt;

    pt->s = ngx_calls_session_create(call, &sc, now, err, sizeof(err));
    if (pt->s == NULL) {
        diag("session: %s", err);
        return -1;
    }

    snprintf(cand, sizeof(cand), "1 1 udp 2130706431 127.0.0.2 %d typ host",
             50000 + i);

    memset(&pc, 0, sizeof(pc));
    pc.dtls = client_ctx;
    pc.candidate = cand;
    pc.sample = 1;
    pc.calls_dc = 1;
    pc.user = pt;

    pt->p = ngx_calls_peer_create(&pc, &ph, err, sizeof(err));
    if (pt->p == NULL) {
        diag("peer: %s", err);
        return -1;
    }

    if (ngx_calls_offer_add_data(ngx_calls_peer_description(pt->p)) == NULL)
    {
        return -1;
    }

    /* the Calls client's first offer: calls-dc only */
    return ngx_calls_peer_offer(pt->p, now);
}


static size_t
make_rtp(uint8_t *buf, uint16_t seq, uint32_t ssrc, const char *text)
{
    size_t  n, len;

    buf[0] = 0x90;                        /* V=2, X */
    buf[1] = 111;
    buf[2] = (uint8_t) (seq >> 8);
    buf[3] = (uint8_t) seq;
    buf[4] = 0;
    buf[5] = 0;
    buf[6] = (uint8_t) (seq >> 1);
    buf[7] = (uint8_t) (seq << 7);
    buf[8] = (uint8_t) (ssrc >> 24);
    buf[9] = (uint8_t) (ssrc >> 16);
    buf[10] = (uint8_t) (ssrc >> 8);
    buf[11] = (uint8_t) ssrc;

    /* one-byte extensions: the audio level (voice, -30 dBov) */
    buf[12] = 0xbe;
    buf[13] = 0xde;
    buf[14] = 0;
    buf[15] = 1;
    buf[16] = (NGX_CALLS_OFFER_EXT_AUDIO_LEVEL << 4) | 0;
    buf[17] = 0x80 | 30;
    buf[18] = 0;
    buf[19] = 0;

    n = strlen(text);
    memcpy(buf + 20, text, n);
    len = 20 + n;

    /* Opus-sized */
    while (len < 120) {
        buf[len] = (uint8_t) len;
        len++;
    }

    return len;
}


/*
 * alice shares her screen and the server offers it to bob.  Bob's
 * browser then offers the m-section that carries it as sendrecv with no
 * track of its own ("a=msid:- ..."), as Chrome can after a rollback in
 * glare: the server ignores what bob would send there and keeps the
 * m-section and its forwarding; refusing it would take alice's screen
 * away from bob.
 */

static void
screen_glare(void)
{
    size_t                    i;
    uint32_t                  ssrc;
    unsigned                  answers, errors;
    const char               *on;
    ngx_calls_offer_t        *o;
    ngx_calls_offer_media_t  *e;
    ngx_calls_transceiver_t  *tr;

    on = "{\"screenStreamID\":\"alice-screen\"}";
    is_int(ngx_calls_session_signal(parts[0].s, NGX_CALLS_RTC_SCREEN_ON, on,
                                    strlen(on), now), 0,
           "screen glare: alice sends screen_on");

    ssrc = 0x22334455;
    ok(ngx_calls_offer_add_video(ngx_calls_peer_description(parts[0].p),
                                 "alice-screen", "alice-screen-track", &ssrc,
                                 NULL, 0)
       != NULL, "screen glare: alice adds her screen");

    answers = parts[1].answers;
    is_int(ngx_calls_peer_offer(parts[0].p, now), 0,
           "screen glare: alice offers it");
    ok(run_until(parts[1].answers > answers, 2000),
       "screen glare: the server offered the screen to bob, who answered");

    o = ngx_calls_peer_description(parts[1].p);
    e = NULL;

    for (i = 0; i < o->nmedia; i++) {
        if (o->media[i].role == NGX_CALLS_OFFER_RECV
            && o->media[i].kind == NGX_CALLS_SDP_VIDEO)
        {
            e = &o->media[i];
        }
    }

    ok(e != NULL && e->remote_sends,
       "screen glare: bob has a video m-section the server sends on");

    if (e == NULL) {
        return;
    }

    /* what Chrome writes for a transceiver without a track of its own */
    e->role = NGX_CALLS_OFFER_SEND;
    strcpy(e->stream, "-");
    strcpy(e->track, "bob-no-track");
    e->ssrcs[0] = 0x66778899;
    e->nrids = 0;

    errors = parts[1].server_errors;
    is_int(ngx_calls_peer_offer(parts[1].p, now), 0,
           "screen glare: bob offers the screen's m-section sendrecv, "
           "msid \"-\"");
    run_until(0, 200);

    is_int(parts[1].server_errors, errors,
           "screen glare: no error for bob");
    ok(!e->rejected, "screen glare: the server's answer keeps the "
       "m-section");

    tr = NULL;

    for (i = 0; i < parts[1].s->ntrs; i++) {
        if (strcmp(parts[1].s->trs[i].mid, e->mid) == 0) {
            tr = &parts[1].s->trs[i];
        }
    }

    ok(tr != NULL && !tr->rejected && tr->role == NGX_CALLS_TR_SEND
       && tr->sink != NULL,
       "screen glare: the server still forwards alice's screen on it");
    ok(tr != NULL && tr->nsources == 0,
       "screen glare: and takes nothing of bob's from it");
}


int
main(void)
{
    int                      i, sent;
    char                     err[256];
    size_t                   n;
    uint8_t                  pkt[NGX_CALLS_SRTP_TRAILER + 1500];
    ngx_calls_call_t        *call;
    ngx_calls_dtls_ctx_t    *server_ctx, *client_ctx;
    ngx_calls_media_conf_t   conf;

    queue = calloc(QUEUE_SIZE, sizeof(pkt_t));

    server_ctx = ngx_calls_dtls_ctx_create(NULL, NULL, err, sizeof(err));
    client_ctx = ngx_calls_dtls_ctx_create(NULL, NULL, err, sizeof(err));
    ok(queue && server_ctx && client_ctx, "certificates for both roles");

    memset(&conf, 0, sizeof(conf));
    conf.handler.send = server_send;
    conf.handler.event = server_event;
    conf.handler.timer = server_timer;
    conf.handler.log = server_log;
    conf.dtls = server_ctx;
    conf.counters = counters;

    is_int(ngx_calls_media_init(&conf, err, sizeof(err)), 0, "engine init");

    memset(&server_addr, 0, sizeof(server_addr));
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons(8443);
    server_addr.sin_addr.s_addr = htonl(0x7f000001);

    call = ngx_calls_call_create("call1", NULL);
    ok(call != NULL, "call created");

    is_int(join(call, client_ctx, 0, "alice"), 0, "alice offers calls-dc");

    ok(run_until(parts[0].connected && parts[0].server_connected, 3000),
       "alice: ICE (controlling, USE-CANDIDATE) and DTLS (server role) up");
    ok(run_until(parts[0].dc_open && parts[0].server_dc_open, 3000),
       "alice: calls-dc open on both ends (DCEP OPEN and ACK)");
    ok(counters[NGX_CALLS_CNT_STUN_ANSWERED] > 0, "server answered checks");

    is_int(join(call, client_ctx, 1, "bob"), 0, "bob offers calls-dc");
    ok(run_until(parts[1].dc_open && parts[1].server_dc_open, 3000),
       "bob: calls-dc open");

    /* alice unmutes: her microphone track, then a new offer */
    ok(ngx_calls_offer_add_audio(ngx_calls_peer_description(parts[0].p),
                                 "alice-stream", "alice-mic", 0x11223344)
       != NULL, "alice adds her microphone");
    is_int(ngx_calls_peer_offer(parts[0].p, now), 0, "alice offers again");

    /* the server offers alice's voice to bob, bob's peer answers */
    ok(run_until(parts[1].answers >= 1, 2000),
       "bob answered the server's offer of a track");
    ok(run_until(parts[1].media_maps >= 1, 1000),
       "bob got the MediaMap sent with the offer on calls-dc");

    run_until(0, 200);

    sent = 0;

    for (i = 0; i < 50; i++) {
        n = make_rtp(pkt, (uint16_t) (1000 + i), 0x11223344, "hello bob");

        if (ngx_calls_peer_send_rtp(parts[0].p, pkt, n) == 0) {
            sent++;
        }

        step();
    }

    is_int(sent, 50, "alice sent 50 packets");
    ok(run_until(parts[1].rtp_in >= 50, 1000), "bob received them");
    is_int(parts[1].rtp_clear, parts[1].rtp_in,
           "sample 1: every packet unprotected");
    ok(parts[1].last_ssrc != 0x11223344, "SSRC rewritten for bob");
    ok(parts[1].last_payload_len == 100
       && memcmp(parts[1].last_payload, "hello bob", 9) == 0,
       "payload arrives intact");
    is_int(parts[0].rtp_in, 0, "alice does not hear herself");
    ok(counters[NGX_CALLS_CNT_RTP_FORWARDED] >= 50, "forwarded counter");
    is_int(parts[0].failed + parts[1].failed, 0, "no peer failed");
    is_int(parts[0].server_errors + parts[1].server_errors, 0,
           "no signaling error at the server");

    screen_glare();

    for (i = 0; i < NPART; i++) {
        ngx_calls_session_destroy(parts[i].s);
        ngx_calls_peer_free(parts[i].p);
    }

    ngx_calls_call_destroy(call);
    ngx_calls_dtls_ctx_free(server_ctx);
    ngx_calls_dtls_ctx_free(client_ctx);
    free(queue);

    return done_testing();
}
