# ICE-TCP on the media port, frame by frame (RFC 6544 passive, RFC 4571
# framing: a 2-byte length before each packet): the TCP candidate and its
# priority, a check answered on the connection and DTLS following on it,
# frames split across writes and several in one, the selected path moving
# to UDP when the connection goes, and bad input, each closing its own
# connection only and counted: a frame of length 0 or too long, a first
# frame that is not STUN, a STUN request for an unknown ufrag or with a
# wrong password, a connection that sends nothing, one that trickles
# bytes (slowloris), and the end of the session.  Graceful shutdown closes
# the connections it holds.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Socket qw(SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(sleep time);

use Test::Calls;
use Test::Calls::Peers;
use Test::Calls::Stun;
use Test::More;

my $factor = Test::Calls::Nginx::time_factor();

# writes to a connection the server closed must not end the test
$SIG{PIPE} = 'IGNORE';

my $t = start_call_nginx(stream_config => <<'END');
    server {
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp reuseport;
        # a small socket buffer, for the peer that does not read
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT sndbuf=16k;
        calls_media;
    }
END

my $port = $t->port('media');

ok(wait_for_log(qr/calls: ICE candidate tcp 127\.0\.0\.1:\Q$port\E\b/),
   'the TCP listen is an ICE candidate');


# a session to check, as the browser does

my ($ws, $ufrag, $pwd, @cands) = probe_session('tcp-probe');
ok($ufrag && $pwd, 'the offer is answered with ICE credentials');

my ($udp_cand) = grep { / udp / } @cands;
my ($tcp_cand) = grep { / tcp / } @cands;
like($tcp_cand // '',
     qr/^candidate:\d+ 1 tcp \d+ 127\.0\.0\.1 \Q$port\E typ host tcptype passive$/,
     'a passive TCP host candidate is trickled');
my ($up) = ($udp_cand // '') =~ /^candidate:\S+ 1 udp (\d+)/;
my ($tp) = ($tcp_cand // '') =~ /^candidate:\S+ 1 tcp (\d+)/;
ok($up && $tp && $tp < $up, "TCP's priority is below UDP's ($tp < $up)");
is($tp && ($tp >> 8) & 0xffff, (4 << 13) + 8191 - 1,
   'its local preference is RFC 6544\'s for passive (direction 4)');


# a check on a connection: answered on it, then DTLS comes on it

my $before = metrics();

my $c = tcp();
frame($c, stun_request(username => "$ufrag:cliU", password => $pwd,
                       use_candidate => 1));
my $r = read_frame($c, 3);
my $m = $r && stun_parse($r);
ok($m && $m->{class} == 2, 'a check over TCP gets a success response');
ok($r && stun_check_integrity($r, $pwd), 'it verifies with our password');
is_deeply($m && $m->{xor_addr}, ['127.0.0.1', $c->sockport],
          'XOR-MAPPED-ADDRESS is the connection\'s address');

my $hello = read_frame($c, 3, qr/^\x16/);
ok($hello, 'the DTLS ClientHello follows, framed on the connection');

my $now = metrics();
is($now->{open}, $before->{open} + 1, 'one TCP connection open');
is($now->{accepted}, $before->{accepted} + 1, 'one accepted');

# split across writes, and two in one write

my $check = frame_bytes(stun_request(username => "$ufrag:cliU",
                                     password => $pwd));
syswrite($c, substr($check, 0, 1));
sleep 0.1;
syswrite($c, substr($check, 1, 10));
sleep 0.1;
syswrite($c, substr($check, 11));
ok(read_frame($c, 3, qr/^\x01\x01/), 'a frame in three writes is answered');

syswrite($c, $check . frame_bytes(stun_request(username => "$ufrag:cliU",
                                               password => $pwd)));
ok(read_frame($c, 3, qr/^\x01\x01/) && read_frame($c, 3, qr/^\x01\x01/),
   'two frames in one write are both answered');

# a peer that does not read: what the socket does not take waits (64 KB
# at most), more is dropped and counted, never a part of a frame; the
# connection lives on and what waited arrives whole

my $lazy = IO::Socket::INET->new(Proto => 'tcp') or die "tcp: $!";
setsockopt($lazy, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
$lazy->connect(pack_sockaddr_in($port, inet_aton('127.0.0.1')))
    or die "connect: $!";

my $n = 20000;
my $lb = metrics();
my $req = frame_bytes(stun_request(username => "$ufrag:cliU",
                                   password => $pwd));
syswrite($lazy, $req x 500) for 1 .. $n / 500;

ok(wait_for(sub { my $m = metrics();
                  $m->{answered} + $m->{drops}{send_failed}
                  >= $lb->{answered} + $lb->{drops}{send_failed} + $n },
             10),
   "$n checks on a connection that does not read: all handled");
$now = metrics();
my $dropped = $now->{drops}{send_failed} - $lb->{drops}{send_failed};
ok($dropped > 0, "answers beyond the output buffer are dropped ($dropped)");

my ($frames, $bad) = (0, 0);
while (my $f = read_frame($lazy, 1)) {
    $frames++;
    $bad++ unless ($f =~ /^\x01\x01/ && stun_check_integrity($f, $pwd))
                  || $f =~ /^\x16/;
}
ok($frames > 0 && $frames <= $n - $dropped + 10 && $bad == 0,
   "what waited arrives as whole frames ($frames, $bad bad)");
frame($lazy, stun_request(username => "$ufrag:cliU", password => $pwd));
ok(read_frame($lazy, 3, qr/^\x01\x01/),
   'the connection is answered again once read');
close $lazy;

# a UDP path too, then the TCP one goes: DTLS goes on over UDP

my $udp = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                Proto => 'udp')
    or die "udp: $!";
$udp->send(stun_request(username => "$ufrag:cliU", password => $pwd));
ok(read_dgram($udp, 3, qr/^\x01\x01/), 'a check over UDP is answered too');

close $c;
ok(read_dgram($udp, 6 * $factor, qr/^\x16/),
   'with the connection gone, DTLS goes on over the UDP path');

ok(wait_for(sub { metrics()->{open} == $before->{open} }, 3),
   'no TCP connection open any more');
is(metrics()->{closed}{peer}, ($before->{closed}{peer} // 0) + 1,
   'closed by the peer: counted');
$ws->close;


# bad input: each closes its connection, counted, and nothing else changes

($ws, $ufrag, $pwd) = probe_session('tcp-bad');

my $steady = tcp();
frame($steady, stun_request(username => "$ufrag:cliU", password => $pwd,
                            use_candidate => 1));
ok(read_frame($steady, 3, qr/^\x01\x01/), 'a steady connection passed ICE');

for (
    ['a frame of length 0', "\x00\x00", 'bad_frame', 'tcp_framing',
     qr/a frame of 0 bytes/],
    ['a frame of 2049 bytes', pack('n', 2049) . ("\x00" x 2049), 'bad_frame',
     'tcp_framing', qr/a frame of 2049 bytes/],
    ['a first frame that is not STUN',
     frame_bytes("\x16\xfe\xfd\x00\x00" . ("\x01" x 60)), 'ice',
     'dtls_unverified', qr/dropped: drop_dtls_unverified/],
    ['RTP first', frame_bytes("\x80\x6f\x00\x01" . ("\x00" x 40)), 'ice',
     'unknown_path', qr/dropped: drop_unknown_path/],
    ['a STUN request for an unknown ufrag',
     frame_bytes(stun_request(username => 'nosuchufrag:cliU',
                              password => 'x' x 24)),
     'ice', 'stun_unknown_user', qr/dropped: drop_stun_unknown_user/],
    ['a STUN request with a wrong password',
     frame_bytes(stun_request(username => "$ufrag:cliU",
                              password => 'wrong' x 5)),
     'ice', 'stun_bad_integrity', qr/dropped: drop_stun_bad_integrity/],
    ['a STUN indication', frame_bytes(stun_request(type => 0x0011,
                                                   username => 'a:b')),
     'ice', 'stun_not_request', qr/dropped: drop_stun_not_request/],
)
{
    my ($what, $bytes, $reason, $drop, $log) = @$_;

    my $b = metrics();
    my $mark = $t->log_size;
    my $s = tcp();
    syswrite($s, $bytes);

    ok(eof_within($s, 3), "$what: the connection is closed");
    my $a = metrics();
    is($a->{closed}{$reason} - $b->{closed}{$reason}, 1,
       "$what: counted as closed ($reason)");
    is($a->{drops}{$drop} - $b->{drops}{$drop}, 1,
       "$what: counted as dropped ($drop)");
    ok(wait_for(sub { $t->error_log($mark) =~ /\[info\].*calls: ICE-TCP connection closed: .*$log/ }, 2),
       "$what: the cause is logged at info");
}

# nothing sent, and bytes trickling in: closed once the time to pass ICE
# is over (10 s)

my $b = metrics();
my $t0 = time;
my $silent = tcp();
my $slow = tcp();
my $slow_closed;

syswrite($slow, "\x00\x64");                     # 100 bytes to come

for my $i (0 .. 30) {
    last if $slow_closed = !syswrite($slow, 'x') || eof_within($slow, 0.5);
}

ok(eof_within($silent, 2), 'a silent connection is closed');
ok($slow_closed, 'a connection trickling bytes is closed');
my $took = time - $t0;
ok($took > 9 && $took < 14 * $factor,
   sprintf('both within the 10 s to pass ICE (%.1f s)', $took));
is(metrics()->{closed}{idle} - $b->{closed}{idle}, 2,
   'counted as closed (idle)');

# the steady connection lived through all that

frame($steady, stun_request(username => "$ufrag:cliU", password => $pwd));
ok(read_frame($steady, 3, qr/^\x01\x01/),
   'the steady connection is still answered');

# its session ends: the connection closes

$b = metrics();
$ws->send_json({action => 'leave'});
ok(eof_within($steady, 8 * $factor),
   'the session left: its connection is closed');
is(metrics()->{closed}{session} - $b->{closed}{session}, 1,
   'counted as closed (session)');
$ws->close;


# graceful shutdown with a connection open: nginx closes it

($ws, $ufrag, $pwd) = probe_session('tcp-quit');
my $last = tcp();
frame($last, stun_request(username => "$ufrag:cliU", password => $pwd,
                          use_candidate => 1));
ok(read_frame($last, 3, qr/^\x01\x01/), 'a connection open at shutdown');

my $mark = $t->log_size;
stop_nginx();
ok(eof_within($last, 1), 'shutdown closed it');
like($t->error_log($mark), qr/ICE-TCP connection closed: the worker is shutting down/,
     'the cause is logged');
unlike($t->error_log($mark), qr/open socket/, 'no socket left open');

done_testing();


sub probe_session {
    my ($room) = @_;

    my ($ws) = ws_connect('/calls/ws');
    $ws->send_json({action => 'join', data => {channelID => $room}});
    my $join = $ws->read_json;
    die "no join: " . JSON::PP->new->encode($join) unless $join->{event} eq 'join';

    $ws->send_json({action => 'sdp',
                    data => JSON::PP->new->encode({type => 'offer',
                                                   sdp => offer_sdp()})});
    my ($answer, @cands);

    while (my $m = $ws->read_json(5)) {
        next unless $m->{event} eq 'signal';
        my $s = JSON::PP->new->decode($m->{data}{data});
        $answer = $s if $s->{type} eq 'answer';
        push @cands, $s->{candidate}{candidate} if $s->{type} eq 'candidate';
        last if $answer && @cands >= 2;
    }

    my ($u) = ($answer->{sdp} // '') =~ /^a=ice-ufrag:(\S+)\r$/m;
    my ($p) = ($answer->{sdp} // '') =~ /^a=ice-pwd:(\S+)\r$/m;

    return ($ws, $u, $p, @cands);
}

sub tcp {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp')
        or die "tcp: $!";
    return $s;
}

sub frame_bytes { pack('n', length $_[0]) . $_[0] }

sub frame { syswrite($_[0], frame_bytes($_[1])) }

# the next frame (matching $re) within $secs, or undef
sub read_frame {
    my ($s, $secs, $re) = @_;

    my $deadline = time + $secs;
    ${*$s}{calls_in} //= '';
    my $in = \${*$s}{calls_in};

    for (;;) {
        while (length $$in >= 2) {
            my $len = unpack 'n', $$in;
            last if length $$in < 2 + $len;
            my $f = substr($$in, 2, $len);
            substr($$in, 0, 2 + $len) = '';
            return $f if !$re || $f =~ $re;
        }

        my $left = $deadline - time;
        return undef if $left <= 0
                        || !IO::Select->new($s)->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        return undef unless $n;
        $$in .= $buf;
    }
}

sub read_dgram {
    my ($s, $secs, $re) = @_;

    my $deadline = time + $secs;

    while ((my $left = $deadline - time) > 0) {
        last unless IO::Select->new($s)->can_read($left);
        $s->recv(my $buf, 65535);
        return $buf if $buf =~ $re;
    }

    return undef;
}

# true when the server closes the connection within $secs (what it sends
# before is read and dropped)
sub eof_within {
    my ($s, $secs) = @_;

    my $deadline = time + $secs;

    while ((my $left = $deadline - time) > 0) {
        last unless IO::Select->new($s)->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        return 1 if !defined $n || $n == 0;
    }

    return 0;
}

sub wait_for {
    my ($cond, $secs) = @_;

    my $deadline = time + $secs * $factor;

    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.1;
    }

    return $cond->();
}

sub metrics {
    my $body = http_request(uri => '/metrics')->{body};

    my %m = (
        drops => { $body =~ /^ngx_calls_drops_total\{reason="(\w+)"\} (\d+)/mg },
        closed => { $body =~ /^ngx_calls_tcp_closed_total\{reason="(\w+)"\} (\d+)/mg },
    );
    ($m{open}) = $body =~ /^ngx_calls_tcp_connections (\d+)/m;
    ($m{accepted}) = $body =~ /^ngx_calls_tcp_accepted_total (\d+)/m;
    ($m{answered}) = $body =~ /^ngx_calls_stun_answered_total (\d+)/m;

    return \%m;
}
