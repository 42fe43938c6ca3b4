# The standalone signaling protocol (calls_signaling): JSON messages,
# their errors, joining rooms, the participant events of a call, and a
# slow reader that the server gives up on.
#
# The join and membership tests talk to the session registry
# (src/core/ngx_calls_registry.c) through ngx_calls.h.  The registry
# joins sessions only when a media server (calls_media in a stream
# server) is configured; the blocks that join add one when the module
# has the directive.

use strict;
use warnings;

use IO::Select;
use Test::Calls;
use Time::HiRes qw(time);

our $MEDIA = Test::Calls::Nginx::has_directive('calls_media') ? <<'END' : '';
server {
    listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp reuseport;
    calls_media;
}
END

run_tests();

# a participant that does not read while another one keeps muting and
# unmuting: its queue fills and the server closes it with 1008; the
# others see it leave
{
    my $t = start_nginx(stream_config => $MEDIA, http_config => <<'END');
server {
    listen 127.0.0.1:$TEST_NGINX_HTTP_PORT2 sndbuf=4k;

    location /ws {
        calls_signaling;
        calls_ws_send_queue 4k;
    }
}
END

    my $port = $t->port('http2');

    my ($a) = ws_connect('/ws', port => $port);
    my ($b) = ws_connect('/ws', port => $port, rcvbuf => 2048);
    ok($a && $b, 'slow reader: both connected');

    $a->send_json({ action => 'join', data => { channelID => 'slow' } });
    my $ja = $a->read_json(5);
    is($ja->{event}, 'join', 'slow reader: a joined');

    $b->send_json({ action => 'join', data => { channelID => 'slow' } });
    my $jb = $b->read_json(5);
    is($jb->{event}, 'join', 'slow reader: b joined');

    my $j = $a->read_json(5);
    is($j->{event}, 'user_joined', 'slow reader: a saw b');

    # b reads nothing from now on
    my $mark = $t->log_size;
    my $left;
    my $deadline = time + 20;

    while (!$left && time < $deadline) {
        $a->send_text('{"action":"unmute"}');
        $a->send_text('{"action":"mute"}');

        while (my $m = $a->read_message(0.001)) {
            last if $m->{eof};
            my $e = eval { Test::Calls::WS->json->decode($m->{payload}) };
            $left = 1 if $e && $e->{event} eq 'user_left'
                         && $e->{data}{session_id} eq $jb->{data}{session_id};
        }
    }

    ok($left, 'slow reader: the others saw it leave');
    ok(wait_for_log(qr/WebSocket client too slow: \d+ bytes queued, limit 4096, closing with 1008/, 3, $mark),
       'slow reader: logged with its cause');

    # what b finally reads ends with the close frame
    my ($f, $last);
    while (($f = $b->read_message(5)) && !$f->{eof}) {
        $last = $f;
        last if $f->{opcode} == 0x8;
    }

    is($last && $last->{code}, 1008, 'slow reader: closed with 1008');
    is($last && $last->{reason}, 'client too slow', 'slow reader: reason');

    $a->close(1000);
    stop_nginx();
}

done_testing();

__DATA__

=== TEST 1: invalid JSON gets an error event naming it
--- config
location /ws { calls_signaling; }
--- ws
open /ws
send {"action":
recv_json {"event":"error","data":{"message":"~^invalid JSON at offset \\d+$"}}
send not json at all
recv_json {"event":"error","data":{"message":"invalid JSON at offset 0"}}
send {"action":"leave"} {"action":"leave"}
recv_json {"event":"error","data":{"message":"invalid JSON at offset 19: data after the value"}}
send {"action":"leave"}{
recv_json {"event":"error","data":{"message":"invalid JSON at offset 18: data after the value"}}
send_ping still-open
recv_pong still-open


=== TEST 2: not an object, no action, an action that is not a string
--- config
location /ws { calls_signaling; }
--- ws
open /ws
send [1,2]
recv_json {"event":"error","data":{"message":"a message must be a JSON object"}}
send {}
recv_json {"event":"error","data":{"message":"missing \"action\""}}
send {"action":5}
recv_json {"event":"error","data":{"message":"\"action\" must be a string"}}
send {"action":null}
recv_json {"event":"error","data":{"message":"\"action\" must be a string"}}


=== TEST 3: an unknown action is named, cut to 64 bytes
--- config
location /ws { calls_signaling; }
--- ws eval
"open /ws
send {\"action\":\"dance\"}
recv_json {\"event\":\"error\",\"data\":{\"message\":\"unknown action \\\"dance\\\"\"}}
send {\"action\":\"" . ("a" x 100) . "\"}
recv_json {\"event\":\"error\",\"data\":{\"message\":\"unknown action \\\"" . ("a" x 64) . "\\\"\"}}
"


=== TEST 4: bad room names
--- config
location /ws { calls_signaling; }
--- ws eval
my $e = '{"event":"error","data":{"message":"join: invalid channelID, use 1 to 64 of A-Z a-z 0-9 . _ -"}}';
"open /ws
send {\"action\":\"join\",\"data\":{\"channelID\":\"\"}}
recv_json $e
send {\"action\":\"join\",\"data\":{\"channelID\":\"" . ("r" x 65) . "\"}}
recv_json $e
send {\"action\":\"join\",\"data\":{\"channelID\":\"a b\"}}
recv_json $e
send {\"action\":\"join\",\"data\":{\"channelID\":\"../etc\"}}
recv_json $e
send {\"action\":\"join\",\"data\":{\"channelID\":\"caf\\u00e9\"}}
recv_json $e
"


=== TEST 5: join with data of the wrong types
--- config
location /ws { calls_signaling; }
--- ws
open /ws
send {"action":"join"}
recv_json {"event":"error","data":{"message":"join: \"data\" must be an object"}}
send {"action":"join","data":"room"}
recv_json {"event":"error","data":{"message":"join: \"data\" must be an object"}}
send {"action":"join","data":{}}
recv_json {"event":"error","data":{"message":"join: \"data.channelID\" must be a string"}}
send {"action":"join","data":{"channelID":7}}
recv_json {"event":"error","data":{"message":"join: \"data.channelID\" must be a string"}}
send {"action":"join","data":{"channelID":"r","av1Support":"yes"}}
recv_json {"event":"error","data":{"message":"join: \"data.av1Support\" must be a boolean"}}
send {"action":"join","data":{"channelID":"r","dcSignaling":1}}
recv_json {"event":"error","data":{"message":"join: \"data.dcSignaling\" must be a boolean"}}


=== TEST 6: sdp, ice, mute, unmute and leave before join
--- config
location /ws { calls_signaling; }
--- ws
open /ws
send {"action":"sdp","data":"{\"type\":\"offer\",\"sdp\":\"v=0\"}"}
recv_json {"event":"error","data":{"message":"sdp: not in a call"}}
send {"action":"ice","data":"{}"}
recv_json {"event":"error","data":{"message":"ice: not in a call"}}
send {"action":"mute"}
recv_json {"event":"error","data":{"message":"mute: not in a call"}}
send {"action":"unmute"}
recv_json {"event":"error","data":{"message":"unmute: not in a call"}}
send {"action":"leave"}
recv_json {"event":"error","data":{"message":"leave: not in a call"}}


=== TEST 7: join answers with the ids; a second join is refused
--- stream_config eval
$main::MEDIA
--- config
location /ws { calls_signaling; }
--- ws
open /ws
send {"action":"join","data":{"channelID":"room-1","av1Support":true,"dcSignaling":false}}
recv_json {"event":"join","data":{"session_id":"$s","call_id":"$c","ice_servers":[]}}
send {"action":"join","data":{"channelID":"room-1"}}
recv_json {"event":"error","data":{"message":"join: already in a call"}}
send {"action":"sdp","data":5}
recv_json {"event":"error","data":{"message":"sdp: \"data\" must be a non-empty string"}}
send {"action":"ice","data":""}
recv_json {"event":"error","data":{"message":"ice: \"data\" must be a non-empty string"}}
send {"action":"sdp","data":"{\"type\":\"offer\",\"sdp\":\"not an sdp\"}"}
recv_json {"event":"error","data":{"message":"~."}}
send {"action":"leave"}
send {"action":"join","data":{"channelID":"room-1"}}
recv_json {"event":"join","data":{"session_id":"~.","call_id":"~.","ice_servers":[]}}
--- error_log_like
session "\S+" joined call "\S+" \(channel "room-1"\)


=== TEST 8: two participants: joined, unmuted, muted, left
--- stream_config eval
$main::MEDIA
--- config
location /ws { calls_signaling; }
--- ws
@a open /ws
@a send {"action":"join","data":{"channelID":"meet"}}
@a recv_json {"event":"join","data":{"session_id":"$a","call_id":"$call","ice_servers":[]}}
@a send {"action":"unmute"}
@b open /ws
@b send {"action":"join","data":{"channelID":"meet"}}
@b recv_json {"event":"join","data":{"session_id":"$b","call_id":"$call","ice_servers":[]}}
@b recv_json {"event":"user_joined","data":{"session_id":"$a"}}
@b recv_json {"event":"user_unmuted","data":{"session_id":"$a"}}
@a recv_json {"event":"user_joined","data":{"session_id":"$b"}}
@b send {"action":"unmute"}
@a recv_json {"event":"user_unmuted","data":{"session_id":"$b"}}
@b send {"action":"mute"}
@a recv_json {"event":"user_muted","data":{"session_id":"$b"}}
@a send {"action":"leave"}
@b recv_json {"event":"user_left","data":{"session_id":"$a"}}
@a recv_none 0.3
@b recv_none 0.3


=== TEST 9: a participant whose WebSocket closes leaves the call
--- stream_config eval
$main::MEDIA
--- config
location /ws { calls_signaling; }
--- ws
@a open /ws
@a send {"action":"join","data":{"channelID":"drop"}}
@a recv_json {"event":"join","data":{"session_id":"$a","call_id":"$call","ice_servers":[]}}
@b open /ws
@b send {"action":"join","data":{"channelID":"drop"}}
@b recv_json {"event":"join","data":{"session_id":"$b","call_id":"$call","ice_servers":[]}}
@b recv_json {"event":"user_joined","data":{"session_id":"$a"}}
@a recv_json {"event":"user_joined","data":{"session_id":"$b"}}
@b send_close 1000
@b recv_close 1000
@a recv_json {"event":"user_left","data":{"session_id":"$b"}}
@c open /ws
@c send {"action":"join","data":{"channelID":"drop"}}
@c recv_json {"event":"join","data":{"session_id":"$c","call_id":"$call","ice_servers":[]}}
@c recv_json {"event":"user_joined","data":{"session_id":"$a"}}
@a recv_json {"event":"user_joined","data":{"session_id":"$c"}}
@c close
@a recv_json {"event":"user_left","data":{"session_id":"$c"}}
--- error_log_like
session "\S+" leaves: connection closed


=== TEST 10: rooms are separate
--- stream_config eval
$main::MEDIA
--- config
location /ws { calls_signaling; }
--- ws
@a open /ws
@a send {"action":"join","data":{"channelID":"left-room"}}
@a recv_json {"event":"join","data":{"session_id":"$a","call_id":"$ca","ice_servers":[]}}
@b open /ws
@b send {"action":"join","data":{"channelID":"right-room"}}
@b recv_json {"event":"join","data":{"session_id":"$b","call_id":"~.","ice_servers":[]}}
@b send {"action":"unmute"}
@a recv_none 0.5
@b recv_none 0.2
