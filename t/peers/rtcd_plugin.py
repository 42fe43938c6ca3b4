#!/usr/bin/python3
"""Plays the Mattermost Calls plugin (v1, RTCD mode) against an RTCD
service, nginx with ngx_calls here, with real WebRTC participants.

    /usr/bin/python3 t/peers/rtcd_plugin.py SCENARIO URL [options]

URL is the plugin's "RTCD Service URL", http://clientID:authKey@host:port.
Like the plugin (server/rtcd.go), the emulator first connects the WebSocket
(ws://host:port/ws, Basic auth) and registers (POST /register) only when
that is refused, then connects again.  Every message is the plugin's
msgpack envelope: the type, then its data; rtc messages are encoded byte
for byte as Go's vmihailenco/msgpack does (a map of six keys, the type as
int64, the data as bin), join data as a map in random key order.

The participants are t/peers/aiortc_peer.py's Peer (aiortc), with the
plugin's signaling instead of the standalone WebSocket: their offers,
answers and candidates go out as rtc messages of their session, what
comes back in rtc messages is given to them as signal events, vad and
close are recorded.

Scenarios (each prints ONE JSON line with what it saw):

  call      two participants in one call: audio both ways, screen on/off
            (one sharer at a time), mute and unmute (forwarding stops
            and resumes), the plugin
            connection drops and comes back (sessions move to the new
            one), a third participant joins after that, the session
            routes, leave and close
  nodes     two plugin connections of one client (two Mattermost nodes),
            a reconnect that moves a session between them, a connection
            of another client that must not reach these sessions
  protocol  no media: hello, tolerant decoding, unknown sessions, text
            frames, bad msgpack, oversized messages, adoption of a closed
            connection's sessions

Exit status: 0 the scenario ran (its checks are the caller's), 2 it could
not run (no connection, a participant failed), with the reason in the
report.  Written for Debian's python3-aiortc 1.4, python3-websockets 10.4
and python3-msgpack 1.0.
"""

import argparse
import asyncio
import base64
import collections
import json
import logging
import os
import random
import signal
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import msgpack
import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aiortc_peer as ap                            # noqa: E402

log = logging.getLogger('rtcd_plugin')

ID_ALPHABET = 'ybndrfg8ejkmcpqxot1uwisza345h769'

# rtc.Message types (rtcd service/rtc/msg.go)
(ICE, SDP, MUTE, UNMUTE, SCREEN_ON, SCREEN_OFF, VOICE_ON, VOICE_OFF,
 VIDEO_ON, VIDEO_OFF) = range(1, 11)

# calls-dc message types the client sends with its statistics
DC_LOSS_RATE, DC_RTT, DC_JITTER = 4, 5, 6


def new_id():
    return ''.join(random.choice(ID_ALPHABET) for _ in range(26))


# ---------------------------------------------------------------------------
# the envelope

def mp_str(s):
    """A msgpack str as Go writes it: fixstr, str8, str16."""
    b = s.encode()
    if len(b) < 32:
        return bytes([0xa0 | len(b)]) + b
    if len(b) < 256:
        return b'\xd9' + bytes([len(b)]) + b
    return b'\xda' + struct.pack('>H', len(b)) + b


def mp_bin(b):
    if len(b) < 256:
        return b'\xc4' + bytes([len(b)]) + b
    if len(b) < 65536:
        return b'\xc5' + struct.pack('>H', len(b)) + b
    return b'\xc6' + struct.pack('>I', len(b)) + b


def go_rtc_message(session_id, mtype, data=b''):
    """An rtc.Message as the plugin's Go client encodes it: group, user and
    call left empty, type as int64 (0xd3), data as bin, omitted if empty."""
    out = bytes([0x80 | (6 if data else 5)])
    out += mp_str('group_id') + mp_str('')
    out += mp_str('user_id') + mp_str('')
    out += mp_str('session_id') + mp_str(session_id)
    out += mp_str('call_id') + mp_str('')
    out += mp_str('type') + b'\xd3' + struct.pack('>q', mtype)
    if data:
        out += mp_str('data') + mp_bin(data)
    return mp_str('rtc') + out


def envelope(mtype, data):
    """Any other message: the type, then the data, python-msgpack style."""
    return msgpack.packb(mtype, use_bin_type=True) + msgpack.packb(data, use_bin_type=True)


def join_data(call_id, user_id, session_id, channel_id):
    items = [('callID', call_id), ('userID', user_id), ('sessionID', session_id),
             ('channelID', channel_id), ('av1Support', False), ('dcSignaling', False)]
    random.shuffle(items)                # Go's map order is random
    return dict(items)


def decode(frame):
    """Server message -> (type, data); raises ValueError if it is not two
    msgpack values."""
    u = msgpack.Unpacker(raw=False, strict_map_key=False)
    u.feed(frame)
    values = list(u)
    if len(values) != 2 or not isinstance(values[0], str):
        raise ValueError(f'not a type and its data: {values!r:.100}')
    return values[0], values[1]


# ---------------------------------------------------------------------------
# HTTP, as the plugin's rtcd client does it

class Service:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ('http', 'https') or not u.port:
            raise SystemExit('URL must be http(s)://clientID:authKey@host:port')
        self.client_id = urllib.parse.unquote(u.username or '')
        self.auth_key = urllib.parse.unquote(u.password or '')
        self.base = f'{u.scheme}://{u.hostname}:{u.port}'
        self.ws_url = f'{"wss" if u.scheme == "https" else "ws"}://{u.hostname}:{u.port}/ws'

    def basic(self, client_id=None, auth_key=None):
        cred = f'{client_id or self.client_id}:{auth_key or self.auth_key}'
        return 'Basic ' + base64.b64encode(cred.encode()).decode()

    def _request(self, method, path, body=None, auth=True):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        if auth:
            req.add_header('Authorization', self.basic())
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, res.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    async def request(self, method, path, body=None, auth=True):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._request, method, path, body, auth)


# ---------------------------------------------------------------------------
# a plugin connection

class PluginConn:
    def __init__(self, emu, name, client_id=None, auth_key=None):
        self.emu = emu
        self.name = name
        self.client_id = client_id or emu.svc.client_id
        self.auth_key = auth_key or emu.svc.auth_key
        self.ws = None
        self.hello = None
        self.conn_id = None
        self.reader = None
        self.messages = []               # (t, type, session id, rtc type)
        self.counts = collections.Counter()
        self.bad = []
        self.closed = None               # (code, reason) once closed

    async def open(self):
        self.ws = await websockets.connect(
            self.emu.svc.ws_url, open_timeout=10, close_timeout=2,
            max_size=1 << 22, ping_interval=None,
            extra_headers={'Authorization': self.emu.svc.basic(self.client_id, self.auth_key)})
        mtype, data = decode(await asyncio.wait_for(self.ws.recv(), 5))
        if mtype != 'hello':
            raise ap.ProtocolError(f'first message {mtype!r}, not hello')
        self.hello = data
        self.conn_id = data.get('connID')
        self.reader = asyncio.ensure_future(self.read())
        log.info('%s: connected, connID %s', self.name, self.conn_id)

    async def read(self):
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    self.bad.append(f'text frame {frame[:50]!r}')
                    continue
                try:
                    mtype, data = decode(frame)
                except (ValueError, msgpack.UnpackException) as e:
                    self.bad.append(f'undecodable: {e}')
                    continue
                self.counts[mtype] += 1
                sid = data.get('session_id') or data.get('sessionID') if isinstance(data, dict) else None
                self.messages.append((self.emu.elapsed(), mtype, sid,
                                      data.get('type') if mtype in ('rtc', 'vad') else None))
                await self.emu.deliver(self, mtype, data)
        except websockets.ConnectionClosed as e:
            self.closed = (e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else None)
        else:
            rc = self.ws.close_rcvd
            self.closed = (rc.code if rc else None, rc.reason if rc else None)

    async def send_raw(self, frame):
        await self.ws.send(frame)

    async def send(self, mtype, data):
        await self.ws.send(envelope(mtype, data))

    async def send_rtc(self, session_id, mtype, data=b''):
        await self.ws.send(go_rtc_message(session_id, mtype, data))

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait([self.reader], timeout=3)

    def report(self):
        return {'name': self.name, 'conn_id': self.conn_id, 'hello': self.hello,
                'counts': dict(self.counts), 'bad': self.bad, 'closed': self.closed,
                'messages': self.messages}


# ---------------------------------------------------------------------------
# a participant whose signaling goes through the plugin

class PluginSignaling:
    """The participant's transport (see aiortc_peer.WsSignaling): what the
    webapp sends the plugin becomes what the plugin sends rtcd, on the
    plugin connection of the moment.  Offers, answers and candidates are
    rtc messages of the session (SDP, ICE), mute and unmute, screen and
    video on/off their rtc types, leave the plugin's leave.  What rtcd
    sends comes back through Emulator.deliver and RtcdPeer.on_rtcd."""

    def __init__(self, peer, conn):
        self.peer = peer
        self.conn = conn

    async def send(self, msg):
        peer, conn, sid = self.peer, self.conn, self.peer.session_id
        action = msg['action']
        log.debug('%s -> %s', peer.name, action)
        if action == 'sdp':
            await conn.send_rtc(sid, SDP, msg['data'].encode())
            if not peer.trickled:
                await self.trickle(json.loads(msg['data'])['sdp'])
        elif action == 'ice':
            await conn.send_rtc(sid, ICE, msg['data'].encode())
        elif action in ('mute', 'unmute', 'screen_off', 'video_off'):
            mtype = {'mute': MUTE, 'unmute': UNMUTE, 'screen_off': SCREEN_OFF,
                     'video_off': VIDEO_OFF}[action]
            await conn.send_rtc(sid, mtype)
        elif action in ('screen_on', 'video_on'):
            await conn.send_rtc(sid, SCREEN_ON if action == 'screen_on' else VIDEO_ON,
                                msg['data'].encode())
        elif action == 'leave':
            await conn.send('leave', {'sessionID': sid})
        else:
            raise ValueError(f'no plugin message for the action {action!r}')

    async def trickle(self, sdp):
        """aiortc puts its candidates in the SDP; a browser trickles them
        as the plugin's ice action: send them that way too, then the
        end of candidates."""
        peer = self.peer
        mid, index = None, -1
        for line in sdp.splitlines():
            if line.startswith('m='):
                index += 1
            elif line.startswith('a=mid:'):
                mid = line[6:]
            elif line.startswith('a=candidate:'):
                cand = {'candidate': line[2:], 'sdpMid': mid, 'sdpMLineIndex': index,
                        'usernameFragment': None}
                await self.conn.send_rtc(peer.session_id, ICE, json.dumps(cand).encode())
                peer.trickled += 1
        await self.conn.send_rtc(peer.session_id, ICE, json.dumps(
            {'candidate': '', 'sdpMid': mid, 'sdpMLineIndex': index}).encode())


class RtcdPeer(ap.Peer):
    def __init__(self, emu, name, conn, freq, bursts=False, muted=False):
        # the participant's own options, as aiortc_peer.py parses them;
        # its signaling URL is unused: the plugin carries it
        argv = ['ws://plugin.invalid/', emu.channel_id, '60', str(freq)]
        argv += ['--bursts'] if bursts else []
        argv += ['--muted'] if muted else []
        super().__init__(ap.parse_args(argv))
        # the participant's times are epoch seconds, from the emulator's
        # start
        self.t0 = emu.epoch
        self.signaling = PluginSignaling(self, conn)
        self.emu = emu
        self.name = name
        self.session_id = new_id()
        self.user_id = new_id()
        self.call_id = emu.call_id
        self.by_conn = collections.Counter()
        self.vad = []
        self.closed_at = None
        self.field_errors = []
        self.trickled = 0

    @property
    def conn(self):
        """The plugin connection that carries this participant now."""
        return self.signaling.conn

    @conn.setter
    def conn(self, conn):
        self.signaling.conn = conn

    async def join(self):
        await self.conn.send('join', join_data(self.call_id, self.user_id, self.session_id,
                                               self.emu.channel_id))
        # rtcd does not answer a join: the client offers right away (the
        # standalone participant's call from here on: its first offer,
        # then its microphone after the first answer)
        self.joined.set()
        await self.start_call()

        @self.dc.on('open')
        def on_open_stats():
            self.spawn(self.send_stats())

    async def send_stats(self):
        """What the Calls client reports on calls-dc once a second."""
        while self.dc.readyState == 'open':
            for mtype, value in ((DC_LOSS_RATE, 0.02), (DC_RTT, 0.015), (DC_JITTER, 0.004)):
                self.dc.send(bytes([mtype]) + b'\xcb' + struct.pack('>d', value))
            await asyncio.sleep(1)

    async def on_rtcd(self, conn, mtype, data):
        self.by_conn[f'{conn.name}:{mtype}'] += 1
        if data.get('session_id') != self.session_id:
            self.field_errors.append(f'session_id {data.get("session_id")}')
        for key, want in (('group_id', conn.client_id), ('user_id', self.user_id),
                          ('call_id', self.call_id)):
            if data.get(key) != want:
                self.field_errors.append(f'{mtype} {key}={data.get(key)!r}, not {want!r}')
        if mtype == 'rtc':
            if data.get('type') not in (ICE, SDP) or not isinstance(data.get('data'), bytes):
                self.field_errors.append(f'rtc type {data.get("type")} data {type(data.get("data"))}')
                return
            await self.on_event('signal', {'data': data['data'].decode()})
        elif mtype == 'vad':
            if data.get('type') not in (VOICE_ON, VOICE_OFF) or 'data' in data:
                self.field_errors.append(f'vad type {data.get("type")} keys {sorted(data)}')
            self.vad.append((self.emu.elapsed(), data.get('type')))

    def frames_from(self, other):
        return sum(r.frames for r in self.remote.values() if r.stream_id == other.session_id)

    async def report(self):
        r = await self.collect()
        r.update({'name': self.name, 'user_id': self.user_id, 'by_conn': dict(self.by_conn),
                  'trickled': self.trickled,
                  'vad': self.vad, 'closed_at': self.closed_at,
                  'field_errors': self.field_errors[:20]})
        return r


# ---------------------------------------------------------------------------
# the emulator: connections, participants, routing of what comes back

class Emulator:
    def __init__(self, args):
        self.args = args
        self.svc = Service(args.url)
        self.t0 = time.monotonic()
        self.epoch = time.time()         # the same moment, for the participants
        self.call_id = new_id()
        self.channel_id = new_id()
        self.peers = {}                  # session id -> RtcdPeer
        self.conns = []
        self.unrouted = []
        self.facts = {}
        self.registered = None

    def elapsed(self):
        return round(time.monotonic() - self.t0, 3)

    async def deliver(self, conn, mtype, data):
        if not isinstance(data, dict):
            conn.bad.append(f'{mtype} data is {type(data).__name__}')
            return
        if mtype == 'close':
            peer = self.peers.get(data.get('sessionID'))
            if peer is None:
                self.unrouted.append((conn.name, mtype, data.get('sessionID')))
                return
            peer.closed_at = self.elapsed()
            peer.by_conn[f'{conn.name}:close'] += 1
            return
        if mtype in ('rtc', 'vad'):
            peer = self.peers.get(data.get('session_id'))
            if peer is None:
                self.unrouted.append((conn.name, mtype, data.get('session_id')))
                return
            await peer.on_rtcd(conn, mtype, data)
            return
        conn.bad.append(f'unexpected {mtype}')

    async def connect(self, name, register=True, **kw):
        """The plugin's registerRTCDClient(): connect, else register and
        connect again."""
        conn = PluginConn(self, name, **kw)
        try:
            await conn.open()
        except websockets.InvalidStatusCode as e:
            if not register:
                raise
            log.info('%s: connect refused (%s), registering', name, e.status_code)
            status, body = await self.svc.request('POST', '/register', {
                'clientID': conn.client_id, 'authKey': conn.auth_key})
            self.registered = {'status': status, 'body': body, 'refused': e.status_code}
            if status != 201:
                raise ap.ProtocolError(f'register: {status} {body}')
            await conn.open()
        self.conns.append(conn)
        return conn

    def peer(self, name, conn, freq, **kw):
        p = RtcdPeer(self, name, conn, freq, **kw)
        self.peers[p.session_id] = p
        return p

    async def wait_for(self, cond, timeout):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                return False
            for p in self.peers.values():
                if p.protocol_error:
                    raise ap.ProtocolError(f'{p.name}: {p.protocol_error}')
            await asyncio.sleep(0.1)
        return True

    async def sessions(self, path):
        status, body = await self.svc.request('GET', f'/calls/{self.call_id}/sessions{path}')
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        return {'status': status, 'body': body, 'json': parsed}

    async def close(self):
        for p in self.peers.values():
            try:
                await asyncio.wait_for(p.close(), 5)
            except Exception:            # noqa: BLE001 - closing is best effort
                pass
        for c in self.conns:
            try:
                await asyncio.wait_for(c.close(), 5)
            except Exception:            # noqa: BLE001
                pass


# ---------------------------------------------------------------------------
# scenarios

def heard(a, b):
    """a decodes audio from b."""
    return any(r.stream_id == b.session_id and r.frames > 25 for r in a.remote.values())


async def scenario_call(emu):
    facts = emu.facts
    conn = await emu.connect('node1')
    facts['registered'] = emu.registered

    p0 = emu.peer('p0', conn, 440, bursts=True)
    p1 = emu.peer('p1', conn, 660)
    await p0.join()
    await p1.join()

    facts['audio_both_ways_s'] = emu.elapsed() if await emu.wait_for(
        lambda: heard(p0, p1) and heard(p1, p0), 15) else None

    facts['sessions'] = await emu.sessions('')
    facts['session_p0'] = await emu.sessions('/' + p0.session_id)
    facts['session_unknown'] = await emu.sessions('/' + new_id())

    # screen sharing: the messages must reach p0's session.  Nothing of
    # them comes back to the plugin; what shows is the one sharer of a
    # call: while p0 shares, a screen_on of p1 is refused (nginx logs why,
    # naming p0); after p0's screen_off, p1's is taken and p0's refused
    def screen(p):
        return json.dumps({'screenStreamID': 'screen-' + p.session_id}).encode()

    await conn.send_rtc(p0.session_id, SCREEN_ON, screen(p0))
    await conn.send_rtc(p1.session_id, SCREEN_ON, screen(p1))    # refused
    await conn.send_rtc(p0.session_id, SCREEN_OFF)
    await conn.send_rtc(p1.session_id, SCREEN_ON, screen(p1))    # taken
    await conn.send_rtc(p0.session_id, SCREEN_ON, screen(p0))    # refused
    await conn.send_rtc(p1.session_id, SCREEN_OFF)

    # mute: nothing of p0 reaches p1, then it does again
    await asyncio.sleep(1)
    await p0.send({'action': 'mute'})
    await asyncio.sleep(0.7)
    m0 = p1.frames_from(p0)
    await asyncio.sleep(2)
    m1 = p1.frames_from(p0)
    await p0.send({'action': 'unmute'})
    await asyncio.sleep(2)
    m2 = p1.frames_from(p0)
    facts['mute'] = {'frames_while_muted': m1 - m0, 'frames_after_unmute': m2 - m1}

    # the plugin's connection drops and comes back: the sessions follow
    await conn.close()
    facts['node1_closed'] = conn.closed
    await asyncio.sleep(0.5)
    conn2 = await emu.connect('node1-again', register=False)
    # the plugin swaps the new client in for everything it sends
    p0.conn = p1.conn = conn2
    p2 = emu.peer('p2', conn2, 880)
    await p2.join()

    facts['third_heard_s'] = emu.elapsed() if await emu.wait_for(
        lambda: heard(p0, p2) and heard(p1, p2) and heard(p2, p0), 15) else None
    facts['sessions_three'] = await emu.sessions('')

    await asyncio.sleep(2)

    reports = {}
    for p in (p0, p1, p2):
        reports[p.name] = await p.report()

    for p in (p0, p1, p2):
        await p.leave()
    facts['all_closed'] = await emu.wait_for(
        lambda: all(p.closed_at is not None for p in (p0, p1, p2)), 5)
    for p in (p0, p1, p2):
        reports[p.name].update({'closed_at': p.closed_at, 'by_conn': dict(p.by_conn)})
    facts['sessions_after'] = await emu.sessions('')
    facts['session_ids'] = {p.name: p.session_id for p in (p0, p1, p2)}
    return reports


async def scenario_nodes(emu):
    facts = emu.facts
    a = await emu.connect('A')
    b = await emu.connect('B')

    p0 = emu.peer('p0', a, 440)
    p1 = emu.peer('p1', b, 660)
    await p0.join()
    await p1.join()
    facts['audio_both_ways_s'] = emu.elapsed() if await emu.wait_for(
        lambda: heard(p0, p1) and heard(p1, p0), 15) else None

    # another client's connection reaches none of these sessions
    other = await emu.connect('other', client_id=emu.args.other_client,
                              auth_key=emu.args.other_key)
    await other.send('reconnect', {'sessionID': p0.session_id})
    await other.send('leave', {'sessionID': p1.session_id})
    await other.send_rtc(p0.session_id, MUTE)

    # node B takes p0 over, as after the user's WebSocket moved there
    await asyncio.sleep(0.5)
    facts['claim_at'] = emu.elapsed()
    await b.send('reconnect', {'sessionID': p0.session_id})
    await asyncio.sleep(0.3)

    # a third participant on node A: p0 and p1 get offers for its voice
    p2 = emu.peer('p2', a, 880)
    await p2.join()
    facts['third_heard_s'] = emu.elapsed() if await emu.wait_for(
        lambda: heard(p0, p2) and heard(p1, p2) and heard(p2, p0) and heard(p2, p1), 15) else None
    facts['p1_alive'] = p1.closed_at is None
    facts['p0_audio_after_other_mute'] = p1.frames_from(p0)
    await asyncio.sleep(1)
    facts['p0_audio_after_other_mute'] = p1.frames_from(p0) - facts['p0_audio_after_other_mute']

    reports = {}
    for p in (p0, p1, p2):
        reports[p.name] = await p.report()

    for p in (p0, p1, p2):
        await p.leave()
    facts['all_closed'] = await emu.wait_for(
        lambda: all(p.closed_at is not None for p in (p0, p1, p2)), 5)
    for p in (p0, p1, p2):
        reports[p.name].update({'closed_at': p.closed_at, 'by_conn': dict(p.by_conn)})
    facts['session_ids'] = {p.name: p.session_id for p in (p0, p1, p2)}
    return reports


async def expect_close(conn, timeout=5):
    """Waits for the server to close conn; (code, reason) or None."""
    if conn.reader is not None:
        await asyncio.wait([conn.reader], timeout=timeout)
    return list(conn.closed) if conn.closed else None


async def scenario_protocol(emu):
    facts = emu.facts
    c1 = await emu.connect('c1')
    c2 = await emu.connect('c2')
    facts['hello'] = c1.hello
    facts['conn_ids_differ'] = c1.conn_id != c2.conn_id

    # a join exactly as the plugin's Go client sends it, then other widths
    s1, s2 = new_id(), new_id()
    await c1.send('join', join_data(emu.call_id, 'user1', s1, emu.channel_id))
    await c2.send('join', join_data(emu.call_id, 'user2', s2, emu.channel_id))
    await asyncio.sleep(0.3)
    facts['session_s1'] = await emu.sessions('/' + s1)
    facts['sessions_two'] = await emu.sessions('')

    # rtc messages with the type in other integer widths and data as str:
    # a mute of each width, and ICE end-of-candidates
    for width in (b'\x03', b'\xcc\x03', b'\xcd\x00\x03', b'\xce\x00\x00\x00\x03',
                  b'\xd0\x03', b'\xd1\x00\x03', b'\xd2\x00\x00\x00\x03'):
        frame = (mp_str('rtc') + b'\x83' + mp_str('type') + width
                 + mp_str('session_id') + mp_str(s1) + mp_str('data') + mp_str(''))
        await c1.send_raw(frame)
    await c1.send('rtc', {'data': '', 'type': ICE, 'session_id': s1})

    # things rtcd logs and goes on: unknown session, unknown type, a join
    # without a call ID, a second join of a session, a text frame
    ghost = new_id()
    await c1.send_rtc(ghost, ICE, b'{"candidate":"x"}')
    await c1.send('leave', {'sessionID': ghost})
    await c1.send('reconnect', {'sessionID': ghost})
    await c1.send('leave', {})
    await c1.send('leave', {'sessionID': 'forged\nline'})
    await c1.send('frobnicate', {'x': 1})
    await c1.send('join', join_data('', 'user3', new_id(), emu.channel_id))
    await c1.send('join', join_data(emu.call_id, 'user9', s1, emu.channel_id))
    await c1.ws.send('a text frame')
    await asyncio.sleep(0.3)
    facts['c1_open_after_noise'] = c1.closed is None and not c1.reader.done()
    facts['sessions_still_two'] = await emu.sessions('')
    facts['ghost'] = await emu.sessions('/' + ghost)

    # leave: the close comes to the connection of the session
    await c2.send('leave', {'sessionID': s2})
    await asyncio.sleep(0.5)
    facts['c2_close'] = [m for m in c2.messages if m[1] == 'close']

    # bad msgpack closes that connection only, with the reason
    c3 = await emu.connect('c3')
    await c3.send_raw(b'\xc1\x00')
    facts['bad_msgpack'] = await expect_close(c3)

    c4 = await emu.connect('c4')
    await c4.send_raw(mp_str('rtc'))
    facts['no_data'] = await expect_close(c4)

    c5 = await emu.connect('c5')
    await c5.send_raw(b'\x05\x80')
    facts['type_not_string'] = await expect_close(c5)

    c6 = await emu.connect('c6')
    await c6.send_raw(mp_str('join') + b'\xdd\xff\xff\xff\xff')
    facts['huge_array_header'] = await expect_close(c6)

    c7 = await emu.connect('c7')
    await c7.send_raw(envelope('leave', {'sessionID': ghost}) + b'\x01')
    facts['trailing_bytes'] = await expect_close(c7)

    c8 = await emu.connect('c8')
    await c8.send_raw(mp_str('rtc') + b'\x81' + mp_str('type') + mp_str('two'))
    facts['type_not_int'] = await expect_close(c8)

    c9 = await emu.connect('c9')
    await c9.send('join', [1, 2, 3])
    facts['join_not_map'] = await expect_close(c9)

    # more than 1 MiB in one message
    c10 = await emu.connect('c10')
    await c10.send_raw(go_rtc_message(s1, SDP, b'x' * (1 << 20)))
    facts['oversized'] = await expect_close(c10)

    facts['c1_open_after_bad_neighbours'] = c1.closed is None and not c1.reader.done()

    # c1's session s1 stays when c1 goes; the next connection takes it
    await c1.close()
    await asyncio.sleep(0.3)
    facts['s1_after_c1'] = await emu.sessions('/' + s1)
    c11 = await emu.connect('c11')
    await c11.send('leave', {'sessionID': s1})
    await asyncio.sleep(0.5)
    facts['c11_close'] = [m for m in c11.messages if m[1] == 'close']
    facts['s1_after_leave'] = await emu.sessions('/' + s1)
    facts['s1'] = s1
    facts['s2'] = s2
    return {}


SCENARIOS = {'call': scenario_call, 'nodes': scenario_nodes, 'protocol': scenario_protocol}


async def main_async(args):
    emu = Emulator(args)
    status = 0
    reports = {}
    try:
        reports = await asyncio.wait_for(SCENARIOS[args.scenario](emu), args.timeout)
    except asyncio.TimeoutError:
        emu.facts['error'] = 'timed out'
        status = 2
    except (OSError, websockets.InvalidHandshake, ap.ProtocolError) as e:
        emu.facts['error'] = f'{type(e).__name__}: {e}'
        status = 2
    finally:
        await emu.close()
    print(json.dumps({'status': status, 'facts': emu.facts, 'peers': reports,
                      'conns': [c.report() for c in emu.conns],
                      'unrouted': emu.unrouted}, sort_keys=True, default=str), flush=True)
    return status


def main(argv):
    ap_ = argparse.ArgumentParser(description='the Calls plugin against an RTCD service')
    ap_.add_argument('scenario', choices=sorted(SCENARIOS))
    ap_.add_argument('url', help='http://clientID:authKey@host:port')
    ap_.add_argument('--other-client', default='other-client-0000',
                     help='nodes: the client ID of the foreign connection')
    ap_.add_argument('--other-key', default='k' * 32)
    ap_.add_argument('--timeout', type=float, default=90)
    ap_.add_argument('-v', '--verbose', action='count', default=0)
    args = ap_.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else
                        logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    if args.verbose < 2:
        for name in ('aiortc', 'aioice', 'websockets'):
            logging.getLogger(name).setLevel(logging.WARNING)
    signal.alarm(int(args.timeout) + 30)
    return asyncio.run(main_async(args))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
