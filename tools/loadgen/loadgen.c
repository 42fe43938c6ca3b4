
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * ngx_calls-loadgen: simulated Calls clients against ngx_calls, Janus or
 * the bare UDP reflector, and what they measured.  See tools/loadgen/README
 * (or --help) for the options; bench/run.py drives it.
 *
 * Timeline (the same in every process, from one start time t0):
 *
 *   t0 .. t0+ramp          clients join, one every ramp/N seconds, the
 *                          first participant of every call first
 *   .. +settle             the last joins finish
 *   window                 duration seconds measured: packets, bytes,
 *                          loss, sampled latency, the server's CPU
 *   then                   every client leaves; the results are printed
 */


#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/net_tstamp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <cJSON.h>

#include "loadgen.h"
#include "ngx_calls_media.h"
#include "ngx_calls_rtp.h"


#define LG_BATCH             32
#define LG_EVENTS            256
#define LG_LEAVE_GRACE       300000      /* us */


typedef struct {
    unsigned                  n;
    int                       pid[LG_MAX_WORKERS];
    uint64_t                  cpu_ns[LG_MAX_WORKERS];
    uint64_t                  rss_kb[LG_MAX_WORKERS];
} lg_procs_t;


lg_t  *lg_self;

static volatile sig_atomic_t  lg_interrupted;

static lg_procs_t  lg_server_base;       /* before the first join */
static lg_procs_t  lg_server_start;      /* the window's start */
static lg_procs_t  lg_server_end;


static void lg_usage(FILE *f);
static int lg_options(lg_conf_t *conf, int argc, char **argv);
static int lg_backend(lg_t *lg);
static int lg_setup(lg_t *lg);
static int lg_run(lg_t *lg);
static void lg_client_run(lg_client_t *c, uint64_t now);
static void lg_leg_input(lg_leg_t *leg, uint64_t now);
static void lg_leave_all(lg_t *lg);
static int lg_sampler(lg_t *lg, int *fds, pid_t *pids);
static void lg_server_sample(lg_t *lg, lg_procs_t *p);
static uint64_t lg_process_cpu_ns(int pid);
static void lg_merge(lg_result_t *to, const lg_result_t *from);
static void lg_report(lg_t *lg);
static void lg_sleep_until(uint64_t at);
static void lg_on_signal(int sig);

static void lg_heap_set(lg_t *lg, lg_client_t *c, uint64_t at);
static void lg_heap_up(lg_t *lg, size_t i);
static void lg_heap_down(lg_t *lg, size_t i);

static int lg_peer_send(void *user, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *buf, size_t len);
static void lg_peer_signal(void *user, unsigned rtc_type, const char *json,
    size_t len);
static void lg_peer_ev(void *user, ngx_calls_peer_ev_e ev,
    const char *text);
static void lg_peer_rtp(void *user, const uint8_t *buf, size_t len,
    int clear);
static void lg_peer_rtcp(void *user, const uint8_t *buf, size_t len);
static void lg_engine_log(unsigned level, const char *fmt, va_list args);


static const ngx_calls_peer_handler_t  lg_peer_handler = {
    lg_peer_send,
    lg_peer_signal,
    lg_peer_ev,
    lg_peer_rtp,
    lg_peer_rtcp,
    NULL
};


static const struct option  lg_long_options[] = {
    { "backend",        required_argument, NULL, 'b' },
    { "url",            required_argument, NULL, 'u' },
    { "media",          required_argument, NULL, 'm' },
    { "bind",           required_argument, NULL, 'B' },
    { "calls",          required_argument, NULL, 'c' },
    { "participants",   required_argument, NULL, 'p' },
    { "unmuted",        required_argument, NULL, 'U' },
    { "screen",         no_argument,       NULL, 'S' },
    { "simulcast",      no_argument,       NULL, 'L' },
    { "audio-bitrate",  required_argument, NULL, 'a' },
    { "video-bitrate",  required_argument, NULL, 'V' },
    { "fps",            required_argument, NULL, 'f' },
    { "ramp",           required_argument, NULL, 'r' },
    { "settle",         required_argument, NULL, 's' },
    { "duration",       required_argument, NULL, 'd' },
    { "sample",         required_argument, NULL, 'n' },
    { "procs",          required_argument, NULL, 'P' },
    { "room",           required_argument, NULL, 'R' },
    { "pid",            required_argument, NULL, 'i' },
    { "json",           required_argument, NULL, 'j' },
    { "quiet",          no_argument,       NULL, 'q' },
    { "verbose",        no_argument,       NULL, 'v' },
    { "help",           no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


int
main(int argc, char **argv)
{
    int            i, fds[64], p[2], status, rc;
    pid_t          pids[64];
    lg_t          *lg;
    struct rlimit  rl;

    lg = calloc(1, sizeof(lg_t));
    if (lg == NULL) {
        return 1;
    }

    lg_self = lg;

    if (lg_options(&lg->conf, argc, argv) != 0) {
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, lg_on_signal);
    signal(SIGTERM, lg_on_signal);

    /* two sockets per client and then some */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* the schedule every process follows */
    lg->t0 = lg_now_us() + 300000;
    lg->window_start = lg->t0
                       + (uint64_t) ((lg->conf.ramp + lg->conf.settle) * 1e6);
    lg->window_end = lg->window_start
                     + (uint64_t) (lg->conf.duration * 1e6);
    lg->stop_at = lg->window_end;

    if (lg_backend(lg) != 0) {
        return 1;
    }

    if (lg->conf.server_pid) {
        lg_server_sample(lg, &lg_server_base);
    }

    if (lg->conf.procs <= 1) {
        if (lg_setup(lg) != 0) {
            return 1;
        }

        rc = lg_run(lg);
        lg_report(lg);

        return rc;
    }

    for (i = 0; i < (int) lg->conf.procs; i++) {
        if (pipe(p) != 0) {
            perror("loadgen: pipe()");
            return 1;
        }

        pids[i] = fork();

        if (pids[i] == -1) {
            perror("loadgen: fork()");
            return 1;
        }

        if (pids[i] == 0) {
            close(p[0]);
            lg->proc = i;

            if (lg_setup(lg) != 0) {
                _exit(1);
            }

            rc = lg_run(lg);

            if (write(p[1], &lg->res, sizeof(lg_result_t))
                != (ssize_t) sizeof(lg_result_t))
            {
                _exit(1);
            }

            _exit(rc);
        }

        close(p[1]);
        fds[i] = p[0];
    }

    rc = lg_sampler(lg, fds, pids);

    for (i = 0; i < (int) lg->conf.procs; i++) {
        if (waitpid(pids[i], &status, 0) == pids[i]
            && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        {
            rc = 1;
        }
    }

    lg_report(lg);

    return rc;
}


static void
lg_usage(FILE *f)
{
    fprintf(f,
"usage: loadgen [options]\n"
"  --backend calls|rtcd|janus|reflector   what the clients speak: the\n"
"                              standalone signaling (calls), the RTCD API\n"
"                              as the Calls plugin (rtcd), Janus' VideoRoom,\n"
"                              the bare reflector\n"
"  --url URL                   calls: ws://HOST:PORT/PATH of calls_signaling;\n"
"                              rtcd: http://[ID:KEY@]HOST:PORT, the plugin's\n"
"                              RTCD service URL (no credentials: register);\n"
"                              janus: ws://HOST:PORT/ of its WebSockets\n"
"  --media HOST:PORT           the reflector's UDP address\n"
"  --bind ADDR                 our sockets' address (127.0.0.1)\n"
"  --calls N                   calls (1)\n"
"  --participants N            per call (2)\n"
"  --unmuted N                 speakers per call, Opus at 50 pkt/s (1)\n"
"  --screen                    one screen share per call (its first\n"
"                              participant), VP8\n"
"  --simulcast                 the screen in two layers (h, l = h/4)\n"
"  --audio-bitrate BPS         Opus encoder target (80000, rtcd's sample)\n"
"  --video-bitrate BPS         screen share (1600000, rtcd's sample)\n"
"  --fps N                     screen frames per second (15)\n"
"  --ramp S                    joins spread over S seconds (2)\n"
"  --settle S                  then wait S seconds (2)\n"
"  --duration S                the measured window (5)\n"
"  --sample N                  unprotect and time 1 packet in N (10)\n"
"  --procs N                   client processes (1)\n"
"  --room PREFIX               call names PREFIX-<n> (random)\n"
"  --pid PID                   the server (its master): CPU and RSS of\n"
"                              its workers (or of PID if it has none)\n"
"  --json FILE                 the results as JSON\n"
"  --quiet, --verbose\n");
}


static int
lg_options(lg_conf_t *conf, int argc, char **argv)
{
    int    ch;
    char  *colon;
    static char  room[32];

    conf->backend = "calls";
    conf->url = "ws://127.0.0.1:8080/calls/ws";
    conf->bind_addr = "127.0.0.1";
    conf->calls = 1;
    conf->participants = 2;
    conf->unmuted = 1;
    conf->audio_bitrate = 80000;
    conf->video_bitrate = 1600000;
    conf->fps = 15;
    conf->ramp = 2;
    conf->settle = 2;
    conf->duration = 5;
    conf->sample = 10;
    conf->procs = 1;

    snprintf(room, sizeof(room), "lg%08lx", (unsigned long) lg_now_us());
    conf->room_prefix = room;

    while ((ch = getopt_long(argc, argv, "qvh", lg_long_options, NULL))
           != -1)
    {
        switch (ch) {
        case 'b': conf->backend = optarg; break;
        case 'u': conf->url = optarg; break;
        case 'B': conf->bind_addr = optarg; break;
        case 'c': conf->calls = atoi(optarg); break;
        case 'p': conf->participants = atoi(optarg); break;
        case 'U': conf->unmuted = atoi(optarg); break;
        case 'S': conf->screens = 1; break;
        case 'L': conf->simulcast = 1; break;
        case 'a': conf->audio_bitrate = atoi(optarg); break;
        case 'V': conf->video_bitrate = atoi(optarg); break;
        case 'f': conf->fps = atoi(optarg); break;
        case 'r': conf->ramp = atof(optarg); break;
        case 's': conf->settle = atof(optarg); break;
        case 'd': conf->duration = atof(optarg); break;
        case 'n': conf->sample = atoi(optarg); break;
        case 'P': conf->procs = atoi(optarg); break;
        case 'R': conf->room_prefix = optarg; break;
        case 'i': conf->server_pid = atoi(optarg); break;
        case 'j': conf->json = optarg; break;
        case 'q': conf->quiet = 1; break;
        case 'v': conf->verbose++; break;

        case 'm':
            colon = strrchr(optarg, ':');
            if (colon == NULL) {
                fprintf(stderr, "loadgen: --media HOST:PORT\n");
                return -1;
            }

            *colon = '\0';
            conf->media_host = optarg;
            conf->media_port = (uint16_t) atoi(colon + 1);
            break;

        case 'h':
            lg_usage(stdout);
            exit(0);

        default:
            lg_usage(stderr);
            return -1;
        }
    }

    if (optind != argc || conf->calls == 0 || conf->participants == 0
        || conf->unmuted > conf->participants || conf->fps == 0
        || conf->procs == 0 || conf->procs > 64 || conf->duration <= 0
        || conf->ramp < 0 || conf->settle < 0)
    {
        lg_usage(stderr);
        return -1;
    }

    return 0;
}


static int
lg_backend(lg_t *lg)
{
    if (strcmp(lg->conf.backend, "calls") == 0) {
        lg->backend = &lg_backend_calls;

    } else if (strcmp(lg->conf.backend, "rtcd") == 0) {
        lg->backend = &lg_backend_rtcd;

    } else if (strcmp(lg->conf.backend, "janus") == 0) {
        lg->backend = &lg_backend_janus;

    } else if (strcmp(lg->conf.backend, "reflector") == 0) {
        lg->backend = &lg_backend_reflector;

    } else {
        fprintf(stderr, "loadgen: unknown backend \"%s\"\n",
                lg->conf.backend);
        return -1;
    }

    if (lg->backend->prepare != NULL) {
        return lg->backend->prepare(lg);
    }

    return 0;
}


static int
lg_setup(lg_t *lg)
{
    char                     err[256];
    unsigned                 g, total, j, k;
    lg_client_t             *c;
    ngx_calls_media_conf_t   mc;

    lg->ep = epoll_create1(EPOLL_CLOEXEC);
    if (lg->ep == -1) {
        perror("loadgen: epoll_create1()");
        return -1;
    }

    /* the engine in its client roles; it makes no server sessions */

    lg->dtls = ngx_calls_dtls_ctx_create(NULL, NULL, err, sizeof(err));
    if (lg->dtls == NULL) {
        fprintf(stderr, "loadgen: certificate: %s\n", err);
        return -1;
    }

    memset(&mc, 0, sizeof(mc));
    mc.handler.log = lg_engine_log;
    mc.dtls = lg->dtls;

    if (ngx_calls_media_init(&mc, err, sizeof(err)) != 0) {
        fprintf(stderr, "loadgen: %s\n", err);
        return -1;
    }

    if (lg_media_init(lg) != 0) {
        return -1;
    }

    if (lg->backend->init != NULL && lg->backend->init(lg) != 0) {
        return -1;
    }

    /* this process's share of the clients, in join order */

    total = lg->conf.calls * lg->conf.participants;

    lg->clients = calloc(total / lg->conf.procs + 1, sizeof(lg_client_t));
    lg->heap = calloc(total / lg->conf.procs + 1, sizeof(lg_client_t *));

    if (lg->clients == NULL || lg->heap == NULL) {
        return -1;
    }

    for (j = 0; j < total; j++) {
        if (j % lg->conf.procs != lg->proc) {
            continue;
        }

        c = &lg->clients[lg->nclients++];

        /* the first participant of every call joins first */
        c->call = j % lg->conf.calls;
        c->part = j / lg->conf.calls;
        g = c->call * lg->conf.participants + c->part;

        c->lg = lg;
        c->index = g;
        c->unmuted = c->part < lg->conf.unmuted;
        c->screen = lg->conf.screens && c->part == 0;
        c->heap = (size_t) -1;
        c->join_at = lg->t0 + (uint64_t) (lg->conf.ramp * 1e6 * j / total);

        snprintf(c->room, sizeof(c->room), "%s-%u", lg->conf.room_prefix,
                 c->call);
        snprintf(c->stream_id, sizeof(c->stream_id),
                 "lg-%u-%08lx", g, (unsigned long) random());
        snprintf(c->screen_stream_id, sizeof(c->screen_stream_id),
                 "lg-screen-%u-%08lx", g, (unsigned long) random());

        c->audio.ssrc[0] = (uint32_t) random() | 1;
        c->video.ssrc[0] = (uint32_t) random() | 1;
        c->video.ssrc[1] = (uint32_t) random() | 1;
        c->audio.seq[0] = (uint16_t) random();
        c->video.seq[0] = (uint16_t) random();
        c->video.seq[1] = (uint16_t) random();
        c->audio.ts = (uint32_t) random();
        c->video.ts = (uint32_t) random();

        for (k = 0; k < LG_MAX_LEGS; k++) {
            c->legs[k].io = LG_IO_LEG;
            c->legs[k].client = c;
            c->legs[k].fd = -1;
        }

        lg->res.clients++;

        /* it should receive every other sender of its call */
        lg->res.streams_wanted += lg->conf.unmuted - (c->unmuted ? 1 : 0)
                                  + (lg->conf.screens && !c->screen ? 1 : 0);

        lg_heap_set(lg, c, c->join_at);
    }

    return 0;
}


static int
lg_run(lg_t *lg)
{
    int                 n, i;
    int64_t             wait;
    uint64_t            now, next, sctp_at;
    struct rusage       ru;
    struct timespec     ts;
    struct epoll_event  ev[LG_EVENTS];

    sctp_at = 0;

    for ( ;; ) {
        now = lg_now_us();

        if (lg_interrupted && lg->stop_at > now) {
            lg->stop_at = now;
        }

        /* the window: the server is sampled by process 0 alone */

        if (!lg->in_window && !lg->window_done && now >= lg->window_start) {
            lg->in_window = 1;
            lg_media_window(lg, 0);

            if (lg->conf.server_pid && lg->conf.procs <= 1) {
                lg_server_sample(lg, &lg_server_start);
            }
        }

        if (lg->in_window && now >= lg->window_end) {
            lg->in_window = 0;
            lg->window_done = 1;
            lg_media_window(lg, 1);

            if (lg->conf.server_pid && lg->conf.procs <= 1) {
                lg_server_sample(lg, &lg_server_end);
            }
        }

        if (now >= lg->stop_at && (lg->window_done || lg_interrupted)) {
            break;
        }

        if (now >= sctp_at) {
            n = ngx_calls_media_tick(now / 1000);
            sctp_at = now + (n ? n : 10) * 1000;
        }

        next = sctp_at;

        if (lg->nheap && lg->heap[0]->next_at < next) {
            next = lg->heap[0]->next_at;
        }

        if (!lg->window_done) {
            if (!lg->in_window && lg->window_start < next) {
                next = lg->window_start;
            }

            if (lg->window_end < next) {
                next = lg->window_end;
            }
        }

        wait = next > now ? (int64_t) (next - now) : 0;

        ts.tv_sec = wait / 1000000;
        ts.tv_nsec = (wait % 1000000) * 1000;

        n = epoll_pwait2(lg->ep, ev, LG_EVENTS, &ts, NULL);

        if (n == -1 && errno != EINTR) {
            perror("loadgen: epoll_pwait2()");
            return 1;
        }

        now = lg_now_us();

        for (i = 0; i < n; i++) {
            if (*(unsigned *) ev[i].data.ptr == LG_IO_LEG) {
                lg_leg_input(ev[i].data.ptr, now);

            } else {
                lg_ws_event(ev[i].data.ptr, ev[i].events);
            }
        }

        now = lg_now_us();

        while (lg->nheap && lg->heap[0]->next_at <= now) {
            lg_client_run(lg->heap[0], now);
        }
    }

    lg_leave_all(lg);
    lg_media_free(lg);

    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        lg->res.cpu_user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
        lg->res.cpu_sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    }

    return 0;
}


/* what is due for a client; then its next wake-up */

static void
lg_client_run(lg_client_t *c, uint64_t now)
{
    lg_t      *lg = c->lg;
    uint64_t   next, t;
    unsigned   i;

    next = 0;

    if (c->failed || c->left) {
        lg_heap_set(lg, c, 0);
        return;
    }

    if (c->t_join == 0) {
        if (now < c->join_at) {
            lg_heap_set(lg, c, c->join_at);
            return;
        }

        c->t_join = now;
        c->rr_at = now + 1000000;

        if (lg->backend->join(c, now) != 0) {
            lg_client_fail(c, "join failed");
            return;
        }

        if (c->failed) {
            return;
        }
    }

    for (i = 0; i < c->nlegs; i++) {
        if (c->legs[i].peer == NULL) {
            continue;
        }

        if (c->legs[i].peer_at && now >= c->legs[i].peer_at) {
            lg_leg_timer(&c->legs[i], now);

            if (c->failed) {
                return;
            }
        }

        t = c->legs[i].peer_at;

        if (t && (next == 0 || t < next)) {
            next = t;
        }
    }

    if (lg->backend->timer != NULL) {
        t = lg->backend->timer(c, now);

        if (c->failed) {
            return;
        }

        if (t && (next == 0 || t < next)) {
            next = t;
        }
    }

    t = lg_media_send(c, now);

    if (t && (next == 0 || t < next)) {
        next = t;
    }

    if (next != 0 && next <= now) {
        next = now + 1;
    }

    lg_heap_set(lg, c, next);
}


void
lg_client_wake(lg_client_t *c, uint64_t at)
{
    if (c->failed || c->left) {
        return;
    }

    if (c->heap == (size_t) -1 || at < c->next_at) {
        lg_heap_set(c->lg, c, at);
    }
}


void
lg_client_fail(lg_client_t *c, const char *fmt, ...)
{
    char      text[512];
    va_list   args;
    unsigned  i;

    /* after the leave, the server ending the session is no failure */
    if (c->failed || c->left) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);

    c->failed = 1;
    c->lg->res.failed++;

    if (c->lg->res.failed <= 5 || c->lg->conf.verbose) {
        fprintf(stderr, "loadgen: client %u (call %u): %s\n", c->index,
                c->call, text);
    }

    c->audio.on = 0;
    c->video.on = 0;

    for (i = 0; i < c->nlegs; i++) {
        if (c->legs[i].fd != -1) {
            lg_fd_del(c->lg, c->legs[i].fd);
        }
    }

    lg_heap_set(c->lg, c, 0);
}


void
lg_joined(lg_client_t *c, uint64_t now)
{
    if (!c->joined) {
        c->joined = 1;
        c->lg->res.joined++;
    }
}


/*
 * Everyone leaves, the server hears of it (and answers: rtcd's close)
 * before the peers go: their SCTP ABORTs would otherwise end the
 * sessions first.
 */

static void
lg_leave_all(lg_t *lg)
{
    int                 n, i;
    unsigned            k;
    int64_t             wait;
    uint64_t            now, until;
    lg_client_t        *c;
    struct timespec     ts;
    struct epoll_event  ev[LG_EVENTS];

    for (k = 0; k < lg->nclients; k++) {
        c = &lg->clients[k];

        if (c->t_join && !c->left && lg->backend->leave != NULL) {
            lg->backend->leave(c);
        }

        c->left = 1;
        c->audio.on = 0;
        c->video.on = 0;
    }

    until = lg_now_us() + LG_LEAVE_GRACE;

    for ( ;; ) {
        now = lg_now_us();

        if (now >= until) {
            break;
        }

        wait = until - now;
        ts.tv_sec = wait / 1000000;
        ts.tv_nsec = (wait % 1000000) * 1000;

        n = epoll_pwait2(lg->ep, ev, LG_EVENTS, &ts, NULL);

        for (i = 0; i < n; i++) {
            if (*(unsigned *) ev[i].data.ptr == LG_IO_LEG) {
                lg_leg_input(ev[i].data.ptr, now);

            } else {
                lg_ws_event(ev[i].data.ptr, ev[i].events);
            }
        }
    }

    for (k = 0; k < lg->nclients; k++) {
        c = &lg->clients[k];

        for (i = 0; i < (int) c->nlegs; i++) {
            ngx_calls_peer_free(c->legs[i].peer);
            c->legs[i].peer = NULL;

            if (c->legs[i].fd != -1) {
                close(c->legs[i].fd);
                c->legs[i].fd = -1;
            }
        }
    }
}


/* sockets */

int
lg_leg_open(lg_client_t *c, lg_leg_t *leg)
{
    int                 fd, one, size;
    socklen_t           len;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        lg_client_fail(c, "socket(): %s", strerror(errno));
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;

    if (inet_pton(AF_INET, c->lg->conf.bind_addr, &sin.sin_addr) != 1) {
        lg_client_fail(c, "--bind %s is not an IPv4 address",
                       c->lg->conf.bind_addr);
        close(fd);
        return -1;
    }

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        lg_client_fail(c, "bind(): %s", strerror(errno));
        close(fd);
        return -1;
    }

    len = sizeof(sin);
    (void) getsockname(fd, (struct sockaddr *) &sin, &len);

    /* the kernel's receive time of every datagram, for the latency */
    one = 1;
    (void) setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));

    /* room for a burst of video frames */
    size = 1 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
    {
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }

    leg->fd = fd;
    leg->port = ntohs(sin.sin_port);

    if (lg_fd_add(c->lg, fd, EPOLLIN, leg) != 0) {
        lg_client_fail(c, "epoll_ctl(): %s", strerror(errno));
        return -1;
    }

    return 0;
}


int
lg_leg_peer(lg_client_t *c, lg_leg_t *leg, unsigned calls_dc)
{
    char                   err[256], cand[128];
    ngx_calls_peer_conf_t  pc;

    snprintf(cand, sizeof(cand), "1 1 udp 2130706431 %s %u typ host",
             c->lg->conf.bind_addr, leg->port);

    memset(&pc, 0, sizeof(pc));
    pc.dtls = c->lg->dtls;
    pc.candidate = cand;
    pc.sample = c->lg->conf.sample;
    pc.calls_dc = calls_dc;
    pc.user = leg;

    leg->peer = ngx_calls_peer_create(&pc, &lg_peer_handler, err,
                                      sizeof(err));
    if (leg->peer == NULL) {
        lg_client_fail(c, "peer: %s", err);
        return -1;
    }

    return 0;
}


/* the peer's timers; and after what may have changed them */

void
lg_leg_timer(lg_leg_t *leg, uint64_t now)
{
    uint64_t  at;

    if (leg->peer == NULL || leg->client->failed) {
        return;
    }

    at = ngx_calls_peer_timer(leg->peer, now / 1000);

    if (leg->client->failed) {
        return;
    }

    leg->peer_at = at ? at * 1000 : 0;

    if (at) {
        lg_client_wake(leg->client, leg->peer_at);
    }
}


static void
lg_leg_input(lg_leg_t *leg, uint64_t now)
{
    int                  n, i, rtp;
    lg_t                *lg = leg->client->lg;
    struct cmsghdr      *cm;
    struct timespec     *ts;
    struct mmsghdr       msgs[LG_BATCH];
    struct iovec         iov[LG_BATCH];
    struct sockaddr_in   from[LG_BATCH];

    static uint8_t       bufs[LG_BATCH][LG_MAX_PKT + NGX_CALLS_SRTP_TRAILER];
    static uint8_t       ctl[LG_BATCH][64];

    for (i = 0; i < LG_BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = LG_MAX_PKT;
        memset(&msgs[i].msg_hdr, 0, sizeof(struct msghdr));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        msgs[i].msg_hdr.msg_control = ctl[i];
        msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
    }

    n = recvmmsg(leg->fd, msgs, LG_BATCH, MSG_DONTWAIT, NULL);

    if (n <= 0) {
        return;
    }

    rtp = 1;

    for (i = 0; i < n && !leg->client->failed; i++) {
        lg->rx_realtime_ns = 0;

        for (cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm;
             cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm))
        {
            if (cm->cmsg_level == SOL_SOCKET
                && cm->cmsg_type == SCM_TIMESTAMPNS)
            {
                ts = (struct timespec *) CMSG_DATA(cm);
                lg->rx_realtime_ns = (uint64_t) ts->tv_sec * 1000000000
                                     + ts->tv_nsec;
            }
        }

        if (lg->rx_realtime_ns == 0) {
            lg->rx_realtime_ns = lg_realtime_ns();
        }

        if (leg->peer == NULL) {

            /* after the leave the backend's state is gone */
            if (lg->backend->input != NULL && !leg->client->left) {
                lg->backend->input(leg, bufs[i], msgs[i].msg_len, now);
            }

            continue;
        }

        if (msgs[i].msg_len == 0) {
            continue;
        }

        if (!ngx_calls_is_rtp(bufs[i][0])) {
            rtp = 0;
        }

        ngx_calls_peer_input(leg->peer, (struct sockaddr *) &from[i],
                             msgs[i].msg_hdr.msg_namelen, bufs[i],
                             msgs[i].msg_len, now / 1000);
    }

    /* STUN and DTLS move the peer's timers; media does not */
    if (!rtp && leg->peer != NULL) {
        lg_leg_timer(leg, now);
    }
}


int
lg_send_to(int fd, const struct sockaddr *to, socklen_t tolen,
    const uint8_t *buf, size_t len)
{
    if (sendto(fd, buf, len, 0, to, tolen) == -1) {
        return -1;
    }

    return 0;
}


int
lg_fd_add(lg_t *lg, int fd, uint32_t events, void *ptr)
{
    struct epoll_event  ev;

    ev.events = events;
    ev.data.ptr = ptr;

    return epoll_ctl(lg->ep, EPOLL_CTL_ADD, fd, &ev);
}


int
lg_fd_mod(lg_t *lg, int fd, uint32_t events, void *ptr)
{
    struct epoll_event  ev;

    ev.events = events;
    ev.data.ptr = ptr;

    return epoll_ctl(lg->ep, EPOLL_CTL_MOD, fd, &ev);
}


void
lg_fd_del(lg_t *lg, int fd)
{
    (void) epoll_ctl(lg->ep, EPOLL_CTL_DEL, fd, NULL);
}


/* the peer's handler */

static int
lg_peer_send(void *user, const struct sockaddr *to, socklen_t tolen,
    const uint8_t *buf, size_t len)
{
    lg_leg_t  *leg = user;

    return lg_send_to(leg->fd, to, tolen, buf, len);
}


static void
lg_peer_signal(void *user, unsigned rtc_type, const char *json, size_t len)
{
    lg_leg_t  *leg = user;

    if (!leg->client->left) {
        leg->client->lg->backend->signal(leg, rtc_type, json, len);
    }
}


static void
lg_peer_ev(void *user, ngx_calls_peer_ev_e ev, const char *text)
{
    lg_peer_event(user, ev, text);
}


void
lg_peer_event(lg_leg_t *leg, ngx_calls_peer_ev_e ev, const char *text)
{
    unsigned      i;
    lg_client_t  *c = leg->client;
    lg_t         *lg = c->lg;

    switch (ev) {

    case NGX_CALLS_PEER_CONNECTED:
        leg->connected = 1;

        for (i = 0; i < c->nlegs; i++) {
            if (c->legs[i].peer != NULL && !c->legs[i].connected) {
                return;
            }
        }

        if (!c->connected) {
            c->connected = 1;
            lg->res.connected++;
            lg_hist_add(&lg->res.join_connected, lg_now_us() - c->t_join);
        }

        break;

    case NGX_CALLS_PEER_DC_OPEN:
        leg->dc_open = 1;

        if (!c->dc_open) {
            c->dc_open = 1;
            lg->res.dc_open++;
            lg_hist_add(&lg->res.join_dc, lg_now_us() - c->t_join);
        }

        break;

    case NGX_CALLS_PEER_FAILED:
        lg_client_fail(c, "%s", text);
        break;
    }
}


static void
lg_peer_rtp(void *user, const uint8_t *buf, size_t len, int clear)
{
    lg_leg_t  *leg = user;

    lg_media_rtp(leg->client, leg, buf, len, clear);
}


static void
lg_peer_rtcp(void *user, const uint8_t *buf, size_t len)
{
    lg_leg_t  *leg = user;

    lg_media_rtcp(leg->client, buf, len);
}


static void
lg_engine_log(unsigned level, const char *fmt, va_list args)
{
    if (lg_self->conf.verbose < 2 && level > NGX_CALLS_LOG_WARN) {
        return;
    }

    fputs("loadgen: engine: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
}


void
lg_log(lg_t *lg, unsigned level, const char *fmt, ...)
{
    va_list  args;

    if (level > lg->conf.verbose) {
        return;
    }

    va_start(args, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
}


/* the timer heap: clients by their next wake-up; 0 takes one out */

static void
lg_heap_set(lg_t *lg, lg_client_t *c, uint64_t at)
{
    size_t  i;

    if (c->heap != (size_t) -1) {
        i = c->heap;

        if (at == 0) {
            lg->nheap--;

            if (i != lg->nheap) {
                lg->heap[i] = lg->heap[lg->nheap];
                lg->heap[i]->heap = i;
                lg_heap_up(lg, i);
                lg_heap_down(lg, lg->heap[i]->heap);
            }

            c->heap = (size_t) -1;
            c->next_at = 0;
            return;
        }

        c->next_at = at;
        lg_heap_up(lg, i);
        lg_heap_down(lg, c->heap);
        return;
    }

    if (at == 0) {
        return;
    }

    c->next_at = at;
    c->heap = lg->nheap;
    lg->heap[lg->nheap++] = c;
    lg_heap_up(lg, c->heap);
}


static void
lg_heap_up(lg_t *lg, size_t i)
{
    size_t        parent;
    lg_client_t  *c;

    c = lg->heap[i];

    while (i > 0) {
        parent = (i - 1) / 2;

        if (lg->heap[parent]->next_at <= c->next_at) {
            break;
        }

        lg->heap[i] = lg->heap[parent];
        lg->heap[i]->heap = i;
        i = parent;
    }

    lg->heap[i] = c;
    c->heap = i;
}


static void
lg_heap_down(lg_t *lg, size_t i)
{
    size_t        child;
    lg_client_t  *c;

    c = lg->heap[i];

    for ( ;; ) {
        child = 2 * i + 1;

        if (child >= lg->nheap) {
            break;
        }

        if (child + 1 < lg->nheap
            && lg->heap[child + 1]->next_at < lg->heap[child]->next_at)
        {
            child++;
        }

        if (lg->heap[child]->next_at >= c->next_at) {
            break;
        }

        lg->heap[i] = lg->heap[child];
        lg->heap[i]->heap = i;
        i = child;
    }

    lg->heap[i] = c;
    c->heap = i;
}


/* with several client processes, the parent samples the server */

static int
lg_sampler(lg_t *lg, int *fds, pid_t *pids)
{
    ssize_t      n;
    unsigned     i;
    lg_result_t  r;

    lg_sleep_until(lg->window_start);

    if (lg->conf.server_pid) {
        lg_server_sample(lg, &lg_server_start);
    }

    lg_sleep_until(lg->window_end);

    if (lg->conf.server_pid) {
        lg_server_sample(lg, &lg_server_end);
    }

    for (i = 0; i < lg->conf.procs; i++) {
        n = read(fds[i], &r, sizeof(r));

        if (n != (ssize_t) sizeof(r)) {
            fprintf(stderr, "loadgen: client process %u gave no results\n",
                    i);
            continue;
        }

        lg_merge(&lg->res, &r);
        close(fds[i]);
    }

    return 0;
}


static void
lg_sleep_until(uint64_t at)
{
    uint64_t         now;
    struct timespec  ts;

    for ( ;; ) {
        now = lg_now_us();

        if (now >= at) {
            return;
        }

        ts.tv_sec = (at - now) / 1000000;
        ts.tv_nsec = ((at - now) % 1000000) * 1000;
        (void) nanosleep(&ts, NULL);
    }
}


/* the server's workers: the children of its master, or itself */

static void
lg_server_sample(lg_t *lg, lg_procs_t *p)
{
    int                 pid;
    char                path[128], buf[4096];
    FILE               *f;
    unsigned            i;
    unsigned long long  rss;

    memset(p, 0, sizeof(lg_procs_t));

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
             lg->conf.server_pid, lg->conf.server_pid);

    f = fopen(path, "r");

    if (f != NULL) {
        while (p->n < LG_MAX_WORKERS && fscanf(f, "%d", &pid) == 1) {
            p->pid[p->n++] = pid;
        }

        fclose(f);
    }

    if (p->n == 0) {
        p->pid[p->n++] = lg->conf.server_pid;
    }

    for (i = 0; i < p->n; i++) {
        p->cpu_ns[i] = lg_process_cpu_ns(p->pid[i]);

        snprintf(path, sizeof(path), "/proc/%d/status", p->pid[i]);

        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        while (fgets(buf, sizeof(buf), f) != NULL) {
            if (sscanf(buf, "VmRSS: %llu kB", &rss) == 1) {
                p->rss_kb[i] = rss;
            }
        }

        fclose(f);
    }
}


/*
 * CPU time of a process, every thread of it (Janus has many), in ns: the
 * scheduler's run time of each task (/proc/PID/task/TID/schedstat), which
 * is exact where /proc/PID/stat counts clock ticks.
 */

static uint64_t
lg_process_cpu_ns(int pid)
{
    DIR                 *dir;
    FILE                *f;
    char                 path[128];
    uint64_t             total;
    struct dirent       *de;
    unsigned long long   ns;

    snprintf(path, sizeof(path), "/proc/%d/task", pid);

    dir = opendir(path);
    if (dir == NULL) {
        return 0;
    }

    total = 0;

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", pid,
                 de->d_name);

        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        if (fscanf(f, "%llu", &ns) == 1) {
            total += ns;
        }

        fclose(f);
    }

    closedir(dir);

    return total;
}


static void
lg_merge(lg_result_t *to, const lg_result_t *from)
{
    unsigned  k;

    to->clients += from->clients;
    to->joined += from->joined;
    to->connected += from->connected;
    to->dc_open += from->dc_open;
    to->failed += from->failed;
    to->signaling_errors += from->signaling_errors;
    to->glare += from->glare;

    for (k = 0; k < LG_KINDS; k++) {
        to->sent[k] += from->sent[k];
        to->sent_bytes[k] += from->sent_bytes[k];
        to->recv[k] += from->recv[k];
        to->recv_bytes[k] += from->recv_bytes[k];
        to->expected[k] += from->expected[k];
        lg_hist_merge(&to->latency[k], &from->latency[k]);
    }

    to->late_sends += from->late_sends;
    to->send_errors += from->send_errors;
    to->keyframes += from->keyframes;
    to->rtcp_in += from->rtcp_in;
    to->rtcp_out += from->rtcp_out;
    to->streams += from->streams;
    to->streams_wanted += from->streams_wanted;

    lg_hist_merge(&to->join_dc, &from->join_dc);
    lg_hist_merge(&to->join_connected, &from->join_connected);
    lg_hist_merge(&to->join_audio, &from->join_audio);

    to->cpu_user += from->cpu_user;
    to->cpu_sys += from->cpu_sys;
}


static cJSON *
lg_hist_json(const lg_hist_t *h)
{
    cJSON  *o;

    o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "n", (double) h->n);
    cJSON_AddNumberToObject(o, "p50_us", (double) lg_hist_pct(h, 50));
    cJSON_AddNumberToObject(o, "p90_us", (double) lg_hist_pct(h, 90));
    cJSON_AddNumberToObject(o, "p99_us", (double) lg_hist_pct(h, 99));
    cJSON_AddNumberToObject(o, "max_us", (double) h->max);
    cJSON_AddNumberToObject(o, "mean_us",
                            h->n ? (double) h->sum / h->n : 0);

    return o;
}


static void
lg_report(lg_t *lg)
{
    char          *text;
    FILE          *f;
    double         win, cpu, loss, per_pkt, rss_mb, rss_delta_kb;
    double         wcpu[LG_MAX_WORKERS];
    cJSON         *root, *o, *a, *w;
    unsigned       k, i, j;
    uint64_t       fwd, rss, rss_base;
    lg_result_t   *r = &lg->res;

    static const char  *kinds[LG_KINDS] = { "audio", "video" };

    win = lg->conf.duration;

    /* the workers present at both ends of the window */

    cpu = 0;
    rss = 0;
    rss_base = 0;

    for (i = 0; i < lg_server_end.n; i++) {
        wcpu[i] = 0;

        for (j = 0; j < lg_server_start.n; j++) {
            if (lg_server_start.pid[j] == lg_server_end.pid[i]) {
                wcpu[i] = (lg_server_end.cpu_ns[i]
                           - lg_server_start.cpu_ns[j]) / 1e9;
            }
        }

        cpu += wcpu[i];
        rss += lg_server_end.rss_kb[i];
    }

    for (i = 0; i < lg_server_base.n; i++) {
        rss_base += lg_server_base.rss_kb[i];
    }

    fwd = r->recv[LG_AUDIO] + r->recv[LG_VIDEO];
    per_pkt = fwd ? cpu * 1e6 / fwd : 0;
    rss_mb = rss / 1024.0;
    rss_delta_kb = r->clients ? ((double) rss - (double) rss_base)
                                / r->clients : 0;

    if (!lg->conf.quiet) {
        printf("loadgen: %s, %u x %u participants, %u unmuted%s%s, "
               "window %.1f s\n",
               lg->conf.backend, lg->conf.calls, lg->conf.participants,
               lg->conf.unmuted, lg->conf.screens ? ", screen share" : "",
               lg->conf.simulcast ? " (simulcast)" : "", win);

        printf("  clients     %llu: %llu joined, %llu connected, "
               "%llu calls-dc open, %llu failed, %llu signaling errors, "
               "%llu glare\n",
               (unsigned long long) r->clients,
               (unsigned long long) r->joined,
               (unsigned long long) r->connected,
               (unsigned long long) r->dc_open,
               (unsigned long long) r->failed,
               (unsigned long long) r->signaling_errors,
               (unsigned long long) r->glare);

        printf("  join        -> connected p50 %.1f ms p99 %.1f ms; "
               "-> calls-dc p50 %.1f ms p99 %.1f ms; "
               "-> first audio p50 %.1f ms p99 %.1f ms\n",
               lg_hist_pct(&r->join_connected, 50) / 1e3,
               lg_hist_pct(&r->join_connected, 99) / 1e3,
               lg_hist_pct(&r->join_dc, 50) / 1e3,
               lg_hist_pct(&r->join_dc, 99) / 1e3,
               lg_hist_pct(&r->join_audio, 50) / 1e3,
               lg_hist_pct(&r->join_audio, 99) / 1e3);

        printf("  %-6s %10s %10s %10s %10s %8s %22s\n", "", "sent/s",
               "recv/s", "Mbit/s in", "expected/s", "loss %",
               "latency p50/p99/max us");

        for (k = 0; k < LG_KINDS; k++) {
            loss = r->expected[k] && r->expected[k] > r->recv[k]
                   ? 100.0 * (r->expected[k] - r->recv[k]) / r->expected[k]
                   : 0;

            printf("  %-6s %10.0f %10.0f %10.2f %10.0f %8.3f "
                   "%8llu/%6llu/%6llu\n",
                   kinds[k], r->sent[k] / win, r->recv[k] / win,
                   r->recv_bytes[k] * 8 / win / 1e6, r->expected[k] / win,
                   loss,
                   (unsigned long long) lg_hist_pct(&r->latency[k], 50),
                   (unsigned long long) lg_hist_pct(&r->latency[k], 99),
                   (unsigned long long) r->latency[k].max);
        }

        printf("  streams     %llu received of %llu expected; "
               "%llu late sends, %llu send errors, %llu keyframes\n"
               "  rtcp        %.0f/s in, %.0f/s out\n",
               (unsigned long long) r->streams,
               (unsigned long long) r->streams_wanted,
               (unsigned long long) r->late_sends,
               (unsigned long long) r->send_errors,
               (unsigned long long) r->keyframes,
               r->rtcp_in / win, r->rtcp_out / win);

        if (lg->conf.server_pid) {
            printf("  server      %u worker(s): cpu %.2f s (%.1f %% of a "
                   "core), %.2f us per delivered packet; rss %.1f MB, "
                   "%+.1f KB per participant\n",
                   lg_server_end.n, cpu, 100 * cpu / win, per_pkt, rss_mb,
                   rss_delta_kb);

            for (i = 0; i < lg_server_end.n && lg_server_end.n > 1; i++) {
                printf("              worker %d: cpu %.2f s, rss %.1f MB\n",
                       lg_server_end.pid[i], wcpu[i],
                       lg_server_end.rss_kb[i] / 1024.0);
            }
        }

        printf("  loadgen     cpu %.2f s user, %.2f s sys\n", r->cpu_user,
               r->cpu_sys);

        fflush(stdout);
    }

    if (lg->conf.json == NULL) {
        return;
    }

    root = cJSON_CreateObject();

    o = cJSON_AddObjectToObject(root, "scenario");
    cJSON_AddStringToObject(o, "backend", lg->conf.backend);
    cJSON_AddNumberToObject(o, "calls", lg->conf.calls);
    cJSON_AddNumberToObject(o, "participants", lg->conf.participants);
    cJSON_AddNumberToObject(o, "unmuted", lg->conf.unmuted);
    cJSON_AddBoolToObject(o, "screen", lg->conf.screens);
    cJSON_AddBoolToObject(o, "simulcast", lg->conf.simulcast);
    cJSON_AddNumberToObject(o, "audio_bitrate", lg->conf.audio_bitrate);
    cJSON_AddNumberToObject(o, "video_bitrate", lg->conf.video_bitrate);
    cJSON_AddNumberToObject(o, "window_s", win);
    cJSON_AddNumberToObject(o, "sample", lg->conf.sample);
    cJSON_AddNumberToObject(o, "procs", lg->conf.procs);

    o = cJSON_AddObjectToObject(root, "clients");
    cJSON_AddNumberToObject(o, "total", (double) r->clients);
    cJSON_AddNumberToObject(o, "joined", (double) r->joined);
    cJSON_AddNumberToObject(o, "connected", (double) r->connected);
    cJSON_AddNumberToObject(o, "dc_open", (double) r->dc_open);
    cJSON_AddNumberToObject(o, "failed", (double) r->failed);
    cJSON_AddNumberToObject(o, "signaling_errors",
                            (double) r->signaling_errors);
    cJSON_AddNumberToObject(o, "glare", (double) r->glare);
    cJSON_AddNumberToObject(o, "streams", (double) r->streams);
    cJSON_AddNumberToObject(o, "streams_wanted", (double) r->streams_wanted);
    cJSON_AddNumberToObject(o, "late_sends", (double) r->late_sends);
    cJSON_AddNumberToObject(o, "send_errors", (double) r->send_errors);
    cJSON_AddNumberToObject(o, "keyframes", (double) r->keyframes);
    cJSON_AddNumberToObject(o, "rtcp_in", (double) r->rtcp_in);
    cJSON_AddNumberToObject(o, "rtcp_out", (double) r->rtcp_out);

    o = cJSON_AddObjectToObject(root, "join");
    cJSON_AddItemToObject(o, "connected", lg_hist_json(&r->join_connected));
    cJSON_AddItemToObject(o, "dc_open", lg_hist_json(&r->join_dc));
    cJSON_AddItemToObject(o, "first_audio", lg_hist_json(&r->join_audio));

    for (k = 0; k < LG_KINDS; k++) {
        o = cJSON_AddObjectToObject(root, kinds[k]);
        cJSON_AddNumberToObject(o, "sent", (double) r->sent[k]);
        cJSON_AddNumberToObject(o, "sent_bytes", (double) r->sent_bytes[k]);
        cJSON_AddNumberToObject(o, "received", (double) r->recv[k]);
        cJSON_AddNumberToObject(o, "received_bytes",
                                (double) r->recv_bytes[k]);
        cJSON_AddNumberToObject(o, "expected", (double) r->expected[k]);
        cJSON_AddItemToObject(o, "latency", lg_hist_json(&r->latency[k]));
    }

    o = cJSON_AddObjectToObject(root, "server");
    cJSON_AddNumberToObject(o, "pid", lg->conf.server_pid);
    cJSON_AddNumberToObject(o, "workers", lg_server_end.n);
    cJSON_AddNumberToObject(o, "cpu_s", cpu);
    cJSON_AddNumberToObject(o, "cpu_us_per_packet", per_pkt);
    cJSON_AddNumberToObject(o, "rss_kb", (double) rss);
    cJSON_AddNumberToObject(o, "rss_base_kb", (double) rss_base);
    cJSON_AddNumberToObject(o, "rss_kb_per_participant", rss_delta_kb);

    a = cJSON_AddArrayToObject(o, "per_worker");

    for (i = 0; i < lg_server_end.n; i++) {
        w = cJSON_CreateObject();

        cJSON_AddNumberToObject(w, "pid", lg_server_end.pid[i]);
        cJSON_AddNumberToObject(w, "cpu_s", wcpu[i]);
        cJSON_AddNumberToObject(w, "rss_kb",
                                (double) lg_server_end.rss_kb[i]);
        cJSON_AddItemToArray(a, w);
    }

    o = cJSON_AddObjectToObject(root, "loadgen");
    cJSON_AddNumberToObject(o, "cpu_user_s", r->cpu_user);
    cJSON_AddNumberToObject(o, "cpu_sys_s", r->cpu_sys);

    text = cJSON_Print(root);
    cJSON_Delete(root);

    f = fopen(lg->conf.json, "w");

    if (f == NULL || text == NULL) {
        fprintf(stderr, "loadgen: cannot write %s\n", lg->conf.json);

    } else {
        fputs(text, f);
        fputc('\n', f);
        fclose(f);
    }

    cJSON_free(text);
}


uint64_t
lg_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


uint64_t
lg_realtime_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


static void
lg_on_signal(int sig)
{
    lg_interrupted = 1;
}
