
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_SCTP_H_INCLUDED_
#define _NGX_CALLS_SCTP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * SCTP over DTLS (RFC 8261, RFC 8841) with usrsctp in its no-threads mode,
 * plus the Data Channel Establishment Protocol (RFC 8832) and the data
 * channel PPIDs of RFC 8831.  usrsctp never sees a socket: SCTP packets
 * come in through ngx_calls_sctp_input() and leave through handler->send
 * (into DTLS).  Its timers run when the caller calls
 * ngx_calls_sctp_timers() from its event loop.
 *
 * All callbacks run synchronously inside ngx_calls_sctp_input(),
 * ngx_calls_sctp_send() or ngx_calls_sctp_timers().  A callback must not
 * free the association; it may call ngx_calls_sctp_send().  handler->send
 * runs inside usrsctp (also from ngx_calls_sctp_free(), for the ABORT):
 * it must only hand the packet to DTLS and call nothing of this module.
 */


#define NGX_CALLS_SCTP_DEFAULT_PORT     5000
#define NGX_CALLS_SCTP_MAX_MESSAGE      262144   /* a=max-message-size */


typedef struct ngx_calls_sctp_s  ngx_calls_sctp_t;


typedef struct {
    /* one SCTP packet for DTLS; returns 0 or -1 */
    int    (*send)(void *user, const uint8_t *buf, size_t len);

    /* the association is up (COMMUNICATION_UP) */
    void   (*up)(void *user);

    /* the association is gone (shutdown, abort, restart refused) */
    void   (*down)(void *user);

    /*
     * a channel is open: the peer opened it with DCEP and we acknowledged
     * it, or the peer acknowledged one we opened (ngx_calls_sctp_open())
     */
    void   (*open)(void *user, uint16_t sid, const char *label,
                   const char *protocol);

    /* one complete message (reassembled); binary: PPID 53/57 */
    void   (*message)(void *user, uint16_t sid, int binary,
                      const uint8_t *buf, size_t len);

    /* the peer reset the stream of a channel */
    void   (*close)(void *user, uint16_t sid);
} ngx_calls_sctp_handler_t;


/*
 * Once per process: usrsctp_init_nothreads().  log, when not NULL,
 * receives usrsctp's debug output and this module's messages (lines that
 * end in a newline).  Returns 0 or -1.
 */
int ngx_calls_sctp_init(void (*log)(const char *fmt, ...));

/* drives usrsctp's timers; call every 10 ms or so while associations live */
void ngx_calls_sctp_timers(uint32_t elapsed_ms);

/*
 * whether a packet went in or out since the last call: what needs the
 * 10 ms tick (delayed SACKs, retransmissions, the handshake) comes with
 * traffic
 */
int ngx_calls_sctp_busy(void);

/*
 * associations created and not yet freed in this process (0: the caller
 * may stop the timer)
 */
unsigned ngx_calls_sctp_count(void);

/*
 * New association between local_port and remote_port (a=sctp-port of the
 * two sides).  Both roles send an INIT, as browsers and pion do; SCTP
 * resolves the collision.  client != 0 says we are the DTLS client, so
 * the peer opens channels on odd streams (RFC 8832 6).
 * Returns NULL with a message in err on failure.
 */
ngx_calls_sctp_t *ngx_calls_sctp_create(uint16_t local_port,
    uint16_t remote_port, int client, const ngx_calls_sctp_handler_t *h,
    void *user, char *err, size_t errlen);

/* aborts the association if still up and frees everything */
void ngx_calls_sctp_free(ngx_calls_sctp_t *s);

/* one SCTP packet from DTLS */
void ngx_calls_sctp_input(ngx_calls_sctp_t *s, const uint8_t *buf,
    size_t len);

/*
 * Opens a reliable, ordered channel on stream sid with DATA_CHANNEL_OPEN,
 * as a browser does for createDataChannel(): the DTLS client uses even
 * streams, the server odd ones (RFC 8832 6).  handler->open follows the
 * peer's ACK; messages may be sent before it.  Returns 0, or -1 when the
 * association is not up, the stream has a channel, or the OPEN was not
 * sent.
 */
int ngx_calls_sctp_open(ngx_calls_sctp_t *s, uint16_t sid,
    const char *label, const char *protocol);

/*
 * One message on an open channel, ordered and reliable unless the peer's
 * DATA_CHANNEL_OPEN asked otherwise.  An empty message is sent with the
 * "empty" PPIDs.  Returns 0, or -1 when the association is not up, the
 * channel is unknown or the send buffer is full.
 */
int ngx_calls_sctp_send(ngx_calls_sctp_t *s, uint16_t sid, int binary,
    const uint8_t *buf, size_t len);


#endif /* _NGX_CALLS_SCTP_H_INCLUDED_ */
