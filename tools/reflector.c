
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * ngx_calls-reflector: the bare UDP fan-out that stands for what this
 * machine can forward at all, for the benchmarks' ratios.  No crypto, no
 * parsing beyond the hello: recvmmsg(), a lookup of the sender's address,
 * and one sendto() per other member of its call, or with -m the whole
 * fan-out of a datagram in sendmmsg() calls of up to RFL_BATCH (what
 * ngx_calls does, so that its ratio to this is the cost of everything
 * but the system calls).
 *
 *   reflector [-l ADDR:PORT] [-w WORKERS] [-m]
 *
 * A client registers with a 12-byte hello, "RFL1", its call and its
 * index (big-endian), and gets the same 12 bytes back; every other
 * datagram from a registered address goes to the call's other members.
 * With several workers (processes with SO_REUSEPORT sockets on the same
 * port, as nginx's), the members are in a table in shared memory that
 * every worker reads into its own index.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>


#define RFL_MAX_MEMBERS      65536
#define RFL_MAX_CALLS        65536
#define RFL_HASH             (2 * RFL_MAX_MEMBERS)
#define RFL_BATCH            64
#define RFL_MTU              2048
#define RFL_MAX_WORKERS      64


typedef struct {
    uint32_t                  call;
    struct sockaddr_in        addr;
    atomic_uint               ready;
} rfl_entry_t;


typedef struct {
    atomic_uint               n;
    rfl_entry_t               e[RFL_MAX_MEMBERS];
} rfl_shared_t;


typedef struct {
    struct sockaddr_in       *members;
    uint32_t                 *ids;           /* entry of each member */
    unsigned                  n;
    unsigned                  cap;
} rfl_call_t;


static rfl_shared_t  *rfl_shared;
static unsigned       rfl_synced;            /* entries in the index */
static int32_t        rfl_hash[RFL_HASH];   /* entry + 1, 0: empty */
static rfl_call_t     rfl_calls[RFL_MAX_CALLS];
static pid_t          rfl_workers[RFL_MAX_WORKERS];
static unsigned       rfl_nworkers;

static int            rfl_mmsg;             /* -m */

static volatile sig_atomic_t  rfl_stop;


static unsigned
rfl_hash_of(const struct sockaddr_in *a)
{
    uint32_t  h;

    h = a->sin_addr.s_addr * 2654435761u ^ a->sin_port * 40503u;

    return (h ^ (h >> 15)) & (RFL_HASH - 1);
}


static int
rfl_same(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_port == b->sin_port
           && a->sin_addr.s_addr == b->sin_addr.s_addr;
}


/* entry index of an address, or -1 */

static int
rfl_find(const struct sockaddr_in *a)
{
    unsigned  h;
    int32_t   e;

    for (h = rfl_hash_of(a); (e = rfl_hash[h]) != 0; h = (h + 1) % RFL_HASH)
    {
        if (rfl_same(&rfl_shared->e[e - 1].addr, a)) {
            return e - 1;
        }
    }

    return -1;
}


/* the shared table's new entries, into this worker's index */

static void
rfl_sync(void)
{
    unsigned      n, h;
    rfl_call_t   *c;
    rfl_entry_t  *e;
    void         *p;

    n = atomic_load(&rfl_shared->n);

    if (n > RFL_MAX_MEMBERS) {
        n = RFL_MAX_MEMBERS;
    }

    while (rfl_synced < n) {
        e = &rfl_shared->e[rfl_synced];

        /* claimed, not yet written: later */
        if (!atomic_load(&e->ready)) {
            return;
        }

        if (rfl_find(&e->addr) == -1) {
            for (h = rfl_hash_of(&e->addr); rfl_hash[h] != 0;
                 h = (h + 1) % RFL_HASH)
            { /* void */ }

            rfl_hash[h] = (int32_t) rfl_synced + 1;

            c = &rfl_calls[e->call];

            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 16;

                p = realloc(c->members, c->cap * sizeof(struct sockaddr_in));
                if (p == NULL) {
                    abort();
                }

                c->members = p;

                p = realloc(c->ids, c->cap * sizeof(uint32_t));
                if (p == NULL) {
                    abort();
                }

                c->ids = p;
            }

            c->members[c->n] = e->addr;
            c->ids[c->n] = rfl_synced;
            c->n++;
        }

        rfl_synced++;
    }
}


static void
rfl_hello(int fd, const uint8_t *buf, const struct sockaddr_in *from)
{
    unsigned      i;
    uint32_t      call;
    rfl_entry_t  *e;

    memcpy(&call, buf + 4, 4);
    call = ntohl(call);

    if (call >= RFL_MAX_CALLS) {
        return;
    }

    rfl_sync();

    if (rfl_find(from) == -1) {
        i = atomic_fetch_add(&rfl_shared->n, 1);

        if (i >= RFL_MAX_MEMBERS) {
            return;
        }

        e = &rfl_shared->e[i];
        e->call = call;
        e->addr = *from;
        atomic_store(&e->ready, 1);

        rfl_sync();
    }

    (void) sendto(fd, buf, 12, 0, (const struct sockaddr *) from,
                  sizeof(struct sockaddr_in));
}


static void rfl_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n);


static void
rfl_forward(int fd, const uint8_t *buf, size_t len,
    const struct sockaddr_in *from)
{
    int              id;
    unsigned         i, n;
    rfl_call_t      *c;
    struct iovec     iov;

    static struct mmsghdr  msgs[RFL_BATCH];

    id = rfl_find(from);

    if (id == -1) {
        rfl_sync();
        id = rfl_find(from);

        if (id == -1) {
            return;
        }
    }

    c = &rfl_calls[rfl_shared->e[id].call];

    /* members that joined on other workers */
    if (rfl_synced != atomic_load_explicit(&rfl_shared->n,
                                           memory_order_relaxed))
    {
        rfl_sync();
    }

    if (!rfl_mmsg) {
        for (i = 0; i < c->n; i++) {
            if (c->ids[i] != (uint32_t) id) {
                (void) sendto(fd, buf, len, 0,
                              (const struct sockaddr *) &c->members[i],
                              sizeof(struct sockaddr_in));
            }
        }

        return;
    }

    /* every message points at the one datagram: no copies */

    iov.iov_base = (void *) buf;
    iov.iov_len = len;
    n = 0;

    for (i = 0; i < c->n; i++) {
        if (c->ids[i] == (uint32_t) id) {
            continue;
        }

        memset(&msgs[n].msg_hdr, 0, sizeof(struct msghdr));
        msgs[n].msg_hdr.msg_name = &c->members[i];
        msgs[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        msgs[n].msg_hdr.msg_iov = &iov;
        msgs[n].msg_hdr.msg_iovlen = 1;

        if (++n == RFL_BATCH) {
            rfl_sendmmsg(fd, msgs, n);
            n = 0;
        }
    }

    rfl_sendmmsg(fd, msgs, n);
}


/* a datagram that fails is skipped, as sendto()'s would be */

static void
rfl_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n)
{
    int       rc;
    unsigned  i;

    i = 0;

    while (i < n) {
        rc = sendmmsg(fd, msgs + i, n - i, 0);

        if (rc > 0) {
            i += rc;

        } else if (rc == -1 && errno == EINTR) {
            continue;

        } else {
            i++;
        }
    }
}


static int
rfl_socket(const struct sockaddr_in *sin)
{
    int  fd, one, size;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        perror("reflector: socket()");
        return -1;
    }

    one = 1;
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));

    size = 16 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
    {
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }

    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
    {
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }

    if (bind(fd, (const struct sockaddr *) sin, sizeof(*sin)) != 0) {
        perror("reflector: bind()");
        close(fd);
        return -1;
    }

    return fd;
}


static void
rfl_worker(int fd)
{
    int                  n, i;
    struct iovec         iov[RFL_BATCH];
    struct mmsghdr       msgs[RFL_BATCH];
    struct sockaddr_in   from[RFL_BATCH];

    static uint8_t       bufs[RFL_BATCH][RFL_MTU];

    for (i = 0; i < RFL_BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = RFL_MTU;
    }

    while (!rfl_stop) {
        for (i = 0; i < RFL_BATCH; i++) {
            memset(&msgs[i].msg_hdr, 0, sizeof(struct msghdr));
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        }

        n = recvmmsg(fd, msgs, RFL_BATCH, MSG_WAITFORONE, NULL);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            perror("reflector: recvmmsg()");
            return;
        }

        for (i = 0; i < n; i++) {
            if (msgs[i].msg_hdr.msg_namelen != sizeof(struct sockaddr_in)) {
                continue;
            }

            if (msgs[i].msg_len == 12 && memcmp(bufs[i], "RFL1", 4) == 0) {
                rfl_hello(fd, bufs[i], &from[i]);
                continue;
            }

            rfl_forward(fd, bufs[i], msgs[i].msg_len, &from[i]);
        }
    }
}


static void
rfl_on_signal(int sig)
{
    unsigned  i;

    (void) sig;

    rfl_stop = 1;

    for (i = 0; i < rfl_nworkers; i++) {
        kill(rfl_workers[i], SIGTERM);
    }
}


int
main(int argc, char **argv)
{
    int                  ch, fd, workers, status;
    char                *listen, *colon;
    unsigned             i;
    pid_t                pid;
    struct sockaddr_in   sin;
    struct sigaction     sa;

    listen = "127.0.0.1:8443";
    workers = 1;

    while ((ch = getopt(argc, argv, "l:w:mh")) != -1) {
        switch (ch) {
        case 'l':
            listen = optarg;
            break;

        case 'w':
            workers = atoi(optarg);
            break;

        case 'm':
            rfl_mmsg = 1;
            break;

        default:
            fprintf(stderr,
                    "usage: reflector [-l ADDR:PORT] [-w WORKERS] [-m]\n");
            return ch == 'h' ? 0 : 2;
        }
    }

    if (workers < 1 || workers > RFL_MAX_WORKERS) {
        fprintf(stderr, "reflector: 1 to %d workers\n", RFL_MAX_WORKERS);
        return 2;
    }

    colon = strrchr(listen, ':');

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;

    if (colon == NULL) {
        fprintf(stderr, "reflector: -l ADDR:PORT\n");
        return 2;
    }

    *colon = '\0';
    sin.sin_port = htons((uint16_t) atoi(colon + 1));

    if (inet_pton(AF_INET, listen, &sin.sin_addr) != 1) {
        fprintf(stderr, "reflector: \"%s\" is not an IPv4 address\n",
                listen);
        return 2;
    }

    rfl_shared = mmap(NULL, sizeof(rfl_shared_t), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rfl_shared == MAP_FAILED) {
        perror("reflector: mmap()");
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = rfl_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (workers == 1) {
        fd = rfl_socket(&sin);
        if (fd == -1) {
            return 1;
        }

        printf("reflector: 1 worker on %s:%d\n", listen, ntohs(sin.sin_port));
        fflush(stdout);

        rfl_worker(fd);
        return 0;
    }

    /* the sockets first, so that none of them misses a datagram */

    for (i = 0; i < (unsigned) workers; i++) {
        fd = rfl_socket(&sin);
        if (fd == -1) {
            return 1;
        }

        pid = fork();

        if (pid == -1) {
            perror("reflector: fork()");
            return 1;
        }

        if (pid == 0) {
            rfl_nworkers = 0;
            rfl_worker(fd);
            _exit(0);
        }

        close(fd);
        rfl_workers[rfl_nworkers++] = pid;
    }

    printf("reflector: %d workers on %s:%d\n", workers, listen,
           ntohs(sin.sin_port));
    fflush(stdout);

    while (rfl_nworkers > 0) {
        pid = wait(&status);

        if (pid == -1) {
            if (errno == EINTR) {
                continue;
            }

            break;
        }

        for (i = 0; i < rfl_nworkers; i++) {
            if (rfl_workers[i] == pid) {
                rfl_workers[i] = rfl_workers[--rfl_nworkers];
                break;
            }
        }
    }

    return 0;
}
