#!/usr/bin/env bash
# Tearing campaign (RELIABILITY.md, "Tearing: power cut at every persistent write"): power cut at
# every write event of a card's life (creation, personalization, PINs, gated services, payment
# codes), then TEAR_RUNS random runs with random tears on a card kept in a state file, each checked
# against the invariants listed in applet/tests/tearing_campaign.rs. `make test` runs the same test
# with 200 random runs.
#   TEAR_RUNS=N    random runs (default 20000)
#   TEAR_SEED=N    replay a campaign (its seed is printed)
# Prints its figures as Markdown; exits non-zero on any invariant violation.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${TEAR_RUNS:-20000}
cargo build -q -p applet --tests >&2
echo "Command: \`TEAR_RUNS=$runs RELIABILITY_ONLY=tearing make reliability\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo
TEAR_RUNS=$runs cargo test -q -p applet --test tearing_campaign -- --nocapture --test-threads 1 2>&1 \
  | tee target/reliability/tearing.log | sed -E 's/^(test [^ ]+ \.\.\. |\.+)//' | grep -E '^(\||tearing campaign:)'
