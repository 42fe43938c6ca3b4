
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * The ngx_calls backend: a client of the standalone signaling endpoint
 * (calls_signaling, src/http/ngx_http_calls_signaling.c), as the web
 * client and the Calls client behave.  The same client steps serve the
 * RTCD backend (lg_rtcd.c), whose signaling goes through the plugin's
 * connection instead of a WebSocket per client:
 *
 *   join {"channelID"} -> join event -> offer of calls-dc alone ->
 *   answer -> (unmuted) microphone track, offer, answer, unmute ->
 *   (screen) screen_on {"screenStreamID"}, screen track, offer, answer
 *
 * The server's offers of others' tracks are answered at once.  When one
 * crosses an offer of ours, the server drops ours unanswered (rtcd is
 * impolite); the client, polite, rolls its offer back, answers, and
 * offers its track again.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "loadgen.h"


enum {
    LG_STEP_DC = 0,
    LG_STEP_AUDIO,
    LG_STEP_SCREEN,
    LG_STEP_DONE
};


typedef struct {
    unsigned                  step;
    unsigned                  offer_pending:1;
    unsigned                  redo:1;
    size_t                    stable_nmedia; /* before our pending offer */
} lg_calls_t;


static void lg_calls_open(lg_ws_t *ws, void *data);
static void lg_calls_message(lg_ws_t *ws, void *data, int binary,
    const uint8_t *buf, size_t len);
static void lg_calls_closed(lg_ws_t *ws, void *data, const char *why);
static void lg_calls_next(lg_client_t *c, uint64_t now);
static int lg_calls_offer_step(lg_client_t *c, uint64_t now);
static int lg_calls_action(lg_client_t *c, const char *action,
    const char *data);


static const lg_ws_handler_t  lg_calls_ws_handler = {
    lg_calls_open,
    lg_calls_message,
    lg_calls_closed
};


/* the client's state and its socket, whichever the signaling */

int
lg_calls_client(lg_client_t *c)
{
    lg_calls_t  *bk;

    bk = calloc(1, sizeof(lg_calls_t));
    if (bk == NULL) {
        return -1;
    }

    c->bk = bk;
    c->nlegs = 1;
    c->legs[0].sends = 1;
    c->legs[0].receives = 1;

    return lg_leg_open(c, &c->legs[0]);
}


/* joined: the peer, and the Calls client's first offer, calls-dc alone */

void
lg_calls_start(lg_client_t *c, uint64_t now)
{
    lg_joined(c, now);

    if (lg_leg_peer(c, &c->legs[0], 1) != 0) {
        return;
    }

    if (lg_calls_offer_step(c, now) != 0) {
        lg_client_fail(c, "our first offer failed");
    }
}


static int
lg_calls_join(lg_client_t *c, uint64_t now)
{
    char  err[256];

    if (lg_calls_client(c) != 0) {
        return -1;
    }

    c->ws = lg_ws_connect(c->lg, c->lg->conf.url, NULL, &lg_calls_ws_handler,
                          c, err, sizeof(err));
    if (c->ws == NULL) {
        lg_client_fail(c, "signaling: %s", err);
        return -1;
    }

    return 0;
}


static void
lg_calls_open(lg_ws_t *ws, void *data)
{
    cJSON        *msg, *d;
    lg_client_t  *c = data;

    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "action", "join");
    d = cJSON_AddObjectToObject(msg, "data");
    cJSON_AddStringToObject(d, "channelID", c->room);

    if (lg_ws_send_json(ws, msg) != 0) {
        lg_client_fail(c, "signaling: join not sent");
    }
}


static void
lg_calls_message(lg_ws_t *ws, void *data, int binary, const uint8_t *buf,
    size_t len)
{
    cJSON        *msg, *ev, *d, *sid, *m;
    uint64_t      now;
    lg_client_t  *c = data;

    if (c->failed || c->left) {
        return;
    }

    if (c->lg->conf.verbose > 1) {
        lg_log(c->lg, 2, "client %u ws <- %.*s", c->index,
               (int) (len > 300 ? 300 : len), buf);
    }

    msg = cJSON_ParseWithLength((const char *) buf, len);
    if (msg == NULL) {
        lg_client_fail(c, "signaling: not JSON");
        return;
    }

    now = lg_now_us();
    ev = cJSON_GetObjectItemCaseSensitive(msg, "event");
    d = cJSON_GetObjectItemCaseSensitive(msg, "data");

    if (!cJSON_IsString(ev)) {
        goto done;
    }

    if (strcmp(ev->valuestring, "join") == 0) {
        sid = cJSON_GetObjectItemCaseSensitive(d, "session_id");

        if (cJSON_IsString(sid)) {
            snprintf(c->session_id, sizeof(c->session_id), "%s",
                     sid->valuestring);
        }

        lg_calls_start(c, now);

    } else if (strcmp(ev->valuestring, "signal") == 0) {
        m = cJSON_GetObjectItemCaseSensitive(d, "data");

        if (cJSON_IsString(m)) {
            lg_calls_signal_in(c, m->valuestring, strlen(m->valuestring),
                               now);
        }

    } else if (strcmp(ev->valuestring, "error") == 0) {
        c->lg->res.signaling_errors++;
        m = cJSON_GetObjectItemCaseSensitive(d, "message");

        lg_client_fail(c, "server error: %s",
                       cJSON_IsString(m) ? m->valuestring : "?");
    }

    /* user_joined, user_left, user_voice_on ...: nothing to do */

done:

    cJSON_Delete(msg);
}


/* the server's signal: a description or a candidate, JSON */

void
lg_calls_signal_in(lg_client_t *c, const char *json, size_t len,
    uint64_t now)
{
    char               err[256];
    cJSON             *sig, *type;
    lg_leg_t          *leg = &c->legs[0];
    lg_calls_t        *bk = c->bk;
    ngx_calls_offer_t *desc;
    unsigned           is_offer, is_answer;

    if (leg->peer == NULL || bk == NULL) {
        return;
    }

    sig = cJSON_ParseWithLength(json, len);
    type = cJSON_GetObjectItemCaseSensitive(sig, "type");

    is_offer = cJSON_IsString(type) && strcmp(type->valuestring, "offer") == 0;
    is_answer = cJSON_IsString(type)
                && strcmp(type->valuestring, "answer") == 0;

    cJSON_Delete(sig);

    if (is_offer && bk->offer_pending) {

        /* glare: ours was dropped; roll it back, answer, offer again */

        desc = ngx_calls_peer_description(leg->peer);
        desc->nmedia = bk->stable_nmedia;
        bk->offer_pending = 0;
        bk->redo = 1;
        c->lg->res.glare++;
    }

    if (ngx_calls_peer_signal(leg->peer, json, len, now / 1000, err,
                              sizeof(err))
        != 0)
    {
        lg_client_fail(c, "server's signal refused: %s", err);
        return;
    }

    lg_leg_timer(leg, now);

    if (is_answer && bk->offer_pending) {
        bk->offer_pending = 0;

        switch (bk->step) {

        case LG_STEP_AUDIO:
            (void) lg_calls_action(c, "unmute", NULL);
            lg_start_audio(c, now);
            break;

        case LG_STEP_SCREEN:
            lg_start_video(c, now);
            break;
        }

        lg_calls_next(c, now);
        return;
    }

    if (bk->redo && !bk->offer_pending) {
        bk->redo = 0;

        if (lg_calls_offer_step(c, now) != 0) {
            lg_client_fail(c, "our offer failed after a rollback");
        }
    }
}


/* the next thing the client does once the last offer was answered */

static void
lg_calls_next(lg_client_t *c, uint64_t now)
{
    char         json[128];
    lg_calls_t  *bk = c->bk;

    for ( ;; ) {
        bk->step++;

        if (bk->step == LG_STEP_AUDIO && c->unmuted) {
            break;
        }

        if (bk->step == LG_STEP_SCREEN && c->screen) {

            /* CallsClient: screen_on before the track is added */
            snprintf(json, sizeof(json), "{\"screenStreamID\":\"%s\"}",
                     c->screen_stream_id);
            (void) lg_calls_action(c, "screen_on", json);
            break;
        }

        if (bk->step >= LG_STEP_DONE) {
            return;
        }
    }

    if (lg_calls_offer_step(c, now) != 0) {
        lg_client_fail(c, "our offer failed");
    }
}


/* adds the step's track (again, after a rollback) and offers */

static int
lg_calls_offer_step(lg_client_t *c, uint64_t now)
{
    char                track[64];
    lg_leg_t           *leg = &c->legs[0];
    lg_calls_t         *bk = c->bk;
    ngx_calls_offer_t  *desc;

    static const char  *rids[2] = { "l", "h" };

    desc = ngx_calls_peer_description(leg->peer);
    bk->stable_nmedia = desc->nmedia;

    switch (bk->step) {

    case LG_STEP_DC:
        if (desc->nmedia == 0 && ngx_calls_offer_add_data(desc) == NULL) {
            return -1;
        }

        break;

    case LG_STEP_AUDIO:
        snprintf(track, sizeof(track), "%s-mic", c->stream_id);

        if (ngx_calls_offer_add_audio(desc, c->stream_id, track,
                                      c->audio.ssrc[0])
            == NULL)
        {
            return -1;
        }

        break;

    case LG_STEP_SCREEN:
        snprintf(track, sizeof(track), "%s-video", c->screen_stream_id);

        if (ngx_calls_offer_add_video(desc, c->screen_stream_id, track,
                                      c->video.ssrc,
                                      c->lg->conf.simulcast ? rids : NULL,
                                      c->lg->conf.simulcast ? 2 : 0)
            == NULL)
        {
            return -1;
        }

        break;

    default:
        return 0;
    }

    bk->offer_pending = 1;

    return ngx_calls_peer_offer(leg->peer, now / 1000);
}


/* the peer's description, to the server */

void
lg_calls_signal(lg_leg_t *leg, unsigned rtc_type, const char *json,
    size_t len)
{
    lg_client_t  *c = leg->client;

    if (lg_calls_action(c, "sdp", json) != 0) {
        lg_client_fail(c, "signaling: sdp not sent");
    }
}


static int
lg_calls_action(lg_client_t *c, const char *action, const char *data)
{
    cJSON  *msg;

    if (c->lg->backend == &lg_backend_rtcd) {
        return lg_rtcd_action(c, action, data);
    }

    if (c->ws == NULL) {
        return -1;
    }

    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "action", action);

    if (data != NULL) {
        cJSON_AddStringToObject(msg, "data", data);
    }

    return lg_ws_send_json(c->ws, msg);
}


static void
lg_calls_closed(lg_ws_t *ws, void *data, const char *why)
{
    lg_client_t  *c = data;

    c->ws = NULL;

    if (!c->left) {
        lg_client_fail(c, "signaling closed: %s", why);
    }
}


int
lg_calls_send(lg_client_t *c, lg_leg_t *leg, uint8_t *buf, size_t len)
{
    return ngx_calls_peer_send_rtp(leg->peer, buf, len);
}


void
lg_calls_leave(lg_client_t *c)
{
    if (c->ws != NULL || c->lg->backend == &lg_backend_rtcd) {
        (void) lg_calls_action(c, "leave", NULL);
    }

    if (c->ws != NULL) {
        lg_ws_close(c->ws);
        c->ws = NULL;
    }

    free(c->bk);
    c->bk = NULL;
}


const lg_backend_t  lg_backend_calls = {
    "calls",
    NULL,
    NULL,
    lg_calls_join,
    NULL,
    NULL,
    lg_calls_signal,
    lg_calls_send,
    lg_calls_leave
};
