# shellcheck shell=bash
# What the namespace benchmark wrappers (bench/proxy.sh, bench/protect.sh) share: their common
# options, the root and tool checks, the one-benchmark-at-a-time lock, and the life of the fresh
# network namespace and temp dir the measurements run in.
#
# Contract: source it after setting `bench_name` (the script's name in messages) and
# `bench_driver` (the Python driver that owns the daemons and the measurements).
# `bench_options "$@"` sets `build` and `keep_workdir` and hands `--help` to the driver.
# `bench_traps` (after setting `ns` and `workdir`) makes every exit, Ctrl-C included, stop every
# process in the namespace by PID (TERM, then KILL after 3 s), delete the namespace and remove
# the work dir unless `--keep-workdir`. `bench_run ARGS...` runs the driver inside the namespace,
# in the background so that a signal to the wrapper is handled at once, and exits with its
# status.

bench_die() {
    echo "$bench_name: $*" >&2
    exit 1
}

# Sets `build` (0 with --no-build) and `keep_workdir` (1 with --keep-workdir).
bench_options() {
    build=1
    keep_workdir=0
    local arg
    for arg in "$@"; do
        case "$arg" in
            -h | --help) exec python3 "$bench_driver" --help ;;
            --no-build) build=0 ;;
            --keep-workdir) keep_workdir=1 ;;
        esac
    done
}

# `bench_require_root WHY`: root for the namespaces (and what else WHY names).
bench_require_root() {
    [[ $(id -u) -eq 0 ]] || bench_die "needs root ($1): run it with sudo"
}

# Each argument is TOOL:DEBIAN-PACKAGE.
bench_require_tools() {
    local pair tool
    for pair in "$@"; do
        tool="${pair%%:*}"
        command -v "$tool" >/dev/null 2>&1 || bench_die "missing tool '$tool': apt-get install ${pair#*:}"
    done
}

# One benchmark at a time on this machine (the build included): two runs would measure each
# other. The lock is held on fd 9 until the wrapper exits.
bench_lock() {
    local lock=/run/lock/fulcrum-bench-proxy.lock
    exec 9>"$lock"
    if ! flock -n 9; then
        echo "$bench_name: another benchmark holds $lock; waiting (at most 15 min)" >&2
        flock -w 900 9 || bench_die "gave up waiting for the other run ($lock)"
    fi
}

bench_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if ip netns list 2>/dev/null | grep -qw "$ns"; then
        # Every process in our own namespace was started by this run; stop them by PID.
        local pids
        pids="$(ip netns pids "$ns" 2>/dev/null || true)"
        if [[ -n "$pids" ]]; then
            kill -TERM $pids 2>/dev/null || true
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                pids="$(ip netns pids "$ns" 2>/dev/null || true)"
                [[ -z "$pids" ]] && break
                sleep 0.3
            done
            [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null || true
        fi
        ip netns del "$ns" || echo "$bench_name: could not remove namespace $ns" >&2
    fi
    if [[ $keep_workdir -eq 1 ]]; then
        echo "$bench_name: work dir kept: $workdir" >&2
    else
        rm -rf "$workdir"
    fi
    exit "$status"
}

bench_driver_pid=""
bench_interrupted() {
    # The driver stops its own daemons on SIGTERM; bench_cleanup then sweeps the namespace.
    [[ -n "$bench_driver_pid" ]] && kill -TERM "$bench_driver_pid" 2>/dev/null &&
        wait "$bench_driver_pid" 2>/dev/null
    exit "$1"
}

bench_traps() {
    trap bench_cleanup EXIT
    trap 'bench_interrupted 130' INT
    trap 'bench_interrupted 143' TERM
}

# Runs the driver with ARGS inside the namespace and exits with its status.
bench_run() {
    ip netns exec "$ns" python3 "$bench_driver" "$@" &
    bench_driver_pid=$!
    local status=0
    wait "$bench_driver_pid" || status=$?
    bench_driver_pid=""
    exit "$status"
}
