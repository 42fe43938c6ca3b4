package Test::Calls::Stun;

# STUN (RFC 5389) messages for the media tests, written from the RFC with
# core Perl: Digest::SHA for MESSAGE-INTEGRITY, Compress::Zlib's CRC-32 for
# FINGERPRINT.
#
#   my $bytes = stun_request(username => 'srv:cli', password => $pwd,
#                            controlling => 1, use_candidate => 1);
#   my $m = stun_parse($bytes);   # {class, method, tid, attrs => {type =>
#                                 # value}, error_code, xor_addr => [ip, port]}
#   stun_check_integrity($bytes, $password)   # true when MI verifies

use strict;
use warnings;

use Compress::Zlib qw(crc32);
use Digest::SHA qw(hmac_sha1);
use Exporter 'import';

our @EXPORT = qw(stun_request stun_parse stun_check_integrity offer_sdp);

use constant {
    COOKIE => 0x2112a442,
    USERNAME => 0x0006,
    MESSAGE_INTEGRITY => 0x0008,
    ERROR_CODE => 0x0009,
    XOR_MAPPED_ADDRESS => 0x0020,
    PRIORITY => 0x0024,
    USE_CANDIDATE => 0x0025,
    FINGERPRINT => 0x8028,
    ICE_CONTROLLED => 0x8029,
    ICE_CONTROLLING => 0x802a,
};

sub attr {
    my ($type, $value) = @_;
    my $pad = (4 - length($value) % 4) % 4;
    return pack('nn', $type, length $value) . $value . ("\0" x $pad);
}

# type: 0x0001 request, 0x0011 indication, 0x0101 response
sub stun_request {
    my (%o) = @_;

    my $type = $o{type} // 0x0001;
    my $tid = $o{tid} // join '', map { chr int rand 256 } 1 .. 12;
    my $body = '';

    $body .= attr(USERNAME, $o{username}) if defined $o{username};
    $body .= attr(PRIORITY, pack('N', $o{priority} // 0x6e0001ff));
    $body .= attr(USE_CANDIDATE, '') if $o{use_candidate};

    if ($o{controlled}) {
        $body .= attr(ICE_CONTROLLED, pack('NN', 0x12345678, 0x9abcdef0));
    } elsif (!$o{no_role}) {
        $body .= attr(ICE_CONTROLLING, pack('NN', 0x12345678, 0x9abcdef0));
    }

    $body .= $o{extra} // '';

    if (defined $o{password}) {
        # the length counts up to and including MESSAGE-INTEGRITY
        my $head = pack('nnN', $type, length($body) + 24, COOKIE) . $tid;
        my $mac = hmac_sha1($head . $body, $o{password});
        $body .= attr(MESSAGE_INTEGRITY, $mac);
    }

    unless ($o{no_fingerprint}) {
        my $head = pack('nnN', $type, length($body) + 8, COOKIE) . $tid;
        my $crc = crc32($head . $body) ^ 0x5354554e;
        $body .= attr(FINGERPRINT, pack('N', $crc));
    }

    return pack('nnN', $type, length $body, COOKIE) . $tid . $body;
}

sub stun_parse {
    my ($bytes) = @_;

    return undef if length $bytes < 20;

    my ($type, $len, $cookie) = unpack 'nnN', $bytes;
    return undef if $cookie != COOKIE || length($bytes) != 20 + $len;

    my %m = (
        type => $type,
        class => (($type & 0x0100) >> 7) | (($type & 0x0010) >> 4),
        method => $type & 0x3eef,
        tid => substr($bytes, 8, 12),
        attrs => {},
    );

    my $off = 20;

    while ($off + 4 <= length $bytes) {
        my ($at, $al) = unpack 'nn', substr($bytes, $off, 4);
        my $v = substr($bytes, $off + 4, $al);
        $m{attrs}{$at} = $v;
        $off += 4 + $al + (4 - $al % 4) % 4;
    }

    if (defined(my $e = $m{attrs}{+ERROR_CODE})) {
        my ($class, $num) = unpack 'x2CC', $e;
        $m{error_code} = ($class & 7) * 100 + $num;
    }

    if (defined(my $x = $m{attrs}{+XOR_MAPPED_ADDRESS})) {
        my ($family, $port) = unpack 'xCn', $x;
        if ($family == 1) {
            my $ip = unpack('N', substr($x, 4, 4)) ^ COOKIE;
            $m{xor_addr} = [join('.', unpack 'C4', pack 'N', $ip),
                            $port ^ (COOKIE >> 16)];
        }
    }

    return \%m;
}

sub stun_check_integrity {
    my ($bytes, $password) = @_;

    my $m = stun_parse($bytes) or return 0;
    my $mi = $m->{attrs}{+MESSAGE_INTEGRITY} // return 0;

    # find where MESSAGE-INTEGRITY starts
    my $off = 20;
    while ($off + 4 <= length $bytes) {
        my ($at, $al) = unpack 'nn', substr($bytes, $off, 4);
        last if $at == MESSAGE_INTEGRITY;
        $off += 4 + $al + (4 - $al % 4) % 4;
    }

    my $head = pack('nnN', unpack('n', $bytes), $off - 20 + 24, COOKIE)
               . substr($bytes, 8, 12);
    return hmac_sha1($head . substr($bytes, 20, $off - 20), $password) eq $mi;
}

# a browser's first offer: the data channel only
sub offer_sdp {
    my (%o) = @_;

    my $ufrag = $o{ufrag} // 'cliU';
    my $pwd = $o{pwd} // 'clientPassword0123456789x';
    my $fp = $o{fingerprint}
             // join ':', map { sprintf '%02X', $_ } 0 .. 31;

    my @l = (
        'v=0',
        'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
        's=-',
        't=0 0',
        ($o{no_bundle} ? () : 'a=group:BUNDLE 0'),
        'a=msid-semantic: WMS',
        'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
        'c=IN IP4 0.0.0.0',
        "a=ice-ufrag:$ufrag",
        "a=ice-pwd:$pwd",
        'a=ice-options:trickle',
        ($o{no_fingerprint} ? () : "a=fingerprint:sha-256 $fp"),
        'a=setup:actpass',
        'a=mid:0',
        'a=sctp-port:5000',
        'a=max-message-size:262144',
        @{ $o{more} // [] },
    );

    return join("\r\n", @l) . "\r\n";
}

1;
