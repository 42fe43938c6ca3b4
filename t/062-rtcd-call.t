# A whole call through the RTCD API, as an unmodified Calls plugin drives
# rtcd: t/peers/rtcd_plugin.py plays the plugin (registration, the
# msgpack WebSocket) for aiortc participants.  They hear each other, mute
# stops a voice and unmute brings it back, screen sharing messages reach
# the session, the plugin's connection drops and its sessions follow the
# new one (a participant who joins after that is heard by all), every
# leave gets its close; then /metrics, read by Prometheus' own parser,
# has rtcd's families with what the call did.

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::More;

my $KEY = 'Ey4-H_BJA00_TVByPi8DozE12ekN3S7A';

my $t = start_rtcd_nginx();
my $port = $t->port('rtcd');

my $r = rtcd_plugin('call', "http://mmclient:$KEY\@127.0.0.1:$port");
is($r->{exit}, 0, 'the plugin emulator ran')
    or diag(($r->{facts}{error} // '') . "\n" . $r->{stderr});

my $f = $r->{facts} // {};
my $p = $r->{peers} // {};
my %sid = %{ $f->{session_ids} // {} };

# registration as the plugin does it: the WebSocket first, then /register

is($f->{registered}{refused}, 401, 'an unknown client is refused');
is($f->{registered}{status}, 201, 'then registers itself');

ok(defined $f->{audio_both_ways_s}, 'the first two hear each other');

# the routes the plugin uses to tell whether a call is over

is($f->{sessions}{status}, 200, 'sessions of the call');
is_deeply([sort map { $_->{SessionID} } @{ $f->{sessions}{json} // [] }],
          [sort @sid{qw(p0 p1)}], 'sessions: both');
is($f->{session_p0}{json}{UserID}, $p->{p0}{user_id}, 'one session');
is($f->{session_unknown}{status}, 404, 'an unknown session: 404');
is(scalar @{ $f->{sessions_three}{json} // [] }, 3, 'three, later');
is($f->{sessions_after}{status}, 404, 'none after the call');
is($f->{sessions_after}{body},
   "failed to get session configs: group not found\n",
   "rtcd's reason: the group went with its last call");

# mute stops forwarding, unmute resumes it

cmp_ok($f->{mute}{frames_while_muted} // 99, '<=', 5,
       "muted: nothing of p0 reaches p1 ($f->{mute}{frames_while_muted})");
cmp_ok($f->{mute}{frames_after_unmute} // 0, '>', 50,
       "unmuted: p0 is heard again ($f->{mute}{frames_after_unmute})");

# screen on/off reach p0's session: one sharer per call, so while p0
# shares p1's screen_on is refused, and after p0's screen_off p1's is
# taken and p0's refused (the plugin gets nothing back; nginx logs why)

my %screen_refused = (
    p1 => qr/session "\Q$sid{p1}\E": screen_on refused: session \Q$sid{p0}\E is sharing its screen already/,
    p0 => qr/session "\Q$sid{p0}\E": screen_on refused: session \Q$sid{p1}\E is sharing its screen already/,
);

ok(wait_for_log($screen_refused{p1}),
   "screen on reaches p0's session (p1's is refused while p0 shares)");
ok(wait_for_log($screen_refused{p0}),
   "screen off reaches p0's session (then p1 shares and p0 is refused)");

# nothing else the participants sent was refused (their ICE messages)

my @refused = grep { $_ !~ $screen_refused{p0} && $_ !~ $screen_refused{p1} }
              $t->error_log =~ /^.*calls rtcd: session "\w+": .*$/mg;
is_deeply(\@refused, [], 'the engine refused nothing else');

# the plugin's connection went and came back; p2 joined after that

ok(defined $f->{third_heard_s}, 'all hear the one who joined after the '
                                . 'plugin reconnected');

my %hz = (p0 => 440, p1 => 660, p2 => 880);

for my $me (qw(p0 p1 p2)) {
    my $m = $p->{$me} // {};

    is($m->{connection_state}, 'connected', "$me: connected");
    is_deeply($m->{errors}, [], "$me: no protocol errors");
    is_deeply($m->{field_errors}, [], "$me: rtc messages name its group, "
                                      . 'user, session and call');

    for my $other (grep { $_ ne $me } qw(p0 p1 p2)) {
        my ($s) = grep { ($_->{stream_id} // '') eq ($sid{$other} // '-') }
                  @{ $m->{streams} // [] };

        ok($s, "$me receives $other");
        like($s->{track_id} // '', qr/^voice_\Q$sid{$other}\E_\w{8}$/,
             "$me: track id of $other");
        cmp_ok(abs(($s->{dominant_hz} // 0) - $hz{$other}), '<', 15,
               "$me hears $hz{$other} Hz from $other");
    }

    ok(defined $m->{closed_at}, "$me: close after its leave");
    cmp_ok($m->{trickled} // 0, '>', 0,
           "$me: its candidates went as ICE messages ($m->{trickled})");
    cmp_ok($m->{signaling}{candidates_received} // 0, '>', 0,
           "$me: the server's came as ICE messages");
}

# routing: before the drop p0 and p1 got their signaling on node1, after
# it on the new connection

for my $me (qw(p0 p1)) {
    cmp_ok($p->{$me}{by_conn}{'node1:rtc'} // 0, '>', 0,
           "$me: signaling on the first connection");
    cmp_ok($p->{$me}{by_conn}{'node1-again:rtc'} // 0, '>', 0,
           "$me: and on the new one after the drop");
    is($p->{$me}{by_conn}{'node1-again:close'}, 1,
       "$me: its close on the new one");
}

is_deeply($r->{unrouted}, [], 'nothing for sessions the plugin does not '
                              . 'know');

# voice activity: vad messages (rtc.Message type 7/8, no data) for the
# speaker in bursts, on the connection that carries its session

cmp_ok(scalar @{ $p->{p0}{vad} // [] }, '>', 0,
       'vad for the speaker in bursts');

# /metrics: Prometheus' parser reads it; rtcd's families say what happened

my $m = prom_metrics(http_request(port => $port, uri => '/metrics')->{body});
ok(!$m->{error}, 'the Prometheus text parser reads /metrics')
    or diag($m->{error});

my $fam = $m->{families} // {};

sub sample {
    my ($family, $name, %labels) = @_;
    for my $s (@{ $fam->{$family}{samples} // [] }) {
        next unless $s->[0] eq $name;
        next if grep { ($s->[1]{$_} // '') ne $labels{$_} } keys %labels;
        return $s->[2];
    }
    return undef;
}

is($fam->{rtcd_rtc_sessions_total}{type}, 'gauge', 'sessions: a gauge');
is(sample('rtcd_rtc_sessions_total', 'rtcd_rtc_sessions_total',
          groupID => 'mmclient'), 0, 'sessions: none left');
is(sample('rtcd_rtc_conn_states', 'rtcd_rtc_conn_states_total',
          type => 'connected'), 3, 'conn states: 3 connected');
is(sample('rtcd_rtc_conn_states', 'rtcd_rtc_conn_states_total',
          type => 'closed'), 3, 'conn states: 3 closed');
cmp_ok(sample('rtcd_rtc_errors', 'rtcd_rtc_errors_total',
              groupID => 'mmclient', type => 'signaling') // 0, '>=', 2,
       'errors: the refused screen messages');

for my $h (qw(rtcd_rtc_connection_time rtcd_rtc_dc_open_time)) {
    is($fam->{$h}{type}, 'histogram', "$h: a histogram");
    is(sample($h, "${h}_count", groupID => 'mmclient'), 3, "$h: 3 sessions");
    is(sample($h, "${h}_bucket", groupID => 'mmclient', le => '+Inf'), 3,
       "$h: +Inf bucket");
}

for my $h (qw(rtcd_rtc_client_loss_rate rtcd_rtc_client_rtt
              rtcd_rtc_client_jitter))
{
    cmp_ok(sample($h, "${h}_count", groupID => 'mmclient') // 0, '>', 3,
           "$h: the clients' reports");
}

is(sample('rtcd_rtc_client_rtt', 'rtcd_rtc_client_rtt_bucket',
          groupID => 'mmclient', le => '0.01'), 0,
   'rtt: nothing at or under 10 ms (the clients say 15 ms)');
is(sample('rtcd_rtc_client_rtt', 'rtcd_rtc_client_rtt_bucket',
          groupID => 'mmclient', le => '0.025'),
   sample('rtcd_rtc_client_rtt', 'rtcd_rtc_client_rtt_count',
          groupID => 'mmclient'), 'rtt: all under 25 ms');

is(sample('rtcd_rtc_rtp_tracks_total', 'rtcd_rtc_rtp_tracks_total',
          groupID => 'mmclient', direction => 'in', type => 'audio/opus'),
   0, 'tracks in: none left');

is(sample('rtcd_ws_connections_total', 'rtcd_ws_connections_total',
          clientID => 'mmclient'), 0, 'ws connections: none left');
cmp_ok(sample('rtcd_ws_messages', 'rtcd_ws_messages_total',
              clientID => 'mmclient', type => 'join', direction => 'in'),
       '==', 3, 'ws messages: 3 joins in');
cmp_ok(sample('rtcd_ws_messages', 'rtcd_ws_messages_total',
              clientID => 'mmclient', type => 'rtc', direction => 'out')
       // 0, '>', 10, 'ws messages: rtc out');

for my $pm (qw(rtcd_process_cpu_seconds rtcd_process_open_fds
               rtcd_process_max_fds rtcd_process_resident_memory_bytes
               rtcd_process_virtual_memory_bytes
               rtcd_process_start_time_seconds))
{
    ok($fam->{$pm}, "process: $pm");
}

cmp_ok(sample('ngx_calls_packets', 'ngx_calls_packets_total',
              direction => 'rx') // 0, '>', 500, 'ngx_calls: packets in');
cmp_ok(sample('ngx_calls_bytes', 'ngx_calls_bytes_total',
              direction => 'tx') // 0, '>', 50000, 'ngx_calls: bytes out');
ok(defined sample('ngx_calls_drops', 'ngx_calls_drops_total',
                  reason => 'srtp_auth'), 'ngx_calls: drops by reason');
is(sample('ngx_calls_worker_sessions', 'ngx_calls_worker_sessions',
          worker => '0'), 0, 'ngx_calls: the worker\'s sessions');

stop_nginx();
done_testing();
