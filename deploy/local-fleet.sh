#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The local demo fleet: one ferryd and three hosts on this machine, each
# host an agent joined by token and a ferry-proxy beside it, serving the
# host's service ports on its own loopback address (127.0.0.2-4).  start
# ends with a rolling deploy under live traffic, then two canaries under
# the same traffic (deploy/examples/canary.yml: a good revision promoted
# step by step on its figures; canary-bad.yml: one failing 5% of its
# requests, rolled back by its figures): ferry-load sends requests to every
# host's port throughout, and prints how many were answered and how many
# failed (none should), the 500s the canary revisions answer on purpose
# apart.
#
#   deploy/local-fleet.sh [start]   (re)start the fleet, show hosts and ping
#   deploy/local-fleet.sh stop      stop what start started; keep the state
#   deploy/local-fleet.sh status    the processes, and `ferry hosts`
#
# Settings (environment):
#   FERRY_FLEET_DIR        state, logs, PID files and ferryd's socket
#                          (default /tmp/ferry-fleet); a second start reuses
#                          that state (the agents stay joined); for a fresh
#                          fleet, stop it and remove the directory
#   FERRY_FLEET_PORT_BASE  ferryd's agent port (default 7400); /metrics and
#                          /healthz on BASE+1, the demo's service port on
#                          BASE+680 (8080 by default) on each host's address
#   FERRY_FLEET_HOSTS      how many hosts (default 3, at most 9), on
#                          127.0.0.2, .3, ...
#   FERRY_FLEET_NAME       the hosts' names: NAME-1, NAME-2, ... (default
#                          host; with another port base, fleetBASE), so
#                          that no two fleets' containers or labels meet
#   FERRY_FLEET_DEMO       0: start only brings the fleet up (hosts, ping),
#                          without the demo's deploys and canaries
#   FERRY_FLEET_LISTEN, FERRY_FLEET_HTTP  ferryd's --listen and --http, if
#                          not from the port base
#   FERRY_BIN              the binaries (default build/; ferry-load from
#                          build/tests/)
# Two fleets run side by side with distinct FERRY_FLEET_DIR and
# FERRY_FLEET_PORT_BASE (e.g. 7400 and 7500): no port, socket, container
# name or label in common, and `stop` stops only its own.
# The agents drive the Docker engine on /var/run/docker.sock, as on a real
# host (`./deploy/setup.sh fleet` starts one when none runs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${FERRY_BIN:-$ROOT/build}"
DIR="${FERRY_FLEET_DIR:-/tmp/ferry-fleet}"
BASE="${FERRY_FLEET_PORT_BASE:-7400}"
AGENTS="${FERRY_FLEET_HOSTS:-3}"
DEMO="${FERRY_FLEET_DEMO:-1}"
[[ "$BASE" =~ ^[0-9]+$ ]] && ((BASE >= 1024 && BASE <= 64000)) ||
    { printf 'fleet: error: FERRY_FLEET_PORT_BASE: a port from 1024 to 64000, not "%s"\n' "$BASE" >&2; exit 2; }
[[ "$AGENTS" =~ ^[1-9]$ ]] ||
    { printf 'fleet: error: FERRY_FLEET_HOSTS: 1 to 9 hosts, not "%s"\n' "$AGENTS" >&2; exit 2; }
[[ "$DEMO" =~ ^[01]$ ]] ||
    { printf 'fleet: error: FERRY_FLEET_DEMO: 0 or 1, not "%s"\n' "$DEMO" >&2; exit 2; }
if [ "$BASE" = 7400 ]; then NAME="${FERRY_FLEET_NAME:-host}"; else NAME="${FERRY_FLEET_NAME:-fleet$BASE}"; fi
[[ "$NAME" =~ ^[a-z][a-z0-9-]{0,40}$ ]] ||
    { printf 'fleet: error: FERRY_FLEET_NAME: lower-case letters, digits and -, not "%s"\n' "$NAME" >&2; exit 2; }
LISTEN="${FERRY_FLEET_LISTEN:-tcp://127.0.0.1:$BASE}"
HTTP="${FERRY_FLEET_HTTP:-127.0.0.1:$((BASE + 1))}"
SPORT=$((BASE + 680))       # the demo service's port on each host
SOCK="$DIR/ferryd.sock"
LOAD="${FERRY_LOAD:-$BIN/tests/ferry-load}"
START_WAIT=30       # seconds for ferryd to answer, and for agents to be online
STOP_WAIT=15
CANARY_WAIT=90      # seconds a demo canary may take before it is aborted
CANARY_ID=

log() { printf 'fleet: %s\n' "$*"; }
die() { printf 'fleet: error: %s\n' "$*" >&2; exit 1; }

show_log() {    # show_log FILE: the last lines, to explain a failure
    if [ -s "$1" ]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 20 "$1" >&2
        printf -- '---\n' >&2
    fi
}

ferry() { "$BIN/ferry" --socket "$SOCK" "$@"; }

. "$ROOT/deploy/proc.sh"

# seen PID: what PID is now, for a message ("gone", or its name and state).
seen() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo "pid $1 is gone"; return; }
    echo "pid $1 is $(cat "/proc/$1/comm" 2>/dev/null), state ${stat##*) }" | cut -d' ' -f1-6
}

# running PIDFILE COMM: prints the PID when the file names a live COMM.
running() {
    local pid
    [ -s "$1" ] || return 1
    pid="$(cat "$1")"
    [[ "$pid" =~ ^[0-9]+$ ]] && proc_is "$pid" "$2" || return 1
    echo "$pid"
}

stop_one() {    # stop_one PIDFILE COMM NAME
    local pid i
    if pid="$(running "$1" "$2")"; then
        log "stopping $3 (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < STOP_WAIT * 10; i++)); do
            proc_is "$pid" "$2" || break
            sleep 0.1
        done
        if proc_is "$pid" "$2"; then
            log "$3 (pid $pid) still runs after ${STOP_WAIT}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$1"
}

# The proxies stop last: they drain what they serve (a few seconds at
# most here: the demo's requests are short), and traffic outlives the agents.
# Only what this fleet's own PID files name (FERRY_FLEET_DIR), however many
# hosts it was started with: another fleet beside it is left alone.
stop_fleet() {
    local f i
    stop_one "$DIR/load.pid" ferry-load "the load" || true
    for f in "$DIR"/agent-*.pid; do
        [ -e "$f" ] || continue
        i="${f##*/agent-}"; i="${i%.pid}"
        stop_one "$f" ferry-agent "$NAME-$i agent"
    done
    stop_one "$DIR/ferryd.pid" ferryd ferryd
    for f in "$DIR"/proxy-*.pid; do
        [ -e "$f" ] || continue
        i="${f##*/proxy-}"; i="${i%.pid}"
        stop_one "$f" ferry-proxy "$NAME-$i proxy"
    done
}

fleet_running() {
    local f
    running "$DIR/ferryd.pid" ferryd >/dev/null && return 0
    for f in "$DIR"/agent-*.pid; do
        [ -e "$f" ] && running "$f" ferry-agent >/dev/null && return 0
    done
    for f in "$DIR"/proxy-*.pid; do
        [ -e "$f" ] && running "$f" ferry-proxy >/dev/null && return 0
    done
    return 1
}

# port_taken PORT: something on 127.0.0.1 accepts connections on PORT.
port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A failed start stops what it had started, and says where the logs are.
fail() {
    local msg="$1" logfile="${2:-}"
    [ -n "$logfile" ] && show_log "$logfile"
    stop_fleet >&2 || true
    die "$msg (logs and state kept in $DIR)"
}

online_count() {
    { ferry hosts --json 2>/dev/null || true; } |
        grep -oE '"state"[[:space:]]*:[[:space:]]*"online"' | wc -l
}

start_fleet() {
    local b pid i n out token addr
    for b in ferryd ferry ferry-agent ferry-proxy; do
        [ -x "$BIN/$b" ] || die "$BIN/$b not found: run make first"
    done
    [ -x "$LOAD" ] || die "$LOAD not found: run make tools first"
    # A folder holds one fleet: its agents were enrolled with its names
    # and dial its port.  Checked before anything is stopped.
    if [ -e "$DIR/fleet.env" ] && { ! grep -qx "NAME=$NAME" "$DIR/fleet.env" ||
        ! grep -qx "LISTEN=$LISTEN" "$DIR/fleet.env"; }; then
        die "$DIR holds the fleet of hosts $(sed -n 's/^NAME=//p' "$DIR/fleet.env")-N on $(sed -n 's/^LISTEN=//p' "$DIR/fleet.env"), not $NAME-N on $LISTEN: start it with the settings it was made with (FERRY_FLEET_PORT_BASE, FERRY_FLEET_NAME), or use another FERRY_FLEET_DIR"
    fi
    if fleet_running; then
        log "a fleet already runs in $DIR; stopping it first"
        stop_fleet
    fi
    local port
    for port in "${LISTEN##*:}" "${HTTP##*:}"; do
        ! port_taken "$port" ||
            die "port $port on 127.0.0.1 is taken (another fleet? give this one its own FERRY_FLEET_PORT_BASE and FERRY_FLEET_DIR)"
    done
    mkdir -p "$DIR"
    # What stop and status read back: this fleet's settings.
    printf 'NAME=%s\nBASE=%s\nLISTEN=%s\nHTTP=%s\n' "$NAME" "$BASE" "$LISTEN" "$HTTP" >"$DIR/fleet.env"
    if ! curl -s -o /dev/null --max-time 3 --unix-socket /var/run/docker.sock http://docker/_ping 2>/dev/null; then
        log "warning: no Docker engine answers on /var/run/docker.sock (deploy/services.sh start);" \
            "the agents can join and answer pings, but cannot run containers"
    fi

    # ferryd: -d keeps it in the foreground, so $! is its PID; setsid lets
    # it outlive this shell's process group.
    setsid "$BIN/ferryd" -d --state-dir "$DIR/ferryd" --listen "$LISTEN" \
        --socket "$SOCK" --http "$HTTP" >>"$DIR/ferryd.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$DIR/ferryd.pid"
    log "started ferryd (pid $pid, listen $LISTEN, http $HTTP, log $DIR/ferryd.log)"
    for ((i = 0; ; i++)); do
        ferry hosts >/dev/null 2>&1 && break
        starting "$pid" || fail "ferryd exited during start-up ($(seen "$pid"))" "$DIR/ferryd.log"
        ((i < START_WAIT * 4)) || fail "ferryd did not answer on $SOCK within ${START_WAIT}s" "$DIR/ferryd.log"
        sleep 0.25
    done

    # One ferry-proxy per host, beside its agent (on a real host: its own
    # systemd unit).  Its routing table lives in proxy-N/, its control
    # socket is proxy-N.sock; the agent sets the routes there.
    : >"$DIR/ferry-proxy.conf"
    for ((i = 1; i <= AGENTS; i++)); do
        setsid "$BIN/ferry-proxy" -d -f "$DIR/ferry-proxy.conf" --state-dir "$DIR/proxy-$i" \
            --control "$DIR/proxy-$i.sock" >>"$DIR/proxy-$i.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$DIR/proxy-$i.pid"
        log "started $NAME-$i proxy (pid $pid, control $DIR/proxy-$i.sock, log $DIR/proxy-$i.log)"
    done
    for ((i = 1; i <= AGENTS; i++)); do
        for ((n = 0; ; n++)); do
            [ -S "$DIR/proxy-$i.sock" ] && break
            pid="$(cat "$DIR/proxy-$i.pid")"
            starting "$pid" ||
                fail "$NAME-$i proxy exited during start-up ($(seen "$pid"))" "$DIR/proxy-$i.log"
            ((n < START_WAIT * 4)) ||
                fail "$NAME-$i proxy made no control socket within ${START_WAIT}s" "$DIR/proxy-$i.log"
            sleep 0.25
        done
    done

    for ((i = 1; i <= AGENTS; i++)); do
        addr="127.0.0.$((i + 1))"
        if [ -e "$DIR/agent-$i.joined" ] && [ -d "$DIR/agent-$i" ]; then
            log "$NAME-$i already joined (state in $DIR/agent-$i)"
        else
            token="$(ferry token create --label role=demo 2>"$DIR/token.err")" ||
                fail "ferry token create failed: $(cat "$DIR/token.err")"
            [ -n "$token" ] || fail "ferry token create printed no token"
            # The token goes in on stdin: never in a process's arguments.
            if ! out="$(printf '%s\n' "$token" | "$BIN/ferry-agent" join - --name "$NAME-$i" \
                --state-dir "$DIR/agent-$i" --publish-address "$addr" 2>&1)"; then
                printf '%s\n' "$out" >&2
                fail "ferry-agent join for $NAME-$i failed" "$DIR/ferryd.log"
            fi
            touch "$DIR/agent-$i.joined"
            log "$NAME-$i joined"
        fi
        setsid "$BIN/ferry-agent" -d --state-dir "$DIR/agent-$i" --publish-address "$addr" \
            --proxy-control "$DIR/proxy-$i.sock" \
            --heartbeat-interval 1s >>"$DIR/agent-$i.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$DIR/agent-$i.pid"
        log "started $NAME-$i agent (pid $pid, publish $addr, log $DIR/agent-$i.log)"
    done
    rm -f "$DIR/token.err"

    for ((i = 0; ; i++)); do
        [ "$(online_count)" -ge "$AGENTS" ] && break
        for ((n = 1; n <= AGENTS; n++)); do
            pid="$(cat "$DIR/agent-$n.pid")"
            starting "$pid" ||
                fail "$NAME-$n agent exited ($(seen "$pid"))" "$DIR/agent-$n.log"
        done
        if ((i >= START_WAIT * 2)); then
            ferry hosts >&2 || true
            for ((n = 1; n <= AGENTS; n++)); do show_log "$DIR/agent-$n.log"; done
            fail "not all $AGENTS hosts online within ${START_WAIT}s" "$DIR/ferryd.log"
        fi
        sleep 0.5
    done
    log "$AGENTS hosts online"

    echo
    echo "\$ ferry hosts"
    ferry hosts || fail "ferry hosts failed" "$DIR/ferryd.log"
    echo
    echo "\$ ferry ping"
    ferry ping || fail "ferry ping failed" "$DIR/ferryd.log"
    if [ "$DEMO" -eq 1 ]; then
        demo
        echo
        echo "\$ ferry hosts"
        ferry hosts
    fi
    hints
}

# spec_path FILE: the example spec deploy/examples/FILE as this fleet
# deploys it: as it is on the default service port (8080), else a copy in
# the fleet's folder with its port.
spec_path() {
    if [ "$SPORT" -eq 8080 ]; then
        printf '%s\n' "$ROOT/deploy/examples/$1"
    else
        sed "s/host: 8080,/host: $SPORT,/" "$ROOT/deploy/examples/$1" >"$DIR/$1"
        printf '%s\n' "$DIR/$1"
    fi
}

# shown_path PATH: PATH as the printed commands name it (relative to the
# clone when it is in it).
shown_path() {
    printf '%s\n' "${1#"$ROOT"/}"
}

# demo: the demo's deploys under live traffic, then the canaries.
demo() {
    local i n
    # A real rolling deploy of the demo service, v1 then v2, batch by
    # batch, gated on health, with live progress.
    local spec v
    spec="$(spec_path demo.yml)"
    echo
    echo "\$ ferry plan $(shown_path "$spec")"
    ferry plan "$spec" || fail "ferry plan failed" "$DIR/ferryd.log"
    echo
    echo "\$ ferry deploy $(shown_path "$spec") --watch"
    ferry deploy "$spec" --watch || fail "the v1 deploy failed" "$DIR/ferryd.log"
    echo
    # v2 under live traffic: ferry-load keeps two keep-alive connections
    # on each host's port, a request every 20 ms on each, from before the
    # deploy starts until after the canaries end (at most 5 minutes).
    local urls=() loadout="$DIR/load.json"
    for ((i = 1; i <= AGENTS; i++)); do urls+=("http://127.0.0.$((i + 1)):$SPORT/version"); done
    rm -f "$DIR/load.stop"
    echo "\$ ferry-load --connections 2 --interval 20 ${urls[*]} &"
    "$LOAD" --connections 2 --interval 20 --duration 300 --stop-file "$DIR/load.stop" \
        --json "${urls[@]}" >"$loadout" 2>"$DIR/load.txt" </dev/null &
    echo $! >"$DIR/load.pid"
    sleep 1
    echo "\$ ferry deploy $(shown_path "$spec") --image 127.0.0.1:5000/ferry-test/web:2 --watch"
    local deployed=1 good=0 bad=0
    ferry deploy "$spec" --image 127.0.0.1:5000/ferry-test/web:2 --watch || deployed=0
    # Then, under the same traffic, two canaries (deploy/examples/): a good
    # revision (version 3) promoted step by step on its figures, and a bad
    # one (version 4, 5% errors) put back by its figures.
    if [ "$deployed" -eq 1 ]; then
        echo
        canary "$(spec_path canary.yml)" succeeded && good=1
        echo
        canary "$(spec_path canary-bad.yml)" rolled_back && bad=1
    fi
    if [ "$bad" -eq 1 ]; then
        # The evidence it leaves: each interval's figures in the audit log,
        # the moment each host's proxy switched back, and the verdicts on
        # /metrics.
        echo
        echo "\$ ferry events --deployment $CANARY_ID --oldest-first --limit 200 |" \
            "grep -E 'analysis|rolling_back|switched traffic|rolled_back'"
        { ferry events --deployment "$CANARY_ID" --oldest-first --limit 200 || true; } |
            grep -E 'analysis|rolling_back|switched traffic|rolled_back' || true
        echo
        echo "\$ curl -s http://$HTTP/metrics | grep ^ferry_analysis_intervals_total"
        { curl -s --max-time 5 "http://$HTTP/metrics" || true; } |
            grep '^ferry_analysis_intervals_total' || true
    fi
    sleep 1
    touch "$DIR/load.stop"
    for ((n = 0; n < 100; n++)); do
        running "$DIR/load.pid" ferry-load >/dev/null || break
        sleep 0.1
    done
    wait "$(cat "$DIR/load.pid")" 2>/dev/null || true
    rm -f "$DIR/load.pid" "$DIR/load.stop"
    echo
    echo "Traffic during the rollout and the canaries, as ferry-load counted it:"
    load_summary "$loadout" "$DIR/load.txt"
    [ "$deployed" -eq 1 ] || fail "the v2 deploy failed" "$DIR/ferryd.log"
    [ "$good" -eq 1 ] || fail "the canary of version 3 did not succeed" "$DIR/ferryd.log"
    [ "$bad" -eq 1 ] || fail "the canary of version 4 was not rolled back" "$DIR/ferryd.log"
    echo
    for ((i = 1; i <= AGENTS; i++)); do
        v="$(curl -s --max-time 3 "http://127.0.0.$((i + 1)):$SPORT/version" || true)"
        echo "$NAME-$i (127.0.0.$((i + 1)):$SPORT) serves version ${v:-nothing}"
    done
}

# settings_prefix: the settings this fleet was started with that differ
# from the defaults, as a command's prefix ("FERRY_FLEET_DIR=... "), so
# that a printed command acts on this fleet and no other.
settings_prefix() {
    local p=""
    [ "$DIR" = /tmp/ferry-fleet ] || p+="FERRY_FLEET_DIR=$(printf '%q' "$DIR") "
    [ "$BASE" = 7400 ] || p+="FERRY_FLEET_PORT_BASE=$BASE "
    [ -z "${FERRY_FLEET_NAME:-}" ] || p+="FERRY_FLEET_NAME=$NAME "
    [ -z "${FERRY_FLEET_LISTEN:-}" ] || p+="FERRY_FLEET_LISTEN=$LISTEN "
    [ -z "${FERRY_FLEET_HTTP:-}" ] || p+="FERRY_FLEET_HTTP=$HTTP "
    [ -z "${FERRY_BIN:-}" ] || p+="FERRY_BIN=$(printf '%q' "$BIN") "
    printf '%s' "$p"
}

# hints: how to use the fleet and stop it, every figure this fleet's own.
hints() {
    local addrs="127.0.0.2" script
    ((AGENTS == 1)) || addrs="127.0.0.2-$((AGENTS + 1))"
    script="$(shown_path "$ROOT/deploy/local-fleet.sh")"
    cat <<EOF

The local fleet runs: ferryd (agents on $LISTEN, /metrics and /healthz on
http://$HTTP) and $AGENTS host(s) ($NAME-1..$NAME-$AGENTS on $addrs),
each an agent and a ferry-proxy; the demo service's port is $SPORT.
State and logs are in $DIR. To use it:

    export FERRY_SOCKET=$(printf '%q' "$SOCK")
    export PATH="$(printf '%q' "$BIN"):\$PATH"
    ferry hosts
    ferry ping
    ferry status
    ferry history demo
    ferry rollback demo --watch
    ferry events
    curl -s http://$HTTP/healthz

To stop it (the state stays for the next start):

    $(settings_prefix)$script stop
EOF
}

# load_summary JSON TEXT: ferry-load's counts in all, then per host with the
# versions that answered (the demo's /version names its image's version),
# then the 5xx apart: 500 is what versions 3 and 4 answer on purpose (their
# ERROR_RATE), 502/503/504 what a proxy answers when it cannot serve a
# request (no container, held too long, the container failed it).
load_summary() {
    local chunk url sent failed bodies total injected proxied
    grep '^ferry-load: [0-9]' "$2" | sed 's/^ferry-load: /  /' || true
    sed 's/{"url":/\n&/g' "$1" | tail -n +2 | while IFS= read -r chunk; do
        url="$(grep -oE '"url":"[^"]*"' <<<"$chunk" | head -n 1 | cut -d'"' -f4)"
        sent="$(grep -oE '"sent":[0-9]+' <<<"$chunk" | head -n 1 | cut -d: -f2)"
        failed="$(grep -oE '"failed":[0-9]+' <<<"$chunk" | head -n 1 | cut -d: -f2)"
        bodies="$(grep -oE '"bodies":\{[^}]*\}' <<<"$chunk" | head -n 1 |
            sed -E 's/"bodies":\{//; s/\}$//; s/"([^"]*)":([0-9]+)/version \1: \2/g; s/,/, /g')"
        printf '  %-34s sent %6s  failed %s  (%s)\n' "$url" "$sent" "$failed" "$bodies"
    done
    total="$(sed 's/"targets".*//' "$1" | grep -oE '"failed":[0-9]+' | head -n 1 | cut -d: -f2)"
    injected="$(status_count "$1" '500')"
    proxied="$(status_count "$1" '50[234]')"
    if [ "${total:-x}" = 0 ] && [ "$proxied" = 0 ]; then
        echo "  0 failed: the rollout and the canaries dropped no request"
    else
        echo "  warning: ${total:-?} request(s) failed and $proxied got a proxy's 502/503/504" \
            "(see $DIR/proxy-*.log and $DIR/agent-*.log)"
    fi
    echo "  5xx: $injected answered 500 by versions 3 and 4 themselves (the 0.1% and 5% errors" \
        "they were built with, what the analysis judged), $proxied by a proxy (502/503/504)"
}

# status_count JSON CODES: how many answers had a status matching the
# regex CODES, over every target.
status_count() {
    { grep -oE '"by_status":\{[^}]*\}' "$1" || true; } |
        { grep -oE "\"$2\":[0-9]+" || true; } |
        cut -d: -f2 | awk '{ n += $1 } END { print n + 0 }'
}

# canary SPEC EXPECT: deploys SPEC (a canary) and shows ferry status's first
# line and its Analysis line each time the deployment changes state, starts
# a step or has an interval judged, then its whole status at the end. True
# when it ended in state EXPECT; CANARY_ID is its id. Bounded: a canary
# still running after CANARY_WAIT seconds is aborted (the specs'
# progress_deadline ends one that makes no progress long before).
canary() {
    local spec="$1" expect="$2" out id st first ana state key prev="" t0 t i
    echo "\$ ferry deploy deploy/examples/$(basename "$spec")"
    out="$(ferry deploy "$spec" 2>&1)" || { printf '%s\n' "$out"; return 1; }
    printf '%s\n' "$out"
    id="$(sed -nE 's/^deployment ([0-9]+) of .*/\1/p' <<<"$out" | head -n 1)"
    [ -n "$id" ] || { log "ferry deploy printed no deployment id"; return 1; }
    CANARY_ID="$id"
    echo "\$ ferry status $id    (polled; shown when a step starts or an interval is judged)"
    t0="$EPOCHREALTIME"
    for ((i = 0; ; i++)); do
        st="$(ferry status "$id" 2>&1)" || true    # not 0 once it failed
        first="$(head -n 1 <<<"$st")"
        ana="$(grep -E '^(Analysis: |  interval )' <<<"$st" || true)"
        state="$(sed -nE '1s/^Deployment [0-9]+ of [^:]*: ([a-z_]+).*/\1/p' <<<"$st")"
        key="$state $(grep -oE 'step [0-9]+/[0-9]+' <<<"$first" || true) $ana"
        if [ "$key" != "$prev" ]; then
            t="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%5.1f", b - a }')"
            printf '[%ss] %s\n' "$t" "$first"
            [ -z "$ana" ] || sed 's/^/         /' <<<"$ana"
            prev="$key"
        fi
        case "$state" in succeeded|failed|rolled_back|aborted) break ;; esac
        if ((i >= CANARY_WAIT * 4)); then
            log "deployment $id still runs after ${CANARY_WAIT}s; aborting it"
            ferry abort "$id" || true
            return 1
        fi
        sleep 0.25
    done
    echo "\$ ferry status $id"
    printf '%s\n' "$st"
    [ "$state" = "$expect" ]
}

status_fleet() {
    local pid i f rc=0
    if pid="$(running "$DIR/ferryd.pid" ferryd)"; then
        log "ferryd: running (pid $pid)"
    else
        log "ferryd: not running"
        rc=1
    fi
    for f in "$DIR"/agent-*.pid; do
        [ -e "$f" ] || continue
        i="${f##*/agent-}"; i="${i%.pid}"
        if pid="$(running "$DIR/agent-$i.pid" ferry-agent)"; then
            log "$NAME-$i agent: running (pid $pid)"
        else
            log "$NAME-$i agent: not running"
            rc=1
        fi
        if pid="$(running "$DIR/proxy-$i.pid" ferry-proxy)"; then
            log "$NAME-$i proxy: running (pid $pid)"
        else
            log "$NAME-$i proxy: not running"
            rc=1
        fi
    done
    if [ "$rc" -eq 0 ] || running "$DIR/ferryd.pid" ferryd >/dev/null; then
        ferry hosts || rc=1
    fi
    return "$rc"
}

# stop and status act on the fleet the folder holds, as it was started.
if [ "${1:-start}" != start ] && [ -e "$DIR/fleet.env" ]; then
    NAME="$(sed -n 's/^NAME=//p' "$DIR/fleet.env")"
    HTTP="$(sed -n 's/^HTTP=//p' "$DIR/fleet.env")"
fi

case "${1:-start}" in
    start)  start_fleet ;;
    stop)   stop_fleet; log "stopped (state kept in $DIR)" ;;
    status) status_fleet ;;
    help|-h|--help) sed -n '3,41p' "$0" | sed 's/^# \{0,1\}//' ;;
    *)      sed -n '3,41p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
