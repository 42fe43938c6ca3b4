
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * srtp_bench: ns per packet of SRTP protect and unprotect, ours
 * (src/media/ngx_calls_srtp.c on OpenSSL) against libsrtp2 (Debian's, on
 * NSS), for both profiles, 100- and 1200-byte payloads, with 1 and 400
 * contexts alive and used round robin (NSS slows down as keys are added).
 *
 *   make srtp-bench            or   build/bench/srtp_bench [iterations]
 *
 * Protect reuses one buffer per context with the next sequence number
 * (its content does not matter to the cost); unprotect is timed over
 * batches protected beforehand, untimed, so that every packet is fresh
 * to the replay window.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include "ngx_calls_dtls.h"
#include "ngx_calls_srtp.h"
#include "libsrtp_oracle.h"


#define BATCH     16                          /* unprotect: per context */
#define PKT_MAX   (12 + 1200 + NGX_CALLS_SRTP_TRAILER)


typedef struct {
    ngx_calls_srtp_t   tx;                    /* ours, sender */
    ngx_calls_srtp_t   rx;                    /* ours, its peer */
    srtp_t             lib_tx;
    srtp_t             lib_rx;
    /*
     * per use (protect ours/libsrtp, unprotect ours/libsrtp) its own SSRC
     * and sequence numbers, so that each sender state sees one stream
     */
    uint16_t           seq[4];
    uint32_t           ssrc[4];
} bench_ctx_t;


static double
now_ns(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}


static size_t
rtp(uint8_t *p, uint16_t seq, uint32_t ssrc, size_t payload)
{
    memset(p, 0xa5, 12 + payload);

    p[0] = 0x80;
    p[1] = 111;
    p[2] = (uint8_t) (seq >> 8);
    p[3] = (uint8_t) seq;
    p[8] = (uint8_t) (ssrc >> 24);
    p[9] = (uint8_t) (ssrc >> 16);
    p[10] = (uint8_t) (ssrc >> 8);
    p[11] = (uint8_t) ssrc;

    return 12 + payload;
}


static bench_ctx_t *
contexts(unsigned profile, size_t n)
{
    char          err[128];
    size_t        i, j;
    uint8_t       k1[NGX_CALLS_SRTP_MAX_KEY_SALT];
    uint8_t       k2[NGX_CALLS_SRTP_MAX_KEY_SALT];
    bench_ctx_t  *c;

    c = calloc(n, sizeof(bench_ctx_t));
    if (c == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        for (j = 0; j < sizeof(k1); j++) {
            k1[j] = (uint8_t) (uint32_t) random();
            k2[j] = (uint8_t) (uint32_t) random();
        }

        if (ngx_calls_srtp_create(&c[i].tx, profile, k1, k2, err,
                                  sizeof(err)) != 0
            || ngx_calls_srtp_create(&c[i].rx, profile, k2, k1, err,
                                     sizeof(err)) != 0)
        {
            fprintf(stderr, "srtp_bench: %s\n", err);
            exit(1);
        }

        c[i].lib_tx = libsrtp_create(profile, k1, 0);
        c[i].lib_rx = libsrtp_create(profile, k1, 1);

        if (c[i].lib_tx == NULL || c[i].lib_rx == NULL) {
            fprintf(stderr, "srtp_bench: srtp_create failed\n");
            exit(1);
        }

        for (j = 0; j < 4; j++) {
            c[i].ssrc[j] = (uint32_t) random();
            c[i].seq[j] = (uint16_t) (uint32_t) random();
        }
    }

    return c;
}


static void
contexts_free(bench_ctx_t *c, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        ngx_calls_srtp_free(&c[i].tx);
        ngx_calls_srtp_free(&c[i].rx);
        (void) srtp_dealloc(c[i].lib_tx);
        (void) srtp_dealloc(c[i].lib_rx);
    }

    free(c);
}


static double
bench_protect(bench_ctx_t *c, size_t nctx, size_t payload, size_t iters,
    int lib)
{
    int              n;
    size_t           i, k, len, plen;
    double           t0, t1;
    static uint8_t   buf[PKT_MAX];

    plen = rtp(buf, 0, 0, payload);
    t0 = now_ns();

    for (i = 0, k = 0; i < iters; i++) {
        buf[2] = (uint8_t) (c[k].seq[lib] >> 8);
        buf[3] = (uint8_t) c[k].seq[lib];
        buf[8] = (uint8_t) (c[k].ssrc[lib] >> 24);
        buf[9] = (uint8_t) (c[k].ssrc[lib] >> 16);
        buf[10] = (uint8_t) (c[k].ssrc[lib] >> 8);
        buf[11] = (uint8_t) c[k].ssrc[lib];
        c[k].seq[lib]++;

        if (lib) {
            n = (int) plen;

            if (srtp_protect(c[k].lib_tx, buf, &n) != srtp_err_status_ok) {
                fprintf(stderr, "srtp_bench: srtp_protect failed\n");
                exit(1);
            }

        } else {
            len = plen;

            if (ngx_calls_srtp_protect(&c[k].tx, buf, &len)
                != NGX_CALLS_SRTP_OK)
            {
                fprintf(stderr, "srtp_bench: protect failed\n");
                exit(1);
            }
        }

        if (++k == nctx) {
            k = 0;
        }
    }

    t1 = now_ns();

    return (t1 - t0) / (double) iters;
}


static double
bench_unprotect(bench_ctx_t *c, size_t nctx, size_t payload, size_t iters,
    int lib)
{
    int              n;
    size_t           i, j, k, len, done;
    double           t0, total;
    uint8_t         *p;
    srtp_err_status_t  st;
    static uint8_t  *pkts;
    static size_t   *lens;

    pkts = realloc(pkts, nctx * BATCH * PKT_MAX);
    lens = realloc(lens, nctx * BATCH * sizeof(size_t));

    if (pkts == NULL || lens == NULL) {
        fprintf(stderr, "srtp_bench: no memory\n");
        exit(1);
    }

    total = 0;
    done = 0;

    while (done < iters) {
        /* untimed: a fresh batch, round robin over the contexts */

        for (j = 0; j < BATCH; j++) {
            for (k = 0; k < nctx; k++) {
                i = j * nctx + k;
                p = pkts + i * PKT_MAX;
                len = rtp(p, c[k].seq[2 + lib]++, c[k].ssrc[2 + lib],
                          payload);

                if (lib) {
                    n = (int) len;
                    st = srtp_protect(c[k].lib_tx, p, &n);
                    len = (size_t) n;

                } else {
                    st = ngx_calls_srtp_protect(&c[k].tx, p, &len)
                         == NGX_CALLS_SRTP_OK ? srtp_err_status_ok
                                              : srtp_err_status_fail;
                }

                if (st != srtp_err_status_ok) {
                    fprintf(stderr, "srtp_bench: protect failed\n");
                    exit(1);
                }

                lens[i] = len;
            }
        }

        t0 = now_ns();

        for (i = 0; i < nctx * BATCH; i++) {
            k = i % nctx;
            p = pkts + i * PKT_MAX;

            if (lib) {
                n = (int) lens[i];

                if (srtp_unprotect(c[k].lib_rx, p, &n)
                    != srtp_err_status_ok)
                {
                    fprintf(stderr, "srtp_bench: srtp_unprotect failed\n");
                    exit(1);
                }

            } else {
                len = lens[i];

                if (ngx_calls_srtp_unprotect(&c[k].rx, p, &len)
                    != NGX_CALLS_SRTP_OK)
                {
                    fprintf(stderr, "srtp_bench: unprotect failed\n");
                    exit(1);
                }
            }
        }

        total += now_ns() - t0;
        done += nctx * BATCH;
    }

    return total / (double) done;
}


int
main(int argc, char **argv)
{
    size_t        p, s, n, iters, it;
    double        ours, lib;
    bench_ctx_t  *c;

    static const struct {
        unsigned     profile;
        const char  *name;
    } profiles[] = {
        { NGX_CALLS_SRTP_AES128_CM_SHA1_80, "AES_CM_128_HMAC_SHA1_80" },
        { NGX_CALLS_SRTP_AEAD_AES_128_GCM, "AEAD_AES_128_GCM" },
    };

    static const size_t  sizes[] = { 100, 1200 };
    static const size_t  nctxs[] = { 1, 400 };

    iters = (argc > 1) ? (size_t) strtoul(argv[1], NULL, 10) : 200000;

    if (iters == 0 || ngx_calls_srtp_init() != 0
        || srtp_init() != srtp_err_status_ok)
    {
        fprintf(stderr, "usage: srtp_bench [iterations]\n");
        return 1;
    }

    printf("srtp_bench: %s vs libsrtp2 %s; %zu packets per figure\n\n",
           OpenSSL_version(OPENSSL_VERSION), srtp_get_version_string(),
           iters);
    printf("%-24s %7s %5s %-10s %9s %11s %7s\n", "profile", "payload",
           "ctxs", "op", "ours ns", "libsrtp ns", "ratio");

    for (p = 0; p < 2; p++) {
        for (n = 0; n < 2; n++) {
            c = contexts(profiles[p].profile, nctxs[n]);
            if (c == NULL) {
                return 1;
            }

            for (s = 0; s < 2; s++) {
                it = sizes[s] > 500 ? iters / 2 : iters;

                /* warm up both, then measure */
                (void) bench_protect(c, nctxs[n], sizes[s], it / 10, 0);
                (void) bench_protect(c, nctxs[n], sizes[s], it / 10, 1);

                ours = bench_protect(c, nctxs[n], sizes[s], it, 0);
                lib = bench_protect(c, nctxs[n], sizes[s], it, 1);

                printf("%-24s %7zu %5zu %-10s %9.0f %11.0f %6.1fx\n",
                       profiles[p].name, sizes[s], nctxs[n], "protect",
                       ours, lib, lib / ours);

                ours = bench_unprotect(c, nctxs[n], sizes[s], it, 0);
                lib = bench_unprotect(c, nctxs[n], sizes[s], it, 1);

                printf("%-24s %7zu %5zu %-10s %9.0f %11.0f %6.1fx\n",
                       profiles[p].name, sizes[s], nctxs[n], "unprotect",
                       ours, lib, lib / ours);
            }

            contexts_free(c, nctxs[n]);
        }
    }

    printf("\nratio: libsrtp ns / ours ns\n");

    return 0;
}
