#!/usr/bin/env bash
# Reader bridge (section "bridge" of BENCHMARKS.md): APDU round trips, power-up and reset through
# pcscd + vpcd for `cardgate card serve`, beside the floor (a minimal echo card on the vpcd
# protocol, no work, same socket options) and the peer (Debian's vicc), in the same run:
# tests/src/bin/vpcd-bench.rs. Needs pcscd with vpcd (`scripts/pcscd.sh start`); takes the vpcd
# lock itself (/tmp/cardgate-vpcd.lock) and uses both virtual readers while it holds it.
# VPCD_BENCH_N: 8-byte round trips for ours and the floor (default 5000; 1000 with BENCH_QUICK).
# Writes target/bench/bridge.md and bridge.summary.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=target/bench
mkdir -p "$out"
n=${VPCD_BENCH_N:-$([ -n "${BENCH_QUICK:-}" ] && echo 1000 || echo 5000)}
cargo build --release --quiet -p cardgate -p cardgate-tests
scripts/pcscd.sh start >/dev/null
target/release/vpcd-bench "$n" | tee "$out/bridge.txt"
{
  echo "## Reader bridge: APDUs, power-up and reset through pcscd + vpcd"
  echo
  echo "Command: \`BENCH_ONLY=bridge scripts/bench.sh\` (\`scripts/bench/sections/30-bridge.sh\`), i.e."
  echo "\`target/release/vpcd-bench $n\` (\`tests/src/bin/vpcd-bench.rs\`$([ -n "${BENCH_QUICK:-}" ] && echo ", \`BENCH_QUICK=1\`")). One client process"
  echo "calling \`SCardTransmit\` through the \`pcsc\` crate (\`PcscTransport\`), pcscd and Debian's vpcd on"
  echo "loopback, the vpcd lock held. Cards: \`cardgate card serve\` on a card made by \`cardgate card"
  echo "init\` (the diagnostic applet's ECHO after SELECT); the **floor**, \`vpcd-bench floor-card\`, a"
  echo "card on the vpcd protocol that does no work (answers each APDU with its data and \`9000\`, the ATR"
  echo "of a cardgate card, nothing else), with the same socket options as ours (TCP_NODELAY,"
  echo "TCP_QUICKACK re-armed after every read, the same receive timeout); the peer, Debian's \`vicc -t"
  echo "iso7816\` (0.8; GET CHALLENGE of 8 bytes, as it has no echo), started with the two fixes its"
  echo "package needs; and the in-process transport (\`emu:\`, the same card file, no PC/SC). Ours and the"
  echo "floor sit in the two virtual readers at once and are measured in alternating chunks of 50 APDUs"
  echo "(10 connection operations), then again with the readers swapped, so that both see the same load."
  echo
  grep -v '^summary' "$out/bridge.txt"
  echo
} >"$out/bridge.md"
grep '^summary' "$out/bridge.txt" | sed 's/^summary //' >"$out/bridge.summary"
echo "bridge: $out/bridge.md written"
