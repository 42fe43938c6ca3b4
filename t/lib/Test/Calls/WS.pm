package Test::Calls::WS;

# A WebSocket client (RFC 6455) for tests: handshake, well-formed and
# deliberately broken frames, reads with timeouts.  Written for this
# project; see Test::Calls for how the tests use it.
#
#   my ($ws, $res) = Test::Calls::WS->connect(port => $port, path => '/ws');
#   $ws->send_text('{"action":"leave"}');
#   my $f = $ws->read_message(5);      # {opcode, payload, fin, ...}
#   my $j = $ws->read_json(5);         # decoded JSON of a text message
#   $ws->send_frame(opcode => 1, payload => 'x', mask => 0);   # broken
#   $ws->send_raw("\x81\x00");         # bytes as they are

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA qw(sha1_base64);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Socket qw(IPPROTO_TCP TCP_NODELAY SOL_SOCKET SO_RCVBUF SO_SNDBUF);
use Time::HiRes qw(time);

use constant {
    CONT => 0x0, TEXT => 0x1, BINARY => 0x2,
    CLOSE => 0x8, PING => 0x9, PONG => 0xa,
};

our $GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

my $JSON = JSON::PP->new->utf8->canonical;

sub json { $JSON }


# Opens a connection and sends the handshake.  Options: port, host, path,
# headers (array of "Name: value" lines, replacing the default ones of the
# same names), key, version, extra (bytes sent right after the request,
# in the same write), rcvbuf and sndbuf (socket buffers), timeout.
# Returns ($ws, $response): $ws is undef unless the answer was a 101 with
# the right Sec-WebSocket-Accept; $response is {status, headers, raw,
# body}.
sub connect {
    my ($class, %o) = @_;

    my $host = $o{host} || '127.0.0.1';
    my $port = $o{port} or croak "connect: no port";
    my $path = $o{path} || '/';
    my $timeout = $o{timeout} || 5;
    my $key = $o{key}
        // encode_base64(join('', map { chr(int(rand(256))) } 1 .. 16), '');

    my $sock = IO::Socket::INET->new(Proto => 'tcp')
        or croak "socket: $!";

    # before connect, so that the window is small from the start
    if ($o{rcvbuf}) {
        setsockopt($sock, SOL_SOCKET, SO_RCVBUF, $o{rcvbuf})
            or croak "SO_RCVBUF: $!";
    }

    if ($o{sndbuf}) {
        setsockopt($sock, SOL_SOCKET, SO_SNDBUF, $o{sndbuf})
            or croak "SO_SNDBUF: $!";
    }

    $sock->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton($host)))
        or croak "connect to $host:$port: $!";

    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $sock;

    my %default = (
        'host' => "Host: localhost",
        'upgrade' => "Upgrade: websocket",
        'connection' => "Connection: Upgrade",
        'sec-websocket-key' => "Sec-WebSocket-Key: $key",
        'sec-websocket-version' => "Sec-WebSocket-Version: "
                                   . ($o{version} // 13),
    );

    my @lines;

    for my $h (@{ $o{headers} || [] }) {
        my ($name) = $h =~ /^([^:]+):/;
        delete $default{lc $name} if defined $name;
        push @lines, $h;
    }

    my $req = "GET $path HTTP/1.1\r\n"
              . join('', map { "$_\r\n" } (values %default, @lines))
              . "\r\n";

    my $self = bless {
        sock => $sock,
        buf => '',
        sel => IO::Select->new($sock),
        eof => 0,
        timeout => $timeout,
    }, $class;

    $self->send_raw($req . ($o{extra} // ''));

    my $res = $self->_read_response($timeout);

    return (undef, $res) unless $res && $res->{status} == 101;

    my $accept = sha1_base64($key . $GUID) . '=';
    my $got = $res->{headers}{'sec-websocket-accept'} // '';

    return (undef, { %$res, error => "bad Sec-WebSocket-Accept \"$got\"" })
        unless $got eq $accept;

    return ($self, $res);
}

sub sock { $_[0]{sock} }

sub _fill {
    my ($self, $deadline) = @_;

    return 0 if $self->{eof};

    my $left = $deadline - time;
    return 0 if $left <= 0;
    return 0 unless $self->{sel}->can_read($left);

    my $n = sysread($self->{sock}, my $chunk, 65536);

    if (!$n) {
        $self->{eof} = 1;
        $self->{error} = $! unless defined $n;
        return 0;
    }

    $self->{buf} .= $chunk;
    return 1;
}

sub _read_response {
    my ($self, $timeout) = @_;

    my $deadline = time + $timeout;

    while ($self->{buf} !~ /\r\n\r\n/) {
        return undef unless $self->_fill($deadline);
    }

    $self->{buf} =~ s/^(.*?\r\n)\r\n//s;
    my $head = $1;

    my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
    my %headers;

    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*?)\s*$/;
        my $name = lc $1;
        $headers{$name} = exists $headers{$name}
                          ? "$headers{$name}, $2" : $2;
    }

    my $res = { status => $status // 0, headers => \%headers, raw => $head,
                body => '' };

    return $res if ($status // 0) == 101;

    # a refusal: its body, by Content-Length
    my $len = $headers{'content-length'} // 0;

    while (length $self->{buf} < $len) {
        last unless $self->_fill($deadline);
    }

    $res->{body} = substr($self->{buf}, 0, $len, '');

    return $res;
}

sub send_raw {
    my ($self, $bytes) = @_;

    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;

    while ($off < length $bytes) {
        my $n = syswrite($self->{sock}, $bytes, length($bytes) - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }

    return 1;
}

# A frame, by default a final, masked text frame.  Options: opcode,
# payload, fin, rsv (0..7), mask (0: unmasked), len (the length to
# declare, whatever the payload is).
sub encode_frame {
    my ($class, %f) = @_;

    my $payload = $f{payload} // '';
    my $opcode = $f{opcode} // TEXT;
    my $fin = $f{fin} // 1;
    my $rsv = $f{rsv} // 0;
    my $mask = $f{mask} // 1;
    my $len = $f{len} // length $payload;

    my $frame = chr(($fin ? 0x80 : 0) | (($rsv & 7) << 4) | ($opcode & 0xf));
    my $m = $mask ? 0x80 : 0;

    if ($len < 126) {
        $frame .= chr($m | $len);
    } elsif ($len <= 0xffff) {
        $frame .= chr($m | 126) . pack('n', $len);
    } else {
        $frame .= chr($m | 127) . pack('Q>', $len);
    }

    if ($mask) {
        my $key = $f{key} // pack('N', int(rand(2**32)));
        $frame .= $key;
        my $k = $key x (int(length($payload) / 4) + 1);
        $payload ^= substr($k, 0, length $payload);
    }

    return $frame . $payload;
}

sub send_frame {
    my ($self, %f) = @_;
    return $self->send_raw(ref($self)->encode_frame(%f));
}

sub send_text {
    my ($self, $text) = @_;
    utf8::encode($text) if utf8::is_utf8($text);
    return $self->send_frame(opcode => TEXT, payload => $text);
}

sub send_json {
    my ($self, $data) = @_;
    return $self->send_frame(opcode => TEXT, payload => $JSON->encode($data));
}

sub send_binary {
    my ($self, $bytes) = @_;
    return $self->send_frame(opcode => BINARY, payload => $bytes);
}

sub send_ping { $_[0]->send_frame(opcode => PING, payload => $_[1] // '') }
sub send_pong { $_[0]->send_frame(opcode => PONG, payload => $_[1] // '') }

sub send_close {
    my ($self, $code, $reason) = @_;
    my $payload = defined $code ? pack('n', $code) . ($reason // '') : '';
    return $self->send_frame(opcode => CLOSE, payload => $payload);
}

# The next frame: {fin, rsv, opcode, masked, payload} (close frames also
# {code, reason}), {eof => 1} when the server closed the connection,
# undef on timeout.
sub read_frame {
    my ($self, $timeout) = @_;

    my $deadline = time + ($timeout // $self->{timeout});

    for (;;) {
        my $f = $self->_parse_frame;
        return $f if $f;

        unless ($self->_fill($deadline)) {
            return { eof => 1, error => $self->{error} } if $self->{eof};
            return undef;
        }
    }
}

sub _parse_frame {
    my ($self) = @_;

    my $b = \$self->{buf};
    return undef if length $$b < 2;

    my ($b0, $b1) = unpack('CC', $$b);
    my $len = $b1 & 0x7f;
    my $off = 2;

    if ($len == 126) {
        return undef if length $$b < 4;
        $len = unpack('n', substr($$b, 2, 2));
        $off = 4;
    } elsif ($len == 127) {
        return undef if length $$b < 10;
        $len = unpack('Q>', substr($$b, 2, 8));
        $off = 10;
    }

    my $masked = $b1 & 0x80;
    my $key;

    if ($masked) {
        return undef if length $$b < $off + 4;
        $key = substr($$b, $off, 4);
        $off += 4;
    }

    return undef if length $$b < $off + $len;

    my $payload = substr($$b, $off, $len);
    substr($$b, 0, $off + $len, '');

    if ($masked) {
        my $k = $key x (int($len / 4) + 1);
        $payload ^= substr($k, 0, $len);
    }

    my $f = {
        fin => ($b0 & 0x80) ? 1 : 0,
        rsv => ($b0 >> 4) & 7,
        opcode => $b0 & 0xf,
        masked => $masked ? 1 : 0,
        payload => $payload,
    };

    if ($f->{opcode} == CLOSE) {
        if (length $payload >= 2) {
            $f->{code} = unpack('n', $payload);
            $f->{reason} = substr($payload, 2);
        } else {
            $f->{code} = undef;
            $f->{reason} = '';
        }
    }

    return $f;
}

# The next text, binary or close message, fragments joined.  Pings are
# answered (unless auto_pong is off) and pongs skipped, unless
# keep_control => 1.  Same returns as read_frame.
sub read_message {
    my ($self, $timeout, %o) = @_;

    my $deadline = time + ($timeout // $self->{timeout});
    my $msg;

    for (;;) {
        my $f = $self->read_frame(ngx_max(0, $deadline - time));
        return $f if !$f || $f->{eof};

        if ($f->{opcode} == PING || $f->{opcode} == PONG) {
            return $f if $o{keep_control};
            $self->send_pong($f->{payload})
                if $f->{opcode} == PING && $self->auto_pong;
            next;
        }

        return $f if $f->{opcode} == CLOSE;

        if ($f->{opcode} == CONT) {
            return { %$f, error => 'continuation without a message' }
                unless $msg;
            $msg->{payload} .= $f->{payload};
        } else {
            $msg = $f;
        }

        return $msg if $f->{fin};
    }
}

# whether read_message answers pings (default yes)
sub auto_pong {
    my ($self, $on) = @_;
    $self->{auto_pong} = $on if defined $on;
    return $self->{auto_pong} // 1;
}

sub ngx_max { $_[0] > $_[1] ? $_[0] : $_[1] }

# The decoded JSON of the next text message; dies when there is none
sub read_json {
    my ($self, $timeout) = @_;

    my $m = $self->read_message($timeout);

    croak "no message in time" unless $m;
    croak "connection closed" if $m->{eof};
    croak "close frame " . ($m->{code} // 'without code')
        if $m->{opcode} == CLOSE;
    croak "not a text message (opcode $m->{opcode})"
        unless $m->{opcode} == TEXT;

    return $JSON->decode($m->{payload});
}

# whether the server closes the TCP connection within the timeout
# (frames before the end are read and dropped)
sub wait_eof {
    my ($self, $timeout) = @_;

    my $deadline = time + ($timeout // $self->{timeout});

    for (;;) {
        $self->{buf} = '';
        return 1 if $self->{eof};
        return 0 unless $self->_fill($deadline) || $self->{eof};
    }
}

# the client side of the closing handshake: sends close, returns the
# server's close frame (or what came instead)
sub close {
    my ($self, $code, $reason) = @_;

    $self->send_close($code // 1000, $reason);

    for (;;) {
        my $f = $self->read_message(undef);
        return $f if !$f || $f->{eof} || $f->{opcode} == CLOSE;
    }
}

sub shutdown_write { shutdown($_[0]{sock}, 1) }

sub DESTROY {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
}

1;
