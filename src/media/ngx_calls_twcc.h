
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_TWCC_H_INCLUDED_
#define _NGX_CALLS_TWCC_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * Transport-wide congestion control feedback
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01): RTPFB (PT 205)
 * FMT 15.  The FCI, after the 12 bytes of RTCP header and two SSRCs:
 *
 *   base sequence number (16) | packet status count (16)
 *   reference time (24, signed in the draft, 64 ms units) | fb pkt count (8)
 *   packet chunks, 16 bits each, until status count statuses are covered:
 *     0 SS LLLLLLLLLLLLL   run length: symbol S repeated L times
 *     1 0 14 x 1 bit       status vector: 0 not received, 1 small delta
 *     1 1 7 x 2 bits       status vector: 00 not received, 01 small delta,
 *                                         10 large delta, 11 reserved
 *   receive deltas, in 250 us units, one per received packet in order:
 *     small: 1 byte, 0 .. 255 (0 .. 63.75 ms)
 *     large: 2 bytes, signed (-8192 .. 8191.75 ms)
 *   the first relative to reference time * 64 ms, each next relative to
 *   the previous; zero padding to 32 bits.
 *
 * Two halves:
 *   - rx: we receive a sender's packets with its transport-wide sequence
 *     numbers and send it feedback;
 *   - tx: we number what we send a receiver and read its feedback.
 * Both are fixed-size structures: nothing is allocated, per packet or
 * otherwise.  Times are microseconds of a monotonic clock (the event
 * loop's), below 2^63.
 */


/*
 * rx: the sequence numbers kept, a power of two.  2048 is 2 s at 1000
 * packets/s, ten feedback intervals at a rate (about 10 Mbit/s of full
 * packets) well above what a Calls sender sends; a packet older than
 * the window is ignored (counted), and a jump ahead by more than the
 * window forgets the unreported ones (counted).  16 KiB per sender.
 */
#define NGX_CALLS_TWCC_RX_WINDOW     2048

/*
 * When feedback is due: every 100 ms while packets are pending (the
 * interval of pion's TWCC sender interceptor, which rtcd uses, and
 * libwebrtc's default), or at once when 100 or more sequence numbers are
 * pending.  At 100 ms the sender learns of congestion within about an
 * RTT plus 100 ms; 100 sequence numbers keep one feedback packet well
 * under 300 bytes (20 + ~30 of chunks + up to 200 of deltas) and bound
 * the delay at high packet rates.  Cost: at most ten small packets a
 * second when the rate is low, and under 3 bytes per reported packet
 * (well under 1% of the media) when it is high.
 */
#define NGX_CALLS_TWCC_INTERVAL_US   100000
#define NGX_CALLS_TWCC_MAX_PENDING   100

/*
 * A buffer this large always takes a feedback packet (the lost numbers
 * before the first received one, in one run chunk, then that one with a
 * delta of up to 256 ticks: 20 + 2 + 2 + 2, padded).
 */
#define NGX_CALLS_TWCC_FEEDBACK_MIN  28

/*
 * tx: the packets remembered for their feedback, a power of two; 4096 is
 * 4 s at 1000 packets/s.  8 bytes each: 32 KiB per receiver.
 */
#define NGX_CALLS_TWCC_TX_RING       4096


typedef struct {
    int64_t                   arrival[NGX_CALLS_TWCC_RX_WINDOW]; /* -1: no */
    int64_t                   begin;     /* first seq of the next feedback */
    int64_t                   end;       /* highest seq received + 1 */
    uint64_t                  last_feedback_us;
    unsigned                  started:1;
    unsigned                  more:1;    /* the last feedback was split */
    uint8_t                   fb_count;  /* of the next feedback */

    /* counters */
    uint64_t                  packets;     /* recorded */
    uint64_t                  duplicates;  /* ignored: already recorded */
    uint64_t                  too_old;     /* ignored: before the window */
    uint64_t                  evicted;     /* seqs dropped unreported */
    uint64_t                  feedbacks;   /* packets built */
} ngx_calls_twcc_rx_t;


void ngx_calls_twcc_rx_init(ngx_calls_twcc_rx_t *rx);

/*
 * Records the arrival of the packet carrying transport-wide sequence
 * number tseq.  16-bit wraparound is followed (a number is taken as the
 * nearest to the highest seen); a reordered packet is put in its place; a
 * packet that arrives after feedback reported it lost is reported again,
 * received, in the next feedback.  Returns 0 when recorded, 1 for a
 * duplicate (the first arrival stands), -1 for a packet too old to keep.
 */
int ngx_calls_twcc_rx_packet(ngx_calls_twcc_rx_t *rx, uint16_t tseq,
    uint64_t now_us);

/* whether feedback should be built now (see NGX_CALLS_TWCC_INTERVAL_US) */
int ngx_calls_twcc_rx_due(ngx_calls_twcc_rx_t *rx, uint64_t now_us);

/*
 * Writes into buf one complete RTCP packet (V=2, PT 205, FMT 15, padded to
 * 32 bits with the P bit and the count in its last byte, as RFC 3550 and
 * libwebrtc do) covering every sequence number from the end of the
 * previous feedback (or an earlier late arrival) to the highest received,
 * lost ones included, with the next feedback packet count.  Returns its
 * length, or 0 when there is nothing new (or size is below
 * NGX_CALLS_TWCC_FEEDBACK_MIN).
 *
 * What does not fit is left for the next call, which then is due at once:
 * a receive delta beyond 16 bits (a gap of more than 8.19 s between two
 * arrivals; the next packet starts from a new reference time), or more
 * than size bytes.  A caller that wants everything now loops until 0.
 */
size_t ngx_calls_twcc_rx_feedback(ngx_calls_twcc_rx_t *rx, uint8_t *buf,
    size_t size, uint32_t sender_ssrc, uint32_t media_ssrc, uint64_t now_us);


typedef struct {
    uint32_t                  send_lo;   /* low 32 bits of the send time */
    uint16_t                  size;
    uint8_t                   state;     /* unreported, lost, received */
    uint8_t                   reserved;
} ngx_calls_twcc_sent_t;


typedef struct {
    ngx_calls_twcc_sent_t     ring[NGX_CALLS_TWCC_TX_RING];
    uint64_t                  first;     /* seq of the first packet sent */
    uint64_t                  next;      /* seq of the next packet, 64 bits */
    uint64_t                  last_send_us;
    int64_t                   ref;       /* reference time, unwrapped */
    unsigned                  have_ref:1;
    uint8_t                   fb_count;  /* of the last feedback read */

    /* counters */
    uint64_t                  feedbacks;   /* read */
    uint64_t                  malformed;   /* rejected whole */
    uint64_t                  unknown;     /* statuses of packets not held */
} ngx_calls_twcc_tx_t;


/*
 * What a feedback says about one packet we sent.  Each packet is reported
 * once as lost and once as received at most: a status that repeats what
 * an earlier feedback said is left out, so the results are news only.  A
 * packet reported lost and later received comes again, received, with
 * late set.
 */
typedef struct {
    uint64_t                  send_us;
    int64_t                   arrival_us;  /* receiver's clock; 0 if lost */
    uint32_t                  size;
    uint16_t                  tseq;
    uint8_t                   received;
    uint8_t                   late;
} ngx_calls_twcc_result_t;


/* the first packet sent gets first_tseq (0, or random) */
void ngx_calls_twcc_tx_init(ngx_calls_twcc_tx_t *tx, uint16_t first_tseq);

/*
 * Remembers a packet of size bytes sent at now_us and returns the
 * transport-wide sequence number to write into it.
 */
uint16_t ngx_calls_twcc_tx_sent(ngx_calls_twcc_tx_t *tx, size_t size,
    uint64_t now_us);

/*
 * Reads a feedback FCI (what follows the RTPFB header and the two SSRCs,
 * padding may be left on) and fills up to max results, in sequence order,
 * for the packets it reports that are among the last
 * NGX_CALLS_TWCC_TX_RING sent.  Returns the number of results, or -1 when
 * the FCI is malformed (too short, no statuses, chunks or deltas beyond
 * its end, the reserved symbol): nothing is then taken from it.  Statuses
 * past max are not taken either; max = NGX_CALLS_TWCC_TX_RING always
 * suffices.  Arrival times are those of the receiver's clock, continuous
 * across feedbacks (the 24-bit reference time is unwrapped).
 */
int ngx_calls_twcc_tx_feedback(ngx_calls_twcc_tx_t *tx, const uint8_t *fci,
    size_t len, ngx_calls_twcc_result_t *results, int max);

/*
 * If the RTCP packet at pkt (one packet of a compound, len bytes at
 * least as long as its length field says) is transport-wide feedback,
 * sets *fci and *fci_len to its FCI without padding and returns 0;
 * otherwise -1.
 */
int ngx_calls_twcc_fci(const uint8_t *pkt, size_t len, const uint8_t **fci,
    size_t *fci_len);


#endif /* _NGX_CALLS_TWCC_H_INCLUDED_ */
