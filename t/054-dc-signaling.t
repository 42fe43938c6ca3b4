# A whole call with dcSignaling (issue 3): the peers join with
# dcSignaling, so once calls-dc is open every SDP goes over it (message 3,
# msgpack bin of zlib(JSON)), both ways: the server's offers and the
# clients' answers, the clients' offers and the server's answers.  Only
# the first offer/answer (which opens the channel) and ICE use the
# WebSocket.  X shares its screen with audio and talks, Y talks (both take
# the lock before each offer), Z joins 3 s late and only listens.

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::More;

my $t = start_call_nginx();

my $url = 'ws://127.0.0.1:' . $t->port('http') . '/calls/ws';

my %p;
$p{X} = aiortc_peer(url => $url, room => 'dc', seconds => 10, freq => 440,
                    args => ['--dc-signaling', '--lock', '--screen',
                             '--screen-audio', '--keyframe-interval', 2,
                             '--video-size', '320x240']);
sleep 1;
$p{Y} = aiortc_peer(url => $url, room => 'dc', seconds => 9, freq => 550,
                    args => ['--dc-signaling', '--lock']);
sleep 2;
$p{Z} = aiortc_peer(url => $url, room => 'dc', seconds => 6.5,
                    args => ['--dc-signaling', '--muted']);

my %r = map { $_ => aiortc_wait($p{$_}) } sort keys %p;

for my $who (sort keys %r) {
    my $r = $r{$who};
    my $sig = $r->{signaling} // {};

    peer_ok($r, $who);

    is($sig->{offers_sent_ws} // 0, 1, "$who: only the first offer on the WebSocket");
    is($sig->{answers_received_ws} // 0, 1, "$who: and its answer");
    is($sig->{offers_received_ws} // 0, 0, "$who: no server offer on the WebSocket");
    is($sig->{answers_sent_ws} // 0, 0, "$who: no answer on the WebSocket");
    cmp_ok($sig->{offers_received_dc} // 0, '>=', 1,
           "$who: server offers on calls-dc ($sig->{offers_received_dc})");
    is($sig->{answers_sent_dc} // 0, $sig->{offers_received_dc} // 0,
       "$who: each answered on calls-dc");
    is($sig->{offers_sent_dc} // 0, ($sig->{offers_sent} // 0) - 1,
       "$who: its later offers on calls-dc");
    is($sig->{answers_received_dc} // 0, $sig->{offers_sent_dc} // 0,
       "$who: and the server's answers came back there");
    is(scalar(grep { !$_->{answered_t} } @{ $r->{own_offers} // [] }), 0,
       "$who: every offer answered");
    is_deeply($r->{media_map_problems}, [],
              "$who: a MediaMap before each offer on calls-dc, describing it");
}

for my $who (qw(X Y)) {
    is($r{$who}{lock}{granted}, ($r{$who}{signaling}{offers_sent} // 0) - 1,
       "$who: took the lock for each offer after the first");
}

my ($x, $y) = ($r{X}{session_id} // '?', $r{Y}{session_id} // '?');

for my $who (qw(Y Z)) {
    my $scr = find_stream($r{$who}, kind => 'video', stream_id => $x);
    cmp_ok($scr ? $scr->{frames} : 0, '>', 20, "$who decodes X's screen");
    is($scr ? $scr->{type} : '', 'screen', "$who: MediaMap type screen");

    my $sa = find_stream($r{$who}, kind => 'audio', type => 'screen-audio');
    cmp_ok(abs(($sa ? $sa->{dominant_hz} // 0 : 0) - 660), '<', 15,
           "$who hears X's screen audio");
}

for my $pair ([qw(X Y 550)], [qw(Y X 440)], [qw(Z X 440)], [qw(Z Y 550)]) {
    my ($me, $other, $hz) = @$pair;
    my $s = find_stream($r{$me}, kind => 'audio', type => 'voice',
                        stream_id => $r{$other}{session_id} // '?');
    ok($s && $s->{frames} > 100 && abs(($s->{dominant_hz} // 0) - $hz) < 15,
       "$me hears $other ($hz Hz)");
}

diag_reports(%r);

stop_nginx();
done_testing();
