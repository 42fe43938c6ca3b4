// Inbound audio counters from an RTCStatsReport, per sender: what the web
// client shows and what the browser tests read (t/browser/call.mjs).
//
// senderOf(trackIdentifier) names the sender of a remote track (its
// session id, the stream id of the forwarded track).

export function inboundAudio(report, senderOf) {
    const out = {};

    report.forEach((s) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'audio') {
            return;
        }
        out[senderOf(s.trackIdentifier)] = {
            trackIdentifier: s.trackIdentifier,
            mid: s.mid,
            packetsReceived: s.packetsReceived || 0,
            packetsLost: s.packetsLost || 0,
            bytesReceived: s.bytesReceived || 0,
            jitter: s.jitter,
            audioLevel: s.audioLevel,
            totalAudioEnergy: s.totalAudioEnergy || 0,
            totalSamplesDuration: s.totalSamplesDuration || 0,
        };
    });

    return out;
}
