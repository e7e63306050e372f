#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time over its committed seed corpus
# (fuzz/seeds/TARGET); new inputs go to a scratch corpus that is thrown away. A crash or a failed
# invariant fails the script and leaves the input under fuzz/artifacts/TARGET/.
#   scripts/fuzz.sh            every target, FUZZ_SECONDS (default 20) each
#   scripts/fuzz.sh sync vrrp  only these
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-20}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz needs nightly flags (sanitizers, coverage); the stable toolchain accepts them with
# RUSTC_BOOTSTRAP where no nightly is installed.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

# A target file not registered in Cargo.toml would be neither built nor run: refuse that.
mapfile -t registered < <("${fuzz[@]}" list)
for file in fuzz_targets/*.rs; do
  name=$(basename "$file" .rs)
  if ! printf '%s\n' "${registered[@]}" | grep -qx "$name"; then
    echo "fuzz: $file is not a [[bin]] in fuzz/Cargo.toml" >&2
    exit 1
  fi
done
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${registered[@]}")
# Every registered target is built, whichever run.
"${fuzz[@]}" build
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  echo "fuzz: $target for ${seconds}s"
  if ! "${fuzz[@]}" run "$target" "$scratch/$target" "seeds/$target" -- \
    -max_total_time="$seconds" >"$scratch/$target.log" 2>&1; then
    tail -n 40 "$scratch/$target.log"
    echo "fuzz: $target failed (the input is in fuzz/artifacts/$target)"
    exit 1
  fi
  tail -n 1 "$scratch/$target.log"
done
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each, no failure"
