package Test::Calls::HTTP;

# A small HTTP/1.1 client for tests: one request per connection (or on a
# kept-alive one), the raw response parsed into status, headers and body;
# and many requests at once on as many connections.

use strict;
use warnings;

use Carp qw(croak);
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

# request(port => $p, raw => $bytes, timeout => $s), or method, uri,
# headers (array of "Name: value"), body instead of raw.  Returns
# {status, headers => {lowercase name => value, repeated ones joined by
# ", "}, raw_headers, body} or {error => ...}.  With sock => $s the
# request goes on that connection, which stays the caller's (send
# "Connection: keep-alive" to keep it).
sub request {
    my (%o) = @_;

    my $raw = $o{raw};

    unless (defined $raw) {
        my $method = $o{method} || 'GET';
        my $uri = $o{uri} || '/';
        my $version = $o{version} || 'HTTP/1.1';
        my @h = @{ $o{headers} || [] };

        unshift @h, 'Host: localhost' unless grep { /^host:/i } @h;
        push @h, 'Connection: close' unless grep { /^connection:/i } @h;

        if (defined $o{body} && length $o{body}
            && !grep { /^(content-length|transfer-encoding):/i } @h)
        {
            push @h, 'Content-Length: ' . length $o{body};
        }

        $raw = "$method $uri $version\r\n"
               . join('', map { "$_\r\n" } @h) . "\r\n" . ($o{body} // '');
    }

    my $timeout = $o{timeout} || 5;
    my $sock = $o{sock}
               // IO::Socket::INET->new(PeerAddr => "127.0.0.1:$o{port}",
                                        Proto => 'tcp', Timeout => $timeout)
        or return { error => "connect to port $o{port}: $!" };

    binmode $sock;
    local $SIG{PIPE} = 'IGNORE';
    syswrite($sock, $raw) // return { error => "write: $!" };

    my $sel = IO::Select->new($sock);
    my $deadline = time + $timeout;
    my $buf = '';
    my $res;

    for (;;) {
        if (!$res && $buf =~ /\r\n\r\n/) {
            $res = _head($buf);

            # a 101 has no body and keeps the connection
            return $res if $res->{status} == 101;
        }

        last if $res && _complete($res, $buf);

        my $left = $deadline - time;
        return { %{ $res || {} }, error => 'timeout', partial => $buf }
            if $left <= 0 || !$sel->can_read($left);

        my $n = sysread($sock, my $chunk, 65536);
        last unless $n;
        $buf .= $chunk;
    }

    return { error => 'no response', partial => $buf } unless $res;

    $res->{body} = _body($res, $buf);
    return $res;
}

# parallel(port => $p, n => $n, make => sub { raw request }, timeout => $s)
# sends $n requests at once, each on its own connection (the requests
# should say "Connection: close"); returns {status, body, worker (an
# X-Worker header), at (seconds from the start)} in the order they
# finished.
sub parallel {
    my (%o) = @_;

    my $sel = IO::Select->new;
    my %buf;
    my $t0 = time;

    for (1 .. $o{n}) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$o{port}",
                                      Proto => 'tcp')
            or croak "connect: $!";
        syswrite($s, $o{make}->());
        $sel->add($s);
        $buf{$s} = '';
    }

    my @done;
    my $deadline = time + ($o{timeout} // 30);

    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(1)) {
            my $got = sysread($s, my $chunk, 65536);

            if ($got) {
                $buf{$s} .= $chunk;
                next;
            }

            my ($status) = $buf{$s} =~ m{^HTTP/1\.1 (\d+)};
            my ($worker) = $buf{$s} =~ /^X-Worker: (\d+)/mi;
            my ($body) = $buf{$s} =~ /\r\n\r\n(.*)\z/s;

            push @done, { status => $status // 0, body => $body // '',
                          worker => $worker, at => time - $t0 };
            $sel->remove($s);
            close $s;
        }
    }

    return @done;
}

sub _head {
    my ($buf) = @_;

    my ($head) = $buf =~ /^(.*?)\r\n\r\n/s;
    my ($status) = $head =~ m{^HTTP/\d\.\d (\d{3})};
    my %h;

    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*?)\s*$/;
        my $name = lc $1;
        $h{$name} = exists $h{$name} ? "$h{$name}, $2" : $2;
    }

    return { status => $status // 0, headers => \%h, raw_headers => $head,
             head_len => length($head) + 4 };
}

sub _complete {
    my ($res, $buf) = @_;

    my $body = substr($buf, $res->{head_len});

    if (defined(my $len = $res->{headers}{'content-length'})) {
        return length $body >= $len;
    }

    if (($res->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        return $body =~ /(?:^|\r\n)0\r\n\r\n\z/;
    }

    return 0;       # till the connection closes
}

sub _body {
    my ($res, $buf) = @_;

    my $body = substr($buf, $res->{head_len});

    if (defined(my $len = $res->{headers}{'content-length'})) {
        return substr($body, 0, $len);
    }

    if (($res->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';

        while ($body =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }

        return $out;
    }

    return $body;
}

1;
