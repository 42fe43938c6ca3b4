package Test::Calls::Netns;

# A network namespace for a test: another "host", joined to this one by a
# veth pair with a /30 of its own (10.213.N.1 here, 10.213.N.2 there).
# It goes away with the object, at exit, and on INT, TERM or HUP, even
# when the test dies half-way.
#
#   if (my $why = Test::Calls::Netns::missing()) { plan skip_all => $why }
#   my $ns = Test::Calls::Netns->new;   # dies with the reason if it cannot
#                                       # (no "ip netns", no veth, ...)
#   $ns->name, $ns->host_ip (ours), $ns->peer_ip (the namespace's)
#   $ns->prefix          ('ip', 'netns', 'exec', name), to run a command
#                        there
#   $ns->run(@cmd)       runs it there; its exit status
#   $ns->nft($rules)     loads an nftables ruleset there
#   $ns->block_udp       drops every UDP datagram in and out of it
#
# Needs root, iproute2 and nftables (tools/deps.sh test installs them).
# A namespace left by a test that was killed (SIGKILL) is removed by the
# next one.

use strict;
use warnings;

use Carp qw(croak);

my %LIVE;           # name => object, for the cleanup at exit and on signals


# why a test of this cannot run here (undef when it can): only without
# root, which network namespaces need; missing tools are a failure of
# new(), as tools/deps.sh test installs them
sub missing {
    return 'network namespaces need root (run the test as root)'
        if $> != 0;

    return undef;
}

sub new {
    my ($class) = @_;

    _remove_stale();

    my $addrs = `ip -4 -o addr show 2>/dev/null`;
    my $n;

    for my $i (0 .. 250) {
        my $x = ($$ + $i) % 250 + 1;
        next if $addrs =~ /\b10\.213\.$x\./;
        $n = $x;
        last;
    }

    croak 'no free 10.213.N.0/30 for the namespace' unless defined $n;

    my $self = bless {
        name => "calls-t$$",
        here => "ct${$}h",
        there => "ct${$}n",
        host_ip => "10.213.$n.1",
        peer_ip => "10.213.$n.2",
        pid => $$,
    }, $class;

    $LIVE{ $self->{name} } = $self;
    _install_handlers();

    my ($name, $here, $there) = @$self{qw(name here there)};

    for my $cmd (
        "ip netns add $name",
        "ip link add $here type veth peer name $there",
        "ip link set $there netns $name",
        "ip addr add $self->{host_ip}/30 dev $here",
        "ip link set $here up",
        "ip netns exec $name ip addr add $self->{peer_ip}/30 dev $there",
        "ip netns exec $name ip link set $there up",
        "ip netns exec $name ip link set lo up",
    )
    {
        my $out = `$cmd 2>&1`;

        if ($? != 0) {
            $self->cleanup;
            croak "$cmd: $out";
        }
    }

    return $self;
}

# the namespaces of test processes that are gone (their veth pairs go
# with them)
sub _remove_stale {
    for my $line (split /\n/, `ip netns list 2>/dev/null`) {
        my ($name, $pid) = $line =~ /^(calls-t(\d+))(?:\s|$)/ or next;
        next if $pid == $$ || kill(0, $pid);
        system("ip netns del $name >/dev/null 2>&1");
    }
}

sub name { $_[0]{name} }
sub host_ip { $_[0]{host_ip} }
sub peer_ip { $_[0]{peer_ip} }
sub prefix { ('ip', 'netns', 'exec', $_[0]{name}) }

sub run {
    my ($self, @cmd) = @_;
    return system($self->prefix, @cmd) >> 8;
}

sub nft {
    my ($self, $rules) = @_;

    open my $fh, '|-', $self->prefix, 'nft', '-f', '-'
        or croak "nft: $!";
    print $fh $rules;
    close $fh or croak "nft -f in $self->{name} failed: $? $!";
}

sub block_udp {
    my ($self) = @_;

    $self->nft(<<'END');
table inet calls_test {
    chain input {
        type filter hook input priority 0; policy accept;
        meta l4proto udp drop
    }
    chain output {
        type filter hook output priority 0; policy accept;
        meta l4proto udp drop
    }
}
END
}

# the namespace takes its end of the veth pair (and its rules) with it,
# once the processes still running there (a browser, when the test is
# interrupted) are gone; only the process that made it removes it (not a
# forked child that dies)
sub cleanup {
    my ($self) = @_;

    return if $$ != $self->{pid};
    return unless delete $LIVE{ $self->{name} };

    my @pids = split ' ', `ip netns pids $self->{name} 2>/dev/null`;
    kill 'TERM', @pids if @pids;

    system("ip netns del $self->{name} >/dev/null 2>&1");
    system("ip link del $self->{here} >/dev/null 2>&1");
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->cleanup;
}

my $installed;

sub _install_handlers {
    return if $installed++;

    for my $sig (qw(INT TERM HUP)) {
        my $old = $SIG{$sig};

        $SIG{$sig} = sub {
            $_->cleanup for values %LIVE;
            $old->(@_) if ref $old eq 'CODE';
            $SIG{$sig} = 'DEFAULT';
            kill $sig, $$;
        };
    }
}

END {
    local $?;
    $_->cleanup for values %LIVE;
}

1;
