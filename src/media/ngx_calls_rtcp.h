
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_RTCP_H_INCLUDED_
#define _NGX_CALLS_RTCP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * RTCP (RFC 3550, 4585, 5104, 5506) as an SFU needs it: walk a compound
 * or reduced-size packet, decode the reports and feedback we act on, and
 * build the few packets we send.  No allocation; decoders point into the
 * caller's buffer, builders write into the caller's buffer.
 *
 * Receiving:
 *
 *     ngx_calls_rtcp_iter_t  it;
 *     ngx_calls_rtcp_item_t  item;
 *
 *     if (ngx_calls_rtcp_iter_init(&it, buf, len) < 0) {
 *         count a malformed packet; drop it
 *     }
 *
 *     while (ngx_calls_rtcp_iter_next(&it, &item)) {
 *         switch (item.pt) ... ngx_calls_rtcp_nack(&item, seqs, n) ...
 *     }
 */


/* packet types, RFC 3550 12.1, RFC 4585 6.1 */
#define NGX_CALLS_RTCP_SR              200
#define NGX_CALLS_RTCP_RR              201
#define NGX_CALLS_RTCP_SDES            202
#define NGX_CALLS_RTCP_BYE             203
#define NGX_CALLS_RTCP_APP             204
#define NGX_CALLS_RTCP_RTPFB           205
#define NGX_CALLS_RTCP_PSFB            206
#define NGX_CALLS_RTCP_XR              207

/* feedback message types (FMT) */
#define NGX_CALLS_RTCP_FB_NACK         1     /* RTPFB, RFC 4585 6.2.1 */
#define NGX_CALLS_RTCP_FB_TWCC         15    /* RTPFB, transport-wide cc */
#define NGX_CALLS_RTCP_FB_PLI          1     /* PSFB, RFC 4585 6.3.1 */
#define NGX_CALLS_RTCP_FB_FIR          4     /* PSFB, RFC 5104 4.3.1 */
#define NGX_CALLS_RTCP_FB_AFB          15    /* PSFB, REMB lives here */

/* a 5-bit count field: at most 31 report blocks or BYE sources */
#define NGX_CALLS_RTCP_MAX_RB          31

#define NGX_CALLS_RTCP_SDES_CNAME      1

/*
 * Building a NACK sorts a copy of the sequence numbers on the stack.
 * 1024 of them (2 KiB) is twice the receive tracker's window
 * (NGX_CALLS_NACK_WINDOW) and far more than one MTU can usefully carry
 * for a single stream; more is refused (the builder returns 0).
 */
#define NGX_CALLS_RTCP_NACK_MAX_SEQS   1024

/* seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix) */
#define NGX_CALLS_NTP_UNIX_OFFSET      2208988800ULL


/*
 * One packet of a compound: its common header, the sender SSRC (the first
 * SSRC of an SDES or BYE, 0 when there is none), the media source SSRC of
 * a feedback message (RTPFB, PSFB), and the body after the fixed part
 * with any padding removed:
 *
 *     SR, RR, APP, XR, others   after the 8 bytes of header + sender SSRC
 *     SDES, BYE                 after the 4-byte header (chunks, SSRCs)
 *     RTPFB, PSFB               after the 12-byte feedback header (FCI)
 *
 * pkt/pkt_len is the whole packet, padding included, for forwarding.
 */
typedef struct {
    uint8_t                   pt;
    uint8_t                   count;         /* RC, SC or FMT */
    uint32_t                  sender_ssrc;
    uint32_t                  media_ssrc;    /* RTPFB and PSFB only */
    const uint8_t            *body;
    size_t                    body_len;
    const uint8_t            *pkt;
    size_t                    pkt_len;
} ngx_calls_rtcp_item_t;


typedef struct {
    const uint8_t            *buf;
    size_t                    len;
    size_t                    off;
} ngx_calls_rtcp_iter_t;


/* report block, RFC 3550 6.4.1 */
typedef struct {
    uint32_t                  ssrc;
    uint8_t                   fraction_lost; /* 1/256ths */
    int32_t                   cumulative_lost; /* 24-bit signed on the wire */
    uint32_t                  ext_highest_seq;
    uint32_t                  jitter;        /* RTP timestamp units */
    uint32_t                  lsr;           /* middle 32 bits of NTP */
    uint32_t                  dlsr;          /* 1/65536 s */
} ngx_calls_rtcp_rb_t;


/* sender info of an SR, RFC 3550 6.4.1 */
typedef struct {
    uint64_t                  ntp;
    uint32_t                  rtp_ts;
    uint32_t                  packet_count;
    uint32_t                  octet_count;
} ngx_calls_rtcp_sender_info_t;


/* FCI entry of a FIR, RFC 5104 4.3.1.1 */
typedef struct {
    uint32_t                  ssrc;
    uint8_t                   seq_nr;
} ngx_calls_rtcp_fir_t;


/*
 * Validates a whole compound or reduced-size packet: every packet has
 * version 2, a type in 192..223 (RFC 5761: the only RTCP types that can
 * share a port with RTP), a length that fits, sane padding, and the fixed
 * part its type needs (the sender SSRC, SR sender info, RC report blocks,
 * SC BYE sources, a feedback header).  Returns the number of packets, or
 * -1: one bad packet refuses them all.
 */
int ngx_calls_rtcp_check(const uint8_t *buf, size_t len);

/*
 * Starts a walk: ngx_calls_rtcp_check() of the whole packet.  Returns the
 * number of packets, or -1 (then ngx_calls_rtcp_iter_next() yields
 * nothing).
 */
int ngx_calls_rtcp_iter_init(ngx_calls_rtcp_iter_t *it, const uint8_t *buf,
    size_t len);

/* 1 with the next packet in item, 0 at the end */
int ngx_calls_rtcp_iter_next(ngx_calls_rtcp_iter_t *it,
    ngx_calls_rtcp_item_t *item);


/*
 * Decoders.  Each checks the item's type and FMT, returns -1 when the
 * item is not of its kind or its body is malformed, else the number of
 * entries stored, at most max (further entries are skipped).
 */

/* SR: the sender info and the report blocks */
int ngx_calls_rtcp_sr(const ngx_calls_rtcp_item_t *item,
    ngx_calls_rtcp_sender_info_t *si, ngx_calls_rtcp_rb_t *rb, size_t max);

/* RR: the report blocks */
int ngx_calls_rtcp_rr(const ngx_calls_rtcp_item_t *item,
    ngx_calls_rtcp_rb_t *rb, size_t max);

/* Generic NACK: the lost sequence numbers, PID then BLP bits, in order */
int ngx_calls_rtcp_nack(const ngx_calls_rtcp_item_t *item, uint16_t *seqs,
    size_t max);

/* PLI: 0 with the media SSRC, or -1 */
int ngx_calls_rtcp_pli(const ngx_calls_rtcp_item_t *item, uint32_t *ssrc);

/* FIR: the (ssrc, seq nr) entries */
int ngx_calls_rtcp_fir(const ngx_calls_rtcp_item_t *item,
    ngx_calls_rtcp_fir_t *fir, size_t max);

/*
 * REMB: the bitrate in bits/s (mantissa << exp, saturated at UINT64_MAX)
 * and the SSRCs it applies to.  -1 for any other application-layer
 * feedback.
 */
int ngx_calls_rtcp_remb(const ngx_calls_rtcp_item_t *item, uint64_t *bitrate,
    uint32_t *ssrcs, size_t max);

/* BYE: the sources leaving (the reason, if any, is not decoded) */
int ngx_calls_rtcp_bye(const ngx_calls_rtcp_item_t *item, uint32_t *ssrcs,
    size_t max);


/*
 * Builders write one packet at buf and return its length, or 0 when it
 * does not fit in size (nothing useful is written then).  Concatenate
 * their outputs for a compound; a lone feedback packet is a valid
 * reduced-size RTCP packet (RFC 5506).
 */

size_t ngx_calls_rtcp_build_pli(uint8_t *buf, size_t size,
    uint32_t sender_ssrc, uint32_t media_ssrc);

/* RFC 5104: the header's media SSRC is 0, the target is in the FCI */
size_t ngx_calls_rtcp_build_fir(uint8_t *buf, size_t size,
    uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seq_nr);

/*
 * Generic NACK for n sequence numbers in any order, duplicates allowed
 * (n <= NGX_CALLS_RTCP_NACK_MAX_SEQS, n > 0).  Packed into the fewest
 * PID/BLP entries: the numbers are taken in circular order starting after
 * the largest gap between them, so a run across 65535 -> 0 stays one run.
 */
size_t ngx_calls_rtcp_build_nack(uint8_t *buf, size_t size,
    uint32_t sender_ssrc, uint32_t media_ssrc, const uint16_t *seqs,
    size_t n);

/* nrb <= NGX_CALLS_RTCP_MAX_RB */
size_t ngx_calls_rtcp_build_sr(uint8_t *buf, size_t size, uint32_t ssrc,
    const ngx_calls_rtcp_sender_info_t *si, const ngx_calls_rtcp_rb_t *rb,
    size_t nrb);

size_t ngx_calls_rtcp_build_rr(uint8_t *buf, size_t size, uint32_t ssrc,
    const ngx_calls_rtcp_rb_t *rb, size_t nrb);

/* one chunk with one CNAME item; len 1..255 */
size_t ngx_calls_rtcp_build_sdes(uint8_t *buf, size_t size, uint32_t ssrc,
    const char *cname, size_t len);


/*
 * NTP time (RFC 5905: seconds since 1900 in the high 32 bits, fraction in
 * the low 32) from Unix time in microseconds, and the middle 32 bits an
 * RR's LSR field carries.
 */
uint64_t ngx_calls_ntp_from_unix_us(uint64_t us);

#define ngx_calls_ntp_middle(ntp)    ((uint32_t) ((ntp) >> 16))

/*
 * Round-trip time from a report block about our SR (RFC 3550 6.4.1:
 * A - LSR - DLSR, all in 1/65536 s), now being the middle 32 bits of the
 * NTP time the block arrived, from the same clock as the NTP time in our
 * SRs.  Milliseconds, or -1 when the block does not refer to an SR (LSR
 * 0) or the result is negative.
 */
int64_t ngx_calls_rtcp_rtt_ms(uint32_t now_middle,
    const ngx_calls_rtcp_rb_t *rb);


#endif /* _NGX_CALLS_RTCP_H_INCLUDED_ */
