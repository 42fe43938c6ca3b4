#!/usr/bin/env python3
# Writes the seed inputs of the fuzzers (t/fuzz/fuzz_*.c) into
# <dir>/<fuzzer>/: well-formed examples of what each one reads, for the
# fuzzer to mutate.  Standard library only.
#
#   python3 t/fuzz/seeds.py build/fuzz/corpus

import hashlib
import hmac
import os
import struct
import sys
import zlib


def stun(username, password, controlling=True):
    tid = b'\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae'

    def attr(t, v):
        return struct.pack('!HH', t, len(v)) + v + b'\0' * (-len(v) % 4)

    body = attr(0x0006, username) + attr(0x0024, struct.pack('!I', 0x6e0001ff))
    body += attr(0x802a if controlling else 0x8029, b'\x12' * 8)
    head = struct.pack('!HHI', 1, len(body) + 24, 0x2112a442) + tid
    body += attr(0x0008, hmac.new(password, head + body, hashlib.sha1).digest())
    head = struct.pack('!HHI', 1, len(body) + 8, 0x2112a442) + tid
    body += attr(0x8028, struct.pack('!I', (zlib.crc32(head + body)
                                            ^ 0x5354554e) & 0xffffffff))
    return struct.pack('!HHI', 1, len(body), 0x2112a442) + tid + body


SDP = '\r\n'.join([
    'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0',
    'a=group:BUNDLE 0 1', 'a=extmap-allow-mixed', 'a=msid-semantic: WMS s1',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:cliU', 'a=ice-pwd:clientPassword0123456789x',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 ' + ':'.join(['AB'] * 32), 'a=setup:actpass',
    'a=mid:0', 'a=sctp-port:5000', 'a=max-message-size:262144',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 45', 'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:cliU', 'a=ice-pwd:clientPassword0123456789x',
    'a=fingerprint:sha-256 ' + ':'.join(['AB'] * 32), 'a=setup:actpass',
    'a=mid:1', 'a=sendonly', 'a=msid:s1 t1', 'a=rtcp-mux', 'a=rtcp-rsize',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
    'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli',
    'a=rtcp-fb:96 transport-cc', 'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96',
    'a=rtpmap:45 AV1/90000', 'a=rid:l send', 'a=rid:h send',
    'a=simulcast:send l;h',
    'a=candidate:1 1 udp 2130706431 10.0.0.2 50000 typ host', '']).encode()

RTP = (b'\x90\xef\x12\x34\x00\x01\xe2\x40\xde\xad\xbe\xef'
       b'\xbe\xde\x00\x03\x10\x85\x31\x00\x07\x40\x30\x00\x00\x00\x00\x00'
       + bytes(range(20)))
VP8 = (b'\x90\x60\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02'
       b'\xbe\xde\x00\x01\x31\x00\x09\x00'
       b'\x90\xe0\x80\x01\x00\x9d\x01\x2a' + bytes(40))
RTCP = (b'\x80\xc8\x00\x06\x11\x22\x33\x44' + bytes(20)
        + b'\x81\xcd\x00\x03\x00\x00\x00\x01\x11\x22\x33\x44\x00\x64\x00\x07'
        + b'\x81\xce\x00\x02\x00\x00\x00\x01\x11\x22\x33\x44')
TWCC = (b'\x00\x01\x00\x05\x00\x00\x10\x01\x20\x05\x04\x08\x0c\x00\x00\x00')

seeds = {
    'fuzz_stun': [stun(b'evtj:h6vY', b'VOkJxbRl1RmTxUk/WvJxBt'),
                  stun(b'evtj:h6vY', b'VOkJxbRl1RmTxUk/WvJxBt', False)],
    'fuzz_sdp': [SDP],
    'fuzz_rtp': [RTP, VP8, RTCP],
    'fuzz_twcc': [TWCC, b'\x8f\xcd\x00\x07\x00\x00\x00\x01\x11\x22\x33\x44'
                  + TWCC + b'\x00' * 4],
    # the first byte: bit 0 GCM, bit 1 RTCP
    'fuzz_srtp': [b'\x00' + RTP, b'\x01' + VP8, b'\x02' + RTCP,
                  b'\x03' + RTCP, b'\x01' + b'\xaf' + RTP[1:] + b'\x04'],
    'fuzz_dc': [b'\x01', b'\xcc\x02', b'\xcc\x07\xc3', b'\x04\xcb' + bytes(8),
                b'\xcc\x03\xc4' + bytes([len(zlib.compress(SDP[:200]))])
                + zlib.compress(SDP[:200])],
}

out = sys.argv[1]

for name, inputs in seeds.items():
    os.makedirs(os.path.join(out, name), exist_ok=True)
    for i, data in enumerate(inputs):
        with open(os.path.join(out, name, 'seed-%d' % i), 'wb') as f:
            f.write(data)
