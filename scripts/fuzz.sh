#!/usr/bin/env bash
# `make fuzz`: every cargo-fuzz target for FUZZ_SECONDS seconds each (libFuzzer, coverage-guided,
# AddressSanitizer). Installs cargo-fuzz from crates.io when missing. The toolchain is stable:
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags. Corpora grow in fuzz/corpus/<target>
# (git-ignored) starting from the committed fuzz/seeds/<target>; crashes land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
SANITIZER="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo fuzz build -O -s "$SANITIZER"
total=0
printf '%-22s %12s %8s\n' target executions seconds
for t in $(cargo fuzz list); do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  if ! cargo fuzz run -O -s "$SANITIZER" "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=4096 -timeout=10 >"$log" 2>&1; then
    tail -40 "$log"; echo "fuzz target $t FAILED (input saved under fuzz/artifacts/$t)"; exit 1
  fi
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  total=$((total + runs))
  printf '%-22s %12s %8s\n' "$t" "$runs" "$SECONDS_PER_TARGET"
  rm -f "$log"
done
printf '%-22s %12s\n' total "$total"
