#!/usr/bin/env bash
# Offline credit payment: issuance over HTTP, the merchant's accept per payment, settlement of 1k to
# 1M payments with peak memory; each beside OpenSSL, ZBar or the disk measured in the same run
# (host/benches/payment.rs does the measuring). Writes target/bench/payment.md and payment.summary.
# BENCH_QUICK=1: smaller sizes (settlement 1k/10k/30k instead of 1k/10k/100k/1M).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=target/bench
mkdir -p "$out"
for tool in openssl zbarimg; do
  command -v "$tool" >/dev/null || { echo "payment bench: $tool is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
body=$(mktemp)
summary=$(mktemp)
log=$(mktemp)
trap 'rm -f "$body" "$summary" "$log"' EXIT

PAYMENT_BENCH_MD="$body" PAYMENT_BENCH_SUMMARY="$summary" \
  cargo bench --quiet -p cardgate --bench payment 2>&1 | tee "$log"

{
  echo "## Offline credit payment"
  echo
  echo "Reproduce: \`BENCH_ONLY=payment scripts/bench.sh\` (or \`cargo bench -p cardgate --bench payment\`,"
  echo "which writes the tables below to \`\$PAYMENT_BENCH_MD\`)$([ -n "${BENCH_QUICK:-}" ] && echo "; this run had \`BENCH_QUICK=1\` (smaller sizes)")."
  echo "Release build; the server is the real \`cardgate server\` on 127.0.0.1 with SQLite on disk."
  echo "The machine is shared with other builds while it runs: absolute figures move between runs, and"
  echo "each limit is measured in the same run, next to the figure it bounds."
  echo
  cat "$body"
  echo
} >"$out/payment.md"
cp "$summary" "$out/payment.summary"
echo "payment: wrote $out/payment.md and $out/payment.summary"
