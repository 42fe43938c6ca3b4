# The load generator (tools/loadgen, issue 6) against our server, briefly:
# two calls of three simulated Calls clients, two of them unmuted and one
# sharing its screen, through the standalone signaling with real ICE,
# DTLS, SCTP and SRTP.  Every client joins, connects and opens calls-dc,
# every receiver gets a stream of every other sender of its call, and
# the media arrives without loss; the figures it prints are not judged
# (that is bench/'s business).  The same through the RTCD API, the load
# generator playing the Calls plugin.  Then the bare UDP reflector, which
# the benchmarks compare with, delivers a small call too.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep);

use Test::Calls;
use Test::Calls::Peers;

my $build = $Test::Calls::Nginx::BUILD;
my $loadgen = "$build/loadgen/loadgen";
my $reflector = "$build/loadgen/reflector";

unless (-x $loadgen && -x $reflector) {
    fail("$loadgen and $reflector are built (make loadgen)");
    done_testing();
    exit;
}

my $dir = tempdir('calls-loadgen-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $factor = Test::Calls::Nginx::time_factor();

# runs the load generator; its JSON results, or undef
sub loadgen {
    my ($name, @args) = @_;

    my $json = "$dir/$name.json";
    my $out = `timeout -k 5 90 $loadgen @args --json $json 2>&1`;
    my $rc = $? >> 8;

    is($rc, 0, "$name: loadgen exits 0") or diag($out);
    note($out);

    open my $fh, '<', $json or return undef;
    local $/;
    my $r = eval { JSON::PP->new->decode(<$fh>) };
    ok($r, "$name: JSON results") or diag($@);

    return $r;
}

# --- ngx_calls: 2 calls x 3 clients, 2 unmuted, a screen share, through
# the standalone signaling, then through the RTCD API

my %rtcd = rtcd_config();
my $t = start_call_nginx(http_config => $rtcd{http_config});

my %url = (
    calls => 'ws://127.0.0.1:' . $t->port('http') . '/calls/ws',
    rtcd => 'http://127.0.0.1:' . $t->port('rtcd'),
);

for my $how (qw(calls rtcd)) {
    my $r = loadgen($how, '--backend', $how,
                    '--url', $url{$how}, '--calls', 2, '--participants', 3,
                    '--unmuted', 2, '--screen', '--ramp', 0.5,
                    '--settle', 2 * $factor, '--duration', 2,
                    '--sample', 1, '--pid', $t->{pid});

    SKIP: {
        skip "$how: no results", 12 unless $r;

        my $c = $r->{clients};

        is($c->{total}, 6, "$how: six clients");
        is($c->{joined}, 6, "$how: all joined (signaling)");
        is($c->{connected}, 6, "$how: all connected (ICE, DTLS)");
        is($c->{dc_open}, 6, "$how: all opened calls-dc");
        is($c->{failed} + $c->{signaling_errors}, 0,
           "$how: no failure, no signaling error");
        is($c->{streams}, $c->{streams_wanted},
           "$how: every receiver has every other sender's stream "
           . "($c->{streams})");

        # 2 calls x 2 speakers x 2 listeners x 50 packets/s x 2 s
        cmp_ok($r->{audio}{received}, '>=', 0.9 * 800,
               "$how: audio delivered ($r->{audio}{received} packets)");
        cmp_ok($r->{audio}{received}, '>=', $r->{audio}{expected},
               "$how: no audio lost");
        cmp_ok($r->{video}{received}, '>', 0,
               "$how: screen share delivered ($r->{video}{received} "
               . "packets)");
        cmp_ok($r->{video}{received}, '>=', $r->{video}{expected},
               "$how: no video lost");
        cmp_ok($r->{audio}{latency}{n}, '>', 0,
               "$how: latency sampled from the payload stamps");
        cmp_ok($r->{server}{workers}, '>=', 1,
               "$how: the server's workers measured");
    }
}

stop_nginx();

# --- the reflector: 1 call x 3, 2 unmuted

my $port = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Proto => 'udp')->sockport;
my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    open STDOUT, '>', '/dev/null';
    exec $reflector, '-l', "127.0.0.1:$port" or die "exec: $!";
}

sleep 0.3;

my $r = loadgen('reflector',
             '--backend', 'reflector', '--media', "127.0.0.1:$port",
             '--participants', 3, '--unmuted', 2, '--ramp', 0.2,
             '--settle', 1, '--duration', 2, '--pid', $pid);

kill 'TERM', $pid;
waitpid $pid, 0;

SKIP: {
    skip 'no results', 3 unless $r;

    is($r->{clients}{connected}, 3, 'reflector: all registered');
    is($r->{clients}{streams}, $r->{clients}{streams_wanted},
       'reflector: every stream arrives');
    cmp_ok($r->{audio}{received}, '>=', 0.9 * 400,
           "reflector: audio delivered ($r->{audio}{received} packets)");
}

done_testing();
