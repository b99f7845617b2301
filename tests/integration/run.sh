#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/integration/run.sh: run integration test binaries, JOBS at a time.
#
#   run.sh [-j JOBS] [-a ALONE] [-f NAME=PATTERN]... [-t SECONDS] [-o DIR]
#          BINARY...
#
#   -j JOBS     how many binaries run at once (default 2)
#   -a ALONE    space-separated binaries (paths, as given among BINARY) that
#               must run with no other binary beside them; they run first,
#               one after another, before the others start
#   -f NAME=PATTERN  the binary named NAME (its file name) runs only its
#               tests matching PATTERN (Criterion's --filter); repeatable
#   -t SECONDS  each binary's bound: killed (TERM, then KILL 10 s later)
#               when it runs longer (default 600)
#   -o DIR      where each binary's output goes, DIR/NAME.log (default
#               build/itest)
#
# Each binary runs as `BINARY --jobs 1` with its stdout and stderr in its
# own file; when it ends, that file is printed whole under one "==" line,
# so that the output of binaries running together never interleaves. At
# the end a summary names each binary, its result and its wall time; the
# exit status is 1 when any failed (or was killed), 2 on bad usage.
# FERRY_BIN and the rest of the environment pass through.
set -uo pipefail

JOBS=2 ALONE="" BOUND=600 OUT=build/itest
declare -A FILTER=()

usage() { sed -n '5,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while getopts 'j:a:f:t:o:h' o; do
    case "$o" in
        j) JOBS=$OPTARG ;;
        f) [[ "$OPTARG" =~ ^([A-Za-z0-9_.-]+)=(.+)$ ]] ||
               { echo "run.sh: -f wants NAME=PATTERN, not \"$OPTARG\"" >&2; exit 2; }
           FILTER[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]} ;;
        a) ALONE=$OPTARG ;;
        t) BOUND=$OPTARG ;;
        o) OUT=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -j wants a count of 1 or more, not \"$JOBS\"" >&2; exit 2; }
[[ "$BOUND" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -t wants seconds (1 or more), not \"$BOUND\"" >&2; exit 2; }
[ $# -gt 0 ] || usage
for b in "$@"; do
    [ -x "$b" ] || { echo "run.sh: $b: no such executable" >&2; exit 2; }
done
for f in "${!FILTER[@]}"; do
    found=0
    for b in "$@"; do [ "$(basename "$b")" = "$f" ] && found=1; done
    [ "$found" -eq 1 ] || { echo "run.sh: -f names $f, which is not among the binaries" >&2; exit 2; }
done
for a in $ALONE; do
    case " $* " in *" $a "*) ;; *)
        echo "run.sh: -a names $a, which is not among the binaries" >&2
        exit 2 ;;
    esac
done
mkdir -p "$OUT" || exit 2

# Those to run alone, in the order given, then the others.
alone=() rest=()
for b in "$@"; do
    case " $ALONE " in *" $b "*) alone+=("$b") ;; *) rest+=("$b") ;; esac
done

declare -A PID_OF=() START=() RESULT=() SECS=()
ORDER=()
failed=0
t0=$(date +%s)

start() {
    local b=$1 name
    local -a only=()
    name=$(basename "$b")
    ORDER+=("$b")
    START[$b]=$(date +%s)
    [ -n "${FILTER[$name]:-}" ] && only=(--filter "${FILTER[$name]}")
    # timeout puts the binary in a process group of its own, which it ends
    # as a whole at the bound (and on the TERM sent by stop below).
    timeout -k 10 "$BOUND" "$b" --jobs 1 "${only[@]}" >"$OUT/$name.log" 2>&1 &
    PID_OF[$!]=$b
}

# finish: one binary has ended with status $2; print its log and record it.
finish() {
    local b=$1 rc=$2 name res
    name=$(basename "$b")
    SECS[$b]=$(( $(date +%s) - START[$b] ))
    case $rc in
        0) res=ok ;;
        124|137) res="KILLED after ${BOUND} s"; failed=1 ;;
        *) res="FAILED (exit $rc)"; failed=1 ;;
    esac
    RESULT[$b]=$res
    echo "== $b: $res, ${SECS[$b]} s"
    cat "$OUT/$name.log"
}

# reap: wait for any one running binary to end.
reap() {
    local pid rc
    wait -n -p pid
    rc=$?
    finish "${PID_OF[$pid]}" "$rc"
    unset "PID_OF[$pid]"
}

# Interrupted: end the binaries running now (timeout passes the signal on
# to each), and keep their logs.
stop() {
    local pid
    for pid in "${!PID_OF[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    wait
    echo "== integration: interrupted (logs so far: $OUT/)" >&2
    exit 1
}
trap stop INT TERM

for b in "${alone[@]}"; do
    echo "-- $b (runs alone)"
    start "$b"
    reap
done
for b in "${rest[@]}"; do
    while [ ${#PID_OF[@]} -ge "$JOBS" ]; do reap; done
    start "$b"
done
while [ ${#PID_OF[@]} -gt 0 ]; do reap; done

echo "== integration summary ($JOBS at a time; $(( $(date +%s) - t0 )) s in all)"
for b in "${ORDER[@]}"; do
    only=${FILTER[$(basename "$b")]:-}
    printf '   %-40s %5d s  %s%s\n' "$b" "${SECS[$b]}" "${RESULT[$b]}" \
        "${only:+ (only $only)}"
done
if [ "$failed" -ne 0 ]; then
    echo "== integration: some binaries failed (their logs: $OUT/)"
    exit 1
fi
echo "== integration: all ${#ORDER[@]} binaries passed"
