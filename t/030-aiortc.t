# aiortc peers (Debian python3-aiortc) in a standalone call through nginx:
# each hears the other's tone, calls-dc answers msgpack and text pings.

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::More;

my $t = start_call_nginx();

my $url = 'ws://127.0.0.1:' . $t->port('http') . '/calls/ws';
my $seconds = 12;

# the second peer joins a call already running: it gets the first one's
# voice through a server offer once its data channel is open
my $p1 = aiortc_peer(url => $url, room => 'duo', seconds => $seconds,
                     freq => 440);
sleep 2;
my $p2 = aiortc_peer(url => $url, room => 'duo', seconds => $seconds,
                     freq => 660);

my $r1 = aiortc_wait($p1);
my $r2 = aiortc_wait($p2);

check_peer($r1, $r2, 660, 'first peer');
check_peer($r2, $r1, 440, 'second peer');

is($r1->{call_id}, $r2->{call_id}, 'both peers in one call');

my $m = http_request(uri => '/metrics');
my ($fwd) = $m->{body} =~ /^ngx_calls_rtp_forwarded_total (\d+)/m;
cmp_ok($fwd // 0, '>', 500, "metrics: RTP forwarded ($fwd)");

stop_nginx();
done_testing();


sub check_peer {
    my ($me, $other, $hz, $who) = @_;

    is($me->{exit}, 0, "$who: exit status 0")
        or diag("$me->{stderr}\n$me->{stdout}");

    is($me->{connection_state}, 'connected', "$who: connected");
    is_deeply($me->{errors}, [], "$who: no protocol errors");

    my @streams = @{ $me->{streams} // [] };
    is(scalar @streams, 1, "$who: one remote stream");

    my $s = $streams[0] // {};
    is($s->{stream_id}, $other->{session_id},
       "$who: stream id is the sender's session id");
    like($s->{track_id} // '', qr/^voice_\Q$other->{session_id}\E_[A-Za-z0-9]{8}$/,
         "$who: track id voice_<sender>_<8 characters>");

    # 20 ms frames: most of the shared seconds carry the other's voice
    cmp_ok($s->{frames} // 0, '>', 200, "$who: decoded frames ($s->{frames})");
    cmp_ok($s->{rms} // 0, '>', 0.05, "$who: the audio is not silence");
    cmp_ok(abs(($s->{dominant_hz} // 0) - $hz), '<', 15,
           "$who: hears the other's $hz Hz tone ($s->{dominant_hz})");

    my $dc = $me->{dc} // {};
    ok($dc->{open}, "$who: calls-dc open");
    cmp_ok($dc->{pongs} // 0, '>=', $dc->{pings_sent} - 2,
           "$who: msgpack Pong for each Ping ($dc->{pongs}/$dc->{pings_sent})");
    cmp_ok($dc->{text_pongs} // 0, '>=', $dc->{text_pings_sent} - 2,
           "$who: text pong for each ping");
}
