#!/usr/bin/python3
"""aiortc test participant for ngx_calls' standalone signaling (/calls/ws).

    /usr/bin/python3 t/peers/aiortc_peer.py URL ROOM [SECONDS [FREQ]] [options]
    /usr/bin/python3 t/peers/aiortc_peer.py --dry-run [--freq HZ]

It behaves like Mattermost's Calls client (calls-common RTCPeer driven by
CallsClient): it joins ROOM, offers first with only the `calls-dc` data
channel, adds its microphone (a FREQ Hz sine sent as Opus) after the first
answer with a new offer plus `unmute`, answers the server's offers
(politely on collision), pings on `calls-dc` (msgpack Ping and the legacy
text "ping"), sends Unlock after every answer but the first, and decodes
every remote audio and video stream.  After SECONDS it prints ONE JSON
line with what it saw, then leaves; SIGTERM ends the stay early, with the
report as usual.

Times in the report are Unix epoch seconds (so that the reports of several
peers can be compared); `t0` is when the peer started.

Call behaviour (times S are seconds after the start):
  --muted               join without the microphone (unmute later with
                        --unmute-at)
  --bursts              the tone in speech-like bursts (for voice activity)
  --mute-at S           mute: stop sending audio frames on the sender
                        (replaceTrack(null), no renegotiation) + `mute`
  --unmute-at S         unmute: the first time addTrack + offer + `unmute`,
                        later replaceTrack(track) + `unmute` (repeatable)
  --screen              share a screen after the first answer (or at
                        --screen-at S): `screen_on` with the id of a new
                        MediaStream, then a sendonly video transceiver in
                        that stream carrying a VP8 test pattern
  --screen-audio        also an Opus track (FREQ * 1.5 Hz) in the screen's
                        stream (screen-audio)
  --screen-off-at S     stop sharing: the transceivers go inactive (offer),
                        then `screen_off`
  --video, --video-at S a camera: a sendonly video transceiver, `video_on`
                        with its stream id, then the offer
  --video-off-at S      camera off: replaceTrack(null) + `video_off`
  --leave-at S          leave at S (the same as SECONDS = S)
  --dc-signaling        join with dcSignaling: once calls-dc is open, SDP
                        goes both ways as calls-dc message 3 (msgpack bin
                        of zlib(JSON)), answers on the channel of the offer
  --av1-support         join with av1Support (aiortc cannot decode AV1:
                        only for checking what the server sends)
  --relay               only TURN relay candidates (aioice's relay transport
                        policy; aiortc 1.4 has no iceTransportPolicy) through
                        the TURN server of the join event
  --lock                take the signaling lock before each offer after
                        the first, as CallsClient with dcLocking: DC Lock
                        (7), wait for Lock(true), retrying every 50 ms up
                        to 5 s; Unlock (8) comes after the answer
  --lock-hold S         hold a granted lock S seconds before offering
  --answer-delay S      wait S seconds before applying each server offer
                        (an offer of ours may then cross it: glare)
Packet-level hooks:
  --drop-video N        simulated loss: from --drop-after S (default 3) on,
                        drop every --drop-every K-th (default 25) video
                        packet before SRTP, N per stream at most; aiortc's
                        NACK generator asks for each; the report counts the
                        ones that come back (retransmitted)
  --pli-at S            send PLIs for every remote video stream from S on,
                        --pli-count N (default 10) of them every
                        --pli-interval I seconds (default 0.1)
  --video-size WxH, --fps F   the test pattern (default 640x360, 10 fps)
  --keyframe-interval S a keyframe every S seconds (default: only the first
                        and those asked for by PLI)

The peer connection uses the ICE servers of the join event (aiortc uses
the first STUN and the first TURN server of them).

What the report has (besides the signaling counts and errors):
  ice_servers      the join event's ice_servers
  ice_pair         the nominated candidate pair: local and remote
                   candidate type, host, port
  streams          remote audio: per stream (msid stream id = the sender's
                   session id) decoded frames, packets, RMS, dominant
                   frequency, a packet timeline (counts per 0.25 s from t0)
  video            remote video: frames decoded, resolution, keyframes,
                   packets, dropped/recovered/NACKed/PLIed, timelines
  sent_media       our senders (voice, screen, screen-audio, video): frames,
                   PLIs, NACKs and receiver reports received
  server_offers    every server offer: arrival time, channel, the m-sections
                   and the MediaMap that came before it
  media_maps       every MediaMap (calls-dc 9) with its arrival time
  media_map_problems  offers without a MediaMap before them, or whose
                   MediaMap does not describe their m-sections
  own_offers       our offers: time, channel, answered or not
  lock             Lock requests, grants and refusals; Unlocks sent
  event_log        [time, event, session id] for every user_* event
  actions          [time, action] for what we did (mute, screen_on, ...)
  vad_predicted    [time, "on"|"off"|"reset"]: what rtcd's VAD rule gives
                   for the audio levels we sent (50-packet window, on when
                   stddev > 10, off when < 4 and >= 2 s after on)

Exit status: 0 done; 1 --expect-peers not met (fewer remote streams with
audio than asked); 2 protocol error (server error event, the WebSocket
closing early, signaling failure, no join or no connection in time).
--dry-run needs no server: it prints the first offer's SDP on stdout, runs
the tone generator through Opus and the test pattern through VP8 and back,
and prints a JSON check on stderr.

Written for Debian's python3-aiortc 1.4.0, python3-websockets 10.4 and
python3-msgpack 1.0.
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
import types
import uuid
import zlib

import aiortc.codecs as aiortc_codecs
import aiortc.rtcpeerconnection as aiortc_pc
import msgpack
import numpy as np
import pylibsrtp
import websockets
import aioice
import aiortc.rtcicetransport as aiortc_ice
from aioice import TransportPolicy
from aiortc import (RTCConfiguration, RTCIceServer, RTCPeerConnection,
                    RTCSessionDescription)
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import (RTCP_PSFB_PLI, RTCP_RTPFB_NACK, RtcpPsfbPacket, RtcpRrPacket,
                        RtcpRtpfbPacket, RtcpSrPacket)
from aiortc.sdp import SessionDescription, candidate_from_sdp
from av import AudioFrame, VideoFrame

RATE = 48000
FRAME_SAMPLES = 960                      # 20 ms at 48 kHz
VIDEO_CLOCK = 90000
PING_INTERVAL = 1.0
FFT_SECONDS = 10                         # audio kept per stream for the FFT
TIMELINE_STEP = 0.25                     # seconds per timeline bucket
ROOM_RE = re.compile(r'^[A-Za-z0-9._-]{1,64}$')

# calls-dc message types (calls-common src/types/dc_msg.ts)
DC_PING, DC_PONG, DC_SDP = 1, 2, 3
DC_LOCK, DC_UNLOCK, DC_MEDIA_MAP = 7, 8, 9
LOCK_TIMEOUT = 5.0                       # calls-common grabSignalingLock
LOCK_RETRY = 0.05                        # signalingLockCheckIntervalMs

# rtcd's voice activity rule (service/rtc/vad)
VAD_WINDOW, VAD_ON, VAD_OFF, VAD_MIN_ACTIVE = 50, 10, 4, 2.0

VIDEO_PTS = (96, 45)                     # VP8, AV1 as the server offers them

log = logging.getLogger('aiortc_peer')


class ProtocolError(Exception):
    """The server did something the protocol does not allow."""


def now():
    return time.time()


def ts(t):
    return None if t is None else round(t, 3)


# ---------------------------------------------------------------------------
# aiortc 1.4 tables: the numbers browsers and the server use
#
# aiortc numbers Opus 96 and VP8 97, and gives the mid extension id 1 in
# audio and video alike, while the server (as rtcd and Chrome) uses Opus
# 111, VP8 96, audio level 1, abs-send-time 2, mid 4.  A BUNDLE has one
# header extension map (aiortc keeps one per transport), and a re-offer of
# ours must keep the numbers of the m-sections the server created, so use
# the server's numbers everywhere.

def use_browser_numbers():
    audio = aiortc_codecs.CODECS['audio']
    for i, c in enumerate(audio):
        if c.mimeType.lower() == 'audio/opus':
            audio[i] = dataclasses.replace(c, payloadType=111)
    video = aiortc_codecs.CODECS['video']
    vp8 = next(c for c in video if c.mimeType.lower() == 'video/vp8')
    old = vp8.payloadType
    for i, c in enumerate(video):
        if c is vp8:
            video[i] = dataclasses.replace(c, payloadType=96)
        elif c.mimeType.lower() == 'video/rtx' and c.parameters.get('apt') == old:
            video[i] = dataclasses.replace(c, payloadType=97, parameters={'apt': 96})
    ext = aiortc_codecs.HEADER_EXTENSIONS
    ext['audio'][:] = [
        RTCRtpHeaderExtensionParameters(id=1, uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'),
        RTCRtpHeaderExtensionParameters(id=4, uri='urn:ietf:params:rtp-hdrext:sdes:mid'),
    ]
    ext['video'][:] = [
        RTCRtpHeaderExtensionParameters(
            id=2, uri='http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time'),
        RTCRtpHeaderExtensionParameters(id=4, uri='urn:ietf:params:rtp-hdrext:sdes:mid'),
    ]


use_browser_numbers()


# ---------------------------------------------------------------------------
# media out

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


def audio_level(samples):
    """RFC 6465 level of int16 samples as aiortc's sender computes it
    (aiortc.rtp.compute_audio_level_dbov), as the 0..127 the extension
    carries."""
    x = samples.astype(np.float64)
    rms = math.sqrt(float(np.dot(x, x)) / (len(x) * 32767 * 32767))
    if rms > 0:
        db = min(max(20 * math.log10(rms), -127), 0)
    else:
        db = -127
    return -round(db)


class Pacer:
    """Real-time pacing for a track: aiortc pulls frames as fast as recv()
    returns them.  After a pause (a sender without track stops pulling)
    the clock restarts at now instead of catching up in a burst."""

    def __init__(self, period):
        self.period = period
        self.next = None
        self.gap = 0.0                   # seconds skipped by the last resume

    async def wait(self):
        t = time.monotonic()
        self.gap = 0.0
        if self.next is None:
            self.next = t
        elif t - self.next > 0.2:
            self.gap = t - self.next
            self.next = t
        elif self.next > t:
            await asyncio.sleep(self.next - t)
        self.next += self.period


class ToneTrack(MediaStreamTrack):
    """A sine of `freq` Hz as 20 ms mono s16 frames at 48 kHz, optionally
    in speech-like bursts; notes the level of each frame it hands out."""

    kind = 'audio'

    def __init__(self, freq, amplitude=0.3, bursts=False):
        super().__init__()
        self.freq = freq
        self.amplitude = amplitude
        self.bursts = bursts
        self.frames = 0
        self.levels = []                 # (epoch time, level 0..127)
        self._pacer = Pacer(FRAME_SAMPLES / RATE)
        self._pts = None

    async def recv(self):
        if self.readyState != 'live':
            raise MediaStreamError
        await self._pacer.wait()
        if self._pts is None:
            self._pts = 0
        else:
            self._pts += FRAME_SAMPLES + int(self._pacer.gap * RATE) // FRAME_SAMPLES * FRAME_SAMPLES
        frame, level = self.make_frame(self._pts)
        self.levels.append((now(), level))
        return frame

    def make_frame(self, pts):
        # the phase comes from the absolute sample index: no clicks between
        # frames
        n = np.arange(pts, pts + FRAME_SAMPLES)
        wave = self.amplitude * np.sin(2 * np.pi * self.freq * n / RATE)
        if self.bursts:
            wave *= burst_envelope(n)
        samples = np.round(wave * 32767).astype('<i2')
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format='s16', layout='mono')
        frame.sample_rate = RATE
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, RATE)
        self.frames += 1
        return frame, audio_level(samples)


class PatternTrack(MediaStreamTrack):
    """A moving test pattern (diagonal stripes, a sliding block, a colour
    per `hue`) as yuv420p frames at `fps`, for aiortc's VP8 encoder."""

    kind = 'video'

    def __init__(self, width, height, fps, hue=0):
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        self._pacer = Pacer(1.0 / fps)
        self._origin = None
        y, x = np.mgrid[0:height, 0:width]
        self._base = (x + 2 * y).astype(np.int32)
        self._u = np.full((height // 2, width // 2), (64 + 97 * hue) % 256, np.uint8)
        self._v = np.full((height // 2, width // 2), (192 + 61 * hue) % 256, np.uint8)

    async def recv(self):
        if self.readyState != 'live':
            raise MediaStreamError
        await self._pacer.wait()
        t = time.monotonic()
        if self._origin is None:
            self._origin = t
        frame = self.make_frame(self.frames)
        frame.pts = int((t - self._origin) * VIDEO_CLOCK)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame

    def make_frame(self, n):
        luma = ((self._base + 6 * n) % 256).astype(np.uint8)
        bw, bh = self.width // 8, self.height // 4
        bx = (n * 7) % max(1, self.width - bw)
        luma[self.height // 3:self.height // 3 + bh, bx:bx + bw] = 235
        data = np.concatenate([luma, self._u.reshape(-1, self.width),
                               self._v.reshape(-1, self.width)])
        self.frames += 1
        return VideoFrame.from_ndarray(data, format='yuv420p')


# ---------------------------------------------------------------------------
# media in

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


class Timeline:
    """Counts per TIMELINE_STEP seconds from t0."""

    def __init__(self, t0):
        self.t0 = t0
        self.counts = []

    def add(self, t):
        k = int((t - self.t0) / TIMELINE_STEP)
        if k < 0:
            return
        if k >= len(self.counts):
            self.counts.extend([0] * (k + 1 - len(self.counts)))
        self.counts[k] += 1

    def result(self):
        return {'t0': ts(self.t0), 'step': TIMELINE_STEP, 'counts': self.counts}


def vp8_descriptor(payload):
    """(start of a frame, picture id or None, its bits, TL0PICIDX or None)
    from an RTP VP8 payload descriptor (RFC 7741)."""
    if not payload:
        return False, None, 0, None
    b0 = payload[0]
    start = bool(b0 & 0x10) and (b0 & 0x07) == 0
    pid, bits, tl0 = None, 0, None
    if b0 & 0x80 and len(payload) >= 2:
        ext = payload[1]
        i = 2
        if ext & 0x80 and len(payload) > i:
            if payload[i] & 0x80 and len(payload) > i + 1:
                pid, bits = ((payload[i] & 0x7f) << 8) | payload[i + 1], 15
                i += 2
            else:
                pid, bits = payload[i] & 0x7f, 7
                i += 1
        if ext & 0x40 and len(payload) > i:
            tl0 = payload[i]
    return start, pid, bits, tl0


def vp8_keyframe(payload):
    """Whether an RTP VP8 payload (RFC 7741) starts a keyframe."""
    if len(payload) < 1:
        return False
    b0 = payload[0]
    i = 1
    if b0 & 0x80:                        # X: extension byte
        if len(payload) < 2:
            return False
        ext = payload[1]
        i = 2
        if ext & 0x80:                   # I: picture id, 1 or 2 bytes
            if len(payload) <= i:
                return False
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:                   # L: TL0PICIDX
            i += 1
        if ext & 0x30:                   # T or K
            i += 1
    start = b0 & 0x10                    # S
    pid = b0 & 0x07
    if not start or pid != 0 or len(payload) <= i:
        return False
    return (payload[i] & 0x01) == 0      # P bit 0: keyframe


class RemoteStream:
    """What arrives on one remote track, from the packets (hooked before
    aiortc's jitter buffer) and the decoded frames."""

    def __init__(self, kind, mid, stream_id, track_id, t0):
        self.kind = kind
        self.mid = mid
        self.stream_id = stream_id
        self.track_id = track_id
        self.t0 = t0
        self.ssrc = None
        self.ssrcs = set()
        self.packets = 0
        self.first_packet = None
        self.last_packet = None
        self.packet_timeline = Timeline(t0)
        self.seen = collections.OrderedDict()   # recent seqs (per ssrc, seq)
        self.duplicates = 0
        self.keyframes = 0
        self.keyframe_times = []
        self.dropped = set()             # (ssrc, seq) we pretended to lose
        self.last_pid = None             # VP8 picture id of the last frame
        self.last_tl0 = None
        self.pid_jumps = []              # [time, from, to]
        self.tl0_jumps = []
        self.recovered = []              # [seq, delay ms] that came back
        self.nacks_sent = []             # [time, [seqs]]
        self.plis_sent = []
        self.sender_reports = 0
        # decoded
        self.frames = 0
        self.first_frame = None
        self.last_frame = None
        self.frame_timeline = Timeline(t0)
        self.width = None
        self.height = None
        self.sizes = collections.Counter()
        # audio analysis
        self.samples = 0
        self.sumsq = 0.0
        self.peak = 0.0
        self.rate = RATE
        self.tail = collections.deque()
        self.tail_len = 0
        self.stats_packets = None
        self.stats_lost = None
        self.drop_times = {}

    def on_packet(self, packet, t):
        self.packets += 1
        self.ssrc = packet.ssrc
        self.ssrcs.add(packet.ssrc)
        if self.first_packet is None:
            self.first_packet = t
        self.last_packet = t
        self.packet_timeline.add(t)
        key = (packet.ssrc, packet.sequence_number)
        if key in self.seen:
            self.duplicates += 1
        self.seen[key] = True
        while len(self.seen) > 4096:
            self.seen.popitem(last=False)
        if key in self.dropped:
            self.dropped.discard(key)
            self.recovered.append([packet.sequence_number,
                                   round((t - self.drop_times.pop(key, t)) * 1000, 1)])
        if self.kind == 'video' and packet.payload_type == 96:
            if vp8_keyframe(packet.payload):
                self.keyframes += 1
                self.keyframe_times.append(ts(t))
            self.vp8_continuity(packet, t)

    def vp8_continuity(self, packet, t):
        """A receiver's VP8 depacketizer follows the picture ids and
        TL0PICIDX of the stream: count where they do not go on by one from
        frame to frame (a forwarded stream switching layers must keep them
        going, as it keeps sequence numbers and timestamps going)."""
        start, pid, bits, tl0 = vp8_descriptor(packet.payload)
        if not start or (packet.ssrc, packet.sequence_number) in self.dropped:
            return
        if pid is not None:
            if self.last_pid is not None and pid != (self.last_pid + 1) % (1 << bits) \
                    and pid != self.last_pid:
                self.pid_jumps.append([ts(t), self.last_pid, pid])
            self.last_pid = pid
        if tl0 is not None:
            if self.last_tl0 is not None and tl0 not in (self.last_tl0, (self.last_tl0 + 1) % 256):
                self.tl0_jumps.append([ts(t), self.last_tl0, tl0])
            self.last_tl0 = tl0

    def on_frame(self, frame, t):
        self.frames += 1
        if self.first_frame is None:
            self.first_frame = t
        self.last_frame = t
        self.frame_timeline.add(t)
        if self.kind == 'video':
            self.width, self.height = frame.width, frame.height
            self.sizes[f'{frame.width}x{frame.height}'] += 1
            return
        mono = frame_to_mono(frame)
        self.rate = frame.sample_rate or RATE
        self.samples += len(mono)
        self.sumsq += float(np.dot(mono, mono))
        self.peak = max(self.peak, float(np.max(np.abs(mono))) if len(mono) else 0.0)
        self.tail.append(mono)
        self.tail_len += len(mono)
        while self.tail_len - len(self.tail[0]) >= FFT_SECONDS * self.rate:
            self.tail_len -= len(self.tail.popleft())

    def result(self, media_type):
        out = {
            'kind': self.kind,
            'mid': self.mid,
            'stream_id': self.stream_id,
            'track_id': self.track_id,
            'type': media_type,
            'ssrc': self.ssrc,
            'ssrcs': sorted(self.ssrcs),
            'frames': self.frames,
            'packets_seen': self.packets,
            'packets': self.stats_packets,
            'packets_lost': self.stats_lost,
            'first_packet_t': ts(self.first_packet),
            'last_packet_t': ts(self.last_packet),
            'first_frame_t': ts(self.first_frame),
            'last_frame_t': ts(self.last_frame),
            'first_frame_s': None if self.first_frame is None else round(self.first_frame - self.t0, 3),
            'packet_timeline': self.packet_timeline.result(),
            'frame_timeline': self.frame_timeline.result(),
            'duplicates': self.duplicates,
            'sender_reports': self.sender_reports,
        }
        if self.kind == 'audio':
            rms = math.sqrt(self.sumsq / self.samples) if self.samples else 0.0
            hz = dominant_hz(np.concatenate(self.tail), self.rate) if self.tail else None
            out.update({
                'rms': round(rms, 5),
                'peak': round(self.peak, 5),
                'dominant_hz': None if hz is None else round(hz, 1),
            })
        else:
            out.update({
                'width': self.width,
                'height': self.height,
                'sizes': dict(self.sizes),
                'keyframes': self.keyframes,
                'picture_id_jumps': self.pid_jumps[-20:],
                'tl0picidx_jumps': self.tl0_jumps[-20:],
                'keyframe_times': self.keyframe_times[-50:],
                'dropped': len(self.dropped) + len(self.recovered),
                'recovered': len(self.recovered),
                'recovered_delays_ms': [d for _, d in self.recovered],
                'nacks_sent': self.nacks_sent,
                'plis_sent': [ts(t) for t in self.plis_sent],
            })
        return out


class LossySrtp:
    """Stands in for the DTLS transport's receiving SRTP session and drops
    chosen packets before they are decrypted: the retransmission of a
    packet that was decrypted once would be refused by SRTP's replay
    protection, a lost one is not."""

    def __init__(self, inner, drop):
        self.inner = inner
        self.drop = drop

    def unprotect(self, data):
        if self.drop(data):
            raise pylibsrtp.Error('simulated loss')
        return self.inner.unprotect(data)

    def unprotect_rtcp(self, data):
        return self.inner.unprotect_rtcp(data)

    def __getattr__(self, name):
        return getattr(self.inner, name)


# ---------------------------------------------------------------------------
# SDP helpers for aiortc 1.4

def sdp_media(sdp_text):
    """The m-sections of an SDP: mid, kind, port, direction, msid."""
    out = []
    for m in SessionDescription.parse(sdp_text).media:
        parts = (m.msid or '').split()
        out.append({
            'mid': m.rtp.muxId,
            'kind': m.kind,
            'port': m.port,
            'dir': m.direction,
            'stream_id': parts[0] if parts else None,
            'track_id': parts[1] if len(parts) > 1 else None,
            'codecs': [c.mimeType for c in m.rtp.codecs],
        })
    return out


def new_peer_connection(legacy_sctp_sdp=False, ice_servers=()):
    """An RTCPeerConnection with the given ICE servers (RTCIceServer
    dictionaries, as the join event has them; none by default).
    aiortc 1.4 writes the data channel section in the old draft-05 form
    (`m=application <port> DTLS/SCTP 5000` + `a=sctpmap`) unless told
    otherwise; browsers use `UDP/DTLS/SCTP webrtc-datachannel` with
    `a=sctp-port`, so that is the default here.  It parses either form in
    the server's SDP."""
    servers = [RTCIceServer(urls=s['urls'], username=s.get('username'),
                            credential=s.get('credential'))
               for s in ice_servers]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
    pc._sctpLegacySdp = legacy_sctp_sdp
    return pc


def relay_only():
    """Only relay candidates, offered and checked, for every ICE gatherer
    from now on.  aiortc 1.4 has no iceTransportPolicy: it makes its
    aioice Connection with the keyword arguments of connection_kwargs(),
    to which aioice's relay transport policy is added.  aioice 0.8's
    policy only keeps host candidates out of the offer: it still pairs
    and checks from its host sockets (a loopback server answers those),
    so they are closed once gathering is done (without telling the
    Connection, which takes a closed socket for its end)."""
    kwargs = aiortc_ice.connection_kwargs
    gather = aioice.Connection.gather_candidates

    def relay_kwargs(servers):
        out = kwargs(servers)
        out['transport_policy'] = TransportPolicy.RELAY
        return out

    async def gather_relay(self):
        await gather(self)
        for protocol in [p for p in self._protocols
                         if p.local_candidate.type != 'relay']:
            self._protocols.remove(protocol)
            protocol.receiver = types.SimpleNamespace(data_received=lambda data, component: None)
            await protocol.close()
        if not self._protocols:
            raise ConnectionError('relay only: no relay candidate (no TURN server?)')

    aiortc_ice.connection_kwargs = relay_kwargs
    aioice.Connection.gather_candidates = gather_relay


def candidate_pair(pc):
    """The nominated candidate pair of the (bundled) transport, or None."""
    try:
        conn = pc.sctp.transport.transport._connection
        pair = conn._nominated.get(1)
    except AttributeError:
        return None
    if pair is None:
        return None

    def cand(c):
        return {'type': c.type, 'host': c.host, 'port': c.port,
                'transport': c.transport}
    return {'local': cand(pair.local_candidate),
            'remote': cand(pair.remote_candidate)}


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


def sdp_numbers(sdp_text):
    """Per kind, the header extension ids (uri -> id) and payload types
    ('opus/48000' -> pt) an SDP uses."""
    out = {'audio': ({}, {}), 'video': ({}, {})}
    kind = None
    for line in sdp_text.splitlines():
        if line.startswith('m='):
            kind = line[2:].split()[0]
        if kind not in out:
            continue
        ext, pts = out[kind]
        m = EXTMAP_RE.match(line)
        if m:
            ext[m.group(2)] = int(m.group(1))
        m = RTPMAP_RE.match(line)
        if m:
            pts.setdefault(f'{m.group(2).lower()}/{m.group(3)}', int(m.group(1)))
    return out


async def create_offer_keeping(pc, numbers):
    """pc.createOffer() that keeps numbers already negotiated.

    aiortc 1.4 builds every offer from module-level tables, so a re-offer
    renumbers the m-sections the other side created.  Chromium refuses a
    changed extension id; the server refuses a changed payload type.  The
    tables hold the server's usual numbers already (use_browser_numbers);
    should the remote description use others, swap in tables with those
    for the call (createOffer has no await inside, nothing else can
    observe them)."""
    headers = dict(aiortc_pc.HEADER_EXTENSIONS)
    codecs = dict(aiortc_pc.CODECS)
    for kind in ('audio', 'video'):
        ext_ids, pts = numbers.get(kind, ({}, {}))
        if ext_ids:
            headers[kind] = [RTCRtpHeaderExtensionParameters(id=ext_ids.get(x.uri, x.id), uri=x.uri)
                             for x in aiortc_pc.HEADER_EXTENSIONS[kind]]
        if pts:
            codecs[kind] = [
                dataclasses.replace(c, payloadType=pts.get(
                    f'{c.mimeType.split("/")[1].lower()}/{c.clockRate}', c.payloadType))
                if c.mimeType.lower() != 'video/rtx' else c
                for c in aiortc_pc.CODECS[kind]]
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
# calls-dc messages: flat msgpack, a type and an optional payload

def dc_encode(mtype, payload=None, has_payload=False):
    out = msgpack.packb(mtype)
    if has_payload or payload is not None:
        out += msgpack.packb(payload, use_bin_type=True)
    return out


def dc_decode(data):
    """(type, payload or None) of a calls-dc message; raises ValueError."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(data)
    values = list(unpacker)
    if not values or not isinstance(values[0], int):
        raise ValueError('no message type')
    if len(values) > 2:
        raise ValueError(f'{len(values)} values')
    return values[0], (values[1] if len(values) > 1 else None)


def vad_predict(levels, resets):
    """rtcd's VAD over (time, level) samples: [(time, 'on'|'off'|'reset')].
    `resets` are the times of mutes (the monitor is reset and voice off is
    sent whether it was on or not)."""
    events = []
    window = collections.deque()
    active = False
    since = None
    merged = sorted([(t, 'level', v) for t, v in levels] + [(t, 'reset', None) for t in resets])
    for t, what, level in merged:
        if what == 'reset':
            window.clear()
            active = False
            events.append((t, 'reset'))
            continue
        if len(window) < VAD_WINDOW:
            window.append(level)
            continue
        window.popleft()
        window.append(level)
        total = sum(window)
        mean = (2 * total + VAD_WINDOW) // (2 * VAD_WINDOW)
        var = sum((x - mean) ** 2 for x in window) / (VAD_WINDOW - 1)
        stddev = math.floor(math.sqrt(var) + 0.5)
        if not active:
            if stddev > VAD_ON:
                active = True
                since = t
                events.append((t, 'on'))
        elif stddev < VAD_OFF and t - since >= VAD_MIN_ACTIVE:
            active = False
            events.append((t, 'off'))
    return [[ts(t), e] for t, e in events]


# ---------------------------------------------------------------------------
# the participant

class WsSignaling:
    """The participant's signaling over ngx_calls' standalone /calls/ws:
    actions out as JSON text frames (send), the server's events in from
    read(), which hands each to Peer.on_event.

    This is one of two transports: t/peers/rtcd_plugin.py plugs in the
    Calls plugin's RTCD connection instead (an object with the same
    send(msg)).  Whatever carries it, Peer sends every action through
    Peer.send and takes every event through Peer.on_event."""

    def __init__(self, peer):
        self.peer = peer
        self.ws = None

    async def open(self):
        args = self.peer.args
        ctx = None
        if args.url.startswith('wss:'):
            ctx = ssl.create_default_context()
            if args.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
        self.ws = await websockets.connect(args.url, ssl=ctx, open_timeout=10,
                                           close_timeout=2, max_size=1 << 22,
                                           ping_interval=None)

    def is_open(self):
        return self.ws is not None and self.ws.open

    async def send(self, msg):
        await self.ws.send(json.dumps(msg))

    async def read(self):
        """Until the socket closes."""
        peer = self.peer
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    peer.error('binary frame on the signaling socket', fatal=True)
                    continue
                try:
                    msg = json.loads(raw)
                except ValueError:
                    peer.error(f'bad JSON from server: {raw[:100]!r}', fatal=True)
                    continue
                log.debug('<- %s', raw[:200])
                await peer.on_event(msg.get('event'), msg.get('data') or {})
        except websockets.ConnectionClosed as e:
            log.info('signaling closed: %s', e)
        finally:
            # a clean close (1000, 1001) ends the iteration without an error
            if self.ws.close_code is not None:
                peer.ws_close = f'{self.ws.close_code} {self.ws.close_reason}'.strip()

    async def close(self):
        if self.ws is not None:
            await self.ws.close()


@dataclasses.dataclass
class LocalChange:
    label: str
    apply: object                        # function (or coroutine function) run
                                         # right before the offer
    after: object = None                 # async function, runs right after it is sent
    done: asyncio.Future = None


class Peer:
    def __init__(self, args):
        self.args = args
        self.signaling = None            # the transport: WsSignaling in
                                         # run(), or another with send()
                                         # (rtcd_plugin.py's RtcdPeer)
        self.pc = None
        self.dc = None
        self.session_id = None
        self.call_id = None
        self.ice_servers = []            # of the join event
        self.joined = asyncio.Event()
        self.dc_open = asyncio.Event()
        self.connected = asyncio.Event()
        self.term = asyncio.Event()       # SIGTERM: leave now
        self.t0 = now()
        self.work = asyncio.Queue()      # SDP work, done strictly in order
        self.actions = asyncio.Queue()   # local changes, one at a time
        self.pending_candidates = []
        self.offer_snapshot = None
        self.first_answer = True
        self.first_answer_event = asyncio.Event()
        self.tasks = []
        self.errors = []
        self.protocol_error = None
        self.ws_close = None                 # the server's close code and reason
        self.events = collections.defaultdict(list)
        self.event_log = []
        self.action_log = []
        self.sig = collections.Counter()
        self.dc_stats = collections.Counter()
        self.dc_other = collections.Counter()
        self.rtts = []
        self.ping_sent_at = None
        self.reoffer = False             # our offer is due again (glare)
        self.msids = {}                  # mid -> (stream id, track id)
        self.remote = {}                 # mid -> RemoteStream
        # our media
        self.tone = None
        self.voice_sender = None
        self.muted = True
        self.mute_times = []
        self.screen_stream = None
        self.screen_trs = []
        self.screen_tracks = []
        self.video_stream = None
        self.video_tr = None
        self.video_track = None
        self.sent_media = {}             # 'voice'|'screen'|'video' -> dict
        # signaling records
        self.media_maps = []             # {t, map}
        self.server_offers = []
        self.offers_applied = 0
        self.own_offers = []
        self.current_own = None          # the own offer awaiting its answer
        self.pending_change = None       # LocalChange awaiting its answer
        self.lock_log = {'requests': 0, 'granted': 0, 'refused': 0,
                         'grants': [], 'refusals': [], 'unlocks': [], 'timeouts': 0}
        self.lock_reply = None
        self.lossy_installed = False
        self.left_t = None
        self.leaving = False             # the stay is over: teardown races
                                         # are not the server's fault

    # --- plumbing

    def elapsed(self):
        return round(now() - self.t0, 3)

    def error(self, message, fatal=False):
        log.error('%s', message)
        self.errors.append(f'{self.elapsed()}s {message}')
        if fatal and self.protocol_error is None:
            self.protocol_error = message

    def note(self, action):
        self.action_log.append([ts(now()), action])
        log.info('action %s at %.3fs', action, self.elapsed())

    async def send(self, msg):
        """Every action of ours goes out here, whatever the transport."""
        log.debug('-> %s', str(msg)[:200])
        await self.signaling.send(msg)

    def dc_send(self, data):
        if self.dc is None or self.dc.readyState != 'open':
            return False
        self.dc.send(data)
        return True

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    def at(self, seconds, coro_fn):
        """Run coro_fn() `seconds` after the start."""
        async def later():
            await asyncio.sleep(max(0.0, self.t0 + seconds - now()))
            await coro_fn()
        self.spawn(later())

    def schedule(self, seconds, label, fn):
        """Queue the local change fn at `seconds` after the start."""
        async def put():
            await self.actions.put((label, fn))
        self.at(seconds, put)

    # --- main

    async def run(self):
        """The standalone participant: /calls/ws, join, the stay, leave."""
        args = self.args
        self.signaling = sig = WsSignaling(self)
        await sig.open()
        try:
            reader = self.spawn(sig.read())
            join = {'channelID': args.room}
            if args.av1_support:
                join['av1Support'] = True
            if args.dc_signaling:
                join['dcSignaling'] = True
            await self.send({'action': 'join', 'data': join})
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

            await self.start_call()

            # stay in the call; the reader ends early only if the socket
            # closes, which is an error before the time is up
            stay = asyncio.ensure_future(asyncio.sleep(max(0.0, self.t0 + args.seconds - now())))
            term = asyncio.ensure_future(self.term.wait())
            done, _ = await asyncio.wait([reader, stay, term, self.failed_future()],
                                         return_when=asyncio.FIRST_COMPLETED)
            stay.cancel()
            term.cancel()
            if reader in done and self.protocol_error is None:
                self.error('signaling WebSocket closed before the end'
                           + (f' ({self.ws_close})' if self.ws_close else ''), fatal=True)

            self.leaving = True
            result = await self.collect()
            if sig.is_open():
                try:
                    await self.leave()
                    result['left_t'] = ts(self.left_t)
                except websockets.ConnectionClosed:
                    pass
        finally:
            await sig.close()
        return result

    async def start_call(self):
        """What follows the join, whatever the transport: the peer
        connection with calls-dc, the SDP and action workers, the timed
        actions of the options, and the first offer (only the data
        channel, no track added yet)."""
        self.start_peer()
        self.spawn(self.sdp_worker())
        self.spawn(self.action_worker())
        self.plan()
        await self.work.put(('offer', None, None))

    async def leave(self):
        """The stay is over: the leave action.  From here on, signaling
        that fails is a teardown race, not the server's fault."""
        self.leaving = True
        self.left_t = now()
        await self.send({'action': 'leave'})

    def plan(self):
        """The timed actions of the command line."""
        a = self.args

        async def after_first_answer(label, fn):
            await self.first_answer_event.wait()
            await self.actions.put((label, fn))

        if not a.muted:
            self.spawn(after_first_answer('unmute', self.do_unmute))
        if a.screen and a.screen_at is None:
            self.spawn(after_first_answer('screen_on', self.do_screen_on))
        if a.screen_at is not None:
            self.schedule(a.screen_at, 'screen_on', self.do_screen_on)
        if a.screen_off_at is not None:
            self.schedule(a.screen_off_at, 'screen_off', self.do_screen_off)
        if a.video and a.video_at is None:
            self.spawn(after_first_answer('video_on', self.do_video_on))
        if a.video_at is not None:
            self.schedule(a.video_at, 'video_on', self.do_video_on)
        if a.video_off_at is not None:
            self.schedule(a.video_off_at, 'video_off', self.do_video_off)
        for s in a.mute_at:
            self.schedule(s, 'mute', self.do_mute)
        for s in a.unmute_at:
            self.schedule(s, 'unmute', self.do_unmute)
        if a.pli_at is not None:
            self.at(a.pli_at, self.send_plis)

    def failed_future(self):
        # resolves as soon as a protocol error is recorded
        async def watch():
            while self.protocol_error is None:
                await asyncio.sleep(0.1)
        return asyncio.ensure_future(watch())

    def start_peer(self):
        self.pc = pc = new_peer_connection(self.args.legacy_sctp_sdp, self.ice_servers)
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
            if pc.connectionState == 'connected':
                self.connected.set()
                self.install_loss()
            if pc.connectionState == 'failed':
                self.error('peer connection failed', fatal=True)

    # --- signaling in

    async def on_event(self, event, data):
        if event == 'join':
            self.session_id = data.get('session_id')
            self.call_id = data.get('call_id')
            # nginx's standalone signaling has them; a Calls plugin gives
            # its clients theirs by other ways (its /config)
            self.ice_servers = data.get('ice_servers', [])
            if not self.session_id:
                self.error('join event without session_id', fatal=True)
            if not isinstance(self.ice_servers, list) or not all(
                    isinstance(s, dict) and isinstance(s.get('urls'), list)
                    for s in self.ice_servers):
                self.error(f'join event: bad ice_servers {self.ice_servers!r}', fatal=True)
                self.ice_servers = []
            self.joined.set()
        elif event == 'signal':
            try:
                payload = json.loads(data['data'])
            except (KeyError, TypeError, ValueError):
                self.error(f'bad signal event: {str(data)[:100]}', fatal=True)
                return
            await self.incoming_signal(payload, 'ws')
        elif event == 'error':
            self.error(f"server error: {data.get('message')}", fatal=True)
        elif isinstance(event, str) and event.startswith('user_'):
            self.events[event].append(data.get('session_id'))
            self.event_log.append([ts(now()), event, data.get('session_id')])
        else:
            self.events['other'].append(event)

    async def incoming_signal(self, payload, channel):
        if payload.get('type') == 'offer':
            self.note_server_offer(payload.get('sdp') or '', channel)
            if self.args.answer_delay:
                async def later():
                    await asyncio.sleep(self.args.answer_delay)
                    await self.work.put(('signal', payload, channel))
                self.spawn(later())
                return
        await self.work.put(('signal', payload, channel))

    def note_server_offer(self, sdp, channel):
        """Record an offer as it arrives: whether a MediaMap came since the
        previous offer (on the WS that can race the calls-dc message; on
        the data channel, which is ordered, it cannot)."""
        seen = len(self.media_maps)
        prev = self.server_offers[-1]['mm_seen_arrival'] if self.server_offers else 0
        try:
            media = sdp_media(sdp)
        except Exception as e:          # noqa: BLE001 - reported, not fatal here
            media = []
            self.error(f'server offer does not parse: {e}')
        self.server_offers.append({
            't': ts(now()), 'channel': channel, 'media': media,
            'mm_seen_arrival': seen, 'mm_prev': prev,
            'media_map_before_arrival': seen > prev,
            'media_map_before': None, 'media_map': None, 'problems': []})
        self.sig[f'offers_received_{channel}'] += 1

    def check_media_map(self, offer):
        """When the offer is applied (setRemoteDescription, where the
        webapp's ontrack looks the mids up), the MediaMap sent before it
        must be there and describe its forwarded tracks: every m-section
        the server sends on has an entry whose type is the prefix of its
        track id, and every entry names such an m-section."""
        seen = len(self.media_maps)
        fresh = seen > offer['mm_prev']
        offer['media_map_before'] = fresh
        offer['t_applied'] = ts(now())
        problems = offer['problems']
        if not fresh:
            problems.append('no MediaMap before the offer was applied')
            return
        if offer['channel'] == 'dc' and not offer['media_map_before_arrival']:
            problems.append('the MediaMap came after the offer on the ordered calls-dc')
        mm = self.media_maps[seen - 1]['map']
        offer['media_map'] = mm
        sending = {}
        for m in offer['media']:
            if m['kind'] in ('audio', 'video') and m['port'] != 0 \
                    and m['dir'] in ('sendonly', 'sendrecv') and m['track_id']:
                sending[m['mid']] = m
        for mid, m in sending.items():
            entry = mm.get(mid)
            want = m['track_id'].rsplit('_', 2)[0] if m['track_id'].count('_') >= 2 else None
            if not isinstance(entry, dict):
                problems.append(f'mid {mid} ({m["track_id"]}) has no MediaMap entry')
            elif entry.get('type') != want:
                problems.append(f'mid {mid}: MediaMap type {entry.get("type")!r}, '
                                f'track {m["track_id"]}')
            elif not entry.get('sender_id'):
                problems.append(f'mid {mid}: MediaMap entry without sender_id')
        for mid in mm:
            if mid not in sending:
                problems.append(f'MediaMap names mid {mid}, which the offer does not send on')

    # --- SDP work, one item at a time

    async def sdp_worker(self):
        while True:
            item = await self.work.get()
            # (kind, payload, channel); anything else is a bug of ours,
            # reported rather than ending this task in silence
            if not (isinstance(item, tuple) and len(item) == 3):
                self.error(f'SDP work item {item!r:.80} is not (kind, payload, channel)',
                           fatal=True)
                continue
            kind, payload, channel = item
            try:
                if kind == 'offer':
                    await self.make_offer()
                elif kind == 'change':
                    await self.apply_change(payload)
                elif kind == 'signal':
                    await self.on_signal(payload, channel)
                else:
                    raise ValueError(f'unknown SDP work {kind!r}')
            except Exception as e:          # noqa: BLE001 - report and stop
                if self.leaving:
                    log.info('signaling step %s while leaving: %s', kind, e)
                    continue
                log.exception('signaling step %s failed', kind)
                self.error(f'{kind}: {type(e).__name__}: {e}', fatal=True)

    def offer_channel(self):
        return 'dc' if self.args.dc_signaling and self.dc_open.is_set() else 'ws'

    async def send_sdp(self, desc, channel):
        if channel == 'dc':
            z = zlib.compress(json.dumps(desc).encode())
            if not self.dc_send(dc_encode(DC_SDP, z)):
                raise ProtocolError('calls-dc closed, cannot send SDP')
        else:
            await self.send({'action': 'sdp', 'data': json.dumps(desc)})

    async def make_offer(self, label='offer'):
        pc = self.pc
        if pc.signalingState != 'stable':
            # an answer is still due; retried when it comes
            self.reoffer = True
            return
        self.offer_snapshot = LocalOfferSnapshot(pc)
        # keep the server's numbers for the m-sections it created
        numbers = sdp_numbers(pc.remoteDescription.sdp) if pc.remoteDescription else {}
        await pc.setLocalDescription(await create_offer_keeping(pc, numbers))
        channel = self.offer_channel()
        self.sig['offers_sent'] += 1
        self.sig[f'offers_sent_{channel}'] += 1
        self.current_own = {'t': ts(now()), 'channel': channel, 'label': label,
                            'answered_t': None, 'rolled_back': False}
        self.own_offers.append(self.current_own)
        # aiortc does not trickle: the offer carries all our candidates
        await self.send_sdp({'type': 'offer', 'sdp': pc.localDescription.sdp}, channel)

    async def apply_change(self, change):
        """A local change and the offer that carries it."""
        if self.pc.signalingState != 'stable':
            # a server offer is being answered: after it
            self.spawn(self.retry_change(change))
            return
        r = change.apply()
        if asyncio.iscoroutine(r):
            await r
        self.pending_change = change
        await self.make_offer(change.label)
        if change.after is not None:
            await change.after()

    async def retry_change(self, change):
        await asyncio.sleep(0.05)
        await self.work.put(('change', change, None))

    async def on_signal(self, msg, channel):
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
            self.sig[f'answers_received_{channel}'] += 1
            if pc.signalingState != 'have-local-offer':
                log.info('ignoring an answer in state %s', pc.signalingState)
                self.sig['stale_answers'] += 1
                return
            with without_unnegotiated_transceivers(pc):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=msg['sdp'], type='answer'))
            await self.flush_candidates()
            self.wrap_receivers()
            self.offer_snapshot = None
            if self.current_own is not None:
                self.current_own['answered_t'] = ts(now())
                self.current_own = None
            if self.first_answer:
                self.first_answer = False
                self.first_answer_event.set()
            else:
                # calls-common: Unlock after every answer but the first,
                # locked or not
                if self.dc_send(dc_encode(DC_UNLOCK)):
                    self.lock_log['unlocks'].append(ts(now()))
            if self.reoffer:
                self.reoffer = False
                await self.work.put(('offer', None, None))
            elif self.pending_change is not None:
                change, self.pending_change = self.pending_change, None
                if change.done is not None and not change.done.done():
                    change.done.set_result(True)
        elif kind == 'offer':
            self.sig['offers_received'] += 1
            await self.answer_offer(msg['sdp'], channel)
        else:
            raise ProtocolError(f'unknown signal type {kind!r}')

    async def answer_offer(self, sdp, channel):
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
            if self.current_own is not None:
                self.current_own['rolled_back'] = True
                self.current_own = None
            self.reoffer = True

        record = None
        if self.offers_applied < len(self.server_offers):
            record = self.server_offers[self.offers_applied]
            self.check_media_map(record)
        self.offers_applied += 1
        with without_unnegotiated_transceivers(pc) as hidden:
            self.note_msids(sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type='offer'))
            await self.flush_candidates()
            await pc.setLocalDescription(await pc.createAnswer())
        self.wrap_receivers()
        if hidden:
            self.reoffer = True
        self.sig['answers_sent'] += 1
        self.sig[f'answers_sent_{channel}'] += 1
        await self.send_sdp({'type': 'answer', 'sdp': pc.localDescription.sdp}, channel)
        if record is not None:
            record['answered_t'] = ts(now())
        if self.reoffer:
            self.reoffer = False
            await self.work.put(('offer', None, None))

    async def flush_candidates(self):
        queued, self.pending_candidates = self.pending_candidates, []
        for cand in queued:
            await self.pc.addIceCandidate(cand)

    # --- local changes, one at a time (CallsClient serialises them too)

    async def action_worker(self):
        # aiortc 1.4 starts the senders of a negotiation only if DTLS is
        # up or not started yet: a track added while the handshake runs
        # would never send.  CallsClient too adds tracks once connected.
        await self.connected.wait()
        while True:
            label, fn = await self.actions.get()
            self.note(label)
            try:
                await fn()
            except Exception as e:          # noqa: BLE001 - report and stop
                log.exception('action %s failed', label)
                self.error(f'{label}: {type(e).__name__}: {e}', fatal=True)

    async def renegotiate(self, label, apply, after=None):
        """CallsClient's addTrack/removeTrack: the lock first (with
        --lock), then the change and our offer; wait for its answer."""
        if self.args.lock:
            if not await self.grab_lock():
                self.error(f'{label}: no signaling lock within {LOCK_TIMEOUT:g} s', fatal=True)
                return
            if self.args.lock_hold:
                await asyncio.sleep(self.args.lock_hold)
        change = LocalChange(label, apply, after, asyncio.get_event_loop().create_future())
        await self.work.put(('change', change, None))
        try:
            await asyncio.wait_for(asyncio.shield(change.done), 15)
        except asyncio.TimeoutError:
            self.error(f'{label}: our offer was not answered within 15 s', fatal=True)

    async def grab_lock(self):
        """DC Lock until Lock(true): every 50 ms, at most 5 s."""
        try:
            await asyncio.wait_for(self.dc_open.wait(), 10)
        except asyncio.TimeoutError:
            return False
        deadline = time.monotonic() + LOCK_TIMEOUT
        first = now()
        while True:
            loop = asyncio.get_event_loop()
            self.lock_reply = loop.create_future()
            self.lock_log['requests'] += 1
            self.dc_send(dc_encode(DC_LOCK))
            try:
                granted = await asyncio.wait_for(self.lock_reply, 2)
            except asyncio.TimeoutError:
                self.lock_log['timeouts'] += 1
                granted = False
            if granted:
                self.lock_log['granted'] += 1
                self.lock_log['grants'].append({'requested_t': ts(first), 'granted_t': ts(now())})
                return True
            self.lock_log['refused'] += 1
            self.lock_log['refusals'].append(ts(now()))
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(LOCK_RETRY)

    async def do_unmute(self):
        if self.voice_sender is None:
            # the first unmute: a new m=audio via our own offer, then unmute
            self.tone = ToneTrack(self.args.freq, bursts=self.args.bursts)

            def apply():
                self.voice_sender = self.pc.addTrack(self.tone)
                self.hook_sender('voice', self.voice_sender, self.tone)

            async def after():
                self.muted = False
                await self.send({'action': 'unmute'})
            await self.renegotiate('unmute', apply, after)
            return
        # later: replaceTrack, no renegotiation
        self.voice_sender.replaceTrack(self.tone)
        self.muted = False
        await self.send({'action': 'unmute'})

    async def do_mute(self):
        if self.voice_sender is not None:
            self.voice_sender.replaceTrack(None)
        self.muted = True
        self.mute_times.append(now())
        await self.send({'action': 'mute'})

    def add_sender(self, what, track, stream_id):
        """A sendonly transceiver in the given MediaStream, as RTCPeer's
        addTrack for video (addTransceiver) does."""
        tr = self.pc.addTransceiver(track, direction='sendonly')
        tr.sender._stream_id = stream_id
        self.hook_sender(what if track.kind == 'video' else what + '-audio', tr.sender, track)
        if track.kind == 'video' and self.args.keyframe_interval:
            self.spawn(self.keyframes(tr.sender, track))
        return tr

    async def do_screen_on(self):
        a = self.args
        self.screen_stream = str(uuid.uuid4())
        w, h = a.video_size
        video = PatternTrack(w, h, a.fps, hue=1)
        tracks = [video]
        if a.screen_audio:
            tracks.append(ToneTrack(a.freq * 1.5))
        self.screen_tracks = tracks
        # CallsClient: screen_on first, then addStream
        await self.send({'action': 'screen_on',
                         'data': json.dumps({'screenStreamID': self.screen_stream})})

        def apply():
            self.screen_trs = [self.add_sender('screen', t, self.screen_stream) for t in tracks]
        await self.renegotiate('screen_on', apply)

    async def do_screen_off(self):
        def apply():
            for tr in self.screen_trs:
                tr.sender.replaceTrack(None)
                tr.direction = 'inactive'

        async def after():
            await self.send({'action': 'screen_off'})
        await self.renegotiate('screen_off', apply, after)
        for t in self.screen_tracks:
            t.stop()

    async def do_video_on(self):
        self.video_stream = str(uuid.uuid4())
        self.video_track = PatternTrack(320, 240, 15, hue=2)

        async def apply():
            self.video_tr = self.add_sender('video', self.video_track, self.video_stream)
            # CallsClient sends video_on once addTrack returned, before the
            # negotiation's offer goes out
            await self.send({'action': 'video_on',
                             'data': json.dumps({'videoStreamID': self.video_stream})})
        await self.renegotiate('video_on', apply)

    async def do_video_off(self):
        if self.video_tr is not None:
            self.video_tr.sender.replaceTrack(None)
        await self.send({'action': 'video_off'})

    async def keyframes(self, sender, track):
        """--keyframe-interval: ask our encoder for a keyframe now and then,
        as an encoder with a keyframe interval would make them."""
        while track.readyState == 'live':
            await asyncio.sleep(self.args.keyframe_interval)
            sender._send_keyframe()

    # --- packet hooks

    def hook_sender(self, what, sender, track):
        """Count the feedback a sender of ours gets: PLIs, NACKs, and
        receiver reports about its SSRC."""
        info = {'kind': what, 'plis': [], 'nacks': [], 'track': track, 'reports': 0}
        self.sent_media[what] = info
        orig = sender._handle_rtcp_packet

        async def handle(packet):
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                info['reports'] += sum(1 for r in packet.reports if r.ssrc == sender._ssrc)
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                info['plis'].append(ts(now()))
            elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                info['nacks'].append([ts(now()), list(packet.lost)])
            await orig(packet)
        sender._handle_rtcp_packet = handle

    def wrap_receivers(self):
        """Hook every receiver's packet handler (once) and name its stream."""
        for t in self.pc.getTransceivers():
            r = t.receiver
            if getattr(r, '_peer_hooked', False) or t.mid is None or t.mid not in self.msids:
                continue
            r._peer_hooked = True
            stats = self.stream_for(t)
            orig_rtp = r._handle_rtp_packet
            orig_nack = r._send_rtcp_nack
            orig_rtcp = r._handle_rtcp_packet

            async def handle(packet, arrival_time_ms, _orig=orig_rtp, _stats=stats):
                _stats.on_packet(packet, now())
                await _orig(packet, arrival_time_ms=arrival_time_ms)

            async def nack(media_ssrc, lost, _orig=orig_nack, _stats=stats):
                _stats.nacks_sent.append([ts(now()), list(lost)])
                await _orig(media_ssrc, lost)
            async def rtcp(packet, _orig=orig_rtcp, _stats=stats):
                if isinstance(packet, RtcpSrPacket):
                    _stats.sender_reports += 1
                await _orig(packet)
            r._handle_rtp_packet = handle
            r._send_rtcp_nack = nack
            r._handle_rtcp_packet = rtcp

    def stream_for(self, transceiver):
        mid = transceiver.mid
        if mid not in self.remote:
            stream_id, track_id = self.msids.get(mid, (None, None))
            self.remote[mid] = RemoteStream(transceiver.kind, mid, stream_id, track_id, self.t0)
        return self.remote[mid]

    def install_loss(self):
        """--drop-video: put LossySrtp in front of the receiving SRTP."""
        a = self.args
        if not a.drop_video or self.lossy_installed:
            return
        dtls = self.pc.sctp.transport if self.pc.sctp else None
        if dtls is None or dtls._rx_srtp is None:
            return
        self.lossy_installed = True
        counts = collections.Counter()
        seen = collections.Counter()
        start = self.t0 + a.drop_after

        def drop(data):
            if len(data) < 12 or (data[1] & 0x7f) not in VIDEO_PTS or now() < start:
                return False
            ssrc = int.from_bytes(data[8:12], 'big')
            seq = int.from_bytes(data[2:4], 'big')
            seen[ssrc] += 1
            if counts[ssrc] >= a.drop_video or seen[ssrc] % a.drop_every:
                return False
            stream = next((s for s in self.remote.values() if ssrc in s.ssrcs), None)
            if stream is None:
                return False
            counts[ssrc] += 1
            stream.dropped.add((ssrc, seq))
            stream.drop_times[(ssrc, seq)] = now()
            return True
        dtls._rx_srtp = LossySrtp(dtls._rx_srtp, drop)

    async def send_plis(self):
        a = self.args
        for _ in range(a.pli_count):
            for t in self.pc.getTransceivers():
                s = self.remote.get(t.mid)
                if s is None or s.kind != 'video' or s.ssrc is None:
                    continue
                if t.currentDirection not in ('recvonly', 'sendrecv'):
                    continue
                s.plis_sent.append(now())
                await t.receiver._send_rtcp_pli(s.ssrc)
            await asyncio.sleep(a.pli_interval)

    # --- media in

    def note_msids(self, sdp):
        for m in sdp_media(sdp):
            if m['mid'] is not None and m['stream_id']:
                self.msids[m['mid']] = (m['stream_id'], m['track_id'])
                if m['mid'] in self.remote:
                    self.remote[m['mid']].stream_id = m['stream_id']
                    self.remote[m['mid']].track_id = m['track_id']

    def on_track(self, track):
        transceiver = next((t for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        if transceiver is None:
            self.error(f'remote {track.kind} track without a transceiver')
            return
        self.wrap_receivers()
        stats = self.stream_for(transceiver)
        if stats.stream_id is None:
            self.error(f'remote track on mid {transceiver.mid} has no msid')
        log.info('remote %s mid %s stream %s track %s', track.kind, transceiver.mid,
                 stats.stream_id, stats.track_id)
        self.spawn(self.consume(track, stats))

    async def consume(self, track, stats):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            stats.on_frame(frame, now())

    # --- data channel

    async def pinger(self):
        while self.dc.readyState == 'open':
            self.ping_sent_at = time.monotonic()
            self.dc.send(dc_encode(DC_PING))
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
        try:
            mtype, payload = dc_decode(data)
        except Exception:                # noqa: BLE001 - counted
            self.dc_other[f'bytes:{bytes(data[:4]).hex()}'] += 1
            return
        if mtype == DC_PONG:
            self.dc_stats['pongs'] += 1
            if self.ping_sent_at is not None:
                self.rtts.append((time.monotonic() - self.ping_sent_at) * 1000)
        elif mtype == DC_MEDIA_MAP:
            if not isinstance(payload, dict):
                self.error(f'MediaMap payload is not a map: {payload!r:.80}')
                return
            self.media_maps.append({'t': ts(now()), 'map': payload})
        elif mtype == DC_LOCK:
            if self.lock_reply is not None and not self.lock_reply.done():
                self.lock_reply.set_result(payload is True)
            else:
                self.dc_other['unexpected_lock'] += 1
        elif mtype == DC_SDP:
            if not isinstance(payload, (bytes, bytearray)):
                self.error('calls-dc SDP payload is not bin', fatal=True)
                return
            try:
                desc = json.loads(zlib.decompress(payload))
            except (zlib.error, ValueError) as e:
                self.error(f'calls-dc SDP: {e}', fatal=True)
                return
            self.spawn(self.incoming_signal(desc, 'dc'))
        else:
            self.dc_other[str(mtype)] += 1

    # --- results

    async def collect(self):
        pc = self.pc
        sent_packets = None
        if pc is not None:
            for t in pc.getTransceivers():
                s = self.remote.get(t.mid)
                if s is not None:
                    for st in (await t.receiver.getStats()).values():
                        if st.type == 'inbound-rtp':
                            s.stats_packets = st.packetsReceived
                            s.stats_lost = st.packetsLost
                if self.tone is not None and t.sender is self.voice_sender:
                    for st in (await t.sender.getStats()).values():
                        if st.type == 'outbound-rtp':
                            sent_packets = st.packetsSent
        rtt = None
        if self.rtts:
            rtt = {'min': round(min(self.rtts), 2), 'avg': round(sum(self.rtts) / len(self.rtts), 2),
                   'max': round(max(self.rtts), 2)}
        media_type = {}
        for mm in self.media_maps:
            for mid, entry in mm['map'].items():
                if isinstance(entry, dict):
                    media_type[str(mid)] = entry.get('type')
        streams = [s.result(media_type.get(mid)) for mid, s in self.remote.items()]
        problems = [f"offer at {o['t']}: {p}" for o in self.server_offers for p in o['problems']]
        return {
            'session_id': self.session_id,
            'call_id': self.call_id,
            'room': self.args.room,
            't0': ts(self.t0),
            'muted': self.args.muted,
            'tone_hz': self.args.freq,
            'elapsed_s': self.elapsed(),
            'connection_state': pc.connectionState if pc else None,
            'ice_servers': self.ice_servers,
            'ice_pair': candidate_pair(pc) if pc else None,
            'sent': {'frames': self.tone.frames if self.tone else 0, 'packets': sent_packets,
                     'reports': self.sent_media['voice']['reports'] if 'voice' in self.sent_media else 0},
            'sent_media': {k: {'kind': v['kind'], 'frames': v['track'].frames, 'reports': v['reports'],
                               'plis': v['plis'], 'nacks': v['nacks']}
                           for k, v in self.sent_media.items()},
            'screen_stream_id': self.screen_stream,
            'video_stream_id': self.video_stream,
            'streams': [s for s in streams if s['kind'] == 'audio'],
            'video': [s for s in streams if s['kind'] == 'video'],
            'dc': {'open': self.dc_open.is_set(),
                   'pings_sent': self.dc_stats['pings_sent'],
                   'pongs': self.dc_stats['pongs'],
                   'text_pings_sent': self.dc_stats['text_pings_sent'],
                   'text_pongs': self.dc_stats['text_pongs'],
                   'rtt_ms': rtt,
                   'other': dict(self.dc_other)},
            'signaling': dict(self.sig),
            'server_offers': self.server_offers,
            'own_offers': self.own_offers,
            'media_maps': self.media_maps,
            'media_map_problems': problems,
            'media_map_after_offer_arrival': sum(1 for o in self.server_offers
                                                 if not o['media_map_before_arrival']),
            'lock': self.lock_log,
            'events': dict(self.events),
            'event_log': self.event_log,
            'actions': self.action_log,
            'vad_predicted': vad_predict(self.tone.levels if self.tone else [], self.mute_times),
            'errors': self.errors,
        }

    async def close(self):
        for task in self.tasks:
            task.cancel()
        for track in [self.tone, self.video_track] + self.screen_tracks:
            if track is not None:
                track.stop()
        if self.pc is not None:
            await self.pc.close()


# ---------------------------------------------------------------------------
# dry run: no server

async def dry_run(args):
    pc = new_peer_connection(args.legacy_sctp_sdp)
    pc.createDataChannel('calls-dc')
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    tr = pc.addTransceiver(PatternTrack(*args.video_size, args.fps), direction='sendonly')
    tr.sender._stream_id = 'dry-run-screen'
    await pc.setLocalDescription(await pc.createOffer())
    video_offer = sdp_media(pc.localDescription.sdp)
    await pc.close()

    # the tone through the real Opus encoder and decoder, the pattern
    # through VP8, into the same analysis that remote streams get
    from aiortc.codecs import CODECS, get_decoder, get_encoder
    from aiortc.jitterbuffer import JitterFrame
    opus = next(c for c in CODECS['audio'] if c.mimeType == 'audio/opus')
    enc, dec = get_encoder(opus), get_decoder(opus)
    tone = ToneTrack(args.freq, bursts=args.bursts)
    stats = RemoteStream('audio', None, 'dry-run', None, now())
    for i in range(250):                 # 5 s
        frame, _ = tone.make_frame(i * FRAME_SAMPLES)
        payloads, timestamp = enc.encode(frame)
        for p in payloads:
            for f in dec.decode(JitterFrame(data=p, timestamp=timestamp)):
                stats.on_frame(f, now())
    vp8 = next(c for c in CODECS['video'] if c.mimeType == 'video/VP8')
    venc, vdec = get_encoder(vp8), get_decoder(vp8)
    pattern = PatternTrack(*args.video_size, args.fps)
    vstats = RemoteStream('video', None, 'dry-run', None, now())
    keyframes = 0
    for i in range(10):
        frame = pattern.make_frame(i)
        frame.pts = i * VIDEO_CLOCK // args.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        payloads, timestamp = venc.encode(frame, force_keyframe=(i == 5))
        keyframes += vp8_keyframe(payloads[0])
        data = b''.join(aiortc_codecs.depayload(vp8, p) for p in payloads)
        for f in vdec.decode(JitterFrame(data=data, timestamp=timestamp)):
            vstats.on_frame(f, now())
    bursts = ToneTrack(args.freq, bursts=True)
    levels = [(i * 0.02, bursts.make_frame(i * FRAME_SAMPLES)[1]) for i in range(800)]
    m_lines = [line for line in sdp.splitlines() if line.startswith('m=')]
    return sdp, {'first_offer_m_lines': m_lines, 'tone': stats.result(None),
                 'tone_frames_made': tone.frames,
                 'video_offer': video_offer,
                 'video': {'frames': vstats.frames, 'width': vstats.width,
                           'height': vstats.height, 'keyframes_encoded': keyframes},
                 'vad_bursts_predicted': vad_predict(levels, [])}


# ---------------------------------------------------------------------------

def parse_size(text):
    m = re.match(r'^(\d+)x(\d+)$', text)
    if not m or int(m.group(1)) % 2 or int(m.group(2)) % 2:
        raise argparse.ArgumentTypeError('WxH with even numbers')
    return int(m.group(1)), int(m.group(2))


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
    ap.add_argument('--muted', action='store_true', help='join muted (no microphone yet)')
    ap.add_argument('--bursts', action='store_true',
                    help='send the tone in speech-like bursts with pauses (for VAD)')
    ap.add_argument('--mute-at', type=float, action='append', default=[], metavar='S')
    ap.add_argument('--unmute-at', type=float, action='append', default=[], metavar='S')
    ap.add_argument('--leave-at', type=float, default=None, metavar='S',
                    help='leave at S seconds (the same as SECONDS)')
    ap.add_argument('--screen', action='store_true', help='share a screen (VP8 test pattern)')
    ap.add_argument('--screen-at', type=float, default=None, metavar='S')
    ap.add_argument('--screen-audio', action='store_true', help='screen audio (FREQ*1.5 Hz)')
    ap.add_argument('--screen-off-at', type=float, default=None, metavar='S')
    ap.add_argument('--video', action='store_true', help='a camera (VP8 test pattern, 320x240)')
    ap.add_argument('--video-at', type=float, default=None, metavar='S')
    ap.add_argument('--video-off-at', type=float, default=None, metavar='S')
    ap.add_argument('--video-size', type=parse_size, default=(640, 360), metavar='WxH')
    ap.add_argument('--fps', type=float, default=10.0)
    ap.add_argument('--keyframe-interval', type=float, default=0.0, metavar='S',
                    help='a keyframe every S seconds besides those asked for (default: '
                    'only when asked, as aiortc)')
    ap.add_argument('--dc-signaling', action='store_true', help='join with dcSignaling')
    ap.add_argument('--av1-support', action='store_true', help='join with av1Support')
    ap.add_argument('--relay', action='store_true',
                    help='only TURN relay candidates (the join event\'s TURN server)')
    ap.add_argument('--lock', action='store_true', help='take the DC signaling lock to offer')
    ap.add_argument('--lock-hold', type=float, default=0.0, metavar='S')
    ap.add_argument('--answer-delay', type=float, default=0.0, metavar='S')
    ap.add_argument('--drop-video', type=int, default=0, metavar='N')
    ap.add_argument('--drop-after', type=float, default=3.0, metavar='S')
    ap.add_argument('--drop-every', type=int, default=25, metavar='K')
    ap.add_argument('--pli-at', type=float, default=None, metavar='S')
    ap.add_argument('--pli-count', type=int, default=10, metavar='N')
    ap.add_argument('--pli-interval', type=float, default=0.1, metavar='S')
    ap.add_argument('--expect-peers', type=int, default=None, metavar='N',
                    help='exit 1 unless audio (rms > 0.001) came from at least N remote streams')
    ap.add_argument('--insecure', action='store_true',
                    help='wss: do not verify the server certificate')
    ap.add_argument('--legacy-sctp-sdp', action='store_true',
                    help='offer the data channel in the old DTLS/SCTP + a=sctpmap form')
    ap.add_argument('--dry-run', action='store_true',
                    help='no server: print the first offer and check the media generators')
    ap.add_argument('-v', '--verbose', action='count', default=0,
                    help='log to stderr (-vv: also aiortc debug)')
    args = ap.parse_args(argv)
    if args.freq_opt is not None:
        args.freq = args.freq_opt
    if args.leave_at is not None:
        args.seconds = args.leave_at
    if not args.dry_run:
        if not args.url or not args.room:
            ap.error('URL and ROOM are required')
        if not re.match(r'^wss?://', args.url):
            ap.error('URL must be ws:// or wss://')
        if not ROOM_RE.match(args.room):
            ap.error('ROOM: 1..64 characters of [A-Za-z0-9._-]')
    if not 0 < args.seconds <= 3600:
        ap.error('seconds: 0..3600')
    if not 20 <= args.freq <= 12000:
        ap.error('freq: 20..12000 Hz')
    if not 1 <= args.fps <= 30:
        ap.error('fps: 1..30')
    if args.expect_peers is not None and args.expect_peers < 0:
        ap.error('--expect-peers must be >= 0')
    if args.drop_every < 2:
        ap.error('--drop-every must be >= 2')
    return args


async def main_async(args):
    peer = Peer(args)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, peer.term.set)
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

    if args.relay:
        relay_only()

    if args.dry_run:
        sdp, check = asyncio.run(dry_run(args))
        sys.stdout.write(sdp)
        print(json.dumps(check, sort_keys=True), file=sys.stderr)
        return 0
    return asyncio.run(main_async(args))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
