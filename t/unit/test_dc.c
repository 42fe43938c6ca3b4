
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The calls-dc codec: byte vectors as the JS client and rtcd write them,
 * encoder round trips, malformed input, the zlib helpers and a seeded
 * random/mutation loop (run under ASan by make unit).
 */


#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <msgpack.h>

#include "tap.h"
#include "ngx_calls_dc.h"


static uint64_t  rng_state = 0x9e3779b97f4a7c15ULL;


static uint64_t
rng(void)
{
    /* xorshift64*: reproducible, so a failure can be replayed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;

    return rng_state * 0x2545f4914f6cdd1dULL;
}


static int
decode(const uint8_t *buf, size_t len, ngx_calls_dc_msg_t *msg, char *err)
{
    err[0] = '\0';

    return ngx_calls_dc_decode(buf, len, msg, err, 256);
}


static void
test_vectors(void)
{
    char                err[256];
    ngx_calls_dc_msg_t  msg;

    static const uint8_t  js_ping[] = { 0x01 };
    static const uint8_t  rtcd_pong[] = { 0xcc, 0x02 };
    static const uint8_t  lock_true[] = { 0xcc, 0x07, 0xc3 };
    static const uint8_t  lock_false[] = { 0x07, 0xc2 };
    /* LossRate 0.125 as float64, as Go and JS write a JS number */
    static const uint8_t  loss[] = {
        0x04, 0xcb, 0x3f, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
    };
    /* Jitter 0.5 as float32 */
    static const uint8_t  jitter32[] = { 0x06, 0xca, 0x3f, 0x00, 0x00, 0x00 };
    static const uint8_t  rtt_int[] = { 0x05, 0x03 };
    static const uint8_t  neg_num[] = { 0x05, 0xd0, 0x85 };
    static const uint8_t  sdp_bin[] = { 0x03, 0xc4, 0x03, 0x78, 0x9c, 0x01 };
    static const uint8_t  sdp_str[] = { 0x03, 0xa3, 'a', 'b', 'c' };
    static const uint8_t  empty_bin[] = { 0x03, 0xc4, 0x00 };
    static const uint8_t  with_nil[] = { 0x08, 0xc0 };
    static const uint8_t  map_payload[] = {
        0x09, 0x81, 0xa1, 'a', 0x80
    };
    static const uint8_t  array_payload[] = { 0x09, 0x92, 0x01, 0x02 };
    static const uint8_t  ext_payload[] = { 0x09, 0xd4, 0x01, 0x02 };
    static const uint8_t  type_u16[] = { 0xcd, 0x00, 0x07 };
    static const uint8_t  type_u64[] = {
        0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01
    };
    static const uint8_t  type_i8[] = { 0xd0, 0x01 };
    static const uint8_t  type_negfix[] = { 0xff };
    static const uint8_t  type_huge[] = {
        0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01
    };

    is_int(decode(js_ping, sizeof(js_ping), &msg, err), 0, "JS Ping 0x01");
    is_int(msg.type, NGX_CALLS_DC_PING, "JS Ping: type 1");
    is_int(msg.kind, NGX_CALLS_DC_NONE, "JS Ping: no payload");

    is_int(decode(rtcd_pong, sizeof(rtcd_pong), &msg, err), 0,
           "rtcd Pong cc 02");
    is_int(msg.type, NGX_CALLS_DC_PONG, "rtcd Pong: type 2");
    is_int(msg.kind, NGX_CALLS_DC_NONE, "rtcd Pong: no payload");

    is_int(decode(lock_true, sizeof(lock_true), &msg, err), 0,
           "Lock response cc 07 c3");
    is_int(msg.type, NGX_CALLS_DC_LOCK, "Lock response: type 7");
    is_int(msg.kind, NGX_CALLS_DC_BOOL, "Lock response: bool");
    is_int(msg.boolean, 1, "Lock response: true");

    is_int(decode(lock_false, sizeof(lock_false), &msg, err), 0,
           "Lock response 07 c2");
    is_int(msg.boolean, 0, "Lock response: false");

    is_int(decode(loss, sizeof(loss), &msg, err), 0, "LossRate 04 cb f64");
    is_int(msg.type, NGX_CALLS_DC_LOSS_RATE, "LossRate: type 4");
    is_int(msg.kind, NGX_CALLS_DC_NUMBER, "LossRate: number");
    ok(msg.number == 0.125, "LossRate: 0.125");

    is_int(decode(jitter32, sizeof(jitter32), &msg, err), 0,
           "Jitter 06 ca f32");
    is_int(msg.kind, NGX_CALLS_DC_NUMBER, "Jitter: number");
    ok(msg.number == 0.5, "Jitter: 0.5");

    is_int(decode(rtt_int, sizeof(rtt_int), &msg, err), 0, "RTT as fixint");
    ok(msg.kind == NGX_CALLS_DC_NUMBER && msg.number == 3.0, "RTT: 3");

    is_int(decode(neg_num, sizeof(neg_num), &msg, err), 0,
           "negative int8 payload");
    ok(msg.kind == NGX_CALLS_DC_NUMBER && msg.number == -123.0,
       "negative payload: -123");

    is_int(decode(sdp_bin, sizeof(sdp_bin), &msg, err), 0, "SDP as bin8");
    is_int(msg.type, NGX_CALLS_DC_SDP, "SDP: type 3");
    is_int(msg.kind, NGX_CALLS_DC_BIN, "SDP: bin");
    is_int(msg.bin_len, 3, "SDP: 3 bytes");
    ok(msg.bin == sdp_bin + 3, "SDP: points into the input buffer");

    is_int(decode(sdp_str, sizeof(sdp_str), &msg, err), 0, "str payload");
    is_int(msg.kind, NGX_CALLS_DC_BIN, "str payload: reported as bin");
    ok(msg.bin == sdp_str + 2 && msg.bin_len == 3,
       "str payload: points into the input buffer");

    is_int(decode(empty_bin, sizeof(empty_bin), &msg, err), 0,
           "empty bin payload");
    ok(msg.kind == NGX_CALLS_DC_BIN && msg.bin_len == 0,
       "empty bin: kind bin, length 0");

    is_int(decode(with_nil, sizeof(with_nil), &msg, err), 0, "nil payload");
    is_int(msg.kind, NGX_CALLS_DC_NONE, "nil payload: none");

    is_int(decode(map_payload, sizeof(map_payload), &msg, err), 0,
           "map payload");
    is_int(msg.kind, NGX_CALLS_DC_OTHER, "map payload: other");

    is_int(decode(array_payload, sizeof(array_payload), &msg, err), 0,
           "array payload");
    is_int(msg.kind, NGX_CALLS_DC_OTHER, "array payload: other");

    is_int(decode(ext_payload, sizeof(ext_payload), &msg, err), 0,
           "ext payload");
    is_int(msg.kind, NGX_CALLS_DC_OTHER, "ext payload: other");

    is_int(decode(type_u16, sizeof(type_u16), &msg, err), 0, "type as uint16");
    is_int(msg.type, 7, "type as uint16: 7");

    is_int(decode(type_u64, sizeof(type_u64), &msg, err), 0, "type as uint64");
    is_int(msg.type, 1, "type as uint64: 1");

    is_int(decode(type_i8, sizeof(type_i8), &msg, err), 0, "type as int8");
    is_int(msg.type, 1, "type as int8: 1");

    is_int(decode(type_negfix, sizeof(type_negfix), &msg, err), 0,
           "negative fixint type is accepted");
    ok(msg.type == UINT_MAX, "negative type reported as unknown UINT_MAX");

    is_int(decode(type_huge, sizeof(type_huge), &msg, err), 0,
           "type 2^32+1 is accepted");
    ok(msg.type == UINT_MAX, "type 2^32+1 does not alias Ping");
}


static void
test_malformed(void)
{
    char                err[256];
    ngx_calls_dc_msg_t  msg;

    static const uint8_t  str_type[] = { 0xa4, 'p', 'i', 'n', 'g' };
    static const uint8_t  nil_type[] = { 0xc0 };
    static const uint8_t  float_type[] = {
        0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0
    };
    static const uint8_t  trunc_float[] = { 0x04, 0xcb, 0x3f, 0xc0 };
    static const uint8_t  trunc_type[] = { 0xcd, 0x00 };
    static const uint8_t  trunc_bin[] = { 0x03, 0xc5, 0x01, 0x00, 0x01 };
    static const uint8_t  trailing[] = { 0x01, 0x02, 0x03 };
    static const uint8_t  trailing_bad[] = { 0x07, 0xc3, 0xc1 };
    static const uint8_t  never_used[] = { 0x01, 0xc1 };
    /* containers claiming 4 billion elements in a few bytes */
    static const uint8_t  huge_array[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t  huge_map[] = {
        0x09, 0x91, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01
    };
    static const uint8_t  huge_str[] = {
        0x03, 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'
    };

    is_int(decode((const uint8_t *) "", 0, &msg, err), -1, "empty input");
    is_str(err, "empty message", "empty input: message");

    is_int(decode(str_type, sizeof(str_type), &msg, err), -1,
           "a string type (legacy text ping is not msgpack)");
    is_str(err, "message type is not an integer", "string type: message");

    is_int(decode(nil_type, sizeof(nil_type), &msg, err), -1, "nil type");
    is_int(decode(float_type, sizeof(float_type), &msg, err), -1,
           "float type");

    is_int(decode(trunc_float, sizeof(trunc_float), &msg, err), -1,
           "truncated float payload");
    ok(strstr(err, "not msgpack") != NULL, "truncated float: message");

    is_int(decode(trunc_type, sizeof(trunc_type), &msg, err), -1,
           "truncated uint16 type");
    is_int(decode(trunc_bin, sizeof(trunc_bin), &msg, err), -1,
           "truncated bin16 payload");

    is_int(decode(trailing, sizeof(trailing), &msg, err), -1,
           "trailing bytes");
    is_str(err, "trailing bytes after the payload", "trailing bytes: message");

    is_int(decode(trailing_bad, sizeof(trailing_bad), &msg, err), -1,
           "trailing byte that is not msgpack");
    is_str(err, "trailing bytes after the payload",
           "trailing non-msgpack byte: message");

    is_int(decode(never_used, sizeof(never_used), &msg, err), -1,
           "0xc1 payload");

    is_int(decode(huge_array, sizeof(huge_array), &msg, err), -1,
           "array32 of 2^32-1 elements in 5 bytes refused before msgpack");
    is_int(decode(huge_map, sizeof(huge_map), &msg, err), -1,
           "nested map32 of 2^32-1 pairs refused");
    is_int(decode(huge_str, sizeof(huge_str), &msg, err), -1,
           "str32 longer than the message refused");
}


static void
test_encoders(void)
{
    char                  err[256];
    long                  n;
    size_t                i, off;
    uint8_t               buf[1024], bin[300];
    msgpack_object       *kv, *inner;
    msgpack_unpacked      u;
    ngx_calls_dc_msg_t    msg;
    msgpack_unpack_return ret;

    static const uint8_t  pong[] = { 0xcc, 0x02 };
    static const uint8_t  lock[] = { 0xcc, 0x07, 0xc3 };
    static const uint8_t  nolock[] = { 0xcc, 0x07, 0xc2 };

    static const ngx_calls_dc_media_t  media[] = {
        { "0", "voice", "sess-a" },
        { "1", "screen", "sess-a" },
        { "12", "screen-audio", "sess-a" },
    };

    n = ngx_calls_dc_encode(buf, sizeof(buf), NGX_CALLS_DC_PONG);
    is_int(n, 2, "encode Pong: 2 bytes");
    ok(n == 2 && memcmp(buf, pong, 2) == 0, "encode Pong: cc 02");
    is_int(ngx_calls_dc_encode(buf, 1, NGX_CALLS_DC_PONG), -1,
           "encode Pong into 1 byte fails");
    is_int(ngx_calls_dc_encode(buf, sizeof(buf), 256), -1,
           "encode type 256 fails");
    is_int(decode(buf, 2, &msg, err), 0, "Pong round trip");
    ok(msg.type == NGX_CALLS_DC_PONG && msg.kind == NGX_CALLS_DC_NONE,
       "Pong round trip: type 2, no payload");

    n = ngx_calls_dc_encode_bool(buf, sizeof(buf), NGX_CALLS_DC_LOCK, 1);
    ok(n == 3 && memcmp(buf, lock, 3) == 0, "encode Lock true: cc 07 c3");
    n = ngx_calls_dc_encode_bool(buf, sizeof(buf), NGX_CALLS_DC_LOCK, 0);
    ok(n == 3 && memcmp(buf, nolock, 3) == 0, "encode Lock false: cc 07 c2");
    is_int(ngx_calls_dc_encode_bool(buf, 2, NGX_CALLS_DC_LOCK, 1), -1,
           "encode Lock into 2 bytes fails");
    is_int(decode(buf, 3, &msg, err), 0, "Lock round trip");
    ok(msg.kind == NGX_CALLS_DC_BOOL && msg.boolean == 0,
       "Lock round trip: false");

    for (i = 0; i < sizeof(bin); i++) {
        bin[i] = (uint8_t) (i * 7);
    }

    /* bin8 */
    n = ngx_calls_dc_encode_bin(buf, sizeof(buf), NGX_CALLS_DC_SDP, bin, 200);
    is_int(n, 2 + 2 + 200, "encode SDP 200 bytes: bin8");
    ok(buf[2] == 0xc4 && buf[3] == 200, "bin8 header");
    is_int(decode(buf, n, &msg, err), 0, "bin8 round trip");
    ok(msg.kind == NGX_CALLS_DC_BIN && msg.bin_len == 200
       && msg.bin == buf + 4 && memcmp(msg.bin, bin, 200) == 0,
       "bin8 round trip: same bytes, in place");

    /* bin16 */
    n = ngx_calls_dc_encode_bin(buf, sizeof(buf), NGX_CALLS_DC_SDP, bin, 300);
    is_int(n, 2 + 3 + 300, "encode SDP 300 bytes: bin16");
    ok(buf[2] == 0xc5 && buf[3] == 0x01 && buf[4] == 0x2c, "bin16 header");
    is_int(decode(buf, n, &msg, err), 0, "bin16 round trip");
    ok(msg.bin_len == 300 && memcmp(msg.bin, bin, 300) == 0,
       "bin16 round trip: same bytes");
    is_int(ngx_calls_dc_encode_bin(buf, 304, NGX_CALLS_DC_SDP, bin, 300), -1,
           "bin16 one byte short fails");

    n = ngx_calls_dc_encode_bin(buf, sizeof(buf), NGX_CALLS_DC_SDP, NULL, 0);
    is_int(n, 4, "encode empty bin");
    is_int(decode(buf, n, &msg, err), 0, "empty bin round trip");
    ok(msg.kind == NGX_CALLS_DC_BIN && msg.bin_len == 0,
       "empty bin round trip: length 0");

    n = ngx_calls_dc_encode_media_map(buf, sizeof(buf), media, 3);
    ok(n > 0, "encode MediaMap");
    ok(buf[0] == 0xcc && buf[1] == NGX_CALLS_DC_MEDIA_MAP,
       "MediaMap: type cc 09");
    is_int(decode(buf, n, &msg, err), 0, "MediaMap decodes");
    ok(msg.type == NGX_CALLS_DC_MEDIA_MAP && msg.kind == NGX_CALLS_DC_OTHER,
       "MediaMap: type 9, payload other");

    /* check the map itself with msgpack, as the client would read it */
    msgpack_unpacked_init(&u);
    off = 0;
    ret = msgpack_unpack_next(&u, (const char *) buf, n, &off);
    is_int(ret, MSGPACK_UNPACK_SUCCESS, "MediaMap: msgpack reads the type");
    ret = msgpack_unpack_next(&u, (const char *) buf, n, &off);
    is_int(ret, MSGPACK_UNPACK_SUCCESS, "MediaMap: msgpack reads the map");
    is_int(off, n, "MediaMap: nothing after the map");
    is_int(u.data.type, MSGPACK_OBJECT_MAP, "MediaMap: a map");
    is_int(u.data.via.map.size, 3, "MediaMap: 3 entries");

    for (i = 0; i < 3 && u.data.type == MSGPACK_OBJECT_MAP
                && i < u.data.via.map.size; i++)
    {
        kv = &u.data.via.map.ptr[i].key;
        inner = &u.data.via.map.ptr[i].val;

        ok(kv->type == MSGPACK_OBJECT_STR
           && kv->via.str.size == strlen(media[i].mid)
           && memcmp(kv->via.str.ptr, media[i].mid, kv->via.str.size) == 0,
           "MediaMap: key is the mid");

        ok(inner->type == MSGPACK_OBJECT_MAP && inner->via.map.size == 2,
           "MediaMap: value is a map of 2");

        if (inner->type != MSGPACK_OBJECT_MAP || inner->via.map.size != 2) {
            continue;
        }

        kv = &inner->via.map.ptr[0].key;
        ok(kv->type == MSGPACK_OBJECT_STR && kv->via.str.size == 4
           && memcmp(kv->via.str.ptr, "type", 4) == 0,
           "MediaMap: first key \"type\"");
        kv = &inner->via.map.ptr[0].val;
        ok(kv->type == MSGPACK_OBJECT_STR
           && kv->via.str.size == strlen(media[i].type)
           && memcmp(kv->via.str.ptr, media[i].type, kv->via.str.size) == 0,
           "MediaMap: type value");
        kv = &inner->via.map.ptr[1].key;
        ok(kv->type == MSGPACK_OBJECT_STR && kv->via.str.size == 9
           && memcmp(kv->via.str.ptr, "sender_id", 9) == 0,
           "MediaMap: second key \"sender_id\"");
        kv = &inner->via.map.ptr[1].val;
        ok(kv->type == MSGPACK_OBJECT_STR
           && kv->via.str.size == strlen(media[i].sender_id)
           && memcmp(kv->via.str.ptr, media[i].sender_id,
                     kv->via.str.size) == 0,
           "MediaMap: sender_id value");
    }

    msgpack_unpacked_destroy(&u);

    is_int(ngx_calls_dc_encode_media_map(buf, n - 1, media, 3), -1,
           "MediaMap one byte short fails");

    n = ngx_calls_dc_encode_media_map(buf, sizeof(buf), NULL, 0);
    ok(n == 3 && buf[2] == 0x80, "empty MediaMap: cc 09 80");
}


static const char  sdp[] =
    "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 4611731400430051336 2 IN IP4 "
    "127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\na=group:BUNDLE 0 1 2\\r\\n"
    "a=extmap-allow-mixed\\r\\na=msid-semantic: WMS\\r\\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\\r\\n"
    "c=IN IP4 0.0.0.0\\r\\na=rtcp:9 IN IP4 0.0.0.0\\r\\n"
    "a=ice-ufrag:Vq3c\\r\\na=ice-pwd:JSfXkGJ0ZUFiSGVvpPgYZmX2\\r\\n"
    "a=ice-options:trickle\\r\\na=fingerprint:sha-256 7B:8B:F0:65:5F:78:"
    "E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:"
    "2C:19:08\\r\\na=setup:actpass\\r\\na=mid:0\\r\\na=extmap:1 "
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level\\r\\na=extmap:2 "
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\\r\\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-"
    "cc-extensions-01\\r\\na=sendrecv\\r\\na=msid:- 5c2d4a3c-audio\\r\\n"
    "a=rtcp-mux\\r\\na=rtpmap:111 opus/48000/2\\r\\na=rtcp-fb:111 "
    "transport-cc\\r\\na=fmtp:111 minptime=10;useinbandfec=1\\r\\n"
    "a=rtpmap:63 red/48000/2\\r\\na=fmtp:63 111/111\\r\\n"
    "a=ssrc:3735928559 cname:Hh1Yk0sQ0i2yV2Yc\\r\\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99\\r\\nc=IN IP4 0.0.0.0\\r\\n"
    "a=mid:1\\r\\na=sendrecv\\r\\na=rtpmap:96 VP8/90000\\r\\n"
    "a=rtcp-fb:96 goog-remb\\r\\na=rtcp-fb:96 transport-cc\\r\\n"
    "a=rtcp-fb:96 ccm fir\\r\\na=rtcp-fb:96 nack\\r\\n"
    "a=rtcp-fb:96 nack pli\\r\\na=rtpmap:97 rtx/90000\\r\\n"
    "a=fmtp:97 apt=96\\r\\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel"
    "\\r\\nc=IN IP4 0.0.0.0\\r\\na=mid:2\\r\\na=sctp-port:5000\\r\\n"
    "a=max-message-size:262144\\r\\n\"}";


static void
test_zlib(void)
{
    char     err[256];
    long     z, n;
    size_t   len;
    uint8_t  zbuf[4096], out[4096], bad[4096];

    len = sizeof(sdp) - 1;

    z = ngx_calls_dc_deflate((const uint8_t *) sdp, len, zbuf, sizeof(zbuf),
                             err, sizeof(err));
    ok(z > 0 && (size_t) z < len, "deflate shrinks a realistic SDP");
    if (z <= 0) {
        diag("deflate: %s", err);
        return;
    }

    ok(zbuf[0] == 0x78, "deflate writes the zlib format (0x78 header)");

    n = ngx_calls_dc_inflate(zbuf, z, out, sizeof(out), err, sizeof(err));
    is_int(n, len, "inflate restores the length");
    ok(n == (long) len && memcmp(out, sdp, len) == 0,
       "inflate restores the bytes");

    n = ngx_calls_dc_inflate(zbuf, z, out, len, err, sizeof(err));
    is_int(n, len, "inflate with max == length succeeds");

    n = ngx_calls_dc_inflate(zbuf, z, out, len - 1, err, sizeof(err));
    is_int(n, -1, "inflate with max == length - 1 fails");
    {
        char  want[64];

        snprintf(want, sizeof(want), "inflated SDP larger than %zu bytes",
                 len - 1);
        is_str(err, want, "inflate cap: message");
    }

    n = ngx_calls_dc_inflate(zbuf, z, out, 64, err, sizeof(err));
    is_int(n, -1, "inflate with a 64 byte cap fails");
    is_str(err, "inflated SDP larger than 64 bytes", "64 byte cap: message");

    memcpy(bad, zbuf, z);
    bad[z / 2] ^= 0x55;
    bad[z / 2 + 1] ^= 0xaa;
    n = ngx_calls_dc_inflate(bad, z, out, sizeof(out), err, sizeof(err));
    is_int(n, -1, "corrupt zlib stream fails");
    ok(err[0] != '\0', "corrupt zlib stream: has a message");
    diag("corrupt: %s", err);

    memcpy(bad, zbuf, z);
    bad[z - 1] ^= 0x01;
    n = ngx_calls_dc_inflate(bad, z, out, sizeof(out), err, sizeof(err));
    is_int(n, -1, "bad adler32 fails");
    ok(strstr(err, "corrupt") != NULL, "bad adler32: corrupt message");

    n = ngx_calls_dc_inflate(zbuf, z - 5, out, sizeof(out), err,
                             sizeof(err));
    is_int(n, -1, "truncated zlib stream fails");
    is_str(err, "inflate: truncated zlib stream", "truncated: message");

    n = ngx_calls_dc_inflate((const uint8_t *) "not zlib at all", 15, out,
                             sizeof(out), err, sizeof(err));
    is_int(n, -1, "non-zlib input fails");

    memcpy(bad, zbuf, z);
    bad[z] = 0x00;
    n = ngx_calls_dc_inflate(bad, z + 1, out, sizeof(out), err, sizeof(err));
    is_int(n, -1, "bytes after the zlib stream fail");

    n = ngx_calls_dc_inflate(zbuf, 0, out, sizeof(out), err, sizeof(err));
    is_int(n, -1, "empty zlib input fails");

    n = ngx_calls_dc_deflate((const uint8_t *) sdp, len, zbuf, 10, err,
                             sizeof(err));
    is_int(n, -1, "deflate into 10 bytes fails");
    ok(strstr(err, "do not fit") != NULL, "deflate too small: message");
}


static void
test_random(void)
{
    char                err[256];
    long                z, n;
    size_t              i, j, len, bad_bin, failed;
    uint8_t             buf[128], zbuf[4096], out[4096];
    ngx_calls_dc_msg_t  msg;

    static const uint8_t  seeds[][12] = {
        { 0x01 },
        { 0xcc, 0x02 },
        { 0xcc, 0x07, 0xc3 },
        { 0x04, 0xcb, 0x3f, 0xc0, 0, 0, 0, 0, 0, 0 },
        { 0x03, 0xc4, 0x03, 0x78, 0x9c, 0x01 },
        { 0x09, 0x81, 0xa1, 'a', 0x82, 0xa1, 't', 0x01, 0xa1, 's', 0x02 },
        { 0x09, 0xdd, 0, 0, 0, 2, 0xc0, 0xc0 },
    };
    static const size_t  seed_len[] = { 1, 2, 3, 10, 6, 11, 8 };

    bad_bin = 0;
    failed = 0;

    for (i = 0; i < 3000; i++) {

        if (i % 2 == 0) {
            /* random bytes, biased to msgpack markers */
            len = rng() % 24;
            for (j = 0; j < len; j++) {
                buf[j] = (rng() % 3 == 0) ? (uint8_t) (0xc0 + rng() % 32)
                                          : (uint8_t) rng();
            }

        } else {
            /* a valid message with a few bytes flipped, cut or extended */
            j = rng() % (sizeof(seed_len) / sizeof(seed_len[0]));
            len = seed_len[j];
            memcpy(buf, seeds[j], len);

            for (j = rng() % 3 + 1; j > 0; j--) {
                buf[rng() % len] = (uint8_t) rng();
            }

            if (rng() % 4 == 0) {
                len = rng() % (len + 1);

            } else if (rng() % 4 == 0) {
                buf[len++] = (uint8_t) rng();
            }
        }

        if (ngx_calls_dc_decode(buf, len, &msg, err, sizeof(err)) != 0) {
            failed++;
            continue;
        }

        if (msg.kind == NGX_CALLS_DC_BIN
            && (msg.bin < buf || msg.bin + msg.bin_len > buf + len))
        {
            bad_bin++;
        }
    }

    is_int(bad_bin, 0, "random decode: every bin points into its input");
    ok(failed > 0 && failed < 3000, "random decode: some pass, some fail");

    z = ngx_calls_dc_deflate((const uint8_t *) sdp, sizeof(sdp) - 1, zbuf,
                             sizeof(zbuf), err, sizeof(err));
    ok(z > 0, "deflate for the mutation loop");
    if (z <= 0) {
        return;
    }

    failed = 0;

    for (i = 0; i < 2000; i++) {
        uint8_t  m[4096];

        memcpy(m, zbuf, z);
        len = z;

        for (j = rng() % 4 + 1; j > 0; j--) {
            m[rng() % len] = (uint8_t) rng();
        }

        if (rng() % 3 == 0) {
            len = rng() % len + 1;
        }

        n = ngx_calls_dc_inflate(m, len, out, 1024 + rng() % 3072, err,
                                 sizeof(err));
        if (n < 0) {
            failed++;
        }
    }

    ok(failed > 1900, "mutated zlib streams are refused");

    failed = 0;

    for (i = 0; i < 500; i++) {
        len = rng() % 64;
        for (j = 0; j < len; j++) {
            buf[j] = (uint8_t) rng();
        }

        /* ASan watches the reads; the cap must hold on any result */
        n = ngx_calls_dc_inflate(buf, len, out, 256, err, sizeof(err));
        if (n < -1 || n > 256) {
            failed++;
        }
    }

    is_int(failed, 0, "random bytes into inflate: -1 or within the cap");
}


int
main(void)
{
    test_vectors();
    test_malformed();
    test_encoders();
    test_zlib();
    test_random();

    return done_testing();
}
