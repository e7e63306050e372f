#!/usr/bin/env bash
# Active-active benchmark: three Fulcrum nodes behind a BIRD router doing ECMP (the lab of
# crates/fulcrum/tests/active_active.rs: packaging/bird's router.conf and node.conf, three
# Bind9 targets, 300 client addresses), in proxy mode or in DSR mode (the AF_PACKET plane, the
# lab of active_active_dsr.rs: router, nodes and targets on one switch), with BFD and without:
# - time from the crash of a node (its namespace silenced by nftables, then SIGKILL of its
#   fulcrum and BIRD), at a random phase, to its clients being answered again: the first of
#   its clients' queries answered and all of them, median of --kills crashes of a random node;
# - the fraction of clients whose node changes when a node goes and when it comes back, beside
#   the 1/3 ideal (the router kernel's own choice per flow, `ip route get`);
# - dnsperf at the VIP with three nodes announcing, then one (the forwarding path of a VRRP
#   pair's master): queries/s and each fulcrum's CPU per query.
# The VRRP pair's failover beside it comes from bench/vrrp_failover.sh (docs/benchmarks.md).
#
#   sudo bench/active_active.sh [--mode proxy|dsr] [--kills 10] [--qps-seconds 10]
#                               [--bfd on,off] [--release]
#
# Everything runs in fresh network namespaces with no link to the host, removed on exit
# (the test harness's netlab labs); every load is bounded in count and time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
kills=10
qps_seconds=10
bfd="on,off"
mode=proxy
profile=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --kills) kills="$2"; shift 2 ;;
        --qps-seconds) qps_seconds="$2"; shift 2 ;;
        --bfd) bfd="$2"; shift 2 ;;
        --mode) mode="$2"; shift 2 ;;
        --release) profile=(--release); shift ;;
        -h | --help) sed -n '2,/^set -e/{/^set -e/d;p}' "$0"; exit 0 ;;
        *) echo "active_active.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

die() { echo "active_active.sh: $*" >&2; exit 1; }
[[ $mode == proxy || $mode == dsr ]] || die "--mode takes proxy or dsr"
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces): run it with sudo"
for tool in /usr/sbin/bird /usr/sbin/named dnsperf nft ip; do
    command -v "$tool" >/dev/null || die "$tool is missing: scripts/install-deps.sh"
done

export CARGO_INCREMENTAL=0
echo "# active-active benchmark, $mode mode, $(date -u +%Y-%m-%d) commit $(git -C "$repo" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=, read -ra bfd_modes <<<"$bfd"
for bfd_mode in "${bfd_modes[@]}"; do
    case "$bfd_mode" in
        on) flag=1; seconds="$qps_seconds" ;;
        off) flag=0; seconds=0 ;;  # capacity does not depend on BFD: measured once
        *) die "--bfd takes on, off or on,off" ;;
    esac
    echo "## BFD $bfd_mode"
    log="$(mktemp -t active_active_bench.XXXXXX)"
    if ! FULCRUM_BENCH_MODE=$mode FULCRUM_BENCH_BFD=$flag FULCRUM_BENCH_KILLS=$kills FULCRUM_BENCH_QPS_SECONDS=$seconds \
        cargo test "${profile[@]}" --manifest-path "$repo/Cargo.toml" -p fulcrum \
        --test active_active -- --ignored --exact bench_active_active --nocapture >"$log" 2>&1; then
        grep -E '^BENCH' "$log" || true
        die "the benchmark failed ($mode, BFD $bfd_mode): see $log"
    fi
    grep -E '^BENCH' "$log"
    rm -f "$log"
done
