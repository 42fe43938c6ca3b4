# Bad input on the media port and in signaling, during a call that must
# carry on: unknown or malformed STUN gets no answer and is counted, DTLS
# and RTP from addresses that did not pass ICE are dropped and counted,
# a check with the right credentials is answered (487 for a controlled
# peer) and opens the path for DTLS, malformed SDP gets an error event
# naming the problem.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Test::Calls;
use Test::Calls::Peers;
use Test::Calls::Stun;
use Test::More;

my $t = start_call_nginx();

my $url = 'ws://127.0.0.1:' . $t->port('http') . '/calls/ws';

# the call that has to carry on while the rest of this file misbehaves
my $p1 = aiortc_peer(url => $url, room => 'steady', seconds => 16,
                     freq => 440);
my $p2 = aiortc_peer(url => $url, room => 'steady', seconds => 16,
                     freq => 660);
sleep 3;

my $udp = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                PeerPort => $t->port('media'),
                                Proto => 'udp')
    or die "udp socket: $!";

my $before = drops();

silent(stun_request(username => 'nosuchufrag:cliU',
                    password => 'x' x 24), 'STUN for an unknown ufrag');
silent("\x00\x01\x00\x08" . ("\xab" x 24), 'malformed STUN');
silent(stun_request(type => 0x0101, username => 'a:b', password => 'p' x 22),
       'a STUN response');
silent(stun_request(type => 0x0011, username => 'a:b'), 'a STUN indication');
silent("\x16\xfe\xfd\x00\x00" . ("\x01" x 60), 'DTLS from an unknown address');
silent("\x80\x6f\x00\x01" . ("\x00" x 40), 'RTP from an unknown address');
silent("\x40\x00garbage", 'an unknown first byte');
silent('', 'an empty datagram');

my $after = drops();

for ([stun_unknown_user => 1], [stun_malformed => 1],
     [stun_not_request => 2], [dtls_unverified => 1], [unknown_path => 1],
     [unknown_proto => 2])
{
    my ($reason, $n) = @$_;
    is(($after->{$reason} // 0) - ($before->{$reason} // 0), $n,
       "drop counter $reason += $n");
}

# a session of our own, to check as a browser would

my ($ws) = ws_connect('/calls/ws');
$ws->send_json({action => 'join', data => {channelID => 'probe'}});
my $join = $ws->read_json;
is($join->{event}, 'join', 'probe session joined');

$ws->send_json({action => 'sdp',
                data => JSON::PP->new->encode({type => 'offer',
                                               sdp => offer_sdp()})});

my ($answer, @cands);

while (my $m = $ws->read_json(5)) {
    next unless $m->{event} eq 'signal';
    my $s = JSON::PP->new->decode($m->{data}{data});
    $answer = $s if $s->{type} eq 'answer';
    push @cands, $s if $s->{type} eq 'candidate';
    last if $answer && @cands;
}

ok($answer, 'the offer is answered');
like($answer->{sdp}, qr/^a=setup:active\r$/m, 'we take the DTLS client role');
like($answer->{sdp}, qr/^a=fingerprint:sha-256 [0-9A-F:]{95}\r$/m,
     'answer has our sha-256 fingerprint');
my ($ufrag) = $answer->{sdp} =~ /^a=ice-ufrag:(\S+)\r$/m;
my ($pwd) = $answer->{sdp} =~ /^a=ice-pwd:(\S+)\r$/m;
ok($ufrag && $pwd, 'answer has ICE credentials');

my ($cand) = map { $_->{candidate} } @cands;
like($cand->{candidate}, qr/^candidate:\d+ 1 udp \d+ 127\.0\.0\.1 \Q${\ $t->port('media')}\E typ host/,
     'a host candidate is trickled');
is($cand->{usernameFragment}, $ufrag, 'candidate carries our ufrag');

$before = drops();

silent(stun_request(username => "$ufrag:cliU", password => 'wrong' x 5),
       'check with a wrong password');
silent(stun_request(username => "$ufrag:notme", password => $pwd),
       'check naming another remote ufrag');

$after = drops();
is($after->{stun_bad_integrity} - $before->{stun_bad_integrity}, 1,
   'drop counter stun_bad_integrity += 1');
is($after->{stun_unknown_user} - $before->{stun_unknown_user}, 1,
   'drop counter stun_unknown_user += 1');

my $r = ask(stun_request(username => "$ufrag:cliU", password => $pwd,
                         controlled => 1));
my $m = $r && stun_parse($r);
ok($m && $m->{class} == 3 && $m->{error_code} == 487,
   'a controlled peer gets 487 Role Conflict');
ok($r && stun_check_integrity($r, $pwd), '487 carries MESSAGE-INTEGRITY');

$r = ask(stun_request(username => "$ufrag:cliU", password => $pwd,
                      use_candidate => 1));
$m = $r && stun_parse($r);
ok($m && $m->{class} == 2, 'a controlling check gets a success response');
ok($r && stun_check_integrity($r, $pwd), 'response verifies with our pwd');
is_deeply($m && $m->{xor_addr}, ['127.0.0.1', $udp->sockport],
          'XOR-MAPPED-ADDRESS is our address');

# the path passed ICE: the server, DTLS client, sends its ClientHello
my $dtls = wait_datagram(qr/^\x16/, 3);
ok($dtls, 'DTLS ClientHello follows on the checked path');

$before = drops();
$udp->send("\x80\x6f\x00\x02" . ("\x00" x 40));

# counted by the session's worker, maybe after a hand-over: a busy
# machine may take a moment
for (1 .. 30) {
    sleep 0.1;
    $after = drops();
    last if $after->{srtp_not_ready} != $before->{srtp_not_ready};
}
is($after->{srtp_not_ready} - $before->{srtp_not_ready}, 1,
   'SRTP before the DTLS handshake: dropped and counted')
    or diag(join ' ', map { "$_ +" . ($after->{$_} - $before->{$_}) }
                      grep { $after->{$_} != $before->{$_} } sort keys %$after);

$ws->close;

# malformed descriptions, each named in an error event; the session lives

my ($ws2) = ws_connect('/calls/ws');
$ws2->send_json({action => 'join', data => {channelID => 'sdp-errors'}});
is($ws2->read_json->{event}, 'join', 'second probe joined');

my $audio = join("\r\n",
    'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0',
    'a=group:BUNDLE 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:cliU', 'a=ice-pwd:clientPassword0123456789x',
    'a=fingerprint:sha-256 ' . join(':', ('AB') x 32),
    'a=setup:actpass', 'a=mid:0', 'a=sendrecv', '%MUX%',
    'a=rtpmap:0 PCMU/8000', '') ;

for (
    ['not JSON', 'this is { not json', qr/not a JSON object/],
    ['no sdp field', {type => 'offer'}, qr/"sdp"/],
    ['a rollback', {type => 'rollback', sdp => ''}, qr/not supported/],
    ['not SDP', {type => 'offer', sdp => "hello\r\n"}, qr/invalid offer SDP/],
    ['no BUNDLE', {type => 'offer', sdp => offer_sdp(no_bundle => 1)},
     qr/BUNDLE/],
    ['no fingerprint', {type => 'offer',
                        sdp => offer_sdp(no_fingerprint => 1)},
     qr/fingerprint/],
    ['audio without rtcp-mux', {type => 'offer',
                                sdp => $audio =~ s/%MUX%\r\n//r},
     qr/rtcp-mux/],
    ['audio without opus', {type => 'offer',
                            sdp => $audio =~ s/%MUX%/a=rtcp-mux/r},
     qr/no common codec.*opus/],
    ['an answer we did not ask for', {type => 'answer', sdp => offer_sdp()},
     qr/unexpected answer/],
)
{
    my ($what, $data, $re) = @$_;

    my $text = ref $data ? JSON::PP->new->encode($data) : $data;
    $ws2->send_json({action => 'sdp', data => $text});

    my $e = $ws2->read_json;
    is($e->{event}, 'error', "$what: error event");
    like($e->{data}{message} // '', $re, "$what: the message names it")
        or diag(explain $e);
}

$ws2->send_json({action => 'ice', data => '{"candidate": 5}'});
like($ws2->read_json->{data}{message}, qr/candidate/,
     'ICE candidate of the wrong type: error event');

$ws2->send_json({action => 'sdp',
                 data => JSON::PP->new->encode({type => 'offer',
                                                sdp => offer_sdp()})});
my $ok = 0;
while (my $e = $ws2->read_json(5)) {
    if ($e->{event} eq 'signal' && $e->{data}{data} =~ /"answer"/) {
        $ok = 1;
        last;
    }
}
ok($ok, 'after the errors a good offer is answered');
$ws2->close;

# and the call went on

my $r1 = aiortc_wait($p1);
my $r2 = aiortc_wait($p2);

for ([$r1, 660, 'first peer'], [$r2, 440, 'second peer']) {
    my ($rep, $hz, $who) = @$_;
    my ($s) = @{ $rep->{streams} // [] };
    is($rep->{exit}, 0, "$who: finished cleanly") or diag($rep->{stderr});
    cmp_ok(abs(($s->{dominant_hz} // 0) - $hz), '<', 15,
           "$who: heard $hz Hz all along ($s->{frames} frames)");
    cmp_ok($s->{frames} // 0, '>', 400, "$who: no gap in the audio");
}

unlike($t->error_log, qr/exited on signal/, 'no worker crashed');

stop_nginx();
done_testing();


sub drops {
    my $res = http_request(uri => '/metrics');
    my %d = $res->{body} =~ /^ngx_calls_drops_total\{reason="(\w+)"\} (\d+)/mg;
    return \%d;
}

sub wait_datagram {
    my ($re, $secs) = @_;

    my $sel = IO::Select->new($udp);
    my $deadline = time + $secs;

    while ((my $left = $deadline - time) > 0) {
        last unless $sel->can_read($left);
        my $buf;
        $udp->recv($buf, 65535);
        return $buf if $buf =~ $re;
    }

    return undef;
}

sub silent {
    my ($bytes, $what) = @_;

    $udp->send($bytes);
    ok(!IO::Select->new($udp)->can_read(0.4), "$what: no answer");
}

sub ask {
    my ($bytes) = @_;

    $udp->send($bytes);
    return wait_datagram(qr/^[\x00-\x03]/, 2);
}
