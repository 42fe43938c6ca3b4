
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_DC_H_INCLUDED_
#define _NGX_CALLS_DC_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * The messages of the Calls data channel "calls-dc" (calls-common
 * src/dc_msg.ts, rtcd service/rtc/dc/msg.go): flat msgpack, one value for
 * the type and an optional second value for the payload, no wrapper.
 * Decoding accepts any msgpack integer width for the type; encoding
 * writes the type as uint8 (0xcc NN) as rtcd does.
 */


typedef enum {
    NGX_CALLS_DC_PING = 1,
    NGX_CALLS_DC_PONG = 2,
    NGX_CALLS_DC_SDP = 3,              /* bin: zlib(JSON description) */
    NGX_CALLS_DC_LOSS_RATE = 4,        /* float, fraction */
    NGX_CALLS_DC_ROUND_TRIP_TIME = 5,  /* float, seconds */
    NGX_CALLS_DC_JITTER = 6,           /* float, seconds */
    NGX_CALLS_DC_LOCK = 7,             /* C->S no payload; S->C bool */
    NGX_CALLS_DC_UNLOCK = 8,
    NGX_CALLS_DC_MEDIA_MAP = 9         /* S->C map mid -> {type,sender_id} */
} ngx_calls_dc_type_e;


typedef enum {
    NGX_CALLS_DC_NONE = 0,             /* no payload */
    NGX_CALLS_DC_BOOL,
    NGX_CALLS_DC_NUMBER,               /* any int or float, as double */
    NGX_CALLS_DC_BIN,                  /* bin or str, points into input */
    NGX_CALLS_DC_OTHER                 /* a payload of another kind */
} ngx_calls_dc_payload_e;


typedef struct {
    unsigned                  type;    /* ngx_calls_dc_type_e or unknown */
    ngx_calls_dc_payload_e    kind;
    int                       boolean;
    double                    number;
    const uint8_t            *bin;
    size_t                    bin_len;
} ngx_calls_dc_msg_t;


typedef struct {
    const char               *mid;
    const char               *type;    /* voice, screen, screen-audio, video */
    const char               *sender_id;
} ngx_calls_dc_media_t;


/*
 * Decodes one message.  Returns 0, or -1 with a reason in err (not msgpack,
 * type not an integer, trailing bytes).  The payload of an unknown type is
 * still reported; the caller decides.
 */
int ngx_calls_dc_decode(const uint8_t *buf, size_t len,
    ngx_calls_dc_msg_t *msg, char *err, size_t errlen);

/*
 * Checks that buf starts with up to max complete msgpack values whose
 * containers declare no more elements than the bytes left could hold, and
 * sets end after the last.  Returns 0, or -1.  Run it before msgpack-c's
 * unpacker on untrusted input: the unpacker allocates a container's
 * elements from its declared count.
 */
int ngx_calls_dc_walk(const uint8_t *buf, size_t len, size_t max,
    size_t *end);

/*
 * Encoders write into buf and return the length, or -1 if size is short
 * (or type > 255, or a media string is NULL).
 */
long ngx_calls_dc_encode(uint8_t *buf, size_t size, unsigned type);
long ngx_calls_dc_encode_bool(uint8_t *buf, size_t size, unsigned type,
    int value);
long ngx_calls_dc_encode_bin(uint8_t *buf, size_t size, unsigned type,
    const uint8_t *bin, size_t len);
long ngx_calls_dc_encode_media_map(uint8_t *buf, size_t size,
    const ngx_calls_dc_media_t *media, size_t n);

/*
 * zlib (RFC 1950) helpers for SDP over the channel.  inflate refuses output
 * larger than max (the Calls plugin caps SDP at 64 KiB).  Both return the
 * output length, or -1 with a reason in err.
 */
long ngx_calls_dc_deflate(const uint8_t *in, size_t len, uint8_t *out,
    size_t size, char *err, size_t errlen);
long ngx_calls_dc_inflate(const uint8_t *in, size_t len, uint8_t *out,
    size_t max, char *err, size_t errlen);


#endif /* _NGX_CALLS_DC_H_INCLUDED_ */
