# Random frame sequences against the WebSocket server: whatever a client
# sends, the server answers with pongs, messages or a close frame with a
# code that fits, never crashes, and keeps serving others.  The seed is
# printed; TEST_CALLS_SEED=<n> repeats a run.

use strict;
use warnings;

use Test::Calls;

my $seed = $ENV{TEST_CALLS_SEED} // int(rand(2**31));
diag("seed $seed");
srand($seed);

my $t = start_nginx(config => <<'END');
location /ws {
    calls_signaling;
    calls_ws_max_message_size 4k;
}
END

# what the server may close with: its own codes, or the client's echoed
sub valid_code {
    my ($code) = @_;
    return ($code >= 1000 && $code <= 1003) || ($code >= 1007
            && $code <= 1014) || ($code >= 3000 && $code <= 4999);
}
my @texts = ('{"action":"leave"}', "caf\xc3\xa9", "\xc3", "\xed\xa0\x80",
             "\xff", '', 'x' x 200);

sub random_frame {
    my %f = (
        opcode => (0, 1, 2, 8, 9, 10, 3, 11)[int(rand(8))],
        fin => rand() < 0.7 ? 1 : 0,
        rsv => rand() < 0.05 ? 1 + int(rand(7)) : 0,
        mask => rand() < 0.95 ? 1 : 0,
    );

    my $r = rand();
    $f{payload} = $r < 0.4 ? $texts[int(rand(@texts))]
                : $r < 0.8 ? join('', map { chr(int(rand(256))) }
                                      1 .. int(rand(300)))
                : 'y' x int(rand(5000));

    if ($f{opcode} == 8 && rand() < 0.5) {
        $f{payload} = pack('n', (1000, 1001, 1005, 1015, 2999, 3000, 4999,
                                 5000, 0)[int(rand(9))])
                      . substr($f{payload}, 0, int(rand(20)));
    }

    return Test::Calls::WS->encode_frame(%f);
}

my ($bad, $open, $closed) = (0, 0, 0);

for my $i (1 .. 150) {
    my ($ws) = ws_connect('/ws');

    unless ($ws) {
        $bad++;
        diag("connection $i: no handshake");
        next;
    }

    my $bytes = join '', map { random_frame() } 1 .. 1 + int(rand(6));

    # sometimes cut in the middle of a frame
    $bytes = substr($bytes, 0, int(rand(length $bytes)))
        if rand() < 0.2;

    $ws->send_raw($bytes);
    $ws->send_ping('end');

    while (my $f = $ws->read_frame(2)) {
        last if $f->{eof};

        if ($f->{masked} || $f->{rsv}) {
            diag("connection $i: masked or reserved bits from the server");
            $bad++;
            last;
        }

        if ($f->{opcode} == 0x8) {
            unless (defined $f->{code} ? valid_code($f->{code})
                                       : length $f->{payload} == 0)
            {
                diag("connection $i: close code "
                     . ($f->{code} // 'none'));
                $bad++;
            }

            $closed++;
            last;
        }

        if ($f->{opcode} == 0xa && $f->{payload} eq 'end') {
            $open++;
            last;
        }
    }

    # (a frame cut short leaves the server waiting for the rest)

    CORE::close($ws->sock);
}

is($bad, 0, "150 random connections: only valid answers ($closed closed, "
            . "$open still open)");

my ($ws) = ws_connect('/ws');
ok($ws, 'a new connection after all that');
$ws->send_ping('alive') if $ws;
my $f = $ws ? $ws->read_message(5, keep_control => 1) : undef;
is($f && $f->{payload}, 'alive', 'and it works');
$ws->close(1000) if $ws;

stop_nginx();

done_testing();
