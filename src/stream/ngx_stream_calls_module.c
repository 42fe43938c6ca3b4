
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
 * leave from the same socket with sendto(), or sendmsg() with the local
 * address pinned when the listener is a wildcard.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_stream.h>
#include <ifaddrs.h>
#include <net/if.h>

#include "ngx_calls.h"


#define NGX_STREAM_CALLS_BATCH     32
#define NGX_STREAM_CALLS_ROUNDS    8        /* batches per read event */
#define NGX_STREAM_CALLS_DGRAM     2048


typedef struct {
    ngx_flag_t                   enabled;
    ngx_str_t                    host_override;
    ngx_array_t                 *override_addrs;  /* ngx_str_t, IPs */
    ngx_int_t                    port_override;
    ngx_flag_t                   loopback;
    ngx_array_t                 *listen;          /* ngx_stream_listen_t */
} ngx_stream_calls_srv_conf_t;


typedef struct {
    ngx_calls_listener_t         listener;
    ngx_listening_t             *ls;
    unsigned                     wildcard:1;
} ngx_stream_calls_listener_t;


static void ngx_stream_calls_handler(ngx_stream_session_t *s);
static void ngx_stream_calls_recv(ngx_event_t *rev);
static ngx_int_t ngx_stream_calls_send(ngx_calls_listener_t *l,
    ngx_calls_path_t *path, u_char *buf, size_t len);
static ngx_int_t ngx_stream_calls_candidates(ngx_cycle_t *cycle,
    ngx_stream_calls_srv_conf_t *cscf);
static ngx_int_t ngx_stream_calls_add_candidate(ngx_array_t *cands,
    struct sockaddr *sa, in_port_t port, ngx_uint_t tcp);
static ngx_int_t ngx_stream_calls_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_stream_calls_postconfiguration(ngx_conf_t *cf);
static void *ngx_stream_calls_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_calls_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_stream_calls_media(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_calls_host_override(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_conf_num_bounds_t  ngx_stream_calls_port_bounds = {
    ngx_conf_check_num_bounds, 1, 65535
};


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
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_calls_srv_conf_t, port_override),
      &ngx_stream_calls_port_bounds },

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
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* one batch of datagrams: the process reads one listener at a time */
static u_char            ngx_stream_calls_bufs[NGX_STREAM_CALLS_BATCH]
                                              [NGX_STREAM_CALLS_DGRAM];
static struct mmsghdr    ngx_stream_calls_msgs[NGX_STREAM_CALLS_BATCH];
static struct iovec      ngx_stream_calls_iov[NGX_STREAM_CALLS_BATCH];
static ngx_sockaddr_t    ngx_stream_calls_peers[NGX_STREAM_CALLS_BATCH];
static u_char            ngx_stream_calls_cmsg[NGX_STREAM_CALLS_BATCH][128];


/*
 * A stream session reaches here only for ICE-TCP connections: UDP
 * datagrams never make sessions once the listener is taken over.
 */

static void
ngx_stream_calls_handler(ngx_stream_session_t *s)
{
    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "calls: %s connection on the media port closed: "
                  "ICE-TCP is not supported yet",
                  s->connection->type == SOCK_STREAM ? "TCP" : "UDP");

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

            return;
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
            return;
        }
    }

    /* more is waiting: the level-triggered event brings us back */
}


static ngx_int_t
ngx_stream_calls_send(ngx_calls_listener_t *listener, ngx_calls_path_t *path,
    u_char *buf, size_t len)
{
    ssize_t                       n;
    ngx_err_t                     err;
    struct iovec                  iov;
    struct msghdr                 msg;
    struct cmsghdr               *cmsg;
    ngx_stream_calls_listener_t  *l;
    u_char                        control[64];

    l = (ngx_stream_calls_listener_t *) listener;

    if (!l->wildcard) {
        n = sendto(l->listener.connection->fd, buf, len, 0,
                   (struct sockaddr *) &path->peer, path->peer_len);

    } else {

        /* pin the source address: the one the peer talks to */

        ngx_memzero(&msg, sizeof(struct msghdr));
        ngx_memzero(control, sizeof(control));

        iov.iov_base = buf;
        iov.iov_len = len;

        msg.msg_name = &path->peer;
        msg.msg_namelen = path->peer_len;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);

        cmsg = CMSG_FIRSTHDR(&msg);

#if (NGX_HAVE_INET6 && NGX_HAVE_IPV6_RECVPKTINFO)
        if (path->local.ss_family == AF_INET6) {
            struct in6_pktinfo  *pkt6;

            cmsg->cmsg_level = IPPROTO_IPV6;
            cmsg->cmsg_type = IPV6_PKTINFO;
            cmsg->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
            pkt6 = (struct in6_pktinfo *) CMSG_DATA(cmsg);
            pkt6->ipi6_addr =
                ((struct sockaddr_in6 *) &path->local)->sin6_addr;
            msg.msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));

        } else
#endif
        {
            struct in_pktinfo  *pkt;

            cmsg->cmsg_level = IPPROTO_IP;
            cmsg->cmsg_type = IP_PKTINFO;
            cmsg->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
            pkt = (struct in_pktinfo *) CMSG_DATA(cmsg);
            pkt->ipi_spec_dst =
                ((struct sockaddr_in *) &path->local)->sin_addr;
            msg.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
        }

        n = sendmsg(l->listener.connection->fd, &msg, 0);
    }

    if (n == -1) {
        err = ngx_socket_errno;

        /* a full socket buffer drops the packet; it is counted upstream */
        if (err != NGX_EAGAIN) {
            ngx_log_error(NGX_LOG_INFO, l->listener.connection->log, err,
                          "calls: sending %uz bytes failed", len);
        }

        return NGX_ERROR;
    }

    return NGX_OK;
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
        l->listener.connection = ls[i].connection;
        l->ls = &ls[i];
        l->wildcard = ls[i].wildcard;

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

    return ngx_stream_calls_candidates(cycle, cscf);
}


/*
 * The host candidates: the override addresses, else the listen addresses,
 * else (wildcard) the addresses of the machine's interfaces, loopback only
 * when asked for.
 */

static ngx_int_t
ngx_stream_calls_candidates(ngx_cycle_t *cycle,
    ngx_stream_calls_srv_conf_t *cscf)
{
    in_port_t              port;
    ngx_str_t             *addr;
    ngx_uint_t             i, j, tcp;
    ngx_array_t           *cands;
    ngx_sockaddr_t         sa;
    struct ifaddrs        *ifa, *ifp;
    ngx_stream_listen_t   *lsn;
    ngx_calls_candidate_t *c;

    cands = ngx_array_create(cycle->pool, 4, sizeof(ngx_calls_candidate_t));
    if (cands == NULL) {
        return NGX_ERROR;
    }

    lsn = cscf->listen->elts;

    for (i = 0; i < cscf->listen->nelts; i++) {

        tcp = (lsn[i].type == SOCK_STREAM);

        /* ICE-TCP is not served yet: no TCP candidates */
        if (tcp) {
            continue;
        }

        port = ngx_inet_get_port(lsn[i].sockaddr);
        if (cscf->port_override != NGX_CONF_UNSET) {
            port = (in_port_t) cscf->port_override;
        }

        if (cscf->override_addrs) {
            addr = cscf->override_addrs->elts;

            for (j = 0; j < cscf->override_addrs->nelts; j++) {
                c = ngx_array_push(cands);
                if (c == NULL) {
                    return NGX_ERROR;
                }

                ngx_memzero(c, sizeof(ngx_calls_candidate_t));
                ngx_cpystrn((u_char *) c->addr, addr[j].data,
                            ngx_min(addr[j].len + 1, sizeof(c->addr)));
                c->port = port;
                c->tcp = tcp;
            }

            continue;
        }

        if (!lsn[i].wildcard) {
            if (ngx_stream_calls_add_candidate(cands, lsn[i].sockaddr, port,
                                               tcp)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (getifaddrs(&ifa) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "calls: getifaddrs() failed");
            return NGX_ERROR;
        }

        for (ifp = ifa; ifp; ifp = ifp->ifa_next) {

            if (ifp->ifa_addr == NULL
                || !(ifp->ifa_flags & IFF_UP)
                || ifp->ifa_addr->sa_family != lsn[i].sockaddr->sa_family)
            {
                continue;
            }

            if ((ifp->ifa_flags & IFF_LOOPBACK) && !cscf->loopback) {
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

            ngx_memcpy(&sa, ifp->ifa_addr,
                       ifp->ifa_addr->sa_family == AF_INET
                       ? sizeof(struct sockaddr_in)
                       : sizeof(struct sockaddr_in6));

            if (ngx_stream_calls_add_candidate(cands, &sa.sockaddr, port, tcp)
                != NGX_OK)
            {
                freeifaddrs(ifa);
                return NGX_ERROR;
            }
        }

        freeifaddrs(ifa);
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
ngx_stream_calls_add_candidate(ngx_array_t *cands, struct sockaddr *sa,
    in_port_t port, ngx_uint_t tcp)
{
    size_t                  len;
    u_char                  text[NGX_SOCKADDR_STRLEN];
    ngx_calls_candidate_t  *c;

    len = ngx_sock_ntop(sa, sa->sa_family == AF_INET
                            ? sizeof(struct sockaddr_in)
                            : sizeof(struct sockaddr_in6),
                        text, sizeof(text), 0);

    c = ngx_array_push(cands);
    if (c == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(c, sizeof(ngx_calls_candidate_t));
    ngx_cpystrn((u_char *) c->addr, text, ngx_min(len + 1, sizeof(c->addr)));
    c->port = port;
    c->tcp = tcp;

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
     *     conf->listen = NULL;
     */

    conf->enabled = NGX_CONF_UNSET;
    conf->port_override = NGX_CONF_UNSET;
    conf->loopback = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_stream_calls_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_stream_calls_srv_conf_t *prev = parent;
    ngx_stream_calls_srv_conf_t *conf = child;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_value(conf->port_override, prev->port_override,
                         NGX_CONF_UNSET);
    ngx_conf_merge_value(conf->loopback, prev->loopback, 0);

    if (conf->override_addrs == NULL) {
        conf->override_addrs = prev->override_addrs;
        conf->host_override = prev->host_override;
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

    if (cscf->override_addrs != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cscf->host_override = value[1];

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
