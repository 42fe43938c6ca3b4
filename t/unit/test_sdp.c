
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdlib.h>

#include "ngx_calls_sdp.h"
#include "tap.h"


#define CRLF  "\r\n"

#define FP_CHROME                                                             \
    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:"                        \
    "DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08"

#define FP_FIREFOX                                                            \
    "F0:4A:1E:3D:0C:92:7B:66:15:A8:E1:C2:33:9D:40:5F:"                        \
    "8B:77:D6:21:0E:AF:54:C3:98:12:6B:E7:3A:F1:05:9C"

#define FP_AIORTC                                                             \
    "5D:3E:0B:C4:7A:19:E8:62:F3:AD:41:96:2C:7F:B0:58:"                        \
    "E5:13:8A:D9:6E:27:C1:4B:90:F8:35:AE:02:DB:67:1C"

#define CHROME_SESSION(version, bundle, msid)                                 \
    "v=0" CRLF                                                                \
    "o=- 4215775240449105457 " version " IN IP4 127.0.0.1" CRLF               \
    "s=-" CRLF                                                                \
    "t=0 0" CRLF                                                              \
    "a=group:BUNDLE " bundle CRLF                                             \
    "a=extmap-allow-mixed" CRLF                                               \
    "a=msid-semantic: WMS" msid CRLF

#define CHROME_TRANSPORT                                                      \
    "a=ice-ufrag:Xk4B" CRLF                                                   \
    "a=ice-pwd:pD4bOYzE9t1fw0KxTUEoFLuM" CRLF                                 \
    "a=ice-options:trickle" CRLF                                              \
    "a=fingerprint:sha-256 " FP_CHROME CRLF                                   \
    "a=setup:actpass" CRLF

#define CHROME_DC                                                             \
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel" CRLF                   \
    "c=IN IP4 0.0.0.0" CRLF                                                   \
    CHROME_TRANSPORT                                                          \
    "a=mid:0" CRLF                                                            \
    "a=sctp-port:5000" CRLF                                                   \
    "a=max-message-size:262144" CRLF

#define VOICE_STREAM  "2a4f4f0e-5f32-4b5e-9c51-0b7d2f7a1c33"
#define VOICE_TRACK   "e3b3a3a1-8d4c-4a8f-b0d2-6c1f4e9a7d21"
#define SCREEN_STREAM "9c1e0f4b-2d3a-4e8b-a7c6-5f1d2b3e4a90"
#define SCREEN_TRACK  "0f6d4a2c-7b19-4e3d-8a5f-c2e1b9d07a36"

#define CHROME_AUDIO                                                          \
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126" CRLF                \
    "c=IN IP4 0.0.0.0" CRLF                                                   \
    "a=rtcp:9 IN IP4 0.0.0.0" CRLF                                            \
    CHROME_TRANSPORT                                                          \
    "a=mid:1" CRLF                                                            \
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level" CRLF             \
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"   \
    CRLF                                                                      \
    "a=extmap:3 http://www.ietf.org/id/"                                      \
    "draft-holmer-rmcat-transport-wide-cc-extensions-01" CRLF                 \
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid" CRLF                     \
    "a=sendrecv" CRLF                                                         \
    "a=msid:" VOICE_STREAM " " VOICE_TRACK CRLF                               \
    "a=rtcp-mux" CRLF                                                         \
    "a=rtcp-rsize" CRLF                                                       \
    "a=rtpmap:111 opus/48000/2" CRLF                                          \
    "a=rtcp-fb:111 transport-cc" CRLF                                         \
    "a=fmtp:111 minptime=10;useinbandfec=1" CRLF                              \
    "a=rtpmap:63 red/48000/2" CRLF                                            \
    "a=fmtp:63 111/111" CRLF                                                  \
    "a=rtpmap:9 G722/8000" CRLF                                               \
    "a=rtpmap:0 PCMU/8000" CRLF                                               \
    "a=rtpmap:8 PCMA/8000" CRLF                                               \
    "a=rtpmap:13 CN/8000" CRLF                                                \
    "a=rtpmap:110 telephone-event/48000" CRLF                                 \
    "a=rtpmap:126 telephone-event/8000" CRLF                                  \
    "a=ssrc:2871093474 cname:Hs3bT/xuWnJ2dGmA" CRLF                           \
    "a=ssrc:2871093474 msid:" VOICE_STREAM " " VOICE_TRACK CRLF

#define CHROME_SCREEN                                                         \
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 45 46" CRLF                            \
    "c=IN IP4 0.0.0.0" CRLF                                                   \
    "a=rtcp:9 IN IP4 0.0.0.0" CRLF                                            \
    CHROME_TRANSPORT                                                          \
    "a=mid:2" CRLF                                                            \
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset" CRLF                     \
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"   \
    CRLF                                                                      \
    "a=extmap:13 urn:3gpp:video-orientation" CRLF                             \
    "a=extmap:3 http://www.ietf.org/id/"                                      \
    "draft-holmer-rmcat-transport-wide-cc-extensions-01" CRLF                 \
    "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"   \
    CRLF                                                                      \
    "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/"                \
    "video-content-type" CRLF                                                 \
    "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing"    \
    CRLF                                                                      \
    "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space"     \
    CRLF                                                                      \
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid" CRLF                     \
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" CRLF          \
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"      \
    CRLF                                                                      \
    "a=sendonly" CRLF                                                         \
    "a=msid:" SCREEN_STREAM " " SCREEN_TRACK CRLF                             \
    "a=rtcp-mux" CRLF                                                         \
    "a=rtcp-rsize" CRLF                                                       \
    "a=rtpmap:96 VP8/90000" CRLF                                              \
    "a=rtcp-fb:96 goog-remb" CRLF                                             \
    "a=rtcp-fb:96 transport-cc" CRLF                                          \
    "a=rtcp-fb:96 ccm fir" CRLF                                               \
    "a=rtcp-fb:96 nack" CRLF                                                  \
    "a=rtcp-fb:96 nack pli" CRLF                                              \
    "a=rtpmap:97 rtx/90000" CRLF                                              \
    "a=fmtp:97 apt=96" CRLF                                                   \
    "a=rtpmap:45 AV1/90000" CRLF                                              \
    "a=rtcp-fb:45 goog-remb" CRLF                                             \
    "a=rtcp-fb:45 transport-cc" CRLF                                          \
    "a=rtcp-fb:45 ccm fir" CRLF                                               \
    "a=rtcp-fb:45 nack" CRLF                                                  \
    "a=rtcp-fb:45 nack pli" CRLF                                              \
    "a=fmtp:45 level-idx=5;profile=0;tier=0" CRLF                             \
    "a=rtpmap:46 rtx/90000" CRLF                                              \
    "a=fmtp:46 apt=45" CRLF                                                   \
    "a=rid:l send" CRLF                                                       \
    "a=rid:h send" CRLF                                                       \
    "a=simulcast:send l;h" CRLF


/* (1) the Calls client's first offer: the data channel only */
static const char  chrome_dc[] =
    CHROME_SESSION("2", "0", "")
    CHROME_DC;

/* (2) after unmute: voice added to the data channel */
static const char  chrome_audio[] =
    CHROME_SESSION("3", "0 1", " " VOICE_STREAM)
    CHROME_DC
    CHROME_AUDIO;

/* (3) screen share with simulcast, after voice */
static const char  chrome_screen[] =
    CHROME_SESSION("4", "0 1 2", " " VOICE_STREAM " " SCREEN_STREAM)
    CHROME_DC
    CHROME_AUDIO
    CHROME_SCREEN;

/* (4) Firefox sorts attributes by name and sets the fingerprint once */
static const char  firefox[] =
    "v=0" CRLF
    "o=mozilla...THIS_IS_SDPARTA-128.0 5523093224413135524 0 IN IP4 0.0.0.0"
    CRLF
    "s=-" CRLF
    "t=0 0" CRLF
    "a=fingerprint:sha-256 " FP_FIREFOX CRLF
    "a=group:BUNDLE 0 1 2" CRLF
    "a=ice-options:trickle" CRLF
    "a=msid-semantic:WMS *" CRLF
    "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101" CRLF
    "c=IN IP4 0.0.0.0" CRLF
    "a=sendrecv" CRLF
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level" CRLF
    "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level" CRLF
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid" CRLF
    "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1" CRLF
    "a=fmtp:101 0-15" CRLF
    "a=ice-pwd:7c1e6bb2f9a04d3e85c27d90b14f6a3e" CRLF
    "a=ice-ufrag:a3f2c1d4" CRLF
    "a=mid:0" CRLF
    "a=msid:{5f1c9a0e-3b7d-4c2a-9e61-8d0b4f2a7c15} "
    "{b2e8d4c6-1a3f-4e5b-8c7d-9f0a2b4c6d8e}" CRLF
    "a=rtcp-mux" CRLF
    "a=rtpmap:109 opus/48000/2" CRLF
    "a=rtpmap:9 G722/8000/1" CRLF
    "a=rtpmap:0 PCMU/8000" CRLF
    "a=rtpmap:8 PCMA/8000" CRLF
    "a=rtpmap:101 telephone-event/8000/1" CRLF
    "a=setup:actpass" CRLF
    "a=ssrc:2655508255 cname:{6f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b}" CRLF
    "m=video 9 UDP/TLS/RTP/SAVPF 120 124" CRLF
    "c=IN IP4 0.0.0.0" CRLF
    "a=sendrecv" CRLF
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid" CRLF
    "a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
    CRLF
    "a=extmap:5 urn:ietf:params:rtp-hdrext:toffset" CRLF
    "a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/"
    "playout-delay" CRLF
    "a=extmap:7 http://www.ietf.org/id/"
    "draft-holmer-rmcat-transport-wide-cc-extensions-01" CRLF
    "a=fmtp:120 max-fs=12288;max-fr=60" CRLF
    "a=fmtp:124 apt=120" CRLF
    "a=ice-pwd:7c1e6bb2f9a04d3e85c27d90b14f6a3e" CRLF
    "a=ice-ufrag:a3f2c1d4" CRLF
    "a=mid:1" CRLF
    "a=msid:{5f1c9a0e-3b7d-4c2a-9e61-8d0b4f2a7c15} "
    "{3d9c7b5a-2e4f-4a6b-9d8c-7e6f5a4b3c2d}" CRLF
    "a=rtcp-fb:120 nack" CRLF
    "a=rtcp-fb:120 nack pli" CRLF
    "a=rtcp-fb:120 ccm fir" CRLF
    "a=rtcp-fb:120 goog-remb" CRLF
    "a=rtcp-fb:120 transport-cc" CRLF
    "a=rtcp-mux" CRLF
    "a=rtcp-rsize" CRLF
    "a=rtpmap:120 VP8/90000" CRLF
    "a=rtpmap:124 rtx/90000" CRLF
    "a=setup:actpass" CRLF
    "a=ssrc:3452307917 cname:{6f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b}" CRLF
    "a=ssrc:1089471635 cname:{6f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b}" CRLF
    "a=ssrc-group:FID 3452307917 1089471635" CRLF
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel" CRLF
    "c=IN IP4 0.0.0.0" CRLF
    "a=sendrecv" CRLF
    "a=ice-pwd:7c1e6bb2f9a04d3e85c27d90b14f6a3e" CRLF
    "a=ice-ufrag:a3f2c1d4" CRLF
    "a=mid:2" CRLF
    "a=setup:actpass" CRLF
    "a=sctp-port:5000" CRLF
    "a=max-message-size:1073741823" CRLF;

#define AIORTC_CAND1                                                          \
    "5c6f7bb0e1aa4ac2bad4e4e8bbd82a0b 1 udp 2130706431 192.168.1.20 52870 "   \
    "typ host"
#define AIORTC_CAND2                                                          \
    "9e2b1f0c3d7a48e6a1c5b3d2f4e6a8c0 1 udp 1694498815 203.0.113.5 52870 "    \
    "typ srflx raddr 192.168.1.20 rport 52870"

#define AIORTC_TRANSPORT                                                      \
    "a=candidate:" AIORTC_CAND1 CRLF                                          \
    "a=candidate:" AIORTC_CAND2 CRLF                                          \
    "a=end-of-candidates" CRLF                                                \
    "a=ice-ufrag:N1tU" CRLF                                                   \
    "a=ice-pwd:Ie2T3jpnjdkc4Gdnb4J1Ni" CRLF                                   \
    "a=fingerprint:sha-256 " FP_AIORTC CRLF                                   \
    "a=setup:actpass" CRLF

/* (5) aiortc gathers before it offers: candidates inline, no trickle */
static const char  aiortc[] =
    "v=0" CRLF
    "o=- 3912345678 3912345678 IN IP4 0.0.0.0" CRLF
    "s=-" CRLF
    "t=0 0" CRLF
    "a=group:BUNDLE 0 1" CRLF
    "a=msid-semantic:WMS *" CRLF
    "m=audio 52870 UDP/TLS/RTP/SAVPF 96 0 8" CRLF
    "c=IN IP4 192.168.1.20" CRLF
    "a=sendrecv" CRLF
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid" CRLF
    "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level" CRLF
    "a=mid:0" CRLF
    "a=msid:4d1c2b3a-5e6f-4a7b-8c9d-0e1f2a3b4c5d "
    "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d" CRLF
    "a=rtcp:9 IN IP4 0.0.0.0" CRLF
    "a=rtcp-mux" CRLF
    "a=ssrc:1473838297 cname:6c3d2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a0f" CRLF
    "a=rtpmap:96 opus/48000/2" CRLF
    "a=rtpmap:0 PCMU/8000" CRLF
    "a=rtpmap:8 PCMA/8000" CRLF
    AIORTC_TRANSPORT
    "m=application 52870 UDP/DTLS/SCTP webrtc-datachannel" CRLF
    "c=IN IP4 192.168.1.20" CRLF
    "a=mid:1" CRLF
    "a=sctp-port:5000" CRLF
    "a=max-message-size:65536" CRLF
    AIORTC_TRANSPORT;


static int parse_text(ngx_calls_sdp_t *sdp, const char *text, size_t len,
    char *err, size_t errlen);
static int parse_str(ngx_calls_sdp_t *sdp, const char *text, char *err);
static int parse_ok_text(ngx_calls_sdp_t *sdp, const char *text,
    size_t len, size_t nmedia, const char *name);
static int parse_ok(ngx_calls_sdp_t *sdp, const char *text, size_t nmedia,
    const char *name);
static char *replace(const char *src, const char *old, const char *new);
static int parse_err(const char *text, const char *want1, const char *want2,
    const char *name);
static unsigned line_of(const char *text, const char *needle);
static int parse_err_at(const char *text, const char *needle,
    const char *want, const char *name);
static char *repeat(char c, size_t n);
static int starts_with(const char *s, const char *prefix);
static void test_chrome_dc(void);
static void test_chrome_audio(void);
static void test_chrome_screen(void);
static void test_firefox(void);
static void test_aiortc(void);
static void test_line_ends(void);
static void test_inheritance(void);
static void test_fingerprints(void);
static void test_rtpmap_unlisted(void);
static void test_parse_errors(void);
static void test_limits(void);
static void test_check_webrtc(void);
static void fill_answer(ngx_calls_sdp_t *sdp);
static void test_roundtrip(void);
static void test_build_small(void);
static void test_build_invalid(void);
static void test_helpers(void);
static uint64_t rnd(void);
static void test_fuzz(void);


#define ERRLEN  256


static int
parse_text(ngx_calls_sdp_t *sdp, const char *text, size_t len, char *err,
    size_t errlen)
{
    int    rc;
    char  *copy;

    /* an exact-size heap copy with no NUL: ASan sees any read past len */
    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, text, len);
    memset(sdp, 0, sizeof(ngx_calls_sdp_t));

    rc = ngx_calls_sdp_parse(sdp, copy, len, err, errlen);

    free(copy);

    return rc;
}


static int
parse_str(ngx_calls_sdp_t *sdp, const char *text, char *err)
{
    return parse_text(sdp, text, strlen(text), err, ERRLEN);
}


/*
 * The parse must succeed with at least nmedia m-sections; else the caller
 * returns rather than read media[] of a failed parse.
 */
static int
parse_ok_text(ngx_calls_sdp_t *sdp, const char *text, size_t len,
    size_t nmedia, const char *name)
{
    int   rc;
    char  err[ERRLEN];

    rc = parse_text(sdp, text, len, err, ERRLEN);

    if (!ok(rc == 0 && err[0] == '\0' && sdp->nmedia >= nmedia, name)) {
        diag("rc %d, %zu m-sections, err \"%s\"", rc, sdp->nmedia, err);
        ngx_calls_sdp_free(sdp);
        return 0;
    }

    return 1;
}


static int
parse_ok(ngx_calls_sdp_t *sdp, const char *text, size_t nmedia,
    const char *name)
{
    return parse_ok_text(sdp, text, strlen(text), nmedia, name);
}


static char *
replace(const char *src, const char *old, const char *new)
{
    char        *out;
    size_t       ol, nl, sl;
    const char  *at;

    at = strstr(src, old);
    if (at == NULL) {
        diag("replace: \"%s\" not found", old);
        abort();
    }

    sl = strlen(src);
    ol = strlen(old);
    nl = strlen(new);

    out = malloc(sl - ol + nl + 1);
    if (out == NULL) {
        abort();
    }

    memcpy(out, src, at - src);
    memcpy(out + (at - src), new, nl);
    memcpy(out + (at - src) + nl, at + ol, sl - (at - src) - ol + 1);

    return out;
}


/* the parse must fail, and its message contain want1 and want2 */
static int
parse_err(const char *text, const char *want1, const char *want2,
    const char *name)
{
    int              rc, pass;
    char             err[ERRLEN];
    ngx_calls_sdp_t  sdp;

    rc = parse_str(&sdp, text, err);
    ngx_calls_sdp_free(&sdp);

    pass = rc == -1 && strstr(err, want1) != NULL
           && (strncmp(want1, "line ", 5) != 0
               || strncmp(err, want1, strlen(want1)) == 0)
           && (want2 == NULL || strstr(err, want2) != NULL);

    if (!ok(pass, name)) {
        diag("rc %d, err \"%s\"", rc, err);
    }

    return pass;
}


/* the line number of the first line holding needle */
static unsigned
line_of(const char *text, const char *needle)
{
    unsigned     line;
    const char  *at, *p;

    at = strstr(text, needle);
    if (at == NULL) {
        diag("line_of: \"%s\" not found", needle);
        abort();
    }

    for (p = text, line = 1; p < at; p++) {
        line += *p == '\n';
    }

    return line;
}


/* as parse_err(), and the message starts with the line of needle */
static int
parse_err_at(const char *text, const char *needle, const char *want,
    const char *name)
{
    char  prefix[32];

    snprintf(prefix, sizeof(prefix), "line %u: ", line_of(text, needle));

    return parse_err(text, prefix, want, name);
}


static char *
repeat(char c, size_t n)
{
    char  *s;

    s = malloc(n + 1);
    if (s == NULL) {
        abort();
    }

    memset(s, c, n);
    s[n] = '\0';

    return s;
}


static int
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}


static void
test_chrome_dc(void)
{
    char                    err[ERRLEN];
    ngx_calls_sdp_t         sdp;
    ngx_calls_sdp_media_t  *m;

    if (!parse_ok(&sdp, chrome_dc, 1, "chrome dc: parses")) {
        return;
    }

    is_int(sdp.sess_id == 4215775240449105457ULL, 1, "chrome dc: sess id");
    is_int(sdp.sess_version, 2, "chrome dc: sess version");
    is_int(sdp.has_bundle, 1, "chrome dc: BUNDLE");
    is_int(sdp.nbundle, 1, "chrome dc: one mid bundled");
    is_int(sdp.bundle[0], 0, "chrome dc: bundle[0]");
    is_int(sdp.extmap_allow_mixed, 1, "chrome dc: extmap-allow-mixed");
    is_int(sdp.ice_trickle, 1, "chrome dc: trickle from the m-section");
    is_int(sdp.ice_lite, 0, "chrome dc: not lite");
    is_str(sdp.msid_semantic, "WMS", "chrome dc: msid-semantic");
    is_str(sdp.ice_ufrag, "", "chrome dc: no session ufrag");
    is_int(sdp.nmedia, 1, "chrome dc: one m-section");

    m = &sdp.media[0];
    is_int(m->kind, NGX_CALLS_SDP_APPLICATION, "chrome dc: kind");
    is_str(m->media, "application", "chrome dc: media");
    is_int(m->port, 9, "chrome dc: port");
    is_str(m->proto, "UDP/DTLS/SCTP", "chrome dc: proto");
    is_str(m->mid, "0", "chrome dc: mid");
    is_str(m->ice_ufrag, "Xk4B", "chrome dc: ufrag");
    is_str(m->ice_pwd, "pD4bOYzE9t1fw0KxTUEoFLuM", "chrome dc: pwd");
    is_str(m->fp_alg, "sha-256", "chrome dc: fingerprint alg");
    is_str(m->fp, FP_CHROME, "chrome dc: fingerprint");
    is_int(m->setup, NGX_CALLS_SDP_SETUP_ACTPASS, "chrome dc: setup");
    is_int(m->sctp_port, 5000, "chrome dc: sctp-port");
    is_int(m->max_message_size, 262144, "chrome dc: max-message-size");
    is_int(m->ncodecs, 0, "chrome dc: no codecs");
    is_int(m->rtcp_mux, 0, "chrome dc: no rtcp-mux");
    is_int(m->ncands, 0, "chrome dc: no candidates");
    is_int(m->dir, NGX_CALLS_SDP_SENDRECV, "chrome dc: default direction");

    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), 0,
           "chrome dc: passes check_webrtc");

    ngx_calls_sdp_free(&sdp);

    is_int(sdp.media == NULL && sdp.nmedia == 0 && sdp.media_cap == 0, 1,
           "free resets the struct");
}


static void
test_chrome_audio(void)
{
    char                         err[ERRLEN];
    size_t                       i;
    ngx_calls_sdp_t              sdp;
    ngx_calls_sdp_media_t       *m;
    const ngx_calls_sdp_codec_t  *c;

    static const uint8_t  pts[] = { 111, 63, 9, 0, 8, 13, 110, 126 };

    if (!parse_ok(&sdp, chrome_audio, 2, "chrome audio: parses")) {
        return;
    }
    is_int(sdp.sess_version, 3, "chrome audio: version");
    is_int(sdp.nmedia, 2, "chrome audio: two m-sections");
    is_int(sdp.nbundle, 2, "chrome audio: two bundled");
    is_int(sdp.bundle[0] == 0 && sdp.bundle[1] == 1, 1,
           "chrome audio: bundle order");
    is_str(sdp.msid_semantic, "WMS", "chrome audio: stream ids dropped");

    m = &sdp.media[1];
    is_int(m->kind, NGX_CALLS_SDP_AUDIO, "chrome audio: kind");
    is_str(m->mid, "1", "chrome audio: mid");
    is_str(m->proto, "UDP/TLS/RTP/SAVPF", "chrome audio: proto");
    is_int(m->dir, NGX_CALLS_SDP_SENDRECV, "chrome audio: sendrecv");
    is_int(m->rtcp_mux, 1, "chrome audio: rtcp-mux");
    is_int(m->rtcp_rsize, 1, "chrome audio: rtcp-rsize");
    is_int(m->ncodecs, 8, "chrome audio: 8 codecs");

    for (i = 0; i < 8 && i < m->ncodecs; i++) {
        if (m->codecs[i].pt != pts[i]) {
            break;
        }
    }

    is_int(i, 8, "chrome audio: codecs in m= line order");

    c = &m->codecs[0];
    is_str(c->name, "opus", "opus: name");
    is_int(c->clock, 48000, "opus: clock");
    is_int(c->channels, 2, "opus: channels");
    is_str(c->fmtp, "minptime=10;useinbandfec=1", "opus: fmtp");
    is_int(c->fb, NGX_CALLS_SDP_FB_TWCC, "opus: transport-cc");
    is_int(c->apt, 0, "opus: no apt");

    c = &m->codecs[1];
    is_str(c->name, "red", "red: name");
    is_str(c->fmtp, "111/111", "red: fmtp");
    is_int(c->channels, 2, "red: channels");

    c = &m->codecs[2];
    is_str(c->name, "G722", "G722: name");
    is_int(c->clock, 8000, "G722: clock");
    is_int(c->channels, 0, "G722: no channels");
    is_int(c->fb, 0, "G722: no feedback");

    is_str(m->codecs[3].name, "PCMU", "PCMU");
    is_str(m->codecs[4].name, "PCMA", "PCMA");
    is_str(m->codecs[5].name, "CN", "CN");
    is_str(m->codecs[6].name, "telephone-event", "telephone-event/48000");
    is_int(m->codecs[6].clock, 48000, "telephone-event/48000: clock");
    is_int(m->codecs[7].clock, 8000, "telephone-event/8000: clock");

    is_int(m->nextmaps, 4, "chrome audio: 4 extmaps");
    is_int(m->extmaps[0].id, 1, "extmap 1: id");
    is_str(m->extmaps[0].uri, "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
           "extmap 1: uri");
    is_int(ngx_calls_sdp_find_extmap(m, "http://www.ietf.org/id/"
               "draft-holmer-rmcat-transport-wide-cc-extensions-01"), 3,
           "find_extmap: transport-cc is 3");
    is_int(ngx_calls_sdp_find_extmap(m, "urn:ietf:params:rtp-hdrext:sdes:mid"),
           4, "find_extmap: sdes:mid is 4");

    is_str(m->msid_stream, VOICE_STREAM, "chrome audio: msid stream");
    is_str(m->msid_track, VOICE_TRACK, "chrome audio: msid track");
    is_int(m->nssrcs, 1, "chrome audio: ssrc lines grouped into one");
    is_int(m->ssrcs[0].ssrc, 2871093474U, "chrome audio: ssrc");
    is_str(m->ssrcs[0].cname, "Hs3bT/xuWnJ2dGmA", "chrome audio: cname");
    is_str(m->ssrcs[0].msid_stream, VOICE_STREAM, "chrome audio: ssrc msid");
    is_str(m->ssrcs[0].msid_track, VOICE_TRACK, "chrome audio: ssrc track");
    is_int(m->fid[0] | m->fid[1], 0, "chrome audio: no FID");
    is_str(m->ice_ufrag, "Xk4B", "chrome audio: ufrag");
    is_str(m->fp, FP_CHROME, "chrome audio: fingerprint");

    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), 0,
           "chrome audio: passes check_webrtc");

    ngx_calls_sdp_free(&sdp);
}


static void
test_chrome_screen(void)
{
    char                    err[ERRLEN];
    ngx_calls_sdp_t         sdp;
    ngx_calls_sdp_media_t  *m;

    if (!parse_ok(&sdp, chrome_screen, 3, "chrome screen: parses")) {
        return;
    }
    is_int(sdp.nmedia, 3, "chrome screen: three m-sections");
    is_int(sdp.nbundle, 3, "chrome screen: three bundled");
    is_int(sdp.bundle[2], 2, "chrome screen: bundle[2]");

    m = &sdp.media[2];
    is_int(m->kind, NGX_CALLS_SDP_VIDEO, "screen: kind");
    is_str(m->media, "video", "screen: media");
    is_str(m->mid, "2", "screen: mid");
    is_int(m->dir, NGX_CALLS_SDP_SENDONLY, "screen: sendonly");
    is_int(m->ncodecs, 4, "screen: 4 codecs");

    is_int(m->codecs[0].pt, 96, "VP8: pt");
    is_str(m->codecs[0].name, "VP8", "VP8: name");
    is_int(m->codecs[0].clock, 90000, "VP8: clock");
    is_int(m->codecs[0].fb,
           NGX_CALLS_SDP_FB_NACK | NGX_CALLS_SDP_FB_NACK_PLI
           | NGX_CALLS_SDP_FB_CCM_FIR | NGX_CALLS_SDP_FB_REMB
           | NGX_CALLS_SDP_FB_TWCC, "VP8: all five feedbacks");
    is_str(m->codecs[0].fmtp, "", "VP8: no fmtp");
    is_int(m->codecs[0].apt, 0, "VP8: no apt");

    is_int(m->codecs[1].pt, 97, "rtx: pt");
    is_str(m->codecs[1].name, "rtx", "rtx: name");
    is_int(m->codecs[1].apt, 96, "rtx: apt=96");
    is_str(m->codecs[1].fmtp, "apt=96", "rtx: fmtp");
    is_int(m->codecs[1].fb, 0, "rtx: no feedback");

    is_int(m->codecs[2].pt, 45, "AV1: pt");
    is_str(m->codecs[2].name, "AV1", "AV1: name");
    is_str(m->codecs[2].fmtp, "level-idx=5;profile=0;tier=0", "AV1: fmtp");
    is_int(m->codecs[2].fb, 0x1f, "AV1: feedbacks");
    is_int(m->codecs[3].apt, 45, "AV1 rtx: apt=45");

    is_int(m->nrids, 2, "screen: two rids");
    is_str(m->rids[0].id, "l", "screen: rid l");
    is_int(m->rids[0].send, 1, "screen: rid l send");
    is_str(m->rids[1].id, "h", "screen: rid h");
    is_int(m->rids[1].send, 1, "screen: rid h send");
    is_int(m->simulcast, 1, "screen: simulcast");
    is_int(m->nssrcs, 0, "screen: no ssrc lines with rids");

    is_int(m->nextmaps, 11, "screen: 11 extmaps");
    is_int(ngx_calls_sdp_find_extmap(m,
               "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"), 10,
           "screen: rtp-stream-id is 10");
    is_int(ngx_calls_sdp_find_extmap(m,
               "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"), 11,
           "screen: repaired-rtp-stream-id is 11");
    is_int(ngx_calls_sdp_find_extmap(m,
               "urn:ietf:params:rtp-hdrext:ssrc-audio-level"), 0,
           "screen: no audio level");

    is_str(m->msid_stream, SCREEN_STREAM, "screen: msid stream");

    is_int(ngx_calls_sdp_find_codec(m, "av1", 90000) == &m->codecs[2], 1,
           "find_codec: av1 matches AV1");
    is_int(ngx_calls_sdp_find_codec(m, "VP8", 48000) == NULL, 1,
           "find_codec: clock must match");
    is_int(ngx_calls_sdp_find_codec(m, "H264", 0) == NULL, 1,
           "find_codec: absent codec");

    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), 0,
           "chrome screen: passes check_webrtc");

    ngx_calls_sdp_free(&sdp);
}


static void
test_firefox(void)
{
    char                    err[ERRLEN];
    size_t                  i;
    ngx_calls_sdp_t         sdp;
    ngx_calls_sdp_media_t  *m;

    if (!parse_ok(&sdp, firefox, 3, "firefox: parses")) {
        return;
    }
    is_int(sdp.sess_id == 5523093224413135524ULL, 1, "firefox: sess id");
    is_int(sdp.sess_version, 0, "firefox: version 0");
    is_str(sdp.msid_semantic, "WMS *", "firefox: msid-semantic WMS *");
    is_int(sdp.ice_trickle, 1, "firefox: session-level trickle");
    is_str(sdp.fp_alg, "sha-256", "firefox: session fingerprint alg");
    is_str(sdp.fp, FP_FIREFOX, "firefox: session fingerprint");
    is_int(sdp.nmedia, 3, "firefox: three m-sections");

    for (i = 0; i < sdp.nmedia; i++) {
        if (strcmp(sdp.media[i].fp, FP_FIREFOX) != 0
            || strcmp(sdp.media[i].fp_alg, "sha-256") != 0
            || sdp.media[i].setup != NGX_CALLS_SDP_SETUP_ACTPASS
            || strcmp(sdp.media[i].ice_ufrag, "a3f2c1d4") != 0)
        {
            break;
        }
    }

    is_int(i, 3, "firefox: fingerprint inherited by every m-section");

    m = &sdp.media[0];
    is_int(m->kind, NGX_CALLS_SDP_AUDIO, "firefox audio: kind");
    is_int(m->ncodecs, 5, "firefox audio: 5 codecs");
    is_int(m->codecs[0].pt, 109, "firefox opus: pt");
    is_str(m->codecs[0].name, "opus", "firefox opus: name");
    is_str(m->codecs[0].fmtp, "maxplaybackrate=48000;stereo=1;useinbandfec=1",
           "firefox opus: fmtp before rtpmap");
    is_int(m->codecs[1].channels, 1, "firefox G722/8000/1: channels");
    is_str(m->codecs[4].name, "telephone-event", "firefox dtmf: name");
    is_str(m->codecs[4].fmtp, "0-15", "firefox dtmf: fmtp");
    is_int(m->nextmaps, 3, "firefox audio: 3 extmaps");
    is_int(m->extmaps[1].id, 2, "extmap with direction: id");
    is_str(m->extmaps[1].uri, "urn:ietf:params:rtp-hdrext:csrc-audio-level",
           "extmap with direction: uri");
    is_str(m->msid_stream, "{5f1c9a0e-3b7d-4c2a-9e61-8d0b4f2a7c15}",
           "firefox audio: msid with braces");
    is_int(m->nssrcs, 1, "firefox audio: one ssrc");
    is_int(m->ssrcs[0].ssrc, 2655508255U, "firefox audio: ssrc");
    is_str(m->ssrcs[0].cname, "{6f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b}",
           "firefox audio: cname");
    is_str(m->ssrcs[0].msid_stream, "", "firefox audio: no ssrc msid");
    is_int(m->rtcp_rsize, 0, "firefox audio: no rtcp-rsize");

    m = &sdp.media[1];
    is_int(m->kind, NGX_CALLS_SDP_VIDEO, "firefox video: kind");
    is_int(m->codecs[1].apt, 120, "firefox rtx: apt from fmtp before rtpmap");
    is_int(m->codecs[0].apt, 0, "firefox VP8: no apt");
    is_int(m->codecs[0].fb, 0x1f, "firefox VP8: feedbacks");
    is_int(m->nssrcs, 2, "firefox video: two ssrcs");
    is_int(m->fid[0], 3452307917U, "firefox video: FID media ssrc");
    is_int(m->fid[1], 1089471635U, "firefox video: FID rtx ssrc");

    m = &sdp.media[2];
    is_int(m->kind, NGX_CALLS_SDP_APPLICATION, "firefox dc: kind");
    is_int(m->max_message_size, 1073741823, "firefox dc: max-message-size");

    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), 0,
           "firefox: passes check_webrtc");

    ngx_calls_sdp_free(&sdp);
}


static void
test_aiortc(void)
{
    char                    err[ERRLEN];
    ngx_calls_sdp_t         sdp;
    ngx_calls_sdp_media_t  *m;

    if (!parse_ok(&sdp, aiortc, 2, "aiortc: parses")) {
        return;
    }
    is_int(sdp.ice_trickle, 0, "aiortc: no trickle");
    is_int(sdp.extmap_allow_mixed, 0, "aiortc: no extmap-allow-mixed");
    is_str(sdp.msid_semantic, "WMS *", "aiortc: msid-semantic");
    is_int(sdp.sess_id, 3912345678U, "aiortc: sess id");

    m = &sdp.media[0];
    is_int(m->port, 52870, "aiortc audio: real port");
    is_int(m->ncands, 2, "aiortc audio: two candidates");
    is_str(m->cands[0], AIORTC_CAND1, "aiortc audio: host candidate");
    is_str(m->cands[1], AIORTC_CAND2, "aiortc audio: srflx candidate");
    is_int(m->end_of_candidates, 1, "aiortc audio: end-of-candidates");
    is_str(m->ice_ufrag, "N1tU", "aiortc audio: ufrag");
    is_str(m->ice_pwd, "Ie2T3jpnjdkc4Gdnb4J1Ni", "aiortc audio: pwd");
    is_str(m->fp, FP_AIORTC, "aiortc audio: fingerprint");
    is_int(m->codecs[0].pt, 96, "aiortc opus: pt 96");
    is_str(m->codecs[0].name, "opus", "aiortc opus: name");
    is_int(m->ssrcs[0].ssrc, 1473838297, "aiortc audio: ssrc");

    m = &sdp.media[1];
    is_int(m->kind, NGX_CALLS_SDP_APPLICATION, "aiortc dc: kind");
    is_int(m->ncands, 2, "aiortc dc: candidates repeated");
    is_int(m->end_of_candidates, 1, "aiortc dc: end-of-candidates");
    is_int(m->max_message_size, 65536, "aiortc dc: max-message-size");

    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), 0,
           "aiortc: passes check_webrtc");

    ngx_calls_sdp_free(&sdp);
}


static void
test_line_ends(void)
{
    char             *lf, *p, *mixed;
    size_t           i, n;
    ngx_calls_sdp_t  a, b;

    /* bare LF everywhere */
    n = strlen(chrome_screen);
    lf = malloc(n + 1);
    if (lf == NULL) {
        abort();
    }

    for (i = 0, p = lf; i < n; i++) {
        if (chrome_screen[i] != '\r') {
            *p++ = chrome_screen[i];
        }
    }

    *p = '\0';

    if (!parse_ok(&a, chrome_screen, 3, "CRLF text parses")) {
        free(lf);
        return;
    }
    if (!parse_ok(&b, lf, 3, "LF text parses")) {
        ngx_calls_sdp_free(&a);
        free(lf);
        return;
    }
    is_int(a.nmedia == b.nmedia && a.nbundle == b.nbundle, 1,
           "LF: same shape");
    is_int(memcmp(a.media, b.media, a.nmedia * sizeof(*a.media)), 0,
           "LF: same m-sections, no stray CR in values");

    ngx_calls_sdp_free(&a);
    ngx_calls_sdp_free(&b);

    /* a mix of both */
    mixed = replace(chrome_dc, "a=mid:0" CRLF, "a=mid:0\n");
    if (!parse_ok(&a, mixed, 1, "mixed line ends parse")) {
        free(mixed);
        free(lf);
        return;
    }
    is_str(a.media[0].mid, "0", "mixed: mid has no CR");
    ngx_calls_sdp_free(&a);

    free(mixed);
    free(lf);
}


static void
test_inheritance(void)
{
    char             err[ERRLEN];
    ngx_calls_sdp_t  sdp;

    static const char  text[] =
        "v=0" CRLF
        "o=- 1 1 IN IP4 0.0.0.0" CRLF
        "s=-" CRLF
        "t=0 0" CRLF
        "a=ice-ufrag:SeSs" CRLF
        "a=ice-pwd:sessionpasswordsession1" CRLF
        "a=fingerprint:SHA-256 " FP_CHROME CRLF
        "a=setup:passive" CRLF
        "a=recvonly" CRLF
        "a=group:BUNDLE a b" CRLF
        "m=audio 9 UDP/TLS/RTP/SAVPF 111" CRLF
        "a=mid:a" CRLF
        "a=rtcp-mux" CRLF
        "m=audio 9 UDP/TLS/RTP/SAVPF 111" CRLF
        "a=mid:b" CRLF
        "a=ice-ufrag:MeDi" CRLF
        "a=setup:active" CRLF
        "a=sendonly" CRLF
        "a=rtcp-mux" CRLF;

    if (!parse_ok(&sdp, text, 2, "inheritance: parses")) {
        return;
    }
    is_str(sdp.fp_alg, "sha-256", "hash name lowercased");
    is_str(sdp.media[0].ice_ufrag, "SeSs", "ufrag inherited");
    is_str(sdp.media[0].ice_pwd, "sessionpasswordsession1", "pwd inherited");
    is_str(sdp.media[0].fp, FP_CHROME, "fingerprint inherited");
    is_int(sdp.media[0].setup, NGX_CALLS_SDP_SETUP_PASSIVE, "setup inherited");
    is_int(sdp.media[0].dir, NGX_CALLS_SDP_RECVONLY,
           "session direction inherited");
    is_str(sdp.media[1].ice_ufrag, "MeDi", "own ufrag kept");
    is_str(sdp.media[1].ice_pwd, "sessionpasswordsession1",
           "pwd inherited alone");
    is_int(sdp.media[1].setup, NGX_CALLS_SDP_SETUP_ACTIVE, "own setup kept");
    is_int(sdp.media[1].dir, NGX_CALLS_SDP_SENDONLY, "own direction kept");
    is_int(sdp.nbundle == 2 && sdp.bundle[0] == 0 && sdp.bundle[1] == 1, 1,
           "non-numeric mids bundled");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), 0,
           "inheritance: passes check_webrtc");

    ngx_calls_sdp_free(&sdp);
}


static void
test_fingerprints(void)
{
    char             err[ERRLEN], *t;
    ngx_calls_sdp_t  sdp;

#define SHA1_LINE  "a=fingerprint:sha-1 "                                      \
        "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB" CRLF
    static const char  sha512[] = "a=fingerprint:sha-512 "
        "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
        "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
        "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
        "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF" CRLF;

    /* sha-1 first, then sha-256: the sha-256 one is kept */
    t = replace(chrome_dc, "a=fingerprint:", SHA1_LINE "a=fingerprint:");
    if (!parse_ok(&sdp, t, 1, "sha-1 and sha-256: parses")) {
        free(t);
        return;
    }
    is_str(sdp.media[0].fp_alg, "sha-256", "sha-256 preferred");
    is_str(sdp.media[0].fp, FP_CHROME, "sha-256 value kept");
    ngx_calls_sdp_free(&sdp);
    free(t);

    /* sha-256 first, then sha-1: still the sha-256 one */
    t = replace(chrome_dc, "a=setup:", SHA1_LINE "a=setup:");
    if (!parse_ok(&sdp, t, 1, "sha-256 and sha-1: parses")) {
        free(t);
        return;
    }
    is_str(sdp.media[0].fp, FP_CHROME, "sha-256 kept over a later sha-1");
    ngx_calls_sdp_free(&sdp);
    free(t);

    /* sha-512 (191 characters) fits, and is refused by the check only */
    t = replace(chrome_dc, "a=fingerprint:sha-256 " FP_CHROME CRLF, sha512);
    if (!parse_ok(&sdp, t, 1, "sha-512: parses")) {
        free(t);
        return;
    }
    is_str(sdp.media[0].fp_alg, "sha-512", "sha-512: alg");
    is_int(strlen(sdp.media[0].fp), 191, "sha-512: whole value");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "sha-512 only: check fails");
    ok(strstr(err, "sha-512") && strstr(err, "only sha-256"),
       "sha-512 only: message names the algorithm");
    ngx_calls_sdp_free(&sdp);
    free(t);

#undef SHA1_LINE

    /* lowercase hex is normalized */
    t = replace(chrome_dc, "7B:8B:F0", "7b:8b:f0");
    if (!parse_ok(&sdp, t, 1, "lowercase hex: parses")) {
        free(t);
        return;
    }
    is_str(sdp.media[0].fp, FP_CHROME, "lowercase hex: uppercased");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_dc, "7B:8B:F0", "7B:8BF0");
    parse_err_at(t, "a=fingerprint:", "a=fingerprint: bad fingerprint",
                 "fingerprint without a colon");
    free(t);

    t = replace(chrome_dc, "7B:8B:F0", "7B:8B:G0");
    parse_err(t, "a=fingerprint: bad fingerprint", NULL,
              "fingerprint with a non-hex digit");
    free(t);

    t = replace(chrome_dc, "sha-256 " FP_CHROME, "sha-256");
    parse_err(t, "a=fingerprint: no fingerprint", NULL,
              "fingerprint without a value");
    free(t);
}


static void
test_rtpmap_unlisted(void)
{
    char             *t;
    ngx_calls_sdp_t  sdp;

    /*
     * Chrome ignores rtpmap/fmtp/rtcp-fb of a payload type the m= line does
     * not list (leftovers of SDP munging); so do we.
     */
    t = replace(chrome_audio, "a=rtpmap:111 opus/48000/2" CRLF,
                "a=rtpmap:111 opus/48000/2" CRLF
                "a=rtpmap:100 VP8/90000" CRLF
                "a=fmtp:100 max-fs=12288" CRLF
                "a=rtcp-fb:100 nack" CRLF);
    if (!parse_ok(&sdp, t, 2, "rtpmap of unlisted PT: ignored")) {
        free(t);
        return;
    }
    is_int(sdp.media[1].ncodecs, 8, "unlisted PT: no codec added");
    ok(ngx_calls_sdp_find_codec(&sdp.media[1], "VP8", 0) == NULL,
       "unlisted PT: VP8 not findable");
    ngx_calls_sdp_free(&sdp);
    free(t);

    /* apt= means something for rtx only, whatever the attribute order */
    t = replace(chrome_screen, "a=rtpmap:96 VP8/90000" CRLF,
                "a=fmtp:96 apt=45" CRLF "a=rtpmap:96 VP8/90000" CRLF);
    if (!parse_ok(&sdp, t, 3, "apt on VP8: parses")) {
        free(t);
        return;
    }

    is_str(sdp.media[2].codecs[0].fmtp, "apt=45", "apt on VP8: fmtp kept");
    is_int(sdp.media[2].codecs[0].apt, 0, "apt on VP8: no apt");
    is_int(sdp.media[2].codecs[1].apt, 96, "apt on VP8: rtx apt intact");
    ngx_calls_sdp_free(&sdp);
    free(t);

    /* "*" applies to every codec; unknown feedback types are ignored */
    t = replace(chrome_audio, "a=rtcp-fb:111 transport-cc" CRLF,
                "a=rtcp-fb:* ccm fir" CRLF "a=rtcp-fb:111 transport-cc" CRLF
                "a=rtcp-fb:111 goog-lntf" CRLF "a=rtcp-fb:111 nack sli" CRLF
                "a=rtcp-fb:111 ccm tmmbr" CRLF);
    if (!parse_ok(&sdp, t, 2, "rtcp-fb *: parses")) {
        free(t);
        return;
    }

    is_int(sdp.media[1].codecs[0].fb,
           NGX_CALLS_SDP_FB_CCM_FIR | NGX_CALLS_SDP_FB_TWCC,
           "rtcp-fb *: opus ccm fir and transport-cc, nothing else");
    is_int(sdp.media[1].codecs[7].fb, NGX_CALLS_SDP_FB_CCM_FIR,
           "rtcp-fb *: last codec gets ccm fir");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_audio, "a=rtcp-fb:111 transport-cc",
                "a=rtcp-fb:*1 transport-cc");
    parse_err(t, "a=rtcp-fb: bad payload type", NULL, "rtcp-fb *1");
    free(t);

    t = replace(chrome_audio, "a=rtcp-fb:111 transport-cc", "a=rtcp-fb:111");
    parse_err(t, "a=rtcp-fb: no feedback type", NULL, "rtcp-fb without type");
    free(t);

    /* a track in two streams: the first a=msid is the one kept */
    t = replace(chrome_audio, "a=rtcp-mux" CRLF,
                "a=msid:other-stream other-track" CRLF "a=rtcp-mux" CRLF);
    if (!parse_ok(&sdp, t, 2, "two a=msid: parses")) {
        free(t);
        return;
    }

    is_str(sdp.media[1].msid_stream, VOICE_STREAM, "two a=msid: first stream");
    is_str(sdp.media[1].msid_track, VOICE_TRACK, "two a=msid: first track");
    ngx_calls_sdp_free(&sdp);
    free(t);

    /* a=msid without a track id (RFC 8830 makes it optional) */
    t = replace(chrome_audio, "a=msid:" VOICE_STREAM " " VOICE_TRACK CRLF,
                "a=msid:-" CRLF);
    if (!parse_ok(&sdp, t, 2, "msid without track: parses")) {
        free(t);
        return;
    }

    is_str(sdp.media[1].msid_stream, "-", "msid without track: stream");
    is_str(sdp.media[1].msid_track, "", "msid without track: no track");
    ngx_calls_sdp_free(&sdp);
    free(t);

    /* but a malformed one is still an error */
    t = replace(chrome_audio, "a=rtpmap:111 opus/48000/2" CRLF,
                "a=rtpmap:111 opus/48000/2" CRLF
                "a=rtpmap:1x0 VP8/90000" CRLF);
    parse_err_at(t, "a=rtpmap:1x0", "a=rtpmap: bad payload type",
                 "rtpmap with a bad payload type");
    free(t);

    t = replace(chrome_audio, "a=rtpmap:111 opus/48000/2" CRLF,
                "a=rtpmap:128 opus/48000/2" CRLF);
    parse_err(t, "a=rtpmap: bad payload type", NULL,
              "rtpmap with payload type 128");
    free(t);
}


static void
test_parse_errors(void)
{
    char             err[ERRLEN], *t;
    size_t           cut, line, i;
    const char      *at;
    ngx_calls_sdp_t  sdp;

    static const char  nul[] = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=\0\r\n"
                               "t=0 0\r\n";

    parse_err(chrome_dc + 5, "line 1:", "v=0", "missing v=");

    is_int(parse_text(&sdp, "", 0, err, ERRLEN), -1, "empty text");
    ok(strstr(err, "empty") != NULL, "empty text: message");
    ngx_calls_sdp_free(&sdp);

    /* cut in the middle of the fingerprint line */
    at = strstr(chrome_dc, FP_CHROME);
    cut = at - chrome_dc + 20;

    for (i = 0, line = 1; i < cut; i++) {
        line += chrome_dc[i] == '\n';
    }

    is_int(parse_text(&sdp, chrome_dc, cut, err, ERRLEN), -1,
           "truncated in a line: error");
    ok(strstr(err, "truncated") != NULL, "truncated: message");
    is_int(line, line_of(chrome_dc, "a=fingerprint:"),
           "truncated: the cut is in the fingerprint line");
    ok(strncmp(err, "line 13: truncated", 18) == 0,
       "truncated: names line 13");
    ngx_calls_sdp_free(&sdp);

    /* cut right after a CRLF: well-formed, but no m-section */
    cut = strstr(chrome_dc, "a=group:") - chrome_dc;
    is_int(parse_text(&sdp, chrome_dc, cut, err, ERRLEN), 0,
           "cut at a line end: parses");
    is_int(sdp.nmedia, 0, "cut at a line end: no m-section");
    ngx_calls_sdp_free(&sdp);

    /* a BUNDLE of "0" with the m-section cut away */
    cut = strstr(chrome_dc, "a=mid:0") - chrome_dc;
    is_int(parse_text(&sdp, chrome_dc, cut, err, ERRLEN), -1,
           "cut before a=mid: BUNDLE unresolved");
    ok(strstr(err, "line 5: a=group: BUNDLE names unknown mid \"0\"") != NULL,
       "cut before a=mid: message");
    ngx_calls_sdp_free(&sdp);

    t = replace(chrome_dc, "m=application 9 ", "m=application nine ");
    parse_err_at(t, "m=application", "m=: bad port",
                 "m= with a non-numeric port");
    free(t);

    t = replace(chrome_dc, "m=application 9 ", "m=application 65536 ");
    parse_err(t, "m=: bad port", NULL, "m= with port 65536");
    free(t);

    t = replace(chrome_dc, "m=application 9 ", "m=application 9/2 ");
    parse_err(t, "m=: bad port", NULL, "m= with a port count");
    free(t);

    t = replace(chrome_audio, "126" CRLF, "126 opus" CRLF);
    parse_err(t, "m=: bad format \"opus\"", NULL, "m= with a bad format");
    free(t);

    t = replace(chrome_audio, " 110 126" CRLF, " 110 111" CRLF);
    parse_err(t, "payload type 111 listed twice", NULL, "m= repeats a PT");
    free(t);

    t = replace(chrome_dc, " webrtc-datachannel", "");
    parse_err(t, "m=: no format", NULL, "m= without a format");
    free(t);

    t = replace(chrome_dc, "a=group:BUNDLE 0", "a=group:BUNDLE 0 7");
    parse_err(t, "line 5: a=group: BUNDLE names unknown mid \"7\"", NULL,
              "BUNDLE names an unknown mid");
    free(t);

    t = replace(chrome_audio, "a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 0");
    parse_err(t, "mid \"0\" twice in BUNDLE", NULL, "BUNDLE repeats a mid");
    free(t);

    t = replace(chrome_audio, "a=mid:1", "a=mid:0");
    parse_err(t, "a=mid: mid \"0\" already used by m-section 0", NULL,
              "two m-sections with one mid");
    free(t);

    t = replace(chrome_dc, "a=extmap-allow-mixed" CRLF,
                "a=extmap-allow-mixed" CRLF "a=group:BUNDLE 0" CRLF);
    parse_err(t, "more than one BUNDLE group", NULL, "two BUNDLE groups");
    free(t);

    t = replace(chrome_dc, "a=setup:actpass", "a=setup:holdconn");
    parse_err(t, "a=setup: unsupported value", NULL, "setup:holdconn");
    free(t);

    t = replace(chrome_dc, "a=mid:0", "a=mid:0 1");
    parse_err(t, "a=mid: bad character in mid", NULL, "mid with a space");
    free(t);

    t = replace(chrome_dc, "a=mid:0", "a=mid:");
    parse_err(t, "a=mid: no mid", NULL, "empty mid");
    free(t);

    t = replace(chrome_dc, "a=ice-ufrag:Xk4B", "a=ice-ufrag:Xk:4B");
    parse_err(t, "a=ice-ufrag: bad character", NULL, "ufrag with a colon");
    free(t);

    t = replace(chrome_dc, "o=- 4215775240449105457 2 ",
                "o=- 4215775240449105457x 2 ");
    parse_err(t, "line 2: o=: bad session id", NULL, "o= bad session id");
    free(t);

    t = replace(chrome_dc, "o=- 4215775240449105457 2 ",
                "o=- 18446744073709551616 2 ");
    parse_err(t, "o=: bad session id", NULL, "o= session id overflows");
    free(t);

    t = replace(chrome_dc, " IN IP4 127.0.0.1", "");
    parse_err(t, "o=: expected 6 fields", NULL, "o= with 3 fields");
    free(t);

    t = replace(chrome_dc, "o=- 4215775240449105457 2 IN IP4 127.0.0.1" CRLF,
                "");
    parse_err(t, "m= before the o=, s= and t= lines", NULL, "no o= line");
    free(t);

    parse_err("v=0" CRLF "s=-" CRLF "t=0 0" CRLF, "no o= line", NULL,
              "no o= line and no m=");

    t = replace(chrome_dc, "a=mid:0" CRLF, "a=mid:0" CRLF "s=-" CRLF);
    is_int(line_of(t, "s=-" CRLF "a=sctp"), 16, "s= after m=: line 16");
    parse_err_at(t, "s=-" CRLF "a=sctp", "s= inside a media section",
                 "s= after m=");
    free(t);

    t = replace(chrome_dc, "s=-" CRLF, "s=-" CRLF "v=0" CRLF);
    parse_err(t, "line 4: duplicate v=", NULL, "second v=");
    free(t);

    t = replace(chrome_dc, "a=mid:0", "a=mid:\x01");
    parse_err_at(t, "a=mid:", "control character 0x01", "control character");
    free(t);

    /* a NUL inside the text, which is not NUL-terminated */
    is_int(parse_text(&sdp, nul, sizeof(nul) - 1, err, ERRLEN), -1,
           "NUL byte in a line");
    ok(strstr(err, "line 3: control character 0x00") != NULL,
       "NUL byte: message");
    ngx_calls_sdp_free(&sdp);

    t = replace(chrome_dc, "s=-" CRLF, "s=-" CRLF "hello" CRLF);
    parse_err(t, "line 4: not a <type>=<value> line", NULL, "junk line");
    free(t);

    t = replace(chrome_dc, "a=mid:0" CRLF, "a=mid:0" CRLF "a=:x" CRLF);
    parse_err(t, "a= without a name", NULL, "a= without a name");
    free(t);

    t = replace(chrome_dc, "a=sctp-port:5000", "a=sctp-port:0");
    parse_err(t, "a=sctp-port: bad port", NULL, "sctp-port 0");
    free(t);

    t = replace(chrome_dc, "a=max-message-size:262144",
                "a=max-message-size:4294967296");
    parse_err(t, "a=max-message-size: bad size", NULL,
              "max-message-size over 32 bits");
    free(t);

    t = replace(chrome_audio, "opus/48000/2", "opus/0/2");
    parse_err(t, "a=rtpmap: bad clock rate", NULL, "rtpmap clock 0");
    free(t);

    t = replace(chrome_audio, "opus/48000/2", "opus/48000/256");
    parse_err(t, "a=rtpmap: bad channels", NULL, "rtpmap 256 channels");
    free(t);

    t = replace(chrome_audio, "opus/48000/2", "opus/48000/2/1");
    parse_err(t, "a=rtpmap: bad encoding", NULL, "rtpmap with 4 parts");
    free(t);

    t = replace(chrome_audio, "opus/48000/2", "opus");
    parse_err(t, "a=rtpmap: bad encoding", NULL, "rtpmap without clock");
    free(t);

    t = replace(chrome_audio, "opus/48000/2", "opus-with-a-long-name/48000/2");
    parse_err(t, "a=rtpmap: encoding name too long (max 15 bytes)", NULL,
              "rtpmap name too long");
    free(t);

    t = replace(chrome_audio, "a=rtpmap:9 G722/8000" CRLF,
                "a=rtpmap:9 G722/8000" CRLF "a=rtpmap:9 G722/16000" CRLF);
    parse_err(t, "a=rtpmap: duplicate for payload type 9", NULL,
              "rtpmap twice for one PT");
    free(t);

    t = replace(chrome_screen, "a=fmtp:97 apt=96", "a=fmtp:97 apt=ninety");
    parse_err(t, "a=fmtp: bad apt", NULL, "fmtp with a bad apt");
    free(t);

    t = replace(chrome_audio, "a=extmap:1 ", "a=extmap:0 ");
    parse_err(t, "a=extmap: bad id", NULL, "extmap id 0");
    free(t);

    t = replace(chrome_audio, "a=extmap:1 ", "a=extmap:1/sideways ");
    parse_err(t, "a=extmap: bad direction", NULL, "extmap bad direction");
    free(t);

    t = replace(chrome_audio, "a=extmap:2 ", "a=extmap:1 ");
    parse_err(t, "a=extmap: id 1 used twice", NULL, "extmap id twice");
    free(t);

    t = replace(chrome_audio, "a=ssrc:2871093474 cname:",
                "a=ssrc:4294967296 cname:");
    parse_err(t, "a=ssrc: bad ssrc", NULL, "ssrc over 32 bits");
    free(t);

    t = replace(chrome_screen, "a=rid:h send", "a=rid:h both");
    parse_err(t, "a=rid: bad direction", NULL, "rid bad direction");
    free(t);

    t = replace(chrome_screen, "a=rid:h send", "a=rid:l send");
    parse_err(t, "a=rid: rid \"l\" twice", NULL, "rid twice");
    free(t);

    t = replace(firefox, "a=ssrc-group:FID 3452307917 1089471635" CRLF,
                "a=ssrc-group:FID 3452307917 1089471635" CRLF
                "a=ssrc-group:FID 1 2" CRLF);
    parse_err(t, "a=ssrc-group: more than one FID group", NULL,
              "two FID groups");
    free(t);

    t = replace(firefox, "a=ssrc-group:FID 3452307917 1089471635",
                "a=ssrc-group:FID 3452307917");
    parse_err(t, "a=ssrc-group: bad ssrc", NULL, "FID with one ssrc");
    free(t);
}


static void
test_limits(void)
{
    char             line[2048], *t, *v;
    size_t           i, n;
    ngx_calls_sdp_t  sdp;

    /* 32 codecs fit, 33 do not */
    n = snprintf(line, sizeof(line), "m=audio 9 UDP/TLS/RTP/SAVPF");
    for (i = 0; i < 32; i++) {
        n += snprintf(line + n, sizeof(line) - n, " %zu", 32 + i);
    }

    t = replace(chrome_audio, "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 "
                "110 126", line);
    if (!parse_ok(&sdp, t, 2, "32 codecs: parse")) {
        free(t);
        return;
    }
    is_int(sdp.media[1].ncodecs, 32, "32 codecs: all kept");
    is_int(sdp.media[1].codecs[31].pt, 63, "32 codecs: last pt");
    ngx_calls_sdp_free(&sdp);
    free(t);

    snprintf(line + n, sizeof(line) - n, " 120");
    t = replace(chrome_audio, "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 "
                "110 126", line);
    parse_err_at(t, "m=audio", "m=: more than 32 codecs "
                 "(NGX_CALLS_SDP_MAX_CODECS)",
                 "33 codecs: error names the limit");
    free(t);

    /* ufrag of 255 fits, 256 does not */
    v = repeat('u', 255);
    snprintf(line, sizeof(line), "a=ice-ufrag:%s", v);
    t = replace(chrome_dc, "a=ice-ufrag:Xk4B", line);
    if (!parse_ok(&sdp, t, 1, "ufrag of 255: parses")) {
        free(t);
        free(v);
        return;
    }
    is_str(sdp.media[0].ice_ufrag, v, "ufrag of 255: kept whole");
    ngx_calls_sdp_free(&sdp);
    free(t);
    free(v);

    v = repeat('u', 256);
    snprintf(line, sizeof(line), "a=ice-ufrag:%s", v);
    t = replace(chrome_dc, "a=ice-ufrag:Xk4B", line);
    parse_err_at(t, "a=ice-ufrag:", "a=ice-ufrag: ufrag too long (max 255 "
                 "bytes)", "ufrag of 256: error, not truncation");
    free(t);
    free(v);

    v = repeat('p', 256);
    snprintf(line, sizeof(line), "a=ice-pwd:%s", v);
    t = replace(chrome_dc, "a=ice-pwd:pD4bOYzE9t1fw0KxTUEoFLuM", line);
    parse_err(t, "a=ice-pwd: password too long (max 255 bytes)", NULL,
              "pwd of 256");
    free(t);
    free(v);

    v = repeat('m', 64);
    snprintf(line, sizeof(line), "a=mid:%s", v);
    t = replace(chrome_dc, "a=mid:0", line);
    parse_err(t, "a=mid: mid too long (max 63 bytes)", NULL, "mid of 64");
    free(t);
    free(v);

    v = repeat('s', 64);
    snprintf(line, sizeof(line), "a=msid:%s", v);
    t = replace(chrome_audio, "a=msid:" VOICE_STREAM, line);
    parse_err(t, "a=msid: stream id too long (max 63 bytes)", NULL,
              "msid stream of 64");
    free(t);
    free(v);

    v = repeat('a', 128);
    snprintf(line, sizeof(line), "a=extmap:1 urn:%s", v);
    t = replace(chrome_audio, "a=extmap:1 urn:ietf:params:rtp-hdrext:"
                "ssrc-audio-level", line);
    parse_err(t, "a=extmap: URI too long (max 127 bytes)", NULL,
              "extmap URI of 132");
    free(t);
    free(v);

    v = repeat('f', 256);
    snprintf(line, sizeof(line), "a=fmtp:111 %s", v);
    t = replace(chrome_audio, "a=fmtp:111 minptime=10;useinbandfec=1", line);
    parse_err(t, "a=fmtp: parameters too long (max 255 bytes)", NULL,
              "fmtp of 256");
    free(t);
    free(v);

    v = repeat('c', 256);
    snprintf(line, sizeof(line), "a=candidate:%s", v);
    t = replace(aiortc, "a=candidate:" AIORTC_CAND1, line);
    parse_err(t, "a=candidate: too long (max 255 bytes)", NULL,
              "candidate of 256");
    free(t);
    free(v);

    /* the screen section has 11 extmaps: 5 more fit, 6 do not */
    n = 0;
    for (i = 1; i <= 6; i++) {
        n += snprintf(line + n, sizeof(line) - n,
                      "a=extmap:%zu urn:x-test:ext-%zu" CRLF, i + 20, i);

        if (i == 5) {
            t = replace(chrome_screen, "a=sendonly" CRLF, line);
            if (!parse_ok(&sdp, t, 3, "16 extmaps: parse")) {
                free(t);
                return;
            }
            is_int(sdp.media[2].nextmaps, 16, "16 extmaps: all kept");
            ngx_calls_sdp_free(&sdp);
            free(t);
        }
    }

    t = replace(chrome_screen, "a=sendonly" CRLF, line);
    parse_err(t, "a=extmap: more than 16 extmaps (NGX_CALLS_SDP_MAX_EXTMAPS)",
              NULL, "17 extmaps: error names the limit");
    free(t);

    n = 0;
    for (i = 1; i <= 9; i++) {
        n += snprintf(line + n, sizeof(line) - n,
                      "a=ssrc:%zu cname:c" CRLF, i);
    }

    t = replace(chrome_audio, "a=rtcp-rsize" CRLF, line);
    parse_err(t, "a=ssrc: more than 8 SSRCs (NGX_CALLS_SDP_MAX_SSRCS)", NULL,
              "9 ssrcs: error names the limit");
    free(t);

    t = replace(chrome_screen, "a=rid:h send" CRLF,
                "a=rid:h send" CRLF "a=rid:m send" CRLF "a=rid:x send" CRLF
                "a=rid:y send" CRLF);
    parse_err(t, "a=rid: more than 4 rids (NGX_CALLS_SDP_MAX_RIDS)", NULL,
              "5 rids: error names the limit");
    free(t);

    n = 0;
    for (i = 1; i <= 17; i++) {
        n += snprintf(line + n, sizeof(line) - n,
                      "a=candidate:%zu 1 udp 1 10.0.0.%zu 9 typ host" CRLF,
                      i, i);
    }

    t = replace(chrome_dc, "a=sctp-port:5000" CRLF, line);
    parse_err(t, "a=candidate: more than 16 candidates "
              "(NGX_CALLS_SDP_MAX_CANDS)", NULL,
              "17 candidates: error names the limit");
    free(t);
}


static void
test_check_webrtc(void)
{
    char             err[ERRLEN], *t, *t2;
    ngx_calls_sdp_t  sdp;

    t = replace(chrome_audio, "a=group:BUNDLE 0 1" CRLF, "");
    is_int(parse_str(&sdp, t, err), 0, "no BUNDLE: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "no BUNDLE: check fails");
    is_str(err, "offer has no BUNDLE group", "no BUNDLE: message");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_audio, "a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
    is_int(parse_str(&sdp, t, err), 0, "partial BUNDLE: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "partial BUNDLE: check fails");
    is_str(err, "m-section 1 (mid 1) is not in the BUNDLE group",
           "partial BUNDLE: message");
    ngx_calls_sdp_free(&sdp);
    free(t);

    /* a rejected m-section needs neither BUNDLE nor transport */
    t = replace(chrome_audio, "a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
    t2 = replace(t, "m=audio 9 ", "m=audio 0 ");
    free(t);
    t = replace(t2, "a=rtcp-mux" CRLF, "");
    free(t2);
    if (!parse_ok(&sdp, t, 2, "rejected m-section: parses")) {
        free(t);
        return;
    }
    is_int(sdp.media[1].port, 0, "rejected m-section: port 0");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), 0,
           "rejected m-section outside BUNDLE, no rtcp-mux: accepted");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_dc, "a=fingerprint:sha-256 " FP_CHROME CRLF, "");
    is_int(parse_str(&sdp, t, err), 0, "no fingerprint: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "no fingerprint: check fails");
    is_str(err, "m-section 0 (mid 0) lacks a=fingerprint",
           "no fingerprint: message");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_dc, "a=fingerprint:sha-256 " FP_CHROME,
                "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:"
                "5D:49:6B:19:E5:7C:AB");
    is_int(parse_str(&sdp, t, err), 0, "sha-1: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "sha-1: check fails");
    is_str(err, "m-section 0 (mid 0) has a sha-1 fingerprint, only sha-256 "
           "is supported", "sha-1: message");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_dc, ":19:08" CRLF, CRLF);
    is_int(parse_str(&sdp, t, err), 0, "short sha-256: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "short sha-256: check fails");
    ok(strstr(err, "not 32 bytes") != NULL, "short sha-256: message");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_audio, "a=rtcp-mux" CRLF, "");
    is_int(parse_str(&sdp, t, err), 0, "no rtcp-mux: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "no rtcp-mux on audio: check fails");
    is_str(err, "m-section 1 (mid 1) lacks a=rtcp-mux",
           "no rtcp-mux: message");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_dc, "a=ice-pwd:pD4bOYzE9t1fw0KxTUEoFLuM" CRLF, "");
    is_int(parse_str(&sdp, t, err), 0, "no ice-pwd: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "no ice-pwd: check fails");
    is_str(err, "m-section 0 (mid 0) lacks a=ice-pwd", "no ice-pwd: message");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t = replace(chrome_dc, "a=ice-ufrag:Xk4B" CRLF, "");
    is_int(parse_str(&sdp, t, err), 0, "no ice-ufrag: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "no ice-ufrag: check fails");
    is_str(err, "m-section 0 (mid 0) lacks a=ice-ufrag",
           "no ice-ufrag: message");
    ngx_calls_sdp_free(&sdp);
    free(t);

    t2 = replace(chrome_dc, "a=mid:0" CRLF, "");
    t = replace(t2, "a=group:BUNDLE 0", "a=group:BUNDLE");
    free(t2);
    is_int(parse_str(&sdp, t, err), 0, "no mid: parses");
    is_int(ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN), -1,
           "no mid: check fails");
    is_str(err, "m-section 0 (no mid) is not in the BUNDLE group",
           "no mid: message");
    ngx_calls_sdp_free(&sdp);
    free(t);
}


static void
fill_answer(ngx_calls_sdp_t *sdp)
{
    ngx_calls_sdp_codec_t  *c;
    ngx_calls_sdp_media_t  *m;

    memset(sdp, 0, sizeof(ngx_calls_sdp_t));

    sdp->sess_id = 9223372036854775807ULL;
    sdp->sess_version = 2;
    strcpy(sdp->ice_ufrag, "w0Rk+Er/3aBc");
    strcpy(sdp->ice_pwd, "Pq7sT9vX2yZ4bC6dF8gH0jK1");
    strcpy(sdp->fp_alg, "sha-256");
    strcpy(sdp->fp, FP_AIORTC);
    sdp->setup = NGX_CALLS_SDP_SETUP_ACTIVE;
    sdp->ice_lite = 1;
    sdp->ice_trickle = 1;
    sdp->extmap_allow_mixed = 1;
    sdp->has_bundle = 1;
    sdp->bundle[0] = 0;
    sdp->bundle[1] = 1;
    sdp->bundle[2] = 2;
    sdp->nbundle = 3;

    m = ngx_calls_sdp_add_media(sdp);
    m->kind = NGX_CALLS_SDP_APPLICATION;
    m->port = 9;
    strcpy(m->mid, "0");
    m->sctp_port = 5000;
    m->max_message_size = 262144;

    m = ngx_calls_sdp_add_media(sdp);
    m->kind = NGX_CALLS_SDP_AUDIO;
    m->port = 9;
    strcpy(m->mid, "1");
    m->dir = NGX_CALLS_SDP_RECVONLY;
    m->rtcp_mux = 1;
    m->rtcp_rsize = 1;
    c = &m->codecs[m->ncodecs++];
    c->pt = 111;
    strcpy(c->name, "opus");
    c->clock = 48000;
    c->channels = 2;
    c->fb = NGX_CALLS_SDP_FB_TWCC;
    strcpy(c->fmtp, "minptime=10;useinbandfec=1");
    m->extmaps[0].id = 1;
    strcpy(m->extmaps[0].uri, "urn:ietf:params:rtp-hdrext:ssrc-audio-level");
    m->extmaps[1].id = 3;
    strcpy(m->extmaps[1].uri, "http://www.ietf.org/id/"
           "draft-holmer-rmcat-transport-wide-cc-extensions-01");
    m->nextmaps = 2;
    m->ncands = 1;
    strcpy(m->cands[0], "1 1 udp 2130706431 192.0.2.1 8443 typ host");
    m->end_of_candidates = 1;

    /* a track we forward: one stream per sender session */
    m = ngx_calls_sdp_add_media(sdp);
    m->kind = NGX_CALLS_SDP_VIDEO;
    m->port = 9;
    strcpy(m->mid, "2");
    m->dir = NGX_CALLS_SDP_SENDONLY;
    m->rtcp_mux = 1;
    c = &m->codecs[m->ncodecs++];
    c->pt = 96;
    strcpy(c->name, "VP8");
    c->clock = 90000;
    c->fb = 0x1f;
    c = &m->codecs[m->ncodecs++];
    c->pt = 97;
    strcpy(c->name, "rtx");
    c->clock = 90000;
    c->apt = 96;
    m->extmaps[0].id = 4;
    strcpy(m->extmaps[0].uri, "urn:ietf:params:rtp-hdrext:sdes:mid");
    m->nextmaps = 1;
    strcpy(m->msid_stream, "ki5ejsyhwfgw3mk6q3r1sgmn7c");
    strcpy(m->msid_track, "screen_ki5ejsyhwfgw3mk6q3r1sgmn7c_Ab3dE6gH");
    m->fid[0] = 305419896;
    m->fid[1] = 4023233417U;
    m->ssrcs[0].ssrc = 305419896;
    strcpy(m->ssrcs[0].cname, "nginx-calls");
    strcpy(m->ssrcs[0].msid_stream, m->msid_stream);
    strcpy(m->ssrcs[0].msid_track, m->msid_track);
    m->ssrcs[1].ssrc = 4023233417U;
    strcpy(m->ssrcs[1].cname, "nginx-calls");
    m->nssrcs = 2;
    strcpy(m->rids[0].id, "l");
    m->rids[0].send = 1;
    strcpy(m->rids[1].id, "h");
    m->rids[1].send = 1;
    strcpy(m->rids[2].id, "q");
    m->nrids = 3;
    m->simulcast = 1;

    /* an m-section we reject: port 0, no codecs, outside BUNDLE */
    m = ngx_calls_sdp_add_media(sdp);
    m->kind = NGX_CALLS_SDP_VIDEO;
    strcpy(m->mid, "3");
    m->dir = NGX_CALLS_SDP_INACTIVE;
}


static void
test_roundtrip(void)
{
    char                         err[ERRLEN], buf[8192], buf2[8192];
    long                         len, len2;
    size_t                       i, j, k;
    ngx_calls_sdp_t              a, b;
    const ngx_calls_sdp_media_t  *x, *y;
    const ngx_calls_sdp_codec_t  *cx, *cy;

    fill_answer(&a);
    ok(a.nmedia == 4 && a.media_cap >= 4, "add_media: 4 m-sections");

    len = ngx_calls_sdp_build(&a, buf, sizeof(buf));
    ok(len > 0, "build: answer fits");
    is_int(strlen(buf), len, "build: NUL-terminated at the length");

    ok(starts_with(buf, "v=0\r\no=- 9223372036854775807 2 IN IP4 0.0.0.0\r\n"
               "s=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n"
               "a=extmap-allow-mixed\r\na=msid-semantic: WMS *\r\n"
               "a=ice-lite\r\n"
               "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
               "c=IN IP4 0.0.0.0\r\na=mid:0\r\n"
               "a=ice-ufrag:w0Rk+Er/3aBc\r\n"
               "a=ice-pwd:Pq7sT9vX2yZ4bC6dF8gH0jK1\r\n"
               "a=ice-options:trickle\r\n"
               "a=fingerprint:sha-256 " FP_AIORTC "\r\n"
               "a=setup:active\r\n"
               "a=sctp-port:5000\r\na=max-message-size:262144\r\n"
               "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"),
       "build: session and data channel text");
    ok(strstr(buf, "a=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
                   "a=rtpmap:111 opus/48000/2\r\n"
                   "a=rtcp-fb:111 transport-cc\r\n"
                   "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
                   "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level"
                   "\r\n") != NULL, "build: audio attributes");
    ok(strstr(buf, "a=candidate:1 1 udp 2130706431 192.0.2.1 8443 typ host"
                   "\r\na=end-of-candidates\r\n") != NULL,
       "build: candidates");
    ok(strstr(buf, "a=rtpmap:96 VP8/90000\r\n"
                   "a=rtcp-fb:96 goog-remb\r\n"
                   "a=rtcp-fb:96 transport-cc\r\n"
                   "a=rtcp-fb:96 ccm fir\r\n"
                   "a=rtcp-fb:96 nack\r\n"
                   "a=rtcp-fb:96 nack pli\r\n"
                   "a=rtpmap:97 rtx/90000\r\n"
                   "a=fmtp:97 apt=96\r\n") != NULL,
       "build: video codecs, apt written from the apt field");
    ok(strstr(buf, "a=ssrc-group:FID 305419896 4023233417\r\n"
                   "a=ssrc:305419896 cname:nginx-calls\r\n"
                   "a=ssrc:305419896 msid:ki5ejsyhwfgw3mk6q3r1sgmn7c "
                   "screen_ki5ejsyhwfgw3mk6q3r1sgmn7c_Ab3dE6gH\r\n"
                   "a=ssrc:4023233417 cname:nginx-calls\r\n"
                   "a=rid:l send\r\na=rid:h send\r\na=rid:q recv\r\n"
                   "a=simulcast:send l;h recv q\r\n") != NULL,
       "build: ssrcs, rids and simulcast");
    ok(strstr(buf, "m=video 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"
                   "a=mid:3\r\n") != NULL,
       "build: rejected m-section gets a placeholder format");
    ok(strstr(buf, "a=ice-lite") != NULL && strstr(buf, "\n\n") == NULL
       && strstr(buf, "\r\r") == NULL, "build: CRLF only");

    if (!parse_ok_text(&b, buf, len, 4, "round trip: parses")) {
        ngx_calls_sdp_free(&a);
        return;
    }


    is_int(b.sess_id == a.sess_id, 1, "round trip: sess id");
    is_int(b.sess_version, a.sess_version, "round trip: sess version");
    is_int(b.ice_lite, 1, "round trip: ice-lite");
    is_int(b.ice_trickle, 1, "round trip: trickle");
    is_int(b.extmap_allow_mixed, 1, "round trip: extmap-allow-mixed");
    is_str(b.msid_semantic, "WMS *", "round trip: msid-semantic");
    is_int(b.nbundle, 3, "round trip: bundle size");
    is_int(b.bundle[0] == 0 && b.bundle[1] == 1 && b.bundle[2] == 2, 1,
           "round trip: bundle indexes");
    is_int(b.nmedia, a.nmedia, "round trip: m-section count");

    for (i = 0; i < a.nmedia && i < b.nmedia; i++) {
        x = &a.media[i];
        y = &b.media[i];
        k = 0;

#define same(cond, what)                                                      \
        if (!(cond)) {                                                        \
            diag("m-section %zu: %s differs", i, what);                       \
            k++;                                                              \
        }

        same(x->kind == y->kind, "kind");
        same(x->port == y->port, "port");
        same(strcmp(x->mid, y->mid) == 0, "mid");
        same(x->dir == y->dir || x->kind == NGX_CALLS_SDP_APPLICATION,
             "direction");
        same(strcmp(y->ice_ufrag, a.ice_ufrag) == 0, "ufrag");
        same(strcmp(y->ice_pwd, a.ice_pwd) == 0, "pwd");
        same(strcmp(y->fp_alg, a.fp_alg) == 0, "fingerprint alg");
        same(strcmp(y->fp, a.fp) == 0, "fingerprint");
        same(y->setup == a.setup, "setup");
        same(x->rtcp_mux == y->rtcp_mux, "rtcp-mux");
        same(x->rtcp_rsize == y->rtcp_rsize, "rtcp-rsize");
        same(x->end_of_candidates == y->end_of_candidates,
             "end-of-candidates");
        same(x->ncodecs == y->ncodecs || (x->port == 0 && y->ncodecs == 1),
             "codec count");

        for (j = 0; x->ncodecs == y->ncodecs && j < x->ncodecs; j++) {
            cx = &x->codecs[j];
            cy = &y->codecs[j];

            same(cx->pt == cy->pt, "codec pt");
            same(strcmp(cx->name, cy->name) == 0, "codec name");
            same(cx->clock == cy->clock, "codec clock");
            same(cx->channels == cy->channels, "codec channels");
            same(cx->fb == cy->fb, "codec feedback");
            same(cx->apt == cy->apt, "codec apt");
            same(strcmp(cx->fmtp, cy->fmtp) == 0
                 || (cx->fmtp[0] == '\0' && strcmp(cy->fmtp, "apt=96") == 0),
                 "codec fmtp");
        }

        same(x->nextmaps == y->nextmaps
             && memcmp(x->extmaps, y->extmaps,
                       x->nextmaps * sizeof(x->extmaps[0])) == 0, "extmaps");
        same(strcmp(x->msid_stream, y->msid_stream) == 0, "msid stream");
        same(strcmp(x->msid_track, y->msid_track) == 0, "msid track");
        same(x->nssrcs == y->nssrcs
             && memcmp(x->ssrcs, y->ssrcs,
                       x->nssrcs * sizeof(x->ssrcs[0])) == 0, "ssrcs");
        same(x->fid[0] == y->fid[0] && x->fid[1] == y->fid[1], "FID");
        same(x->nrids == y->nrids, "rid count");

        for (j = 0; x->nrids == y->nrids && j < x->nrids; j++) {
            same(strcmp(x->rids[j].id, y->rids[j].id) == 0
                 && x->rids[j].send == y->rids[j].send, "rid");
        }

        same(x->simulcast == y->simulcast, "simulcast");
        same(x->sctp_port == y->sctp_port, "sctp-port");
        same(x->max_message_size == y->max_message_size,
             "max-message-size");
        same(x->ncands == y->ncands
             && memcmp(x->cands, y->cands,
                       x->ncands * sizeof(x->cands[0])) == 0, "candidates");

#undef same

        is_int(k, 0, "round trip: m-section identical");
    }

    is_int(b.media[3].codecs[0].pt, 0, "round trip: placeholder format 0");
    is_str(b.media[3].codecs[0].name, "", "round trip: placeholder no name");

    /* our own answer passes our own offer checks (m-section 3 is port 0) */
    is_int(ngx_calls_sdp_check_webrtc(&b, err, ERRLEN), 0,
           "round trip: passes check_webrtc");

    /* text -> struct -> text is stable */
    len2 = ngx_calls_sdp_build(&b, buf2, sizeof(buf2));
    is_int(len2, len, "rebuild: same length");
    ok(len2 == len && memcmp(buf, buf2, len) == 0, "rebuild: same text");

    ngx_calls_sdp_free(&a);
    ngx_calls_sdp_free(&b);

    /* a parsed browser offer, built again, parses to the same thing */
    if (!parse_ok(&a, chrome_screen, 3, "chrome screen: parses")) {
        return;
    }

    len = ngx_calls_sdp_build(&a, buf, sizeof(buf));
    ok(len > 0, "chrome screen: builds");

    if (!parse_ok_text(&b, buf, len, 3, "chrome screen rebuilt: parses")) {
        ngx_calls_sdp_free(&a);
        return;
    }

    is_int(b.nmedia, 3, "chrome screen rebuilt: 3 m-sections");
    is_int(memcmp(a.media, b.media, 3 * sizeof(*a.media)), 0,
           "chrome screen rebuilt: m-sections identical");
    ngx_calls_sdp_free(&a);
    ngx_calls_sdp_free(&b);
}


static void
test_build_small(void)
{
    char             *buf, big[8192];
    long              full, rc;
    size_t            size, bad;
    ngx_calls_sdp_t   sdp;

    fill_answer(&sdp);

    full = ngx_calls_sdp_build(&sdp, big, sizeof(big));
    ok(full > 0, "small buffers: full length known");

    bad = 0;

    /* exact-size heap buffers: ASan flags a write past any of them */
    for (size = 0; size < (size_t) full; size++) {
        buf = malloc(size ? size : 1);
        if (buf == NULL) {
            abort();
        }

        rc = ngx_calls_sdp_build(&sdp, buf, size);

        if (rc != -1 || (size > 0 && buf[0] != '\0')) {
            diag("size %zu: rc %ld", size, rc);
            bad++;
        }

        free(buf);
    }

    is_int(bad, 0, "every buffer shorter than the text: -1, emptied");

    buf = malloc(full);
    if (buf == NULL) {
        abort();
    }

    is_int(ngx_calls_sdp_build(&sdp, buf, full), full,
           "buffer of exactly the length: fits without the NUL");
    ok(memcmp(buf, big, full) == 0, "exact buffer: same text");
    free(buf);

    buf = malloc(full + 1);
    if (buf == NULL) {
        abort();
    }

    is_int(ngx_calls_sdp_build(&sdp, buf, full + 1), full,
           "buffer of length + 1: fits");
    is_int(buf[full], '\0', "buffer of length + 1: NUL-terminated");
    free(buf);

    ngx_calls_sdp_free(&sdp);
}


static void
test_build_invalid(void)
{
    char             buf[8192];
    ngx_calls_sdp_t  sdp;

    fill_answer(&sdp);
    sdp.bundle[1] = 7;
    is_int(ngx_calls_sdp_build(&sdp, buf, sizeof(buf)), -1,
           "build: bundle index past nmedia");
    is_str(buf, "", "build: emptied on error");
    ngx_calls_sdp_free(&sdp);

    fill_answer(&sdp);
    sdp.bundle[3] = 3;
    sdp.nbundle = 4;
    sdp.media[3].mid[0] = '\0';
    is_int(ngx_calls_sdp_build(&sdp, buf, sizeof(buf)), -1,
           "build: bundled m-section without a mid");
    ngx_calls_sdp_free(&sdp);

    fill_answer(&sdp);
    sdp.media[1].ncodecs = NGX_CALLS_SDP_MAX_CODECS + 1;
    is_int(ngx_calls_sdp_build(&sdp, buf, sizeof(buf)), -1,
           "build: codec count past the array");
    ngx_calls_sdp_free(&sdp);

    fill_answer(&sdp);
    memset(sdp.media[2].mid, 'x', sizeof(sdp.media[2].mid));
    is_int(ngx_calls_sdp_build(&sdp, buf, sizeof(buf)), -1,
           "build: mid without a NUL");
    ngx_calls_sdp_free(&sdp);

    fill_answer(&sdp);
    memset(sdp.media[1].cands[0], 'x', sizeof(sdp.media[1].cands[0]));
    is_int(ngx_calls_sdp_build(&sdp, buf, sizeof(buf)), -1,
           "build: candidate without a NUL");
    ngx_calls_sdp_free(&sdp);

    fill_answer(&sdp);
    sdp.media[1].ncodecs = 0;
    is_int(ngx_calls_sdp_build(&sdp, buf, sizeof(buf)), -1,
           "build: accepted audio without codecs");
    ngx_calls_sdp_free(&sdp);

    fill_answer(&sdp);
    sdp.nbundle = 0;
    sdp.extmap_allow_mixed = 0;
    sdp.ice_lite = 0;
    strcpy(sdp.msid_semantic, "WMS");
    ok(ngx_calls_sdp_build(&sdp, buf, sizeof(buf)) > 0
       && strstr(buf, "a=group:BUNDLE\r\na=msid-semantic: WMS\r\nm=") != NULL,
       "build: empty BUNDLE, set msid-semantic, no flags");
    ngx_calls_sdp_free(&sdp);
}


static void
test_helpers(void)
{
    ngx_calls_sdp_t         sdp;
    ngx_calls_sdp_media_t  *m;

    memset(&sdp, 0, sizeof(sdp));

    m = ngx_calls_sdp_add_media(&sdp);
    ok(m != NULL && sdp.nmedia == 1, "add_media: first");

    m->ncodecs = 3;
    m->codecs[0].pt = 0;
    strcpy(m->codecs[0].name, "PCMU");
    m->codecs[0].clock = 8000;
    m->codecs[1].pt = 110;
    strcpy(m->codecs[1].name, "telephone-event");
    m->codecs[1].clock = 48000;
    m->codecs[2].pt = 126;
    strcpy(m->codecs[2].name, "telephone-event");
    m->codecs[2].clock = 8000;

    ok(ngx_calls_sdp_find_codec(m, "TELEPHONE-EVENT", 8000) == &m->codecs[2],
       "find_codec: case-insensitive, by clock");
    ok(ngx_calls_sdp_find_codec(m, "telephone-event", 0) == &m->codecs[1],
       "find_codec: clock 0 takes the first");
    ok(ngx_calls_sdp_find_codec(m, "telephone-event-x", 0) == NULL,
       "find_codec: longer name does not match");
    ok(ngx_calls_sdp_find_codec(m, "PCM", 0) == NULL,
       "find_codec: prefix does not match");

    m->nextmaps = 1;
    m->extmaps[0].id = 9;
    strcpy(m->extmaps[0].uri, "urn:a");
    is_int(ngx_calls_sdp_find_extmap(m, "urn:a"), 9, "find_extmap: found");
    is_int(ngx_calls_sdp_find_extmap(m, "urn:"), 0, "find_extmap: prefix");
    is_int(ngx_calls_sdp_find_extmap(m, "URN:A"), 0,
           "find_extmap: case-sensitive URI");

    /* the array grows by doubling and keeps what it held */
    while (sdp.nmedia < 100) {
        if (ngx_calls_sdp_add_media(&sdp) == NULL) {
            break;
        }
    }

    is_int(sdp.nmedia, 100, "add_media: 100 m-sections");
    is_int(sdp.media_cap, 128, "add_media: capacity doubled to 128");
    is_str(sdp.media[0].codecs[2].name, "telephone-event",
           "add_media: old m-sections kept");
    is_int(sdp.media[99].ncodecs, 0, "add_media: new one zeroed");

    ngx_calls_sdp_free(&sdp);
}


static uint64_t  rnd_state = 0x9e3779b97f4a7c15ULL;


/* xorshift64*: deterministic, so a failure is reproducible */
static uint64_t
rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;

    return rnd_state * 2685821657736338717ULL;
}


static void
test_fuzz(void)
{
    int               rc;
    char              err[ERRLEN], *text, *out;
    size_t            iter, len, cap, pos, n, k, ops, nok, nerr, bad;
    long              blen;
    const char       *base;
    ngx_calls_sdp_t   sdp, again;

    static const char  *bases[] = { chrome_audio, chrome_screen, firefox,
                                    aiortc };
    static const char   alphabet[] = " :/\r\n=0123456789*;aAmvoF-\t";

    cap = 65536;
    text = malloc(cap);
    out = malloc(cap);
    if (text == NULL || out == NULL) {
        abort();
    }

    nok = 0;
    nerr = 0;
    bad = 0;

    for (iter = 0; iter < 600; iter++) {
        base = bases[iter % 4];
        len = strlen(base);
        memcpy(text, base, len);

        ops = 1 + rnd() % 4;

        for (k = 0; k < ops; k++) {
            pos = rnd() % len;

            switch (rnd() % 7) {

            case 0:     /* any byte */
                text[pos] = (char) rnd();
                break;

            case 1:     /* a byte SDP gives meaning to */
                text[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
                break;

            case 2:     /* delete a run */
                n = rnd() % 64;
                n = n > len - pos ? len - pos : n;
                memmove(text + pos, text + pos + n, len - pos - n);
                len -= n;
                break;

            case 3:     /* duplicate a run, lines included */
                n = 1 + rnd() % 300;
                n = n > len - pos ? len - pos : n;
                if (len + n < cap) {
                    memmove(text + pos + n, text + pos, len - pos);
                    len += n;
                }
                break;

            case 4:     /* a long run of one byte: overlong fields */
                n = 1 + rnd() % 400;
                if (len + n < cap) {
                    memmove(text + pos + n, text + pos, len - pos);
                    memset(text + pos, "9aF:/ "[rnd() % 6], n);
                    len += n;
                }
                break;

            case 5:     /* truncate */
                len = pos;
                break;

            default:    /* a digit to its extreme */
                if (text[pos] >= '0' && text[pos] <= '9') {
                    text[pos] = rnd() % 2 ? '9' : '0';
                }
                break;
            }

            if (len == 0) {
                break;
            }
        }

        rc = parse_text(&sdp, text, len, err, ERRLEN);

        if (rc == -1) {
            nerr++;

            if (err[0] == '\0') {
                diag("iteration %zu: -1 without a message", iter);
                bad++;
            }

        } else if (rc == 0) {
            nok++;

            /* whatever parsed must build, and parse back */
            blen = ngx_calls_sdp_build(&sdp, out, cap);

            if (blen > 0) {
                if (parse_text(&again, out, blen, err, ERRLEN) != 0) {
                    diag("iteration %zu: rebuilt text fails: %s", iter, err);
                    bad++;
                }

                ngx_calls_sdp_free(&again);
            }

            (void) ngx_calls_sdp_check_webrtc(&sdp, err, ERRLEN);

        } else {
            diag("iteration %zu: rc %d", iter, rc);
            bad++;
        }

        ngx_calls_sdp_free(&sdp);
    }

    diag("fuzz: %zu parsed, %zu refused", nok, nerr);

    is_int(bad, 0, "fuzz: 600 mutated offers, each parsed or refused");
    ok(nok > 50 && nerr > 50, "fuzz: mutations reach both outcomes");

    free(text);
    free(out);
}


int
main(void)
{
    test_chrome_dc();
    test_chrome_audio();
    test_chrome_screen();
    test_firefox();
    test_aiortc();
    test_line_ends();
    test_inheritance();
    test_fingerprints();
    test_rtpmap_unlisted();
    test_parse_errors();
    test_limits();
    test_check_webrtc();
    test_roundtrip();
    test_build_small();
    test_build_invalid();
    test_helpers();
    test_fuzz();

    return done_testing();
}
