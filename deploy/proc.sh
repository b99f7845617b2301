# SPDX-License-Identifier: Apache-2.0
# proc.sh: shell helpers the deploy and bench scripts share (sourced).

# starting PID: PID is alive and not a zombie (this machine's PID 1 may be
# slow to reap orphans, and a zombie keeps its /proc entry).  For a
# process a script has just started (its $!): its name is not asked, as on
# its way to exec the program it is the shell's fork, then setsid or
# taskset in turn, and a read of its name can miss them all on a busy
# machine.
starting() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != Z ]
}

# proc_is PID COMM: PID runs COMM and is not a zombie.
proc_is() {
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && starting "$1"
}
