
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The client's descriptions (ngx_calls_offer.c): a Calls-client offer as
 * the server's parser and checks read it, simulcast layers, the answer to
 * a server offer of a forwarded track, and the DTLS role each exchange
 * gives.
 */


#include <stdlib.h>

#include "tap.h"
#include "ngx_calls_offer.h"
#include "ngx_calls_rtp.h"


#define FP  "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"             \
            "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"


/* an offer of the server's (ngx_calls_negotiate.c) adding a voice track */
static const char  server_offer[] =
    "v=0\r\n"
    "o=- 1 2 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1 2\r\n"
    "a=msid-semantic: WMS *\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "a=ice-ufrag:srvU\r\n"
    "a=ice-pwd:serverPassword0123456789\r\n"
    "a=fingerprint:sha-256 " FP "\r\n"
    "a=setup:actpass\r\n"
    "a=sctp-port:5000\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:1\r\n"
    "a=ice-ufrag:srvU\r\n"
    "a=ice-pwd:serverPassword0123456789\r\n"
    "a=fingerprint:sha-256 " FP "\r\n"
    "a=setup:actpass\r\n"
    "a=recvonly\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:2\r\n"
    "a=ice-ufrag:srvU\r\n"
    "a=ice-pwd:serverPassword0123456789\r\n"
    "a=fingerprint:sha-256 " FP "\r\n"
    "a=setup:actpass\r\n"
    "a=sendonly\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:3 http://www.ietf.org/id/"
    "draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=msid:bobsession voice_bobsession_abcdefgh\r\n"
    "a=ssrc:4242 cname:bobsession\r\n";


static int
parse(const char *text, ngx_calls_sdp_t *sdp)
{
    char  err[256];

    memset(sdp, 0, sizeof(ngx_calls_sdp_t));

    if (ngx_calls_sdp_parse(sdp, text, strlen(text), err, sizeof(err)) != 0)
    {
        diag("parse: %s", err);
        return -1;
    }

    return 0;
}


static void
test_offer(void)
{
    long                   n;
    char                   buf[16384], err[256];
    uint32_t               ssrcs[2] = { 1001, 1002 };
    ngx_calls_sdp_t        sdp;
    ngx_calls_offer_t      o;
    ngx_calls_sdp_media_t  *m;

    static const char *const  rids[] = { "l", "h" };

    is_int(ngx_calls_offer_init(&o, "cliU", "clientPassword0123456789", FP,
                                "1 1 udp 2130706431 127.0.0.2 40000 typ "
                                "host"), 0, "init");

    ok(ngx_calls_offer_add_data(&o) != NULL, "calls-dc m-section");

    n = ngx_calls_offer_build(&o, 0, buf, sizeof(buf));
    ok(n > 0, "first offer written");
    is_int(parse(buf, &sdp), 0, "first offer parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, sizeof(err)), 0,
           "first offer passes the server's WebRTC checks");
    is_int(sdp.nmedia, 1, "one m-section");
    ok(sdp.media[0].kind == NGX_CALLS_SDP_APPLICATION
       && sdp.media[0].sctp_port == 5000, "m=application with sctp-port");
    is_int(sdp.media[0].setup, NGX_CALLS_SDP_SETUP_ACTPASS, "actpass");
    is_int(sdp.media[0].ncands, 1, "our host candidate");
    ok(sdp.ice_trickle && sdp.media[0].end_of_candidates,
       "trickle, end-of-candidates");
    ngx_calls_sdp_free(&sdp);

    ok(ngx_calls_offer_add_audio(&o, "stream1", "mic1", 0x11223344) != NULL,
       "microphone");
    ok(ngx_calls_offer_add_video(&o, "screen1", "screentrack", ssrcs, rids,
                                 2) != NULL, "screen with layers l and h");

    n = ngx_calls_offer_build(&o, 0, buf, sizeof(buf));
    ok(n > 0, "offer with tracks written");
    is_int(parse(buf, &sdp), 0, "it parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, sizeof(err)), 0,
           "it passes the WebRTC checks");
    is_int(sdp.nbundle, 3, "BUNDLE of three");

    m = &sdp.media[1];
    ok(m->kind == NGX_CALLS_SDP_AUDIO && m->dir == NGX_CALLS_SDP_SENDRECV,
       "audio sendrecv, as addTrack()");
    ok(ngx_calls_sdp_find_codec(m, "opus", 48000) != NULL, "opus");
    is_int(ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_AUDIO_LEVEL),
           NGX_CALLS_OFFER_EXT_AUDIO_LEVEL, "audio level id");
    is_int(ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_TWCC),
           NGX_CALLS_OFFER_EXT_TWCC, "transport-cc id");
    ok(m->nssrcs == 1 && m->ssrcs[0].ssrc == 0x11223344,
       "the SSRC is signaled");
    is_str(m->msid_stream, "stream1", "msid stream");

    m = &sdp.media[2];
    ok(m->kind == NGX_CALLS_SDP_VIDEO
       && ngx_calls_sdp_find_codec(m, "VP8", 90000) != NULL, "VP8");
    ok(m->nrids == 2 && m->simulcast && m->rids[0].send
       && strcmp(m->rids[1].id, "h") == 0, "rids l and h sent, simulcast");
    is_int(m->nssrcs, 0, "layers have no a=ssrc");
    is_int(ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_RID),
           NGX_CALLS_OFFER_EXT_RID, "rid extension");
    is_int(ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_MID),
           NGX_CALLS_OFFER_EXT_MID, "mid extension");
    ngx_calls_sdp_free(&sdp);

    ngx_calls_offer_free(&o);
}


static void
test_answer(void)
{
    long                   n;
    char                   buf[16384], err[256];
    ngx_calls_sdp_t        sdp, answer;
    ngx_calls_offer_t      o;
    ngx_calls_sdp_media_t  *m;

    (void) ngx_calls_offer_init(&o, "cliU", "clientPassword0123456789", FP,
                                NULL);
    (void) ngx_calls_offer_add_data(&o);
    (void) ngx_calls_offer_add_audio(&o, "stream1", "mic1", 7);

    /* the server answers our offer as the DTLS client */
    n = ngx_calls_offer_build(&o, 0, buf, sizeof(buf));
    ok(n > 0, "offer");

    is_int(parse(buf, &answer), 0, "our offer parses");
    answer.media[0].setup = NGX_CALLS_SDP_SETUP_ACTIVE;
    answer.media[1].setup = NGX_CALLS_SDP_SETUP_ACTIVE;
    answer.media[1].dir = NGX_CALLS_SDP_RECVONLY;
    is_int(ngx_calls_offer_remote(&o, &answer, 0, err, sizeof(err)), 0,
           "answer taken");
    is_int(o.answer_setup, NGX_CALLS_SDP_SETUP_PASSIVE,
           "answered active: we are the DTLS server");
    ngx_calls_sdp_free(&answer);

    /* then it offers a voice: a new m-section we receive on */
    is_int(parse(server_offer, &sdp), 0, "server offer parses");
    is_int(ngx_calls_offer_remote(&o, &sdp, 1, err, sizeof(err)), 0,
           "server offer taken");
    ngx_calls_sdp_free(&sdp);

    is_int(o.nmedia, 3, "one m-section more");
    ok(o.media[2].role == NGX_CALLS_OFFER_RECV, "a track we receive");
    is_str(o.media[2].remote_stream, "bobsession",
           "sender's stream id, as rtcd's msid");
    is_int(o.media[2].remote_ssrc, 4242, "its SSRC toward us");

    n = ngx_calls_offer_build(&o, 1, buf, sizeof(buf));
    ok(n > 0, "answer written");
    is_int(parse(buf, &sdp), 0, "answer parses");
    is_int(sdp.nmedia, 3, "three m-sections");

    m = &sdp.media[1];
    is_int(m->dir, NGX_CALLS_SDP_SENDONLY,
           "our microphone: sendonly to a recvonly offer");
    is_int(m->setup, NGX_CALLS_SDP_SETUP_PASSIVE, "setup passive");

    m = &sdp.media[2];
    is_str(m->mid, "2", "mid of the server's m-section");
    is_int(m->dir, NGX_CALLS_SDP_RECVONLY, "recvonly");
    ok(ngx_calls_sdp_find_codec(m, "opus", 48000) != NULL
       && m->codecs[0].pt == 111, "its codec and payload type");
    is_int(ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_TWCC), 3,
           "its extension ids");
    is_int(m->nssrcs, 0, "no SSRC of ours");
    ngx_calls_sdp_free(&sdp);

    /* an offer that drops an m-section is refused */
    is_int(parse(server_offer, &sdp), 0, "server offer parses again");
    sdp.nmedia = 2;
    sdp.nbundle = 2;
    ok(ngx_calls_offer_remote(&o, &sdp, 1, err, sizeof(err)) != 0
       && strstr(err, "m-sections") != NULL,
       "fewer m-sections than ours: refused");
    ngx_calls_sdp_free(&sdp);

    ngx_calls_offer_free(&o);

    /* answering first (Janus offers its subscribers): DTLS client */
    (void) ngx_calls_offer_init(&o, "cliU", "clientPassword0123456789", FP,
                                NULL);
    is_int(parse(server_offer, &sdp), 0, "offer parses");
    is_int(ngx_calls_offer_remote(&o, &sdp, 1, err, sizeof(err)), 0,
           "first description is an offer");
    ngx_calls_sdp_free(&sdp);
    is_int(o.answer_setup, NGX_CALLS_SDP_SETUP_ACTIVE,
           "actpass offer answered active, as browsers do");
    is_int(o.nmedia, 3, "all its m-sections taken");
    ok(o.media[0].role == NGX_CALLS_OFFER_DATA, "its data channel too");
    ngx_calls_offer_free(&o);
}


int
main(void)
{
    test_offer();
    test_answer();

    return done_testing();
}
