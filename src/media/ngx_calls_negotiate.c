
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * Offer/answer as rtcd does it: the client offers first (only the data
 * channel), we answer; the client offers again whenever it adds or
 * removes its own tracks; we offer to add (or remove) one forwarded track
 * per round, serialized per session under the signaling lock, and drop a
 * client offer that collides with ours (the client is the polite peer).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cJSON.h>

#include "ngx_calls_session.h"
#include "ngx_calls_dc.h"


static int ngx_calls_negotiate_offer(ngx_calls_session_t *s,
    ngx_calls_sdp_t *sdp, int from_dc, uint64_t now);
static int ngx_calls_negotiate_answer(ngx_calls_session_t *s,
    ngx_calls_sdp_t *sdp, uint64_t now);
static int ngx_calls_negotiate_transport(ngx_calls_session_t *s,
    ngx_calls_sdp_t *sdp);
static int ngx_calls_negotiate_media(ngx_calls_session_t *s, size_t i,
    ngx_calls_sdp_media_t *m, uint64_t now);
static void ngx_calls_negotiate_extmaps(ngx_calls_session_t *s,
    ngx_calls_sdp_media_t *m);
static uint8_t ngx_calls_negotiate_ext_id(ngx_calls_session_t *s,
    const char *uri, int allocate);
static void ngx_calls_negotiate_extmap(ngx_calls_session_t *s,
    ngx_calls_sdp_media_t *m, const char *uri);
static int ngx_calls_negotiate_grow_ops(ngx_calls_session_t *s);
static ngx_calls_transceiver_t *ngx_calls_negotiate_add_tr(
    ngx_calls_session_t *s);
static int ngx_calls_negotiate_start(ngx_calls_session_t *s,
    ngx_calls_op_t *op, uint64_t now);
static void ngx_calls_negotiate_done(ngx_calls_session_t *s, uint64_t now);
static int ngx_calls_negotiate_describe(ngx_calls_session_t *s,
    const char *type, int on_dc);
static int ngx_calls_negotiate_local(ngx_calls_session_t *s, int offer,
    ngx_calls_sdp_t *sdp);
static void ngx_calls_negotiate_media_map(ngx_calls_session_t *s);
static void ngx_calls_negotiate_candidates(ngx_calls_session_t *s);
static int ngx_calls_negotiate_send_json(ngx_calls_session_t *s,
    unsigned rtc_type, cJSON *json, int on_dc);
static void ngx_calls_negotiate_sink_extmap(ngx_calls_sink_t *sink,
    ngx_calls_sdp_media_t *m);


int
ngx_calls_negotiate_sdp(ngx_calls_session_t *s, const char *json,
    size_t len, int from_dc, uint64_t now)
{
    int               rc;
    char              err[256];
    cJSON            *root, *type, *text;
    ngx_calls_sdp_t   sdp;

    if (len > NGX_CALLS_MAX_SDP) {
        ngx_calls_error(s, "session description larger than %d bytes",
                        NGX_CALLS_MAX_SDP);
        return -1;
    }

    root = cJSON_ParseWithLength(json, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        ngx_calls_error(s, "session description is not a JSON object");
        return -1;
    }

    type = cJSON_GetObjectItemCaseSensitive(root, "type");
    text = cJSON_GetObjectItemCaseSensitive(root, "sdp");

    if (!cJSON_IsString(type) || !cJSON_IsString(text)) {
        cJSON_Delete(root);
        ngx_calls_error(s, "session description needs string fields "
                        "\"type\" and \"sdp\"");
        return -1;
    }

    if (strcmp(type->valuestring, "offer") != 0
        && strcmp(type->valuestring, "answer") != 0)
    {
        ngx_calls_error(s, "session description of type \"%.32s\" is not "
                        "supported (offer or answer)", type->valuestring);
        cJSON_Delete(root);
        return -1;
    }

    memset(&sdp, 0, sizeof(ngx_calls_sdp_t));

    if (ngx_calls_sdp_parse(&sdp, text->valuestring,
                            strlen(text->valuestring), err, sizeof(err))
        != 0)
    {
        ngx_calls_error(s, "invalid %s SDP: %s", type->valuestring, err);
        ngx_calls_sdp_free(&sdp);
        cJSON_Delete(root);
        return -1;
    }

    if (strcmp(type->valuestring, "offer") == 0) {
        rc = ngx_calls_negotiate_offer(s, &sdp, from_dc, now);

    } else {
        rc = ngx_calls_negotiate_answer(s, &sdp, now);
    }

    ngx_calls_sdp_free(&sdp);
    cJSON_Delete(root);

    return rc;
}


int
ngx_calls_negotiate_ice(ngx_calls_session_t *s, const char *json, size_t len)
{
    cJSON  *root, *cand;

    root = cJSON_ParseWithLength(json, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        ngx_calls_error(s, "ICE candidate is not a JSON object");
        return -1;
    }

    cand = cJSON_GetObjectItemCaseSensitive(root, "candidate");

    if (!cJSON_IsString(cand)) {
        cJSON_Delete(root);
        ngx_calls_error(s, "ICE candidate needs a string field "
                        "\"candidate\"");
        return -1;
    }

    /*
     * The browser checks our candidates; we answer its checks from
     * wherever they come (peer-reflexive), so its candidates are only
     * checked for form.  An empty one ends the candidates.
     */

    if (cand->valuestring[0] != '\0'
        && strncmp(cand->valuestring, "candidate:", 10) != 0)
    {
        cJSON_Delete(root);
        ngx_calls_error(s, "ICE candidate does not start with "
                        "\"candidate:\"");
        return -1;
    }

    cJSON_Delete(root);

    return 0;
}


void
ngx_calls_negotiate_queue(ngx_calls_session_t *s, ngx_calls_op_e type,
    ngx_calls_session_t *sender, ngx_calls_track_e track, uint64_t now)
{
    size_t           i;
    ngx_calls_op_t  *op;

    /* one renegotiation covers every video track gone meanwhile */

    for (i = 0; type == NGX_CALLS_OP_RENEGOTIATE && i < s->nops; i++) {
        if (s->ops[(s->ops_head + i) % s->ops_size].type == type) {
            return;
        }
    }

    if (s->nops == NGX_CALLS_MAX_OPS) {
        ngx_calls_log(NGX_CALLS_LOG_ERR, "calls: session %s: more than %d "
                      "track changes queued, dropping one", s->id,
                      NGX_CALLS_MAX_OPS);
        return;
    }

    if (s->nops == s->ops_size && ngx_calls_negotiate_grow_ops(s) != 0) {
        ngx_calls_log(NGX_CALLS_LOG_ERR, "calls: session %s: out of memory "
                      "for track changes, dropping one", s->id);
        return;
    }

    op = &s->ops[(s->ops_head + s->nops) % s->ops_size];
    op->type = type;
    op->sender = sender;
    op->track = track;
    op->queued = now;
    s->nops++;

    if (type == NGX_CALLS_OP_RENEGOTIATE) {
        /*
         * Tracks often go together (a share's layers and its AV1 copy, a
         * leaving user's screen and camera): the offer waits for the
         * timer, after the events at hand, so that one covers them all.
         */
        ngx_calls_session_schedule(s, now);
        return;
    }

    ngx_calls_negotiate_next(s, now);
}


void
ngx_calls_negotiate_unqueue(ngx_calls_session_t *s,
    ngx_calls_session_t *sender, ngx_calls_track_e track)
{
    size_t           i;
    ngx_calls_op_t  *op;

    for (i = 0; i < s->nops; i++) {
        op = &s->ops[(s->ops_head + i) % s->ops_size];

        if (op->type == NGX_CALLS_OP_ADD && op->sender == sender
            && op->track == track)
        {
            op->sender = NULL;
        }
    }
}


void
ngx_calls_negotiate_next(ngx_calls_session_t *s, uint64_t now)
{
    ngx_calls_op_t  op;

    while (s->nops > 0
           && s->sig == NGX_CALLS_SIG_STABLE
           && s->lock == NGX_CALLS_LOCK_FREE
           && s->tracks_init
           && !s->closed && !s->close_pending)
    {
        op = s->ops[s->ops_head];
        s->ops_head = (s->ops_head + 1) % s->ops_size;
        s->nops--;

        if (op.type == NGX_CALLS_OP_ADD && op.sender == NULL) {
            continue;                     /* its track ended meanwhile */
        }

        if (ngx_calls_negotiate_start(s, &op, now) == 0) {
            return;
        }
    }

    if (s->nops > 0 && s->lock == NGX_CALLS_LOCK_CLIENT) {
        ngx_calls_session_schedule(s, s->lock_since + NGX_CALLS_LOCK_TIMEOUT);
    }
}


void
ngx_calls_negotiate_timer(ngx_calls_session_t *s, uint64_t now)
{
    if (s->sig == NGX_CALLS_SIG_LOCAL_OFFER
        && now >= s->offer_sent + NGX_CALLS_SIGNALING_TIMEOUT)
    {
        ngx_calls_log(NGX_CALLS_LOG_WARN, "calls: session %s: no answer to "
                      "our offer within %d s, track reverted", s->id,
                      NGX_CALLS_SIGNALING_TIMEOUT / 1000);

        ngx_calls_stat(s, NGX_CALLS_STAT_ERROR, 1, "track");

        /*
         * The client may have applied the offer: the m-section stays (the
         * next offer must list it) but carries nothing.
         */

        if (s->op_tr < s->ntrs && s->trs[s->op_tr].sink
            && !s->trs[s->op_tr].sink->active)
        {
            ngx_calls_sink_destroy(s->trs[s->op_tr].sink);
        }

        ngx_calls_negotiate_done(s, now);
        return;
    }

    if (s->lock == NGX_CALLS_LOCK_CLIENT && s->nops > 0
        && now >= s->lock_since + NGX_CALLS_LOCK_TIMEOUT)
    {
        /*
         * rtcd gives up its own track change here; a client that forgot
         * to unlock must not keep others' media from this session.
         */
        ngx_calls_log(NGX_CALLS_LOG_WARN, "calls: session %s: client held "
                      "the signaling lock for %d s, taking it back", s->id,
                      NGX_CALLS_LOCK_TIMEOUT / 1000);

        ngx_calls_stat(s, NGX_CALLS_STAT_ERROR, 1, "signaling_lock_timeout");

        s->lock = NGX_CALLS_LOCK_FREE;
    }

    ngx_calls_negotiate_next(s, now);
}


uint64_t
ngx_calls_negotiate_deadline(ngx_calls_session_t *s)
{
    if (s->sig == NGX_CALLS_SIG_LOCAL_OFFER) {
        return s->offer_sent + NGX_CALLS_SIGNALING_TIMEOUT;
    }

    if (s->lock == NGX_CALLS_LOCK_CLIENT && s->nops > 0) {
        return s->lock_since + NGX_CALLS_LOCK_TIMEOUT;
    }

    return 0;
}


void
ngx_calls_negotiate_free(ngx_calls_session_t *s)
{
    free(s->trs);
    s->trs = NULL;
    s->ntrs = 0;
    s->trs_cap = 0;

    free(s->ops);
    s->ops = NULL;
    s->ops_size = 0;
    s->ops_head = 0;
    s->nops = 0;
}


/*
 * Most sessions never have more than a few track changes queued (one
 * per speaker who joins meanwhile), so the ring starts small and doubles
 * up to NGX_CALLS_MAX_OPS, rather than every session carrying room for
 * the most.  Growing unrolls it: the queued ops keep their order from 0.
 */

static int
ngx_calls_negotiate_grow_ops(ngx_calls_session_t *s)
{
    size_t           i, size;
    ngx_calls_op_t  *ops;

    size = s->ops_size ? 2 * s->ops_size : NGX_CALLS_MIN_OPS;

    if (size > NGX_CALLS_MAX_OPS) {
        size = NGX_CALLS_MAX_OPS;
    }

    ops = malloc(size * sizeof(ngx_calls_op_t));
    if (ops == NULL) {
        return -1;
    }

    for (i = 0; i < s->nops; i++) {
        ops[i] = s->ops[(s->ops_head + i) % s->ops_size];
    }

    free(s->ops);

    s->ops = ops;
    s->ops_size = size;
    s->ops_head = 0;

    return 0;
}


/* the client's offer */

static int
ngx_calls_negotiate_offer(ngx_calls_session_t *s, ngx_calls_sdp_t *sdp,
    int from_dc, uint64_t now)
{
    int                       first, had[NGX_CALLS_TRACK_VIDEO + 1];
    char                      err[256];
    size_t                    i;
    unsigned                  type;
    ngx_calls_sdp_media_t    *m;

    if (s->sig != NGX_CALLS_SIG_STABLE) {

        /* glare: rtcd is impolite and drops the client's offer unanswered */

        ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: client offer "
                      "dropped, our offer is pending", s->id);
        return 0;
    }

    if (ngx_calls_sdp_check_webrtc(sdp, err, sizeof(err)) != 0) {
        ngx_calls_error(s, "offer refused: %s", err);
        return -1;
    }

    if (sdp->nmedia < s->ntrs) {
        ngx_calls_error(s, "offer refused: it has %zu m-sections, the "
                        "session has %zu (m-sections cannot be removed)",
                        sdp->nmedia, s->ntrs);
        return -1;
    }

    if (ngx_calls_negotiate_transport(s, sdp) != 0) {
        return -1;
    }

    for (i = 0; i < s->ntrs; i++) {
        if (strcmp(sdp->media[i].mid, s->trs[i].mid) != 0
            || (sdp->media[i].kind != s->trs[i].kind
                && !s->trs[i].rejected))
        {
            ngx_calls_error(s, "offer refused: m-section %zu changed its "
                            "mid or media kind (was mid \"%s\")", i,
                            s->trs[i].mid);
            return -1;
        }
    }

    /* every new m-section is acceptable before anything changes */

    for (i = s->ntrs; i < sdp->nmedia; i++) {
        m = &sdp->media[i];

        if (m->port == 0) {
            continue;
        }

        if (m->kind == NGX_CALLS_SDP_AUDIO
            && ngx_calls_sdp_find_codec(m, "opus", 48000) == NULL)
        {
            ngx_calls_error(s, "offer refused: no common codec in "
                            "m-section %zu (mid %s): audio needs "
                            "opus/48000/2", i, m->mid);
            return -1;
        }

        if (m->kind == NGX_CALLS_SDP_VIDEO
            && ngx_calls_sdp_find_codec(m, "VP8", 90000) == NULL
            && ngx_calls_sdp_find_codec(m, "AV1", 90000) == NULL)
        {
            ngx_calls_error(s, "offer refused: no common codec in "
                            "m-section %zu (mid %s): video needs VP8 or "
                            "AV1", i, m->mid);
            return -1;
        }
    }

    first = !s->answered;

    for (type = NGX_CALLS_TRACK_VOICE; type <= NGX_CALLS_TRACK_VIDEO; type++)
    {
        had[type] = ngx_calls_call_has_track(s, type);
    }

    for (i = 0; i < sdp->nmedia; i++) {
        ngx_calls_negotiate_extmaps(s, &sdp->media[i]);
    }

    for (i = 0; i < sdp->nmedia; i++) {
        if (ngx_calls_negotiate_media(s, i, &sdp->media[i], now) != 0) {
            return -1;
        }
    }

    s->extmap_allow_mixed = sdp->extmap_allow_mixed;

    if (ngx_calls_negotiate_describe(s, "answer", from_dc) != 0) {
        return -1;
    }

    s->answered = 1;

    if (first) {
        s->answered_at = now;
        ngx_calls_negotiate_candidates(s);
    }

    /* new tracks of this client go to everyone already set up */

    for (type = NGX_CALLS_TRACK_VOICE; type <= NGX_CALLS_TRACK_VIDEO; type++)
    {
        if (!had[type] && ngx_calls_call_has_track(s, type)) {
            ngx_calls_call_announce(s, type, now);
        }
    }

    return 0;
}


/* ICE credentials, DTLS fingerprint and role: fixed for the session */

static int
ngx_calls_negotiate_transport(ngx_calls_session_t *s, ngx_calls_sdp_t *sdp)
{
    size_t                  i;
    ngx_calls_sdp_media_t  *m;

    m = NULL;

    for (i = 0; i < sdp->nmedia; i++) {
        if (sdp->media[i].port != 0) {
            m = &sdp->media[i];
            break;
        }
    }

    if (m == NULL) {
        ngx_calls_error(s, "offer refused: every m-section is rejected");
        return -1;
    }

    if (!s->answered) {
        if (strlen(m->ice_ufrag) >= sizeof(s->remote_ufrag)
            || strlen(m->fp) >= sizeof(s->remote_fp))
        {
            ngx_calls_error(s, "offer refused: ICE ufrag or fingerprint too "
                            "long");
            return -1;
        }

        strcpy(s->remote_ufrag, m->ice_ufrag);
        strcpy(s->remote_fp_alg, m->fp_alg);
        strcpy(s->remote_fp, m->fp);

        /* rtcd answers as DTLS client unless the client insists on it */
        s->dtls_client = (m->setup != NGX_CALLS_SDP_SETUP_ACTIVE);

        return 0;
    }

    if (strcmp(s->remote_ufrag, m->ice_ufrag) != 0) {
        ngx_calls_error(s, "offer refused: ICE restart (new ufrag) is not "
                        "supported");
        return -1;
    }

    if (strcasecmp(s->remote_fp, m->fp) != 0) {
        ngx_calls_error(s, "offer refused: the DTLS fingerprint changed "
                        "mid-session");
        return -1;
    }

    return 0;
}


static int
ngx_calls_negotiate_media(ngx_calls_session_t *s, size_t i,
    ngx_calls_sdp_media_t *m, uint64_t now)
{
    int                           sends;
    size_t                        j;
    const char                   *stream;
    ngx_calls_codec_e             codec;
    ngx_calls_track_e             type;
    ngx_calls_source_t           *src;
    ngx_calls_transceiver_t      *tr;
    const ngx_calls_sdp_codec_t  *c;

    if (i < s->ntrs) {
        tr = &s->trs[i];

    } else {
        tr = ngx_calls_negotiate_add_tr(s);
        if (tr == NULL) {
            ngx_calls_error(s, "out of memory");
            return -1;
        }

        tr->kind = m->kind;
        strcpy(tr->mid, m->mid);
        snprintf(tr->media, sizeof(tr->media), "%s", m->media);
        snprintf(tr->proto, sizeof(tr->proto), "%s", m->proto);
        tr->pt = m->ncodecs ? m->codecs[0].pt : 0;

        switch (m->kind) {

        case NGX_CALLS_SDP_APPLICATION:
            tr->role = NGX_CALLS_TR_DATA;
            tr->sctp_port = m->sctp_port ? m->sctp_port
                                         : NGX_CALLS_SCTP_DEFAULT_PORT;

            /* one association, one data m-section */
            for (j = 0; j + 1 < s->ntrs; j++) {
                if (s->trs[j].role == NGX_CALLS_TR_DATA
                    && !s->trs[j].rejected)
                {
                    tr->rejected = 1;
                }
            }

            break;

        case NGX_CALLS_SDP_AUDIO:
            tr->role = NGX_CALLS_TR_RECV;
            tr->codec = NGX_CALLS_CODEC_OPUS;
            break;

        case NGX_CALLS_SDP_VIDEO:
            tr->role = NGX_CALLS_TR_RECV;

            /* VP8 where offered (Chrome lists AV1 too), else AV1 alone */
            tr->codec = ngx_calls_sdp_find_codec(m, "VP8", 90000)
                        ? NGX_CALLS_CODEC_VP8 : NGX_CALLS_CODEC_AV1;

            for (j = 0; j < m->nrids && tr->nrids < NGX_CALLS_MAX_LAYERS;
                 j++)
            {
                if (m->rids[j].send) {
                    strcpy(tr->rids[tr->nrids++], m->rids[j].id);
                }
            }

            break;

        default:
            tr->role = NGX_CALLS_TR_RECV;
            tr->rejected = 1;
            ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: %s "
                          "m-section (mid %s) rejected: not supported",
                          s->id, m->media, m->mid);
            break;
        }

        if (m->port == 0) {
            tr->rejected = 1;
        }
    }

    if (tr->role == NGX_CALLS_TR_DATA || tr->rejected) {
        return 0;
    }

    if (m->port == 0) {

        /* the client stopped the transceiver */

        tr->rejected = 1;

        while (tr->nsources) {
            ngx_calls_source_destroy(tr->sources[tr->nsources - 1], now);
        }

        if (tr->sink) {
            ngx_calls_sink_destroy(tr->sink);
        }

        return 0;
    }

    codec = tr->codec;
    c = ngx_calls_sdp_find_codec(m, codec == NGX_CALLS_CODEC_OPUS ? "opus"
                                    : codec == NGX_CALLS_CODEC_VP8 ? "VP8"
                                                                   : "AV1",
                                 codec == NGX_CALLS_CODEC_OPUS ? 48000
                                                               : 90000);
    if (c == NULL) {
        ngx_calls_error(s, "offer refused: m-section %zu (mid %s) dropped "
                        "its codec %s", i, m->mid,
                        ngx_calls_codec_mime(codec));
        return -1;
    }

    /*
     * An m-section we offered keeps our payload type (browsers refuse
     * renumbering).  The client may still send on it: after a rollback a
     * browser can attach its microphone to one of our m-sections.
     */

    if (tr->role == NGX_CALLS_TR_RECV) {
        tr->pt = c->pt;

    } else if (c->pt != tr->pt) {
        ngx_calls_error(s, "offer refused: m-section %zu (mid %s) changed "
                        "the payload type from %u to %u", i, m->mid,
                        tr->pt, c->pt);
        return -1;
    }

    sends = (m->dir == NGX_CALLS_SDP_SENDRECV
             || m->dir == NGX_CALLS_SDP_SENDONLY);

    tr->client_sends = sends;

    if (!sends) {
        while (tr->nsources) {
            ngx_calls_source_destroy(tr->sources[tr->nsources - 1], now);
        }

        return 0;
    }

    if (tr->nsources == 0) {

        /*
         * What the track is, from its MediaStream id and kind, as rtcd's
         * OnTrack: the stream announced by screen_on is the screen (and
         * its audio), the one of video_on the camera; other audio is
         * the voice, other video is refused.
         */

        stream = m->msid_stream[0] ? m->msid_stream
                 : m->nssrcs ? m->ssrcs[0].msid_stream : "";

        if (tr->kind == NGX_CALLS_SDP_AUDIO) {
            type = (s->screen_stream[0]
                    && strcmp(stream, s->screen_stream) == 0)
                   ? NGX_CALLS_TRACK_SCREEN_AUDIO : NGX_CALLS_TRACK_VOICE;

        } else if (s->screen_stream[0]
                   && strcmp(stream, s->screen_stream) == 0)
        {
            type = NGX_CALLS_TRACK_SCREEN;

            if (s->call->screen && s->call->screen != s) {
                tr->rejected = 1;
                ngx_calls_error(s, "screen track of stream \"%s\" refused: "
                                "session %s is sharing its screen already",
                                stream, s->call->screen->id);
                return 0;
            }

        } else if (s->video_stream[0]
                   && strcmp(stream, s->video_stream) == 0)
        {
            type = NGX_CALLS_TRACK_VIDEO;

        } else if (tr->role == NGX_CALLS_TR_SEND) {

            /*
             * One of our m-sections, which a browser may mark sendrecv
             * after a rollback without a track of its own ("a=msid:-"):
             * what it sends there is ignored, as rtcd ignores an
             * unexpected track, and what we forward on it goes on.
             */

            ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: video "
                          "of stream \"%s\" on m-section %zu (mid %s), "
                          "which carries another participant's track, "
                          "ignored", s->id, stream, i, m->mid);
            return 0;

        } else {
            tr->rejected = 1;
            ngx_calls_error(s, "video track of stream \"%s\" refused: it is "
                            "neither the screen (screen_on) nor the camera "
                            "(video_on) stream", stream);
            return 0;
        }

        for (j = 0; j < (tr->nrids ? tr->nrids : 1); j++) {
            src = ngx_calls_source_create(s, tr, type, codec,
                                          tr->nrids ? tr->rids[j] : "", now);
            if (src == NULL) {
                ngx_calls_error(s, "out of memory");
                return -1;
            }

            src->muted = (type == NGX_CALLS_TRACK_VOICE) && s->muted;
        }

        if (type == NGX_CALLS_TRACK_SCREEN) {
            s->call->screen = s;
        }
    }

    if (ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_TWCC)) {
        s->ext_twcc = ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_TWCC);
    }

    /* SSRCs: signaled for a single encoding, learned from rids otherwise */

    for (j = 0; j < tr->nsources; j++) {
        src = tr->sources[j];

        src->pt = c->pt;
        src->ext_audio_level =
            ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_AUDIO_LEVEL);
        src->ext_mid = ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_MID);
        src->ext_rid = ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_RID);

        if (src->rid[0] == '\0' && m->nssrcs > 0 && src->ssrc == 0) {
            src->ssrc = m->ssrcs[0].ssrc;
        }
    }

    return 0;
}


/* RFC 8285 in a BUNDLE: one id means one extension across m-sections */

static void
ngx_calls_negotiate_extmaps(ngx_calls_session_t *s, ngx_calls_sdp_media_t *m)
{
    size_t   i;
    uint8_t  id;

    for (i = 0; i < m->nextmaps; i++) {
        id = m->extmaps[i].id;

        if (id >= 1 && id <= NGX_CALLS_RTP_MAX_EXT_ID
            && s->ext_uris[id][0] == '\0')
        {
            snprintf(s->ext_uris[id], NGX_CALLS_SDP_MAX_URI, "%s",
                     m->extmaps[i].uri);
        }
    }
}


/*
 * An id for an extension the client has not used yet: the one browsers
 * pick for it when free.  Our offer may cross an offer of the client's,
 * and Chrome refuses to see an id it used change meaning, even one of a
 * rolled back offer.
 */

static uint8_t
ngx_calls_negotiate_ext_id(ngx_calls_session_t *s, const char *uri,
    int allocate)
{
    uint8_t  id, want;

    static const char  *usual[NGX_CALLS_RTP_MAX_EXT_ID + 1] = {
        NULL,
        NGX_CALLS_URI_AUDIO_LEVEL,                /* 1 */
        NGX_CALLS_URI_ABS_SEND_TIME,              /* 2 */
        NGX_CALLS_URI_TWCC,                       /* 3 */
        NGX_CALLS_URI_MID,                        /* 4 */
        NULL, NULL, NULL, NULL, NULL,
        NGX_CALLS_URI_RID,                        /* 10 */
        NGX_CALLS_URI_RRID,                       /* 11 */
        NULL, NULL, NULL
    };

    for (id = 1; id <= NGX_CALLS_RTP_MAX_EXT_ID; id++) {
        if (strcmp(s->ext_uris[id], uri) == 0) {
            return id;
        }
    }

    if (!allocate) {
        return 0;
    }

    want = 0;

    for (id = 1; id <= NGX_CALLS_RTP_MAX_EXT_ID; id++) {
        if (usual[id] && strcmp(usual[id], uri) == 0
            && s->ext_uris[id][0] == '\0')
        {
            want = id;
            break;
        }
    }

    /* else the first id free and not usually taken by something else */

    for (id = 1; want == 0 && id <= NGX_CALLS_RTP_MAX_EXT_ID; id++) {
        if (s->ext_uris[id][0] == '\0' && usual[id] == NULL) {
            want = id;
        }
    }

    for (id = 1; want == 0 && id <= NGX_CALLS_RTP_MAX_EXT_ID; id++) {
        if (s->ext_uris[id][0] == '\0') {
            want = id;
        }
    }

    if (want) {
        snprintf(s->ext_uris[want], NGX_CALLS_SDP_MAX_URI, "%s", uri);
    }

    return want;
}


/* an extmap line for uri when the session has an id for it */

static void
ngx_calls_negotiate_extmap(ngx_calls_session_t *s, ngx_calls_sdp_media_t *m,
    const char *uri)
{
    uint8_t  id;

    id = ngx_calls_negotiate_ext_id(s, uri, 0);

    if (id && m->nextmaps < NGX_CALLS_SDP_MAX_EXTMAPS) {
        m->extmaps[m->nextmaps].id = id;
        snprintf(m->extmaps[m->nextmaps].uri, NGX_CALLS_SDP_MAX_URI, "%s",
                 uri);
        m->nextmaps++;
    }
}


static ngx_calls_transceiver_t *
ngx_calls_negotiate_add_tr(ngx_calls_session_t *s)
{
    size_t                    i, j, cap;
    ngx_calls_transceiver_t  *trs;

    if (s->ntrs == s->trs_cap) {
        cap = s->trs_cap ? 2 * s->trs_cap : 8;

        trs = realloc(s->trs, cap * sizeof(ngx_calls_transceiver_t));
        if (trs == NULL) {
            return NULL;
        }

        /* sources and sinks point at their m-sections */
        for (i = 0; i < s->ntrs; i++) {
            for (j = 0; j < trs[i].nsources; j++) {
                trs[i].sources[j]->tr = &trs[i];
            }

            if (trs[i].sink) {
                trs[i].sink->tr = &trs[i];
            }
        }

        s->trs = trs;
        s->trs_cap = cap;
    }

    memset(&s->trs[s->ntrs], 0, sizeof(ngx_calls_transceiver_t));

    return &s->trs[s->ntrs++];
}


/* the client's answer to our offer */

static int
ngx_calls_negotiate_answer(ngx_calls_session_t *s, ngx_calls_sdp_t *sdp,
    uint64_t now)
{
    size_t                    i;
    ngx_calls_sink_t         *sink;
    ngx_calls_sdp_media_t    *m;
    ngx_calls_transceiver_t  *tr;

    if (s->sig != NGX_CALLS_SIG_LOCAL_OFFER) {
        ngx_calls_error(s, "unexpected answer: no offer of ours is pending");
        return -1;
    }

    if (sdp->nmedia != s->ntrs) {
        ngx_calls_error(s, "answer refused: %zu m-sections for our %zu",
                        sdp->nmedia, s->ntrs);
        ngx_calls_negotiate_done(s, now);
        return -1;
    }

    for (i = 0; i < s->ntrs; i++) {
        tr = &s->trs[i];
        m = &sdp->media[i];

        if (strcmp(m->mid, tr->mid) != 0) {
            ngx_calls_error(s, "answer refused: m-section %zu has mid \"%s\", "
                            "we offered \"%s\"", i, m->mid, tr->mid);
            ngx_calls_negotiate_done(s, now);
            return -1;
        }

        sink = tr->sink;

        if (tr->role != NGX_CALLS_TR_SEND || sink == NULL || sink->active) {
            continue;
        }

        if (m->port == 0 || m->dir == NGX_CALLS_SDP_SENDONLY
            || m->dir == NGX_CALLS_SDP_INACTIVE)
        {
            ngx_calls_log(NGX_CALLS_LOG_INFO, "calls: session %s: client "
                          "declined track %s", s->id, sink->track_id);
            ngx_calls_sink_destroy(sink);
            continue;
        }

        ngx_calls_negotiate_sink_extmap(sink, m);
        sink->active = 1;
        ngx_calls_stat(s, NGX_CALLS_STAT_TRACK_OUT, 1,
                       ngx_calls_codec_mime(sink->codec));

        ngx_calls_log(NGX_CALLS_LOG_DEBUG, "calls: session %s: forwarding "
                      "%s", s->id, sink->track_id);

        /* the receiver's picture starts at a keyframe */
        if (sink->pending) {
            ngx_calls_source_keyframe(sink->pending, now);
        }

        /* its downlink estimate will pick the simulcast layer */
        if (ngx_calls_track_is_video(sink->type)) {
            ngx_calls_call_twcc_start(s);
        }
    }

    ngx_calls_negotiate_done(s, now);

    return 0;
}


static void
ngx_calls_negotiate_sink_extmap(ngx_calls_sink_t *sink,
    ngx_calls_sdp_media_t *m)
{
    uint8_t              id;
    ngx_calls_source_t  *src;

    memset(&sink->extmap, 0, sizeof(ngx_calls_rtp_extmap_t));

    /*
     * The receiver gets the audio level under its own id; video goes
     * without the sender's extensions, as rtcd strips them.
     */

    src = sink->source ? sink->source : sink->pending;

    if (!ngx_calls_track_is_video(sink->type) && src) {
        id = ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_AUDIO_LEVEL);

        if (id && src->ext_audio_level) {
            sink->extmap.map[src->ext_audio_level] = id;
        }
    }

    /* transport-wide sequence numbers are per transport: we write ours */
    sink->extmap.twcc_id = ngx_calls_sdp_find_extmap(m, NGX_CALLS_URI_TWCC);
}


static void
ngx_calls_negotiate_done(ngx_calls_session_t *s, uint64_t now)
{
    if (s->offer_sent) {
        ngx_calls_stat(s, NGX_CALLS_STAT_LOCK_LOCKED_TIME,
                       (double) (now - s->offer_sent) / 1000, NULL);
    }

    s->sig = NGX_CALLS_SIG_STABLE;
    s->offer_sent = 0;
    s->op_tr = (size_t) -1;

    if (s->lock == NGX_CALLS_LOCK_SERVER) {
        s->lock = NGX_CALLS_LOCK_FREE;
    }

    ngx_calls_negotiate_next(s, now);
}


/* our offer: one forwarded track more */

static int
ngx_calls_negotiate_start(ngx_calls_session_t *s, ngx_calls_op_t *op,
    uint64_t now)
{
    int                       n;
    size_t                    i;
    ngx_calls_sink_t         *sink;
    ngx_calls_transceiver_t  *tr;

    s->op_tr = (size_t) -1;

    if (op->type == NGX_CALLS_OP_ADD) {

        for (i = 0; i < s->ntrs; i++) {
            sink = s->trs[i].sink;

            if (sink && sink->sender == op->sender && sink->type == op->track)
            {
                return -1;                /* forwarded already */
            }
        }

        tr = ngx_calls_negotiate_add_tr(s);
        if (tr == NULL) {
            ngx_calls_log(NGX_CALLS_LOG_ERR, "calls: session %s: out of "
                          "memory", s->id);
            return -1;
        }

        sink = ngx_calls_sink_create(op->sender, op->track, s, tr);
        if (sink == NULL) {
            s->ntrs--;
            return -1;
        }

        tr->role = NGX_CALLS_TR_SEND;
        tr->codec = sink->codec;

        if (ngx_calls_track_is_video(op->track)) {
            tr->kind = NGX_CALLS_SDP_VIDEO;
            strcpy(tr->media, "video");
            tr->pt = (sink->codec == NGX_CALLS_CODEC_AV1) ? NGX_CALLS_AV1_PT
                                                          : NGX_CALLS_VP8_PT;

        } else {
            tr->kind = NGX_CALLS_SDP_AUDIO;
            strcpy(tr->media, "audio");
            tr->pt = NGX_CALLS_OPUS_PT;
        }

        strcpy(tr->proto, "UDP/TLS/RTP/SAVPF");
        sink->pt = tr->pt;
        tr->sink = sink;

        /* the lowest numeric mid that is free */

        for (n = (int) s->ntrs - 1; /* void */ ; n++) {
            snprintf(tr->mid, sizeof(tr->mid), "%d", n);

            for (i = 0; i + 1 < s->ntrs; i++) {
                if (strcmp(s->trs[i].mid, tr->mid) == 0) {
                    break;
                }
            }

            if (i + 1 == s->ntrs) {
                break;
            }
        }

        if (tr->kind == NGX_CALLS_SDP_AUDIO) {
            (void) ngx_calls_negotiate_ext_id(s, NGX_CALLS_URI_AUDIO_LEVEL,
                                              1);
        }

        (void) ngx_calls_negotiate_ext_id(s, NGX_CALLS_URI_TWCC, 1);

        s->op_tr = s->ntrs - 1;
    }

    s->sig = NGX_CALLS_SIG_LOCAL_OFFER;
    s->lock = NGX_CALLS_LOCK_SERVER;
    s->offer_sent = now;

    ngx_calls_stat(s, NGX_CALLS_STAT_LOCK_GRAB_TIME,
                   (double) (now - op->queued) / 1000, NULL);

    /* the webapp learns what each m-section carries before the offer */
    ngx_calls_negotiate_media_map(s);

    if (ngx_calls_negotiate_describe(s, "offer",
                                     s->dc_signaling && s->dc_open)
        != 0)
    {
        if (s->op_tr < s->ntrs && s->trs[s->op_tr].sink) {
            ngx_calls_sink_destroy(s->trs[s->op_tr].sink);
        }

        ngx_calls_negotiate_done(s, now);
        return -1;
    }

    ngx_calls_session_schedule(s, now + NGX_CALLS_SIGNALING_TIMEOUT);

    return 0;
}


/* writes our description and sends it as {"type":..., "sdp":...} */

static int
ngx_calls_negotiate_describe(ngx_calls_session_t *s, const char *type,
    int on_dc)
{
    int               rc;
    long              n;
    char             *text;
    size_t            size;
    cJSON            *json;
    ngx_calls_sdp_t   sdp;

    memset(&sdp, 0, sizeof(ngx_calls_sdp_t));

    if (ngx_calls_negotiate_local(s, strcmp(type, "offer") == 0, &sdp) != 0)
    {
        ngx_calls_sdp_free(&sdp);
        ngx_calls_error(s, "out of memory");
        return -1;
    }

    size = 4096 + 2048 * s->ntrs;

    text = malloc(size);
    if (text == NULL) {
        ngx_calls_sdp_free(&sdp);
        ngx_calls_error(s, "out of memory");
        return -1;
    }

    n = ngx_calls_sdp_build(&sdp, text, size);
    ngx_calls_sdp_free(&sdp);

    if (n < 0) {
        free(text);
        ngx_calls_error(s, "internal: our %s does not fit %zu bytes", type,
                        size);
        return -1;
    }

    json = cJSON_CreateObject();
    if (json == NULL
        || cJSON_AddStringToObject(json, "type", type) == NULL
        || cJSON_AddStringToObject(json, "sdp", text) == NULL)
    {
        cJSON_Delete(json);
        free(text);
        ngx_calls_error(s, "out of memory");
        return -1;
    }

    free(text);

    rc = ngx_calls_negotiate_send_json(s, NGX_CALLS_RTC_SDP, json, on_dc);

    cJSON_Delete(json);

    return rc;
}


static int
ngx_calls_negotiate_local(ngx_calls_session_t *s, int offer,
    ngx_calls_sdp_t *sdp)
{
    size_t                    i, j;
    const char               *fp;
    ngx_calls_sink_t         *sink;
    ngx_calls_sdp_media_t    *m;
    ngx_calls_sdp_codec_t    *c;
    ngx_calls_transceiver_t  *tr;

    sdp->sess_id = s->sdp_id;
    sdp->sess_version = s->sdp_version++;
    sdp->has_bundle = 1;
    sdp->extmap_allow_mixed = s->extmap_allow_mixed;
    strcpy(sdp->msid_semantic, "WMS *");

    fp = ngx_calls_dtls_fingerprint(ngx_calls_dtls_ctx);

    for (i = 0; i < s->ntrs; i++) {
        tr = &s->trs[i];

        m = ngx_calls_sdp_add_media(sdp);
        if (m == NULL) {
            return -1;
        }

        m->kind = tr->kind;
        strcpy(m->media, tr->media);
        strcpy(m->proto, tr->proto);
        strcpy(m->mid, tr->mid);
        m->port = tr->rejected ? 0 : 9;

        strcpy(m->ice_ufrag, s->ufrag);
        strcpy(m->ice_pwd, s->pwd);
        strcpy(m->fp_alg, "sha-256");
        snprintf(m->fp, sizeof(m->fp), "%s", fp);

        if (offer) {
            m->setup = NGX_CALLS_SDP_SETUP_ACTPASS;

        } else {
            m->setup = s->dtls_client ? NGX_CALLS_SDP_SETUP_ACTIVE
                                      : NGX_CALLS_SDP_SETUP_PASSIVE;
        }

        if (tr->rejected) {

            /* a rejected m-section keeps one format to stay well-formed */

            if (tr->kind != NGX_CALLS_SDP_APPLICATION) {
                c = &m->codecs[m->ncodecs++];
                c->pt = tr->pt;
            }

            m->dir = NGX_CALLS_SDP_INACTIVE;
            continue;
        }

        sdp->bundle[sdp->nbundle++] = i;

        if (tr->role == NGX_CALLS_TR_DATA) {
            m->sctp_port = NGX_CALLS_SCTP_DEFAULT_PORT;
            m->max_message_size = NGX_CALLS_SCTP_MAX_MESSAGE;
            continue;
        }

        m->rtcp_mux = 1;
        m->rtcp_rsize = 1;

        c = &m->codecs[m->ncodecs++];
        c->pt = tr->pt;

        if (tr->kind == NGX_CALLS_SDP_AUDIO) {
            strcpy(c->name, "opus");
            c->clock = 48000;
            c->channels = 2;
            c->fb = NGX_CALLS_SDP_FB_TWCC;
            strcpy(c->fmtp, NGX_CALLS_OPUS_FMTP);

            ngx_calls_negotiate_extmap(s, m, NGX_CALLS_URI_AUDIO_LEVEL);

        } else {
            strcpy(c->name, tr->codec == NGX_CALLS_CODEC_AV1 ? "AV1" : "VP8");
            c->clock = 90000;

            /* rtcd's video feedback; no RTX: NACKs get the original */
            c->fb = NGX_CALLS_SDP_FB_REMB | NGX_CALLS_SDP_FB_CCM_FIR
                    | NGX_CALLS_SDP_FB_NACK | NGX_CALLS_SDP_FB_NACK_PLI
                    | NGX_CALLS_SDP_FB_TWCC;

            /* the layers come with the mid and rid extensions */
            if (tr->role == NGX_CALLS_TR_RECV) {
                ngx_calls_negotiate_extmap(s, m, NGX_CALLS_URI_MID);

                if (tr->nrids) {
                    ngx_calls_negotiate_extmap(s, m, NGX_CALLS_URI_RID);
                }
            }
        }

        ngx_calls_negotiate_extmap(s, m, NGX_CALLS_URI_TWCC);

        if (tr->role == NGX_CALLS_TR_RECV && tr->nrids && tr->client_sends) {
            for (j = 0; j < tr->nrids; j++) {
                strcpy(m->rids[m->nrids].id, tr->rids[j]);
                m->rids[m->nrids++].send = 0;
            }

            m->simulcast = 1;
        }

        /* an m-section whose sender left stays, carrying nothing */

        sink = tr->sink;

        if (sink == NULL) {
            m->dir = tr->client_sends ? NGX_CALLS_SDP_RECVONLY
                                      : NGX_CALLS_SDP_INACTIVE;
            continue;
        }

        m->dir = tr->client_sends ? NGX_CALLS_SDP_SENDRECV
                                  : NGX_CALLS_SDP_SENDONLY;

        /* stream id and CNAME: the sender's session id, as rtcd */
        snprintf(m->msid_stream, sizeof(m->msid_stream), "%s",
                 sink->sender->id);
        snprintf(m->msid_track, sizeof(m->msid_track), "%s",
                 sink->track_id);

        m->ssrcs[0].ssrc = sink->ssrc;
        snprintf(m->ssrcs[0].cname, sizeof(m->ssrcs[0].cname), "%s",
                 sink->sender->id);
        strcpy(m->ssrcs[0].msid_stream, m->msid_stream);
        strcpy(m->ssrcs[0].msid_track, m->msid_track);
        m->nssrcs = 1;
    }

    return 0;
}


static void
ngx_calls_negotiate_media_map(ngx_calls_session_t *s)
{
    long                   n;
    size_t                 i, k;
    uint8_t               *buf;
    ngx_calls_dc_media_t  *media;

    if (!s->dc_open) {
        return;
    }

    media = malloc(s->ntrs * sizeof(ngx_calls_dc_media_t));
    buf = malloc(256 + s->ntrs * 256);

    if (media == NULL || buf == NULL) {
        free(media);
        free(buf);
        return;
    }

    k = 0;

    for (i = 0; i < s->ntrs; i++) {
        if (s->trs[i].role == NGX_CALLS_TR_SEND && s->trs[i].sink) {
            media[k].mid = s->trs[i].mid;
            media[k].type = ngx_calls_track_name(s->trs[i].sink->type);
            media[k].sender_id = s->trs[i].sink->sender->id;
            k++;
        }
    }

    n = ngx_calls_dc_encode_media_map(buf, 256 + s->ntrs * 256, media, k);

    if (n > 0) {
        (void) ngx_calls_session_dc_send(s, 1, buf, n);
    }

    free(media);
    free(buf);
}


/* rtcd trickles its candidates after the answer (pion ToJSON shape) */

static void
ngx_calls_negotiate_candidates(ngx_calls_session_t *s)
{
    char                    line[256];
    size_t                  i, j;
    uint32_t                prio, foundation;
    cJSON                  *json, *cand;
    const char             *mid;
    ngx_calls_candidate_t  *c;

    mid = NULL;

    for (i = 0; i < s->ntrs; i++) {
        if (!s->trs[i].rejected) {
            mid = s->trs[i].mid;
            break;
        }
    }

    if (mid == NULL) {
        return;
    }

    for (i = 0; i < s->ncands; i++) {
        c = &s->cands[i];

        /*
         * Host candidates in configured order, UDP before TCP: a TCP
         * one's local preference is RFC 6544's (2^13) * direction-pref
         * + other-pref, with direction-pref 4 for passive, which keeps it
         * below every UDP one's.
         */
        prio = (126u << 24)
               | ((c->tcp ? (4u << 13) + (8191 - (uint32_t) i)
                          : 65535 - (uint32_t) i) << 8)
               | 255;

        foundation = 2166136261u;
        for (j = 0; c->addr[j]; j++) {
            foundation = (foundation ^ (uint8_t) c->addr[j]) * 16777619u;
        }
        foundation ^= c->tcp;

        snprintf(line, sizeof(line),
                 "candidate:%u 1 %s %u %s %u typ host%s", foundation,
                 c->tcp ? "tcp" : "udp", prio, c->addr, c->port,
                 c->tcp ? " tcptype passive" : "");

        json = cJSON_CreateObject();
        cand = cJSON_CreateObject();

        if (json == NULL || cand == NULL
            || cJSON_AddStringToObject(json, "type", "candidate") == NULL
            || cJSON_AddStringToObject(cand, "candidate", line) == NULL
            || cJSON_AddStringToObject(cand, "sdpMid", mid) == NULL
            || cJSON_AddNumberToObject(cand, "sdpMLineIndex", 0) == NULL
            || cJSON_AddStringToObject(cand, "usernameFragment", s->ufrag)
               == NULL)
        {
            cJSON_Delete(json);
            cJSON_Delete(cand);
            return;
        }

        cJSON_AddItemToObject(json, "candidate", cand);

        (void) ngx_calls_negotiate_send_json(s, NGX_CALLS_RTC_ICE, json, 0);

        cJSON_Delete(json);
    }
}


static int
ngx_calls_negotiate_send_json(ngx_calls_session_t *s, unsigned rtc_type,
    cJSON *json, int on_dc)
{
    long      n;
    char     *text, err[128];
    size_t    len;
    uint8_t  *z, *msg;

    text = cJSON_PrintUnformatted(json);
    if (text == NULL) {
        ngx_calls_error(s, "out of memory");
        return -1;
    }

    len = strlen(text);

    if (!on_dc) {
        ngx_calls_event(s, NGX_CALLS_MEDIA_EV_SIGNAL, rtc_type, text, len);
        cJSON_free(text);
        return 0;
    }

    /* calls-dc SDP: msgpack bin of zlib(JSON) */

    z = malloc(len + 64);
    msg = malloc(len + 128);

    if (z == NULL || msg == NULL) {
        free(z);
        free(msg);
        cJSON_free(text);
        return -1;
    }

    n = ngx_calls_dc_deflate((uint8_t *) text, len, z, len + 64, err,
                             sizeof(err));
    if (n > 0) {
        n = ngx_calls_dc_encode_bin(msg, len + 128, NGX_CALLS_DC_SDP, z, n);
    }

    if (n > 0) {
        n = ngx_calls_session_dc_send(s, 1, msg, n);

    } else {
        n = -1;
    }

    free(z);
    free(msg);
    cJSON_free(text);

    return n < 0 ? -1 : 0;
}


/*
 * screen_on {"screenStreamID"}, screen_off, video_on {"videoStreamID"},
 * video_off: which MediaStream of the client is its screen or camera.
 * One screen per call.
 */

int
ngx_calls_negotiate_stream(ngx_calls_session_t *s, unsigned type,
    const char *json, size_t len, uint64_t now)
{
    size_t                    i, j;
    cJSON                    *root, *id;
    const char               *key;
    ngx_calls_source_t       *src;
    ngx_calls_transceiver_t  *tr;

    if (type == NGX_CALLS_RTC_SCREEN_OFF) {
        s->screen_stream[0] = '\0';

        /* rtcd removes the screen from every receiver right away */

        for (i = 0; i < s->ntrs; i++) {
            tr = &s->trs[i];

            for (j = tr->nsources; j > 0; j--) {
                src = tr->sources[j - 1];

                if (src->type == NGX_CALLS_TRACK_SCREEN
                    || src->type == NGX_CALLS_TRACK_SCREEN_AUDIO)
                {
                    ngx_calls_source_destroy(src, now);
                }
            }
        }

        if (s->call->screen == s) {
            s->call->screen = NULL;
        }

        return 0;
    }

    if (type == NGX_CALLS_RTC_VIDEO_OFF) {
        s->video_stream[0] = '\0';
        return 0;
    }

    key = (type == NGX_CALLS_RTC_SCREEN_ON) ? "screenStreamID"
                                            : "videoStreamID";

    root = cJSON_ParseWithLength(json, len);
    id = root ? cJSON_GetObjectItemCaseSensitive(root, key) : NULL;

    if (!cJSON_IsString(id) || id->valuestring[0] == '\0'
        || strlen(id->valuestring) >= NGX_CALLS_SDP_MAX_ID)
    {
        cJSON_Delete(root);
        ngx_calls_error(s, "%s needs {\"%s\": \"<stream id of at most %d "
                        "characters>\"}",
                        type == NGX_CALLS_RTC_SCREEN_ON ? "screen_on"
                                                        : "video_on",
                        key, NGX_CALLS_SDP_MAX_ID - 1);
        return -1;
    }

    if (type == NGX_CALLS_RTC_SCREEN_ON) {

        if (s->call->screen && s->call->screen != s) {
            cJSON_Delete(root);
            ngx_calls_error(s, "screen_on refused: session %s is sharing "
                            "its screen already", s->call->screen->id);
            return -1;
        }

        strcpy(s->screen_stream, id->valuestring);
        s->call->screen = s;

    } else {
        strcpy(s->video_stream, id->valuestring);
    }

    cJSON_Delete(root);

    return 0;
}
