#!/usr/bin/python3
"""What conf/mattermost.conf's reverse proxy is tested with.

    fake_mattermost.py serve PORT     a stand-in for the Mattermost server
                                      on 127.0.0.1:PORT until killed:
                                      GET /api/v4/system/ping answers
                                      {"status":"OK"} and the headers it
                                      got; /api/v4/websocket is a
                                      WebSocket that says hello (as
                                      Mattermost's does) and echoes
    fake_mattermost.py check URL      a client through the proxy
                                      (https://127.0.0.1:PORT, the
                                      certificate is not checked): prints
                                      one JSON line with what it got

Written for Debian's python3-websockets 10.4.
"""

import asyncio
import http
import json
import signal
import ssl
import sys
import urllib.request

import websockets


async def serve(port):
    async def handler(ws, path):
        await ws.send(json.dumps({'event': 'hello', 'seq': 0,
                                  'data': {'connection_id': 'fake'},
                                  'path': path}))
        async for msg in ws:
            await ws.send(msg)

    async def plain(path, headers):
        if headers.get('Upgrade', '').lower() == 'websocket':
            return None
        body = json.dumps({'status': 'OK', 'path': path,
                           'headers': {k.lower(): v for k, v in headers.raw_items()}})
        return http.HTTPStatus.OK, [('Content-Type', 'application/json')], body.encode()

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(handler, '127.0.0.1', port, process_request=plain):
        print('ready', flush=True)
        await stop


async def check(url):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = {}

    def get():
        req = urllib.request.Request(url + '/api/v4/system/ping',
                                     headers={'Host': 'mm.example.com'})
        with urllib.request.urlopen(req, context=ctx, timeout=5) as res:
            return res.status, json.loads(res.read())

    try:
        status, body = await asyncio.get_running_loop().run_in_executor(None, get)
        out['ping'] = {'status': status, 'body': body}
    except Exception as e:              # noqa: BLE001 - reported
        out['ping'] = {'error': f'{type(e).__name__}: {e}'}

    wss = url.replace('https:', 'wss:') + '/api/v4/websocket'
    try:
        async with websockets.connect(wss, ssl=ctx, open_timeout=5) as ws:
            out['ws_hello'] = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send('echo me')
            out['ws_echo'] = await asyncio.wait_for(ws.recv(), 5)
    except Exception as e:              # noqa: BLE001 - reported
        out['ws_error'] = f'{type(e).__name__}: {e}'

    print(json.dumps(out, sort_keys=True), flush=True)


def main(argv):
    if len(argv) != 2 or argv[0] not in ('serve', 'check'):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == 'serve':
        asyncio.run(serve(int(argv[1])))
    else:
        signal.alarm(30)
        asyncio.run(check(argv[1]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
