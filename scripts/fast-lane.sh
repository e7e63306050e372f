#!/usr/bin/env bash
# The fast lane: the tests of the pure crates (fulcrum-core, fulcrum-wire, fulcrum-config,
# fulcrum-control), which need no root, no network namespace and no peer.
#   scripts/fast-lane.sh    as any user: `cargo test` of those crates
#   as root (CI)            builds them, then runs every test binary as user nobody (setpriv), so
#                           a pure-crate test that starts needing a privilege fails here
set -euo pipefail
cd "$(dirname "$0")/.."
crates=(-p fulcrum-core -p fulcrum-wire -p fulcrum-config -p fulcrum-control)
if [ "$(id -u)" -ne 0 ]; then
  exec cargo test "${crates[@]}" "$@"
fi
# Doc examples compile and run under cargo (as root here; they touch nothing).
cargo test "${crates[@]}" --doc
# Every unit- and integration-test binary with the directory cargo would run it from.
mapfile -t binaries < <(cargo test "${crates[@]}" --no-run --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["manifest_path"].rsplit("/", 1)[0] + " " + m["executable"])
')
for entry in "${binaries[@]}"; do
  dir=${entry%% *}
  binary=${entry#* }
  echo "fast lane (as nobody): ${binary##*/}"
  (cd "$dir" && setpriv --reuid nobody --regid nogroup --clear-groups env HOME=/tmp "$binary" -q)
done
echo "fast lane: ${#binaries[@]} test binaries passed as nobody"
