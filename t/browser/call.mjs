#!/usr/bin/env node
// Headless Chromium call test for ngx_calls.  Prints TAP.
//
//   node t/browser/call.mjs [options] URL [PAGES [ROOM [SECONDS [CLIENT]]]]
//
//   URL        the page: for the rtcpeer client the directory where
//              $BUILD/browser is served (rtcpeer.html is appended when the
//              URL ends in "/"), for the web client the web/ directory
//   PAGES      participants, each a page in its own browser context (2)
//   ROOM       room name (default: a fresh random one)
//   SECONDS    how long to wait for every page to hear every other (30)
//   CLIENT     rtcpeer (Mattermost's RTCPeer, t/browser/src/shim.js) or web
//              (the standalone client in web/, driven through its UI)
//
//   --pages N --room R --seconds S --client C   the same, as options
//   --ws URL          signaling URL, passed to the page as ?ws=
//                     (default: the page's own: /calls/ws for rtcpeer,
//                     <page dir>/calls/ws for web)
//   --min-packets N   inbound audio packets required per stream (100 = 2 s)
//   --check-voice     also require that every page saw every other page
//                     speaking (a user_voice_on event from the server's VAD)
//   --remote N        N more participants that are not pages (aiortc
//                     peers): every page must hear N sessions besides the
//                     other pages
//   --transport T     rtcpeer: every page's selected candidate pair must
//                     be over T (udp or tcp), with bytes both ways, per
//                     getStats()
//   --relay N         rtcpeer: pages 1..N use only TURN relay candidates
//                     (iceTransportPolicy "relay", the TURN servers and
//                     credentials of the join event); one more test per
//                     such page: its selected candidate pair's local
//                     candidate is a relay one
//   --browser-arg A   one more Chromium command-line argument (repeatable)
//   --wav FILE        fake microphone (default: $BUILD/media/tone-440.wav,
//                     made by t/media/make_wav.py when missing)
//   --scenario S      audio (the default: the tests below), screen or av1
//                     (see "Video scenarios" further down)
//   --selftest        no server needed: serve $BUILD/browser and web/ from a
//                     loopback HTTP server in this process and check the
//                     bundle, the browser flags, the fake microphone,
//                     RTCPeer's first offer and the web page's load and
//                     WebSocket-failure handling
//
// Tests, for a call: one per (listener, speaker) pair - page i received
// audio from page j, i.e. inbound-rtp packetsReceived >= --min-packets and
// totalAudioEnergy > 0 for the stream whose msid is page j's session id -
// with --remote one per page for the other participants, then one per
// page for the data-channel ping round trip; with --transport one per
// page for the selected candidate pair; with
// --check-voice one per pair for user_voice_on; for the web client (2+
// pages) three for the microphone button: page 1 mutes and page 2 sees
// user_muted; page 1 unmutes with no new offer (replaceTrack) and page 2
// sees user_unmuted; page 2 then receives page 1's audio again.
// Exit status: 0 all passed, 1 a test failed, 2 could not run / timed out.

import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {build, buildDir} from './build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

// ---- arguments ----

function usage(msg) {
    if (msg) {
        console.error(`call.mjs: ${msg}`);
    }
    console.error('usage: node t/browser/call.mjs [--pages N] [--room R] [--seconds S] ' +
        '[--client rtcpeer|web] [--scenario audio|screen|av1] [--ws URL] [--min-packets N] [--wav FILE] [--check-voice] ' +
        '[--relay N] [--browser-arg A] URL\n' +
        '       node t/browser/call.mjs --selftest');
    process.exit(2);
}

function parseArgs(argv) {
    const opt = {pages: 2, room: null, seconds: 30, client: 'rtcpeer', ws: null,
        minPackets: 100, wav: null, selftest: false, checkVoice: false, url: null,
        scenario: 'audio', remote: 0, transport: null, relay: 0, browserArgs: []};
    const positional = [];
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) {
                usage(`${a} needs a value`);
            }
            return argv[++i];
        };
        switch (a) {
        case '--pages': opt.pages = Number(value()); break;
        case '--room': opt.room = value(); break;
        case '--seconds': opt.seconds = Number(value()); break;
        case '--client': opt.client = value(); break;
        case '--ws': opt.ws = value(); break;
        case '--min-packets': opt.minPackets = Number(value()); break;
        case '--wav': opt.wav = value(); break;
        case '--selftest': opt.selftest = true; break;
        case '--check-voice': opt.checkVoice = true; break;
        case '--relay': opt.relay = Number(value()); break;
        case '--browser-arg': opt.browserArgs.push(value()); break;
        case '--scenario': opt.scenario = value(); break;
        case '--remote': opt.remote = Number(value()); break;
        case '--transport': opt.transport = value(); break;
        case '-h': case '--help': usage(); break;
        default:
            if (a.startsWith('--')) {
                usage(`unknown option ${a}`);
            }
            positional.push(a);
        }
    }
    [opt.url] = positional;
    if (positional[1] !== undefined) opt.pages = Number(positional[1]);
    if (positional[2] !== undefined) opt.room = positional[2];
    if (positional[3] !== undefined) opt.seconds = Number(positional[3]);
    if (positional[4] !== undefined) opt.client = positional[4];

    if (!opt.selftest && !opt.url) usage('no URL');
    if (!Number.isInteger(opt.pages) || opt.pages < 1 || opt.pages > 16) usage('pages: 1..16');
    if (!(opt.seconds > 0 && opt.seconds <= 600)) usage('seconds: 1..600');
    if (!['rtcpeer', 'web'].includes(opt.client)) usage('client: rtcpeer or web');
    if (!['audio', 'screen', 'av1'].includes(opt.scenario)) usage('scenario: audio, screen or av1');
    if (opt.scenario === 'av1' && opt.client !== 'rtcpeer') usage('av1: rtcpeer client only');
    if (!(opt.minPackets >= 1)) usage('min-packets: >= 1');
    if (!Number.isInteger(opt.remote) || opt.remote < 0) usage('remote: >= 0');
    if (opt.transport !== null && (!['udp', 'tcp'].includes(opt.transport) || opt.client !== 'rtcpeer')) {
        usage('transport: udp or tcp, rtcpeer client only');
    }
    if (!Number.isInteger(opt.relay) || opt.relay < 0 || opt.relay > opt.pages) usage('relay: 0..pages');
    if (opt.relay > 0 && (opt.client !== 'rtcpeer' || opt.scenario !== 'audio')) {
        usage('relay: rtcpeer client, audio scenario');
    }
    if (opt.room === null) {
        opt.room = `t-${process.pid}-${Date.now().toString(36)}`;
    }
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(opt.room)) usage('room: 1..64 of [A-Za-z0-9._-]');
    return opt;
}

// ---- TAP ----

const tap = {
    n: 0,
    failed: 0,
    ok(pass, name) {
        this.n++;
        if (!pass) {
            this.failed++;
        }
        console.log(`${pass ? 'ok' : 'not ok'} ${this.n} - ${name}`);
        return pass;
    },
    diag(text) {
        for (const line of String(text).split('\n')) {
            console.log(`# ${line}`);
        }
    },
};

// ---- the browser ----

// Makes the default WAV when it is missing or older than its generator
// (a --wav given by the caller is used as it is).
function ensureWav(file, generated = true) {
    const script = path.join(repo, 't', 'media', 'make_wav.py');
    if (fs.existsSync(file) && (!generated || fs.statSync(file).mtimeMs >= fs.statSync(script).mtimeMs)) {
        return;
    }
    if (!generated) {
        throw new Error(`no such WAV: ${file}`);
    }
    fs.mkdirSync(path.dirname(file), {recursive: true});
    const r = spawnSync('/usr/bin/python3', [script, file],
        {stdio: 'inherit'});
    if (r.status !== 0) {
        throw new Error(`make_wav.py failed (${r.status})`);
    }
}

async function launch(wav, extraArgs = []) {
    const {chromium} = await import('playwright-core');
    // launch() runs Chromium with a fresh temporary profile (user-data-dir)
    // that Playwright deletes when the browser closes.
    return chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        timeout: 30000,
        args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--use-fake-ui-for-media-stream',
            '--use-fake-device-for-media-stream',
            `--use-file-for-fake-audio-capture=${wav}`,
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
            '--disable-quic',
            // remote <audio> must play without a click; Chromium computes
            // the inbound audio level (totalAudioEnergy) of played audio
            '--autoplay-policy=no-user-gesture-required',
            ...extraArgs,
        ],
    });
}

// One participant: its own browser context (no shared storage), its console.
async function openPage(browser, index, url) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const lines = [];
    const add = (line) => {
        lines.push(line);
        if (lines.length > 400) {
            lines.shift();
        }
    };
    page.on('console', (m) => add(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => add(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => add(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('crash', () => add('page crashed'));
    await page.goto(url, {waitUntil: 'load', timeout: 15000});
    return {index, page, context, lines};
}

// Snapshot of one page, the same shape for both clients.
async function snapshot(p, client) {
    if (client === 'rtcpeer') {
        return p.page.evaluate(async () => {
            const h = window.harness;
            return {
                sessionID: h.state.sessionID,
                status: h.state.status,
                errors: h.state.errors,
                micAdded: h.state.micAdded,
                rttMs: h.rtt() * 1000,
                stats: await h.audioStats(),
                state: h.state,
            };
        });
    }
    return p.page.evaluate(async () => {
        const c = window.callsClient;
        const s = c.state;
        return {
            sessionID: s.sessionID,
            status: s.status,
            errors: s.errors || [],
            micAdded: s.micAdded,
            rttMs: s.rttMs || 0,
            stats: await c.audioStats(),
            state: s,
        };
    });
}

function pageURL(opt, extra = {}) {
    const url = new URL(opt.url);
    if (opt.client === 'rtcpeer' && url.pathname.endsWith('/')) {
        url.pathname += 'rtcpeer.html';
    }
    url.searchParams.set('room', opt.room);
    if (opt.ws) {
        url.searchParams.set('ws', opt.ws);
    }
    for (const [k, v] of Object.entries(extra)) {
        url.searchParams.set(k, v);
    }
    return url.href;
}

function heard(snap, from, minPackets) {
    const s = snap.stats[from];
    return !!s && s.packetsReceived >= minPackets && s.totalAudioEnergy > 0;
}

// sessions heard that are not pages (--remote)
function heardRemote(snap, pageIDs, minPackets) {
    return Object.keys(snap.stats).filter((id) => !pageIDs.includes(id) &&
        heard(snap, id, minPackets));
}

// The selected candidate pair of an rtcpeer page, from getStats().
async function selectedPair(p) {
    return p.page.evaluate(async () => {
        const pc = window.harness.peer && window.harness.peer.pc;
        if (!pc) {
            return null;
        }
        const report = await pc.getStats();
        let pair = null;
        report.forEach((s) => {
            if (s.type === 'transport' && s.selectedCandidatePairId) {
                pair = report.get(s.selectedCandidatePairId);
            }
        });
        if (!pair) {
            report.forEach((s) => {
                if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
                    pair = s;
                }
            });
        }
        if (!pair) {
            return null;
        }
        const side = (id) => {
            const c = report.get(id) || {};
            return {protocol: c.protocol, type: c.candidateType, address: c.address,
                port: c.port, tcpType: c.tcpType};
        };
        return {local: side(pair.localCandidateId), remote: side(pair.remoteCandidateId),
            bytesSent: pair.bytesSent, bytesReceived: pair.bytesReceived};
    });
}

function sawSpeaking(snap, from) {
    const p = snap.state.participants && snap.state.participants[from];
    return !!p && p.voiceOns > 0;
}

async function waitFor(what, fn, ms) {
    const end = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v || Date.now() > end) {
            return v;
        }
        await new Promise((r) => setTimeout(r, 250));
    }
}

function dumpPage(p, snap) {
    tap.diag(`page ${p.index}: ${JSON.stringify(snap ? snap.state : null)}`);
    if (snap) {
        tap.diag(`page ${p.index} stats: ${JSON.stringify(snap.stats)}`);
    }
    for (const line of p.lines.slice(-80)) {
        tap.diag(`page ${p.index} ${line}`);
    }
}

async function runCall(opt) {
    const wav = opt.wav || path.join(buildDir(), 'media', 'tone-440.wav');
    ensureWav(wav, !opt.wav);
    if (opt.client === 'rtcpeer') {
        await build();
    }
    const browser = await launch(wav, opt.browserArgs);
    try {
        const url = pageURL(opt);
        tap.diag(`${opt.pages} ${opt.client} page(s) in room ${opt.room}: ${url}`);
        const pages = [];
        for (let i = 1; i <= opt.pages; i++) {
            const p = await openPage(browser, i, i <= opt.relay ? pageURL(opt, {relay: '1'}) : url);
            if (opt.client === 'web') {
                // through the UI, as a person would: mic on, click Join
                await p.page.waitForFunction(() => !!window.callsClient, null, {timeout: 10000});
                await p.page.uncheck('#join-muted');
                await p.page.click('#join');
            } else {
                await p.page.waitForFunction(() => !!window.harness, null, {timeout: 10000});
            }
            pages.push(p);
        }

        const pairs = [];
        for (const a of pages) {
            for (const b of pages) {
                if (a !== b) {
                    pairs.push([a, b]);
                }
            }
        }

        // Poll until every page hears every other page and has a ping RTT,
        // a page reports an error, or time runs out.
        const deadline = Date.now() + opt.seconds * 1000;
        let snaps;
        let errored = false;
        for (;;) {
            snaps = await Promise.all(pages.map((p) => snapshot(p, opt.client)));
            errored = snaps.some((s) => s.errors.length > 0);
            const ids = snaps.map((s) => s.sessionID);
            const done = ids.every(Boolean) &&
                pairs.every(([a, b]) => heard(snaps[a.index - 1], ids[b.index - 1], opt.minPackets)) &&
                snaps.every((s) => heardRemote(s, ids, opt.minPackets).length >= opt.remote) &&
                (!opt.checkVoice || pairs.every(([a, b]) => sawSpeaking(snaps[a.index - 1], ids[b.index - 1]))) &&
                snaps.every((s) => s.rttMs > 0);
            if (done || errored || Date.now() > deadline) {
                break;
            }
            await new Promise((r) => setTimeout(r, 500));
        }

        const micTests = opt.client === 'web' && pages.length >= 2 ? 3 : 0;
        const perPage = 1 + (opt.remote ? 1 : 0) + (opt.transport ? 1 : 0);
        console.log(`1..${pairs.length + pages.length * perPage + (opt.checkVoice ? pairs.length : 0) + micTests +
            opt.relay}`);
        for (const s of snaps) {
            tap.diag(`page ${snaps.indexOf(s) + 1}: session ${s.sessionID} status "${s.status}"` +
                (s.errors.length ? ` errors ${JSON.stringify(s.errors)}` : ''));
        }
        for (const [a, b] of pairs) {
            const snap = snaps[a.index - 1];
            const from = snaps[b.index - 1].sessionID;
            const s = (from && snap.stats[from]) || {packetsReceived: 0, totalAudioEnergy: 0};
            tap.ok(heard(snap, from, opt.minPackets),
                `page ${a.index} received audio from page ${b.index} ` +
                `(packets=${s.packetsReceived}, energy=${Number(s.totalAudioEnergy).toFixed(4)})`);
        }
        if (opt.remote) {
            const ids = snaps.map((s) => s.sessionID);
            for (const p of pages) {
                const s = snaps[p.index - 1];
                const got = heardRemote(s, ids, opt.minPackets);
                tap.ok(got.length >= opt.remote, `page ${p.index} received audio from ${got.length} of ` +
                    `${opt.remote} participant(s) that are not pages ` +
                    `(${got.map((id) => `${id}: ${s.stats[id].packetsReceived} packets`).join(', ')})`);
            }
        }
        for (const p of pages) {
            const s = snaps[p.index - 1];
            tap.ok(s.rttMs > 0, `page ${p.index} data channel ping answered (rtt=${s.rttMs.toFixed(1)} ms)`);
        }
        if (opt.transport) {
            for (const p of pages) {
                const pair = await selectedPair(p);
                const ok = !!pair && pair.local.protocol === opt.transport &&
                    pair.remote.protocol === opt.transport &&
                    pair.bytesSent > 0 && pair.bytesReceived > 0;
                tap.ok(ok, `page ${p.index}: the selected candidate pair is over ${opt.transport} ` +
                    `(${JSON.stringify(pair)})`);
            }
        }
        if (opt.checkVoice) {
            for (const [a, b] of pairs) {
                const from = snaps[b.index - 1].sessionID;
                tap.ok(sawSpeaking(snaps[a.index - 1], from),
                    `page ${a.index} saw page ${b.index} speaking (user_voice_on)`);
            }
        }
        if (micTests) {
            await micButtonTests(pages, snaps, opt);
        }
        await candidatePairTests(pages, opt);
        if (tap.failed > 0 || errored) {
            pages.forEach((p) => dumpPage(p, snaps[p.index - 1]));
        }
        // leave cleanly so the server sees `leave`, not a dropped socket
        await Promise.all(pages.map((p) => p.page.evaluate((client) => {
            if (client === 'rtcpeer') {
                window.harness.leave();
            } else {
                window.callsClient.leave();
            }
        }, opt.client).catch(() => {})));
        return tap.failed === 0 && !errored ? 0 : 1;
    } finally {
        await browser.close().catch(() => {});
    }
}

// The web client's microphone button, pressed on page 1, watched from page 2.
async function micButtonTests(pages, snaps, opt) {
    const [p1, p2] = pages;
    const s1 = snaps[0].sessionID;
    const participant = () => p2.page.evaluate((id) => {
        const p = window.callsClient.state.participants[id];
        return p ? p.muted : null;
    }, s1);
    const packetsFrom1 = async () => {
        const st = await p2.page.evaluate(() => window.callsClient.audioStats());
        return st[s1] ? st[s1].packetsReceived : 0;
    };

    await p1.page.click('#mic');                       // off: replaceTrack(null) + mute
    const muted = await waitFor('muted', async () => (await participant()) === true, 10000);
    tap.ok(muted, 'page 1 mic off: page 2 sees it muted (user_muted)');

    const offersBefore = await p1.page.evaluate(() => window.callsClient.state.offersSent);
    const packetsBefore = await packetsFrom1();
    await p1.page.click('#mic');                       // on again: replaceTrack(track) + unmute
    const unmuted = await waitFor('unmuted', async () => (await participant()) === false, 10000);
    const offersAfter = await p1.page.evaluate(() => window.callsClient.state.offersSent);
    tap.ok(unmuted && offersAfter === offersBefore,
        `page 1 mic on: page 2 sees it unmuted, no renegotiation (offers ${offersBefore} -> ${offersAfter})`);

    const want = packetsBefore + opt.minPackets;
    const resumed = await waitFor('resumed', async () => (await packetsFrom1()) >= want, 15000);
    tap.ok(resumed, `page 2 receives page 1 again after unmute (packets ${packetsBefore} -> ${await packetsFrom1()})`);
}

// The candidate pair each page uses (a diagnostic), and for the relay
// pages a test: the local candidate is a TURN relay one.
async function candidatePairTests(pages, opt) {
    const text = (c) => (c ? `${c.type} ${c.address}:${c.port}` +
        (c.relayProtocol ? ` (relay over ${c.relayProtocol})` : '') : '-');
    for (const p of pages) {
        const pair = await p.page.evaluate((client) => (client === 'web'
            ? window.callsClient.selectedPair() : window.harness.selectedPair()), opt.client)
            .catch(() => null);
        const about = pair ? `local ${text(pair.local)}, remote ${text(pair.remote)}` : 'none';
        if (p.index <= opt.relay) {
            tap.ok(pair && pair.local && pair.local.type === 'relay',
                `page ${p.index} (relay only): the selected candidate pair's local candidate is relay (${about})`);
        } else {
            tap.diag(`page ${p.index}: selected candidate pair: ${about}`);
        }
    }
}

// ---- video scenarios ----
//
// screen, rtcpeer client: page 1 shares its screen (Chromium's fake
// capture, 1280x720) through RTCPeer with simulcast (encodings l and h);
// pages 2 and 3 watch from the start, page 4 joins once the share runs.
// Every viewer must decode it; the sharer must send both layers and its
// bandwidth estimate (driven by the server's TWCC feedback) must rise
// above the h layer's 2.5 Mbps; viewers' pictures must not freeze for a
// second while packets keep coming (a layer switch must keep the picture
// going); then page 1 stops sharing: user_screen_off, a renegotiation, no
// more frames.
//
// screen, web client: page 1 clicks "Share screen", page 2 must show it
// in a playing <video> and mark page 1 as sharing; page 1 must show page 2
// speaking at some point (the WAV has syllables: the server's voice
// activity); "Stop sharing" takes the <video> away.
//
// av1: page 1 joins with av1Support and shares VP8 plus an AV1 copy (no
// simulcast, as the Calls webapp); page 2 (av1Support) must receive AV1,
// page 3 (without) VP8, both decoded.
//
// Test names carry a [tag] where the assertion needs a server feature
// that may be missing; the Perl side (t/055) decides which are TODO.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitPages(pages, fn, ms) {
    return waitFor('pages', async () => (await Promise.all(pages.map(fn))).every(Boolean), ms);
}

// inbound video of page p from session `from`, the first track
async function videoFrom(p, from, client) {
    const list = await p.page.evaluate((c) => (c === 'web' ? window.callsClient.videoStats()
        : window.harness.videoStats()), client);
    return list.find((v) => v.sender === from) || null;
}

function stateOf(p, client) {
    return p.page.evaluate((c) => (c === 'web' ? window.callsClient.state : window.harness.state), client);
}

// Samples of page p's decoding of `from` every 250 ms for ms: the longest
// time frames did not go on while packets did.
async function watchFreezes(p, from, client, ms) {
    let worst = 0;
    let since = null;
    let prev = null;
    const end = Date.now() + ms;
    while (Date.now() < end) {
        const v = await videoFrom(p, from, client);
        const t = Date.now();
        if (v && prev && v.packetsReceived > prev.v.packetsReceived) {
            if (v.framesDecoded === prev.v.framesDecoded) {
                since = since === null ? prev.t : since;
                worst = Math.max(worst, t - since);
            } else {
                since = null;
            }
        }
        prev = v ? {v, t} : prev;
        await sleep(250);
    }
    return worst / 1000;
}

async function openCallPage(browser, index, url, client) {
    const p = await openPage(browser, index, url);
    if (client === 'web') {
        await p.page.waitForFunction(() => !!window.callsClient, null, {timeout: 10000});
        await p.page.uncheck('#join-muted');
        await p.page.click('#join');
    } else {
        await p.page.waitForFunction(() => !!window.harness, null, {timeout: 10000});
    }
    return p;
}

async function connected(p, client) {
    const st = await stateOf(p, client);
    return client === 'web' ? st.status === 'connected' && st.micAdded : st.connected && st.micAdded;
}

function eventsAbout(st, event, session) {
    return (st.eventLog || []).filter((e) => e[1] === event && e[2] === session);
}

async function runVideo(opt) {
    const wav = opt.wav || path.join(buildDir(), 'media', 'tone-440.wav');
    ensureWav(wav, !opt.wav);
    if (opt.client === 'rtcpeer') {
        await build();
    }
    const browser = await launch(wav, opt.browserArgs);
    const pages = [];
    const client = opt.client;
    const limit = opt.seconds * 1000;
    try {
        const web = client === 'web';
        const extras = opt.scenario === 'av1'
            ? [{av1: '1'}, {av1: '1'}, {}]
            : web ? [{}, {}] : [{simulcast: '1'}, {}, {}];
        tap.diag(`${opt.scenario}: ${extras.length} ${client} page(s) in room ${opt.room}`);
        for (const [i, extra] of extras.entries()) {
            pages.push(await openCallPage(browser, i + 1, pageURL(opt, extra), client));
        }
        const ok = await waitPages(pages, (p) => connected(p, client), Math.min(limit, 20000));
        if (!tap.ok(ok, `${pages.length} pages connected with their microphones`)) {
            return 1;
        }
        const ids = await Promise.all(pages.map(async (p) => (await stateOf(p, client)).sessionID));
        const [sharer, ...viewers] = pages;
        const sid = ids[0];

        if (opt.scenario === 'av1') {
            await av1Scenario(sharer, viewers, sid, limit);
        } else if (web) {
            await webScreenScenario(sharer, viewers, ids, limit);
        } else {
            await screenScenario(browser, opt, sharer, viewers, pages, sid, limit);
        }
        const errors = await Promise.all(pages.map(async (p) => (await stateOf(p, client)).errors || []));
        errors.forEach((e, i) => tap.ok(e.length === 0, `page ${i + 1}: no errors ${JSON.stringify(e)}`));
        return tap.failed === 0 ? 0 : 1;
    } finally {
        if (tap.failed > 0) {
            for (const p of pages) {
                const st = await stateOf(p, client).catch(() => null);
                dumpPage(p, st ? {state: st, stats: {}} : null);
            }
        }
        await Promise.all(pages.map((p) => p.page.evaluate((c) => (c === 'web'
            ? window.callsClient.leave() : window.harness.leave()), client).catch(() => {})));
        await browser.close().catch(() => {});
        console.log(`1..${tap.n}`);
    }
}

async function screenScenario(browser, opt, sharer, viewers, pages, sid, limit) {
    const shared = await sharer.page.evaluate(() => window.harness.shareScreen());
    tap.diag(`page 1 shares ${JSON.stringify(shared)}`);

    // every viewer decodes it
    const decoding = (p, n) => async () => {
        const v = await videoFrom(p, sid, 'rtcpeer');
        return v && v.framesDecoded >= n && v.frameWidth > 0;
    };
    await waitPages(viewers, (p) => decoding(p, 40)(), Math.min(limit, 15000));
    const freezes = await Promise.all(viewers.map((p) => watchFreezes(p, sid, 'rtcpeer', 6000)));
    for (const [i, p] of viewers.entries()) {
        const v = await videoFrom(p, sid, 'rtcpeer');
        tap.ok(v && v.framesDecoded >= 40 && v.frameWidth > 0,
            `page ${p.index} decodes page 1's screen (${v ? `${v.framesDecoded} frames, ` +
            `${v.frameWidth}x${v.frameHeight}, ${v.codec}, ${v.framesPerSecond} fps` : 'nothing'})`);
        tap.ok(v && v.trackIdentifier.startsWith(`screen_${sid}_`),
            `page ${p.index}: the track is screen_<sharer>_... (${v ? v.trackIdentifier : '-'})`);
        tap.ok(eventsAbout(await stateOf(p, 'rtcpeer'), 'user_screen_on', sid).length > 0,
            `page ${p.index} saw user_screen_on for page 1`);
        tap.ok(freezes[i] < 1, `page ${p.index}: no freeze of a second or more while packets come ` +
            `(longest ${freezes[i].toFixed(2)} s) [simulcast_switch]`);
    }

    // both simulcast layers go out, and the estimate says there is room
    const out = await waitFor('layers', async () => {
        const o = await sharer.page.evaluate(() => window.harness.outboundVideo());
        const l = o.encodings.find((e) => e.rid === 'l');
        const h = o.encodings.find((e) => e.rid === 'h');
        return l && h && l.framesEncoded > 10 && h.framesEncoded > 10 &&
            o.availableOutgoingBitrate > 2500000 ? o : null;
    }, 8000) || await sharer.page.evaluate(() => window.harness.outboundVideo());
    const layer = (rid) => out.encodings.find((e) => e.rid === rid);
    for (const rid of ['l', 'h']) {
        const e = layer(rid);
        tap.ok(e && e.framesEncoded > 10 && e.bytesSent > 0,
            `page 1 sends simulcast layer ${rid} (${e ? `${e.framesEncoded} frames, ` +
            `${e.framesPerSecond} fps, ${e.bytesSent} bytes, limited by ${e.qualityLimitationReason}` : 'none'})`);
    }
    tap.ok(out.availableOutgoingBitrate > 2500000,
        `page 1's bandwidth estimate rises above the h layer's 2.5 Mbps (${out.availableOutgoingBitrate} bps) [twcc]`);

    // a late joiner gets the share that runs
    const late = await openCallPage(browser, pages.length + 1, pageURL(opt), 'rtcpeer');
    pages.push(late);
    const t0 = Date.now();
    await waitFor('late', decoding(late, 20), Math.min(limit, 15000));
    const lv = await videoFrom(late, sid, 'rtcpeer');
    tap.ok(lv && lv.framesDecoded >= 20,
        `page ${late.index} (joining late) decodes the screen (${lv ? lv.framesDecoded : 0} frames ` +
        `after ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    tap.ok(eventsAbout(await stateOf(late, 'rtcpeer'), 'user_screen_on', sid).length > 0,
        `page ${late.index} saw user_screen_on for the share that runs`);

    // stop
    const watchers = [...viewers, late];
    const offersBefore = await Promise.all(watchers.map(async (p) => (await stateOf(p, 'rtcpeer')).serverOffers.length));
    const stopped = Date.now() / 1000;
    await sharer.page.evaluate(() => window.harness.stopScreen());
    await sleep(1500);
    const before = await Promise.all(watchers.map((p) => videoFrom(p, sid, 'rtcpeer')));
    await sleep(1500);
    for (const [i, p] of watchers.entries()) {
        const st = await stateOf(p, 'rtcpeer');
        const v = await videoFrom(p, sid, 'rtcpeer');
        const off = eventsAbout(st, 'user_screen_off', sid);
        tap.ok(off.length > 0 && off[0][0] >= stopped - 0.1,
            `page ${p.index} saw user_screen_off for page 1`);
        tap.ok(st.serverOffers.length > offersBefore[i],
            `page ${p.index}: a server offer takes the screen away (${offersBefore[i]} -> ${st.serverOffers.length} offers) [simulcast_stop]`);
        // (the stats of a track renegotiated away are gone: no frames either)
        tap.ok(!v || (before[i] && v.framesDecoded === before[i].framesDecoded),
            `page ${p.index}: no screen frames after the share stopped ` +
            `(${before[i] ? before[i].framesDecoded : '-'} -> ${v ? v.framesDecoded : '-'})`);
    }
}

async function av1Scenario(sharer, viewers, sid, limit) {
    const st = await stateOf(sharer, 'rtcpeer');
    tap.ok(st.av1Support, 'Chromium has AV1: page 1 joins with av1Support');
    const shared = await sharer.page.evaluate(() => window.harness.shareScreen());
    tap.ok(shared.av1, 'page 1 shares its screen in VP8 and AV1');

    const want = ['video/AV1', 'video/VP8'];
    await waitPages(viewers, async (p) => {
        const v = await videoFrom(p, sid, 'rtcpeer');
        return v && v.framesDecoded >= 30;
    }, Math.min(limit, 15000));
    for (const [i, p] of viewers.entries()) {
        const v = await videoFrom(p, sid, 'rtcpeer');
        tap.ok(v && v.codec === want[i] && v.framesDecoded >= 30 && v.frameWidth > 0,
            `page ${p.index} (${i === 0 ? 'av1Support' : 'no av1Support'}) decodes the screen in ` +
            `${want[i]} (${v ? `${v.codec}, ${v.framesDecoded} frames, ${v.frameWidth}x${v.frameHeight}` : 'nothing'})`);
    }
    const out = await sharer.page.evaluate(() => window.harness.outboundVideo());
    for (const codec of want) {
        const e = out.encodings.find((x) => x.codec === codec);
        tap.ok(e && e.framesEncoded > 10, `page 1 encodes ${codec} (${e ? e.framesEncoded : 0} frames)`);
    }
}

async function webScreenScenario(sharer, viewers, ids, limit) {
    const [viewer] = viewers;
    const [sid, vid] = ids;
    await sharer.page.click('#share');
    const playing = await waitFor('screen', async () => {
        const s = await viewer.page.evaluate(() => window.callsClient.screens());
        const v = await videoFrom(viewer, sid, 'web');
        return s.some((x) => x.session === sid && x.width > 0 && !x.paused) && v && v.framesDecoded >= 20;
    }, Math.min(limit, 15000));
    const screens = await viewer.page.evaluate(() => window.callsClient.screens());
    const v = await videoFrom(viewer, sid, 'web');
    tap.ok(playing, `page 2 shows page 1's screen in a playing <video> (${JSON.stringify(screens)}, ` +
        `${v ? v.framesDecoded : 0} frames decoded)`);
    tap.ok(await sharer.page.textContent('#share') === 'Stop sharing', 'page 1\'s button says "Stop sharing"');
    tap.ok(await viewer.page.isVisible(`#participants li[data-session="${sid}"] .sharing`),
        'page 2 lists page 1 as sharing its screen');

    // the server's voice activity: the WAV's syllables make page 2 "speak"
    const lit = await waitFor('speaking', () => sharer.page.isVisible(
        `#participants li.speaking[data-session="${vid}"] .voice`), Math.min(limit, 12000));
    const st = await stateOf(sharer, 'web');
    tap.ok(lit, 'page 1 shows page 2 speaking (its indicator lights up on user_voice_on, ' +
        `${st.participants[vid] ? st.participants[vid].voiceOns : 0} so far) [vad]`);

    await sharer.page.click('#share');
    const gone = await waitFor('gone', async () => {
        const s = await viewer.page.evaluate(() => window.callsClient.screens());
        return !s.some((x) => x.session === sid);
    }, 10000);
    tap.ok(gone, 'page 1 stops sharing: the <video> goes away on page 2');
    tap.ok(!(await viewer.page.isVisible(`#participants li[data-session="${sid}"] .sharing`)),
        'page 2 no longer lists page 1 as sharing');
}

// ---- self-test, no server ----

const MIME = {'.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wav': 'audio/wav'};

// Loopback static server: /t/ -> $BUILD/browser, / -> web/.
function serveStatic() {
    const roots = [['/t/', path.join(buildDir(), 'browser')], ['/', path.join(repo, 'web')]];
    const server = http.createServer((req, res) => {
        const {pathname} = new URL(req.url, 'http://x');
        for (const [prefix, dir] of roots) {
            if (!pathname.startsWith(prefix)) {
                continue;
            }
            let rel = decodeURIComponent(pathname.slice(prefix.length)) || 'index.html';
            if (rel.endsWith('/')) {
                rel += 'index.html';
            }
            const file = path.resolve(dir, rel);
            if (!file.startsWith(dir + path.sep) || !fs.existsSync(file)) {
                break;
            }
            res.writeHead(200, {'Content-Type': MIME[path.extname(file)] || 'application/octet-stream'});
            fs.createReadStream(file).pipe(res);
            return;
        }
        res.writeHead(404);
        res.end('not found');
    });
    return new Promise((resolve) => {
        server.listen(0, '127.0.0.1', () => resolve(server));
    });
}

// A loopback port with nothing listening, for the WebSocket-failure check.
function closedPort() {
    return new Promise((resolve) => {
        const s = http.createServer();
        s.listen(0, '127.0.0.1', () => {
            const {port} = s.address();
            s.close(() => resolve(port));
        });
    });
}

function consoleErrors(p) {
    return p.lines.filter((l) => /^(console\.error|pageerror|requestfailed|page crashed)/.test(l));
}

async function selftest() {
    const wav = path.join(buildDir(), 'media', 'tone-440.wav');
    ensureWav(wav);
    await build();
    const server = await serveStatic();
    const base = `http://127.0.0.1:${server.address().port}`;
    console.log('1..10');
    tap.diag(`static server ${base}, wav ${wav}`);
    let browser;
    try {
        browser = await launch(wav);
        tap.ok(true, `chromium ${browser.version()} launched headless`);

        // RTCPeer page, dry run: first offer and fake microphone
        const r = await openPage(browser, 1, `${base}/t/rtcpeer.html?dry=1`);
        await r.page.waitForFunction(() => window.harness &&
            /done|error/.test(window.harness.state.status) || (window.harness && window.harness.state.errors.length > 0),
        null, {timeout: 15000}).catch(() => {});
        const st = await r.page.evaluate(() => window.harness.state);
        const mlines = (st.firstOffer || '').split(/\r?\n/).filter((l) => l.startsWith('m='));
        tap.ok(st.errors.length === 0 && consoleErrors(r).length === 0,
            `rtcpeer.html loads the bundle without errors ${JSON.stringify(st.errors.concat(consoleErrors(r)))}`);
        tap.ok(mlines.length === 1 && mlines[0].startsWith('m=application'),
            `RTCPeer's first offer has only m=application: ${JSON.stringify(mlines)}`);
        tap.ok(/a=sctp-port/.test(st.firstOffer || '') && /a=setup:actpass/.test(st.firstOffer || ''),
            'first offer carries sctp-port and setup:actpass');
        tap.ok(st.micLevel > 0.01 && Math.abs(st.micHz - 440) < 30,
            `getUserMedia plays the fake WAV (${st.micLabel}, rms=${Number(st.micLevel).toFixed(4)}, ` +
            `peak ${Number(st.micHz).toFixed(0)} Hz, the WAV's is 440 Hz)`);
        await r.context.close();

        // the web client
        const w = await openPage(browser, 2, `${base}/?room=selftest.room-1`);
        await w.page.waitForFunction(() => !!window.callsClient, null, {timeout: 10000}).catch(() => {});
        tap.ok(consoleErrors(w).length === 0 && await w.page.evaluate(() => !!window.callsClient),
            `web/index.html loads without console errors ${JSON.stringify(consoleErrors(w))}`);
        tap.ok(await w.page.inputValue('#room') === 'selftest.room-1', 'room field prefilled from ?room=');

        // invalid room name: refused on the page, nothing sent
        await w.page.evaluate(() => window.callsClient.join('bad room!'));
        tap.ok(await w.page.isVisible('#error') && await w.page.isEnabled('#join'),
            `an invalid room name is refused (${await w.page.textContent('#error')})`);

        // WebSocket that cannot connect: the failure is shown, re-join possible
        const port = await closedPort();
        const w2 = await openPage(browser, 3, `${base}/?room=r1&ws=${encodeURIComponent(`ws://127.0.0.1:${port}/calls/ws`)}`);
        await w2.page.waitForFunction(() => !!window.callsClient, null, {timeout: 10000});
        await w2.page.check('#join-muted');
        await w2.page.click('#join');
        await w2.page.waitForFunction(() => /disconnected/.test(window.callsClient.state.status),
            null, {timeout: 10000}).catch(() => {});
        const status = await w2.page.textContent('#status');
        tap.ok(/disconnected/.test(status) && await w2.page.isVisible('#error'),
            `a failed signaling connection is shown (status "${status}", error "${await w2.page.textContent('#error')}")`);
        tap.ok(await w2.page.isEnabled('#join') && !(await w2.page.isEnabled('#leave')),
            'after the failure Join is enabled again and Leave is not');
        if (tap.failed > 0) {
            [r, w, w2].forEach((p) => dumpPage(p, null));
        }
    } finally {
        if (browser) {
            await browser.close().catch(() => {});
        }
        server.close();
    }
    return tap.failed === 0 ? 0 : 1;
}

// ---- main, with a hard timeout so that it can never hang ----

const opt = parseArgs(process.argv.slice(2));
const hardLimitMs = ((opt.selftest ? 60 : opt.seconds) + 90) * 1000;
const killer = setTimeout(() => {
    console.log(`Bail out! hard timeout after ${hardLimitMs / 1000} s`);
    // Playwright kills the browsers it launched when this process exits
    process.exit(2);
}, hardLimitMs);

const main = opt.selftest ? selftest : opt.scenario === 'audio' ? runCall : runVideo;
main(opt).then((code) => {
    clearTimeout(killer);
    process.exit(code);
}, (err) => {
    console.log(`Bail out! ${err && err.stack ? err.stack.split('\n').slice(0, 4).join(' | ') : err}`);
    process.exit(2);
});
