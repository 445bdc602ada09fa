#!/usr/bin/env bash
# Scripted sessions: the same scriptor-format script run by pcsc-tools' scriptor (the peer) and by
# `cardgate run` against one served card through pcscd + vpcd, interleaved, for scripts of three
# lengths (SCRIPT_BENCH_SIZES, ECHOs after the SELECT; BENCH_QUICK: fewer rounds).
set -euo pipefail
out=target/bench
sizes=${SCRIPT_BENCH_SIZES:-10 200 2000}
export SCRIPT_BENCH_ROUNDS=${SCRIPT_BENCH_ROUNDS:-$([ -n "${BENCH_QUICK:-}" ] && echo 3 || echo 7)}
: >"$out/scripts.txt"
for n in $sizes; do
  SCRIPT_BENCH_N=$n scripts/bench/scripts.sh | tee -a "$out/scripts.txt"
done
per() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.1f", t / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
read -r _ apdus scriptor ours extended emu replay < <(grep '^result' "$out/scripts.txt" | tail -1)
{
  echo "## Scripted sessions: \`cardgate run\` and scriptor on the same script"
  echo
  echo "Command: \`BENCH_ONLY=scripts make bench\` (\`scripts/bench/sections/40-scripts.sh\`, which runs"
  echo "\`scripts/bench/scripts.sh\` per size). One scriptor-format script (SELECT of the diagnostic applet,"
  echo "then ECHOs of 8 bytes) against a card made by \`cardgate card init\` and served by \`cardgate card serve\`"
  echo "in \"Virtual PCD 00 00\" (pcscd + vpcd), run by pcsc-tools' \`scriptor\` (the peer) and by"
  echo "\`cardgate run\` (release build), interleaved, $SCRIPT_BENCH_ROUNDS rounds; medians of wall time per run, process"
  echo "start and writing the transcript included. The extended-dialect row runs the same commands with"
  echo "\`{}\`-built Lc and an expectation on every line; the in-process row runs the script on a second card"
  echo "through \`-r emu:\` while recording it; the replay row plays that recording back."
  echo
  echo "| run ($apdus APDUs) | total ms | µs per APDU | ratio scriptor / this |"
  echo "|---|---:|---:|---:|"
  echo "| \`scriptor\`, pcscd + vpcd (peer) | $((scriptor / 1000)) | $(per "$scriptor" "$apdus") | 1.00x |"
  for row in '`cardgate run`, scriptor format, pcscd + vpcd'"|$ours" \
    '`cardgate run`, extended dialect, an expectation checked per APDU, pcscd + vpcd'"|$extended" \
    '`cardgate run -r emu:`, in-process card, recording'"|$emu" '`cardgate run --replay`'"|$replay"; do
    t=${row##*|}
    echo "| ${row%|*} | $((t / 1000)) | $(per "$t" "$apdus") | $(ratio "$scriptor" "$t") |"
  done
  echo
  echo "How the cost grows with the script (medians, µs per APDU, process start included):"
  echo
  echo "| APDUs | scriptor | cardgate run | ratio | cardgate in-process |"
  echo "|---:|---:|---:|---:|---:|"
  grep '^result' "$out/scripts.txt" | while read -r _ a s o _ e _; do
    echo "| $a | $(per "$s" "$a") | $(per "$o" "$a") | $(ratio "$s" "$o") | $(per "$e" "$a") |"
  done
  echo
} >"$out/scripts.md"
echo "| a $apdus-APDU script through pcscd + vpcd | $(per "$ours" "$apdus") µs/APDU | scriptor: $(per "$scriptor" "$apdus") µs/APDU | $(ratio "$scriptor" "$ours") | faster than scriptor: $(awk -v a="$scriptor" -v b="$ours" 'BEGIN { print (a > b ? "met" : "not met") }') |" >"$out/scripts.summary"
