
/*
 * Copyright (C) ngx_calls authors
 */


#include <string.h>

#include "ngx_calls_bytes.h"
#include "ngx_calls_rtp.h"


#define NGX_CALLS_RTP_ONE_BYTE      0xbede
#define ngx_calls_rtp_two_byte(p)   (((p) & 0xfff0) == 0x1000)


typedef struct {
    uint8_t                   id;
    uint8_t                   len;
    const uint8_t            *data;
} ngx_calls_rtp_elt_t;


static int ngx_calls_rtp_ext_next(const uint8_t *buf,
    const ngx_calls_rtp_t *rtp, size_t *pos, ngx_calls_rtp_elt_t *elt);


int
ngx_calls_rtp_parse(const uint8_t *buf, size_t len, ngx_calls_rtp_t *rtp)
{
    size_t  off, elen;

    if (len < 12 || (buf[0] >> 6) != 2) {
        return -1;
    }

    rtp->padding = (buf[0] >> 5) & 1;
    rtp->cc = buf[0] & 0x0f;
    rtp->marker = buf[1] >> 7;
    rtp->pt = buf[1] & 0x7f;
    rtp->seq = ngx_calls_get16(buf + 2);
    rtp->ts = ngx_calls_get32(buf + 4);
    rtp->ssrc = ngx_calls_get32(buf + 8);

    off = 12 + 4 * (size_t) rtp->cc;
    if (off > len) {
        return -1;
    }

    rtp->csrc_end = off;
    rtp->ext_profile = 0;
    rtp->ext_off = 0;
    rtp->ext_len = 0;

    if (buf[0] & 0x10) {
        if (off + 4 > len) {
            return -1;
        }

        rtp->ext_profile = ngx_calls_get16(buf + off);
        elen = 4 * (size_t) ngx_calls_get16(buf + off + 2);
        off += 4;

        if (off + elen > len) {
            return -1;
        }

        rtp->ext_off = off;
        rtp->ext_len = elen;
        off += elen;
    }

    rtp->pad_len = 0;

    if (rtp->padding) {
        if (off == len) {
            return -1;
        }

        rtp->pad_len = buf[len - 1];

        if (rtp->pad_len == 0 || off + rtp->pad_len > len) {
            return -1;
        }
    }

    rtp->header_len = off;
    rtp->payload_len = len - off - rtp->pad_len;

    return 0;
}


const uint8_t *
ngx_calls_rtp_ext_find(const uint8_t *buf, const ngx_calls_rtp_t *rtp,
    uint8_t id, size_t *len)
{
    size_t               pos;
    ngx_calls_rtp_elt_t  elt;

    pos = 0;

    while (ngx_calls_rtp_ext_next(buf, rtp, &pos, &elt) == 0) {
        if (elt.id == id) {
            *len = elt.len;
            return elt.data;
        }
    }

    return NULL;
}


int
ngx_calls_rtp_audio_level(const uint8_t *buf, const ngx_calls_rtp_t *rtp,
    uint8_t id, unsigned *level, unsigned *voice)
{
    size_t          len;
    const uint8_t  *p;

    if (id == 0) {
        return -1;
    }

    p = ngx_calls_rtp_ext_find(buf, rtp, id, &len);
    if (p == NULL || len < 1) {
        return -1;
    }

    *voice = p[0] >> 7;
    *level = p[0] & 0x7f;

    return 0;
}


size_t
ngx_calls_rtp_rewrite(uint8_t *out, size_t size, const uint8_t *in,
    const ngx_calls_rtp_t *rtp, uint32_t ssrc, uint8_t pt,
    const ngx_calls_rtp_extmap_t *map, uint16_t twcc_seq)
{
    size_t               n, pos, ext, body;
    uint8_t              id;
    ngx_calls_rtp_elt_t  elt;

    n = rtp->csrc_end;
    body = rtp->payload_len + rtp->pad_len;

    /* the largest extension block we may write: the sender's, rebuilt in
     * the one-byte form, plus transport-cc and padding */
    if (n + 4 + 2 * rtp->ext_len + 3 + 4 + body > size) {
        return 0;
    }

    memcpy(out, in, n);

    out[0] &= ~0x10;                             /* X, set below if needed */
    out[1] = (uint8_t) ((in[1] & 0x80) | (pt & 0x7f));
    ngx_calls_put32(out + 8, ssrc);

    ext = n + 4;
    pos = 0;

    while (ngx_calls_rtp_ext_next(in, rtp, &pos, &elt) == 0) {
        id = map->map[elt.id];

        if (id == 0 || id > NGX_CALLS_RTP_MAX_EXT_ID || id == map->twcc_id
            || elt.len == 0 || elt.len > 16)
        {
            continue;
        }

        out[ext++] = (uint8_t) ((id << 4) | (elt.len - 1));
        memcpy(out + ext, elt.data, elt.len);
        ext += elt.len;
    }

    if (map->twcc_id) {
        out[ext++] = (uint8_t) ((map->twcc_id << 4) | 1);
        ngx_calls_put16(out + ext, twcc_seq);
        ext += 2;
    }

    if (ext > n + 4) {
        while ((ext - n) % 4) {
            out[ext++] = 0;
        }

        out[0] |= 0x10;
        ngx_calls_put16(out + n, NGX_CALLS_RTP_ONE_BYTE);
        ngx_calls_put16(out + n + 2, (ext - n - 4) / 4);
        n = ext;
    }

    memcpy(out + n, in + rtp->header_len, body);

    return n + body;
}


/*
 * Walks the extension block one element at a time.  Returns -1 at the end
 * or at the first malformed element: what follows a broken length cannot
 * be trusted.
 */

static int
ngx_calls_rtp_ext_next(const uint8_t *buf, const ngx_calls_rtp_t *rtp,
    size_t *pos, ngx_calls_rtp_elt_t *elt)
{
    size_t          i, end;
    const uint8_t  *p;

    p = buf + rtp->ext_off;
    end = rtp->ext_len;
    i = *pos;

    if (rtp->ext_profile == NGX_CALLS_RTP_ONE_BYTE) {

        while (i < end && p[i] == 0) {
            i++;                                /* padding */
        }

        if (i >= end || (p[i] >> 4) == 15) {
            return -1;                          /* 15: stop processing */
        }

        elt->id = p[i] >> 4;
        elt->len = (p[i] & 0x0f) + 1;

        if (i + 1 + elt->len > end) {
            return -1;
        }

        elt->data = p + i + 1;
        *pos = i + 1 + elt->len;

        return 0;
    }

    if (ngx_calls_rtp_two_byte(rtp->ext_profile)) {

        while (i < end && p[i] == 0) {
            i++;
        }

        if (i + 2 > end) {
            return -1;
        }

        elt->id = p[i];
        elt->len = p[i + 1];

        if (i + 2 + elt->len > end) {
            return -1;
        }

        elt->data = p + i + 2;
        *pos = i + 2 + elt->len;

        return 0;
    }

    return -1;
}
