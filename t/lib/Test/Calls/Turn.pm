package Test::Calls::Turn;

# coturn (Debian's coturn, /usr/bin/turnserver) for the TURN tests, and
# as a STUN server: a child of the test on 127.0.0.1, with its
# configuration, log and database in a directory of the test, TURN REST
# authentication (use-auth-secret) and relaying to loopback peers (nginx
# listens on 127.0.0.1).
#
#   my $turn = coturn(dir => $t->dir, secret => 's3cret');
#   my $stun = coturn(dir => $t->dir, secret => 's', ip => '100.64.1.3',
#                     port => 3478, prefix => [$net->prefix('client')]);
#                           on another address (IPv4 or IPv6) and
#                           port, run under a
#                           command (ip netns exec); the test must reach
#                           it from here; log_binding => 1 logs the
#                           STUN Binding requests too
#   $turn->port             its UDP and TCP port
#   $turn->log              what it logged so far
#   $turn->stop             (also when the object goes)
#
#   turn_rest_credentials($secret, $username)
#                           the password coturn expects for a TURN REST
#                           username: base64(HMAC-SHA1(secret, username))
#
# coturn() returns undef, with the reason in $Test::Calls::Turn::WHY, when
# turnserver is not installed (tools/deps.sh test installs it).

use strict;
use warnings;

use Digest::SHA qw(hmac_sha1_base64);
use Exporter 'import';
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Test::Calls::Nginx;
use Test::Calls::Stun;

our @EXPORT = qw(coturn turn_rest_credentials);

our $BINARY = '/usr/bin/turnserver';
our $WHY;

my $SEQ = 0;


sub turn_rest_credentials {
    my ($secret, $username) = @_;

    my $b64 = hmac_sha1_base64($username, $secret);

    # Digest::SHA leaves out the padding
    return $b64 . '=' x ((4 - length($b64) % 4) % 4);
}

sub coturn {
    my (%o) = @_;

    unless (-x $BINARY) {
        $WHY = "$BINARY is missing: run tools/deps.sh test (Debian's coturn)";
        return undef;
    }

    my $n = $SEQ++;
    my $dir = $o{dir} or die 'coturn: no dir';
    my $ip = $o{ip} // '127.0.0.1';
    my $port = $o{port} // Test::Calls::Nginx::free_port();
    my $conf = "$dir/turnserver-$n.conf";
    my $log = "$dir/turnserver-$n.log";

    open my $fh, '>', $conf or die "$conf: $!";
    print $fh <<"END";
listening-ip=$ip
relay-ip=$ip
listening-port=$port
realm=ngx-calls.test
use-auth-secret
static-auth-secret=$o{secret}
fingerprint
no-tls
no-dtls
no-cli
allow-loopback-peers
no-multicast-peers
userdb=$dir/turndb-$n
pidfile=$dir/turnserver-$n.pid
log-file=$log
simple-log
verbose
END
    # Binding requests are not logged unless asked for
    print $fh "log-binding\n" if $o{log_binding};
    close $fh;

    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        # ends with the test, as nginx does (PR_SET_PDEATHSIG)
        eval { require 'syscall.ph'; syscall(&SYS_prctl(), 1, 15) };

        chdir $dir;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/turnserver-$n.out";
        open STDERR, '>&', \*STDOUT;
        { exec @{ $o{prefix} // [] }, $BINARY, "-c", $conf,
               "--no-stdout-log" };
        POSIX::_exit(127);
    }

    my $self = bless { pid => $pid, port => $port, log_path => $log,
                       dir => $dir }, __PACKAGE__;

    # ready once it answers a STUN Binding request
    my $s = IO::Socket::IP->new(PeerHost => $ip, PeerPort => $port,
                                Proto => 'udp')
        or die "coturn probe: $!";
    my $deadline = time + 10;

    while (time < $deadline) {
        die "turnserver exited: " . $self->log
            if waitpid($pid, WNOHANG) == $pid;

        $s->send(stun_request(no_role => 1, no_fingerprint => 1));

        my $rin = '';
        vec($rin, fileno($s), 1) = 1;

        if (select(my $rout = $rin, undef, undef, 0.2)) {
            my $buf;
            return $self if defined $s->recv($buf, 2048) && length $buf;
        }
    }

    $self->stop;
    die "turnserver did not answer on $ip:$port: " . $self->log;
}

sub port { $_[0]{port} }

sub log {
    my ($self) = @_;
    open my $fh, '<', $self->{log_path} or return '';
    local $/;
    return <$fh> // '';
}

sub stop {
    my ($self) = @_;

    my $pid = delete $self->{pid} // return;

    for my $sig (qw(TERM KILL)) {
        kill $sig, $pid;

        my $deadline = time + 5;
        while (time < $deadline) {
            return if waitpid($pid, WNOHANG) == $pid;
            sleep 0.05;
        }
    }
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop;
}

1;
