#!/usr/bin/env bash
# Builds ngx_calls.
#
#   tools/build.sh dynamic   ngx_calls_module.so for Debian's packaged nginx
#                            (nginx-dev headers), in build/dyn/
#   tools/build.sh static    nginx with ngx_calls compiled in (--add-module),
#                            in build/static/nginx
#   tools/build.sh asan      the static build with AddressSanitizer and
#                            UndefinedBehaviorSanitizer, in build/asan/nginx
#
# The static builds use the nginx source tree in $NGINX_SRC when it is set,
# otherwise Debian's nginx source package, fetched once into build/ with a
# private apt source list (the system's apt configuration is not touched).

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
mode=${1:-dynamic}
jobs=${JOBS:-$(nproc)}

mkdir -p "$build"

# reconfigure when `config` changed or the configure arguments differ
needs_configure() {
    local objs=$1 args=$2
    [ -f "$objs/Makefile" ] || return 0
    [ "$top/config" -nt "$objs/Makefile" ] && return 0
    [ "$(cat "$objs/.configure-args" 2>/dev/null)" = "$args" ] || return 0
    return 1
}

fetch_debian_source() {
    local dir=$build/nginx-src apt=$build/apt
    local o

    if [ -x "$dir/src/configure" ]; then
        return
    fi

    echo "build: fetching Debian's nginx source package into $dir"
    rm -rf "$apt" "$dir"
    mkdir -p "$apt/lists/partial" "$dir"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
         "http://deb.debian.org/debian bookworm main" > "$apt/sources.list"
    o=(-o "Dir::Etc::SourceList=$apt/sources.list"
       -o "Dir::Etc::SourceParts=/nonexistent"
       -o "Dir::State::Lists=$apt/lists"
       -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
       -o "Debug::NoLocking=1" -qq)
    apt-get "${o[@]}" update
    (cd "$dir" && apt-get "${o[@]}" source nginx >/dev/null 2>&1)
    mv "$dir"/nginx-1.*/ "$dir/src"
}

case $mode in

dynamic)
    src=$build/nginx-dev
    objs=$build/dyn
    cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
    ldflags="$(dpkg-buildflags --get LDFLAGS)"
    args="dynamic|$cflags|$ldflags"

    if needs_configure "$objs" "$args"; then
        rm -rf "$src" "$objs"
        cp -a /usr/share/nginx/src "$src"
        (
            cd "$src"
            . ./conf_flags
            ./configure "${NGX_CONF_FLAGS[@]}" --with-stream=dynamic \
                --with-cc-opt="$cflags -fPIC" \
                --with-ld-opt="$ldflags -fPIC" \
                --add-dynamic-module="$top" --builddir="$objs" >/dev/null
        )
        echo "$args" > "$objs/.configure-args"
    fi

    # only our target: the stream module's own .so cannot be built from
    # nginx-dev, which ships headers only
    make -s -C "$src" -f "$objs/Makefile" -j"$jobs" \
        "$objs/ngx_calls_module.so"
    ;;

static|asan)
    if [ -n "${NGINX_SRC:-}" ]; then
        src=$NGINX_SRC
    else
        fetch_debian_source
        src=$build/nginx-src/src
    fi
    objs=$build/$mode
    cc_opt="-g -O2"
    ld_opt=
    if [ "$mode" = asan ]; then
        # NGX_DEBUG_PALLOC turns pool allocations into real mallocs so that
        # the sanitizer sees overruns inside pools
        cc_opt="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined"
        cc_opt="$cc_opt -fno-sanitize-recover=undefined -DNGX_DEBUG_PALLOC=1"
        # -lcrypt: configure finds the sanitizer's crypt() interceptor,
        # which needs the real one linked for auth_basic
        ld_opt="-fsanitize=address,undefined -lcrypt"
    fi
    args="$mode|$src|$cc_opt|$ld_opt"

    if needs_configure "$objs" "$args"; then
        rm -rf "$objs"
        (
            cd "$src"
            ./configure --prefix="$objs/prefix" --builddir="$objs" \
                --with-debug --with-compat --with-threads \
                --with-http_ssl_module --with-http_v2_module \
                --with-http_auth_request_module --with-http_realip_module \
                --with-http_stub_status_module \
                --with-stream --with-stream_ssl_module \
                --with-stream_realip_module \
                --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
                --add-module="$top" >/dev/null
        )
        echo "$args" > "$objs/.configure-args"
    fi

    make -s -C "$src" -f "$objs/Makefile" -j"$jobs" "$objs/nginx"
    ;;

*)
    echo "usage: $0 dynamic|static|asan" >&2
    exit 2
    ;;

esac
