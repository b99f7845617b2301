#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The services the integration tests need: a Docker engine and a registry on
# 127.0.0.1:5000.
#
#   deploy/services.sh start    use what already runs, start what does not
#   deploy/services.sh stop [docker] [registry]
#                               stop only what this script started (both
#                               when none is named)
#   deploy/services.sh status   say what runs and who started it
#
# Without systemd as PID 1 (containers, CI sandboxes, firecracker VMs) dockerd
# is started by hand in the background. Logs: /var/log/ferry-test/, PID files:
# /run/ferry-test/, registry storage: /var/lib/ferry-test/registry.
#
# Environment:
#   FERRY_DOCKERD_FLAGS   extra dockerd flags, e.g. "--storage-driver vfs" on a
#                         filesystem without overlay support, or
#                         "--iptables=false" where netfilter is unavailable
#   DOCKER                docker client to use (default: /usr/bin/docker, else
#                         docker in PATH)
set -euo pipefail

RUN_DIR=/run/ferry-test
LOG_DIR=/var/log/ferry-test
LIB_DIR=/var/lib/ferry-test
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_URL="http://$REGISTRY_ADDR/v2/"
DOCKERD_WAIT=60
REGISTRY_WAIT=30
STOP_WAIT=60
# Debian's client (same version as the engine it installs) when present: a
# newer client in /usr/local/bin warns that its legacy builder is deprecated.
if [ -z "${DOCKER:-}" ]; then
    if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi

DOCKERD_PIDFILE="$RUN_DIR/dockerd.pid"
DOCKERD_SYSTEMD_MARK="$RUN_DIR/dockerd.systemd"
DOCKERD_LOG="$LOG_DIR/dockerd.log"
REGISTRY_PIDFILE="$RUN_DIR/registry.pid"
REGISTRY_LOG="$LOG_DIR/registry.log"
REGISTRY_CONF="$LIB_DIR/registry.yml"

log() { printf 'services: %s\n' "$*"; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

show_log() {    # show_log FILE: the last lines, to explain a failure
    if [ -s "$1" ]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 25 "$1" >&2
        printf -- '---\n' >&2
    fi
}

# spawn LOG CMD...: start a daemon in the background, in a session of its
# own, with nothing of ours open but its log: a descriptor it inherited (a
# caller's flock, the pipe of a $(...) waiting for its end) would stay open
# for as long as the daemon runs.  $! is the daemon's pid.
spawn() {
    local log="$1" fd
    shift
    (
        for fd in /proc/self/fd/*; do
            fd="${fd##*/}"
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
        done 2>/dev/null
        exec setsid "$@" >>"$log" 2>&1 </dev/null
    ) &
}

docker_ok() {
    timeout 10 "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

registry_code() {   # HTTP status of /v2/, 000 when nothing answers
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$REGISTRY_URL" 2>/dev/null || true
}

systemd_booted() {  # same test as sd_booted(3)
    [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]
}

# pid_alive PIDFILE COMM: prints the PID when the file names a live process
# whose command name is COMM (guards against PID reuse).
pid_alive() {
    local pid
    [ -s "$1" ] || return 1
    pid="$(cat "$1")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    proc_is "$pid" "$2" || return 1
    echo "$pid"
}

. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/proc.sh"

need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (starts dockerd and a registry)"
}

# ---- dockerd ---------------------------------------------------------------

# Remove PID files left by a dockerd/containerd that was killed (say, when a
# session ended): if the PID is reused by another process, dockerd would
# refuse to start.
clear_stale_pidfile() {     # clear_stale_pidfile FILE COMM
    local f="$1" pid
    [ -e "$f" ] || return 0
    pid="$(cat "$f" 2>/dev/null || true)"
    if [[ ! "$pid" =~ ^[0-9]+$ ]] || ! proc_is "$pid" "$2"; then
        log "removing stale $f"
        rm -f "$f"
    fi
}

start_docker() {
    if docker_ok; then
        log "docker engine already answers ($("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null))"
        return 0
    fi
    need_root
    command -v dockerd >/dev/null || die "dockerd not found: run ./deploy/setup.sh deps"
    mkdir -p "$RUN_DIR" "$LOG_DIR"

    local pid
    if systemd_booted; then
        log "starting docker through systemd"
        systemctl start docker.service || {
            journalctl -u docker.service -n 25 --no-pager >&2 || true
            die "systemctl start docker failed"
        }
        touch "$DOCKERD_SYSTEMD_MARK"
    elif pid="$(pid_alive "$DOCKERD_PIDFILE" dockerd)"; then
        log "dockerd (pid $pid) started earlier; waiting for it"
    else
        clear_stale_pidfile /var/run/docker.pid dockerd
        clear_stale_pidfile /var/run/docker/containerd/containerd.pid containerd
        # No flags are needed on Debian 12 with a kernel that has overlayfs
        # and netfilter (seen on a firecracker VM without systemd, cgroup v1:
        # overlay2, iptables-nft and the docker0 bridge all work). dockerd
        # runs its own containerd. setsid: dockerd must outlive the shell
        # (and its process group) that started it.
        # shellcheck disable=SC2086
        spawn "$DOCKERD_LOG" dockerd ${FERRY_DOCKERD_FLAGS:-}
        pid=$!
        echo "$pid" >"$DOCKERD_PIDFILE"
        log "started dockerd (pid $pid, log $DOCKERD_LOG)"
    fi

    local i
    for ((i = 0; i < DOCKERD_WAIT; i++)); do
        if docker_ok; then
            log "docker engine answers ($("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null))"
            return 0
        fi
        if [ -n "${pid:-}" ] && ! proc_is "$pid" dockerd; then
            rm -f "$DOCKERD_PIDFILE"
            show_log "$DOCKERD_LOG"
            die "dockerd exited during start-up"
        fi
        sleep 1
    done
    show_log "$DOCKERD_LOG"
    die "docker engine did not answer within ${DOCKERD_WAIT}s"
}

stop_docker() {
    local pid
    if [ -e "$DOCKERD_SYSTEMD_MARK" ]; then
        log "stopping docker through systemd"
        systemctl stop docker.service docker.socket || true
        rm -f "$DOCKERD_SYSTEMD_MARK"
    fi
    if pid="$(pid_alive "$DOCKERD_PIDFILE" dockerd)"; then
        stop_pid "$pid" dockerd
    fi
    rm -f "$DOCKERD_PIDFILE"
}

# ---- registry --------------------------------------------------------------

write_registry_conf() {
    mkdir -p "$LIB_DIR/registry"
    cat >"$REGISTRY_CONF" <<EOF
# Written by deploy/services.sh: the test registry, loopback only, no auth.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $LIB_DIR/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

start_registry() {
    local code pid
    code="$(registry_code)"
    if [ "$code" = 200 ]; then
        log "registry already answers on $REGISTRY_URL"
        return 0
    fi
    if [ "$code" != 000 ]; then
        die "something on $REGISTRY_ADDR answers $REGISTRY_URL with HTTP $code, not a usable registry
    (Debian's docker-registry service with its default auth config? try: systemctl stop docker-registry)"
    fi
    need_root
    command -v docker-registry >/dev/null || die "docker-registry not found: run ./deploy/setup.sh deps"
    mkdir -p "$RUN_DIR" "$LOG_DIR"

    if pid="$(pid_alive "$REGISTRY_PIDFILE" docker-registry)"; then
        log "registry (pid $pid) started earlier; waiting for it"
    else
        write_registry_conf
        spawn "$REGISTRY_LOG" docker-registry serve "$REGISTRY_CONF"
        pid=$!
        echo "$pid" >"$REGISTRY_PIDFILE"
        log "started docker-registry (pid $pid, log $REGISTRY_LOG)"
    fi

    local i
    for ((i = 0; i < REGISTRY_WAIT * 4; i++)); do
        if [ "$(registry_code)" = 200 ]; then
            log "registry answers on $REGISTRY_URL"
            return 0
        fi
        if ! proc_is "$pid" docker-registry; then
            rm -f "$REGISTRY_PIDFILE"
            show_log "$REGISTRY_LOG"
            die "docker-registry exited during start-up"
        fi
        sleep 0.25
    done
    show_log "$REGISTRY_LOG"
    die "registry did not answer within ${REGISTRY_WAIT}s"
}

stop_registry() {
    local pid
    if pid="$(pid_alive "$REGISTRY_PIDFILE" docker-registry)"; then
        stop_pid "$pid" docker-registry
    fi
    rm -f "$REGISTRY_PIDFILE"
}

# ---- common ----------------------------------------------------------------

stop_pid() {    # stop_pid PID NAME: TERM, bounded wait, then KILL
    local pid="$1" name="$2" i
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < STOP_WAIT * 4; i++)); do
        proc_is "$pid" "$name" || return 0
        sleep 0.25
    done
    log "$name (pid $pid) still runs after ${STOP_WAIT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

status() {
    local pid rc=0 who
    if docker_ok; then
        if pid="$(pid_alive "$DOCKERD_PIDFILE" dockerd)"; then
            who="started by services.sh, pid $pid, pidfile $DOCKERD_PIDFILE, log $DOCKERD_LOG"
        elif [ -e "$DOCKERD_SYSTEMD_MARK" ]; then
            who="started by services.sh through systemd"
        else
            who="not started by services.sh"
        fi
        log "docker:   running, engine $("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null) ($who)"
    else
        log "docker:   not answering"
        rc=1
    fi
    if [ "$(registry_code)" = 200 ]; then
        if pid="$(pid_alive "$REGISTRY_PIDFILE" docker-registry)"; then
            who="started by services.sh, pid $pid, pidfile $REGISTRY_PIDFILE, log $REGISTRY_LOG"
        else
            who="not started by services.sh"
        fi
        log "registry: running on $REGISTRY_ADDR ($who)"
    else
        log "registry: not answering on $REGISTRY_URL"
        rc=1
    fi
    return "$rc"
}

case "${1:-}" in
    start)  start_docker; start_registry ;;
    stop)
        shift
        [ $# -gt 0 ] || set -- registry docker
        for what in "$@"; do
            case "$what" in
                registry) stop_registry ;;
                docker)   stop_docker ;;
                *)        die "stop what? '$what' (docker, registry)" ;;
            esac
        done
        ;;
    status) status ;;
    *)      sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
