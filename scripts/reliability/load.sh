#!/usr/bin/env bash
# Settlement load campaign (RELIABILITY.md, "Load"): LOAD_MERCHANTS merchants each upload
# LOAD_PAYMENTS real payments (signed in-process, in parallel) to `cardgate server` on SQLite at the
# same time, in batches of 1,000, with lost answers and retries, duplicate batch uploads and
# cross-merchant replays mixed in; then the ledger is checked exactly through the API and in the
# database (tests/src/load.rs). `make test` runs 10 x 1,000 (tests/tests/load.rs).
#   LOAD_MERCHANTS=N   merchants (default 50)
#   LOAD_PAYMENTS=N    distinct payments per merchant (default 10000)
#   LOAD_PROFILE=dev|release  build profile (default dev: crypto and SQLite are optimised there too)
# Prints its figures as Markdown; exits non-zero unless the ledger is exact.
set -euo pipefail
cd "$(dirname "$0")/../.."
merchants=${LOAD_MERCHANTS:-50}
payments=${LOAD_PAYMENTS:-10000}
profile=${LOAD_PROFILE:-dev}
flag=(); dir=debug
if [ "$profile" = release ]; then flag=(--release); dir=release; fi
cargo build -q "${flag[@]}" -p cardgate --bin cardgate -p cardgate-tests --bin settle-load >&2
echo "Command: \`LOAD_MERCHANTS=$merchants LOAD_PAYMENTS=$payments LOAD_PROFILE=$profile RELIABILITY_ONLY=load make reliability\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo
"target/$dir/settle-load" --merchants "$merchants" --payments "$payments"
