
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_MEDIA_H_INCLUDED_
#define _NGX_CALLS_MEDIA_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/socket.h>


/*
 * The media engine: the WebRTC side of the SFU, with no nginx in it.
 *
 * It takes datagrams (with the path they came on), signaling messages
 * (JSON strings as the Calls client and rtcd exchange them) and the time,
 * and gives back datagrams to send, events for the signaling side and the
 * time it next wants to be called.  The glue owns sockets, timers, lookups
 * by address and by ICE ufrag, and the lifetime of sessions: when the
 * engine reports a session closed, the glue destroys it.
 *
 * One engine per process (an nginx worker); it is single-threaded.
 */


typedef struct ngx_calls_call_s     ngx_calls_call_t;
typedef struct ngx_calls_session_s  ngx_calls_session_t;


/* log levels, as nginx's (the glue maps them 1:1) */
#define NGX_CALLS_LOG_ERR        4
#define NGX_CALLS_LOG_WARN       5
#define NGX_CALLS_LOG_INFO       7
#define NGX_CALLS_LOG_DEBUG      8


/* A network path: where a datagram came from, on which local socket. */
typedef struct {
    struct sockaddr_storage   peer;
    socklen_t                 peer_len;
    struct sockaddr_storage   local;         /* our address it arrived at */
    socklen_t                 local_len;
    void                     *transport;     /* the glue's socket object */
    unsigned                  tcp:1;         /* RFC 4571 framed */
} ngx_calls_path_t;


/* A local candidate to advertise (host, UDP or passive TCP). */
typedef struct {
    char                      addr[64];      /* IP literal or host name */
    uint16_t                  port;
    unsigned                  tcp:1;
} ngx_calls_candidate_t;


typedef enum {
    /* JSON for the client: {"type":"answer"|"offer","sdp":...} or
     * {"type":"candidate","candidate":{...}}; rtc_type says which */
    NGX_CALLS_MEDIA_EV_SIGNAL = 1,
    NGX_CALLS_MEDIA_EV_ERROR,                /* text: what was refused */
    NGX_CALLS_MEDIA_EV_CONNECTED,            /* ICE and DTLS are up */
    NGX_CALLS_MEDIA_EV_DC_OPEN,              /* calls-dc is open */
    NGX_CALLS_MEDIA_EV_VOICE_ON,
    NGX_CALLS_MEDIA_EV_VOICE_OFF,
    NGX_CALLS_MEDIA_EV_CLOSED,               /* text: why; destroy it now */
    NGX_CALLS_MEDIA_EV_STAT                  /* a measurement, for metrics */
} ngx_calls_media_ev_e;


/*
 * What a STAT event measures (rtcd's metrics, service/perf/metrics.go);
 * value and, where one applies, the label in text.
 */
typedef enum {
    NGX_CALLS_STAT_CONNECTION_TIME = 1,      /* s, join -> ICE+DTLS up */
    NGX_CALLS_STAT_DC_OPEN_TIME,             /* s, first answer -> DC open */
    NGX_CALLS_STAT_LOCK_GRAB_TIME,           /* s, waiting for the lock */
    NGX_CALLS_STAT_LOCK_LOCKED_TIME,         /* s, the lock held */
    NGX_CALLS_STAT_CLIENT_LOSS_RATE,         /* fraction, from calls-dc */
    NGX_CALLS_STAT_CLIENT_RTT,               /* s, from calls-dc */
    NGX_CALLS_STAT_CLIENT_JITTER,            /* s, from calls-dc */
    NGX_CALLS_STAT_ERROR,                    /* 1; label: rtp, signaling,
                                              * ice, track,
                                              * signaling_lock_timeout */
    NGX_CALLS_STAT_CONN_STATE,               /* 1; label: connected,
                                              * disconnected, failed,
                                              * closed */
    NGX_CALLS_STAT_TRACK_IN,                 /* +1/-1; label: MIME type */
    NGX_CALLS_STAT_TRACK_OUT                 /* +1/-1; label: MIME type */
} ngx_calls_stat_e;


/* rtc.Message types of rtcd (service/rtc/msg.go), used in both modes */
#define NGX_CALLS_RTC_ICE        1
#define NGX_CALLS_RTC_SDP        2
#define NGX_CALLS_RTC_MUTE       3
#define NGX_CALLS_RTC_UNMUTE     4
#define NGX_CALLS_RTC_SCREEN_ON  5
#define NGX_CALLS_RTC_SCREEN_OFF 6
#define NGX_CALLS_RTC_VOICE_ON   7
#define NGX_CALLS_RTC_VOICE_OFF  8
#define NGX_CALLS_RTC_VIDEO_ON   9
#define NGX_CALLS_RTC_VIDEO_OFF  10


typedef struct {
    ngx_calls_media_ev_e      type;
    unsigned                  rtc_type;      /* SIGNAL: RTC_ICE or RTC_SDP */
    const char               *text;
    size_t                    len;
    ngx_calls_stat_e          stat;          /* STAT */
    double                    value;         /* STAT */
} ngx_calls_media_event_t;


/* Counters: every drop has one.  The glue may place them in shared memory. */
typedef enum {
    NGX_CALLS_CNT_RX_PACKETS = 0,
    NGX_CALLS_CNT_RX_BYTES,
    NGX_CALLS_CNT_TX_PACKETS,
    NGX_CALLS_CNT_TX_BYTES,
    NGX_CALLS_CNT_RTP_FORWARDED,             /* packets, per receiver */
    NGX_CALLS_CNT_STUN_ANSWERED,
    NGX_CALLS_CNT_ROLE_CONFLICTS,            /* 487 sent */
    NGX_CALLS_CNT_RTP_RETRANSMITTED,         /* answers to receivers' NACKs */
    NGX_CALLS_CNT_NACKS_SENT,                /* our NACKs to senders */
    NGX_CALLS_CNT_KEYFRAME_REQUESTS,         /* our PLIs to senders */
    NGX_CALLS_CNT_HANDED_OVER,               /* datagrams sent to the home
                                                worker of their session */

    NGX_CALLS_CNT_DROP_FIRST,
    NGX_CALLS_CNT_DROP_UNKNOWN_PROTO = NGX_CALLS_CNT_DROP_FIRST,
    NGX_CALLS_CNT_DROP_STUN_MALFORMED,
    NGX_CALLS_CNT_DROP_STUN_NOT_REQUEST,     /* not a Binding Request */
    NGX_CALLS_CNT_DROP_STUN_UNKNOWN_USER,    /* ufrag of no live session */
    NGX_CALLS_CNT_DROP_STUN_BAD_INTEGRITY,
    NGX_CALLS_CNT_DROP_UNKNOWN_PATH,         /* non-STUN from unknown 5-tuple */
    NGX_CALLS_CNT_DROP_DTLS_UNVERIFIED,      /* DTLS before ICE succeeded */
    NGX_CALLS_CNT_DROP_DTLS_STATE,           /* DTLS after failure/close */
    NGX_CALLS_CNT_DROP_SRTP_NOT_READY,       /* SRTP before DTLS finished */
    NGX_CALLS_CNT_DROP_SRTP_AUTH,
    NGX_CALLS_CNT_DROP_SRTP_REPLAY,
    NGX_CALLS_CNT_DROP_RTP_MALFORMED,
    NGX_CALLS_CNT_DROP_RTCP_MALFORMED,
    NGX_CALLS_CNT_DROP_RTP_UNKNOWN_SSRC,
    NGX_CALLS_CNT_DROP_RTP_MUTED,
    NGX_CALLS_CNT_DROP_SEND_FAILED,
    NGX_CALLS_CNT_DROP_DC_MALFORMED,
    NGX_CALLS_CNT_DROP_RTX_MISSING,          /* NACKed, no longer buffered */
    NGX_CALLS_CNT_DROP_BUS_FULL,             /* home worker's ring full */
    NGX_CALLS_CNT_DROP_LAST,

    NGX_CALLS_CNT_N = NGX_CALLS_CNT_DROP_LAST
} ngx_calls_counter_e;

/* metric label of a counter: "rx_packets", "drop_stun_malformed" ... */
const char *ngx_calls_counter_name(ngx_calls_counter_e c);


typedef struct {
    /* one datagram (or one RFC 4571 frame payload) on path */
    int     (*send)(ngx_calls_path_t *path, const uint8_t *buf, size_t len);

    /* an event of session s; data is the session's glue data */
    void    (*event)(ngx_calls_session_t *s, void *data,
                     const ngx_calls_media_event_t *ev);

    /* s wants ngx_calls_session_timer() at `when' (absolute ms) */
    void    (*timer)(ngx_calls_session_t *s, void *data, uint64_t when);

    void    (*log)(unsigned level, const char *fmt, va_list args);
} ngx_calls_media_handler_t;


typedef struct {
    ngx_calls_media_handler_t    handler;
    struct ngx_calls_dtls_ctx_s *dtls;       /* made at configuration time */
    uint64_t                    *counters;   /* NGX_CALLS_CNT_N slots */
} ngx_calls_media_conf_t;


/*
 * Process-wide setup: SRTP, usrsctp (no threads).  Returns 0, or -1 with a
 * message in err.
 */
int ngx_calls_media_init(const ngx_calls_media_conf_t *conf, char *err,
    size_t errlen);
void ngx_calls_media_done(void);

/*
 * usrsctp's timers.  Returns the delay (ms) after which the caller should
 * call again, or 0 when no association is alive.
 */
unsigned ngx_calls_media_tick(uint64_t now);


/* calls */

ngx_calls_call_t *ngx_calls_call_create(const char *call_id, void *data);
/* only once every session of the call is destroyed */
void ngx_calls_call_destroy(ngx_calls_call_t *call);
size_t ngx_calls_call_sessions(ngx_calls_call_t *call);


/* sessions */

typedef struct {
    const char                  *session_id;
    const char                  *user_id;
    const char                  *ufrag;      /* our ICE credentials */
    const char                  *pwd;
    const ngx_calls_candidate_t *candidates;
    size_t                       ncandidates;
    unsigned                     av1_support:1;
    unsigned                     dc_signaling:1;
    void                        *data;       /* the glue's, given back */
} ngx_calls_session_conf_t;

/* NULL with a message in err on failure */
ngx_calls_session_t *ngx_calls_session_create(ngx_calls_call_t *call,
    const ngx_calls_session_conf_t *conf, uint64_t now, char *err,
    size_t errlen);

/* detaches from its call (receivers stop getting its media) and frees */
void ngx_calls_session_destroy(ngx_calls_session_t *s);

const char *ngx_calls_session_id(ngx_calls_session_t *s);

/*
 * Signaling input: data is the JSON string the client sent (rtcd's rtc
 * message data).  type is one of NGX_CALLS_RTC_*.  Returns 0; or -1 after
 * an ERROR event that says what was wrong (the session lives on).
 */
int ngx_calls_session_signal(ngx_calls_session_t *s, unsigned type,
    const char *data, size_t len, uint64_t now);

/*
 * Ends the session: an orderly DTLS/SCTP shutdown where possible, then a
 * CLOSED event with reason.
 */
void ngx_calls_session_close(ngx_calls_session_t *s, const char *reason,
    uint64_t now);


/* packets */

#define NGX_CALLS_IN_OK          0
#define NGX_CALLS_IN_NEW_PATH    1           /* glue: map path -> session */
#define NGX_CALLS_IN_DROP       -1           /* counted and dropped */

/*
 * One datagram on path for session s (the glue found s by the path, or by
 * the ufrag of a STUN request).  buf is modified in place.  arrival_us is
 * when it arrived (the kernel's receive timestamp, in microseconds on any
 * clock that counts time as now does), for congestion control; 0 when
 * unknown.  Returns NGX_CALLS_IN_NEW_PATH when a STUN check proved a new
 * path for s.
 */
int ngx_calls_session_input(ngx_calls_session_t *s, ngx_calls_path_t *path,
    uint8_t *buf, size_t len, uint64_t arrival_us, uint64_t now);

/* the path's transport went away (a TCP connection closed) */
void ngx_calls_session_path_gone(ngx_calls_session_t *s, void *transport,
    uint64_t now);

void ngx_calls_session_timer(ngx_calls_session_t *s, uint64_t now);

void ngx_calls_count(ngx_calls_counter_e c, uint64_t n);


#endif /* _NGX_CALLS_MEDIA_H_INCLUDED_ */
