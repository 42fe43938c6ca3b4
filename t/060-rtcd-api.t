# The RTCD API as the Calls plugin and an operator see it (rtcd's
# service/auth.go, session.go, system.go, version.go): routes and their
# methods, Basic, Bearer and admin authentication, registration,
# unregistration, login and token expiry, the bcrypt store in LMDB, its
# survival across a restart and its safety with several workers, and the
# rate limit of key hashing.

use strict;
use warnings;

use JSON::PP;
use MIME::Base64;
use Time::HiRes qw(sleep time);

use Test::Calls;
use Test::Calls::Peers;
use Test::More;

my $KEY = 'Ey4-H_BJA00_TVByPi8DozE12ekN3S7A';      # rtcd's sample key
my $KEY_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
my $ADMIN = 'the-admin-secret';
my $JSON = JSON::PP->new->canonical;

my $t;

sub basic { 'Authorization: Basic ' . encode_base64("$_[0]:$_[1]", '') }

sub rtcd {
    my ($method, $uri, %o) = @_;
    return http_request(port => $t->port('rtcd'), method => $method,
                        uri => $uri, %o);
}

# the JSON body of httpAudit: a flat object, with a newline
sub audit {
    my ($res, $status, $want, $what) = @_;

    is($res->{status}, $status, "$what: status $status");
    is($res->{headers}{'content-type'}, 'application/json',
       "$what: JSON");
    like($res->{body} // '', qr/\n\z/, "$what: ends in a newline");

    my $got = eval { decode_json($res->{body}) };
    is_deeply($got, $want, "$what: body")
        or diag($res->{body});
}

sub text {
    my ($res, $status, $body, $what) = @_;

    is($res->{status}, $status, "$what: status $status");
    is($res->{body}, $body, "$what: body");
    is($res->{headers}{'content-type'}, 'text/plain; charset=utf-8',
       "$what: Go's text type");
}

sub json_body { eval { decode_json($_[0]{body}) } // {} }


# self-registration off, an admin, short tokens ---------------------------

$t = start_rtcd_nginx(
    self_registration => 0,
    directives => "calls_rtcd_admin_secret $ADMIN;\n"
                  . "    calls_rtcd_token_expiry 2s;",
);

# routes and methods

my $v = rtcd(GET => '/version');
is($v->{status}, 200, '/version');
is($v->{headers}{'content-type'}, 'application/json', '/version: JSON');
my $vj = json_body($v);
is_deeply([sort keys %$vj],
          [qw(buildDate buildHash buildVersion goArch goOS goVersion)],
          "/version: rtcd's VersionInfo keys");
like($vj->{buildVersion} // '', qr/^v(\d+)\.(\d+)\.(\d+)$/,
     '/version: a semantic version');
my @ver = ($vj->{buildVersion} // 'v0.0.0') =~ /(\d+)/g;
ok($ver[0] >= 1 && ($ver[0] > 1 || $ver[1] >= 1),
   "/version: at least v1.1.0 (sessions route, clients' DC lock)");

my $s = rtcd(GET => '/system');
is($s->{status}, 200, '/system');
like($s->{body}, qr/^\{"cpu_load":[0-9.e+-]+\}\n\z/, '/system: cpu_load');
sleep 1.2;
my $load = json_body(rtcd(GET => '/system'))->{cpu_load} // 0;
cmp_ok($load, '>', 0, "/system: a load after a second's sample ($load)");

# /proc/stat's idle CPU-seconds per second, summed over CPUs: its inverse
# is the load rtcd reports; this machine's must be in the same range
my $idle = idle_cpus(1);
ok($load < 4 / $idle && $load > 0.25 / $idle,
   "/system: load $load near 1 / idle CPUs, " . sprintf('%.3f', 1 / $idle));

for my $r (['POST', '/version'], ['HEAD', '/version'], ['POST', '/system'],
           ['GET', '/register'], ['GET', '/unregister'], ['GET', '/login'],
           ['PUT', '/register'], ['POST', '/calls/c1/sessions'],
           ['DELETE', '/calls/c1/sessions/s1'], ['GET', '/version/'],
           ['GET', '/nope'], ['GET', '/calls/c1'], ['GET', '/calls/c1/x'],
           ['GET', '/calls/c1/sessions/'], ['GET', '/calls/c1/sessions/s/x'],
           ['GET', '/debug/pprof/heap'], ['GET', '/'])
{
    my ($m, $u) = @$r;
    my $res = rtcd($m, $u, headers => [basic('x', 'y')]);
    is($res->{status}, 404, "$m $u: 404");
    is($res->{body}, $m eq 'HEAD' ? '' : "404 page not found\n",
       "$m $u: Go's not-found body");
}

is(rtcd(POST => '/metrics')->{status}, 200, '/metrics answers any method');

# 401 on every protected route, whatever is wrong with the credentials

my @bad = (
    ['no credentials', [],
     'authentication failed: invalid auth header'],
    ['a malformed Basic header', ['Authorization: Basic !!!!'],
     'authentication failed: invalid auth header'],
    ['Basic without a colon',
     ['Authorization: Basic ' . encode_base64('nocolon', '')],
     'authentication failed: invalid auth header'],
    ['a lowercase bearer', ['Authorization: bearer abc'],
     'authentication failed: invalid auth header'],
    ['an unknown client', [basic('nobody', $KEY)],
     'authentication failed'],
    ['an empty client ID', [basic('', $KEY)],
     'authentication failed: unauthorized'],
    ['a client ID with a newline', [basic("a\nforged", $KEY)],
     'authentication failed'],
    ['an unknown token', ['Authorization: Bearer ' . ('x' x 32)],
     'authentication failed: token is invalid'],
);

for my $b (@bad) {
    my ($what, $h, $err) = @$b;

    audit(rtcd(POST => '/register', headers => $h,
               body => qq({"clientID":"c","authKey":"$KEY"})),
          401, { code => '401', error => $err }, "/register, $what");

    audit(rtcd(POST => '/unregister', headers => $h,
               body => '{"clientID":"c"}'),
          401, { code => '401', error => $err }, "/unregister, $what");

    text(rtcd(GET => '/calls/c1/sessions', headers => $h),
         401, "unauthorized\n", "/calls/c1/sessions, $what");

    text(rtcd(GET => '/calls/c1/sessions/s1', headers => $h),
         401, "unauthorized\n", "/calls/c1/sessions/s1, $what");

    my ($ws, $res) = Test::Calls::WS->connect(port => $t->port('rtcd'),
                                              path => '/ws', headers => $h);
    ok(!$ws, "/ws, $what: no WebSocket");
    is($res->{status}, 401, "/ws, $what: 401");
    is($res->{body}, "$err\n", "/ws, $what: says why");
}

unlike($t->error_log, qr/^forged/m, 'no forged log line');

# the admin registers; its ID is ignored, the secret is what counts

audit(rtcd(POST => '/register', headers => [basic('whoever', $ADMIN)],
           body => qq({"clientID":"clientA","authKey":"$KEY"})),
      201, { clientID => 'clientA', code => '201' }, 'admin registers');

audit(rtcd(POST => '/register', headers => [basic('', $ADMIN)],
           body => qq({"clientID":"clientA","authKey":"$KEY"})),
      400, { code => '400', error => 'registration failed: already '
                                     . 'registered' },
      'a second registration');

# registration errors, as rtcd words them

for my $r (
    ['', 'EOF'],
    ['   ', 'EOF'],
    ['{"clientID":"x"', 'unexpected EOF'],
    ['[1]', 'json: cannot unmarshal array into Go value of type '
            . 'map[string]string'],
    ['{"clientID":1}', 'json: cannot unmarshal number into Go value of '
                       . 'type string'],
    ['{"clientID":"short","authKey":"0123456789"}',
     'registration failed: key not long enough'],
    [qq({"authKey":"$KEY"}), 'registration failed: error: empty key'],
    [qq({"clientID":"a b","authKey":"$KEY"}),
     qr/^registration failed: client id has a character/],
    [qq({"clientID":"a:b","authKey":"$KEY"}),
     qr/^registration failed: client id has a character/],
    [qq({"clientID":"@{['x' x 65]}","authKey":"$KEY"}),
     'registration failed: client id longer than 64 bytes'],
)
{
    my ($body, $err) = @$r;
    my $res = rtcd(POST => '/register', headers => [basic('', $ADMIN)],
                   body => $body);
    is($res->{status}, 400, "register \"$body\": 400");
    my $j = json_body($res);
    is($j->{code}, '400', "register \"$body\": code");
    if (ref $err) {
        like($j->{error} // '', $err, "register \"$body\": error");
    } else {
        is($j->{error}, $err, "register \"$body\": error");
    }
}

# any registered client may register another (rtcd checks only that the
# request authenticates)

audit(rtcd(POST => '/register', headers => [basic('clientA', $KEY)],
           body => qq({"clientID":"clientB","authKey":"$KEY_B"})),
      201, { clientID => 'clientB', code => '201' },
      'a client registers another');

audit(rtcd(POST => '/register', headers => [basic('clientA', $KEY_B)],
           body => qq({"clientID":"clientC","authKey":"$KEY_B"})),
      401, { code => '401', error => 'authentication failed' },
      'a wrong key');

# the store keeps bcrypt hashes, not keys

my $db = slurp_file($t->dir . '/rtcd_db/data.mdb');
like($db, qr/\$2b\$10\$[.\/A-Za-z0-9]{53}/, 'the store holds bcrypt hashes');
ok(index($db, $KEY) < 0 && index($db, $KEY_B) < 0,
   'the store holds no key');
my @st = stat($t->dir . '/rtcd_db');
is($st[2] & 07777, 0700, 'the store directory is 0700');

# Basic auth lets the client see its calls: none yet

text(rtcd(GET => '/calls/c1/sessions', headers => [basic('clientA', $KEY)]),
     404, "failed to get session configs: group not found\n",
     'a call of nobody');
text(rtcd(GET => '/calls/c1/sessions/s1',
          headers => [basic('clientA', $KEY)]),
     404, "failed to get session config: group not found\n",
     'a session of nobody');

# the admin has no group: it cannot list sessions (rtcd answers 401)

text(rtcd(GET => '/calls/c1/sessions', headers => [basic('', $ADMIN)]),
     401, "unauthorized\n", 'the admin lists no sessions');

# login and bearer tokens

my $l = rtcd(POST => '/login',
             body => qq({"clientID":"clientA","authKey":"$KEY"}));
is($l->{status}, 200, 'login');
my $token = json_body($l)->{bearerToken} // '';
like($token, qr/^[A-Za-z0-9_-]{32}\z/, 'login: a token of 32 characters');
is(json_body($l)->{code}, '200', 'login: code');

text(rtcd(GET => '/calls/c1/sessions',
          headers => ["Authorization: Bearer $token"]),
     404, "failed to get session configs: group not found\n",
     'the token authenticates');

audit(rtcd(POST => '/login',
           body => qq({"clientID":"clientA","authKey":"$KEY_B"})),
      400, { code => '400', error => 'login failed: authentication failed' },
      'login with a wrong key');

audit(rtcd(POST => '/login',
           body => qq({"clientID":"nobody","authKey":"$KEY"})),
      400, { code => '400', error => 'login failed: authentication failed: '
                                     . 'error: not found' },
      'login of an unknown client');

audit(rtcd(POST => '/login', body => '{}'),
      400, { code => '400', error => 'login failed: authentication failed: '
                                     . 'error: empty key' },
      'login without an ID');

# one token per client: a new login ends the last

my $token2 = json_body(rtcd(POST => '/login',
                 body => qq({"clientID":"clientA","authKey":"$KEY"})))
             ->{bearerToken} // '';
isnt($token2, $token, 'a second login, another token');

text(rtcd(GET => '/calls/c1/sessions',
          headers => ["Authorization: Bearer $token"]),
     401, "unauthorized\n", 'the first token is gone');

audit(rtcd(POST => '/register', headers => ["Authorization: Bearer $token2"],
           body => qq({"clientID":"clientD","authKey":"$KEY_B"})),
      201, { clientID => 'clientD', code => '201' },
      'the second token registers');

sleep 2.2;

audit(rtcd(POST => '/register', headers => ["Authorization: Bearer $token2"],
           body => qq({"clientID":"clientE","authKey":"$KEY_B"})),
      401, { code => '401', error => 'authentication failed: session is '
                                     . 'expired' },
      'an expired token');

# unregistration: a client itself only, the admin anyone

audit(rtcd(POST => '/unregister', headers => [basic('clientB', $KEY_B)],
           body => '{"clientID":"clientA"}'),
      403, { code => '403', error => 'client id not valid' },
      'a client unregisters another');

audit(rtcd(POST => '/unregister', headers => [basic('clientB', $KEY_B)],
           body => '{}'),
      400, { code => '400', error => 'client id should not be empty' },
      'unregister without an ID');

audit(rtcd(POST => '/unregister', headers => [basic('clientB', $KEY_B)],
           body => '{"clientID":"clientB"}'),
      200, { code => '200' }, 'a client unregisters itself');

audit(rtcd(POST => '/register', headers => [basic('clientB', $KEY_B)],
           body => qq({"clientID":"clientF","authKey":"$KEY_B"})),
      401, { code => '401', error => 'authentication failed' },
      'an unregistered client is refused');

my $token3 = json_body(rtcd(POST => '/login',
                 body => qq({"clientID":"clientD","authKey":"$KEY_B"})))
             ->{bearerToken} // '';

audit(rtcd(POST => '/unregister', headers => [basic('', $ADMIN)],
           body => '{"clientID":"clientD"}'),
      200, { code => '200' }, 'the admin unregisters a client');

text(rtcd(GET => '/calls/c1/sessions',
          headers => ["Authorization: Bearer $token3"]),
     401, "unauthorized\n", "an unregistered client's token is gone");

audit(rtcd(POST => '/unregister', headers => [basic('', $ADMIN)],
           body => '{"clientID":"clientD"}'),
      400, { code => '400', error => 'unregister failed: error: not found' },
      'unregister an unknown client');

# a registration survives a restart: the plugin connects with it

stop_nginx();

$t = start_rtcd_nginx(self_registration => 0);

my ($ws, $res) = Test::Calls::WS->connect(port => $t->port('rtcd'),
                                          path => '/ws',
                                          headers => [basic('clientA', $KEY)]);
ok($ws, 'after a restart the plugin connects') or diag($res->{raw});

my $hello = $ws ? $ws->read_message : undef;
ok($hello && $hello->{opcode} == 2, 'hello: binary');
like($hello ? $hello->{payload} : '',
     qr/^\xa5hello\x82(?:\xa8clientID\xa7clientA\xa6connID\xba[ybndrfg8ejkmcpqxot1uwisza345h769]{26}|\xa6connID\xba[ybndrfg8ejkmcpqxot1uwisza345h769]{26}\xa8clientID\xa7clientA)\z/,
     'hello {clientID, connID}: type then data, concatenated msgpack');
$ws->close if $ws;

# without an admin or self-registration nobody may unregister

audit(rtcd(POST => '/unregister', headers => [basic('clientA', $KEY)],
           body => '{"clientID":"clientA"}'),
      403, { code => '403', error => 'unregister not enabled' },
      'unregister not enabled');

stop_nginx();


# the rate limit of hashing: 4 per second here, and nobody waits more
# than 10 s ------------------------------------------------------------

$t = start_rtcd_nginx(directives => 'calls_rtcd_auth_rate 4;');

audit(rtcd(POST => '/register',
           body => qq({"clientID":"limited","authKey":"$KEY"})),
      201, { clientID => 'limited', code => '201' }, 'self-registration');

sleep 0.5;

my @done = parallel(44, sub {
    "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    . "Content-Length: " . length(qq({"clientID":"limited","authKey":"$KEY_B"}))
    . "\r\n\r\n" . qq({"clientID":"limited","authKey":"$KEY_B"})
});

my @late = grep { $_->{body} =~ /rate: Wait\(n=1\) would exceed context deadline/ }
           @done;
my @checked = grep { $_->{body} =~ /"login failed: authentication failed"/ }
              @done;

is(scalar @done, 44, 'rate limit: every login answered');
ok(@late >= 2 && @late <= 4, 'rate limit: the ones past 10 s are refused ('
                             . scalar(@late) . ')');
is(scalar(@late) + scalar(@checked), 44, 'rate limit: the others checked');
cmp_ok(max(map { $_->{at} } @late), '<', 1.5,
       'rate limit: refused at once');
cmp_ok(max(map { $_->{at} } @checked), '>', 9,
       'rate limit: the checks spread over 10 s');

stop_nginx();


# several workers share the store: concurrent registrations -------------

{
    local $ENV{TEST_NGINX_WORKERS} = 4;

    $t = start_rtcd_nginx(media => 0,
                          extra => "location = /register {\n"
                                   . "    calls_rtcd;\n"
                                   . "    add_header X-Worker \$pid always;\n"
                                   . "}");

    my $i = 0;
    my @reqs = map {
        my $id = $_ < 40 ? "worker-client-$_" : 'worker-same';
        my $body = qq({"clientID":"$id","authKey":"$KEY"});
        "POST /register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body"
    } 0 .. 47;

    my @r = parallel(48, sub { $reqs[$i++] });

    my %status;
    $status{ ($_->{body} =~ /"clientID":"worker-same"/ ? 'same-' : '')
             . $_->{status} }++ for @r;

    is($status{201}, 40, 'several workers: 40 distinct registrations');
    is($status{'same-201'}, 1, 'several workers: one of 8 of one ID');
    is($status{400}, 7, 'several workers: 7 already registered');

    my %pids = map { $_->{worker} => 1 } grep { $_->{worker} } @r;
    cmp_ok(scalar keys %pids, '>', 1, 'several workers answered ('
                                      . join(' ', sort keys %pids) . ')');

    my $ok = 0;
    for my $n (0 .. 39) {
        $ok++ if rtcd(POST => '/login',
                      body => qq({"clientID":"worker-client-$n","authKey":"$KEY"})
                     )->{status} == 200;
    }
    is($ok, 40, 'several workers: every registration can log in');

    stop_nginx();
}


# the store: a file where its directory should be

$t = nginx();
$t->write_file('not-a-dir', 'x');
my $why = $t->start($t->make_config(rtcd_config(
              store => '$TEST_NGINX_SERVER_ROOT/not-a-dir', media => 0)));
like($why // '', qr/calls_rtcd_store: ".*not-a-dir" is not a directory/,
     'a store that is not a directory');
$t->stop if $t->running;

done_testing();


# ---------------------------------------------------------------------

# the sum over CPUs of idle CPU-seconds per second, over $secs
sub idle_cpus {
    my ($secs) = @_;

    my $idle = sub {
        open my $fh, '<', '/proc/stat' or return 0;
        my ($line) = <$fh>;
        my @f = split ' ', $line;
        return $f[4] / 100;
    };

    my $a = $idle->();
    my $t0 = time;
    sleep $secs;
    my $d = $idle->() - $a;
    return ($d > 0 ? $d : 0.01) / (time - $t0);
}

# sends the requests of $make->() on $n connections at once; returns
# {status, body, worker, at (seconds)} in the order they finished
sub parallel {
    my ($n, $make) = @_;

    return Test::Calls::HTTP::parallel(
        port => $t->port('rtcd'), n => $n, make => $make,
        timeout => 30 * Test::Calls::Nginx::time_factor());
}

sub max {
    my $m;
    for (@_) { $m = $_ if !defined $m || $_ > $m }
    return $m // 0;
}

sub slurp_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    return <$fh> // '';
}
