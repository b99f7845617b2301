# SPDX-License-Identifier: Apache-2.0
# proc.sh: shell helpers the deploy and bench scripts share (sourced).

# proc_is PID COMM: PID runs COMM and is not a zombie (this machine's PID 1
# may be slow to reap orphans, and a zombie keeps its /proc entry).
proc_is() {
    local stat
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != Z ]
}
