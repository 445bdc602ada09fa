#!/usr/bin/env bash
# Card runtime, in-process (section "runtime" of BENCHMARKS.md): `cargo bench -p applet --bench
# dispatch` (echo, SELECT, PIN verify, committed updates, gated services, GENERATE PAYMENT CODE, and
# tables over sizes), beside, in the same run, vsmartcard's vicc card OS called in-process
# (scripts/bench/vicc_dispatch.py) and `openssl speed ecdsap256` (run before and after: the limit
# for payment codes, one core). Writes target/bench/runtime.md and runtime.summary.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=target/bench
mkdir -p "$out"
secs=$([ -n "${BENCH_QUICK:-}" ] && echo 1 || echo 3)

openssl_signs() { openssl speed -seconds "$secs" ecdsap256 2>/dev/null | awk '/ecdsa \(nistp256\)/ { print $(NF - 1) }'; }

echo "openssl speed -seconds $secs ecdsap256 (before)"
ossl_before=$(openssl_signs)
echo "cargo bench -p applet --bench dispatch"
cargo bench -q -p applet --bench dispatch 2>/dev/null | tee "$out/runtime.txt"
echo "openssl speed -seconds $secs ecdsap256 (after)"
ossl_after=$(openssl_signs)
echo "peer: vicc in-process"
/usr/bin/python3 scripts/bench/vicc_dispatch.py | tee "$out/runtime-vicc.txt"
ossl=$(awk -v a="$ossl_before" -v b="$ossl_after" 'BEGIN { printf "%.0f", (a + b) / 2 }')
echo "OpenSSL ECDSA P-256 signs/s: $ossl_before before, $ossl_after after"

# ours KEY FIELD: field 1 (ops/s), 2 (ns/op) or 3 (allocations/op) of the dispatch run's "result" lines.
ours() { awk -v k="$1" -v f="$2" '$1 == "result" && $2 == k { print $(f + 2) }' "$out/runtime.txt"; }
vicc() { awk -v k="$1" '$1 == "result" && $2 == k { print $3 }' "$out/runtime-vicc.txt"; }
# Formatting helpers.
rate() { awk -v x="$1" 'BEGIN { if (x >= 1e6) printf "%.2f M/s", x / 1e6; else if (x >= 1e4) printf "%.1f k/s", x / 1e3; else printf "%.0f/s", x }'; }
ns() { awk -v x="$1" 'BEGIN { if (x >= 1e6) printf "%.2f ms", x / 1e6; else if (x >= 1e4) printf "%.1f µs", x / 1e3; else printf "%.0f ns", x }'; }
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN { if (b > 0) printf "%." d "fx", a / b; else print "–" }'; }

{
  echo "## Card runtime: in-process APDU dispatch"
  echo
  echo "Command: \`BENCH_ONLY=runtime scripts/bench.sh\` (\`scripts/bench/sections/10-runtime.sh\`), i.e."
  echo "\`cargo bench -p applet --bench dispatch\` (release build, one core, the card called with"
  echo "\`Card::process_into\` and a reused response buffer; median of $([ -n "${BENCH_QUICK:-}" ] && echo "3 batches of ~0.1 s" || echo "7 batches of ~0.6 s"); allocations counted by a"
  echo "counting allocator), and in the same run the peer, \`python3 scripts/bench/vicc_dispatch.py\`"
  echo "(vsmartcard's vicc 0.8 card OS, Debian \`python3-virtualsmartcard\`, called in-process with"
  echo "\`Iso7816OS.execute\`), and \`openssl speed -seconds $secs ecdsap256\` before and after the"
  echo "benchmark (ECDSA P-256 signs/s on one core: $ossl_before before, $ossl_after after; the mean, $ossl, is the limit used)."
  echo
  echo "| operation | cardgate ns/op | cardgate ops/s | allocations/op | peer, same run | peer ops/s | ratio |"
  echo "|---|---:|---:|---:|---|---:|---:|"
  row() { # key, name, peer name, peer ops/s, decimals of the ratio
    local o n a
    o=$(ours "$1" 1)
    [ -z "$o" ] && return 0
    n=$(ours "$1" 2)
    a=$(ours "$1" 3)
    if [ -n "${4:-}" ]; then
      echo "| $2 | $(ns "$n") | $(rate "$o") | $a | $3 | $(rate "$4") | $(ratio "$o" "$4" "${5:-0}") |"
    else
      echo "| $2 | $(ns "$n") | $(rate "$o") | $a | ${3:-–} | – | – |"
    fi
  }
  row echo "ECHO, 4 bytes (\`80 10\`, case 4)" "vicc GET CHALLENGE, 8 bytes" "$(vicc echo)"
  row echo_vec "the same through \`Card::process\` (returns a new \`Vec\`)"
  row select "SELECT by AID, two applets alternating (deselect, select, FCI)" "vicc SELECT MF by file id" "$(vicc select)"
  row pin_verify "**PIN verify** (VERIFY \`00 20 00 81\`, diag's OwnerPIN, the right PIN)" "vicc VERIFY, its PIN 1234" "$(vicc pin_verify)"
  row counter_update "counter update, committed (a service in a runtime transaction, the applet's own inside)" "vicc UPDATE BINARY, 4 bytes, in memory" "$(vicc counter_update)"
  row service_ungated "service (diag USE, 25 bytes of service data), no policy"
  row service_gated "the same service, policy-gated and allowed (decision + counters committed)"
  row service_denied "the same service, denied by the gate (\`6985\`, 2 reasons; nothing written)"
  row payment_code "**GENERATE PAYMENT CODE**, policy-gated (credit wallet \`A0 00 00 08 58 01 01\`)" "OpenSSL ECDSA P-256 sign (the limit)" "$ossl" 2
  row echo_file "ECHO on a file-backed card (\`FileCard\`; nothing changed, nothing written)"
  row counter_update_file "counter update, committed **and saved** (temp file, fsync, rename, fsync dir)"
  row counter_update_tmpfs "the same on tmpfs (\`/dev/shm\`: encoding and writing the state, without the disk)"
  echo
  echo "vicc has no echo, no AID selection and no persistent memory: the closest commands are measured."
  echo
  echo "### Payment codes against the signature"
  echo
  echo "The credit wallet personalized as the issuer does it (key generated on the card, issuer key,"
  echo "issuer-signed payment code); the command carries amount, currency, date, time, unpredictable"
  echo "number and merchant category (47 bytes). The gated row's policy is"
  echo "\`policies/examples/offline-payment.toml\`'s rules (validity, amount range and CVM limit, day limit,"
  echo "offline counter, denied categories) with limits that do not run out."
  echo
  echo "| what, one core | per second | µs each | ratio to OpenSSL's sign | ratio to aws-lc-rs's sign |"
  echo "|---|---:|---:|---:|---:|"
  s=$(ours sign 1)
  prow() { # key name
    local o
    o=$(ours "$1" 1)
    [ -z "$o" ] && return 0
    echo "| $2 | $(rate "$o") | $(awk -v x="$o" 'BEGIN { printf "%.1f", 1e6 / x }') | $(ratio "$o" "$ossl" 2) | $(ratio "$o" "$s" 2) |"
  }
  echo "| OpenSSL \`speed ecdsap256\`, sign (the limit, same run) | $(rate "$ossl") | $(awk -v x="$ossl" 'BEGIN { printf "%.1f", 1e6 / x }') | 1x | $(ratio "$ossl" "$s" 2) |"
  prow sign "aws-lc-rs ECDSA P-256 sign alone, key parsed once (the card's library)"
  prow sign_pkcs8 "aws-lc-rs sign with the key parsed from PKCS #8 each time (what the card did before)"
  prow payment_code "**GENERATE PAYMENT CODE, policy-gated** (the card, end to end)"
  prow payment_code_ungated "GENERATE PAYMENT CODE, no policy"
  echo
  echo "### How the cost grows with the work"
  echo
  echo "| benchmark | size | ns/op | ops/s | allocations/op | relative to the smallest |"
  echo "|---|---|---:|---:|---:|---:|"
  srow() { # bench, first key, then key:label...
    local bench=$1 base
    shift
    base=$(ours "${1%%:*}" 2)
    for kv in "$@"; do
      local k=${kv%%:*} label=${kv#*:} n
      n=$(ours "$k" 2)
      [ -z "$n" ] && continue
      echo "| $bench | $label | $(ns "$n") | $(rate "$(ours "$k" 1)") | $(ours "$k" 3) | $(ratio "$n" "$base" 2) |"
    done
  }
  srow "ECHO (data echoed)" "echo_4:4 bytes" "echo_255:255 bytes" "echo_4096:4096 bytes (extended length)"
  srow "SELECT by AID, card with 64 applets" "select_2:cycling through 2" "select_16:cycling through 16" "select_64:cycling through 64"
  srow "persistent write, committed (diag ALLOCATE)" "write_4:4 bytes" "write_256:256 bytes" "write_2048:2048 bytes"
  srow "gated service, policy binding N services" "gated_1:1 service" "gated_4:4 services" "gated_16:16 services"
  echo
} >"$out/runtime.md"

echo_ops=$(ours echo 1)
pay=$(ours payment_code 1)
sign=$(ours sign 1)
{
  met=$(awk -v x="$echo_ops" 'BEGIN { print (x > 1e6) ? "met" : "**not met**" }')
  echo "| in-process APDU dispatch, ECHO, 1 core | $(rate "$echo_ops") | vicc in-process (GET CHALLENGE): $(rate "$(vicc echo)") | $(ratio "$echo_ops" "$(vicc echo)" 0) | > 1 M echo/s per core: $met |"
  bound=$(awk -v p="$pay" -v s="$sign" 'BEGIN { print (p >= 0.8 * s) ? "met" : "**not met**" }')
  echo "| GENERATE PAYMENT CODE, policy-gated, 1 core | $(rate "$pay") | OpenSSL ECDSA P-256 sign: $(rate "$ossl"); aws-lc-rs sign alone: $(rate "$sign") | $(ratio "$pay" "$ossl" 2) of OpenSSL; $(ratio "$pay" "$sign" 2) of the bare signature | limited by the signature (≥ 0.8 of the bare signature): $bound |"
  echo "| PIN verify, in-process | $(rate "$(ours pin_verify 1)") | vicc VERIFY: $(rate "$(vicc pin_verify)") | $(ratio "$(ours pin_verify 1)" "$(vicc pin_verify)" 0) | none set (reported) |"
} >"$out/runtime.summary"
echo "runtime: $out/runtime.md written"
