
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _LOADGEN_H_INCLUDED_
#define _LOADGEN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ngx_calls_dtls.h"
#include "ngx_calls_peer.h"
#include "ngx_calls_srtp.h"


/*
 * The load generator: simulated Calls clients in one event loop (or
 * several forked loops), each with its signaling connection, its UDP
 * socket(s) and the client end of a WebRTC session (ngx_calls_peer).
 * A backend speaks one server's signaling: ngx_calls' standalone
 * WebSocket, Janus' VideoRoom, or the plain UDP reflector that stands for
 * the machine's limit.  The media part is the same for all of them.
 */


#define LG_MAX_STREAMS       32          /* received streams per client */
#define LG_MAX_LEGS          2           /* PeerConnections per client */
#define LG_MAX_PKT           1500
#define LG_STAMP_LEN         16          /* the tail of every payload */
#define LG_STAMP_MAGIC       0x4c475331  /* "LGS1" */
#define LG_VIDEO_PAYLOAD     1100        /* bytes of VP8 per packet */
#define LG_HIST_BUCKETS      1344
#define LG_MAX_WORKERS       64

#define LG_PT_OPUS           111
#define LG_PT_VP8            96


/* a log-linear histogram of microseconds: 32 buckets per octave */
typedef struct {
    uint64_t                  n;
    uint64_t                  max;
    uint64_t                  sum;
    uint32_t                  b[LG_HIST_BUCKETS];
} lg_hist_t;


enum {
    LG_AUDIO = 0,
    LG_VIDEO,
    LG_KINDS
};


/*
 * What one process measured; the processes' results are added up.
 * Packet and byte counts of the window are taken between its start and
 * its end; joins are counted whenever they happen.
 */
typedef struct {
    uint64_t                  clients;
    uint64_t                  joined;        /* signaling join answered */
    uint64_t                  connected;     /* ICE + DTLS up */
    uint64_t                  dc_open;
    uint64_t                  failed;
    uint64_t                  signaling_errors;
    uint64_t                  glare;         /* our offer dropped, redone */

    uint64_t                  sent[LG_KINDS];        /* in the window */
    uint64_t                  sent_bytes[LG_KINDS];
    uint64_t                  recv[LG_KINDS];
    uint64_t                  recv_bytes[LG_KINDS];
    uint64_t                  expected[LG_KINDS];    /* by sequence */
    uint64_t                  late_sends;    /* the loop was behind */
    uint64_t                  send_errors;
    uint64_t                  keyframes;     /* sent on PLI or FIR */
    uint64_t                  rtcp_in;       /* compounds from the server */
    uint64_t                  rtcp_out;      /* our receiver reports */
    uint64_t                  streams;       /* received, at the end */
    uint64_t                  streams_wanted;

    lg_hist_t                 latency[LG_KINDS];     /* sampled */
    lg_hist_t                 join_dc;       /* join -> calls-dc open */
    lg_hist_t                 join_connected;
    lg_hist_t                 join_audio;    /* join -> first audio in */

    double                    cpu_user;      /* the load generator's own */
    double                    cpu_sys;
} lg_result_t;


typedef struct lg_s         lg_t;
typedef struct lg_client_s  lg_client_t;
typedef struct lg_ws_s      lg_ws_t;


/* one received stream: counted by its header, timed by a sample */
typedef struct {
    uint32_t                  ssrc;
    unsigned                  kind;
    unsigned                  leg;           /* the leg it comes on */
    unsigned                  started:1;
    uint32_t                  ext_seq;       /* highest, extended */
    uint32_t                  first_seq;
    uint64_t                  received;
    uint64_t                  bytes;

    /* at the window's start */
    uint32_t                  w_ext_seq;
    uint64_t                  w_received;
    uint64_t                  w_bytes;
    unsigned                  w_started:1;
} lg_stream_t;


/* what an epoll event points to starts with one of these */
#define LG_IO_LEG            1
#define LG_IO_WS             2


/* one PeerConnection of a client: its socket and its peer */
typedef struct {
    unsigned                  io;            /* LG_IO_LEG */
    lg_client_t              *client;
    int                       fd;
    uint16_t                  port;
    ngx_calls_peer_t         *peer;
    uint64_t                  peer_at;       /* ngx_calls_peer_timer() */
    unsigned                  connected:1;
    unsigned                  dc_open:1;
    unsigned                  sends:1;       /* our media goes here */
    unsigned                  receives:1;    /* others' media comes here */
    int                       id;            /* the backend's handle */
} lg_leg_t;


/* what a sender sends: one RTP stream */
typedef struct {
    unsigned                  on:1;
    unsigned                  keyframe:1;    /* the next frame is one */
    uint32_t                  ssrc[2];       /* per simulcast layer */
    uint16_t                  seq[2];
    uint32_t                  ts;
    uint64_t                  next_at;       /* us */
    uint64_t                  key_at;        /* us, the next keyframe */
    unsigned                  frame;
    uint16_t                  picture_id;
} lg_sender_t;


struct lg_client_s {
    lg_t                     *lg;
    unsigned                  index;         /* in the whole run */
    unsigned                  call;
    unsigned                  part;          /* in its call */
    unsigned                  unmuted:1;
    unsigned                  screen:1;

    unsigned                  joined:1;
    unsigned                  connected:1;
    unsigned                  dc_open:1;
    unsigned                  failed:1;
    unsigned                  left:1;
    unsigned                  heard:1;       /* first audio in */

    char                      room[64];
    char                      session_id[64];
    char                      user_id[32];   /* rtcd: ours */
    char                      call_id[32];
    char                      stream_id[40];
    char                      screen_stream_id[40];

    lg_ws_t                  *ws;
    lg_leg_t                  legs[LG_MAX_LEGS];
    unsigned                  nlegs;
    void                     *bk;            /* the backend's state */

    uint64_t                  join_at;       /* us, when it starts */
    uint64_t                  t_join;        /* us, it started */
    uint64_t                  next_at;       /* us, its next wake-up */
    size_t                    heap;          /* index in the timer heap */
    uint64_t                  rr_at;

    lg_sender_t               audio;
    lg_sender_t               video;
    uint16_t                  twcc_seq;

    lg_stream_t               streams[LG_MAX_STREAMS];
    unsigned                  nstreams;
};


typedef struct {
    const char               *name;

    /* once, before the client processes are forked; 0 or -1 */
    int                     (*prepare)(lg_t *lg);

    /* in each client process; 0 or -1 */
    int                     (*init)(lg_t *lg);

    /* starts a client's signaling (its join); 0 or -1 */
    int                     (*join)(lg_client_t *c, uint64_t now);

    /* what is due for the client (signaling timers); next time or 0 */
    uint64_t                (*timer)(lg_client_t *c, uint64_t now);

    /* one datagram on leg that is not for its peer; may be NULL */
    void                    (*input)(lg_leg_t *leg, uint8_t *buf, size_t len,
                                     uint64_t now);

    /* the peer of leg has a description to signal (ngx_calls_peer) */
    void                    (*signal)(lg_leg_t *leg, unsigned rtc_type,
                                      const char *json, size_t len);

    /* one RTP packet of ours, clear, with SRTP room after it; 0 or -1 */
    int                     (*send)(lg_client_t *c, lg_leg_t *leg,
                                    uint8_t *buf, size_t len);

    void                    (*leave)(lg_client_t *c);
} lg_backend_t;


typedef struct {
    /* what to simulate */
    unsigned                  calls;
    unsigned                  participants;  /* per call */
    unsigned                  unmuted;       /* per call */
    unsigned                  screens;       /* per call, 0 or 1 */
    unsigned                  simulcast:1;
    unsigned                  audio_bitrate; /* bit/s, Opus target */
    unsigned                  video_bitrate; /* bit/s, of the top layer */
    unsigned                  fps;
    double                    ramp;          /* s, joins spread over it */
    double                    settle;        /* s, after the last join */
    double                    duration;      /* s, the measured window */
    unsigned                  sample;        /* unprotect 1 in N */
    unsigned                  procs;
    const char               *room_prefix;

    /* where */
    const char               *backend;
    const char               *url;           /* ws://host:port/path */
    const char               *media_host;    /* the reflector */
    uint16_t                  media_port;
    const char               *bind_addr;     /* our sockets' address */

    /* the server's processes, for CPU and memory */
    int                       server_pid;

    const char               *json;          /* results file */
    unsigned                  verbose;
    unsigned                  quiet:1;
} lg_conf_t;


struct lg_s {
    lg_conf_t                 conf;
    const lg_backend_t       *backend;
    unsigned                  proc;          /* this process, 0.. */
    int                       ep;            /* epoll */
    ngx_calls_dtls_ctx_t     *dtls;

    lg_client_t              *clients;
    unsigned                  nclients;

    lg_client_t             **heap;
    size_t                    nheap;

    uint64_t                  t0;            /* us, monotonic */
    uint64_t                  window_start;
    uint64_t                  window_end;
    uint64_t                  stop_at;
    unsigned                  in_window:1;
    unsigned                  window_done:1;

    uint64_t                  rx_realtime_ns;  /* of the datagram at hand */

    lg_result_t               res;

    /* a ring of encoded Opus frames, replayed */
    uint8_t                  *opus;
    uint16_t                 *opus_len;
    unsigned                  opus_n;

    void                     *bk;            /* the backend's, per process */
};


extern lg_t  *lg_self;


/* loadgen.c */
uint64_t lg_now_us(void);
uint64_t lg_realtime_ns(void);
void lg_log(lg_t *lg, unsigned level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void lg_client_fail(lg_client_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lg_client_wake(lg_client_t *c, uint64_t at);
int lg_leg_open(lg_client_t *c, lg_leg_t *leg);
int lg_leg_peer(lg_client_t *c, lg_leg_t *leg, unsigned calls_dc);
void lg_leg_timer(lg_leg_t *leg, uint64_t now);
int lg_fd_add(lg_t *lg, int fd, uint32_t events, void *ptr);
int lg_fd_mod(lg_t *lg, int fd, uint32_t events, void *ptr);
void lg_fd_del(lg_t *lg, int fd);
int lg_send_to(int fd, const struct sockaddr *to, socklen_t tolen,
    const uint8_t *buf, size_t len);

/* peer events a backend passes on */
void lg_peer_event(lg_leg_t *leg, ngx_calls_peer_ev_e ev, const char *text);

/* the client starts or stops sending */
void lg_start_audio(lg_client_t *c, uint64_t now);
void lg_start_video(lg_client_t *c, uint64_t now);
void lg_joined(lg_client_t *c, uint64_t now);

/* lg_media.c */
int lg_media_init(lg_t *lg);
void lg_media_free(lg_t *lg);
uint64_t lg_media_send(lg_client_t *c, uint64_t now);
void lg_media_rtp(lg_client_t *c, lg_leg_t *leg, const uint8_t *buf,
    size_t len, int clear);
void lg_media_rtcp(lg_client_t *c, const uint8_t *buf, size_t len);
void lg_media_reports(lg_client_t *c, lg_leg_t *leg, uint64_t now);
void lg_media_window(lg_t *lg, int end);
unsigned lg_stream_kind(lg_leg_t *leg, uint8_t pt);

void lg_hist_add(lg_hist_t *h, uint64_t v);
void lg_hist_merge(lg_hist_t *to, const lg_hist_t *from);
uint64_t lg_hist_pct(const lg_hist_t *h, double pct);

/* lg_ws.c: a WebSocket client on a non-blocking socket */

typedef struct {
    void    (*open)(lg_ws_t *ws, void *data);
    void    (*message)(lg_ws_t *ws, void *data, int binary,
                       const uint8_t *buf, size_t len);
    void    (*closed)(lg_ws_t *ws, void *data, const char *why);
} lg_ws_handler_t;

/* headers: more header lines of the upgrade request, each with CRLF */
lg_ws_t *lg_ws_connect(lg_t *lg, const char *url, const char *headers,
    const lg_ws_handler_t *handler, void *data, char *err, size_t errlen);
int lg_ws_send(lg_ws_t *ws, int binary, const void *buf, size_t len);
int lg_ws_send_json(lg_ws_t *ws, void *cjson);   /* consumes it */
void lg_ws_close(lg_ws_t *ws);
void lg_ws_event(lg_ws_t *ws, uint32_t events);

/* lg_calls.c: the Calls client's steps, for either of its signalings */
int lg_calls_client(lg_client_t *c);
void lg_calls_start(lg_client_t *c, uint64_t now);
void lg_calls_signal_in(lg_client_t *c, const char *json, size_t len,
    uint64_t now);
void lg_calls_signal(lg_leg_t *leg, unsigned rtc_type, const char *json,
    size_t len);
int lg_calls_send(lg_client_t *c, lg_leg_t *leg, uint8_t *buf, size_t len);
void lg_calls_leave(lg_client_t *c);

/* lg_rtcd.c: an action of a client, through the plugin's connection */
int lg_rtcd_action(lg_client_t *c, const char *action, const char *data);

/* the backends */
extern const lg_backend_t  lg_backend_calls;
extern const lg_backend_t  lg_backend_rtcd;
extern const lg_backend_t  lg_backend_janus;
extern const lg_backend_t  lg_backend_reflector;


#endif /* _LOADGEN_H_INCLUDED_ */
