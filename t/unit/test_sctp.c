
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * SCTP and DCEP between two endpoints in one process, time driven by
 * ngx_calls_sctp_timers() in steps of 10 ms of virtual time.
 *
 * Side A is ours (ngx_calls_sctp_create, client=1).  Side B plays the
 * browser with raw usrsctp calls: it opens the channel with a
 * DATA_CHANNEL_OPEN of its own, made byte by byte.  test_open() has our
 * own opener (ngx_calls_sctp_open(), the client role) against the
 * module's server side.  usrsctp has one global output callback and the
 * module installs it; so this test interposes usrsctp_init_nothreads():
 * it records the module's output callback and hands usrsctp a dispatcher
 * that routes B's packets itself and everything else to the module.  The
 * SCTP stack, the module and the packets are all real; only the wire is a
 * queue in this file.
 *
 * The clock is fake too.  usrsctp runs its timers on the ticks given to
 * usrsctp_handle_timers() but also reads gettimeofday(): a chunk is only
 * retransmitted once it is an RTO old by that clock, and a heartbeat only
 * goes out after the interval has passed on it.  Virtual ticks against a
 * real clock would stall both, so this file defines gettimeofday(),
 * which libusrsctp then calls, and advances it with the ticks.  Minutes
 * of SCTP time pass in a fraction of a second, deterministically.
 */


#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <usrsctp.h>

#include "tap.h"
#include "ngx_calls_sctp.h"


#define STEP_MS       10
#define MAX_EP        16
#define MAX_MSGS      512
#define QUEUE_SIZE    16384
#define RAW_BUF_SIZE  (1024 * 1024)


typedef int (*output_pt)(void *addr, void *buf, size_t len, uint8_t tos,
    uint8_t set_df);
typedef void (*debug_pt)(const char *fmt, ...);
typedef void (*init_pt)(uint16_t port, output_pt output, debug_pt debug);


typedef struct {
    uint16_t           sid;
    uint32_t           ppid;      /* raw side */
    int                binary;    /* module side */
    uint16_t           flags;
    size_t             len;
    uint8_t           *data;
} msg_t;


typedef struct ep_s  ep_t;

struct ep_s {
    const char        *name;
    int                peer;      /* index in eps */
    int                gone;

    /* module side */
    ngx_calls_sctp_t  *s;
    int                echo;      /* answer Ping, "ping", and echo all */
    unsigned           ups;
    unsigned           downs;
    unsigned           opens;
    unsigned           closes;
    uint16_t           open_sid;
    char               label[64];
    char               protocol[64];
    uint16_t           close_sid;
    unsigned           sent;      /* packets handed to send() */

    /* raw side */
    int                raw;       /* AF_CONN address registered */
    struct socket     *so;
    unsigned           comm_up;
    unsigned           comm_down;
    unsigned           resets_in;
    uint16_t           reset_in_sid;
    uint8_t           *rbuf;
    size_t             rlen;

    unsigned           nmsgs;
    msg_t              msgs[MAX_MSGS];
};


typedef struct {
    int                to;
    size_t             len;
    uint8_t           *data;
} pkt_t;


static output_pt   module_output;
static void       *module_addr;   /* the last token the module used */
static unsigned    init_calls;

static time_t      clock_base;    /* real time of the first call */
static uint64_t    clock_ms;      /* virtual milliseconds since */

static ep_t        eps[MAX_EP];
static int         neps;

static pkt_t       queue[QUEUE_SIZE];
static size_t      qhead, qtail;
static unsigned    drop_every;    /* lose every n-th packet */
static unsigned    drop_all;
static unsigned    drop_after;    /* lose everything after this many */
static unsigned    delivered;
static unsigned    dropped;


static void
test_log(const char *fmt, ...)
{
    va_list  args;

    if (getenv("TEST_SCTP_LOG") == NULL) {
        return;
    }

    va_start(args, fmt);
    fputs("# ", stdout);
    vprintf(fmt, args);
    va_end(args);
}


static void
enqueue(int to, const void *buf, size_t len)
{
    pkt_t  *p;

    if ((qtail + 1) % QUEUE_SIZE == qhead) {
        diag("packet queue full, packet lost");
        return;
    }

    p = &queue[qtail];
    p->data = malloc(len);
    if (p->data == NULL) {
        diag("out of memory for a packet");
        return;
    }

    memcpy(p->data, buf, len);
    p->len = len;
    p->to = to;

    qtail = (qtail + 1) % QUEUE_SIZE;
}


/* the fake clock, for libusrsctp (and anyone else in this process) */

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec  ts;

    if (clock_base == 0) {
        if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
            return -1;
        }

        clock_base = ts.tv_sec;
    }

    tv->tv_sec = clock_base + (time_t) (clock_ms / 1000);
    tv->tv_usec = (suseconds_t) (clock_ms % 1000) * 1000;

    return 0;
}


/* usrsctp's output: B's packets here, the rest to the module */

static int
test_output(void *addr, void *buf, size_t len, uint8_t tos, uint8_t set_df)
{
    int  i;

    for (i = 0; i < neps; i++) {
        if (eps[i].raw && addr == (void *) &eps[i]) {
            enqueue(eps[i].peer, buf, len);
            return 0;
        }
    }

    module_addr = addr;

    return module_output(addr, buf, len, tos, set_df);
}


void
usrsctp_init_nothreads(uint16_t port, output_pt output, debug_pt debug)
{
    init_pt  real;

    init_calls++;
    module_output = output;

    real = (init_pt) dlsym(RTLD_NEXT, "usrsctp_init_nothreads");
    if (real == NULL) {
        fprintf(stderr, "dlsym(usrsctp_init_nothreads): %s\n", dlerror());
        exit(2);
    }

    real(port, test_output, debug);
}


/* the module's handler */

static int
h_send(void *user, const uint8_t *buf, size_t len)
{
    ep_t  *ep = user;

    ep->sent++;
    enqueue(ep->peer, buf, len);

    return 0;
}


static void
h_up(void *user)
{
    ep_t  *ep = user;

    ep->ups++;
}


static void
h_down(void *user)
{
    ep_t  *ep = user;

    ep->downs++;
}


static void
h_open(void *user, uint16_t sid, const char *label, const char *protocol)
{
    ep_t  *ep = user;

    ep->opens++;
    ep->open_sid = sid;
    snprintf(ep->label, sizeof(ep->label), "%s", label);
    snprintf(ep->protocol, sizeof(ep->protocol), "%s", protocol);
}


static void
record(ep_t *ep, uint16_t sid, uint32_t ppid, int binary, uint16_t flags,
    const uint8_t *buf, size_t len)
{
    msg_t  *m;

    if (ep->nmsgs == MAX_MSGS) {
        diag("%s: too many messages", ep->name);
        return;
    }

    m = &ep->msgs[ep->nmsgs];
    m->data = malloc(len ? len : 1);
    if (m->data == NULL) {
        diag("out of memory for a message");
        return;
    }

    if (len) {
        memcpy(m->data, buf, len);
    }

    m->sid = sid;
    m->ppid = ppid;
    m->binary = binary;
    m->flags = flags;
    m->len = len;

    ep->nmsgs++;
}


static void
h_message(void *user, uint16_t sid, int binary, const uint8_t *buf,
    size_t len)
{
    ep_t  *ep = user;
    int    rc;

    static const uint8_t  pong[] = { 0xcc, 0x02 };

    record(ep, sid, 0, binary, 0, buf, len);

    if (!ep->echo) {
        return;
    }

    /* replies from inside the callback, as the header allows */

    if (binary && len == 1 && buf[0] == 0x01) {
        rc = ngx_calls_sctp_send(ep->s, sid, 1, pong, sizeof(pong));

    } else if (!binary && len == 4 && memcmp(buf, "ping", 4) == 0) {
        rc = ngx_calls_sctp_send(ep->s, sid, 0, (const uint8_t *) "pong", 4);

    } else {
        rc = ngx_calls_sctp_send(ep->s, sid, binary, buf, len);
    }

    if (rc != 0) {
        diag("%s: reply on stream %u failed", ep->name, (unsigned) sid);
    }
}


static void
h_close(void *user, uint16_t sid)
{
    ep_t  *ep = user;

    ep->closes++;
    ep->close_sid = sid;
}


static const ngx_calls_sctp_handler_t  handler = {
    h_send, h_up, h_down, h_open, h_message, h_close
};


static void
clear_msgs(ep_t *ep)
{
    unsigned  i;

    for (i = 0; i < ep->nmsgs; i++) {
        free(ep->msgs[i].data);
    }

    ep->nmsgs = 0;
}


static ep_t *
new_ep(const char *name)
{
    ep_t  *ep;

    if (neps == MAX_EP) {
        fprintf(stderr, "too many endpoints\n");
        exit(2);
    }

    ep = &eps[neps++];
    memset(ep, 0, sizeof(ep_t));
    ep->name = name;

    return ep;
}


static ngx_calls_sctp_t *
module_ep(ep_t *ep, int peer, int client)
{
    char  err[256];

    ep->peer = peer;
    ep->s = ngx_calls_sctp_create(NGX_CALLS_SCTP_DEFAULT_PORT,
                                  NGX_CALLS_SCTP_DEFAULT_PORT, client,
                                  &handler, ep, err, sizeof(err));
    if (ep->s == NULL) {
        diag("%s: create failed: %s", ep->name, err);
    }

    return ep->s;
}


static int
raw_setopt(ep_t *ep, int level, int name, const void *val, socklen_t len,
    const char *what)
{
    if (usrsctp_setsockopt(ep->so, level, name, val, len) != 0) {
        diag("%s: setsockopt(%s): %s", ep->name, what, strerror(errno));
        return -1;
    }

    return 0;
}


/* the browser: a usrsctp socket configured as a WebRTC stack would */

static int
raw_ep(ep_t *ep, int peer)
{
    int                      on, sndbuf;
    size_t                   i;
    struct sctp_event        event;
    struct sctp_initmsg      initmsg;
    struct sockaddr_conn     sconn;
    struct sctp_assoc_value  av;

    static const uint16_t  events[] = {
        SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT
    };

    ep->peer = peer;

    ep->rbuf = malloc(RAW_BUF_SIZE);
    if (ep->rbuf == NULL) {
        return -1;
    }

    usrsctp_register_address(ep);
    ep->raw = 1;

    ep->so = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL,
                            0, NULL);
    if (ep->so == NULL) {
        diag("%s: usrsctp_socket: %s", ep->name, strerror(errno));
        return -1;
    }

    if (usrsctp_set_non_blocking(ep->so, 1) != 0) {
        diag("%s: non blocking: %s", ep->name, strerror(errno));
        return -1;
    }

    on = 1;
    sndbuf = RAW_BUF_SIZE;
    av.assoc_id = SCTP_FUTURE_ASSOC;
    av.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
    memset(&initmsg, 0, sizeof(initmsg));
    initmsg.sinit_num_ostreams = 1024;
    initmsg.sinit_max_instreams = 1024;

    if (raw_setopt(ep, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof(on),
                   "SCTP_RECVRCVINFO") != 0
        || raw_setopt(ep, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof(on),
                      "SCTP_NODELAY") != 0
        || raw_setopt(ep, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf),
                      "SO_SNDBUF") != 0
        || raw_setopt(ep, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av,
                      sizeof(av), "SCTP_ENABLE_STREAM_RESET") != 0
        || raw_setopt(ep, IPPROTO_SCTP, SCTP_INITMSG, &initmsg,
                      sizeof(initmsg), "SCTP_INITMSG") != 0)
    {
        return -1;
    }

    for (i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        memset(&event, 0, sizeof(event));
        event.se_assoc_id = SCTP_FUTURE_ASSOC;
        event.se_type = events[i];
        event.se_on = 1;

        if (raw_setopt(ep, IPPROTO_SCTP, SCTP_EVENT, &event, sizeof(event),
                       "SCTP_EVENT") != 0)
        {
            return -1;
        }
    }

    memset(&sconn, 0, sizeof(sconn));
    sconn.sconn_family = AF_CONN;
    sconn.sconn_port = htons(NGX_CALLS_SCTP_DEFAULT_PORT);
    sconn.sconn_addr = ep;

    if (usrsctp_bind(ep->so, (struct sockaddr *) &sconn, sizeof(sconn))
        != 0)
    {
        diag("%s: bind: %s", ep->name, strerror(errno));
        return -1;
    }

    if (usrsctp_connect(ep->so, (struct sockaddr *) &sconn, sizeof(sconn))
        != 0
        && errno != EINPROGRESS)
    {
        diag("%s: connect: %s", ep->name, strerror(errno));
        return -1;
    }

    return 0;
}


static int
raw_send(ep_t *ep, uint16_t sid, uint32_t ppid, const void *buf,
    size_t len)
{
    ssize_t              n;
    struct sctp_sndinfo  snd;

    memset(&snd, 0, sizeof(snd));
    snd.snd_sid = sid;
    snd.snd_ppid = htonl(ppid);
    snd.snd_flags = SCTP_EOR;

    n = usrsctp_sendv(ep->so, buf, len, NULL, 0, &snd, sizeof(snd),
                      SCTP_SENDV_SNDINFO, 0);
    if (n < 0 || (size_t) n != len) {
        diag("%s: sendv of %zu bytes on %u: %s", ep->name, len,
             (unsigned) sid, strerror(errno));
        return -1;
    }

    return 0;
}


/* sid -1: every outgoing stream (an empty list) */

static int
raw_reset(ep_t *ep, int sid)
{
    uint16_t  id;

    union {
        struct sctp_reset_streams  srs;
        uint8_t                    buf[sizeof(struct sctp_reset_streams)
                                       + sizeof(uint16_t)];
    } u;

    memset(&u, 0, sizeof(u));
    u.srs.srs_assoc_id = SCTP_ALL_ASSOC;
    u.srs.srs_flags = SCTP_STREAM_RESET_OUTGOING;
    u.srs.srs_number_streams = (sid < 0) ? 0 : 1;
    id = (uint16_t) sid;
    memcpy(u.buf + sizeof(struct sctp_reset_streams), &id, sizeof(id));

    return raw_setopt(ep, IPPROTO_SCTP, SCTP_RESET_STREAMS, &u,
                      sizeof(u.buf), "SCTP_RESET_STREAMS");
}


static void
raw_notification(ep_t *ep, const uint8_t *buf, size_t len)
{
    uint16_t                         sid;
    const union sctp_notification   *sn;

    sn = (const union sctp_notification *) buf;

    switch (sn->sn_header.sn_type) {

    case SCTP_ASSOC_CHANGE:
        if (sn->sn_assoc_change.sac_state == SCTP_COMM_UP) {
            ep->comm_up++;

        } else if (sn->sn_assoc_change.sac_state != SCTP_RESTART) {
            ep->comm_down++;
        }

        break;

    case SCTP_STREAM_RESET_EVENT:
        if ((sn->sn_strreset_event.strreset_flags
             & SCTP_STREAM_RESET_INCOMING_SSN)
            && len >= sizeof(struct sctp_stream_reset_event) + 2)
        {
            memcpy(&sid, buf + sizeof(struct sctp_stream_reset_event), 2);
            ep->resets_in++;
            ep->reset_in_sid = sid;
        }

        break;

    default:
        break;
    }
}


static void
raw_drain(ep_t *ep)
{
    int                   flags;
    ssize_t               n;
    socklen_t             fromlen, infolen;
    unsigned int          infotype;
    struct sctp_rcvinfo   rcv;
    struct sockaddr_conn  from;

    static union {
        uint8_t                    data[RAW_BUF_SIZE];
        union sctp_notification    align;
    } buf;

    for ( ;; ) {
        flags = 0;
        fromlen = sizeof(from);
        infolen = sizeof(rcv);
        infotype = 0;

        n = usrsctp_recvv(ep->so, buf.data, sizeof(buf.data),
                          (struct sockaddr *) &from, &fromlen, &rcv,
                          &infolen, &infotype, &flags);
        if (n <= 0) {
            return;
        }

        if (flags & MSG_NOTIFICATION) {
            raw_notification(ep, buf.data, n);
            continue;
        }

        if (ep->rlen + n > RAW_BUF_SIZE) {
            diag("%s: message too large", ep->name);
            ep->rlen = 0;
            continue;
        }

        memcpy(ep->rbuf + ep->rlen, buf.data, n);
        ep->rlen += n;

        if (flags & MSG_EOR) {
            record(ep, rcv.rcv_sid, ntohl(rcv.rcv_ppid), -1, rcv.rcv_flags,
                   ep->rbuf, ep->rlen);
            ep->rlen = 0;
        }
    }
}


static void
deliver_all(void)
{
    unsigned  guard;
    pkt_t     p;
    ep_t     *ep;

    for (guard = 0; qhead != qtail && guard < 100000; guard++) {
        p = queue[qhead];
        qhead = (qhead + 1) % QUEUE_SIZE;

        delivered++;

        if (drop_all || (drop_every && delivered % drop_every == 0)
            || (drop_after && delivered > drop_after))
        {
            dropped++;
            free(p.data);
            continue;
        }

        if (p.to < 0) {
            /* nobody there */
            free(p.data);
            continue;
        }

        ep = &eps[p.to];

        if (!ep->gone) {
            if (ep->raw) {
                usrsctp_conninput(ep, p.data, p.len, 0);

            } else if (ep->s != NULL) {
                ngx_calls_sctp_input(ep->s, p.data, p.len);
            }
        }

        free(p.data);
    }
}


static void
step(void)
{
    int  i;

    deliver_all();
    clock_ms += STEP_MS;
    ngx_calls_sctp_timers(STEP_MS);
    deliver_all();

    for (i = 0; i < neps; i++) {
        if (eps[i].so != NULL && !eps[i].gone) {
            raw_drain(&eps[i]);
        }
    }

    deliver_all();
}


/* runs the network until cond holds or ms of virtual time have passed */
#define run_until(cond, ms)                                                   \
    ({                                                                        \
        unsigned  t__;                                                        \
        for (t__ = 0; !(cond) && t__ < (ms); t__ += STEP_MS) {                \
            step();                                                           \
        }                                                                     \
        (cond);                                                               \
    })


static void
run_for(unsigned ms)
{
    unsigned  t;

    for (t = 0; t < ms; t += STEP_MS) {
        step();
    }
}


static void
flush_queue(void)
{
    while (qhead != qtail) {
        free(queue[qhead].data);
        qhead = (qhead + 1) % QUEUE_SIZE;
    }
}


static const msg_t *
last_msg(ep_t *ep)
{
    return ep->nmsgs ? &ep->msgs[ep->nmsgs - 1] : NULL;
}


static int
msg_is(const msg_t *m, uint16_t sid, const void *data, size_t len)
{
    return m != NULL && m->sid == sid && m->len == len
           && (len == 0 || memcmp(m->data, data, len) == 0);
}


static size_t
dcep_open(uint8_t *buf, uint8_t type, uint32_t rel, const char *label,
    const char *protocol)
{
    size_t  llen, plen;

    llen = strlen(label);
    plen = strlen(protocol);

    buf[0] = 0x03;
    buf[1] = type;
    buf[2] = 0;
    buf[3] = 0;
    buf[4] = (uint8_t) (rel >> 24);
    buf[5] = (uint8_t) (rel >> 16);
    buf[6] = (uint8_t) (rel >> 8);
    buf[7] = (uint8_t) rel;
    buf[8] = (uint8_t) (llen >> 8);
    buf[9] = (uint8_t) llen;
    buf[10] = (uint8_t) (plen >> 8);
    buf[11] = (uint8_t) plen;
    memcpy(buf + 12, label, llen);
    memcpy(buf + 12 + llen, protocol, plen);

    return 12 + llen + plen;
}


static void
test_before_init(void)
{
    char               err[256];
    ngx_calls_sctp_t  *s;

    err[0] = '\0';
    s = ngx_calls_sctp_create(5000, 5000, 1, &handler, NULL, err,
                              sizeof(err));
    ok(s == NULL, "create before init fails");
    ok(strstr(err, "ngx_calls_sctp_init") != NULL,
       "create before init: message names init");
    is_int(ngx_calls_sctp_count(), 0, "count is 0 before init");
}


static void
test_init(void)
{
    char                      err[256];
    ngx_calls_sctp_t         *s;
    ngx_calls_sctp_handler_t  h;

    is_int(ngx_calls_sctp_init(test_log), 0, "init");
    is_int(ngx_calls_sctp_init(test_log), 0, "init again");
    is_int(init_calls, 1, "usrsctp initialized once");

    ok(usrsctp_sysctl_get_sctp_ecn_enable() == 0, "ECN off");
    ok(usrsctp_sysctl_get_sctp_pr_enable() == 1, "PR-SCTP on");
    ok(usrsctp_sysctl_get_sctp_reconfig_enable() == 1, "RE-CONFIG on");
    ok(usrsctp_sysctl_get_sctp_asconf_enable() == 0, "ASCONF off");

    memset(&h, 0, sizeof(h));
    err[0] = '\0';
    s = ngx_calls_sctp_create(5000, 5000, 1, &h, NULL, err, sizeof(err));
    ok(s == NULL && strcmp(err, "no send handler") == 0,
       "create without a send handler fails");
}


static void
test_garbage(void)
{
    int               i, j;
    ep_t             *a;
    size_t            len;
    uint8_t           pkt[1500];
    uint32_t          crc;
    struct sctpstat   before, after;

    a = new_ep("garbage");

    /* its INITs go nowhere (peer -1) */
    if (!ok(module_ep(a, -1, 1) != NULL, "garbage: create")) {
        return;
    }

    is_int(ngx_calls_sctp_count(), 1, "count 1");

    srandom(12345);
    usrsctp_get_stat(&before);

    for (i = 0; i < 300; i++) {
        len = random() % sizeof(pkt);
        for (j = 0; j < (int) len; j++) {
            pkt[j] = (uint8_t) random();
        }

        if (len >= 12 && i % 2 == 0) {
            /* our ports, so usrsctp looks deeper; the CRC is wrong */
            pkt[0] = 0x13;
            pkt[1] = 0x88;
            pkt[2] = 0x13;
            pkt[3] = 0x88;
        }

        ngx_calls_sctp_input(a->s, pkt, len);
    }

    usrsctp_get_stat(&after);
    ok(after.sctps_checksumerrors > before.sctps_checksumerrors,
       "garbage: checksum errors counted");

    /* valid CRCs over random chunks: usrsctp parses them */
    for (i = 0; i < 300; i++) {
        len = 16 + random() % 200;
        for (j = 0; j < (int) len; j++) {
            pkt[j] = (uint8_t) random();
        }

        pkt[0] = 0x13;
        pkt[1] = 0x88;
        pkt[2] = 0x13;
        pkt[3] = 0x88;
        memset(pkt + 8, 0, 4);
        crc = usrsctp_crc32c(pkt, len);
        memcpy(pkt + 8, &crc, 4);

        ngx_calls_sctp_input(a->s, pkt, len);
    }

    ngx_calls_sctp_input(a->s, pkt, 0);
    ngx_calls_sctp_input(a->s, pkt, 11);

    run_for(200);

    is_int(a->ups + a->downs + a->opens + a->nmsgs, 0,
           "garbage: no event from garbage");

    flush_queue();
    ngx_calls_sctp_free(a->s);
    a->s = NULL;
    a->gone = 1;
    is_int(ngx_calls_sctp_count(), 0, "garbage: count back to 0");
}


static void
test_channel(void)
{
    int            rc;
    ep_t          *a, *b;
    size_t         i, n;
    uint8_t        open[64], *big;
    unsigned       k, nb;
    const msg_t   *m;

    static const uint8_t  ping[] = { 0x01 };
    static const uint8_t  pong[] = { 0xcc, 0x02 };
    static const uint8_t  zero[] = { 0x00 };

    a = new_ep("A");
    b = new_ep("B");

    if (!ok(module_ep(a, b - eps, 1) != NULL && raw_ep(b, a - eps) == 0,
            "channel: endpoints"))
    {
        return;
    }

    is_int(ngx_calls_sctp_count(), 1, "count counts our association only");

    is_int(ngx_calls_sctp_send(a->s, 1, 1, ping, 1), -1,
           "send before the association is up fails");

    ok(run_until(a->ups == 1 && b->comm_up == 1, 10000),
       "association up on both sides");
    is_int(a->ups, 1, "A: up reported once");

    /* the browser opens "calls-dc" on an odd stream (DTLS server) */
    n = dcep_open(open, 0x00, 0, "calls-dc", "");
    ok(raw_send(b, 1, 50, open, n) == 0, "B sends DATA_CHANNEL_OPEN");

    ok(run_until(a->opens == 1 && b->nmsgs == 1, 2000), "A opened, B acked");
    is_int(a->open_sid, 1, "open: stream 1");
    is_str(a->label, "calls-dc", "open: label calls-dc");
    is_str(a->protocol, "", "open: empty protocol");

    m = last_msg(b);
    ok(m != NULL && m->ppid == 50 && msg_is(m, 1, "\x02", 1),
       "B got DATA_CHANNEL_ACK (0x02, PPID 50) on stream 1");
    ok(m != NULL && !(m->flags & SCTP_UNORDERED), "ACK is ordered");
    clear_msgs(b);

    a->echo = 1;

    /* msgpack Ping, answered with Pong from inside the callback */
    ok(raw_send(b, 1, 53, ping, 1) == 0, "B sends Ping 0x01");
    ok(run_until(a->nmsgs == 1 && b->nmsgs == 1, 2000),
       "Ping arrives, Pong comes back");
    m = last_msg(a);
    ok(msg_is(m, 1, ping, 1) && m->binary == 1,
       "A: message(binary=1, 0x01)");
    m = last_msg(b);
    ok(msg_is(m, 1, pong, 2) && m->ppid == 53, "B: Pong cc 02 with PPID 53");

    /* legacy text ping */
    ok(raw_send(b, 1, 51, "ping", 4) == 0, "B sends text ping");
    ok(run_until(a->nmsgs == 2 && b->nmsgs == 2, 2000), "text ping/pong");
    m = last_msg(a);
    ok(msg_is(m, 1, "ping", 4) && m->binary == 0,
       "A: message(binary=0, \"ping\")");
    m = last_msg(b);
    ok(msg_is(m, 1, "pong", 4) && m->ppid == 51, "B: text pong, PPID 51");

    /* empty messages both ways */
    ok(raw_send(b, 1, 57, zero, 1) == 0, "B sends an empty binary message");
    ok(run_until(a->nmsgs == 3 && b->nmsgs == 3, 2000), "empty binary");
    m = last_msg(a);
    ok(m != NULL && m->len == 0 && m->binary == 1,
       "A: empty binary delivered with len 0");
    m = last_msg(b);
    ok(m != NULL && m->ppid == 57 && m->len == 1 && m->data[0] == 0,
       "B: empty binary echoed as PPID 57 with one zero byte");

    ok(raw_send(b, 1, 56, zero, 1) == 0, "B sends an empty string");
    ok(run_until(a->nmsgs == 4 && b->nmsgs == 4, 2000), "empty string");
    m = last_msg(a);
    ok(m != NULL && m->len == 0 && m->binary == 0,
       "A: empty string delivered with len 0");
    m = last_msg(b);
    ok(m != NULL && m->ppid == 56 && m->len == 1,
       "B: empty string echoed as PPID 56");

    /* the deprecated partial PPIDs are plain messages */
    ok(raw_send(b, 1, 54, "legacy", 6) == 0, "B sends PPID 54");
    ok(raw_send(b, 1, 52, "old", 3) == 0, "B sends PPID 52");
    ok(run_until(a->nmsgs == 6, 2000), "PPID 52/54 delivered");
    ok(msg_is(&a->msgs[4], 1, "legacy", 6) && a->msgs[4].binary == 1,
       "PPID 54 as binary");
    ok(msg_is(&a->msgs[5], 1, "old", 3) && a->msgs[5].binary == 0,
       "PPID 52 as string");

    run_for(500);
    a->echo = 0;
    clear_msgs(a);
    clear_msgs(b);

    /* dropped: unknown PPID, data on a stream without a channel */
    ok(raw_send(b, 1, 99, "what", 4) == 0, "B sends PPID 99");
    ok(raw_send(b, 3, 53, "nochan", 6) == 0, "B sends on stream 3");
    ok(raw_send(b, 1, 53, "marker", 6) == 0, "B sends a marker");
    ok(run_until(a->nmsgs == 1, 2000), "marker arrives");
    ok(a->nmsgs == 1 && msg_is(&a->msgs[0], 1, "marker", 6),
       "unknown PPID and channel-less stream dropped, marker delivered");
    clear_msgs(a);

    /* 100 KB, handed over in pieces by usrsctp, reassembled */
    big = malloc(NGX_CALLS_SCTP_MAX_MESSAGE + 1);
    if (big == NULL) {
        ok(0, "memory for large messages");
        return;
    }

    for (i = 0; i < NGX_CALLS_SCTP_MAX_MESSAGE + 1; i++) {
        big[i] = (uint8_t) (i * 31 + (i >> 8));
    }

    ok(raw_send(b, 1, 53, big, 100000) == 0, "B sends 100000 bytes");
    ok(run_until(a->nmsgs == 1, 20000), "100 KB message arrives");
    m = last_msg(a);
    ok(msg_is(m, 1, big, 100000) && m->binary == 1,
       "100 KB message byte-exact and in one piece");
    clear_msgs(a);

    /* A to B, 100 KB */
    ok(ngx_calls_sctp_send(a->s, 1, 1, big + 7, 100000) == 0,
       "A sends 100000 bytes");
    ok(run_until(b->nmsgs == 1, 20000), "B gets 100 KB");
    m = last_msg(b);
    ok(msg_is(m, 1, big + 7, 100000) && m->ppid == 53,
       "B: 100 KB byte-exact, PPID 53");
    clear_msgs(b);

    /* exactly the limit passes, one byte more is dropped */
    ok(raw_send(b, 1, 53, big, NGX_CALLS_SCTP_MAX_MESSAGE) == 0,
       "B sends max-message-size bytes");
    ok(run_until(a->nmsgs == 1, 30000), "max-size message arrives");
    m = last_msg(a);
    ok(msg_is(m, 1, big, NGX_CALLS_SCTP_MAX_MESSAGE),
       "max-size message byte-exact");
    clear_msgs(a);

    ok(raw_send(b, 1, 53, big, NGX_CALLS_SCTP_MAX_MESSAGE + 1) == 0,
       "B sends max-message-size + 1 bytes");
    ok(raw_send(b, 1, 51, "after", 5) == 0, "B sends \"after\"");
    ok(run_until(a->nmsgs >= 1, 30000), "a message arrives after it");
    ok(a->nmsgs == 1 && msg_is(&a->msgs[0], 1, "after", 5),
       "oversized message dropped, the next one delivered");
    is_int(a->downs, 0, "association still up after the oversized one");
    clear_msgs(a);

    free(big);

    /* a second OPEN on an open stream is ignored */
    n = dcep_open(open, 0x00, 0, "again", "");
    ok(raw_send(b, 1, 50, open, n) == 0, "B re-sends OPEN on stream 1");
    ok(raw_send(b, 1, 51, "mark2", 5) == 0, "and a marker");
    ok(run_until(a->nmsgs == 1, 2000), "marker after the second OPEN");
    run_for(300);
    is_int(a->opens, 1, "second OPEN: no second open()");
    is_str(a->label, "calls-dc", "second OPEN: channel unchanged");
    is_int(b->nmsgs, 0, "second OPEN: no second ACK");
    clear_msgs(a);

    /* a malformed OPEN is refused by resetting the stream */
    n = dcep_open(open, 0x00, 0, "bad", "");
    open[9] = 40;   /* label length beyond the message */
    ok(raw_send(b, 5, 50, open, n) == 0, "B sends a malformed OPEN on 5");
    ok(run_until(b->resets_in == 1, 2000), "B sees stream 5 reset");
    is_int(b->reset_in_sid, 5, "reset names stream 5");
    is_int(a->opens, 1, "malformed OPEN: no open()");
    is_int(b->nmsgs, 0, "malformed OPEN: no ACK");

    /* unknown channel type refused too */
    n = dcep_open(open, 0x05, 0, "weird", "");
    ok(raw_send(b, 7, 50, open, n) == 0, "B sends OPEN with type 0x05 on 7");
    ok(run_until(b->resets_in == 2, 2000), "B sees stream 7 reset");
    is_int(b->reset_in_sid, 7, "reset names stream 7");
    is_int(a->opens, 1, "unknown channel type: no open()");

    /* an unordered, partially reliable channel with a protocol */
    n = dcep_open(open, 0x81, 3, "lossy", "proto");
    ok(raw_send(b, 3, 50, open, n) == 0, "B opens an unordered channel on 3");
    ok(run_until(a->opens == 2 && b->nmsgs == 1, 2000), "second channel");
    is_int(a->open_sid, 3, "open: stream 3");
    is_str(a->label, "lossy", "open: label lossy");
    is_str(a->protocol, "proto", "open: protocol proto");
    m = last_msg(b);
    ok(m != NULL && m->ppid == 50 && msg_is(m, 3, "\x02", 1)
       && !(m->flags & SCTP_UNORDERED),
       "ACK on stream 3, ordered even for an unordered channel");
    clear_msgs(b);

    ok(ngx_calls_sctp_send(a->s, 3, 1, (const uint8_t *) "u", 1) == 0,
       "A sends on the unordered channel");
    ok(run_until(b->nmsgs == 1, 2000), "B gets it");
    m = last_msg(b);
    ok(m != NULL && (m->flags & SCTP_UNORDERED) && msg_is(m, 3, "u", 1),
       "sent unordered, as the channel asked");
    clear_msgs(b);

    ok(ngx_calls_sctp_send(a->s, 9, 1, (const uint8_t *) "x", 1) == -1,
       "send on an unknown stream fails");

    /* B closes channel 1: A resets its side too and reports close */
    ok(raw_reset(b, 1) == 0, "B resets stream 1");
    ok(run_until(a->closes == 1 && b->resets_in == 3, 2000),
       "A reports close and resets its side");
    is_int(a->close_sid, 1, "close(1)");
    is_int(b->reset_in_sid, 1, "B sees A's reset of stream 1");
    ok(ngx_calls_sctp_send(a->s, 1, 1, ping, 1) == -1,
       "send on the closed channel fails");
    ok(ngx_calls_sctp_send(a->s, 3, 1, ping, 1) == 0,
       "the other channel still works");

    /* the stream can carry a new channel after the reset */
    run_for(500);
    clear_msgs(b);
    n = dcep_open(open, 0x00, 0, "calls-dc", "");
    ok(raw_send(b, 1, 50, open, n) == 0, "B reopens stream 1");
    ok(run_until(a->opens == 3 && b->nmsgs == 1, 2000), "reopened");
    is_int(a->open_sid, 1, "reopened on stream 1");
    clear_msgs(b);

    /* packet loss: every 5th packet, both ways; timers retransmit */
    a->echo = 1;
    clear_msgs(a);
    drop_every = 5;

    for (k = 0; k < 30; k++) {
        uint8_t  msg[4096];

        n = 1 + (k * 397) % sizeof(msg);
        for (i = 0; i < n; i++) {
            msg[i] = (uint8_t) (k + i);
        }

        if (raw_send(b, 1, 53, msg, n) != 0) {
            break;
        }
    }

    is_int(k, 30, "B queued 30 messages");
    ok(run_until(a->nmsgs == 30 && b->nmsgs == 30, 300000),
       "30 messages and their echoes survive 20% loss");
    ok(dropped > 0, "packets were dropped");
    diag("%u of %u packets dropped", dropped, delivered);

    nb = 0;
    for (k = 0; k < a->nmsgs && k < b->nmsgs; k++) {
        uint8_t  msg[4096];

        n = 1 + (k * 397) % sizeof(msg);
        for (i = 0; i < n; i++) {
            msg[i] = (uint8_t) (k + i);
        }

        if (msg_is(&a->msgs[k], 1, msg, n) && msg_is(&b->msgs[k], 1, msg, n)) {
            nb++;
        }
    }

    is_int(nb, 30, "all 30 in order and byte-exact, both ways");
    drop_every = 0;
    a->echo = 0;
    clear_msgs(a);
    clear_msgs(b);

    /* B goes away gracefully (SHUTDOWN): A reports down */
    usrsctp_close(b->so);
    b->so = NULL;

    ok(run_until(a->downs == 1, 10000), "B closed: A reports down");
    rc = ngx_calls_sctp_send(a->s, 3, 1, ping, 1);
    is_int(rc, -1, "send after down fails");
    is_int(ngx_calls_sctp_count(), 1, "a down association counts until freed");

    usrsctp_deregister_address(b);
    b->raw = 0;
    b->gone = 1;
    free(b->rbuf);
    b->rbuf = NULL;

    ngx_calls_sctp_free(a->s);
    a->s = NULL;
    a->gone = 1;
    flush_queue();
    is_int(ngx_calls_sctp_count(), 0, "count 0 after free");
}


static void
test_free_busy(void)
{
    ep_t      *a, *b;
    size_t     n, i;
    uint8_t    open[64], *big;
    unsigned   t;

    a = new_ep("A3");
    b = new_ep("B3");

    if (!ok(module_ep(a, b - eps, 1) != NULL && raw_ep(b, a - eps) == 0,
            "busy: endpoints"))
    {
        return;
    }

    ok(run_until(a->ups == 1 && b->comm_up == 1, 10000), "busy: up");

    n = dcep_open(open, 0x00, 0, "calls-dc", "");
    ok(raw_send(b, 1, 50, open, n) == 0, "busy: open stream 1");
    n = dcep_open(open, 0x02, 500, "timed", "");
    ok(raw_send(b, 3, 50, open, n) == 0, "busy: open stream 3 (timed)");
    ok(run_until(a->opens == 2, 2000), "busy: two channels");

    ok(ngx_calls_sctp_send(a->s, 3, 0, (const uint8_t *) "ttl", 3) == 0,
       "busy: send on the timed channel");
    ok(run_until(b->nmsgs == 3, 2000), "busy: B got two ACKs and a message");
    ok(msg_is(last_msg(b), 3, "ttl", 3) && last_msg(b)->ppid == 51,
       "busy: timed channel delivers");
    clear_msgs(b);

    /* a reset of every stream at once closes both channels */
    ok(raw_reset(b, -1) == 0, "busy: B resets all its streams");
    ok(run_until(a->closes == 2, 2000), "busy: A closes both channels");
    ok(ngx_calls_sctp_send(a->s, 1, 1, open, 1) == -1
       && ngx_calls_sctp_send(a->s, 3, 1, open, 1) == -1,
       "busy: neither channel sends any more");

    run_for(500);
    n = dcep_open(open, 0x00, 0, "calls-dc", "");
    ok(raw_send(b, 1, 50, open, n) == 0, "busy: reopen stream 1");
    ok(run_until(a->opens == 3, 2000), "busy: reopened");

    /* free A in the middle of a large message: ABORT, nothing leaks */
    big = malloc(200000);
    if (big == NULL) {
        ok(0, "busy: memory");
        return;
    }

    for (i = 0; i < 200000; i++) {
        big[i] = (uint8_t) i;
    }

    /* the path stops after ~120 packets, about 90 KB of data */
    drop_after = delivered + 120;

    ok(raw_send(b, 1, 53, big, 200000) == 0, "busy: B sends 200000 bytes");
    free(big);

    for (t = 0; t < 10; t++) {
        step();
    }

    is_int(a->nmsgs, 0, "busy: the large message is still in flight");
    drop_after = 0;

    ngx_calls_sctp_free(a->s);
    a->s = NULL;
    a->gone = 1;

    ok(run_until(b->comm_down == 1, 2000), "busy: B sees the ABORT");
    is_int(a->downs, 0, "busy: no down() for a freed association");

    usrsctp_close(b->so);
    b->so = NULL;
    run_for(100);
    usrsctp_deregister_address(b);
    b->raw = 0;
    b->gone = 1;
    flush_queue();
    is_int(ngx_calls_sctp_count(), 0, "busy: count 0");
}


static void
test_both_ours(void)
{
    int        rc;
    ep_t      *x, *y;
    void      *token;
    uint8_t    pkt[64];
    unsigned   sent;

    x = new_ep("X");
    y = new_ep("Y");

    /* Y as DTLS server connects as well: the INITs collide */
    if (module_ep(x, y - eps, 1) == NULL || module_ep(y, x - eps, 0) == NULL)
    {
        ok(0, "both ours: create");
        return;
    }

    is_int(ngx_calls_sctp_count(), 2, "count 2");

    ok(run_until(x->ups == 1 && y->ups == 1, 10000),
       "INIT collision resolves: both up");

    run_for(1000);
    is_int(x->ups + y->ups, 2, "up reported once each");

    /* freeing Y aborts: the ABORT goes out through Y's send() */
    sent = y->sent;
    ngx_calls_sctp_free(y->s);
    y->s = NULL;
    y->gone = 1;
    ok(y->sent > sent, "free sent an ABORT");
    is_int(ngx_calls_sctp_count(), 1, "count 1 after freeing Y");

    /* usrsctp output for the freed Y's address reaches nobody */
    token = module_addr;
    sent = x->sent + y->sent;
    memset(pkt, 0, sizeof(pkt));
    rc = module_output(token, pkt, sizeof(pkt), 0, 0);
    ok(rc == 0 && x->sent + y->sent == sent,
       "output for a freed association is dropped");

    ok(run_until(x->downs == 1, 2000), "X reports down after Y's ABORT");
    is_int(y->downs, 0, "no callback for the freed Y");

    ngx_calls_sctp_free(x->s);
    x->s = NULL;
    x->gone = 1;
    flush_queue();
    is_int(ngx_calls_sctp_count(), 0, "count 0");
}


/* a browser's createDataChannel() made with our API: module to module */

static void
test_open(void)
{
    ep_t          *srv, *cli;
    const msg_t   *m;

    static const uint8_t  ping[] = { 0x01 };
    static const uint8_t  pong[] = { 0xcc, 0x02 };

    srv = new_ep("server");
    cli = new_ep("client");

    /* the server is the DTLS client (a=setup:active), as rtcd answers */
    if (module_ep(srv, cli - eps, 1) == NULL
        || module_ep(cli, srv - eps, 0) == NULL)
    {
        ok(0, "open: create");
        return;
    }

    srv->echo = 1;

    is_int(ngx_calls_sctp_open(cli->s, 1, "calls-dc", ""), -1,
           "open before the association is up fails");

    ok(run_until(srv->ups == 1 && cli->ups == 1, 10000), "open: both up");

    is_int(ngx_calls_sctp_open(cli->s, 1, "calls-dc", ""), 0,
           "DATA_CHANNEL_OPEN sent on stream 1 (the DTLS server's parity)");
    is_int(ngx_calls_sctp_open(cli->s, 1, "again", ""), -1,
           "a stream with a channel cannot be opened again");
    is_int(cli->opens, 0, "no open before the ACK");

    /* allowed before the ACK: ordered after the OPEN on the stream */
    is_int(ngx_calls_sctp_send(cli->s, 1, 1, ping, sizeof(ping)), 0,
           "message sent before the ACK");

    ok(run_until(cli->opens == 1, 2000), "the ACK opens it at the opener");
    is_int(cli->open_sid, 1, "opener: stream 1");
    is_str(cli->label, "calls-dc", "opener: label");
    is_int(srv->opens, 1, "the other side opened it from the OPEN");
    is_str(srv->label, "calls-dc", "other side: label");
    is_int(srv->open_sid, 1, "other side: stream 1");

    ok(run_until(cli->nmsgs == 1, 2000), "the Ping came back as a Pong");
    m = last_msg(cli);
    ok(msg_is(m, 1, pong, sizeof(pong)) && m->binary == 1,
       "Pong on stream 1, binary");
    m = srv->nmsgs ? &srv->msgs[0] : NULL;
    ok(msg_is(m, 1, ping, sizeof(ping)), "the server got the early Ping");

    run_for(1000);
    is_int(cli->opens + srv->opens, 2, "open reported once each");

    ngx_calls_sctp_free(cli->s);
    ngx_calls_sctp_free(srv->s);
    cli->s = NULL;
    srv->s = NULL;
    cli->gone = 1;
    srv->gone = 1;
    flush_queue();
    is_int(ngx_calls_sctp_count(), 0, "count 0");
}


static void
test_lossy_handshake(void)
{
    ep_t      *x, *y;
    uint64_t   start;

    x = new_ep("X2");
    y = new_ep("Y2");

    if (module_ep(x, y - eps, 1) == NULL || module_ep(y, x - eps, 0) == NULL)
    {
        ok(0, "lossy handshake: create");
        return;
    }

    /* the first INITs are lost; retransmission brings the association up */
    drop_all = 1;
    run_for(500);
    drop_all = 0;

    ok(run_until(x->ups == 1 && y->ups == 1, 20000),
       "up after the first INITs were lost");

    /* then the path dies: retransmissions give up, COMM_LOST */
    drop_all = 1;
    ok(ngx_calls_sctp_send(x->s, 1, 1, (const uint8_t *) "x", 1) == -1,
       "no channel, no send");

    start = clock_ms;
    ok(run_until(x->downs == 1 && y->downs == 1, 30 * 60 * 1000),
       "a dead path ends in down on both sides");
    diag("the dead path was noticed after %llu s",
         (unsigned long long) (clock_ms - start) / 1000);
    drop_all = 0;

    ngx_calls_sctp_free(x->s);
    ngx_calls_sctp_free(y->s);
    x->s = NULL;
    y->s = NULL;
    x->gone = 1;
    y->gone = 1;
    flush_queue();
    is_int(ngx_calls_sctp_count(), 0, "count 0");
}


int
main(void)
{
    int  i;

    test_before_init();
    test_init();
    test_garbage();
    test_channel();
    test_free_busy();
    test_both_ours();
    test_open();
    test_lossy_handshake();

    /* let usrsctp finish what closing started, then release it */
    run_for(2000);
    flush_queue();

    for (i = 0; i < neps; i++) {
        clear_msgs(&eps[i]);
        free(eps[i].rbuf);
    }

    is_int(usrsctp_finish(), 0, "usrsctp_finish: nothing left behind");

    return done_testing();
}
