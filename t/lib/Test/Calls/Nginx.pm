package Test::Calls::Nginx;

# One nginx for the tests of a .t file: configuration, ports, start, stop
# and the error log.  Used by Test::Calls (see its documentation); usable
# on its own.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM SOCK_DGRAM);
use Time::HiRes qw(sleep time);

our $REPO = abs_path(dirname(__FILE__) . '/../../../..');
our $BUILD = $ENV{BUILD} || "$REPO/build";

# log lines that fail a test unless it says it expects them
our $BAD_LOG = qr/\[(?:alert|emerg|crit)\]|Sanitizer|runtime error:/;

my %PORTS;          # per process: the same ports for every instance


# free loopback ports, found by binding port 0; the media port is free for
# both TCP and UDP
sub _free_port {
    my ($udp_too) = @_;

    for (1 .. 50) {
        my $tcp = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                        LocalPort => 0, Proto => 'tcp',
                                        Listen => 1, ReuseAddr => 0)
            or next;
        my $port = $tcp->sockport;

        if ($udp_too) {
            my $udp = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                            LocalPort => $port,
                                            Proto => 'udp')
                or next;
            close $udp;
        }

        close $tcp;
        next if grep { $_ == $port } values %PORTS;
        return $port;
    }

    croak "no free port on 127.0.0.1";
}

sub ports {
    unless (%PORTS) {
        $PORTS{HTTP_PORT} = _free_port(0);
        $PORTS{HTTP_PORT2} = _free_port(0);
        $PORTS{HTTP_PORT3} = _free_port(0);
        $PORTS{RTCD_PORT} = _free_port(0);
        $PORTS{TLS_PORT} = _free_port(0);
        $PORTS{STREAM_PORT} = _free_port(0);
        $PORTS{MEDIA_PORT} = _free_port(1);
    }

    return {%PORTS};
}

# one more free loopback port (TCP and UDP) for a helper of the test (a
# STUN or TURN server), never one of the ports above
sub free_port {
    ports();

    my $port = _free_port(1);
    $PORTS{"EXTRA_$port"} = $port;

    return $port;
}

sub mode { $ENV{TEST_NGINX_MODE} || 'dynamic' }

sub binary {
    return $ENV{TEST_NGINX_BINARY} if $ENV{TEST_NGINX_BINARY};

    my $mode = mode();
    return '/usr/sbin/nginx' if $mode eq 'dynamic';
    return "$BUILD/static/nginx" if $mode eq 'static';
    return "$BUILD/asan/nginx" if $mode eq 'asan';
    croak "TEST_NGINX_MODE must be dynamic, static or asan, not \"$mode\"";
}

sub modules {
    return () unless mode() eq 'dynamic';
    return ('/usr/lib/nginx/modules/ngx_stream_module.so',
            "$BUILD/dyn/ngx_calls_module.so");
}

# why this mode cannot run, or undef
sub missing {
    my $bin = binary();
    return "$bin is missing: run tools/build.sh " . mode() unless -x $bin;

    for my $so (modules()) {
        return "$so is missing: run tools/build.sh dynamic" unless -f $so;
    }

    return undef;
}

# The asan build stops at the first undefined behaviour, and nginx 1.22's
# own debug logging has some: formatting an empty ngx_str_t with "%V" is
# memcpy(dst, NULL, 0), e.g. the "http args" line of every request
# without arguments.  Later nginx versions avoid it; the sanitizer build
# logs at info so that it can run at all.
sub log_level {
    return $ENV{TEST_NGINX_LOG_LEVEL} if $ENV{TEST_NGINX_LOG_LEVEL};
    return mode() eq 'asan' ? 'info' : 'debug';
}

# whether the nginx under test knows a directive (of our module or a
# standard one), found as a string in the binary or the module
sub has_directive {
    my ($name) = @_;

    my $needle = "\0$name\0";

    for my $file (binary(), modules()) {
        open my $fh, '<:raw', $file or next;
        local $/;
        my $bytes = <$fh>;
        return 1 if index($bytes, $needle) >= 0;
    }

    return 0;
}

# slower under the sanitizers
sub time_factor { mode() eq 'asan' ? 3 : 1 }


sub new {
    my ($class, %opts) = @_;

    my $dir = $opts{dir}
        || tempdir('calls-test-XXXXXX', TMPDIR => 1,
                   CLEANUP => !$ENV{TEST_NGINX_LEAVE});

    # workers run as nobody when the tests run as root
    chmod 0755, $dir;

    my $self = bless {
        dir => $dir,
        ports => ports(),
        pid => undef,
        config => undef,
    }, $class;

    return $self;
}

sub dir { $_[0]{dir} }

# port('http'), port('http2'), port('media'), port('rtcd'), port('tls'),
# port('stream') or the placeholder name: port('HTTP_PORT2')
sub port {
    my ($self, $name) = @_;

    $name = uc $name;
    $name = "$1_PORT$2" if $name =~ /^([A-Z]+?)(\d*)$/;

    return $self->{ports}{$name} // croak "no port \"$name\"";
}

sub http_port { $_[0]{ports}{HTTP_PORT} }
sub media_port { $_[0]{ports}{MEDIA_PORT} }

sub error_log_path { "$_[0]{dir}/error.log" }

# replaces $TEST_NGINX_<NAME> with ports, paths and the environment
sub expand {
    my ($self, $text) = @_;

    return $text unless defined $text;

    my %vars = (
        %{ $self->{ports} },
        SERVER_ROOT => $self->{dir},
        REPO => $REPO,
        BUILD => $BUILD,
    );

    $text =~ s{\$TEST_NGINX_(\w+)}{
        exists $vars{$1} ? $vars{$1}
        : exists $ENV{"TEST_NGINX_$1"} ? $ENV{"TEST_NGINX_$1"}
        : croak "unknown placeholder \$TEST_NGINX_$1"
    }ge;

    return $text;
}

# the whole nginx.conf from its sections
sub make_config {
    my ($self, %s) = @_;

    my $dir = $self->{dir};
    my $workers = $ENV{TEST_NGINX_WORKERS} || 2;
    my $level = log_level();
    my $conf = '';

    $conf .= "load_module $_;\n" for modules();

    # "daemon off" comes with -g, see start()
    $conf .= <<"END";
master_process on;
worker_processes $workers;
error_log $dir/error.log $level;
pid $dir/nginx.pid;

END

    $conf .= ($s{main_config} // '') . "\n";

    $conf .= <<"END";
events {
    worker_connections 1024;
}

http {
    access_log $dir/access.log;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;
    default_type text/plain;

END

    $conf .= ($s{http_config} // '') . "\n";

    $conf .= <<"END";
    server {
        listen 127.0.0.1:\$TEST_NGINX_HTTP_PORT;
        server_name localhost;

END

    $conf .= ($s{config} // '') . "\n";
    $conf .= "    }\n}\n";

    if (defined $s{stream_config} && $s{stream_config} =~ /\S/) {
        $conf .= "\nstream {\n$s{stream_config}\n}\n";
    }

    return $self->expand($conf);
}

sub write_file {
    my ($self, $name, $content) = @_;

    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    make_path(dirname($path));

    open my $fh, '>', $path or croak "$path: $!";
    print $fh $content;
    close $fh;
    chmod 0644, $path;

    return $path;
}

sub running { defined $_[0]{pid} }

sub config { $_[0]{config} }

sub log_size {
    my ($self) = @_;
    return -s $self->error_log_path || 0;
}

# error.log from byte offset $from (to $to)
sub error_log {
    my ($self, $from, $to) = @_;

    open my $fh, '<', $self->error_log_path or return '';
    binmode $fh;
    local $/;
    my $text = <$fh> // '';
    close $fh;

    $from //= 0;
    $to //= length $text;
    return substr($text, $from, $to - $from) if $from < length $text;
    return '';
}

# stderr without what nginx printed when it refused to start
sub stderr_of_runs {
    my ($self) = @_;

    my $text = $self->stderr_log;

    for my $r (reverse @{ $self->{failed_starts} // [] }) {
        substr($text, $r->[0], $r->[1] - $r->[0]) = ''
            if $r->[1] <= length $text;
    }

    return $text;
}

# what nginx printed to stderr before its error log was open
sub stderr_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/stderr.log" or return '';
    local $/;
    my $text = <$fh> // '';
    return $text;
}

# Starts nginx with the config text (from make_config or whole).  Returns
# undef when it runs, else why not (its exit and what it printed).
sub start {
    my ($self, $config) = @_;

    croak "nginx is already running" if $self->running;

    my $dir = $self->{dir};
    $self->write_file('nginx.conf', $config);
    $self->{config} = $config;
    unlink "$dir/nginx.pid";

    my $stderr_from = -s "$dir/stderr.log" || 0;

    my $pid = fork() // croak "fork: $!";

    if ($pid == 0) {

        # a test killed by a signal (a closed pipe, ^C) runs no END
        # blocks: nginx then gets SIGTERM from the kernel (Linux
        # PR_SET_PDEATHSIG) instead of running on
        eval { require 'syscall.ph'; syscall(&SYS_prctl(), 1, 15) };

        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/stderr.log";
        open STDERR, '>&', \*STDOUT;

        if (mode() eq 'asan') {
            $ENV{ASAN_OPTIONS} ||= 'detect_leaks=1:abort_on_error=0';
            $ENV{UBSAN_OPTIONS} ||= 'print_stacktrace=1';
        }

        # -g: without it nginx 1.22 copies an empty conf_param with
        # memcpy(dst, NULL, 0), which UBSan stops at (ngx_cycle.c)
        { exec binary(), '-p', "$dir/", '-c', "$dir/nginx.conf",
               '-e', "$dir/error.log", '-g', 'daemon off;' };
        print STDERR "exec " . binary() . ": $!\n";
        POSIX::_exit(127);
    }

    my $deadline = time + 10 * time_factor();
    my $port = $self->{ports}{HTTP_PORT};

    while (time < $deadline) {

        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            my $out = substr($self->stderr_log, $stderr_from);

            # nginx exits on a bad configuration without freeing its
            # first pool: LeakSanitizer's report of that is not ours
            push @{ $self->{failed_starts} },
                 [$stderr_from, length $self->stderr_log];

            return "nginx exited with status " . ($status >> 8)
                   . ($out ne '' ? ":\n$out" : '');
        }

        if (-s "$dir/nginx.pid") {
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                          Proto => 'tcp', Timeout => 1);
            if ($s) {
                close $s;
                $self->{pid} = $pid;
                return undef;
            }
        }

        sleep 0.02;
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);
    return "nginx did not start in time";
}

# sends a signal to the master
sub signal {
    my ($self, $sig) = @_;
    return kill $sig, $self->{pid} if $self->{pid};
    return 0;
}

# QUIT (graceful), then TERM, then KILL; returns how it went
sub stop {
    my ($self) = @_;

    my $pid = $self->{pid} // return 'not running';
    $self->{pid} = undef;

    for my $sig (['QUIT', 15], ['TERM', 5], ['KILL', 5]) {
        my ($name, $wait) = @$sig;
        kill $name, $pid;

        my $deadline = time + $wait * time_factor();

        while (time < $deadline) {
            return $name if waitpid($pid, WNOHANG) == $pid;
            sleep 0.02;
        }
    }

    return 'lost';
}

# the lines of text matching $BAD_LOG and none of the allowed patterns
sub bad_lines {
    my ($class, $text, @allowed) = @_;

    my @bad;

    for my $line (split /\n/, $text) {
        next unless $line =~ $BAD_LOG;
        next if grep { $line =~ $_ } @allowed;
        push @bad, $line;
    }

    return @bad;
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop if $self->running;
}

1;
