# The plugin WebSocket of the RTCD API (rtcd's service/ws and
# client_msg.go) without media: hello, the tolerant msgpack decoding of
# what the plugin's Go client sends, messages for unknown sessions, bad
# msgpack (that connection closes with the reason, nothing else does),
# messages over 1 MiB, and a closed connection's sessions taken over by
# the next one.  t/peers/rtcd_plugin.py plays the plugin.

use strict;
use warnings;

use MIME::Base64;

use Test::Calls;
use Test::Calls::Peers;
use Test::More;

my $KEY = 'k' x 32;
my $ID_RE = qr/^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}\z/;

my $t = start_rtcd_nginx();
my $port = $t->port('rtcd');

my $r = rtcd_plugin('protocol', "http://clientA:$KEY\@127.0.0.1:$port");
is($r->{exit}, 0, 'the plugin emulator ran') or diag($r->{stderr});

my $f = $r->{facts} // {};

is($f->{hello}{clientID}, 'clientA', 'hello: the client ID');
like($f->{hello}{connID} // '', $ID_RE, 'hello: a connection ID as rtcd\'s');
ok($f->{conn_ids_differ}, 'each connection has its own ID');

# a join as the plugin sends it makes a session of the client's group

is($f->{session_s1}{status}, 200, 'the joined session is there');
is_deeply($f->{session_s1}{json},
          { GroupID => 'clientA', CallID => $f->{session_s1}{json}{CallID},
            UserID => 'user1', SessionID => $f->{s1},
            Props => { channelID => $f->{session_s1}{json}{Props}{channelID},
                       av1Support => JSON::PP::false,
                       dcSignaling => JSON::PP::false } },
          'its rtc.SessionConfig');
like($f->{session_s1}{body} // '',
     qr/^\{"GroupID":"clientA","CallID":"\w+","UserID":"user1","SessionID":"\w+","Props":\{"av1Support":false,"channelID":"\w+","dcSignaling":false\}\}\n\z/,
     'encoded as encoding/json does: fields in order, map keys sorted');
is(scalar @{ $f->{sessions_two}{json} // [] }, 2, 'two sessions in the call');

# what rtcd only logs leaves the connection open

ok($f->{c1_open_after_noise}, 'the connection stays after unknown sessions, '
                              . 'types, a bad join and a text frame');
is(scalar @{ $f->{sessions_still_two}{json} // [] }, 2,
   'no session from a join without a call ID, none replaced');
is($f->{ghost}{status}, 404, 'no session for messages to an unknown one');

# leave: close {sessionID} on the session's connection

is(scalar @{ $f->{c2_close} // [] }, 1, 'leave: one close');
is($f->{c2_close}[0][2], $f->{s2}, 'close: the session ID');

# what does not decode closes that connection, with the reason

my %bad = (
    bad_msgpack => 'bad message: not msgpack, or cut short',
    no_data => 'bad message: no data after the type',
    type_not_string => 'bad message: the type is not a string',
    huge_array_header => 'bad message: not msgpack, or cut short',
    trailing_bytes => 'bad message: bytes after the data',
    type_not_int => 'bad message: rtc: "type" is not an integer',
    join_not_map => 'bad message: join: the data is not a map',
);

for my $k (sort keys %bad) {
    is_deeply($f->{$k}, [1007, $bad{$k}], "$k: closed with 1007 and why");
}

is_deeply($f->{oversized}, [1009, 'message over 1048576 bytes'],
          'over 1 MiB: closed with 1009');

ok($f->{c1_open_after_bad_neighbours},
   'the other connections of the client stay');

# a closed connection's session lives on, and the next connection of the
# client carries it

is($f->{s1_after_c1}{status}, 200, 'the session outlives its connection');
is(scalar @{ $f->{c11_close} // [] }, 1,
   'the next connection leaves it and gets its close');
is($f->{c11_close}[0][2], $f->{s1}, 'the close names the session');
is($f->{s1_after_leave}{status}, 404, 'then it is gone');

ok(wait_for_log(qr/calls rtcd: unexpected client message type "frobnicate"/),
   'an unknown type is logged');
ok(wait_for_log(qr/join from client "clientA" refused: invalid CallID value/),
   'a join without a call ID is logged');
ok(wait_for_log(qr/failed to initialize rtc session "\w+" of client "clientA": user session already exists/),
   'a second join of a session is logged');
ok(wait_for_log(qr/unexpected text message from client "clientA" ignored/),
   'a text frame is logged');
ok(wait_for_log(qr/rtc from client "clientA": session "\w+" not found/),
   'a message for an unknown session is logged');
ok(wait_for_log(qr/took 1 sessions of client "clientA" over/),
   'the adoption is logged');
ok(wait_for_log(qr/leave from client "clientA": a sessionID of 11 bytes, not all printable/),
   'an ID with a newline is refused, not written to the log');
unlike($t->error_log, qr/^line/m, 'no forged log line');

# by hand: the WebSocket pings every 10 s and waits 20 s for an answer;
# a wrong method after a good authentication is gorilla's 405

my $auth = 'Authorization: Basic ' . encode_base64("clientA:$KEY", '');

my ($ws) = Test::Calls::WS->connect(port => $port, path => '/ws',
                                    headers => [$auth]);
ok($ws, 'a plain WebSocket client connects');
my $hello = $ws->read_message;
is($hello->{opcode}, 2, 'hello first');
$ws->auto_pong(0);
my $ping = $ws->read_message(12, keep_control => 1);
is($ping->{opcode}, 9, 'a ping within 10 s');
$ws->close;

my $res = http_request(port => $port, method => 'POST', uri => '/ws',
                       headers => [$auth, 'Upgrade: websocket',
                                   'Connection: Upgrade']);
is($res->{status}, 405, 'POST /ws: 405 after the authentication');

stop_nginx();
done_testing();
