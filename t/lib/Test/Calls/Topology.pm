package Test::Calls::Topology;

# Other "hosts" for a test, as network namespaces joined to this one by
# veth pairs: nginx stays here (the test talks to it on 127.0.0.1 as
# usual), the peers and servers of the far side run in the namespaces.
# Everything goes away with the object, at exit, and on INT, TERM or
# HUP, even when the test dies half-way; what a test killed with SIGKILL
# left is removed by the next one.
#
#   if (my $why = Test::Calls::Topology::missing()) { plan skip_all => $why }
#
#   my $net = Test::Calls::Topology->new('nat');
#
#       here (nginx) --- router ---------------- client
#       10.214.N.1       10.214.N.2  100.64.N.1   100.64.N.2, 100.64.N.3
#
#     nginx is on a private network behind a NAT router: the router
#     masquerades what goes out from here, forwards to here only what a
#     port forward (DNAT) lets in, and drops the rest, as a home or
#     cloud NAT does.  The client side is "the Internet": its hosts know
#     the router's public address only.  We route 100.64.N.0/24 through
#     the router (to reach a STUN server there).
#
#   my $net = Test::Calls::Topology->new('direct');
#
#       here (nginx) ------------------------- client
#       10.214.N.1, fd14:0:0:N::1              10.214.N.2, fd14:0:0:N::2
#
#     one link, IPv4 and IPv6, no NAT.
#
#   $net->ip('here'|'router'|'public'|'client'|'client2')   IPv4 addresses
#   $net->ip6('here'|'client')                              IPv6 ('direct')
#   $net->prefix('client'|'router')   ('ip', 'netns', 'exec', name), to run
#                                     a command there
#   $net->run('client', @cmd)         runs it there; its exit status
#   $net->forward($proto, $public_port, $port)
#                                     a port forward on the router: the
#                                     public address's port to ours
#   $net->nft('router', $rules)       loads nftables rules there
#
# Needs root, iproute2 and nftables (tools/deps.sh test installs them).
# The namespaces are calls-n<pid>-*, the veth ends cn<pid><x>, the
# networks 10.214.N.0/24, 100.64.N.0/24 and fd14:0:0:N::/64 with an N no
# address of this host uses yet.

use strict;
use warnings;

use Carp qw(croak);

my %LIVE;           # id => object, for the cleanup at exit and on signals


# why a test of this cannot run here (undef when it can): only without
# root, which network namespaces need; missing tools are a failure of
# new(), as tools/deps.sh test installs them
sub missing {
    return 'network namespaces need root (run the test as root)'
        if $> != 0;

    return undef;
}

sub new {
    my ($class, $kind) = @_;

    croak "topology: nat or direct" unless ($kind // '') =~ /^(nat|direct)$/;

    _remove_stale();

    my $used = `ip -o addr show 2>/dev/null` . `ip route show 2>/dev/null`;
    my $n;

    for my $i (0 .. 250) {
        my $x = ($$ + $i) % 250 + 1;
        next if $used =~ /\b(?:10\.214|100\.64)\.$x\./
                || $used =~ /\bfd14:0:0:$x:/;
        $n = $x;
        last;
    }

    croak 'no free 10.214.N.0/24 for the topology' unless defined $n;

    my $id = $$;
    my $self = bless {
        kind => $kind,
        id => $id,
        pid => $$,
        n => $n,
        ns => { client => "calls-n$id-client",
                ($kind eq 'nat' ? (router => "calls-n$id-router") : ()) },
        here_if => "cn${id}s",
        forwards => 0,
    }, $class;

    if ($kind eq 'nat') {
        $self->{ip} = { here => "10.214.$n.1", router => "10.214.$n.2",
                        public => "100.64.$n.1", client => "100.64.$n.2",
                        client2 => "100.64.$n.3" };
    } else {
        $self->{ip} = { here => "10.214.$n.1", client => "10.214.$n.2" };
        $self->{ip6} = { here => "fd14:0:0:$n\::1",
                         client => "fd14:0:0:$n\::2" };
    }

    $LIVE{$id} = $self;
    _install_handlers();

    my @cmds = $kind eq 'nat' ? $self->_nat_cmds : $self->_direct_cmds;

    for my $cmd (@cmds) {
        my $out = `$cmd 2>&1`;

        if ($? != 0) {
            $self->cleanup;
            croak "$cmd: $out";
        }
    }

    $self->_nat_rules if $kind eq 'nat';

    return $self;
}

sub _nat_cmds {
    my ($self) = @_;

    my ($id, $ip) = @$self{qw(id ip)};
    my ($r, $c) = @{ $self->{ns} }{qw(router client)};
    my $n = $self->{n};

    return (
        "ip netns add $r",
        "ip netns add $c",
        "ip link add cn${id}s type veth peer name cn${id}r",
        "ip link set cn${id}r netns $r",
        "ip -n $r link add cn${id}u type veth peer name cn${id}c",
        "ip -n $r link set cn${id}c netns $c",
        "ip addr add $ip->{here}/24 dev cn${id}s",
        "ip link set cn${id}s up",
        "ip -n $r link set lo up",
        "ip -n $r addr add $ip->{router}/24 dev cn${id}r",
        "ip -n $r link set cn${id}r up",
        "ip -n $r addr add $ip->{public}/24 dev cn${id}u",
        "ip -n $r link set cn${id}u up",
        "ip netns exec $r sysctl -qw net.ipv4.ip_forward=1",
        "ip -n $c link set lo up",
        "ip -n $c addr add $ip->{client}/24 dev cn${id}c",
        "ip -n $c addr add $ip->{client2}/24 dev cn${id}c",
        "ip -n $c link set cn${id}c up",
        "ip -n $c route add default via $ip->{public}",
        "ip route add 100.64.$n.0/24 via $ip->{router} dev cn${id}s",
    );
}

sub _direct_cmds {
    my ($self) = @_;

    my ($id, $ip, $ip6) = @$self{qw(id ip ip6)};
    my $c = $self->{ns}{client};

    return (
        "ip netns add $c",
        "ip link add cn${id}s type veth peer name cn${id}c",
        "ip link set cn${id}c netns $c",
        "ip addr add $ip->{here}/24 dev cn${id}s",
        "ip addr add $ip6->{here}/64 dev cn${id}s nodad",
        "ip link set cn${id}s up",
        "ip -n $c link set lo up",
        "ip -n $c addr add $ip->{client}/24 dev cn${id}c",
        "ip -n $c addr add $ip6->{client}/64 dev cn${id}c nodad",
        "ip -n $c link set cn${id}c up",
    );
}

# the router: masquerade out, only port forwards in, nothing else
sub _nat_rules {
    my ($self) = @_;

    my $id = $self->{id};

    $self->nft('router', <<"END");
table ip calls_nat {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "cn${id}u" masquerade
    }
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        ct status dnat accept
        iifname "cn${id}r" oifname "cn${id}u" accept
    }
}
END
}

sub forward {
    my ($self, $proto, $public, $port) = @_;

    croak 'forward: a nat topology only' unless $self->{kind} eq 'nat';
    croak "forward: udp or tcp" unless $proto =~ /^(udp|tcp)$/;

    my $ip = $self->{ip};

    $self->nft('router', "add rule ip calls_nat prerouting "
               . "iifname \"cn$self->{id}u\" ip daddr $ip->{public} "
               . "$proto dport $public dnat to $ip->{here}:$port\n");
}

sub ip {
    my ($self, $what) = @_;
    return $self->{ip}{$what} // croak "topology: no address \"$what\"";
}

sub ip6 {
    my ($self, $what) = @_;
    return ($self->{ip6} // {})->{$what}
           // croak "topology: no IPv6 address \"$what\"";
}

sub ns {
    my ($self, $what) = @_;
    return $self->{ns}{$what} // croak "topology: no namespace \"$what\"";
}

sub prefix { ('ip', 'netns', 'exec', $_[0]->ns($_[1])) }

sub run {
    my ($self, $where, @cmd) = @_;
    return system($self->prefix($where), @cmd) >> 8;
}

sub nft {
    my ($self, $where, $rules) = @_;

    open my $fh, '|-', $self->prefix($where), 'nft', '-f', '-'
        or croak "nft: $!";
    print $fh $rules;
    close $fh or croak "nft -f in " . $self->ns($where) . " failed: $? $!";
}

# the namespaces of test processes that are gone (the veth pairs and our
# route go with them)
sub _remove_stale {
    for my $line (split /\n/, `ip netns list 2>/dev/null`) {
        my ($name, $pid) = $line =~ /^(calls-n(\d+)-\w+)/ or next;
        next if $pid == $$ || kill(0, $pid);
        _kill_in($name);
        system("ip netns del $name >/dev/null 2>&1");
    }
}

sub _kill_in {
    my ($name) = @_;

    my @pids = split ' ', `ip netns pids $name 2>/dev/null`;
    return unless @pids;

    kill 'TERM', @pids;

    for (1 .. 20) {
        @pids = grep { kill 0, $_ } @pids;
        last unless @pids;
        select(undef, undef, undef, 0.05);
    }

    kill 'KILL', @pids if @pids;
}

# only the process that made it removes it (not a forked child that dies)
sub cleanup {
    my ($self) = @_;

    return if $$ != $self->{pid};
    return unless delete $LIVE{ $self->{id} };

    for my $name (values %{ $self->{ns} }) {
        _kill_in($name);
        system("ip netns del $name >/dev/null 2>&1");
    }

    system("ip link del $self->{here_if} >/dev/null 2>&1");
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
