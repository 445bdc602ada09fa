#!/usr/bin/env bash
# Fuzzing (`make fuzz`; not part of `make test`, which replays the committed corpora instead,
# tests/tests/fuzz_corpus.rs): every cargo-fuzz target in fuzz/, time-boxed, then a Markdown
# summary of libFuzzer's final statistics.
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  the targets to run, space-separated (default: all of `cargo fuzz list`)
# Needs the nightly toolchain (installed on the machine image) and cargo-fuzz (installed from
# crates.io if missing).
#
# Corpora: the committed seeds are fuzz/corpus/<target>/ (read only here); what the fuzzer adds goes
# to target/fuzz/corpus/<target>/ and is kept between runs, so a long run builds on the last. To
# commit new inputs: `cargo +nightly fuzz cmin <target> target/fuzz/corpus/<target>` and copy the
# few worth keeping. Crashes are saved under fuzz/artifacts/<target>/ (not committed: each becomes a
# regression test and a corpus file), fail the run, and do not stop the other targets.
# Output: target/fuzz/<target>.log (libFuzzer's), target/fuzz/summary.md (the table printed last).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
out=target/fuzz
mkdir -p "$out"
echo "fuzz: building the targets (nightly, sanitizer coverage, debug assertions)" >&2
cargo +nightly fuzz build >&2

rows=()
failed=0
for target in $targets; do
  echo "== fuzz $target (${secs}s) ==" >&2
  mkdir -p "$out/corpus/$target" "fuzz/corpus/$target" "fuzz/artifacts/$target"
  before=$(find "fuzz/artifacts/$target" -type f | wc -l)
  start=$(date +%s)
  status=0
  # -timeout: an input that takes 10 s is a hang; -max_len: policies and sessions fit in 4 KiB.
  cargo +nightly fuzz run "$target" "$out/corpus/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$out/$target.log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - start ))
  crashes=$(( $(find "fuzz/artifacts/$target" -type f | wc -l) - before ))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes="? (exit $status, see $out/$target.log)"
  fi
  [ "$status" -ne 0 ] && failed=1
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$target.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$target.log" | tail -1)
  # The last status line: "#N DONE cov: .. ft: .. corp: UNITS/SIZE ..".
  corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$out/$target.log" | tail -1 | sed 's/corp: //')
  cov=$(grep -o 'cov: [0-9]*' "$out/$target.log" | tail -1 | sed 's/cov: //')
  tail -n 8 "$out/$target.log" >&2
  rows+=("| \`$target\` | $elapsed | ${execs:-?} | ${rate:-?} | ${corpus:-?} | ${cov:-?} | $crashes |")
done

{
  echo "| target | seconds | executions | exec/s | corpus (units/size) | coverage (edges) | crashes |"
  echo "|---|---:|---:|---:|---|---:|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out/summary.md"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: crashes or failures above; inputs in fuzz/artifacts/<target>/" >&2
  exit 1
fi
