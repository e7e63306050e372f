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
bench_name=protect.sh
bench_driver="$here/protect_bench.py"
# shellcheck source=lib/netns.sh
source "$here/lib/netns.sh"

bench_options "$@"
bench_require_root "network namespaces, a raw socket"
bench_require_tools ip:iproute2 flock:util-linux nsd:nsd nsd-checkconf:nsd dnsdist:dnsdist \
    dnsperf:dnsperf dig:bind9-dnsutils python3:python3
python3 "$here/protect_bench.py" --validate-only "$@" || exit 2

bench_lock

fulcrum_bin="$repo/target/release/fulcrum"
if [[ $build -eq 1 ]]; then
    command -v cargo >/dev/null 2>&1 ||
        bench_die "cargo not found: build first with 'cargo build --release -p fulcrum' and pass --no-build"
    (cd "$repo" && cargo build --release -p fulcrum) || bench_die "release build failed"
fi
[[ -x "$fulcrum_bin" ]] || bench_die "$fulcrum_bin is missing: cargo build --release -p fulcrum"

ns="fulcrum-protect-$$"
workdir="$(mktemp -d /tmp/fulcrum-protect.XXXXXX)"
cp "$fulcrum_bin" "$workdir/fulcrum"

bench_traps

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
bench_run --workdir "$workdir" --fulcrum-bin "$workdir/fulcrum" "$@"
