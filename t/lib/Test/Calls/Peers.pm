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
                 repo_dir);

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
