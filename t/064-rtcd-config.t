# The configuration of RTCD mode: what nginx refuses and why, rtcd's ICE
# settings (EXT/INT pairs, the localIP/port map, STUN discovery from
# calls_ice_servers), and the shipped conf/rtcd.conf and
# conf/mattermost.conf, run as they are with only addresses and paths
# changed.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Socket qw(inet_aton);
use Time::HiRes qw(sleep time);

use Test::Calls;
use Test::Calls::Peers;
use Test::Calls::Stun;
use Test::More;

my $t = nginx();

# refusals ---------------------------------------------------------------

sub refused {
    my ($what, $re, %s) = @_;

    $t->stop if $t->running;

    my $why = $t->start($t->make_config(%s));

    ok(defined $why, "$what: nginx refuses to start");
    like(($why // '') . $t->stderr_log, $re, "$what: the message says why");
}

my %rtcd = rtcd_config(media => 0);

refused('calls_rtcd without a store',
        qr/"calls_rtcd" needs "calls_rtcd_store"/,
        http_config => "server { listen 127.0.0.1:\$TEST_NGINX_RTCD_PORT; "
                       . "location / { calls_rtcd; } }");

refused('an empty admin secret', qr/"calls_rtcd_admin_secret" directive must not be empty/,
        http_config => "calls_rtcd_admin_secret \"\";\n"
                       . $rtcd{http_config});

refused('a token expiry of 0', qr/"calls_rtcd_token_expiry" must be between/,
        http_config => "calls_rtcd_token_expiry 0;\n" . $rtcd{http_config});

refused('a hash rate of 0', qr/"calls_rtcd_auth_rate" must be between 1/,
        http_config => "calls_rtcd_auth_rate 0;\n" . $rtcd{http_config});

refused('a cap of 0 tokens', qr/value must be between 1 and 1000000/,
        http_config => "calls_rtcd_max_tokens 0;\n" . $rtcd{http_config});

refused('an unknown thread pool', qr/unknown thread pool "nope"/,
        http_config => "calls_rtcd_thread_pool nope;\n"
                       . $rtcd{http_config});

refused('calls_rtcd beside proxy_pass',
        qr/"calls_rtcd" conflicts with another content handler/,
        config => 'location /x { proxy_pass http://127.0.0.1:1; calls_rtcd; }',
        http_config => 'calls_rtcd_store $TEST_NGINX_SERVER_ROOT/db;');

refused('calls_rtcd_store in a server',
        qr/"calls_rtcd_store" directive is not allowed here/,
        config => 'calls_rtcd_store /tmp/x;');

my $media = <<'END';
    server {
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp reuseport;
        calls_media;
        %EXTRA%
    }
END

sub media { my ($extra) = @_; return $media =~ s/%EXTRA%/$extra \/\/ ''/er }

refused('a pair that is not two addresses',
        qr/calls_ice_host_override "203.0.113.5\/nope": "203.0.113.5\/nope" is not a pair of IP addresses/,
        stream_config => media('calls_ice_host_override 203.0.113.5/nope;'));

refused('a port map with a local address twice',
        qr/duplicate mapping found for 10.0.0.1/,
        stream_config => media('calls_ice_host_port_override '
                               . '10.0.0.1/4000,10.0.0.1/4001;'));

refused('a port map with a port twice', qr/duplicate port found for 4000/,
        stream_config => media('calls_ice_host_port_override '
                               . '10.0.0.1/4000,10.0.0.2/4000;'));

refused('a port map entry without a port',
        qr/"10.0.0.1" is not a port nor a localIP\/port pair/,
        stream_config => media('calls_ice_host_port_override 10.0.0.1;'));

refused('an ICE server that is neither STUN nor TURN',
        qr/calls_ice_servers "http:\/\/x": URL is not a valid STUN\/TURN/,
        stream_config => media('calls_ice_servers stun:127.0.0.1 http://x;'));

refused('a NACK buffer that is not a power of two',
        qr/"calls_nack_buffer_size" must be 0 \(the default, 256\) or a power of two/,
        stream_config => media('calls_nack_buffer_size 100;'));

refused('a TURN credential of a week', qr/"calls_turn_credentials_expiration" must be/,
        stream_config => media('calls_turn_credentials_expiration 7d;'));

$t->stop if $t->running;

# rtcd's ICE settings ----------------------------------------------------

sub candidates {
    my ($stream, $what, $re, %more) = @_;

    my $from = $t->log_size;
    my $why = $t->start($t->make_config(stream_config => media($stream),
                                        %more));
    ok(!defined $why, "$what: nginx starts") or diag($why);
    ok(wait_for_log($re, 3, $from), "$what: the candidate")
        or diag($t->error_log($from));
    my $log = $t->error_log($from);
    $t->stop;
    return $log;
}

candidates('calls_ice_host_override 203.0.113.5/127.0.0.1;',
           'an EXT/INT pair',
           qr/calls: ICE candidate udp 203\.0\.113\.5:$t->{ports}{MEDIA_PORT}\b/);

my $log = candidates('calls_ice_host_override 203.0.113.5/10.1.1.1;',
                     'a pair for another address',
                     qr/calls: ICE candidate udp 127\.0\.0\.1:$t->{ports}{MEDIA_PORT}\b/);
unlike($log, qr/203\.0\.113\.5/, 'the unmatched pair is not advertised');

candidates("calls_ice_host_override 203.0.113.5/127.0.0.1;\n"
           . 'calls_ice_host_port_override 10.9.9.9/4001,127.0.0.1/4000;',
           'the localIP/port map', qr/calls: ICE candidate udp 203\.0\.113\.5:4000\b/);

# STUN discovery, from a STUN server of ours that says 198.51.100.77

my ($stun, $stun_port) = stun_server('198.51.100.77', 41000);

$log = candidates("calls_ice_servers stun:127.0.0.1:$stun_port;\n"
                  . "calls_ice_servers turn:turn.example.com:3478;\n"
                  . 'calls_ice_host_port_override 3478;',
                  'STUN discovery',
                  qr/calls: ICE candidate udp 198\.51\.100\.77:3478\b/);
like($log, qr/calls: STUN discovery: 127\.0\.0\.1 is 198\.51\.100\.77 to "stun:127\.0\.0\.1:$stun_port"/,
     'STUN discovery: logged');
like($log, qr/calls_ice_servers "turn:turn\.example\.com:3478": a TURN server without "username=" and "credential=" needs "calls_turn_static_auth_secret" for TURN REST credentials; it is not used/,
     'a TURN server without credentials nor secret is said to be unused');

kill 'TERM', $stun;
waitpid($stun, 0);

# nobody at that port: the ICMP refusal ends it at once

my $t0 = time;
$log = candidates("calls_ice_servers stun:127.0.0.1:$stun_port;",
                  'STUN discovery without a server',
                  qr/calls: ICE candidate udp 127\.0\.0\.1:$t->{ports}{MEDIA_PORT}\b/);
like($log, qr/STUN discovery from 127\.0\.0\.1 by "stun:127\.0\.0\.1:$stun_port" failed: the STUN server refused/,
     'the failure is logged');
cmp_ok(time - $t0, '<', 4, 'and costs no waiting');

# the shipped configurations ---------------------------------------------

my $dir = $t->dir;

system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       . "-days 30 -subj /CN=localhost -keyout $dir/tls.key "
       . "-out $dir/tls.crt >/dev/null 2>&1") == 0 or die "openssl failed";

sub shipped {
    my ($name, %port) = @_;

    my $text = slurp(repo_dir() . "/conf/$name");
    my $modules = join '', map { "load_module $_;\n" }
                  Test::Calls::Nginx::modules();

    $text =~ s/^load_module .*\n//mg;
    $text = $modules . $text;
    $text =~ s/^error_log .*$/error_log $dir\/error.log info;/m;
    $text =~ s/^pid .*$/pid $dir\/nginx.pid;/m;
    $text =~ s/listen(\s+)8443 udp/listen${1}127.0.0.1:$t->{ports}{MEDIA_PORT} udp/;
    $text =~ s/listen(\s+)8443 reuseport/listen${1}127.0.0.1:$t->{ports}{MEDIA_PORT} reuseport/;
    $text =~ s/listen(\s+)(\d+)(?=[\s;])/"listen${1}127.0.0.1:" . ($port{$2} \/\/ die "port $2")/ge;
    $text =~ s/127\.0\.0\.1:8065/127.0.0.1:$port{8065}/ if $port{8065};
    $text =~ s{tls/mattermost\.(crt|key)}{$dir/tls.$1}g;
    $text =~ s/calls_rtcd_store\s+rtcd_db/calls_rtcd_store  $dir\/shipped_db/;

    return $text;
}

my %p = map { $_ => $t->{ports}{$_} } keys %{ $t->{ports} };

# conf/rtcd.conf: the API and the media, self-registration on

my $from = $t->log_size;
my $why = $t->start(shipped('rtcd.conf', 8045 => $p{HTTP_PORT}));
ok(!defined $why, 'conf/rtcd.conf runs') or diag($why);

my $v = http_request(uri => '/version');
is($v->{status}, 200, 'conf/rtcd.conf: /version');

my $reg = http_request(method => 'POST', uri => '/register',
                       body => '{"clientID":"shipped","authKey":"'
                               . ('s' x 32) . '"}');
is($reg->{status}, 201, 'conf/rtcd.conf: self-registration is on');
ok(-d "$dir/shipped_db", 'conf/rtcd.conf: the store');
ok(wait_for_log(qr/calls: ICE candidate udp 127\.0\.0\.1:$p{MEDIA_PORT}/, 3,
                $from), 'conf/rtcd.conf: the media port');
ok(wait_for_log(qr/calls: ICE candidate tcp 127\.0\.0\.1:$p{MEDIA_PORT}/, 3,
                $from), 'conf/rtcd.conf: ICE-TCP on the media port');
$t->stop;

# conf/mattermost.conf: the same, and the TLS proxy with the WebSocket

my $up = fork() // die "fork: $!";
if ($up == 0) {
    open STDOUT, '>', '/dev/null';
    exec '/usr/bin/python3', repo_dir() . '/t/peers/fake_mattermost.py',
         'serve', $p{HTTP_PORT2};
    die "exec: $!";
}

wait_port($p{HTTP_PORT2});

$why = $t->start(shipped('mattermost.conf', 8045 => $p{RTCD_PORT},
                         80 => $p{HTTP_PORT}, 443 => $p{TLS_PORT},
                         8065 => $p{HTTP_PORT2}));
ok(!defined $why, 'conf/mattermost.conf runs') or diag($why);

my $redirect = http_request(uri => '/x', headers => ['Host: mm.example.com']);
is($redirect->{status}, 301, 'conf/mattermost.conf: port 80 redirects');
is($redirect->{headers}{location}, 'https://mm.example.com/x',
   'conf/mattermost.conf: to https');

my $out = `/usr/bin/python3 ${\ repo_dir()}/t/peers/fake_mattermost.py check https://127.0.0.1:$p{TLS_PORT}`;
my $c = eval { decode_json($out) } // {};

is($c->{ping}{status}, 200, 'conf/mattermost.conf: Mattermost behind TLS')
    or diag($out);
is($c->{ping}{body}{headers}{'x-forwarded-proto'}, 'https',
   'conf/mattermost.conf: X-Forwarded-Proto');
is($c->{ping}{body}{headers}{host}, 'mm.example.com',
   'conf/mattermost.conf: the Host');
is($c->{ws_hello}{path}, '/api/v4/websocket',
   'conf/mattermost.conf: the Mattermost WebSocket goes through')
    or diag($out);
is($c->{ws_echo}, 'echo me', 'conf/mattermost.conf: both ways');

is(http_request(port => $p{RTCD_PORT}, uri => '/version')->{status}, 200,
   'conf/mattermost.conf: the RTCD API');

$t->stop;
kill 'TERM', $up;
waitpid($up, 0);

done_testing();


# a STUN server on a free port that answers every Binding request with
# $ip:$mapped; returns its pid and port
sub stun_server {
    my ($ip, $mapped) = @_;

    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1:0',
                                  Proto => 'udp')
        or die "STUN server: $!";

    my $pid = fork() // die "fork: $!";
    return ($pid, $s->sockport) if $pid;

    for (;;) {
        my $from = $s->recv(my $buf, 2048) // next;
        next if length $buf < 20;

        my $tid = substr($buf, 8, 12);
        my $cookie = 0x2112a442;
        my $xaddr = pack('CCn', 0, 1, $mapped ^ ($cookie >> 16))
                    . pack('N', unpack('N', inet_aton($ip)) ^ $cookie);
        my $body = Test::Calls::Stun::attr(0x0020, $xaddr);

        $s->send(pack('nnN', 0x0101, length $body, $cookie) . $tid . $body,
                 0, $from);
    }
}

sub wait_port {
    my ($port) = @_;
    my $deadline = time + 10;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Proto => 'tcp');
        return 1 if $s;
        sleep 0.05;
    }
    die "nothing on port $port";
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    return <$fh>;
}
