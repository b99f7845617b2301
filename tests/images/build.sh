#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the test images FROM scratch with Debian's busybox-static and push
# them to the local registry (`deploy/setup.sh test` runs it):
#
#   $REG/ferry-test/web:1     HTTP on :80, /health 200, index names version 1
#   $REG/ferry-test/web:2     the same, version 2
#   $REG/ferry-test/web:bad   HTTP on :80, /health 404: never healthy
#   $REG/ferry-test/web:crash exits with code 3 at once, saying so on stderr
#   $REG/ferry-test/web:flaky /health 200 for its first 2 s, then 404
#   $REG/ferry-test/web:slow  /health 404 for its first 3 s, then 200
#   $REG/ferry-test/web:healthcheck  web:1 with a HEALTHCHECK of its own
#                             (wget of /health every 500ms), for
#                             `health: { docker: true }`
#   $REG/ferry-test/web:chatty  web:1 that also writes numbered lines, for
#                             `ferry logs`: "chatty VERSION line N" on
#                             stdout, LOG_BURST lines every LOG_INTERVAL
#                             seconds (defaults 1 and 0.2), and every
#                             burst's first line also on stderr as
#                             "chatty VERSION err N"
#   $REG/ferry-test/web:errors  faultweb (tests/images/faultweb.c, built here
#                             statically with gcc): an HTTP server whose
#                             error rate and latency come from its
#                             environment, for traffic canaries' analysis:
#                               ERROR_RATE  share of requests answered 500,
#                                           spread evenly ("2%", "0.1%",
#                                           "0.02"; default 0)
#                               LATENCY_MS  delay of each answer (default 0)
#                               VERSION     named in /version and / (default
#                                           "errors")
#                             /health is 200 at once, never an error; /metrics
#                             has its counters in Prometheus's text format
#                             (ferry_test_requests_total{code,version}, ...);
#                             keep-alive, thousands of requests/s.
#
# REG is ${FERRY_TEST_REGISTRY:-127.0.0.1:5000}. The listening port can be
# changed with the container environment variable PORT (default 80).
#
# Idempotent and fast: an image whose inputs did not change is neither rebuilt
# nor pushed again (its inputs' hash is a label; the registry's digest is
# compared with the local one).
set -euo pipefail

REG="${FERRY_TEST_REGISTRY:-127.0.0.1:5000}"
REPO="$REG/ferry-test/web"
# Debian's client (same version as the engine it installs) when present: a
# newer client in /usr/local/bin warns that its legacy builder is deprecated.
if [ -z "${DOCKER:-}" ]; then
    if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
BUSYBOX=/bin/busybox
CC="${CC:-gcc}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TAGS=(1 2 bad crash flaky slow healthcheck errors chatty)

log() { printf 'images: %s\n' "$*"; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }

if [ "$(dpkg-query -W -f='${db:Status-Status}' busybox-static 2>/dev/null || true)" != installed ] ||
    [ ! -x "$BUSYBOX" ]; then
    die "busybox-static is not installed: run ./deploy/setup.sh deps"
fi
command -v "$CC" >/dev/null || die "no C compiler ($CC): run ./deploy/setup.sh deps"

"$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "no docker engine answers: run ./deploy/services.sh start"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$REG/v2/" || true)" = 200 ] ||
    die "no registry answers on http://$REG/v2/: run ./deploy/services.sh start"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# faultweb_context DIR: web:errors, one static binary FROM scratch. gcc
# writes the same bytes for the same source, so the hash holds across runs.
faultweb_context() {
    local dir="$1"
    mkdir -p "$dir"
    "$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra \
        -Werror -O2 -static -pthread -o "$dir/faultweb" "$HERE/faultweb.c" ||
        die "could not compile $HERE/faultweb.c (needs gcc and libc6-dev)"
    strip "$dir/faultweb"
    cat >"$dir/Dockerfile" <<'EOF'
FROM scratch
COPY faultweb /faultweb
ENV PORT=80 VERSION=errors ERROR_RATE=0 LATENCY_MS=0
EXPOSE 80
LABEL org.opencontainers.image.title="ferry-test web" ferry.test.version="errors"
CMD ["/faultweb"]
EOF
}

# make_context TAG DIR: the build context of one image.
make_context() {
    local tag="$1" dir="$2"
    if [ "$tag" = errors ]; then
        faultweb_context "$dir"
        return
    fi
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/www" "$dir/rootfs/tmp"
    cp "$BUSYBOX" "$dir/rootfs/bin/busybox"
    ln -s busybox "$dir/rootfs/bin/sh"
    cat >"$dir/rootfs/www/index.html" <<EOF
<!doctype html>
<title>ferry-test web $tag</title>
<p>ferry-test web version $tag</p>
EOF
    printf '%s\n' "$tag" >"$dir/rootfs/www/version"
    if [ "$tag" != bad ] && [ "$tag" != slow ]; then
        printf 'ok\n' >"$dir/rootfs/www/health"
    fi
    # The container's command, as one JSON string (\" is a quote in it).
    local serve='/bin/busybox httpd -f -p \"$PORT\" -h /www'
    local run="trap 'exit 0' TERM INT; $serve & wait"
    case "$tag" in
    crash) run="echo 'ferry-test: crashing on purpose' >&2; exit 3" ;;
    chatty) run="trap 'exit 0' TERM INT; (i=1; while :; do echo \\\"chatty \$VERSION err \$i\\\" >&2; /bin/busybox seq \$i \$((i + LOG_BURST - 1)) | /bin/busybox sed \\\"s/^/chatty \$VERSION line /\\\"; i=\$((i + LOG_BURST)); /bin/busybox sleep \$LOG_INTERVAL; done) & $serve & wait" ;;
    flaky) run="trap 'exit 0' TERM INT; (/bin/busybox sleep 2; /bin/busybox rm -f /www/health) & $serve & wait" ;;
    slow) run="trap 'exit 0' TERM INT; (/bin/busybox sleep 3; echo ok >/www/health) & $serve & wait" ;;
    esac
    local envx=""
    [ "$tag" = chatty ] && envx=" VERSION=chatty LOG_BURST=1 LOG_INTERVAL=0.2"
    # busybox httpd as PID 1 ignores SIGTERM, so every `docker stop` would
    # wait out its timeout: run it under a shell that exits on TERM (when
    # PID 1 exits, the kernel ends the rest of the container).
    cat >"$dir/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
ENV PORT=80$envx
EXPOSE 80
LABEL org.opencontainers.image.title="ferry-test web" ferry.test.version="$tag"
CMD ["/bin/sh", "-c", "$run"]
EOF
    if [ "$tag" = healthcheck ]; then
        cat >>"$dir/Dockerfile" <<'EOF'
HEALTHCHECK --interval=500ms --timeout=2s CMD /bin/busybox wget -q -O /dev/null "http://127.0.0.1:$PORT/health"
EOF
    fi
}

# Hash of a context's content (names, modes, link targets, bytes), not of
# its mtimes, so the same inputs give the same hash on every run.
context_hash() {
    tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . |
        sha256sum | cut -c1-64
}

local_label() {     # local_label IMAGE: its ferry.test.hash, or nothing
    "$DOCKER" image inspect --format '{{ index .Config.Labels "ferry.test.hash" }}' "$1" 2>/dev/null || true
}

registry_digest() { # registry_digest TAG: manifest digest in the registry
    curl -s -I --max-time 5 \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REG/v2/ferry-test/web/manifests/$1" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}

local_digests() {   # the registry digests docker knows for IMAGE
    "$DOCKER" image inspect --format '{{ range .RepoDigests }}{{ println . }}{{ end }}' "$1" 2>/dev/null || true
}

for tag in "${TAGS[@]}"; do
    ref="$REPO:$tag"
    ctx="$WORK/$tag"
    make_context "$tag" "$ctx"
    hash="$(context_hash "$ctx")"

    if [ "$(local_label "$ref")" = "$hash" ]; then
        built=0
    else
        log "building $ref"
        "$DOCKER" build -q --label "ferry.test.hash=$hash" -t "$ref" "$ctx" >/dev/null ||
            die "docker build of $ref failed"
        built=1
    fi

    digest="$(registry_digest "$tag")"
    if [ "$built" -eq 0 ] && [ -n "$digest" ] &&
        local_digests "$ref" | grep -qxF "$REPO@$digest"; then
        log "$ref up to date ($digest)"
        continue
    fi
    log "pushing $ref"
    "$DOCKER" push "$ref" >"$WORK/push.log" 2>&1 || {
        cat "$WORK/push.log" >&2
        die "docker push of $ref failed"
    }
    log "$ref pushed ($(registry_digest "$tag"))"
done
