#!/usr/bin/env bash
# The main job: installs what the demo runs on (iproute2, Bind9, ...; see install-deps.sh), builds
# the release binary and runs `fulcrum demo` with the given options (e.g. --duration 60).
# Run as root (network namespaces, AF_PACKET): scripts/demo.sh --duration 60
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec cargo run --release -p fulcrum --features demo -- demo "$@"
