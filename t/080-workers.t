# Calls on several workers.  Two calls get a home worker each, by load;
# a client's datagrams that reach the other worker are handed to the home
# one and answered from the media port; a worker killed with SIGKILL ends
# its own call alone (its clients are told, the directory forgets it, the
# other call goes on, the room works again); bad input for ended sessions
# is dropped and counted; a reload ends calls cleanly and new ones start
# on the new workers.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Socket qw(inet_ntoa unpack_sockaddr_in);
use Test::Calls;
use Test::Calls::Peers;
use Test::Calls::Stun;
use Test::More;
use Time::HiRes qw(sleep time);

# this file is about several workers, whatever the suite runs with
local $ENV{TEST_NGINX_WORKERS} = 2
    if ($ENV{TEST_NGINX_WORKERS} // 2) < 2;

my $t = start_call_nginx(stream_config => <<'END');
    server {
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp reuseport;
        # the kernel spreads connections over the workers by address
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT reuseport;
        calls_media;
    }
END
my $url = 'ws://127.0.0.1:' . $t->port('http') . '/calls/ws';

# --- two calls, a home worker each

# Call one's signaling must not depend on the worker that is killed
# later: that worker is stopped while call one's clients connect, so the
# other one accepts them (and, a tie, becomes the call's home).

my $w0 = wait_workers(sub {
    my ($w) = @_;
    return 2 == grep { $_->{pid} && kill(0, $_->{pid}) } values %$w;
}, 5);
my ($spare) = sort { $b <=> $a } keys %$w0;
my $victim = $w0->{$spare}{pid};

ok($victim && kill('STOP', $victim), "worker $spare stopped for a while");

my %p;
$p{"one$_"} = aiortc_peer(url => $url, room => 'one', seconds => 14,
                          freq => 330 + 110 * $_)
    for 1 .. 3;

# the log, not the metrics: an HTTP request could wait for the stopped one
my $joined = 0;

for (1 .. 100) {
    my @j = $t->error_log =~ /calls signaling: session "\w+" joined call "\w+" \(channel "one"\)/g;
    $joined = @j;
    last if $joined >= 3;
    sleep 0.1;
}

kill 'CONT', $victim;
is($joined, 3, 'call one\'s clients joined while that worker was stopped');

$p{"two$_"} = aiortc_peer(url => $url, room => 'two', seconds => 14,
                          freq => 770 + 110 * $_)
    for 1 .. 2;

my $w = wait_workers(sub {
    my ($w) = @_;
    return 0 + (grep { $_->{sessions} == 3 } values %$w)
           && 0 + (grep { $_->{sessions} == 2 } values %$w);
}, 12);

is(scalar keys %$w, 2, 'two workers in the metrics');
is_deeply([sort map { $_->{calls} // 0 } values %$w], [1, 1],
          'a call on each worker');
is_deeply([sort map { $_->{sessions} // 0 } values %$w], [2, 3],
          'each call\'s sessions on its worker');
is($w->{$spare}{sessions}, 2, 'the call that came second went to the '
   . 'worker with fewer sessions');

my $home_two = $spare;

# --- SIGKILL to the worker of call two

sleep 2;
ok(kill('KILL', $victim), "SIGKILL to worker $home_two ($victim)");

my %r = map { $_ => aiortc_wait($p{$_}) } sort keys %p;

for my $n (qw(one1 one2 one3)) {
    peer_ok($r{$n}, "$n (the other worker's call)");
}

for my $n (qw(one1 one2 one3)) {
    for my $o (grep { $_ ne $n } qw(one1 one2 one3)) {
        my $s = find_stream($r{$n}, kind => 'audio',
                            stream_id => $r{$o}{session_id} // '?');
        my $c = ($s && $s->{packet_timeline}{counts}) || [];
        my ($gap, $run) = (0, 0);

        # from its first packet on: the longest silence, in 0.25 s steps
        my $first = 0;
        $first++ while $first < @$c && !$c->[$first];

        for my $n (@$c[$first .. $#$c - 2]) {
            $run = $n ? 0 : $run + 1;
            $gap = $run if $run > $gap;
        }

        ok($s && $s->{frames} > 300 && $gap <= 10,
           "$n heard $o all along (" . ($s ? $s->{frames} : 0)
           . " frames from " . $first * 0.25 . " s, longest silence "
           . $gap * 0.25 . ' s)')
            or diag('packets per 0.25 s: ' . join ',', @$c);
    }
}

for my $n (qw(two1 two2)) {
    my $r = $r{$n};
    my $why = join ' ', @{ $r->{errors} // [] };
    like($why, qr/session ended: the media worker of the call exited unexpectedly|signaling WebSocket closed before the end/,
         "$n is told its call ended") or diag(peer_summary($r, $n));
    cmp_ok($r->{elapsed_s} // 99, '<', 14 - 2,
           "$n left early, not at the end of its stay");
}

$w = wait_workers(sub {
    my ($w) = @_;
    return $w->{$home_two} && $w->{$home_two}{pid} != $victim;
}, 10);

ok($w->{$home_two} && $w->{$home_two}{pid} != $victim,
   'a new worker runs in the slot');
is($w->{$home_two}{sessions}, 0, 'the killed call\'s sessions are gone');
is($w->{$home_two}{calls}, 0, 'and its call');
ok(wait_for_log(qr/worker process $victim exited on signal 9/),
   'the master saw the worker die');

# the room of the killed call works again, on either worker
%p = ();
$p{"two$_"} = aiortc_peer(url => $url, room => 'two', seconds => 6,
                          freq => 770 + 110 * $_)
    for 1 .. 2;
%r = map { $_ => aiortc_wait($p{$_}) } sort keys %p;

for my $n (qw(two1 two2)) {
    peer_ok($r{$n}, "$n again");
}

my $s = find_stream($r{two1}, kind => 'audio',
                    stream_id => $r{two2}{session_id} // '?');
ok($s && $s->{frames} > 150, 'the room\'s new call carries audio');

# --- datagrams through both workers: 32 client addresses, one session

my $steady = aiortc_peer(url => $url, room => 'steady', seconds => 14,
                         freq => 440);
my $steady2 = aiortc_peer(url => $url, room => 'steady', seconds => 14,
                          freq => 660);
sleep 2;

my ($ws) = ws_connect('/calls/ws');
$ws->send_json({action => 'join', data => {channelID => 'probe'}});
my $join = $ws->read_json;
is($join->{event}, 'join', 'probe session joined');

$ws->send_json({action => 'sdp',
                data => JSON::PP->new->encode({type => 'offer',
                                               sdp => offer_sdp()})});

my $answer;

while (my $m = $ws->read_json(5)) {
    next unless $m->{event} eq 'signal';
    my $sig = JSON::PP->new->decode($m->{data}{data});
    if ($sig->{type} eq 'answer') {
        $answer = $sig;
        last;
    }
}

my ($ufrag) = ($answer->{sdp} // '') =~ /^a=ice-ufrag:(\S+)\r$/m;
my ($pwd) = ($answer->{sdp} // '') =~ /^a=ice-pwd:(\S+)\r$/m;
ok($ufrag && $pwd, 'the probe has ICE credentials');

my @socks = map {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                          PeerPort => $t->port('media'), Proto => 'udp')
        or die "udp: $!"
} 1 .. 32;

my $before = counters();

my $answered = 0;
my $from_media = 0;

for my $u (@socks) {
    $u->send(stun_request(username => "$ufrag:cliU", password => $pwd));
}

for my $u (@socks) {
    next unless IO::Select->new($u)->can_read(3);
    my $from = $u->recv(my $buf, 2048);
    my $m = stun_parse($buf);

    $answered++ if $m && $m->{class} == 2
                   && stun_check_integrity($buf, $pwd)
                   && $m->{xor_addr}[1] == $u->sockport;

    my ($port) = unpack_sockaddr_in($from);
    $from_media++ if $port == $t->port('media');
}

my $after = counters();

is($answered, 32, 'a check from each of 32 addresses is answered');
is($from_media, 32, 'every answer comes from the media port');
cmp_ok(delta('handed_over'), '>', 0,
       'some went through the other worker (' . delta('handed_over')
       . ' handed over)');
is(delta('drops'), 0, 'nothing dropped');

# ICE-TCP: whichever worker accepts a connection, it ends up in the
# session's worker, which answers on it

$before = counters();

my @tcp = map {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                          PeerPort => $t->port('media'), Proto => 'tcp')
        or die "tcp: $!"
} 1 .. 16;

for my $c (@tcp) {
    my $req = stun_request(username => "$ufrag:cliU", password => $pwd);
    $c->syswrite(pack('n', length $req) . $req);
}

my $tcp_ok = 0;

for my $c (@tcp) {
    my $buf = '';

    while (length $buf < 2 || length $buf < 2 + unpack('n', $buf)) {
        last unless IO::Select->new($c)->can_read(3);
        last unless $c->sysread($buf, 4096, length $buf);
    }

    next unless length $buf >= 2;
    my $m = stun_parse(substr($buf, 2, unpack('n', $buf)));
    $tcp_ok++ if $m && $m->{class} == 2
                 && $m->{xor_addr}[1] == $c->sockport;
}

$after = counters();

is($tcp_ok, 16, 'a check on each of 16 TCP connections is answered on it');
cmp_ok(delta('tcp_handed_over'), '>', 0,
       'some connections moved to the session\'s worker ('
       . delta('tcp_handed_over') . ')');
is(delta('drops'), 0, 'nothing dropped');
close $_ for @tcp;

# --- bad input for the ended session: dropped, counted, nothing else

$ws->close;
sleep 1;

# what the server sent meanwhile (its own checks of the new paths)
for my $u (@socks) {
    $u->recv(my $junk, 2048) while IO::Select->new($u)->can_read(0);
}

$before = counters();

$_->send("\x80\x6f\x00\x01" . ("\x00" x 40)) for @socks;
$_->send(stun_request(username => "$ufrag:cliU", password => $pwd))
    for @socks;

my $echo = grep { IO::Select->new($_)->can_read(0.3) } @socks;
$after = counters();

is($echo, 0, 'no answer for the ended session');
is(delta('drop_unknown_path'), 32,
   'its datagrams: drop counter unknown_path += 32');
is(delta('drop_stun_unknown_user'), 32,
   'checks naming its ufrag: drop counter stun_unknown_user += 32');
is(delta('drops'), 64, 'no other drop');

my $r1 = aiortc_wait($steady);
my $r2 = aiortc_wait($steady2);
peer_ok($r1, 'steady1');
peer_ok($r2, 'steady2');

# --- a reload: calls end cleanly, the new workers take new ones

%p = ();
$p{"re$_"} = aiortc_peer(url => $url, room => 'reload', seconds => 30,
                         freq => 440 + 220 * $_)
    for 1 .. 2;

$w = wait_workers(sub {
    my ($w) = @_;
    return (grep { $_->{sessions} == 2 } values %$w) ? 1 : 0;
}, 12);

my @old = map { $_->{pid} } values %$w;
my $hup_at = time;
ok($t->signal('HUP'), 'nginx -s reload (SIGHUP)');

%r = map { $_ => aiortc_wait($p{$_}) } sort keys %p;

for my $n (qw(re1 re2)) {
    my $why = join ' ', @{ $r{$n}{errors} // [] };
    like($why, qr/session ended: the server is shutting down|signaling WebSocket closed before the end \(1001 server shutting down\)/,
         "$n is told the server is shutting down")
        or diag(peer_summary($r{$n}, $n));
    cmp_ok(time - $hup_at, '<', 15, "$n ended soon after the reload");
}

my $gone = 0;

for (1 .. 100) {
    $gone = !grep { kill 0, $_ } @old;
    last if $gone;
    sleep 0.1;
}

ok($gone, 'the old workers exit once their calls ended');

%p = ();
$p{"new$_"} = aiortc_peer(url => $url, room => 'reload', seconds => 6,
                          freq => 440 + 220 * $_)
    for 1 .. 2;
%r = map { $_ => aiortc_wait($p{$_}) } sort keys %p;
peer_ok($r{$_}, "$_ after the reload") for qw(new1 new2);

$w = workers();
ok(!grep({ my $p = $_->{pid}; grep { $_ == $p } @old } values %$w),
   'the new workers serve the metrics');

stop_nginx(expect => [
    qr/worker process \d+ exited on signal 9/,
]);
done_testing();


# the per-worker samples of /metrics: {worker => {pid, calls, sessions}}
sub workers {
    my $res = http_request(uri => '/metrics');
    my %w;

    while ($res->{body} =~ /^ngx_calls_worker_(calls|sessions)\{worker="(\d+)",pid="(\d+)"\} (\d+)$/mg) {
        $w{$2}{$1} = $4;
        $w{$2}{pid} = $3;
    }

    return \%w;
}

sub wait_workers {
    my ($cond, $secs) = @_;

    my $deadline = time + $secs;
    my $w;

    do {
        $w = workers();
        return $w if $cond->($w);
        sleep 0.2;
    } while (time < $deadline);

    diag(explain($w));
    return $w;
}

sub counters {
    my $res = http_request(uri => '/metrics');
    my %c;

    $c{handed_over} = $1
        if $res->{body} =~ /^ngx_calls_handed_over_total (\d+)$/m;
    $c{tcp_handed_over} = $1
        if $res->{body} =~ /^ngx_calls_tcp_handed_over_total (\d+)$/m;

    while ($res->{body} =~ /^ngx_calls_drops_total\{reason="(\w+)"\} (\d+)$/mg) {
        $c{"drop_$1"} = $2;
        $c{drops} += $2;
    }

    return \%c;
}

sub delta {
    my ($k) = @_;
    return ($after->{$k} // 0) - ($before->{$k} // 0);
}
