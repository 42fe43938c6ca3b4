// Media counters from an RTCStatsReport, per sender: what the web client
// shows and what the browser tests read (t/browser/call.mjs).
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

// The codec of a stats entry, as its mime type ("video/VP8").
function codecOf(report, s) {
    const c = s.codecId ? report.get(s.codecId) : null;
    return c ? c.mimeType : null;
}

// Inbound video, a list (a sender may send several tracks: screen and
// camera): per remote track, frames decoded, resolution, codec.
export function inboundVideo(report, senderOf) {
    const out = [];

    report.forEach((s) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'video') {
            return;
        }
        out.push({
            sender: senderOf(s.trackIdentifier),
            trackIdentifier: s.trackIdentifier,
            mid: s.mid,
            ssrc: s.ssrc,
            codec: codecOf(report, s),
            packetsReceived: s.packetsReceived || 0,
            packetsLost: s.packetsLost || 0,
            bytesReceived: s.bytesReceived || 0,
            framesReceived: s.framesReceived || 0,
            framesDecoded: s.framesDecoded || 0,
            keyFramesDecoded: s.keyFramesDecoded || 0,
            framesPerSecond: s.framesPerSecond || 0,
            frameWidth: s.frameWidth || 0,
            frameHeight: s.frameHeight || 0,
            nackCount: s.nackCount || 0,
            pliCount: s.pliCount || 0,
            firCount: s.firCount || 0,
        });
    });

    return out;
}

// Outbound video, a list: one entry per encoding (simulcast rid) of each
// video sender, and the available send bandwidth the browser estimates.
export function outboundVideo(report) {
    const out = {encodings: [], availableOutgoingBitrate: null};

    report.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate !== undefined) {
            out.availableOutgoingBitrate = s.availableOutgoingBitrate;
        }
        if (s.type !== 'outbound-rtp' || s.kind !== 'video') {
            return;
        }
        out.encodings.push({
            mid: s.mid,
            rid: s.rid || null,
            ssrc: s.ssrc,
            codec: codecOf(report, s),
            active: s.active,
            packetsSent: s.packetsSent || 0,
            bytesSent: s.bytesSent || 0,
            framesEncoded: s.framesEncoded || 0,
            keyFramesEncoded: s.keyFramesEncoded || 0,
            framesPerSecond: s.framesPerSecond || 0,
            frameWidth: s.frameWidth || 0,
            frameHeight: s.frameHeight || 0,
            targetBitrate: s.targetBitrate || 0,
            retransmittedPacketsSent: s.retransmittedPacketsSent || 0,
            nackCount: s.nackCount || 0,
            pliCount: s.pliCount || 0,
            qualityLimitationReason: s.qualityLimitationReason,
        });
    });

    return out;
}

// The candidate pair ICE selected (of the first transport: everything is
// bundled), its local and remote candidates: type (host, srflx, prflx,
// relay), address, port; null before there is one.
export function selectedPair(report) {
    let pair = null;

    report.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId && pair === null) {
            pair = report.get(s.selectedCandidatePairId) || null;
        }
    });
    if (pair === null) {
        return null;
    }

    const candidate = (id) => {
        const c = report.get(id);
        return c ? {type: c.candidateType, address: c.address, port: c.port,
            protocol: c.protocol, relayProtocol: c.relayProtocol || null,
            url: c.url || null} : null;
    };
    return {state: pair.state, nominated: !!pair.nominated,
        local: candidate(pair.localCandidateId), remote: candidate(pair.remoteCandidateId)};
}
