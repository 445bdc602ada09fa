#!/usr/bin/env bash
# The machine a benchmark run measured on, as a Markdown list (for BENCHMARKS.md).
set -euo pipefail
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
pcscd_v=$(pcscd --version 2>/dev/null | awk 'NR == 1 { sub(/\.$/, "", $NF); print $NF }' || true)
vpcd_v=$(dpkg-query -W -f '${Version}' vsmartcard-vpcd 2>/dev/null || true)
openssl_v=$(openssl version 2>/dev/null | awk '{ print $2 }' || true)
echo "- when: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- CPU: $cpu, $(nproc) cores available; memory $mem"
echo "- system: $os, Linux $(uname -r); load average at the start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- tools: $(rustc --version), pcscd ${pcscd_v:-?}, vsmartcard-vpcd ${vpcd_v:-?}, OpenSSL ${openssl_v:-?}"
