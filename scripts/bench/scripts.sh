#!/usr/bin/env bash
# Scripted sessions: one scriptor-format script of N APDUs (SELECT, then ECHO of 8 bytes), run by
# pcsc-tools' scriptor and by `cardgate run` against the same card served in "Virtual PCD 00 00"
# (pcscd + vpcd), in the same run; plus cardgate on the in-process card (`-r emu:`), on a recording
# (`--replay`), and the extended dialect with an expectation on every line. The runs are
# interleaved, SCRIPT_BENCH_ROUNDS times (default 7); prints the median µs per APDU, process start
# included, and the ratio scriptor / cardgate. SCRIPT_BENCH_N: APDUs per run (default 2000).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${SCRIPT_BENCH_N:-2000}
rounds=${SCRIPT_BENCH_ROUNDS:-7}
reader="Virtual PCD 00 00"
bin=target/release/cardgate
cargo build --release --quiet -p cardgate
scripts/pcscd.sh start
dir=$(mktemp -d)
serve=""
cleanup() {
  [ -n "$serve" ] && kill "$serve" 2>/dev/null && wait "$serve" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

# The vpcd lock, as the tests take it: one card per slot.
exec 9>/tmp/cardgate-vpcd.lock
flock 9

{
  echo "00 A4 04 00 0A F0 43 41 52 44 47 41 54 45 01 00"
  for _ in $(seq "$n"); do echo "80 10 00 00 08 01 02 03 04 05 06 07 08 00"; done
} >"$dir/echo.script"
{
  echo "#!cardgate"
  echo "select F0 \"CARDGATE\" 01 => 6F * 9000"
  for _ in $(seq "$n"); do echo "80 10 00 00 {0102030405060708} 00 => 0102030405060708 9000"; done
} >"$dir/echo.cg"

"$bin" card init "$dir/card.state" >/dev/null
"$bin" card serve "$dir/card.state" --vpcd 127.0.0.1:35963 --ready-file "$dir/ready" 2>"$dir/serve.log" &
serve=$!
for _ in $(seq 500); do
  [ -e "$dir/ready" ] && "$bin" readers --json | grep -q "\"card\":true,[^}]*\"name\":\"$reader\"" && break
  sleep 0.02
done

# time_us CMD...: runs CMD with stdout to a file, prints the wall time in µs.
time_us() {
  local start end
  start=$(date +%s%N)
  "$@" >"$dir/out" 2>"$dir/err" || { echo "failed: $*" >&2; cat "$dir/err" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
}

apdus=$((n + 1))
"$bin" card init "$dir/card2.state" >/dev/null
: >"$dir/times"
for round in $(seq "$rounds"); do
  t=$(time_us scriptor -r "$reader" "$dir/echo.script")
  grep -q "< 01 02 03 04 05 06 07 08 90 00" "$dir/out"
  echo "scriptor $t" >>"$dir/times"
  t=$(time_us "$bin" run -r "$reader" "$dir/echo.script")
  grep -q "< 01 02 03 04 05 06 07 08 90 00" "$dir/out"
  echo "ours $t" >>"$dir/times"
  t=$(time_us "$bin" run -r "$reader" "$dir/echo.cg")
  [ "$(grep -c "^   ok " "$dir/out")" -eq "$apdus" ]
  echo "extended $t" >>"$dir/times"
  rm -f "$dir/session.dump"
  t=$(time_us "$bin" run -r "emu:$dir/card2.state" --record "$dir/session.dump" "$dir/echo.script")
  echo "emu $t" >>"$dir/times"
  t=$(time_us "$bin" run --replay "$dir/session.dump" "$dir/echo.script")
  echo "replay $t" >>"$dir/times"
done

# median KIND: the median time of that kind, in µs.
median() { awk -v k="$1" '$1 == k { print $2 }' "$dir/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
per() { awk -v t="$1" -v n="$apdus" 'BEGIN { printf "%.1f", t / n }'; }
row() { local m; m=$(median "$2"); echo "| $1 | $((m / 1000)) | $(per "$m") |"; }
echo "| run ($apdus APDUs, process start included; median of $rounds) | total ms | µs per APDU |"
echo "|---|---:|---:|"
row "scriptor, pcscd + vpcd" scriptor
row "cardgate run, scriptor format, pcscd + vpcd" ours
row "cardgate run, extended dialect (=> on every line), pcscd + vpcd" extended
row "cardgate run, in-process card (emu:), recording" emu
row "cardgate run --replay" replay
awk -v a="$(median scriptor)" -v b="$(median ours)" 'BEGIN { printf "ratio scriptor / cardgate run (pcscd + vpcd, medians): %.2fx\n", a / b }'
echo "result $apdus $(median scriptor) $(median ours) $(median extended) $(median emu) $(median replay)"
