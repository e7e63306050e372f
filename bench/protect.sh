#!/usr/bin/env bash
# Protection benchmark: Fulcrum's access list and rate limits beside dnsdist's MaxQPSIPRule,
# in alternating rounds: CPU per query with protection off and on, and a legitimate client's
# QPS and p99 alone, during a flood from one address and during a flood from random forged
# sources. Everything runs in a fresh network namespace that has only `lo` and a veth pair
# that swallows the answers to the forged 198.18.0.0/15 sources; the namespace and every
# process in it are removed on exit, Ctrl-C included. See docs/benchmarks.md.
#
#   sudo bench/protect.sh [--rounds 3] [--duration 8] [--rate 10000] [--limit 1000]
#                         [--legit-rate 500] [--flood-rate 20000] [--proxies fulcrum,dnsdist]
#                         [--no-build] [--keep-workdir] [--json FILE]
#
# This wrapper owns the namespace, the temp dir and the cleanup; bench/protect_bench.py (run
# inside the namespace) owns the daemons and the measurements.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

build=1
keep_workdir=0
for arg in "$@"; do
    case "$arg" in
        -h | --help) exec python3 "$here/protect_bench.py" --help ;;
        --no-build) build=0 ;;
        --keep-workdir) keep_workdir=1 ;;
    esac
done

die() {
    echo "protect.sh: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, a raw socket): run it with sudo"
for pair in ip:iproute2 flock:util-linux nsd:nsd nsd-checkconf:nsd dnsdist:dnsdist dnsperf:dnsperf \
    dig:bind9-dnsutils python3:python3; do
    tool="${pair%%:*}"
    command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool': apt-get install ${pair#*:}"
done
python3 "$here/protect_bench.py" --validate-only "$@" || exit 2

# One benchmark at a time on this machine (shared with bench/proxy.sh).
lock=/run/lock/fulcrum-bench-proxy.lock
exec 9>"$lock"
if ! flock -n 9; then
    echo "protect.sh: another benchmark holds $lock; waiting (at most 15 min)" >&2
    flock -w 900 9 || die "gave up waiting for the other run ($lock)"
fi

fulcrum_bin="$repo/target/release/fulcrum"
if [[ $build -eq 1 ]]; then
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: build first with 'cargo build --release -p fulcrum' and pass --no-build"
    (cd "$repo" && cargo build --release -p fulcrum) || die "release build failed"
fi
[[ -x "$fulcrum_bin" ]] || die "$fulcrum_bin is missing: cargo build --release -p fulcrum"

ns="fulcrum-protect-$$"
workdir="$(mktemp -d /tmp/fulcrum-protect.XXXXXX)"
cp "$fulcrum_bin" "$workdir/fulcrum"

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
        ip netns del "$ns" || echo "protect.sh: could not remove namespace $ns" >&2
    fi
    if [[ $keep_workdir -eq 1 ]]; then
        echo "protect.sh: work dir kept: $workdir" >&2
    else
        rm -rf "$workdir"
    fi
    exit "$status"
}
driver=""
interrupted() {
    [[ -n "$driver" ]] && kill -TERM "$driver" 2>/dev/null && wait "$driver" 2>/dev/null
    exit "$1"
}
trap cleanup EXIT
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
# Answers to the forged sources leave by a veth pair inside the namespace (no module needed)
# towards a static neighbour; the peer end, with no address and no forwarding, discards them.
ip -n "$ns" link add sink0 type veth peer name sink1
ip -n "$ns" link set sink0 up
ip -n "$ns" link set sink1 up
ip -n "$ns" addr add 192.168.255.1/30 dev sink0
sink_mac="$(ip -n "$ns" -o link show sink1 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')"
ip -n "$ns" neigh add 192.168.255.2 lladdr "$sink_mac" dev sink0 nud permanent
ip -n "$ns" route add 198.18.0.0/15 via 192.168.255.2 dev sink0

echo "protect.sh: fulcrum @ $(git -C "$repo" describe --always --dirty=+uncommitted)" >&2
ip netns exec "$ns" python3 "$here/protect_bench.py" \
    --workdir "$workdir" --fulcrum-bin "$workdir/fulcrum" "$@" &
driver=$!
status=0
wait "$driver" || status=$?
driver=""
exit "$status"
