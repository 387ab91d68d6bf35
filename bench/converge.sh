#!/usr/bin/env bash
# Convergence after a partition (not a test; issue 13): relay A holds N events (pushed by a
# peer in batches of 50) while B and C are cut off; then B and C start, peered with A and each
# other (full mesh, pushes on, sync interval 1 s). Reports the time from B and C starting
# until all three relays report the same head over the N events, with the machine load.
#
#   bench/converge.sh                 # N=100000, builds release binaries first
#   N=10000 SKIP_BUILD=1 bench/converge.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
BIN=${BIN:-target/release/postern}
PUSH=${PUSH:-target/release/examples/bench_push}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build -q --release --locked -p postern-relay --bin postern --example bench_push
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
SELF=http://127.0.0.1:9
SECRET=bench-secret
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pa=$(free_port); pb=$(free_port); pc=$(free_port)
ua=http://127.0.0.1:$pa; ub=http://127.0.0.1:$pb; uc=http://127.0.0.1:$pc
mkdir -p "$work/web"

serve() { # name port peers...
  local name=$1 port=$2; shift 2
  mkdir -p "$work/$name"
  POSTERN_LOG=warn "$BIN" serve --listen "127.0.0.1:$port" --data "$work/$name" --web "$work/web" \
    --public-url "http://127.0.0.1:$port" --sync-interval-secs 1 \
    --rate-limit-per-min 0 --read-rate-limit-per-min 0 "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 3000); do grep -q 'listening on' "$work/$name.out" 2>/dev/null && break; sleep 0.01; done
  grep -q 'listening on' "$work/$name.out" || { cat "$work/$name.log" >&2; exit 1; }
}
status() { curl -sf "$1/api/mesh/infonet/status" | jq -r '"\(.head_hash_full) \(.total_events)"'; }

# Partition: A alone receives the N-event history.
serve a "$pa" --peer "$SELF=$SECRET" --peer "$ub=$SECRET" --peer "$uc=$SECRET"
"$PUSH" "$ua" "$SELF" "$SECRET" "gen:$N" 50 >/dev/null
echo "A holds $(status "$ua" | cut -d' ' -f2) events   load $(load)"
t0=$(date +%s.%N)
serve b "$pb" --peer "$ua=$SECRET" --peer "$uc=$SECRET"
serve c "$pc" --peer "$ua=$SECRET" --peer "$ub=$SECRET"
want=$((N))
until sa=$(status "$ua") && [ "$sa" = "$(status "$ub")" ] && [ "$sa" = "$(status "$uc")" ] \
      && [ "${sa#* }" -ge "$want" ]; do sleep 0.05; done
t1=$(date +%s.%N)
printf '3 relays converged on %s events: %.2f s after B and C joined   load %s\n' \
  "${sa#* }" "$(echo "$t1 - $t0" | bc -l)" "$(load)"
