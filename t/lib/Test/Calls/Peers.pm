package Test::Calls::Peers;

# The real WebRTC peers of the call tests.
#
#   my $p = aiortc_peer(url => $ws, room => 'r', seconds => 12, freq => 440,
#                       args => ['--muted']);
#   my $r = aiortc_wait($p);       # the peer's JSON report (a hash), with
#                                  # {exit} and {stderr} added
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
#                                  # then {exit}, {output}
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
                 repo_dir start_rtcd_nginx rtcd_plugin prom_metrics
                 rtcd_config);

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
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp;
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
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp;
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
    my @cmd = ('/usr/bin/python3', "$repo/t/peers/aiortc_peer.py",
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
    my @cmd = ('node', "$repo/t/browser/call.mjs", @{ $o{args} // [] },
               $o{url});

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

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

1;
