
/*
 * Copyright (C) ngx_calls authors
 */


#include <string.h>

#include "ngx_calls_bytes.h"
#include "ngx_calls_rtcp.h"


#define NGX_CALLS_RTCP_RB_LEN       24       /* report block */
#define NGX_CALLS_RTCP_SI_LEN       20       /* SR sender info */
#define NGX_CALLS_RTCP_FB_LEN       12       /* header + 2 SSRCs */

/* cumulative number of packets lost: a 24-bit signed field */
#define NGX_CALLS_RTCP_LOST_MAX     0x7fffff
#define NGX_CALLS_RTCP_LOST_MIN     (-0x800000)


static size_t ngx_calls_rtcp_parse(const uint8_t *buf, size_t len,
    ngx_calls_rtcp_item_t *item);
static void ngx_calls_rtcp_get_rb(const uint8_t *p, ngx_calls_rtcp_rb_t *rb);
static uint8_t *ngx_calls_rtcp_put_rb(uint8_t *p,
    const ngx_calls_rtcp_rb_t *rb);
static void ngx_calls_rtcp_sort(uint16_t *a, size_t n);


int
ngx_calls_rtcp_check(const uint8_t *buf, size_t len)
{
    int                    n;
    size_t                 off, plen;
    ngx_calls_rtcp_item_t  item;

    if (len == 0) {
        return -1;
    }

    n = 0;

    for (off = 0; off < len; off += plen) {
        plen = ngx_calls_rtcp_parse(buf + off, len - off, &item);
        if (plen == 0) {
            return -1;
        }

        n++;
    }

    return n;
}


int
ngx_calls_rtcp_iter_init(ngx_calls_rtcp_iter_t *it, const uint8_t *buf,
    size_t len)
{
    int  n;

    n = ngx_calls_rtcp_check(buf, len);

    it->buf = buf;
    it->len = n < 0 ? 0 : len;
    it->off = 0;

    return n;
}


int
ngx_calls_rtcp_iter_next(ngx_calls_rtcp_iter_t *it,
    ngx_calls_rtcp_item_t *item)
{
    size_t  plen;

    if (it->off >= it->len) {
        return 0;
    }

    plen = ngx_calls_rtcp_parse(it->buf + it->off, it->len - it->off, item);

    if (plen == 0) {
        /* not after a successful ngx_calls_rtcp_iter_init() */
        it->off = it->len;
        return 0;
    }

    it->off += plen;

    return 1;
}


/*
 * One packet at buf: its length (a multiple of 4), or 0 when malformed.
 */

static size_t
ngx_calls_rtcp_parse(const uint8_t *buf, size_t len,
    ngx_calls_rtcp_item_t *item)
{
    size_t   plen, end, fixed, need, pad, reason;
    uint8_t  pt, count;

    if (len < 4 || (buf[0] >> 6) != 2) {
        return 0;
    }

    pt = buf[1];

    if (pt < 192 || pt > 223) {
        return 0;
    }

    plen = 4 * ((size_t) ngx_calls_get16(buf + 2) + 1);

    if (plen > len) {
        return 0;
    }

    end = plen;

    if (buf[0] & 0x20) {
        /* RFC 3550 6.4.1: the last octet counts the padding, itself too */
        pad = buf[plen - 1];

        if (pad == 0 || pad > plen - 4) {
            return 0;
        }

        end = plen - pad;
    }

    count = buf[0] & 0x1f;

    switch (pt) {

    case NGX_CALLS_RTCP_SR:
        fixed = 8;
        need = 8 + NGX_CALLS_RTCP_SI_LEN + NGX_CALLS_RTCP_RB_LEN * count;
        break;

    case NGX_CALLS_RTCP_RR:
        fixed = 8;
        need = 8 + NGX_CALLS_RTCP_RB_LEN * count;
        break;

    case NGX_CALLS_RTCP_SDES:
        /* a chunk is at least an SSRC and one null octet, padded to 4 */
        fixed = 4;
        need = 4 + 8 * (size_t) count;
        break;

    case NGX_CALLS_RTCP_BYE:
        fixed = 4;
        need = 4 + 4 * (size_t) count;

        if (end > need) {
            /* an optional reason: length octet and text */
            reason = buf[need];
            if (need + 1 + reason > end) {
                return 0;
            }
        }

        break;

    case NGX_CALLS_RTCP_APP:
        fixed = 8;
        need = 12;                               /* SSRC and name */
        break;

    case NGX_CALLS_RTCP_RTPFB:
    case NGX_CALLS_RTCP_PSFB:
        fixed = NGX_CALLS_RTCP_FB_LEN;
        need = NGX_CALLS_RTCP_FB_LEN;
        break;

    default:
        /* XR and anything else: a sender SSRC when there is room */
        fixed = end >= 8 ? 8 : 4;
        need = fixed;
        break;
    }

    if (end < need) {
        return 0;
    }

    item->pt = pt;
    item->count = count;
    item->sender_ssrc = 0;
    item->media_ssrc = 0;

    if (end >= 8 && (fixed >= 8 || count > 0)) {
        item->sender_ssrc = ngx_calls_get32(buf + 4);
    }

    if (fixed == NGX_CALLS_RTCP_FB_LEN) {
        item->media_ssrc = ngx_calls_get32(buf + 8);
    }

    item->body = buf + fixed;
    item->body_len = end - fixed;
    item->pkt = buf;
    item->pkt_len = plen;

    return plen;
}


int
ngx_calls_rtcp_sr(const ngx_calls_rtcp_item_t *item,
    ngx_calls_rtcp_sender_info_t *si, ngx_calls_rtcp_rb_t *rb, size_t max)
{
    size_t          i, n;
    const uint8_t  *p;

    if (item->pt != NGX_CALLS_RTCP_SR
        || item->body_len < NGX_CALLS_RTCP_SI_LEN
                            + NGX_CALLS_RTCP_RB_LEN * (size_t) item->count)
    {
        return -1;
    }

    p = item->body;

    si->ntp = ((uint64_t) ngx_calls_get32(p) << 32) | ngx_calls_get32(p + 4);
    si->rtp_ts = ngx_calls_get32(p + 8);
    si->packet_count = ngx_calls_get32(p + 12);
    si->octet_count = ngx_calls_get32(p + 16);

    p += NGX_CALLS_RTCP_SI_LEN;
    n = item->count < max ? item->count : max;

    for (i = 0; i < n; i++) {
        ngx_calls_rtcp_get_rb(p, &rb[i]);
        p += NGX_CALLS_RTCP_RB_LEN;
    }

    return (int) n;
}


int
ngx_calls_rtcp_rr(const ngx_calls_rtcp_item_t *item,
    ngx_calls_rtcp_rb_t *rb, size_t max)
{
    size_t          i, n;
    const uint8_t  *p;

    if (item->pt != NGX_CALLS_RTCP_RR
        || item->body_len < NGX_CALLS_RTCP_RB_LEN * (size_t) item->count)
    {
        return -1;
    }

    p = item->body;
    n = item->count < max ? item->count : max;

    for (i = 0; i < n; i++) {
        ngx_calls_rtcp_get_rb(p, &rb[i]);
        p += NGX_CALLS_RTCP_RB_LEN;
    }

    return (int) n;
}


int
ngx_calls_rtcp_nack(const ngx_calls_rtcp_item_t *item, uint16_t *seqs,
    size_t max)
{
    size_t          off, n;
    uint16_t        pid, blp;
    unsigned        i;
    const uint8_t  *p;

    if (item->pt != NGX_CALLS_RTCP_RTPFB
        || item->count != NGX_CALLS_RTCP_FB_NACK
        || item->body_len == 0 || item->body_len % 4)
    {
        return -1;
    }

    p = item->body;
    n = 0;

    for (off = 0; off < item->body_len && n < max; off += 4) {
        pid = ngx_calls_get16(p + off);
        blp = ngx_calls_get16(p + off + 2);

        seqs[n++] = pid;

        for (i = 0; i < 16 && n < max; i++) {
            if (blp & (1u << i)) {
                seqs[n++] = (uint16_t) (pid + i + 1);
            }
        }
    }

    return (int) n;
}


int
ngx_calls_rtcp_pli(const ngx_calls_rtcp_item_t *item, uint32_t *ssrc)
{
    /* RFC 4585 6.3.1: no FCI; anything after it is ignored */

    if (item->pt != NGX_CALLS_RTCP_PSFB
        || item->count != NGX_CALLS_RTCP_FB_PLI)
    {
        return -1;
    }

    *ssrc = item->media_ssrc;

    return 0;
}


int
ngx_calls_rtcp_fir(const ngx_calls_rtcp_item_t *item,
    ngx_calls_rtcp_fir_t *fir, size_t max)
{
    size_t          off, n;
    const uint8_t  *p;

    if (item->pt != NGX_CALLS_RTCP_PSFB
        || item->count != NGX_CALLS_RTCP_FB_FIR
        || item->body_len == 0 || item->body_len % 8)
    {
        return -1;
    }

    p = item->body;
    n = 0;

    for (off = 0; off < item->body_len && n < max; off += 8) {
        fir[n].ssrc = ngx_calls_get32(p + off);
        fir[n].seq_nr = p[off + 4];
        n++;
    }

    return (int) n;
}


int
ngx_calls_rtcp_remb(const ngx_calls_rtcp_item_t *item, uint64_t *bitrate,
    uint32_t *ssrcs, size_t max)
{
    size_t          i, n, num;
    unsigned        exp;
    uint64_t        mantissa;
    const uint8_t  *p;

    if (item->pt != NGX_CALLS_RTCP_PSFB
        || item->count != NGX_CALLS_RTCP_FB_AFB
        || item->body_len < 8
        || memcmp(item->body, "REMB", 4) != 0)
    {
        return -1;
    }

    p = item->body;
    num = p[4];

    if (item->body_len < 8 + 4 * num) {
        return -1;
    }

    exp = p[5] >> 2;
    mantissa = ((uint64_t) (p[5] & 0x03) << 16) | ngx_calls_get16(p + 6);

    /* the mantissa has 18 bits: only a large exponent can overflow */
    if (exp > 46 && (mantissa >> (64 - exp)) != 0) {
        *bitrate = UINT64_MAX;

    } else {
        *bitrate = mantissa << exp;
    }

    n = num < max ? num : max;

    for (i = 0; i < n; i++) {
        ssrcs[i] = ngx_calls_get32(p + 8 + 4 * i);
    }

    return (int) n;
}


int
ngx_calls_rtcp_bye(const ngx_calls_rtcp_item_t *item, uint32_t *ssrcs,
    size_t max)
{
    size_t  i, n;

    if (item->pt != NGX_CALLS_RTCP_BYE
        || item->body_len < 4 * (size_t) item->count)
    {
        return -1;
    }

    n = item->count < max ? item->count : max;

    for (i = 0; i < n; i++) {
        ssrcs[i] = ngx_calls_get32(item->body + 4 * i);
    }

    return (int) n;
}


size_t
ngx_calls_rtcp_build_pli(uint8_t *buf, size_t size, uint32_t sender_ssrc,
    uint32_t media_ssrc)
{
    if (size < 12) {
        return 0;
    }

    buf[0] = 0x80 | NGX_CALLS_RTCP_FB_PLI;
    buf[1] = NGX_CALLS_RTCP_PSFB;
    ngx_calls_put16(buf + 2, 2);
    ngx_calls_put32(buf + 4, sender_ssrc);
    ngx_calls_put32(buf + 8, media_ssrc);

    return 12;
}


size_t
ngx_calls_rtcp_build_fir(uint8_t *buf, size_t size, uint32_t sender_ssrc,
    uint32_t media_ssrc, uint8_t seq_nr)
{
    if (size < 20) {
        return 0;
    }

    buf[0] = 0x80 | NGX_CALLS_RTCP_FB_FIR;
    buf[1] = NGX_CALLS_RTCP_PSFB;
    ngx_calls_put16(buf + 2, 4);
    ngx_calls_put32(buf + 4, sender_ssrc);
    ngx_calls_put32(buf + 8, 0);
    ngx_calls_put32(buf + 12, media_ssrc);
    buf[16] = seq_nr;
    buf[17] = 0;
    buf[18] = 0;
    buf[19] = 0;

    return 20;
}


size_t
ngx_calls_rtcp_build_nack(uint8_t *buf, size_t size, uint32_t sender_ssrc,
    uint32_t media_ssrc, const uint16_t *seqs, size_t n)
{
    size_t    i, k, m, start, len;
    uint16_t  a[NGX_CALLS_RTCP_NACK_MAX_SEQS], pid, blp, gap, best, d;

    if (n == 0 || n > NGX_CALLS_RTCP_NACK_MAX_SEQS) {
        return 0;
    }

    memcpy(a, seqs, n * sizeof(uint16_t));
    ngx_calls_rtcp_sort(a, n);

    /* unique */

    m = 1;

    for (i = 1; i < n; i++) {
        if (a[i] != a[m - 1]) {
            a[m++] = a[i];
        }
    }

    /*
     * Start after the largest circular gap, so that the numbers read as
     * one ascending run modulo 2^16 (65534, 65535, 0, 1 ...).  The gap
     * from the last number round to the first wins ties: start at 0.
     */

    start = 0;
    best = (uint16_t) (a[0] - a[m - 1]);

    for (i = 1; i < m; i++) {
        gap = (uint16_t) (a[i] - a[i - 1]);
        if (gap > best) {
            best = gap;
            start = i;
        }
    }

    /* greedy: each uncovered number opens an entry covering 16 more */

    len = NGX_CALLS_RTCP_FB_LEN;

    for (k = 0; k < m; /* void */) {
        pid = a[(start + k) % m];
        blp = 0;

        for (k++; k < m; k++) {
            d = (uint16_t) (a[(start + k) % m] - pid);
            if (d > 16) {
                break;
            }

            blp |= (uint16_t) (1u << (d - 1));
        }

        if (len + 4 > size) {
            return 0;
        }

        ngx_calls_put16(buf + len, pid);
        ngx_calls_put16(buf + len + 2, blp);
        len += 4;
    }

    /* 12 + 4 * 1024 bytes at most: the length field cannot overflow */

    buf[0] = 0x80 | NGX_CALLS_RTCP_FB_NACK;
    buf[1] = NGX_CALLS_RTCP_RTPFB;
    ngx_calls_put16(buf + 2, len / 4 - 1);
    ngx_calls_put32(buf + 4, sender_ssrc);
    ngx_calls_put32(buf + 8, media_ssrc);

    return len;
}


size_t
ngx_calls_rtcp_build_sr(uint8_t *buf, size_t size, uint32_t ssrc,
    const ngx_calls_rtcp_sender_info_t *si, const ngx_calls_rtcp_rb_t *rb,
    size_t nrb)
{
    size_t    i, len;
    uint8_t  *p;

    len = 8 + NGX_CALLS_RTCP_SI_LEN + NGX_CALLS_RTCP_RB_LEN * nrb;

    if (nrb > NGX_CALLS_RTCP_MAX_RB || len > size) {
        return 0;
    }

    buf[0] = (uint8_t) (0x80 | nrb);
    buf[1] = NGX_CALLS_RTCP_SR;
    ngx_calls_put16(buf + 2, len / 4 - 1);
    ngx_calls_put32(buf + 4, ssrc);
    ngx_calls_put32(buf + 8, (uint32_t) (si->ntp >> 32));
    ngx_calls_put32(buf + 12, (uint32_t) si->ntp);
    ngx_calls_put32(buf + 16, si->rtp_ts);
    ngx_calls_put32(buf + 20, si->packet_count);
    ngx_calls_put32(buf + 24, si->octet_count);

    p = buf + 28;

    for (i = 0; i < nrb; i++) {
        p = ngx_calls_rtcp_put_rb(p, &rb[i]);
    }

    return len;
}


size_t
ngx_calls_rtcp_build_rr(uint8_t *buf, size_t size, uint32_t ssrc,
    const ngx_calls_rtcp_rb_t *rb, size_t nrb)
{
    size_t    i, len;
    uint8_t  *p;

    len = 8 + NGX_CALLS_RTCP_RB_LEN * nrb;

    if (nrb > NGX_CALLS_RTCP_MAX_RB || len > size) {
        return 0;
    }

    buf[0] = (uint8_t) (0x80 | nrb);
    buf[1] = NGX_CALLS_RTCP_RR;
    ngx_calls_put16(buf + 2, len / 4 - 1);
    ngx_calls_put32(buf + 4, ssrc);

    p = buf + 8;

    for (i = 0; i < nrb; i++) {
        p = ngx_calls_rtcp_put_rb(p, &rb[i]);
    }

    return len;
}


size_t
ngx_calls_rtcp_build_sdes(uint8_t *buf, size_t size, uint32_t ssrc,
    const char *cname, size_t len)
{
    size_t  n, end;

    if (len == 0 || len > 255) {
        return 0;
    }

    /* header, SSRC, CNAME item; then at least one null octet ends the
     * item list, and nulls pad the chunk to 32 bits (RFC 3550 6.5) */

    end = 4 + 4 + 2 + len;
    n = (end + 1 + 3) & ~(size_t) 3;

    if (n > size) {
        return 0;
    }

    buf[0] = 0x81;
    buf[1] = NGX_CALLS_RTCP_SDES;
    ngx_calls_put16(buf + 2, n / 4 - 1);
    ngx_calls_put32(buf + 4, ssrc);
    buf[8] = NGX_CALLS_RTCP_SDES_CNAME;
    buf[9] = (uint8_t) len;
    memcpy(buf + 10, cname, len);
    memset(buf + end, 0, n - end);

    return n;
}


uint64_t
ngx_calls_ntp_from_unix_us(uint64_t us)
{
    uint64_t  sec, frac;

    sec = us / 1000000 + NGX_CALLS_NTP_UNIX_OFFSET;
    frac = ((us % 1000000) << 32) / 1000000;

    return (sec << 32) | frac;
}


int64_t
ngx_calls_rtcp_rtt_ms(uint32_t now_middle, const ngx_calls_rtcp_rb_t *rb)
{
    uint32_t  rtt;

    if (rb->lsr == 0) {
        return -1;
    }

    rtt = now_middle - rb->lsr - rb->dlsr;

    if ((int32_t) rtt < 0) {
        return -1;
    }

    return (int64_t) (((uint64_t) rtt * 1000) >> 16);
}


static void
ngx_calls_rtcp_get_rb(const uint8_t *p, ngx_calls_rtcp_rb_t *rb)
{
    uint32_t  lost;

    rb->ssrc = ngx_calls_get32(p);
    rb->fraction_lost = p[4];

    lost = ngx_calls_get24(p + 5);
    rb->cumulative_lost = (lost & 0x800000) ? (int32_t) lost - 0x1000000
                                            : (int32_t) lost;

    rb->ext_highest_seq = ngx_calls_get32(p + 8);
    rb->jitter = ngx_calls_get32(p + 12);
    rb->lsr = ngx_calls_get32(p + 16);
    rb->dlsr = ngx_calls_get32(p + 20);
}


static uint8_t *
ngx_calls_rtcp_put_rb(uint8_t *p, const ngx_calls_rtcp_rb_t *rb)
{
    int32_t  lost;

    lost = rb->cumulative_lost;

    if (lost > NGX_CALLS_RTCP_LOST_MAX) {
        lost = NGX_CALLS_RTCP_LOST_MAX;

    } else if (lost < NGX_CALLS_RTCP_LOST_MIN) {
        lost = NGX_CALLS_RTCP_LOST_MIN;
    }

    ngx_calls_put32(p, rb->ssrc);
    p[4] = rb->fraction_lost;
    ngx_calls_put24(p + 5, (uint32_t) lost);
    ngx_calls_put32(p + 8, rb->ext_highest_seq);
    ngx_calls_put32(p + 12, rb->jitter);
    ngx_calls_put32(p + 16, rb->lsr);
    ngx_calls_put32(p + 20, rb->dlsr);

    return p + NGX_CALLS_RTCP_RB_LEN;
}


/*
 * Heapsort: in place, O(n log n) whatever the input, no allocation (glibc's
 * qsort() may call malloc() for its merge sort).
 */

static void
ngx_calls_rtcp_sort(uint16_t *a, size_t n)
{
    size_t    i, end, root, child;
    uint16_t  t;

    if (n < 2) {
        return;
    }

    for (i = n / 2; i-- > 0; /* void */) {
        root = i;

        while ((child = 2 * root + 1) < n) {
            if (child + 1 < n && a[child + 1] > a[child]) {
                child++;
            }

            if (a[root] >= a[child]) {
                break;
            }

            t = a[root]; a[root] = a[child]; a[child] = t;
            root = child;
        }
    }

    for (end = n - 1; end > 0; end--) {
        t = a[0]; a[0] = a[end]; a[end] = t;
        root = 0;

        while ((child = 2 * root + 1) < end) {
            if (child + 1 < end && a[child + 1] > a[child]) {
                child++;
            }

            if (a[root] >= a[child]) {
                break;
            }

            t = a[root]; a[root] = a[child]; a[child] = t;
            root = child;
        }
    }
}
