
/*
 * Copyright (C) ngx_calls authors
 */


#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <msgpack.h>
#include <zlib.h>

#include "ngx_calls_dc.h"


typedef struct {
    uint8_t                  *buf;
    size_t                    size;
    size_t                    len;
} ngx_calls_dc_out_t;


static int ngx_calls_dc_payload(const uint8_t *buf, size_t len,
    const msgpack_object *o, ngx_calls_dc_msg_t *msg, char *err,
    size_t errlen);
static int ngx_calls_dc_write(void *data, const char *buf, size_t len);
static int ngx_calls_dc_pack_type(msgpack_packer *pk, unsigned type);
static int ngx_calls_dc_pack_cstr(msgpack_packer *pk, const char *s);


/*
 * Checks that buf starts with up to max complete msgpack values, without
 * building anything, and sets end to the offset after the last of them.
 *
 * Why this exists: msgpack-c's unpacker allocates the element array of an
 * array or a map from the count in its header, before it has seen a
 * single element, so the five bytes "dd ff ff ff ff" make it ask for
 * 128 GB.  Here every declared element must fit in the bytes that remain
 * (each takes at least one), so once this walk succeeds msgpack-c never
 * allocates more than a few words per input byte.  msgpack-c stays the
 * decoder; this only bounds what it may be asked to do.
 */

int
ngx_calls_dc_walk(const uint8_t *buf, size_t len, size_t max, size_t *end)
{
    size_t    pos, k, i, nvalues;
    uint8_t   b;
    uint64_t  need, n, skip, v;

    pos = 0;

    for (nvalues = 0; nvalues < max && pos < len; nvalues++) {

        need = 1;

        while (need > 0) {

            if (pos >= len) {
                return -1;
            }

            b = buf[pos++];
            need--;

            n = 0;      /* elements the value contains */
            skip = 0;   /* bytes of body after the header */
            k = 0;      /* bytes of a length or count field */

            if (b <= 0x7f || b >= 0xe0) {
                /* positive or negative fixint */

            } else if (b <= 0x8f) {
                n = 2 * (uint64_t) (b & 0x0f);

            } else if (b <= 0x9f) {
                n = b & 0x0f;

            } else if (b <= 0xbf) {
                skip = b & 0x1f;

            } else {

                switch (b) {

                case 0xc0:  /* nil */
                case 0xc2:  /* false */
                case 0xc3:  /* true */
                    break;

                case 0xcc: case 0xd0: skip = 1; break;
                case 0xcd: case 0xd1: skip = 2; break;
                case 0xca: case 0xce: case 0xd2: skip = 4; break;
                case 0xcb: case 0xcf: case 0xd3: skip = 8; break;

                /* fixext: a type byte and 1..16 bytes */
                case 0xd4: skip = 2; break;
                case 0xd5: skip = 3; break;
                case 0xd6: skip = 5; break;
                case 0xd7: skip = 9; break;
                case 0xd8: skip = 17; break;

                case 0xc4: case 0xc7: case 0xd9: k = 1; break;
                case 0xc5: case 0xc8: case 0xda: k = 2; break;
                case 0xc6: case 0xc9: case 0xdb: k = 4; break;

                case 0xdc: case 0xde: k = 2; break;
                case 0xdd: case 0xdf: k = 4; break;

                default:    /* 0xc1 is never used */
                    return -1;
                }

                if (k > 0) {

                    if (k > len - pos) {
                        return -1;
                    }

                    v = 0;
                    for (i = 0; i < k; i++) {
                        v = (v << 8) | buf[pos + i];
                    }

                    pos += k;

                    if (b >= 0xdc) {
                        n = (b >= 0xde) ? 2 * v : v;

                    } else if (b >= 0xc7 && b <= 0xc9) {
                        skip = v + 1;   /* the ext type byte */

                    } else {
                        skip = v;
                    }
                }
            }

            if (skip > len - pos) {
                return -1;
            }

            pos += (size_t) skip;

            /* need stays <= len, so this cannot overflow */
            need += n;

            if (need > len - pos) {
                return -1;
            }
        }
    }

    *end = pos;

    return 0;
}


int
ngx_calls_dc_decode(const uint8_t *buf, size_t len, ngx_calls_dc_msg_t *msg,
    char *err, size_t errlen)
{
    int                    rc;
    size_t                 off, end;
    msgpack_unpacked       u;
    msgpack_unpack_return  ret;

    memset(msg, 0, sizeof(ngx_calls_dc_msg_t));
    msg->kind = NGX_CALLS_DC_NONE;

    if (len == 0) {
        snprintf(err, errlen, "empty message");
        return -1;
    }

    /* the type and the payload; what follows is not looked at */

    if (ngx_calls_dc_walk(buf, len, 2, &end) != 0) {
        snprintf(err, errlen, "not msgpack: truncated or invalid value");
        return -1;
    }

    if (end != len) {
        snprintf(err, errlen, "trailing bytes after the payload");
        return -1;
    }

    off = 0;
    msgpack_unpacked_init(&u);

    ret = msgpack_unpack_next(&u, (const char *) buf, len, &off);
    if (ret != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&u);
        snprintf(err, errlen, "not msgpack: unpack of the type failed (%d)",
                 (int) ret);
        return -1;
    }

    /*
     * Any width is accepted: JS sends a positive fixint, rtcd a uint8.
     * A type that does not fit in unsigned (negative or too large) must
     * not alias a known type after truncation, so it becomes UINT_MAX,
     * which is unknown as well.
     */

    switch (u.data.type) {

    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        msg->type = (u.data.via.u64 <= UINT_MAX) ? (unsigned) u.data.via.u64
                                                 : UINT_MAX;
        break;

    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        msg->type = UINT_MAX;
        break;

    default:
        msgpack_unpacked_destroy(&u);
        snprintf(err, errlen, "message type is not an integer");
        return -1;
    }

    if (off == len) {
        msgpack_unpacked_destroy(&u);
        return 0;
    }

    ret = msgpack_unpack_next(&u, (const char *) buf, len, &off);
    if (ret != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&u);
        snprintf(err, errlen, "not msgpack: unpack of the payload failed "
                 "(%d)", (int) ret);
        return -1;
    }

    rc = ngx_calls_dc_payload(buf, len, &u.data, msg, err, errlen);

    msgpack_unpacked_destroy(&u);

    if (rc != 0) {
        return -1;
    }

    if (off != len) {
        snprintf(err, errlen, "trailing bytes after the payload");
        return -1;
    }

    return 0;
}


static int
ngx_calls_dc_payload(const uint8_t *buf, size_t len, const msgpack_object *o,
    ngx_calls_dc_msg_t *msg, char *err, size_t errlen)
{
    size_t         size;
    const uint8_t  *p;

    switch (o->type) {

    case MSGPACK_OBJECT_NIL:
        msg->kind = NGX_CALLS_DC_NONE;
        return 0;

    case MSGPACK_OBJECT_BOOLEAN:
        msg->kind = NGX_CALLS_DC_BOOL;
        msg->boolean = o->via.boolean ? 1 : 0;
        return 0;

    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        msg->kind = NGX_CALLS_DC_NUMBER;
        msg->number = (double) o->via.u64;
        return 0;

    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        msg->kind = NGX_CALLS_DC_NUMBER;
        msg->number = (double) o->via.i64;
        return 0;

    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        msg->kind = NGX_CALLS_DC_NUMBER;
        msg->number = o->via.f64;
        return 0;

    case MSGPACK_OBJECT_STR:
        p = (const uint8_t *) o->via.str.ptr;
        size = o->via.str.size;
        break;

    case MSGPACK_OBJECT_BIN:
        p = (const uint8_t *) o->via.bin.ptr;
        size = o->via.bin.size;
        break;

    default:
        msg->kind = NGX_CALLS_DC_OTHER;
        return 0;
    }

    /*
     * msgpack_unpack_next() leaves str and bin pointing into the data it
     * was given, so the payload outlives the msgpack zone.  Check it
     * rather than trust it: a copy in the zone would dangle once the
     * zone is freed.
     */

    if (p < buf || p > buf + len || size > (size_t) (buf + len - p)) {
        snprintf(err, errlen, "msgpack returned a payload outside the "
                 "message");
        return -1;
    }

    msg->kind = NGX_CALLS_DC_BIN;
    msg->bin = p;
    msg->bin_len = size;

    return 0;
}


static int
ngx_calls_dc_write(void *data, const char *buf, size_t len)
{
    ngx_calls_dc_out_t  *out = data;

    /* an empty bin body comes as (NULL, 0), not valid for memcpy() */
    if (len == 0) {
        return 0;
    }

    if (len > out->size - out->len) {
        return -1;
    }

    memcpy(out->buf + out->len, buf, len);
    out->len += len;

    return 0;
}


/* the type as uint8 with its marker (0xcc NN), as rtcd's EncodeUint8 */

static int
ngx_calls_dc_pack_type(msgpack_packer *pk, unsigned type)
{
    if (type > 0xff) {
        return -1;
    }

    return msgpack_pack_fix_uint8(pk, (uint8_t) type);
}


static int
ngx_calls_dc_pack_cstr(msgpack_packer *pk, const char *s)
{
    if (s == NULL) {
        return -1;
    }

    return msgpack_pack_str_with_body(pk, s, strlen(s));
}


long
ngx_calls_dc_encode(uint8_t *buf, size_t size, unsigned type)
{
    msgpack_packer      pk;
    ngx_calls_dc_out_t  out;

    out.buf = buf;
    out.size = size;
    out.len = 0;

    msgpack_packer_init(&pk, &out, ngx_calls_dc_write);

    if (ngx_calls_dc_pack_type(&pk, type) != 0) {
        return -1;
    }

    return (long) out.len;
}


long
ngx_calls_dc_encode_bool(uint8_t *buf, size_t size, unsigned type, int value)
{
    int                 rc;
    msgpack_packer      pk;
    ngx_calls_dc_out_t  out;

    out.buf = buf;
    out.size = size;
    out.len = 0;

    msgpack_packer_init(&pk, &out, ngx_calls_dc_write);

    if (ngx_calls_dc_pack_type(&pk, type) != 0) {
        return -1;
    }

    rc = value ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    if (rc != 0) {
        return -1;
    }

    return (long) out.len;
}


long
ngx_calls_dc_encode_bin(uint8_t *buf, size_t size, unsigned type,
    const uint8_t *bin, size_t len)
{
    msgpack_packer      pk;
    ngx_calls_dc_out_t  out;

    /* msgpack bin lengths are 32 bits at most */
    if (len > UINT32_MAX || (bin == NULL && len != 0)) {
        return -1;
    }

    out.buf = buf;
    out.size = size;
    out.len = 0;

    msgpack_packer_init(&pk, &out, ngx_calls_dc_write);

    if (ngx_calls_dc_pack_type(&pk, type) != 0
        || msgpack_pack_bin_with_body(&pk, bin, len) != 0)
    {
        return -1;
    }

    return (long) out.len;
}


long
ngx_calls_dc_encode_media_map(uint8_t *buf, size_t size,
    const ngx_calls_dc_media_t *media, size_t n)
{
    size_t              i;
    msgpack_packer      pk;
    ngx_calls_dc_out_t  out;

    if (n > UINT32_MAX || (media == NULL && n != 0)) {
        return -1;
    }

    out.buf = buf;
    out.size = size;
    out.len = 0;

    msgpack_packer_init(&pk, &out, ngx_calls_dc_write);

    if (ngx_calls_dc_pack_type(&pk, NGX_CALLS_DC_MEDIA_MAP) != 0
        || msgpack_pack_map(&pk, n) != 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {

        if (ngx_calls_dc_pack_cstr(&pk, media[i].mid) != 0
            || msgpack_pack_map(&pk, 2) != 0
            || ngx_calls_dc_pack_cstr(&pk, "type") != 0
            || ngx_calls_dc_pack_cstr(&pk, media[i].type) != 0
            || ngx_calls_dc_pack_cstr(&pk, "sender_id") != 0
            || ngx_calls_dc_pack_cstr(&pk, media[i].sender_id) != 0)
        {
            return -1;
        }
    }

    return (long) out.len;
}


long
ngx_calls_dc_deflate(const uint8_t *in, size_t len, uint8_t *out,
    size_t size, char *err, size_t errlen)
{
    int     rc;
    uLongf  olen;

    if (len > ULONG_MAX || size > ULONG_MAX || size > LONG_MAX) {
        snprintf(err, errlen, "deflate: buffer too large for zlib");
        return -1;
    }

    olen = (uLongf) size;

    /* zlib format (RFC 1950), as Go's zlib.NewWriter and pako.deflate */
    rc = compress2(out, &olen, in, (uLong) len, Z_DEFAULT_COMPRESSION);

    switch (rc) {

    case Z_OK:
        return (long) olen;

    case Z_BUF_ERROR:
        snprintf(err, errlen, "deflate: %zu bytes do not fit in %zu bytes",
                 len, size);
        return -1;

    case Z_MEM_ERROR:
        snprintf(err, errlen, "deflate: out of memory");
        return -1;

    default:
        snprintf(err, errlen, "deflate: zlib error %d", rc);
        return -1;
    }
}


long
ngx_calls_dc_inflate(const uint8_t *in, size_t len, uint8_t *out,
    size_t max, char *err, size_t errlen)
{
    int       rc;
    long      n;
    z_stream  zs;

    if (len > UINT_MAX || max > UINT_MAX) {
        snprintf(err, errlen, "inflate: buffer too large for zlib");
        return -1;
    }

    memset(&zs, 0, sizeof(z_stream));

    rc = inflateInit(&zs);
    if (rc != Z_OK) {
        snprintf(err, errlen, "inflate: inflateInit() failed: %d", rc);
        return -1;
    }

    zs.next_in = (Bytef *) in;
    zs.avail_in = (uInt) len;
    zs.next_out = out;
    zs.avail_out = (uInt) max;

    /*
     * One call with all the input and room for max bytes: Z_STREAM_END
     * means the whole stream fit; anything else is an error, and a full
     * output buffer means the SDP is larger than we accept.
     */

    rc = inflate(&zs, Z_FINISH);

    n = -1;

    switch (rc) {

    case Z_STREAM_END:

        if (zs.avail_in != 0) {
            snprintf(err, errlen, "inflate: %u bytes after the end of the "
                     "zlib stream", zs.avail_in);
            break;
        }

        n = (long) zs.total_out;
        break;

    case Z_BUF_ERROR:
    case Z_OK:

        if (zs.avail_out == 0) {
            snprintf(err, errlen, "inflated SDP larger than %zu bytes", max);

        } else {
            snprintf(err, errlen, "inflate: truncated zlib stream");
        }

        break;

    case Z_NEED_DICT:
        snprintf(err, errlen, "inflate: zlib stream needs a dictionary");
        break;

    case Z_DATA_ERROR:
        snprintf(err, errlen, "inflate: corrupt zlib stream: %s",
                 zs.msg ? zs.msg : "unknown error");
        break;

    case Z_MEM_ERROR:
        snprintf(err, errlen, "inflate: out of memory");
        break;

    default:
        snprintf(err, errlen, "inflate: zlib error %d", rc);
        break;
    }

    (void) inflateEnd(&zs);

    return n;
}
