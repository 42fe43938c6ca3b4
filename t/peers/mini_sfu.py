#!/usr/bin/python3
"""A stand-in for ngx_calls' standalone signaling, for checking the CLIENTS.

This is not the product and not a reference for it: it is a small aiortc
program that speaks the /calls/ws protocol the way the nginx module is meant
to (rtcd-like), so that the web client, the RTCPeer test page and the aiortc
peer can be exercised end to end while the server is being written.  It
decodes and re-encodes audio (aiortc's MediaRelay), which a real SFU never
does.

    /usr/bin/python3 t/peers/mini_sfu.py [--port 0] [--build DIR] [--force-glare] [-v]

It prints `listening on http://127.0.0.1:PORT` and serves
  /calls/ws   the signaling WebSocket
  /t/...      $BUILD/browser (the RTCPeer page and bundle)
  /...        web/ (the standalone client)

Behaviour, after rtcd as described in the brief: the client offers first;
the answer's candidates are stripped from the SDP and trickled as signal
events; the server is the DTLS client; once `calls-dc` is open it offers
one new m=audio per other participant's voice (msid stream id =
the sender's session id, track id voice_<session>_<8 chars>); it is
impolite (drops a client offer that collides with its own); Ping (0x01) ->
Pong (cc 02), "ping" -> "pong"; a crude level detector sends
user_voice_on/off.
"""

import argparse
import asyncio
import http
import json
import logging
import mimetypes
import os
import re
import secrets
import sys
import uuid

import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from aiortc_peer import (audio_numbers, create_offer_keeping,
                         without_unnegotiated_transceivers)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ROOM_RE = re.compile(r'^[A-Za-z0-9._-]{1,64}$')
ANSWER_TIMEOUT = 10.0
FORCE_GLARE = False                      # --force-glare

# Header extension ids for audio when the client has not offered audio yet:
# Chromium's.  An offer must not give an id another meaning than the one
# already negotiated in the bundle (Chromium: "RTP extension ID reassignment
# not supported"), and aiortc's createOffer would use its own table.
DEFAULT_AUDIO_EXT = {'urn:ietf:params:rtp-hdrext:ssrc-audio-level': 1,
                     'urn:ietf:params:rtp-hdrext:sdes:mid': 4}

log = logging.getLogger('mini_sfu')
rooms = {}                               # room -> {session id: Session}
call_ids = {}                            # room -> call id


class Session:
    def __init__(self, ws, room):
        self.ws = ws
        self.room = room
        self.id = secrets.token_hex(13)  # 26 chars, like a Mattermost id
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.dc_open = False
        self.muted = True
        self.relay = None                # MediaRelay of our voice
        self.voice = None                # our incoming voice track
        self.forwards = {}               # sender session id -> RTCRtpSender
        self.queue = asyncio.Queue()
        self.awaiting_answer = None      # future while our offer is out
        self.offer_due = False
        self.first_answer_sent = False
        self.client_ext = {}             # uri -> id the client uses (audio)
        self.client_pt = {}              # 'opus/48000' -> payload type
        self.glared = False
        self.voice_frames = 0            # decoded, for the debug log
        self.tasks = []
        self.closed = False

    def others(self):
        return [s for s in rooms.get(self.room, {}).values() if s is not self]

    async def send(self, event, data):
        try:
            await self.ws.send(json.dumps({'event': event, 'data': data}))
        except websockets.ConnectionClosed:
            pass

    async def signal(self, obj):
        log.debug('%s -> signal %s', self.id, json.dumps(obj)[:160])
        await self.send('signal', {'data': json.dumps(obj)})

    async def broadcast(self, event, data):
        for other in self.others():
            await other.send(event, data)


def split_candidates(sdp):
    """Remove a=candidate/end-of-candidates from an SDP; return the SDP and
    the candidates (mid, mline index, line), so they can be trickled."""
    out, cands = [], []
    mid, index, ufrag = None, -1, None
    for line in sdp.splitlines():
        if line.startswith('m='):
            index += 1
        elif line.startswith('a=mid:'):
            mid = line[6:]
        elif line.startswith('a=ice-ufrag:'):
            ufrag = line[12:]
        if line.startswith('a=candidate:'):
            cands.append((index, line[2:]))
            continue
        if line.startswith('a=end-of-candidates'):
            continue
        out.append(line)
    # every candidate belongs to the first (bundle) section
    first_mid = next((x[6:] for x in out if x.startswith('a=mid:')), mid)
    return '\r\n'.join(out) + '\r\n', [
        {'candidate': c, 'sdpMid': first_mid, 'sdpMLineIndex': 0, 'usernameFragment': ufrag}
        for i, c in cands if i == 0]


async def handle_ws(ws, path=None):
    path = path or ws.path
    if path.split('?')[0] != '/calls/ws':
        await ws.close(4404, 'not found')
        return
    session = None
    try:
        async for raw in ws:
            if isinstance(raw, bytes):
                await ws.send(json.dumps({'event': 'error', 'data': {'message': 'text frames only'}}))
                continue
            msg = json.loads(raw)
            action, data = msg.get('action'), msg.get('data')
            log.debug('%s <- %s', session.id if session else '-', raw[:160])
            if action == 'join':
                if session is not None:
                    await ws.send(json.dumps({'event': 'error', 'data': {'message': 'already joined'}}))
                    continue
                room = (data or {}).get('channelID', '')
                if not isinstance(room, str) or not ROOM_RE.match(room):
                    await ws.send(json.dumps({'event': 'error', 'data': {'message': 'invalid room'}}))
                    continue
                session = await join(ws, room)
            elif session is None:
                await ws.send(json.dumps({'event': 'error', 'data': {'message': 'join first'}}))
            elif action == 'sdp':
                await session.queue.put(('client-sdp', json.loads(data)))
            elif action == 'ice':
                await add_client_candidate(session, json.loads(data))
            elif action in ('mute', 'unmute'):
                session.muted = action == 'mute'
                await session.broadcast(f'user_{action}d', {'session_id': session.id})
            elif action == 'leave':
                break
            else:
                await ws.send(json.dumps({'event': 'error', 'data': {'message': f'unknown action {action}'}}))
    except websockets.ConnectionClosed:
        pass
    finally:
        if session is not None:
            await leave(session)


async def join(ws, room):
    s = Session(ws, room)
    members = rooms.setdefault(room, {})
    call_ids.setdefault(room, str(uuid.uuid4()))
    log.info('%s joins %s', s.id, room)
    await s.send('join', {'session_id': s.id, 'call_id': call_ids[room]})
    for other in list(members.values()):
        await s.send('user_joined', {'session_id': other.id})
        if not other.muted:
            await s.send('user_unmuted', {'session_id': other.id})
    members[s.id] = s
    await s.broadcast('user_joined', {'session_id': s.id})

    pc = s.pc

    @pc.on('datachannel')
    def on_datachannel(channel):
        log.info('%s data channel %s', s.id, channel.label)

        @channel.on('message')
        def on_message(m):
            if m == 'ping':
                channel.send('pong')
            elif isinstance(m, bytes) and m[:1] == b'\x01':
                channel.send(b'\xcc\x02')        # Pong as uint8, like Go msgpack

        def opened():
            s.dc_open = True
            # push everyone's voice to the newcomer, one renegotiation each
            for other in s.others():
                if other.voice is not None:
                    forward(other, s)
        if channel.readyState == 'open':
            opened()
        else:
            channel.on('open', opened)

    @pc.on('track')
    def on_track(track):
        if track.kind != 'audio':
            return
        log.info('%s sends audio', s.id)
        s.voice = track
        s.relay = MediaRelay()
        s.tasks.append(asyncio.ensure_future(vad(s, s.relay.subscribe(track))))
        for other in s.others():
            if other.dc_open:
                forward(s, other)

    s.tasks.append(asyncio.ensure_future(sdp_worker(s)))
    s.tasks.append(asyncio.ensure_future(stats_logger(s)))
    return s


async def stats_logger(s):
    while log.isEnabledFor(logging.DEBUG):
        await asyncio.sleep(2)
        for t in s.pc.getTransceivers():
            rx = [(x.packetsReceived, x.ssrc) for x in (await t.receiver.getStats()).values()
                  if x.type == 'inbound-rtp']
            tx = [x.packetsSent for x in (await t.sender.getStats()).values()
                  if x.type == 'outbound-rtp']
            log.debug('%s mid %s %s/%s rx %s tx %s', s.id, t.mid, t.direction,
                      t.currentDirection, rx, tx)


def note_client_audio(s, sdp):
    """Remember the audio extension ids and payload types the client uses."""
    ext, pts = audio_numbers(sdp)
    s.client_ext.update(ext)
    for k, v in pts.items():
        s.client_pt.setdefault(k, v)


async def create_offer(s):
    """An offer that keeps the client's numbers (see create_offer_keeping);
    before the client has offered audio, Chromium's extension ids."""
    return await create_offer_keeping(s.pc, s.client_ext or DEFAULT_AUDIO_EXT, s.client_pt)


def forward(src, dst):
    """Send src's voice to dst; done by dst's SDP worker, since the peer
    connection must not change while an offer or answer is in flight."""
    dst.queue.put_nowait(('forward', src))


def add_forward(src, dst):
    """A new m=audio at dst carrying src's voice; True if added."""
    if src.id in dst.forwards or dst.closed or src.closed or src.voice is None:
        return False
    # sendrecv like pion's AddTrack: after a glare rollback a browser may
    # attach its own microphone (added with addTrack) to this m-section
    tr = dst.pc.addTransceiver(src.relay.subscribe(src.voice), direction='sendrecv')
    tr.sender._stream_id = src.id
    tr.sender._track_id = f'voice_{src.id}_{secrets.token_hex(4)}'
    dst.forwards[src.id] = tr.sender
    return True


async def sdp_worker(s):
    pc = s.pc
    while True:
        kind, payload = await s.queue.get()
        try:
            if kind == 'forward':
                if not add_forward(payload, s):
                    continue
                kind = 'offer'
            if kind == 'offer':
                if s.awaiting_answer is not None or pc.signalingState != 'stable':
                    s.offer_due = True
                    continue
                await pc.setLocalDescription(await create_offer(s))
                s.awaiting_answer = asyncio.get_event_loop().call_later(
                    ANSWER_TIMEOUT, lambda: log.error('%s: no answer in time', s.id))
                log.info('%s <- server offer', s.id)
                await s.signal({'type': 'offer', 'sdp': pc.localDescription.sdp})
            elif kind == 'client-sdp':
                if payload['type'] == 'offer':
                    if s.awaiting_answer is not None:
                        # impolite: our offer wins, theirs is dropped
                        log.info('%s: glare, dropping the client offer', s.id)
                        continue
                    if FORCE_GLARE and s.first_answer_sent and not s.glared:
                        # test mode: act as if our own offer had crossed the
                        # client's renegotiation: drop it, offer instead
                        s.glared = True
                        log.info('%s: forced glare, dropping the client offer', s.id)
                        s.queue.put_nowait(('offer', None))
                        continue
                    note_client_audio(s, payload['sdp'])
                    with without_unnegotiated_transceivers(pc) as hidden:
                        await pc.setRemoteDescription(RTCSessionDescription(**payload))
                        await pc.setLocalDescription(await pc.createAnswer())
                    if hidden:
                        s.queue.put_nowait(('offer', None))    # the forwards
                    sdp, cands = split_candidates(pc.localDescription.sdp)
                    if s.first_answer_sent:
                        await s.signal({'type': 'answer', 'sdp': pc.localDescription.sdp})
                    else:
                        # first answer: trickle our candidates like rtcd
                        s.first_answer_sent = True
                        await s.signal({'type': 'answer', 'sdp': sdp})
                        for c in cands:
                            await s.signal({'type': 'candidate', 'candidate': c})
                elif payload['type'] == 'answer':
                    if s.awaiting_answer is None:
                        log.error('%s: unexpected answer', s.id)
                        continue
                    s.awaiting_answer.cancel()
                    s.awaiting_answer = None
                    with without_unnegotiated_transceivers(pc):
                        await pc.setRemoteDescription(RTCSessionDescription(**payload))
                    if s.offer_due:
                        s.offer_due = False
                        s.queue.put_nowait(('offer', None))
        except Exception:                  # noqa: BLE001 - keep serving
            log.exception('%s: %s failed', s.id, kind)


async def add_client_candidate(s, init):
    text = re.sub(r'^(a=)?candidate:', '', (init.get('candidate') or '').strip())
    if not text:
        return
    cand = candidate_from_sdp(text)
    if cand.protocol.lower() != 'udp' or cand.ip.endswith('.local'):
        return          # no TCP in aioice; mDNS names: learnt as prflx instead
    cand.sdpMid = init.get('sdpMid')
    cand.sdpMLineIndex = init.get('sdpMLineIndex')
    try:
        await s.pc.addIceCandidate(cand)
    except Exception as e:                 # noqa: BLE001
        log.info('%s: candidate ignored: %s', s.id, e)


async def vad(s, track):
    """user_voice_on/off from the decoded level: on after 60 ms above
    -34 dBFS, off after 1 s below it."""
    loud = quiet = 0
    on = False
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        a = frame.to_ndarray().astype(np.float64) / 32768
        level = float(np.sqrt(np.mean(a * a))) if a.size else 0.0
        s.voice_frames += 1
        if s.voice_frames % 250 == 1:
            log.debug('%s: voice frame %d, level %.3f', s.id, s.voice_frames, level)
        if level > 0.02 and not s.muted:
            loud, quiet = loud + 1, 0
        else:
            loud, quiet = 0, quiet + 1
        if not on and loud >= 3:
            on = True
            await s.broadcast('user_voice_on', {'session_id': s.id})
            await s.send('user_voice_on', {'session_id': s.id})
        elif on and quiet >= 50:
            on = False
            await s.broadcast('user_voice_off', {'session_id': s.id})
            await s.send('user_voice_off', {'session_id': s.id})


async def leave(s):
    if s.closed:
        return
    s.closed = True
    log.info('%s leaves', s.id)
    rooms.get(s.room, {}).pop(s.id, None)
    await s.broadcast('user_left', {'session_id': s.id})
    for other in s.others():
        sender = other.forwards.pop(s.id, None)
        if sender is not None:
            await sender.stop()          # like rtcd: no renegotiation
    for t in s.tasks:
        t.cancel()
    await s.pc.close()


def static_handler(build):
    roots = [('/t/', os.path.join(build, 'browser')), ('/', os.path.join(REPO, 'web'))]

    def process_request(path, headers):
        p = path.split('?')[0]
        if p == '/calls/ws':
            return None                  # the WebSocket
        for prefix, root in roots:
            if not p.startswith(prefix):
                continue
            rel = p[len(prefix):] or 'index.html'
            if rel.endswith('/'):
                rel += 'index.html'
            f = os.path.realpath(os.path.join(root, rel))
            if f.startswith(os.path.realpath(root) + os.sep) and os.path.isfile(f):
                ctype = mimetypes.guess_type(f)[0] or 'application/octet-stream'
                if f.endswith('.js'):
                    ctype = 'text/javascript'
                with open(f, 'rb') as fh:
                    return http.HTTPStatus.OK, [('Content-Type', ctype)], fh.read()
            break
        return http.HTTPStatus.NOT_FOUND, [('Content-Type', 'text/plain')], b'not found\n'
    return process_request


async def main_async(args):
    async with websockets.serve(handle_ws, '127.0.0.1', args.port,
                                process_request=static_handler(args.build),
                                ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f'listening on http://127.0.0.1:{port}', flush=True)
        await asyncio.Future()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--build', default=os.environ.get('BUILD') or os.path.join(REPO, 'build'))
    ap.add_argument('--force-glare', action='store_true',
                    help="drop each client's first renegotiation offer and offer instead")
    ap.add_argument('-v', '--verbose', action='count', default=0)
    args = ap.parse_args()
    global FORCE_GLARE
    FORCE_GLARE = args.force_glare
    logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else
                        logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr, format='%(asctime)s %(name)s %(message)s')
    for name in ('aiortc', 'aioice', 'websockets'):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
