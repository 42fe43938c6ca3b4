# A client that cannot use UDP connects over ICE-TCP: headless Chromium
# running Mattermost's RTCPeer in a network namespace of its own (a veth
# pair to this one, nftables dropping every UDP datagram in and out of
# it) calls an aiortc participant that uses UDP.  Audio must flow both
# ways, and the page's selected candidate pair must be TCP.  nginx
# listens on our end of the veth pair; the page loads from there, over
# plain HTTP, which Chromium is told to treat as a secure origin (it
# gives getUserMedia only to secure ones, and 127.0.0.1 is not ours to
# use from the namespace).

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Topology;
use Test::Calls::Peers;
use Test::More;

if (my $why = Test::Calls::Topology::missing()) {
    plan skip_all => $why;
}

# as root, no namespace is a failure: tools/deps.sh test installs iproute2
# and nftables
my $ns = eval { Test::Calls::Topology->new('direct') };

unless ($ns) {
    fail("a network namespace for the client: $@");
    done_testing();
    exit;
}

my $ip = $ns->ip('here');

# the client's host drops every UDP datagram, in and out
$ns->nft('client', <<'END');
table inet calls_test {
    chain input {
        type filter hook input priority 0; policy accept;
        meta l4proto udp drop
    }
    chain output {
        type filter hook output priority 0; policy accept;
        meta l4proto udp drop
    }
}
END

my $t = start_call_nginx(
    stream_config => <<"END",
    server {
        listen $ip:\$TEST_NGINX_MEDIA_PORT udp reuseport;
        listen $ip:\$TEST_NGINX_MEDIA_PORT reuseport;
        calls_media;
    }
END
    http_config => <<"END",
    types {
        text/html               html;
        application/javascript  js mjs;
    }

    server {
        listen $ip:\$TEST_NGINX_HTTP_PORT2;
        location /t/ { alias \$TEST_NGINX_BUILD/browser/; }
        location = /calls/ws { calls_signaling; }
    }
END
);

my $port = $t->port('media');
my $origin = "http://$ip:" . $t->port('http2');

# the namespace reaches nginx over TCP, not over UDP

my $probe = q{
    use IO::Socket::INET;
    my ($ip, $port) = @ARGV;
    my $u = IO::Socket::INET->new(PeerAddr => $ip, PeerPort => $port,
                                  Proto => 'udp') or die "udp: $!";
    my $tcp = IO::Socket::INET->new(PeerAddr => $ip, PeerPort => $port,
                                    Proto => 'tcp', Timeout => 3);
    print $u->send("\0\1\0\0") ? "udp sent\n" : "udp blocked\n";
    print $tcp ? "tcp connected\n" : "tcp failed: $!\n";
};
open(my $fh, '-|', $ns->prefix('client'), 'perl', '-e', $probe, $ip, $port)
    or die "probe: $!";
my $out = do { local $/; <$fh> };
close $fh;
like($out, qr/^udp blocked$/m, 'UDP is blocked in the client namespace');
like($out, qr/^tcp connected$/m, 'TCP to the media port gets through');

my $before = http_request(uri => '/metrics')->{body};

my $room = "icetcp-$$";
my $peer = aiortc_peer(url => 'ws://127.0.0.1:' . $t->port('http')
                              . '/calls/ws',
                       room => $room, seconds => 45, freq => 660);

my $r = browser_call(
    url => "$origin/t/",
    prefix => [$ns->prefix('client')],
    args => ['--client', 'rtcpeer', '--pages', 1, '--room', $room,
             '--seconds', 40, '--min-packets', 250,
             '--remote', 1, '--transport', 'tcp',
             '--browser-arg',
             "--unsafely-treat-insecure-origin-as-secure=$origin"],
);

ok(@{ $r->{results} } > 0, 'the browser test ran') or diag($r->{output});

for my $res (@{ $r->{results} }) {
    ok($res->[0], "Chromium: $res->[1]");
}

is($r->{exit}, 0, 'Chromium: runner exit status') or diag($r->{output});

my ($sid) = $r->{output} =~ /^# page 1: session (\S+)/m;
ok($sid, 'the page joined') or diag($r->{output});

kill 'TERM', $peer->{pid};
my $rep = aiortc_wait($peer);

peer_ok($rep, 'aiortc');

my $s = find_stream($rep, kind => 'audio', stream_id => $sid // '-') // {};
my $frames = $s->{frames} // 0;
my $hz = $s->{dominant_hz};

ok($frames > 150, "aiortc (UDP) received the page's audio ($frames frames)")
    or diag(peer_summary($rep, 'aiortc'));
ok(defined $hz && abs($hz - 440) < 30,
   "it is the page's 440 Hz tone (" . ($hz // '-') . ' Hz)');

my $after = http_request(uri => '/metrics')->{body};
my ($a0) = $before =~ /^ngx_calls_tcp_accepted_total (\d+)/m;
my ($a1) = $after =~ /^ngx_calls_tcp_accepted_total (\d+)/m;
cmp_ok($a1 - $a0, '>=', 1, 'nginx accepted the ICE-TCP connection');

stop_nginx();
done_testing();
