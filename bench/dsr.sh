#!/usr/bin/env bash
# DSR benchmark: in the seed's lab (network namespaces, removed on exit), a UDP flood from the
# client namespace through the router, once to a target directly (the kernel's IP forwarding) and
# once to the VIP (then Fulcrum's DSR path on ns0a's eth1), and dnsperf QPS to the VIP versus one
# target directly. Prints Markdown tables (see docs/benchmarks.md, section DSR). IPv4 and IPv6
# run beside each other in the same run (the lab made dual-stack inside its namespaces), or one
# family alone with --family.
#
#   sudo bench/dsr.sh [--seconds 5] [--family 4|6|both] [--no-build]
#
# Every phase is bounded (--seconds, at most 60); the whole run takes about 4 x seconds + 15 s
# per family.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

seconds=5
family=both
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; shift ;;
        --family) family="${2:?--family needs 4, 6 or both}"; shift 2 ;;
        --family=*) family="${1#*=}"; shift ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
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
timeout $((seconds * 12 + 180)) "$work/dsr_bench" lab "$work/fulcrum" "$seconds" "$family"
