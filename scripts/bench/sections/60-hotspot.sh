#!/usr/bin/env bash
# Hotspot server: proof round trips, information pushed over SSE against a client polling every
# 100 ms (the peer, same run), and the push fanned out to 1, 10 and 100 listeners.
set -euo pipefail
out=target/bench
raw=$out/hotspot.txt
cargo bench -q -p cardgate --bench hotspot 2>/dev/null | tee "$raw"
# Durations as Rust prints them (ns, µs, ms, s) in microseconds.
us() { awk -v d="$1" 'BEGIN {
  if (d ~ /ms$/) m = 1000; else if (d ~ /µs$/) m = 1; else if (d ~ /ns$/) m = 0.001; else m = 1000000;
  sub(/[a-zµ]+$/, "", d); printf "%.0f", d * m }'; }
field() { awk -v k="$1" -v f="$2" 'index($0, k) == 1 { v = $0; sub(".*" f " ", "", v); sub(/[, ].*/, "", v); print v; exit }' "$raw"; }
proofs=$(awk '/^proof round trips/ { v = $(NF - 2); sub(/\/s$/, "", v); print v }' "$raw")
# A duration in µs, shown in ms from 10 ms up.
show() { awk -v u="$1" 'BEGIN { if (u >= 10000) printf "%.1f ms", u / 1000; else printf "%d µs", u }'; }
push_m=$(us "$(field "push via SSE" median)")
push_p=$(us "$(field "push via SSE" p99)")
poll_m=$(us "$(field "poll every" median)")
poll_p=$(us "$(field "poll every" p99)")
set_m=$(us "$(field "set only" median)")
ratio=$(awk -v a="$poll_m" -v b="$push_m" 'BEGIN { printf "%.0fx", a / b }')
{
  echo "## Hotspot server (\`cargo bench -p cardgate --bench hotspot\`)"
  echo
  echo "The hotspot router on 127.0.0.1 (real HTTP, hyper), SQLite on disk (WAL, \`synchronous=FULL\`, one"
  echo "fsync per write), release build. The peer, in the same run, is a client without push: it polls"
  echo "\`GET .../push\` every 100 ms."
  echo
  echo "| what | cardgate | peer, same run | ratio |"
  echo "|---|---:|---:|---:|"
  echo "| proof round trips (start + complete, sequential, 2 commits each) | ${proofs}/s | – | – |"
  echo "| owner sets information (PUT round trip), median | $(show "$set_m") | – | – |"
  echo "| **push via SSE**: PUT sent → \`info\` event on an open stream, median | **$(show "$push_m")** | polling every 100 ms: $(show "$poll_m") | **${ratio}** |"
  echo "| the same, p99 | $(show "$push_p") | $(show "$poll_p") | $(awk -v a="$poll_p" -v b="$push_p" 'BEGIN { printf "%.0fx", a / b }') |"
  echo
  echo "How the push grows with its listeners (one PUT, until the last open stream has the event; 50 PUTs):"
  echo
  echo "| listeners | median | p99 | median per listener |"
  echo "|---:|---:|---:|---:|"
  for n in 1 10 100; do
    line=$(grep "^fan-out to $n listeners" "$raw")
    m=$(us "$(sed 's/.*median \([^,]*\),.*/\1/' <<<"$line")")
    p=$(us "$(sed 's/.*p99 //' <<<"$line")")
    echo "| $n | $(show "$m") | $(show "$p") | $(awk -v a="$m" -v n="$n" 'BEGIN { printf "%.0f µs", a / n }') |"
  done
  echo
} >"$out/hotspot.md"
echo "| hotspot information pushed (SSE), PUT → event, median | $(show "$push_m") | polling every 100 ms: $(show "$poll_m") | ${ratio} | push, not fetch on request: met |" >"$out/hotspot.summary"
