package Test::Calls;

# Test harness of ngx_calls: runs the real nginx with the built module on
# free loopback ports and drives it over HTTP and WebSocket.
#
# RUNNING
#
#   prove -I t/lib t/                         Debian's nginx + the module
#   TEST_NGINX_MODE=static prove -I t/lib t/  build/static/nginx
#   TEST_NGINX_MODE=asan prove -I t/lib t/    build/asan/nginx (sanitizers)
#
#   TEST_NGINX_MODE     dynamic (default): /usr/sbin/nginx with
#                       load_module ngx_stream_module.so and
#                       build/dyn/ngx_calls_module.so; static; asan
#                       (ASAN_OPTIONS=detect_leaks=1:abort_on_error=0,
#                       UBSAN_OPTIONS=print_stacktrace=1 unless set)
#   TEST_NGINX_BINARY   another nginx binary
#   TEST_NGINX_WORKERS  worker_processes (default 1)
#   TEST_NGINX_LOG_LEVEL  error_log level (default debug; info under asan,
#                       where nginx 1.22's own debug logging is undefined
#                       behaviour: memcpy(dst, NULL, 0) for empty strings)
#   TEST_NGINX_LEAVE    keep the temporary directory (its path is shown)
#   BUILD               the build directory (default <repo>/build)
#
# Each .t file gets a temporary directory (nginx prefix, nginx.conf,
# error.log, access.log, files the tests write) and its own free ports.
# nginx runs with a master and worker_processes 1 (-p dir -c nginx.conf
# -g "daemon off;"), error_log in the directory.  It is restarted between
# blocks only when the configuration changes, and stopped with QUIT (then
# TERM, then KILL) at the end.  A missing build stops the whole run
# (BAIL_OUT) with the command that makes it.
#
# DATA-DRIVEN TESTS (Test::Base format)
#
#   use Test::Calls;
#   run_tests();
#   __DATA__
#   === TEST 1: a name
#   --- config
#   location /ws { calls_signaling; }
#   --- request
#   POST /ws
#   --- error_code: 405
#   --- response_body
#   a WebSocket handshake must use GET
#
# Sections (all optional; $TEST_NGINX_* placeholders are replaced in
# every section: HTTP_PORT, HTTP_PORT2, HTTP_PORT3, RTCD_PORT, TLS_PORT,
# STREAM_PORT, MEDIA_PORT (free for TCP and UDP), SERVER_ROOT (the
# temporary directory), REPO, BUILD, and any TEST_NGINX_* environment
# variable):
#
#   main_config       top level of nginx.conf
#   http_config       inside http {}
#   config            inside the default server {}, which listens on
#                     127.0.0.1:$TEST_NGINX_HTTP_PORT
#   stream_config     inside stream {} (the block exists only when given
#                     and not empty)
#   user_files        files to write first: lines ">>> name" (relative to
#                     SERVER_ROOT), each followed by its content
#   must_die          nginx must refuse to start; error_log then checks
#                     what it printed
#   request           "METHOD /uri [HTTP/x.y]", further lines the body
#   raw_request       bytes sent as they are (use the eval filter for \r)
#   more_headers      request header lines, "Name: value"
#   error_code        the status (default 200; 101 ends the read)
#   response_body     exact body
#   response_body_like   a regex for the body (/s)
#   response_headers  lines "Name: value" (exact) or "!Name" (absent)
#   response_headers_like  lines "Name: regex"
#   ws                a WebSocket script, see below
#   timeout           seconds for each wait (default 5; x3 under asan)
#   error_log         lines that must appear in error.log during the block
#   error_log_like    regexes that must match error.log lines
#                     Lines with [alert], [crit], [emerg], "Sanitizer" or
#                     "runtime error:" fail the block unless they contain
#                     an error_log line or match an error_log_like regex.
#   no_error_log      lines that must not appear
#
# WebSocket scripts (--- ws): one command per line; "@name" in front picks
# a client (default "a"); empty lines and "# ..." are skipped.  Every
# recv_* and open is a test of its own; pings from the server are
# answered (and skipped) while waiting for messages.
#
#   open [:PORT] /path [| Header: value | ...]   handshake, must get 101
#   send TEXT                 a text frame (masked, final)
#   send_binary HEX
#   send_ping [TEXT]          send_pong [TEXT]
#   send_close [CODE [REASON]]
#   send_raw HEX              bytes as they are
#   send_frame [fin=0|1] [op=N] [rsv=N] [mask=0|1] [len=N] [hex=HEX]
#              [payload=TEXT to the end of the line]
#   recv TEXT                 the next message is this text
#   recv_like REGEX
#   recv_json JSON            the next message is this JSON: strings
#                             "$name" bind a variable the first time and
#                             must be equal afterwards, "~REGEX" match
#   recv_ping [TEXT]          recv_pong [TEXT]
#   recv_close CODE [REGEX]   a close frame with this code (and reason);
#                             CODE "none": no code
#   recv_eof                  the server closes the connection
#   recv_none SECONDS         no message in that time
#   auto_pong on|off          whether pings are answered (default on)
#   sleep SECONDS
#   close                     drop the TCP connection
#
# PERL API (for scripted tests, mixed freely with run_tests)
#
#   my $t = start_nginx(config => '...', http_config => '...');
#   $t->port('http'), $t->port('media'), $t->dir, $t->write_file(n, text),
#   $t->signal('QUIT'), $t->error_log($from), $t->log_size
#   my ($ws, $res) = ws_connect('/ws', headers => [...], extra => $bytes);
#   $ws->send_text / send_json / send_frame(%f) / send_raw / read_frame /
#       read_message / read_json / wait_eof / close   (Test::Calls::WS)
#   my $res = http_request(method => 'GET', uri => '/metrics');
#   wait_for_log(qr/.../, $seconds)   true once error.log matches
#   Test::Calls::Nginx::has_directive('calls_media')   whether the nginx
#                                     under test knows a directive
#   stop_nginx()                      stops it and tests the error log
#   done_testing();

use Test::Base -base;

use Test::Calls::Nginx;
use Test::Calls::WS;
use Test::Calls::HTTP;

use Carp qw(croak);
use JSON::PP ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(run_tests start_nginx stop_nginx nginx ws_connect
                 http_request wait_for_log match_json done_testing);

my $NGINX;
my $LOG_MARK = 0;


sub done_testing { Test::More::done_testing(@_) }

sub nginx {
    unless ($NGINX) {
        if (my $missing = Test::Calls::Nginx::missing()) {
            Test::More::BAIL_OUT($missing);
        }

        $NGINX = Test::Calls::Nginx->new;
        Test::More::diag("nginx test directory: " . $NGINX->dir)
            if $ENV{TEST_NGINX_LEAVE};
    }

    return $NGINX;
}

sub _factor { Test::Calls::Nginx::time_factor() }


# ---------------------------------------------------------------- API

sub start_nginx {
    my (%s) = @_;

    my $t = nginx();
    $t->stop if $t->running;

    $LOG_MARK = $t->log_size;

    my $why = $t->start($t->make_config(%s));
    croak "nginx did not start: $why" if defined $why;

    return $t;
}

# expect => [qr/.../, ...]: bad lines the test caused on purpose
sub stop_nginx {
    my (%o) = @_;

    my $t = nginx();
    my $how = $t->stop;

    my @bad = Test::Calls::Nginx->bad_lines($t->error_log($LOG_MARK));

    for my $re (@{ $o{expect} // [] }) {
        @bad = grep { $_ !~ $re } @bad;
    }
    $LOG_MARK = $t->log_size;

    Test::More::ok(!@bad, "error.log is clean (nginx stopped by $how)")
        or Test::More::diag(join "\n", @bad);

    check_stderr($t);
}

# Sanitizer reports (leaks at a worker's exit among them) go to stderr,
# not to error.log
my $STDERR_MARK = 0;

sub check_stderr {
    my ($t) = @_;

    my $text = $t->stderr_of_runs;

    # configuration errors go to stderr too; only the sanitizers count here
    my @bad = grep { /Sanitizer|runtime error:/ }
              split /\n/, substr($text, $STDERR_MARK);
    $STDERR_MARK = length $text;

    Test::More::ok(!@bad, "nginx's stderr has no sanitizer report")
        or Test::More::diag(join "\n", @bad);
}

sub ws_connect {
    my ($path, %o) = @_;
    return Test::Calls::WS->connect(port => nginx()->http_port,
                                    timeout => 5 * _factor(),
                                    path => $path, %o);
}

sub http_request {
    my (%o) = @_;
    return Test::Calls::HTTP::request(port => nginx()->http_port,
                                      timeout => 5 * _factor(), %o);
}

sub wait_for_log {
    my ($re, $seconds, $from) = @_;

    my $t = nginx();
    my $deadline = time + ($seconds // 3) * _factor();

    for (;;) {
        return 1 if $t->error_log($from // $LOG_MARK) =~ $re;
        return 0 if time > $deadline;
        sleep 0.05;
    }
}


# ---------------------------------------------------------- run_tests

sub run_tests {
    my $t = nginx();

    Test::More::plan('no_plan') unless Test::Builder->new->has_plan;

    my @done;

    for my $block (blocks()) {
        my $name = $block->name;

        my $ok = eval { _run_block($t, $block); 1 };

        unless ($ok) {
            my $err = $@;
            Test::More::fail("$name: $err");
            $block->{_log_from} //= $t->log_size;
        }

        push @done, $block;
    }

    $t->stop if $t->running;

    # every block answers for the log lines up to the next one's start

    for my $i (0 .. $#done) {
        my $b = $done[$i];
        my $from = $b->{_log_from};
        my $to = $i < $#done ? $done[$i + 1]{_log_from} : undef;
        # lines the block expects are no surprise
        my @allowed = ((map { qr/$_/ } _lines($b, 'error_log_like')),
                       (map { qr/\Q$_\E/ } _lines($b, 'error_log')));

        my @bad = Test::Calls::Nginx->bad_lines($t->error_log($from, $to),
                                                @allowed);

        Test::More::ok(!@bad, $b->name . ": error.log has no alert, crit, "
                              . "emerg or sanitizer lines")
            or Test::More::diag(join "\n", @bad);
    }

    $LOG_MARK = $t->log_size;

    check_stderr($t);
}

sub _section {
    my ($block, $name) = @_;

    return undef unless exists $block->{$name};

    my $v = $block->$name;
    $v = join('', @$v) if ref $v eq 'ARRAY';
    return nginx()->expand($v);
}

sub _lines {
    my ($block, $name) = @_;

    my $v = _section($block, $name);
    return () unless defined $v;
    return grep { length } map { s/^\s+|\s+$//gr } split /\n/, $v;
}

sub _run_block {
    my ($t, $block) = @_;

    my $name = $block->name;
    my %sections;

    for my $s (qw(main_config http_config config stream_config)) {
        my $v = _section($block, $s);
        $sections{$s} = $v if defined $v;
    }

    my $config = $t->make_config(%sections);
    my $must_die = exists $block->{must_die};

    if ($t->running && ($must_die || $t->config ne $config)) {
        $t->stop;
    }

    my $from = $t->log_size;
    $block->{_log_from} = $from;

    if (defined(my $files = _section($block, 'user_files'))) {
        for my $part (split /^>>>\s*/m, $files) {
            next unless length $part;
            my ($file, $content) = split /\n/, $part, 2;
            $t->write_file($file, $content // '');
        }
    }

    if ($must_die) {
        my $why = $t->start($config);

        if (!defined $why) {
            $t->stop;
            Test::More::fail("$name: nginx must refuse this configuration");
            return;
        }

        Test::More::pass("$name: nginx refused the configuration");

        my $out = $why . "\n" . $t->error_log($from);

        for my $line (_lines($block, 'error_log')) {
            Test::More::ok(index($out, $line) >= 0,
                           "$name: startup output has \"$line\"")
                or Test::More::diag($out);
        }

        for my $re (_lines($block, 'error_log_like')) {
            Test::More::like($out, qr/$re/,
                             "$name: startup output matches /$re/");
        }

        return;
    }

    unless ($t->running) {
        my $why = $t->start($config);
        die "nginx did not start: $why\n" if defined $why;
    }

    my $timeout = (_section($block, 'timeout') // 5) * _factor();

    if (exists $block->{request} || exists $block->{raw_request}) {
        _run_request($t, $block, $timeout);
    }

    if (exists $block->{ws}) {
        _run_ws($t, $block, $timeout);
    }

    _check_log($t, $block, $from);
}

sub _run_request {
    my ($t, $block, $timeout) = @_;

    my $name = $block->name;
    my %req = (port => $t->http_port, timeout => $timeout);

    if (exists $block->{raw_request}) {
        $req{raw} = _section($block, 'raw_request');

    } else {
        my ($line, $body) = split /\n/, _section($block, 'request'), 2;
        my ($method, $uri, $version) = split ' ', $line;

        $req{method} = $method;
        $req{uri} = $uri;
        $req{version} = $version if $version;
        $req{body} = $body if defined $body && length $body;
        $req{headers} = [_lines($block, 'more_headers')];
    }

    my $res = Test::Calls::HTTP::request(%req);

    if ($res->{error}) {
        Test::More::fail("$name: request failed: $res->{error}");
        return;
    }

    my $code = _section($block, 'error_code') // 200;
    $code =~ s/\s+//g;

    Test::More::is($res->{status}, $code, "$name: status $code")
        or Test::More::diag($res->{raw_headers});

    if (exists $block->{response_body}) {
        Test::More::is($res->{body}, _section($block, 'response_body'),
                       "$name: response body");
    }

    if (exists $block->{response_body_like}) {
        my $re = _section($block, 'response_body_like');
        chomp $re;
        Test::More::like($res->{body}, qr/$re/s, "$name: response body like");
    }

    for my $h (_lines($block, 'response_headers')) {
        if ($h =~ /^!\s*(\S+)/) {
            Test::More::ok(!exists $res->{headers}{lc $1},
                           "$name: no header $1");
            next;
        }

        my ($n, $v) = $h =~ /^([^:]+):\s*(.*)$/ or die "bad header \"$h\"\n";
        Test::More::is($res->{headers}{lc $n}, $v, "$name: header $n");
    }

    for my $h (_lines($block, 'response_headers_like')) {
        my ($n, $v) = $h =~ /^([^:]+):\s*(.*)$/ or die "bad header \"$h\"\n";
        Test::More::like($res->{headers}{lc $n} // '', qr/$v/,
                         "$name: header $n like /$v/");
    }
}

sub _check_log {
    my ($t, $block, $from) = @_;

    my $name = $block->name;
    my @want = _lines($block, 'error_log');
    my @like = _lines($block, 'error_log_like');
    my @not = _lines($block, 'no_error_log');

    return unless @want || @like || @not;

    # what nginx logs after answering may come a little later
    my $deadline = time + 3 * _factor();
    my $log;

    for (;;) {
        $log = $t->error_log($from);
        last if !grep({ index($log, $_) < 0 } @want)
                && !grep({ $log !~ /$_/ } @like);
        last if time > $deadline;
        sleep 0.05;
    }

    Test::More::ok(index($log, $_) >= 0, "$name: error.log has \"$_\"")
        for @want;
    Test::More::like($log, qr/$_/, "$name: error.log matches /$_/")
        for @like;

    if (@not) {
        sleep 0.3;
        $log = $t->error_log($from);
    }

    for my $line (@not) {
        my @hits = grep { index($_, $line) >= 0 } split /\n/, $log;
        Test::More::ok(!@hits, "$name: error.log has no \"$line\"")
            or Test::More::diag(join "\n", @hits);
    }
}


# ------------------------------------------------------ the ws scripts

sub _run_ws {
    my ($t, $block, $timeout) = @_;

    my $name = $block->name;
    my (%clients, %vars);
    my $n = 0;

    for my $line (split /\n/, _section($block, 'ws')) {
        $n++;
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '' || $line =~ /^#/;

        my $who = 'a';
        $who = $1 if $line =~ s/^@(\w+)\s+//;

        my ($cmd, $arg) = $line =~ /^(\S+)(?:\s+(.*))?$/;
        $arg //= '';

        my $label = "$name: \@$who $cmd"
                    . (length $arg ? ' ' . substr($arg, 0, 60) : '');

        if ($cmd eq 'open') {
            my ($port, $path, $hdrs) =
                $arg =~ m{^(?::(\d+)\s+)?(\S+)\s*(?:\|\s*(.*))?$}
                or die "line $n: open [:PORT] /path [| headers]\n";

            my @headers = defined $hdrs ? split(/\s*\|\s*/, $hdrs) : ();

            my ($ws, $res) = Test::Calls::WS->connect(
                port => $port || $t->http_port, path => $path,
                headers => \@headers, timeout => $timeout);

            Test::More::ok($ws, "$label: 101")
                or Test::More::diag($res
                    ? "$res->{status} " . ($res->{error} // $res->{body})
                    : "no response");

            $clients{$who} = $ws;
            next;
        }

        if ($cmd eq 'sleep') {
            sleep $arg * _factor();
            next;
        }

        my $ws = $clients{$who}
            or die "line $n: client \@$who is not open\n";

        if ($cmd eq 'close') {
            CORE::close($ws->sock);
            delete $clients{$who};

        } elsif ($cmd eq 'auto_pong') {
            $ws->auto_pong($arg eq 'on' ? 1 : 0);

        } elsif ($cmd eq 'send') {
            $ws->send_text($arg) or die "line $n: send failed: $!\n";

        } elsif ($cmd eq 'send_binary') {
            $ws->send_binary(_hex($arg));

        } elsif ($cmd eq 'send_ping') {
            $ws->send_ping($arg);

        } elsif ($cmd eq 'send_pong') {
            $ws->send_pong($arg);

        } elsif ($cmd eq 'send_close') {
            my ($code, $reason) = split ' ', $arg, 2;
            $ws->send_close($code, $reason);

        } elsif ($cmd eq 'send_raw') {
            $ws->send_raw(_hex($arg));

        } elsif ($cmd eq 'send_frame') {
            $ws->send_frame(_frame_args($arg, $n));

        } elsif ($cmd =~ /^recv/) {
            _ws_expect($ws, $cmd, $arg, $label, $timeout, \%vars, $n);

        } else {
            die "line $n: unknown command \"$cmd\"\n";
        }
    }
}

sub _hex {
    my ($hex) = @_;
    $hex =~ s/\s+//g;
    return pack('H*', $hex);
}

sub _frame_args {
    my ($arg, $n) = @_;

    my %f;

    if ($arg =~ s/(?:^|\s)payload=(.*)$//) {
        $f{payload} = $1;
    }

    for my $kv (split ' ', $arg) {
        my ($k, $v) = $kv =~ /^(\w+)=(\S*)$/
            or die "line $n: send_frame takes key=value, not \"$kv\"\n";

        if ($k eq 'op') { $f{opcode} = $v =~ /^0x/ ? hex $v : $v }
        elsif ($k eq 'hex') { $f{payload} = _hex($v) }
        elsif ($k =~ /^(fin|rsv|mask|len)$/) { $f{$k} = $v }
        else { die "line $n: send_frame: unknown \"$k\"\n" }
    }

    return %f;
}

sub _ws_expect {
    my ($ws, $cmd, $arg, $label, $timeout, $vars, $n) = @_;

    if ($cmd eq 'recv_eof') {
        Test::More::ok($ws->wait_eof($timeout), $label);
        return;
    }

    if ($cmd eq 'recv_none') {
        my $m = $ws->read_message(($arg || 1) * _factor());
        Test::More::ok(!$m, $label)
            or Test::More::diag("got " . _describe($m));
        return;
    }

    my $control = $cmd eq 'recv_ping' || $cmd eq 'recv_pong';
    my $m = $ws->read_message($timeout, keep_control => $control);

    unless ($m && !$m->{eof}) {
        Test::More::fail($label);
        Test::More::diag($m ? "connection closed" : "nothing in time");
        return;
    }

    my $err;

    if ($cmd eq 'recv' || $cmd eq 'recv_like' || $cmd eq 'recv_json') {

        if ($m->{opcode} != Test::Calls::WS::TEXT) {
            $err = "expected a text message, got " . _describe($m);

        } elsif ($cmd eq 'recv') {
            $err = "got \"$m->{payload}\"" if $m->{payload} ne $arg;

        } elsif ($cmd eq 'recv_like') {
            $err = "got \"$m->{payload}\"" if $m->{payload} !~ /$arg/;

        } else {
            my $got = eval { Test::Calls::WS->json->decode($m->{payload}) };
            my $exp = eval { Test::Calls::WS->json->decode($arg) };

            die "line $n: bad JSON in the test: $@\n" unless defined $exp;

            $err = defined $got
                   ? match_json($exp, $got, $vars)
                   : "not JSON: \"$m->{payload}\"";
            $err = "$err in $m->{payload}" if $err && defined $got;
        }

    } elsif ($control) {
        my $op = $cmd eq 'recv_ping' ? Test::Calls::WS::PING
                                     : Test::Calls::WS::PONG;

        if ($m->{opcode} != $op) {
            $err = "got " . _describe($m);
        } elsif (length $arg && $m->{payload} ne $arg) {
            $err = "payload \"$m->{payload}\"";
        }

    } elsif ($cmd eq 'recv_close') {
        my ($code, $reason) = split ' ', $arg, 2;

        if ($m->{opcode} != Test::Calls::WS::CLOSE) {
            $err = "got " . _describe($m);

        } elsif (($m->{code} // 'none') ne $code) {
            $err = "close code " . ($m->{code} // 'none')
                   . " \"$m->{reason}\"";

        } elsif (defined $reason && $m->{reason} !~ /$reason/) {
            $err = "close reason \"$m->{reason}\"";
        }

    } else {
        die "line $n: unknown command \"$cmd\"\n";
    }

    Test::More::ok(!$err, $label) or Test::More::diag($err);
}

sub _describe {
    my ($m) = @_;

    return 'nothing' unless $m;
    return 'end of connection' if $m->{eof};

    my $p = $m->{payload} // '';
    $p = substr($p, 0, 200) . '...' if length $p > 200;

    return "close " . ($m->{code} // 'none') . " \"$m->{reason}\""
        if $m->{opcode} == Test::Calls::WS::CLOSE;

    return "opcode $m->{opcode} \"$p\"";
}

# undef when $got matches $exp (see recv_json), else what differs
sub match_json {
    my ($exp, $got, $vars, $path) = @_;

    $path //= '';

    if (ref $exp eq 'HASH') {
        return "$path: expected an object" unless ref $got eq 'HASH';

        my @keys = sort keys %$exp;
        my @gkeys = sort keys %$got;

        return "$path: keys (@gkeys), expected (@keys)"
            unless "@keys" eq "@gkeys";

        for my $k (@keys) {
            my $e = match_json($exp->{$k}, $got->{$k}, $vars, "$path.$k");
            return $e if $e;
        }

        return undef;
    }

    if (ref $exp eq 'ARRAY') {
        return "$path: expected an array" unless ref $got eq 'ARRAY';
        return "$path: " . @$got . " elements, expected " . @$exp
            unless @$got == @$exp;

        for my $i (0 .. $#$exp) {
            my $e = match_json($exp->[$i], $got->[$i], $vars, "$path\[$i\]");
            return $e if $e;
        }

        return undef;
    }

    if (JSON::PP::is_bool($exp)) {
        return "$path: expected a boolean"
            unless JSON::PP::is_bool($got) && !!$got == !!$exp;
        return undef;
    }

    if (!defined $exp) {
        return defined $got ? "$path: expected null" : undef;
    }

    return "$path: expected a scalar" if ref $got || !defined $got;

    if ($exp =~ /^\$(\w+)$/) {
        if (exists $vars->{$1}) {
            return $got eq $vars->{$1} ? undef
                   : "$path: \"$got\", expected \$$1 = \"$vars->{$1}\"";
        }

        return "$path: empty value for \$$1" unless length $got;
        $vars->{$1} = $got;
        return undef;
    }

    if ($exp =~ /^~(.*)$/s) {
        return $got =~ /$1/ ? undef : "$path: \"$got\" !~ /$1/";
    }

    return $got eq $exp ? undef : "$path: \"$got\", expected \"$exp\"";
}

END {
    # waitpid() would reset the exit status of a failed test
    local $?;
    $NGINX->stop if $NGINX && $NGINX->running;
}

1;
