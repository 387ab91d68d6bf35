#!/usr/bin/env bash
# Loopback load benchmark of `postern serve` (not a test): req/s and p50/p99 latency for
# GET /api/mesh/infonet/sync (100-event pages of a 1000-event chain), POST /api/mesh/dm/send
# (a re-sent envelope: validation + cap check transaction) and POST /api/mesh/dm/poll (signed,
# one fresh nonce per request), each at CONNS connections for DURATION, with wrk (Debian:
# `apt-get install wrk`). Rate limits are disabled for the run.
#
#   crates/relay/scripts/load.sh            # release build, 64 connections, 10 s each
#   CONNS=16 DURATION=5s PROFILE=dev crates/relay/scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-release}
POLL_BODIES=${POLL_BODIES:-200000}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }

cargo build -q -p postern-relay --profile "$PROFILE" --bin postern
cargo build -q -p postern-relay --profile "$PROFILE" --example load_fixtures
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
bin=target/$dir/postern
work=$(mktemp -d)
trap 'kill "$relay_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"target/$dir/examples/load_fixtures" "$work/fx" "$POLL_BODIES"
POSTERN_LOG=warn "$bin" serve --listen 127.0.0.1:0 --data "$work/data" --web "$work/web" \
  --rate-limit-per-min 0 --read-rate-limit-per-min 0 >"$work/addr" 2>"$work/relay.log" &
relay_pid=$!
for _ in $(seq 100); do grep -q listening "$work/addr" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^postern listening on //p' "$work/addr")
[ -n "$base" ] || { cat "$work/relay.log"; exit 1; }

post() { curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary "@$2" "$base$1"; }
while IFS= read -r line; do
  printf '%s' "$line" >"$work/one.json"; post /api/infonet/append "$work/one.json"
done <"$work/fx/appends.jsonl"
post /api/mesh/dm/register "$work/fx/register.json"
post /api/mesh/dm/send "$work/fx/send.json"
head=$(curl -sf "$base/api/mesh/infonet/status" | sed -n 's/.*"total_events":\([0-9]*\).*/\1/p')
echo "relay $base, chain of $head events; $CONNS connections, $THREADS threads, $DURATION each"

cat >"$work/send.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/fx/send.json"); wrk.body = f:read("*a"); f:close()
LUA
cat >"$work/poll.lua" <<LUA
local bodies = {}
for l in io.lines("$work/fx/poll.jsonl") do bodies[#bodies + 1] = l end
local threads, id, n = $THREADS, 0, 0
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function request()
  local i = (n * threads + id) % #bodies + 1
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])
end
LUA

run() { # name, wrk args...
  local name=$1; shift
  local out; out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  printf '%-28s %10s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "$non2xx"
}
run "GET sync (limit=100)" "$base/api/mesh/infonet/sync?limit=100"
run "POST dm/send (duplicate)" -s "$work/send.lua" "$base/api/mesh/dm/send"
run "POST dm/poll (signed)" -s "$work/poll.lua" "$base/api/mesh/dm/poll"
echo "(dm/poll non-2xx are nonce replays once all $POLL_BODIES pre-signed bodies are used)"
