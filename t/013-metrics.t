# calls_metrics: the media counters in the Prometheus text format.
#
# The drop reasons expected are those of ngx_calls_counter_e in
# src/media/ngx_calls_media.h (NGX_CALLS_CNT_DROP_<REASON>), so a new
# counter there must show up here without editing this test; so are the
# reasons ICE-TCP connections close (NGX_CALLS_CNT_TCP_CLOSED_<REASON>).

use strict;
use warnings;

use Test::Calls;

run_tests();

my (@reasons, @closed);
{
    my $h = "$Test::Calls::Nginx::REPO/src/media/ngx_calls_media.h";
    open my $fh, '<', $h or BAIL_OUT("$h: $!");
    local $/;
    my $text = <$fh>;

    my %seen;
    @reasons = grep { !$seen{$_}++ } map { lc } grep { !/^(FIRST|LAST)$/ }
               $text =~ /\bNGX_CALLS_CNT_DROP_(\w+)/g;
    @closed = grep { !$seen{"closed $_"}++ } map { lc }
              grep { !/^(FIRST|LAST)$/ }
              $text =~ /\bNGX_CALLS_CNT_TCP_CLOSED_(\w+)/g;
}

# the metrics that are not counters
my %gauges = (ngx_calls_tcp_connections => 1, ngx_calls_worker_calls => 1,
              ngx_calls_worker_sessions => 1);

ok(@reasons > 10, 'drop reasons found in the media header');

start_nginx(config => <<'END');
location = /metrics {
    calls_metrics;
}
END

my $res = http_request(uri => '/metrics');

is($res->{status}, 200, 'status 200');
is($res->{headers}{'content-type'}, 'text/plain; version=0.0.4',
   'content type of the text format');

my (%help, %type, %samples, @errors);

for my $line (split /\n/, $res->{body}) {

    if ($line =~ /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S/) {
        push @errors, "second HELP for $1" if $help{$1}++;

    } elsif ($line =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/) {
        push @errors, "second TYPE for $1" if $type{$1};
        $type{$1} = $2;

    } elsif ($line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(\w+)="([^"\\]*)"((?:,\w+="[^"\\]*")*)\})? (\d+)$/) {
        my ($name, $label, $value, $more, $n) = ($1, $2, $3, $4, $5);
        $value .= $more // '';

        push @errors, "$name before its HELP and TYPE"
            unless $help{$name} && $type{$name};
        push @errors, "$name does not end in _total"
            unless $name =~ /_total$/ || $gauges{$name};

        my $key = defined $label ? "$label=$value" : '';
        push @errors, "$name\{$key\} twice" if exists $samples{$name}{$key};
        $samples{$name}{$key} = $n;

    } else {
        push @errors, "not in the text format: \"$line\"";
    }
}

is_deeply(\@errors, [], 'every line is HELP, TYPE or a sample, in order');
is_deeply([grep { $type{$_} ne 'counter' } sort keys %type],
          [sort keys %gauges], 'every metric is a counter but the gauges');
is($type{ngx_calls_tcp_connections}, 'gauge', 'TCP connections open: gauge');

# one sample per worker, with its process id
my $workers = $ENV{TEST_NGINX_WORKERS} || 2;
for my $m (qw(ngx_calls_worker_calls ngx_calls_worker_sessions)) {
    my @w = sort keys %{ $samples{$m} // {} };
    is(scalar @w, $workers, "$m: a sample per worker");
    ok(!grep({ !/^worker=\d+,pid="\d+"$/ } @w),
       "$m: worker and pid labels") or diag(join " ", @w);
}

is_deeply($samples{ngx_calls_packets_total},
          { 'direction=rx' => 0, 'direction=tx' => 0 },
          'packets by direction, zero');
is_deeply($samples{ngx_calls_bytes_total},
          { 'direction=rx' => 0, 'direction=tx' => 0 },
          'bytes by direction, zero');

for my $m (qw(ngx_calls_rtp_forwarded_total ngx_calls_stun_answered_total
              ngx_calls_role_conflicts_total))
{
    is_deeply($samples{$m}, { '' => 0 }, "$m, zero");
}

is_deeply($samples{ngx_calls_drops_total},
          { map { ("reason=$_" => 0) } @reasons },
          'every drop reason, zero');

ok(@closed > 5, 'TCP close reasons found in the media header');
is_deeply($samples{ngx_calls_tcp_closed_total},
          { map { ("reason=$_" => 0) } @closed },
          'TCP connections closed: every reason, zero');
is_deeply($samples{ngx_calls_tcp_connections}, { '' => 0 },
          'TCP connections open: zero');
is_deeply($samples{ngx_calls_tcp_accepted_total}, { '' => 0 },
          'TCP connections accepted: zero');

my $head = http_request(method => 'HEAD', uri => '/metrics');
is($head->{status}, 200, 'HEAD: 200');
is($head->{body}, '', 'HEAD: no body');
is($head->{headers}{'content-length'}, length $res->{body},
   'HEAD: the length of the GET body');

stop_nginx();

done_testing();

__DATA__

=== TEST 1: POST is refused with 405
--- config
location = /metrics { calls_metrics; }
--- request
POST /metrics
x=1
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body
metrics are read with GET or HEAD


=== TEST 2: other methods too
--- config
location = /metrics { calls_metrics; }
--- request
DELETE /metrics
--- error_code: 405


=== TEST 3: the body names the families
--- config
location = /metrics { calls_metrics; }
--- request
GET /metrics
--- response_body_like
^# HELP ngx_calls_packets_total [^\n]+\n# TYPE ngx_calls_packets_total counter\nngx_calls_packets_total\{direction="rx"\} 0\nngx_calls_packets_total\{direction="tx"\} 0\n.*# TYPE ngx_calls_drops_total counter\n.*ngx_calls_drops_total\{reason="stun_malformed"\} 0\n
