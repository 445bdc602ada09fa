#!/usr/bin/env bash
# Benchmarks (`make bench`; never part of `make test`). Runs every section in scripts/bench/sections/
# in order, each measuring cardgate beside its peer (or the limit) in the same run, then writes
# BENCHMARKS.md from what the sections recorded (scripts/bench/report.sh).
#   BENCH_QUICK=1        short runs (smaller batches, fewer APDUs), for trying the scripts
#   BENCH_ONLY="a b"     run only these sections (names without number and .sh); the others keep
#                        the fragment of their last run, and the report says when each was measured
#
# Section contract (scripts/bench/sections/NN-name.sh, run from the repository root):
#   target/bench/name.md       its part of BENCHMARKS.md: "## Title", the command that reproduces
#                              it, tables with each figure beside the peer's or the limit's and the
#                              ratio, and a table over at least three sizes of the work; the
#                              report appends the section's notes (scripts/bench/notes/name.md),
#                              so notes can be corrected without measuring again
#   target/bench/name.summary  rows for the summary table:
#                              "| what | cardgate | peer or limit, same run | ratio | aim |"
# Progress goes to stdout; a section that fails stops the run (its old fragment is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench
mkdir -p "$out"
scripts/bench/machine.sh >"$out/machine.md"
for section in scripts/bench/sections/*.sh; do
  name=$(basename "$section" .sh)
  name=${name#*-}
  if [ -n "${BENCH_ONLY:-}" ] && ! [[ " $BENCH_ONLY " == *" $name "* ]]; then
    continue
  fi
  echo "== $name =="
  "$section"
  date -u +%Y-%m-%dT%H:%MZ >"$out/$name.when"
  echo
done
scripts/bench/report.sh >BENCHMARKS.md.new
mv BENCHMARKS.md.new BENCHMARKS.md
echo "bench: BENCHMARKS.md written"
