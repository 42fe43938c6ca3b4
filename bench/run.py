#!/usr/bin/env python3
"""The benchmarks of issue 6: ngx_calls, the bare UDP reflector (this
machine's limit) and Janus under the same simulated Calls load, side by
side in one run, with figures and ratios (no pass/fail).

    bench/run.py [--workers N] [--targets calls,reflector,janus]
                 [--scenarios 1x200,10x10,...] [--duration S] [--quick]

For each scenario and target: start the server (nginx with the module,
build/loadgen/reflector, or Janus with the VideoRoom plugin), run
build/loadgen/loadgen against it, stop it.  Prints a markdown table and
writes it, the raw results and a gnuplot plot into build/bench/<time>/.

As root it runs inside a network namespace of its own (unshare -n) with
a veth pair: Janus' ICE (libnice) does not gather loopback candidates, so
every target serves 10.99.0.1 there, which is local delivery as loopback
is.  Otherwise it uses 127.0.0.1 and leaves Janus out.  With more CPUs than
workers, the server is pinned to the first `workers` CPUs and the load
generator to the others (taskset), Janus included.

rtcd itself is not run: it is not packaged in Debian and its Go build
needs modules from the network.  Its published baselines (Mattermost's
docs, /work/shared/reference/rtcd-protocol.md 6.2) are turned into CPU
time per forwarded packet and memory per participant, and compared as
such: other hardware (c7i vCPUs), other load generator, rtcd with
profiling on.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get('BUILD', os.path.join(REPO, 'build'))
LOADGEN = os.path.join(BUILD, 'loadgen', 'loadgen')
REFLECTOR = os.path.join(BUILD, 'loadgen', 'reflector')
NETNS_ADDR = '10.99.0.1'

# Scenarios modelled on rtcd's baseline rows, scaled to a small machine.
# rtcd: the row it is modelled on, with the figures that row published:
# vCPUs used (CPU % x instance vCPUs), forwarded packets per second
# derived from the row (speakers x listeners x 50, screen from its
# bandwidth at 1200-byte packets), memory per participant.
SCENARIOS = [
    {
        'name': '1x200', 'label': '1 call x 200, 2 unmuted',
        'calls': 1, 'participants': 200, 'unmuted': 2, 'screen': False,
        'rtcd': {'row': '1 x 1000, 2 unmuted, c7i.xlarge (47 % of 4 vCPU, '
                        '1.46 GB)',
                 'vcpu': 0.47 * 4, 'pps': 2 * 999 * 50,
                 'kb_per_participant': 1.46e6 / 1000},
    },
    {
        'name': '10x10', 'label': '10 calls x 10, 2 unmuted',
        'calls': 10, 'participants': 10, 'unmuted': 2, 'screen': False,
        'rtcd': {'row': '100 x 10, 2 unmuted, c7i.xlarge (49 % of 4 vCPU, '
                        '1.46 GB)',
                 'vcpu': 0.49 * 4, 'pps': 100 * 2 * 9 * 50,
                 'kb_per_participant': 1.46e6 / 1000},
    },
    {
        'name': '1x100s', 'label': '1 call x 100, 1 unmuted + screen',
        'calls': 1, 'participants': 100, 'unmuted': 1, 'screen': True,
        # 10 x 100 with a screen: 990 voices (~97 kbit/s each on the
        # wire) and the rest of 1.68 Gbit/s as 1200-byte video packets
        'rtcd': {'row': '10 x 100, 1 unmuted + screen, c7i.xlarge (74 % of '
                        '4 vCPU, 1.56 GB)',
                 'vcpu': 0.74 * 4,
                 'pps': 10 * 99 * 50 + (1.68e9 - 10 * 99 * 97e3) / 8 / 1200,
                 'kb_per_participant': 1.56e6 / 1000},
    },
    {
        'name': '100x2', 'label': '100 calls x 2, 2 unmuted',
        'calls': 100, 'participants': 2, 'unmuted': 2, 'screen': False,
        'rtcd': {'row': '1000 x 2, 2 unmuted, c7i.2xlarge (78 % of 8 vCPU, '
                        '2.31 GB)',
                 'vcpu': 0.78 * 8, 'pps': 1000 * 2 * 1 * 50,
                 'kb_per_participant': 2.31e6 / 2000},
    },
]

TARGETS = ['calls', 'calls-rtcd', 'reflector', 'reflector-mmsg', 'janus']
NAMES = {'calls': 'ngx_calls', 'calls-rtcd': 'ngx_calls RTCD',
         'reflector': 'reflector', 'reflector-mmsg': 'reflector sendmmsg',
         'janus': 'Janus'}


def log(*a):
    print('bench:', *a, file=sys.stderr, flush=True)


def free_port(addr, udp=False):
    s = socket.socket(socket.AF_INET,
                      socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    s.bind((addr, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_tcp(addr, port, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def pinned(args, cpus, cmd):
    """cmd on its CPUs, and ahead of the machine's other work."""
    if cpus and not args.no_pin:
        cmd = ['taskset', '-c', cpus] + cmd
    if args.nice and os.geteuid() == 0:
        cmd = ['nice', '-n', str(args.nice)] + cmd
    return cmd


def cpu_lists(workers):
    """The server's CPUs and the load generator's, or None: no pinning."""
    n = os.cpu_count() or 1
    if n <= workers:
        return None, None
    return (','.join(str(i) for i in range(workers)),
            ','.join(str(i) for i in range(workers, n)))


# ---------------------------------------------------------------- servers

class Server:
    def __init__(self, args, tmp, addr):
        self.args = args
        self.tmp = tmp
        self.addr = addr
        self.proc = None
        self.server_cpus, self.loadgen_cpus = cpu_lists(args.workers)

    def pin(self, cmd):
        return pinned(self.args, self.server_cpus, cmd)

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class CallsServer(Server):
    """nginx with ngx_calls: the standalone signaling, the RTCD API (with
    self-registration) and the media."""

    def start(self):
        d = tempfile.mkdtemp(prefix='calls-', dir=self.tmp)
        os.makedirs(os.path.join(d, 'logs'))
        os.chmod(d, 0o755)
        self.http = free_port(self.addr)
        self.rtcd = free_port(self.addr)
        self.media = free_port(self.addr, udp=True)
        w = self.args.workers
        mode = self.args.nginx_mode
        if mode == 'dynamic':
            binary = '/usr/sbin/nginx'
            modules = ('load_module /usr/lib/nginx/modules/'
                       'ngx_stream_module.so;\n'
                       f'load_module {BUILD}/dyn/ngx_calls_module.so;\n')
        else:
            binary = os.path.join(BUILD, 'static', 'nginx')
            modules = ''
        conf = f"""{modules}
worker_processes {w};
worker_rlimit_nofile 16384;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 16384; }}
stream {{
    server {{
        listen {self.addr}:{self.media} udp{' reuseport' if w > 1 else ''};
        calls_media;
    }}
}}
http {{
    access_log off;
    calls_rtcd_store {d}/rtcd_db;
    calls_rtcd_self_registration on;
    server {{
        listen {self.addr}:{self.http};
        location = /calls/ws {{ calls_signaling; }}
        location = /metrics {{ calls_metrics; }}
    }}
    server {{
        listen {self.addr}:{self.rtcd};
        location / {{ calls_rtcd; }}
    }}
}}
"""
        with open(os.path.join(d, 'nginx.conf'), 'w') as f:
            f.write(conf)
        self.dir = d
        cmd = self.pin([binary, '-p', d, '-c', os.path.join(d, 'nginx.conf'),
                        '-g', 'daemon off;'])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(d, 'stderr'),
                                                 'w'))
        if not wait_tcp(self.addr, self.http):
            raise RuntimeError('nginx did not start: ' + self.log_tail())
        # the workers are up once the master has its children
        time.sleep(0.3)
        return self.proc.pid

    def loadgen_args(self):
        return ['--backend', 'calls',
                '--url', f'ws://{self.addr}:{self.http}/calls/ws']

    def log_tail(self):
        text = ''
        for name in ('stderr', 'error.log'):
            try:
                with open(os.path.join(self.dir, name)) as f:
                    text += ''.join(f.readlines()[-3:])
            except OSError:
                pass
        return ' '.join(text.split())

    def bad_log_lines(self):
        try:
            with open(os.path.join(self.dir, 'error.log')) as f:
                return [l.rstrip() for l in f
                        if '[alert]' in l or '[crit]' in l or '[emerg]' in l]
        except OSError:
            return []


class CallsRtcdServer(CallsServer):
    """The same nginx; the load generator plays the Calls plugin."""

    def loadgen_args(self):
        return ['--backend', 'rtcd', '--url', f'http://{self.addr}:{self.rtcd}']


class ReflectorServer(Server):
    MMSG = []

    def start(self):
        self.media = free_port(self.addr, udp=True)
        cmd = self.pin([REFLECTOR, '-l', f'{self.addr}:{self.media}',
                        '-w', str(self.args.workers)] + self.MMSG)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith('reflector:'):
            raise RuntimeError('reflector did not start: ' + line)
        return self.proc.pid

    def loadgen_args(self):
        return ['--backend', 'reflector',
                '--media', f'{self.addr}:{self.media}']


class ReflectorMmsgServer(ReflectorServer):
    """The reflector sending each fan-out with sendmmsg(), as nginx does."""

    MMSG = ['-m']


class JanusServer(Server):
    """Janus (Debian's package), VideoRoom and WebSockets only."""

    PLUGINS = '/usr/lib/x86_64-linux-gnu/janus'

    def start(self):
        d = tempfile.mkdtemp(prefix='janus-', dir=self.tmp)
        self.ws = free_port(self.addr)
        p = self.PLUGINS

        def others(kind, keep):
            names = sorted(n for n in os.listdir(os.path.join(p, kind))
                           if n.endswith('.so') and keep not in n)
            return ','.join(names)

        loops = (f'    event_loops = {self.args.janus_event_loops}\n'
                 if self.args.janus_event_loops else '')
        with open(os.path.join(d, 'janus.jcfg'), 'w') as f:
            f.write(f"""general: {{
    configs_folder = "{d}"
    plugins_folder = "{p}/plugins"
    transports_folder = "{p}/transports"
    events_folder = "{p}/events"
    loggers_folder = "{p}/loggers"
    debug_level = 3
    session_timeout = 60
{loops}}}
certificates: {{
}}
media: {{
    rtp_port_range = "20000-60000"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{self.args.janus_iface}"
}}
plugins: {{
    disable = "{others('plugins', 'videoroom')}"
}}
transports: {{
    disable = "{others('transports', 'websockets')}"
}}
loggers: {{
    disable = "{others('loggers', '@none@')}"
}}
events: {{
    broadcast = false
    disable = "{others('events', '@none@')}"
}}
""")
        with open(os.path.join(d, 'janus.plugin.videoroom.jcfg'), 'w') as f:
            f.write('general: {\n}\n')
        with open(os.path.join(d, 'janus.transport.websockets.jcfg'),
                  'w') as f:
            f.write(f"""general: {{
    json = "compact"
    ws = true
    ws_port = {self.ws}
    ws_ip = "{self.addr}"
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
""")
        self.dir = d
        cmd = self.pin(['janus', '-C', os.path.join(d, 'janus.jcfg'),
                        '-F', d, '-L', os.path.join(d, 'janus.log')])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_tcp(self.addr, self.ws, 20):
            raise RuntimeError('Janus did not start (see '
                               f'{d}/janus.log)')
        return self.proc.pid

    def loadgen_args(self):
        return ['--backend', 'janus', '--url', f'ws://{self.addr}:{self.ws}/']


SERVERS = {'calls': CallsServer, 'calls-rtcd': CallsRtcdServer,
           'reflector': ReflectorServer,
           'reflector-mmsg': ReflectorMmsgServer, 'janus': JanusServer}


# ---------------------------------------------------------------- runs

def run_one(args, sc, target, addr, out, rep=0):
    srv = SERVERS[target](args, out, addr)
    total = sc['calls'] * sc['participants']
    ramp = max(2.0, total / args.join_rate)
    base = f"{sc['name']}-{target}" + (f'-{rep + 1}' if rep else '')
    json_path = os.path.join(out, base + '.json')
    log_path = os.path.join(out, base + '.log')

    try:
        pid = srv.start()
    except Exception as e:                      # noqa: BLE001 - reported
        log(f"{sc['name']} {target}: {e}")
        srv.stop()
        return {'error': str(e)}

    cmd = [LOADGEN, *srv.loadgen_args(), '--bind', addr,
           '--calls', str(sc['calls']),
           '--participants', str(sc['participants']),
           '--unmuted', str(sc['unmuted']),
           '--ramp', str(ramp), '--settle', str(args.settle),
           '--duration', str(args.duration), '--sample', str(args.sample),
           '--procs', str(args.procs), '--pid', str(pid),
           '--json', json_path]
    if sc['screen']:
        cmd.append('--screen')
    cmd = pinned(args, srv.loadgen_cpus, cmd)

    log(f"{sc['label']}: {NAMES[target]} ...")
    limit = ramp + args.settle + args.duration + 60
    try:
        with open(log_path, 'w') as f:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                                timeout=limit).returncode
    except subprocess.TimeoutExpired:
        rc = 'timeout'

    bad = srv.bad_log_lines() if target.startswith('calls') else []
    srv.stop()

    with open(log_path) as f:
        text = f.read()
    sys.stderr.write(text)

    try:
        with open(json_path) as f:
            r = json.load(f)
    except (OSError, ValueError):
        return {'error': f'loadgen exit {rc}, no results (see {log_path})'}

    r['exit'] = rc
    r['bad_log'] = bad[:5]
    return r


def best_of(args, sc, target, addr, out):
    """--repeat N: the run with the least server CPU per packet among
    those the load generator kept up with (or among all, if none did)."""
    runs = []
    for i in range(args.repeat):
        r = run_one(args, sc, target, addr, out, i)
        f = figures(r, sc)
        if f is not None:
            runs.append((f['late'] > 0 or f['audio_sent_ratio'] < 0.95,
                         f['cpu_us_per_pkt'], i, r))
        elif not runs and i == args.repeat - 1:
            return r
    if not runs:
        return {'error': 'no run'}
    runs.sort(key=lambda x: (x[0], x[1]))
    best = runs[0][3]
    best['runs'] = len(runs)
    return best


def figures(r, sc):
    """What the tables show, from one loadgen result."""
    if 'error' in r:
        return None
    win = r['scenario']['window_s']
    recv = r['audio']['received'] + r['video']['received']
    exp = r['audio']['expected'] + r['video']['expected']
    srv = r['server']
    cpu = srv['cpu_s']
    c = r['clients']
    return {
        'delivered_pps': recv / win,
        'sent_pps': (r['audio']['sent'] + r['video']['sent']) / win,
        'mbps': (r['audio']['received_bytes'] + r['video']['received_bytes'])
                * 8 / win / 1e6,
        'loss_pct': 100.0 * (exp - recv) / exp if exp > recv else 0.0,
        'cpu_pct': 100.0 * cpu / win,
        'cpu_us_per_pkt': cpu * 1e6 / recv if recv else 0.0,
        'pkts_per_cpu_s': recv / cpu if cpu else 0.0,
        'kb_per_participant': srv['rss_kb_per_participant'],
        'rss_mb': srv['rss_kb'] / 1024,
        'workers': srv['workers'],
        'audio_p50': r['audio']['latency']['p50_us'],
        'audio_p99': r['audio']['latency']['p99_us'],
        'video_p99': r['video']['latency']['p99_us'],
        'join_connected_p50': r['join']['connected']['p50_us'] / 1000,
        'dc': r['join']['dc_open']['n'] > 0,
        'join_dc_p50': r['join']['dc_open']['p50_us'] / 1000,
        'join_dc_p99': r['join']['dc_open']['p99_us'] / 1000,
        'join_audio_p50': r['join']['first_audio']['p50_us'] / 1000,
        'ok': f"{c['connected']}/{c['total']}",
        'failed': c['failed'],
        'streams': f"{c['streams']}/{c['streams_wanted']}",
        'late': c['late_sends'],
        'audio_sent_ratio': r['audio']['sent']
                            / (sc['calls'] * sc['unmuted'] * 50 * win),
        'loadgen_cpu_pct': 100.0 * (r['loadgen']['cpu_user_s']
                                    + r['loadgen']['cpu_sys_s'])
                           / (win + 0.0),
    }


def rtcd_figures(sc):
    b = sc['rtcd']
    return {'cpu_us_per_pkt': b['vcpu'] * 1e6 / b['pps'],
            'kb_per_participant': b['kb_per_participant'],
            'pkts_per_cpu_s': b['pps'] / b['vcpu'], 'row': b['row']}


def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def fmt(v, spec='.1f'):
    if v is None:
        return 'n/a'
    return format(v, spec)


# ---------------------------------------------------------------- report

def report(args, results, out, env):
    lines = []
    w = lines.append

    w(f"# ngx_calls benchmark, {env['date']}")
    w('')
    w(f"Machine: {env['cpu']}, {env['nproc']} CPUs, Linux {env['kernel']}; "
      f"commit {env['commit']}; {args.workers} worker(s); window "
      f"{args.duration} s per run, 1 packet in {args.sample} timed; "
      f"{env['pinning']}; {env['net']}; load average at the start "
      f"{env['load']}, at the end {env['load_end']} (other work on the "
      f"machine shows in the latencies more than in the CPU figures).")
    w('')
    w('Per scenario and server: packets delivered to the simulated clients '
      'per second, loss, the server\'s CPU (all its workers or threads, '
      'from /proc) per delivered packet, RSS growth per participant, '
      'latency from the sender\'s stamp to the receiver\'s kernel receive '
      'time, and join times (WebSocket connect to ICE+DTLS up, to calls-dc '
      'open, to the first audio packet).')
    w('')
    w('| scenario | server | clients ok | delivered pkt/s | Mbit/s | loss % '
      '| server CPU % | CPU us/pkt | KB/participant | audio p50/p99 us '
      '| video p99 us | join->conn p50 ms | join->dc p50/p99 ms '
      '| join->audio p50 ms | loadgen CPU % |')
    w('|' + '---|' * 15)

    any_suspect = False

    for sc in SCENARIOS:
        if sc['name'] not in results:
            continue
        for t in TARGETS:
            r = results[sc['name']].get(t)
            if r is None:
                continue
            f = figures(r, sc)
            if f is None:
                w(f"| {sc['label']} | {NAMES[t]} | error: "
                  f"{r['error'][:200]} " + '|' * 13)
                continue
            suspect = f['late'] > 0 or f['audio_sent_ratio'] < 0.95
            any_suspect = any_suspect or suspect
            w(f"| {sc['label']} | {NAMES[t]}{' (!)' if suspect else ''} "
              f"| {f['ok']} "
              f"| {f['delivered_pps']:.0f} | {f['mbps']:.1f} "
              f"| {f['loss_pct']:.3f} | {f['cpu_pct']:.1f} "
              f"| {f['cpu_us_per_pkt']:.2f} | {f['kb_per_participant']:.0f} "
              f"| {f['audio_p50']}/{f['audio_p99']} | {f['video_p99'] or '-'} "
              f"| {f['join_connected_p50']:.1f} "
              f"| {fmt(f['join_dc_p50']) if f['dc'] else '-'}"
              f"{'/' + fmt(f['join_dc_p99']) if f['dc'] else ''} "
              f"| {f['join_audio_p50']:.1f} | {f['loadgen_cpu_pct']:.0f} |")

    if any_suspect:
        w('')
        w('(!) The load generator fell behind its schedule in this run '
          '(late sends, or fewer packets sent than due): the machine was '
          'busy with other work, and the figures of the run are suspect.')

    w('')
    w('Ratios (CPU time per delivered packet; lower is better for '
      'ngx_calls in the first column, higher in the others).  Issue 6\'s '
      'targets: ngx_calls / reflector <= 2, Janus / ngx_calls >= 3, '
      'at most 200 KB per audio participant, join->calls-dc p50 < 50 ms.')
    w('')
    w('| scenario | ngx_calls / reflector '
      '| ngx_calls / reflector sendmmsg | Janus / ngx_calls '
      '| rtcd (published) / ngx_calls | ngx_calls pkt per CPU-s '
      '| ngx_calls KB/participant | rtcd KB/participant (published) |')
    w('|' + '---|' * 8)

    for sc in SCENARIOS:
        res = results.get(sc['name'])
        if not res:
            continue
        fc = figures(res['calls'], sc) if 'calls' in res else None
        fr = figures(res['reflector'], sc) if 'reflector' in res else None
        fm = (figures(res['reflector-mmsg'], sc)
              if 'reflector-mmsg' in res else None)
        fj = figures(res['janus'], sc) if 'janus' in res else None
        rt = rtcd_figures(sc)
        c = fc['cpu_us_per_pkt'] if fc else None
        w(f"| {sc['label']} "
          f"| {fmt(ratio(c, fr and fr['cpu_us_per_pkt']), '.2f')} "
          f"| {fmt(ratio(c, fm and fm['cpu_us_per_pkt']), '.2f')} "
          f"| {fmt(ratio(fj and fj['cpu_us_per_pkt'], c), '.2f')} "
          f"| {fmt(ratio(rt['cpu_us_per_pkt'], c), '.2f')} "
          f"| {fmt(fc and fc['pkts_per_cpu_s'], '.0f')} "
          f"| {fmt(fc and fc['kb_per_participant'], '.0f')} "
          f"| {rt['kb_per_participant']:.0f} |")

    w('')
    w('rtcd was not run (no Debian package; its Go build needs the '
      'network).  Its figures are the published baselines turned into CPU '
      'time per forwarded packet: vCPUs used / packets forwarded per '
      'second, on other hardware, with other clients:')
    w('')
    for sc in SCENARIOS:
        if sc['name'] in results:
            rt = rtcd_figures(sc)
            w(f"- {sc['label']}: rtcd {rt['row']}: "
              f"{rt['cpu_us_per_pkt']:.1f} us per packet, "
              f"{rt['pkts_per_cpu_s']:.0f} packets per vCPU-second")
    w('')

    bad = [(sc, t, r['bad_log']) for sc in results
           for t, r in results[sc].items() if r.get('bad_log')]
    for sc, t, lines_ in bad:
        w(f"Log alerts ({sc}, {t}): " + '; '.join(lines_))

    text = '\n'.join(lines) + '\n'
    with open(os.path.join(out, 'results.md'), 'w') as f:
        f.write(text)
    print(text)
    plot(results, out)


def plot(results, out):
    """Four clustered bar charts, one cluster per scenario."""
    dat = os.path.join(out, 'results.dat')
    cols = [('cpu_us_per_pkt', 'CPU us per delivered packet'),
            ('kb_per_participant', 'RSS KB per participant'),
            ('audio_p99', 'audio latency p99, us'),
            ('join_connected_p50', 'join to ICE+DTLS up p50, ms')]

    with open(dat, 'w') as f:
        f.write('# scenario ' + ' '.join(f'{t}_{k}' for k, _ in cols
                                        for t in TARGETS) + '\n')
        for sc in SCENARIOS:
            res = results.get(sc['name'])
            if not res:
                continue
            row = [sc['name']]
            for k, _ in cols:
                for t in TARGETS:
                    fig = figures(res[t], sc) if t in res else None
                    row.append(f'{fig[k]:.3f}' if fig else '-')
            f.write(' '.join(row) + '\n')

    gp = os.path.join(out, 'plot.gp')
    n = len(TARGETS)
    with open(gp, 'w') as f:
        f.write(f"""set terminal pngcairo noenhanced size 1100,800
set output '{out}/plot.png'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key below horizontal maxrows 2
set grid ytics
set xtics nomirror
set yrange [0:*]
set multiplot layout 2,2 title 'ngx_calls benchmark ({os.path.basename(out)})'
""")
        for i, (k, title) in enumerate(cols):
            first = 2 + i * n
            plots = ', '.join(
                f"'{dat}' using {first + j}:xtic(1) title '{NAMES[t]}'"
                for j, t in enumerate(TARGETS))
            # latencies span orders of magnitude
            scale = ('set logscale y\nset yrange [10:*]\n'
                     if k == 'audio_p99' else
                     'unset logscale y\nset yrange [0:*]\n')
            f.write(f"{scale}set title '{title}'\nplot {plots}\n")
        f.write('unset multiplot\n')

    if shutil.which('gnuplot'):
        rc = subprocess.run(['gnuplot', gp], stderr=subprocess.PIPE,
                            text=True)
        if rc.returncode == 0:
            log(f'plot: {out}/plot.png')
        else:
            log('gnuplot failed: ' + rc.stderr.strip()[:300])


# ---------------------------------------------------------------- sweep

def sweep(args, addr, out, env):
    """1 call x P with 2 unmuted for growing P (or P participants in calls
    of --sweep-call-size), per target, until loss
    passes 1 %, the server's workers are 90 % busy or the load generator
    is: the capacity (delivered packets per second at full CPU, from the
    CPU per packet of the largest clean step) and the latency at about
    half of it."""
    steps = [int(p) for p in args.sweep.split(',')]
    lines = [f"# ngx_calls capacity sweep, {env['date']}", '',
             f"Machine: {env['cpu']}, {env['nproc']} CPUs; commit "
             f"{env['commit']}; {args.workers} worker(s); {env['pinning']}; "
             f"{env['net']}; load average {env['load']}.", '',
             (f'P participants in calls of {args.sweep_call_size}'
              if args.sweep_call_size else '1 call x P participants') +
             ', 2 unmuted per call; capacity = packets per '
             'CPU-second of the largest step without loss x workers; '
             '"at half" = the step whose server CPU is nearest half of '
             'that.', '']
    saved = {}

    for t in TARGETS:
        rows = []
        for p in steps:
            size = args.sweep_call_size or p
            calls = max(1, p // size)
            sc = {'name': f'sweep{p}',
                  'label': f'{calls} call(s) x {size}, 2 unmuted',
                  'calls': calls, 'participants': size, 'unmuted': 2,
                  'screen': False}
            r = run_one(args, sc, t, addr, out)
            f = figures(r, sc)
            rows.append((p, f))
            saved[f'{t}-{p}'] = r
            if f is None or f['loss_pct'] > 1 \
                    or f['cpu_pct'] > 90 * args.workers \
                    or f['loadgen_cpu_pct'] > 90:
                break

        lines.append(f'## {NAMES[t]}')
        lines.append('')
        lines.append('| participants | delivered pkt/s | server CPU % '
                     '| CPU us/pkt | loss % | audio p50/p99 us '
                     '| loadgen CPU % |')
        lines.append('|' + '---|' * 7)
        clean = [(p, f) for p, f in rows if f and f['loss_pct'] <= 1]
        for p, f in rows:
            if f is None:
                lines.append(f'| {p} | error ||||||')
                continue
            lines.append(f"| {p} | {f['delivered_pps']:.0f} "
                         f"| {f['cpu_pct']:.1f} | {f['cpu_us_per_pkt']:.2f} "
                         f"| {f['loss_pct']:.3f} "
                         f"| {f['audio_p50']}/{f['audio_p99']} "
                         f"| {f['loadgen_cpu_pct']:.0f} |")
        if clean:
            p, f = clean[-1]
            cap = f['pkts_per_cpu_s'] * args.workers
            half = min(clean, key=lambda x: abs(x[1]['cpu_pct']
                                                - 50 * args.workers))
            lines.append('')
            lines.append(f"Capacity about {cap:.0f} delivered packets per "
                         f"second ({cap / 50 / 2:.0f} listeners of 2 "
                         f"speakers); at {half[1]['cpu_pct']:.0f} % CPU "
                         f"({half[0]} participants) audio latency p50 "
                         f"{half[1]['audio_p50']} us, p99 "
                         f"{half[1]['audio_p99']} us.")
        lines.append('')

    text = '\n'.join(lines) + '\n'
    with open(os.path.join(out, 'sweep.md'), 'w') as f:
        f.write(text)
    with open(os.path.join(out, 'sweep.json'), 'w') as f:
        json.dump({'env': env, 'args': vars(args), 'results': saved}, f,
                  indent=1)
    print(text)


# ---------------------------------------------------------------- setup

def in_netns():
    """Re-runs this script in a network namespace of its own, with a veth
    pair (NETNS_ADDR on bn0); returns its exit status, or None when it
    cannot (not root, no unshare/ip)."""
    if os.geteuid() != 0 or not shutil.which('unshare') \
            or not shutil.which('ip'):
        return None
    setup = ('set -e; ip link set lo up; '
             'ip link add bn0 type veth peer name bn1; '
             f'ip addr add {NETNS_ADDR}/24 dev bn0; '
             'ip addr add 10.99.0.2/24 dev bn1; '
             'ip link set bn0 up; ip link set bn1 up; '
             'exec "$@"')
    env = dict(os.environ, BENCH_IN_NETNS='1')
    cmd = ['unshare', '-n', 'sh', '-c', setup, 'sh',
           sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
    return subprocess.run(cmd, env=env).returncode


def environment(args, addr, netns):
    cpu = 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(['git', '-C', REPO, 'rev-parse', '--short',
                                 'HEAD'], capture_output=True,
                                text=True).stdout.strip() or '?'
    except OSError:
        commit = '?'
    s, lg = cpu_lists(args.workers)
    load = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    return {
        'load': load,
        'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
        'cpu': cpu, 'nproc': os.cpu_count(), 'kernel': platform.release(),
        'commit': commit,
        'pinning': (f'server on CPU {s}, load generator on CPU {lg}'
                    if s and not args.no_pin else 'no CPU pinning')
                   + (f', both at nice {args.nice}'
                      if args.nice and os.geteuid() == 0 else ''),
        'net': (f'network namespace, {addr} on a veth' if netns
                else f'{addr}'),
    }


def main():
    global SCENARIOS, TARGETS

    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workers', type=int, default=1,
                    help='nginx worker_processes, reflector workers')
    ap.add_argument('--targets', default=','.join(TARGETS))
    ap.add_argument('--scenarios',
                    default=','.join(s['name'] for s in SCENARIOS))
    ap.add_argument('--duration', type=float, default=10,
                    help='measured window per run, seconds')
    ap.add_argument('--settle', type=float, default=3)
    ap.add_argument('--join-rate', type=float, default=50,
                    help='joins per second during the ramp')
    ap.add_argument('--sample', type=int, default=10,
                    help='time 1 received packet in N')
    ap.add_argument('--repeat', type=int, default=1,
                    help='runs per scenario and server; the best counts '
                         '(for a busy machine)')
    ap.add_argument('--procs', type=int, default=1,
                    help='load generator processes')
    ap.add_argument('--quick', action='store_true',
                    help='5 s windows, a fifth of the participants')
    ap.add_argument('--nginx-mode', choices=['dynamic', 'static'],
                    default='dynamic')
    ap.add_argument('--janus-event-loops', type=int, default=0,
                    help='Janus event_loops (0: a thread per handle, '
                         'its default)')
    ap.add_argument('--janus-iface', default='bn0')
    ap.add_argument('--no-netns', action='store_true')
    ap.add_argument('--no-pin', action='store_true')
    ap.add_argument('--nice', type=int, default=-10,
                    help='niceness of the servers and the load generator '
                         '(as root; 0: as they come), so that other work '
                         'on the machine disturbs less')
    ap.add_argument('--out', default=None)
    ap.add_argument('--sweep', metavar='P,P,...',
                    help='instead of the scenarios: 1 call x P, 2 unmuted, '
                         'for each P in turn (e.g. 100,200,400,800)')
    ap.add_argument('--sweep-call-size', metavar='N', type=int, default=0,
                    help='with --sweep: P participants in calls of N each '
                    '(a fan-out of N-1: in one call of P, the last '
                    'receiver waits for P-1 protects, so latency grows '
                    'with the call, not with the load)')
    ap.add_argument('--report', metavar='DIR',
                    help='only the tables and the plot again, from '
                         'DIR/results.json')
    args = ap.parse_args()

    if args.report:
        with open(os.path.join(args.report, 'results.json')) as f:
            saved = json.load(f)
        a = argparse.Namespace(**saved['args'])
        SCENARIOS = saved.get('scenarios') or [
            s for s in SCENARIOS if s['name'] in saved['results']]
        TARGETS = [t for t in TARGETS
                   if any(t in r for r in saved['results'].values())]
        report(a, saved['results'], os.path.abspath(args.report),
               saved['env'])
        return

    if not args.no_netns and not os.environ.get('BENCH_IN_NETNS'):
        rc = in_netns()
        if rc is not None:
            sys.exit(rc)
        log('not root (or no unshare/ip): on 127.0.0.1, without Janus')

    netns = bool(os.environ.get('BENCH_IN_NETNS'))
    addr = NETNS_ADDR if netns else '127.0.0.1'

    for p in (LOADGEN, REFLECTOR):
        if not os.access(p, os.X_OK):
            sys.exit(f'bench: {p} is missing: run make loadgen')

    targets = [t for t in args.targets.split(',') if t]
    if 'janus' in targets and (not netns or not shutil.which('janus')):
        log('Janus left out: ' + ('not installed (tools/deps.sh bench)'
                                  if netns else
                                  'its ICE needs the network namespace'))
        targets.remove('janus')
    TARGETS = [t for t in TARGETS if t in targets]

    wanted = args.scenarios.split(',')
    scenarios = [s for s in SCENARIOS if s['name'] in wanted]
    if args.quick:
        args.duration = min(args.duration, 5)
        for s in scenarios:
            s['participants'] = max(2, s['participants'] // 5) \
                if s['calls'] == 1 else s['participants']
            s['calls'] = max(1, s['calls'] // 5) if s['calls'] > 1 \
                else s['calls']
            s['label'] = (f"{s['calls']} call{'s' if s['calls'] > 1 else ''}"
                          f" x {s['participants']}, " +
                          s['label'].split(', ', 1)[1])

    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    out = args.out or os.path.join(BUILD, 'bench', stamp)
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o755)

    env = environment(args, addr, netns)

    if args.sweep:
        sweep(args, addr, out, env)
        log(f'results in {out}')
        return

    results = {}

    for sc in scenarios:
        results[sc['name']] = {}
        for t in TARGETS:
            results[sc['name']][t] = best_of(args, sc, t, addr, out)

    env['load_end'] = ' '.join(f'{x:.2f}' for x in os.getloadavg())

    with open(os.path.join(out, 'results.json'), 'w') as f:
        json.dump({'env': env, 'args': vars(args), 'scenarios': scenarios,
                   'results': results}, f, indent=1)

    SCENARIOS = scenarios
    report(args, results, out, env)
    log(f'results in {out}')


if __name__ == '__main__':
    main()
