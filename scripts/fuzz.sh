#!/usr/bin/env bash
# Fuzzing (`make fuzz`; not part of `make test`): every target in fuzz/, time-boxed.
#   FUZZ_SECONDS  seconds per target (default 60)
# Needs the nightly toolchain (installed on the machine image) and cargo-fuzz (installed from
# crates.io if missing). Crashes are saved under fuzz/artifacts/<target>/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
for target in $(cargo +nightly fuzz list); do
  echo "== fuzz $target (${secs}s) =="
  mkdir -p "fuzz/corpus/$target"
  cargo +nightly fuzz run "$target" -- -max_total_time="$secs" -max_len=4096 -print_final_stats=1
done
