
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The media port: "calls_media" in a stream server with "listen ... udp".
 *
 * nginx's own UDP path makes a pseudo-connection and a pool for every
 * client address and reads one datagram per system call.  For media the
 * listener's read handler is replaced in init_process: datagrams are read
 * in batches with recvmmsg() and handed to ngx_calls_deliver(), which
 * finds the session by address (or by ICE ufrag for a new path).  Replies
 * leave from the same socket, the local address pinned when the listener
 * is a wildcard.  They are queued and sent in batches with sendmmsg():
 * one forwarded packet becomes as many datagrams as the call has
 * receivers, and a system call for each was a third of a worker's time.
 * The queue is sent when it is full, when another socket's datagram
 * comes, and at the end of the event loop's iteration (a posted event),
 * so nothing waits for longer than the work at hand.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_stream.h>
#include <ifaddrs.h>
#include <net/if.h>

#include "ngx_calls.h"
#include "ngx_calls_handoff.h"
#include "ngx_stream_calls_tcp.h"


#define NGX_STREAM_CALLS_BATCH     32
#define NGX_STREAM_CALLS_ROUNDS    8        /* batches per read event */
#define NGX_STREAM_CALLS_DGRAM     2048
#define NGX_STREAM_CALLS_OUT       64       /* datagrams per sendmmsg() */
#define NGX_STREAM_CALLS_PKTINFO   64       /* room for a pktinfo cmsg */


/* an external address for a local one: EXT/INT, or found by STUN */
typedef struct {
    ngx_str_t                    local;           /* as ngx_sock_ntop() */
    ngx_str_t                    external;
} ngx_stream_calls_nat_t;


/* rtcd's ice_host_port_override map: localIP/port */
typedef struct {
    ngx_str_t                    local;
    in_port_t                    port;
} ngx_stream_calls_port_t;


typedef struct {
    ngx_flag_t                   enabled;
    ngx_str_t                    host_override;
    ngx_array_t                 *override_addrs;  /* ngx_str_t, IPs */
    ngx_array_t                 *nat;             /* ngx_stream_calls_nat_t */
    ngx_int_t                    port_override;
    ngx_array_t                 *port_map;        /* ngx_stream_calls_port_t */
    ngx_flag_t                   loopback;
    ngx_array_t                 *ice_servers;     /* ngx_calls_ice_server_t */
    ngx_addr_t                  *stun;            /* the first stun: one */
    ngx_uint_t                   nstun;           /* its addresses */
    ngx_str_t                    stun_url;
    ngx_array_t                 *discovered;      /* ngx_stream_calls_nat_t */
    ngx_str_t                    turn_secret;
    time_t                       turn_expiry;
    ngx_uint_t                   nack_buffer_size;
    ngx_array_t                 *listen;          /* ngx_stream_listen_t */
} ngx_stream_calls_srv_conf_t;


/* a local address media is received on */
typedef struct {
    ngx_sockaddr_t               sockaddr;
    socklen_t                    socklen;
    ngx_str_t                    text;
    in_port_t                    port;
    unsigned                     listened:1;      /* not an interface's */
    unsigned                     loopback:1;
    unsigned                     any:1;           /* a wildcard's own */
} ngx_stream_calls_local_t;


typedef struct {
    ngx_calls_listener_t         listener;
    ngx_listening_t             *ls;
    unsigned                     wildcard:1;
} ngx_stream_calls_listener_t;


static void ngx_stream_calls_handler(ngx_stream_session_t *s);
static void ngx_stream_calls_recv(ngx_event_t *rev);
static ngx_int_t ngx_stream_calls_send(ngx_calls_listener_t *l,
    ngx_calls_path_t *path, u_char *buf, size_t len);
static void ngx_stream_calls_pktinfo(struct msghdr *msg, u_char *control,
    ngx_calls_path_t *path);
static void ngx_stream_calls_flush(void);
static void ngx_stream_calls_flush_listener(ngx_calls_listener_t *l);
static void ngx_stream_calls_flush_handler(ngx_event_t *ev);
static ngx_int_t ngx_stream_calls_candidates(ngx_cycle_t *cycle,
    ngx_stream_calls_srv_conf_t *cscf);
static ngx_int_t ngx_stream_calls_add_candidates(ngx_array_t *cands,
    ngx_stream_calls_srv_conf_t *cscf, ngx_array_t *locals, ngx_int_t override,
    ngx_uint_t tcp);
static ngx_array_t *ngx_stream_calls_locals(ngx_log_t *log, ngx_pool_t *pool,
    ngx_stream_calls_srv_conf_t *cscf, int type);
static ngx_int_t ngx_stream_calls_add_local(ngx_array_t *locals,
    ngx_pool_t *pool, struct sockaddr *sa, in_port_t port, ngx_uint_t listened,
    ngx_uint_t loopback, ngx_uint_t any);
static ngx_str_t *ngx_stream_calls_external(ngx_stream_calls_srv_conf_t *cscf,
    ngx_stream_calls_local_t *local);
static ngx_int_t ngx_stream_calls_add_candidate(ngx_array_t *cands,
    ngx_str_t *addr, in_port_t port, ngx_uint_t tcp);
static ngx_int_t ngx_stream_calls_discover(ngx_conf_t *cf,
    ngx_stream_calls_srv_conf_t *cscf);
static ngx_int_t ngx_stream_calls_ip(ngx_pool_t *pool, ngx_str_t *text,
    ngx_str_t *norm);
static ngx_int_t ngx_stream_calls_init_process(ngx_cycle_t *cycle);
static void ngx_stream_calls_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_stream_calls_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_stream_calls_check_turn(ngx_conf_t *cf,
    ngx_stream_calls_srv_conf_t *cscf);
static void *ngx_stream_calls_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_calls_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_stream_calls_media(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_calls_host_override(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_stream_calls_nat_pairs(ngx_conf_t *cf,
    ngx_stream_calls_srv_conf_t *cscf, ngx_str_t *value);
static char *ngx_stream_calls_port_override(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_stream_calls_ice_servers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_stream_calls_ice_url(ngx_conf_t *cf,
    ngx_stream_calls_srv_conf_t *cscf, ngx_calls_ice_server_t *server,
    ngx_str_t *url);
static char *ngx_stream_calls_check_turn_secret(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_stream_calls_check_turn_expiry(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_stream_calls_check_nack(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_post_handler_pt  ngx_stream_calls_turn_secret_post =
    ngx_stream_calls_check_turn_secret;

static ngx_conf_post_handler_pt  ngx_stream_calls_turn_expiry_post =
    ngx_stream_calls_check_turn_expiry;

static ngx_conf_post_handler_pt  ngx_stream_calls_nack_post =
    ngx_stream_calls_check_nack;


static ngx_command_t  ngx_stream_calls_commands[] = {

    { ngx_string("calls_media"),
      NGX_STREAM_SRV_CONF|NGX_CONF_NOARGS,
      ngx_stream_calls_media,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("calls_ice_host_override"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_calls_host_override,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("calls_ice_host_port_override"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_calls_port_override,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("calls_ice_servers"),
      NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_stream_calls_ice_servers,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("calls_turn_static_auth_secret"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_calls_srv_conf_t, turn_secret),
      &ngx_stream_calls_turn_secret_post },

    { ngx_string("calls_turn_credentials_expiration"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_calls_srv_conf_t, turn_expiry),
      &ngx_stream_calls_turn_expiry_post },

    { ngx_string("calls_nack_buffer_size"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_calls_srv_conf_t, nack_buffer_size),
      &ngx_stream_calls_nack_post },

    { ngx_string("calls_ice_loopback"),
      NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_calls_srv_conf_t, loopback),
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_calls_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_stream_calls_postconfiguration,    /* postconfiguration */
    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */
    ngx_stream_calls_create_srv_conf,      /* create server configuration */
    ngx_stream_calls_merge_srv_conf        /* merge server configuration */
};


ngx_module_t  ngx_stream_calls_module = {
    NGX_MODULE_V1,
    &ngx_stream_calls_module_ctx,          /* module context */
    ngx_stream_calls_commands,             /* module directives */
    NGX_STREAM_MODULE,                     /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_stream_calls_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_stream_calls_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* STUN discovery asks of each family in turn */
static int  ngx_stream_calls_families[] = { AF_INET, AF_INET6 };


/* one batch of datagrams: the process reads one listener at a time */
static u_char            ngx_stream_calls_bufs[NGX_STREAM_CALLS_BATCH]
                                              [NGX_STREAM_CALLS_DGRAM];
static struct mmsghdr    ngx_stream_calls_msgs[NGX_STREAM_CALLS_BATCH];
static struct iovec      ngx_stream_calls_iov[NGX_STREAM_CALLS_BATCH];
static ngx_sockaddr_t    ngx_stream_calls_peers[NGX_STREAM_CALLS_BATCH];
static u_char            ngx_stream_calls_cmsg[NGX_STREAM_CALLS_BATCH][128];

/* the datagrams waiting to be sent, all from one socket */
static u_char            ngx_stream_calls_out[NGX_STREAM_CALLS_OUT]
                                             [NGX_STREAM_CALLS_DGRAM];
static struct mmsghdr    ngx_stream_calls_out_msgs[NGX_STREAM_CALLS_OUT];
static struct iovec      ngx_stream_calls_out_iov[NGX_STREAM_CALLS_OUT];
static ngx_sockaddr_t    ngx_stream_calls_out_peers[NGX_STREAM_CALLS_OUT];
static u_char            ngx_stream_calls_out_cmsg[NGX_STREAM_CALLS_OUT]
                                                  [NGX_STREAM_CALLS_PKTINFO];
static ngx_uint_t        ngx_stream_calls_nout;
static ngx_connection_t *ngx_stream_calls_out_conn;
static ngx_event_t       ngx_stream_calls_flush_event;


/*
 * A stream session reaches here only for ICE-TCP connections
 * (ngx_stream_calls_tcp.c): UDP datagrams never make sessions once the
 * listener is taken over.
 */

static void
ngx_stream_calls_handler(ngx_stream_session_t *s)
{
    if (s->connection->type == SOCK_STREAM) {
        ngx_stream_calls_tcp_init(s);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "calls: UDP session on the media port closed");

    ngx_stream_finalize_session(s, NGX_STREAM_OK);
}


static void
ngx_stream_calls_recv(ngx_event_t *rev)
{
    int                           n, i, round;
    uint64_t                      arrival;
    ngx_err_t                     err;
    struct msghdr                *mh;
    struct cmsghdr               *cmsg;
    ngx_connection_t             *c;
    ngx_calls_path_t              path;
    ngx_stream_calls_listener_t  *l;

    c = rev->data;
    l = c->data;

    for (round = 0; round < NGX_STREAM_CALLS_ROUNDS; round++) {

        for (i = 0; i < NGX_STREAM_CALLS_BATCH; i++) {
            ngx_stream_calls_iov[i].iov_base = ngx_stream_calls_bufs[i];
            ngx_stream_calls_iov[i].iov_len = NGX_STREAM_CALLS_DGRAM;

            mh = &ngx_stream_calls_msgs[i].msg_hdr;
            mh->msg_name = &ngx_stream_calls_peers[i];
            mh->msg_namelen = sizeof(ngx_sockaddr_t);
            mh->msg_iov = &ngx_stream_calls_iov[i];
            mh->msg_iovlen = 1;
            mh->msg_control = ngx_stream_calls_cmsg[i];
            mh->msg_controllen = sizeof(ngx_stream_calls_cmsg[i]);
            mh->msg_flags = 0;
        }

        n = recvmmsg(c->fd, ngx_stream_calls_msgs, NGX_STREAM_CALLS_BATCH,
                     MSG_DONTWAIT, NULL);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err != NGX_EAGAIN && err != NGX_EINTR) {
                ngx_log_error(NGX_LOG_ALERT, c->log, err,
                              "calls: recvmmsg() failed");
            }

            break;
        }

        for (i = 0; i < n; i++) {
            mh = &ngx_stream_calls_msgs[i].msg_hdr;

            if (mh->msg_flags & MSG_TRUNC) {
                ngx_calls_count(NGX_CALLS_CNT_RX_PACKETS, 1);
                ngx_calls_count(NGX_CALLS_CNT_DROP_UNKNOWN_PROTO, 1);
                continue;
            }

            ngx_memcpy(&path.peer, mh->msg_name, mh->msg_namelen);
            path.peer_len = mh->msg_namelen;
            path.transport = &l->listener;
            path.tcp = 0;

            ngx_memcpy(&path.local, l->ls->sockaddr, l->ls->socklen);
            path.local_len = l->ls->socklen;

            arrival = 0;

            /*
             * The kernel's receive time (congestion control measures
             * delay variation, which the event loop's clock would hide),
             * and for a wildcard listener the address the datagram came
             * to, for the reply's source.
             */

            for (cmsg = CMSG_FIRSTHDR(mh);
                 cmsg != NULL;
                 cmsg = CMSG_NXTHDR(mh, cmsg))
            {
                if (cmsg->cmsg_level == SOL_SOCKET
                    && cmsg->cmsg_type == SCM_TIMESTAMPNS)
                {
                    struct timespec  ts;

                    ngx_memcpy(&ts, CMSG_DATA(cmsg), sizeof(ts));
                    arrival = (uint64_t) ts.tv_sec * 1000000
                              + ts.tv_nsec / 1000;
                    continue;
                }

#if (NGX_HAVE_IP_PKTINFO)
                if (cmsg->cmsg_level == IPPROTO_IP
                    && cmsg->cmsg_type == IP_PKTINFO)
                {
                    struct in_pktinfo   *pkt;
                    struct sockaddr_in  *sin;

                    pkt = (struct in_pktinfo *) CMSG_DATA(cmsg);
                    sin = (struct sockaddr_in *) &path.local;
                    sin->sin_addr = pkt->ipi_addr;
                }
#endif
#if (NGX_HAVE_INET6 && NGX_HAVE_IPV6_RECVPKTINFO)
                if (cmsg->cmsg_level == IPPROTO_IPV6
                    && cmsg->cmsg_type == IPV6_PKTINFO)
                {
                    struct in6_pktinfo   *pkt6;
                    struct sockaddr_in6  *sin6;

                    pkt6 = (struct in6_pktinfo *) CMSG_DATA(cmsg);
                    sin6 = (struct sockaddr_in6 *) &path.local;
                    sin6->sin6_addr = pkt6->ipi6_addr;
                }
#endif
            }

            ngx_calls_deliver(&path, ngx_stream_calls_bufs[i],
                              ngx_stream_calls_msgs[i].msg_len, arrival);
        }

        if (n < NGX_STREAM_CALLS_BATCH) {
            break;
        }
    }

    /*
     * What these datagrams made leaves now rather than after the timers
     * of this iteration; if more is waiting, the level-triggered event
     * brings us back.
     */

    ngx_stream_calls_flush();
}


static ngx_int_t
ngx_stream_calls_send(ngx_calls_listener_t *listener, ngx_calls_path_t *path,
    u_char *buf, size_t len)
{
    ngx_uint_t                    i;
    struct msghdr                *msg;
    ngx_stream_calls_listener_t  *l;

    l = (ngx_stream_calls_listener_t *) listener;

    if (len > NGX_STREAM_CALLS_DGRAM) {
        ngx_log_error(NGX_LOG_ALERT, l->listener.connection->log, 0,
                      "calls: %uz bytes do not fit a datagram", len);
        return NGX_ERROR;
    }

    if (ngx_stream_calls_nout != 0
        && ngx_stream_calls_out_conn != l->listener.connection)
    {
        ngx_stream_calls_flush();
    }

    i = ngx_stream_calls_nout++;
    ngx_stream_calls_out_conn = l->listener.connection;

    ngx_memcpy(ngx_stream_calls_out[i], buf, len);
    ngx_memcpy(&ngx_stream_calls_out_peers[i], &path->peer, path->peer_len);

    ngx_stream_calls_out_iov[i].iov_base = ngx_stream_calls_out[i];
    ngx_stream_calls_out_iov[i].iov_len = len;

    msg = &ngx_stream_calls_out_msgs[i].msg_hdr;

    msg->msg_name = &ngx_stream_calls_out_peers[i];
    msg->msg_namelen = path->peer_len;
    msg->msg_iov = &ngx_stream_calls_out_iov[i];
    msg->msg_iovlen = 1;
    msg->msg_control = NULL;
    msg->msg_controllen = 0;
    msg->msg_flags = 0;

    if (l->wildcard) {
        ngx_stream_calls_pktinfo(msg, ngx_stream_calls_out_cmsg[i], path);
    }

    if (ngx_stream_calls_nout == NGX_STREAM_CALLS_OUT) {
        ngx_stream_calls_flush();

    } else if (!ngx_stream_calls_flush_event.posted) {
        ngx_post_event(&ngx_stream_calls_flush_event, &ngx_posted_events);
    }

    return NGX_OK;
}


/* a wildcard listener's reply leaves from the address the peer talks to */

static void
ngx_stream_calls_pktinfo(struct msghdr *msg, u_char *control,
    ngx_calls_path_t *path)
{
    struct cmsghdr  *cmsg;

    ngx_memzero(control, NGX_STREAM_CALLS_PKTINFO);

    msg->msg_control = control;
    msg->msg_controllen = NGX_STREAM_CALLS_PKTINFO;

    cmsg = CMSG_FIRSTHDR(msg);

#if (NGX_HAVE_INET6 && NGX_HAVE_IPV6_RECVPKTINFO)
    if (path->local.ss_family == AF_INET6) {
        struct in6_pktinfo  *pkt6;

        cmsg->cmsg_level = IPPROTO_IPV6;
        cmsg->cmsg_type = IPV6_PKTINFO;
        cmsg->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
        pkt6 = (struct in6_pktinfo *) CMSG_DATA(cmsg);
        pkt6->ipi6_addr = ((struct sockaddr_in6 *) &path->local)->sin6_addr;
        msg->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));

        return;
    }
#endif

    {
        struct in_pktinfo  *pkt;

        cmsg->cmsg_level = IPPROTO_IP;
        cmsg->cmsg_type = IP_PKTINFO;
        cmsg->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        pkt = (struct in_pktinfo *) CMSG_DATA(cmsg);
        pkt->ipi_spec_dst = ((struct sockaddr_in *) &path->local)->sin_addr;
        msg->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
    }
}


/*
 * sendmmsg() stops at the first datagram that fails: that one is counted
 * as dropped (a full socket buffer drops it like any UDP sender would,
 * other errors are logged: an unreachable peer must not cost the others
 * their packets) and the rest go on.
 */

static void
ngx_stream_calls_flush(void)
{
    int                n;
    ngx_err_t          err;
    ngx_uint_t         i, nout;
    ngx_connection_t  *c;

    if (ngx_stream_calls_nout == 0) {
        return;
    }

    c = ngx_stream_calls_out_conn;
    nout = ngx_stream_calls_nout;

    ngx_stream_calls_nout = 0;

    if (ngx_stream_calls_flush_event.posted) {
        ngx_delete_posted_event(&ngx_stream_calls_flush_event);
    }

    i = 0;

    while (i < nout) {
        n = sendmmsg(c->fd, &ngx_stream_calls_out_msgs[i], nout - i, 0);

        if (n > 0) {
            i += n;
            continue;
        }

        err = ngx_socket_errno;

        if (err == NGX_EINTR) {
            continue;
        }

        if (err != NGX_EAGAIN) {
            ngx_log_error(NGX_LOG_INFO, c->log, err,
                          "calls: sending %uz bytes failed",
                          ngx_stream_calls_out_iov[i].iov_len);
        }

        ngx_calls_count(NGX_CALLS_CNT_DROP_SEND_FAILED, 1);
        i++;
    }
}


/* the queue is the process's: any listener flushes all of it */

static void
ngx_stream_calls_flush_listener(ngx_calls_listener_t *l)
{
    ngx_stream_calls_flush();
}


static void
ngx_stream_calls_flush_handler(ngx_event_t *ev)
{
    ngx_stream_calls_flush();
}


static ngx_int_t
ngx_stream_calls_init_process(ngx_cycle_t *cycle)
{
    int                           on;
    ngx_uint_t                    i, hooked;
    ngx_calls_conf_t             *ccf;
    ngx_listening_t              *ls;
    ngx_stream_port_t            *port;
    ngx_stream_conf_ctx_t        *ctx;
    ngx_stream_calls_listener_t  *l;
    ngx_stream_calls_srv_conf_t  *cscf;

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_calls_module);

    if (ccf->media == NULL) {
        return NGX_OK;
    }

    cscf = ccf->media;
    hooked = 0;

    ngx_stream_calls_flush_event.handler = ngx_stream_calls_flush_handler;
    ngx_stream_calls_flush_event.log = cycle->log;
    ngx_stream_calls_nout = 0;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {

        if (ls[i].type != SOCK_DGRAM
            || ls[i].handler != ngx_stream_init_connection
            || ls[i].connection == NULL)
        {
            continue;
        }

        port = ls[i].servers;

#if (NGX_HAVE_INET6)
        if (ls[i].sockaddr->sa_family == AF_INET6) {
            ctx = ((ngx_stream_in6_addr_t *) port->addrs)[0].conf.ctx;

        } else
#endif
        {
            ctx = ((ngx_stream_in_addr_t *) port->addrs)[0].conf.ctx;
        }

        if (ctx->srv_conf[ngx_stream_calls_module.ctx_index] != cscf) {
            continue;
        }

        l = ngx_pcalloc(cycle->pool, sizeof(ngx_stream_calls_listener_t));
        if (l == NULL) {
            return NGX_ERROR;
        }

        l->listener.send = ngx_stream_calls_send;
        l->listener.flush = ngx_stream_calls_flush_listener;
        l->listener.connection = ls[i].connection;
        l->ls = &ls[i];
        l->wildcard = ls[i].wildcard;

        /*
         * Every worker adds its listeners in the same order (with
         * reuseport each has its own socket of each listen), so an index
         * names the same address in all of them: a datagram handed to the
         * home worker of its session is answered from there.
         */

        if (ngx_calls_listener_add(&l->listener) != NGX_OK) {
            return NGX_ERROR;
        }

        if (l->wildcard) {
            on = 1;

#if (NGX_HAVE_INET6 && NGX_HAVE_IPV6_RECVPKTINFO)
            if (ls[i].sockaddr->sa_family == AF_INET6) {
                if (setsockopt(ls[i].fd, IPPROTO_IPV6, IPV6_RECVPKTINFO,
                               &on, sizeof(int)) == -1)
                {
                    ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                                  "calls: setsockopt(IPV6_RECVPKTINFO) "
                                  "failed");
                    return NGX_ERROR;
                }

            } else
#endif
            if (setsockopt(ls[i].fd, IPPROTO_IP, IP_PKTINFO, &on,
                           sizeof(int)) == -1)
            {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                              "calls: setsockopt(IP_PKTINFO) failed");
                return NGX_ERROR;
            }
        }

        on = 1;

        if (setsockopt(ls[i].fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(int))
            == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "calls: setsockopt(SO_TIMESTAMPNS) failed");
            return NGX_ERROR;
        }

        ls[i].connection->data = l;
        ls[i].connection->read->handler = ngx_stream_calls_recv;

        hooked++;

        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, cycle->log, 0,
                       "calls: media on %V", &ls[i].addr_text);
    }

    if (hooked == 0) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "calls: no UDP listener of the calls_media server "
                      "in this worker");
    }

    if (ngx_calls_handoff_init_process(cycle, ngx_stream_calls_tcp_adopt)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_stream_calls_candidates(cycle, cscf);
}


static void
ngx_stream_calls_exit_process(ngx_cycle_t *cycle)
{
    /* a worker going away sends what its last iteration queued */

    ngx_stream_calls_flush();

    ngx_calls_handoff_exit_process();
}


/*
 * The host candidates, as rtcd makes them: the local addresses (the
 * listen addresses, or for a wildcard the host's interfaces, loopback
 * only when asked for), each advertised as itself or as its external
 * address: the calls_ice_host_override address of its family (loopback
 * interfaces stay themselves), or an EXT/INT pair's EXT, or what STUN
 * discovery found.  The port override applies to external addresses (to
 * every candidate when nothing makes an address external).  Each
 * address and port once.  The TCP listens give passive ICE-TCP
 * candidates the same way, after the UDP ones.
 */

static ngx_int_t
ngx_stream_calls_candidates(ngx_cycle_t *cycle,
    ngx_stream_calls_srv_conf_t *cscf)
{
    ngx_int_t                  override;
    ngx_uint_t                 i, j;
    ngx_array_t               *cands, *locals;
    ngx_calls_candidate_t     *c;
    ngx_stream_calls_port_t   *pm;
    ngx_stream_calls_local_t  *l;

    cands = ngx_array_create(cycle->pool, 4, sizeof(ngx_calls_candidate_t));
    if (cands == NULL) {
        return NGX_ERROR;
    }

    locals = ngx_stream_calls_locals(cycle->log, cycle->pool, cscf,
                                     SOCK_DGRAM);
    if (locals == NULL) {
        return NGX_ERROR;
    }

    l = locals->elts;

    /* rtcd's localIP/port map: the first local address in it decides */

    override = cscf->port_override;

    if (cscf->port_map) {
        pm = cscf->port_map->elts;

        for (i = 0; i < locals->nelts && override == NGX_CONF_UNSET; i++) {
            for (j = 0; j < cscf->port_map->nelts; j++) {
                if (pm[j].local.len == l[i].text.len
                    && ngx_strncmp(pm[j].local.data, l[i].text.data,
                                   l[i].text.len) == 0)
                {
                    override = pm[j].port;
                    break;
                }
            }
        }

        if (override == NGX_CONF_UNSET) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "calls: no local address is in "
                          "calls_ice_host_port_override");
        }
    }

    if (ngx_stream_calls_add_candidates(cands, cscf, locals, override, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    locals = ngx_stream_calls_locals(cycle->log, cycle->pool, cscf,
                                     SOCK_STREAM);
    if (locals == NULL) {
        return NGX_ERROR;
    }

    if (ngx_stream_calls_add_candidates(cands, cscf, locals, override, 1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (cands->nelts == 0) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "calls: no ICE candidate to advertise: listen on an "
                      "address, use calls_ice_host_override, or "
                      "\"calls_ice_loopback on\"");
    }

    if (cands->nelts > 16) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "calls: %ui candidates, only the first 16 are "
                      "advertised", cands->nelts);
        cands->nelts = 16;
    }

    c = cands->elts;

    for (i = 0; i < cands->nelts; i++) {
        ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                      "calls: ICE candidate %s %s:%d", c[i].tcp ? "tcp"
                                                              : "udp",
                      c[i].addr, (int) c[i].port);
    }

    return ngx_calls_set_candidates(cands->elts, cands->nelts);
}


static ngx_int_t
ngx_stream_calls_add_candidates(ngx_array_t *cands,
    ngx_stream_calls_srv_conf_t *cscf, ngx_array_t *locals, ngx_int_t override,
    ngx_uint_t tcp)
{
    in_port_t                  port;
    ngx_str_t                 *ext;
    ngx_uint_t                 i, none;
    ngx_stream_calls_local_t  *l;

    none = (cscf->override_addrs == NULL && cscf->nat == NULL
            && cscf->discovered == NULL);

    l = locals->elts;

    for (i = 0; i < locals->nelts; i++) {

        ext = ngx_stream_calls_external(cscf, &l[i]);

        /* a wildcard address stands in only for an override */

        if (ext == NULL && l[i].any) {
            continue;
        }

        port = l[i].port;

        if (override != NGX_CONF_UNSET && (ext || none)) {
            port = (in_port_t) override;
        }

        if (ngx_stream_calls_add_candidate(cands, ext ? ext : &l[i].text,
                                           port, tcp)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The local addresses of the listens of a type (SOCK_DGRAM, or
 * SOCK_STREAM for ICE-TCP): each listen address, or for a wildcard one
 * the host's interfaces of its family, loopback only with
 * calls_ice_loopback.
 */

static ngx_array_t *
ngx_stream_calls_locals(ngx_log_t *log, ngx_pool_t *pool,
    ngx_stream_calls_srv_conf_t *cscf, int type)
{
    in_port_t              port;
    ngx_uint_t             i, found, lo;
    ngx_array_t           *locals;
    struct ifaddrs        *ifa, *ifp;
    ngx_stream_listen_t   *lsn;

    locals = ngx_array_create(pool, 4, sizeof(ngx_stream_calls_local_t));
    if (locals == NULL) {
        return NULL;
    }

    lsn = cscf->listen->elts;

    for (i = 0; i < cscf->listen->nelts; i++) {

        if (lsn[i].type != type) {
            continue;
        }

        port = ngx_inet_get_port(lsn[i].sockaddr);

        if (!lsn[i].wildcard) {
            if (ngx_stream_calls_add_local(locals, pool, lsn[i].sockaddr,
                                           port, 1, 0, 0)
                != NGX_OK)
            {
                return NULL;
            }

            continue;
        }

        if (getifaddrs(&ifa) == -1) {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "calls: getifaddrs() failed");
            return NULL;
        }

        found = 0;

        for (ifp = ifa; ifp; ifp = ifp->ifa_next) {

            if (ifp->ifa_addr == NULL
                || !(ifp->ifa_flags & IFF_UP)
                || ifp->ifa_addr->sa_family != lsn[i].sockaddr->sa_family)
            {
                continue;
            }

            lo = (ifp->ifa_flags & IFF_LOOPBACK) ? 1 : 0;

            if (lo && !cscf->loopback) {
                continue;
            }

#if (NGX_HAVE_INET6)
            if (ifp->ifa_addr->sa_family == AF_INET6
                && IN6_IS_ADDR_LINKLOCAL(
                       &((struct sockaddr_in6 *) ifp->ifa_addr)->sin6_addr))
            {
                continue;
            }
#endif

            if (ngx_stream_calls_add_local(locals, pool, ifp->ifa_addr, port,
                                           0, lo, 0)
                != NGX_OK)
            {
                freeifaddrs(ifa);
                return NULL;
            }

            found = 1;
        }

        freeifaddrs(ifa);

        /* a plain override advertises even when no interface matched */

        if (!found && cscf->override_addrs) {
            if (ngx_stream_calls_add_local(locals, pool, lsn[i].sockaddr,
                                           port, 1, 0, 1)
                != NGX_OK)
            {
                return NULL;
            }
        }
    }

    return locals;
}


static ngx_int_t
ngx_stream_calls_add_local(ngx_array_t *locals, ngx_pool_t *pool,
    struct sockaddr *sa, in_port_t port, ngx_uint_t listened,
    ngx_uint_t loopback, ngx_uint_t any)
{
    u_char                     text[NGX_SOCKADDR_STRLEN];
    socklen_t                  len;
    ngx_stream_calls_local_t  *l;

    len = (sa->sa_family == AF_INET) ? sizeof(struct sockaddr_in)
                                     : sizeof(struct sockaddr_in6);

    l = ngx_array_push(locals);
    if (l == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(l, sizeof(ngx_stream_calls_local_t));
    ngx_memcpy(&l->sockaddr, sa, len);

    l->socklen = len;
    l->port = port;
    l->listened = listened;
    l->loopback = loopback;
    l->any = any;

    l->text.len = ngx_sock_ntop(sa, len, text, sizeof(text), 0);
    l->text.data = ngx_pstrdup(pool, &(ngx_str_t) { l->text.len, text });
    if (l->text.data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The external address of a local one: the plain override of its family
 * (a loopback interface keeps its own, as in rtcd), an EXT/INT pair's,
 * or the STUN-found one; NULL when it is advertised as it is.
 */

static ngx_str_t *
ngx_stream_calls_external(ngx_stream_calls_srv_conf_t *cscf,
    ngx_stream_calls_local_t *local)
{
    ngx_str_t               *addr;
    ngx_uint_t               i, k, v6;
    ngx_array_t             *maps[2];
    ngx_stream_calls_nat_t  *nat;

    if (cscf->override_addrs) {
        if (local->loopback) {
            return NULL;
        }

        v6 = (local->sockaddr.sockaddr.sa_family == AF_INET6);
        addr = cscf->override_addrs->elts;

        for (i = 0; i < cscf->override_addrs->nelts; i++) {
            if ((ngx_strlchr(addr[i].data, addr[i].data + addr[i].len, ':')
                 != NULL)
                == v6)
            {
                return &addr[i];
            }
        }

        return NULL;
    }

    maps[0] = cscf->nat;
    maps[1] = cscf->discovered;

    for (k = 0; k < 2; k++) {
        if (maps[k] == NULL) {
            continue;
        }

        nat = maps[k]->elts;

        for (i = 0; i < maps[k]->nelts; i++) {
            if (nat[i].local.len == local->text.len
                && ngx_strncmp(nat[i].local.data, local->text.data,
                               local->text.len)
                   == 0)
            {
                return &nat[i].external;
            }
        }
    }

    return NULL;
}


static ngx_int_t
ngx_stream_calls_add_candidate(ngx_array_t *cands, ngx_str_t *addr,
    in_port_t port, ngx_uint_t tcp)
{
    ngx_uint_t              i;
    ngx_calls_candidate_t  *c;

    c = cands->elts;

    for (i = 0; i < cands->nelts; i++) {
        if (c[i].port == port && c[i].tcp == tcp
            && ngx_strlen(c[i].addr) == addr->len
            && ngx_strncmp(c[i].addr, addr->data, addr->len) == 0)
        {
            return NGX_OK;
        }
    }

    c = ngx_array_push(cands);
    if (c == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(c, sizeof(ngx_calls_candidate_t));
    ngx_cpystrn((u_char *) c->addr, addr->data,
                ngx_min(addr->len + 1, sizeof(c->addr)));
    c->port = port;
    c->tcp = tcp;

    return NGX_OK;
}


/*
 * rtcd: with ICE servers and no host override, the public address of
 * each local one is asked of the first STUN server, once, at startup:
 * of its address of the same family (rtcd asks over IPv6 when it is
 * enabled, and for us that is an IPv6 listen).
 */

static ngx_int_t
ngx_stream_calls_discover(ngx_conf_t *cf, ngx_stream_calls_srv_conf_t *cscf)
{
    int                        family;
    u_char                     text[NGX_SOCKADDR_STRLEN];
    ngx_uint_t                 i, j, k, n;
    ngx_addr_t                *server;
    ngx_array_t               *locals;
    ngx_calls_public_t        *pub;
    ngx_stream_calls_nat_t    *nat;
    ngx_stream_calls_local_t  *l;

    locals = ngx_stream_calls_locals(cf->log, cf->pool, cscf, SOCK_DGRAM);
    if (locals == NULL) {
        return NGX_ERROR;
    }

    pub = ngx_pcalloc(cf->pool,
                      (locals->nelts + 1) * sizeof(ngx_calls_public_t));
    if (pub == NULL) {
        return NGX_ERROR;
    }

    l = locals->elts;
    n = 0;

    for (k = 0; k < 2; k++) {

        family = ngx_stream_calls_families[k];
        server = NULL;

        for (j = 0; j < cscf->nstun; j++) {
            if (cscf->stun[j].sockaddr->sa_family == family) {
                server = &cscf->stun[j];
                break;
            }
        }

        /* loopback cannot reach a STUN server, unless it was chosen */

        for (i = 0, j = n; i < locals->nelts; i++) {
            if ((l[i].loopback && !l[i].listened) || l[i].any
                || l[i].sockaddr.sockaddr.sa_family != family)
            {
                continue;
            }

            ngx_memcpy(&pub[n].local, &l[i].sockaddr, l[i].socklen);
            pub[n].local_len = l[i].socklen;
            pub[n].error = server ? "not asked: more than 16 addresses"
                                  : "the STUN server has no address of "
                                    "this family";
            n++;
        }

        if (server == NULL || j == n) {
            continue;
        }

        if (ngx_calls_discover(cf->log, server->sockaddr, server->socklen,
                               &pub[j], n - j)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    cscf->discovered = ngx_array_create(cf->pool, n,
                                        sizeof(ngx_stream_calls_nat_t));
    if (cscf->discovered == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {

        nat = ngx_array_push(cscf->discovered);
        if (nat == NULL) {
            return NGX_ERROR;
        }

        nat->local.len = ngx_sock_ntop(&pub[i].local.sockaddr,
                                       pub[i].local_len, text, sizeof(text),
                                       0);
        nat->local.data = ngx_pstrdup(cf->pool,
                                      &(ngx_str_t) { nat->local.len, text });
        if (nat->local.data == NULL) {
            return NGX_ERROR;
        }

        if (!pub[i].found) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "calls: STUN discovery from %V by \"%V\" failed: "
                          "%s; %V is advertised as it is",
                          &nat->local, &cscf->stun_url, pub[i].error,
                          &nat->local);

            /* advertised as itself, with no port override (rtcd) */
            cscf->discovered->nelts--;
            continue;
        }

        nat->external.len = ngx_sock_ntop(&pub[i].public.sockaddr,
                                          pub[i].public_len, text,
                                          sizeof(text), 0);
        nat->external.data = ngx_pstrdup(cf->pool,
                                    &(ngx_str_t) { nat->external.len, text });
        if (nat->external.data == NULL) {
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                      "calls: STUN discovery: %V is %V to \"%V\"",
                      &nat->local, &nat->external, &cscf->stun_url);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_stream_calls_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                    i, j, udp;
    ngx_calls_conf_t             *ccf;
    ngx_stream_listen_t          *lsn, *l;
    ngx_stream_calls_srv_conf_t  *cscf, *other;
    ngx_stream_core_main_conf_t  *cmcf;

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                            ngx_calls_module);

    if (ccf->media == NULL) {
        return NGX_OK;
    }

    cscf = ccf->media;
    cmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_core_module);

    cscf->listen = ngx_array_create(cf->pool, 2, sizeof(ngx_stream_listen_t));
    if (cscf->listen == NULL) {
        return NGX_ERROR;
    }

    udp = 0;
    lsn = cmcf->listen.elts;

    for (i = 0; i < cmcf->listen.nelts; i++) {

        if (lsn[i].ctx->srv_conf[ngx_stream_calls_module.ctx_index] != cscf)
        {
            continue;
        }

        l = ngx_array_push(cscf->listen);
        if (l == NULL) {
            return NGX_ERROR;
        }

        *l = lsn[i];

        if (lsn[i].type != SOCK_DGRAM) {
            continue;
        }

        udp++;

        if (!lsn[i].reuseport && ccf->media_shared.len == 0) {
            ccf->media_shared = lsn[i].addr_text;
        }

        /*
         * The media listener is read by us, not by nginx's UDP sessions:
         * it cannot serve another stream server on the same port.
         */

        for (j = 0; j < cmcf->listen.nelts; j++) {

            other = lsn[j].ctx->srv_conf[ngx_stream_calls_module.ctx_index];

            if (other == cscf || lsn[j].type != SOCK_DGRAM
                || lsn[j].sockaddr->sa_family != lsn[i].sockaddr->sa_family
                || ngx_inet_get_port(lsn[j].sockaddr)
                   != ngx_inet_get_port(lsn[i].sockaddr))
            {
                continue;
            }

            if (lsn[i].wildcard || lsn[j].wildcard
                || ngx_cmp_sockaddr(lsn[i].sockaddr, lsn[i].socklen,
                                    lsn[j].sockaddr, lsn[j].socklen, 1)
                   == NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "calls_media: UDP %V is shared with "
                                   "another stream server", &lsn[i].addr_text);
                return NGX_ERROR;
            }
        }
    }

    if (udp == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "calls_media needs a \"listen ... udp\" in its "
                           "server");
        return NGX_ERROR;
    }

    if (ngx_stream_calls_check_turn(cf, cscf) != NGX_OK) {
        return NGX_ERROR;
    }

    ccf->ice_servers = cscf->ice_servers;
    ccf->turn_secret = cscf->turn_secret;
    ccf->turn_expiry = cscf->turn_expiry;

    if (cscf->stun && cscf->override_addrs == NULL && cscf->nat == NULL) {
        if (ngx_stream_calls_discover(cf, cscf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A TURN server is of use only with credentials: static ones, or TURN
 * REST ones made from the secret.  Without either, rtcd skips it and the
 * Calls plugin keeps it from its clients; so do we, and say so.
 */

static ngx_int_t
ngx_stream_calls_check_turn(ngx_conf_t *cf, ngx_stream_calls_srv_conf_t *cscf)
{
    ngx_str_t               *url;
    ngx_uint_t               i, rest, turn;
    ngx_calls_ice_server_t  *server;

    rest = 0;
    turn = 0;

    server = cscf->ice_servers ? cscf->ice_servers->elts : NULL;

    for (i = 0; server && i < cscf->ice_servers->nelts; i++) {

        if (!server[i].turn) {
            continue;
        }

        if (server[i].username.len) {
            turn = 1;
            continue;
        }

        if (cscf->turn_secret.len == 0) {
            url = server[i].urls->elts;

            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "calls_ice_servers \"%V\": a TURN server "
                               "without \"username=\" and \"credential=\" "
                               "needs \"calls_turn_static_auth_secret\" for "
                               "TURN REST credentials; it is not used",
                               &url[0]);
            continue;
        }

        turn = 1;
        rest = 1;
    }

    if (cscf->turn_secret.len && !rest) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"calls_turn_static_auth_secret\" is not used: "
                           "no TURN server of \"calls_ice_servers\" goes "
                           "without credentials");
    }

    if (turn) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "calls: TURN servers go to the clients of the "
                           "standalone signaling; the media engine gathers "
                           "no relay candidates of its own");
    }

    return NGX_OK;
}


static void *
ngx_stream_calls_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_calls_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_calls_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->host_override = { 0, NULL };
     *     conf->override_addrs = NULL;
     *     conf->nat = NULL;
     *     conf->port_map = NULL;
     *     conf->ice_servers = NULL;
     *     conf->stun = NULL;
     *     conf->nstun = 0;
     *     conf->stun_url = { 0, NULL };
     *     conf->discovered = NULL;
     *     conf->turn_secret = { 0, NULL };
     *     conf->listen = NULL;
     */

    conf->enabled = NGX_CONF_UNSET;
    conf->port_override = NGX_CONF_UNSET;
    conf->loopback = NGX_CONF_UNSET;
    conf->turn_expiry = NGX_CONF_UNSET;
    conf->nack_buffer_size = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_stream_calls_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_stream_calls_srv_conf_t *prev = parent;
    ngx_stream_calls_srv_conf_t *conf = child;

    ngx_calls_conf_t  *ccf;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_value(conf->loopback, prev->loopback, 0);

    if (conf->port_override == NGX_CONF_UNSET && conf->port_map == NULL) {
        conf->port_override = prev->port_override;
        conf->port_map = prev->port_map;
    }

    if (conf->override_addrs == NULL && conf->nat == NULL) {
        conf->override_addrs = prev->override_addrs;
        conf->nat = prev->nat;
        conf->host_override = prev->host_override;
    }

    if (conf->ice_servers == NULL) {
        conf->ice_servers = prev->ice_servers;
        conf->stun = prev->stun;
        conf->nstun = prev->nstun;
        conf->stun_url = prev->stun_url;
    }

    ngx_conf_merge_str_value(conf->turn_secret, prev->turn_secret, "");

    /* rtcd: turn.credentials_expiration_minutes, 1440 */
    ngx_conf_merge_sec_value(conf->turn_expiry, prev->turn_expiry,
                             1440 * 60);

    /* rtcd: 0 means its default, 256 packets */
    ngx_conf_merge_uint_value(conf->nack_buffer_size, prev->nack_buffer_size,
                              0);

    if (conf->nack_buffer_size == 0) {
        conf->nack_buffer_size = 256;
    }

    if (conf->enabled == 1) {
        ccf = (ngx_calls_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                                ngx_calls_module);
        ccf->nack_buffer_size = conf->nack_buffer_size;
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_calls_media(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_calls_srv_conf_t *cscf = conf;

    ngx_calls_conf_t             *ccf;
    ngx_stream_core_srv_conf_t   *core;

    if (cscf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    ccf = (ngx_calls_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                            ngx_calls_module);

    if (ccf->media != NULL) {
        return "is duplicate: only one stream server can serve media";
    }

    cscf->enabled = 1;
    ccf->media = cscf;

    core = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);
    core->handler = ngx_stream_calls_handler;

    return NGX_CONF_OK;
}


static char *
ngx_stream_calls_host_override(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_calls_srv_conf_t *cscf = conf;

    u_char      text[NGX_SOCKADDR_STRLEN];
    ngx_str_t  *value, *a;
    ngx_uint_t  i;
    ngx_url_t   u;

    if (cscf->override_addrs != NULL || cscf->nat != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cscf->host_override = value[1];

    /* "EXT/INT,...": explicit 1:1 NAT pairs, as rtcd passes them to pion */

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '/')) {
        return ngx_stream_calls_nat_pairs(cf, cscf, &value[1]);
    }

    cscf->override_addrs = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (cscf->override_addrs == NULL) {
        return NGX_CONF_ERROR;
    }

    /* an IP, or a host name resolved now as rtcd does at startup */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 1;
    u.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "calls_ice_host_override \"%V\": %s", &value[1],
                           u.err ? u.err : "host not found");
        return NGX_CONF_ERROR;
    }

    if (u.port != 1 || u.uri.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "calls_ice_host_override \"%V\": a host only, no "
                           "port (see calls_ice_host_port_override)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < u.naddrs; i++) {
        a = ngx_array_push(cscf->override_addrs);
        if (a == NULL) {
            return NGX_CONF_ERROR;
        }

        a->len = ngx_sock_ntop(u.addrs[i].sockaddr, u.addrs[i].socklen, text,
                               sizeof(text), 0);
        a->data = ngx_pstrdup(cf->pool, &(ngx_str_t) { a->len, text });
        if (a->data == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_calls_nat_pairs(ngx_conf_t *cf, ngx_stream_calls_srv_conf_t *cscf,
    ngx_str_t *value)
{
    u_char                  *p, *end, *comma, *slash;
    ngx_str_t                ext, in;
    ngx_stream_calls_nat_t  *nat;

    cscf->nat = ngx_array_create(cf->pool, 2, sizeof(ngx_stream_calls_nat_t));
    if (cscf->nat == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value->data;
    end = value->data + value->len;

    while (p < end) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }

        slash = ngx_strlchr(p, comma, '/');

        if (slash == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "calls_ice_host_override \"%V\": \"%*s\" is "
                               "not an EXTERNAL/INTERNAL pair of addresses",
                               value, (size_t) (comma - p), p);
            return NGX_CONF_ERROR;
        }

        ext.data = p;
        ext.len = slash - p;
        in.data = slash + 1;
        in.len = comma - (slash + 1);

        nat = ngx_array_push(cscf->nat);
        if (nat == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_stream_calls_ip(cf->pool, &ext, &nat->external) != NGX_OK
            || ngx_stream_calls_ip(cf->pool, &in, &nat->local) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "calls_ice_host_override \"%V\": \"%*s\" is "
                               "not a pair of IP addresses", value,
                               (size_t) (comma - p), p);
            return NGX_CONF_ERROR;
        }

        p = comma + 1;
    }

    return NGX_CONF_OK;
}


/* an IP literal, as ngx_sock_ntop() writes it */

static ngx_int_t
ngx_stream_calls_ip(ngx_pool_t *pool, ngx_str_t *text, ngx_str_t *norm)
{
    u_char      buf[NGX_SOCKADDR_STRLEN];
    ngx_addr_t  addr;

    if (text->len == 0
        || ngx_parse_addr(pool, &addr, text->data, text->len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    norm->len = ngx_sock_ntop(addr.sockaddr, addr.socklen, buf, sizeof(buf),
                              0);
    norm->data = ngx_pstrdup(pool, &(ngx_str_t) { norm->len, buf });

    return norm->data ? NGX_OK : NGX_ERROR;
}


/*
 * rtcd's ice_host_port_override: one port, or "localIP/port,..." (the
 * first local address in the map gives the port; no IP nor port twice).
 */

static char *
ngx_stream_calls_port_override(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_calls_srv_conf_t *cscf = conf;

    u_char                   *p, *end, *comma, *slash;
    ngx_int_t                 port;
    ngx_str_t                *value, ip;
    ngx_uint_t                i;
    ngx_stream_calls_port_t  *pm, *m;

    if (cscf->port_override != NGX_CONF_UNSET || cscf->port_map) {
        return "is duplicate";
    }

    value = cf->args->elts;

    port = ngx_atoi(value[1].data, value[1].len);

    if (port != NGX_ERROR) {
        if (port < 1 || port > 65535) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "calls_ice_host_port_override \"%V\": a port "
                               "is between 1 and 65535", &value[1]);
            return NGX_CONF_ERROR;
        }

        cscf->port_override = port;
        return NGX_CONF_OK;
    }

    cscf->port_map = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_stream_calls_port_t));
    if (cscf->port_map == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value[1].data;
    end = value[1].data + value[1].len;

    while (p < end) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }

        slash = ngx_strlchr(p, comma, '/');

        ip.data = p;
        ip.len = slash ? (size_t) (slash - p) : 0;

        port = slash ? ngx_atoi(slash + 1, comma - (slash + 1)) : NGX_ERROR;

        m = ngx_array_push(cscf->port_map);
        if (m == NULL) {
            return NGX_CONF_ERROR;
        }

        if (slash == NULL || port < 1 || port > 65535
            || ngx_stream_calls_ip(cf->pool, &ip, &m->local) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "calls_ice_host_port_override \"%V\": \"%*s\" "
                               "is not a port nor a localIP/port pair",
                               &value[1], (size_t) (comma - p), p);
            return NGX_CONF_ERROR;
        }

        m->port = (in_port_t) port;

        pm = cscf->port_map->elts;

        for (i = 0; i + 1 < cscf->port_map->nelts; i++) {
            if (pm[i].local.len == m->local.len
                && ngx_strncmp(pm[i].local.data, m->local.data,
                               m->local.len) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "calls_ice_host_port_override \"%V\": "
                                   "duplicate mapping found for %V",
                                   &value[1], &m->local);
                return NGX_CONF_ERROR;
            }

            if (pm[i].port == m->port) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "calls_ice_host_port_override \"%V\": "
                                   "duplicate port found for %d",
                                   &value[1], (int) m->port);
                return NGX_CONF_ERROR;
            }
        }

        p = comma + 1;
    }

    return NGX_CONF_OK;
}


/*
 * rtcd's ice_servers, one server per directive: its STUN and TURN URLs,
 * and for a TURN server "username=" and "credential=" (without them
 * each session gets TURN REST credentials from
 * calls_turn_static_auth_secret).  Standalone clients get them when they
 * join; the first "stun:" URL also finds the public address at startup
 * when there is no host override.
 */

static char *
ngx_stream_calls_ice_servers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_calls_srv_conf_t *cscf = conf;

    ngx_str_t               *value, *cred, *url;
    ngx_uint_t               i, turn;
    ngx_calls_ice_server_t  *server;

    if (cscf->ice_servers == NULL) {
        cscf->ice_servers = ngx_array_create(cf->pool, 2,
                                             sizeof(ngx_calls_ice_server_t));
        if (cscf->ice_servers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    server = ngx_array_push(cscf->ice_servers);
    if (server == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(server, sizeof(ngx_calls_ice_server_t));

    server->urls = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                    sizeof(ngx_str_t));
    if (server->urls == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    turn = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        cred = NULL;

        if (ngx_strncmp(value[i].data, "username=", 9) == 0) {
            cred = &server->username;
            value[i].data += 9;
            value[i].len -= 9;

        } else if (ngx_strncmp(value[i].data, "credential=", 11) == 0) {
            cred = &server->credential;
            value[i].data += 11;
            value[i].len -= 11;
        }

        if (cred) {
            if (cred->data || value[i].len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "calls_ice_servers: \"%s\" is empty or "
                                   "duplicate",
                                   cred == &server->username
                                   ? "username=" : "credential=");
                return NGX_CONF_ERROR;
            }

            *cred = value[i];
            continue;
        }

        if (ngx_stream_calls_ice_url(cf, cscf, server, &value[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (value[i].data[0] == 't') {
            turn++;
        }

        url = ngx_array_push(server->urls);
        if (url == NULL) {
            return NGX_CONF_ERROR;
        }

        *url = value[i];
    }

    if (server->urls->nelts == 0) {
        return "has no URL";
    }

    /* rtcd's ICEServerConfig.IsValid(): all STUN URLs or all TURN ones */

    if (server->turn && turn != server->urls->nelts) {
        return "mixes STUN and TURN URLs: one directive per server";
    }

    if ((server->username.len == 0) != (server->credential.len == 0)) {
        return "needs both \"username=\" and \"credential=\", or neither";
    }

    if (server->username.len && !server->turn) {
        return "has \"username=\" and \"credential=\" without a TURN URL";
    }

    return NGX_CONF_OK;
}


/*
 * A STUN or TURN URL (RFC 7064, RFC 7065): "stun:" and "stuns:"
 * host[:port], "turn:" and "turns:" host[:port][?transport=udp|tcp].
 * The first "stun:" host is resolved now, as rtcd resolves it at startup.
 */

static ngx_int_t
ngx_stream_calls_ice_url(ngx_conf_t *cf, ngx_stream_calls_srv_conf_t *cscf,
    ngx_calls_ice_server_t *server, ngx_str_t *url)
{
    u_char     *q, *end;
    size_t      skip;
    ngx_url_t   u;
    ngx_str_t   query;
    ngx_uint_t  turn, stun, secure;

    stun = url->len > 5 && ngx_strncmp(url->data, "stun:", 5) == 0;
    secure = url->len > 6 && (ngx_strncmp(url->data, "stuns:", 6) == 0
                              || ngx_strncmp(url->data, "turns:", 6) == 0);
    turn = (url->len > 5 && ngx_strncmp(url->data, "turn:", 5) == 0)
           || (secure && url->data[0] == 't');

    if (!stun && !turn && !secure) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "calls_ice_servers \"%V\": URL is not a valid "
                           "STUN/TURN server", url);
        return NGX_ERROR;
    }

    skip = secure ? 6 : 5;
    end = url->data + url->len;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = url->data + skip;
    u.url.len = url->len - skip;
    u.default_port = secure ? 5349 : 3478;
    u.no_resolve = (stun && cscf->stun == NULL) ? 0 : 1;

    ngx_str_null(&query);

    q = ngx_strlchr(u.url.data, end, '?');
    if (q) {
        u.url.len = q - u.url.data;
        query.data = q + 1;
        query.len = end - (q + 1);
    }

    if (turn && q
        && !(query.len == 13
             && (ngx_strncmp(query.data, "transport=udp", 13) == 0
                 || ngx_strncmp(query.data, "transport=tcp", 13) == 0)))
    {
        goto syntax;
    }

    /* a path is no part of these URLs; ngx_parse_url() would take it */

    if (ngx_strlchr(u.url.data, u.url.data + u.url.len, '/')) {
        goto syntax;
    }

    if (ngx_parse_url(cf->pool, &u) != NGX_OK
        || (!u.no_resolve && u.naddrs == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "calls_ice_servers \"%V\": %s", url,
                           u.err ? u.err : "host not found");
        return NGX_ERROR;
    }

    if (u.uri.len || u.host.len == 0) {
        goto syntax;
    }

    if (turn) {
        server->turn = 1;
    }

    if (!u.no_resolve) {
        cscf->stun = u.addrs;
        cscf->nstun = u.naddrs;
        cscf->stun_url = *url;
    }

    return NGX_OK;

syntax:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "calls_ice_servers \"%V\": a %s URL is host[:port]%s",
                       url, turn ? "TURN" : "STUN",
                       turn ? "[?transport=udp|tcp]" : "");
    return NGX_ERROR;
}


static char *
ngx_stream_calls_check_turn_secret(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *secret = data;

    if (secret->len == 0) {
        return "must not be empty";
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_calls_check_turn_expiry(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *tp = data;

    /* rtcd: more than 0 and less than 10080 minutes (a week) */

    if (*tp < 60 || *tp >= 10080 * 60) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"calls_turn_credentials_expiration\" must be at "
                           "least 1m and less than 7d");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_calls_check_nack(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *np = data;

    /* rtcd: 0 (its default), or a power of two from 32 to 8192 */

    if (*np != 0 && (*np < 32 || *np > 8192 || (*np & (*np - 1)))) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"calls_nack_buffer_size\" must be 0 (the "
                           "default, 256) or a power of two from 32 to "
                           "8192");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
