#!/usr/bin/env bash
# `make demo`: offline credit payment end to end, on this machine only.
#
# An emulated card in vsmartcard's virtual reader (pcscd + vpcd, "Virtual PCD 00 00"), the issuer
# server on SQLite in a temporary directory, and two merchants. The issuer personalizes the card; the
# card presents a payment code as a QR code (terminal and PNG), after its policy gate allowed it (and
# refuses a presentation to a denied merchant before the wallet runs); merchant A accepts it from the PNG,
# offline; the same code is replayed at merchant B, which cannot know; both settle at a time a few
# seconds ahead; the verdicts show the replay caught. Everything started here is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
cardgate=${CARDGATE:-$PWD/target/release/cardgate}
[ -x "$cardgate" ] || cargo build -q --release -p cardgate
reader="Virtual PCD 00 00"

dir=$(mktemp -d "${TMPDIR:-/tmp}/cardgate-demo.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

step() { printf '\n\033[1m## %s\033[0m\n' "$*"; }
wait_for() { # FILE WHAT: waits up to 20 s for FILE to exist
  for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "demo: $2 did not start; see $dir" >&2
  return 1
}

# Only one card can sit in a vpcd slot: hold the machine-wide lock that tests and benches use.
exec 9>/tmp/cardgate-vpcd.lock
flock 9

step "An emulated card (the diagnostic applet and the credit wallet, PIN 1234) that enforces policies/examples/offline-payment.toml before the wallet runs, served to pcscd through vpcd"
"$cardgate" card init "$dir/card" --policy policies/examples/offline-payment.toml --admin-pin 87654321
"$cardgate" card serve "$dir/card" --ready-file "$dir/card.ready" 2>"$dir/card.log" &
pids+=($!)
wait_for "$dir/card.ready" "the card"
"$cardgate" readers

step "The issuer server: JSON over HTTP, SQLite in $dir/issuer; the issuer key is generated now"
"$cardgate" server --data "$dir/issuer" --listen 127.0.0.1:0 --ready-file "$dir/server.ready" \
  >"$dir/server.out" 2>"$dir/server.log" &
pids+=($!)
wait_for "$dir/server.ready" "the issuer server"
url=$(cat "$dir/server.ready")
admin=(--server "$url" --admin-token-file "$dir/issuer/admin.token")
"$cardgate" issuer keys --server "$url"

step "An account with a credit line of 500.00 CNY, and two grocery merchants (category 5411)"
"$cardgate" issuer create-account "${admin[@]}" --account alice --credit-limit 500.00 --currency CNY
"$cardgate" merchant register "${admin[@]}" --id SHOP-A --name "Shop A" --mcc 5411 --queue "$dir/shop-a.db"
"$cardgate" merchant register "${admin[@]}" --id SHOP-B --name "Shop B" --mcc 5411 --queue "$dir/shop-b.db"

step "Issue: the card generates its own key; the issuer signs a code for it (1 day, 5 uses, up to 200.00, groceries); the card checks and stores it"
"$cardgate" issue -r "$reader" "${admin[@]}" --account alice --valid-for 1day --uses 5 --threshold 200.00 --payee-mcc 5411

step "Present: the card signs counter, time, the terminal's random number, the amount and the code's hash; the QR code, in the terminal and as a PNG"
"$cardgate" present -r "$reader" --amount 12.50 --merchant SHOP-A --mcc 5411 --png "$dir/code.png"

step "The card's policy refuses, before the wallet runs, a presentation to a merchant the issuer denies (exit code 1)"
"$cardgate" present -r "$reader" --amount 12.50 --merchant FRAUD-0001 --mcc 5411 --text || echo "(exit code $?)"

step "Merchant A, offline: decode the PNG, check both signatures and the security content, queue the payment"
"$cardgate" accept --qr "$dir/code.png" --amount 12.50 --queue "$dir/shop-a.db"

step "The same QR code again at merchant A: refused offline (exit code 3)"
"$cardgate" accept --qr "$dir/code.png" --amount 12.50 --queue "$dir/shop-a.db" || echo "(exit code $?)"

step "The same QR code replayed at merchant B: B has never seen it, so it accepts it offline"
"$cardgate" accept --qr "$dir/code.png" --amount 12.50 --queue "$dir/shop-b.db"

at_a=$(date -d '+4 seconds' +%H:%M:%S)
at_b=$(date -d '+6 seconds' +%H:%M:%S)
step "Settlement at the predetermined times: merchant B at $at_b (in the background), merchant A at $at_a"
"$cardgate" settle --queue "$dir/shop-b.db" --at "$at_b" >"$dir/settle-b.out" 2>&1 &
settle_b=$!
"$cardgate" settle --queue "$dir/shop-a.db" --at "$at_a"
wait "$settle_b"
cat "$dir/settle-b.out"

step "The verdicts each merchant holds: A accepted, B's replay rejected as a double spend and flagged"
"$cardgate" merchant show --queue "$dir/shop-a.db"
"$cardgate" merchant show --queue "$dir/shop-b.db"

step "The account was debited once"
"$cardgate" issuer account "${admin[@]}" alice
