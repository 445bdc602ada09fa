#!/usr/bin/env bash
# Card-hammering campaign (RELIABILITY.md, "The card under a hammering client through pcscd"): a
# fresh card served by `cardgate card serve` in "Virtual PCD 00 00" gets HAMMER_SECS of random valid
# and invalid APDUs through pcscd + vpcd (random bytes, random CLA/INS, chaining, channels, SELECTs,
# extended lengths, warm resets; tests/src/hammer.rs). Every answer must end in a status word, no
# APDU may take longer than 5 s, and the card process must keep its file descriptors and its RSS
# (sampled after a warm-up and at the end). Takes the vpcd lock. `make test` runs 20 s
# (tests/tests/hammer.rs).
#   HAMMER_SECS=N   seconds (default 300)
#   HAMMER_SEED=N   PRNG seed (default 99355261)
# Prints its figures as Markdown; exits non-zero on a hang, a leak or an answer without a status word.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${HAMMER_SECS:-300}
seed=${HAMMER_SEED:-99355261}
cargo build -q -p cardgate --bin cardgate -p cardgate-tests --bin card-hammer >&2
echo "Command: \`HAMMER_SECS=$secs HAMMER_SEED=$seed RELIABILITY_ONLY=hammer make reliability\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo
target/debug/card-hammer --secs "$secs" --seed "$seed"
