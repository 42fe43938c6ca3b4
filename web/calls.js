// ngx_calls standalone web client.
//
// Plain browser WebRTC against the standalone signaling endpoint
// (<page dir>/calls/ws).  The call flow mirrors what Mattermost's RTCPeer
// does with rtcd, because the server behaves like rtcd:
//  - we offer first, with only the `calls-dc` data channel (m=application);
//  - the server answers, trickles candidates and, once `calls-dc` is open,
//    sends its own offers adding one m=audio per other participant
//    (msid stream id = that participant's session id);
//  - the microphone is added with addTrack on the first unmute (we
//    renegotiate with our own offer); later mute/unmute swap the track with
//    replaceTrack and only send the mute/unmute action;
//  - the server is the impolite peer: on colliding offers we roll back ours
//    and take the server's (our change is re-offered afterwards);
//  - every second we send msgpack Ping (0x01) on `calls-dc`; the server
//    answers Pong (msgpack 2) and we show the round trip time;
//  - screen sharing is the Calls client's: `screen_on` with the id of the
//    captured MediaStream, then a sendonly transceiver in that stream (our
//    offer); stopping removes it (our offer) and sends `screen_off`.  The
//    others' screens come as video m-sections in the server's offers and
//    play in a <video> each.
//
// window.callsClient is a small hook for the browser tests.

import {inboundAudio, inboundVideo, selectedPair} from './stats.js';

const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
const PING_INTERVAL_MS = 1000;
const DC_PING = new Uint8Array([0x01]);   // msgpack positive fixint 1 = Ping
const DC_PONG = 2;
// one encoding, as the Calls client without simulcast
const SCREEN_ENCODINGS = [{maxBitrate: 1000 * 1000, maxFramerate: 10, scaleResolutionDownBy: 1.0}];

const $ = (id) => document.getElementById(id);

// ws(s)://<page directory>/calls/ws; ?ws=<url> overrides it (tests).
function signalingURL() {
    const override = new URLSearchParams(location.search).get('ws');
    const url = new URL(override || 'calls/ws', location.href);
    if (url.protocol === 'http:') {
        url.protocol = 'ws:';
    } else if (url.protocol === 'https:') {
        url.protocol = 'wss:';
    }
    return url.href;
}

// The type of a flat-msgpack calls-dc message: the first msgpack value, an
// unsigned integer in any width a msgpack encoder may choose.
function dcMessageType(buf) {
    const b = new Uint8Array(buf);
    if (b.length === 0) {
        return null;
    }
    if (b[0] <= 0x7f) {
        return b[0];                        // positive fixint
    }
    if (b[0] === 0xcc && b.length >= 2) {
        return b[1];                        // uint8
    }
    if (b[0] === 0xcd && b.length >= 3) {
        return (b[1] << 8) | b[2];          // uint16
    }
    return null;
}

// Session id of the sender of a forwarded track: the msid stream id, or, if
// the browser gave us no stream, the middle of `voice_<session>_<random>`.
function senderOf(ev) {
    if (ev.streams && ev.streams.length > 0) {
        return ev.streams[0].id;
    }
    const id = ev.track.id;
    const first = id.indexOf('_');
    const last = id.lastIndexOf('_');
    return first >= 0 && last > first ? id.slice(first + 1, last) : id;
}

// One joined call: a WebSocket, a peer connection, the participants.
// A new Call is made for every join, so late events of an old one are
// harmless: they only touch their own object.
class Call {
    constructor(room, {muted, onChange}) {
        this.room = room;
        this.wantMic = !muted;       // the user's intent: mic on or off
        this.onChange = onChange;
        this.status = 'connecting';
        this.sessionID = null;
        this.callID = null;
        this.participants = new Map();  // session id -> {muted, speaking, voiceOns, sharing}
        this.audio = new Map();         // sender session id -> <audio>
        this.videos = new Map();        // remote video track id -> <figure>
        this.screen = null;             // our share: {stream, track, sender}
        this.trackSender = new Map();   // remote track id -> sender session id
        this.pc = null;
        this.iceServers = [];
        this.dc = null;
        this.micStream = null;
        this.micSender = null;          // set by the first unmute's addTrack
        this.makingOffer = false;
        this.pendingCandidates = [];
        this.signalChain = Promise.resolve();
        this.pingTimer = null;
        this.pingSentAt = 0;
        this.rtt = null;                // ms
        this.pongs = 0;
        this.errors = [];
        this.offersSent = 0;
        this.answersSent = 0;
        this.closed = false;
        this.failed = false;
        this.connectedOnce = false;
    }

    async start() {
        // Ask for the microphone now, while we still hold the click's user
        // activation; it is added to the peer once the media connection is
        // up, so that the first offer carries only the data channel.
        if (this.wantMic) {
            try {
                await this.getMic();
            } catch (err) {
                this.error(`microphone unavailable, joining muted: ${err.message || err}`);
                this.wantMic = false;
            }
        }
        if (this.closed) {
            return;
        }
        this.ws = new WebSocket(signalingURL());
        this.ws.onopen = () => {
            this.setStatus('joining');
            this.send({action: 'join', data: {channelID: this.room}});
        };
        this.ws.onmessage = (ev) => this.onWSMessage(ev);
        this.ws.onerror = () => this.error('signaling connection error');
        this.ws.onclose = (ev) => {
            if (!this.closed) {
                const why = ev.reason ? `: ${ev.reason}` : '';
                this.teardown(`disconnected (code ${ev.code}${why})`, true);
            }
        };
    }

    send(msg) {
        if (this.ws && this.ws.readyState === WebSocket.OPEN) {
            this.ws.send(JSON.stringify(msg));
        }
    }

    setStatus(status) {
        this.status = status;
        this.onChange();
    }

    error(message) {
        console.error('calls:', message);
        this.errors.push(message);
        this.onChange();
    }

    onWSMessage(ev) {
        let msg;
        try {
            msg = JSON.parse(ev.data);
        } catch (err) {
            this.error('bad message from server');
            return;
        }
        const data = msg.data || {};
        switch (msg.event) {
        case 'join':
            this.onJoin(data);
            break;
        case 'signal':
            // Signals are applied strictly in arrival order: a candidate
            // must not overtake the offer it belongs to.
            this.signalChain = this.signalChain
                .then(() => this.onSignal(data.data))
                .catch((err) => this.error(`signaling: ${err.message || err}`));
            break;
        case 'user_joined':
            this.upsert(data.session_id, {});
            break;
        case 'user_left':
            if (data.session_id === this.sessionID) {
                this.teardown('removed from the call', true);
                return;
            }
            this.participants.delete(data.session_id);
            this.dropAudio(data.session_id);
            this.dropVideo(data.session_id);
            break;
        case 'user_screen_on':
            this.upsert(data.session_id, {sharing: true});
            break;
        case 'user_screen_off':
            this.upsert(data.session_id, {sharing: false});
            this.dropVideo(data.session_id);
            break;
        case 'user_muted':
            this.upsert(data.session_id, {muted: true, speaking: false});
            break;
        case 'user_unmuted':
            this.upsert(data.session_id, {muted: false});
            break;
        case 'user_voice_on':
            if (data.session_id) {
                this.upsert(data.session_id, {speaking: true});
                this.participants.get(data.session_id).voiceOns++;
            }
            break;
        case 'user_voice_off':
            this.upsert(data.session_id, {speaking: false});
            break;
        case 'error':
            this.error(data.message || 'server error');
            break;
        default:
            console.debug('calls: ignoring event', msg.event);
        }
        this.onChange();
    }

    upsert(sessionID, changes) {
        if (!sessionID) {
            return;
        }
        const p = this.participants.get(sessionID) || {muted: true, speaking: false, voiceOns: 0};
        this.participants.set(sessionID, Object.assign(p, changes));
    }

    onJoin(data) {
        this.sessionID = data.session_id;
        this.callID = data.call_id;
        this.upsert(this.sessionID, {muted: true});
        this.setStatus('connecting media');

        // the server's STUN and TURN servers, TURN with credentials made
        // for this session
        this.iceServers = Array.isArray(data.ice_servers) ? data.ice_servers : [];
        const pc = new RTCPeerConnection({iceServers: this.iceServers});
        this.pc = pc;
        pc.onnegotiationneeded = () => this.makeOffer();
        pc.onicecandidate = (ev) => {
            // The end-of-candidates null is not sent, as with RTCPeer.
            if (ev.candidate) {
                this.send({action: 'ice', data: JSON.stringify(ev.candidate)});
            }
        };
        pc.onconnectionstatechange = () => this.onConnectionState();
        pc.ontrack = (ev) => this.onTrack(ev);

        // Creating the channel is what triggers the first (DC-only) offer.
        this.dc = pc.createDataChannel('calls-dc');
        this.dc.binaryType = 'arraybuffer';
        this.dc.onmessage = (ev) => this.onDCMessage(ev.data);
        this.dc.onopen = () => {
            this.pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
        };
        this.dc.onclose = () => clearInterval(this.pingTimer);
    }

    async makeOffer() {
        const pc = this.pc;
        try {
            this.makingOffer = true;
            await pc.setLocalDescription();
            this.send({action: 'sdp', data: JSON.stringify(pc.localDescription)});
            this.offersSent++;
        } catch (err) {
            this.error(`offer failed: ${err.message || err}`);
        } finally {
            this.makingOffer = false;
        }
    }

    async onSignal(raw) {
        const pc = this.pc;
        if (!pc || this.closed) {
            return;
        }
        const msg = typeof raw === 'string' ? JSON.parse(raw) : raw;

        if (msg.type === 'candidate') {
            if (pc.remoteDescription) {
                await this.addCandidate(msg.candidate);
            } else {
                this.pendingCandidates.push(msg.candidate);
            }
            return;
        }

        if (msg.type === 'offer') {
            // We are the polite peer: if our own offer is in flight, the
            // server has dropped it; setRemoteDescription rolls it back
            // implicitly, and negotiationneeded fires again once we are
            // stable, so our change is offered anew.
            if (this.makingOffer || pc.signalingState !== 'stable') {
                console.debug('calls: offer collision, rolling back ours');
            }
            await pc.setRemoteDescription(msg);
            await this.flushCandidates();
            await pc.setLocalDescription();
            this.send({action: 'sdp', data: JSON.stringify(pc.localDescription)});
            this.answersSent++;
        } else if (msg.type === 'answer') {
            if (pc.signalingState !== 'have-local-offer') {
                // an answer to an offer we have since rolled back
                console.debug('calls: ignoring stale answer');
                return;
            }
            await pc.setRemoteDescription(msg);
            await this.flushCandidates();
        } else {
            throw new Error(`unknown signal type ${msg.type}`);
        }
    }

    async flushCandidates() {
        const queued = this.pendingCandidates;
        this.pendingCandidates = [];
        for (const c of queued) {
            await this.addCandidate(c);
        }
    }

    // One unusable candidate is not fatal; ICE may well work with others.
    async addCandidate(candidate) {
        try {
            await this.pc.addIceCandidate(candidate);
        } catch (err) {
            console.warn('calls: candidate rejected:', err.message, JSON.stringify(candidate));
        }
    }

    onConnectionState() {
        const state = this.pc.connectionState;
        if (state === 'connected') {
            this.setStatus('connected');
            if (!this.connectedOnce) {
                this.connectedOnce = true;
                if (this.wantMic) {
                    this.unmute();
                }
            }
        } else if (state === 'failed') {
            this.error('media connection failed');
            this.send({action: 'leave'});
            this.teardown('media connection failed', true);
        } else if (state === 'disconnected') {
            this.setStatus('media interrupted');
        }
    }

    onTrack(ev) {
        if (ev.track.kind === 'video') {
            this.addVideo(ev);
            return;
        }
        if (ev.track.kind !== 'audio') {
            console.debug('calls: ignoring a remote', ev.track.kind, 'track');
            return;
        }
        const sender = senderOf(ev);
        this.trackSender.set(ev.track.id, sender);
        let el = this.audio.get(sender);
        if (!el) {
            el = document.createElement('audio');
            el.autoplay = true;
            el.dataset.session = sender;
            $('audio').appendChild(el);
            this.audio.set(sender, el);
        }
        el.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
        el.play().catch((err) => console.debug('calls: autoplay:', err.message));
        this.onChange();
    }

    // A remote screen (or camera): the track id is <type>_<sender>_<id>.
    addVideo(ev) {
        const track = ev.track;
        const sender = senderOf(ev);
        this.trackSender.set(track.id, sender);
        let fig = this.videos.get(track.id);
        if (!fig) {
            fig = document.createElement('figure');
            fig.dataset.session = sender;
            const video = document.createElement('video');
            video.autoplay = true;
            video.muted = true;
            video.playsInline = true;
            const caption = document.createElement('figcaption');
            caption.textContent = `${track.id.split('_')[0]} of ${sender}`;
            fig.append(video, caption);
            $('screens').appendChild(fig);
            this.videos.set(track.id, fig);
        }
        const video = fig.querySelector('video');
        video.srcObject = new MediaStream([track]);
        video.play().catch((err) => console.debug('calls: autoplay:', err.message));
        this.onChange();
    }

    dropVideo(sender) {
        for (const [id, fig] of [...this.videos]) {
            if (fig.dataset.session === sender) {
                fig.querySelector('video').srcObject = null;
                fig.remove();
                this.videos.delete(id);
            }
        }
    }

    // Share a screen (getDisplayMedia asks the user which one).
    async shareScreen() {
        if (this.screen || !this.connectedOnce || this.closed) {
            return;
        }
        const capture = await navigator.mediaDevices.getDisplayMedia({video: true, audio: false});
        const track = capture.getVideoTracks()[0];
        const stream = new MediaStream([track]);
        // the server must know the stream before our offer carries it
        this.send({action: 'screen_on', data: JSON.stringify({screenStreamID: stream.id})});
        const trx = this.pc.addTransceiver(track, {direction: 'sendonly', streams: [stream],
            sendEncodings: SCREEN_ENCODINGS});
        this.screen = {stream, track, sender: trx.sender};
        // the browser's own "stop sharing" ends the track
        track.onended = () => this.stopScreen();
        this.upsert(this.sessionID, {sharing: true});
        this.onChange();
    }

    stopScreen() {
        if (!this.screen) {
            return;
        }
        const {track, sender} = this.screen;
        this.screen = null;
        track.onended = null;
        track.stop();
        if (!this.closed) {
            this.pc.removeTrack(sender);    // negotiationneeded: our offer
            this.send({action: 'screen_off'});
        }
        this.upsert(this.sessionID, {sharing: false});
        this.onChange();
    }

    dropAudio(sender) {
        const el = this.audio.get(sender);
        if (el) {
            el.srcObject = null;
            el.remove();
            this.audio.delete(sender);
        }
    }

    ping() {
        if (this.dc && this.dc.readyState === 'open') {
            this.pingSentAt = performance.now();
            this.dc.send(DC_PING);
        }
    }

    onDCMessage(data) {
        // The server speaks flat msgpack; older servers answer text "pong".
        const isPong = typeof data === 'string' ? data === 'pong' : dcMessageType(data) === DC_PONG;
        if (isPong && this.pingSentAt > 0) {
            this.rtt = performance.now() - this.pingSentAt;
            this.pongs++;
            this.onChange();
        }
    }

    async getMic() {
        if (!this.micStream) {
            this.micStream = await navigator.mediaDevices.getUserMedia({
                audio: {autoGainControl: true, echoCancellation: true, noiseSuppression: true},
            });
        }
        return this.micStream.getAudioTracks()[0];
    }

    async unmute() {
        this.wantMic = true;
        if (!this.connectedOnce) {
            // Applied once the media connection is up: the first offer must
            // carry only the data channel.
            this.onChange();
            return;
        }
        let track;
        try {
            track = await this.getMic();
        } catch (err) {
            this.error(`microphone unavailable: ${err.message || err}`);
            this.wantMic = false;
            this.onChange();
            return;
        }
        track.enabled = true;
        if (!this.micSender) {
            // First unmute: a new m=audio, negotiated by our own offer.
            this.micSender = this.pc.addTrack(track, this.micStream);
        } else {
            await this.micSender.replaceTrack(track);
        }
        this.send({action: 'unmute'});
        this.upsert(this.sessionID, {muted: false});
        this.onChange();
    }

    async mute() {
        this.wantMic = false;
        if (this.micSender) {
            await this.micSender.replaceTrack(null);
            this.send({action: 'mute'});
        }
        if (this.micStream) {
            this.micStream.getAudioTracks()[0].enabled = false;
        }
        this.upsert(this.sessionID, {muted: true, speaking: false});
        this.onChange();
    }

    leave() {
        this.send({action: 'leave'});
        this.teardown('left', false);
    }

    teardown(status, failed) {
        if (this.closed) {
            return;
        }
        this.closed = true;
        clearInterval(this.pingTimer);
        if (this.ws) {
            this.ws.onclose = null;
            this.ws.close();
        }
        if (this.pc) {
            this.pc.close();
        }
        for (const sender of [...this.audio.keys()]) {
            this.dropAudio(sender);
        }
        for (const fig of this.videos.values()) {
            fig.remove();
        }
        this.videos.clear();
        if (this.screen) {
            this.screen.track.stop();
            this.screen = null;
        }
        if (this.micStream) {
            this.micStream.getTracks().forEach((t) => t.stop());
        }
        this.failed = failed;
        this.setStatus(status);
    }

    // Per remote video track: frames decoded, resolution, codec.
    async videoStats() {
        if (!this.pc) {
            return [];
        }
        const report = await this.pc.getStats();
        return inboundVideo(report, (id) => this.trackSender.get(id) || id);
    }

    // Per remote stream (sender session id): inbound-rtp audio counters.
    async audioStats() {
        if (!this.pc) {
            return {};
        }
        const report = await this.pc.getStats();
        return inboundAudio(report, (id) => this.trackSender.get(id) || id);
    }
}

// ---- page wiring ----

let call = null;

function showError(message) {
    const el = $('error');
    el.textContent = message;
    el.hidden = !message;
}

function render() {
    const active = call && !call.closed;
    $('join').disabled = !!active;
    $('room').disabled = !!active;
    $('join-muted').disabled = !!active;
    $('leave').disabled = !active;

    const mic = $('mic');
    const micOn = !!(call && call.wantMic);
    mic.disabled = !(active && call.pc);
    mic.setAttribute('aria-pressed', String(micOn && !!active));
    mic.textContent = micOn && active ? 'Microphone on' : 'Microphone off';

    const status = $('status');
    status.textContent = call ? call.status : 'not connected';
    status.className = 'status' + (call && call.status === 'connected' ? ' connected' : '') +
        (call && call.failed ? ' failed' : '');
    $('rtt').textContent = active && call.rtt !== null ? `rtt ${call.rtt.toFixed(1)} ms` : '';

    const share = $('share');
    const sharing = !!(active && call.screen);
    share.disabled = !(active && call.connectedOnce && navigator.mediaDevices
                       && navigator.mediaDevices.getDisplayMedia);
    share.setAttribute('aria-pressed', String(sharing));
    share.textContent = sharing ? 'Stop sharing' : 'Share screen';

    if (call && call.errors.length > 0) {
        showError(call.errors[call.errors.length - 1]);
    }

    const list = $('participants');
    list.replaceChildren();
    if (!active) {
        return;
    }
    // self first, then the others in arrival order
    const ids = [...call.participants.keys()];
    ids.sort((a, b) => (b === call.sessionID) - (a === call.sessionID));
    for (const id of ids) {
        const p = call.participants.get(id);
        const li = document.createElement('li');
        li.dataset.session = id;
        li.classList.toggle('speaking', !!p.speaking);
        li.classList.toggle('unmuted', !p.muted);
        const dot = document.createElement('span');
        dot.className = 'voice';
        dot.title = p.speaking ? 'speaking' : 'silent';
        const name = document.createElement('span');
        name.textContent = id;
        li.append(dot, name);
        if (id === call.sessionID) {
            const you = document.createElement('span');
            you.className = 'you';
            you.textContent = '(you)';
            li.append(you);
        }
        if (p.sharing) {
            const tag = document.createElement('span');
            tag.className = 'sharing';
            tag.textContent = 'sharing screen';
            li.append(tag);
        }
        const mic = document.createElement('span');
        mic.className = 'mic';
        mic.textContent = p.muted ? 'muted' : 'unmuted';
        li.append(mic);
        list.append(li);
    }
}

function join(room, {muted = $('join-muted').checked} = {}) {
    if (call && !call.closed) {
        throw new Error('already in a call');
    }
    if (!ROOM_RE.test(room)) {
        showError('room name: 1 to 64 characters, letters, digits, ".", "_" or "-"');
        return null;
    }
    showError('');
    $('room').value = room;
    $('join-muted').checked = muted;
    call = new Call(room, {muted, onChange: render});
    const joining = call;
    render();
    joining.start().catch((err) => joining.error(err.message || String(err)));
    return joining;
}

$('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    join($('room').value.trim());
});

$('leave').addEventListener('click', () => call && call.leave());

$('mic').addEventListener('click', () => {
    if (!call || call.closed) {
        return;
    }
    const p = call.wantMic ? call.mute() : call.unmute();
    p.catch((err) => call.error(err.message || String(err)));
});

$('share').addEventListener('click', () => {
    if (!call || call.closed) {
        return;
    }
    if (call.screen) {
        call.stopScreen();
        return;
    }
    call.shareScreen().catch((err) => call.error(`screen sharing: ${err.message || err}`));
});

window.addEventListener('error', (ev) => showError(ev.message));
window.addEventListener('unhandledrejection', (ev) => {
    showError(String(ev.reason && ev.reason.message ? ev.reason.message : ev.reason));
});
window.addEventListener('pagehide', () => call && !call.closed && call.leave());

$('room').value = new URLSearchParams(location.search).get('room') || '';
render();

// Test hook: read-only views of the state plus the page's own actions.
window.callsClient = {
    join: (room, opts) => {
        join(room, opts);
    },
    leave: () => call && call.leave(),
    mute: () => call && call.mute(),
    unmute: () => call && call.unmute(),
    stopScreen: () => call && call.stopScreen(),
    get state() {
        if (!call) {
            return {status: 'not connected'};
        }
        return {
            room: call.room,
            status: call.status,
            sessionID: call.sessionID,
            callID: call.callID,
            iceServers: call.iceServers,
            muted: !call.wantMic,
            micAdded: !!call.micSender,
            signalingState: call.pc ? call.pc.signalingState : null,
            connectionState: call.pc ? call.pc.connectionState : null,
            participants: Object.fromEntries(call.participants),
            remoteStreams: [...call.audio.keys()],
            remoteVideos: [...call.videos.keys()],
            sharing: call.screen ? call.screen.stream.id : null,
            rttMs: call.rtt,
            pongs: call.pongs,
            offersSent: call.offersSent,
            answersSent: call.answersSent,
            errors: [...call.errors],
        };
    },
    audioStats: () => (call ? call.audioStats() : Promise.resolve({})),
    videoStats: () => (call ? call.videoStats() : Promise.resolve([])),
    selectedPair: async () => (call && call.pc ? selectedPair(await call.pc.getStats()) : null),
    // the <video> elements of the others' screens: their session, size,
    // whether they play
    screens: () => [...document.querySelectorAll('#screens figure')].map((f) => {
        const v = f.querySelector('video');
        return {session: f.dataset.session, width: v.videoWidth, height: v.videoHeight,
            paused: v.paused, readyState: v.readyState};
    }),
    localSDP: () => (call && call.pc && call.pc.localDescription ? call.pc.localDescription.sdp : null),
};
