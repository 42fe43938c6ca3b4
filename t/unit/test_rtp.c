
/*
 * Copyright (C) ngx_calls authors
 */


/* RTP/RTCP header handling: parsing, extensions, per-receiver rewrite. */


#include <stdlib.h>

#include "tap.h"
#include "ngx_calls_rtp.h"
#include "ngx_calls_rtcp.h"


/* Opus packet as Chrome sends it: audio-level (id 1), transport-cc (id 3),
 * mid (id 4) in the one-byte form, 20 bytes of payload */
static const uint8_t  chrome_opus[] = {
    0x90, 0xef, 0x12, 0x34,                  /* V=2 X, M, PT 111, seq */
    0x00, 0x01, 0xe2, 0x40,                  /* ts 123456 */
    0xde, 0xad, 0xbe, 0xef,                  /* ssrc */
    0xbe, 0xde, 0x00, 0x03,                  /* one-byte ext, 3 words */
    0x10, 0x85,                              /* id 1 len 1: V=1 level 5 */
    0x31, 0x00, 0x07,                        /* id 3 len 2: twcc 7 */
    0x40, 0x30,                              /* id 4 len 1: mid "0" */
    0x00, 0x00, 0x00, 0x00, 0x00,            /* padding */
    0x78, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13
};


static void
test_parse(void)
{
    size_t           len;
    uint8_t          buf[64];
    unsigned         level, voice;
    const uint8_t   *p;
    ngx_calls_rtp_t  rtp;

    is_int(ngx_calls_rtp_parse(chrome_opus, sizeof(chrome_opus), &rtp), 0,
           "Chrome Opus packet parses");
    is_int(rtp.pt, 111, "payload type");
    ok(rtp.marker, "marker");
    is_int(rtp.seq, 0x1234, "sequence number");
    is_int(rtp.ts, 123456, "timestamp");
    is_int(rtp.ssrc, 0xdeadbeef, "ssrc");
    is_int(rtp.ext_profile, 0xbede, "one-byte extension profile");
    is_int(rtp.ext_len, 12, "extension length");
    is_int(rtp.header_len, 28, "payload offset");
    is_int(rtp.payload_len, 20, "payload length");

    ok(ngx_calls_rtp_audio_level(chrome_opus, &rtp, 1, &level, &voice) == 0
       && level == 5 && voice == 1, "audio level 5 with V bit");
    ok(ngx_calls_rtp_audio_level(chrome_opus, &rtp, 2, &level, &voice) < 0,
       "absent extension");

    p = ngx_calls_rtp_ext_find(chrome_opus, &rtp, 3, &len);
    ok(p != NULL && len == 2 && p[0] == 0 && p[1] == 7, "transport-cc found");
    p = ngx_calls_rtp_ext_find(chrome_opus, &rtp, 4, &len);
    ok(p != NULL && len == 1 && p[0] == '0', "mid found after others");

    /* two-byte form (0x1000), with a zero-length element */
    {
        static const uint8_t  two[] = {
            0x90, 0x6f, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 2,
            0x10, 0x00, 0x00, 0x02,
            0x01, 0x01, 0x95,                /* id 1 len 1 */
            0x05, 0x00,                      /* id 5 len 0 */
            0x10, 0x01, 0x33,                /* id 16 len 1 */
            0xaa, 0xbb
        };

        is_int(ngx_calls_rtp_parse(two, sizeof(two), &rtp), 0,
               "two-byte extension packet parses");
        ok(ngx_calls_rtp_audio_level(two, &rtp, 1, &level, &voice) == 0
           && level == 0x15 && voice == 1, "two-byte audio level");
        p = ngx_calls_rtp_ext_find(two, &rtp, 16, &len);
        ok(p != NULL && len == 1 && p[0] == 0x33, "two-byte id 16");
        p = ngx_calls_rtp_ext_find(two, &rtp, 5, &len);
        ok(p != NULL && len == 0, "zero-length element");
        is_int(rtp.payload_len, 2, "two-byte: payload");
    }

    /* CSRCs and padding */
    {
        static const uint8_t  csrc[] = {
            0xa2, 0x60, 0, 9, 0, 0, 0, 9, 0, 0, 0, 9,
            1, 1, 1, 1, 2, 2, 2, 2,
            0xc0, 0xc1, 0xc2, 0, 0, 3
        };

        is_int(ngx_calls_rtp_parse(csrc, sizeof(csrc), &rtp), 0,
               "CSRCs and padding parse");
        is_int(rtp.cc, 2, "two CSRCs");
        is_int(rtp.header_len, 20, "payload after CSRCs");
        is_int(rtp.payload_len, 3, "padding excluded");
        is_int(rtp.pad_len, 3, "padding length");
    }

    /* malformed */
    ok(ngx_calls_rtp_parse(chrome_opus, 11, &rtp) < 0, "short packet");
    memcpy(buf, chrome_opus, sizeof(chrome_opus));
    buf[0] = 0x50;
    ok(ngx_calls_rtp_parse(buf, sizeof(chrome_opus), &rtp) < 0,
       "version 1 refused");
    buf[0] = 0x8f;
    ok(ngx_calls_rtp_parse(buf, 40, &rtp) < 0, "CSRC count overruns");
    memcpy(buf, chrome_opus, sizeof(chrome_opus));
    buf[15] = 0x40;
    ok(ngx_calls_rtp_parse(buf, sizeof(chrome_opus), &rtp) < 0,
       "extension length overruns");
    memcpy(buf, chrome_opus, sizeof(chrome_opus));
    buf[0] |= 0x20;
    buf[sizeof(chrome_opus) - 1] = 0;
    ok(ngx_calls_rtp_parse(buf, sizeof(chrome_opus), &rtp) < 0,
       "zero padding length");
    buf[sizeof(chrome_opus) - 1] = 200;
    ok(ngx_calls_rtp_parse(buf, sizeof(chrome_opus), &rtp) < 0,
       "padding overruns");
    memcpy(buf, chrome_opus, 16);
    ok(ngx_calls_rtp_parse(buf, 14, &rtp) < 0, "cut in extension header");

    /* an element whose length runs past the block ends the walk */
    memcpy(buf, chrome_opus, sizeof(chrome_opus));
    buf[16] = 0x1f;                          /* id 1, len 16 */
    is_int(ngx_calls_rtp_parse(buf, sizeof(chrome_opus), &rtp), 0,
           "block itself is well-formed");
    ok(ngx_calls_rtp_ext_find(buf, &rtp, 4, &len) == NULL,
       "broken element length stops the walk");
}


static void
test_rewrite(void)
{
    size_t                  n, len;
    uint8_t                 out[256];
    unsigned                level, voice;
    const uint8_t          *p;
    ngx_calls_rtp_t         in, rtp;
    ngx_calls_rtp_extmap_t  map;

    ngx_calls_rtp_parse(chrome_opus, sizeof(chrome_opus), &in);

    /* receiver: audio level at 5, its own transport-cc at 2, no mid */
    memset(&map, 0, sizeof(map));
    map.map[1] = 5;
    map.map[3] = 2;                          /* dropped: twcc is rewritten */
    map.twcc_id = 2;

    n = ngx_calls_rtp_rewrite(out, sizeof(out), chrome_opus, &in,
                              0x11223344, 100, &map, 0xabcd);
    ok(n > 0, "rewritten");
    is_int(ngx_calls_rtp_parse(out, n, &rtp), 0, "rewritten packet parses");
    is_int(rtp.ssrc, 0x11223344, "receiver ssrc");
    is_int(rtp.pt, 100, "receiver payload type");
    is_int(rtp.seq, 0x1234, "sequence number kept");
    is_int(rtp.ts, 123456, "timestamp kept");
    ok(rtp.marker, "marker kept");
    ok(ngx_calls_rtp_audio_level(out, &rtp, 5, &level, &voice) == 0
       && level == 5 && voice == 1, "audio level under the receiver's id");
    p = ngx_calls_rtp_ext_find(out, &rtp, 2, &len);
    ok(p != NULL && len == 2 && p[0] == 0xab && p[1] == 0xcd,
       "our transport-wide sequence number");
    ok(ngx_calls_rtp_ext_find(out, &rtp, 4, &len) == NULL, "mid dropped");
    ok(rtp.payload_len == 20
       && memcmp(out + rtp.header_len, chrome_opus + in.header_len, 20) == 0,
       "payload intact");
    is_int(rtp.ext_len % 4, 0, "extension block padded");

    /* nothing mapped: no extension at all */
    memset(&map, 0, sizeof(map));
    n = ngx_calls_rtp_rewrite(out, sizeof(out), chrome_opus, &in, 1, 111,
                              &map, 0);
    ok(n == 12 + 20 && !(out[0] & 0x10), "no extension block when empty");

    /* too small */
    memset(&map, 0, sizeof(map));
    map.map[1] = 1;
    is_int(ngx_calls_rtp_rewrite(out, 30, chrome_opus, &in, 1, 111, &map, 0),
           0, "does not fit: 0");
}


static void
test_rtcp(void)
{
    int      i;
    size_t   len;
    uint8_t  buf[128];

    /* SR (28 bytes) + SDES with one CNAME chunk (20 bytes) */
    static const uint8_t  sr_sdes[] = {
        0x80, 0xc8, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44,
        0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5,
        0x81, 0xca, 0x00, 0x04, 0x11, 0x22, 0x33, 0x44,
        0x01, 0x06, 'a', 'b', 'c', 'd', 'e', 'f', 0, 0, 0, 0
    };

    ok(ngx_calls_rtp_is_rtcp(sr_sdes), "SR is RTCP");
    ok(!ngx_calls_rtp_is_rtcp(chrome_opus), "Opus is not RTCP");
    is_int(ngx_calls_rtcp_check(sr_sdes, sizeof(sr_sdes)), 2,
           "compound SR+SDES: 2 packets");
    ok(ngx_calls_rtcp_check(sr_sdes, sizeof(sr_sdes) - 4) < 0,
       "second packet overruns");
    memcpy(buf, sr_sdes, sizeof(sr_sdes));
    buf[28] = 0x41;
    ok(ngx_calls_rtcp_check(buf, sizeof(sr_sdes)) < 0, "bad version");
    ok(ngx_calls_rtcp_check(sr_sdes, 3) < 0, "too short");

    /* random input never reads out of bounds (ASan watches) */
    srandom(3550);
    for (i = 0; i < 50000; i++) {
        ngx_calls_rtp_t  rtp;
        size_t           j, elen;
        uint8_t          out[256];
        ngx_calls_rtp_extmap_t  map;

        len = random() % sizeof(buf);
        for (j = 0; j < len; j++) {
            buf[j] = (uint8_t) random();
        }
        buf[0] = (buf[0] & 0x3f) | 0x80;

        (void) ngx_calls_rtcp_check(buf, len);

        if (ngx_calls_rtp_parse(buf, len, &rtp) == 0) {
            (void) ngx_calls_rtp_ext_find(buf, &rtp, 1, &elen);
            memset(&map, 0, sizeof(map));
            map.map[1] = 1;
            map.twcc_id = 3;
            (void) ngx_calls_rtp_rewrite(out, sizeof(out), buf, &rtp, 7, 96,
                                         &map, 1);
        }
    }

    ok(1, "50000 random packets parsed and rewritten safely");
}


int
main(void)
{
    test_parse();
    test_rewrite();
    test_rtcp();

    return done_testing();
}
