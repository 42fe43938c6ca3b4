#!/usr/bin/python3
"""Write a speech-like test tone as a 48 kHz 16-bit mono WAV.

Chromium plays it as its fake microphone (--use-file-for-fake-audio-capture,
looped).  A steady sine is a poor test signal: the browser's noise
suppression treats a stationary tone as noise and attenuates it, and a
server-side VAD wants levels that rise and fall like speech.  So the tone
comes in "syllables": bursts of 120-380 ms with smooth attack and decay,
separated by short near-silent gaps, with a slow vibrato and two harmonics.
The fundamental stays the strongest component, so a receiver can still
find it with an FFT.

Each loop ends in a pause (--pause, default 3 s of near silence): rtcd's
VAD only turns voice off after a second of steady level, so without pauses
someone who joins while another talks would never see user_voice_on.

    /usr/bin/python3 t/media/make_wav.py OUT.wav [--freq 440] [--seconds 8]
                                                 [--pause 3]

Standard library only.
"""

import argparse
import math
import random
import struct
import sys
import wave

RATE = 48000


def syllables(seconds, rng):
    """Yield (start, length) in seconds for each burst of tone, within the
    first `seconds`."""
    t = 0.05
    while t < seconds - 0.1:
        length = rng.uniform(0.12, 0.38)
        length = min(length, seconds - 0.05 - t)
        if length < 0.05:
            break
        yield t, length
        t += length + rng.uniform(0.06, 0.22)


def envelope(x):
    """Raised-cosine attack and decay over a burst; x in [0, 1]."""
    edge = 0.2
    if x < edge:
        return 0.5 - 0.5 * math.cos(math.pi * x / edge)
    if x > 1 - edge:
        return 0.5 - 0.5 * math.cos(math.pi * (1 - x) / edge)
    return 1.0


def render(freq, seconds, pause, seed):
    rng = random.Random(seed)
    n = int(seconds * RATE)
    amp = [0.0] * n
    for start, length in syllables(seconds - pause, rng):
        peak = rng.uniform(0.35, 0.8)       # loudness varies per syllable
        a = int(start * RATE)
        m = int(length * RATE)
        for i in range(m):
            amp[a + i] = peak * envelope(i / m)

    samples = bytearray()
    phase = 0.0
    for i in range(n):
        t = i / RATE
        # 5 Hz vibrato of +-1.5 %: not stationary, but still one clear pitch
        f = freq * (1 + 0.015 * math.sin(2 * math.pi * 5 * t))
        phase += 2 * math.pi * f / RATE
        tone = (math.sin(phase) + 0.35 * math.sin(2 * phase)
                + 0.15 * math.sin(3 * phase)) / 1.5
        # a whisper of noise so the gaps are not digital silence
        v = amp[i] * tone + rng.uniform(-0.002, 0.002)
        samples += struct.pack('<h', max(-32767, min(32767, int(v * 32767))))
    return bytes(samples)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('out', help='WAV file to write')
    ap.add_argument('--freq', type=float, default=440.0,
                    help='fundamental in Hz (default 440)')
    ap.add_argument('--seconds', type=float, default=8.0,
                    help='length; Chromium loops it (default 8)')
    ap.add_argument('--pause', type=float, default=3.0,
                    help='near silence at the end of each loop (default 3)')
    ap.add_argument('--seed', type=int, default=1,
                    help='seed of the syllable pattern (default 1)')
    args = ap.parse_args(argv)
    if not 50 <= args.freq <= 8000 or not 1 <= args.seconds <= 120:
        ap.error('freq must be 50..8000 Hz and seconds 1..120')
    if not 0 <= args.pause <= args.seconds - 1:
        ap.error('pause must be 0..seconds-1')

    data = render(args.freq, args.seconds, args.pause, args.seed)
    with wave.open(args.out, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
