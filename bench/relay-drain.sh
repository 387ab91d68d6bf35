#!/usr/bin/env bash
# Relay-to-relay drain benchmark (not a test; issue 16): relay S drains an outbox of N_GEN chain
# events (batches of 50) into a fresh relay R, timed from S's start until R holds them all, with
# both relays' CPU time. S is each binary given (alternate them for back-to-back pairs), R is
# always $BIN. The outbox is seeded once (S's database: the chain pushed in by `bench_push`, then
# one `replication_outbox` row per batch for R, written with python3's sqlite3) and copied for
# each run, so every sender starts from the same rows (pending rows are due at once on start).
#
#   bench/relay-drain.sh /work/bin/postern-s12 target/release/postern /work/bin/postern-s12 target/release/postern
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N_GEN:-20000}
BIN=${BIN:-target/release/postern}
PUSH=${PUSH:-target/release/examples/bench_push}
W=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
SEC=drain-secret SURL=http://127.0.0.1:9 XURL=http://127.0.0.1:8
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
count() { curl -sf "$1/api/mesh/infonet/status" | sed -n 's/.*"total_events":\([0-9]*\).*/\1/p'; }
start() { # bin data port extra... ; pid in data.pid
  local b=$1 d=$2 p=$3; shift 3; mkdir -p "$d" "$W/web"
  POSTERN_LOG=warn "$b" serve --listen "127.0.0.1:$p" --data "$d" --web "$W/web" \
    --rate-limit-per-min 0 --read-rate-limit-per-min 0 "$@" >"$d.out" 2>"$d.log" &
  pids+=($!); echo $! >"$d.pid"
  for _ in $(seq 3000); do grep -q 'listening on' "$d.out" 2>/dev/null && break; sleep 0.01; done
  grep -q 'listening on' "$d.out" || { cat "$d.log" >&2; exit 1; }
}
stop() { local p; p=$(cat "$1.pid"); kill "$p"; wait "$p" 2>/dev/null || true; }
PR=$(port) # R's port: the outbox rows name it
PS=$(port)
start "$BIN" "$W/seed" "$PS" --public-url "$SURL" --peer "$XURL=$SEC"
"$PUSH" "http://127.0.0.1:$PS" "$XURL" "$SEC" "gen:$N" 50 8 >/dev/null
stop "$W/seed"
python3 - "$W/seed/postern.sqlite3" "http://127.0.0.1:$PR" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
ev = [r[0] for r in c.execute("SELECT event FROM infonet_chain ORDER BY idx")]
for i in range(0, len(ev), 50):
    c.execute("INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)"
              " VALUES (?, '/api/mesh/infonet/peer-push', ?, 0, 0, 0)",
              (sys.argv[2], '{"events":[' + ",".join(ev[i:i + 50]) + "]}"))
c.commit()
PY
echo "== drain of $N events (batches of 50) from S into a fresh R ($BIN)"
for b in "$@"; do
  rm -rf "$W/r" "$W/s"; cp -r "$W/seed" "$W/s"
  start "$BIN" "$W/r" "$PR" --peer "$SURL=$SEC"
  rpid=$(cat "$W/r.pid"); r0=$(cpu "$rpid")
  PS=$(port); t0=$(date +%s.%N)
  start "$b" "$W/s" "$PS" --public-url "$SURL" --peer "$XURL=$SEC" --peer "http://127.0.0.1:$PR=$SEC"
  spid=$(cat "$W/s.pid")
  until [ "$(count "http://127.0.0.1:$PR")" = "$N" ]; do sleep 0.05; done
  t1=$(date +%s.%N); r1=$(cpu "$rpid"); s1=$(cpu "$spid"); tck=$(getconf CLK_TCK)
  printf '%s drain %s events: %.2f s, %.0f events/s, CPU receiver %.2f s sender %.2f s   load %s\n' \
    "$b" "$N" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$N / ($t1 - $t0)" | bc -l)" \
    "$(echo "($r1 - $r0) / $tck" | bc -l)" "$(echo "$s1 / $tck" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  stop "$W/s"; stop "$W/r"
done
