#!/usr/bin/env bash
# DSR benchmark: in the seed's lab (network namespaces, removed on exit), a UDP flood from the
# client namespace through the router, once to a target directly (the kernel's IP forwarding) and
# once to the VIP (then Fulcrum's DSR path on ns0a's eth1), and dnsperf QPS to the VIP versus one
# target directly. Prints Markdown tables (see docs/benchmarks.md, section DSR).
#
#   sudo bench/dsr.sh [--seconds 5] [--family 4|6|both] [--plane afpacket|afxdp|both]
#                     [--path onlink|routed|both] [--no-build]
#
# --family: IPv4 and IPv6 beside each other in one run (the lab made dual-stack inside its
# namespaces, the default), or one family alone. --plane: the DSR plane(s) measured (`access raw`
# or `access xdp` on eth1); `both` (the default) runs them side by side in one lab, with the
# worker threads' CPU and the machine's softirq time. AF_XDP steers IPv4 only: IPv6 on the
# `access xdp` interface goes through its AF_PACKET workers. --path: the VIPs on the segment
# (the pair's virtual MAC, the default), routed to ns0a's own MAC as an active-active node gets
# them (a static route on the router, an `announce` block in ns0a's configuration), or both
# side by side. DSR_BENCH_PROFILE=1 adds a perf
# profile of the workers in each DSR phase (needs perf). Every phase is bounded (--seconds, at
# most 60); the whole run takes about (2 + 2 x planes) x seconds per family, plus 10 s per plane.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

seconds=5
family=both
plane=both
path=onlink
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; shift ;;
        --family) family="${2:?--family needs 4, 6 or both}"; shift 2 ;;
        --family=*) family="${1#*=}"; shift ;;
        --plane) plane="${2:?--plane needs afpacket, afxdp or both}"; shift 2 ;;
        --plane=*) plane="${1#*=}"; shift ;;
        --path) path="${2:?--path needs onlink, routed or both}"; shift 2 ;;
        --path=*) path="${1#*=}"; shift ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "dsr.sh: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
done

die() {
    echo "dsr.sh: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, AF_PACKET): run it with sudo"
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 60 ]] || die "--seconds must be 1..60"
[[ "$family" =~ ^(4|6|both)$ ]] || die "--family must be 4, 6 or both"
[[ "$plane" =~ ^(afpacket|afxdp|both)$ ]] || die "--plane must be afpacket, afxdp or both"
[[ "$path" =~ ^(onlink|routed|both)$ ]] || die "--path must be onlink, routed or both"
# tool -> Debian package that provides it
for pair in ip:iproute2 flock:util-linux named:bind9 dnsperf:dnsperf dig:bind9-dnsutils; do
    tool="${pair%%:*}"
    package="${pair#*:}"
    command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] ||
        die "missing tool '$tool': apt-get install $package"
done

# One benchmark run at a time on this machine: two runs would measure each other.
lock=/run/lock/fulcrum-bench-dsr.lock
exec 9>"$lock"
if ! flock -n 9; then
    echo "dsr.sh: another run holds $lock; waiting (at most 15 min)" >&2
    flock -w 900 9 || die "gave up waiting for the other run ($lock)"
fi

if [[ $build -eq 1 ]]; then
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or pass --no-build after a release build)"
    (cd "$repo" && cargo build --release -p fulcrum --bin fulcrum --example dsr_bench) ||
        die "release build failed"
fi

# Copies, so that a rebuild of target/ during the run cannot mix binaries.
work="$(mktemp -d -t fulcrum-dsr-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
for bin in "$repo/target/release/fulcrum" "$repo/target/release/examples/dsr_bench"; do
    [[ -x "$bin" ]] || die "$bin is missing: run without --no-build"
    cp "$bin" "$work/"
done

echo "# bench/dsr.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown), family: $family, plane(s): $plane, path(s): $path"
echo
timeout $((seconds * 40 + 300)) "$work/dsr_bench" lab "$work/fulcrum" "$seconds" "$family" "$plane" "$path"
