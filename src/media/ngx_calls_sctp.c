
/*
 * Copyright (C) ngx_calls authors
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <usrsctp.h>

#include "ngx_calls_sctp.h"


/*
 * How usrsctp is driven (no-threads mode)
 *
 * usrsctp offers a receive callback per socket, but it calls it from deep
 * inside its input and timer code, sometimes with the socket's read lock
 * or the send lock still held (usrsctp issues #537, #711, #712).  Sending
 * the DCEP ACK, or a reply from handler->message, from there would take
 * those non-recursive locks again.  So the sockets have no receive
 * callback: an upcall only marks the association pending, and once
 * usrsctp_conninput() or usrsctp_handle_timers() has returned, the
 * pending associations are drained with usrsctp_recvv().  Our handlers
 * therefore run outside usrsctp, and may send.
 *
 * The AF_CONN address given to usrsctp is not our pointer but a token
 * (slot and generation) resolved through a table.  A packet or upcall
 * usrsctp produces for an association that is already freed then finds
 * nothing instead of freed memory.
 */


/* Calls opens one channel; this bounds what a peer can make us keep */
#define NGX_CALLS_SCTP_MAX_CHANNELS     16

/*
 * Streams we announce in each direction.  usrsctp allocates an array of
 * per-stream state for all of them when the association starts (1024
 * in and out came to about 105 KB per association), whether used or
 * not.  Browsers and aiortc give a new channel the lowest free stream
 * of their parity (RFC 8832 6), so the channels we keep (at most
 * NGX_CALLS_SCTP_MAX_CHANNELS, all of one parity in the worst case)
 * fit in twice that many streams; a channel the peer opens beyond them
 * gets an SCTP "invalid stream" error, as it would be refused anyway.
 */
#define NGX_CALLS_SCTP_STREAMS          (2 * NGX_CALLS_SCTP_MAX_CHANNELS)

/*
 * SCTP packet size: 1280 (IPv6 minimum MTU) - 40 (IPv6) - 8 (UDP)
 * - 13 (DTLS record header) - 24 (AES-GCM nonce and tag) = 1195 at most,
 * so that no packet needs IP fragmentation.  usrsctp adds the 12 byte
 * common header to the value given for AF_CONN, so chunks get 1180 and
 * packets 1192.
 */
#define NGX_CALLS_SCTP_CHUNKS_MTU       1180

/* a complete message up to this size is delivered without a copy */
#define NGX_CALLS_SCTP_RECV_SIZE        65536

#define NGX_CALLS_SCTP_SLOT_BITS        20
#define NGX_CALLS_SCTP_SLOT_MASK        ((1u << NGX_CALLS_SCTP_SLOT_BITS) - 1)
#define NGX_CALLS_SCTP_SLOT_MAX         (1u << NGX_CALLS_SCTP_SLOT_BITS)


/* payload protocol identifiers, RFC 8831 section 8 */
#define NGX_CALLS_SCTP_PPID_DCEP            50
#define NGX_CALLS_SCTP_PPID_STRING          51
#define NGX_CALLS_SCTP_PPID_STRING_PARTIAL  52
#define NGX_CALLS_SCTP_PPID_BINARY          53
#define NGX_CALLS_SCTP_PPID_BINARY_PARTIAL  54
#define NGX_CALLS_SCTP_PPID_STRING_EMPTY    56
#define NGX_CALLS_SCTP_PPID_BINARY_EMPTY    57

/* DCEP, RFC 8832 section 5 */
#define NGX_CALLS_DCEP_ACK                  0x02
#define NGX_CALLS_DCEP_OPEN                 0x03
#define NGX_CALLS_DCEP_OPEN_SIZE            12

#define NGX_CALLS_DCEP_RELIABLE             0x00
#define NGX_CALLS_DCEP_PARTIAL_REXMIT       0x01
#define NGX_CALLS_DCEP_PARTIAL_TIMED        0x02
#define NGX_CALLS_DCEP_UNORDERED            0x80


typedef struct {
    uint16_t                    sid;
    uint8_t                     type;         /* DCEP channel type */
    uint32_t                    reliability;  /* rexmits or ms */
    char                       *label;        /* one allocation with */
    char                       *protocol;     /* the protocol */
    unsigned                    opening:1;    /* our OPEN awaits its ACK */
} ngx_calls_sctp_channel_t;


struct ngx_calls_sctp_s {
    struct socket              *so;
    void                       *addr;         /* AF_CONN token */
    size_t                      slot;

    ngx_calls_sctp_handler_t    handler;
    void                       *user;

    ngx_calls_sctp_t           *prev;         /* pending list */
    ngx_calls_sctp_t           *next;

    /* a message usrsctp hands over in pieces (partial delivery) */
    uint8_t                    *rbuf;
    size_t                      rlen;
    size_t                      rsize;
    uint32_t                    rppid;
    uint16_t                    rsid;

    unsigned                    pending:1;
    unsigned                    up:1;
    unsigned                    down:1;
    unsigned                    client:1;
    unsigned                    rbusy:1;      /* reassembling */
    unsigned                    rdrop:1;      /* too large, skip to EOR */
    unsigned                    nskip:1;      /* rest of a notification */

    unsigned                    nchannels;
    ngx_calls_sctp_channel_t    channels[NGX_CALLS_SCTP_MAX_CHANNELS];
};


static int ngx_calls_sctp_output(void *addr, void *buf, size_t len,
    uint8_t tos, uint8_t set_df);
static void ngx_calls_sctp_upcall(struct socket *so, void *arg, int flags);
static void ngx_calls_sctp_error(const char *fmt, ...);
static int ngx_calls_sctp_sysctls(void);
static int ngx_calls_sctp_setopt(ngx_calls_sctp_t *s, int level, int name,
    const void *val, socklen_t len, const char *what, char *err,
    size_t errlen);
static int ngx_calls_sctp_socket(ngx_calls_sctp_t *s, uint16_t local_port,
    uint16_t remote_port, char *err, size_t errlen);
static void ngx_calls_sctp_destroy(ngx_calls_sctp_t *s);
static int ngx_calls_sctp_slot_alloc(ngx_calls_sctp_t *s);
static void ngx_calls_sctp_slot_free(ngx_calls_sctp_t *s);
static ngx_calls_sctp_t *ngx_calls_sctp_lookup(void *addr);
static void ngx_calls_sctp_pending_add(ngx_calls_sctp_t *s);
static void ngx_calls_sctp_pending_remove(ngx_calls_sctp_t *s);
static void ngx_calls_sctp_process(void);
static void ngx_calls_sctp_drain(ngx_calls_sctp_t *s);
static void ngx_calls_sctp_notification(ngx_calls_sctp_t *s,
    const uint8_t *buf, size_t len);
static void ngx_calls_sctp_send_failed(ngx_calls_sctp_t *s,
    const struct sctp_send_failed_event *ev);
static void ngx_calls_sctp_assoc_change(ngx_calls_sctp_t *s,
    const struct sctp_assoc_change *sac);
static void ngx_calls_sctp_stream_reset(ngx_calls_sctp_t *s,
    const uint8_t *buf, size_t len);
static void ngx_calls_sctp_went_down(ngx_calls_sctp_t *s, const char *why);
static void ngx_calls_sctp_data(ngx_calls_sctp_t *s,
    const struct sctp_rcvinfo *rcv, const uint8_t *buf, size_t len,
    int eor);
static void ngx_calls_sctp_reasm_reset(ngx_calls_sctp_t *s);
static void ngx_calls_sctp_deliver(ngx_calls_sctp_t *s, uint16_t sid,
    uint32_t ppid, const uint8_t *buf, size_t len);
static void ngx_calls_sctp_dcep(ngx_calls_sctp_t *s, uint16_t sid,
    const uint8_t *buf, size_t len);
static ngx_calls_sctp_channel_t *ngx_calls_sctp_channel(ngx_calls_sctp_t *s,
    uint16_t sid);
static ngx_calls_sctp_channel_t *ngx_calls_sctp_channel_add(
    ngx_calls_sctp_t *s, uint16_t sid, uint8_t type, uint32_t reliability,
    const char *label, size_t llen, const char *protocol, size_t plen);
static void ngx_calls_sctp_channel_forget(ngx_calls_sctp_t *s,
    ngx_calls_sctp_channel_t *ch);
static void ngx_calls_sctp_close_channel(ngx_calls_sctp_t *s,
    ngx_calls_sctp_channel_t *ch);
static void ngx_calls_sctp_reset_stream(ngx_calls_sctp_t *s, uint16_t sid);
static int ngx_calls_sctp_sendv(ngx_calls_sctp_t *s, uint16_t sid,
    uint32_t ppid, uint8_t type, uint32_t reliability, const uint8_t *buf,
    size_t len);


static int                 ngx_calls_sctp_initialized;
static int                 ngx_calls_sctp_init_rc;
static void              (*ngx_calls_sctp_log)(const char *fmt, ...);

/* live associations by slot; the AF_CONN token names slot and generation */
static ngx_calls_sctp_t  **ngx_calls_sctp_slots;
static size_t              ngx_calls_sctp_nslots;
static size_t              ngx_calls_sctp_nused;
static uintptr_t           ngx_calls_sctp_generation;
static unsigned            ngx_calls_sctp_live;

static ngx_calls_sctp_t   *ngx_calls_sctp_pending;
static int                 ngx_calls_sctp_processing;

/* a packet went in or out since ngx_calls_sctp_busy() last asked */
static int                 ngx_calls_sctp_traffic;

/* one receive buffer per process: drains never nest (see process()) */
static union {
    uint8_t                    data[NGX_CALLS_SCTP_RECV_SIZE];
    union sctp_notification    align;
} ngx_calls_sctp_rbuf;


int
ngx_calls_sctp_init(void (*log)(const char *fmt, ...))
{
    if (ngx_calls_sctp_initialized) {
        return ngx_calls_sctp_init_rc;
    }

    ngx_calls_sctp_log = log;

    /* port 0: no UDP encapsulation socket, packets go through output() */
    usrsctp_init_nothreads(0, ngx_calls_sctp_output, log);

    ngx_calls_sctp_initialized = 1;
    ngx_calls_sctp_init_rc = ngx_calls_sctp_sysctls();

    return ngx_calls_sctp_init_rc;
}


/*
 * Stack defaults, read when an endpoint or an association is created.
 * usrsctp 0.9.5 has no RFC 9653 zero checksum (no
 * SCTP_ACCEPT_ZERO_CHECKSUM), so CRC32c stays on in both directions;
 * turning its offload on would send packets a browser drops.
 */

static int
ngx_calls_sctp_sysctls(void)
{
    size_t  i;

    static const struct {
        const char  *name;
        int        (*set)(uint32_t value);
        uint32_t     value;
    } sysctls[] = {

        /* no IP header under DTLS, so nothing to mark: RFC 8261 */
        { "sctp_ecn_enable", usrsctp_sysctl_set_sctp_ecn_enable, 0 },

        /*
         * ASCONF changes addresses of a multi-homed association; ours
         * has one AF_CONN address.  Off before AUTH, which it requires.
         * Off, usrsctp's iterator thread (started even in no-threads
         * mode) has nothing to send for our associations.
         */
        { "sctp_auto_asconf", usrsctp_sysctl_set_sctp_auto_asconf, 0 },
        { "sctp_asconf_enable", usrsctp_sysctl_set_sctp_asconf_enable, 0 },

        /* DTLS authenticates every packet already (RFC 8261 section 4) */
        { "sctp_auth_enable", usrsctp_sysctl_set_sctp_auth_enable, 0 },

        /* partial reliability: RFC 8831 channels may ask for it */
        { "sctp_pr_enable", usrsctp_sysctl_set_sctp_pr_enable, 1 },

        /* stream reset (RE-CONFIG) closes channels: RFC 8831 6.7 */
        { "sctp_reconfig_enable",
          usrsctp_sysctl_set_sctp_reconfig_enable, 1 },

        /* RTO.Initial of RFC 9260 (1 s) rather than RFC 4960's 3 s */
        { "sctp_rto_initial_default",
          usrsctp_sysctl_set_sctp_rto_initial_default, 1000 },
    };

    for (i = 0; i < sizeof(sysctls) / sizeof(sysctls[0]); i++) {
        if (sysctls[i].set(sysctls[i].value) != 0) {
            ngx_calls_sctp_error("usrsctp sysctl %s = %u failed: %s",
                                 sysctls[i].name, sysctls[i].value,
                                 strerror(errno));
            return -1;
        }
    }

    return 0;
}


void
ngx_calls_sctp_timers(uint32_t elapsed_ms)
{
    if (!ngx_calls_sctp_initialized) {
        return;
    }

    usrsctp_handle_timers(elapsed_ms);

    ngx_calls_sctp_process();
}


int
ngx_calls_sctp_busy(void)
{
    int  traffic;

    traffic = ngx_calls_sctp_traffic;
    ngx_calls_sctp_traffic = 0;

    return traffic;
}


unsigned
ngx_calls_sctp_count(void)
{
    return ngx_calls_sctp_live;
}


ngx_calls_sctp_t *
ngx_calls_sctp_create(uint16_t local_port, uint16_t remote_port, int client,
    const ngx_calls_sctp_handler_t *h, void *user, char *err, size_t errlen)
{
    ngx_calls_sctp_t  *s;

    if (!ngx_calls_sctp_initialized || ngx_calls_sctp_init_rc != 0) {
        snprintf(err, errlen, "ngx_calls_sctp_init() did not succeed");
        return NULL;
    }

    if (h == NULL || h->send == NULL) {
        snprintf(err, errlen, "no send handler");
        return NULL;
    }

    s = calloc(1, sizeof(ngx_calls_sctp_t));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory for an SCTP association");
        return NULL;
    }

    s->handler = *h;
    s->user = user;
    s->client = client ? 1 : 0;

    if (ngx_calls_sctp_slot_alloc(s) != 0) {
        snprintf(err, errlen, "too many SCTP associations (or out of "
                 "memory for their table)");
        free(s);
        return NULL;
    }

    usrsctp_register_address(s->addr);

    if (ngx_calls_sctp_socket(s, local_port, remote_port, err, errlen) != 0) {
        ngx_calls_sctp_destroy(s);
        return NULL;
    }

    ngx_calls_sctp_live++;

    return s;
}


static int
ngx_calls_sctp_socket(ngx_calls_sctp_t *s, uint16_t local_port,
    uint16_t remote_port, char *err, size_t errlen)
{
    int                      on, off;
    size_t                   i;
    struct linger            linger;
    struct sctp_event        event;
    struct sctp_initmsg      initmsg;
    struct sockaddr_conn     sconn;
    struct sctp_assoc_value  av;
    struct sctp_paddrparams  paddr;

    static const uint16_t  events[] = {
        SCTP_ASSOC_CHANGE,
        SCTP_STREAM_RESET_EVENT,
        SCTP_SEND_FAILED_EVENT,
        SCTP_REMOTE_ERROR,
        SCTP_SHUTDOWN_EVENT,
        SCTP_ADAPTATION_INDICATION,
        SCTP_PARTIAL_DELIVERY_EVENT
    };

    /* no receive callback: see the comment at the top */
    s->so = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL,
                           0, NULL);
    if (s->so == NULL) {
        snprintf(err, errlen, "usrsctp_socket() failed: %s", strerror(errno));
        return -1;
    }

    if (usrsctp_set_non_blocking(s->so, 1) != 0) {
        snprintf(err, errlen, "usrsctp_set_non_blocking() failed: %s",
                 strerror(errno));
        return -1;
    }

    if (usrsctp_set_upcall(s->so, ngx_calls_sctp_upcall, s->addr) != 0) {
        snprintf(err, errlen, "usrsctp_set_upcall() failed: %s",
                 strerror(errno));
        return -1;
    }

    /* close() aborts instead of a graceful shutdown nobody waits for */
    linger.l_onoff = 1;
    linger.l_linger = 0;

    if (ngx_calls_sctp_setopt(s, SOL_SOCKET, SO_LINGER, &linger,
                              sizeof(linger), "SO_LINGER", err, errlen)
        != 0)
    {
        return -1;
    }

    on = 1;
    off = 0;

    /* stream and PPID of each message come with usrsctp_recvv() */
    if (ngx_calls_sctp_setopt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on,
                              sizeof(on), "SCTP_RECVRCVINFO", err, errlen)
        != 0)
    {
        return -1;
    }

    /* a Pong or a Lock answer should not wait for Nagle */
    if (ngx_calls_sctp_setopt(s, IPPROTO_SCTP, SCTP_NODELAY, &on,
                              sizeof(on), "SCTP_NODELAY", err, errlen)
        != 0)
    {
        return -1;
    }

    /* one usrsctp_sendv() is one whole message */
    if (ngx_calls_sctp_setopt(s, IPPROTO_SCTP, SCTP_EXPLICIT_EOR, &off,
                              sizeof(off), "SCTP_EXPLICIT_EOR", err, errlen)
        != 0)
    {
        return -1;
    }

    av.assoc_id = SCTP_FUTURE_ASSOC;
    av.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;

    if (ngx_calls_sctp_setopt(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av,
                              sizeof(av), "SCTP_ENABLE_STREAM_RESET", err,
                              errlen)
        != 0)
    {
        return -1;
    }

    memset(&initmsg, 0, sizeof(initmsg));
    initmsg.sinit_num_ostreams = NGX_CALLS_SCTP_STREAMS;
    initmsg.sinit_max_instreams = NGX_CALLS_SCTP_STREAMS;

    if (ngx_calls_sctp_setopt(s, IPPROTO_SCTP, SCTP_INITMSG, &initmsg,
                              sizeof(initmsg), "SCTP_INITMSG", err, errlen)
        != 0)
    {
        return -1;
    }

    /* no PMTU discovery through DTLS: a fixed size that always fits */
    memset(&paddr, 0, sizeof(paddr));
    paddr.spp_assoc_id = SCTP_FUTURE_ASSOC;
    paddr.spp_flags = SPP_PMTUD_DISABLE;
    paddr.spp_pathmtu = NGX_CALLS_SCTP_CHUNKS_MTU;

    if (ngx_calls_sctp_setopt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &paddr,
                              sizeof(paddr), "SCTP_PEER_ADDR_PARAMS", err,
                              errlen)
        != 0)
    {
        return -1;
    }

    for (i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        memset(&event, 0, sizeof(event));
        event.se_assoc_id = SCTP_FUTURE_ASSOC;
        event.se_type = events[i];
        event.se_on = 1;

        if (ngx_calls_sctp_setopt(s, IPPROTO_SCTP, SCTP_EVENT, &event,
                                  sizeof(event), "SCTP_EVENT", err, errlen)
            != 0)
        {
            return -1;
        }
    }

    memset(&sconn, 0, sizeof(sconn));
    sconn.sconn_family = AF_CONN;
    sconn.sconn_port = htons(local_port);
    sconn.sconn_addr = s->addr;

    if (usrsctp_bind(s->so, (struct sockaddr *) &sconn, sizeof(sconn)) != 0) {
        snprintf(err, errlen, "usrsctp_bind() to port %u failed: %s",
                 (unsigned) local_port, strerror(errno));
        return -1;
    }

    /*
     * Both roles send an INIT.  WebRTC stacks do the same (browsers and
     * pion connect whatever their DTLS role), SCTP resolves the collision
     * into one association (RFC 9260 5.2.1), and a listening socket
     * would have to be accepted from usrsctp's upcall.  "client" only
     * tells which stream parity the peer should open channels on.
     */

    sconn.sconn_port = htons(remote_port);

    if (usrsctp_connect(s->so, (struct sockaddr *) &sconn, sizeof(sconn))
        != 0
        && errno != EINPROGRESS)
    {
        snprintf(err, errlen, "usrsctp_connect() to port %u failed: %s",
                 (unsigned) remote_port, strerror(errno));
        return -1;
    }

    return 0;
}


static int
ngx_calls_sctp_setopt(ngx_calls_sctp_t *s, int level, int name,
    const void *val, socklen_t len, const char *what, char *err,
    size_t errlen)
{
    if (usrsctp_setsockopt(s->so, level, name, val, len) != 0) {
        snprintf(err, errlen, "usrsctp_setsockopt(%s) failed: %s", what,
                 strerror(errno));
        return -1;
    }

    return 0;
}


void
ngx_calls_sctp_free(ngx_calls_sctp_t *s)
{
    if (s == NULL) {
        return;
    }

    ngx_calls_sctp_destroy(s);

    ngx_calls_sctp_live--;
}


static void
ngx_calls_sctp_destroy(ngx_calls_sctp_t *s)
{
    unsigned  i;

    ngx_calls_sctp_pending_remove(s);

    /*
     * The upcall goes first: nothing may mark s pending again.  With
     * SO_LINGER 0, usrsctp_close() sends an ABORT, which reaches
     * handler->send while s is still in the table; the table entry goes
     * only after that, so anything later is dropped in output().
     */

    if (s->so != NULL) {

        if (usrsctp_set_upcall(s->so, NULL, NULL) != 0) {
            ngx_calls_sctp_error("usrsctp_set_upcall(NULL) failed: %s",
                                 strerror(errno));
        }

        usrsctp_close(s->so);
        s->so = NULL;
    }

    ngx_calls_sctp_slot_free(s);
    usrsctp_deregister_address(s->addr);

    for (i = 0; i < s->nchannels; i++) {
        free(s->channels[i].label);
    }

    free(s->rbuf);
    free(s);
}


void
ngx_calls_sctp_input(ngx_calls_sctp_t *s, const uint8_t *buf, size_t len)
{
    /* usrsctp reads the common header before it checks anything */
    if (len < sizeof(struct sctp_common_header)) {
        return;
    }

    ngx_calls_sctp_traffic = 1;

    usrsctp_conninput(s->addr, buf, len, 0);

    ngx_calls_sctp_process();
}


int
ngx_calls_sctp_open(ngx_calls_sctp_t *s, uint16_t sid, const char *label,
    const char *protocol)
{
    size_t                     llen, plen;
    uint8_t                    open[NGX_CALLS_DCEP_OPEN_SIZE + 2 * 256];
    ngx_calls_sctp_channel_t  *ch;

    llen = strlen(label);
    plen = strlen(protocol);

    if (!s->up || llen > 256 || plen > 256
        || s->nchannels == NGX_CALLS_SCTP_MAX_CHANNELS
        || ngx_calls_sctp_channel(s, sid) != NULL)
    {
        return -1;
    }

    /* RFC 8832 5.1: reliable and ordered, priority 0, reliability 0 */

    memset(open, 0, NGX_CALLS_DCEP_OPEN_SIZE);
    open[0] = NGX_CALLS_DCEP_OPEN;
    open[1] = NGX_CALLS_DCEP_RELIABLE;
    open[8] = (uint8_t) (llen >> 8);
    open[9] = (uint8_t) llen;
    open[10] = (uint8_t) (plen >> 8);
    open[11] = (uint8_t) plen;
    memcpy(open + NGX_CALLS_DCEP_OPEN_SIZE, label, llen);
    memcpy(open + NGX_CALLS_DCEP_OPEN_SIZE + llen, protocol, plen);

    ch = ngx_calls_sctp_channel_add(s, sid, NGX_CALLS_DCEP_RELIABLE, 0,
                                    label, llen, protocol, plen);
    if (ch == NULL) {
        return -1;
    }

    ch->opening = 1;

    if (ngx_calls_sctp_sendv(s, sid, NGX_CALLS_SCTP_PPID_DCEP,
                             NGX_CALLS_DCEP_RELIABLE, 0, open,
                             NGX_CALLS_DCEP_OPEN_SIZE + llen + plen)
        != 0)
    {
        ngx_calls_sctp_channel_forget(s, ch);
        return -1;
    }

    return 0;
}


int
ngx_calls_sctp_send(ngx_calls_sctp_t *s, uint16_t sid, int binary,
    const uint8_t *buf, size_t len)
{
    uint32_t                   ppid;
    ngx_calls_sctp_channel_t  *ch;

    static const uint8_t  empty = 0;

    if (!s->up) {
        return -1;
    }

    ch = ngx_calls_sctp_channel(s, sid);
    if (ch == NULL) {
        return -1;
    }

    if (len == 0) {
        /* RFC 8831 6.6: an empty message is one byte with its own PPID */
        ppid = binary ? NGX_CALLS_SCTP_PPID_BINARY_EMPTY
                      : NGX_CALLS_SCTP_PPID_STRING_EMPTY;
        buf = &empty;
        len = 1;

    } else {
        ppid = binary ? NGX_CALLS_SCTP_PPID_BINARY
                      : NGX_CALLS_SCTP_PPID_STRING;
    }

    return ngx_calls_sctp_sendv(s, sid, ppid, ch->type, ch->reliability, buf,
                                len);
}


static int
ngx_calls_sctp_sendv(ngx_calls_sctp_t *s, uint16_t sid, uint32_t ppid,
    uint8_t type, uint32_t reliability, const uint8_t *buf, size_t len)
{
    ssize_t                n;
    struct sctp_sendv_spa  spa;

    memset(&spa, 0, sizeof(spa));

    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    spa.sendv_sndinfo.snd_sid = sid;
    spa.sendv_sndinfo.snd_ppid = htonl(ppid);
    spa.sendv_sndinfo.snd_flags = SCTP_EOR;

    if (type & NGX_CALLS_DCEP_UNORDERED) {
        spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
    }

    switch (type & ~NGX_CALLS_DCEP_UNORDERED) {

    case NGX_CALLS_DCEP_PARTIAL_REXMIT:
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
        spa.sendv_prinfo.pr_value = reliability;
        break;

    case NGX_CALLS_DCEP_PARTIAL_TIMED:
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
        spa.sendv_prinfo.pr_value = reliability;
        break;

    default:
        break;
    }

    n = usrsctp_sendv(s->so, buf, len, NULL, 0, &spa, sizeof(spa),
                      SCTP_SENDV_SPA, 0);

    if (n < 0) {
        /* a full send buffer is the caller's to handle; the rest is odd */
        if (errno != EWOULDBLOCK && errno != EAGAIN) {
            ngx_calls_sctp_error("usrsctp_sendv() of %zu bytes on stream %u "
                                 "failed: %s", len, (unsigned) sid,
                                 strerror(errno));
        }

        return -1;
    }

    if ((size_t) n != len) {
        ngx_calls_sctp_error("usrsctp_sendv() took %zd of %zu bytes on "
                             "stream %u", n, len, (unsigned) sid);
        return -1;
    }

    return 0;
}


/*
 * usrsctp's global output: runs inside usrsctp_conninput(),
 * usrsctp_sendv(), usrsctp_handle_timers() and usrsctp_close().
 */

static int
ngx_calls_sctp_output(void *addr, void *buf, size_t len, uint8_t tos,
    uint8_t set_df)
{
    ngx_calls_sctp_t  *s;

    s = ngx_calls_sctp_lookup(addr);
    if (s == NULL) {
        /* a late packet of a freed association */
        return 0;
    }

    ngx_calls_sctp_traffic = 1;

    /*
     * A packet DTLS could not take is a lost packet, and SCTP
     * retransmits lost packets.  Reporting an error instead would leave
     * data chunks unsent with no timer to retry them.
     */
    (void) s->handler.send(s->user, buf, len);

    return 0;
}


static void
ngx_calls_sctp_upcall(struct socket *so, void *arg, int flags)
{
    ngx_calls_sctp_t  *s;

    /* inside usrsctp: only remember that s has something to read */

    s = ngx_calls_sctp_lookup(arg);
    if (s != NULL) {
        ngx_calls_sctp_pending_add(s);
    }
}


static void
ngx_calls_sctp_error(const char *fmt, ...)
{
    char     msg[256];
    va_list  args;

    if (ngx_calls_sctp_log == NULL) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    ngx_calls_sctp_log("sctp: %s\n", msg);
}


static int
ngx_calls_sctp_slot_alloc(ngx_calls_sctp_t *s)
{
    size_t              i, n;
    uintptr_t           gen;
    ngx_calls_sctp_t  **slots;

    for (i = 0; i < ngx_calls_sctp_nslots; i++) {
        if (ngx_calls_sctp_slots[i] == NULL) {
            goto found;
        }
    }

    if (ngx_calls_sctp_nslots == NGX_CALLS_SCTP_SLOT_MAX) {
        return -1;
    }

    n = ngx_calls_sctp_nslots ? 2 * ngx_calls_sctp_nslots : 16;

    slots = realloc(ngx_calls_sctp_slots, n * sizeof(ngx_calls_sctp_t *));
    if (slots == NULL) {
        return -1;
    }

    memset(slots + ngx_calls_sctp_nslots, 0,
           (n - ngx_calls_sctp_nslots) * sizeof(ngx_calls_sctp_t *));

    i = ngx_calls_sctp_nslots;
    ngx_calls_sctp_slots = slots;
    ngx_calls_sctp_nslots = n;

found:

    /* never 0, so no token is NULL; wraps only on 32-bit platforms */
    gen = ++ngx_calls_sctp_generation;
    if (gen == 0 || gen > (UINTPTR_MAX >> NGX_CALLS_SCTP_SLOT_BITS)) {
        gen = ngx_calls_sctp_generation = 1;
    }

    ngx_calls_sctp_slots[i] = s;
    ngx_calls_sctp_nused++;
    s->slot = i;
    s->addr = (void *) ((gen << NGX_CALLS_SCTP_SLOT_BITS) | i);

    return 0;
}


static void
ngx_calls_sctp_slot_free(ngx_calls_sctp_t *s)
{
    ngx_calls_sctp_slots[s->slot] = NULL;

    if (--ngx_calls_sctp_nused == 0) {
        /* the last one: give the table back */
        free(ngx_calls_sctp_slots);
        ngx_calls_sctp_slots = NULL;
        ngx_calls_sctp_nslots = 0;
    }
}


static ngx_calls_sctp_t *
ngx_calls_sctp_lookup(void *addr)
{
    size_t             slot;
    ngx_calls_sctp_t  *s;

    slot = (uintptr_t) addr & NGX_CALLS_SCTP_SLOT_MASK;

    if (slot >= ngx_calls_sctp_nslots) {
        return NULL;
    }

    s = ngx_calls_sctp_slots[slot];

    if (s == NULL || s->addr != addr) {
        return NULL;
    }

    return s;
}


static void
ngx_calls_sctp_pending_add(ngx_calls_sctp_t *s)
{
    if (s->pending) {
        return;
    }

    s->pending = 1;
    s->prev = NULL;
    s->next = ngx_calls_sctp_pending;

    if (ngx_calls_sctp_pending != NULL) {
        ngx_calls_sctp_pending->prev = s;
    }

    ngx_calls_sctp_pending = s;
}


static void
ngx_calls_sctp_pending_remove(ngx_calls_sctp_t *s)
{
    if (!s->pending) {
        return;
    }

    if (s->prev != NULL) {
        s->prev->next = s->next;

    } else {
        ngx_calls_sctp_pending = s->next;
    }

    if (s->next != NULL) {
        s->next->prev = s->prev;
    }

    s->pending = 0;
    s->prev = NULL;
    s->next = NULL;
}


/*
 * Drains every pending association.  A handler that calls
 * ngx_calls_sctp_send() may make an association pending again; it is
 * picked up by the same loop.  A handler may free another association
 * (that unlinks it), not the one being drained.
 */

static void
ngx_calls_sctp_process(void)
{
    ngx_calls_sctp_t  *s;

    if (ngx_calls_sctp_processing) {
        return;
    }

    ngx_calls_sctp_processing = 1;

    while (ngx_calls_sctp_pending != NULL) {
        s = ngx_calls_sctp_pending;
        ngx_calls_sctp_pending_remove(s);
        ngx_calls_sctp_drain(s);
    }

    ngx_calls_sctp_processing = 0;
}


static void
ngx_calls_sctp_drain(ngx_calls_sctp_t *s)
{
    int                   flags;
    ssize_t               n;
    socklen_t             fromlen, infolen;
    unsigned int          infotype;
    struct sctp_rcvinfo   rcv;
    struct sockaddr_conn  from;

    for ( ;; ) {

        flags = 0;
        fromlen = sizeof(from);
        infolen = sizeof(rcv);
        infotype = SCTP_RECVV_NOINFO;

        n = usrsctp_recvv(s->so, ngx_calls_sctp_rbuf.data,
                          NGX_CALLS_SCTP_RECV_SIZE, (struct sockaddr *) &from,
                          &fromlen, &rcv, &infolen, &infotype, &flags);

        if (n < 0) {
            /*
             * EWOULDBLOCK: nothing more.  ECONNRESET and the like come
             * after the notification that reported them.
             */
            return;
        }

        if (n == 0) {
            /* end of the association: no DATA chunk is empty */
            return;
        }

        if (flags & MSG_NOTIFICATION) {

            if (!s->nskip) {
                ngx_calls_sctp_notification(s, ngx_calls_sctp_rbuf.data, n);
            }

            /* the rest of a long one (SEND_FAILED carries the data) */
            s->nskip = (flags & MSG_EOR) ? 0 : 1;

            continue;
        }

        if (infotype != SCTP_RECVV_RCVINFO) {
            ngx_calls_sctp_error("%zd bytes without stream information "
                                 "dropped", n);
            continue;
        }

        ngx_calls_sctp_data(s, &rcv, ngx_calls_sctp_rbuf.data, n,
                            (flags & MSG_EOR) ? 1 : 0);
    }
}


static void
ngx_calls_sctp_notification(ngx_calls_sctp_t *s, const uint8_t *buf,
    size_t len)
{
    const union sctp_notification  *sn;

    sn = (const union sctp_notification *) buf;

    if (len < sizeof(sn->sn_header)) {
        return;
    }

    switch (sn->sn_header.sn_type) {

    case SCTP_ASSOC_CHANGE:
        if (len >= sizeof(struct sctp_assoc_change)) {
            ngx_calls_sctp_assoc_change(s, &sn->sn_assoc_change);
        }
        break;

    case SCTP_STREAM_RESET_EVENT:
        ngx_calls_sctp_stream_reset(s, buf, len);
        break;

    case SCTP_SEND_FAILED_EVENT:
        if (len >= sizeof(struct sctp_send_failed_event)) {
            ngx_calls_sctp_send_failed(s, &sn->sn_send_failed_event);
        }
        break;

    case SCTP_REMOTE_ERROR:
        if (len >= sizeof(struct sctp_remote_error)) {
            ngx_calls_sctp_error("peer reported error cause %u",
                                 (unsigned) ntohs(sn->sn_remote_error
                                                      .sre_error));
        }
        break;

    case SCTP_SHUTDOWN_EVENT:
        /* SHUTDOWN_COMP follows and reports the association down */
        s->up = 0;
        break;

    case SCTP_PARTIAL_DELIVERY_EVENT:
        if (len >= sizeof(struct sctp_pdapi_event)
            && sn->sn_pdapi_event.pdapi_indication
               == SCTP_PARTIAL_DELIVERY_ABORTED
            && s->rbusy)
        {
            ngx_calls_sctp_error("partial delivery on stream %u aborted, "
                                 "message dropped", (unsigned) s->rsid);
            ngx_calls_sctp_reasm_reset(s);
        }
        break;

    default:
        /* ADAPTATION_INDICATION: RFC 8831 defines no adaptation layer */
        break;
    }
}


static void
ngx_calls_sctp_send_failed(ngx_calls_sctp_t *s,
    const struct sctp_send_failed_event *ev)
{
    ngx_calls_sctp_channel_t  *ch;

    /* a partially reliable channel gives messages up by design */
    ch = ngx_calls_sctp_channel(s, ev->ssfe_info.snd_sid);
    if (ch != NULL && (ch->type & ~NGX_CALLS_DCEP_UNORDERED) != 0) {
        return;
    }

    ngx_calls_sctp_error("a message on stream %u was not delivered: "
                         "error %u", (unsigned) ev->ssfe_info.snd_sid,
                         (unsigned) ev->ssfe_error);
}


static void
ngx_calls_sctp_assoc_change(ngx_calls_sctp_t *s,
    const struct sctp_assoc_change *sac)
{
    switch (sac->sac_state) {

    case SCTP_COMM_UP:
        if (s->up || s->down) {
            break;
        }

        s->up = 1;

        if (s->handler.up) {
            s->handler.up(s->user);
        }

        break;

    case SCTP_RESTART:
        /* same peer, new state; the channels' streams start afresh */
        ngx_calls_sctp_error("peer restarted the association");
        break;

    case SCTP_COMM_LOST:
        ngx_calls_sctp_went_down(s, "lost");
        break;

    case SCTP_SHUTDOWN_COMP:
        ngx_calls_sctp_went_down(s, "shut down");
        break;

    case SCTP_CANT_STR_ASSOC:
        ngx_calls_sctp_went_down(s, "could not be established");
        break;

    default:
        break;
    }
}


static void
ngx_calls_sctp_went_down(ngx_calls_sctp_t *s, const char *why)
{
    unsigned  i;

    if (s->down) {
        return;
    }

    s->down = 1;
    s->up = 0;

    ngx_calls_sctp_reasm_reset(s);

    /* every channel goes with the association; down says it all */
    for (i = 0; i < s->nchannels; i++) {
        free(s->channels[i].label);
    }

    s->nchannels = 0;

    ngx_calls_sctp_error("association %s", why);

    if (s->handler.down) {
        s->handler.down(s->user);
    }
}


/*
 * RFC 8831 6.7: a peer closes a channel by resetting its outgoing stream;
 * we reset ours in return and the channel is gone.
 */

static void
ngx_calls_sctp_stream_reset(ngx_calls_sctp_t *s, const uint8_t *buf,
    size_t len)
{
    size_t                                 i, n;
    uint16_t                               sid;
    ngx_calls_sctp_channel_t              *ch;
    const struct sctp_stream_reset_event  *ev;

    ev = (const struct sctp_stream_reset_event *) buf;

    if (len < sizeof(struct sctp_stream_reset_event)
        || ev->strreset_length < sizeof(struct sctp_stream_reset_event)
        || ev->strreset_length > len)
    {
        return;
    }

    if (ev->strreset_flags
        & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED))
    {
        ngx_calls_sctp_error("stream reset %s by the peer",
                             (ev->strreset_flags & SCTP_STREAM_RESET_DENIED)
                             ? "denied" : "failed");
        return;
    }

    if (!(ev->strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN)) {
        /* our own outgoing reset completed: nothing left to do */
        return;
    }

    n = (ev->strreset_length - sizeof(struct sctp_stream_reset_event))
        / sizeof(uint16_t);

    if (n == 0) {
        /* every stream was reset */
        while (s->nchannels > 0) {
            ngx_calls_sctp_close_channel(s, &s->channels[0]);
        }

        return;
    }

    for (i = 0; i < n; i++) {
        memcpy(&sid, buf + sizeof(struct sctp_stream_reset_event)
                     + i * sizeof(uint16_t), sizeof(uint16_t));

        /* a stream with no channel (one we refused) needs no answer */
        ch = ngx_calls_sctp_channel(s, sid);
        if (ch != NULL) {
            ngx_calls_sctp_close_channel(s, ch);
        }
    }
}


static void
ngx_calls_sctp_close_channel(ngx_calls_sctp_t *s,
    ngx_calls_sctp_channel_t *ch)
{
    uint16_t  sid;

    sid = ch->sid;

    if (s->rbusy && s->rsid == sid) {
        ngx_calls_sctp_reasm_reset(s);
    }

    ngx_calls_sctp_reset_stream(s, sid);
    ngx_calls_sctp_channel_forget(s, ch);

    if (s->handler.close) {
        s->handler.close(s->user, sid);
    }
}


static void
ngx_calls_sctp_reset_stream(ngx_calls_sctp_t *s, uint16_t sid)
{
    socklen_t                   len;
    struct sctp_reset_streams  *srs;

    union {
        struct sctp_reset_streams  srs;
        uint8_t                    buf[sizeof(struct sctp_reset_streams)
                                       + sizeof(uint16_t)];
    } u;

    memset(&u, 0, sizeof(u));

    srs = &u.srs;
    srs->srs_assoc_id = SCTP_ALL_ASSOC;
    srs->srs_flags = SCTP_STREAM_RESET_OUTGOING;
    srs->srs_number_streams = 1;

    /* the list is a flexible array member; it lives in u.buf */
    memcpy(u.buf + sizeof(struct sctp_reset_streams), &sid, sizeof(sid));

    len = sizeof(u.buf);

    if (usrsctp_setsockopt(s->so, IPPROTO_SCTP, SCTP_RESET_STREAMS, srs, len)
        != 0)
    {
        ngx_calls_sctp_error("reset of stream %u failed: %s", (unsigned) sid,
                             strerror(errno));
    }
}


static void
ngx_calls_sctp_data(ngx_calls_sctp_t *s, const struct sctp_rcvinfo *rcv,
    const uint8_t *buf, size_t len, int eor)
{
    size_t     size;
    uint8_t   *p;
    uint16_t   sid;
    uint32_t   ppid;

    sid = rcv->rcv_sid;
    ppid = ntohl(rcv->rcv_ppid);

    if (s->rbusy && (sid != s->rsid || ppid != s->rppid)) {
        /*
         * usrsctp does not interleave messages of one association
         * (fragment interleave level 1), so this should not happen.
         */
        ngx_calls_sctp_error("message on stream %u cut by stream %u, "
                             "dropped", (unsigned) s->rsid, (unsigned) sid);
        ngx_calls_sctp_reasm_reset(s);
    }

    if (!s->rbusy) {

        if (eor) {
            /* the usual case: the whole message, straight from usrsctp */

            if (len > NGX_CALLS_SCTP_MAX_MESSAGE) {
                ngx_calls_sctp_error("message of %zu bytes on stream %u "
                                     "dropped: larger than %d", len,
                                     (unsigned) sid,
                                     NGX_CALLS_SCTP_MAX_MESSAGE);
                return;
            }

            ngx_calls_sctp_deliver(s, sid, ppid, buf, len);
            return;
        }

        s->rbusy = 1;
        s->rdrop = 0;
        s->rsid = sid;
        s->rppid = ppid;
        s->rlen = 0;
    }

    if (!s->rdrop) {

        if (len > NGX_CALLS_SCTP_MAX_MESSAGE - s->rlen) {
            ngx_calls_sctp_error("message on stream %u dropped: larger "
                                 "than %d bytes", (unsigned) sid,
                                 NGX_CALLS_SCTP_MAX_MESSAGE);

            free(s->rbuf);
            s->rbuf = NULL;
            s->rsize = 0;
            s->rlen = 0;
            s->rdrop = 1;

        } else {

            if (s->rlen + len > s->rsize) {
                size = s->rsize ? s->rsize : 2 * NGX_CALLS_SCTP_RECV_SIZE;

                while (size < s->rlen + len) {
                    size *= 2;
                }

                if (size > NGX_CALLS_SCTP_MAX_MESSAGE) {
                    size = NGX_CALLS_SCTP_MAX_MESSAGE;
                }

                p = realloc(s->rbuf, size);
                if (p == NULL) {
                    ngx_calls_sctp_error("out of memory for a message of "
                                         "%zu bytes on stream %u, dropped",
                                         s->rlen + len, (unsigned) sid);

                    free(s->rbuf);
                    s->rbuf = NULL;
                    s->rsize = 0;
                    s->rlen = 0;
                    s->rdrop = 1;

                    goto done;
                }

                s->rbuf = p;
                s->rsize = size;
            }

            memcpy(s->rbuf + s->rlen, buf, len);
            s->rlen += len;
        }
    }

done:

    if (!eor) {
        return;
    }

    if (!s->rdrop) {
        ngx_calls_sctp_deliver(s, s->rsid, s->rppid, s->rbuf, s->rlen);
    }

    /* large messages are rare: keep no buffer between them */
    ngx_calls_sctp_reasm_reset(s);
}


static void
ngx_calls_sctp_reasm_reset(ngx_calls_sctp_t *s)
{
    free(s->rbuf);
    s->rbuf = NULL;
    s->rsize = 0;
    s->rlen = 0;
    s->rbusy = 0;
    s->rdrop = 0;
}


static void
ngx_calls_sctp_deliver(ngx_calls_sctp_t *s, uint16_t sid, uint32_t ppid,
    const uint8_t *buf, size_t len)
{
    int  binary;

    switch (ppid) {

    case NGX_CALLS_SCTP_PPID_DCEP:
        ngx_calls_sctp_dcep(s, sid, buf, len);
        return;

    /* the deprecated "partial" PPIDs: each message stands alone here */
    case NGX_CALLS_SCTP_PPID_STRING:
    case NGX_CALLS_SCTP_PPID_STRING_PARTIAL:
        binary = 0;
        break;

    case NGX_CALLS_SCTP_PPID_BINARY:
    case NGX_CALLS_SCTP_PPID_BINARY_PARTIAL:
        binary = 1;
        break;

    case NGX_CALLS_SCTP_PPID_STRING_EMPTY:
        binary = 0;
        len = 0;
        break;

    case NGX_CALLS_SCTP_PPID_BINARY_EMPTY:
        binary = 1;
        len = 0;
        break;

    default:
        ngx_calls_sctp_error("message with unknown PPID %u on stream %u "
                             "dropped", (unsigned) ppid, (unsigned) sid);
        return;
    }

    if (ngx_calls_sctp_channel(s, sid) == NULL) {
        ngx_calls_sctp_error("message on stream %u, which has no channel, "
                             "dropped", (unsigned) sid);
        return;
    }

    if (s->handler.message) {
        s->handler.message(s->user, sid, binary, buf, len);
    }
}


/*
 * DATA_CHANNEL_OPEN, RFC 8832 5.1:
 *
 *   0: type 0x03, 1: channel type, 2-3: priority, 4-7: reliability,
 *   8-9: label length, 10-11: protocol length, 12-: label, protocol
 */

static void
ngx_calls_sctp_dcep(ngx_calls_sctp_t *s, uint16_t sid, const uint8_t *buf,
    size_t len)
{
    const char                *label;
    uint8_t                    type;
    uint16_t                   llen, plen;
    uint32_t                   reliability;
    ngx_calls_sctp_channel_t  *ch;

    static const uint8_t  ack = NGX_CALLS_DCEP_ACK;

    if (buf[0] == NGX_CALLS_DCEP_ACK) {
        ch = ngx_calls_sctp_channel(s, sid);

        /* an ACK of nothing we opened is harmless */
        if (ch == NULL || !ch->opening) {
            return;
        }

        ch->opening = 0;

        if (s->handler.open) {
            s->handler.open(s->user, sid, ch->label, ch->protocol);
        }

        return;
    }

    if (buf[0] != NGX_CALLS_DCEP_OPEN) {
        ngx_calls_sctp_error("DCEP message of unknown type 0x%02x on stream "
                             "%u dropped", (unsigned) buf[0], (unsigned) sid);
        return;
    }

    if (len < NGX_CALLS_DCEP_OPEN_SIZE) {
        ngx_calls_sctp_error("DATA_CHANNEL_OPEN on stream %u too short: %zu "
                             "bytes, refused", (unsigned) sid, len);
        ngx_calls_sctp_reset_stream(s, sid);
        return;
    }

    type = buf[1];
    reliability = ((uint32_t) buf[4] << 24) | ((uint32_t) buf[5] << 16)
                  | ((uint32_t) buf[6] << 8) | buf[7];
    llen = (uint16_t) ((buf[8] << 8) | buf[9]);
    plen = (uint16_t) ((buf[10] << 8) | buf[11]);

    /* bytes after the protocol are tolerated, as pion does */
    if ((size_t) llen + plen > len - NGX_CALLS_DCEP_OPEN_SIZE) {
        ngx_calls_sctp_error("DATA_CHANNEL_OPEN on stream %u: label (%u) "
                             "and protocol (%u) exceed its %zu bytes, "
                             "refused", (unsigned) sid, (unsigned) llen,
                             (unsigned) plen, len);
        ngx_calls_sctp_reset_stream(s, sid);
        return;
    }

    switch (type & ~NGX_CALLS_DCEP_UNORDERED) {

    case NGX_CALLS_DCEP_RELIABLE:
    case NGX_CALLS_DCEP_PARTIAL_REXMIT:
    case NGX_CALLS_DCEP_PARTIAL_TIMED:
        break;

    default:
        ngx_calls_sctp_error("DATA_CHANNEL_OPEN on stream %u: unknown "
                             "channel type 0x%02x, refused", (unsigned) sid,
                             (unsigned) type);
        ngx_calls_sctp_reset_stream(s, sid);
        return;
    }

    /*
     * An OPEN on a stream whose channel is open is a peer bug (a new
     * channel needs the stream reset first).  Keep the open channel and
     * ignore the OPEN: no second ACK, no second handler->open.
     */

    if (ngx_calls_sctp_channel(s, sid) != NULL) {
        ngx_calls_sctp_error("DATA_CHANNEL_OPEN on stream %u, which has an "
                             "open channel, ignored", (unsigned) sid);
        return;
    }

    if (s->nchannels == NGX_CALLS_SCTP_MAX_CHANNELS) {
        ngx_calls_sctp_error("DATA_CHANNEL_OPEN on stream %u: already %d "
                             "channels, refused", (unsigned) sid,
                             NGX_CALLS_SCTP_MAX_CHANNELS);
        ngx_calls_sctp_reset_stream(s, sid);
        return;
    }

    /*
     * RFC 8832 6: the DTLS client opens even streams, the server odd
     * ones.  A stream we opened is taken (above), so a wrong parity
     * collides with nothing; it is only worth a line in the log.
     */

    if ((sid % 2 == 0) == (s->client == 1)) {
        ngx_calls_sctp_error("peer opened stream %u with our DTLS role's "
                             "parity; accepted", (unsigned) sid);
    }

    label = (char *) buf + NGX_CALLS_DCEP_OPEN_SIZE;

    ch = ngx_calls_sctp_channel_add(s, sid, type, reliability, label, llen,
                                    label + llen, plen);
    if (ch == NULL) {
        ngx_calls_sctp_error("out of memory for the channel on stream %u, "
                             "refused", (unsigned) sid);
        ngx_calls_sctp_reset_stream(s, sid);
        return;
    }

    /* the ACK goes ordered and reliable whatever the channel's type */
    if (ngx_calls_sctp_sendv(s, sid, NGX_CALLS_SCTP_PPID_DCEP,
                             NGX_CALLS_DCEP_RELIABLE, 0, &ack, 1)
        != 0)
    {
        ngx_calls_sctp_error("DATA_CHANNEL_ACK on stream %u not sent, "
                             "channel refused", (unsigned) sid);
        ngx_calls_sctp_channel_forget(s, ch);
        ngx_calls_sctp_reset_stream(s, sid);
        return;
    }

    if (s->handler.open) {
        s->handler.open(s->user, sid, ch->label, ch->protocol);
    }
}


static ngx_calls_sctp_channel_t *
ngx_calls_sctp_channel(ngx_calls_sctp_t *s, uint16_t sid)
{
    unsigned  i;

    for (i = 0; i < s->nchannels; i++) {
        if (s->channels[i].sid == sid) {
            return &s->channels[i];
        }
    }

    return NULL;
}


static ngx_calls_sctp_channel_t *
ngx_calls_sctp_channel_add(ngx_calls_sctp_t *s, uint16_t sid, uint8_t type,
    uint32_t reliability, const char *label, size_t llen,
    const char *protocol, size_t plen)
{
    char                      *p;
    ngx_calls_sctp_channel_t  *ch;

    /* label and protocol in one allocation, each NUL-terminated */
    p = malloc(llen + plen + 2);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, label, llen);
    p[llen] = '\0';
    memcpy(p + llen + 1, protocol, plen);
    p[llen + 1 + plen] = '\0';

    ch = &s->channels[s->nchannels++];
    ch->sid = sid;
    ch->type = type;
    ch->reliability = reliability;
    ch->label = p;
    ch->protocol = p + llen + 1;
    ch->opening = 0;

    return ch;
}


static void
ngx_calls_sctp_channel_forget(ngx_calls_sctp_t *s,
    ngx_calls_sctp_channel_t *ch)
{
    free(ch->label);

    /* order does not matter: move the last one into the hole */
    *ch = s->channels[--s->nchannels];
}
