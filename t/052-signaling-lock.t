# Who offers when (issue 3): the calls-dc signaling lock between the
# client's offers and the server's, and glare, with aiortc peers that
# behave as CallsClient with dcLocking (Lock, retry every 50 ms, Unlock
# after the answer).
#
# Room "hold": B takes the lock at 2 s and holds it 3 s before offering
# its microphone; C starts talking (its first unmute) at 3.5 s.  The
# server may not offer C's voice to B until B has unlocked, while A gets
# it at once.
#
# Room "refuse": D answers server offers 2 s late and wants to unmute at
# 1 s while the server's offer of A2's voice is pending: Lock(false) until
# D has answered, then Lock(true).
#
# Room "glare": E does the same without the lock: its offer crosses the
# server's and the server (impolite, as rtcd) drops it unanswered; E rolls
# back, answers, offers again and is answered.

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::More;

my $t = start_call_nginx();

my $url = 'ws://127.0.0.1:' . $t->port('http') . '/calls/ws';

my %p;
$p{A} = aiortc_peer(url => $url, room => 'hold', seconds => 10, freq => 440);
$p{B} = aiortc_peer(url => $url, room => 'hold', seconds => 10, freq => 660,
                    args => ['--muted', '--lock', '--lock-hold', 3,
                             '--unmute-at', 2]);
$p{C} = aiortc_peer(url => $url, room => 'hold', seconds => 10, freq => 880,
                    args => ['--muted', '--unmute-at', 3.5]);
$p{A2} = aiortc_peer(url => $url, room => 'refuse', seconds => 9,
                     freq => 440);
$p{A3} = aiortc_peer(url => $url, room => 'glare', seconds => 9, freq => 440);
sleep 0.5;
$p{D} = aiortc_peer(url => $url, room => 'refuse', seconds => 8.5,
                    freq => 660, args => ['--muted', '--lock',
                                          '--answer-delay', 2,
                                          '--unmute-at', 1]);
$p{E} = aiortc_peer(url => $url, room => 'glare', seconds => 8.5, freq => 770,
                    args => ['--muted', '--answer-delay', 2,
                             '--unmute-at', 1]);

my %r = map { $_ => aiortc_wait($p{$_}) } sort keys %p;

for my $who (sort keys %r) {
    peer_ok($r{$who}, $who);
}

# the first server offer that sends the voice of session $sid
sub offer_with {
    my ($r, $sid) = @_;

    for my $o (@{ $r->{server_offers} }) {
        return $o if grep { ($_->{track_id} // '') =~ /^voice_\Q$sid\E_/
                            && ($_->{dir} // '') =~ /^send/ } @{ $o->{media} };
    }

    return undef;
}

sub hears {
    my ($me, $other, $hz) = @_;

    my $s = find_stream($r{$me}, kind => 'audio',
                        stream_id => $r{$other}{session_id} // '?');
    ok($s && $s->{frames} > 100 && abs(($s->{dominant_hz} // 0) - $hz) < 15,
       "$me hears $other ($hz Hz)");
}

# --- hold: the server's offer waits for the client's unlock

my $b = $r{B};
my $grant = $b->{lock}{grants}[0];
ok($grant, 'B got the signaling lock');
is($b->{lock}{refused}, 0, 'B: the lock was free (no refusal)');
cmp_ok(abs(($grant ? $grant->{granted_t} : 0) - $b->{t0} - 2), '<', 0.5,
       'B: granted at its unmute, 2 s in');

my ($b_offer) = grep { $_->{label} eq 'unmute' } @{ $b->{own_offers} };
ok($b_offer && $b_offer->{answered_t}, 'B\'s offer was answered');
cmp_ok(($b_offer ? $b_offer->{t} : 0) - ($grant ? $grant->{granted_t} : 0),
       '>=', 2.9, 'B held the lock 3 s before offering');

my ($unlock) = grep { $b_offer && $_ >= $b_offer->{answered_t} }
               @{ $b->{lock}{unlocks} };
ok($unlock, 'B sent Unlock after the answer to its offer');
$unlock //= 1e10;

my ($c_offer) = grep { $_->{label} eq 'unmute' } @{ $r{C}{own_offers} };
my $c_track = $c_offer && $c_offer->{answered_t} ? $c_offer->{answered_t} : 1e10;
cmp_ok($c_track, '<', $unlock - 0.5,
       'C\'s voice reached the server while B held the lock');

my $ac = offer_with($r{A}, $r{C}{session_id} // '?');
ok($ac && $ac->{t} < $unlock, 'A was offered C\'s voice at once');

my $bc = offer_with($b, $r{C}{session_id} // '?');
ok($bc, 'B was offered C\'s voice');
cmp_ok($bc ? $bc->{t} : 0, '>=', $unlock,
       sprintf('... only after B unlocked (offer at %.2f s, unlock at %.2f s)',
               ($bc ? $bc->{t} : 0) - $b->{t0}, $unlock - $b->{t0}));
ok(!$b->{signaling}{collisions}, 'B: no offer collision while locking');

hears('B', 'C', 880);
hears('B', 'A', 440);
hears('C', 'B', 660);
hears('A', 'B', 660);

# --- refuse: Lock(false) while the server's offer is pending

my $d = $r{D};
my $first = $d->{server_offers}[0];
my $dgrant = $d->{lock}{grants}[0];

ok($first && $first->{answered_t}, 'D got a server offer and answered it');
cmp_ok($first ? $first->{answered_t} - $first->{t} : 0, '>=', 1.9,
       'D answered it 2 s late');
cmp_ok($d->{lock}{refused}, '>=', 5,
       "D: Lock refused while the server's offer was pending "
       . "($d->{lock}{refused} times)");
ok($dgrant, 'D: the lock was granted in the end');
my ($d_pending) = grep { $_->{t} <= ($dgrant ? $dgrant->{requested_t} : 0)
                         && ($_->{answered_t} // 1e10)
                            > ($dgrant ? $dgrant->{requested_t} : 0) }
                  @{ $d->{server_offers} };
ok($d_pending, 'D asked for the lock while a server offer was pending');
cmp_ok($dgrant ? $dgrant->{granted_t} : 0, '>=',
       ($d_pending ? $d_pending->{answered_t} : 1e10) - 0.01,
       '... and got it only once it had answered');
my @unanswered = grep { !$_->{answered_t} } @{ $d->{own_offers} };
is(scalar @unanswered, 0, 'D: every offer of D was answered');
ok(!$d->{signaling}{collisions}, 'D: no offer collision');
hears('A2', 'D', 660);

# --- glare: the client's offer is dropped, unanswered

my $e = $r{E};
my ($e_offer) = grep { $_->{label} eq 'unmute' } @{ $e->{own_offers} };

ok($e_offer, 'E offered its microphone');
ok($e_offer && !$e_offer->{answered_t} && $e_offer->{rolled_back},
   'E\'s offer crossing the server\'s was never answered (rolled back)');
is($e->{signaling}{collisions}, 1, 'E: one offer collision');
ok(!$e->{signaling}{stale_answers}, 'E: no late answer to the dropped offer');
my @later = grep { $_->{answered_t} && $e_offer && $_->{t} > $e_offer->{t} }
            @{ $e->{own_offers} };
ok(@later, 'E offered again after answering the server, and was answered');
hears('A3', 'E', 770);
hears('E', 'A3', 440);

diag_reports(%r);

stop_nginx();
done_testing();
