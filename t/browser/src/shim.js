// Test page glue: Mattermost's real RTCPeer (npm @mattermost/calls-common)
// driven over ngx_calls' standalone signaling (/calls/ws, JSON frames).
//
// This plays the part CallsClient plays in the Mattermost webapp, reduced to
// what a call needs: join, wait for the join ack, create the RTCPeer, carry
// its offer/answer/candidate events to the server and the server's signal
// events back to peer.signal(), play every remote stream, and once the peer
// is connected add the microphone with peer.addTrack() (what CallsClient does
// on the first unmute) and send `unmute`.
//
// Screen sharing is CallsClient.setScreenStream's: getDisplayMedia
// (Chromium's fake capture in the tests), `screen_on` with the new
// MediaStream's id, then RTCPeer.addStream (a sendonly transceiver with
// the l/h simulcast encodings when simulcast=1, one encoding otherwise);
// with av1=1 (and AV1 in the browser's capabilities) the join says
// av1Support and the same track goes out a second time on a transceiver
// that prefers AV1, as the Calls webapp does.  Remote video plays in muted
// <video> elements.
//
// Page parameters (query string):
//   room=<name>   required unless dry=1
//   ws=<url>      signaling URL; default /calls/ws on the page's origin
//   mic=0         never add the microphone (a listen-only participant)
//   simulcast=1   RTCPeer's simulcast option (screen encodings l and h)
//   av1=1         join with av1Support and share an AV1 copy too
//   relay=1       iceTransportPolicy "relay": only TURN relay candidates
//                 (through the TURN servers of the join event)
//   dry=1         no server: create an RTCPeer, keep its first offer, open
//                 the (fake) microphone and measure its level; for checking
//                 the bundle and the browser without a server
//
// The peer uses the ICE servers of the join event (TURN ones with the
// credentials the server made for the session), as CallsClient uses the
// plugin's; a TURN server that refuses them is an error
// (icecandidateerror).
//
// Everything is exposed on window.harness for the runner (call.mjs):
// shareScreen(), stopScreen(), audioStats(), videoStats(),
// outboundVideo(), selectedPair(), state (with an event log in epoch
// seconds).

import {RTCPeer} from '@mattermost/calls-common';

import {inboundAudio, inboundVideo, outboundVideo, selectedPair} from '../../../web/stats.js';

const params = new URLSearchParams(location.search);
const logLines = [];

function log(level, ...args) {
    const text = args.map((a) => {
        if (a instanceof Error) {
            return `${a.name}: ${a.message}`;
        }
        return typeof a === 'string' ? a : JSON.stringify(a);
    }).join(' ');
    logLines.push(`${(performance.now() / 1000).toFixed(3)} ${level} ${text}`);
    const fn = level === 'error' ? console.error : level === 'warn' ? console.warn : console.log;
    fn(`[harness] ${level}: ${text}`);
}

// The logger interface RTCPeer expects.
const logger = {
    logDebug: (...a) => log('debug', ...a),
    logInfo: (...a) => log('info', ...a),
    logWarn: (...a) => log('warn', ...a),
    logErr: (...a) => log('error', ...a),
};

const state = {
    status: 'loading',
    room: params.get('room'),
    sessionID: null,
    callID: null,
    iceServers: [],           // of the join event
    relay: params.get('relay') === '1',
    firstOffer: null,         // SDP of the first offer the peer made
    offers: 0,                // offers sent (first + renegotiations)
    answers: 0,               // answers sent to server offers
    signalsIn: 0,
    candidatesOut: 0,
    connected: false,
    micAdded: false,
    unmuteSent: false,
    participants: {},         // session id -> {muted, speaking}
    remoteStreams: [],        // sender session ids we have an <audio> for
    remoteVideo: [],          // remote video track ids we have a <video> for
    eventLog: [],             // [epoch seconds, event, session id]
    serverOffers: [],         // epoch seconds of each server offer
    av1Support: false,
    screen: null,             // our share: {streamID, trackID, av1, at}
    errors: [],
    micLevel: null,           // dry run: RMS of the fake microphone, 0..1
};

const FallbackScreenEncodings = [{maxBitrate: 1000 * 1000, maxFramerate: 10, scaleResolutionDownBy: 1.0}];

let peer = null;
let ws = null;
const trackSender = new Map();   // remote track id -> sender session id
const audioBySender = new Map(); // sender session id -> <audio>
const videoByTrack = new Map();  // remote track id -> <video>
let screenShare = null;          // {stream, track, av1Sender}

function fail(message) {
    log('error', message);
    state.errors.push(String(message));
}

function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify(msg));
    }
}

function signalingURL() {
    const url = new URL(params.get('ws') || '/calls/ws', location.href);
    if (url.protocol === 'http:') {
        url.protocol = 'ws:';
    } else if (url.protocol === 'https:') {
        url.protocol = 'wss:';
    }
    return url.href;
}

// Session id of the sender of a forwarded track: the msid stream id, else
// the middle part of the rtcd-style track id `voice_<session>_<random>`.
function senderFromTrackEvent(ev) {
    if (ev.streams && ev.streams.length > 0) {
        return ev.streams[0].id;
    }
    const id = ev.track.id;
    const first = id.indexOf('_');
    const last = id.lastIndexOf('_');
    return first >= 0 && last > first ? id.slice(first + 1, last) : id;
}

function upsert(sessionID, changes) {
    if (!sessionID) {
        return;
    }
    const p = state.participants[sessionID] || {muted: true, speaking: false, voiceOns: 0};
    state.participants[sessionID] = Object.assign(p, changes);
}

// The AV1 codec capability, when the browser has one (what CallsClient
// checks before it says av1Support).
function av1Codec() {
    const caps = window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities
        ? RTCRtpReceiver.getCapabilities('video') : null;
    return caps ? caps.codecs.find((c) => c.mimeType.toLowerCase() === 'video/av1') || null : null;
}

function newPeer() {
    const config = {iceServers: state.iceServers, logger, simulcast: params.get('simulcast') === '1'};
    if (state.relay) {
        // RTCPeer hands its config to RTCPeerConnection as it is
        config.iceTransportPolicy = 'relay';
    }
    const p = new RTCPeer(config);

    p.on('offer', (desc) => {
        state.offers++;
        if (state.firstOffer === null) {
            state.firstOffer = desc.sdp;
        }
        send({action: 'sdp', data: JSON.stringify(desc)});
    });
    p.on('answer', (desc) => {
        state.answers++;
        send({action: 'sdp', data: JSON.stringify(desc)});
    });
    p.on('candidate', (c) => {
        state.candidatesOut++;
        send({action: 'ice', data: JSON.stringify(c)});
    });
    p.on('connect', () => {
        state.connected = true;
        state.status = 'connected';
        log('info', 'rtc connected');
        if (params.get('mic') !== '0') {
            addMicrophone().catch((err) => fail(`microphone: ${err.message || err}`));
        }
    });
    p.on('stream', (stream) => playStream(stream));
    p.on('error', (err) => fail(`rtc error: ${err && err.message ? err.message : err}`));
    p.on('close', (err) => {
        state.connected = false;
        state.status = 'rtc closed';
        if (err) {
            fail(`rtc closed: ${err.message || err}`);
        }
    });

    // RTCPeer's 'stream' event wraps each track in a new MediaStream and so
    // loses the msid stream id, which is how the server names the sender.
    // Listen on the same peer connection for the original track event (an
    // extra listener; RTCPeer keeps its own ontrack handler).
    p.pc.addEventListener('track', (ev) => {
        trackSender.set(ev.track.id, senderFromTrackEvent(ev));
    });
    // A STUN or TURN server's error answer (401: credentials refused) is
    // an error; 701 (this interface cannot reach the server, such as IPv6
    // to an IPv4 server) is not.
    p.pc.addEventListener('icecandidateerror', (ev) => {
        const text = `icecandidateerror ${ev.errorCode} ${ev.errorText} from ${ev.url}`;
        if (ev.errorCode >= 300 && ev.errorCode <= 699) {
            fail(text);
        } else {
            log('warn', text);
        }
    });
    return p;
}

function epoch() {
    return Date.now() / 1000;
}

function playStream(stream) {
    // RTCPeer emits 'stream' from its ontrack handler, which runs before our
    // own 'track' listener: look the sender up once that has run too.
    setTimeout(() => attachStream(stream), 0);
}

function attachStream(stream) {
    const track = stream.getTracks()[0];
    const sender = trackSender.get(track.id) || senderFromTrackEvent({track});
    if (track.kind === 'video') {
        attachVideo(stream, track, sender);
        return;
    }
    let el = audioBySender.get(sender);
    if (!el) {
        el = document.createElement('audio');
        el.autoplay = true;
        el.dataset.session = sender;
        document.getElementById('audio').appendChild(el);
        audioBySender.set(sender, el);
        state.remoteStreams.push(sender);
    }
    el.srcObject = stream;
    el.play().catch((err) => log('debug', `autoplay: ${err.message}`));
    log('info', `remote ${track.kind} track ${track.id} from ${sender}`);
}

// Remote video decodes into a muted <video>, one per track.
function attachVideo(stream, track, sender) {
    let el = videoByTrack.get(track.id);
    if (!el) {
        el = document.createElement('video');
        el.autoplay = true;
        el.muted = true;
        el.playsInline = true;
        el.width = 320;
        el.dataset.session = sender;
        el.dataset.track = track.id;
        document.getElementById('video').appendChild(el);
        videoByTrack.set(track.id, el);
        state.remoteVideo.push(track.id);
    }
    el.srcObject = stream;
    el.play().catch((err) => log('debug', `autoplay: ${err.message}`));
    log('info', `remote video track ${track.id} from ${sender}`);
}

// CallsClient.setScreenStream, with RTCPeer 0.27.2 doing addStream.
async function shareScreen() {
    if (!peer) {
        throw new Error('not connected');
    }
    const capture = await navigator.mediaDevices.getDisplayMedia({video: true, audio: false});
    const track = capture.getVideoTracks()[0];
    const stream = new MediaStream([track]);
    screenShare = {stream, track, av1Sender: null};
    state.screen = {streamID: stream.id, trackID: track.id, label: track.label,
        settings: track.getSettings(), av1: false, at: epoch()};
    send({action: 'screen_on', data: JSON.stringify({screenStreamID: stream.id})});
    peer.addStream(stream);
    const av1 = av1Codec();
    if (state.av1Support && av1) {
        // the AV1 copy of the same track; VP8 stays as the fallback
        const trx = peer.pc.addTransceiver(track, {direction: 'sendonly',
            sendEncodings: FallbackScreenEncodings, streams: [stream]});
        trx.setCodecPreferences([av1]);
        screenShare.av1Sender = trx.sender;
        state.screen.av1 = true;
    }
    log('info', `sharing screen ${stream.id} (${track.label})`);
    return state.screen;
}

// CallsClient.unshareScreen: removeTrack (renegotiates), then screen_off.
function stopScreen() {
    if (!screenShare) {
        return;
    }
    peer.removeTrack(screenShare.track.id);
    if (screenShare.av1Sender) {
        peer.pc.removeTrack(screenShare.av1Sender);
    }
    screenShare.track.stop();
    screenShare = null;
    state.screen.stoppedAt = epoch();
    send({action: 'screen_off'});
}

async function addMicrophone() {
    const stream = await navigator.mediaDevices.getUserMedia({audio: true});
    const track = stream.getAudioTracks()[0];
    // CallsClient's first unmute: addTrack (renegotiates), then `unmute`.
    await peer.addTrack(track, stream);
    state.micAdded = true;
    send({action: 'unmute'});
    state.unmuteSent = true;
    upsert(state.sessionID, {muted: false});
    log('info', `microphone added: ${track.label}`);
}

function onWSMessage(ev) {
    let msg;
    try {
        msg = JSON.parse(ev.data);
    } catch (err) {
        fail(`bad frame from server: ${String(ev.data).slice(0, 100)}`);
        return;
    }
    const data = msg.data || {};
    if (msg.event && msg.event.startsWith('user_')) {
        state.eventLog.push([epoch(), msg.event, data.session_id]);
    }
    switch (msg.event) {
    case 'join':
        state.sessionID = data.session_id;
        state.callID = data.call_id;
        state.iceServers = Array.isArray(data.ice_servers) ? data.ice_servers : [];
        state.status = 'joined';
        upsert(state.sessionID, {});
        log('info', `joined: session ${state.sessionID} call ${state.callID}`);
        peer = newPeer();
        break;
    case 'signal':
        state.signalsIn++;
        if (!peer) {
            fail('signal before join');
            break;
        }
        if (/^\{"type":"offer"/.test(data.data || '')) {
            state.serverOffers.push(epoch());
        }
        peer.signal(data.data).catch((err) => fail(`signal: ${err.message || err}`));
        break;
    case 'user_joined':
        upsert(data.session_id, {});
        break;
    case 'user_left':
        delete state.participants[data.session_id];
        break;
    case 'user_muted':
        upsert(data.session_id, {muted: true, speaking: false});
        break;
    case 'user_unmuted':
        upsert(data.session_id, {muted: false});
        break;
    case 'user_voice_on':
        upsert(data.session_id, {speaking: true});
        if (data.session_id) {
            state.participants[data.session_id].voiceOns++;
        }
        break;
    case 'user_voice_off':
        upsert(data.session_id, {speaking: false});
        break;
    case 'error':
        fail(`server error: ${data.message}`);
        break;
    default:
        log('debug', `unhandled event ${msg.event}`);
    }
}

function start() {
    if (!state.room) {
        fail('no room given (?room=...)');
        state.status = 'error';
        return;
    }
    const url = signalingURL();
    log('info', `connecting to ${url}, room ${state.room}`);
    state.status = 'connecting';
    ws = new WebSocket(url);
    // CallsClient says av1Support only when the browser can do AV1
    state.av1Support = params.get('av1') === '1' && av1Codec() !== null;
    ws.onopen = () => {
        state.status = 'joining';
        const join = {channelID: state.room};
        if (state.av1Support) {
            join.av1Support = true;
        }
        send({action: 'join', data: join});
    };
    ws.onmessage = onWSMessage;
    ws.onerror = () => fail('websocket error');
    ws.onclose = (ev) => {
        state.status = `ws closed (${ev.code})`;
        if (!state.left) {
            fail(`websocket closed: code ${ev.code} ${ev.reason || ''}`.trim());
        }
    };
}

// No server: check what can be checked inside the browser alone.
async function dryRun() {
    state.status = 'dry run';
    peer = newPeer();
    // the first offer comes from negotiationneeded after createDataChannel
    const deadline = performance.now() + 5000;
    while (state.firstOffer === null && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
    }
    if (state.firstOffer === null) {
        fail('RTCPeer made no offer');
    }

    // Open the microphone (Chromium's fake device plays the test WAV) and
    // measure its level through WebAudio for about a second.
    const stream = await navigator.mediaDevices.getUserMedia({audio: true});
    const track = stream.getAudioTracks()[0];
    state.micLabel = track.label;
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const spectrum = new Float32Array(analyser.frequencyBinCount);
    const power = new Float64Array(analyser.frequencyBinCount);
    let sum = 0;
    let n = 0;
    for (let i = 0; i < 25; i++) {
        await new Promise((r) => setTimeout(r, 40));
        analyser.getFloatTimeDomainData(buf);
        for (const v of buf) {
            sum += v * v;
        }
        n += buf.length;
        analyser.getFloatFrequencyData(spectrum);    // dB per bin
        spectrum.forEach((db, k) => {
            power[k] += 10 ** (db / 10);
        });
    }
    state.micLevel = Math.sqrt(sum / n);
    // dominant frequency, to tell the test WAV from Chromium's own beep
    let peak = 1;
    for (let k = 1; k < power.length; k++) {
        if (power[k] > power[peak]) {
            peak = k;
        }
    }
    state.micHz = peak * ctx.sampleRate / analyser.fftSize;
    track.stop();
    await ctx.close();
    peer.destroy();
    peer = null;
    state.status = 'dry run done';
}

window.harness = {
    state,
    log: logLines,
    get peer() {
        return peer;
    },
    // Per sender session id: inbound-rtp audio counters from getStats().
    async audioStats() {
        if (!peer) {
            return {};
        }
        const report = await peer.getStats();
        return inboundAudio(report, (id) => trackSender.get(id) ||
            senderFromTrackEvent({track: {id}}));
    },
    // Per remote video track: frames decoded, resolution, codec.
    async videoStats() {
        if (!peer) {
            return [];
        }
        const report = await peer.getStats();
        return inboundVideo(report, (id) => trackSender.get(id) ||
            senderFromTrackEvent({track: {id}}));
    },
    // The ICE candidate pair in use: local and remote candidate types and
    // addresses.
    async selectedPair() {
        return peer ? selectedPair(await peer.getStats()) : null;
    },
    // What we send: one entry per encoding (simulcast layer).
    async outboundVideo() {
        return peer ? outboundVideo(await peer.getStats()) : {encodings: []};
    },
    shareScreen,
    stopScreen,
    // RTT of the data-channel ping in seconds (0.27.2: text ping/pong).
    rtt() {
        return peer ? peer.getRTT() : 0;
    },
    leave() {
        state.left = true;
        send({action: 'leave'});
        if (ws) {
            ws.close();
        }
        if (peer) {
            peer.destroy();
            peer = null;
        }
    },
};

window.addEventListener('error', (ev) => fail(`page error: ${ev.message}`));
window.addEventListener('unhandledrejection', (ev) => {
    fail(`unhandled rejection: ${ev.reason && ev.reason.message ? ev.reason.message : ev.reason}`);
});

if (params.get('dry') === '1') {
    dryRun().catch((err) => fail(`dry run: ${err.message || err}`));
} else {
    start();
}
