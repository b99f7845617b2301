#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ferry setup: run as root on a Debian 12 machine, from the clone.
#
#   ./deploy/setup.sh fleet   install what is missing, start dockerd and a
#                             registry, build, start the local demo fleet
#                             (ferryd + 3 agents on 127.0.0.2-4)
#   ./deploy/setup.sh test    install what is missing, start dockerd and a
#                             registry, build the test images, run every test
#   ./deploy/setup.sh deps    only install what is missing
#
# Idempotent: when every package is present it touches neither apt nor the
# network. `apt-get update` runs only when something must be installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-deps}"

# What the build needs (see DESIGN.md, "Parts").
BUILD_PKGS=(
    build-essential pkg-config make gcc
    clang                       # libFuzzer for `make fuzz`
    libnng-dev protobuf-c-compiler libprotobuf-c-dev libsodium-dev
    libsqlite3-dev libuv1-dev libcriterion-dev libcurl4-openssl-dev
    libcjson-dev libinih-dev libyaml-dev
    libsystemd-dev              # sd_notify: the daemons' readiness
    libhttp-parser-dev          # ferry-proxy's HTTP/1.1 parser
    libsmartcols-dev            # the ferry CLI's tables (util-linux)
    debhelper dpkg-dev          # `make deb`
)
# What the integration tests and the demo need: a real Docker engine, a real
# registry, busybox for the FROM-scratch test images, and a few tools.
TEST_PKGS=(
    docker.io docker-registry busybox-static
    iproute2 sqlite3 procps
    curl                        # deploy/services.sh probes the registry
    tmux                        # a real terminal for `ferry ... --watch` tests
    debootstrap                 # the install test's fresh Debian 12 root
    lintian                     # `make lintian`
    systemd man-db              # systemd-analyze verify (it reads the man pages)
    tini                        # docker run --init in the install test
    faketime                    # libfaketime: wall-clock steps in tests
    prometheus                  # 2.42: test_prom's real server (started by
                                # the test itself), promtool
)
# What `make bench` needs beyond the tests: the proxy-cost section runs wrk
# against a static server directly, through ferry-proxy and through HAProxy
# (tests/bench/README.md). The proxy itself is never installed from here.
BENCH_PKGS=(
    haproxy                     # 2.6 in Debian 12; run by the bench only
    wrk                         # HTTP load generator
)

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '3,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

install_missing() {
    local pkgs=("$@") missing=() p
    # Docker refuses to start containers when the kernel has AppArmor on but
    # the parser is absent; Debian installs it by default, minimal images
    # may not.
    if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || true)" = Y ]; then
        pkgs+=(apparmor)
    fi
    for p in "${pkgs[@]}"; do
        is_installed "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "all ${#pkgs[@]} packages present"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root"

    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive

    # Keep package scripts from starting services (docker.io and
    # docker-registry would otherwise try, and fail without systemd).
    # deploy/services.sh starts what the tests need, the way this machine
    # allows. An existing policy-rc.d is left alone.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
        # shellcheck disable=SC2064
        trap "rm -f '$policy'" EXIT
    fi

    # A failing third-party source must not stop us: Debian's own lists are
    # what we need, and an old list is better than none.
    if ! apt-get update -q; then
        log "warning: apt-get update reported errors; trying to install anyway"
    fi
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"

    if [ "$own_policy" -eq 1 ]; then
        rm -f "$policy"
        trap - EXIT
    fi
    for p in "${missing[@]}"; do
        is_installed "$p" || die "package $p did not install"
    done
    log "installed ${#missing[@]} packages"
}

case "$MODE" in
    deps)
        install_missing "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}"
        ;;
    fleet)
        install_missing "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
        cd "$ROOT"
        # The agents drive a real Docker engine; the registry and the test
        # images give `ferry deploy` something to roll out.
        "$ROOT/deploy/services.sh" start
        "$ROOT/tests/images/build.sh"
        # The daemons, and ferry-load for the rollout under live traffic.
        make -j"$(nproc)" all tools
        exec "$ROOT/deploy/local-fleet.sh" start
        ;;
    test)
        install_missing "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}"
        cd "$ROOT"
        "$ROOT/deploy/services.sh" start
        "$ROOT/tests/images/build.sh"
        # Every test: unit and integration (the integration binaries
        # ITEST_JOBS at a time, see the Makefile), the bench's smoke pass;
        # the systemd units, the Debian packages and their install test;
        # then the unit and integration tests again (but test_nodrop) under
        # AddressSanitizer + UBSan, then a short fuzz run of the receive
        # path.  -j: the builds use every core; the tests themselves run
        # one part after another whatever -j says.
        make -j"$(nproc)" test
        make verify-units
        make lintian
        tests/install/run.sh build/deb
        make -j"$(nproc)" asan
        make fuzz FUZZ_TIME="${FERRY_FUZZ_TIME:-20}"
        ;;
    -h|--help|help)
        usage
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac
