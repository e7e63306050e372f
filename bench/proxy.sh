#!/usr/bin/env bash
# Proxy benchmark: the same dnsperf load against one NSD backend directly, dnsdist in front of two
# NSD backends, and Fulcrum in front of the same two, in alternating rounds. Everything runs in a
# fresh network namespace that has only `lo`; the namespace and every process in it are removed on
# exit, Ctrl-C included. See docs/benchmarks.md.
#
#   sudo bench/proxy.sh [--rounds 3] [--duration 10] [--rate 20000] [--cases direct,dnsdist,fulcrum]
#                       [--backends nsd|pdns] [--no-build] [--keep-workdir] [--json FILE] [...]
#                       (--help for all options)
#
# This wrapper owns the namespace, the temp dir and the cleanup; bench/proxy_bench.py (run inside
# the namespace) owns the daemons and the measurements.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

build=1
keep_workdir=0
want_fulcrum=1
for arg in "$@"; do
    case "$arg" in
        -h | --help) exec python3 "$here/proxy_bench.py" --help ;;
        --no-build) build=0 ;;
        --keep-workdir) keep_workdir=1 ;;
    esac
done
# `--cases LIST` or `--cases=LIST` without fulcrum: skip the release build.
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --cases) [[ "${args[$((i + 1))]:-}" == *fulcrum* ]] || want_fulcrum=0 ;;
        --cases=*) [[ "${args[$i]}" == *fulcrum* ]] || want_fulcrum=0 ;;
    esac
done

die() {
    echo "proxy.sh: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces): run it with sudo"
# tool -> Debian package that provides it
for pair in ip:iproute2 flock:util-linux nsd:nsd nsd-checkconf:nsd dnsdist:dnsdist dnsperf:dnsperf \
    dig:bind9-dnsutils python3:python3; do
    tool="${pair%%:*}"
    package="${pair#*:}"
    command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool': apt-get install $package"
done

# `--backends pdns`: PowerDNS Authoritative and its bind backend.
if [[ " $* " == *" pdns "* || " $* " == *"--backends=pdns"* ]]; then
    command -v pdns_server >/dev/null 2>&1 ||
        die "missing tool 'pdns_server': apt-get install pdns-server pdns-backend-bind"
fi

# Bad options fail here, before the lock and the build.
python3 "$here/proxy_bench.py" --validate-only "$@" || exit 2

# One run at a time on this machine (the build included): two runs would measure each other.
lock=/run/lock/fulcrum-bench-proxy.lock
exec 9>"$lock"
if ! flock -n 9; then
    echo "proxy.sh: another bench/proxy.sh run holds $lock; waiting (at most 15 min)" >&2
    flock -w 900 9 || die "gave up waiting for the other run ($lock)"
fi

fulcrum_bin="$repo/target/release/fulcrum"
if [[ $want_fulcrum -eq 1 && $build -eq 1 ]]; then
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found (root's PATH?): build first with 'cargo build --release -p fulcrum' and pass --no-build"
    echo "proxy.sh: cargo build --release -p fulcrum" >&2
    if ! (cd "$repo" && cargo build --release -p fulcrum); then
        echo "proxy.sh: release build failed: the fulcrum case is skipped" >&2
        fulcrum_bin=""
    fi
fi

ns="fulcrum-bench-$$"
workdir="$(mktemp -d /tmp/fulcrum-bench.XXXXXX)"

cleanup() {
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
        ip netns del "$ns" || echo "proxy.sh: could not remove namespace $ns" >&2
    fi
    if [[ $keep_workdir -eq 1 ]]; then
        echo "proxy.sh: work dir kept: $workdir" >&2
    else
        rm -rf "$workdir"
    fi
    exit "$status"
}
driver=""
interrupted() {
    # The driver stops its own daemons on SIGTERM; cleanup() then sweeps the namespace.
    [[ -n "$driver" ]] && kill -TERM "$driver" 2>/dev/null && wait "$driver" 2>/dev/null
    exit "$1"
}
trap cleanup EXIT
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

ip netns add "$ns"
ip -n "$ns" link set lo up

# In the background and waited for, so that a signal to this script is handled at once.
ip netns exec "$ns" python3 "$here/proxy_bench.py" \
    --workdir "$workdir" --fulcrum-bin "$fulcrum_bin" --netns "$ns" "$@" &
driver=$!
status=0
wait "$driver" || status=$?
driver=""
exit "$status"
