#!/usr/bin/python3
"""aiortc test participant for ngx_calls' standalone signaling (/calls/ws).

    /usr/bin/python3 t/peers/aiortc_peer.py URL ROOM [SECONDS [FREQ]]
            [--muted] [--bursts] [--expect-peers N] [--insecure]
            [--legacy-sctp-sdp] [-v]
    /usr/bin/python3 t/peers/aiortc_peer.py --dry-run [--freq HZ]

It joins ROOM, offers first with only the `calls-dc` data channel, adds
its audio (a FREQ Hz sine sent as Opus) after the first answer with a new
offer plus `unmute`, answers the server's offers (politely on collision),
pings on `calls-dc` (msgpack Ping 0x01 and the legacy text "ping") and
decodes every remote audio stream.  After SECONDS it leaves and prints ONE
JSON line with what it measured: per remote stream (msid stream id = the
sender's session id) the decoded frames, inbound packets, RMS level and
dominant frequency; the data-channel pings and pongs; the signaling counts
and the events seen.

Exit status: 0 done; 1 --expect-peers not met (fewer remote streams with
audio than asked); 2 protocol error (server error event, the WebSocket
closing early, signaling failure, no join or no connection in time).
--dry-run needs no server: it prints the first offer's SDP on stdout, runs
the tone generator through Opus and back, and prints a JSON check on stderr.

Written for Debian's python3-aiortc 1.4.0 and python3-websockets 10.4.
"""

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import fractions
import json
import logging
import math
import re
import signal
import ssl
import sys
import time

import aiortc.rtcpeerconnection as aiortc_pc
import numpy as np
import websockets
from aiortc import (RTCConfiguration, RTCPeerConnection,
                    RTCSessionDescription)
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
from aiortc.sdp import SessionDescription, candidate_from_sdp
from av import AudioFrame

RATE = 48000
FRAME_SAMPLES = 960                      # 20 ms at 48 kHz
PING_INTERVAL = 1.0
DC_PING = b'\x01'                        # msgpack fixint 1: Ping
DC_PONG = 2
FFT_SECONDS = 10                         # audio kept per stream for the FFT
ROOM_RE = re.compile(r'^[A-Za-z0-9._-]{1,64}$')

log = logging.getLogger('aiortc_peer')


class ProtocolError(Exception):
    """The server did something the protocol does not allow."""


# ---------------------------------------------------------------------------
# media

def burst_envelope(n):
    """Speech-like on/off gain for sample indexes n: in each 8 s cycle,
    4.5 s of 300 ms bursts with 150 ms gaps (10 ms ramps), then 3.5 s of
    silence.  rtcd's VAD needs the level to vary (voice on) and then to
    be steady for a second (voice off); a constant sine never turns it on."""
    t = (n % (8 * RATE)) / RATE
    phase = (t % 0.45)
    on = (t < 4.5) & (phase < 0.3)
    ramp = np.minimum(np.minimum(phase, 0.3 - phase) / 0.01, 1.0)
    return np.where(on, np.clip(ramp, 0.0, 1.0), 0.0)


class ToneTrack(AudioStreamTrack):
    """A sine of `freq` Hz as 20 ms mono s16 frames at 48 kHz, paced in
    real time (aiortc pulls frames as fast as recv() returns them);
    optionally in speech-like bursts."""

    def __init__(self, freq, amplitude=0.3, bursts=False):
        super().__init__()
        self.freq = freq
        self.amplitude = amplitude
        self.bursts = bursts
        self.frames = 0
        self._start = None
        self._pts = 0

    async def recv(self):
        if self.readyState != 'live':
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        return self.make_frame(self._pts)

    def make_frame(self, pts):
        # the phase comes from the absolute sample index: no clicks between
        # frames
        n = np.arange(pts, pts + FRAME_SAMPLES)
        wave = self.amplitude * np.sin(2 * np.pi * self.freq * n / RATE)
        if self.bursts:
            wave *= burst_envelope(n)
        samples = np.round(wave * 32767).astype('<i2').reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format='s16', layout='mono')
        frame.sample_rate = RATE
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, RATE)
        self.frames += 1
        return frame


def frame_to_mono(frame):
    """Decoded av.AudioFrame -> float mono samples in [-1, 1]."""
    a = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mono = a.astype(np.float64).mean(axis=0)
    else:
        mono = a.reshape(-1, channels).astype(np.float64).mean(axis=1)
    if frame.format.name.startswith('s16'):
        mono /= 32768.0
    elif frame.format.name.startswith('s32'):
        mono /= 2147483648.0
    return mono


def dominant_hz(samples, rate):
    """Frequency of the strongest FFT bin (Hann window), or None."""
    if len(samples) < 2048:
        return None
    x = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(x))
    spectrum[0] = 0                      # ignore DC
    k = int(np.argmax(spectrum))
    if spectrum[k] == 0:
        return None
    return float(k * rate / len(samples))


class RemoteAudio:
    """What arrives on one remote audio track."""

    def __init__(self, stream_id, track_id, mid, t0):
        self.stream_id = stream_id
        self.track_id = track_id
        self.mid = mid
        self.t0 = t0
        self.frames = 0
        self.samples = 0
        self.sumsq = 0.0
        self.peak = 0.0
        self.rate = RATE
        self.first_frame_s = None
        self.tail = collections.deque()
        self.tail_len = 0
        self.packets = None
        self.packets_lost = None

    def add(self, frame):
        mono = frame_to_mono(frame)
        self.rate = frame.sample_rate or RATE
        if self.first_frame_s is None:
            self.first_frame_s = round(time.monotonic() - self.t0, 3)
        self.frames += 1
        self.samples += len(mono)
        self.sumsq += float(np.dot(mono, mono))
        self.peak = max(self.peak, float(np.max(np.abs(mono))) if len(mono) else 0.0)
        self.tail.append(mono)
        self.tail_len += len(mono)
        while self.tail_len - len(self.tail[0]) >= FFT_SECONDS * self.rate:
            self.tail_len -= len(self.tail.popleft())

    def result(self):
        rms = math.sqrt(self.sumsq / self.samples) if self.samples else 0.0
        hz = dominant_hz(np.concatenate(self.tail), self.rate) if self.tail else None
        return {
            'stream_id': self.stream_id,
            'track_id': self.track_id,
            'mid': self.mid,
            'frames': self.frames,
            'packets': self.packets,
            'packets_lost': self.packets_lost,
            'rms': round(rms, 5),
            'peak': round(self.peak, 5),
            'dominant_hz': None if hz is None else round(hz, 1),
            'first_frame_s': self.first_frame_s,
        }


# ---------------------------------------------------------------------------
# aiortc 1.4 specifics

def msid_by_mid(sdp_text):
    """mid -> (stream id, track id) from the a=msid lines of an SDP.
    aiortc names a remote track only when the session has an
    msid-semantic line, and never exposes the stream id; parse it here."""
    out = {}
    for media in SessionDescription.parse(sdp_text).media:
        if media.rtp.muxId is not None and media.msid:
            parts = media.msid.split()
            out[media.rtp.muxId] = (parts[0], parts[1] if len(parts) > 1 else None)
    return out


def new_peer_connection(legacy_sctp_sdp=False):
    """An RTCPeerConnection without ICE servers (nothing external).
    aiortc 1.4 writes the data channel section in the old draft-05 form
    (`m=application <port> DTLS/SCTP 5000` + `a=sctpmap`) unless told
    otherwise; browsers use `UDP/DTLS/SCTP webrtc-datachannel` with
    `a=sctp-port`, so that is the default here.  It parses either form in
    the server's SDP."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc._sctpLegacySdp = legacy_sctp_sdp
    return pc


def parse_candidate(init):
    """RTCIceCandidateInit (JSON object) -> aiortc RTCIceCandidate, or None
    for what aiortc cannot use (TCP candidates, end-of-candidates)."""
    text = (init or {}).get('candidate') or ''
    text = re.sub(r'^(a=)?candidate:', '', text.strip())
    if not text:
        return None
    cand = candidate_from_sdp(text)
    if cand.protocol.lower() != 'udp':
        return None                      # aioice has no ICE-TCP
    cand.sdpMid = init.get('sdpMid')
    cand.sdpMLineIndex = init.get('sdpMLineIndex')
    return cand


EXTMAP_RE = re.compile(r'^a=extmap:(\d+)(?:/\w+)? (\S+)')
RTPMAP_RE = re.compile(r'^a=rtpmap:(\d+) ([^/]+)/(\d+)')


def audio_numbers(sdp_text):
    """The audio header extension ids (uri -> id) and payload types
    ('opus/48000' -> pt) an SDP uses."""
    ext, pts = {}, {}
    kind = None
    for line in sdp_text.splitlines():
        if line.startswith('m='):
            kind = line[2:].split()[0]
        if kind != 'audio':
            continue
        m = EXTMAP_RE.match(line)
        if m:
            ext[m.group(2)] = int(m.group(1))
        m = RTPMAP_RE.match(line)
        if m:
            pts.setdefault(f'{m.group(2).lower()}/{m.group(3)}', int(m.group(1)))
    return ext, pts


async def create_offer_keeping(pc, ext_ids, pts):
    """pc.createOffer() that keeps numbers already negotiated.

    aiortc 1.4 builds every offer from module-level tables, so a re-offer
    renumbers the m-sections the other side created: its own extension
    ids, and Opus as 96 where Chromium (and maybe the server) uses 111.
    Chromium refuses a changed extension id; a changed payload type is
    followed by the sender while a running aiortc receiver drops it.  Swap
    in tables with the given numbers for the call; createOffer has no await
    inside, so nothing else can observe them."""
    headers = dict(aiortc_pc.HEADER_EXTENSIONS)
    if ext_ids:
        headers['audio'] = [RTCRtpHeaderExtensionParameters(id=ext_ids[x.uri], uri=x.uri)
                            for x in aiortc_pc.HEADER_EXTENSIONS['audio'] if x.uri in ext_ids]
    codecs = dict(aiortc_pc.CODECS)
    codecs['audio'] = [
        dataclasses.replace(c, payloadType=pts.get(
            f'{c.mimeType.split("/")[1].lower()}/{c.clockRate}', c.payloadType))
        for c in aiortc_pc.CODECS['audio']]
    saved = aiortc_pc.HEADER_EXTENSIONS, aiortc_pc.CODECS
    aiortc_pc.HEADER_EXTENSIONS, aiortc_pc.CODECS = headers, codecs
    try:
        return await pc.createOffer()
    finally:
        aiortc_pc.HEADER_EXTENSIONS, aiortc_pc.CODECS = saved


@contextlib.contextmanager
def without_unnegotiated_transceivers(pc):
    """aiortc 1.4 binds a remote m-section to any local transceiver of the
    same kind that has no mid yet, which hijacks a sender of ours that is
    still waiting for its own offer.  Hide such transceivers while a remote
    description is applied (and an offer answered); yields the hidden ones."""
    transceivers = pc._RTCPeerConnection__transceivers
    hidden = [t for t in transceivers if t.mid is None]
    for t in hidden:
        transceivers.remove(t)
    try:
        yield hidden
    finally:
        transceivers.extend(hidden)


class LocalOfferSnapshot:
    """aiortc 1.4 has no rollback.  To be the polite peer we undo a pending
    local offer by hand: put back the local descriptions from before it,
    clear the mids it gave to new transceivers and return to 'stable'.
    This touches aiortc's private state and is written for 1.4.0."""

    def __init__(self, pc):
        self.pc = pc
        self.pending = pc._RTCPeerConnection__pendingLocalDescription
        self.current = pc._RTCPeerConnection__currentLocalDescription
        self.new_transceivers = [t for t in pc.getTransceivers() if t.mid is None]

    def rollback(self):
        pc = self.pc
        pc._RTCPeerConnection__pendingLocalDescription = self.pending
        pc._RTCPeerConnection__currentLocalDescription = self.current
        for t in self.new_transceivers:
            t._RTCRtpTransceiver__mid = None
        pc._RTCPeerConnection__setSignalingState('stable')


# ---------------------------------------------------------------------------
# the participant

class Peer:
    def __init__(self, args):
        self.args = args
        self.ws = None
        self.pc = None
        self.dc = None
        self.session_id = None
        self.call_id = None
        self.joined = asyncio.Event()
        self.dc_open = asyncio.Event()
        self.t0 = time.monotonic()
        self.work = asyncio.Queue()      # SDP work, done strictly in order
        self.pending_candidates = []
        self.offer_snapshot = None
        self.tone = None
        self.first_answer = True
        self.remote = {}                 # mid -> RemoteAudio
        self.tasks = []
        self.errors = []
        self.protocol_error = None
        self.events = collections.defaultdict(list)
        self.sig = collections.Counter()
        self.dc_stats = collections.Counter()
        self.dc_other = collections.Counter()
        self.rtts = []
        self.ping_sent_at = None
        self.reoffer = False             # our offer is due again (glare)
        self.msids = {}                  # mid -> (stream id, track id)

    # --- plumbing

    def elapsed(self):
        return round(time.monotonic() - self.t0, 3)

    def error(self, message, fatal=False):
        log.error('%s', message)
        self.errors.append(f'{self.elapsed()}s {message}')
        if fatal and self.protocol_error is None:
            self.protocol_error = message

    async def send(self, msg):
        log.debug('-> %s', str(msg)[:200])
        await self.ws.send(json.dumps(msg))

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    # --- main

    async def run(self):
        args = self.args
        ctx = None
        if args.url.startswith('wss:'):
            ctx = ssl.create_default_context()
            if args.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
        async with websockets.connect(args.url, ssl=ctx, open_timeout=10,
                                      close_timeout=2, max_size=1 << 22,
                                      ping_interval=None) as ws:
            self.ws = ws
            reader = self.spawn(self.read_ws())
            self.spawn(self.sdp_worker())
            await self.send({'action': 'join', 'data': {'channelID': args.room}})
            # the join event, unless the server refuses or hangs up first
            joined = asyncio.ensure_future(self.joined.wait())
            failed = self.failed_future()
            await asyncio.wait([joined, reader, failed], timeout=10,
                               return_when=asyncio.FIRST_COMPLETED)
            joined.cancel()
            failed.cancel()
            if self.protocol_error is not None:
                raise ProtocolError(self.protocol_error)
            if not self.joined.is_set():
                raise ProtocolError('no join event within 10 s' if not reader.done()
                                    else 'signaling WebSocket closed before the join event')

            self.start_peer()
            # the first offer: only the data channel (no track added yet)
            await self.work.put(('offer', None))

            # stay in the call; the reader ends early only if the socket
            # closes, which is an error before the time is up
            stay = asyncio.ensure_future(asyncio.sleep(args.seconds))
            done, _ = await asyncio.wait([reader, stay, self.failed_future()],
                                         return_when=asyncio.FIRST_COMPLETED)
            stay.cancel()
            if reader in done and self.protocol_error is None:
                self.error('signaling WebSocket closed before the end', fatal=True)

            result = await self.collect()
            if ws.open:
                try:
                    await self.send({'action': 'leave'})
                except websockets.ConnectionClosed:
                    pass
        return result

    def failed_future(self):
        # resolves as soon as a protocol error is recorded
        async def watch():
            while self.protocol_error is None:
                await asyncio.sleep(0.1)
        return asyncio.ensure_future(watch())

    def start_peer(self):
        self.pc = pc = new_peer_connection(self.args.legacy_sctp_sdp)
        self.dc = pc.createDataChannel('calls-dc')

        @self.dc.on('open')
        def on_open():
            log.info('calls-dc open at %.3fs', self.elapsed())
            self.dc_open.set()
            self.spawn(self.pinger())

        @self.dc.on('message')
        def on_message(data):
            self.on_dc_message(data)

        @pc.on('track')
        def on_track(track):
            self.on_track(track)

        @pc.on('connectionstatechange')
        def on_state():
            log.info('connection state %s at %.3fs', pc.connectionState, self.elapsed())
            if pc.connectionState == 'failed':
                self.error('peer connection failed', fatal=True)

    # --- signaling in

    async def read_ws(self):
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self.error('binary frame on the signaling socket', fatal=True)
                    continue
                try:
                    msg = json.loads(raw)
                except ValueError:
                    self.error(f'bad JSON from server: {raw[:100]!r}', fatal=True)
                    continue
                log.debug('<- %s', raw[:200])
                await self.on_event(msg.get('event'), msg.get('data') or {})
        except websockets.ConnectionClosed as e:
            log.info('signaling closed: %s', e)

    async def on_event(self, event, data):
        if event == 'join':
            self.session_id = data.get('session_id')
            self.call_id = data.get('call_id')
            if not self.session_id:
                self.error('join event without session_id', fatal=True)
            self.joined.set()
        elif event == 'signal':
            try:
                payload = json.loads(data['data'])
            except (KeyError, TypeError, ValueError):
                self.error(f'bad signal event: {str(data)[:100]}', fatal=True)
                return
            await self.work.put(('signal', payload))
        elif event == 'error':
            self.error(f"server error: {data.get('message')}", fatal=True)
        elif event in ('user_joined', 'user_left', 'user_muted', 'user_unmuted',
                       'user_voice_on', 'user_voice_off'):
            self.events[event].append(data.get('session_id'))
        else:
            self.events['other'].append(event)

    # --- SDP work, one item at a time

    async def sdp_worker(self):
        while True:
            kind, payload = await self.work.get()
            try:
                if kind == 'offer':
                    await self.make_offer()
                elif kind == 'add-audio':
                    await self.add_audio()
                elif kind == 'signal':
                    await self.on_signal(payload)
            except Exception as e:          # noqa: BLE001 - report and stop
                log.exception('signaling step %s failed', kind)
                self.error(f'{kind}: {type(e).__name__}: {e}', fatal=True)

    async def make_offer(self):
        pc = self.pc
        if pc.signalingState != 'stable':
            # an answer is still due; retried when it comes
            self.reoffer = True
            return
        self.offer_snapshot = LocalOfferSnapshot(pc)
        # keep the server's numbers for the m-sections it created
        ext, pts = audio_numbers(pc.remoteDescription.sdp) if pc.remoteDescription else ({}, {})
        await pc.setLocalDescription(await create_offer_keeping(pc, ext, pts))
        self.sig['offers_sent'] += 1
        # aiortc does not trickle: the offer carries all our candidates
        await self.send({'action': 'sdp', 'data': json.dumps(
            {'type': 'offer', 'sdp': pc.localDescription.sdp})})

    async def add_audio(self):
        """The first unmute: a new m=audio via our own offer, then unmute."""
        self.tone = ToneTrack(self.args.freq, bursts=self.args.bursts)
        self.pc.addTrack(self.tone)
        await self.make_offer()
        await self.send({'action': 'unmute'})

    async def on_signal(self, msg):
        pc = self.pc
        kind = msg.get('type')
        if kind == 'candidate':
            self.sig['candidates_received'] += 1
            cand = parse_candidate(msg.get('candidate'))
            if cand is None:
                return
            if cand.sdpMid is None and cand.sdpMLineIndex is not None and pc.remoteDescription:
                mids = [m.rtp.muxId for m in SessionDescription.parse(pc.remoteDescription.sdp).media]
                if cand.sdpMLineIndex < len(mids):
                    cand.sdpMid = mids[cand.sdpMLineIndex]
            if pc.remoteDescription is None:
                self.pending_candidates.append(cand)
            else:
                await pc.addIceCandidate(cand)
        elif kind == 'answer':
            self.sig['answers_received'] += 1
            if pc.signalingState != 'have-local-offer':
                log.info('ignoring an answer in state %s', pc.signalingState)
                return
            with without_unnegotiated_transceivers(pc):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=msg['sdp'], type='answer'))
            await self.flush_candidates()
            self.offer_snapshot = None
            if self.first_answer:
                self.first_answer = False
                if not self.args.muted:
                    await self.work.put(('add-audio', None))
            if self.reoffer:
                self.reoffer = False
                await self.work.put(('offer', None))
        elif kind == 'offer':
            self.sig['offers_received'] += 1
            await self.answer_offer(msg['sdp'])
        else:
            raise ProtocolError(f'unknown signal type {kind!r}')

    async def answer_offer(self, sdp):
        pc = self.pc
        if pc.signalingState == 'have-local-offer':
            if self.first_answer:
                raise ProtocolError('server offered before answering our first offer')
            # Glare: the impolite server has dropped our offer.  Be polite:
            # roll ours back, take the server's, offer ours again after.
            self.sig['collisions'] += 1
            log.info('offer collision: rolling back our offer')
            self.offer_snapshot.rollback()
            self.offer_snapshot = None
            self.reoffer = True

        with without_unnegotiated_transceivers(pc) as hidden:
            self.note_msids(sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type='offer'))
            await self.flush_candidates()
            await pc.setLocalDescription(await pc.createAnswer())
        if hidden:
            self.reoffer = True
        self.sig['answers_sent'] += 1
        await self.send({'action': 'sdp', 'data': json.dumps(
            {'type': 'answer', 'sdp': pc.localDescription.sdp})})
        if self.reoffer:
            self.reoffer = False
            await self.work.put(('offer', None))

    async def flush_candidates(self):
        queued, self.pending_candidates = self.pending_candidates, []
        for cand in queued:
            await self.pc.addIceCandidate(cand)

    # --- media in

    def note_msids(self, sdp):
        self.msids.update(msid_by_mid(sdp))

    def on_track(self, track):
        if track.kind != 'audio':
            log.info('ignoring remote %s track', track.kind)
            return
        mid = None
        for t in self.pc.getTransceivers():
            if t.receiver.track is track:
                mid = t.mid
        stream_id, track_id = self.msids.get(mid, (None, track.id))
        if stream_id is None:
            self.error(f'remote track on mid {mid} has no msid')
        stats = RemoteAudio(stream_id, track_id, mid, self.t0)
        self.remote[mid] = stats
        log.info('remote audio mid %s stream %s track %s', mid, stream_id, track_id)
        self.spawn(self.consume(track, stats))

    async def consume(self, track, stats):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            stats.add(frame)

    # --- data channel

    async def pinger(self):
        while self.dc.readyState == 'open':
            self.ping_sent_at = time.monotonic()
            self.dc.send(DC_PING)
            self.dc_stats['pings_sent'] += 1
            self.dc.send('ping')
            self.dc_stats['text_pings_sent'] += 1
            await asyncio.sleep(PING_INTERVAL)

    def on_dc_message(self, data):
        if isinstance(data, str):
            if data == 'pong':
                self.dc_stats['text_pongs'] += 1
            else:
                self.dc_other[f'text:{data[:20]}'] += 1
            return
        mtype = msgpack_uint(data)
        if mtype == DC_PONG:
            self.dc_stats['pongs'] += 1
            if self.ping_sent_at is not None:
                self.rtts.append((time.monotonic() - self.ping_sent_at) * 1000)
        else:
            self.dc_other[str(mtype) if mtype is not None else f'bytes:{data[:4].hex()}'] += 1

    # --- results

    async def collect(self):
        pc = self.pc
        sent_packets = None
        if pc is not None:
            for t in pc.getTransceivers():
                if t.mid in self.remote:
                    for s in (await t.receiver.getStats()).values():
                        if s.type == 'inbound-rtp':
                            self.remote[t.mid].packets = s.packetsReceived
                            self.remote[t.mid].packets_lost = s.packetsLost
                if self.tone is not None and t.sender.track is self.tone:
                    for s in (await t.sender.getStats()).values():
                        if s.type == 'outbound-rtp':
                            sent_packets = s.packetsSent
        rtt = None
        if self.rtts:
            rtt = {'min': round(min(self.rtts), 2), 'avg': round(sum(self.rtts) / len(self.rtts), 2),
                   'max': round(max(self.rtts), 2)}
        return {
            'session_id': self.session_id,
            'call_id': self.call_id,
            'room': self.args.room,
            'muted': self.args.muted,
            'tone_hz': None if self.args.muted else self.args.freq,
            'elapsed_s': self.elapsed(),
            'connection_state': pc.connectionState if pc else None,
            'sent': {'frames': self.tone.frames if self.tone else 0, 'packets': sent_packets},
            'streams': [r.result() for r in self.remote.values()],
            'dc': {'open': self.dc_open.is_set(),
                   'pings_sent': self.dc_stats['pings_sent'],
                   'pongs': self.dc_stats['pongs'],
                   'text_pings_sent': self.dc_stats['text_pings_sent'],
                   'text_pongs': self.dc_stats['text_pongs'],
                   'rtt_ms': rtt,
                   'other': dict(self.dc_other)},
            'signaling': dict(self.sig),
            'events': dict(self.events),
            'errors': self.errors,
        }

    async def close(self):
        for task in self.tasks:
            task.cancel()
        if self.tone is not None:
            self.tone.stop()
        if self.pc is not None:
            await self.pc.close()


def msgpack_uint(data):
    """The first value of a flat-msgpack message, if it is an unsigned int."""
    if not data:
        return None
    b = data[0]
    if b <= 0x7f:
        return b
    if b == 0xcc and len(data) >= 2:
        return data[1]
    if b == 0xcd and len(data) >= 3:
        return int.from_bytes(data[1:3], 'big')
    return None


# ---------------------------------------------------------------------------
# dry run: no server

async def dry_run(freq, bursts, legacy_sctp_sdp):
    pc = new_peer_connection(legacy_sctp_sdp)
    pc.createDataChannel('calls-dc')
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()

    # the tone through the real Opus encoder and decoder, into the same
    # analysis that remote streams get
    from aiortc.codecs import get_decoder, get_encoder
    from aiortc.codecs import CODECS
    from aiortc.jitterbuffer import JitterFrame
    opus = next(c for c in CODECS['audio'] if c.mimeType == 'audio/opus')
    enc, dec = get_encoder(opus), get_decoder(opus)
    tone = ToneTrack(freq, bursts=bursts)
    stats = RemoteAudio('dry-run', None, None, time.monotonic())
    for i in range(250):                 # 5 s
        payloads, timestamp = enc.encode(tone.make_frame(i * FRAME_SAMPLES))
        for p in payloads:
            for f in dec.decode(JitterFrame(data=p, timestamp=timestamp)):
                stats.add(f)
    m_lines = [line for line in sdp.splitlines() if line.startswith('m=')]
    return sdp, {'first_offer_m_lines': m_lines, 'tone': stats.result(),
                 'tone_frames_made': tone.frames}


# ---------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description='aiortc test participant for /calls/ws (prints one JSON line)')
    ap.add_argument('url', nargs='?', help='signaling URL, ws(s)://host/calls/ws')
    ap.add_argument('room', nargs='?', help='room (channelID), 1..64 of [A-Za-z0-9._-]')
    ap.add_argument('seconds', nargs='?', type=float, default=10.0,
                    help='seconds to stay in the call (default 10)')
    ap.add_argument('freq', nargs='?', type=float, default=440.0,
                    help='tone frequency in Hz (default 440)')
    ap.add_argument('--freq', dest='freq_opt', type=float, default=None, metavar='HZ',
                    help='tone frequency, overrides FREQ (handy with --dry-run)')
    ap.add_argument('--muted', action='store_true', help='never send audio')
    ap.add_argument('--bursts', action='store_true',
                    help='send the tone in speech-like bursts with pauses (for VAD)')
    ap.add_argument('--expect-peers', type=int, default=None, metavar='N',
                    help='exit 1 unless audio (rms > 0.001) came from at least N remote streams')
    ap.add_argument('--insecure', action='store_true',
                    help='wss: do not verify the server certificate')
    ap.add_argument('--legacy-sctp-sdp', action='store_true',
                    help='offer the data channel in the old DTLS/SCTP + a=sctpmap form')
    ap.add_argument('--dry-run', action='store_true',
                    help='no server: print the first offer and check the tone generator')
    ap.add_argument('-v', '--verbose', action='count', default=0,
                    help='log to stderr (-vv: also aiortc debug)')
    args = ap.parse_args(argv)
    if args.freq_opt is not None:
        args.freq = args.freq_opt
    if not args.dry_run:
        if not args.url or not args.room:
            ap.error('URL and ROOM are required')
        if not re.match(r'^wss?://', args.url):
            ap.error('URL must be ws:// or wss://')
        if not ROOM_RE.match(args.room):
            ap.error('ROOM: 1..64 characters of [A-Za-z0-9._-]')
    if not 0 < args.seconds <= 3600:
        ap.error('seconds: 0..3600')
    if not 20 <= args.freq <= 20000:
        ap.error('freq: 20..20000 Hz')
    if args.expect_peers is not None and args.expect_peers < 0:
        ap.error('--expect-peers must be >= 0')
    return args


async def main_async(args):
    peer = Peer(args)
    result = None
    status = 0
    try:
        # everything below is bounded: join 10 s, the stay, collection
        result = await asyncio.wait_for(peer.run(), args.seconds + 30)
    except asyncio.TimeoutError:
        peer.error('timed out', fatal=True)
    except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as e:
        peer.error(f'cannot connect: {type(e).__name__}: {e}', fatal=True)
    except ProtocolError as e:
        peer.error(str(e), fatal=True)
    finally:
        if result is None:
            try:
                result = await asyncio.wait_for(peer.collect(), 5)
            except Exception as e:        # noqa: BLE001
                result = {'session_id': peer.session_id, 'errors': peer.errors
                          + [f'collect: {e}']}
        try:
            await asyncio.wait_for(peer.close(), 5)
        except Exception:                 # noqa: BLE001 - closing is best effort
            pass

    if peer.protocol_error is not None:
        status = 2
    elif args.expect_peers is not None:
        heard = [s for s in result['streams'] if s['frames'] > 0 and s['rms'] > 0.001]
        result['expect_peers'] = {'wanted': args.expect_peers, 'heard': len(heard)}
        if len(heard) < args.expect_peers:
            status = 1
    result['status'] = status
    print(json.dumps(result, sort_keys=True), flush=True)
    return status


def main(argv):
    args = parse_args(argv)
    level = logging.WARNING
    if args.verbose == 1:
        level = logging.INFO
    elif args.verbose > 1:
        level = logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    if args.verbose < 2:
        # aiortc/aioice are chatty at INFO
        for name in ('aiortc', 'aioice'):
            logging.getLogger(name).setLevel(logging.WARNING)

    # last line of defence against a hang anywhere: SIGALRM's default
    # action ends the process
    signal.alarm(int(args.seconds) + 60)

    if args.dry_run:
        sdp, check = asyncio.run(dry_run(args.freq, args.bursts, args.legacy_sctp_sdp))
        sys.stdout.write(sdp)
        print(json.dumps(check, sort_keys=True), file=sys.stderr)
        return 0
    return asyncio.run(main_async(args))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
