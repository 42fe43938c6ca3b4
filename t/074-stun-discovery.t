# STUN discovery of the public address, as rtcd does it at startup: with
# calls_ice_servers and no host override, nginx asks the first STUN
# server what its local addresses look like from outside, and advertises
# that.  nginx is behind a NAT router (network namespaces, see t/073);
# the STUN server is coturn (Debian's), on the router's public side.
#
#   - discovered: the router's public address is advertised with the
#     media port (the router forwards that port), aiortc peers on the
#     public side connect through it; again after a reload;
#   - with calls_ice_host_port_override, the public port goes with it;
#   - a STUN server that never answers (its datagrams dropped): after
#     5 s, the local address is advertised as it is (rtcd's fallback);
#   - an EXT/INT override: no discovery (as rtcd).
#
#   nginx 10.214.N.1 --- router 100.64.N.1 --- 100.64.N.2 peers,
#                                              100.64.N.3 coturn

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::Calls::Topology;
use Test::Calls::Turn;
use Test::More;
use Time::HiRes qw(sleep time);

if (my $why = Test::Calls::Topology::missing()) {
    plan skip_all => $why;
}

my $net = eval { Test::Calls::Topology->new('nat') };

unless ($net) {
    fail("a NAT topology of network namespaces: $@");
    done_testing();
    exit;
}

my $t = nginx();

my $here = $net->ip('here');
my $public = $net->ip('public');
my $stun_ip = $net->ip('client2');
my $media = $t->port('media');
my $http = $t->port('http2');
my @client = (prefix => [$net->prefix('client')]);

$net->forward('udp', $media, $media);
$net->forward('udp', 8443, $media);
$net->forward('tcp', 80, $http);

my $stun = coturn(dir => $t->dir, secret => 'stun-only', ip => $stun_ip,
                  port => 3478, prefix => [$net->prefix('client')],
                  log_binding => 1);

unless ($stun) {
    SKIP: { skip $Test::Calls::Turn::WHY, 1 }
    done_testing();
    exit 0;
}

my $stun_url = "stun:$stun_ip:3478";
my $url = "ws://$public/calls/ws";
my $from;

sub start {
    my ($extra) = @_;

    $from = $t->log_size;

    return start_call_nginx(
        stream_config => <<"END",
    server {
        listen $here:\$TEST_NGINX_MEDIA_PORT udp reuseport;
        calls_media;
        $extra
    }
END
        http_config => <<"END",
    server {
        listen $here:\$TEST_NGINX_HTTP_PORT2;
        location = /calls/ws { calls_signaling; }
    }
END
    );
}

sub candidates {
    my ($log) = @_;
    return [ ice_candidates($log) ];
}

# discovered -------------------------------------------------------------

my $t0 = time;
start("calls_ice_servers $stun_url;");
my $took = time - $t0;

my $log = $t->error_log($from);
like($log, qr/calls: STUN discovery: \Q$here\E is \Q$public\E to "\Q$stun_url\E"/,
     'the STUN server sees the router\'s public address');
ok(wait_for_log(qr/calls: ICE candidate udp/), 'a candidate');
is_deeply(candidates($t->error_log($from)), ["$public:$media"],
          'it is advertised, with the media port');
cmp_ok($took, '<', 4, 'the discovery costs no waiting (' . sprintf('%.1f s', $took) . ')');
like($stun->log, qr/BINDING/i, 'coturn answered a Binding request');

my @p = map { aiortc_peer(url => $url, room => 'stun', seconds => 10,
                          freq => 440 + 220 * $_, @client,
                          args => ['--expect-peers', 1]) } 0, 1;
my @r = map { aiortc_wait($_) } @p;

for my $i (0, 1) {
    peer_ok($r[$i], "peer $i");
    is(($r[$i]{ice_pair}{remote}{host} // '') . ':'
       . ($r[$i]{ice_pair}{remote}{port} // ''), "$public:$media",
       "peer $i talks to the discovered address")
        or diag(explain($r[$i]{ice_pair}));

    my ($s) = grep { ($_->{stream_id} // '') eq ($r[1 - $i]{session_id} // '') }
              @{ $r[$i]{streams} // [] };
    cmp_ok(($s // {})->{frames} // 0, '>', 150, "peer $i hears the other");
}

stop_nginx();

# a reload discovers again (the STUN server is asked by the new
# configuration).  With one worker: the discovery is the master's
# whatever the workers, and a reload with several does not work yet
# (its new workers fail: epoll_ctl() EBADF), which is the multi-worker
# part of issue 5.

{
    local $ENV{TEST_NGINX_WORKERS} = 1;

    start("calls_ice_servers $stun_url;");
    ok(wait_for_log(qr/calls: ICE candidate udp \Q$public\E:$media\b/),
       'one worker: the discovered address');

    my $before = $t->log_size;
    $t->signal('HUP');
    ok(wait_for_log(qr/calls: STUN discovery: \Q$here\E is \Q$public\E/, 10,
                    $before), 'a reload discovers again');
    ok(wait_for_log(qr/calls: ICE candidate udp \Q$public\E:$media\b/, 10,
                    $before), 'and the new workers advertise it');

    stop_nginx();
}

# with a port override ---------------------------------------------------

start("calls_ice_servers $stun_url;\n"
      . "        calls_ice_host_port_override 8443;");

ok(wait_for_log(qr/calls: ICE candidate udp/), 'port override: a candidate');
is_deeply(candidates($t->error_log($from)), ["$public:8443"],
          'port override: the public address with the public port');

my $c = aiortc_peer(url => $url, room => 'stun-port', seconds => 5, @client);
my $rc = aiortc_wait($c);
peer_ok($rc, 'port override: a peer');
is(($rc->{ice_pair}{remote}{port} // ''), 8443,
   'port override: it talks to the public port');

stop_nginx();

# a STUN server that never answers ---------------------------------------

$net->nft('router', "insert rule ip calls_nat forward ip daddr $stun_ip "
                    . "udp dport 3479 drop\n");

$t0 = time;
start("calls_ice_servers stun:$stun_ip:3479;\n"
      . "        calls_ice_host_port_override 8443;");
$took = time - $t0;

like($t->error_log($from),
     qr/\[warn\].*calls: STUN discovery from \Q$here\E by "stun:\Q$stun_ip\E:3479" failed: no answer within 5 s; \Q$here\E is advertised as it is/,
     'no answer: said so');
cmp_ok($took, '>=', 4.5, 'after 5 s (' . sprintf('%.1f s', $took) . ')');
ok(wait_for_log(qr/calls: ICE candidate udp/), 'no answer: a candidate');
is_deeply(candidates($t->error_log($from)), ["$here:$media"],
          'no answer: the local address, without the port override (rtcd)');

stop_nginx();

# an override: no discovery ----------------------------------------------

start("calls_ice_servers $stun_url;\n"
      . "        calls_ice_host_override 203.0.113.9/$here;");

ok(wait_for_log(qr/calls: ICE candidate udp/), 'EXT/INT: a candidate');
is_deeply(candidates($t->error_log($from)), ["203.0.113.9:$media"],
          'EXT/INT: the pair\'s address');
unlike($t->error_log($from), qr/STUN discovery/, 'EXT/INT: no discovery');

stop_nginx();

$stun->stop;

done_testing();
