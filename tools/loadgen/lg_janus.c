
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The Janus backend: a participant of a Janus VideoRoom (Janus 1.x,
 * multistream) through its WebSocket API, as janus.js's videoroom demo
 * behaves: one Janus session per participant, a publisher handle (it
 * joins the room; senders publish Opus, the screen sharer VP8 too, in
 * one offer) and a subscriber handle (one PeerConnection that receives
 * every publisher of the room; a new publisher is added by "subscribe",
 * Janus offers again, we answer with "start").
 *
 * Janus is a full ICE agent: it checks our candidate and nominates when
 * it offers (our subscriber side is controlled), and answers our checks
 * when we offer (publisher).  No calls-dc: a VideoRoom participant has
 * no data channel of its own, so Janus' figures have no "join ->
 * calls-dc" time; "join -> first audio" compares.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "loadgen.h"


#define LG_JANUS_MAX_FEEDS   64
#define LG_JANUS_KEEPALIVE   25000000        /* us, session_timeout 60 s */

#define LG_JANUS_PUB         0
#define LG_JANUS_SUB         1


typedef struct {
    double                    session;
    double                    pub;           /* handle ids */
    double                    sub;
    double                    room;
    double                    feed;          /* ours, as a publisher */

    unsigned                  in_room:1;
    unsigned                  published:1;
    unsigned                  sub_joined:1;  /* subscriber "join" sent */
    unsigned                  sub_busy:1;    /* a renegotiation pending */

    /* feeds to subscribe to, and how many of them are asked for */
    double                    feeds[LG_JANUS_MAX_FEEDS];
    unsigned                  nfeeds;
    unsigned                  asked;

    uint64_t                  keepalive_at;
    unsigned                  tx;
} lg_janus_t;


static void lg_janus_open(lg_ws_t *ws, void *data);
static void lg_janus_message(lg_ws_t *ws, void *data, int binary,
    const uint8_t *buf, size_t len);
static void lg_janus_closed(lg_ws_t *ws, void *data, const char *why);
static void lg_janus_success(lg_client_t *c, const char *tx, cJSON *msg,
    uint64_t now);
static void lg_janus_event(lg_client_t *c, cJSON *msg, uint64_t now);
static void lg_janus_publishers(lg_client_t *c, cJSON *list);
static void lg_janus_subscribe(lg_client_t *c);
static void lg_janus_publish(lg_client_t *c, uint64_t now);
static void lg_janus_jsep_in(lg_client_t *c, lg_leg_t *leg, cJSON *jsep,
    uint64_t now);
static int lg_janus_send(lg_client_t *c, const char *janus, double handle,
    const char *tx, cJSON *body, cJSON *jsep);


/*
 * Janus' ids go up to 2^53: cJSON would print the larger ones with an
 * exponent, which Janus refuses, so they are written as integers.
 */

static void
lg_janus_add_id(cJSON *obj, const char *name, double id)
{
    char  text[32];

    snprintf(text, sizeof(text), "%.0f", id);
    cJSON_AddRawToObject(obj, name, text);
}


static const lg_ws_handler_t  lg_janus_ws_handler = {
    lg_janus_open,
    lg_janus_message,
    lg_janus_closed
};


static int
lg_janus_join(lg_client_t *c, uint64_t now)
{
    char         err[256];
    unsigned     h, i;
    lg_janus_t  *bk;

    bk = calloc(1, sizeof(lg_janus_t));
    if (bk == NULL) {
        return -1;
    }

    c->bk = bk;

    /* a numeric room per call: a hash of the run's prefix, and the call */
    h = 5381;
    for (i = 0; c->lg->conf.room_prefix[i]; i++) {
        h = h * 33 + (unsigned char) c->lg->conf.room_prefix[i];
    }

    bk->room = (double) (h % 1000000) * 10000 + c->call + 1;

    c->nlegs = 2;
    c->legs[LG_JANUS_PUB].sends = 1;
    c->legs[LG_JANUS_PUB].id = LG_JANUS_PUB;
    c->legs[LG_JANUS_SUB].receives = 1;
    c->legs[LG_JANUS_SUB].id = LG_JANUS_SUB;

    if (lg_leg_open(c, &c->legs[LG_JANUS_PUB]) != 0
        || lg_leg_open(c, &c->legs[LG_JANUS_SUB]) != 0)
    {
        return -1;
    }

    c->ws = lg_ws_connect(c->lg, c->lg->conf.url,
                          "Sec-WebSocket-Protocol: janus-protocol\r\n",
                          &lg_janus_ws_handler, c, err, sizeof(err));
    if (c->ws == NULL) {
        lg_client_fail(c, "signaling: %s", err);
        return -1;
    }

    bk->keepalive_at = now + LG_JANUS_KEEPALIVE;

    return 0;
}


static void
lg_janus_open(lg_ws_t *ws, void *data)
{
    lg_client_t  *c = data;

    (void) lg_janus_send(c, "create", 0, "create", NULL, NULL);
}


static uint64_t
lg_janus_timer(lg_client_t *c, uint64_t now)
{
    lg_janus_t  *bk = c->bk;

    if (bk == NULL) {
        return 0;
    }

    if (now >= bk->keepalive_at) {
        if (bk->session) {
            (void) lg_janus_send(c, "keepalive", 0, "keepalive", NULL, NULL);
        }

        bk->keepalive_at = now + LG_JANUS_KEEPALIVE;
    }

    return bk->keepalive_at;
}


static void
lg_janus_message(lg_ws_t *ws, void *data, int binary, const uint8_t *buf,
    size_t len)
{
    char          e[256], *text;
    cJSON        *msg, *janus, *tx, *err, *reason, *cand, *sender;
    uint64_t      now;
    lg_leg_t     *leg;
    lg_janus_t   *bk;
    lg_client_t  *c = data;

    if (c->failed || c->left) {
        return;
    }

    bk = c->bk;

    if (c->lg->conf.verbose > 1) {
        lg_log(c->lg, 2, "client %u janus <- %.*s", c->index,
               (int) (len > 400 && c->lg->conf.verbose < 3 ? 400 : len),
               buf);
    }

    msg = cJSON_ParseWithLength((const char *) buf, len);
    if (msg == NULL) {
        lg_client_fail(c, "janus: not JSON");
        return;
    }

    now = lg_now_us();
    janus = cJSON_GetObjectItemCaseSensitive(msg, "janus");
    tx = cJSON_GetObjectItemCaseSensitive(msg, "transaction");

    if (!cJSON_IsString(janus)) {
        goto done;
    }

    if (strcmp(janus->valuestring, "success") == 0 && cJSON_IsString(tx)) {
        lg_janus_success(c, tx->valuestring, msg, now);

    } else if (strcmp(janus->valuestring, "event") == 0) {
        lg_janus_event(c, msg, now);

    } else if (strcmp(janus->valuestring, "trickle") == 0) {
        sender = cJSON_GetObjectItemCaseSensitive(msg, "sender");
        cand = cJSON_GetObjectItemCaseSensitive(msg, "candidate");

        leg = (cJSON_IsNumber(sender) && sender->valuedouble == bk->sub)
              ? &c->legs[LG_JANUS_SUB] : &c->legs[LG_JANUS_PUB];

        if (leg->peer != NULL && cJSON_IsObject(cand)
            && cJSON_GetObjectItemCaseSensitive(cand, "candidate") != NULL)
        {
            text = cJSON_PrintUnformatted(cand);

            if (text != NULL) {
                (void) ngx_calls_peer_signal(leg->peer, text, strlen(text),
                                             now / 1000, e, sizeof(e));
                cJSON_free(text);
                lg_leg_timer(leg, now);
            }
        }

    } else if (strcmp(janus->valuestring, "error") == 0) {
        err = cJSON_GetObjectItemCaseSensitive(msg, "error");
        reason = cJSON_GetObjectItemCaseSensitive(err, "reason");

        c->lg->res.signaling_errors++;
        lg_client_fail(c, "janus error (%s): %s",
                       cJSON_IsString(tx) ? tx->valuestring : "",
                       cJSON_IsString(reason) ? reason->valuestring : "?");

    } else if (strcmp(janus->valuestring, "hangup") == 0) {
        reason = cJSON_GetObjectItemCaseSensitive(msg, "reason");

        lg_client_fail(c, "janus hung up: %s",
                       cJSON_IsString(reason) ? reason->valuestring : "?");
    }

    /* ack, webrtcup, media, slowlink, keepalive answers: nothing */

done:

    cJSON_Delete(msg);
}


static void
lg_janus_success(lg_client_t *c, const char *tx, cJSON *msg, uint64_t now)
{
    cJSON       *d, *id, *pd, *err;
    cJSON       *body;
    lg_janus_t  *bk = c->bk;

    d = cJSON_GetObjectItemCaseSensitive(msg, "data");
    id = cJSON_GetObjectItemCaseSensitive(d, "id");

    if (strcmp(tx, "create") == 0 && cJSON_IsNumber(id)) {
        bk->session = id->valuedouble;

        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "plugin", "janus.plugin.videoroom");
        (void) lg_janus_send(c, "attach", 0, "attach-pub", body, NULL);

        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "plugin", "janus.plugin.videoroom");
        (void) lg_janus_send(c, "attach", 0, "attach-sub", body, NULL);

        return;
    }

    if (strcmp(tx, "attach-pub") == 0 && cJSON_IsNumber(id)) {
        bk->pub = id->valuedouble;

        /* every participant creates the room; all but one hear 427 */
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "request", "create");
        lg_janus_add_id(body, "room", bk->room);
        cJSON_AddNumberToObject(body, "publishers",
                                c->lg->conf.participants + 1);
        cJSON_AddStringToObject(body, "audiocodec", "opus");
        cJSON_AddStringToObject(body, "videocodec", "vp8");
        cJSON_AddNumberToObject(body, "bitrate", 0);
        cJSON_AddBoolToObject(body, "notify_joining", 0);

        (void) lg_janus_send(c, "message", bk->pub, "room", body, NULL);
        return;
    }

    if (strcmp(tx, "attach-sub") == 0 && cJSON_IsNumber(id)) {
        bk->sub = id->valuedouble;
        lg_janus_subscribe(c);
        return;
    }

    if (strcmp(tx, "room") == 0) {
        pd = cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetObjectItemCaseSensitive(msg, "plugindata"), "data");
        err = cJSON_GetObjectItemCaseSensitive(pd, "error_code");

        if (err != NULL && (!cJSON_IsNumber(err) || err->valueint != 427)) {
            c->lg->res.signaling_errors++;
            lg_client_fail(c, "janus: room not created (%d)",
                           cJSON_IsNumber(err) ? err->valueint : -1);
            return;
        }

        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "request", "join");
        cJSON_AddStringToObject(body, "ptype", "publisher");
        lg_janus_add_id(body, "room", bk->room);

        (void) lg_janus_send(c, "message", bk->pub, "join", body, NULL);
    }
}


static void
lg_janus_event(lg_client_t *c, cJSON *msg, uint64_t now)
{
    cJSON       *pd, *vr, *sender, *jsep, *err, *id;
    lg_janus_t  *bk = c->bk;

    sender = cJSON_GetObjectItemCaseSensitive(msg, "sender");
    jsep = cJSON_GetObjectItemCaseSensitive(msg, "jsep");
    pd = cJSON_GetObjectItemCaseSensitive(
             cJSON_GetObjectItemCaseSensitive(msg, "plugindata"), "data");
    vr = cJSON_GetObjectItemCaseSensitive(pd, "videoroom");
    err = cJSON_GetObjectItemCaseSensitive(pd, "error");

    if (err != NULL) {
        c->lg->res.signaling_errors++;
        lg_client_fail(c, "janus videoroom: %s",
                       cJSON_IsString(err) ? err->valuestring : "?");
        return;
    }

    if (!cJSON_IsNumber(sender)) {
        return;
    }

    if (sender->valuedouble == bk->pub) {

        if (cJSON_IsString(vr) && strcmp(vr->valuestring, "joined") == 0) {
            id = cJSON_GetObjectItemCaseSensitive(pd, "id");
            bk->feed = cJSON_IsNumber(id) ? id->valuedouble : 0;
            bk->in_room = 1;
            lg_joined(c, now);

            if (c->unmuted || c->screen) {
                lg_janus_publish(c, now);
            }
        }

        lg_janus_publishers(c, cJSON_GetObjectItemCaseSensitive(pd,
                                                               "publishers"));

        if (jsep != NULL) {
            lg_janus_jsep_in(c, &c->legs[LG_JANUS_PUB], jsep, now);

            if (c->unmuted) {
                lg_start_audio(c, now);
            }

            if (c->screen) {
                lg_start_video(c, now);
            }
        }

        lg_janus_subscribe(c);
        return;
    }

    if (sender->valuedouble == bk->sub) {
        if (jsep != NULL) {
            lg_janus_jsep_in(c, &c->legs[LG_JANUS_SUB], jsep, now);
        }

        if (cJSON_IsString(vr) && strcmp(vr->valuestring, "event") == 0
            && cJSON_GetObjectItemCaseSensitive(pd, "started") != NULL)
        {
            /* our answer is in: the next feeds may be asked for */
            bk->sub_busy = 0;
            lg_janus_subscribe(c);
        }
    }
}


/* feeds that publish, from "joined" and "event" messages */

static void
lg_janus_publishers(lg_client_t *c, cJSON *list)
{
    cJSON       *p, *id;
    unsigned     i;
    lg_janus_t  *bk = c->bk;

    cJSON_ArrayForEach(p, list) {
        id = cJSON_GetObjectItemCaseSensitive(p, "id");

        if (!cJSON_IsNumber(id) || id->valuedouble == bk->feed) {
            continue;
        }

        for (i = 0; i < bk->nfeeds; i++) {
            if (bk->feeds[i] == id->valuedouble) {
                break;
            }
        }

        if (i == bk->nfeeds && bk->nfeeds < LG_JANUS_MAX_FEEDS) {
            bk->feeds[bk->nfeeds++] = id->valuedouble;
        }
    }
}


/* the subscriber handle asks for the feeds it does not have yet */

static void
lg_janus_subscribe(lg_client_t *c)
{
    cJSON       *body, *streams, *s;
    unsigned     i;
    lg_janus_t  *bk = c->bk;

    if (bk->sub == 0 || !bk->in_room || bk->sub_busy
        || bk->asked == bk->nfeeds)
    {
        return;
    }

    body = cJSON_CreateObject();

    if (!bk->sub_joined) {
        cJSON_AddStringToObject(body, "request", "join");
        cJSON_AddStringToObject(body, "ptype", "subscriber");
        lg_janus_add_id(body, "room", bk->room);
        bk->sub_joined = 1;

    } else {
        cJSON_AddStringToObject(body, "request", "subscribe");
    }

    streams = cJSON_AddArrayToObject(body, "streams");

    for (i = bk->asked; i < bk->nfeeds; i++) {
        s = cJSON_CreateObject();
        lg_janus_add_id(s, "feed", bk->feeds[i]);
        cJSON_AddItemToArray(streams, s);
    }

    bk->asked = bk->nfeeds;
    bk->sub_busy = 1;

    (void) lg_janus_send(c, "message", bk->sub, "subscribe", body, NULL);
}


/* the publisher: its tracks in one offer */

static void
lg_janus_publish(lg_client_t *c, uint64_t now)
{
    char               track[64];
    lg_leg_t          *leg = &c->legs[LG_JANUS_PUB];
    ngx_calls_offer_t *desc;

    if (lg_leg_peer(c, leg, 0) != 0) {
        return;
    }

    desc = ngx_calls_peer_description(leg->peer);

    if (c->unmuted) {
        snprintf(track, sizeof(track), "%s-mic", c->stream_id);

        if (ngx_calls_offer_add_audio(desc, c->stream_id, track,
                                      c->audio.ssrc[0])
            == NULL)
        {
            lg_client_fail(c, "audio track not added");
            return;
        }
    }

    if (c->screen) {
        snprintf(track, sizeof(track), "%s-video", c->screen_stream_id);

        if (ngx_calls_offer_add_video(desc, c->screen_stream_id, track,
                                      c->video.ssrc, NULL, 0)
            == NULL)
        {
            lg_client_fail(c, "screen track not added");
            return;
        }
    }

    if (ngx_calls_peer_offer(leg->peer, now / 1000) != 0) {
        lg_client_fail(c, "our offer failed");
    }
}


static void
lg_janus_jsep_in(lg_client_t *c, lg_leg_t *leg, cJSON *jsep, uint64_t now)
{
    char   err[256], *text;
    cJSON  *j;

    if (leg->peer == NULL) {
        if (leg->id == LG_JANUS_PUB || lg_leg_peer(c, leg, 0) != 0) {
            return;
        }
    }

    /* only type and sdp: the peer takes a description as the browser's */
    j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "type", cJSON_Duplicate(
        cJSON_GetObjectItemCaseSensitive(jsep, "type"), 1));
    cJSON_AddItemToObject(j, "sdp", cJSON_Duplicate(
        cJSON_GetObjectItemCaseSensitive(jsep, "sdp"), 1));

    text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);

    if (text == NULL) {
        return;
    }

    if (ngx_calls_peer_signal(leg->peer, text, strlen(text), now / 1000, err,
                              sizeof(err))
        != 0)
    {
        lg_client_fail(c, "janus' %s refused: %s",
                       leg->id == LG_JANUS_PUB ? "answer" : "offer", err);
    }

    cJSON_free(text);

    lg_leg_timer(leg, now);
}


/* the peer's description: our offer (publish) or answer (start) */

static void
lg_janus_signal(lg_leg_t *leg, unsigned rtc_type, const char *json,
    size_t len)
{
    cJSON        *jsep, *body;
    lg_client_t  *c = leg->client;
    lg_janus_t   *bk = c->bk;

    jsep = cJSON_ParseWithLength(json, len);
    if (jsep == NULL) {
        return;
    }

    /* our candidate is in the description */
    cJSON_AddBoolToObject(jsep, "trickle", 0);

    body = cJSON_CreateObject();

    if (leg->id == LG_JANUS_PUB) {
        cJSON_AddStringToObject(body, "request", "publish");
        (void) lg_janus_send(c, "message", bk->pub, "publish", body, jsep);

    } else {
        cJSON_AddStringToObject(body, "request", "start");
        lg_janus_add_id(body, "room", bk->room);
        (void) lg_janus_send(c, "message", bk->sub, "start", body, jsep);
    }
}


static int
lg_janus_send(lg_client_t *c, const char *janus, double handle,
    const char *tx, cJSON *body, cJSON *jsep)
{
    cJSON       *msg, *item;
    lg_janus_t  *bk = c->bk;

    if (c->ws == NULL) {
        cJSON_Delete(body);
        cJSON_Delete(jsep);
        return -1;
    }

    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "janus", janus);
    cJSON_AddStringToObject(msg, "transaction", tx);

    if (bk->session) {
        lg_janus_add_id(msg, "session_id", bk->session);
    }

    if (handle) {
        lg_janus_add_id(msg, "handle_id", handle);
    }

    if (strcmp(janus, "attach") == 0 && body != NULL) {

        /* attach takes its plugin at the top level */
        item = cJSON_DetachItemFromObjectCaseSensitive(body, "plugin");
        cJSON_AddItemToObject(msg, "plugin", item);
        cJSON_Delete(body);

    } else if (body != NULL) {
        cJSON_AddItemToObject(msg, "body", body);
    }

    if (jsep != NULL) {
        cJSON_AddItemToObject(msg, "jsep", jsep);
    }

    bk->tx++;

    return lg_ws_send_json(c->ws, msg);
}


static void
lg_janus_closed(lg_ws_t *ws, void *data, const char *why)
{
    lg_client_t  *c = data;

    c->ws = NULL;

    if (!c->left) {
        lg_client_fail(c, "janus closed: %s", why);
    }
}


static int
lg_janus_send_rtp(lg_client_t *c, lg_leg_t *leg, uint8_t *buf, size_t len)
{
    return ngx_calls_peer_send_rtp(leg->peer, buf, len);
}


static void
lg_janus_leave(lg_client_t *c)
{
    lg_janus_t  *bk = c->bk;

    if (c->ws != NULL && bk != NULL && bk->session) {
        (void) lg_janus_send(c, "destroy", 0, "destroy", NULL, NULL);
    }

    if (c->ws != NULL) {
        lg_ws_close(c->ws);
        c->ws = NULL;
    }

    free(bk);
    c->bk = NULL;
}


const lg_backend_t  lg_backend_janus = {
    "janus",
    NULL,
    NULL,
    lg_janus_join,
    lg_janus_timer,
    NULL,
    lg_janus_signal,
    lg_janus_send_rtp,
    lg_janus_leave
};
