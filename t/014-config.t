# Configuration errors of the calls directives, and inheritance.

use strict;
use warnings;

use Test::Calls;

run_tests();

__DATA__

=== TEST 1: a message cap below a control frame's payload
--- config
location /ws {
    calls_signaling;
    calls_ws_max_message_size 100;
}
--- must_die
--- error_log
"calls_ws_max_message_size" must be between 125 and 1073741824 bytes


=== TEST 2: a message cap above 1g
--- config
location /ws {
    calls_signaling;
    calls_ws_max_message_size 1025m;
}
--- must_die
--- error_log
"calls_ws_max_message_size" must be between 125 and 1073741824 bytes


=== TEST 3: a send queue below 1k
--- config
location /ws {
    calls_signaling;
    calls_ws_send_queue 512;
}
--- must_die
--- error_log
"calls_ws_send_queue" must be between 1024 and 1073741824 bytes


=== TEST 4: a size that is no size
--- config
location /ws {
    calls_signaling;
    calls_ws_send_queue lots;
}
--- must_die
--- error_log
"calls_ws_send_queue" directive invalid value


=== TEST 5: a ping interval of 0
--- config
location /ws {
    calls_signaling;
    calls_ws_ping_interval 0;
}
--- must_die
--- error_log
"calls_ws_ping_interval" must be between 1ms and 1h


=== TEST 6: a timeout of two hours
--- config
location /ws {
    calls_signaling;
    calls_ws_timeout 2h;
}
--- must_die
--- error_log
"calls_ws_timeout" must be between 1ms and 1h


=== TEST 7: a timeout that a client answering pings could hit
--- config
location /ws {
    calls_signaling;
    calls_ws_timeout 5s;
}
--- must_die
--- error_log
calls_ws_timeout (5000ms) must be longer than calls_ws_ping_interval (10000ms)


=== TEST 8: calls_signaling twice
--- config
location /ws {
    calls_signaling;
    calls_signaling;
}
--- must_die
--- error_log
"calls_signaling" directive is duplicate


=== TEST 9: calls_signaling and calls_metrics in one location
--- config
location /ws {
    calls_signaling;
    calls_metrics;
}
--- must_die
--- error_log
"calls_metrics" conflicts with another content handler in this location


=== TEST 10: calls_signaling with an argument
--- config
location /ws {
    calls_signaling on;
}
--- must_die
--- error_log
invalid number of arguments in "calls_signaling" directive


=== TEST 11: calls_signaling outside a location
--- config
calls_signaling;
--- must_die
--- error_log
"calls_signaling" directive is not allowed here


=== TEST 12: values set at http level apply to the locations below
--- http_config
calls_ws_max_message_size 1k;
calls_ws_ping_interval 200ms;
calls_ws_timeout 600ms;
--- config
location /ws {
    calls_signaling;
}
--- ws eval
"open /ws
recv_ping
send " . ("x" x 1025) . "
recv_close 1009 ^message over 1024 bytes\$
"
