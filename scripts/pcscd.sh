#!/usr/bin/env bash
# Starts pcscd (with vpcd's virtual readers) in the background unless one is already answering.
# Never sleeps a fixed time: waits for the socket, up to 10 s.
#   scripts/pcscd.sh start   start if needed
#   scripts/pcscd.sh stop    stop the pcscd this script started
set -euo pipefail

sock=/run/pcscd/pcscd.comm
pidfile=${TMPDIR:-/tmp}/cardgate-pcscd.pid
log=${TMPDIR:-/tmp}/cardgate-pcscd.log

running() { [ -S "$sock" ] && pgrep -x pcscd >/dev/null; }

case "${1:-start}" in
  start)
    running && exit 0
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Not --auto-exit: the card must find vpcd listening whenever it connects (design.md, "Facts").
    $sudo rm -f "$sock"
    nohup $sudo pcscd -f >"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 100); do
      running && exit 0
      sleep 0.1
    done
    echo "pcscd did not start; its log ($log):" >&2
    cat "$log" >&2
    exit 1
    ;;
  stop)
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
