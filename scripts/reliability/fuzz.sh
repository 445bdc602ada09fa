#!/usr/bin/env bash
# Fuzzing campaign for `make reliability`: every target for FUZZ_SECONDS (default 600) each, on top
# of the corpus earlier runs grew (target/fuzz/corpus/); prints the Markdown summary of
# scripts/fuzz.sh. About two hours for all twelve targets at the default.
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-600} scripts/fuzz.sh
