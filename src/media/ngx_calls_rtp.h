
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_RTP_H_INCLUDED_
#define _NGX_CALLS_RTP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * RTP (RFC 3550) as an SFU needs it: parse without copying, read header
 * extensions (RFC 8285 one- and two-byte forms), and write a packet for
 * one receiver with its own SSRC, payload type and extension ids.  RTCP
 * is in ngx_calls_rtcp.h.
 */


#define NGX_CALLS_RTP_MAX_EXT_ID     14      /* one-byte form */

#define NGX_CALLS_URI_AUDIO_LEVEL                                          \
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#define NGX_CALLS_URI_TWCC                                                 \
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
#define NGX_CALLS_URI_MID        "urn:ietf:params:rtp-hdrext:sdes:mid"
#define NGX_CALLS_URI_RID        "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
#define NGX_CALLS_URI_RRID                                                 \
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
#define NGX_CALLS_URI_ABS_SEND_TIME                                        \
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


typedef struct {
    uint8_t                   pt;
    unsigned                  marker:1;
    unsigned                  padding:1;
    uint8_t                   cc;
    uint16_t                  seq;
    uint32_t                  ts;
    uint32_t                  ssrc;

    size_t                    csrc_end;      /* offset after the CSRCs */
    uint16_t                  ext_profile;   /* 0 when no extension */
    size_t                    ext_off;       /* offset of extension data */
    size_t                    ext_len;       /* its length in bytes */

    size_t                    header_len;    /* payload offset */
    size_t                    payload_len;   /* without padding */
    size_t                    pad_len;
} ngx_calls_rtp_t;


/*
 * Per receiver: sender extension id -> receiver id (0 drops the element),
 * and the receiver's transport-cc id (0: none) to write our own
 * transport-wide sequence number for that receiver.
 */
typedef struct {
    uint8_t                   map[256];
    uint8_t                   twcc_id;
} ngx_calls_rtp_extmap_t;


/* RFC 5761 section 4: RTCP packet types 192..223 share the RTP space */
#define ngx_calls_rtp_is_rtcp(buf)                                          \
    ((buf)[1] >= 192 && (buf)[1] <= 223)

/* RFC 7983 */
#define ngx_calls_is_stun(b)     ((b) <= 3)
#define ngx_calls_is_dtls(b)     ((b) >= 20 && (b) <= 63)
#define ngx_calls_is_rtp(b)      ((b) >= 128 && (b) <= 191)


/* 0, or -1 when buf is not a well-formed RTP packet */
int ngx_calls_rtp_parse(const uint8_t *buf, size_t len, ngx_calls_rtp_t *rtp);

/* the data of extension element id, or NULL */
const uint8_t *ngx_calls_rtp_ext_find(const uint8_t *buf,
    const ngx_calls_rtp_t *rtp, uint8_t id, size_t *len);

/*
 * RFC 6464 audio level: 0 (loudest) .. 127 (silence) in *level, the V bit
 * in *voice.  -1 when the element is absent or malformed.
 */
int ngx_calls_rtp_audio_level(const uint8_t *buf, const ngx_calls_rtp_t *rtp,
    uint8_t id, unsigned *level, unsigned *voice);

/*
 * Writes the packet for one receiver into out (size bytes): our ssrc and
 * pt, the sender's sequence number, timestamp, marker, CSRCs and payload,
 * and an extension block rebuilt through map (one-byte form).  Returns
 * the length, or 0 if it does not fit.
 */
size_t ngx_calls_rtp_rewrite(uint8_t *out, size_t size, const uint8_t *in,
    const ngx_calls_rtp_t *rtp, uint32_t ssrc, uint8_t pt,
    const ngx_calls_rtp_extmap_t *map, uint16_t twcc_seq);


#endif /* _NGX_CALLS_RTP_H_INCLUDED_ */
