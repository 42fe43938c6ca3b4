# nginx behind a NAT: it listens on a private address, a router (network
# namespace) forwards one public UDP port to its media port and one
# public TCP port to its HTTP port, and drops everything else coming in;
# the clients are on the router's public side and know its public
# address only.  What nginx advertises decides whether they connect:
#
#   - nothing (its private address): the clients cannot reach it;
#   - an EXT/INT pair of calls_ice_host_override and the public port of
#     calls_ice_host_port_override: aiortc peers and Chromium (RTCPeer)
#     connect and hear each other, through the public address and port;
#   - a plain IP override with a wildcard listen: the same (replies leave
#     from the address the router talks to, which it maps back).
#
# The topology (t/lib/Test/Calls/Topology.pm):
#
#   nginx 10.214.N.1 --- 10.214.N.2 router 100.64.N.1 --- 100.64.N.2 peers

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::Calls::Topology;
use Test::More;

if (my $why = Test::Calls::Topology::missing()) {
    plan skip_all => $why;
}

# as root, no topology is a failure: tools/deps.sh test installs iproute2
# and nftables
my $net = eval { Test::Calls::Topology->new('nat') };

unless ($net) {
    fail("a NAT topology of network namespaces: $@");
    done_testing();
    exit;
}

my $t = nginx();

my $here = $net->ip('here');
my $public = $net->ip('public');
my $media = $t->port('media');
my $http = $t->port('http2');
my @client = (prefix => [$net->prefix('client')]);

# the public ports: 8443 for media (as a deployment would have it), 80
# for the signaling and the page
$net->forward('udp', 8443, $media);
$net->forward('tcp', 80, $http);

my $url = "ws://$public/calls/ws";

my $from;

sub start {
    my ($listen, $extra) = @_;

    $from = $t->log_size;

    return start_call_nginx(
        stream_config => <<"END",
    server {
        listen $listen udp reuseport;
        calls_media;
        $extra
    }
END
        http_config => <<"END",
    types {
        text/html               html;
        application/javascript  js mjs;
    }

    server {
        listen $here:\$TEST_NGINX_HTTP_PORT2;
        location /t/ { alias \$TEST_NGINX_BUILD/browser/; }
        location = /calls/ws { calls_signaling; }
    }
END
    );
}

# the NAT is real: the private address is out of reach, the forwarded
# port is not

my $probe = q{
    use IO::Socket::INET;
    my ($ip, $port) = @ARGV;
    my $tcp = IO::Socket::INET->new(PeerAddr => $ip, PeerPort => $port,
                                    Proto => 'tcp', Timeout => 2);
    print $tcp ? "connected\n" : "failed\n";
};

start("$here:\$TEST_NGINX_MEDIA_PORT", '');

my $ns = join ' ', $net->prefix('client');
like(`$ns perl -e '$probe' $public 80 2>&1`, qr/^connected$/m,
     'the client side reaches the forwarded port');
like(`$ns perl -e '$probe' $here $http 2>&1`, qr/^failed$/m,
     'but not the private address');

# no override: the private address is advertised, nobody connects

ok(wait_for_log(qr/calls: ICE candidate udp \Q$here\E:$media\b/),
   'no override: the private address is advertised');

{
    my @p = map { aiortc_peer(url => $url, room => 'nat-none', seconds => 8,
                              freq => 440 + 220 * $_, @client,
                              args => ['--expect-peers', 1]) } 0, 1;
    my @r = map { aiortc_wait($_) } @p;

    ok($r[$_]{session_id}, "no override: peer $_ joined through the NAT")
        for 0, 1;
    isnt($r[$_]{connection_state}, 'connected',
         "no override: peer $_ does not connect") for 0, 1;
}

stop_nginx();

# EXT/INT and the public port ----------------------------------------------

start("$here:\$TEST_NGINX_MEDIA_PORT",
      "calls_ice_host_override $public/$here;\n"
      . "        calls_ice_host_port_override 8443;");

ok(wait_for_log(qr/calls: ICE candidate udp \Q$public\E:8443\b/),
   'EXT/INT: the public address and port are advertised');

call_ok('EXT/INT', 'nat-pair');

my $b = browser_call(url => "http://$public/t/", @client,
                     args => ['--client', 'rtcpeer', '--pages', 2,
                              '--seconds', 30, '--browser-arg',
                              "--unsafely-treat-insecure-origin-as-secure="
                              . "http://$public"]);

ok(@{ $b->{results} } > 0, 'Chromium behind the NAT: the test ran')
    or diag($b->{output});
ok($_->[0], "Chromium: $_->[1]") for @{ $b->{results} };
is($b->{exit}, 0, 'Chromium: runner exit status') or diag($b->{output});
like($b->{output}, qr/^# page 1: selected candidate pair: .*remote host \Q$public\E:8443\b/m,
     'Chromium: page 1 uses the public address and port');

stop_nginx();

# a plain override and a wildcard listen -----------------------------------

start("\$TEST_NGINX_MEDIA_PORT",
      "calls_ice_host_override $public;\n"
      . "        calls_ice_host_port_override 8443;");

ok(wait_for_log(qr/calls: ICE candidate udp \Q$public\E:8443\b/),
   'plain override: the public address and port are advertised');
my $log = $t->error_log($from);
my @cands = ice_candidates($log);
is_deeply(\@cands, ["$public:8443"],
          'plain override: it replaces every address, once');

call_ok('plain override', 'nat-plain');

stop_nginx();

done_testing();


# two aiortc peers on the client side: connected through the public
# address and port, each hears the other
sub call_ok {
    my ($what, $room) = @_;

    my @p = map { aiortc_peer(url => $url, room => $room, seconds => 10,
                              freq => 440 + 220 * $_, @client,
                              args => ['--expect-peers', 1]) } 0, 1;
    my @r = map { aiortc_wait($_) } @p;

    for my $i (0, 1) {
        my $r = $r[$i];
        my $other = $r[1 - $i];

        peer_ok($r, "$what: peer $i");
        is(($r->{ice_pair}{remote}{host} // '') . ':'
           . ($r->{ice_pair}{remote}{port} // ''), "$public:8443",
           "$what: peer $i talks to the public address and port")
            or diag(explain($r->{ice_pair}));

        my ($s) = grep { ($_->{stream_id} // '') eq ($other->{session_id} // '') }
                  @{ $r->{streams} // [] };
        $s //= {};
        cmp_ok($s->{frames} // 0, '>', 150,
               "$what: peer $i decodes the other");
        cmp_ok(abs(($s->{dominant_hz} // 0) - (440 + 220 * (1 - $i))), '<', 15,
               "$what: peer $i hears the other's tone");
    }
}
