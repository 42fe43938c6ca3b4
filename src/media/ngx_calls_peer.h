
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_PEER_H_INCLUDED_
#define _NGX_CALLS_PEER_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ngx_calls_dtls.h"
#include "ngx_calls_offer.h"


/*
 * The client end of a session, as the Calls client's RTCPeerConnection
 * is: it offers (the data channel, then its tracks) and answers the
 * server's offers (ngx_calls_offer.c), checks ICE as the controlling
 * agent with USE-CANDIDATE (or answers the checks of a server that
 * offered first), takes the DTLS role the exchange gave it, opens
 * calls-dc with DCEP, and protects and unprotects RTP.  Made for the load
 * generator and the tests, from the engine's modules in their client
 * roles; it shares no state with the server's sessions.
 *
 * The caller owns the socket and the clock (ms): it passes datagrams in
 * with ngx_calls_peer_input(), sends what the send handler gives it, and
 * calls ngx_calls_peer_timer() when asked.  usrsctp's timers are the
 * process's (ngx_calls_media_tick()).
 */


typedef struct ngx_calls_peer_s  ngx_calls_peer_t;


typedef enum {
    NGX_CALLS_PEER_CONNECTED = 1,            /* ICE and DTLS up, SRTP keys */
    NGX_CALLS_PEER_DC_OPEN,                  /* calls-dc acknowledged */
    NGX_CALLS_PEER_FAILED                    /* text: why; free it */
} ngx_calls_peer_ev_e;


typedef struct {
    /* one datagram to the remote address; 0 or -1 */
    int    (*send)(void *user, const struct sockaddr *to, socklen_t tolen,
                   const uint8_t *buf, size_t len);

    /* JSON for the signaling: NGX_CALLS_RTC_SDP {"type","sdp"} */
    void   (*signal)(void *user, unsigned rtc_type, const char *json,
                     size_t len);

    void   (*event)(void *user, ngx_calls_peer_ev_e ev, const char *text);

    /*
     * An RTP packet.  clear: it was unprotected (its payload is plain
     * text); otherwise only its header is readable (one packet in
     * conf.sample is unprotected).
     */
    void   (*rtp)(void *user, const uint8_t *buf, size_t len, int clear);

    /* an unprotected RTCP compound packet; may be NULL */
    void   (*rtcp)(void *user, const uint8_t *buf, size_t len);

    /* a message on calls-dc; may be NULL */
    void   (*dc)(void *user, int binary, const uint8_t *buf, size_t len);
} ngx_calls_peer_handler_t;


typedef struct {
    ngx_calls_dtls_ctx_t     *dtls;
    const char               *candidate;     /* our host candidate, or NULL */
    unsigned                  sample;        /* 0: unprotect no RTP */
    unsigned                  calls_dc:1;    /* open calls-dc */
    void                     *user;
} ngx_calls_peer_conf_t;


/* NULL with the reason in err */
ngx_calls_peer_t *ngx_calls_peer_create(const ngx_calls_peer_conf_t *conf,
    const ngx_calls_peer_handler_t *handler, char *err, size_t errlen);
void ngx_calls_peer_free(ngx_calls_peer_t *p);

/* our description, to add tracks before an offer */
ngx_calls_offer_t *ngx_calls_peer_description(ngx_calls_peer_t *p);

/* sends our offer through handler->signal; 0 or -1 */
int ngx_calls_peer_offer(ngx_calls_peer_t *p, uint64_t now);

/*
 * Signaling from the other side, JSON: a description {"type":"offer" or
 * "answer","sdp":...} (an offer is answered through handler->signal), a
 * candidate {"type":"candidate","candidate":{...}} or an
 * RTCIceCandidateInit {"candidate":"candidate:..."}.  Returns 0, or -1
 * with the reason in err.
 */
int ngx_calls_peer_signal(ngx_calls_peer_t *p, const char *json, size_t len,
    uint64_t now, char *err, size_t errlen);

/* one datagram from the other side; buf is modified in place */
void ngx_calls_peer_input(ngx_calls_peer_t *p, const struct sockaddr *from,
    socklen_t fromlen, uint8_t *buf, size_t len, uint64_t now);

/* what is due now; returns when to call again (absolute ms), 0: never */
uint64_t ngx_calls_peer_timer(ngx_calls_peer_t *p, uint64_t now);

/*
 * Protects and sends one RTP or RTCP packet: buf has
 * NGX_CALLS_SRTP_TRAILER spare bytes after len.  0, or -1 when not
 * connected or the send failed.
 */
int ngx_calls_peer_send_rtp(ngx_calls_peer_t *p, uint8_t *buf, size_t len);

/* a message on calls-dc; 0 or -1 */
int ngx_calls_peer_dc_send(ngx_calls_peer_t *p, int binary,
    const uint8_t *buf, size_t len);

int ngx_calls_peer_connected(ngx_calls_peer_t *p);


#endif /* _NGX_CALLS_PEER_H_INCLUDED_ */
