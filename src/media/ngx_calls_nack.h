
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_NACK_H_INCLUDED_
#define _NGX_CALLS_NACK_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_calls_rtcp.h"


/*
 * The two halves of NACK-based repair (RFC 4585) and the receive
 * statistics of RFC 3550 that the receiver reports need:
 *
 *   - ngx_calls_nack_buf_t, on the sending side of one outgoing stream: a
 *     copy of the last packets sent, to answer a receiver's NACK with the
 *     same packet (rtcd has no RTX either, rtcd-protocol.md 3.8);
 *   - ngx_calls_nack_rx_t, on the receiving side of one incoming stream:
 *     extended sequence numbers, loss and jitter (RFC 3550 A.1, A.3, A.8),
 *     which sequence numbers are missing, and when to NACK them.
 *
 * Neither allocates per packet: the buffer allocates once at creation,
 * the tracker is a fixed-size struct the caller embeds.  Times are
 * milliseconds from the caller's clock (ngx_calls_now).
 */


/*
 * Retransmission buffer sizes.  rtcd keeps nack_buffer_size = 256 packets
 * per SSRC (pion's responder); its configuration accepts powers of two in
 * 32..8192, and so do we: a power of two makes the slot of a sequence
 * number seq & (slots - 1) and divides 65536, so wraparound needs no
 * special case.  256 packets of 1200 bytes cover ~1 s of a 2.5 Mbit/s
 * screen share.  1500 bytes is an Ethernet MTU: no RTP packet we send is
 * larger.
 */
#define NGX_CALLS_NACK_BUF_DEFAULT     256
#define NGX_CALLS_NACK_BUF_MIN         32
#define NGX_CALLS_NACK_BUF_MAX         8192
#define NGX_CALLS_NACK_PACKET_DEFAULT  1500
#define NGX_CALLS_NACK_PACKET_MAX      65535   /* a slot's 16-bit length */

/*
 * A packet older than this is not resent even if the buffer still holds
 * it: the receiver's jitter buffer has moved on (a suggested max_age_ms
 * for ngx_calls_nack_buf_get()).
 */
#define NGX_CALLS_NACK_BUF_AGE_MS      1000


/*
 * Receive tracker.
 *
 * WINDOW: sequence numbers whose fate (received, missing) is remembered,
 * behind the highest one.  512 is the size of the receive log of pion's
 * NACK generator that rtcd runs; within 1 s (MAX_AGE) it covers 512
 * packets/s, ~5 Mbit/s of 1200-byte packets, twice a simulcast high layer.
 * A power of two dividing 65536: slot = seq & (WINDOW - 1).  It also
 * replaces RFC 3550's MAX_MISORDER (100) as the distance within which an
 * older packet is a late arrival, not a jump: a retransmission answering
 * our NACK comes one RTT later, which during a keyframe burst can be more
 * than 100 packets.
 *
 * REORDER_MS, REORDER_PKTS: a missing packet is first NACKed after 10 ms,
 * or once 3 packets arrived after it went missing (TCP's three duplicate
 * ACKs): reordering on real paths is short, and a NACK for a packet that
 * was only late costs one duplicate, while waiting costs the receiver a
 * frozen frame.
 *
 * MIN_INTERVAL_MS, DEFAULT_RTT_MS: the next NACK for the same packet waits
 * one RTT (its retransmission cannot come sooner), at least 20 ms so a
 * LAN's sub-millisecond RTT does not flood the sender; when the caller
 * has no RTT yet (rtt_ms 0), 100 ms (libwebrtc's default RTT).
 *
 * MAX_TRIES: 10 NACKs per packet, as libwebrtc (kMaxNackRetries); after
 * that the sender evidently cannot resend it.
 *
 * MAX_AGE_MS: a packet missing for 1 s is given up, matching the sender's
 * buffer age (NGX_CALLS_NACK_BUF_AGE_MS): it could not be resent anyway.
 *
 * MAX_DROPOUT, MIN_SEQUENTIAL: RFC 3550 A.1.  A forward jump of less than
 * 3000 is loss; a larger jump or an older packet beyond the window is
 * ignored unless the next packet follows it (then the source restarted:
 * counting restarts there).  A new source is valid after 2 packets in
 * sequence.
 *
 * JITTER_MAX_S: an interarrival difference over 5 s of timestamp units is
 * a timestamp discontinuity, not jitter (libwebrtc skips those too).
 */
#define NGX_CALLS_NACK_WINDOW          512
#define NGX_CALLS_NACK_REORDER_MS      10
#define NGX_CALLS_NACK_REORDER_PKTS    3
#define NGX_CALLS_NACK_MIN_INTERVAL_MS 20
#define NGX_CALLS_NACK_DEFAULT_RTT_MS  100
#define NGX_CALLS_NACK_MAX_TRIES       10
#define NGX_CALLS_NACK_MAX_AGE_MS      1000
#define NGX_CALLS_RX_MAX_DROPOUT       3000
#define NGX_CALLS_RX_MIN_SEQUENTIAL    2
#define NGX_CALLS_RX_JITTER_MAX_S      5


typedef struct ngx_calls_nack_buf_s  ngx_calls_nack_buf_t;


/* what became of a packet handed to ngx_calls_nack_rx_packet() */
typedef enum {
    NGX_CALLS_RX_NEW = 0,        /* advanced the highest sequence number */
    NGX_CALLS_RX_LATE,           /* filled a hole: reordered or resent */
    NGX_CALLS_RX_DUPLICATE,      /* already received */
    NGX_CALLS_RX_OLD,            /* in the window, before counting began */
    NGX_CALLS_RX_PROBATION,      /* source not validated yet (A.1) */
    NGX_CALLS_RX_JUMP,           /* a jump, ignored until confirmed */
    NGX_CALLS_RX_RESYNC          /* jump confirmed: counting restarts */
} ngx_calls_rx_result_e;


/*
 * One sequence number of the window: slot seq & (WINDOW - 1) stands for
 * the one number in (max_seq - WINDOW, max_seq] with those low bits.
 */
#define NGX_CALLS_NACK_NONE            0   /* before counting began */
#define NGX_CALLS_NACK_RECEIVED        1
#define NGX_CALLS_NACK_MISSING         2   /* being NACKed */
#define NGX_CALLS_NACK_GAVE_UP         3   /* missing, NACKs stopped */

typedef struct {
    uint32_t                  since;     /* ms it went missing */
    uint32_t                  last;      /* ms of the last NACK */
    uint32_t                  received;  /* rx->received by then */
    uint8_t                   state;
    uint8_t                   tries;
} ngx_calls_nack_slot_t;


typedef struct {
    uint32_t                  clock_rate;

    /* RFC 3550 A.1 */
    uint16_t                  max_seq;
    uint32_t                  cycles;    /* count of wraps << 16 */
    uint32_t                  base_seq;
    uint32_t                  bad_seq;   /* 65537: none */
    uint32_t                  probation;
    uint32_t                  received;
    uint32_t                  expected_prior;
    uint32_t                  received_prior;
    unsigned                  started:1;

    /* RFC 3550 A.8, jitter << 4 */
    uint32_t                  jitter;
    uint32_t                  transit;
    uint32_t                  last_ts;
    unsigned                  have_transit:1;

    /* the last SR from this source */
    uint32_t                  lsr;
    uint64_t                  lsr_ms;

    /* missing packets: being NACKed now, and given up on (too old, too
     * many NACKs, pushed out of the window or a gap too long for it) */
    uint32_t                  nmissing;
    uint64_t                  gave_up;
    ngx_calls_nack_slot_t     slots[NGX_CALLS_NACK_WINDOW];
} ngx_calls_nack_rx_t;


/*
 * slots: a power of two in NGX_CALLS_NACK_BUF_MIN..MAX; max_packet:
 * 1..NGX_CALLS_NACK_PACKET_MAX; 0 for either means its default, as
 * rtcd's nack_buffer_size = 0 does.  The one allocation is
 * slots * (max_packet + 16) bytes and a little more (256 * 1500: about 380 KiB).
 * NULL on bad arguments or no memory.
 */
ngx_calls_nack_buf_t *ngx_calls_nack_buf_create(unsigned slots,
    size_t max_packet);
void ngx_calls_nack_buf_free(ngx_calls_nack_buf_t *b);

/*
 * Keeps a copy of the packet as it would be sent again.  0, or -1 when
 * refused: longer than max_packet, empty, or older than the buffer reaches
 * (a packet `slots` or more behind the newest).  Two such old packets in
 * sequence mean the stream restarted: the buffer is emptied and follows
 * the new numbers.
 */
int ngx_calls_nack_buf_put(ngx_calls_nack_buf_t *b, uint16_t seq,
    const uint8_t *pkt, size_t len, uint64_t now_ms);

/*
 * The packet with sequence number seq, if it is among the last `slots`
 * and was put at most max_age_ms ago; NULL otherwise.  The pointer stays
 * valid until the next put.
 */
const uint8_t *ngx_calls_nack_buf_get(ngx_calls_nack_buf_t *b, uint16_t seq,
    size_t *len, uint64_t now_ms, uint64_t max_age_ms);


/* clock_rate: the RTP clock of the payload, e.g. 90000 for video */
void ngx_calls_nack_rx_init(ngx_calls_nack_rx_t *rx, uint32_t clock_rate);

ngx_calls_rx_result_e ngx_calls_nack_rx_packet(ngx_calls_nack_rx_t *rx,
    uint16_t seq, uint32_t rtp_ts, uint64_t now_ms);

/*
 * The sequence numbers to NACK now, oldest first, at most max; those
 * returned count as NACKed at now_ms.  Gives up on packets missing for
 * MAX_AGE_MS or NACKed MAX_TRIES times (counted in rx->gave_up).  rtt_ms:
 * the current round-trip estimate to the sender, 0 if unknown.
 */
size_t ngx_calls_nack_rx_nacks(ngx_calls_nack_rx_t *rx, uint64_t now_ms,
    uint32_t rtt_ms, uint16_t *out, size_t max);

/*
 * Fills a report block about this source (RFC 3550 6.4.1, A.3): loss
 * since the previous call, cumulative loss, extended highest sequence
 * number, jitter, and LSR/DLSR from the last ngx_calls_nack_rx_sr().
 * -1 while the source is not valid yet (nothing to report).
 */
int ngx_calls_nack_rx_report(ngx_calls_nack_rx_t *rx, uint32_t ssrc,
    uint64_t now_ms, ngx_calls_rtcp_rb_t *rb);

/* an SR arrived: ntp_middle is ngx_calls_ntp_middle() of its NTP time */
void ngx_calls_nack_rx_sr(ngx_calls_nack_rx_t *rx, uint32_t ntp_middle,
    uint64_t now_ms);


#endif /* _NGX_CALLS_NACK_H_INCLUDED_ */
