#!/usr/bin/env bash
# Relay -> relay replication through the durable outbox (not a test; issue 16): relay S starts
# with N events (a `dev-seed-chain` chain, 16 authors) as `infonet/peer-push` rows of 50 in its
# outbox for relay R, its own chain empty (so R can get them only from those rows); prints the
# time from S's start until R reports N events, both relays' CPU (user + system) and the load.
#
#   bench/relay-outbox.sh SENDER_BIN N [RECEIVER_BIN]     # receiver defaults to the sender's binary
set -euo pipefail
B=$1; N=$2; RB=${3:-$1}
w=$(mktemp -d); mkdir -p "$w/web"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$w"; }
trap cleanup EXIT
"$B" dev-seed-chain --data "$w/seed" --events "$N" >/dev/null
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ps=$(fp); pr=$(fp); us=http://127.0.0.1:$ps; ur=http://127.0.0.1:$pr
serve() { # bin name port peer
  local bin=$1 name=$2 port=$3 peer=$4; mkdir -p "$w/$name"; : >"$w/$name.out"
  POSTERN_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data "$w/$name" --web "$w/web" \
    --public-url "http://127.0.0.1:$port" --peer "$peer=bench-secret" --sync-interval-secs 3600 \
    --rate-limit-per-min 0 --read-rate-limit-per-min 0 >"$w/$name.out" 2>"$w/$name.log" &
  pids+=($!); echo $! >"$w/$name.pid"
  for _ in $(seq 3000); do grep -q 'listening on' "$w/$name.out" 2>/dev/null && break; sleep 0.01; done
}
cpu() { awk '{print $14 + $15}' "/proc/$(cat "$w/$1.pid")/stat"; }
serve "$RB" r "$pr" "$us"
# S once to create its database (no rows yet), then its outbox is filled while it is stopped.
serve "$B" s "$ps" "$ur"; kill -9 "$(cat "$w/s.pid")"; wait "$(cat "$w/s.pid")" 2>/dev/null || true
python3 - "$w/s/postern.sqlite3" "$w/seed/postern.sqlite3" "$ur" <<'PY'
import sqlite3, sys
s = sqlite3.connect(sys.argv[1]); src = sqlite3.connect(sys.argv[2])
ev = [r[0] for r in src.execute("SELECT event FROM infonet_chain ORDER BY idx")]
for i in range(0, len(ev), 50):
    s.execute("INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)"
              " VALUES (?, '/api/mesh/infonet/peer-push', ?, 0, 0, 0)",
              (sys.argv[3], '{"events":[' + ",".join(ev[i:i + 50]) + ']}'))
s.commit()
PY
t0=$(date +%s.%N)
serve "$B" s "$ps" "$ur"
r0=$(cpu r); s0=$(cpu s)
until [ "$(curl -sf "$ur/api/mesh/infonet/status" | sed -n 's/.*"total_events":\([0-9]*\).*/\1/p')" = "$N" ]; do
  sleep 0.05
done
t1=$(date +%s.%N); r1=$(cpu r); s1=$(cpu s)
tck=$(getconf CLK_TCK)
python3 -c "t=$t1-$t0; print('S %s -> R %s: %d events through the outbox in %.2f s (%.0f events/s), CPU R %d ms, S %d ms, load %s' % ('$(basename "$B")', '$(basename "$RB")', $N, t, $N/t, ($r1-$r0)*1000/$tck, ($s1-$s0)*1000/$tck, open('/proc/loadavg').read().split()[0]))"
