#!/usr/bin/env bash
# Policy gate: what the per-service security check adds to a gated command, step by step, against
# the bare TLV walk of the same data measured in the same run; and how the lookup grows with the
# number of services in the policy.
set -euo pipefail
out=target/bench
raw=$out/gate.txt
cargo bench -q -p applet --bench gate 2>/dev/null | tee "$raw"
ns() { awk -v k="$1" 'index($0, k " ") == 1 && $NF == "ns" { print $(NF - 1) }' "$raw"; }
walk=$(ns "tlv walk")
ratio() { awk -v a="$1" -v b="$walk" 'BEGIN { printf "%.1fx", a / b }'; }
{
  echo "## Policy gate (\`cargo bench -p applet --bench gate\`)"
  echo
  echo "What the per-service security check adds to one gated command, on \`policies/examples/transit.toml\`"
  echo "(service \`metro-fare\`: time window, two geofences incl. a polygon, amount, two limits with counters"
  echo "holding 10 uses, MCC and terminal lists) and 52 bytes of service data. Best of 5 runs of 200,000"
  echo "iterations, release build, one core. No other implementation of a policy gate exists to compare"
  echo "with; the reference is the bare TLV walk of the same data field, measured in the same run."
  echo
  echo "| step | ns per command | ratio to the TLV walk |"
  echo "|---|---:|---:|"
  echo "| TLV walk of the data field (\`applet::tlv::iter\`, the reference) | $walk | 1.0x |"
  echo "| \`service_data::from_tlv\` (two calls per iteration) | $(ns from_tlv) | $(ratio "$(ns from_tlv)") |"
  echo "| \`policies::decide\`, allowed (no allocation) | $(ns "decide allow") | $(ratio "$(ns "decide allow")") |"
  echo "| \`policies::decide\`, denied with 2 reasons (sentences built) | $(ns "decide deny") | $(ratio "$(ns "decide deny")") |"
  echo "| \`gate::check\`, allowed (lookup, TLV, decide, record, new counters) | $(ns "gate::check allow") | $(ratio "$(ns "gate::check allow")") |"
  echo
  echo "How \`gate::check\` grows with the policy (the matching service bound last, the others to other"
  echo "applets, so the lookup walks past all of them):"
  echo
  echo "| services in the policy | ns per command | ratio to 1 service |"
  echo "|---:|---:|---:|"
  one=$(ns "services=1")
  for s in 1 16 256; do
    v=$(ns "services=$s")
    echo "| $s | $v | $(awk -v a="$v" -v b="$one" 'BEGIN { printf "%.2fx", a / b }') |"
  done
  echo
} >"$out/gate.md"
echo "| policy gate step, \`gate::check\` allowed | $(ns "gate::check allow") ns | bare TLV walk of the same data: $walk ns | $(ratio "$(ns "gate::check allow")") | none set; well under one vpcd round trip |" >"$out/gate.summary"
