# TURN: the ICE servers of the join event, with TURN REST credentials
# made per session as rtcd and the Calls plugin make them (username
# "<expiry>:<session id>", password base64(HMAC-SHA1(secret, username))),
# and clients that may only use relay candidates calling through coturn
# (Debian's, started here on loopback with static-auth-secret): headless
# Chromium running RTCPeer with iceTransportPolicy "relay", and aiortc
# with aioice's relay policy.  coturn must accept exactly the credentials
# nginx handed out, and refuse them when its secret is another one.
# What nginx refuses in the TURN configuration, and why.

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::Calls::Turn;
use Test::More;
use Time::HiRes qw(sleep time);

my $t = nginx();

# refusals ---------------------------------------------------------------

my $media = <<'END';
    server {
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp reuseport;
        calls_media;
        %EXTRA%
    }
END

sub media { my ($extra) = @_; return $media =~ s/%EXTRA%/$extra \/\/ ''/er }

sub refused {
    my ($what, $extra, $re) = @_;

    $t->stop if $t->running;

    my $why = $t->start($t->make_config(stream_config => media($extra)));

    ok(defined $why, "$what: nginx refuses to start");
    like(($why // '') . $t->stderr_log, $re, "$what: the message says why");
}

refused('a server with STUN and TURN URLs',
        'calls_ice_servers stun:127.0.0.1:1 turn:turn.example.com:3478 '
        . 'username=u credential=c;',
        qr/"calls_ice_servers" directive mixes STUN and TURN URLs: one directive per server/);

refused('an empty secret',
        "calls_ice_servers turn:turn.example.com;\n"
        . 'calls_turn_static_auth_secret "";',
        qr/"calls_turn_static_auth_secret" directive must not be empty/);

refused('a TURN URL without a host',
        "calls_ice_servers turn:;\ncalls_turn_static_auth_secret s;",
        qr/calls_ice_servers "turn:": /);

refused('a TURN URL with another transport',
        "calls_ice_servers turn:turn.example.com?transport=sctp;\n"
        . 'calls_turn_static_auth_secret s;',
        qr/calls_ice_servers "turn:turn\.example\.com\?transport=sctp": a TURN URL is host\[:port\]\[\?transport=udp\|tcp\]/);

refused('a TURN URL with a path',
        "calls_ice_servers turns:turn.example.com:5349/x;\n"
        . 'calls_turn_static_auth_secret s;',
        qr/calls_ice_servers "turns:turn\.example\.com:5349\/x": a TURN URL is host\[:port\]/);

refused('a TURN port out of range',
        "calls_ice_servers turn:turn.example.com:70000;\n"
        . 'calls_turn_static_auth_secret s;',
        qr/calls_ice_servers "turn:turn\.example\.com:70000": invalid port/);

refused('a username without a credential',
        'calls_ice_servers turn:turn.example.com username=u;',
        qr/"calls_ice_servers" directive needs both "username=" and "credential=", or neither/);

refused('credentials for a STUN server',
        'calls_ice_servers stun:127.0.0.1:1 username=u credential=c;',
        qr/"calls_ice_servers" directive has "username=" and "credential=" without a TURN URL/);

refused('an empty credential',
        'calls_ice_servers turn:turn.example.com username=u credential=;',
        qr/calls_ice_servers: "credential=" is empty or duplicate/);

$t->stop if $t->running;

# a secret that no server uses is said to be unused
my $from = $t->log_size;
my $why = $t->start($t->make_config(stream_config => media(
    "calls_ice_servers turn:turn.example.com username=u credential=c;\n"
    . 'calls_turn_static_auth_secret s;')));
ok(!defined $why, 'a secret beside static credentials: nginx starts')
    or diag($why);
like($t->error_log($from),
     qr/"calls_turn_static_auth_secret" is not used: no TURN server of "calls_ice_servers" goes without credentials/,
     'the unused secret is logged');
$t->stop;

# a TURN server without credentials nor secret: rtcd skips it, the Calls
# plugin keeps it from its clients

$from = $t->log_size;
$why = $t->start($t->make_config(
    stream_config => media("calls_ice_servers stun:127.0.0.1:1;\n"
                           . 'calls_ice_servers turn:turn.example.com:3478;'),
    config => 'location = /calls/ws { calls_signaling; }'));
ok(!defined $why, 'a TURN server without credentials nor secret: nginx '
                  . 'starts') or diag($why);
like($t->error_log($from),
     qr/\[warn\].*calls_ice_servers "turn:turn\.example\.com:3478": a TURN server without "username=" and "credential=" needs "calls_turn_static_auth_secret" for TURN REST credentials; it is not used/,
     'it is said to be unused');
{
    my ($ws) = ws_connect('/calls/ws');
    $ws->send_json({action => 'join', data => {channelID => 'no-secret'}});
    my $j = $ws->read_json // {};
    is_deeply($j->{data}{ice_servers}, [{ urls => ['stun:127.0.0.1:1'] }],
              'the join event has the STUN server only')
        or diag(explain($j));
    $ws->close;
}
$t->stop;

# the join event ----------------------------------------------------------

my $secret = 'ngx-calls-turn-secret';

my $turn = coturn(dir => $t->dir, secret => $secret);

unless ($turn) {
    SKIP: { skip $Test::Calls::Turn::WHY, 1 }
    done_testing();
    exit 0;
}

my $tp = $turn->port;

sub start_turn_nginx {
    my (%o) = @_;

    my $servers = $o{servers} // "calls_ice_servers turn:127.0.0.1:$tp;";

    return start_call_nginx(
        stream_config => media("$servers\n"
                               . "calls_turn_static_auth_secret $o{secret};\n"
                               . 'calls_turn_credentials_expiration 10m;'),
        http_config => <<'END',
    types {
        text/html               html;
        application/javascript  js;
    }
END
        config => 'location /t/ { alias $TEST_NGINX_BUILD/browser/; }',
    );
}

start_turn_nginx(secret => $secret, servers => <<"END");
calls_ice_servers stun:127.0.0.1:$tp;
        calls_ice_servers turn:127.0.0.1:$tp?transport=udp
                          turn:127.0.0.1:$tp?transport=tcp;
        calls_ice_servers turns:turn.example.com:5349 username=alice
                          credential=static-one;
END

my ($ws) = ws_connect('/calls/ws');
$ws->send_json({action => 'join', data => {channelID => 'turn-join'}});
my $join = $ws->read_json // {};
my $at = time;

is($join->{event}, 'join', 'joined');

my $sid = $join->{data}{session_id} // '';
my $ice = $join->{data}{ice_servers} // [];

# the Calls plugin's order: the configured servers that need no TURN REST
# credentials, then those that do, with them

is(scalar @$ice, 3, 'the join event has the three ICE servers')
    or diag(explain($join));
is_deeply($ice->[0], { urls => ["stun:127.0.0.1:$tp"] },
          'a STUN server as it is');
is_deeply($ice->[1], { urls => ['turns:turn.example.com:5349'],
                       username => 'alice', credential => 'static-one' },
          'static credentials as they are');
is_deeply($ice->[2]{urls},
          ["turn:127.0.0.1:$tp?transport=udp",
           "turn:127.0.0.1:$tp?transport=tcp"],
          'then the TURN REST server with both its URLs');

my ($expiry, $name) = ($ice->[2]{username} // '') =~ /^(\d+):(.*)$/;

is($name, $sid, 'TURN REST username: <expiry>:<session id>');
ok($expiry && abs($expiry - ($at + 600)) <= 5,
   'the expiry is calls_turn_credentials_expiration from now '
   . '(' . (($expiry // 0) - int $at) . ' s)');
is($ice->[2]{credential}, turn_rest_credentials($secret, $ice->[2]{username}),
   'the password: base64(HMAC-SHA1(secret, username))');

# another session, other credentials
$ws->send_json({action => 'leave'});
$ws->send_json({action => 'join', data => {channelID => 'turn-join'}});
my $again;
for (1 .. 5) {
    $again = $ws->read_json // last;
    last if $again->{event} eq 'join';
}
my $ice2 = $again->{data}{ice_servers} // [];
like($ice2->[2]{username} // '', qr/^\d+:\Q$again->{data}{session_id}\E$/,
     'a new session: its own username');
isnt($again->{data}{session_id}, $sid, 'of its own session id');
$ws->close;

stop_nginx();

# relay-only clients through coturn --------------------------------------

start_turn_nginx(secret => $secret);

my $url = 'ws://127.0.0.1:' . $t->port('http') . '/calls/ws';

# aiortc: one peer relay only, the other direct

my $p1 = aiortc_peer(url => $url, room => 'relay-aiortc', seconds => 10,
                     freq => 440, args => ['--relay', '--expect-peers', 1]);
my $p2 = aiortc_peer(url => $url, room => 'relay-aiortc', seconds => 10,
                     freq => 660, args => ['--expect-peers', 1]);
my $r1 = aiortc_wait($p1);
my $r2 = aiortc_wait($p2);

peer_ok($r1, 'aiortc relay peer');
peer_ok($r2, 'aiortc direct peer');
is($r1->{ice_pair}{local}{type}, 'relay',
   'aiortc relay peer: the nominated pair\'s local candidate is relay')
    or diag(explain($r1->{ice_pair}));
is($r1->{ice_pair}{remote}{port}, $t->port('media'),
   'aiortc relay peer: to the media port');
hears($r1, $r2, 660, 'aiortc relay peer');
hears($r2, $r1, 440, 'aiortc direct peer');
ok(allocated($r1->{session_id}),
   'coturn allocated for the relay peer with the credentials of its join '
   . 'event');

# Chromium: RTCPeer page 1 relay only, page 2 direct

my $b = browser_call(url => 'http://127.0.0.1:' . $t->port('http') . '/t/',
                     args => ['--client', 'rtcpeer', '--pages', 2,
                              '--relay', 1, '--seconds', 40]);

ok(@{ $b->{results} } > 0, 'Chromium: the browser test ran')
    or diag($b->{output});
ok($_->[0], "Chromium: $_->[1]") for @{ $b->{results} };
is($b->{exit}, 0, 'Chromium: runner exit status') or diag($b->{output});

my ($bsid) = $b->{output} =~ /^# page 1: session (\S+)/m;
ok($bsid && allocated($bsid),
   'coturn allocated for Chromium\'s relay page with its join event\'s '
   . 'credentials');

stop_nginx();

# another secret than coturn's: coturn refuses, the relay clients fail ----

start_turn_nginx(secret => 'not-the-secret');

my $bad = aiortc_peer(url => $url, room => 'relay-bad', seconds => 8,
                      args => ['--relay']);
my $rb = aiortc_wait($bad);

isnt($rb->{connection_state}, 'connected',
     'aiortc relay peer with refused credentials: not connected');
like(join(' ', @{ $rb->{errors} // [] }), qr/401/,
     'aiortc relay peer: the error says 401 (Unauthorized)')
    or diag(explain($rb->{errors}), $rb->{stderr});

$b = browser_call(url => 'http://127.0.0.1:' . $t->port('http') . '/t/',
                  args => ['--client', 'rtcpeer', '--pages', 2,
                           '--relay', 1, '--seconds', 15]);

isnt($b->{exit}, 0, 'Chromium relay page with refused credentials: '
                    . 'the call fails');
like($b->{output}, qr/icecandidateerror 401 Unauthorized\.? from turn:127\.0\.0\.1:$tp/,
     'Chromium: icecandidateerror 401 from coturn') or diag($b->{output});
ok(!(grep { $_->[0] && $_->[1] =~ /^page 2 received audio from page 1/ }
     @{ $b->{results} }),
   'Chromium: no audio from the relay page');
like($turn->log, qr/401/, 'coturn logged the refusal');

stop_nginx();
$turn->stop;

done_testing();


# coturn's log: an allocation that succeeded for a username of session
# $sid, "<expiry>:<sid>"
sub allocated {
    my ($sid) = @_;

    return $turn->log =~ /user <\d+:\Q$sid\E>: incoming packet ALLOCATE processed, success/;
}

sub hears {
    my ($me, $other, $hz, $who) = @_;

    my ($s) = grep { ($_->{stream_id} // '') eq ($other->{session_id} // '') }
              @{ $me->{streams} // [] };
    $s //= {};

    cmp_ok($s->{frames} // 0, '>', 150, "$who: decoded frames of the other");
    cmp_ok(abs(($s->{dominant_hz} // 0) - $hz), '<', 15,
           "$who: hears the other's $hz Hz tone");
}
