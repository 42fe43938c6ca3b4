# The RTCD API on two workers, whatever TEST_NGINX_WORKERS says: what one
# worker does, the other sees at once.  Bearer tokens (a token from one
# worker authenticates on the other, a new login or an unregistration
# ends it everywhere, expiry, the cap on tokens), registrations in the
# store, the rate limit of key hashing (the server's, not each
# worker's), and a reload (the tokens are the cycle's, the store stays).
#
# Which worker answers is chosen, not hoped for: the API listens with
# reuseport, a socket per worker, and the tests hold a kept-alive
# connection to each worker, told apart by an X-Worker header that only
# this test's configuration adds.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use MIME::Base64;
use Time::HiRes qw(sleep time);

use Test::Calls;
use Test::More;

$ENV{TEST_NGINX_WORKERS} = 2;

my $KEY = 'Ey4-H_BJA00_TVByPi8DozE12ekN3S7A';
my $KEY_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
my $ADMIN = 'the-admin-secret';

my $t;

sub basic { 'Authorization: Basic ' . encode_base64("$_[0]:$_[1]", '') }
sub bearer { "Authorization: Bearer $_[0]" }
sub json_body { eval { decode_json($_[0]{body}) } // {} }
sub factor { Test::Calls::Nginx::time_factor() }

sub start {
    my ($directives, $self) = @_;

    $self = $self ? 'on' : 'off';

    return start_nginx(http_config => <<"END");
    calls_rtcd_store \$TEST_NGINX_SERVER_ROOT/rtcd_db;
    calls_rtcd_self_registration $self;
    calls_rtcd_admin_secret $ADMIN;
    $directives

    server {
        listen 127.0.0.1:\$TEST_NGINX_RTCD_PORT reuseport;

        location / {
            calls_rtcd;
            add_header X-Worker \$pid always;
        }
    }
END
}

# a request on a fresh connection
sub rtcd {
    my ($method, $uri, %o) = @_;
    return http_request(port => $t->port('rtcd'), method => $method,
                        uri => $uri, %o);
}

# a kept-alive connection to each worker: [{sock, pid}, {sock, pid}]
sub workers {
    my %by_pid;

    for (1 .. 200) {
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1:'
                                                     . $t->port('rtcd'),
                                         Proto => 'tcp')
            or die "connect: $!";

        my $res = Test::Calls::HTTP::request(
            sock => $sock, method => 'GET', uri => '/version',
            headers => ['Connection: keep-alive'], timeout => 5 * factor());

        my $pid = $res->{headers}{'x-worker'} // next;
        $by_pid{$pid} //= { sock => $sock, pid => $pid };

        last if keys %by_pid == 2;
    }

    my @w = map { $by_pid{$_} } sort keys %by_pid;
    is(scalar @w, 2, 'a connection to each of the two workers')
        or BAIL_OUT('no connection to each worker');

    return @w;
}

# a request on the connection to worker $w, which must answer it
sub on {
    my ($w, $method, $uri, %o) = @_;

    my $res = Test::Calls::HTTP::request(
        sock => $w->{sock}, method => $method, uri => $uri,
        headers => ['Connection: keep-alive', @{ $o{headers} // [] }],
        body => $o{body}, timeout => 5 * factor());

    die "worker $w->{pid} did not answer $method $uri: "
        . ($res->{error} // '') . "\n"
        if ($res->{headers}{'x-worker'} // '') ne $w->{pid};

    return $res;
}

sub login {
    my ($w, $id, $key) = @_;

    my $res = on($w, POST => '/login',
                 body => qq({"clientID":"$id","authKey":"$key"}));
    is($res->{status}, 200, "$id logs in on worker $w->{pid}")
        or diag($res->{body});

    return json_body($res)->{bearerToken} // '';
}

# what rtcd's authHandler said of the credentials of a client: 200, or
# its reason.  /unregister of another client authenticates first, then
# refuses (403) whoever is not the admin: nothing changes either way.
sub auth {
    my ($w, @h) = @_;

    my $res = on($w, POST => '/unregister', headers => [@h],
                 body => '{"clientID":"nobody-at-all"}');

    my $err = json_body($res)->{error} // '';

    return 200 if $res->{status} == 403 && $err eq 'client id not valid';
    return $err || "status $res->{status}";
}


# bearer tokens (without self-registration: /register authenticates)

$t = start('calls_rtcd_token_expiry 3s;');

my ($A, $B) = workers();

is(on($A, POST => '/register', headers => [basic('', $ADMIN)],
      body => qq({"clientID":"clientA","authKey":"$KEY"}))->{status},
   201, 'the admin registers clientA on worker A');

my $t1 = login($A, 'clientA', $KEY);

is(auth($B, bearer($t1)), 200, 'a token from worker A is good on B');
is(auth($A, bearer($t1)), 200, '... and on A');

my $res = on($B, POST => '/register', headers => [bearer($t1)],
             body => qq({"clientID":"clientB","authKey":"$KEY_B"}));
is($res->{status}, 201, 'worker B registers with the token of A')
    or diag($res->{body});

# one token per client, for the server: a login on B ends A's token

my $t2 = login($B, 'clientA', $KEY);

is(auth($A, bearer($t1)), 'authentication failed: token is invalid',
   'a login on B ends the token of A, on A');
is(auth($B, bearer($t1)), 'authentication failed: token is invalid',
   '... and on B');
is(auth($A, bearer($t2)), 200, "B's token is good on A");

# a token's expiry is the same for all

sleep 3.2;

is(auth($A, bearer($t2)), 'authentication failed: session is expired',
   "B's token expired, on A");

# unregistration ends the token everywhere

my $t3 = login($A, 'clientA', $KEY);
is(auth($B, bearer($t3)), 200, 'a new token of A');

$res = on($B, POST => '/unregister', headers => [basic('', $ADMIN)],
          body => '{"clientID":"clientA"}');
is($res->{status}, 200, 'the admin unregisters clientA on B')
    or diag($res->{body});

is(auth($A, bearer($t3)), 'authentication failed: token is invalid',
   'the unregistered client\'s token is gone on A');

# many connections at once, spread by the kernel over both workers

my $tb = login($B, 'clientB', $KEY_B);

my @r = Test::Calls::HTTP::parallel(
    port => $t->port('rtcd'), n => 40, timeout => 20 * factor(),
    make => sub {
        "GET /calls/c1/sessions HTTP/1.1\r\nHost: x\r\n"
        . "Connection: close\r\n" . bearer($tb) . "\r\n\r\n"
    });

is(scalar(grep { $_->{status} == 404 && $_->{body} =~ /group not found/ }
          @r),
   40, '40 connections with one token: all authenticate');

my %pids = map { $_->{worker} => 1 } grep { $_->{worker} } @r;
is(scalar keys %pids, 2, '... answered by both workers ('
                         . join(' ', sort keys %pids) . ')');

stop_nginx();


# the store: a registration on one worker is seen by the other at once

$t = start('');

($A, $B) = workers();

for my $n (1 .. 4) {
    my ($w, $o) = $n % 2 ? ($A, $B) : ($B, $A);
    my $id = "store-$n";

    $res = on($w, POST => '/register', headers => [basic('', $ADMIN)],
              body => qq({"clientID":"$id","authKey":"$KEY"}));
    is($res->{status}, 201, "$id registers on $w->{pid}");

    is(auth($o, basic($id, $KEY)), 200,
       "$id authenticates on $o->{pid} at once");

    $res = on($o, POST => '/register', headers => [basic('', $ADMIN)],
              body => qq({"clientID":"$id","authKey":"$KEY"}));
    is(json_body($res)->{error}, 'registration failed: already registered',
       "$id is already registered for $o->{pid}");

    $res = on($o, POST => '/unregister', headers => [basic('', $ADMIN)],
              body => qq({"clientID":"$id"}));
    is($res->{status}, 200, "$id unregisters on $o->{pid}")
        or diag($res->{body});

    $res = on($w, POST => '/login',
              body => qq({"clientID":"$id","authKey":"$KEY"}));
    is(json_body($res)->{error},
       'login failed: authentication failed: error: not found',
       "$id is gone for $w->{pid} at once");
}

stop_nginx();


# the cap on tokens: the oldest goes, whichever worker holds it

$t = start('calls_rtcd_max_tokens 2;', 1);

($A, $B) = workers();

for my $id (qw(cap-1 cap-2 cap-3)) {
    is(on($A, POST => '/register',
          body => qq({"clientID":"$id","authKey":"$KEY"}))->{status},
       201, "$id registers");
}

my $c1 = login($A, 'cap-1', $KEY);
my $c2 = login($B, 'cap-2', $KEY);
my $c3 = login($A, 'cap-3', $KEY);

is(auth($B, bearer($c1)), 'authentication failed: token is invalid',
   'past 2 tokens the oldest is gone');
is(auth($B, bearer($c2)), 200, 'the second is good on B');
is(auth($B, bearer($c3)), 200, 'the third is good on B');
is(auth($A, bearer($c2)), 200, 'the second is good on A');

ok(wait_for_log(qr/\[warn\].*calls rtcd: 2 bearer tokens \(calls_rtcd_max_tokens\), the oldest, of client "cap-1", is dropped/),
   'the eviction is logged');

stop_nginx();


# the rate limit of hashing: 4 per second for the server, and nobody
# waits more than 10 s

$t = start('calls_rtcd_auth_rate 4;', 1);

is(rtcd(POST => '/register',
        body => qq({"clientID":"limited","authKey":"$KEY"}))->{status},
   201, 'a client to log in as');

sleep 0.5;

my $wrong = qq({"clientID":"limited","authKey":"$KEY_B"});
my $t0 = time;

@r = Test::Calls::HTTP::parallel(
    port => $t->port('rtcd'), n => 44, timeout => 30 * factor(),
    make => sub {
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        . "Content-Length: " . length($wrong) . "\r\n\r\n$wrong"
    });

my @late = grep { $_->{body} =~ /rate: Wait\(n=1\) would exceed context deadline/ }
           @r;
my @checked = grep { $_->{body} =~ /"login failed: authentication failed"/ }
              @r;

%pids = map { $_->{worker} => 1 } grep { $_->{worker} } @r;

is(scalar @r, 44, 'rate limit: every login answered');
is(scalar keys %pids, 2, 'rate limit: both workers took logins');
is(scalar(@late) + scalar(@checked), 44, 'rate limit: the others checked');

# one limiter: 4 hashes a second for both, 41 in 10 s (a limiter per
# worker lets 8 a second through: all 44 in under 6 s, none refused)
ok(@late >= 2 && @late <= 4, 'rate limit: the ones past 10 s are refused ('
                             . scalar(@late) . ')');
cmp_ok(max(map { $_->{at} } @checked), '>', 9,
       'rate limit: the checks spread over 10 s');

stop_nginx();


# a reload: the new workers have a new zone, without the tokens; the
# registrations are in the store

$t = start('', 1);

($A, $B) = workers();

is(on($A, POST => '/register',
      body => qq({"clientID":"reloaded","authKey":"$KEY"}))->{status},
   201, 'a client before the reload');

my $tr = login($A, 'reloaded', $KEY);
is(auth($B, bearer($tr)), 200, 'its token before the reload');

my %old = map { $_->{pid} => 1 } $A, $B;
close $_->{sock} for $A, $B;

$t->signal('HUP');

# the old workers stop accepting once the new ones run
my ($new, $deadline) = (0, time + 10 * factor());

while (time < $deadline) {
    my $pid = rtcd(GET => '/version')->{headers}{'x-worker'} // '';
    last if $pid && !$old{$pid} && ++$new >= 5;
    sleep 0.1;
}

ok($new >= 5, 'new workers answer after the reload');

($A, $B) = workers();
ok(!$old{ $A->{pid} } && !$old{ $B->{pid} }, 'both are new workers');

is(auth($A, bearer($tr)), 'authentication failed: token is invalid',
   'tokens do not survive a reload');
is(auth($B, basic('reloaded', $KEY)), 200,
   'the registration does: Basic authenticates');

isnt(login($B, 'reloaded', $KEY), '', 'and logs in again');

stop_nginx();

done_testing();


sub max {
    my $m;
    for (@_) { $m = $_ if !defined $m || $_ > $m }
    return $m // 0;
}
