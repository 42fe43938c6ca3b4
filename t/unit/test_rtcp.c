
/*
 * Copyright (C) ngx_calls authors
 */


/* RTCP: compound walk, decoders, builders, NTP helpers, malformed input. */


#include <stdlib.h>

#include "tap.h"
#include "ngx_calls_rtcp.h"


/*
 * What Chrome sends as a receiver (RFC 3550 6.4.2, 6.5; REMB draft 2.2):
 * RR with one report block, SDES with a 16-byte CNAME, REMB of 1 Mbit/s
 * (exp 2, mantissa 250000) for one SSRC.
 */
static const uint8_t  chrome_rr_sdes_remb[] = {
    /* RR, RC 1, length 7 */
    0x81, 0xc9, 0x00, 0x07,
    0x00, 0x00, 0x00, 0x01,                  /* sender ssrc 1 */
    0xca, 0xfe, 0xba, 0xbe,                  /* source */
    0x0c,                                    /* fraction lost 12/256 */
    0x00, 0x00, 0x2a,                        /* cumulative 42 */
    0x00, 0x01, 0x12, 0x34,                  /* 1 cycle, seq 0x1234 */
    0x00, 0x00, 0x01, 0x90,                  /* jitter 400 */
    0x83, 0xaa, 0x7e, 0x80,                  /* LSR */
    0x00, 0x00, 0x80, 0x00,                  /* DLSR 0.5 s */

    /* SDES, SC 1, length 6 */
    0x81, 0xca, 0x00, 0x06,
    0x00, 0x00, 0x00, 0x01,
    0x01, 0x10,                              /* CNAME, 16 */
    'K', '1', 'p', 'O', 'h', 'u', 'D', 'J',
    '2', 'b', 'w', 'K', 'z', 'r', 'l', 'X',
    0x00, 0x00,                              /* end, pad */

    /* PSFB FMT 15 (REMB), length 5 */
    0x8f, 0xce, 0x00, 0x05,
    0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00,                  /* media ssrc 0 */
    'R', 'E', 'M', 'B',
    0x01, 0x0b, 0xd0, 0x90,                  /* 1 ssrc, exp 2, 0x3d090 */
    0xca, 0xfe, 0xba, 0xbe
};


/* SR with two report blocks, one with a negative cumulative loss */
static const uint8_t  sr_2rb[] = {
    0x82, 0xc8, 0x00, 0x12,
    0x11, 0x22, 0x33, 0x44,
    0xe8, 0xfe, 0x6f, 0x80,                  /* 1700000000 */
    0x40, 0x00, 0x00, 0x00,                  /* NTP fraction .25 */
    0x00, 0x01, 0x5f, 0x90,                  /* RTP ts 90000 */
    0x00, 0x00, 0x03, 0xe8,                  /* 1000 packets */
    0x00, 0x0f, 0x42, 0x40,                  /* 1000000 octets */

    0xaa, 0xaa, 0xaa, 0xaa,
    0x00, 0x00, 0x01, 0x02,                  /* 0/256, 258 lost */
    0x00, 0x00, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x10,
    0x00, 0x00, 0x00, 0x00,                  /* no SR yet */
    0x00, 0x00, 0x00, 0x00,

    0xbb, 0xbb, 0xbb, 0xbb,
    0xff, 0xff, 0xff, 0xfe,                  /* 255/256, -2 lost */
    0x00, 0x02, 0x00, 0x05,
    0x00, 0x00, 0x12, 0x34,
    0x12, 0x34, 0x56, 0x78,
    0x00, 0x01, 0x00, 0x00                   /* DLSR 1 s */
};


/* Generic NACK: 100, 101, 103; then 65534, 65535, 0 across the wrap */
static const uint8_t  nack_2fci[] = {
    0x81, 0xcd, 0x00, 0x04,
    0x00, 0x00, 0x00, 0x01,
    0xde, 0xad, 0xbe, 0xef,
    0x00, 0x64, 0x00, 0x05,
    0xff, 0xfe, 0x00, 0x03
};


static const uint8_t  pli[] = {
    0x81, 0xce, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x01,
    0xde, 0xad, 0xbe, 0xef
};


static const uint8_t  fir[] = {
    0x84, 0xce, 0x00, 0x06,
    0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00,
    0xde, 0xad, 0xbe, 0xef, 0x07, 0x00, 0x00, 0x00,
    0xca, 0xfe, 0xba, 0xbe, 0xff, 0x00, 0x00, 0x00
};


/* BYE of two sources with the reason "bye" */
static const uint8_t  bye[] = {
    0x82, 0xcb, 0x00, 0x03,
    0x11, 0x11, 0x11, 0x11,
    0x22, 0x22, 0x22, 0x22,
    0x03, 'b', 'y', 'e'
};


/*
 * transport-cc feedback (RTPFB FMT 15): base seq 1, 2 packets, reference
 * time 1, fb count 5, one run-length chunk (small deltas), two deltas
 */
static const uint8_t  twcc[] = {
    0x8f, 0xcd, 0x00, 0x05,
    0x00, 0x00, 0x00, 0x01,
    0xde, 0xad, 0xbe, 0xef,
    0x00, 0x01, 0x00, 0x02,
    0x00, 0x00, 0x01, 0x05,
    0x20, 0x02, 0x04, 0x08
};


static void
test_compound(void)
{
    int                    n;
    uint32_t               ssrcs[4];
    uint64_t               bitrate;
    ngx_calls_rtcp_rb_t    rb[4];
    ngx_calls_rtcp_iter_t  it;
    ngx_calls_rtcp_item_t  item;

    n = ngx_calls_rtcp_iter_init(&it, chrome_rr_sdes_remb,
                                 sizeof(chrome_rr_sdes_remb));
    is_int(n, 3, "Chrome RR+SDES+REMB: 3 packets");

    ok(ngx_calls_rtcp_iter_next(&it, &item), "RR item");
    is_int(item.pt, NGX_CALLS_RTCP_RR, "RR type");
    is_int(item.count, 1, "RR count");
    is_int(item.sender_ssrc, 1, "RR sender");
    is_int(item.body_len, 24, "RR body: one block");
    ok(item.pkt == chrome_rr_sdes_remb && item.pkt_len == 32, "RR packet");

    is_int(ngx_calls_rtcp_rr(&item, rb, 4), 1, "one report block");
    is_int(rb[0].ssrc, 0xcafebabe, "rb ssrc");
    is_int(rb[0].fraction_lost, 12, "rb fraction lost");
    is_int(rb[0].cumulative_lost, 42, "rb cumulative lost");
    is_int(rb[0].ext_highest_seq, 0x11234, "rb ext highest seq");
    is_int(rb[0].jitter, 400, "rb jitter");
    is_int(rb[0].lsr, 0x83aa7e80, "rb LSR");
    is_int(rb[0].dlsr, 0x8000, "rb DLSR");
    is_int(ngx_calls_rtcp_rr(&item, rb, 0), 0, "max 0: nothing stored");
    is_int(ngx_calls_rtcp_sr(&item, NULL, rb, 4), -1, "RR is not an SR");

    ok(ngx_calls_rtcp_iter_next(&it, &item), "SDES item");
    is_int(item.pt, NGX_CALLS_RTCP_SDES, "SDES type");
    is_int(item.sender_ssrc, 1, "SDES: ssrc of the first chunk");
    is_int(item.body_len, 24, "SDES body: the chunk");
    ok(item.body[4] == 1 && item.body[5] == 16
       && memcmp(item.body + 6, "K1pOhuDJ2bwKzrlX", 16) == 0, "CNAME");

    ok(ngx_calls_rtcp_iter_next(&it, &item), "REMB item");
    is_int(item.pt, NGX_CALLS_RTCP_PSFB, "PSFB type");
    is_int(item.count, NGX_CALLS_RTCP_FB_AFB, "FMT 15");
    is_int(item.media_ssrc, 0, "media ssrc 0");
    is_int(item.body_len, 12, "REMB FCI");
    is_int(ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 4), 1, "REMB: 1 ssrc");
    is_int(bitrate, 1000000, "REMB 1 Mbit/s");
    is_int(ssrcs[0], 0xcafebabe, "REMB ssrc");
    is_int(ngx_calls_rtcp_pli(&item, &ssrcs[0]), -1, "REMB is not a PLI");

    ok(!ngx_calls_rtcp_iter_next(&it, &item), "end of compound");
    ok(!ngx_calls_rtcp_iter_next(&it, &item), "end stays end");
}


static void
test_decoders(void)
{
    uint8_t                       buf[64];
    uint16_t                      seqs[32];
    uint32_t                      ssrc, ssrcs[4];
    uint64_t                      bitrate;
    ngx_calls_rtcp_rb_t           rb[4];
    ngx_calls_rtcp_fir_t          f[4];
    ngx_calls_rtcp_iter_t         it;
    ngx_calls_rtcp_item_t         item;
    ngx_calls_rtcp_sender_info_t  si;

    static const uint16_t  nack_want[] = { 100, 101, 103, 65534, 65535, 0 };

    /* SR */
    is_int(ngx_calls_rtcp_iter_init(&it, sr_2rb, sizeof(sr_2rb)), 1,
           "SR alone");
    ngx_calls_rtcp_iter_next(&it, &item);
    is_int(item.sender_ssrc, 0x11223344, "SR ssrc");
    is_int(ngx_calls_rtcp_sr(&item, &si, rb, 4), 2, "SR: 2 report blocks");
    ok(si.ntp == ((uint64_t) 0xe8fe6f80 << 32 | 0x40000000), "SR NTP");
    is_int(si.rtp_ts, 90000, "SR RTP ts");
    is_int(si.packet_count, 1000, "SR packet count");
    is_int(si.octet_count, 1000000, "SR octet count");
    is_int(rb[0].ssrc, 0xaaaaaaaa, "rb 1 ssrc");
    is_int(rb[0].cumulative_lost, 258, "rb 1 lost 258");
    is_int(rb[0].ext_highest_seq, 0xffff, "rb 1 ext seq");
    is_int(rb[0].lsr, 0, "rb 1 no LSR");
    is_int(rb[1].ssrc, 0xbbbbbbbb, "rb 2 ssrc");
    is_int(rb[1].fraction_lost, 255, "rb 2 fraction");
    is_int(rb[1].cumulative_lost, -2, "rb 2 lost -2 (24-bit signed)");
    is_int(rb[1].ext_highest_seq, 0x20005, "rb 2 ext seq");
    is_int(rb[1].jitter, 0x1234, "rb 2 jitter");
    is_int(rb[1].lsr, 0x12345678, "rb 2 LSR");
    is_int(rb[1].dlsr, 65536, "rb 2 DLSR");
    is_int(ngx_calls_rtcp_sr(&item, &si, rb, 1), 1, "SR: max 1 block");
    is_int(ngx_calls_rtcp_rr(&item, rb, 4), -1, "SR is not an RR");

    /* NACK */
    is_int(ngx_calls_rtcp_iter_init(&it, nack_2fci, sizeof(nack_2fci)), 1,
           "NACK alone (reduced-size)");
    ngx_calls_rtcp_iter_next(&it, &item);
    is_int(item.pt, NGX_CALLS_RTCP_RTPFB, "RTPFB");
    is_int(item.count, NGX_CALLS_RTCP_FB_NACK, "FMT 1");
    is_int(item.media_ssrc, 0xdeadbeef, "NACK media ssrc");
    is_int(ngx_calls_rtcp_nack(&item, seqs, 32), 6, "NACK: 6 seqs");
    ok(memcmp(seqs, nack_want, sizeof(nack_want)) == 0,
       "PID, BLP bits, next FCI, across the wrap, in order");
    is_int(ngx_calls_rtcp_nack(&item, seqs, 4), 4, "bounded by max");
    ok(seqs[3] == 65534, "the first four");
    is_int(ngx_calls_rtcp_nack(&item, seqs, 0), 0, "max 0");

    /* PLI alone: reduced-size RTCP (RFC 5506) */
    is_int(ngx_calls_rtcp_iter_init(&it, pli, sizeof(pli)), 1, "PLI alone");
    ngx_calls_rtcp_iter_next(&it, &item);
    is_int(ngx_calls_rtcp_pli(&item, &ssrc), 0, "PLI decoded");
    is_int(ssrc, 0xdeadbeef, "PLI media ssrc");
    is_int(item.body_len, 0, "PLI: no FCI");
    is_int(ngx_calls_rtcp_nack(&item, seqs, 32), -1, "PLI is not a NACK");
    is_int(ngx_calls_rtcp_fir(&item, f, 4), -1, "PLI is not a FIR");

    /* FIR */
    is_int(ngx_calls_rtcp_iter_init(&it, fir, sizeof(fir)), 1, "FIR");
    ngx_calls_rtcp_iter_next(&it, &item);
    is_int(ngx_calls_rtcp_fir(&item, f, 4), 2, "FIR: 2 entries");
    ok(f[0].ssrc == 0xdeadbeef && f[0].seq_nr == 7, "FIR entry 1");
    ok(f[1].ssrc == 0xcafebabe && f[1].seq_nr == 255, "FIR entry 2");
    is_int(ngx_calls_rtcp_fir(&item, f, 1), 1, "FIR: max 1");
    is_int(ngx_calls_rtcp_pli(&item, &ssrc), -1, "FIR is not a PLI");

    /* BYE */
    is_int(ngx_calls_rtcp_iter_init(&it, bye, sizeof(bye)), 1, "BYE");
    ngx_calls_rtcp_iter_next(&it, &item);
    is_int(item.sender_ssrc, 0x11111111, "BYE: first ssrc");
    is_int(ngx_calls_rtcp_bye(&item, ssrcs, 4), 2, "BYE: 2 sources");
    ok(ssrcs[0] == 0x11111111 && ssrcs[1] == 0x22222222, "BYE sources");
    is_int(ngx_calls_rtcp_bye(&item, ssrcs, 1), 1, "BYE: max 1");

    /* BYE with no source at all: 4 bytes, no sender */
    memcpy(buf, "\x80\xcb\x00\x00", 4);
    is_int(ngx_calls_rtcp_check(buf, 4), 1, "empty BYE");
    ngx_calls_rtcp_iter_init(&it, buf, 4);
    ngx_calls_rtcp_iter_next(&it, &item);
    ok(item.sender_ssrc == 0 && item.body_len == 0, "empty BYE: no ssrc");
    is_int(ngx_calls_rtcp_bye(&item, ssrcs, 4), 0, "empty BYE: 0 sources");

    /* TWCC is handed over as it is */
    is_int(ngx_calls_rtcp_iter_init(&it, twcc, sizeof(twcc)), 1, "TWCC");
    ngx_calls_rtcp_iter_next(&it, &item);
    ok(item.pt == NGX_CALLS_RTCP_RTPFB && item.count == NGX_CALLS_RTCP_FB_TWCC,
       "RTPFB FMT 15");
    ok(item.sender_ssrc == 1 && item.media_ssrc == 0xdeadbeef, "TWCC ssrcs");
    ok(item.body == twcc + 12 && item.body_len == 12
       && memcmp(item.body, "\x00\x01\x00\x02", 4) == 0, "TWCC FCI");
    is_int(ngx_calls_rtcp_nack(&item, seqs, 32), -1, "TWCC is not a NACK");

    /* padding: RR with 4 octets of padding */
    memcpy(buf, "\xa0\xc9\x00\x02\x00\x00\x00\x09\x00\x00\x00\x04", 12);
    is_int(ngx_calls_rtcp_check(buf, 12), 1, "RR with padding");
    ngx_calls_rtcp_iter_init(&it, buf, 12);
    ngx_calls_rtcp_iter_next(&it, &item);
    ok(item.sender_ssrc == 9 && item.body_len == 0 && item.pkt_len == 12,
       "padding not in the body");

    /* NACK whose padding leaves a body that is not whole FCIs */
    memcpy(buf, nack_2fci, 16);
    buf[0] |= 0x20;
    buf[3] = 3;
    buf[15] = 2;
    is_int(ngx_calls_rtcp_check(buf, 16), 1, "odd padding is sane");
    ngx_calls_rtcp_iter_init(&it, buf, 16);
    ngx_calls_rtcp_iter_next(&it, &item);
    is_int(ngx_calls_rtcp_nack(&item, seqs, 32), -1, "half an FCI refused");

    /* REMB: SSRC count beyond the FCI; a huge exponent saturates */
    memcpy(buf, chrome_rr_sdes_remb + 60, 24);
    buf[16] = 2;
    ngx_calls_rtcp_iter_init(&it, buf, 24);
    ngx_calls_rtcp_iter_next(&it, &item);
    is_int(ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 4), -1,
           "REMB num ssrc overruns");
    buf[16] = 0;
    buf[17] = 0xff;                          /* exp 63, mantissa 0x3xxxx */
    is_int(ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 4), 0,
           "REMB, no ssrc");
    ok(bitrate == UINT64_MAX, "REMB saturates");
    buf[17] = 0xb8;                          /* exp 46, mantissa 0 .. */
    buf[18] = 0;
    buf[19] = 1;
    ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 4);
    ok(bitrate == (uint64_t) 1 << 46, "REMB exp 46");
    buf[17] = 0xc0;                          /* exp 48, mantissa 0xffff */
    buf[18] = 0xff;
    buf[19] = 0xff;
    ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 4);
    ok(bitrate == (uint64_t) 0xffff << 48, "REMB 64 bits still fit");
    buf[17] = 0xc1;                          /* exp 48, mantissa 0x1ffff */
    ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 4);
    ok(bitrate == UINT64_MAX, "REMB one bit more saturates");
    memcpy(buf + 12, "REMX", 4);
    is_int(ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 4), -1,
           "other AFB is not REMB");

    /* a FIR entry cut in half */
    memcpy(buf, fir, 20);
    buf[3] = 3;
    ngx_calls_rtcp_iter_init(&it, buf, 16);
    ngx_calls_rtcp_iter_next(&it, &item);
    is_int(ngx_calls_rtcp_fir(&item, f, 4), -1, "half a FIR entry");

    /* unknown RTCP types are walked over with their sender ssrc */
    memcpy(buf, "\x80\xcf\x00\x02\x00\x00\x00\x05\x01\x02\x03\x04", 12);
    memcpy(buf + 12, pli, sizeof(pli));
    is_int(ngx_calls_rtcp_check(buf, 24), 2, "XR + PLI");
    ngx_calls_rtcp_iter_init(&it, buf, 24);
    ngx_calls_rtcp_iter_next(&it, &item);
    ok(item.pt == NGX_CALLS_RTCP_XR && item.sender_ssrc == 5
       && item.body_len == 4, "XR item");
    ok(ngx_calls_rtcp_iter_next(&it, &item) && item.pt == NGX_CALLS_RTCP_PSFB,
       "then the PLI");
}


static void
test_malformed(void)
{
    uint8_t                buf[128];
    ngx_calls_rtcp_iter_t  it;
    ngx_calls_rtcp_item_t  item;

    ok(ngx_calls_rtcp_check(chrome_rr_sdes_remb, 0) < 0, "empty");
    ok(ngx_calls_rtcp_check(chrome_rr_sdes_remb, 3) < 0, "truncated header");
    ok(ngx_calls_rtcp_check(chrome_rr_sdes_remb, 31) < 0, "truncated RR");
    ok(ngx_calls_rtcp_check(chrome_rr_sdes_remb, 36) < 0,
       "second packet cut after its header");
    ok(ngx_calls_rtcp_check(chrome_rr_sdes_remb,
                            sizeof(chrome_rr_sdes_remb) - 4) < 0,
       "last packet overruns");
    ok(ngx_calls_rtcp_check(chrome_rr_sdes_remb,
                            sizeof(chrome_rr_sdes_remb) + 0) == 3,
       "whole: fine");

    ok(ngx_calls_rtcp_iter_init(&it, chrome_rr_sdes_remb, 62) < 0,
       "iterator refuses a broken compound");
    ok(!ngx_calls_rtcp_iter_next(&it, &item),
       "and yields nothing, not even the good first packet");

    memcpy(buf, chrome_rr_sdes_remb, sizeof(chrome_rr_sdes_remb));
    buf[32] = 0x41;
    ok(ngx_calls_rtcp_check(buf, sizeof(chrome_rr_sdes_remb)) < 0,
       "bad version in the second packet");
    buf[32] = 0x81;
    buf[33] = 0x48;
    ok(ngx_calls_rtcp_check(buf, sizeof(chrome_rr_sdes_remb)) < 0,
       "type 72: not RTCP");
    buf[33] = 0xca;
    buf[3] = 0x08;
    ok(ngx_calls_rtcp_check(buf, sizeof(chrome_rr_sdes_remb)) < 0,
       "length off by one word");
    buf[3] = 0x07;
    buf[0] = 0x82;
    ok(ngx_calls_rtcp_check(buf, sizeof(chrome_rr_sdes_remb)) < 0,
       "RR count 2 with one block");
    buf[0] = 0x81;
    buf[32] = 0x84;
    ok(ngx_calls_rtcp_check(buf, sizeof(chrome_rr_sdes_remb)) < 0,
       "SDES count 4 with one chunk");

    memcpy(buf, sr_2rb, sizeof(sr_2rb));
    buf[0] = 0x83;
    ok(ngx_calls_rtcp_check(buf, sizeof(sr_2rb)) < 0, "SR count 3, 2 blocks");
    memcpy(buf, "\x80\xc8\x00\x05", 4);
    ok(ngx_calls_rtcp_check(buf, 24) < 0, "SR without all its sender info");
    memcpy(buf, "\x80\xc9\x00\x00", 4);
    ok(ngx_calls_rtcp_check(buf, 4) < 0, "RR without sender ssrc");

    memcpy(buf, bye, sizeof(bye));
    buf[0] = 0x84;
    ok(ngx_calls_rtcp_check(buf, sizeof(bye)) < 0, "BYE count 4, 3 words");
    buf[0] = 0x82;
    buf[12] = 4;
    ok(ngx_calls_rtcp_check(buf, sizeof(bye)) < 0, "BYE reason overruns");

    memcpy(buf, pli, sizeof(pli));
    buf[3] = 1;
    ok(ngx_calls_rtcp_check(buf, 8) < 0, "PLI without media ssrc");

    memcpy(buf, "\xa0\xc9\x00\x02\x00\x00\x00\x09\x00\x00\x00\x00", 12);
    ok(ngx_calls_rtcp_check(buf, 12) < 0, "padding count 0");
    buf[11] = 12;
    ok(ngx_calls_rtcp_check(buf, 12) < 0, "padding eats the header");
    buf[11] = 5;
    ok(ngx_calls_rtcp_check(buf, 12) < 0, "padding eats the sender ssrc");
    buf[11] = 4;
    ok(ngx_calls_rtcp_check(buf, 12) == 1, "padding 4: fine");
}


static void
test_fuzz(void)
{
    int                    i, n, k;
    size_t                 len, j, total;
    uint8_t               *buf;
    uint16_t               seqs[64];
    uint32_t               ssrc, ssrcs[8];
    uint64_t               bitrate;
    ngx_calls_rtcp_rb_t    rb[NGX_CALLS_RTCP_MAX_RB];
    ngx_calls_rtcp_fir_t   f[8];
    ngx_calls_rtcp_iter_t  it;
    ngx_calls_rtcp_item_t  item;
    ngx_calls_rtcp_sender_info_t  si;

    static const struct {
        const uint8_t  *data;
        size_t          len;
    }  seeds[] = {
        { chrome_rr_sdes_remb, sizeof(chrome_rr_sdes_remb) },
        { sr_2rb, sizeof(sr_2rb) },
        { nack_2fci, sizeof(nack_2fci) },
        { fir, sizeof(fir) },
        { bye, sizeof(bye) },
        { twcc, sizeof(twcc) },
    };

    int  accepted = 0, bad = 0, wrong = 0;

    srandom(4585);

    for (i = 0; i < 100000; i++) {

        if (i % 2) {
            /* random bytes, usually version 2 and an RTCP type */
            len = (size_t) random() % 160;
            buf = malloc(len ? len : 1);

            for (j = 0; j < len; j++) {
                buf[j] = (uint8_t) random();
            }

            if (len >= 4 && random() % 4) {
                buf[0] = (buf[0] & 0x3f) | 0x80;
                buf[1] = (uint8_t) (192 + random() % 32);
                buf[2] = 0;
                buf[3] = (uint8_t) (random() % (len / 4 + 2));
            }

        } else {
            /* a real packet with a few bytes changed, maybe cut */
            k = (int) ((size_t) random() % (sizeof(seeds) / sizeof(seeds[0])));
            len = seeds[k].len;

            if (random() % 4 == 0) {
                len = (size_t) random() % (len + 1);
            }

            buf = malloc(len ? len : 1);
            memcpy(buf, seeds[k].data, len);

            for (n = (int) (random() % 4); len && n >= 0; n--) {
                buf[random() % len] = (uint8_t) random();
            }
        }

        /* buf is exactly len bytes on the heap: ASan sees any overread */

        n = ngx_calls_rtcp_iter_init(&it, buf, len);

        if (n < 0) {
            bad++;

            if (ngx_calls_rtcp_iter_next(&it, &item)) {
                wrong++;
            }

            free(buf);
            continue;
        }

        accepted++;
        total = 0;
        k = 0;

        while (ngx_calls_rtcp_iter_next(&it, &item)) {
            total += item.pkt_len;
            k++;

            if (item.body < buf || item.body + item.body_len > buf + len
                || item.pkt + item.pkt_len > buf + len)
            {
                wrong++;
            }

            (void) ngx_calls_rtcp_sr(&item, &si, rb, NGX_CALLS_RTCP_MAX_RB);
            (void) ngx_calls_rtcp_rr(&item, rb, NGX_CALLS_RTCP_MAX_RB);
            (void) ngx_calls_rtcp_nack(&item, seqs, 64);
            (void) ngx_calls_rtcp_pli(&item, &ssrc);
            (void) ngx_calls_rtcp_fir(&item, f, 8);
            (void) ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 8);
            (void) ngx_calls_rtcp_bye(&item, ssrcs, 8);
        }

        if (total != len || k != n) {
            wrong++;
        }

        free(buf);
    }

    diag("fuzz: %d accepted, %d refused", accepted, bad);
    ok(accepted > 1000 && bad > 1000, "fuzz reached both outcomes");
    is_int(wrong, 0, "accepted packets: items tile them, bodies inside");
    ok(1, "100000 random and mutated packets walked and decoded safely");
}


static void
test_builders(void)
{
    int                           n;
    size_t                        len, s, j;
    uint8_t                       buf[256];
    uint16_t                      seqs[32];
    uint32_t                      ssrc;
    ngx_calls_rtcp_rb_t           rb[NGX_CALLS_RTCP_MAX_RB + 1], got[4];
    ngx_calls_rtcp_fir_t          f[2];
    ngx_calls_rtcp_iter_t         it;
    ngx_calls_rtcp_item_t         item;
    ngx_calls_rtcp_sender_info_t  si, si2;

    /* PLI */
    len = ngx_calls_rtcp_build_pli(buf, sizeof(buf), 1, 0xdeadbeef);
    ok(len == sizeof(pli) && memcmp(buf, pli, len) == 0, "PLI bytes");
    is_int(ngx_calls_rtcp_build_pli(buf, 11, 1, 2), 0, "PLI: no room");

    /* FIR */
    len = ngx_calls_rtcp_build_fir(buf, sizeof(buf), 1, 0xcafebabe, 9);
    is_int(len, 20, "FIR length");
    ngx_calls_rtcp_iter_init(&it, buf, len);
    ngx_calls_rtcp_iter_next(&it, &item);
    ok(item.sender_ssrc == 1 && item.media_ssrc == 0, "FIR header");
    ok(ngx_calls_rtcp_fir(&item, f, 2) == 1 && f[0].ssrc == 0xcafebabe
       && f[0].seq_nr == 9, "FIR round trip");
    is_int(ngx_calls_rtcp_build_fir(buf, 19, 1, 2, 3), 0, "FIR: no room");

    /* SR with two blocks, one lost count beyond 24 bits (clamped) */
    memset(rb, 0, sizeof(rb));
    rb[0].ssrc = 0xaaaaaaaa;
    rb[0].fraction_lost = 1;
    rb[0].cumulative_lost = -5;
    rb[0].ext_highest_seq = 0x30001;
    rb[0].jitter = 77;
    rb[0].lsr = 0x11112222;
    rb[0].dlsr = 0x10000;
    rb[1].ssrc = 0xbbbbbbbb;
    rb[1].cumulative_lost = 0x1000000;
    si.ntp = (uint64_t) 0xe8fe6f80 << 32 | 0x40000000;
    si.rtp_ts = 90000;
    si.packet_count = 1000;
    si.octet_count = 1000000;

    len = ngx_calls_rtcp_build_sr(buf, sizeof(buf), 0x11223344, &si, rb, 2);
    is_int(len, 76, "SR length");
    ok(memcmp(buf, sr_2rb, 28) == 0, "SR header and sender info bytes");
    is_int(ngx_calls_rtcp_check(buf, len), 1, "SR valid");
    ngx_calls_rtcp_iter_init(&it, buf, len);
    ngx_calls_rtcp_iter_next(&it, &item);
    n = ngx_calls_rtcp_sr(&item, &si2, got, 4);
    is_int(n, 2, "SR round trip: 2 blocks");
    ok(memcmp(&si, &si2, sizeof(si)) == 0, "SR sender info round trip");
    ok(got[0].ssrc == rb[0].ssrc && got[0].fraction_lost == 1
       && got[0].cumulative_lost == -5 && got[0].ext_highest_seq == 0x30001
       && got[0].jitter == 77 && got[0].lsr == 0x11112222
       && got[0].dlsr == 0x10000, "report block round trip");
    is_int(got[1].cumulative_lost, 0x7fffff, "lost clamped to 24 bits");
    rb[1].cumulative_lost = -0x1000000;
    ngx_calls_rtcp_build_sr(buf, sizeof(buf), 1, &si, rb, 2);
    ngx_calls_rtcp_iter_init(&it, buf, 76);
    ngx_calls_rtcp_iter_next(&it, &item);
    ngx_calls_rtcp_sr(&item, &si2, got, 4);
    is_int(got[1].cumulative_lost, -0x800000, "negative lost clamped");

    is_int(ngx_calls_rtcp_build_sr(buf, sizeof(buf), 1, &si, rb, 0), 28,
           "SR without blocks");
    is_int(ngx_calls_rtcp_build_sr(buf, 1024, 1, &si, rb, 32), 0,
           "SR: 32 blocks do not fit the count");

    /* RR */
    len = ngx_calls_rtcp_build_rr(buf, sizeof(buf), 7, rb, 1);
    is_int(len, 32, "RR length");
    ngx_calls_rtcp_iter_init(&it, buf, len);
    ngx_calls_rtcp_iter_next(&it, &item);
    ok(item.sender_ssrc == 7 && ngx_calls_rtcp_rr(&item, got, 4) == 1
       && got[0].ssrc == 0xaaaaaaaa && got[0].cumulative_lost == -5,
       "RR round trip");
    is_int(ngx_calls_rtcp_build_rr(buf, sizeof(buf), 7, rb, 0), 8,
           "empty RR");

    /* SDES */
    len = ngx_calls_rtcp_build_sdes(buf, sizeof(buf), 1, "K1pOhuDJ2bwKzrlX",
                                    16);
    ok(len == 28 && memcmp(buf, chrome_rr_sdes_remb + 32, 28) == 0,
       "SDES bytes as Chrome's");
    for (s = 1; s <= 12; s++) {
        memset(buf, 0xee, sizeof(buf));
        len = ngx_calls_rtcp_build_sdes(buf, sizeof(buf), 2, "abcdefghijkl",
                                        s);
        ngx_calls_rtcp_iter_init(&it, buf, len);
        if (len % 4 || !ngx_calls_rtcp_iter_next(&it, &item)
            || item.body_len < 6 + s + 1 || item.body[5] != s
            || memcmp(item.body + 6, "abcdefghijkl", s) != 0
            || item.body[6 + s] != 0 || buf[len - 1] != 0)
        {
            break;
        }
    }
    ok(s == 13, "SDES CNAME of every length: aligned and terminated");
    is_int(ngx_calls_rtcp_build_sdes(buf, sizeof(buf), 1, "", 0), 0,
           "empty CNAME");

    /* a compound put together from the builders */
    len = ngx_calls_rtcp_build_sr(buf, sizeof(buf), 1, &si, rb, 1);
    len += ngx_calls_rtcp_build_sdes(buf + len, sizeof(buf) - len, 1, "x", 1);
    len += ngx_calls_rtcp_build_pli(buf + len, sizeof(buf) - len, 1, 2);
    seqs[0] = 5;
    len += ngx_calls_rtcp_build_nack(buf + len, sizeof(buf) - len, 1, 2,
                                     seqs, 1);
    is_int(ngx_calls_rtcp_check(buf, len), 4, "SR+SDES+PLI+NACK compound");
    ngx_calls_rtcp_iter_init(&it, buf, len);
    ngx_calls_rtcp_iter_next(&it, &item);
    ngx_calls_rtcp_iter_next(&it, &item);
    ngx_calls_rtcp_iter_next(&it, &item);
    ok(ngx_calls_rtcp_pli(&item, &ssrc) == 0 && ssrc == 2, "third: PLI");

    /* never past size: every builder, every size */
    {
        size_t    r, full;
        uint8_t   canary[256];
        unsigned  k, bad;

        static const size_t  want[6] = {
            12, 20, 12 + 3 * 4, 28 + 5 * 24, 8 + 5 * 24, 16
        };

        seqs[0] = 1;
        seqs[1] = 30;
        seqs[2] = 60;
        bad = 0;

        for (k = 0; k < 6; k++) {
            full = want[k];

            for (s = 0; s <= full + 8; s++) {
                memset(canary, 0xee, sizeof(canary));

                switch (k) {
                case 0:
                    r = ngx_calls_rtcp_build_pli(canary, s, 1, 2);
                    break;
                case 1:
                    r = ngx_calls_rtcp_build_fir(canary, s, 1, 2, 3);
                    break;
                case 2:
                    r = ngx_calls_rtcp_build_nack(canary, s, 1, 2, seqs, 3);
                    break;
                case 3:
                    r = ngx_calls_rtcp_build_sr(canary, s, 1, &si, rb, 5);
                    break;
                case 4:
                    r = ngx_calls_rtcp_build_rr(canary, s, 1, rb, 5);
                    break;
                default:
                    r = ngx_calls_rtcp_build_sdes(canary, s, 1, "cname", 5);
                    break;
                }

                for (j = s; j < sizeof(canary); j++) {
                    if (canary[j] != 0xee) {
                        bad++;
                        break;
                    }
                }

                if (r != (s < full ? 0 : full)) {
                    diag("builder %u size %zu: %zu", k, s, r);
                    bad++;
                }

                if (r && ngx_calls_rtcp_check(canary, r) != 1) {
                    bad++;
                }
            }
        }

        is_int(bad, 0, "builders: 0 below their length, never a byte past "
               "size, valid at and above it");
    }
}


static size_t
uniq_sorted(uint16_t *a, size_t n)
{
    size_t    i, j, m;
    uint16_t  t;

    for (i = 1; i < n; i++) {
        t = a[i];
        for (j = i; j > 0 && a[j - 1] > t; j--) {
            a[j] = a[j - 1];
        }
        a[j] = t;
    }

    for (m = 0, i = 0; i < n; i++) {
        if (m == 0 || a[i] != a[m - 1]) {
            a[m++] = a[i];
        }
    }

    return m;
}


static void
test_nack_pack(void)
{
    int                    i, n, bad, fcis, minimal;
    size_t                 len, k, m, cnt;
    uint8_t                buf[4200];
    uint16_t               seqs[NGX_CALLS_RTCP_NACK_MAX_SEQS + 1];
    uint16_t               got[17 * NGX_CALLS_RTCP_NACK_MAX_SEQS];
    uint16_t               pid, prev;
    ngx_calls_rtcp_iter_t  it;
    ngx_calls_rtcp_item_t  item;

    /* 100..116: one entry, PID 100, all 16 bits */
    for (i = 0; i < 17; i++) {
        seqs[i] = (uint16_t) (100 + i);
    }

    len = ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, 17);
    ok(len == 16 && memcmp(buf + 12, "\x00\x64\xff\xff", 4) == 0,
       "100..116: PID 100 BLP 0xffff");
    ok(memcmp(buf, "\x81\xcd\x00\x03\x00\x00\x00\x01\x00\x00\x00\x02", 12)
       == 0, "NACK header");

    /* 100..117: 117 needs a second entry */
    seqs[17] = 117;
    len = ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, 18);
    ok(len == 20 && memcmp(buf + 12, "\x00\x64\xff\xff\x00\x75\x00\x00", 8)
       == 0, "100..117: + PID 117 BLP 0");

    /* across the wrap */
    seqs[0] = 0;
    seqs[1] = 65535;
    seqs[2] = 1;
    seqs[3] = 65534;
    len = ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, 4);
    ok(len == 16 && memcmp(buf + 12, "\xff\xfe\x00\x07", 4) == 0,
       "65534, 65535, 0, 1: one entry PID 65534 BLP 0x0007");

    seqs[0] = 65530;
    seqs[1] = 10;
    len = ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, 2);
    ok(len == 16 && memcmp(buf + 12, "\xff\xfa\x80\x00", 4) == 0,
       "65530 and 10: one entry, the last bit");

    /* unsorted with duplicates */
    seqs[0] = 5;
    seqs[1] = 3;
    seqs[2] = 3;
    seqs[3] = 20;
    seqs[4] = 4;
    len = ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, 5);
    ok(len == 20 && memcmp(buf + 12, "\x00\x03\x00\x03\x00\x14\x00\x00", 8)
       == 0, "5,3,3,20,4: (3, 0x0003) (20, 0)");

    /* far apart */
    seqs[0] = 10;
    seqs[1] = 40000;
    len = ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, 2);
    ngx_calls_rtcp_iter_init(&it, buf, len);
    ngx_calls_rtcp_iter_next(&it, &item);
    n = ngx_calls_rtcp_nack(&item, got, 8);
    ok(len == 20 && n == 2 && got[0] == 40000 && got[1] == 10,
       "10, 40000: two entries from the larger gap's end");

    is_int(ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, 0), 0,
           "nothing to NACK");
    is_int(ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs,
                                     NGX_CALLS_RTCP_NACK_MAX_SEQS + 1), 0,
           "more than the limit");

    /* every number of the limit, one apart: 1024 / 17 entries */
    for (i = 0; i < NGX_CALLS_RTCP_NACK_MAX_SEQS; i++) {
        seqs[i] = (uint16_t) (65000 + i);
    }
    len = ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs,
                                    NGX_CALLS_RTCP_NACK_MAX_SEQS);
    is_int(len, 12 + 4 * ((NGX_CALLS_RTCP_NACK_MAX_SEQS + 16) / 17),
           "1024 consecutive: ceil(1024 / 17) entries");

    /* random sets: build -> parse gives the same set, minimally packed */
    srandom(4585);
    bad = 0;
    minimal = 1;

    for (i = 0; i < 1000; i++) {
        uint16_t  base, span;

        base = (uint16_t) random();
        span = (uint16_t) (1 + random() % (i % 3 == 0 ? 60000 : 600));
        cnt = 1 + (size_t) random() % (i % 10 == 0 ? 1024 : 200);

        for (k = 0; k < cnt; k++) {
            seqs[k] = (uint16_t) (base + random() % span);
        }

        len = ngx_calls_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, cnt);

        if (len == 0 || ngx_calls_rtcp_iter_init(&it, buf, len) != 1
            || !ngx_calls_rtcp_iter_next(&it, &item))
        {
            bad++;
            continue;
        }

        n = ngx_calls_rtcp_nack(&item, got, sizeof(got) / sizeof(got[0]));
        fcis = (int) (item.body_len / 4);

        /* no entry's PID lies within the previous entry's reach */
        for (k = 1; k < (size_t) fcis; k++) {
            prev = (uint16_t) ((item.body[4 * k - 4] << 8)
                               | item.body[4 * k - 3]);
            pid = (uint16_t) ((item.body[4 * k] << 8) | item.body[4 * k + 1]);
            if ((uint16_t) (pid - prev) <= 16) {
                minimal = 0;
            }
        }

        m = uniq_sorted(seqs, cnt);

        if ((size_t) n != m || uniq_sorted(got, (size_t) n) != m
            || memcmp(got, seqs, m * sizeof(uint16_t)) != 0)
        {
            bad++;
        }
    }

    is_int(bad, 0, "1000 random sets: build -> parse gives the same set");
    ok(minimal, "each entry starts beyond the reach of the one before");
}


static void
test_ntp(void)
{
    uint64_t             ntp, t0;
    ngx_calls_rtcp_rb_t  rb;
    int64_t              rtt;

    ntp = ngx_calls_ntp_from_unix_us(0);
    ok(ntp == (uint64_t) 2208988800u << 32, "Unix epoch in NTP");

    ntp = ngx_calls_ntp_from_unix_us(1700000000250000ULL);
    ok(ntp == ((uint64_t) 0xe8fe6f80 << 32 | 0x40000000),
       "1700000000.25 s: NTP 0xe8fe6f80.40000000");
    is_int(ngx_calls_ntp_middle(ntp), 0x6f804000, "middle 32 bits");

    ntp = ngx_calls_ntp_from_unix_us(1500000);
    is_int((uint32_t) ntp, 0x80000000, "half a second");
    ntp = ngx_calls_ntp_from_unix_us(999999);
    ok((uint32_t) ntp == 0xffffef39, "999999 us: fraction 0xffffef39");

    /* RTT: SR sent at t0, block says it was held 0.5 s, arrives at +0.6 s */
    t0 = 1700000000000000ULL;
    memset(&rb, 0, sizeof(rb));
    rb.lsr = ngx_calls_ntp_middle(ngx_calls_ntp_from_unix_us(t0));
    rb.dlsr = 32768;
    rtt = ngx_calls_rtcp_rtt_ms(
              ngx_calls_ntp_middle(ngx_calls_ntp_from_unix_us(t0 + 600000)),
              &rb);
    ok(rtt >= 99 && rtt <= 100, "RTT 100 ms");

    rtt = ngx_calls_rtcp_rtt_ms(
              ngx_calls_ntp_middle(ngx_calls_ntp_from_unix_us(t0 + 400000)),
              &rb);
    is_int(rtt, -1, "negative RTT refused");
    rb.lsr = 0;
    is_int(ngx_calls_rtcp_rtt_ms(12345, &rb), -1, "no SR yet");
}


int
main(void)
{
    test_compound();
    test_decoders();
    test_malformed();
    test_builders();
    test_nack_pack();
    test_ntp();
    test_fuzz();

    return done_testing();
}
