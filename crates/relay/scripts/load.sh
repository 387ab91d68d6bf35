#!/usr/bin/env bash
# Loopback load benchmark of `postern serve` (not a test): req/s and p50/p99 latency for
# GET /api/mesh/infonet/sync (100-event pages of a 1000-event chain), POST /api/mesh/dm/send
# (fresh envelopes: validation + cap check + fsynced insert; and a re-sent envelope:
# validation + cap check transaction answered `duplicate`) and POST /api/mesh/dm/poll (signed,
# one fresh nonce per request), each at CONNS connections for DURATION, with wrk (Debian:
# `apt-get install wrk`). Rate limits are disabled and the DM caps raised for the run.
#
#   crates/relay/scripts/load.sh                          # builds release, 64 connections, 10 s each
#   crates/relay/scripts/load.sh target/release/postern   # an already built binary (or POSTERN_BIN=…)
#   CONNS=16 DURATION=5s PROFILE=dev crates/relay/scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-release}
POLL_BODIES=${POLL_BODIES:-200000}
SEND_BODIES=${SEND_BODIES:-50000}
BIN=${1:-${POSTERN_BIN:-}}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }

dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
if [ -n "$BIN" ]; then
  bin=$(realpath "$BIN")
else
  cargo build -q --locked -p postern-relay --profile "$PROFILE" --bin postern
  bin=target/$dir/postern
fi
cargo build -q --locked -p postern-relay --profile "$PROFILE" --example load_fixtures
work=$(mktemp -d)
trap 'kill "$relay_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"target/$dir/examples/load_fixtures" "$work/fx" "$POLL_BODIES" "$SEND_BODIES"
POSTERN_LOG=warn "$bin" serve --listen 127.0.0.1:0 --data "$work/data" --web "$work/web" \
  --rate-limit-per-min 0 --read-rate-limit-per-min 0 \
  --per-sender-cap 100000000 --mailbox-cap 100000000 >"$work/addr" 2>"$work/relay.log" &
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
echo "relay $bin at $base, chain of $head events; $CONNS connections, $THREADS threads, $DURATION each"

cat >"$work/send.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/fx/send.json"); wrk.body = f:read("*a"); f:close()
LUA
cat >"$work/fresh.lua" <<LUA
local bodies = {}
for l in io.lines("$work/fx/send_fresh.jsonl") do bodies[#bodies + 1] = l end
-- \`id\` is the thread's global set by setup() (a local here would shadow it: every thread
-- would then send the same bodies, and half the polls would be nonce replays).
local threads, n = $THREADS, 0
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function request()
  local i = (n * threads + (id or 0)) % #bodies + 1
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])
end
LUA
cat >"$work/poll.lua" <<LUA
local bodies = {}
for l in io.lines("$work/fx/poll.jsonl") do bodies[#bodies + 1] = l end
-- \`id\` is the thread's global set by setup() (a local here would shadow it: every thread
-- would then send the same bodies, and half the polls would be nonce replays).
local threads, n = $THREADS, 0
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function request()
  local i = (n * threads + (id or 0)) % #bodies + 1
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
run "POST dm/send (new deposit)" -s "$work/fresh.lua" "$base/api/mesh/dm/send"
echo "(dm/poll non-2xx are nonce replays once all $POLL_BODIES pre-signed bodies are used;"
echo " new-deposit bodies repeat as duplicates after $SEND_BODIES; the mailbox then holds them all)"
