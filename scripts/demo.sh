#!/usr/bin/env bash
# `make demo`: an emulated card, created in a temporary directory, and a short APDU session on it
# through the in-process reader (`-r emu:PATH`). Each step says what it shows.
set -euo pipefail
cd "$(dirname "$0")/.."
cardgate=${CARDGATE:-target/release/cardgate}
[ -x "$cardgate" ] || cargo build -q --release -p cardgate
dir=$(mktemp -d "${TMPDIR:-/tmp}/cardgate-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
card="$dir/card"
r="emu:$card"

step() { printf '\n\033[1m## %s\033[0m\n' "$*"; }

step "Create a card: the diagnostic applet, PIN 2468, 3 tries"
"$cardgate" card init "$card" --pin 2468

step "SELECT the diagnostic applet by AID: the FCI (6F) carries its AID (84) and label (50)"
"$cardgate" apdu -r "$r" "00A40400 0A F0434152444741544501 00"

step "ECHO, then a command without Le: the card answers 61xx and the host fetches the data with GET RESPONSE"
"$cardgate" apdu -r "$r" "80100000 03 C0FFEE 00" "80100000 03 C0FFEE"

step "ANSWER 20 bytes with Le=08: 6C14 says 'wrong Le, 20 available'; the host resends with Le=14"
"$cardgate" apdu -r "$r" "8012001408"

step "Command chaining: three parts (CLA 90 = 80 + chaining bit); the applet sees one 9-byte command and answers its length and SHA-256"
"$cardgate" apdu -r "$r" "90140000 03 010203" "90140000 03 040506" "80140000 03 070809 00"

step "A persistent counter in transactions: commit, abort (rolled back), left open (the runtime aborts it)"
"$cardgate" apdu -r "$r" "8022000004" "8022010004" "8022020004" "8020000004"

step "PIN: a wrong try (63C2), an empty VERIFY that asks without spending (63C2), the right PIN, then a PIN-protected command"
"$cardgate" apdu -r "$r" "0020008104 31313131" "00200081" "0020008104 32343638" "80240000" "8020000004"

step "Logical channels: MANAGE CHANNEL opens channel 1 with the default applet; CLA 81 talks to it"
"$cardgate" apdu -r "$r" "0070000001" "81100000 02 0101 00"

step "A new session (another process, as after a power cycle): the counter persisted, the PIN validation did not"
"$cardgate" apdu -r "$r" "8022000004" "00200081"

step "What the card holds (secrets are listed, never shown)"
"$cardgate" card show "$card"
