#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench.sh: ferry measured against the physical floor and against Docker
# Swarm on the same machine, side by side in one run.
#
#   tests/bench/bench.sh [--quick] [--runs N] [--agents "100 1000"]
#                        [--json FILE] [--only SECTIONS]
#
# Sections: 1 floor, 2 rolling deploy, 3 failure to rolled back,
# 4 availability, 5 control plane, 6 footprint, 7 proxy cost (ferry-proxy
# against HAProxy and direct), 8 proxy memory, 9 canaries and blue-green
# (--only "1 2" runs some).
# --quick: one run of each, a small control plane (N=20): the smoke pass the
# test suite runs so that the harness cannot rot.  Its figures mean nothing.
#
# Needs root, a Docker engine and the registry on 127.0.0.1:5000 (started
# with deploy/services.sh when absent), the test images (tests/images/
# build.sh), the binaries in ${FERRY_BIN:-build}, and build/bench/sigrate
# build/bench/linkfloor, build/bench/rssfloor{,-nocurl}, and for sections
# 7 and 8 build/ferry-proxy, build/bench/{statics,proxyctl,connhold}, wrk
# and haproxy (deploy/setup.sh deps), for sections 4 and 9 build/ferry-proxy,
# build/bench/proxyctl and build/tests/ferry-load.
# Starts a single-node Swarm when the engine is in none, and leaves it
# again at the end; an engine already in a Swarm is left as it was.
#
# Everything it starts it ends by pid; its agents publish on 127.0.1.2-7,
# its containers and services carry its own names.  Every wait is bounded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${FERRY_BIN:-$ROOT/build}"
SIGRATE="${FERRY_SIGRATE:-$BIN/bench/sigrate}"
LINKFLOOR="${FERRY_LINKFLOOR:-$BIN/bench/linkfloor}"
RSSFLOOR="${FERRY_RSSFLOOR:-$BIN/bench/rssfloor}"
PROXY_BIN="${FERRY_PROXY_BIN:-$BIN/ferry-proxy}"
STATICS="${FERRY_STATICS:-$BIN/bench/statics}"
PROXYCTL="${FERRY_PROXYCTL:-$BIN/bench/proxyctl}"
CONNHOLD="${FERRY_CONNHOLD:-$BIN/bench/connhold}"
LOAD_BIN="${FERRY_LOAD_BIN:-$BIN/tests/ferry-load}"
DOCKER=/usr/bin/docker
DSOCK=/var/run/docker.sock
API="http://docker/v1.41"
REG=127.0.0.1:5000
IMG="$REG/ferry-test/web"
BB=/bin/busybox

QUICK=0
RUNS=5
AGENTS_N="100 1000"
JSON_OUT="$BIN/bench/bench.json"
ONLY="1 2 3 4 5 6 7 8 9"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick)  QUICK=1 ;;
        --runs)   RUNS="$2"; shift ;;
        --agents) AGENTS_N="$2"; shift ;;
        --json)   JSON_OUT="$2"; shift ;;
        --only)   ONLY="$2"; shift ;;
        -h|--help) sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench: unknown argument '$1' (--help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" -eq 1 ]; then
    RUNS=1
    AGENTS_N=20
fi
PING_RUNS=$((QUICK ? 2 : 5))
CPU_WINDOW=$((QUICK ? 1 : 15))      # seconds of heartbeating sampled
WARM=$((QUICK ? 0 : 1))             # uncounted warm-up runs (section 1)
RSS_RUNS=$((QUICK ? 1 : 3))         # section 6's library-only processes
# Seconds to let things settle before a figure is read (a process's RSS,
# a fleet's first heartbeats), and of load before and after a rollout
# (section 4).  --quick: only as long as the code path needs.
if [ "$QUICK" -eq 1 ]; then SETTLE=0.2 LEAD=0.3; else SETTLE=1 LEAD=1; fi
NH=6                                # rollout hosts
BATCH=2

TAG="fb$$"                          # names of everything this run creates
WORK="$(mktemp -d /tmp/ferry-bench-XXXXXX)"
RESULTS="$WORK/results.tsv"         # section, key, unit, median, min, max, samples
RATIOS="$WORK/ratios.tsv"           # section, key, median, min, max, note
NOTES="$WORK/notes.txt"
PIDS="$WORK/pids"                   # every process started, one pid a line
: >"$RESULTS"; : >"$RATIOS"; : >"$NOTES"; : >"$PIDS"
SWARM_STARTED=0
T_START=$(date +%s)

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
want() { [[ " $ONLY " == *" $1 "* ]]; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
fsec() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1000 }'; }

# ---- processes ------------------------------------------------------------

. "$ROOT/deploy/proc.sh"

# stop_pids COMM PID...: TERM, wait up to 10 s, then KILL the stragglers.
stop_pids() {
    local comm="$1" p i left
    shift
    [ $# -gt 0 ] || return 0
    for p in "$@"; do proc_is "$p" "$comm" && kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 100; i++)); do
        left=0
        for p in "$@"; do proc_is "$p" "$comm" && { left=1; break; }; done
        [ "$left" -eq 0 ] && break
        sleep 0.1
    done
    for p in "$@"; do proc_is "$p" "$comm" && kill -KILL "$p" 2>/dev/null || true; done
    # Reap them (only them: other children of this shell go on running).
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

cleanup() {
    local rc=$? ids p
    set +e
    log "cleaning up"
    # Processes this run started: section 9's load first (it ends by
    # itself within its --duration anyway), then agents.
    [ -n "${CN_LOAD_PID:-}" ] && kill "$CN_LOAD_PID" 2>/dev/null && wait "$CN_LOAD_PID" 2>/dev/null
    mapfile -t ids < <(awk '$1 == "ferry-agent" { print $2 }' "$PIDS")
    stop_pids ferry-agent "${ids[@]}"
    mapfile -t ids < <(awk '$1 == "ferryd" { print $2 }' "$PIDS")
    stop_pids ferryd "${ids[@]}"
    mapfile -t ids < <(awk '$1 == "ferry-proxy" { print $2 }' "$PIDS")
    stop_pids ferry-proxy "${ids[@]}"
    mapfile -t ids < <(awk '$1 == "haproxy" { print $2 }' "$PIDS")
    stop_pids haproxy "${ids[@]}"
    "$DOCKER" service rm "$TAG-swarm" >/dev/null 2>&1
    for p in $("$DOCKER" ps -aq --filter "label=ferry.bench=$TAG" 2>/dev/null) \
        $("$DOCKER" ps -aq --filter "label=ferry.service=$TAG" 2>/dev/null) \
        $("$DOCKER" ps -aq --filter "label=ferry.service=${TAG}av" 2>/dev/null) \
        $("$DOCKER" ps -aq --filter "label=ferry.service=${TAG}cn" 2>/dev/null); do
        "$DOCKER" rm -f "$p" >/dev/null 2>&1
    done
    wait_swarm_gone
    "$DOCKER" network rm "$TAG-net" >/dev/null 2>&1
    if [ "$SWARM_STARTED" -eq 1 ]; then
        log "leaving the single-node Swarm this run started"
        "$DOCKER" swarm leave --force >/dev/null 2>&1
    fi
    if [ "$rc" -eq 0 ] && [ -z "${FERRY_BENCH_KEEP:-}" ]; then
        rm -rf "$WORK"
    else
        log "logs kept in $WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- numbers --------------------------------------------------------------

# stats: numbers on stdin -> "median min max"
stats() {
    sort -g | awk 'function f(x) { return (x >= 1000 || x == int(x)) ? sprintf("%.0f", x) : sprintf("%.4g", x) }
        { a[NR] = $1 }
        END { if (NR == 0) { print "nan nan nan"; exit }
              m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
              print f(m), f(a[1]), f(a[NR]) }'
}

# record SECTION KEY UNIT SAMPLE...: one measured quantity.
record() {
    local sec="$1" key="$2" unit="$3" s
    shift 3
    s="$(printf '%s\n' "$@" | stats)"
    printf '%s\t%s\t%s\t%s\t%s\n' "$sec" "$key" "$unit" "${s// /$'\t'}" \
        "$(IFS=,; echo "$*")" >>"$RESULTS"
}

samples_of() { awk -F'\t' -v k="$1" '$2 == k { print $7 }' "$RESULTS" | tr ',' '\n'; }
median_of() { awk -F'\t' -v k="$1" '$2 == k { print $4 }' "$RESULTS"; }

# ratio SECTION NAME NUM_KEY DEN_KEY: median of the run-by-run ratios of two
# quantities measured side by side (same run index), with min and max.
ratio() {
    local sec="$1" name="$2" a b
    a="$(samples_of "$3")"; b="$(samples_of "$4")"
    [ -n "$a" ] && [ -n "$b" ] || return 0
    local s
    s="$(paste <(echo "$a") <(echo "$b") | awk '$1 != "" && $2 > 0 { print $1 / $2 }' | stats)"
    printf '%s\t%s\t%s\t%s\n' "$sec" "$name" "${s// /$'\t'}" "$3 / $4" >>"$RATIOS"
}

# ratio_of_medians SECTION NAME NUM_KEY DEN_KEY (for quantities not paired
# run by run): one figure, min = max = median.
ratio_of_medians() {
    local a b r
    a="$(median_of "$3")"; b="$(median_of "$4")"
    [ -n "$a" ] && [ -n "$b" ] || return 0
    r="$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.4g", a / b; else print "nan" }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$r" "$r" "$r" "$3 / $4 (medians)" >>"$RATIOS"
}

note() { printf '%s\n' "$*" >>"$NOTES"; log "note: $*"; }

# ---- setup ----------------------------------------------------------------

free_port() {   # a TCP port nothing listens on, in 30000-59999
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((30000 + RANDOM % 30000))
        ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
    done
    die "no free port"
}

setup() {
    local b
    [ "$(id -u)" -eq 0 ] || die "run as root (it drives the Docker engine)"
    for b in ferryd ferry ferry-agent; do
        [ -x "$BIN/$b" ] || die "$BIN/$b not found: run make first"
    done
    [ -x "$SIGRATE" ] || die "$SIGRATE not found: run make bench"
    [ -x "$LINKFLOOR" ] || die "$LINKFLOOR not found: run make bench"
    [ -x "$RSSFLOOR" ] && [ -x "$RSSFLOOR-nocurl" ] || die "$RSSFLOOR not found: run make bench"
    [ -x "$BB" ] || die "$BB not found (busybox-static): run deploy/setup.sh deps"
    "$ROOT/deploy/services.sh" start >&2
    "$ROOT/tests/images/build.sh" >&2
    if want 2 || want 3 || want 4; then
        case "$("$DOCKER" info --format '{{.Swarm.LocalNodeState}}')" in
            active) log "the engine is already in a Swarm: using it, leaving it as it is" ;;
            inactive)
                "$DOCKER" swarm init --advertise-addr 127.0.0.1 >/dev/null ||
                    die "docker swarm init failed"
                SWARM_STARTED=1
                log "started a single-node Swarm (left again at the end)"
                ;;
            *) die "the engine's Swarm state is neither active nor inactive" ;;
        esac
    fi
    IMG_DIGEST_BAD="$("$DOCKER" image inspect --format '{{index .RepoDigests 0}}' "$IMG:bad")"
    IMG_DIGEST_BAD="${IMG_DIGEST_BAD##*@sha256:}"
}

# ---- the ferry fleet of six -------------------------------------------------

FD_PID=""
FD_SOCK=""
ferry() { "$BIN/ferry" --socket "$FD_SOCK" "$@"; }

# start_ferryd DIR [FLAGS...]: a ferryd with its state in DIR, on a free port
# (FD_PORT, when set, again on that one: the agents it enrolled dial it);
# sets FD_PID, FD_SOCK, FD_PORT.
start_ferryd() {
    local dir="$1" i
    shift
    mkdir -p "$dir"
    [ -n "${FD_PORT:-}" ] || FD_PORT="$(free_port)"
    FD_SOCK="$dir/ferryd.sock"
    setsid "$BIN/ferryd" -d --state-dir "$dir/state" --listen "tcp://127.0.0.1:$FD_PORT" \
        --socket "$FD_SOCK" --http off "$@" >"$dir/ferryd.log" 2>&1 </dev/null &
    FD_PID=$!
    echo "ferryd $FD_PID" >>"$PIDS"
    for ((i = 0; i < 100; i++)); do
        ferry hosts >/dev/null 2>&1 && return 0
        proc_is "$FD_PID" ferryd || { tail "$dir/ferryd.log" >&2; die "ferryd exited"; }
        sleep 0.1
    done
    die "ferryd did not answer within 10 s"
}

# join DIR NAME ADDR LABEL: one enrolled agent state dir.
join() {
    local token
    token="$(ferry token create --label "$4" 2>/dev/null)" || die "ferry token create failed"
    printf '%s\n' "$token" | "$BIN/ferry-agent" join - --name "$2" --state-dir "$1/$2" \
        --publish-address "$3" >/dev/null 2>&1 || die "ferry-agent join $2 failed"
}

# start_agent DIR NAME ADDR [FLAGS...]: prints the pid.
start_agent() {
    local dir="$1" name="$2" addr="$3"
    shift 3
    setsid "$BIN/ferry-agent" -d --state-dir "$dir/$name" --publish-address "$addr" \
        "$@" >"$dir/$name.log" 2>&1 </dev/null &
    echo "ferry-agent $!" >>"$PIDS"
    echo $!
}

# online_count [proxy]: hosts ferryd says are online; with "proxy", 0
# unless as many hosts' ferry-proxies answered their agents (proxy state
# "ok") in the same reading: the agents of sections 2 and 3 drive none, so a
# host still counted online on such an old agent's last heartbeat does not
# pass for one of section 4's.
online_count() {
    local j on ok
    j="$(ferry hosts --json 2>/dev/null || true)"
    on="$(grep -cE '"state"[[:space:]]*:[[:space:]]*"online"' <<<"$j" || true)"
    if [ "${1:-}" = proxy ]; then
        ok="$(grep -cE '"state"[[:space:]]*:[[:space:]]*"ok"' <<<"$j" || true)"
        [ "$ok" -ge "$on" ] || on=0
    fi
    echo "$on"
}

# wait_online [proxy]: all NH hosts online (online_count's sense) within
# 30 s, judged on one reading: returns 1 otherwise.
wait_online() {
    local i
    for ((i = 0; i < 150; i++)); do
        [ "$(online_count "$@")" -ge "$NH" ] && return 0
        sleep 0.2
    done
    return 1
}

FLEET_PIDS=()
start_fleet6() {
    local dir="$WORK/fleet" i
    FD_PORT=""
    start_ferryd "$dir"
    FLEET_FD_PID=$FD_PID
    FLEET_SOCK=$FD_SOCK
    for ((i = 1; i <= NH; i++)); do
        join "$dir" "$TAG-$i" "127.0.1.$((i + 1))" role="$TAG"
        # No proxy (sections 2 and 3 measure the swap itself, the port
        # published by the container); section 4 restarts them with one.
        FLEET_PIDS+=("$(start_agent "$dir" "$TAG-$i" "127.0.1.$((i + 1))" --heartbeat-interval 1s \
            --proxy-control '')")
    done
    wait_online || die "the six bench hosts are not online within 30 s"
    log "ferry fleet: ferryd and $NH agents on 127.0.1.2-$((NH + 1))"
}

SVC_PORT=""
# ferry_spec FILE IMAGE ORDER MIN_HEALTHY: the bench service's spec.  A
# start-first spec publishes no host port (two containers cannot hold one
# host port at once; ferry refuses that), and ferry's HTTP check goes
# through the published port, so start-first checks health the way Swarm
# does: the same busybox wget, run inside the container.
ferry_spec() {
    # start-first publishes no port (two containers would need it): ferry's
    # HTTP check then goes to the container's own address.
    local port="" check="http: { path: /health, port: 80, status: 200 }"
    # PUBLISH=always: a host port in both orders (section 4: the proxies
    # own the port, so start-first may have one).
    if [ "$3" = stop-first ] || [ "${PUBLISH:-}" = always ]; then
        port="port: { host: $SVC_PORT, container: 80 }"
    fi
    cat >"$1" <<EOF
service: ${SVC_NAME:-$TAG}
image: $2
hosts: { labels: { role: $TAG } }
$port
health:
  $check
  interval: 1s
  timeout: 1s
  start_period: 0s
  healthy_threshold: 1
  unhealthy_threshold: 3
  deadline: 30s
  min_healthy: $4
rollout:
  batch: $BATCH
  order: $3
  pause: 0s
  max_failures: 0
  on_failure: rollback
EOF
}

json_num() {    # json_num KEY: the first numeric "KEY": value on stdin
    grep -oE "\"$1\"[[:space:]]*:[[:space:]]*-?[0-9.]+" | head -n1 | grep -oE -- '-?[0-9.]+$'
}
json_list() {   # json_list KEY: the numbers of the first "KEY": [...] on stdin
    grep -oE "\"$1\"[[:space:]]*:[[:space:]]*\[[^]]*\]" | head -n1 | sed -E 's/.*\[([^]]*)\]/\1/' | tr ',' ' '
}
json_str() {    # json_str KEY: the first string "KEY": "value" on stdin
    grep -oE "\"$1\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" | head -n1 | sed -E 's/.*"([^"]*)"$/\1/'
}

# ferry_rollout IMAGE ORDER MIN_HEALTHY -> "SECONDS STATE": wall time from
# `ferry deploy` to the deployment's final state as ferryd recorded it.
ferry_rollout() {
    local spec="$WORK/spec.yml" out id t0 st end i
    ferry_spec "$spec" "$1" "$2" "$3"
    t0=$(now_ms)
    out="$(ferry deploy "$spec" --json)" || die "ferry deploy failed: $out"
    id="$(echo "$out" | json_num id)"
    for ((i = 0; i < 1200; i++)); do
        out="$(ferry status "$id" --json)"
        st="$(echo "$out" | json_str state)"
        case "$st" in succeeded|failed|rolled_back|aborted) break ;; esac
        sleep 0.1
    done
    end="$(echo "$out" | json_num updated_ms)"
    echo "$(fsec "$t0" "$end") $st"
}

# ---- Swarm -----------------------------------------------------------------

SW="$TAG-swarm"
HEALTH_CMD="/bin/busybox wget -q -O /dev/null http://127.0.0.1/health"

wait_swarm_gone() {
    local i
    for ((i = 0; i < 150; i++)); do
        [ -z "$("$DOCKER" ps -aq --filter "label=com.docker.swarm.service.name=$SW" 2>/dev/null)" ] && return 0
        sleep 0.2
    done
}

# swarm_create ORDER [NETWORK [IMAGE]]: the 6-replica service on IMAGE
# (default web:1), converged.
swarm_create() {
    local net=() img="${3:-$IMG:1}"
    "$DOCKER" service rm "$SW" >/dev/null 2>&1 || true
    wait_swarm_gone
    [ -n "${2:-}" ] && net=(--network "$2" --endpoint-mode dnsrr)
    timeout 120 "$DOCKER" service create --quiet --detach=false --name "$SW" --replicas "$NH" \
        --no-resolve-image "${net[@]}" \
        --health-cmd "$HEALTH_CMD" --health-interval 1s --health-timeout 1s \
        --health-retries 3 --health-start-period 0s \
        --update-parallelism "$BATCH" --update-delay 0s --update-order "$1" \
        --update-monitor 2s --update-failure-action rollback --update-max-failure-ratio 0 \
        --rollback-parallelism "$BATCH" --rollback-delay 0s --rollback-order "$1" \
        --rollback-monitor 2s \
        "$img" >/dev/null || die "docker service create failed"
}

# swarm_timed_update ORDER TO WANT -> "SECONDS STATE": swarm_update to TO,
# for a timing, which must end WANT (completed; rollback_completed for a bad
# image).  Swarm judges its tasks by health checks run inside them; on a
# loaded machine one can miss its 1 s timeout, and Swarm rolls a good update
# back, or pauses a rollback.  Such a run times nothing: noted, the service
# made again on the image it ran before, and the update tried again (3
# tries in all).
swarm_timed_update() {
    local out try from
    from="$("$DOCKER" service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$SW")"
    for ((try = 1; try <= 3; try++)); do
        out="$(swarm_update "$2")"
        [ "${out#* }" = "$3" ] && break
        note "Swarm's update to $2 ($1) ended ${out#* }, not $3, on try $try ($("$DOCKER" service inspect --format '{{.UpdateStatus.Message}}' "$SW" 2>/dev/null)): not a timing; the service made again on $from and the update tried again"
        log "  Swarm's update ended ${out#* }, not $3: tried again"
        swarm_create "$1" "" "$from"
        swarm_bad_tasks >"$WORK/bad.before"
    done
    echo "$out"
}

# swarm_update IMAGE -> "SECONDS STATE": from `docker service update` to
# UpdateStatus completed (or rollback_completed), as the manager recorded it.
swarm_update() {
    local t0 st i out end
    t0=$(now_ms)
    "$DOCKER" service update --quiet --detach --no-resolve-image --image "$1" "$SW" >/dev/null ||
        die "docker service update failed"
    for ((i = 0; i < 1200; i++)); do
        out="$("$DOCKER" service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}} {{if .UpdateStatus.CompletedAt}}{{.UpdateStatus.CompletedAt.UnixNano}}{{end}}{{end}}' "$SW")"
        st="${out%% *}"
        case "$st" in completed|rollback_completed|paused|rollback_paused) break ;; esac
        sleep 0.1
    done
    end="${out#* }"
    # A paused update has no completion time: its state says how it ended.
    case "$st" in paused|rollback_paused) echo "nan $st"; return 0 ;; esac
    [[ "$end" =~ ^[0-9]+$ ]] || die "Swarm's update of $SW did not end within 120 s (${out:-no status})"
    end=$((end / 1000000))
    echo "$(fsec "$t0" "$end") $st"
}

# swarm_bad_tasks: ids of the service's tasks (each one container) that
# ran the bad image, one a line.  The engine's events have been seen to miss
# some of Swarm's creates, so Swarm is counted by its own task list.
swarm_bad_tasks() {
    "$DOCKER" service ps --no-trunc --format '{{.ID}} {{.Image}}' "$SW" 2>/dev/null |
        awk '$2 ~ /:bad$/ { print $1 }' | sort
}

# created_since T0_MS LABEL_FILTER MATCH: containers created since T0 whose
# image names MATCH (a tag or digest fragment).
created_since() {
    local since
    since="$(awk -v t="$1" 'BEGIN { printf "%.3f", t / 1000 }')"
    # --until a second ahead: the engine has published every event of the
    # run by then (an "until" of now has been seen to miss some).
    timeout 20 "$DOCKER" events --since "$since" --until "$(( $(date +%s) + 1 ))" \
        --filter type=container --filter event=create --filter "label=$2" \
        --format '{{.Actor.Attributes.image}}' 2>/dev/null | grep -cE "$3" || true
}

# ---- 1. floor ---------------------------------------------------------------

dapi() {    # dapi METHOD PATH [JSON]: one Engine API call, body on stdout
    if [ $# -ge 3 ]; then
        curl -sf --max-time 30 --unix-socket "$DSOCK" -X "$1" -H 'Content-Type: application/json' \
            -d "$3" "$API$2"
    else
        curl -sf --max-time 30 --unix-socket "$DSOCK" -X "$1" "$API$2"
    fi
}

# floor_up NAME IMAGE [ADDR PORT]: create + start a container, then poll its
# /health (on its bridge address, every 10 ms) until the first 200.  Prints
# its id; bounded at 30 s.
floor_up() {
    local name="$1" image="$2" body id ip i hc=""
    [ $# -ge 4 ] && hc=",\"HostConfig\":{\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"$3\",\"HostPort\":\"$4\"}]}}"
    body="{\"Image\":\"$image\",\"Labels\":{\"ferry.bench\":\"$TAG\"},\"ExposedPorts\":{\"80/tcp\":{}}$hc}"
    id="$(dapi POST "/containers/create?name=$name" "$body" | json_str Id)" || die "create $name failed"
    dapi POST "/containers/$id/start" >/dev/null || die "start $name failed"
    ip="$(dapi GET "/containers/$id/json" | json_str IPAddress)"
    for ((i = 0; i < 3000; i++)); do
        curl -sf -o /dev/null --max-time 0.5 "http://$ip/health" && { echo "$id"; return 0; }
        sleep 0.01
    done
    die "floor container $name not healthy within 30 s"
}

floor_down() {  # floor_down ID: stop (10 s grace) + remove; 1 when it failed
    dapi POST "/containers/$1/stop?t=10" >/dev/null || true
    dapi DELETE "/containers/$1" >/dev/null || { log "removing container $1 failed"; return 1; }
}

# floor_rollout ORDER IMAGE -> FLOOR_LAST (seconds): the same work as the rolling deploy with
# nothing between the steps: 6 containers, 3 batches of 2 swapped in
# parallel, each swap stop-first (stop+remove old, create+start new, first
# healthy) or start-first (create+start new, first healthy, stop+remove old).
FLOOR_IDS=()
floor_rollout() {
    local order="$1" img="$2" b k i t0 port_args kids
    t0=$(now_ms)
    for ((b = 0; b < NH / BATCH; b++)); do
        kids=()
        for ((k = 0; k < BATCH; k++)); do
            i=$((b * BATCH + k))
            (
                port_args=()
                [ "$order" = stop-first ] && port_args=(127.0.1.$((i + 2)) "$FLOOR_PORT")
                if [ "$order" = stop-first ]; then
                    floor_down "${FLOOR_IDS[$i]}" || exit 1
                    floor_up "$TAG-floor-$i-$RANDOM" "$img" "${port_args[@]}" >"$WORK/floor.$i"
                else
                    floor_up "$TAG-floor-$i-$RANDOM" "$img" >"$WORK/floor.$i"
                    floor_down "${FLOOR_IDS[$i]}"
                fi
            ) &
            kids+=($!)
        done
        for k in "${kids[@]}"; do wait "$k" || die "a floor swap failed"; done
    done
    FLOOR_LAST="$(fsec "$t0" "$(now_ms)")"
    for ((i = 0; i < NH; i++)); do
        FLOOR_IDS[$i]="$(cat "$WORK/floor.$i")"
        [ -n "${FLOOR_IDS[$i]}" ] || die "a floor swap left no container"
    done
}

# floor_failure -> FLOOR_LAST (seconds): the least a failing first batch
# costs start-first under the same health policy, nothing between the
# steps: the batch's two containers of the bad image created and started at
# once, plus the policy's 2 s (the first check at once, three failures 1 s
# apart; Docker's own checks begin an interval later).  The old ones keep
# running; the bad ones' removal is not counted (ferry reports first).
floor_failure() {
    local k t0 kids=()
    t0=$(now_ms)
    for ((k = 0; k < BATCH; k++)); do
        (
            id="$(dapi POST "/containers/create?name=$TAG-ffail-$k-$RANDOM" \
                "{\"Image\":\"$IMG:bad\",\"Labels\":{\"ferry.bench\":\"$TAG\"}}" | json_str Id)" || exit 1
            echo "$id" >"$WORK/ffail.$k"
            dapi POST "/containers/$id/start" >/dev/null
        ) &
        kids+=($!)
    done
    for k in "${kids[@]}"; do wait "$k" || die "a failure floor container did not start"; done
    FLOOR_LAST="$(awk -v a="$(fsec "$t0" "$(now_ms)")" 'BEGIN { printf "%.3f", a + 2.0 }')"
    for ((k = 0; k < BATCH; k++)); do floor_down "$(cat "$WORK/ffail.$k")" || true; done
}

floor_rollout_setup() {   # floor_rollout_setup ORDER: six containers on web:1
    local i
    floor_rollout_teardown
    for ((i = 0; i < NH; i++)); do
        if [ "$1" = stop-first ]; then
            FLOOR_IDS[$i]="$(floor_up "$TAG-floor-$i-$RANDOM" "$IMG:1" "127.0.1.$((i + 2))" "$FLOOR_PORT")"
        else
            FLOOR_IDS[$i]="$(floor_up "$TAG-floor-$i-$RANDOM" "$IMG:1")"
        fi
    done
}

floor_rollout_teardown() {
    local id
    for id in "${FLOOR_IDS[@]}"; do floor_down "$id" || true; done
    FLOOR_IDS=()
}

section_floor() {
    local r t0 t1 t2 id up=() down=()
    log "1. floor: one container, create+start until healthy; stop+remove"
    # The first run warms caches and is not counted (--quick: no such
    # run; its one run is counted, the figures mean nothing there).
    for ((r = 1 - WARM; r <= RUNS; r++)); do
        t0=$(now_ms)
        id="$(floor_up "$TAG-floor-$r" "$IMG:2" 127.0.1.8 "$FLOOR_PORT")"
        t1=$(now_ms)
        floor_down "$id" || die "the floor container could not be removed"
        t2=$(now_ms)
        [ "$r" -lt 1 ] && continue
        up+=("$(fsec "$t0" "$t1")")
        down+=("$(fsec "$t1" "$t2")")
    done
    record 1 floor.create_start_healthy s "${up[@]}"
    record 1 floor.stop_remove s "${down[@]}"
}

# ---- 2 and 3. rolling deploys and failures -------------------------------------

section_rollouts() {
    local order r out img t0 prev sfloor=() mh
    local -a f0 f2 sw fl fails fbad swfails swbad
    start_fleet6
    SVC_PORT="$(free_port)"
    for order in stop-first start-first; do
        log "2. rolling deploy, $order: ferry vs Swarm vs floor, $RUNS run(s)"
        # Both sides start from web:1 on six hosts (not timed).
        out="$(ferry_rollout "$IMG:1" "$order" 0s)"
        [ "${out#* }" = succeeded ] || die "ferry's initial rollout ($order) ended ${out#* }"
        swarm_create "$order"
        floor_rollout_setup "$order"
        f0=(); f2=(); sw=(); fl=()
        img=2
        want 2 || RUNS2=0
        for ((r = 1; r <= ${RUNS2:-$RUNS}; r++)); do
            out="$(ferry_rollout "$IMG:$img" "$order" 0s)"
            [ "${out#* }" = succeeded ] || die "ferry rollout ($order, run $r) ended ${out#* }"
            f0+=("${out%% *}")
            out="$(swarm_timed_update "$order" "$IMG:$img" completed)"
            [ "${out#* }" = completed ] || die "Swarm update ($order, run $r) ended ${out#* }, three times"
            sw+=("${out%% *}")
            floor_rollout "$order" "$IMG:$img"
            fl+=("$FLOOR_LAST")
            if [ "$QUICK" -eq 0 ]; then
                img=$((3 - img))
                out="$(ferry_rollout "$IMG:$img" "$order" 2s)"
                [ "${out#* }" = succeeded ] || die "ferry rollout ($order, min_healthy 2s) ended ${out#* }"
                f2+=("${out%% *}")
                # Swarm follows to the same image, untimed.
                swarm_update "$IMG:$img" >/dev/null
                floor_rollout "$order" "$IMG:$img"
            fi
            img=$((3 - img))
            log "  run $r: ferry ${f0[-1]}s${f2:+ (min_healthy 2s ${f2[-1]}s)}, Swarm ${sw[-1]}s, floor ${fl[-1]}s"
        done
        if want 2; then
        record 2 "rolling.$order.ferry" s "${f0[@]}"
        [ ${#f2[@]} -gt 0 ] && record 2 "rolling.$order.ferry_min_healthy_2s" s "${f2[@]}"
        record 2 "rolling.$order.swarm" s "${sw[@]}"
        record 2 "rolling.$order.floor" s "${fl[@]}"
        ratio 2 "rolling.$order.ferry/swarm" "rolling.$order.ferry" "rolling.$order.swarm"
        ratio 2 "rolling.$order.ferry/floor" "rolling.$order.ferry" "rolling.$order.floor"
        ratio 2 "rolling.$order.swarm/floor" "rolling.$order.swarm" "rolling.$order.floor"
        [ ${#f2[@]} -gt 0 ] && ratio_of_medians 2 "rolling.$order.ferry_min_healthy_2s/swarm" \
            "rolling.$order.ferry_min_healthy_2s" "rolling.$order.swarm"
        fi
        floor_rollout_teardown

        if want 3; then
            log "3. failure to rolled back, $order: ferry vs Swarm, $RUNS run(s)"
            fails=(); fbad=(); swfails=(); swbad=(); ffl=()
            for ((r = 1; r <= RUNS; r++)); do
                t0=$(now_ms)
                out="$(ferry_rollout "$IMG:bad" "$order" 0s)"
                [ "${out#* }" = rolled_back ] || die "ferry's bad rollout ($order) ended ${out#* }"
                fails+=("${out%% *}")
                fbad+=("$(created_since "$t0" "ferry.service=$TAG" "$IMG_DIGEST_BAD|:bad")")
                swarm_bad_tasks >"$WORK/bad.before"
                out="$(swarm_timed_update "$order" "$IMG:bad" rollback_completed)"
                [ "${out#* }" = rollback_completed ] || die "Swarm's bad update ($order) ended ${out#* }, three times"
                swfails+=("${out%% *}")
                swbad+=("$(swarm_bad_tasks | comm -13 "$WORK/bad.before" - | wc -l)")
                if [ "$order" = start-first ]; then
                    floor_failure
                    ffl+=("$FLOOR_LAST")
                fi
                log "  run $r: ferry ${fails[-1]}s (${fbad[-1]} bad containers), Swarm ${swfails[-1]}s (${swbad[-1]} bad containers)${ffl:+, floor ${ffl[-1]}s}"
            done
            record 3 "failure.$order.ferry" s "${fails[@]}"
            record 3 "failure.$order.swarm" s "${swfails[@]}"
            record 3 "failure.$order.ferry_bad_containers" n "${fbad[@]}"
            record 3 "failure.$order.swarm_bad_containers" n "${swbad[@]}"
            ratio 3 "failure.$order.ferry/swarm" "failure.$order.ferry" "failure.$order.swarm"
            if [ "$order" = start-first ]; then
                record 3 "failure.$order.floor" s "${ffl[@]}"
                ratio 3 "failure.$order.floor/swarm" "failure.$order.floor" "failure.$order.swarm"
                ratio 3 "failure.$order.ferry/floor" "failure.$order.ferry" "failure.$order.floor"
            fi
        fi
    done
    "$DOCKER" service rm "$SW" >/dev/null 2>&1 || true
    # Section 4 waits for these tasks to go before it creates its own
    # service (swarm_create), once its fleet is up: their removal overlaps
    # that.  Without section 4, wait here (section 5 measures CPU).
    want 4 || wait_swarm_gone
    note "Swarm timings (sections 2, 3) run without a network (tasks on the default bridge); ferry's agents there run without a proxy (--proxy-control ''), so ferry publishes a host port stop-first and none start-first (start-first with a host port needs ferry-proxy: section 4)."
    note "Health check on both sides: GET /health every 1 s, timeout 1 s, 3 failures. Swarm runs busybox wget inside the container; ferry probes over HTTP through the published port stop-first, and over HTTP to the container's own address start-first (no host port: two containers would need it). Swarm: --update-monitor 2s, --update-delay 0s, --no-resolve-image."
}

# ---- 4. availability -------------------------------------------------------
#
# ferry through its proxies: each of the six hosts runs a ferry-proxy (state
# and control socket in the run's folder), its agent drives it
# (--proxy-control), and the service's host port is the proxy's.  ferry-load
# keeps one keep-alive connection on each host's port, a request every 50 ms
# on each, throughout each rollout; start-first and stop-first, every run.
# Swarm: the same rollouts, its client (load.sh, one request at a time, 50 ms
# apart) in a container on the service's overlay network, resolving the
# dnsrr name for each request.

AV_SVC="${TAG}av"                   # the service of this section
AV_PROXY_PIDS=()

# start_av_fleet: the six agents again, each with a ferry-proxy beside it
# (the agents of sections 2 and 3, when they ran, are restarted with it).
start_av_fleet() {
    local dir="$WORK/fleet" i n px
    if [ -z "${FLEET_SOCK:-}" ]; then
        start_fleet6
    fi
    FD_SOCK="$FLEET_SOCK"
    stop_pids ferry-agent "${FLEET_PIDS[@]}"
    FLEET_PIDS=()
    for ((i = 1; i <= NH; i++)); do
        px="$dir/proxy-$i"
        mkdir -p "$px/state"
        : >"$px/ferry-proxy.conf"
        setsid "$PROXY_BIN" -d -f "$px/ferry-proxy.conf" --state-dir "$px/state" \
            --control "$px/control.sock" >"$px/proxy.log" 2>&1 </dev/null &
        AV_PROXY_PIDS+=($!)
        echo "ferry-proxy $!" >>"$PIDS"
    done
    for ((i = 1; i <= NH; i++)); do
        for ((n = 0; n < 100; n++)); do
            "$PROXYCTL" "$dir/proxy-$i/control.sock" status >/dev/null 2>&1 && break
            starting "${AV_PROXY_PIDS[$((i - 1))]}" ||
                { tail "$dir/proxy-$i/proxy.log" >&2; die "host $i's ferry-proxy exited"; }
            sleep 0.1
        done
        [ "$n" -lt 100 ] || die "host $i's ferry-proxy did not answer within 10 s"
        FLEET_PIDS+=("$(start_agent "$dir" "$TAG-$i" "127.0.1.$((i + 1))" --heartbeat-interval 1s \
            --proxy-control "$dir/proxy-$i/control.sock")")
    done
    wait_online proxy || die "the six bench hosts are not online again, each driving its ferry-proxy, within 30 s"
    log "ferry fleet: $NH agents, each driving a ferry-proxy"
}

# load_ferry_start: ferry-load on the six hosts' ports.
LOAD_PID=""
load_ferry_start() {
    local u=() i
    for ((i = 1; i <= NH; i++)); do u+=("http://127.0.1.$((i + 1)):$AV_PORT/version"); done
    rm -f "$WORK/load.stop"
    # --timeout 35: a request held while no container runs (stop-first)
    # waits up to the service's max_pause (30 s) by design; a client that
    # gave up sooner would count the hold, not a drop.  How long requests
    # took is recorded (p99).
    "$LOAD_BIN" --connections 1 --interval 50 --duration 300 --timeout 35 --stop-file "$WORK/load.stop" \
        --json "${u[@]}" >"$WORK/load.json" 2>"$WORK/load.err" </dev/null &
    LOAD_PID=$!
}
# load_ferry_stop -> "sent N failed N non2xx N"
load_ferry_stop() {
    local i j
    touch "$WORK/load.stop"
    for ((i = 0; i < 150; i++)); do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
    # The totals come before "targets" in ferry-load's JSON.
    j="$(sed 's/"targets".*//' "$WORK/load.json")"
    [ -n "$(json_num sent <<<"$j")" ] || die "ferry-load said nothing: $(cat "$WORK/load.err")"
    echo "sent $(json_num sent <<<"$j") failed $(json_num failed <<<"$j") non2xx $(( $(json_num 3xx <<<"$j") + $(json_num 4xx <<<"$j") + $(json_num 5xx <<<"$j") )) p99_ms $(json_num p99_ms <<<"$j")"
}

# The same client inside a container on the service's overlay network; the
# service name resolves (dnsrr) to the tasks' addresses.
load_swarm_start() {
    "$DOCKER" rm -f "$TAG-client" >/dev/null 2>&1 || true
    "$DOCKER" run -d --name "$TAG-client" --label "ferry.bench=$TAG" --network "$TAG-net" \
        --entrypoint /bin/sh "$IMG:1" -c "$(cat "$ROOT/tests/bench/load.sh")" load \
        /tmp/stop 300 0.05 "$SW:80" >/dev/null || die "the load client container did not start"
}
load_swarm_stop() {
    "$DOCKER" exec "$TAG-client" /bin/busybox touch /tmp/stop >/dev/null 2>&1 || true
    timeout 15 "$DOCKER" wait "$TAG-client" >/dev/null 2>&1 || true
    "$DOCKER" logs "$TAG-client" 2>&1 | grep '^sent ' | tail -n1
    "$DOCKER" rm -f "$TAG-client" >/dev/null 2>&1 || true
}

section_availability() {
    local r out img order a k
    local -A v
    [ -x "$LOAD_BIN" ] || die "$LOAD_BIN not found: run make tools"
    [ -x "$PROXY_BIN" ] && [ -x "$PROXYCTL" ] || die "ferry-proxy or proxyctl not built: run make bench"
    log "4. availability under load: ferry through its proxies (ferry-load) vs Swarm (dnsrr), start-first and stop-first"
    start_av_fleet
    AV_PORT="$(free_port)"
    "$DOCKER" network rm "$TAG-net" >/dev/null 2>&1 || true
    "$DOCKER" network create --driver overlay --attachable "$TAG-net" >/dev/null ||
        die "docker network create (overlay) failed"
    # ferryd takes start-first with a host port once every host's
    # heartbeat has carried its proxy's counts: wait until the plan passes.
    SVC_NAME="$AV_SVC" SVC_PORT="$AV_PORT" PUBLISH=always ferry_spec "$WORK/av-plan.yml" "$IMG:1" start-first 0s
    for ((r = 0; r < 150; r++)); do
        ferry plan "$WORK/av-plan.yml" >"$WORK/av-plan.out" 2>&1 && break
        sleep 0.2
    done
    [ "$r" -lt 150 ] || die "ferryd does not see the proxies within 30 s: $(cat "$WORK/av-plan.out")"
    for order in start-first stop-first; do
        out="$(SVC_NAME="$AV_SVC" SVC_PORT="$AV_PORT" PUBLISH=always ferry_rollout "$IMG:1" "$order" 0s)"
        [ "${out#* }" = succeeded ] || die "ferry's initial rollout ($order, through the proxies) ended ${out#* }"
        # --quick: Swarm stop-first only (its start-first costs a service
        # of its own and adds nothing to the harness).
        local swarm=1
        [ "$QUICK" -eq 1 ] && [ "$order" = start-first ] && swarm=0
        [ "$swarm" -eq 1 ] && swarm_create "$order" "$TAG-net"
        img=2
        for ((r = 1; r <= RUNS; r++)); do
            load_ferry_start
            sleep "$LEAD"
            out="$(SVC_NAME="$AV_SVC" SVC_PORT="$AV_PORT" PUBLISH=always ferry_rollout "$IMG:$img" "$order" 0s)"
            sleep "$LEAD"
            a="$(load_ferry_stop)"
            [ "${out#* }" = succeeded ] || die "ferry rollout ($order) under load ended ${out#* }"
            for k in sent failed non2xx p99_ms; do
                v[ferry.$k]+=" $(awk -v k="$k" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$a")"
            done
            if [ "$swarm" -eq 0 ]; then
                log "  $order run $r: ferry sent ${v[ferry.sent]##* } failed ${v[ferry.failed]##* } non-2xx ${v[ferry.non2xx]##* } p99 ${v[ferry.p99_ms]##* } ms"
                img=$((3 - img))
                continue
            fi
            load_swarm_start
            sleep "$LEAD"
            out="$(swarm_update "$IMG:$img")"
            sleep "$LEAD"
            a="$(load_swarm_stop)"
            # Swarm's own failure is its result, not the bench's: noted.
            [ "${out#* }" = completed ] ||
                note "Availability, $order run $r: Swarm's update ended ${out#* }, not completed ($("$DOCKER" service inspect --format '{{.UpdateStatus.Message}}' "$SW" 2>/dev/null))"
            for k in sent failed non2xx; do
                v[swarm.$k]+=" $(awk -v k="$k" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$a")"
            done
            log "  $order run $r: ferry sent ${v[ferry.sent]##* } failed ${v[ferry.failed]##* } non-2xx ${v[ferry.non2xx]##* } p99 ${v[ferry.p99_ms]##* } ms; Swarm sent ${v[swarm.sent]##* } failed ${v[swarm.failed]##* } non-2xx ${v[swarm.non2xx]##* }"
            img=$((3 - img))
        done
        for k in sent failed non2xx; do
            # shellcheck disable=SC2086
            record 4 "avail.$order.ferry.$k" n ${v[ferry.$k]}
            # shellcheck disable=SC2086
            [ "$swarm" -eq 0 ] || record 4 "avail.$order.swarm.$k" n ${v[swarm.$k]}
        done
        # shellcheck disable=SC2086
        record 4 "avail.$order.ferry.p99" ms ${v[ferry.p99_ms]}
        v=()
        "$DOCKER" service rm "$SW" >/dev/null 2>&1 || true
        wait_swarm_gone
    done
    "$DOCKER" network rm "$TAG-net" >/dev/null 2>&1 || true
    note "Availability: ferry's hosts each run a ferry-proxy that owns the service's host port; ferry-load keeps one keep-alive connection on each of the six hosts' ports, a request every 50 ms on each (about 120 requests/s in all), from 1 s before each rollout to 1 s after it, each allowed 35 s (stop-first holds requests up to max_pause, 30 s); its p99 shows how long they took. Swarm's client (load.sh: busybox wget, one request at a time, 50 ms apart) runs in a container on an overlay network and resolves the dnsrr service name for each request (IPVS does not forward on this kernel). failed: no HTTP answer; non2xx: an answer outside 2xx."
}

# ---- 5 and 6. control plane and footprint --------------------------------------

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# PSS (shared pages divided among their users) and private (the process's
# own pages): most of an agent's RSS is shared libraries.
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
private_kb() { awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s }' "/proc/$1/smaps_rollup"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# cpu_ticks_sum PID...: their CPU ticks together.
cpu_ticks_sum() {
    local p
    for p in "$@"; do echo "/proc/$p/stat"; done | xargs cat 2>/dev/null |
        awk '{ t += $14 + $15 } END { print t + 0 }'
}

# pct: per-host latencies (ms) on stdin -> "p50 p99 max"
pct() {
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan nan nan"; exit }
        i50 = int(0.50 * NR + 0.999); i99 = int(0.99 * NR + 0.999)
        printf "%.4g %.4g %.4g\n", a[i50 < 1 ? 1 : i50], a[i99 < 1 ? 1 : i99], a[NR] }'
}

section_control() {
    local n dir i t0 link k lflags=() t_online online c0 c1 w0 w1 hz r out t1 lat pids=() allt=() ackps=() one=()
    local p50=() p99=() pmax=() rss_agents=() sig sign verify floor_s
    hz=$(getconf CLK_TCK)
    sig="$("$SIGRATE" "$([ "$QUICK" -eq 1 ] && echo 0.3 || echo 1)")"
    sign="$(echo "$sig" | json_num sign_per_s)"
    verify="$(echo "$sig" | json_num verify_per_s)"
    record 5 ed25519.sign_per_s_one_core 1/s "$sign"
    record 5 ed25519.verify_per_s_one_core 1/s "$verify"
    if [ "$(ulimit -n)" -lt 8192 ]; then ulimit -n 8192 || true; fi
    for n in $AGENTS_N; do
        log "5. control plane: N=$n agents on loopback"
        dir="$WORK/cp$n"
        FD_PORT=""
        start_ferryd "$dir"
        sleep "$SETTLE"
        record 6 "footprint.ferryd_rss_0_agents_n$n" KiB "$(rss_kb "$FD_PID")"
        t0=$(now_ms)
        for ((i = 1; i <= n; i++)); do join "$dir" "cp$i" 127.0.1.9 role=cp; done
        log "  $n agents joined in $(fsec "$t0" "$(now_ms)") s"
        note "N=$n: joining $n agents one after another took $(fsec "$t0" "$(now_ms)") s (token create + join, serial CLI calls)"
        # The same fleet twice: the link sealed (the default), then in
        # cleartext (insecure_cleartext_link on ferryd and every agent),
        # so that what sealing costs is a ratio measured side by side.
        for link in sealed cleartext; do
            if [ "$link" = cleartext ]; then
                stop_pids ferryd "$FD_PID"
                start_ferryd "$dir" --insecure-cleartext-link yes
                k="control.n$n.cleartext"
                lflags=(--insecure-cleartext-link yes)
            else
                k="control.n$n"
                lflags=()
            fi
            pids=()
            t0=$(now_ms)
            for ((i = 1; i <= n; i++)); do
                pids+=("$(start_agent "$dir" "cp$i" 127.0.1.9 --docker-socket "$WORK/no-docker.sock" "${lflags[@]}")")
            done
            t_online=""
            for ((i = 0; i < 1200; i++)); do
                online="$(grep -c ': online (' "$dir/ferryd.log" || true)"
                if [ "$online" -ge "$n" ]; then t_online="$(fsec "$t0" "$(now_ms)")"; break; fi
                sleep 0.1
            done
            [ -n "$t_online" ] || die "only $online of $n agents online after 120 s ($link link)"
            record 5 "$k.all_online" s "$t_online"
            sleep "$(awk -v s="$SETTLE" 'BEGIN { print 2 * s }')"
            if [ "$link" = sealed ]; then
                # Heartbeating at the default interval (5 s): CPU and RSS of ferryd.
                c0=$(cpu_ticks "$FD_PID"); w0=$(now_ms)
                sleep "$CPU_WINDOW"
                c1=$(cpu_ticks "$FD_PID"); w1=$(now_ms)
                record 5 "control.n$n.ferryd_cpu_heartbeating" "%" \
                    "$(awk -v c="$((c1 - c0))" -v hz="$hz" -v w="$((w1 - w0))" 'BEGIN { printf "%.2f", 100 * c / hz / (w / 1000) }')"
                record 5 "control.n$n.ferryd_rss_heartbeating" KiB "$(rss_kb "$FD_PID")"
                record 6 "footprint.ferryd_rss_n$n" KiB "$(rss_kb "$FD_PID")"
                rss_agents=()
                for ((i = 0; i < n && i < 20; i++)); do rss_agents+=("$(rss_kb "${pids[$i]}")"); done
                record 6 "footprint.agent_rss_idle_n$n" KiB "${rss_agents[@]}"
                rss_agents=()
                for ((i = 0; i < n && i < 20; i++)); do rss_agents+=("$(pss_kb "${pids[$i]}")"); done
                record 6 "footprint.agent_pss_idle_n$n" KiB "${rss_agents[@]}"
                rss_agents=()
                for ((i = 0; i < n && i < 20; i++)); do rss_agents+=("$(private_kb "${pids[$i]}")"); done
                record 6 "footprint.agent_private_idle_n$n" KiB "${rss_agents[@]}"
                record 6 "footprint.ferryd_private_n$n" KiB "$(private_kb "$FD_PID")"
            fi
            # ferry ping to all: time until all answered, per-host latency.
            allt=(); ackps=(); : >"$WORK/lat"
            ca0=$(cpu_ticks_sum "${pids[@]}"); cf0=$(cpu_ticks "$FD_PID")
            for ((r = 1; r <= PING_RUNS; r++)); do
                t0=$(now_ms)
                out="$(ferry ping --json --timeout 30s)" || die "ferry ping to $n hosts failed ($link link)"
                t1=$(now_ms)
                allt+=("$(fsec "$t0" "$t1")")
                ackps+=("$(awk -v n="$n" -v ms="$((t1 - t0))" 'BEGIN { printf "%.1f", n / (ms / 1000) }')")
                echo "$out" | grep -oE '"latency_ms"[[:space:]]*:[[:space:]]*[0-9.]+' | grep -oE '[0-9.]+$' >>"$WORK/lat"
            done
            ca1=$(cpu_ticks_sum "${pids[@]}"); cf1=$(cpu_ticks "$FD_PID")
            # Where the CPU of one ping to all goes: the agents together, and
            # ferryd (CPU-seconds per ferry ping, over the runs).
            record 5 "$k.ping_all_cpu_agents" s \
                "$(awk -v t="$((ca1 - ca0))" -v hz="$hz" -v r="$PING_RUNS" 'BEGIN { printf "%.4f", t / hz / r }')"
            record 5 "$k.ping_all_cpu_ferryd" s \
                "$(awk -v t="$((cf1 - cf0))" -v hz="$hz" -v r="$PING_RUNS" 'BEGIN { printf "%.4f", t / hz / r }')"
            record 5 "$k.ping_all_answered" s "${allt[@]}"
            record 5 "$k.signed_commands_acked_per_s" 1/s "${ackps[@]}"
            read -r a b c <<<"$(pct <"$WORK/lat")"
            record 5 "$k.ping_per_host_p50" ms "$a"
            record 5 "$k.ping_per_host_p99" ms "$b"
            record 5 "$k.ping_per_host_max" ms "$c"
            if [ "$link" = sealed ]; then
                # The CPU floor: per round trip ferryd signs + verifies once and the
                # agent verifies + signs once; two cores.
                floor_s="$(awk -v n="$n" -v s="$sign" -v v="$verify" 'BEGIN { printf "%.4f", n * (2 / s + 2 / v) / 2 }')"
                record 5 "control.n$n.ping_all_cpu_floor" s "$floor_s"
                ratio_of_medians 5 "control.n$n.ping_all/cpu_floor" "control.n$n.ping_all_answered" "control.n$n.ping_all_cpu_floor"
            fi
            # One host, pinged alone: its latency as ferryd measures it.
            one=()
            for ((r = 1; r <= (QUICK ? 3 : 100); r++)); do
                out="$(ferry ping cp1 --json)" || die "ferry ping cp1 failed ($link link)"
                one+=("$(echo "$out" | json_num latency_ms)")
            done
            record 5 "$k.ping_one_host" ms "${one[@]}"
            log "  $link link: online ${t_online}s; ping all ${allt[*]} s; one host ${one[*]} ms"
            stop_pids ferry-agent "${pids[@]}"
        done
        # What sealing costs: sealed over cleartext, the same fleet.
        ratio_of_medians 5 "control.n$n.ping_one_host/cleartext" "control.n$n.ping_one_host" "control.n$n.cleartext.ping_one_host"
        ratio_of_medians 5 "control.n$n.ping_all/cleartext" "control.n$n.ping_all_answered" "control.n$n.cleartext.ping_all_answered"
        ratio_of_medians 5 "control.n$n.ping_all_cpu_ferryd/cleartext" "control.n$n.ping_all_cpu_ferryd" "control.n$n.cleartext.ping_all_cpu_ferryd"
        stop_pids ferryd "$FD_PID"
        # The floor of the link itself (linkfloor.c): the same message
        # pattern over NNG to N processes with nothing else, bare and with
        # ferry's signatures, once ferry's own processes are gone.
        out="$("$LINKFLOOR" "$n" "$PING_RUNS")" || die "linkfloor $n failed"
        # shellcheck disable=SC2046
        record 5 "control.n$n.link_floor_nng" s $(echo "$out" | json_list rounds_s)
        out="$("$LINKFLOOR" "$n" "$PING_RUNS" sign)" || die "linkfloor $n sign failed"
        # shellcheck disable=SC2046
        record 5 "control.n$n.link_floor_nng_signed" s $(echo "$out" | json_list rounds_s)
        ratio_of_medians 5 "control.n$n.link_floor_signed/cpu_floor" "control.n$n.link_floor_nng_signed" "control.n$n.ping_all_cpu_floor"
        ratio_of_medians 5 "control.n$n.ping_all/link_floor_signed" "control.n$n.ping_all_answered" "control.n$n.link_floor_nng_signed"
        log "  link floor (NNG alone): $(median_of "control.n$n.link_floor_nng") s; with signatures $(median_of "control.n$n.link_floor_nng_signed") s"
    done
}

# rss_floor BINARY: the RSS (KiB) of a process that only starts the agent's
# libraries (rssfloor.c), once it says it is ready; bounded at 10 s.
rss_floor() {
    local pid kb i
    "$1" 30 >"$WORK/rssfloor.out" &
    pid=$!
    for ((i = 0; i < 100; i++)); do grep -q ready "$WORK/rssfloor.out" && break; sleep 0.1; done
    sleep 0.5
    kb="$(rss_kb "$pid" 2>/dev/null || true)"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ -n "$kb" ] || die "$1 did not start"
    echo "$kb"
}

section_footprint() {
    local b r with=() without=()
    log "6. footprint: stripped binary sizes; the agent's libraries alone"
    for b in ferryd ferry ferry-agent; do
        strip -o "$WORK/$b.stripped" "$BIN/$b"
        record 6 "footprint.size_stripped.$b" bytes "$(stat -c %s "$WORK/$b.stripped")"
    done
    # The floor of an idle agent's RSS: its libraries started and idle,
    # with libcurl and without it.
    for ((r = 1; r <= RSS_RUNS; r++)); do
        with+=("$(rss_floor "$RSSFLOOR")")
        without+=("$(rss_floor "$RSSFLOOR-nocurl")")
    done
    record 6 footprint.rss_floor_agent_libraries KiB "${with[@]}"
    record 6 footprint.rss_floor_agent_libraries_without_curl KiB "${without[@]}"
    for b in n1000 n100 n20; do
        if [ -n "$(median_of "footprint.agent_rss_idle_$b")" ]; then
            ratio_of_medians 6 "footprint.agent_rss/rss_floor" "footprint.agent_rss_idle_$b" footprint.rss_floor_agent_libraries
            break
        fi
    done
    if ! want 5; then
        note "footprint RSS figures come from section 5; run it too"
    fi
}

# ---- 7 and 8. the proxy's cost and memory ---------------------------------
#
# Backends: statics (statics.c, linked statically, in a container built FROM
# scratch) and the busybox app (web:1), each on its container's own address,
# as ferry-proxy reaches containers on a fleet.  In front of them: nothing
# (direct), ferry-proxy (a route set on its control socket with proxyctl)
# and HAProxy 2.6 configured the same way (mode http, keep-alive on both
# sides, X-Forwarded-For and -Proto, the same timeouts), one after the
# other in each run.  wrk runs on CPU 0 and the proxy under test on CPU 1
# (taskset), each with one thread: one core each, so a proxy competes with
# neither wrk nor the other proxy; the backend container is not pinned.

PX_DIR=""; PX_SOCK=""; PX_PID=""; HAP_PID=""

# statics_image: the FROM-scratch image of statics, tagged by the binary's
# digest (built once per binary); prints its name.
statics_image() {
    local sum img ctx
    sum="$(sha256sum "$STATICS" | cut -c1-12)"
    img="ferry-bench/statics:$sum"
    if ! "$DOCKER" image inspect "$img" >/dev/null 2>&1; then
        ctx="$WORK/statics-image"
        mkdir -p "$ctx"
        cp "$STATICS" "$ctx/statics"
        printf 'FROM scratch\nCOPY statics /statics\nENTRYPOINT ["/statics", "--listen", "0.0.0.0:8000"]\n' >"$ctx/Dockerfile"
        "$DOCKER" build -q -t "$img" "$ctx" >/dev/null || die "docker build of $img failed"
        # Images of older statics binaries are not needed any more.
        "$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}' ferry-bench/statics |
            grep -vxF "$img" | xargs -r "$DOCKER" image rm >/dev/null 2>&1 || true
    fi
    echo "$img"
}

# backend NAME IMAGE PORT: a container of the run (not pinned, no host
# port); prints its address once GET / answers 200 there (10 s at most).
backend() {
    local ip i
    "$DOCKER" run -d --name "$TAG-$1" --label "ferry.bench=$TAG" "$2" >/dev/null ||
        die "docker run $2 failed"
    ip="$("$DOCKER" inspect -f '{{.NetworkSettings.IPAddress}}' "$TAG-$1")"
    for ((i = 0; i < 100; i++)); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$ip:$3/")" = 200 ] &&
            { echo "$ip"; return 0; }
        sleep 0.1
    done
    die "backend $1 ($2) not answering on $ip:$3 within 10 s"
}

# start_proxy: ferry-proxy in the foreground of its own session, its state
# and control socket in the run's folder, pinned to CPU 1.
start_proxy() {
    local i
    PX_DIR="$WORK/proxy"
    PX_SOCK="$PX_DIR/control.sock"
    mkdir -p "$PX_DIR/state"
    : >"$PX_DIR/ferry-proxy.conf"
    setsid taskset -c 1 "$PROXY_BIN" -d -f "$PX_DIR/ferry-proxy.conf" \
        --state-dir "$PX_DIR/state" --control "$PX_SOCK" \
        >"$PX_DIR/proxy.log" 2>&1 </dev/null &
    PX_PID=$!
    echo "ferry-proxy $PX_PID" >>"$PIDS"
    for ((i = 0; i < 100; i++)); do
        "$PROXYCTL" "$PX_SOCK" status >/dev/null 2>&1 && return 0
        starting "$PX_PID" || { tail "$PX_DIR/proxy.log" >&2; die "ferry-proxy exited"; }
        sleep 0.1
    done
    die "ferry-proxy did not answer on $PX_SOCK within 10 s"
}

# proxy_route SERVICE PORT ADDR:PORT: 127.0.0.1:PORT -> the container.
proxy_route() {
    local out
    out="$("$PROXYCTL" "$PX_SOCK" set "$1" "127.0.0.1:$2" "$3" 2>&1)" ||
        die "ferry-proxy refused the route $1 127.0.0.1:$2 -> $3: $out"
}

# start_haproxy PORT1 ADDR1:PORT1 [PORT2 ADDR2:PORT2]: HAProxy configured as
# ferry-proxy serves a route, one thread, pinned to CPU 1.
start_haproxy() {
    local cfg="$WORK/haproxy.cfg" i n=0
    cat >"$cfg" <<CFG
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    option http-keep-alive
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s
CFG
    while [ $# -ge 2 ]; do
        n=$((n + 1))
        printf 'frontend f%s\n    bind 127.0.0.1:%s\n    http-request set-header X-Forwarded-Proto http\n    default_backend b%s\nbackend b%s\n    server s1 %s\n' \
            "$n" "$1" "$n" "$n" "$2" >>"$cfg"
        shift 2
    done
    haproxy -c -f "$cfg" >"$WORK/haproxy-check.log" 2>&1 ||
        die "haproxy -c rejects $cfg: $(grep ALERT "$WORK/haproxy-check.log" | head -n 3)"
    setsid taskset -c 1 haproxy -db -f "$cfg" >"$WORK/haproxy.log" 2>&1 </dev/null &
    HAP_PID=$!
    echo "haproxy $HAP_PID" >>"$PIDS"
    for ((i = 0; i < 100; i++)); do
        ss -Htln "sport = :$HAP_PORT1" | grep -q . && return 0
        starting "$HAP_PID" || { tail "$WORK/haproxy.log" >&2; die "haproxy exited"; }
        sleep 0.1
    done
    die "haproxy did not listen within 10 s"
}

# ms VALUE: wrk's "123.45us" / "1.20ms" / "1.01s" in milliseconds.
ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.4f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.4f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.4f", v * 1000 }
        else print "nan" }'
}

# wrk_run URL CONNECTIONS SECONDS -> "RPS P50_MS P99_MS ERRORS": one wrk
# thread pinned to CPU 0.  ERRORS counts socket errors and non-2xx answers.
wrk_run() {
    local out rps p50 p99 errs
    out="$(taskset -c 0 wrk -t1 -c"$2" -d"$3"s --timeout 5s --latency "$1" 2>&1)" ||
        die "wrk $1 failed: $out"
    rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")"
    p50="$(ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")"
    p99="$(ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
    errs="$(awk '/Non-2xx or 3xx responses:/ { e += $NF }
        /Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
        END { print e + 0 }' <<<"$out")"
    [ -n "$rps" ] && [ "$p50" != nan ] || die "wrk's output unreadable: $out"
    echo "$rps $p50 $p99 $errs"
}

section_proxy_cost() {
    local r b via out url st_ip app_ip port_f port_h key k v order
    local -A urls
    [ -x "$PROXY_BIN" ] || die "$PROXY_BIN not found: run make first"
    [ -x "$STATICS" ] && [ -x "$PROXYCTL" ] || die "$STATICS or $PROXYCTL not found: run make bench"
    command -v wrk >/dev/null && command -v haproxy >/dev/null ||
        die "wrk or haproxy missing: run deploy/setup.sh deps"
    local dur=$((QUICK ? 1 : 10)) conns=32
    log "7. proxy cost: wrk direct, through ferry-proxy, through HAProxy $(haproxy -v | awk 'NR == 1 { print $3 }'); ${dur}s each, $RUNS run(s)"
    st_ip="$(backend statics "$(statics_image)" 8000)"
    app_ip="$(backend app "$IMG:1" 80)"
    port_f="$(free_port)"; PORT_F2="$(free_port)"
    port_h="$(free_port)"; HAP_PORT1="$port_h"; PORT_H2="$(free_port)"
    start_proxy
    proxy_route bench-statics "$port_f" "$st_ip:8000"
    proxy_route bench-app "$PORT_F2" "$app_ip:80"
    start_haproxy "$port_h" "$st_ip:8000" "$PORT_H2" "$app_ip:80"
    urls[statics.direct]="http://$st_ip:8000/"
    urls[statics.ferry]="http://127.0.0.1:$port_f/"
    urls[statics.haproxy]="http://127.0.0.1:$port_h/"
    urls[app.direct]="http://$app_ip:80/version"
    urls[app.ferry]="http://127.0.0.1:$PORT_F2/version"
    urls[app.haproxy]="http://127.0.0.1:$PORT_H2/version"
    # Warm-up (not counted): every path once.  --quick: none, and the
    # statics backend alone (the harness is the same for both).
    local backends="statics app"
    if [ "$QUICK" -eq 1 ]; then
        backends=statics
    else
        for key in "${!urls[@]}"; do wrk_run "${urls[$key]}" 4 1 >/dev/null; done
    fi
    local -A s
    for ((r = 1; r <= RUNS; r++)); do
        # The order turns each run, so that none always goes first.
        case $((r % 3)) in
            1) order="direct ferry haproxy" ;;
            2) order="ferry haproxy direct" ;;
            0) order="haproxy direct ferry" ;;
        esac
        for b in $backends; do
            for via in $order; do
                # Saturation: 32 connections, as fast as they go.
                read -r k v p99 e <<<"$(wrk_run "${urls[$b.$via]}" "$conns" "$dur")"
                s[$b.$via.rps]+=" $k"; s[$b.$via.p50_c$conns]+=" $v"; s[$b.$via.p99_c$conns]+=" $p99"
                s[$b.$via.errors]+=" $e"
                # Latency alone: one connection, one request at a time
                # (--quick: skipped; the same wrk_run as above).
                [ "$QUICK" -eq 1 ] && continue
                read -r k v p99 e <<<"$(wrk_run "${urls[$b.$via]}" 1 "$dur")"
                s[$b.$via.p50_c1]+=" $v"; s[$b.$via.p99_c1]+=" $p99"
                s[$b.$via.errors]+=" $e"
            done
            log "  run $r $b: rps direct/ferry/haproxy $(for via in direct ferry haproxy; do echo -n "${s[$b.$via.rps]##* } "; done)"
        done
    done
    for b in $backends; do
        for via in direct ferry haproxy; do
            # shellcheck disable=SC2086
            record 7 "proxy.$b.$via.rps" req/s ${s[$b.$via.rps]}
            # shellcheck disable=SC2086
            record 7 "proxy.$b.$via.p50_c$conns" ms ${s[$b.$via.p50_c$conns]}
            # shellcheck disable=SC2086
            record 7 "proxy.$b.$via.p99_c$conns" ms ${s[$b.$via.p99_c$conns]}
            if [ "$QUICK" -eq 0 ]; then
                # shellcheck disable=SC2086
                record 7 "proxy.$b.$via.p50_c1" ms ${s[$b.$via.p50_c1]}
                # shellcheck disable=SC2086
                record 7 "proxy.$b.$via.p99_c1" ms ${s[$b.$via.p99_c1]}
            fi
            # shellcheck disable=SC2086
            record 7 "proxy.$b.$via.errors" n ${s[$b.$via.errors]}
        done
        ratio 7 "proxy.$b.rps.ferry/haproxy" "proxy.$b.ferry.rps" "proxy.$b.haproxy.rps"
        ratio 7 "proxy.$b.p99_c$conns.ferry/haproxy" "proxy.$b.ferry.p99_c$conns" "proxy.$b.haproxy.p99_c$conns"
        ratio 7 "proxy.$b.p50_c$conns.ferry/haproxy" "proxy.$b.ferry.p50_c$conns" "proxy.$b.haproxy.p50_c$conns"
        ratio 7 "proxy.$b.rps.ferry/direct" "proxy.$b.ferry.rps" "proxy.$b.direct.rps"
        # The p50 over direct, one connection, run by run (ms).
        [ "$QUICK" -eq 1 ] && continue
        record 7 "proxy.$b.p50_c1.ferry-direct" ms $(paste <(samples_of "proxy.$b.ferry.p50_c1") \
            <(samples_of "proxy.$b.direct.p50_c1") | awk '{ printf "%.4f\n", $1 - $2 }')
        record 7 "proxy.$b.p50_c1.haproxy-direct" ms $(paste <(samples_of "proxy.$b.haproxy.p50_c1") \
            <(samples_of "proxy.$b.direct.p50_c1") | awk '{ printf "%.4f\n", $1 - $2 }')
    done
    "$PROXYCTL" "$PX_SOCK" status >"$WORK/proxy.status" 2>&1 || true
    note "Proxy cost: wrk (1 thread) on CPU 0 and the proxy under test on CPU 1 (taskset), HAProxy with nbthread 1; backends in containers (statics FROM scratch, statics linked statically; the busybox app web:1), not pinned, reached on their own addresses. Throughput and p99 at $conns connections; p50 with one connection (the latency a proxy adds, without queueing)."
    SECTION7_UP=1
}

section_proxy_memory() {
    local idle held n=1000 hold_pid i line st_ip port
    log "8. proxy memory: idle RSS; RSS with $n open keep-alive connections"
    if [ -z "${SECTION7_UP:-}" ]; then
        [ -x "$PROXY_BIN" ] && [ -x "$PROXYCTL" ] && [ -x "$CONNHOLD" ] || die "ferry-proxy, proxyctl or connhold not built"
        st_ip="$(backend statics "$(statics_image)" 8000)"
        start_proxy
        sleep 0.5
        # Idle: started, no route, nothing served yet.
        record 8 proxy.rss_idle_fresh KiB "$(rss_kb "$PX_PID")"
        port="$(free_port)"
        proxy_route bench-statics "$port" "$st_ip:8000"
    else
        port="$(awk '$1 == "route" && $2 == "bench-statics" { n = split($4, a, ":"); print a[n] }' "$WORK/proxy.status")"
        [ -n "$port" ] || port="$(ss -Htlnp | awk -v p="$PX_PID" '$0 ~ "pid=" p "," { n = split($4, a, ":"); print a[n]; exit }')"
    fi
    ulimit -n 65536 2>/dev/null || ulimit -n 8192
    # Idle: routes set, every connection closed, a second to settle.
    sleep "$SETTLE"
    idle="$(rss_kb "$PX_PID")"
    record 8 proxy.rss_idle KiB "$idle"
    rm -f "$WORK/hold.in"; mkfifo "$WORK/hold.in"
    "$CONNHOLD" "127.0.0.1:$port" "$n" 60 <"$WORK/hold.in" >"$WORK/hold.out" 2>&1 &
    hold_pid=$!
    exec 9>"$WORK/hold.in"
    for ((i = 0; i < 300; i++)); do
        grep -q '^open ' "$WORK/hold.out" && break
        kill -0 "$hold_pid" 2>/dev/null || break
        sleep 0.1
    done
    line="$(grep '^open ' "$WORK/hold.out" || true)"
    sleep 0.5
    held="$(rss_kb "$PX_PID")"
    exec 9>&-
    wait "$hold_pid" 2>/dev/null || true
    [ "$line" = "open $n ok $n" ] || die "connhold through ferry-proxy: $(cat "$WORK/hold.out")"
    record 8 proxy.rss_with_${n}_connections KiB "$held"
    record 8 proxy.rss_per_connection KiB "$(awk -v a="$held" -v b="$idle" -v n="$n" 'BEGIN { printf "%.2f", (a - b) / n }')"
    note "Proxy memory: VmRSS of ferry-proxy idle (its routes set, no connection open) and while connhold holds $n keep-alive connections through it, each having had one request answered; per connection = the difference / $n."
}

# ---- 9. canaries and blue-green ----------------------------------------------
#
# The six hosts of section 4 (each agent driving its own ferry-proxy), the
# service web:errors (tests/images/faultweb.c: ERROR_RATE and LATENCY_MS
# from its environment), stable at ERROR_RATE 0.1%.  ferry-load keeps two
# keep-alive connections on each host's port at a fixed rate throughout;
# the analysis' min_requests is sized to the rate it reached in a short
# calibration run first.  Measured against the issue's targets:
#   detection: a canary at 5% of a revision failing 2%, judged every 2 s
#     (failure_limit 2): from its step running to the deployment
#     rolled_back, in seconds and intervals (target: within 3 intervals);
#   false aborts: canaries of a revision that behaves like the stable one
#     (only VERSION differs), one after another (target: 0 of 20);
#   blue-green: the skew between the six agents' route sets at the switch
#     (target < 50 ms), and from `ferry rollback` to the last host's route
#     switched back (target < 1 s), both from the agents' own log stamps.

CN_SVC="${TAG}cn"                   # the service of this section
CN_PORT=""
CN_RATE=200                         # requests/s on each connection
CN_LOAD_PID=""

# cn_spec FILE VERSION ERROR_RATE STRATEGY_LINES: the service's spec.
cn_spec() {
    cat >"$1" <<SPEC
service: $CN_SVC
image: $IMG:errors
hosts: { labels: { role: $TAG } }
port: { host: $CN_PORT, container: 80 }
env: { ERROR_RATE: "$3", LATENCY_MS: "0", VERSION: "$2" }
health:
  http: { path: /health, port: 80 }
  interval: 200ms
  timeout: 1s
  deadline: 10s
  min_healthy: 300ms
proxy: { drain_timeout: 1s }
$4
SPEC
}

# cn_load START|STOP [SECONDS]: ferry-load on the six hosts' /version, two
# connections each at CN_RATE requests/s.  STOP prints its JSON totals.
cn_load() {
    local u=() i
    if [ "$1" = start ]; then
        for ((i = 1; i <= NH; i++)); do u+=("http://127.0.1.$((i + 1)):$CN_PORT/version"); done
        rm -f "$WORK/cn-load.stop"
        "$LOAD_BIN" --connections 2 --rate "$CN_RATE" --duration "${2:-600}" --timeout 10 \
            --stop-file "$WORK/cn-load.stop" --json "${u[@]}" >"$WORK/cn-load.json" \
            2>"$WORK/cn-load.err" </dev/null &
        CN_LOAD_PID=$!
        return 0
    fi
    touch "$WORK/cn-load.stop"
    for ((i = 0; i < 150; i++)); do kill -0 "$CN_LOAD_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$CN_LOAD_PID" 2>/dev/null || true
    wait "$CN_LOAD_PID" 2>/dev/null || true
    CN_LOAD_PID=""
    # The totals come before "targets" in ferry-load's JSON.
    sed 's/"targets".*//' "$WORK/cn-load.json"
}

# cn_deploy SPEC -> the deployment's id (ferry deploy returns at once).
cn_deploy() {
    local out
    out="$(ferry deploy "$1" --json 2>&1)" || die "ferry deploy $1 refused: $out"
    echo "$out" | json_num id
}

# cn_wait ID SECONDS: polls until the deployment ended (prints its
# status JSON); dies past SECONDS.
cn_wait() {
    local out st i
    for ((i = 0; i < $2 * 10; i++)); do
        out="$(ferry status "$1" --json 2>/dev/null)" || true
        st="$(echo "$out" | json_str state)"
        case "$st" in succeeded|failed|rolled_back|aborted) echo "$out"; return 0 ;; esac
        sleep 0.1
    done
    die "deployment $1 of $CN_SVC did not end within $2 s (state ${st:-unknown})"
}

# cn_marks: each agent's log length now (cn_stamps reads what follows).
cn_marks() {
    local i
    for ((i = 1; i <= NH; i++)); do wc -l <"$WORK/fleet/$TAG-$i.log"; done | tr '\n' ' '
}

# cn_stamps "MARKS" TEXT: for each host, the epoch ms of the first line
# containing TEXT its agent logged after MARKS, one a line (hosts without
# one print nothing).  The agent stamps its lines in UTC with ms.
cn_stamps() {
    local -a m
    local i line
    read -r -a m <<<"$1"
    for ((i = 1; i <= NH; i++)); do
        line="$(tail -n "+$((m[i - 1] + 1))" "$WORK/fleet/$TAG-$i.log" | grep -F -m1 -- "$2" || true)"
        [ -n "$line" ] || continue
        date -u -d "${line%% *}" +%s%3N
    done
}

# cn_canary: ferry status JSON on stdin -> its "canary" object and what
# follows, on one line (its keys come first).
cn_canary() {
    tr '\n\t' '  ' | sed -E 's/.*"canary"[[:space:]]*:[[:space:]]*\{//'
}

# cn_spread: stamps on stdin -> "COUNT FIRST LAST" (ms).
cn_spread() {
    sort -n | awk 'NR == 1 { f = $1 } { l = $1 } END { printf "%d %.0f %.0f\n", NR, f, l }'
}

# cn_calibrate: the requests/s ferry-load reaches on the six hosts (2 s).
cn_calibrate() {
    local j
    cn_load start 2
    sleep 2
    j="$(cn_load stop)"
    awk -v s="$(json_num sent <<<"$j")" 'BEGIN { printf "%.0f", s / 2 }'
}

# cn_detect ROUND MINREQ: one failing canary at 5%, timed on ferryd's
# own marks: its step ran when its first interval started (start_ms),
# the analysis decided when its last one ended, the deployment was
# rolled_back at updated_ms; the traffic was back when the last agent
# logged it.
cn_detect() {
    local r="$1" id out st i marks prev n cause back t_run t_dec t_end
    cn_spec "$WORK/cn.yml" "c$r" 2% "strategy: canary
canary: { steps: [ { weight: 5%, for: 60s } ] }
analysis: { interval: 2s, min_requests: $2, error_rate: { max: 1% }, relative: { error_rate: 2x }, failure_limit: 2 }
rollout: { progress_deadline: 30s }"
    marks="$(cn_marks)"
    id="$(cn_deploy "$WORK/cn.yml")"
    out="$(cn_wait "$id" 120)"
    st="$(echo "$out" | json_str state)"
    cause="$(echo "$out" | json_str cause)"
    if [ "$st" != rolled_back ] || [[ "$cause" != *"failed its analysis"* ]]; then
        note "Detection round $r: the failing canary ended $st, not rolled back by its analysis: $cause"
        CN_MISSED=$((CN_MISSED + 1))
        return 0
    fi
    n="$(cn_canary <<<"$out" | json_num intervals_judged)"
    prev="$(echo "$out" | json_num previous_revision)"
    t_run="$(grep -oE '"start_ms"[[:space:]]*:[[:space:]]*[0-9]+' <<<"$out" | grep -oE '[0-9]+$' | sort -n | head -n1)"
    t_dec="$(grep -oE '"end_ms"[[:space:]]*:[[:space:]]*[0-9]+' <<<"$out" | grep -oE '[0-9]+$' | sort -n | tail -n1)"
    t_end="$(echo "$out" | json_num updated_ms)"
    [ -n "$t_run" ] && [ -n "$t_dec" ] && [ -n "$t_end" ] || die "deployment $id: no interval marks in its status"
    # The last canary host whose route went back to the stable revision.
    read -r i _ back <<<"$(cn_stamps "$marks" "$CN_SVC: switched traffic to r$prev" | cn_spread)"
    CN_DET_S+=("$(fsec "$t_run" "$t_end")")
    CN_DET_DEC+=("$(fsec "$t_run" "$t_dec")")
    CN_DET_N+=("$n")
    [ "$i" -eq "$NH" ] && CN_DET_BACK+=("$(fsec "$t_run" "$back")")
    log "  detection $r: after $n intervals; decided $(fsec "$t_run" "$t_dec") s after its step ran, traffic back on $i hosts $([ "$i" -eq "$NH" ] && fsec "$t_run" "$back") s, rolled_back $(fsec "$t_run" "$t_end") s"
    log "    cause: $cause"
}

# cn_identical K MINREQ: a canary of a revision like the stable one.
cn_identical() {
    local k="$1" id out st cause passes t0
    cn_spec "$WORK/cn.yml" "s$k" 0.1% "strategy: canary
canary: { steps: [ { weight: 20%, for: 1s } ] }
analysis: { interval: 1s, min_requests: $2, error_rate: { max: 1% }, relative: { error_rate: 2x }, failure_limit: 2 }
rollout: { progress_deadline: 10s }"
    t0=$(now_ms)
    id="$(cn_deploy "$WORK/cn.yml")"
    out="$(cn_wait "$id" 60)"
    st="$(echo "$out" | json_str state)"
    cause="$(echo "$out" | json_str cause)"
    # Passed intervals of the canary's step.
    passes="$(cn_canary <<<"$out" | sed 's/}/}\n/g' | grep -E '"phase"[[:space:]]*:[[:space:]]*"canary"' |
        grep -cE '"verdict"[[:space:]]*:[[:space:]]*"pass"' || true)"
    CN_ID_S+=("$(fsec "$t0" "$(now_ms)")")
    if [ "$st" = succeeded ] && [ "$passes" -ge 1 ]; then
        CN_ID_PASS=$((CN_ID_PASS + 1))
    elif [[ "$cause" == *"failed its analysis"* ]]; then
        CN_ID_ABORT=$((CN_ID_ABORT + 1))
        note "False abort (identical canary $k): $cause"
    else
        CN_ID_OTHER=$((CN_ID_OTHER + 1))
        note "Identical canary $k ended $st without a false abort (passes $passes): $cause"
    fi
    log "  identical canary $k: $st, $passes passed interval(s), $(fsec "$t0" "$(now_ms)") s"
}

# cn_blue_green ROUND: switch on six hosts, then `ferry rollback`.
cn_blue_green() {
    local r="$1" id out st i marks prev n first last t0 c
    cn_spec "$WORK/cn.yml" "b$r" 0.1% "strategy: blue-green
blue_green: { keep_old: 60s }"
    marks="$(cn_marks)"
    id="$(cn_deploy "$WORK/cn.yml")"
    # Switched: the second step (the switch) runs on every host.
    for ((i = 0; i < 600; i++)); do
        out="$(ferry status "$id" --json 2>/dev/null)" || true
        st="$(echo "$out" | json_str state)"
        c="$(cn_canary <<<"$out")"
        [ "$(json_num step <<<"$c")" = 2 ] && [ "$(json_str phase <<<"$c")" = running ] && break
        case "$st" in succeeded|failed|rolled_back|aborted)
            die "blue-green $id ended $st before it switched: $(echo "$out" | json_str cause)" ;;
        esac
        sleep 0.1
    done
    [ "$i" -lt 600 ] || die "blue-green $id did not switch within 60 s (state ${st:-unknown})"
    prev="$(echo "$out" | json_num previous_revision)"
    read -r n first last <<<"$(cn_stamps "$marks" "gets 100% of new traffic" | cn_spread)"
    [ "$n" -eq "$NH" ] || die "blue-green $id: $n of $NH agents logged the switch"
    CN_BG_SKEW+=("$((last - first))")
    CN_BG_SET+=("$(cn_set_ms "$marks")")
    marks="$(cn_marks)"
    t0=$(now_ms)
    out="$(ferry rollback "$CN_SVC" --json 2>&1)" || die "ferry rollback $CN_SVC refused: $out"
    out="$(cn_wait "$id" 60)"
    st="$(echo "$out" | json_str state)"
    [ "$st" = rolled_back ] || die "blue-green $id: ferry rollback ended it $st"
    read -r n first last <<<"$(cn_stamps "$marks" "$CN_SVC: switched traffic to r$prev" | cn_spread)"
    [ "$n" -eq "$NH" ] || die "blue-green $id: $n of $NH agents logged the switch back"
    CN_BG_BACK+=("$(fsec "$t0" "$last")")
    CN_BG_BACK_SKEW+=("$((last - first))")
    log "  blue-green $r: switch skew ${CN_BG_SKEW[-1]} ms; rollback: last host back $(fsec "$t0" "$last") s after the command, skew $((last - first)) ms"
}

# cn_set_ms "MARKS": the longest "route read and set in X ms" the agents
# logged after MARKS (each agent's own time for its proxy's route).
cn_set_ms() {
    local -a m
    local i
    read -r -a m <<<"$1"
    for ((i = 1; i <= NH; i++)); do
        tail -n "+$((m[i - 1] + 1))" "$WORK/fleet/$TAG-$i.log" | grep -oE 'route read and set in [0-9.]+ ms' || true
    done | awk '{ if ($6 > x) x = $6 } END { printf "%.1f", x }'
}

section_canary() {
    local rounds ident r rps out j
    local min2 min1
    [ -x "$LOAD_BIN" ] || die "$LOAD_BIN not found: run make tools"
    [ -x "$PROXY_BIN" ] && [ -x "$PROXYCTL" ] || die "ferry-proxy or proxyctl not built: run make bench"
    rounds=$((QUICK ? 1 : 3)); ident=$((QUICK ? 2 : 20))
    log "9. canaries and blue-green: detection at 5%, false aborts, blue-green switch skew and rollback"
    # Section 4's fleet when it ran (section 5 since used a ferryd of its
    # own), else the same fleet started now.
    if [ -n "${AV_PROXY_PIDS[*]}" ]; then FD_SOCK="$FLEET_SOCK"; else start_av_fleet; fi
    CN_PORT="$(free_port)"
    # The stable revision, once ferryd sees every host's proxy.
    cn_spec "$WORK/cn.yml" s1 0.1% "rollout: { batch: $NH }"
    for ((r = 0; r < 150; r++)); do
        ferry plan "$WORK/cn.yml" >"$WORK/cn-plan.out" 2>&1 && break
        sleep 0.2
    done
    [ "$r" -lt 150 ] || die "ferryd does not see the proxies within 30 s: $(cat "$WORK/cn-plan.out")"
    out="$(cn_wait "$(cn_deploy "$WORK/cn.yml")" 60)"
    [ "$(echo "$out" | json_str state)" = succeeded ] ||
        die "the stable revision of $CN_SVC did not deploy: $(echo "$out" | json_str cause)"
    # min_requests: half of what the canary's side gets in an interval at
    # the rate reached (5% of all in 2 s; 20% in 1 s), at least 20.
    rps="$(cn_calibrate)"
    min2="$(awk -v r="$rps" 'BEGIN { m = int(r * 0.05 * 2 / 2); print m < 20 ? 20 : m }')"
    min1="$(awk -v r="$rps" 'BEGIN { m = int(r * 0.20 * 1 / 2); print m < 20 ? 20 : m }')"
    record 9 canary.load_rps req/s "$rps"
    log "  ferry-load reaches $rps requests/s on the six hosts: min_requests $min2 (5%, 2 s), $min1 (20%, 1 s)"
    cn_load start
    sleep 1
    CN_DET_S=(); CN_DET_DEC=(); CN_DET_N=(); CN_DET_BACK=(); CN_MISSED=0
    for ((r = 1; r <= rounds; r++)); do cn_detect "$r" "$min2"; done
    CN_ID_S=(); CN_ID_PASS=0; CN_ID_ABORT=0; CN_ID_OTHER=0
    for ((r = 1; r <= ident; r++)); do cn_identical "$((r + 1))" "$min1"; done
    CN_BG_SKEW=(); CN_BG_BACK=(); CN_BG_BACK_SKEW=(); CN_BG_SET=()
    for ((r = 1; r <= rounds; r++)); do cn_blue_green "$r"; done
    j="$(cn_load stop)"
    [ -n "$(json_num sent <<<"$j")" ] || die "ferry-load said nothing: $(cat "$WORK/cn-load.err")"

    [ "${#CN_DET_S[@]}" -gt 0 ] && record 9 canary.detect_5pct.to_rolled_back s "${CN_DET_S[@]}"
    [ "${#CN_DET_N[@]}" -gt 0 ] && record 9 canary.detect_5pct.intervals n "${CN_DET_N[@]}"
    [ "${#CN_DET_DEC[@]}" -gt 0 ] && record 9 canary.detect_5pct.to_decision s "${CN_DET_DEC[@]}"
    [ "${#CN_DET_BACK[@]}" -gt 0 ] && record 9 canary.detect_5pct.to_traffic_back s "${CN_DET_BACK[@]}"
    record 9 canary.detect_5pct.missed n "$CN_MISSED"
    record 9 canary.identical.false_aborts n "$CN_ID_ABORT"
    record 9 canary.identical.passed n "$CN_ID_PASS"
    record 9 canary.identical.other n "$CN_ID_OTHER"
    record 9 canary.identical.deploy_to_succeeded s "${CN_ID_S[@]}"
    record 9 bluegreen.switch_skew_6_hosts ms "${CN_BG_SKEW[@]}"
    record 9 bluegreen.rollback_switch_6_hosts s "${CN_BG_BACK[@]}"
    record 9 bluegreen.rollback_skew_6_hosts ms "${CN_BG_BACK_SKEW[@]}"
    record 9 bluegreen.route_set_one_host_max ms "${CN_BG_SET[@]}"
    record 9 canary.load.sent n "$(json_num sent <<<"$j")"
    record 9 canary.load.failed n "$(json_num failed <<<"$j")"
    record 9 canary.load.5xx n "$(json_num 5xx <<<"$j")"
    note "Canaries (section 9): six hosts each with a ferry-proxy, web:errors stable at ERROR_RATE 0.1%; ferry-load throughout, 2 keep-alive connections per host at $CN_RATE requests/s each ($rps requests/s reached in calibration); min_requests $min2 for the 2 s intervals at 5%, $min1 for the 1 s intervals at 20%. Detection: canary { weight: 5%, for: 60s } of ERROR_RATE 2%, analysis { interval: 2s, error_rate: { max: 1% }, relative: { error_rate: 2x }, failure_limit: 2 }; timed on ferryd's marks from its step running (its first interval's start) to the decision (its last interval's end), to the last agent's log line putting the stable revision back alone, and to the deployment rolled_back (the canary's containers stopped too, drain_timeout 1s). Target: within 3 intervals."
    note "False aborts: canary { weight: 20%, for: 1s } of a revision identical to the stable one but for VERSION, the same checks on 1 s intervals, $ident in a row; passed = succeeded with at least one passed interval of its step; other = neither passed nor failed by its analysis (e.g. inconclusive, then the 10 s progress_deadline). Target 0 of 20."
    note "Blue-green: 6 hosts, keep_old 60s; switch skew = last - first of the agents' log stamps (ms, UTC, one clock) of their 'gets 100% of new traffic' line; rollback switch = from just before \`ferry rollback\` runs to the last agent's 'switched traffic to r<old>' line. Targets: skew < 50 ms, rollback < 1 s. The agents stamp a line when their loop logs it, just after the route was set. The floor of a host's part: the agent's own figure for reading and setting its proxy's route at the switch (route_set_one_host_max, the longest of the six); the six hosts set theirs in parallel, so what the skew adds over it is the command's delivery to the six. No Swarm figure: Swarm has no traffic canary and no blue-green switch."
}

# ---- report ----------------------------------------------------------------

machine_json() {
    printf '{"cores": %s, "cpu": "%s", "mem_gib": %s, "kernel": "%s", "docker": "%s", "load_at_start": "%s"}' \
        "$(nproc)" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"')" \
        "$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)" \
        "$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null)" "$LOAD_AT_START"
}

report() {
    local out="$1"
    mkdir -p "$(dirname "$out")"
    {
        printf '{\n  "mode": "%s",\n  "runs": %s,\n  "elapsed_s": %s,\n  "machine": %s,\n  "results": [\n' \
            "$([ "$QUICK" -eq 1 ] && echo quick || echo full)" "$RUNS" "$(( $(date +%s) - T_START ))" "$(machine_json)"
        awk -F'\t' 'BEGIN { first = 1 }
            { printf "%s    {\"section\": %s, \"key\": \"%s\", \"unit\": \"%s\", \"median\": %s, \"min\": %s, \"max\": %s, \"samples\": [%s]}",
                first ? "" : ",\n", $1, $2, $3, $4, $5, $6, $7; first = 0 }' "$RESULTS"
        printf '\n  ],\n  "ratios": [\n'
        awk -F'\t' 'BEGIN { first = 1 }
            { printf "%s    {\"section\": %s, \"key\": \"%s\", \"median\": %s, \"min\": %s, \"max\": %s, \"of\": \"%s\"}",
                first ? "" : ",\n", $1, $2, $3, $4, $5, $6; first = 0 }' "$RATIOS"
        printf '\n  ],\n  "notes": [\n'
        awk 'BEGIN { first = 1 } { gsub(/"/, "\\\""); printf "%s    \"%s\"", first ? "" : ",\n", $0; first = 0 }' "$NOTES"
        printf '\n  ]\n}\n'
    } >"$out"

    printf '\nferry bench (%s mode, %s run(s) each, %s cores, load at start %s)\n\n' \
        "$([ "$QUICK" -eq 1 ] && echo quick || echo full)" "$RUNS" "$(nproc)" "$LOAD_AT_START"
    printf '%-3s %-48s %-6s %10s %10s %10s\n' "#" "measure" "unit" "median" "min" "max"
    awk -F'\t' '{ printf "%-3s %-48s %-6s %10s %10s %10s\n", $1, $2, $3, $4, $5, $6 }' "$RESULTS"
    if [ -s "$RATIOS" ]; then
        printf '\n%-3s %-48s %-6s %10s %10s %10s\n' "#" "ratio (run by run)" "" "median" "min" "max"
        awk -F'\t' '{ printf "%-3s %-48s %-6s %10s %10s %10s\n", $1, $2, "x", $3, $4, $5 }' "$RATIOS"
    fi
    if [ -s "$NOTES" ]; then
        printf '\nNotes:\n'
        sed 's/^/  - /' "$NOTES"
    fi
    printf '\nJSON: %s (%s s)\n' "$out" "$(( $(date +%s) - T_START ))"
}

LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
setup
FLOOR_PORT="$(free_port)"
want 1 && section_floor
if want 2 || want 3; then section_rollouts; fi
want 4 && section_availability
want 5 && section_control
want 6 && section_footprint
want 7 && section_proxy_cost
want 8 && section_proxy_memory
want 9 && section_canary
report "$JSON_OUT"
