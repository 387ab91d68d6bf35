#!/usr/bin/env bash
# Relay start-up at scale (not a test; issue 16): seeds a database with N events
# (`postern dev-seed-chain`, with BASE_BIN when given so the older binary can open it), then
# starts each given binary on it RUNS times and reports the time from spawn to the first 200
# of /api/health, the peak resident memory (VmHWM) then, the resident memory after IDLE
# seconds of idling (VmRSS), and, for binaries with a chain-state checkpoint, what the start
# used (checkpoint height, events replayed; from /metrics, served with --public-status) and
# the CPU time it took. Each run ends with SIGTERM.
#
# The first run of a checkpointing BIN on a database without a checkpoint replays every event
# and writes one; later runs start from it. DROP_CHECKPOINT=1 deletes it before every run of
# BIN (every run then replays the whole chain).
#
#   N=100000 BIN=target/release/postern BASE_BIN=/tmp/postern-before bench/startup.sh
#   N=1000000 RUNS=3 SKIP_BUILD=1 BASE_BIN=/tmp/postern-main SEED_DIR=/tmp/seed-1m bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
RUNS=${RUNS:-3}  # BASE_RUNS: runs of BASE_BIN (default RUNS)
IDLE=${IDLE:-5}
BIN=${BIN:-target/release/postern}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build -q --release --locked -p postern-relay --bin postern
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
seed() {
  t0=$(date +%s.%N)
  "${BASE_BIN:-$BIN}" dev-seed-chain --data "$1" --events "$N" --authors 16 >/dev/null
  printf 'seeded %d events in %.0f s (load %s)\n' "$N" "$(echo "$(date +%s.%N) - $t0" | bc -l)" "$(load)"
}
# SEED_DIR: keep the seeded database there (seeded once) and run on a copy of it.
if [ -n "${SEED_DIR:-}" ]; then
  [ -f "$SEED_DIR/postern.sqlite3" ] || seed "$SEED_DIR"
  mkdir -p "$work/data" && cp "$SEED_DIR/postern.sqlite3" "$work/data/"
else
  seed "$work/data"
fi
mkdir -p "$work/web"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
drop_checkpoint() {
  python3 - "$work/data/postern.sqlite3" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'chain_checkpoint'").fetchone():
    c.execute("DELETE FROM chain_checkpoint")
    c.commit()
EOF
}
for bin in ${BASE_BIN:+"$BASE_BIN"} "$BIN"; do
  runs=$RUNS
  if [ "$bin" = "${BASE_BIN:-}" ]; then runs=${BASE_RUNS:-$RUNS}; fi
  for _ in $(seq "$runs"); do
    if [ -n "${DROP_CHECKPOINT:-}" ] && [ "$bin" = "$BIN" ]; then drop_checkpoint; fi
    t0=$(date +%s.%N)
    POSTERN_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data "$work/data" --web "$work/web" --public-status \
      >"$work/out" 2>"$work/log" &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; do
      kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
      sleep 0.02
    done
    t1=$(date +%s.%N)
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    # CPU time used by then (user + system, clock ticks): less sensitive to load than wall time.
    cpu=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    from=$(metric postern_chain_startup_checkpoint_height || true)
    replayed=$(metric postern_chain_startup_replayed_events || true)
    sleep "$IDLE"
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    printf '%s  %d events: start to /api/health %.2f s (CPU %.2f s), peak RSS %d MB, idle RSS %d MB, checkpoint %s replayed %s   load %s\n' \
      "$bin" "$N" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$cpu / $(getconf CLK_TCK)" | bc -l)" \
      "$((hwm / 1024))" "$((rss / 1024))" \
      "${from:--}" "${replayed:--}" "$(load)"
    grep -i warn "$work/log" | head -2 || true
  done
done
