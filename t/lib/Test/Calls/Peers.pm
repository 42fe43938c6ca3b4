package Test::Calls::Peers;

# The real WebRTC peers of the call tests.
#
#   my $p = aiortc_peer(url => $ws, room => 'r', seconds => 12, freq => 440,
#                       args => ['--muted']);
#   my $r = aiortc_wait($p);       # the peer's JSON report (a hash), with
#                                  # {exit} and {stderr} added; prefix =>
#                                  # [...] runs it under a command (ip
#                                  # netns exec)
#
#   my $t = start_call_nginx(config => '...');
#                                  # nginx with the media port, the
#                                  # signaling at /calls/ws, /metrics, and
#                                  # what config adds to the http server
#
#   my $t = start_rtcd_nginx(http_config => '...');
#                                  # nginx with the media port and the
#                                  # RTCD API (calls_rtcd) on RTCD_PORT,
#                                  # self-registration on, the store in
#                                  # the test directory
#   my $r = rtcd_plugin('call', $url, args => [...]);
#                                  # t/peers/rtcd_plugin.py's report
#                                  # (a hash), with {exit} and {stderr}
#   my $m = prom_metrics($text);   # /metrics through python3's
#                                  # prometheus_client parser: {error} or
#                                  # {families}{name}{type, samples =>
#                                  # [[name, {labels}, value] ...]}
#
#   my @results = browser_call(url => "http://127.0.0.1:$port/t/",
#                              args => ['--pages', 2]);
#                                  # ([ok, name], ...) from the runner's TAP,
#                                  # then {exit}, {output}; prefix => [...]
#                                  # runs it under a command (ip netns exec)
#
#   timeline_count($stream->{packet_timeline}, $from, $to)
#                                  # packets (or frames) in [from, to],
#                                  # epoch seconds, whole buckets only
#   my $s = find_stream($report, stream_id => $sid, type => 'screen');
#   my @t = event_times($report, 'user_muted', $sid);
#   local $TODO = missing('vad');  # the reason while the server lacks
#                                  # the feature, else undef
#   peer_ok($report, 'name');      # exit 0, connected, no errors
#   my @c = ice_candidates($log);  # the host candidates error.log text
#                                  # says a worker advertises ("udp
#                                  # addr:port"), of the first worker that
#                                  # logged them (every worker has the same)
#
# aiortc is Debian's python3-aiortc, so it runs under /usr/bin/python3
# (not the python3 on PATH).  The browser runner is t/browser/call.mjs
# (playwright-core driving Debian's chromium).  Both have hard timeouts of
# their own; the waits here have a larger one on top.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempfile);
use FindBin;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Test::Calls::Nginx;

our @EXPORT = qw(start_call_nginx aiortc_peer aiortc_wait browser_call
                 repo_dir timeline_count find_stream event_times missing
                 peer_ok peer_summary diag_reports start_rtcd_nginx
                 rtcd_plugin prom_metrics rtcd_config ice_candidates);

# Server features of issue 3 (and known server bugs) whose assertions
# run as TODO (Test::More) while they are listed in %MISSING; when one
# lands (or is fixed), delete its line and they become ordinary tests.
# TEST_CALLS_FEATURES=name,... (or "all") runs them as ordinary tests now.
our @FEATURES = qw(vad nack pli reports twcc simulcast av1
                   keyframe_inactive simulcast_switch simulcast_stop);

our %MISSING = (
);

sub missing {
    my ($feature) = @_;

    die "unknown feature $feature" unless grep { $_ eq $feature } @FEATURES;

    return undef unless exists $MISSING{$feature};

    my %have = map { $_ => 1 } split /[\s,]+/, $ENV{TEST_CALLS_FEATURES} // '';

    return undef if $have{all} || $have{$feature};

    return $MISSING{$feature};
}

sub repo_dir { $Test::Calls::Nginx::REPO }

sub start_call_nginx {
    my (%s) = @_;

    my $config = <<'END';
        location = /calls/ws { calls_signaling; }
        location = /metrics { calls_metrics; }
END

    return Test::Calls::start_nginx(
        stream_config => <<'END',
    server {
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp reuseport;
        calls_media;
    }
END
        %s,
        config => $config . ($s{config} // ''),
    );
}

# the http{} and stream{} parts of an RTCD nginx; %o: store, extra
# (more in the rtcd server), http_extra (more in http{})
# the http{} and stream{} sections of an RTCD nginx.  %o: store (path),
# self_registration (default 1), directives (more lines in http{}), extra
# (more in the RTCD server), http_extra (more servers), media (default 1:
# the stream server with calls_media)
sub rtcd_config {
    my (%o) = @_;

    my $store = $o{store} // '$TEST_NGINX_SERVER_ROOT/rtcd_db';
    my $self = ($o{self_registration} // 1) ? 'on' : 'off';
    my $directives = $o{directives} // '';
    my $extra = $o{extra} // '';

    my $http = <<"END";
    calls_rtcd_store $store;
    calls_rtcd_self_registration $self;
    $directives

    server {
        listen 127.0.0.1:\$TEST_NGINX_RTCD_PORT;
        location / {
            calls_rtcd;
        }
$extra
    }
END

    my $stream = <<'END';
    server {
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp reuseport;
        calls_media;
    }
END

    return (
        http_config => $http . ($o{http_extra} // ''),
        stream_config => ($o{media} // 1) ? $stream : '',
    );
}

sub start_rtcd_nginx {
    my (%s) = @_;

    my %c = rtcd_config(map { $_ => delete $s{$_} }
                        grep { exists $s{$_} }
                        qw(store extra http_extra self_registration
                           directives media));

    return Test::Calls::start_nginx(%c, %s);
}

sub rtcd_plugin {
    my ($scenario, $url, %o) = @_;

    my $repo = repo_dir();
    my @cmd = ('/usr/bin/python3', "$repo/t/peers/rtcd_plugin.py",
               $scenario, $url, @{ $o{args} // [] });

    my ($outfh, $out) = tempfile(UNLINK => 1);
    my ($errfh, $err) = tempfile(UNLINK => 1);

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>&', $outfh or die;
        open STDERR, '>&', $errfh or die;
        exec @cmd or die "exec @cmd: $!";
    }

    my $p = { pid => $pid, out => $out, err => $err, cmd => "@cmd",
              deadline => time + 150 * Test::Calls::Nginx::time_factor() };

    return aiortc_wait($p);
}

sub prom_metrics {
    my ($text) = @_;

    my $code = <<'END';
import json, sys
from prometheus_client.parser import text_string_to_metric_families
try:
    fams = {}
    for f in text_string_to_metric_families(sys.stdin.read()):
        fams[f.name] = {'type': f.type, 'documentation': f.documentation,
                        'samples': [[s.name, s.labels, s.value] for s in f.samples]}
    print(json.dumps({'families': fams}))
except Exception as e:
    print(json.dumps({'error': f'{type(e).__name__}: {e}'}))
END

    my ($infh, $in) = tempfile(UNLINK => 1);
    print $infh $text;
    close $infh;

    my ($pyfh, $py) = tempfile(UNLINK => 1, SUFFIX => '.py');
    print $pyfh $code;
    close $pyfh;

    my $json = `/usr/bin/python3 $py < $in`;

    return eval { JSON::PP->new->decode($json) }
           // { error => "no JSON from the parser: $json" };
}

sub aiortc_peer {
    my (%o) = @_;

    my $repo = repo_dir();
    my @cmd = (@{ $o{prefix} // [] },
               '/usr/bin/python3', "$repo/t/peers/aiortc_peer.py",
               $o{url}, $o{room}, $o{seconds} // 10, $o{freq} // 440,
               @{ $o{args} // [] });

    my ($outfh, $out) = tempfile(UNLINK => 1);
    my ($errfh, $err) = tempfile(UNLINK => 1);

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>&', $outfh or die;
        open STDERR, '>&', $errfh or die;
        exec @cmd or die "exec @cmd: $!";
    }

    return { pid => $pid, out => $out, err => $err, cmd => "@cmd",
             deadline => time + ($o{seconds} // 10)
                         + 60 * Test::Calls::Nginx::time_factor() };
}

sub aiortc_wait {
    my ($p) = @_;

    my $status;

    for (;;) {
        my $r = waitpid($p->{pid}, WNOHANG);
        if ($r == $p->{pid}) {
            $status = $? >> 8;
            last;
        }

        if (time > $p->{deadline}) {
            kill 'KILL', $p->{pid};
            waitpid($p->{pid}, 0);
            $status = -1;
            last;
        }

        sleep 0.1;
    }

    my $out = slurp($p->{out});
    my $err = slurp($p->{err});

    my ($line) = grep { /^\{/ } split /\n/, $out;
    my $report = eval { JSON::PP->new->decode($line // '') } // {};

    $report->{exit} = $status;
    $report->{stderr} = $err;
    $report->{stdout} = $out;

    return $report;
}

sub browser_call {
    my (%o) = @_;

    my $repo = repo_dir();
    my @cmd = (@{ $o{prefix} // [] }, 'node', "$repo/t/browser/call.mjs",
               @{ $o{args} // [] }, $o{url});

    my $output = '';
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT or die;
        exec @cmd or die "exec @cmd: $!";
    }

    local $/;
    $output = <$fh>;
    close $fh;

    my @results;

    for my $line (split /\n/, $output) {
        if ($line =~ /^(not )?ok \d+ - (.*)$/) {
            push @results, [!defined $1, $2];
        }
    }

    return { results => \@results, exit => $? >> 8, output => $output,
             cmd => "@cmd" };
}

# Packets (or frames) counted in whole timeline buckets within [from, to].
sub timeline_count {
    my ($tl, $from, $to) = @_;

    return 0 unless $tl && $tl->{counts};

    my $n = 0;
    my $step = $tl->{step};

    for my $k (0 .. $#{ $tl->{counts} }) {
        my $start = $tl->{t0} + $k * $step;
        next if $start < $from || $start + $step > $to;
        $n += $tl->{counts}[$k];
    }

    return $n;
}

# The first remote stream (audio or video) of a report matching all of
# the given fields.
sub find_stream {
    my ($report, %m) = @_;

    for my $s (@{ $report->{streams} // [] }, @{ $report->{video} // [] }) {
        my $ok = 1;

        for my $k (keys %m) {
            $ok = 0 unless defined $s->{$k} && $s->{$k} eq $m{$k};
        }

        return $s if $ok;
    }

    return undef;
}

# The times of an event (user_*) about a session in a peer's report.
sub event_times {
    my ($report, $event, $session) = @_;

    return map { $_->[0] }
           grep { $_->[1] eq $event && ($_->[2] // '') eq ($session // '') }
           @{ $report->{event_log} // [] };
}

sub ice_candidates {
    my ($log) = @_;

    my ($first, @c);

    while ($log =~ /\] (\d+)#\d+: calls: ICE candidate udp (\S+)/g) {
        $first //= $1;
        push @c, $2 if $1 == $first;
    }

    return @c;
}

# The common checks of a peer that should have run cleanly.
sub peer_ok {
    my ($r, $name) = @_;

    my $ok = Test::More::is($r->{exit}, 0, "$name: exit status 0");
    $ok = Test::More::is($r->{connection_state}, 'connected',
                         "$name: connected") && $ok;
    $ok = Test::More::is_deeply($r->{errors} // ['no report'], [],
                                "$name: no protocol errors") && $ok;

    Test::More::diag(peer_summary($r, $name)) unless $ok;

    return $ok;
}

# A short text about a report, for diagnostics (the JSON is long).
sub peer_summary {
    my ($r, $name) = @_;

    my $t0 = $r->{t0} // 0;
    my $rel = sub { defined $_[0] ? sprintf('%.2f', $_[0] - $t0) : '-' };
    my @out = ("$name: session " . ($r->{session_id} // '?')
               . " exit " . ($r->{exit} // '?')
               . " errors " . JSON::PP->new->canonical->encode($r->{errors} // []),
               "  signaling " . JSON::PP->new->canonical->encode($r->{signaling} // {}));

    for my $s (@{ $r->{streams} // [] }, @{ $r->{video} // [] }) {
        push @out, sprintf('  %s mid %s %s (%s) frames %s packets %s%s',
            $s->{kind}, $s->{mid} // '-', $s->{track_id} // '-',
            $s->{type} // '-', $s->{frames} // 0, $s->{packets_seen} // 0,
            $s->{kind} eq 'video'
            ? " ${\($s->{width} // '-')}x${\($s->{height} // '-')}"
              . " keyframes $s->{keyframes} dropped $s->{dropped}"
              . " recovered $s->{recovered}"
            : " hz ${\($s->{dominant_hz} // '-')} rms $s->{rms}");
    }

    for my $k (sort keys %{ $r->{sent_media} // {} }) {
        my $m = $r->{sent_media}{$k};
        push @out, "  sent $k: frames $m->{frames}, reports $m->{reports}, PLIs at "
            . join(' ', map { $rel->($_) } @{ $m->{plis} })
            . ', NACKs ' . scalar(@{ $m->{nacks} });
    }

    for my $o (@{ $r->{server_offers} // [] }) {
        push @out, '  server offer at ' . $rel->($o->{t}) . " on $o->{channel}: "
            . join(' ', map { "$_->{mid}:" . ($_->{dir} // '-') } @{ $o->{media} });
    }

    push @out, '  events: ' . join(', ', map { $rel->($_->[0]) . " $_->[1] "
                                              . substr($_->[2] // '', 0, 6) }
                                       @{ $r->{event_log} // [] });
    push @out, '  actions: ' . join(', ', map { $rel->($_->[0]) . " $_->[1]" }
                                        @{ $r->{actions} // [] });
    push @out, '  stderr: ' . $r->{stderr} if $r->{stderr};

    return join "\n", @out;
}

# On failure, the summaries of all the reports (name => report).
sub diag_reports {
    my (%r) = @_;

    return if Test::More->builder->is_passing;

    Test::More::diag(peer_summary($r{$_}, $_)) for sort keys %r;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

1;
