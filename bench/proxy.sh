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
bench_name=proxy.sh
bench_driver="$here/proxy_bench.py"
# shellcheck source=lib/netns.sh
source "$here/lib/netns.sh"

bench_options "$@"
want_fulcrum=1
# `--cases LIST` or `--cases=LIST` without fulcrum: skip the release build.
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --cases) [[ "${args[$((i + 1))]:-}" == *fulcrum* ]] || want_fulcrum=0 ;;
        --cases=*) [[ "${args[$i]}" == *fulcrum* ]] || want_fulcrum=0 ;;
    esac
done

bench_require_root "network namespaces"
bench_require_tools ip:iproute2 flock:util-linux nsd:nsd nsd-checkconf:nsd dnsdist:dnsdist \
    dnsperf:dnsperf dig:bind9-dnsutils python3:python3

# `--backends pdns`: PowerDNS Authoritative and its bind backend.
if [[ " $* " == *" pdns "* || " $* " == *"--backends=pdns"* ]]; then
    command -v pdns_server >/dev/null 2>&1 ||
        bench_die "missing tool 'pdns_server': apt-get install pdns-server pdns-backend-bind"
fi

# Bad options fail here, before the lock and the build.
python3 "$here/proxy_bench.py" --validate-only "$@" || exit 2

bench_lock

fulcrum_bin="$repo/target/release/fulcrum"
if [[ $want_fulcrum -eq 1 && $build -eq 1 ]]; then
    command -v cargo >/dev/null 2>&1 ||
        bench_die "cargo not found (root's PATH?): build first with 'cargo build --release -p fulcrum' and pass --no-build"
    echo "proxy.sh: cargo build --release -p fulcrum" >&2
    if ! (cd "$repo" && cargo build --release -p fulcrum); then
        echo "proxy.sh: release build failed: the fulcrum case is skipped" >&2
        fulcrum_bin=""
    fi
fi

ns="fulcrum-bench-$$"
workdir="$(mktemp -d /tmp/fulcrum-bench.XXXXXX)"

bench_traps

ip netns add "$ns"
ip -n "$ns" link set lo up

bench_run --workdir "$workdir" --fulcrum-bin "$fulcrum_bin" --netns "$ns" "$@"
