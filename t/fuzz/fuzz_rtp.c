
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * libFuzzer: RTP and RTCP after SRTP, as a peer sends them: header and
 * extension parsing, the per-receiver rewrite, every RTCP decoder, and
 * the keyframe checks of the video payloads.
 */


#include <string.h>

#include "ngx_calls_session.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                            i;
    size_t                         len;
    uint8_t                        out[NGX_CALLS_PACKET_SIZE];
    uint16_t                       seqs[256];
    uint32_t                       ssrc, ssrcs[16];
    uint64_t                       bitrate;
    unsigned                       level, voice;
    ngx_calls_rtp_t                rtp;
    ngx_calls_rtcp_rb_t            rb[31];
    ngx_calls_rtcp_fir_t           fir[8];
    ngx_calls_rtcp_iter_t          it;
    ngx_calls_rtcp_item_t          item;
    ngx_calls_rtp_extmap_t         map;
    ngx_calls_rtcp_sender_info_t   si;

    if (ngx_calls_rtp_parse(data, size, &rtp) == 0) {
        for (i = 1; i < 16; i++) {
            (void) ngx_calls_rtp_ext_find(data, &rtp, (uint8_t) i, &len);
        }

        (void) ngx_calls_rtp_audio_level(data, &rtp, 1, &level, &voice);

        memset(&map, 0, sizeof(map));
        map.map[1] = 2;
        map.map[3] = 5;
        map.twcc_id = 3;

        (void) ngx_calls_rtp_rewrite(out, sizeof(out), data, &rtp, 7, 96,
                                     &map, 1234);

        (void) ngx_calls_video_keyframe(NGX_CALLS_CODEC_VP8,
                                        data + rtp.header_len,
                                        rtp.payload_len);
        (void) ngx_calls_video_keyframe(NGX_CALLS_CODEC_AV1,
                                        data + rtp.header_len,
                                        rtp.payload_len);
    }

    if (ngx_calls_rtcp_iter_init(&it, data, size) < 0) {
        return 0;
    }

    while (ngx_calls_rtcp_iter_next(&it, &item) == 1) {
        (void) ngx_calls_rtcp_sr(&item, &si, rb, 31);
        (void) ngx_calls_rtcp_rr(&item, rb, 31);
        (void) ngx_calls_rtcp_nack(&item, seqs, 256);
        (void) ngx_calls_rtcp_pli(&item, &ssrc);
        (void) ngx_calls_rtcp_fir(&item, fir, 8);
        (void) ngx_calls_rtcp_remb(&item, &bitrate, ssrcs, 16);
        (void) ngx_calls_rtcp_bye(&item, ssrcs, 16);
    }

    return 0;
}
