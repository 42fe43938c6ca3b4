// Bundles the RTCPeer test page into ONE browser file with esbuild.
//
// @mattermost/calls-common ships TypeScript output (ES modules with
// extensionless imports) that imports Node's `events`; esbuild resolves
// both, `events` coming from the npm polyfill of the same name.
//
//   node t/browser/build.mjs          build if missing or out of date
//   node t/browser/build.mjs --force  always build
//
// Output: $BUILD/browser/{rtcpeer.html,rtcpeer.js} ($BUILD defaults to
// <repo>/build).

import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

export function buildDir() {
    return path.resolve(process.env.BUILD || path.join(repo, 'build'));
}

export function outDir() {
    return path.join(buildDir(), 'browser');
}

// The files whose change makes the bundle stale.
function sources() {
    const src = path.join(here, 'src');
    return [
        ...fs.readdirSync(src).map((f) => path.join(src, f)),
        path.join(here, 'build.mjs'),
        path.join(here, 'package-lock.json'),
        path.join(repo, 'web', 'stats.js'),      // shared with the web client
    ];
}

function mtime(file) {
    try {
        return fs.statSync(file).mtimeMs;
    } catch {
        return -1;
    }
}

export function isStale() {
    const out = outDir();
    const oldest = Math.min(mtime(path.join(out, 'rtcpeer.js')), mtime(path.join(out, 'rtcpeer.html')));
    const newest = Math.max(...sources().map(mtime));
    return oldest < 0 || oldest < newest;
}

export async function build({force = false} = {}) {
    const out = outDir();
    if (!force && !isStale()) {
        return out;
    }
    if (!fs.existsSync(path.join(here, 'node_modules', '@mattermost', 'calls-common'))) {
        throw new Error(`${here}/node_modules is missing: run "npm ci" in t/browser`);
    }
    // imported here so that --help and the staleness check work without it
    const esbuild = await import('esbuild');
    fs.mkdirSync(out, {recursive: true});
    await esbuild.build({
        entryPoints: [path.join(here, 'src', 'shim.js')],
        outfile: path.join(out, 'rtcpeer.js'),
        absWorkingDir: here,
        bundle: true,
        format: 'iife',
        platform: 'browser',
        target: ['chrome110'],
        sourcemap: 'inline',
        logLevel: 'warning',
        legalComments: 'inline',
    });
    fs.copyFileSync(path.join(here, 'src', 'rtcpeer.html'), path.join(out, 'rtcpeer.html'));
    return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    const force = process.argv.includes('--force');
    build({force}).then((out) => {
        console.log(`bundle: ${path.join(out, 'rtcpeer.js')}`);
    }, (err) => {
        console.error(`build failed: ${err.message}`);
        process.exit(1);
    });
}
