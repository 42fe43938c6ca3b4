# Headless Chromium calls through nginx: Mattermost's own RTCPeer
# (npm @mattermost/calls-common) with a small /calls/ws shim, and the
# standalone web client driven through its buttons.  The fake microphone
# plays a WAV (--use-file-for-fake-audio-capture); each page must receive
# every other page's audio (inbound-rtp packets, totalAudioEnergy > 0).

use strict;
use warnings;

use Test::Calls;
use Test::Calls::Peers;
use Test::More;

my $t = start_call_nginx(
    http_config => <<'END',
    types {
        text/html               html;
        text/css                css;
        application/javascript  js mjs;
    }
END
    config => <<'END',
        location /t/ { alias $TEST_NGINX_BUILD/browser/; }
        location / { root $TEST_NGINX_REPO/web; }
END
);

my $base = 'http://127.0.0.1:' . $t->port('http');

run_browser('RTCPeer', "$base/t/", '--client', 'rtcpeer', '--pages', 2);
run_browser('web client', "$base/", '--client', 'web', '--pages', 2);

stop_nginx();
done_testing();


sub run_browser {
    my ($what, $url, @args) = @_;

    my $r = browser_call(url => $url, args => [@args, '--seconds', 40]);

    ok(@{ $r->{results} } > 0, "$what: the browser test ran")
        or diag($r->{output});

    for my $res (@{ $r->{results} }) {
        ok($res->[0], "$what: $res->[1]");
    }

    is($r->{exit}, 0, "$what: runner exit status")
        or diag($r->{output});
}
