#!/usr/bin/env bash
# Writes BENCHMARKS.md (to stdout) from the fragments the sections left in target/bench/.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/bench
cat <<'HEAD'
# Benchmarks

Written by `make bench` (`scripts/bench.sh`) from the run described below; do not edit by hand
(notes live in `scripts/bench/notes/`). Every figure stands beside its peer's, or the limit's,
measured in the same run, with the ratio: absolute times vary between machines, ratios measured
together are what to compare. Each section names the command that reproduces it.

## The machine
HEAD
cat "$out/machine.md"
echo
echo "## Summary"
echo
echo "| what | cardgate | peer or limit, same run | ratio | aim |"
echo "|---|---:|---:|---:|---|"
for section in scripts/bench/sections/*.sh; do
  name=$(basename "$section" .sh)
  name=${name#*-}
  if [ -f "$out/$name.summary" ]; then
    cat "$out/$name.summary"
  fi
done
echo
echo "Each row is detailed in its section below."
for section in scripts/bench/sections/*.sh; do
  name=$(basename "$section" .sh)
  name=${name#*-}
  echo
  if [ -f "$out/$name.md" ]; then
    cat "$out/$name.md"
    if [ -f "scripts/bench/notes/$name.md" ]; then
      printf '\n%s\n' "$(cat "scripts/bench/notes/$name.md")"
    fi
    if [ -f "$out/$name.when" ]; then
      printf '\n_Measured %s._\n' "$(cat "$out/$name.when")"
    fi
  else
    echo "## $name"
    echo
    echo "Not measured yet: \`BENCH_ONLY=$name make bench\`."
  fi
done
