
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


/*
 * The picture id (7 or 15 bits) and TL0PICIDX of a VP8 payload
 * descriptor, where present.  0, or -1 when the descriptor has neither.
 */

int
ngx_calls_vp8_ids(const uint8_t *p, size_t len, ngx_calls_vp8_ids_t *ids)
{
    size_t  i;

    ids->has_picture_id = 0;
    ids->long_picture_id = 0;
    ids->has_tl0picidx = 0;
    ids->picture_id = 0;
    ids->tl0picidx = 0;

    if (len < 2 || !(p[0] & 0x80)) {
        return -1;
    }

    i = 2;

    if (p[1] & 0x80) {
        if (i >= len) {
            return -1;
        }

        if (p[i] & 0x80) {
            if (i + 1 >= len) {
                return -1;
            }

            ids->picture_id = (uint16_t) (((p[i] & 0x7f) << 8) | p[i + 1]);
            ids->long_picture_id = 1;
            i += 2;

        } else {
            ids->picture_id = p[i] & 0x7f;
            i++;
        }

        ids->has_picture_id = 1;
    }

    if (p[1] & 0x40) {
        if (i >= len) {
            return -1;
        }

        ids->tl0picidx = p[i];
        ids->has_tl0picidx = 1;
    }

    return (ids->has_picture_id || ids->has_tl0picidx) ? 0 : -1;
}


/*
 * Adds the deltas to the ids in place (modulo their widths) and notes
 * the ids written, for the next re-basing.
 */

int
ngx_calls_vp8_rewrite(uint8_t *p, size_t len, uint16_t pic_delta,
    uint8_t tl0_delta, uint16_t *last_pic, uint8_t *last_tl0)
{
    size_t               i;
    uint16_t             pic;
    ngx_calls_vp8_ids_t  ids;

    if (ngx_calls_vp8_ids(p, len, &ids) != 0) {
        return -1;
    }

    i = 2;

    if (ids.has_picture_id) {
        if (ids.long_picture_id) {
            pic = (uint16_t) ((ids.picture_id + pic_delta) & 0x7fff);
            p[i] = (uint8_t) (0x80 | (pic >> 8));
            p[i + 1] = (uint8_t) pic;
            i += 2;

        } else {
            pic = (uint16_t) ((ids.picture_id + pic_delta) & 0x7f);
            p[i] = (uint8_t) pic;
            i++;
        }

        *last_pic = pic;
    }

    if (ids.has_tl0picidx) {
        p[i] = (uint8_t) (ids.tl0picidx + tl0_delta);
        *last_tl0 = p[i];
    }

    return 0;
}
