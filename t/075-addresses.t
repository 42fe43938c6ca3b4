# The addresses nginx advertises in its host candidates, from the listen
# addresses and the host's interfaces:
#
#   - a wildcard listen advertises the interfaces of its family, loopback
#     only with "calls_ice_loopback on", IPv6 link-local never;
#   - IPv6 is enabled by an IPv6 listen (rtcd's enable_ipv6): a call
#     over IPv6 only, aiortc peers in a network namespace whose one link
#     to us has an IPv6 network (and an IPv4 one nginx does not listen
#     on), the replies leaving from the address each client talks to;
#   - a plain host override (an IP, or a host name resolved when nginx
#     reads its configuration) applies to the local addresses of its
#     family; the others stay as they are;
#   - STUN discovery asks the STUN server's address of each local
#     address's family; a family it has none of is advertised as it is.
#
#   here 10.214.N.1, fd14:0:0:N::1 --- 10.214.N.2, fd14:0:0:N::2 client

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::Calls::Topology;
use Test::Calls::Turn;
use Test::More;

if (my $why = Test::Calls::Topology::missing()) {
    plan skip_all => $why;
}

my $net = eval { Test::Calls::Topology->new('direct') };

unless ($net) {
    fail("a network namespace with IPv4 and IPv6: $@");
    done_testing();
    exit;
}

my $t = nginx();

my $here = $net->ip('here');
my $here6 = $net->ip6('here');
my $client6 = $net->ip6('client');
my $media = $t->port('media');
my $from;

sub start {
    my ($stream, %more) = @_;

    $from = $t->log_size;

    return start_call_nginx(stream_config => <<"END", %more);
    server {
        $stream
        calls_media;
    }
END
}

# the candidates of this start, as [address, port] texts
sub candidates {
    ok(wait_for_log(qr/calls: ICE candidate udp/), "$_[0]: candidates");
    sleep 0.2;
    return [ ice_candidates($t->error_log($from)) ];
}

sub addr { my ($c) = @_; $c =~ s/:\d+$//; return $c }

# wildcard listens ---------------------------------------------------------

start('listen $TEST_NGINX_MEDIA_PORT udp reuseport;');
my @c = map { addr($_) } @{ candidates('IPv4 wildcard') };
ok((grep { $_ eq $here } @c), 'IPv4 wildcard: an interface address')
    or diag("@c");
ok(!(grep { /^127\./ } @c), 'IPv4 wildcard: no loopback') or diag("@c");
ok(!(grep { /:/ } @c), 'IPv4 wildcard: no IPv6') or diag("@c");
stop_nginx();

start("listen \$TEST_NGINX_MEDIA_PORT udp reuseport;\n"
      . '        calls_ice_loopback on;');
@c = map { addr($_) } @{ candidates('IPv4 wildcard, loopback on') };
ok((grep { $_ eq '127.0.0.1' } @c), 'calls_ice_loopback on: 127.0.0.1 too')
    or diag("@c");
ok((grep { $_ eq $here } @c), 'calls_ice_loopback on: and the others')
    or diag("@c");
stop_nginx();

start('listen [::]:$TEST_NGINX_MEDIA_PORT udp reuseport;');
@c = map { addr($_) } @{ candidates('IPv6 wildcard') };
ok((grep { $_ eq $here6 } @c), 'IPv6 wildcard: an interface address')
    or diag("@c");
ok(!(grep { $_ eq '::1' } @c), 'IPv6 wildcard: no loopback') or diag("@c");
ok(!(grep { /^fe80:/i } @c), 'IPv6 wildcard: no link-local') or diag("@c");
ok(!(grep { /^\d+\.\d+\.\d+\.\d+$/ } @c), 'IPv6 wildcard: no IPv4')
    or diag("@c");
stop_nginx();

start("listen [::]:\$TEST_NGINX_MEDIA_PORT udp reuseport;\n"
      . '        calls_ice_loopback on;');
@c = map { addr($_) } @{ candidates('IPv6 wildcard, loopback on') };
ok((grep { $_ eq '::1' } @c), 'IPv6 wildcard, loopback on: ::1 too')
    or diag("@c");
stop_nginx();

# a call over IPv6 -------------------------------------------------------

start('listen [::]:$TEST_NGINX_MEDIA_PORT udp reuseport;',
      http_config => <<"END");
    server {
        listen [$here6]:\$TEST_NGINX_HTTP_PORT2;
        location = /calls/ws { calls_signaling; }
    }
END

my $url = "ws://[$here6]:" . $t->port('http2') . '/calls/ws';
my @p = map { aiortc_peer(url => $url, room => 'ipv6', seconds => 10,
                          freq => 440 + 220 * $_,
                          prefix => [$net->prefix('client')],
                          args => ['--expect-peers', 1]) } 0, 1;
my @r = map { aiortc_wait($_) } @p;

for my $i (0, 1) {
    peer_ok($r[$i], "IPv6: peer $i");
    is_deeply([ map { $r[$i]{ice_pair}{$_}{host} // '' } qw(local remote) ],
              [ $client6, $here6 ], "IPv6: peer $i: over IPv6, both ends")
        or diag(explain($r[$i]{ice_pair}));
    is($r[$i]{ice_pair}{remote}{port}, $media, "IPv6: peer $i: the media port");

    my ($s) = grep { ($_->{stream_id} // '') eq ($r[1 - $i]{session_id} // '') }
              @{ $r[$i]{streams} // [] };
    cmp_ok(($s // {})->{frames} // 0, '>', 150, "IPv6: peer $i hears the other");
}

stop_nginx();

# a plain override, by family --------------------------------------------

start("listen $here:\$TEST_NGINX_MEDIA_PORT udp reuseport;\n"
      . "        listen [$here6]:\$TEST_NGINX_MEDIA_PORT udp reuseport;\n"
      . '        calls_ice_host_override 203.0.113.5;');
is_deeply([ sort @{ candidates('an IPv4 override') } ],
          [ sort "203.0.113.5:$media", "$here6:$media" ],
          'an IPv4 override: IPv4 replaced, IPv6 as it is');
stop_nginx();

start("listen $here:\$TEST_NGINX_MEDIA_PORT udp reuseport;\n"
      . '        calls_ice_host_override localhost;');
is_deeply(candidates('a host name'), [ "127.0.0.1:$media" ],
          'a host name override: its address');
stop_nginx();

# STUN discovery by family -------------------------------------------------

my $stun6 = coturn(dir => $t->dir, secret => 's', ip => $client6,
                   port => 3478, prefix => [$net->prefix('client')]);

SKIP: {
    skip $Test::Calls::Turn::WHY, 6 unless $stun6;

    start("listen $here:\$TEST_NGINX_MEDIA_PORT udp reuseport;\n"
          . "        listen [$here6]:\$TEST_NGINX_MEDIA_PORT udp reuseport;\n"
          . "        calls_ice_servers stun:[$client6]:3478;");

    my $log = $t->error_log($from);
    like($log, qr/calls: STUN discovery: \Q$here6\E is \Q$here6\E to "stun:\[\Q$client6\E\]:3478"/,
         'an IPv6 STUN server: the IPv6 address discovered');
    like($log, qr/calls: STUN discovery from \Q$here\E by "stun:\[\Q$client6\E\]:3478" failed: the STUN server has no address of this family; \Q$here\E is advertised as it is/,
         'an IPv6 STUN server: not the IPv4 one');
    is_deeply([ sort @{ candidates('discovery by family') } ],
              [ sort "$here:$media", "$here6:$media" ],
              'discovery by family: both advertised');
    stop_nginx();

    $stun6->stop;
}

done_testing();
