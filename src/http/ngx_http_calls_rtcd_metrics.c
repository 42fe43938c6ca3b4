
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * GET /metrics of the RTCD API, in the Prometheus text format (0.0.4):
 * rtcd's families with its names, types and labels
 * (service/perf/metrics.go), so that dashboards made for rtcd (Grafana
 * 23225) read nginx as they read rtcd, then ngx_calls' own: media
 * packets and bytes, drops by reason, the load of each worker.
 *
 * Not here: rtcd_rtc_rtp_tracks_writes_time (the time of pion's
 * WriteRTP, which has no counterpart in our forwarding) and Go's go_*
 * runtime families.  The process families describe this worker process.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <dirent.h>
#include <sys/resource.h>

#include "ngx_calls.h"
#include "ngx_calls_stats.h"
#include "ngx_http_calls.h"
#include "ngx_http_calls_rtcd.h"


/* a line is never longer: label values are at most 64 bytes, escaped */
#define NGX_HTTP_CALLS_RTCD_LINE     512
#define NGX_HTTP_CALLS_RTCD_CHUNK    16384


typedef struct {
    ngx_pool_t                 *pool;
    ngx_chain_t                *out;
    ngx_chain_t               **last;
    ngx_buf_t                  *buf;
    ngx_uint_t                  failed;
    ngx_calls_stats_snapshot_t  stats;     /* of every worker */
} ngx_http_calls_rtcd_writer_t;


typedef struct {
    double                      cpu_seconds;
    double                      vsize;
    double                      rss;
    double                      start_time;
    double                      open_fds;
    double                      max_fds;
    double                      max_vsize;
    unsigned                    have_stat:1;
    unsigned                    have_fds:1;
} ngx_http_calls_rtcd_proc_t;


static void ngx_http_calls_rtcd_printf(ngx_http_calls_rtcd_writer_t *w,
    const char *fmt, ...);
static void ngx_http_calls_rtcd_family(ngx_http_calls_rtcd_writer_t *w,
    const char *name, const char *type, const char *help);
static void ngx_http_calls_rtcd_sample(ngx_http_calls_rtcd_writer_t *w,
    const char *name, const char *labels, double value);
static u_char *ngx_http_calls_rtcd_label(u_char *p, ngx_str_t *value);
static void ngx_http_calls_rtcd_rtc_families(ngx_http_calls_rtcd_writer_t *w);
static void ngx_http_calls_rtcd_histograms(ngx_http_calls_rtcd_writer_t *w);
static void ngx_http_calls_rtcd_ws_families(ngx_http_calls_rtcd_writer_t *w);
static void ngx_http_calls_rtcd_process(ngx_http_calls_rtcd_writer_t *w,
    ngx_log_t *log);
static void ngx_http_calls_rtcd_proc_read(ngx_http_calls_rtcd_proc_t *proc,
    ngx_log_t *log);
static void ngx_http_calls_rtcd_own(ngx_http_calls_rtcd_writer_t *w);


static unsigned long long  ngx_http_calls_rtcd_btime;


ngx_int_t
ngx_http_calls_rtcd_metrics(ngx_http_request_t *r)
{
    off_t                          len;
    ngx_int_t                      rc;
    ngx_chain_t                   *cl;
    ngx_http_calls_rtcd_writer_t   w;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&w, sizeof(ngx_http_calls_rtcd_writer_t));

    w.pool = r->pool;
    w.last = &w.out;

    if (ngx_calls_stats_snapshot(r->pool, &w.stats) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_calls_rtcd_rtc_families(&w);
    ngx_http_calls_rtcd_histograms(&w);
    ngx_http_calls_rtcd_ws_families(&w);
    ngx_http_calls_rtcd_process(&w, r->connection->log);
    ngx_http_calls_rtcd_own(&w);

    if (w.failed || w.out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = w.out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main) ? 1 : 0;
            cl->buf->last_in_chain = 1;
        }
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;

    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4; "
                "charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, w.out);
}


/* rtcd_rtc_*: sessions, connection states, errors, tracks */

static void
ngx_http_calls_rtcd_rtc_families(ngx_http_calls_rtcd_writer_t *w)
{
    u_char                   *p, labels[NGX_HTTP_CALLS_RTCD_LINE];
    uint64_t                 *states;
    ngx_str_t                 mime;
    ngx_uint_t                i;
    ngx_calls_stats_group_t  *g;

    ngx_http_calls_rtcd_family(w, "rtcd_rtc_sessions_total", "gauge",
                               "Total number of active RTC sessions");

    for (g = w->stats.groups; g; g = g->next) {
        if (g->has_sessions) {
            p = ngx_cpymem(labels, "groupID=", sizeof("groupID=") - 1);
            *ngx_http_calls_rtcd_label(p, &g->node.str) = '\0';

            ngx_http_calls_rtcd_sample(w, "rtcd_rtc_sessions_total",
                                       (char *) labels,
                                       (double) g->sessions);
        }
    }

    ngx_http_calls_rtcd_family(w, "rtcd_rtc_conn_states_total", "counter",
                               "Total number of RTC connection state "
                               "changes");

    states = w->stats.states;

    for (i = 0; i < NGX_CALLS_STATS_STATE_N; i++) {
        if (states[i]) {
            ngx_snprintf(labels, sizeof(labels), "type=\"%s\"%Z",
                         ngx_calls_stats_state_names[i]);

            ngx_http_calls_rtcd_sample(w, "rtcd_rtc_conn_states_total",
                                       (char *) labels, (double) states[i]);
        }
    }

    ngx_http_calls_rtcd_family(w, "rtcd_rtc_errors_total", "counter",
                               "Total number of RTC related errors");

    for (g = w->stats.groups; g; g = g->next) {
        for (i = 0; i < NGX_CALLS_STATS_ERR_N; i++) {
            if (g->errors[i] == 0) {
                continue;
            }

            p = ngx_cpymem(labels, "groupID=", sizeof("groupID=") - 1);
            p = ngx_http_calls_rtcd_label(p, &g->node.str);
            ngx_sprintf(p, ",type=\"%s\"%Z", ngx_calls_stats_error_names[i]);

            ngx_http_calls_rtcd_sample(w, "rtcd_rtc_errors_total",
                                       (char *) labels,
                                       (double) g->errors[i]);
        }
    }

    ngx_http_calls_rtcd_family(w, "rtcd_rtc_rtp_tracks_total", "gauge",
                               "Total number of active RTP tracks");

    for (g = w->stats.groups; g; g = g->next) {
        for (i = 0; i < g->ntracks; i++) {
            mime.data = g->tracks[i].mime;
            mime.len = g->tracks[i].mime_len;

            p = ngx_cpymem(labels, "groupID=", sizeof("groupID=") - 1);
            p = ngx_http_calls_rtcd_label(p, &g->node.str);
            p = ngx_sprintf(p, ",direction=\"%s\",type=",
                            g->tracks[i].out ? "out" : "in");
            *ngx_http_calls_rtcd_label(p, &mime) = '\0';

            ngx_http_calls_rtcd_sample(w, "rtcd_rtc_rtp_tracks_total",
                                       (char *) labels,
                                       (double) g->tracks[i].count);
        }
    }
}


static void
ngx_http_calls_rtcd_histograms(ngx_http_calls_rtcd_writer_t *w)
{
    u_char                            *p, le[40], name[128];
    u_char                             group[NGX_HTTP_CALLS_RTCD_LINE];
    u_char                             labels[NGX_HTTP_CALLS_RTCD_LINE];
    uint64_t                           cumulative;
    ngx_uint_t                         h, i;
    ngx_calls_stats_hist_t            *hist;
    ngx_calls_stats_group_t           *g;
    const ngx_calls_stats_hist_def_t  *def;

    for (h = 0; h < NGX_CALLS_STATS_HIST_N; h++) {
        def = &ngx_calls_stats_hist_defs[h];

        ngx_http_calls_rtcd_family(w, def->name, "histogram", def->help);

        for (g = w->stats.groups; g; g = g->next) {
            hist = &g->hist[h];

            if (hist->count == 0) {
                continue;
            }

            p = ngx_cpymem(group, "groupID=", sizeof("groupID=") - 1);
            *ngx_http_calls_rtcd_label(p, &g->node.str) = '\0';

            ngx_snprintf(name, sizeof(name), "%s_bucket%Z", def->name);

            cumulative = 0;

            for (i = 0; i < def->nbounds; i++) {
                cumulative += hist->buckets[i];

                *ngx_http_calls_rtcd_float(le, def->bounds[i]) = '\0';
                ngx_snprintf(labels, sizeof(labels), "%s,le=\"%s\"%Z",
                             group, le);

                ngx_http_calls_rtcd_sample(w, (char *) name, (char *) labels,
                                           (double) cumulative);
            }

            ngx_snprintf(labels, sizeof(labels), "%s,le=\"+Inf\"%Z", group);
            ngx_http_calls_rtcd_sample(w, (char *) name, (char *) labels,
                                       (double) hist->count);

            ngx_snprintf(name, sizeof(name), "%s_sum%Z", def->name);
            ngx_http_calls_rtcd_sample(w, (char *) name, (char *) group,
                                       hist->sum);

            ngx_snprintf(name, sizeof(name), "%s_count%Z", def->name);
            ngx_http_calls_rtcd_sample(w, (char *) name, (char *) group,
                                       (double) hist->count);
        }
    }
}


/* rtcd_ws_*: the plugin connections and their messages */

static void
ngx_http_calls_rtcd_ws_families(ngx_http_calls_rtcd_writer_t *w)
{
    u_char                   *p, labels[NGX_HTTP_CALLS_RTCD_LINE];
    ngx_uint_t                i, dir;
    ngx_calls_stats_group_t  *g;

    ngx_http_calls_rtcd_family(w, "rtcd_ws_connections_total", "gauge",
                               "Total number of active WebSocket sessions");

    for (g = w->stats.groups; g; g = g->next) {
        if (g->has_ws) {
            p = ngx_cpymem(labels, "clientID=", sizeof("clientID=") - 1);
            *ngx_http_calls_rtcd_label(p, &g->node.str) = '\0';

            ngx_http_calls_rtcd_sample(w, "rtcd_ws_connections_total",
                                       (char *) labels,
                                       (double) g->ws_connections);
        }
    }

    ngx_http_calls_rtcd_family(w, "rtcd_ws_messages_total", "counter",
                               "Total number of sent/received WebSocket "
                               "messages");

    for (g = w->stats.groups; g; g = g->next) {
        for (i = 0; i < NGX_CALLS_STATS_MSG_N; i++) {
            for (dir = 0; dir < 2; dir++) {

                if (g->ws_messages[i][dir] == 0) {
                    continue;
                }

                p = ngx_cpymem(labels, "clientID=", sizeof("clientID=") - 1);
                p = ngx_http_calls_rtcd_label(p, &g->node.str);
                ngx_sprintf(p, ",type=\"%s\",direction=\"%s\"%Z",
                            ngx_calls_stats_msg_names[i],
                            dir ? "out" : "in");

                ngx_http_calls_rtcd_sample(w, "rtcd_ws_messages_total",
                                           (char *) labels,
                                           (double) g->ws_messages[i][dir]);
            }
        }
    }
}


/* client_golang's process collector, with rtcd's namespace */

static void
ngx_http_calls_rtcd_process(ngx_http_calls_rtcd_writer_t *w, ngx_log_t *log)
{
    ngx_http_calls_rtcd_proc_t  proc;

    ngx_http_calls_rtcd_proc_read(&proc, log);

    if (proc.have_stat) {
        ngx_http_calls_rtcd_family(w, "rtcd_process_cpu_seconds_total",
                                   "counter",
                                   "Total user and system CPU time spent in "
                                   "seconds.");
        ngx_http_calls_rtcd_sample(w, "rtcd_process_cpu_seconds_total", NULL,
                                   proc.cpu_seconds);
    }

    if (proc.have_fds) {
        ngx_http_calls_rtcd_family(w, "rtcd_process_open_fds", "gauge",
                                   "Number of open file descriptors.");
        ngx_http_calls_rtcd_sample(w, "rtcd_process_open_fds", NULL,
                                   proc.open_fds);
    }

    ngx_http_calls_rtcd_family(w, "rtcd_process_max_fds", "gauge",
                               "Maximum number of open file descriptors.");
    ngx_http_calls_rtcd_sample(w, "rtcd_process_max_fds", NULL,
                               proc.max_fds);

    if (proc.have_stat) {
        ngx_http_calls_rtcd_family(w, "rtcd_process_virtual_memory_bytes",
                                   "gauge",
                                   "Virtual memory size in bytes.");
        ngx_http_calls_rtcd_sample(w, "rtcd_process_virtual_memory_bytes",
                                   NULL, proc.vsize);
    }

    ngx_http_calls_rtcd_family(w, "rtcd_process_virtual_memory_max_bytes",
                               "gauge",
                               "Maximum amount of virtual memory available "
                               "in bytes.");
    ngx_http_calls_rtcd_sample(w, "rtcd_process_virtual_memory_max_bytes",
                               NULL, proc.max_vsize);

    if (proc.have_stat) {
        ngx_http_calls_rtcd_family(w, "rtcd_process_resident_memory_bytes",
                                   "gauge",
                                   "Resident memory size in bytes.");
        ngx_http_calls_rtcd_sample(w, "rtcd_process_resident_memory_bytes",
                                   NULL, proc.rss);

        ngx_http_calls_rtcd_family(w, "rtcd_process_start_time_seconds",
                                   "gauge",
                                   "Start time of the process since unix "
                                   "epoch in seconds.");
        ngx_http_calls_rtcd_sample(w, "rtcd_process_start_time_seconds",
                                   NULL, proc.start_time);
    }
}


/*
 * /proc/self/stat (CPU time, sizes, start), /proc/stat (boot time) and
 * /proc/self/fd: procfs, so reading it does not wait for a disk.
 */

static void
ngx_http_calls_rtcd_proc_read(ngx_http_calls_rtcd_proc_t *proc,
    ngx_log_t *log)
{
    int                  fd;
    DIR                 *dir;
    FILE                *f;
    char                 line[256];
    long                 hz, page;
    u_char              *p, *last, buf[1024];
    double               field[25];
    ssize_t              n;
    ngx_uint_t           i, fds;
    struct rlimit        rl;
    unsigned long long   v, btime;

    ngx_memzero(proc, sizeof(ngx_http_calls_rtcd_proc_t));

    hz = sysconf(_SC_CLK_TCK);
    page = sysconf(_SC_PAGESIZE);

    if (hz <= 0 || page <= 0) {
        hz = 100;
        page = 4096;
    }

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        proc->max_fds = (rl.rlim_cur == RLIM_INFINITY)
                        ? 18446744073709551615.0 : (double) rl.rlim_cur;
    }

    if (getrlimit(RLIMIT_AS, &rl) == 0) {
        proc->max_vsize = (rl.rlim_cur == RLIM_INFINITY)
                          ? 18446744073709551615.0 : (double) rl.rlim_cur;
    }

    /* the boot time, for the start time: it never changes */

    if (ngx_http_calls_rtcd_btime == 0) {
        f = fopen("/proc/stat", "r");

        if (f == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "calls rtcd: fopen(\"/proc/stat\") failed");

        } else {
            /* long lines come in pieces; only a line starts with "btime" */

            while (fgets(line, sizeof(line), f)) {
                if (ngx_strncmp(line, "btime ", 6) == 0) {
                    ngx_http_calls_rtcd_btime = strtoull(line + 6, NULL, 10);
                    break;
                }
            }

            (void) fclose(f);
        }
    }

    btime = ngx_http_calls_rtcd_btime;

    fd = open("/proc/self/stat", O_RDONLY);

    if (fd == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "calls rtcd: open(\"/proc/self/stat\") failed");

    } else {
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);

        if (n > 0) {
            buf[n] = '\0';
            last = buf + n;

            /* after the command name, which may hold spaces or ')' */

            p = last;

            while (p > buf && *(p - 1) != ')') {
                p--;
            }

            /* fields 3 (state) to 24 (rss) */

            for (i = 3; i <= 24 && p < last; i++) {

                while (p < last && *p == ' ') {
                    p++;
                }

                v = 0;

                while (p < last && *p >= '0' && *p <= '9') {
                    v = v * 10 + (*p - '0');
                    p++;
                }

                while (p < last && *p != ' ') {
                    p++;
                }

                field[i] = (double) v;
            }

            if (i > 24) {
                proc->cpu_seconds = (field[14] + field[15]) / hz;
                proc->start_time = (double) btime + field[22] / hz;
                proc->vsize = field[23];
                proc->rss = field[24] * page;
                proc->have_stat = 1;
            }
        }
    }

    dir = opendir("/proc/self/fd");

    if (dir) {
        fds = 0;

        while (readdir(dir)) {
            fds++;
        }

        /* ".", ".." and the directory's own descriptor */
        proc->open_fds = (fds >= 3) ? (double) (fds - 3) : 0;
        proc->have_fds = 1;

        (void) closedir(dir);
    }
}


/* ngx_calls_*: the media counters and each worker's load */

static void
ngx_http_calls_rtcd_own(ngx_http_calls_rtcd_writer_t *w)
{
    u_char        labels[64];
    uint64_t      counters[NGX_CALLS_CNT_N];
    ngx_pid_t     pid;
    ngx_buf_t    *b;
    ngx_uint_t    i, n, calls, sessions;
    ngx_chain_t  *cl;

    if (ngx_calls_counters(counters) == NGX_OK) {
        b = ngx_create_temp_buf(w->pool, ngx_http_calls_metrics_size());
        cl = ngx_alloc_chain_link(w->pool);

        if (b == NULL || cl == NULL) {
            w->failed = 1;
            return;
        }

        b->last = ngx_http_calls_metrics_write(b->last, b->end, counters);

        cl->buf = b;
        cl->next = NULL;

        *w->last = cl;
        w->last = &cl->next;

        /* what follows goes to a new buffer */
        w->buf = NULL;
    }

    n = ngx_calls_workers();

    ngx_http_calls_rtcd_family(w, "ngx_calls_worker_calls", "gauge",
                               "Calls whose home is this worker process.");

    for (i = 0; i < n; i++) {
        if (ngx_calls_load(i, &calls, &sessions, &pid) == NGX_OK) {
            ngx_snprintf(labels, sizeof(labels), "worker=\"%ui\"%Z", i);
            ngx_http_calls_rtcd_sample(w, "ngx_calls_worker_calls",
                                       (char *) labels, (double) calls);
        }
    }

    ngx_http_calls_rtcd_family(w, "ngx_calls_worker_sessions", "gauge",
                               "Sessions in this worker process.");

    for (i = 0; i < n; i++) {
        if (ngx_calls_load(i, &calls, &sessions, &pid) == NGX_OK) {
            ngx_snprintf(labels, sizeof(labels), "worker=\"%ui\"%Z", i);
            ngx_http_calls_rtcd_sample(w, "ngx_calls_worker_sessions",
                                       (char *) labels, (double) sessions);
        }
    }

    ngx_snprintf(labels, sizeof(labels), "worker=\"%ui\"%Z", ngx_worker);

    ngx_http_calls_rtcd_family(w, "ngx_calls_worker_cpu_load", "gauge",
                               "The load /system reports: 1 / idle CPUs.");
    ngx_http_calls_rtcd_sample(w, "ngx_calls_worker_cpu_load",
                               (char *) labels,
                               ngx_http_calls_rtcd_cpu_load());

    if (w->stats.lost) {
        ngx_http_calls_rtcd_family(w, "ngx_calls_stats_groups_lost_total",
                                   "counter",
                                   "Groups left out of the rtcd metrics for "
                                   "lack of memory.");
        ngx_http_calls_rtcd_sample(w, "ngx_calls_stats_groups_lost_total",
                                   NULL, (double) w->stats.lost);
    }
}


/* output */

static void
ngx_http_calls_rtcd_family(ngx_http_calls_rtcd_writer_t *w, const char *name,
    const char *type, const char *help)
{
    ngx_http_calls_rtcd_printf(w, "# HELP %s %s\n# TYPE %s %s\n",
                               name, help, name, type);
}


static void
ngx_http_calls_rtcd_sample(ngx_http_calls_rtcd_writer_t *w, const char *name,
    const char *labels, double value)
{
    u_char  num[40];

    *ngx_http_calls_rtcd_float(num, value) = '\0';

    if (labels) {
        ngx_http_calls_rtcd_printf(w, "%s{%s} %s\n", name, labels, num);

    } else {
        ngx_http_calls_rtcd_printf(w, "%s %s\n", name, num);
    }
}


/* a label value in quotes, with \, " and newlines escaped */

static u_char *
ngx_http_calls_rtcd_label(u_char *p, ngx_str_t *value)
{
    size_t  i, n;

    /* group IDs are at most 64 bytes; twice that when escaped */

    n = ngx_min(value->len, NGX_HTTP_CALLS_RTCD_MAX_CLIENT);

    *p++ = '"';

    for (i = 0; i < n; i++) {
        switch (value->data[i]) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = value->data[i];
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = value->data[i];
        }
    }

    *p++ = '"';

    return p;
}


static void
ngx_http_calls_rtcd_printf(ngx_http_calls_rtcd_writer_t *w,
    const char *fmt, ...)
{
    va_list       args;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (w->failed) {
        return;
    }

    b = w->buf;

    if (b == NULL || (size_t) (b->end - b->last) < NGX_HTTP_CALLS_RTCD_LINE) {
        b = ngx_create_temp_buf(w->pool, NGX_HTTP_CALLS_RTCD_CHUNK);
        cl = ngx_alloc_chain_link(w->pool);

        if (b == NULL || cl == NULL) {
            w->failed = 1;
            return;
        }

        cl->buf = b;
        cl->next = NULL;

        *w->last = cl;
        w->last = &cl->next;
        w->buf = b;
    }

    va_start(args, fmt);
    b->last = ngx_vslprintf(b->last, b->last + NGX_HTTP_CALLS_RTCD_LINE,
                            fmt, args);
    va_end(args);
}
