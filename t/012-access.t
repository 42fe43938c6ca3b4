# Access control of the signaling endpoint with nginx's own modules: the
# access phase runs before the WebSocket handshake, so refusals are plain
# HTTP answers and no WebSocket is opened.

use strict;
use warnings;

use Digest::SHA qw(sha1_base64);
use Test::Calls;

# The htpasswd entry: libc crypt() with a salt, as htpasswd files usually
# have.  The asan build cannot call crypt(): its configure found the
# sanitizer's crypt() interceptor instead of libcrypt, so nginx jumps to
# NULL; there the entry uses nginx's own {SHA} scheme.
sub password_hash {
    my ($password) = @_;

    return '{SHA}' . sha1_base64($password) . '='
        if Test::Calls::Nginx::mode() eq 'asan';

    return crypt($password, 'xy');
}

run_tests();

__DATA__

=== TEST 1: deny all: 403 before any handshake
--- config
location /ws {
    deny all;
    calls_signaling;
}
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Version: 13
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
--- error_code: 403
--- error_log
access forbidden by rule
--- no_error_log
WebSocket connection open


=== TEST 2: allow 127.0.0.1: the handshake goes through
--- config
location /ws {
    allow 127.0.0.1;
    deny all;
    calls_signaling;
}
--- ws
open /ws
send_ping allowed
recv_pong allowed


=== TEST 3: auth_basic without credentials: 401 with a challenge
--- user_files eval
">>> htpasswd\nalice:" . main::password_hash("s3cret") . "\n"
--- config
location /ws {
    auth_basic "calls";
    auth_basic_user_file $TEST_NGINX_SERVER_ROOT/htpasswd;
    calls_signaling;
}
--- request
GET /ws
--- more_headers
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Version: 13
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="calls"
--- no_error_log
WebSocket connection open


=== TEST 4: auth_basic with a wrong password: 401
--- user_files eval
">>> htpasswd\nalice:" . main::password_hash("s3cret") . "\n"
--- config
location /ws {
    auth_basic "calls";
    auth_basic_user_file $TEST_NGINX_SERVER_ROOT/htpasswd;
    calls_signaling;
}
--- request
GET /ws
--- more_headers
Authorization: Basic YWxpY2U6d3Jvbmc=
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Version: 13
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
--- error_code: 401
--- error_log
user "alice": password mismatch


=== TEST 5: auth_basic with the right password: 101 and a working socket
--- user_files eval
">>> htpasswd\nalice:" . main::password_hash("s3cret") . "\n"
--- config
location /ws {
    auth_basic "calls";
    auth_basic_user_file $TEST_NGINX_SERVER_ROOT/htpasswd;
    calls_signaling;
}
--- ws
open /ws | Authorization: Basic YWxpY2U6czNjcmV0
send {"action":"dance"}
recv_json {"event":"error","data":{"message":"unknown action \"dance\""}}
send_close 1000
recv_close 1000


=== TEST 6: auth_request decides, here by a token header
--- config
location /ws {
    auth_request /auth;
    calls_signaling;
}

location = /auth {
    internal;

    if ($http_x_calls_token = "letmein") {
        return 204;
    }

    return 401;
}
--- ws
open /ws | X-Calls-Token: letmein
send_ping in
recv_pong in


=== TEST 7: auth_request refusing: 401, no WebSocket
--- config
location /ws {
    auth_request /auth;
    calls_signaling;
}

location = /auth {
    internal;

    if ($http_x_calls_token = "letmein") {
        return 204;
    }

    return 401;
}
--- request
GET /ws
--- more_headers
X-Calls-Token: guess
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Version: 13
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
--- error_code: 401
--- no_error_log
WebSocket connection open
