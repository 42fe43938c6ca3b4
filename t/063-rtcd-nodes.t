# Two plugin connections of one client (two Mattermost nodes): each
# session's signaling goes to the connection that joined it, until a
# reconnect on the other moves it there; the close of a session goes to
# the connection that carries it.  A connection of another client can
# reach none of these sessions (rtcd routes by session ID alone).

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::More;

my $KEY = 'n' x 32;

my $t = start_rtcd_nginx();
my $port = $t->port('rtcd');

my $r = rtcd_plugin('nodes', "http://cluster:$KEY\@127.0.0.1:$port",
                    args => ['--other-client', 'intruder',
                             '--other-key', 'i' x 40]);
is($r->{exit}, 0, 'the plugin emulator ran')
    or diag(($r->{facts}{error} // '') . "\n" . $r->{stderr});

my $f = $r->{facts} // {};
my $p = $r->{peers} // {};
my %sid = %{ $f->{session_ids} // {} };
my %conn = map { $_->{name} => $_ } @{ $r->{conns} // [] };

ok(defined $f->{audio_both_ways_s}, 'p0 on node A and p1 on node B hear '
                                    . 'each other');
ok(defined $f->{third_heard_s}, 'p2 on node A and the others hear each '
                                . 'other');

isnt($conn{A}{conn_id}, $conn{B}{conn_id}, 'two connections');

# before the claim: p0's on A only, p1's on B only; after it p0's on B

my $claim = $f->{claim_at} // 0;

sub msgs {
    my ($c, $session, $cond) = @_;
    return grep { ($_->[2] // '') eq $session && $cond->($_) }
           @{ $conn{$c}{messages} // [] };
}

cmp_ok(scalar(msgs('A', $sid{p0}, sub { $_[0][0] < $claim })), '>', 0,
       'p0: signaling on A before');
is(scalar(msgs('B', $sid{p0}, sub { $_[0][0] < $claim })), 0,
   'p0: none on B before');
is(scalar(msgs('A', $sid{p1}, sub { 1 })), 0, 'p1: never on A');
cmp_ok(scalar(msgs('B', $sid{p1}, sub { 1 })), '>', 0, 'p1: on B');

cmp_ok(scalar(msgs('B', $sid{p0}, sub { $_[0][0] > $claim + 0.2 })), '>', 0,
       'p0: on B after the reconnect there');
is(scalar(msgs('A', $sid{p0}, sub { $_[0][0] > $claim + 0.2 })), 0,
   'p0: none on A after it');

is($p->{p0}{by_conn}{'B:close'}, 1, 'p0: its close on B');
is($p->{p1}{by_conn}{'B:close'}, 1, 'p1: its close on B');
is($p->{p2}{by_conn}{'A:close'}, 1, 'p2: its close on A');

for my $me (qw(p0 p1 p2)) {
    is_deeply($p->{$me}{errors}, [], "$me: no protocol errors");
    is_deeply($p->{$me}{field_errors}, [], "$me: its rtc messages name it");
}

# the other client's connection got nothing and changed nothing

is_deeply($conn{other}{counts}, {}, 'the other client gets nothing');
ok($f->{p1_alive}, "its leave did not end p1");
cmp_ok($f->{p0_audio_after_other_mute}, '>', 20,
       "its mute did not silence p0 ($f->{p0_audio_after_other_mute})");
ok(wait_for_log(qr/reconnect from client "intruder": session "\Q$sid{p0}\E" belongs to another client/),
   'its reconnect is refused and logged');
ok(wait_for_log(qr/leave from client "intruder": session "\Q$sid{p1}\E" belongs to another client/),
   'its leave is refused and logged');

stop_nginx();
done_testing();
