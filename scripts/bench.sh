#!/usr/bin/env bash
# Benchmarks (`make bench`). Each section measures cardgate and, in the same run, a peer, then
# prints the ratio. Figures and commands are recorded in BENCHMARKS.md. BENCH_QUICK=1: short runs.
# Sections are added by the engineers who own them; keep each one self-contained.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench
mkdir -p "$out"

# --- Runtime: in-process APDU dispatch --------------------------------------------------------
# cardgate's card (applet crate) against vsmartcard's vicc card OS (Python), both in-process,
# one core, no transport.
echo "== runtime: in-process APDU dispatch =="
cargo bench -q -p applet --bench dispatch 2>/dev/null | tee "$out/runtime.txt"
echo
echo "== peer: vsmartcard vicc 0.8, Iso7816OS.execute in-process (Python) =="
python3 scripts/bench/vicc_dispatch.py | tee "$out/runtime-vicc.txt"
echo
echo "| operation | cardgate ops/s | vicc ops/s | ratio |"
echo "|---|---:|---:|---:|"
awk '/^result/ && FNR==NR { ours[$2] = $3; next }
     /^result/ { if ($2 in ours) printf "| %s | %d | %d | %.0fx |\n", $2, ours[$2], $3, ours[$2] / $3 }' \
  "$out/runtime.txt" "$out/runtime-vicc.txt"

# --- Policy gate (BENCHMARKS.md, "Policy gate") -------------------------------------------------
echo
echo "== policy gate =="
cargo bench -q -p applet --bench gate 2>/dev/null

# --- Policy gate on the card (BENCHMARKS.md, "Policy gate on the card") ---------------------------
# A service through the card with and without the gate: rows of the dispatch run above.
echo
echo "== policy gate on the card: a gated service against the same service ungated =="
awk '/^result service_ungated / { u = $3 } /^result service_gated / { g = $3 }
     END { if (u && g) printf "ungated %d ops/s, gated %d ops/s: %.1fx\n", u, g, u / g }' "$out/runtime.txt"

# --- Hotspot server (BENCHMARKS.md, "Hotspot server") -------------------------------------------
echo
echo "== hotspot server =="
cargo bench -q -p cardgate --bench hotspot 2>/dev/null

# --- Bridge: one APDU through pcscd + vpcd --------------------------------------------------------
# cardgate card serve vs Debian's vicc in the same run, plus the in-process transport and the served
# card with TCP_QUICKACK off (the ~44 ms delayed-ACK stall). Needs pcscd with vpcd (`make pcscd`);
# takes the vpcd lock itself. VPCD_BENCH_N: APDUs for the fast cases (default 5000; 1000 with BENCH_QUICK).
echo
echo "== bridge: APDU round trip through pcscd + vpcd =="
cargo build --release --quiet -p cardgate -p cardgate-tests
n=${VPCD_BENCH_N:-$([ -n "${BENCH_QUICK:-}" ] && echo 1000 || echo 5000)}
target/release/vpcd-bench "$n" | tee "$out/bridge.txt"

# --- Offline credit payment (BENCHMARKS.md, "Offline credit payment") ------------------------------
# Issuance, accept (PNG decode + checks + durable append), the card's GENERATE PAYMENT CODE and
# settlement verification, each beside `openssl speed ecdsap256 ecdhp256` run by the benchmark itself
# (and QR decoding beside zbarimg) in the same run. BENCH_QUICK=1: smaller batches.
echo
echo "== offline credit payment =="
cargo bench -q -p cardgate --bench payment 2>/dev/null | tee "$out/payment.txt"
# --- Scripted sessions (BENCHMARKS.md, "Scripted sessions") ---------------------------------------
# The same scriptor-format script run by scriptor and by `cardgate run` against one served card,
# interleaved; plus cardgate in-process and replaying. Takes the vpcd lock itself.
echo
echo "== scripted sessions: scriptor vs cardgate run =="
SCRIPT_BENCH_N=$([ -n "${BENCH_QUICK:-}" ] && echo 500 || echo "${SCRIPT_BENCH_N:-2000}") \
  scripts/bench/scripts.sh | tee "$out/scripts.txt"
