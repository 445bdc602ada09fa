#!/usr/bin/env bash
# Installs the Debian packages cardgate needs, if any is missing. Idempotent; silent when all are there.
set -euo pipefail

packages=(pcscd libpcsclite-dev pkg-config vsmartcard-vpcd vsmartcard-vpicc opensc pcsc-tools python3-pyscard
  openssl zbar-tools) # the last two: peers in the payment benchmark (openssl speed, zbarimg)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
