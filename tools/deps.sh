#!/usr/bin/env bash
# Installs what ngx_calls needs to build, run and test, and nothing that is
# already there.  Idempotent; safe to run on every `make`.
#
#   tools/deps.sh            build + run dependencies (Debian packages)
#   tools/deps.sh unit       also what the C unit tests link (libsrtp2,
#                            the oracle of the SRTP test and benchmark)
#   tools/deps.sh test       also the unit tests' and the test tools
#                            (Perl, aiortc, Chromium, the npm packages of
#                            t/browser; coturn, ip and nft for the
#                            network path tests)
#   tools/deps.sh bench      also what the benchmarks run and compare with
#                            (Janus, gnuplot, iproute2, perf, valgrind)
#
# Debian 12 only; needs root (or sudo) for apt-get.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-build}

build_pkgs=(
    gcc make pkg-config dpkg-dev
    nginx nginx-dev libnginx-mod-stream
    libssl-dev libnice-dev libusrsctp-dev
    libcjson-dev libmsgpack-dev zlib1g-dev liblmdb-dev libcrypt-dev
)

test_pkgs=(
    clang libclang-rt-14-dev
    perl libtest-base-perl libprotocol-websocket-perl
    python3 python3-aiortc python3-websockets python3-numpy
    python3-msgpack python3-prometheus-client openssl
    chromium nodejs npm
    coturn iproute2 nftables
)

# libsrtp2 is no dependency of ngx_calls: only the SRTP unit test and
# its benchmark (make srtp-bench) link it, to check ours against
unit_pkgs=(libsrtp2-dev)

# the load generator (tools/loadgen), built by `make` and `make check`:
# libopus encodes its voice, wslay frames its WebSockets
loadgen_pkgs=(libopus-dev libwslay-dev)

# what bench/run.py runs and compares with: Janus, gnuplot for the plot,
# iproute2 for its network namespace, perf and valgrind to profile
bench_pkgs=(
    janus gnuplot-nox iproute2 linux-perf valgrind
)

pkgs=("${build_pkgs[@]}" "${loadgen_pkgs[@]}")
if [ "$what" = unit ]; then
    pkgs+=("${unit_pkgs[@]}")
elif [ "$what" = test ]; then
    pkgs+=("${unit_pkgs[@]}" "${test_pkgs[@]}")
elif [ "$what" = bench ]; then
    pkgs+=("${bench_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
    # nodejs/npm may come from elsewhere (the machine image has its own)
    case $p in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'
    then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    # the package lists of a fresh machine may be empty or stale
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null
    # Debian's nginx package starts a default server on port 80; we never
    # use it and it must not hold ports our tests pick
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
        $sudo service nginx stop >/dev/null 2>&1 || true
    fi
    # nor coturn's TURN server on 3478 of every address: the TURN tests
    # start their own on loopback
    if [[ " ${missing[*]} " == *" coturn "* ]]; then
        $sudo service coturn stop >/dev/null 2>&1 || true
        if command -v systemctl >/dev/null 2>&1; then
            $sudo systemctl disable coturn >/dev/null 2>&1 || true
        fi
    fi
    # likewise Janus: the benchmark runs its own with its own configuration
    if [[ " ${missing[*]} " == *" janus "* ]]; then
        $sudo service janus stop >/dev/null 2>&1 || true
        $sudo systemctl disable janus >/dev/null 2>&1 || true
    fi
fi

if [ "$what" = test ]; then
    # t/browser: playwright-core, @mattermost/calls-common and the bundler,
    # pinned by package-lock.json
    if [ ! -d "$top/t/browser/node_modules" ] \
        || [ "$top/t/browser/package-lock.json" \
             -nt "$top/t/browser/node_modules/.package-lock.json" ]
    then
        echo "deps: npm ci in t/browser"
        (cd "$top/t/browser" && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
