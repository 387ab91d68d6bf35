#!/usr/bin/env bash
# Relay start-up at scale (not a test; issue 16): seeds a database with N events
# (`postern dev-seed-chain`), then starts each given binary on it RUNS times and reports the
# time from spawn to the first 200 of /api/health and the peak resident memory (VmHWM) then.
#
#   N=100000 BIN=target/release/postern BASE_BIN=/tmp/postern-before bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
RUNS=${RUNS:-3}
BIN=${BIN:-target/release/postern}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build -q --release --locked -p postern-relay --bin postern
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
"$BIN" dev-seed-chain --data "$work/data" --events "$N" --authors 16 >/dev/null
mkdir -p "$work/web"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for bin in ${BASE_BIN:+"$BASE_BIN"} "$BIN"; do
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    POSTERN_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data "$work/data" --web "$work/web" \
      >"$work/out" 2>"$work/log" &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; do
      kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
      sleep 0.02
    done
    t1=$(date +%s.%N)
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    printf '%s  %d events: start to /api/health %.2f s, peak RSS %d MB   load %s\n' \
      "$bin" "$N" "$(echo "$t1 - $t0" | bc -l)" "$((hwm / 1024))" "$(load)"
  done
done
