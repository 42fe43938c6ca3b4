# Configuration of the media side: the stream server's directives, the
# DTLS certificate, and what nginx refuses with a message naming it.

use strict;
use warnings;

use Test::Calls;
use Test::More;

my $media = <<'END';
    server {
        listen 127.0.0.1:$TEST_NGINX_MEDIA_PORT udp reuseport;
        calls_media;
        %EXTRA%
    }
END

sub media { my ($extra) = @_; return $media =~ s/%EXTRA%/$extra \/\/ ''/er }

refused('a calls zone under 256k',
        main_config => 'calls_zone_size 64k;',
        stream_config => media(), workers => 2,
        qr/"calls_zone_size" of 65536 is too small, 256k at least/);

refused('a calls zone size that is no size',
        main_config => 'calls_zone_size lots;',
        stream_config => media(),
        qr/"calls_zone_size" directive invalid value/);

refused('two workers and a media listen without reuseport',
        stream_config => "server { listen 127.0.0.1:\$TEST_NGINX_MEDIA_PORT udp; calls_media; }",
        workers => 2,
        qr/calls_media with 2 worker processes needs "reuseport" on its UDP listen: "listen 127\.0\.0\.1:\d+ udp reuseport;"/);

refused('calls_media without a UDP listen',
        stream_config => "server { listen 127.0.0.1:\$TEST_NGINX_MEDIA_PORT; calls_media; }",
        qr/calls_media needs a "listen \.\.\. udp"/);

refused('two media servers',
        stream_config => media() . "server { listen 127.0.0.1:\$TEST_NGINX_STREAM_PORT udp; calls_media; }",
        qr/only one stream server can serve media/);

refused('the media port shared with another stream server',
        stream_config => "server { listen \$TEST_NGINX_MEDIA_PORT udp; calls_media; }\n"
                         . "server { listen 127.0.0.1:\$TEST_NGINX_MEDIA_PORT udp; return x; }",
        qr/UDP \S+ is shared with another stream server/);

refused('a host override with a port',
        stream_config => media('calls_ice_host_override 203.0.113.10:9;'),
        qr/a host only, no port/);

refused('a host override that does not resolve',
        stream_config => media('calls_ice_host_override no-such-host.invalid;'),
        qr/calls_ice_host_override "no-such-host.invalid"/);

refused('a port override out of range',
        stream_config => media('calls_ice_host_port_override 70000;'),
        qr/calls_ice_host_port_override/);

refused('a certificate without its key',
        main_config => 'calls_certificate /nonexistent.pem;',
        stream_config => media(),
        qr/"calls_certificate" and "calls_certificate_key" go together/);

refused('a certificate that cannot be read',
        main_config => "calls_certificate /nonexistent.pem;\n"
                       . "calls_certificate_key /nonexistent.key;",
        stream_config => media(),
        qr/calls: DTLS certificate: .*nonexistent/);

# the advertised candidate follows the overrides

my $t = start_nginx(
    stream_config => media("calls_ice_host_override 203.0.113.10;\n"
                           . "calls_ice_host_port_override 3478;"),
    config => 'location = /calls/ws { calls_signaling; }',
);
ok(wait_for_log(qr/calls: ICE candidate udp 203\.0\.113\.10:3478/),
   'candidate from calls_ice_host_override and its port');
stop_nginx();

# a certificate of our own: its fingerprint is the one advertised

SKIP: {
    skip 'openssl command not installed', 3 unless `which openssl`;

    my $dir = $t->dir;
    system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
           . "-nodes -days 30 -subj /CN=calls-test -keyout $dir/dtls.key "
           . "-out $dir/dtls.pem >/dev/null 2>&1") == 0
        or die "openssl req failed";

    my ($fp) = `openssl x509 -in $dir/dtls.pem -noout -fingerprint -sha256`
               =~ /=([0-9A-F:]+)/;

    $t = start_nginx(
        main_config => "calls_certificate $dir/dtls.pem;\n"
                       . "calls_certificate_key $dir/dtls.key;",
        stream_config => media(),
        config => 'location = /calls/ws { calls_signaling; }',
    );

    ok($fp, "the test certificate's fingerprint");
    ok(wait_for_log(qr/calls: DTLS certificate fingerprint sha-256 \Q$fp\E/),
       'nginx uses the configured certificate');
    stop_nginx();
}

done_testing();


sub refused {
    my ($what, @args) = @_;

    my $re = pop @args;
    my %s = @args;

    my $t = nginx();
    $t->stop if $t->running;

    local $ENV{TEST_NGINX_WORKERS} = delete $s{workers}
        if defined $s{workers};

    my $why = $t->start($t->make_config(%s));

    ok(defined $why, "$what: nginx refuses to start");
    like(($why // '') . $t->stderr_log, $re, "$what: the message says why");
}
