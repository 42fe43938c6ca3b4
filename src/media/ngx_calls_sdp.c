
/*
 * Copyright (C) ngx_calls authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ngx_calls_sdp.h"


/* where an attribute is understood; elsewhere it is ignored */
#define NGX_CALLS_SDP_SESSION  0x01
#define NGX_CALLS_SDP_MEDIA    0x02
#define NGX_CALLS_SDP_BOTH     (NGX_CALLS_SDP_SESSION|NGX_CALLS_SDP_MEDIA)

/* character classes of stored values */
#define NGX_CALLS_SDP_TOKEN    0     /* RFC 8866 token-char */
#define NGX_CALLS_SDP_ICE      1     /* RFC 8839 ice-char */
#define NGX_CALLS_SDP_RID      2     /* RFC 8851 rid-id */
#define NGX_CALLS_SDP_VISIBLE  3     /* any byte but space and tab */
#define NGX_CALLS_SDP_PROTO    4     /* tokens joined by "/" */

/* a fixed char array of a struct holds a C string */
#define ngx_calls_sdp_term(f)  ngx_calls_sdp_terminated(f, sizeof(f))


typedef struct {
    ngx_calls_sdp_t          *sdp;
    ngx_calls_sdp_media_t    *media;       /* current m-section, or NULL */
    char                     *err;
    size_t                    errlen;
    const char               *attr;        /* attribute being parsed */
    const char               *bundle;      /* mids of a=group:BUNDLE */
    size_t                    bundle_len;
    unsigned                  bundle_line;
    unsigned                  line;
    ngx_calls_sdp_dir_e       dir;         /* session-level direction */
    unsigned                  seen_v:1;
    unsigned                  seen_o:1;
    unsigned                  seen_s:1;
    unsigned                  seen_t:1;
} ngx_calls_sdp_parse_t;


typedef int (*ngx_calls_sdp_attr_pt)(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);


typedef struct {
    const char               *name;
    ngx_calls_sdp_attr_pt     handler;
    unsigned                  where;
} ngx_calls_sdp_attr_t;


typedef struct {
    char                     *buf;
    size_t                    size;
    size_t                    len;
    unsigned                  full:1;
} ngx_calls_sdp_out_t;


static int ngx_calls_sdp_error(ngx_calls_sdp_parse_t *ps, const char *fmt,
    ...);
static int ngx_calls_sdp_attr_error(ngx_calls_sdp_parse_t *ps,
    const char *fmt, ...);
static size_t ngx_calls_sdp_token(const char **pp, const char *end,
    const char **tok);
static size_t ngx_calls_sdp_trim(const char **pp, size_t n);
static int ngx_calls_sdp_number(const char *p, size_t n, uint64_t max,
    uint64_t *out);
static int ngx_calls_sdp_is(unsigned cls, unsigned char c);
static int ngx_calls_sdp_store(ngx_calls_sdp_parse_t *ps, char *dst,
    size_t size, const char *p, size_t n, unsigned cls, const char *what);
static int ngx_calls_sdp_eq(const char *p, size_t n, const char *s);
static int ngx_calls_sdp_line(ngx_calls_sdp_parse_t *ps, const char *p,
    size_t n);
static int ngx_calls_sdp_origin(ngx_calls_sdp_parse_t *ps, const char *p,
    const char *end);
static int ngx_calls_sdp_mline(ngx_calls_sdp_parse_t *ps, const char *p,
    const char *end);
static int ngx_calls_sdp_attribute(ngx_calls_sdp_parse_t *ps, const char *p,
    const char *end);
static void ngx_calls_sdp_finish_media(ngx_calls_sdp_media_t *m);
static int ngx_calls_sdp_finish(ngx_calls_sdp_parse_t *ps);
static int ngx_calls_sdp_resolve_bundle(ngx_calls_sdp_parse_t *ps);
static ngx_calls_sdp_codec_t *ngx_calls_sdp_codec_by_pt(
    ngx_calls_sdp_media_t *m, unsigned pt);
static int ngx_calls_sdp_pt(ngx_calls_sdp_parse_t *ps, const char **pp,
    const char *end, unsigned *pt);

static int ngx_calls_sdp_a_group(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_msid_semantic(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_ice_lite(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_ice_options(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_allow_mixed(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_ice_ufrag(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_ice_pwd(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_fingerprint(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_setup(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_mid(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_sendrecv(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_sendonly(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_recvonly(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_inactive(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_rtcp_mux(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_rtcp_rsize(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_rtpmap(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_fmtp(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_rtcp_fb(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_extmap(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_msid(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_ssrc(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_ssrc_group(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_rid(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_simulcast(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_sctp_port(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_max_msg(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_candidate(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_eoc(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);
static int ngx_calls_sdp_a_bundle_only(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n);

static int ngx_calls_sdp_terminated(const char *s, size_t size);
static int ngx_calls_sdp_valid(const ngx_calls_sdp_t *sdp);
static void ngx_calls_sdp_printf(ngx_calls_sdp_out_t *out, const char *fmt,
    ...);
static void ngx_calls_sdp_build_media(ngx_calls_sdp_out_t *out,
    const ngx_calls_sdp_t *sdp, const ngx_calls_sdp_media_t *m);
static void ngx_calls_sdp_build_codec(ngx_calls_sdp_out_t *out,
    const ngx_calls_sdp_codec_t *c);
static void ngx_calls_sdp_build_rids(ngx_calls_sdp_out_t *out,
    const ngx_calls_sdp_media_t *m);
static void ngx_calls_sdp_build_layers(ngx_calls_sdp_out_t *out,
    const ngx_calls_sdp_media_t *m, unsigned send);
static int ngx_calls_sdp_check_error(char *err, size_t errlen, size_t i,
    const ngx_calls_sdp_media_t *m, const char *fmt, ...);


static const ngx_calls_sdp_attr_t  ngx_calls_sdp_attrs[] = {

    { "group", ngx_calls_sdp_a_group, NGX_CALLS_SDP_SESSION },
    { "msid-semantic", ngx_calls_sdp_a_msid_semantic,
      NGX_CALLS_SDP_SESSION },
    { "ice-lite", ngx_calls_sdp_a_ice_lite, NGX_CALLS_SDP_SESSION },
    { "ice-options", ngx_calls_sdp_a_ice_options, NGX_CALLS_SDP_BOTH },
    { "extmap-allow-mixed", ngx_calls_sdp_a_allow_mixed,
      NGX_CALLS_SDP_BOTH },
    { "ice-ufrag", ngx_calls_sdp_a_ice_ufrag, NGX_CALLS_SDP_BOTH },
    { "ice-pwd", ngx_calls_sdp_a_ice_pwd, NGX_CALLS_SDP_BOTH },
    { "fingerprint", ngx_calls_sdp_a_fingerprint, NGX_CALLS_SDP_BOTH },
    { "setup", ngx_calls_sdp_a_setup, NGX_CALLS_SDP_BOTH },
    { "sendrecv", ngx_calls_sdp_a_sendrecv, NGX_CALLS_SDP_BOTH },
    { "sendonly", ngx_calls_sdp_a_sendonly, NGX_CALLS_SDP_BOTH },
    { "recvonly", ngx_calls_sdp_a_recvonly, NGX_CALLS_SDP_BOTH },
    { "inactive", ngx_calls_sdp_a_inactive, NGX_CALLS_SDP_BOTH },
    { "mid", ngx_calls_sdp_a_mid, NGX_CALLS_SDP_MEDIA },
    { "rtcp-mux", ngx_calls_sdp_a_rtcp_mux, NGX_CALLS_SDP_MEDIA },
    { "rtcp-rsize", ngx_calls_sdp_a_rtcp_rsize, NGX_CALLS_SDP_MEDIA },
    { "rtpmap", ngx_calls_sdp_a_rtpmap, NGX_CALLS_SDP_MEDIA },
    { "fmtp", ngx_calls_sdp_a_fmtp, NGX_CALLS_SDP_MEDIA },
    { "rtcp-fb", ngx_calls_sdp_a_rtcp_fb, NGX_CALLS_SDP_MEDIA },
    { "extmap", ngx_calls_sdp_a_extmap, NGX_CALLS_SDP_MEDIA },
    { "msid", ngx_calls_sdp_a_msid, NGX_CALLS_SDP_MEDIA },
    { "ssrc", ngx_calls_sdp_a_ssrc, NGX_CALLS_SDP_MEDIA },
    { "ssrc-group", ngx_calls_sdp_a_ssrc_group, NGX_CALLS_SDP_MEDIA },
    { "rid", ngx_calls_sdp_a_rid, NGX_CALLS_SDP_MEDIA },
    { "simulcast", ngx_calls_sdp_a_simulcast, NGX_CALLS_SDP_MEDIA },
    { "sctp-port", ngx_calls_sdp_a_sctp_port, NGX_CALLS_SDP_MEDIA },
    { "max-message-size", ngx_calls_sdp_a_max_msg, NGX_CALLS_SDP_MEDIA },
    { "candidate", ngx_calls_sdp_a_candidate, NGX_CALLS_SDP_MEDIA },
    { "end-of-candidates", ngx_calls_sdp_a_eoc, NGX_CALLS_SDP_MEDIA },
    { "bundle-only", ngx_calls_sdp_a_bundle_only, NGX_CALLS_SDP_MEDIA },
    { NULL, NULL, 0 }
};


static const char  *ngx_calls_sdp_setup_names[] = {
    NULL, "actpass", "active", "passive"
};


static const char  *ngx_calls_sdp_dir_names[] = {
    "sendrecv", "sendonly", "recvonly", "inactive"
};


int
ngx_calls_sdp_parse(ngx_calls_sdp_t *sdp, const char *text, size_t len,
    char *err, size_t errlen)
{
    const char             *p, *end, *nl, *e, *q;
    ngx_calls_sdp_parse_t   ps;

    memset(&ps, 0, sizeof(ps));
    ps.sdp = sdp;
    ps.err = err;
    ps.errlen = errlen;
    ps.dir = NGX_CALLS_SDP_SENDRECV;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }

    if (text == NULL || len == 0) {
        return ngx_calls_sdp_error(&ps, "empty SDP");
    }

    p = text;
    end = text + len;

    while (p < end) {
        ps.line++;

        nl = memchr(p, '\n', end - p);

        if (nl == NULL) {
            /*
             * Every SDP line ends with CRLF (RFC 8866 5); a last line
             * without one means the text was cut, and keeping what came
             * would store a partial ufrag or fingerprint.
             */
            return ngx_calls_sdp_error(&ps, "truncated line (no line end)");
        }

        e = nl;

        if (e > p && e[-1] == '\r') {
            e--;
        }

        for (q = p; q < e; q++) {
            if (((unsigned char) *q < 0x20 && *q != '\t') || *q == 0x7f) {
                return ngx_calls_sdp_error(&ps, "control character 0x%02x",
                                           (unsigned char) *q);
            }
        }

        if (ngx_calls_sdp_line(&ps, p, e - p) != 0) {
            return -1;
        }

        p = nl + 1;
    }

    return ngx_calls_sdp_finish(&ps);
}


static int
ngx_calls_sdp_line(ngx_calls_sdp_parse_t *ps, const char *p, size_t n)
{
    char         type;
    const char  *v, *end;

    ps->attr = NULL;

    if (!ps->seen_v) {
        if (!ngx_calls_sdp_eq(p, n, "v=0")) {
            return ngx_calls_sdp_error(ps, "SDP must start with v=0");
        }

        ps->seen_v = 1;
        return 0;
    }

    /* tolerated: some tools end the text with an extra empty line */
    if (n == 0) {
        return 0;
    }

    if (n < 2 || p[1] != '=' || p[0] < 'a' || p[0] > 'z') {
        return ngx_calls_sdp_error(ps, "not a <type>=<value> line");
    }

    type = p[0];
    v = p + 2;
    end = p + n;

    switch (type) {

    case 'v':
        return ngx_calls_sdp_error(ps, "duplicate v=");

    case 'o':
    case 's':
    case 't':
        if (ps->media != NULL) {
            return ngx_calls_sdp_error(ps, "%c= inside a media section",
                                       type);
        }

        if (type == 'o') {
            return ngx_calls_sdp_origin(ps, v, end);
        }

        if (type == 's') {
            ps->seen_s = 1;

        } else {
            ps->seen_t = 1;
        }

        return 0;

    case 'm':
        return ngx_calls_sdp_mline(ps, v, end);

    case 'a':
        return ngx_calls_sdp_attribute(ps, v, end);

    default:
        /* c=, b=, i= ... carry nothing WebRTC over ICE needs */
        return 0;
    }
}


static int
ngx_calls_sdp_origin(ngx_calls_sdp_parse_t *ps, const char *p,
    const char *end)
{
    size_t       n, i;
    uint64_t     val;
    const char  *tok;

    if (ps->seen_o) {
        return ngx_calls_sdp_error(ps, "duplicate o=");
    }

    ps->seen_o = 1;

    /* <username> <sess-id> <sess-version> <nettype> <addrtype> <address> */

    for (i = 0; i < 6; i++) {
        n = ngx_calls_sdp_token(&p, end, &tok);

        if (n == 0) {
            return ngx_calls_sdp_error(ps, "o=: expected 6 fields");
        }

        if (i == 1 || i == 2) {
            if (ngx_calls_sdp_number(tok, n, UINT64_MAX, &val) != 0) {
                return ngx_calls_sdp_error(ps, "o=: bad session %s",
                                           i == 1 ? "id" : "version");
            }

            if (i == 1) {
                ps->sdp->sess_id = val;

            } else {
                ps->sdp->sess_version = val;
            }
        }
    }

    return 0;
}


static int
ngx_calls_sdp_mline(ngx_calls_sdp_parse_t *ps, const char *p,
    const char *end)
{
    int                     rtp;
    size_t                  n, i, plen;
    uint64_t                val;
    const char             *tok;
    ngx_calls_sdp_t        *sdp;
    ngx_calls_sdp_media_t  *m;

    sdp = ps->sdp;

    if (!ps->seen_o || !ps->seen_s || !ps->seen_t) {
        return ngx_calls_sdp_error(ps, "m= before the o=, s= and t= lines");
    }

    if (ps->media != NULL) {
        ngx_calls_sdp_finish_media(ps->media);
    }

    /*
     * Every accepted m-section must be in the one BUNDLE group, so more
     * m-sections than a group holds cannot be answered; the bound also
     * caps what a small text can make us allocate.
     */
    if (sdp->nmedia >= NGX_CALLS_SDP_MAX_BUNDLE) {
        return ngx_calls_sdp_error(ps, "more than %d m-sections "
                                   "(NGX_CALLS_SDP_MAX_BUNDLE)",
                                   NGX_CALLS_SDP_MAX_BUNDLE);
    }

    m = ngx_calls_sdp_add_media(sdp);
    if (m == NULL) {
        return ngx_calls_sdp_error(ps, "out of memory");
    }

    ps->media = m;
    m->dir = ps->dir;

    n = ngx_calls_sdp_token(&p, end, &tok);

    if (n == 0) {
        return ngx_calls_sdp_error(ps, "m=: no media type");
    }

    if (ngx_calls_sdp_store(ps, m->media, sizeof(m->media), tok, n,
                            NGX_CALLS_SDP_TOKEN, "m=: media type")
        != 0)
    {
        return -1;
    }

    if (strcmp(m->media, "audio") == 0) {
        m->kind = NGX_CALLS_SDP_AUDIO;

    } else if (strcmp(m->media, "video") == 0) {
        m->kind = NGX_CALLS_SDP_VIDEO;

    } else if (strcmp(m->media, "application") == 0) {
        m->kind = NGX_CALLS_SDP_APPLICATION;

    } else {
        m->kind = NGX_CALLS_SDP_OTHER;
    }

    n = ngx_calls_sdp_token(&p, end, &tok);

    /* "<port>/<number of ports>" has no meaning with ICE: refused too */
    if (ngx_calls_sdp_number(tok, n, 65535, &val) != 0) {
        return ngx_calls_sdp_error(ps, "m=: bad port");
    }

    m->port = (uint16_t) val;

    n = ngx_calls_sdp_token(&p, end, &tok);

    if (n == 0) {
        return ngx_calls_sdp_error(ps, "m=: no protocol");
    }

    if (ngx_calls_sdp_store(ps, m->proto, sizeof(m->proto), tok, n,
                            NGX_CALLS_SDP_PROTO, "m=: protocol")
        != 0)
    {
        return -1;
    }

    rtp = 0;
    plen = strlen(m->proto);

    for (i = 0; i + 4 <= plen; i++) {
        if (memcmp(m->proto + i, "RTP/", 4) == 0) {
            rtp = 1;
            break;
        }
    }

    n = 0;

    while ((i = ngx_calls_sdp_token(&p, end, &tok)) != 0) {
        n++;

        if (!rtp) {
            continue;
        }

        if (ngx_calls_sdp_number(tok, i, 127, &val) != 0) {
            return ngx_calls_sdp_error(ps, "m=: bad format \"%.*s\"",
                                       (int) (i > 32 ? 32 : i), tok);
        }

        if (ngx_calls_sdp_codec_by_pt(m, (unsigned) val) != NULL) {
            return ngx_calls_sdp_error(ps, "m=: payload type %u listed "
                                       "twice", (unsigned) val);
        }

        if (m->ncodecs >= NGX_CALLS_SDP_MAX_CODECS) {
            return ngx_calls_sdp_error(ps, "m=: more than %d codecs "
                                       "(NGX_CALLS_SDP_MAX_CODECS)",
                                       NGX_CALLS_SDP_MAX_CODECS);
        }

        m->codecs[m->ncodecs++].pt = (uint8_t) val;
    }

    if (n == 0) {
        return ngx_calls_sdp_error(ps, "m=: no format");
    }

    return 0;
}


static int
ngx_calls_sdp_attribute(ngx_calls_sdp_parse_t *ps, const char *p,
    const char *end)
{
    size_t                       n, vn;
    const char                  *colon, *v;
    const ngx_calls_sdp_attr_t  *a;

    colon = memchr(p, ':', end - p);

    if (colon == NULL) {
        n = end - p;
        v = end;
        vn = 0;

    } else {
        n = colon - p;
        v = colon + 1;
        vn = end - v;
    }

    if (n == 0) {
        return ngx_calls_sdp_error(ps, "a= without a name");
    }

    for (a = ngx_calls_sdp_attrs; a->name != NULL; a++) {
        if (!ngx_calls_sdp_eq(p, n, a->name)) {
            continue;
        }

        if (!(a->where & (ps->media ? NGX_CALLS_SDP_MEDIA
                                    : NGX_CALLS_SDP_SESSION)))
        {
            return 0;
        }

        ps->attr = a->name;

        return a->handler(ps, ps->media, v, vn);
    }

    /* unknown attributes are ignored (RFC 8866 5.13) */

    return 0;
}


static void
ngx_calls_sdp_finish_media(ngx_calls_sdp_media_t *m)
{
    size_t                  i;
    ngx_calls_sdp_codec_t  *c;

    /*
     * apt= is read from any fmtp, because fmtp may come before rtpmap
     * (Firefox writes it so); only now is the codec name certain.
     */
    for (i = 0; i < m->ncodecs; i++) {
        c = &m->codecs[i];

        if (strcasecmp(c->name, "rtx") != 0) {
            c->apt = 0;
        }
    }
}


static int
ngx_calls_sdp_finish(ngx_calls_sdp_parse_t *ps)
{
    size_t                  i;
    ngx_calls_sdp_t        *sdp;
    ngx_calls_sdp_media_t  *m;

    sdp = ps->sdp;
    ps->attr = NULL;
    ps->line = 0;

    if (!ps->seen_o) {
        return ngx_calls_sdp_error(ps, "no o= line");
    }

    if (!ps->seen_s) {
        return ngx_calls_sdp_error(ps, "no s= line");
    }

    if (!ps->seen_t) {
        return ngx_calls_sdp_error(ps, "no t= line");
    }

    if (ps->media != NULL) {
        ngx_calls_sdp_finish_media(ps->media);
    }

    for (i = 0; i < sdp->nmedia; i++) {
        m = &sdp->media[i];

        if (m->ice_ufrag[0] == '\0') {
            memcpy(m->ice_ufrag, sdp->ice_ufrag, sizeof(m->ice_ufrag));
        }

        if (m->ice_pwd[0] == '\0') {
            memcpy(m->ice_pwd, sdp->ice_pwd, sizeof(m->ice_pwd));
        }

        if (m->fp[0] == '\0') {
            memcpy(m->fp_alg, sdp->fp_alg, sizeof(m->fp_alg));
            memcpy(m->fp, sdp->fp, sizeof(m->fp));
        }

        if (m->setup == NGX_CALLS_SDP_SETUP_NONE) {
            m->setup = sdp->setup;
        }
    }

    if (ps->bundle != NULL) {
        return ngx_calls_sdp_resolve_bundle(ps);
    }

    return 0;
}


static int
ngx_calls_sdp_resolve_bundle(ngx_calls_sdp_parse_t *ps)
{
    size_t            n, i, j;
    const char       *p, *end, *tok;
    ngx_calls_sdp_t  *sdp;

    sdp = ps->sdp;
    p = ps->bundle;
    end = p + ps->bundle_len;
    ps->line = ps->bundle_line;
    ps->attr = "group";

    for ( ;; ) {
        n = ngx_calls_sdp_token(&p, end, &tok);

        if (n == 0) {
            break;
        }

        for (i = 0; i < sdp->nmedia; i++) {
            if (ngx_calls_sdp_eq(tok, n, sdp->media[i].mid)) {
                break;
            }
        }

        if (i == sdp->nmedia) {
            return ngx_calls_sdp_attr_error(ps, "BUNDLE names unknown mid "
                                            "\"%.*s\"",
                                            (int) (n > 64 ? 64 : n), tok);
        }

        for (j = 0; j < sdp->nbundle; j++) {
            if (sdp->bundle[j] == i) {
                return ngx_calls_sdp_attr_error(ps, "mid \"%s\" twice in "
                                                "BUNDLE",
                                                sdp->media[i].mid);
            }
        }

        /* unreachable while mids are unique and m-sections bounded */
        if (sdp->nbundle >= NGX_CALLS_SDP_MAX_BUNDLE) {
            return ngx_calls_sdp_attr_error(ps, "more than %d mids "
                                            "(NGX_CALLS_SDP_MAX_BUNDLE)",
                                            NGX_CALLS_SDP_MAX_BUNDLE);
        }

        sdp->bundle[sdp->nbundle++] = i;
    }

    return 0;
}


static int
ngx_calls_sdp_a_group(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    size_t       tn;
    const char  *p, *end, *tok;

    p = v;
    end = v + n;

    tn = ngx_calls_sdp_token(&p, end, &tok);

    /* other semantics (LS, FID ...) do not concern a BUNDLE-only SFU */
    if (!ngx_calls_sdp_eq(tok, tn, "BUNDLE")) {
        return 0;
    }

    if (ps->bundle != NULL) {
        return ngx_calls_sdp_attr_error(ps, "more than one BUNDLE group");
    }

    /* mids are looked up once all m-sections are known */
    ps->bundle = p;
    ps->bundle_len = end - p;
    ps->bundle_line = ps->line;
    ps->sdp->has_bundle = 1;

    return 0;
}


static int
ngx_calls_sdp_a_msid_semantic(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    char        *dst;
    size_t       tn, rn;
    const char  *p, *end, *tok, *rest;

    p = v;
    end = v + n;
    dst = ps->sdp->msid_semantic;

    tn = ngx_calls_sdp_token(&p, end, &tok);

    if (ngx_calls_sdp_store(ps, dst, sizeof(ps->sdp->msid_semantic) - 2,
                            tok, tn, NGX_CALLS_SDP_TOKEN, "semantic")
        != 0)
    {
        return -1;
    }

    /*
     * Only the semantic and a "*" are kept: the list of stream ids Chrome
     * appends is deprecated (RFC 8830 uses a=msid per m-section) and may
     * be longer than any fixed field.
     */
    rn = ngx_calls_sdp_token(&p, end, &rest);

    if (ngx_calls_sdp_eq(rest, rn, "*")
        && ngx_calls_sdp_token(&p, end, &rest) == 0)
    {
        strcat(dst, " *");
    }

    return 0;
}


static int
ngx_calls_sdp_a_ice_lite(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    ps->sdp->ice_lite = 1;

    return 0;
}


static int
ngx_calls_sdp_a_ice_options(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    size_t       tn;
    const char  *p, *end, *tok;

    p = v;
    end = v + n;

    /* Chrome says it per m-section, Firefox once; the flag is per session */
    while ((tn = ngx_calls_sdp_token(&p, end, &tok)) != 0) {
        if (ngx_calls_sdp_eq(tok, tn, "trickle")) {
            ps->sdp->ice_trickle = 1;
        }
    }

    return 0;
}


static int
ngx_calls_sdp_a_allow_mixed(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    ps->sdp->extmap_allow_mixed = 1;

    return 0;
}


static int
ngx_calls_sdp_a_ice_ufrag(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    char  *dst;

    dst = m ? m->ice_ufrag : ps->sdp->ice_ufrag;
    n = ngx_calls_sdp_trim(&v, n);

    /* ice-char only: the ufrag goes into the STUN USERNAME "a:b" */
    return ngx_calls_sdp_store(ps, dst, NGX_CALLS_SDP_MAX_UFRAG, v, n,
                               NGX_CALLS_SDP_ICE, "ufrag");
}


static int
ngx_calls_sdp_a_ice_pwd(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    char  *dst;

    dst = m ? m->ice_pwd : ps->sdp->ice_pwd;
    n = ngx_calls_sdp_trim(&v, n);

    return ngx_calls_sdp_store(ps, dst, NGX_CALLS_SDP_MAX_PWD, v, n,
                               NGX_CALLS_SDP_ICE, "password");
}


static int
ngx_calls_sdp_a_fingerprint(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    char         alg[16], fp[NGX_CALLS_SDP_MAX_FP], *dst_alg, *dst_fp;
    size_t       an, fn, i;
    const char  *p, *end, *atok, *ftok;

    p = v;
    end = v + n;

    an = ngx_calls_sdp_token(&p, end, &atok);

    if (ngx_calls_sdp_store(ps, alg, sizeof(alg), atok, an,
                            NGX_CALLS_SDP_TOKEN, "hash function")
        != 0)
    {
        return -1;
    }

    fn = ngx_calls_sdp_token(&p, end, &ftok);

    if (ngx_calls_sdp_store(ps, fp, sizeof(fp), ftok, fn,
                            NGX_CALLS_SDP_VISIBLE, "fingerprint")
        != 0)
    {
        return -1;
    }

    /* RFC 8122 5: hash names are case-insensitive, the value is hex pairs */

    for (i = 0; alg[i]; i++) {
        if (alg[i] >= 'A' && alg[i] <= 'Z') {
            alg[i] += 'a' - 'A';
        }
    }

    if ((fn + 1) % 3 != 0) {
        return ngx_calls_sdp_attr_error(ps, "bad fingerprint");
    }

    for (i = 0; i < fn; i++) {
        if (i % 3 == 2) {
            if (fp[i] != ':') {
                return ngx_calls_sdp_attr_error(ps, "bad fingerprint");
            }

            continue;
        }

        if (fp[i] >= 'a' && fp[i] <= 'f') {
            fp[i] += 'A' - 'a';

        } else if (!((fp[i] >= '0' && fp[i] <= '9')
                     || (fp[i] >= 'A' && fp[i] <= 'F')))
        {
            return ngx_calls_sdp_attr_error(ps, "bad fingerprint");
        }
    }

    dst_alg = m ? m->fp_alg : ps->sdp->fp_alg;
    dst_fp = m ? m->fp : ps->sdp->fp;

    /*
     * Several fingerprints may be offered (RFC 8122 5); keep the first
     * sha-256 one, the only one we verify, or else the first of any.
     */
    if (dst_fp[0] != '\0'
        && (strcmp(dst_alg, "sha-256") == 0 || strcmp(alg, "sha-256") != 0))
    {
        return 0;
    }

    memcpy(dst_alg, alg, an + 1);
    memcpy(dst_fp, fp, fn + 1);

    return 0;
}


static int
ngx_calls_sdp_a_setup(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    unsigned  i;

    n = ngx_calls_sdp_trim(&v, n);

    for (i = NGX_CALLS_SDP_SETUP_ACTPASS; i <= NGX_CALLS_SDP_SETUP_PASSIVE;
         i++)
    {
        if (ngx_calls_sdp_eq(v, n, ngx_calls_sdp_setup_names[i])) {
            if (m) {
                m->setup = (ngx_calls_sdp_setup_e) i;

            } else {
                ps->sdp->setup = (ngx_calls_sdp_setup_e) i;
            }

            return 0;
        }
    }

    /* holdconn and the like: no DTLS role WebRTC can use */
    return ngx_calls_sdp_attr_error(ps, "unsupported value");
}


static int
ngx_calls_sdp_a_mid(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    size_t            i;
    ngx_calls_sdp_t  *sdp;

    sdp = ps->sdp;
    n = ngx_calls_sdp_trim(&v, n);

    if (ngx_calls_sdp_store(ps, m->mid, sizeof(m->mid), v, n,
                            NGX_CALLS_SDP_TOKEN, "mid")
        != 0)
    {
        return -1;
    }

    /* a mid names one m-section, or BUNDLE and candidates are ambiguous */
    for (i = 0; i + 1 < sdp->nmedia; i++) {
        if (strcmp(sdp->media[i].mid, m->mid) == 0) {
            return ngx_calls_sdp_attr_error(ps, "mid \"%s\" already used by "
                                            "m-section %zu", m->mid, i);
        }
    }

    return 0;
}


static int
ngx_calls_sdp_a_sendrecv(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    *(m ? &m->dir : &ps->dir) = NGX_CALLS_SDP_SENDRECV;

    return 0;
}


static int
ngx_calls_sdp_a_sendonly(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    *(m ? &m->dir : &ps->dir) = NGX_CALLS_SDP_SENDONLY;

    return 0;
}


static int
ngx_calls_sdp_a_recvonly(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    *(m ? &m->dir : &ps->dir) = NGX_CALLS_SDP_RECVONLY;

    return 0;
}


static int
ngx_calls_sdp_a_inactive(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    *(m ? &m->dir : &ps->dir) = NGX_CALLS_SDP_INACTIVE;

    return 0;
}


static int
ngx_calls_sdp_a_rtcp_mux(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    m->rtcp_mux = 1;

    return 0;
}


static int
ngx_calls_sdp_a_rtcp_rsize(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    m->rtcp_rsize = 1;

    return 0;
}


static int
ngx_calls_sdp_a_rtpmap(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    size_t                  tn, i, part[3], np;
    unsigned                pt;
    uint64_t                val;
    const char             *p, *end, *tok, *start[3];
    ngx_calls_sdp_codec_t  *c;

    p = v;
    end = v + n;

    if (ngx_calls_sdp_pt(ps, &p, end, &pt) != 0) {
        return -1;
    }

    /* <encoding name>/<clock rate>[/<channels>] */

    tn = ngx_calls_sdp_token(&p, end, &tok);

    np = 0;
    start[0] = tok;
    part[0] = 0;

    for (i = 0; i < tn; i++) {
        if (tok[i] != '/') {
            part[np]++;
            continue;
        }

        if (++np == 3) {
            return ngx_calls_sdp_attr_error(ps, "bad encoding");
        }

        start[np] = tok + i + 1;
        part[np] = 0;
    }

    np++;

    if (np < 2 || part[0] == 0) {
        return ngx_calls_sdp_attr_error(ps, "bad encoding");
    }

    if (ngx_calls_sdp_number(start[1], part[1], UINT32_MAX, &val) != 0
        || val == 0)
    {
        return ngx_calls_sdp_attr_error(ps, "bad clock rate");
    }

    c = ngx_calls_sdp_codec_by_pt(m, pt);

    /*
     * An rtpmap for a payload type the m= line does not list is ignored,
     * as Chrome does: SDP munging that drops a codec from the m= line
     * commonly leaves its rtpmap/fmtp/rtcp-fb lines behind, and the
     * format list alone says what may be sent.
     */
    if (c == NULL) {
        return 0;
    }

    if (c->name[0] != '\0') {
        return ngx_calls_sdp_attr_error(ps, "duplicate for payload type %u",
                                        pt);
    }

    if (ngx_calls_sdp_store(ps, c->name, sizeof(c->name), start[0], part[0],
                            NGX_CALLS_SDP_TOKEN, "encoding name")
        != 0)
    {
        return -1;
    }

    c->clock = (uint32_t) val;

    if (np == 3) {
        if (ngx_calls_sdp_number(start[2], part[2], 255, &val) != 0
            || val == 0)
        {
            return ngx_calls_sdp_attr_error(ps, "bad channels");
        }

        c->channels = (uint8_t) val;
    }

    return 0;
}


static int
ngx_calls_sdp_a_fmtp(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    size_t                  pn, kn;
    unsigned                pt;
    uint64_t                val;
    const char             *p, *end, *q, *semi, *key;
    ngx_calls_sdp_codec_t  *c;

    p = v;
    end = v + n;

    if (ngx_calls_sdp_pt(ps, &p, end, &pt) != 0) {
        return -1;
    }

    pn = ngx_calls_sdp_trim(&p, end - p);

    c = ngx_calls_sdp_codec_by_pt(m, pt);

    /* not in the m= line: ignored, see ngx_calls_sdp_a_rtpmap() */
    if (c == NULL) {
        return 0;
    }

    if (c->fmtp[0] != '\0') {
        return ngx_calls_sdp_attr_error(ps, "duplicate for payload type %u",
                                        pt);
    }

    if (pn >= sizeof(c->fmtp)) {
        return ngx_calls_sdp_attr_error(ps, "parameters too long (max %zu "
                                        "bytes)", sizeof(c->fmtp) - 1);
    }

    memcpy(c->fmtp, p, pn);
    c->fmtp[pn] = '\0';

    /* "apt=<pt>" among ";"-separated parameters (RFC 4588 8.6) */

    end = p + pn;

    for (q = p; q < end; q = semi + 1) {
        semi = memchr(q, ';', end - q);

        if (semi == NULL) {
            semi = end;
        }

        key = q;
        kn = ngx_calls_sdp_trim(&key, semi - q);

        if (kn >= 4 && strncasecmp(key, "apt=", 4) == 0) {
            if (ngx_calls_sdp_number(key + 4, kn - 4, 127, &val) != 0) {
                return ngx_calls_sdp_attr_error(ps, "bad apt");
            }

            c->apt = (uint8_t) val;
        }
    }

    return 0;
}


static int
ngx_calls_sdp_a_rtcp_fb(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    size_t                  tn, pn, i;
    uint8_t                 flag;
    unsigned                pt;
    const char             *p, *end, *tok, *par;
    ngx_calls_sdp_codec_t  *c;

    p = v;
    end = v + n;
    c = NULL;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p < end && *p == '*') {
        p++;

        if (p < end && *p != ' ' && *p != '\t') {
            return ngx_calls_sdp_attr_error(ps, "bad payload type");
        }

    } else {
        if (ngx_calls_sdp_pt(ps, &p, end, &pt) != 0) {
            return -1;
        }

        c = ngx_calls_sdp_codec_by_pt(m, pt);

        /* not in the m= line: ignored, see ngx_calls_sdp_a_rtpmap() */
        if (c == NULL) {
            return 0;
        }
    }

    tn = ngx_calls_sdp_token(&p, end, &tok);
    pn = ngx_calls_sdp_token(&p, end, &par);

    if (tn == 0) {
        return ngx_calls_sdp_attr_error(ps, "no feedback type");
    }

    if (ngx_calls_sdp_eq(tok, tn, "nack")) {
        if (pn == 0) {
            flag = NGX_CALLS_SDP_FB_NACK;

        } else if (ngx_calls_sdp_eq(par, pn, "pli")) {
            flag = NGX_CALLS_SDP_FB_NACK_PLI;

        } else {
            flag = 0;
        }

    } else if (ngx_calls_sdp_eq(tok, tn, "ccm")) {
        flag = ngx_calls_sdp_eq(par, pn, "fir") ? NGX_CALLS_SDP_FB_CCM_FIR
                                                : 0;

    } else if (ngx_calls_sdp_eq(tok, tn, "goog-remb")) {
        flag = NGX_CALLS_SDP_FB_REMB;

    } else if (ngx_calls_sdp_eq(tok, tn, "transport-cc")) {
        flag = NGX_CALLS_SDP_FB_TWCC;

    } else {
        /* nack sli, ccm tmmbr, goog-lntf ...: nothing we act on */
        flag = 0;
    }

    if (c != NULL) {
        c->fb |= flag;
        return 0;
    }

    for (i = 0; i < m->ncodecs; i++) {
        m->codecs[i].fb |= flag;
    }

    return 0;
}


static int
ngx_calls_sdp_a_extmap(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    size_t                   tn, un, idn, i;
    uint64_t                 id;
    const char              *p, *end, *tok, *uri, *slash;
    ngx_calls_sdp_extmap_t  *x;

    p = v;
    end = v + n;

    /* <id>[/<direction>] <uri> [<extension attributes>] */

    tn = ngx_calls_sdp_token(&p, end, &tok);

    slash = memchr(tok, '/', tn);
    idn = slash ? (size_t) (slash - tok) : tn;

    /* 1-14 one-byte, up to 255 two-byte headers (RFC 8285 5) */
    if (ngx_calls_sdp_number(tok, idn, 255, &id) != 0 || id == 0) {
        return ngx_calls_sdp_attr_error(ps, "bad id");
    }

    if (slash != NULL) {
        slash++;
        i = tn - idn - 1;

        if (!ngx_calls_sdp_eq(slash, i, "sendrecv")
            && !ngx_calls_sdp_eq(slash, i, "sendonly")
            && !ngx_calls_sdp_eq(slash, i, "recvonly")
            && !ngx_calls_sdp_eq(slash, i, "inactive"))
        {
            return ngx_calls_sdp_attr_error(ps, "bad direction");
        }
    }

    un = ngx_calls_sdp_token(&p, end, &uri);

    for (i = 0; i < m->nextmaps; i++) {
        if (m->extmaps[i].id == id) {
            return ngx_calls_sdp_attr_error(ps, "id %u used twice",
                                            (unsigned) id);
        }
    }

    if (m->nextmaps >= NGX_CALLS_SDP_MAX_EXTMAPS) {
        return ngx_calls_sdp_attr_error(ps, "more than %d extmaps "
                                        "(NGX_CALLS_SDP_MAX_EXTMAPS)",
                                        NGX_CALLS_SDP_MAX_EXTMAPS);
    }

    x = &m->extmaps[m->nextmaps];

    if (ngx_calls_sdp_store(ps, x->uri, sizeof(x->uri), uri, un,
                            NGX_CALLS_SDP_VISIBLE, "URI")
        != 0)
    {
        return -1;
    }

    x->id = (uint8_t) id;
    m->nextmaps++;

    return 0;
}


static int
ngx_calls_sdp_a_msid(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    size_t       sn, tn;
    const char  *p, *end, *stream, *track;

    p = v;
    end = v + n;

    sn = ngx_calls_sdp_token(&p, end, &stream);
    tn = ngx_calls_sdp_token(&p, end, &track);

    /*
     * A track sent in several streams has one a=msid per stream; the
     * Calls clients use one, and the first is the one we classify by.
     */
    if (m->msid_stream[0] != '\0') {
        return 0;
    }

    if (ngx_calls_sdp_store(ps, m->msid_stream, sizeof(m->msid_stream),
                            stream, sn, NGX_CALLS_SDP_TOKEN, "stream id")
        != 0)
    {
        return -1;
    }

    if (tn == 0) {
        return 0;
    }

    return ngx_calls_sdp_store(ps, m->msid_track, sizeof(m->msid_track),
                               track, tn, NGX_CALLS_SDP_TOKEN, "track id");
}


static int
ngx_calls_sdp_a_ssrc(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    size_t                 tn, i, sn;
    uint64_t               ssrc;
    const char            *p, *end, *tok, *stream;
    ngx_calls_sdp_ssrc_t  *s;

    p = v;
    end = v + n;

    tn = ngx_calls_sdp_token(&p, end, &tok);

    if (ngx_calls_sdp_number(tok, tn, UINT32_MAX, &ssrc) != 0) {
        return ngx_calls_sdp_attr_error(ps, "bad ssrc");
    }

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p == end) {
        return ngx_calls_sdp_attr_error(ps, "no attribute");
    }

    for (i = 0; i < m->nssrcs; i++) {
        if (m->ssrcs[i].ssrc == ssrc) {
            break;
        }
    }

    if (i == m->nssrcs) {
        if (m->nssrcs >= NGX_CALLS_SDP_MAX_SSRCS) {
            return ngx_calls_sdp_attr_error(ps, "more than %d SSRCs "
                                            "(NGX_CALLS_SDP_MAX_SSRCS)",
                                            NGX_CALLS_SDP_MAX_SSRCS);
        }

        m->ssrcs[i].ssrc = (uint32_t) ssrc;
        m->nssrcs++;
    }

    s = &m->ssrcs[i];

    if ((size_t) (end - p) >= 6 && memcmp(p, "cname:", 6) == 0) {
        p += 6;
        tn = ngx_calls_sdp_trim(&p, end - p);

        return ngx_calls_sdp_store(ps, s->cname, sizeof(s->cname), p, tn,
                                   NGX_CALLS_SDP_VISIBLE, "cname");
    }

    if ((size_t) (end - p) >= 5 && memcmp(p, "msid:", 5) == 0) {
        p += 5;

        sn = ngx_calls_sdp_token(&p, end, &stream);
        tn = ngx_calls_sdp_token(&p, end, &tok);

        if (ngx_calls_sdp_store(ps, s->msid_stream, sizeof(s->msid_stream),
                                stream, sn, NGX_CALLS_SDP_TOKEN, "stream id")
            != 0)
        {
            return -1;
        }

        if (tn == 0) {
            return 0;
        }

        return ngx_calls_sdp_store(ps, s->msid_track, sizeof(s->msid_track),
                                   tok, tn, NGX_CALLS_SDP_TOKEN, "track id");
    }

    /* mslabel, label ...: legacy, superseded by msid */

    return 0;
}


static int
ngx_calls_sdp_a_ssrc_group(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    size_t       tn, i;
    uint64_t     ssrc[2];
    const char  *p, *end, *tok;

    p = v;
    end = v + n;

    tn = ngx_calls_sdp_token(&p, end, &tok);

    /* SIM, FEC-FR ...: simulcast is negotiated with rids here */
    if (!ngx_calls_sdp_eq(tok, tn, "FID")) {
        return 0;
    }

    for (i = 0; i < 2; i++) {
        tn = ngx_calls_sdp_token(&p, end, &tok);

        if (ngx_calls_sdp_number(tok, tn, UINT32_MAX, &ssrc[i]) != 0) {
            return ngx_calls_sdp_attr_error(ps, "bad ssrc");
        }
    }

    if (ngx_calls_sdp_token(&p, end, &tok) != 0) {
        return ngx_calls_sdp_attr_error(ps, "FID takes two ssrcs");
    }

    if (m->fid[0] != 0 || m->fid[1] != 0) {
        return ngx_calls_sdp_attr_error(ps, "more than one FID group");
    }

    m->fid[0] = (uint32_t) ssrc[0];
    m->fid[1] = (uint32_t) ssrc[1];

    return 0;
}


static int
ngx_calls_sdp_a_rid(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    char                  id[sizeof(m->rids[0].id)];
    size_t                tn, dn, i;
    const char           *p, *end, *tok, *dir;
    ngx_calls_sdp_rid_t  *r;

    p = v;
    end = v + n;

    tn = ngx_calls_sdp_token(&p, end, &tok);
    dn = ngx_calls_sdp_token(&p, end, &dir);

    /* restrictions (max-width=...) follow; the SFU does not enforce them */

    if (ngx_calls_sdp_store(ps, id, sizeof(id), tok, tn, NGX_CALLS_SDP_RID,
                            "rid id")
        != 0)
    {
        return -1;
    }

    if (!ngx_calls_sdp_eq(dir, dn, "send")
        && !ngx_calls_sdp_eq(dir, dn, "recv"))
    {
        return ngx_calls_sdp_attr_error(ps, "bad direction");
    }

    for (i = 0; i < m->nrids; i++) {
        if (strcmp(m->rids[i].id, id) == 0) {
            return ngx_calls_sdp_attr_error(ps, "rid \"%s\" twice", id);
        }
    }

    if (m->nrids >= NGX_CALLS_SDP_MAX_RIDS) {
        return ngx_calls_sdp_attr_error(ps, "more than %d rids "
                                        "(NGX_CALLS_SDP_MAX_RIDS)",
                                        NGX_CALLS_SDP_MAX_RIDS);
    }

    r = &m->rids[m->nrids++];
    memcpy(r->id, id, sizeof(id));
    r->send = dir[0] == 's';

    return 0;
}


static int
ngx_calls_sdp_a_simulcast(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    /* the layers and their direction are those of the a=rid lines */

    if (ngx_calls_sdp_trim(&v, n) == 0) {
        return ngx_calls_sdp_attr_error(ps, "no value");
    }

    m->simulcast = 1;

    return 0;
}


static int
ngx_calls_sdp_a_sctp_port(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    uint64_t  val;

    n = ngx_calls_sdp_trim(&v, n);

    if (ngx_calls_sdp_number(v, n, 65535, &val) != 0 || val == 0) {
        return ngx_calls_sdp_attr_error(ps, "bad port");
    }

    m->sctp_port = (uint16_t) val;

    return 0;
}


static int
ngx_calls_sdp_a_max_msg(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    uint64_t  val;

    n = ngx_calls_sdp_trim(&v, n);

    if (ngx_calls_sdp_number(v, n, UINT32_MAX, &val) != 0) {
        return ngx_calls_sdp_attr_error(ps, "bad size");
    }

    m->max_message_size = (uint32_t) val;

    return 0;
}


static int
ngx_calls_sdp_a_candidate(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    n = ngx_calls_sdp_trim(&v, n);

    if (n == 0) {
        return ngx_calls_sdp_attr_error(ps, "no value");
    }

    if (n >= NGX_CALLS_SDP_MAX_CAND_LINE) {
        return ngx_calls_sdp_attr_error(ps, "too long (max %d bytes)",
                                        NGX_CALLS_SDP_MAX_CAND_LINE - 1);
    }

    if (m->ncands >= NGX_CALLS_SDP_MAX_CANDS) {
        return ngx_calls_sdp_attr_error(ps, "more than %d candidates "
                                        "(NGX_CALLS_SDP_MAX_CANDS)",
                                        NGX_CALLS_SDP_MAX_CANDS);
    }

    memcpy(m->cands[m->ncands], v, n);
    m->cands[m->ncands][n] = '\0';
    m->ncands++;

    return 0;
}


static int
ngx_calls_sdp_a_eoc(ngx_calls_sdp_parse_t *ps, ngx_calls_sdp_media_t *m,
    const char *v, size_t n)
{
    m->end_of_candidates = 1;

    return 0;
}


static int
ngx_calls_sdp_a_bundle_only(ngx_calls_sdp_parse_t *ps,
    ngx_calls_sdp_media_t *m, const char *v, size_t n)
{
    m->bundle_only = 1;

    return 0;
}


static int
ngx_calls_sdp_error(ngx_calls_sdp_parse_t *ps, const char *fmt, ...)
{
    int      k;
    va_list  args;

    if (ps->err == NULL || ps->errlen == 0) {
        return -1;
    }

    k = 0;

    if (ps->line > 0) {
        k = snprintf(ps->err, ps->errlen, "line %u: ", ps->line);

        if (k < 0 || (size_t) k >= ps->errlen) {
            return -1;
        }
    }

    va_start(args, fmt);
    vsnprintf(ps->err + k, ps->errlen - k, fmt, args);
    va_end(args);

    return -1;
}


static int
ngx_calls_sdp_attr_error(ngx_calls_sdp_parse_t *ps, const char *fmt, ...)
{
    char     msg[160];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    return ngx_calls_sdp_error(ps, "a=%s: %s", ps->attr ? ps->attr : "?",
                               msg);
}


static size_t
ngx_calls_sdp_token(const char **pp, const char *end, const char **tok)
{
    const char  *p;

    p = *pp;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    *tok = p;

    while (p < end && *p != ' ' && *p != '\t') {
        p++;
    }

    *pp = p;

    return p - *tok;
}


static size_t
ngx_calls_sdp_trim(const char **pp, size_t n)
{
    const char  *p;

    p = *pp;

    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }

    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }

    *pp = p;

    return n;
}


static int
ngx_calls_sdp_number(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    size_t    i;
    uint64_t  v, d;

    if (n == 0 || n > 20) {
        return -1;
    }

    v = 0;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        d = p[i] - '0';

        if (v > (max - d) / 10) {
            return -1;
        }

        v = v * 10 + d;
    }

    *out = v;

    return 0;
}


static int
ngx_calls_sdp_is(unsigned cls, unsigned char c)
{
    int  alnum;

    alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z');

    switch (cls) {

    case NGX_CALLS_SDP_ICE:
        return alnum || c == '+' || c == '/';

    case NGX_CALLS_SDP_RID:
        return alnum || c == '-' || c == '_';

    case NGX_CALLS_SDP_VISIBLE:
        return c > 0x20 && c != 0x7f;

    case NGX_CALLS_SDP_PROTO:
        if (c == '/') {
            return 1;
        }

        /* fall through */

    default: /* NGX_CALLS_SDP_TOKEN */
        return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a
               || c == 0x2b || c == 0x2d || c == 0x2e || alnum
               || (c >= 0x5e && c <= 0x7e);
    }
}


static int
ngx_calls_sdp_store(ngx_calls_sdp_parse_t *ps, char *dst, size_t size,
    const char *p, size_t n, unsigned cls, const char *what)
{
    size_t  i;

    if (n == 0) {
        return ps->attr ? ngx_calls_sdp_attr_error(ps, "no %s", what)
                        : ngx_calls_sdp_error(ps, "no %s", what);
    }

    if (n >= size) {
        return ps->attr
               ? ngx_calls_sdp_attr_error(ps, "%s too long (max %zu bytes)",
                                          what, size - 1)
               : ngx_calls_sdp_error(ps, "%s too long (max %zu bytes)",
                                     what, size - 1);
    }

    for (i = 0; i < n; i++) {
        if (!ngx_calls_sdp_is(cls, (unsigned char) p[i])) {
            return ps->attr
                   ? ngx_calls_sdp_attr_error(ps, "bad character in %s",
                                              what)
                   : ngx_calls_sdp_error(ps, "bad character in %s", what);
        }
    }

    memcpy(dst, p, n);
    dst[n] = '\0';

    return 0;
}


static int
ngx_calls_sdp_eq(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}


static ngx_calls_sdp_codec_t *
ngx_calls_sdp_codec_by_pt(ngx_calls_sdp_media_t *m, unsigned pt)
{
    size_t  i;

    for (i = 0; i < m->ncodecs; i++) {
        if (m->codecs[i].pt == pt) {
            return &m->codecs[i];
        }
    }

    return NULL;
}


static int
ngx_calls_sdp_pt(ngx_calls_sdp_parse_t *ps, const char **pp,
    const char *end, unsigned *pt)
{
    size_t       n;
    uint64_t     val;
    const char  *tok;

    n = ngx_calls_sdp_token(pp, end, &tok);

    if (ngx_calls_sdp_number(tok, n, 127, &val) != 0) {
        return ngx_calls_sdp_attr_error(ps, "bad payload type");
    }

    *pt = (unsigned) val;

    return 0;
}


int
ngx_calls_sdp_check_webrtc(const ngx_calls_sdp_t *sdp, char *err,
    size_t errlen)
{
    size_t                        i, j;
    const ngx_calls_sdp_media_t  *m;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }

    if (!sdp->has_bundle) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "offer has no BUNDLE group");
        }

        return -1;
    }

    for (i = 0; i < sdp->nmedia; i++) {
        m = &sdp->media[i];

        /* port 0: rejected or stopped, nothing will flow there */
        if (m->port == 0) {
            continue;
        }

        for (j = 0; j < sdp->nbundle; j++) {
            if (sdp->bundle[j] == i) {
                break;
            }
        }

        if (j == sdp->nbundle) {
            return ngx_calls_sdp_check_error(err, errlen, i, m,
                                             "is not in the BUNDLE group");
        }

        if (m->ice_ufrag[0] == '\0') {
            return ngx_calls_sdp_check_error(err, errlen, i, m,
                                             "lacks a=ice-ufrag");
        }

        if (m->ice_pwd[0] == '\0') {
            return ngx_calls_sdp_check_error(err, errlen, i, m,
                                             "lacks a=ice-pwd");
        }

        if (m->fp[0] == '\0') {
            return ngx_calls_sdp_check_error(err, errlen, i, m,
                                             "lacks a=fingerprint");
        }

        if (strcmp(m->fp_alg, "sha-256") != 0) {
            return ngx_calls_sdp_check_error(err, errlen, i, m,
                                             "has a %s fingerprint, only "
                                             "sha-256 is supported",
                                             m->fp_alg);
        }

        /* 32 bytes as hex pairs joined by colons */
        if (strlen(m->fp) != 32 * 3 - 1) {
            return ngx_calls_sdp_check_error(err, errlen, i, m,
                                             "has a sha-256 fingerprint "
                                             "that is not 32 bytes");
        }

        if ((m->kind == NGX_CALLS_SDP_AUDIO || m->kind == NGX_CALLS_SDP_VIDEO)
            && !m->rtcp_mux)
        {
            return ngx_calls_sdp_check_error(err, errlen, i, m,
                                             "lacks a=rtcp-mux");
        }
    }

    return 0;
}


static int
ngx_calls_sdp_check_error(char *err, size_t errlen, size_t i,
    const ngx_calls_sdp_media_t *m, const char *fmt, ...)
{
    int      k;
    va_list  args;

    if (err == NULL || errlen == 0) {
        return -1;
    }

    if (m->mid[0] != '\0') {
        k = snprintf(err, errlen, "m-section %zu (mid %s) ", i, m->mid);

    } else {
        k = snprintf(err, errlen, "m-section %zu (no mid) ", i);
    }

    if (k < 0 || (size_t) k >= errlen) {
        return -1;
    }

    va_start(args, fmt);
    vsnprintf(err + k, errlen - k, fmt, args);
    va_end(args);

    return -1;
}


ngx_calls_sdp_media_t *
ngx_calls_sdp_add_media(ngx_calls_sdp_t *sdp)
{
    size_t                  cap;
    ngx_calls_sdp_media_t  *m;

    if (sdp->nmedia >= sdp->media_cap) {
        cap = sdp->media_cap ? sdp->media_cap * 2 : 4;

        if (cap < sdp->media_cap
            || cap > SIZE_MAX / sizeof(ngx_calls_sdp_media_t))
        {
            return NULL;
        }

        m = realloc(sdp->media, cap * sizeof(ngx_calls_sdp_media_t));
        if (m == NULL) {
            return NULL;
        }

        sdp->media = m;
        sdp->media_cap = cap;
    }

    m = &sdp->media[sdp->nmedia++];
    memset(m, 0, sizeof(ngx_calls_sdp_media_t));

    return m;
}


void
ngx_calls_sdp_free(ngx_calls_sdp_t *sdp)
{
    free(sdp->media);
    memset(sdp, 0, sizeof(ngx_calls_sdp_t));
}


long
ngx_calls_sdp_build(const ngx_calls_sdp_t *sdp, char *buf, size_t size)
{
    size_t                        i;
    ngx_calls_sdp_out_t           out;
    const ngx_calls_sdp_media_t  *m;

    /*
     * The struct may come from code that filled it by hand: strings
     * without a NUL or counts past the arrays are refused, never read.
     */
    if (!ngx_calls_sdp_valid(sdp)) {
        goto failed;
    }

    out.buf = buf;
    out.size = size;
    out.len = 0;
    out.full = 0;

    ngx_calls_sdp_printf(&out, "v=0\r\n"
                         "o=- %llu %llu IN IP4 0.0.0.0\r\n"
                         "s=-\r\n"
                         "t=0 0\r\n",
                         (unsigned long long) sdp->sess_id,
                         (unsigned long long) sdp->sess_version);

    if (sdp->has_bundle) {
        ngx_calls_sdp_printf(&out, "a=group:BUNDLE");

        for (i = 0; i < sdp->nbundle; i++) {
            ngx_calls_sdp_printf(&out, " %s", sdp->media[sdp->bundle[i]].mid);
        }

        ngx_calls_sdp_printf(&out, "\r\n");
    }

    if (sdp->extmap_allow_mixed) {
        ngx_calls_sdp_printf(&out, "a=extmap-allow-mixed\r\n");
    }

    ngx_calls_sdp_printf(&out, "a=msid-semantic: %s\r\n",
                         sdp->msid_semantic[0] ? sdp->msid_semantic
                                               : "WMS *");

    if (sdp->ice_lite) {
        ngx_calls_sdp_printf(&out, "a=ice-lite\r\n");
    }

    for (i = 0; i < sdp->nmedia; i++) {
        m = &sdp->media[i];

        /* an m= line needs a format; only a rejected one may invent one */
        if (m->kind != NGX_CALLS_SDP_APPLICATION && m->ncodecs == 0
            && m->port != 0)
        {
            goto failed;
        }

        if (m->kind == NGX_CALLS_SDP_OTHER
            && (m->media[0] == '\0' || m->proto[0] == '\0'))
        {
            goto failed;
        }

        ngx_calls_sdp_build_media(&out, sdp, m);
    }

    if (out.full) {
        goto failed;
    }

    if (out.len < size) {
        buf[out.len] = '\0';
    }

    return (long) out.len;

failed:

    /* callers that ignore -1 must not send a partial description */
    if (size > 0) {
        buf[0] = '\0';
    }

    return -1;
}


static void
ngx_calls_sdp_build_media(ngx_calls_sdp_out_t *out, const ngx_calls_sdp_t *sdp,
    const ngx_calls_sdp_media_t *m)
{
    size_t                       i;
    const char                  *ufrag, *pwd, *alg, *fp, *media, *proto;
    ngx_calls_sdp_setup_e        setup;
    const ngx_calls_sdp_ssrc_t  *s;

    if (m->kind == NGX_CALLS_SDP_APPLICATION) {
        ngx_calls_sdp_printf(out, "m=application %u UDP/DTLS/SCTP "
                             "webrtc-datachannel", (unsigned) m->port);

    } else {
        media = m->media[0] ? m->media
                            : (m->kind == NGX_CALLS_SDP_AUDIO ? "audio"
                                                              : "video");
        proto = m->proto[0] ? m->proto : "UDP/TLS/RTP/SAVPF";

        ngx_calls_sdp_printf(out, "m=%s %u %s", media, (unsigned) m->port,
                             proto);

        for (i = 0; i < m->ncodecs; i++) {
            ngx_calls_sdp_printf(out, " %u", (unsigned) m->codecs[i].pt);
        }

        if (m->ncodecs == 0) {
            ngx_calls_sdp_printf(out, " 0");
        }
    }

    ngx_calls_sdp_printf(out, "\r\nc=IN IP4 0.0.0.0\r\n");

    if (m->mid[0]) {
        ngx_calls_sdp_printf(out, "a=mid:%s\r\n", m->mid);
    }

    ufrag = m->ice_ufrag[0] ? m->ice_ufrag : sdp->ice_ufrag;
    pwd = m->ice_pwd[0] ? m->ice_pwd : sdp->ice_pwd;

    if (m->fp[0]) {
        alg = m->fp_alg;
        fp = m->fp;

    } else {
        alg = sdp->fp_alg;
        fp = sdp->fp;
    }

    setup = m->setup != NGX_CALLS_SDP_SETUP_NONE ? m->setup : sdp->setup;

    if (ufrag[0]) {
        ngx_calls_sdp_printf(out, "a=ice-ufrag:%s\r\n", ufrag);
    }

    if (pwd[0]) {
        ngx_calls_sdp_printf(out, "a=ice-pwd:%s\r\n", pwd);
    }

    if (sdp->ice_trickle) {
        ngx_calls_sdp_printf(out, "a=ice-options:trickle\r\n");
    }

    if (fp[0]) {
        ngx_calls_sdp_printf(out, "a=fingerprint:%s %s\r\n", alg, fp);
    }

    if (setup != NGX_CALLS_SDP_SETUP_NONE) {
        ngx_calls_sdp_printf(out, "a=setup:%s\r\n",
                             ngx_calls_sdp_setup_names[setup]);
    }

    /* a data channel m-section has no direction (RFC 8841 5) */
    if (m->kind != NGX_CALLS_SDP_APPLICATION) {
        ngx_calls_sdp_printf(out, "a=%s\r\n",
                             ngx_calls_sdp_dir_names[m->dir]);
    }

    if (m->rtcp_mux) {
        ngx_calls_sdp_printf(out, "a=rtcp-mux\r\n");
    }

    if (m->rtcp_rsize) {
        ngx_calls_sdp_printf(out, "a=rtcp-rsize\r\n");
    }

    if (m->bundle_only) {
        ngx_calls_sdp_printf(out, "a=bundle-only\r\n");
    }

    for (i = 0; i < m->ncodecs; i++) {
        ngx_calls_sdp_build_codec(out, &m->codecs[i]);
    }

    for (i = 0; i < m->nextmaps; i++) {
        ngx_calls_sdp_printf(out, "a=extmap:%u %s\r\n",
                             (unsigned) m->extmaps[i].id, m->extmaps[i].uri);
    }

    if (m->msid_stream[0]) {
        ngx_calls_sdp_printf(out, "a=msid:%s%s%s\r\n", m->msid_stream,
                             m->msid_track[0] ? " " : "", m->msid_track);
    }

    if (m->fid[0] != 0 || m->fid[1] != 0) {
        ngx_calls_sdp_printf(out, "a=ssrc-group:FID %lu %lu\r\n",
                             (unsigned long) m->fid[0],
                             (unsigned long) m->fid[1]);
    }

    for (i = 0; i < m->nssrcs; i++) {
        s = &m->ssrcs[i];

        if (s->cname[0]) {
            ngx_calls_sdp_printf(out, "a=ssrc:%lu cname:%s\r\n",
                                 (unsigned long) s->ssrc, s->cname);
        }

        if (s->msid_stream[0]) {
            ngx_calls_sdp_printf(out, "a=ssrc:%lu msid:%s%s%s\r\n",
                                 (unsigned long) s->ssrc, s->msid_stream,
                                 s->msid_track[0] ? " " : "",
                                 s->msid_track);
        }
    }

    ngx_calls_sdp_build_rids(out, m);

    if (m->sctp_port) {
        ngx_calls_sdp_printf(out, "a=sctp-port:%u\r\n",
                             (unsigned) m->sctp_port);
    }

    if (m->max_message_size) {
        ngx_calls_sdp_printf(out, "a=max-message-size:%lu\r\n",
                             (unsigned long) m->max_message_size);
    }

    for (i = 0; i < m->ncands; i++) {
        ngx_calls_sdp_printf(out, "a=candidate:%s\r\n", m->cands[i]);
    }

    if (m->end_of_candidates) {
        ngx_calls_sdp_printf(out, "a=end-of-candidates\r\n");
    }
}


static void
ngx_calls_sdp_build_codec(ngx_calls_sdp_out_t *out,
    const ngx_calls_sdp_codec_t *c)
{
    unsigned  pt;

    pt = c->pt;

    if (c->name[0]) {
        ngx_calls_sdp_printf(out, "a=rtpmap:%u %s/%lu", pt, c->name,
                             (unsigned long) c->clock);

        if (c->channels) {
            ngx_calls_sdp_printf(out, "/%u", (unsigned) c->channels);
        }

        ngx_calls_sdp_printf(out, "\r\n");
    }

    /* in Chrome's order */

    if (c->fb & NGX_CALLS_SDP_FB_REMB) {
        ngx_calls_sdp_printf(out, "a=rtcp-fb:%u goog-remb\r\n", pt);
    }

    if (c->fb & NGX_CALLS_SDP_FB_TWCC) {
        ngx_calls_sdp_printf(out, "a=rtcp-fb:%u transport-cc\r\n", pt);
    }

    if (c->fb & NGX_CALLS_SDP_FB_CCM_FIR) {
        ngx_calls_sdp_printf(out, "a=rtcp-fb:%u ccm fir\r\n", pt);
    }

    if (c->fb & NGX_CALLS_SDP_FB_NACK) {
        ngx_calls_sdp_printf(out, "a=rtcp-fb:%u nack\r\n", pt);
    }

    if (c->fb & NGX_CALLS_SDP_FB_NACK_PLI) {
        ngx_calls_sdp_printf(out, "a=rtcp-fb:%u nack pli\r\n", pt);
    }

    if (c->fmtp[0]) {
        ngx_calls_sdp_printf(out, "a=fmtp:%u %s\r\n", pt, c->fmtp);

    } else if (c->apt && strcasecmp(c->name, "rtx") == 0) {
        /* an rtx codec is useless without its apt= */
        ngx_calls_sdp_printf(out, "a=fmtp:%u apt=%u\r\n", pt,
                             (unsigned) c->apt);
    }
}


static void
ngx_calls_sdp_build_rids(ngx_calls_sdp_out_t *out,
    const ngx_calls_sdp_media_t *m)
{
    size_t    i;
    unsigned  nsend, nrecv;

    if (m->nrids == 0) {
        return;
    }

    nsend = 0;
    nrecv = 0;

    for (i = 0; i < m->nrids; i++) {
        ngx_calls_sdp_printf(out, "a=rid:%s %s\r\n", m->rids[i].id,
                             m->rids[i].send ? "send" : "recv");

        if (m->rids[i].send) {
            nsend++;

        } else {
            nrecv++;
        }
    }

    /* "a=simulcast:send l;h", with "recv ..." after when both exist */

    ngx_calls_sdp_printf(out, "a=simulcast:");

    if (nsend) {
        ngx_calls_sdp_build_layers(out, m, 1);
    }

    if (nsend && nrecv) {
        ngx_calls_sdp_printf(out, " ");
    }

    if (nrecv) {
        ngx_calls_sdp_build_layers(out, m, 0);
    }

    ngx_calls_sdp_printf(out, "\r\n");
}


static void
ngx_calls_sdp_build_layers(ngx_calls_sdp_out_t *out,
    const ngx_calls_sdp_media_t *m, unsigned send)
{
    size_t       i;
    const char  *sep;

    ngx_calls_sdp_printf(out, "%s ", send ? "send" : "recv");

    sep = "";

    for (i = 0; i < m->nrids; i++) {
        if (m->rids[i].send == send) {
            ngx_calls_sdp_printf(out, "%s%s", sep, m->rids[i].id);
            sep = ";";
        }
    }
}


static void
ngx_calls_sdp_printf(ngx_calls_sdp_out_t *out, const char *fmt, ...)
{
    int      k;
    char     tmp[1024];
    va_list  args;

    if (out->full) {
        return;
    }

    /*
     * Formatted into a scratch buffer first: the text may fill buf to
     * its last byte, with no room left for the NUL vsnprintf writes.
     */
    va_start(args, fmt);
    k = vsnprintf(tmp, sizeof(tmp), fmt, args);
    va_end(args);

    if (k < 0 || (size_t) k >= sizeof(tmp)
        || (size_t) k > out->size - out->len)
    {
        out->full = 1;
        return;
    }

    memcpy(out->buf + out->len, tmp, k);
    out->len += k;
}


static int
ngx_calls_sdp_terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}


static int
ngx_calls_sdp_valid(const ngx_calls_sdp_t *sdp)
{
    size_t                        i, j;
    const ngx_calls_sdp_media_t  *m;

    if (!ngx_calls_sdp_term(sdp->ice_ufrag)
        || !ngx_calls_sdp_term(sdp->ice_pwd)
        || !ngx_calls_sdp_term(sdp->fp_alg)
        || !ngx_calls_sdp_term(sdp->fp)
        || !ngx_calls_sdp_term(sdp->msid_semantic)
        || (unsigned) sdp->setup > NGX_CALLS_SDP_SETUP_PASSIVE
        || sdp->nbundle > NGX_CALLS_SDP_MAX_BUNDLE
        || (sdp->nmedia > 0 && sdp->media == NULL))
    {
        return 0;
    }

    for (i = 0; i < sdp->nbundle; i++) {
        if (sdp->bundle[i] >= sdp->nmedia
            || sdp->media[sdp->bundle[i]].mid[0] == '\0')
        {
            return 0;
        }
    }

    for (i = 0; i < sdp->nmedia; i++) {
        m = &sdp->media[i];

        if (!ngx_calls_sdp_term(m->media)
            || !ngx_calls_sdp_term(m->proto)
            || !ngx_calls_sdp_term(m->mid)
            || !ngx_calls_sdp_term(m->ice_ufrag)
            || !ngx_calls_sdp_term(m->ice_pwd)
            || !ngx_calls_sdp_term(m->fp_alg)
            || !ngx_calls_sdp_term(m->fp)
            || !ngx_calls_sdp_term(m->msid_stream)
            || !ngx_calls_sdp_term(m->msid_track)
            || (unsigned) m->kind > NGX_CALLS_SDP_OTHER
            || (unsigned) m->dir > NGX_CALLS_SDP_INACTIVE
            || (unsigned) m->setup > NGX_CALLS_SDP_SETUP_PASSIVE
            || m->ncodecs > NGX_CALLS_SDP_MAX_CODECS
            || m->nextmaps > NGX_CALLS_SDP_MAX_EXTMAPS
            || m->nssrcs > NGX_CALLS_SDP_MAX_SSRCS
            || m->nrids > NGX_CALLS_SDP_MAX_RIDS
            || m->ncands > NGX_CALLS_SDP_MAX_CANDS)
        {
            return 0;
        }

        for (j = 0; j < m->ncodecs; j++) {
            if (!ngx_calls_sdp_term(m->codecs[j].name)
                || !ngx_calls_sdp_term(m->codecs[j].fmtp)
                || m->codecs[j].pt > 127)
            {
                return 0;
            }
        }

        for (j = 0; j < m->nextmaps; j++) {
            if (!ngx_calls_sdp_term(m->extmaps[j].uri)) {
                return 0;
            }
        }

        for (j = 0; j < m->nssrcs; j++) {
            if (!ngx_calls_sdp_term(m->ssrcs[j].cname)
                || !ngx_calls_sdp_term(m->ssrcs[j].msid_stream)
                || !ngx_calls_sdp_term(m->ssrcs[j].msid_track))
            {
                return 0;
            }
        }

        for (j = 0; j < m->nrids; j++) {
            if (!ngx_calls_sdp_term(m->rids[j].id)) {
                return 0;
            }
        }

        for (j = 0; j < m->ncands; j++) {
            if (!ngx_calls_sdp_term(m->cands[j])) {
                return 0;
            }
        }
    }

    return 1;
}


const ngx_calls_sdp_codec_t *
ngx_calls_sdp_find_codec(const ngx_calls_sdp_media_t *m, const char *name,
    uint32_t clock)
{
    size_t                        i, n;
    const ngx_calls_sdp_codec_t  *c;

    n = m->ncodecs < NGX_CALLS_SDP_MAX_CODECS ? m->ncodecs
                                              : NGX_CALLS_SDP_MAX_CODECS;

    for (i = 0; i < n; i++) {
        c = &m->codecs[i];

        if (strncasecmp(c->name, name, sizeof(c->name)) == 0
            && strlen(name) < sizeof(c->name)
            && (clock == 0 || c->clock == clock))
        {
            return c;
        }
    }

    return NULL;
}


uint8_t
ngx_calls_sdp_find_extmap(const ngx_calls_sdp_media_t *m, const char *uri)
{
    size_t  i, n;

    n = m->nextmaps < NGX_CALLS_SDP_MAX_EXTMAPS ? m->nextmaps
                                                : NGX_CALLS_SDP_MAX_EXTMAPS;

    for (i = 0; i < n; i++) {
        if (strncmp(m->extmaps[i].uri, uri, sizeof(m->extmaps[i].uri)) == 0
            && strlen(uri) < sizeof(m->extmaps[i].uri))
        {
            return m->extmaps[i].id;
        }
    }

    return 0;
}
