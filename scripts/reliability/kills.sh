#!/usr/bin/env bash
# Process-kill campaign (RELIABILITY.md, "Process kills: `kill -9` at random moments"): SIGKILL of
# the real cardgate processes at random moments of their work — the card (in a client's process,
# and served through pcscd + vpcd), `present`, `accept`, `settle` and the issuer `server` — then
# the checks of tests/tests/kills.rs: nothing accepted lost, nothing counted twice, the retry
# completes the work. `make test` runs the same tests with a short campaign.
#   KILL_RUNS=N    kills of the in-process card (default 200); served-card kills N/10, payment
#                  rounds N/4 (each: 3 `present`, 3 `accept`, 1 `settle` or `server` kill)
#   KILL_SEED=N    replay the random delays (the seed is printed)
# Needs pcscd with vpcd (`make reliability` starts it) and takes the vpcd lock for the served card.
# Prints its figures as Markdown; exits non-zero on any loss, duplicate or failed retry.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${KILL_RUNS:-200}
cargo build -q -p cardgate -p cardgate-tests --tests >&2
echo "Command: \`KILL_RUNS=$runs RELIABILITY_ONLY=kills make reliability\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
KILL_RUNS=$runs cargo test -q -p cardgate-tests --test kills -- --nocapture --test-threads 1 2>&1 \
  | tee target/reliability/kills.log | sed -E 's/^(test [^ ]+ \.\.\. |\.+)//' \
  | grep -E '^(\||####|[0-9]+ payments accepted|card kills:|served card kills:|payment kills:)' \
  | sed -E 's/^####(.*)$/\n####\1\n/'
