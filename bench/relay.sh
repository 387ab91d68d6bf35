#!/usr/bin/env bash
# Relay-side benchmarks (not a test; issue 16): peer-push ingest of the shared 400-event
# interleaved chain and of core's generated chain (`chaingen`), batches of 50 events, one request
# at a time (IN_FLIGHT=1, a Shadowbroker peer) and/or windows of IN_FLIGHT requests at once (our
# push worker; SLIDE=1 a sliding window as our push worker sends, SLIDE=0 lockstep windows,
# SLIDE="0 1" both in turn), into a fresh relay each run, with the relay's CPU time; DM deposits (fresh
# envelopes) at CONNS connections, with the relay's CPU time per deposit; optionally pull sync
# of a whole chain from a peer. One or two `postern` binaries side by side in the same run
# (BASE_BIN = the before binary). Prints one line per run with the machine load.
#
#   bench/relay.sh                                        # builds release binaries first
#   BASE_BIN=/tmp/postern-before RUNS=5 bench/relay.sh
#   N_GEN=100000 N_PULL=100000 SKIP_BUILD=1 bench/relay.sh
#   N_DEPOSIT=0 N_PULL=100000 SKIP_BUILD=1 bench/relay.sh     # peer-push and pull only
#   N_DEPOSIT=0 N_GEN=20000 IN_FLIGHT=8 SLIDE="0 1" bench/relay.sh  # lockstep vs sliding
#   N_GEN=0 N_DEPOSIT=0 N_PULL=100000 PULL_SEED=/tmp/seed-100k bench/relay.sh   # pull only
set -euo pipefail
cd "$(dirname "$0")/.."
N_GEN=${N_GEN:-10000}
N_PULL=${N_PULL:-0}
N_DEPOSIT=${N_DEPOSIT:-20000}
CONNS=${CONNS:-64}
RUNS=${RUNS:-3}
BATCH=${BATCH:-50}
IN_FLIGHT=${IN_FLIGHT:-1 8}
SLIDE=${SLIDE:-0}
SHARED=${SHARED:-../shared/vectors/shadowbroker/sb-interleaved-chain.json}
BIN=${BIN:-target/release/postern}
PUSH=${PUSH:-target/release/examples/bench_push}
DEPOSIT=${DEPOSIT:-target/release/examples/bench_deposit}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build -q --release --locked -p postern-relay --bin postern --example bench_push \
    --example bench_deposit
fi
bins=("$BIN"); [ -n "${BASE_BIN:-}" ] && bins=("$BASE_BIN" "$BIN")
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU time (user + system, clock ticks) the relay of data dir $1 has used so far.
cpu() { awk '{print $14 + $15}' "/proc/$(cat "$1.pid")/stat"; }
SELF=http://127.0.0.1:9
SECRET=bench-secret

serve() { # bin data extra... ; starts a relay on a free port, sets $url
  local b=$1 data=$2; shift 2
  mkdir -p "$data"
  POSTERN_LOG=warn "$b" serve --listen 127.0.0.1:0 --data "$data" --web "$work/web" \
    --rate-limit-per-min 0 --read-rate-limit-per-min 0 "$@" >"$data.out" 2>"$data.log" &
  pids+=($!)
  echo $! >"$data.pid"
  for _ in $(seq 3000); do grep -q 'listening on' "$data.out" 2>/dev/null && break; sleep 0.01; done
  url=$(sed -n 's/^postern listening on //p' "$data.out")
  [ -n "$url" ] || { cat "$data.log" >&2; exit 1; }
}
stop() { local p; p=$(cat "$1.pid"); kill "$p"; wait "$p" 2>/dev/null || true; }
count() { curl -sf "$1/api/mesh/infonet/status" | sed -n 's/.*"total_events":\([0-9]*\).*/\1/p'; }

echo "== peer-push ingest, batches of $BATCH, $IN_FLIGHT in flight, fresh relay per run"
chains=("$SHARED" "gen:$N_GEN"); [ "$N_GEN" -gt 0 ] || chains=() # N_GEN=0: no peer-push
for chain in "${chains[@]}"; do
  for run in $(seq "$RUNS"); do
    for b in "${bins[@]}"; do
      for w in $IN_FLIGHT; do
        for sl in $SLIDE; do
          [ "$w" -gt 1 ] || [ "$sl" = "$(set -- $SLIDE; echo "$1")" ] || continue # 1 in flight: once
          d="$work/push-$RANDOM$RANDOM"
          serve "$b" "$d" --peer "$SELF=$SECRET"
          c0=$(cpu "$d")
          out=$(SLIDE=$sl "$PUSH" "$url" "$SELF" "$SECRET" "$chain" "$BATCH" "$w") ||
            { tail -5 "$d.log" >&2; exit 1; }
          c1=$(cpu "$d")
          printf '%s  %s #%d: %s, relay CPU %s ms   load %s\n' "$b" "$(basename "$chain")" "$run" \
            "$out" "$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))" "$(load)"
          stop "$d"
        done
      done
    done
  done
done

echo "== DM deposits of $N_DEPOSIT fresh envelopes at $CONNS connections, fresh relay per run"
[ "$N_DEPOSIT" -gt 0 ] && for b in "${bins[@]}"; do
  for run in $(seq "$RUNS"); do
    d="$work/dm-$RANDOM$RANDOM"
    serve "$b" "$d" --per-sender-cap 100000000 --mailbox-cap 100000000
    c0=$(cpu "$d")
    out=$("$DEPOSIT" "$url" "$CONNS" "$N_DEPOSIT") || { tail -5 "$d.log" >&2; exit 1; }
    c1=$(cpu "$d")
    printf '%s #%d: %s, relay CPU %s us/deposit   load %s\n' "$b" "$run" "$out" \
      "$(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) / N_DEPOSIT ))" "$(load)"
    stop "$d"
  done
done

[ "$N_PULL" -gt 0 ] || exit 0
echo "== pull sync of $N_PULL events from a peer (sync interval 1 s), start to caught up"
# PULL_SEED: the source's database seeded once by `dev-seed-chain` (16 authors) and kept there,
# instead of pushed into a fresh relay (which takes longer than the pull itself).
src="$work/src"
if [ -n "${PULL_SEED:-}" ]; then
  [ -f "$PULL_SEED/postern.sqlite3" ] ||
    "$BIN" dev-seed-chain --data "$PULL_SEED" --events "$N_PULL" --authors 16 >/dev/null
  mkdir -p "$src" && cp "$PULL_SEED/postern.sqlite3" "$src/"
fi
serve "$BIN" "$src" --peer "$SELF=$SECRET"
srcurl=$url
[ -n "${PULL_SEED:-}" ] || "$PUSH" "$srcurl" "$SELF" "$SECRET" "gen:$N_PULL" "$BATCH" >/dev/null
for b in "${bins[@]}"; do
  for run in $(seq "$RUNS"); do
    d="$work/pull-$RANDOM$RANDOM"
    s0=$(cpu "$src")
    t0=$(date +%s.%N)
    serve "$b" "$d" --peer "$srcurl=$SECRET" --sync-interval-secs 1
    until [ "$(count "$url")" = "$N_PULL" ]; do sleep 0.05; done
    t1=$(date +%s.%N)
    # CPU seconds of the source (serving pages) and of the pulling relay over the pull.
    s1=$(cpu "$src") p1=$(cpu "$d") tck=$(getconf CLK_TCK)
    printf '%s #%d  pull-sync %s events: %.2f s, %.0f events/s, CPU source %.2f s puller %.2f s   load %s\n' \
      "$b" "$run" "$N_PULL" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$N_PULL / ($t1 - $t0)" | bc -l)" \
      "$(echo "($s1 - $s0) / $tck" | bc -l)" "$(echo "$p1 / $tck" | bc -l)" "$(load)"
    stop "$d"
  done
done
