#!/usr/bin/env bash
# The whole test suite: installs the real peers the tests need, then runs every test.
# Run as root (network namespaces, raw sockets, Bind9 on loopback aliases): sudo scripts/test.sh
# The demo feature brings `fulcrum demo` and its tests; tests/package.rs builds the Debian package
# (one release build, shared with tests/rolling_upgrade.rs), installs it and purges it again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace --all-targets --features fulcrum/demo "$@"
