#!/usr/bin/env bash
# Reliability campaigns (`make reliability`; long runs, not part of `make test`, which runs a short
# version of each as ordinary tests). Runs every campaign in scripts/reliability/, in order.
#   RELIABILITY_ONLY="a b"   only these campaigns (file names without .sh)
# Each campaign prints its figures (runs, tear points, kills, executions, requests, losses) as
# Markdown; they are recorded by hand in RELIABILITY.md with the date and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/reliability
for campaign in scripts/reliability/*.sh; do
  name=$(basename "$campaign" .sh)
  if [ -n "${RELIABILITY_ONLY:-}" ] && ! [[ " $RELIABILITY_ONLY " == *" $name "* ]]; then
    continue
  fi
  echo "== $name =="
  "$campaign" | tee "target/reliability/$name.md"
  echo
done
