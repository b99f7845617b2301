#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The install test: ferry's Debian packages on a fresh Debian 12.
#
#   tests/install/run.sh [DEB_DIR]     (default build/deb; `make install-test`)
#
# 1. A Debian 12 minbase root with the packages' runtime dependencies
#    (debootstrap, from the mirror this machine's apt uses), cached as
#    $FERRY_TEST_CACHE/rootfs-KEY.tar (default /var/cache/ferry-test), KEY
#    a digest of the suite and the dependency list, and imported into
#    Docker as ferry-test/install-root:KEY.  The containers need no network.
# 2. Two containers from it on a private, internal Docker network of this
#    test: "coord" gets ferry-coordinator, "web-1" gets ferry-agent, both by
#    dpkg -i.  No systemd runs inside: the maintainer scripts must cope, and
#    ferryd is started by hand as the README says.  For the agent, join sees
#    a systemd (a /run/systemd/system folder and a stand-in systemctl that
#    logs its calls and starts the agent): join must enable and start the
#    service by itself.
# 3. A token from `ferry token create`, `ferry-agent join TOKEN` on web-1,
#    web-1 online in `ferry hosts`, `ferry ping web-1` answering.
# 4. ferry-proxy, from the ferry-agent package: installed with its unit,
#    enabled (the wants link debhelper makes even without systemd), its
#    state dir 0700, its config a conffile, `ferry-proxy -n` OK; started by
#    hand, it answers on its control socket (build/bench/proxyctl, copied
#    in), serves a route set there to a backend in the container
#    (build/bench/statics, linked statically), counts the requests, and
#    after a restart serves the same route from its state dir.
# 5. Both packages purged: nothing may be left but what deploy/debian/README
#    documents (the system user ferry, the group ferry-operators).
#
# Needs root, dockerd (deploy/services.sh start) and, for a cold cache,
# debootstrap and the Debian mirror.  It touches only the containers,
# network and image it names ferry-install-<pid> / ferry-test/install-root,
# and removes its containers and network whatever happens.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEBS="$(cd "${1:-$ROOT/build/deb}" && pwd)"
# The proxy's control client and a backend for it (make bench builds them).
PROXYCTL="${FERRY_PROXYCTL:-$ROOT/build/bench/proxyctl}"
STATICS="${FERRY_STATICS:-$ROOT/build/bench/statics}"
DOCKER=/usr/bin/docker
CACHE="${FERRY_TEST_CACHE:-/var/cache/ferry-test}"
SUITE=bookworm
ID="ferry-install-$$"
NET="$ID"
COORD="$ID-coord"
AGENT="$ID-agent"
WAIT=30         # seconds for any one thing to happen
START=$SECONDS
PASSED=0

log() { printf 'install-test: %s\n' "$*"; }
die() {
    printf 'install-test: FAILED: %s\n' "$*" >&2
    for c in "$COORD" "$AGENT"; do
        for f in /tmp/ferryd.log /tmp/ferry-agent.log /tmp/systemctl.log \
            /tmp/ferry-proxy.log /tmp/statics.log; do
            if $DOCKER exec "$c" test -s "$f" 2>/dev/null; then
                printf -- '--- %s:%s ---\n' "$c" "$f" >&2
                $DOCKER exec "$c" tail -n 20 "$f" >&2 || true
            fi
        done
    done
    printf '%d passed, 1 failed\n' "$PASSED"
    exit 1
}
ok() { PASSED=$((PASSED + 1)); log "ok: $*"; }

cleanup() {
    $DOCKER rm -f "$COORD" "$AGENT" >/dev/null 2>&1 || true
    $DOCKER network rm "$NET" >/dev/null 2>&1 || true
}
trap cleanup EXIT

in_coord() { $DOCKER exec "$COORD" "$@"; }
in_agent() { $DOCKER exec "$AGENT" "$@"; }

# wait_for SECONDS DESC CMD...: runs CMD until it succeeds, or dies.
wait_for() {
    local wait_s=$1 limit=$((SECONDS + $1)) desc="$2"
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $limit ] || die "$desc: not within ${wait_s}s"
        sleep 0.2
    done
}

stop_pid() {    # stop_pid CONTAINER PIDFILE NAME
    local pid
    pid="$($DOCKER exec "$1" cat "$2")"
    # kill is the shell's: minbase has no /bin/kill.
    $DOCKER exec "$1" sh -c "kill -TERM $pid" || die "kill $3 (pid $pid)"
    wait_for $WAIT "$3 (pid $pid) exiting on TERM" \
        $DOCKER exec "$1" sh -c "! kill -0 $pid 2>/dev/null"
}

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, dpkg, docker)"
$DOCKER version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "dockerd does not answer (deploy/services.sh start)"
COORD_DEB="$(ls "$DEBS"/ferry-coordinator_*.deb 2>/dev/null | tail -n 1)"
AGENT_DEB="$(ls "$DEBS"/ferry-agent_*.deb 2>/dev/null | tail -n 1)"
[ -n "$COORD_DEB" ] && [ -n "$AGENT_DEB" ] ||
    die "no ferry-coordinator and ferry-agent packages in $DEBS (make deb)"
[ -x "$PROXYCTL" ] && [ -x "$STATICS" ] ||
    die "$PROXYCTL or $STATICS not built (make build/bench/proxyctl build/bench/statics)"

# ---- 1. the root file system ---------------------------------------------

# The packages' dependencies, first alternative of each, without versions.
deps() {
    local d
    for d in "$COORD_DEB" "$AGENT_DEB"; do
        dpkg-deb -f "$d" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g'
    done | grep -v '^$' | sort -u
}
DEPS="$(deps | paste -sd, -)"

# The mirror this machine's apt uses for the suite (deb822 or one-line).
mirror() {
    local m
    m="$(awk -v s="$SUITE" '
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print uri; exit } }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
    if [ -z "$m" ]; then
        m="$(awk -v s="$SUITE" '$1 == "deb" && $0 ~ " " s " " { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 || true)"
    fi
    printf '%s\n' "${FERRY_TEST_MIRROR:-$m}"
}

KEY="$(printf '%s minbase %s\n' "$SUITE" "$DEPS" | sha256sum | cut -c1-12)"
IMAGE="ferry-test/install-root:$KEY"
TAR="$CACHE/rootfs-$KEY.tar"
ROOTFS=cached
if ! $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then
    if [ ! -s "$TAR" ]; then
        ROOTFS=built
        MIRROR="$(mirror)"
        [ -n "$MIRROR" ] || die "no Debian mirror for $SUITE in /etc/apt (set FERRY_TEST_MIRROR)"
        command -v debootstrap >/dev/null || die "debootstrap is not installed (./deploy/setup.sh deps)"
        mkdir -p "$CACHE"
        dir="$(mktemp -d "$CACHE/rootfs-$KEY.XXXXXX")"
        log "debootstrap $SUITE minbase with $DEPS (cache: $TAR)"
        if ! debootstrap --variant=minbase --include="$DEPS" "$SUITE" \
            "$dir" "$MIRROR" >"$dir.log" 2>&1; then
            tail -n 20 "$dir.log" >&2
            rm -rf "$dir"
            die "debootstrap failed (whole log: $dir.log)"
        fi
        # apt's package lists and downloaded .debs are not needed inside.
        rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
        tar -C "$dir" -cf "$TAR.tmp" .
        mv "$TAR.tmp" "$TAR"
        rm -rf "$dir" "$dir.log"
    fi
    $DOCKER import "$TAR" "$IMAGE" >/dev/null || die "docker import $TAR"
    # Roots made for other dependency lists are not needed any more.
    for old in "$CACHE"/rootfs-*.tar; do
        [ "$old" = "$TAR" ] || [ ! -e "$old" ] || rm -f "$old"
    done
    $DOCKER image ls --format '{{.Repository}}:{{.Tag}}' ferry-test/install-root |
        grep -vxF "$IMAGE" | xargs -r $DOCKER image rm >/dev/null 2>&1 || true
fi
ok "root file system $IMAGE ($ROOTFS; dependencies: $DEPS)"

# ---- 2. containers, packages ---------------------------------------------

# --internal: the containers reach each other and nothing else.
$DOCKER network create --internal "$NET" >/dev/null
for c in "$COORD:coord" "$AGENT:web-1"; do
    # --init: a PID 1 that reaps what the test's daemons leave as zombies.
    $DOCKER run -d --init --name "${c%%:*}" --hostname "${c##*:}" \
        --network "$NET" --network-alias "${c##*:}" \
        -v "$DEBS:/debs:ro" -v "$(dirname "$PROXYCTL"):/bench:ro" \
        "$IMAGE" sleep infinity >/dev/null ||
        die "docker run ${c%%:*}"
done

# snapshot C FILE: every path of the container's root file system, less
# the ones that change by themselves.
snapshot() {
    $DOCKER exec "$1" sh -c 'find / -xdev \( -path /proc -o -path /sys \
        -o -path /dev -o -path /tmp -o -path /var/lib/dpkg \) -prune \
        -o -print | sort' >"$2"
}
BEFORE_C="$(mktemp)"; BEFORE_A="$(mktemp)"; AFTER="$(mktemp)"
trap 'cleanup; rm -f "$BEFORE_C" "$BEFORE_A" "$AFTER"' EXIT
snapshot "$COORD" "$BEFORE_C"
snapshot "$AGENT" "$BEFORE_A"

in_coord dpkg -i "/debs/${COORD_DEB##*/}" >/tmp/"$ID"-dpkg.log 2>&1 ||
    { cat /tmp/"$ID"-dpkg.log >&2; die "dpkg -i ferry-coordinator"; }
rm -f /tmp/"$ID"-dpkg.log
[ "$(in_coord stat -c '%U:%G %a' /var/lib/ferry)" = "ferry:ferry 700" ] ||
    die "/var/lib/ferry is $(in_coord stat -c '%U:%G %a' /var/lib/ferry), not ferry:ferry 700"
in_coord getent passwd ferry | grep -q ':/var/lib/ferry:/usr/sbin/nologin$' ||
    die "no system user ferry with home /var/lib/ferry: $(in_coord getent passwd ferry)"
in_coord getent group ferry-operators | grep -qE '[:,]ferry(,|$)' ||
    die "no group ferry-operators with ferry in it: $(in_coord getent group ferry-operators)"
in_coord dpkg-query -W -f='${Conffiles}\n' ferry-coordinator | grep -q '/etc/ferry/ferryd.conf' ||
    die "/etc/ferry/ferryd.conf is not a conffile"
[ "$(in_coord ferryd -n)" = "configuration OK" ] || die "ferryd -n"
ok "ferry-coordinator installed: user ferry, group ferry-operators, /var/lib/ferry 0700, conffile, ferryd -n"

# ---- 3. ferryd by hand, a token, join, online, ping ----------------------

# Without systemd, as the README says: /run/ferry for the socket, ferryd
# as the user ferry.
in_coord install -d -o ferry -g ferry -m 0755 /run/ferry
$DOCKER exec -d "$COORD" sh -c 'echo $$ >/tmp/ferryd.pid; exec setpriv \
    --reuid=ferry --regid=ferry --init-groups ferryd -d >/tmp/ferryd.log 2>&1'
wait_for $WAIT "ferryd answering ferry hosts" in_coord ferry hosts
[ "$(in_coord stat -c '%U %a' /var/lib/ferry/ferryd.key)" = "ferry 600" ] ||
    die "ferryd.key is $(in_coord stat -c '%U %a' /var/lib/ferry/ferryd.key), not ferry 600"
[ "$(in_coord stat -c '%U:%G %a' /run/ferry/ferryd.sock)" = "ferry:ferry-operators 660" ] ||
    die "ferryd.sock is $(in_coord stat -c '%U:%G %a' /run/ferry/ferryd.sock), not ferry:ferry-operators 660"
ok "ferryd runs as ferry; key 0600; socket 0660 for ferry-operators"

TOKEN_ERR="$(mktemp)"
TOKEN="$(in_coord ferry token create --label role=web 2>"$TOKEN_ERR")" ||
    die "ferry token create: $(cat "$TOKEN_ERR")"
grep -qxF "  ferry-agent join -" "$TOKEN_ERR" ||
    die "token create does not print the command to run: $(cat "$TOKEN_ERR")"
! grep -qF "$TOKEN" "$TOKEN_ERR" ||
    die "token create puts the token in a command line: $(cat "$TOKEN_ERR")"
grep -q 'tcp://coord:7400' "$TOKEN_ERR" ||
    die "the token does not name tcp://coord:7400: $(cat "$TOKEN_ERR")"
rm -f "$TOKEN_ERR"
ok "ferry token create prints: ferry-agent join - (the token on stdin; ferryd at tcp://coord:7400)"

in_agent dpkg -i "/debs/${AGENT_DEB##*/}" >/tmp/"$ID"-dpkg.log 2>&1 ||
    { cat /tmp/"$ID"-dpkg.log >&2; die "dpkg -i ferry-agent"; }
rm -f /tmp/"$ID"-dpkg.log
[ "$(in_agent stat -c '%U %a' /var/lib/ferry-agent)" = "root 700" ] ||
    die "/var/lib/ferry-agent is not root 0700"
ok "ferry-agent installed: /var/lib/ferry-agent 0700"

# A systemd for join to find: the folder sd_booted() looks for, and a
# systemctl that logs its calls and starts the agent for "restart".
in_agent mkdir -p /run/systemd/system
$DOCKER exec -i "$AGENT" sh -c 'cat >/usr/local/sbin/systemctl' <<'EOF'
#!/bin/sh
# Stand-in for systemctl in the install test: no systemd runs here.
echo "$*" >>/tmp/systemctl.log
case "$*" in
"restart ferry-agent.service")
    setsid ferry-agent -d </dev/null >/tmp/ferry-agent.log 2>&1 &
    echo $! >/tmp/ferry-agent.pid ;;
"is-active --quiet ferry-agent.service")
    kill -0 "$(cat /tmp/ferry-agent.pid)" 2>/dev/null || exit 3 ;;
esac
exit 0
EOF
in_agent chmod 0755 /usr/local/sbin/systemctl

# The README's way: the token on standard input, never in a process's
# arguments.
JOIN="$(printf '%s\n' "$TOKEN" | $DOCKER exec -i "$AGENT" ferry-agent join - 2>&1)" ||
    die "join: $JOIN"
case "$JOIN" in
*"joined ferryd at tcp://coord:7400 as web-1"*"enabled and started ferry-agent.service"*) ;;
*) die "join said: $JOIN" ;;
esac
CALLS="$(in_agent cat /tmp/systemctl.log | paste -sd';' -)"
[ "$CALLS" = "enable --quiet ferry-agent.service;restart ferry-agent.service;is-active --quiet ferry-agent.service" ] ||
    die "join called systemctl as: $CALLS"
[ "$(in_agent stat -c '%a' /var/lib/ferry-agent/host.key /var/lib/ferry-agent/enrolment.conf | paste -sd' ' -)" = "600 600" ] ||
    die "host.key and enrolment.conf are not 0600"
ok "ferry-agent join enrolled web-1 and enabled and started the service"

host_online() {
    in_coord ferry hosts --json | tr -d ' \n\t' |
        grep -q '"name":"web-1"[^}]*"state":"online"'
}
wait_for $WAIT "web-1 online in ferry hosts" host_online
in_coord ferry hosts --json | tr -d ' \n\t' | grep -q '"role":"web"' ||
    die "web-1 lacks the token's label role=web: $(in_coord ferry hosts)"
ok "web-1 online, labelled role=web"

PING="$(in_coord ferry ping web-1 2>&1)" || die "ferry ping web-1: $PING"
ok "ferry ping web-1: $(printf '%s' "$PING" | tail -n 1)"

# ---- 4. ferry-proxy: installed, enabled, started by hand, serving -------

# ferry-proxy came with it: binary, unit enabled, man page, conffile,
# state dir; the agent's unit wants it.
for f in /usr/sbin/ferry-proxy /lib/systemd/system/ferry-proxy.service \
    /usr/share/man/man8/ferry-proxy.8.gz /etc/ferry/ferry-proxy.conf; do
    in_agent test -e "$f" || die "ferry-agent did not install $f"
done
in_agent test -L /etc/systemd/system/multi-user.target.wants/ferry-proxy.service ||
    die "ferry-proxy.service is not enabled (no multi-user.target.wants link)"
in_agent grep -qx 'Wants=ferry-proxy.service' /lib/systemd/system/ferry-agent.service ||
    die "ferry-agent.service does not want ferry-proxy.service"
[ "$(in_agent stat -c '%U %a' /var/lib/ferry-proxy)" = "root 700" ] ||
    die "/var/lib/ferry-proxy is $(in_agent stat -c '%U %a' /var/lib/ferry-proxy), not root 700"
in_agent dpkg-query -W -f='${Conffiles}\n' ferry-agent | grep -q '/etc/ferry/ferry-proxy.conf' ||
    die "/etc/ferry/ferry-proxy.conf is not a conffile"
[ "$(in_agent ferry-proxy -n 2>&1)" = "configuration OK" ] ||
    die "ferry-proxy -n: $(in_agent ferry-proxy -n 2>&1)"
ok "ferry-proxy installed: unit enabled and wanted by the agent's, /var/lib/ferry-proxy 0700, conffile, ferry-proxy -n"

# Started by hand (no systemd here), the proxy answers on its control
# socket, serves a route set there and counts what it served.
start_proxy() {
    $DOCKER exec -d "$AGENT" sh -c 'echo $$ >/tmp/ferry-proxy.pid; \
        exec ferry-proxy -d >>/tmp/ferry-proxy.log 2>&1'
    wait_for $WAIT "ferry-proxy answering on /run/ferry-proxy/control.sock" \
        in_agent /bench/proxyctl /run/ferry-proxy/control.sock status
}
# get PORT: one GET / on 127.0.0.1:PORT with bash's /dev/tcp (minbase has
# no HTTP client); prints the status line.
get() {
    in_agent timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 &&
        printf 'GET / HTTP/1.1\r\nHost: web-1\r\nConnection: close\r\n\r\n' >&3 &&
        head -n 1 <&3" | tr -d '\r'
}
proxy_serves() { [ "$(get 8080)" = "HTTP/1.1 200 OK" ]; }
start_proxy
[ "$(in_agent stat -c '%U %a' /run/ferry-proxy/control.sock)" = "root 600" ] ||
    die "the control socket is $(in_agent stat -c '%U %a' /run/ferry-proxy/control.sock), not root 600"
$DOCKER exec -d "$AGENT" sh -c 'echo $$ >/tmp/statics.pid; \
    exec /bench/statics --listen 127.0.0.1:9000 >/tmp/statics.log 2>&1'
in_agent /bench/proxyctl /run/ferry-proxy/control.sock set install-web \
    127.0.0.1:8080 127.0.0.1:9000 >/dev/null || die "the proxy refused a route"
wait_for $WAIT "the proxy serving 127.0.0.1:8080" proxy_serves
for i in 1 2; do
    [ "$(get 8080)" = "HTTP/1.1 200 OK" ] || die "GET through the proxy: $(get 8080)"
done
in_agent /bench/proxyctl /run/ferry-proxy/control.sock status | grep -q '^traffic install-web 1 requests=[1-9]' ||
    die "the proxy counted nothing: $(in_agent /bench/proxyctl /run/ferry-proxy/control.sock status)"
in_agent test -n "$(in_agent ls -A /var/lib/ferry-proxy)" ||
    die "the proxy kept no routing table in /var/lib/ferry-proxy"
ok "ferry-proxy started by hand: control socket root 0600, route served (200 through 127.0.0.1:8080), requests counted"

# A restart restores the route from the state dir.
stop_pid "$AGENT" /tmp/ferry-proxy.pid ferry-proxy
start_proxy
wait_for $WAIT "the restarted proxy serving 127.0.0.1:8080 again" proxy_serves
in_agent /bench/proxyctl /run/ferry-proxy/control.sock status | grep -q '^route install-web http 127.0.0.1:8080' ||
    die "the restarted proxy lost the route: $(in_agent /bench/proxyctl /run/ferry-proxy/control.sock status)"
ok "ferry-proxy restarted: the route came back from /var/lib/ferry-proxy and is served"

# ---- 5. stop, purge, what is left ----------------------------------------

stop_pid "$AGENT" /tmp/ferry-agent.pid ferry-agent
stop_pid "$AGENT" /tmp/ferry-proxy.pid ferry-proxy
stop_pid "$AGENT" /tmp/statics.pid statics
stop_pid "$COORD" /tmp/ferryd.pid ferryd
in_agent rm -rf /usr/local/sbin/systemctl /run/systemd
in_agent dpkg --purge ferry-agent >/dev/null 2>&1 || die "dpkg --purge ferry-agent"
in_coord dpkg --purge ferry-coordinator >/dev/null 2>&1 || die "dpkg --purge ferry-coordinator"

# Documented to stay (deploy/debian/README): the system user ferry and the
# group ferry-operators; with them the backups adduser writes of the files
# it changed, and its lock file in /run (a tmpfs on a real host).
left() {    # left CONTAINER BEFORE
    snapshot "$1" "$AFTER"
    comm -13 "$2" "$AFTER" |
        grep -vxE '/etc/(passwd|group|shadow|gshadow)-|/run/adduser' || true
}
LEFT="$(left "$COORD" "$BEFORE_C"; left "$AGENT" "$BEFORE_A")"
[ -z "$LEFT" ] || die "left behind after purge: $(echo $LEFT)"
in_coord getent passwd ferry >/dev/null || die "the user ferry went away (documented to stay)"
in_coord getent group ferry-operators >/dev/null ||
    die "the group ferry-operators went away (documented to stay)"
for p in /etc/ferry /var/lib/ferry /run/ferry /usr/sbin/ferryd /usr/bin/ferry; do
    ! in_coord test -e "$p" || die "$p is left on coord"
done
for p in /etc/ferry /var/lib/ferry-agent /var/lib/ferry-proxy /run/ferry-proxy \
    /usr/sbin/ferry-agent /usr/sbin/ferry-proxy /lib/systemd/system/ferry-proxy.service \
    /etc/systemd/system/multi-user.target.wants/ferry-proxy.service; do
    ! in_agent test -e "$p" || die "$p is left on web-1"
done
ok "purged: nothing left but the documented user ferry and group ferry-operators"

printf 'install-test: %d passed, 0 failed in %ds (root file system %s)\n' \
    "$PASSED" $((SECONDS - START)) "$ROOTFS"
