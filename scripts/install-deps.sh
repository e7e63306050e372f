#!/usr/bin/env bash
# Installs the real peers that Fulcrum's tests and benchmarks run against (Debian 12 packages).
# Idempotent: skips apt when everything is already there.
set -euo pipefail

packages=(
  iproute2        # ip netns, veth, bridges (netlab)
  bind9           # targets in the tests (named)
  bind9-dnsutils  # dig
  dnsperf         # load generator for benchmarks
  nsd             # fastest backend for benchmarks
  dnsdist         # the performance peer
  pdns-server     # PowerDNS Authoritative: a backend taking the PROXY protocol (proxy_protocol test)
  pdns-backend-bind # its bind-zone-file backend
  keepalived      # VRRP peer
  bird2           # BGP to the ECMP router in the active-active tests (announce)
  nftables        # dropping/delaying packets in failure tests
  mon             # dns.monitor, the reference for fulcrum dns-check
  libnet-dns-perl # dns.monitor's DNS library
  tcpdump         # captures in DSR tests
  ethtool         # GRO on the DSR interface, as a physical NIC has it (hostcheck test)
  procps          # ps, sysctl
  iputils-ping    # ping (netlab reachability checks)
  dpkg-dev        # dpkg-shlibdeps for scripts/package.sh
  systemd         # systemd-analyze verify on the package's units
  man-db          # man, which systemd-analyze verify runs for Documentation=man:...
  adduser         # the package's postinst creates the user fulcrum
  util-linux      # prlimit (tests under a file-descriptor limit), setpriv (package and unprivileged tests)
  python3         # raw frames in the keepalived interop tests; scripts/fast-lane.sh reads cargo's JSON
  prometheus      # promtool check metrics, and a real Prometheus scraping the daemon in the tests
  chromium        # headless Chromium renders the status page in the tests
  fonts-dejavu-core # a font for the status page's screenshot
  clang           # compiles the AF_XDP plane's XDP program (crates/xdp/build.rs) for the BPF target
  libbpf-dev      # bpf_helpers.h for that program (the loader is the aya crate: no library linked)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]} (run with sudo)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # Debian starts packaged daemons on install where an init system runs; policy-rc.d stops that,
  # so no system-wide named/nsd/dnsdist/keepalived competes with the tests' own instances.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y --no-install-recommends "${missing[@]}"
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
echo "install-deps: all test peers present"
