
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * What the SFU needs to know of video payloads: whether a packet starts a
 * keyframe, the only place a receiver can switch simulcast layers or
 * start decoding.
 */


#include "ngx_calls_session.h"


static int ngx_calls_vp8_keyframe(const uint8_t *p, size_t len);
static int ngx_calls_av1_keyframe(const uint8_t *p, size_t len);


int
ngx_calls_video_keyframe(ngx_calls_codec_e codec, const uint8_t *payload,
    size_t len)
{
    switch (codec) {

    case NGX_CALLS_CODEC_VP8:
        return ngx_calls_vp8_keyframe(payload, len);

    case NGX_CALLS_CODEC_AV1:
        return ngx_calls_av1_keyframe(payload, len);

    default:
        return 0;
    }
}


/*
 * RFC 7741: the payload descriptor (X R N S R PID, then the optional
 * I L T K byte, picture id, TL0PICIDX, TID/KEYIDX), then, at the start
 * of partition 0, the VP8 payload header whose P bit is 0 for a keyframe.
 */

static int
ngx_calls_vp8_keyframe(const uint8_t *p, size_t len)
{
    size_t  i;

    if (len < 1) {
        return 0;
    }

    /* S set and partition index 0: the frame starts here */
    if (!(p[0] & 0x10) || (p[0] & 0x07) != 0) {
        return 0;
    }

    i = 1;

    if (p[0] & 0x80) {
        if (len < 2) {
            return 0;
        }

        i = 2;

        if (p[1] & 0x80) {                   /* I: picture id */
            if (len <= i) {
                return 0;
            }

            i += (p[i] & 0x80) ? 2 : 1;      /* M: 15 bits */
        }

        if (p[1] & 0x40) {                   /* L: TL0PICIDX */
            i++;
        }

        if (p[1] & 0x30) {                   /* T or K */
            i++;
        }
    }

    if (i >= len) {
        return 0;
    }

    return (p[i] & 0x01) == 0;
}


/*
 * The AV1 RTP payload's aggregation header: Z Y W W N - - -.  N is set
 * on the first packet of a coded video sequence, which starts with a
 * keyframe; Z set would mean we are inside an OBU.
 */

static int
ngx_calls_av1_keyframe(const uint8_t *p, size_t len)
{
    if (len < 2) {
        return 0;
    }

    return (p[0] & 0x08) && !(p[0] & 0x80);
}
