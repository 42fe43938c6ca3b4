#!/usr/bin/env bash
# Runs nginx in the foreground with a shipped configuration, against the
# dynamic module just built: `make run [CONF=conf/standalone.conf]`.
#
# The prefix is build/run/: its modules/ holds Debian's stream module and
# ours, web/ is the repository's web client, logs/ the pid file, so the
# shipped configurations use the same relative paths as an installed
# nginx (modules/..., web).

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
conf=${1:-conf/standalone.conf}

case $conf in
    /*) ;;
    *) conf=$top/$conf ;;
esac

if [ ! -f "$conf" ]; then
    echo "run: no configuration $conf" >&2
    exit 2
fi

prefix=$build/run
mkdir -p "$prefix/logs" "$prefix/modules"
ln -sfn /usr/lib/nginx/modules/ngx_stream_module.so \
    "$prefix/modules/ngx_stream_module.so"
ln -sfn "$build/dyn/ngx_calls_module.so" "$prefix/modules/ngx_calls_module.so"
ln -sfn "$top/web" "$prefix/web"

# a self-signed pair for configurations that want the site's TLS files
if grep -q 'tls/mattermost.crt' "$conf" \
    && [ ! -f "$prefix/tls/mattermost.crt" ]
then
    mkdir -p "$prefix/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -days 30 -subj /CN=localhost -keyout "$prefix/tls/mattermost.key" \
        -out "$prefix/tls/mattermost.crt" >/dev/null 2>&1
    echo "run: made a self-signed certificate in $prefix/tls"
fi

nginx=${NGINX:-/usr/sbin/nginx}

"$nginx" -t -q -p "$prefix/" -c "$conf"

url=$(sed -n 's/^# url: //p' "$conf" | head -n 1)
echo
echo "ngx_calls is running with $conf"
if [ -n "$url" ]; then
    echo "open $url in two browser tabs, same room name, and talk"
fi
echo "stop with Ctrl-C"
echo

exec "$nginx" -p "$prefix/" -c "$conf" -g 'daemon off;'
