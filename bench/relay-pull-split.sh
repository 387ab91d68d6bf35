#!/usr/bin/env bash
# Pull of 100k events from a source relay on a copy of /tmp/ri/seed-100k (a `dev-seed-chain
# --events 100000 --authors 16` database), printing the CPU of each relay; MODE perf|strace|none
# wraps both relays in `perf record -F 400 -g` / `strace -c -w -f` (BENCHMARKS.md, "Relay: pull
# and peer-push profiled separately"). Usage: bench/relay-pull-split.sh SRC_BIN PULL_BIN TAG [MODE]
set -euo pipefail
SB=$1 PB=$2 TAG=$3 MODE=${4:-perf}
W=/tmp/ri/run-$TAG; rm -rf $W; mkdir -p $W/src $W/pull /tmp/ri/web
cp /tmp/ri/seed-100k/postern.sqlite3 $W/src/
start() { # name bin data extra...
  local name=$1 b=$2 d=$3; shift 3
  local wrap=()
  case $MODE in
    perf) wrap=(perf record -F 400 -g -o $W/$name.perf --) ;;
    strace) wrap=(strace -c -w -f -o $W/$name.strace) ;;
  esac
  POSTERN_LOG=warn "${wrap[@]}" "$b" serve --listen 127.0.0.1:0 --data "$d" --web /tmp/ri/web \
    --rate-limit-per-min 0 --read-rate-limit-per-min 0 "$@" >$W/$name.out 2>$W/$name.log &
  echo $! > $W/$name.pid
  for _ in $(seq 3000); do grep -q 'listening on' $W/$name.out 2>/dev/null && break; sleep 0.01; done
  sed -n 's/^postern listening on //p' $W/$name.out
}
count() { curl -sf "$1/api/mesh/infonet/status" | sed -n 's/.*"total_events":\([0-9]*\).*/\1/p'; }
srcurl=$(start src $SB $W/src --peer http://127.0.0.1:9=bench-secret)
until [ "$(count $srcurl)" = 100000 ]; do sleep 0.1; done
spid=$(pgrep -f "serve --listen 127.0.0.1:0 --data $W/src" | tail -1)
s0=$(awk '{print $14+$15}' /proc/$spid/stat)
t0=$(date +%s.%N)
url=$(start pull $PB $W/pull --peer "$srcurl=bench-secret" --sync-interval-secs 1)
ppid_=$(pgrep -f "serve --listen 127.0.0.1:0 --data $W/pull" | tail -1)
until [ "$(count $url)" = 100000 ]; do sleep 0.05; done
t1=$(date +%s.%N)
s1=$(awk '{print $14+$15}' /proc/$spid/stat); p1=$(awk '{print $14+$15}' /proc/$ppid_/stat)
pu=$(awk '{print $14/100, $15/100}' /proc/$ppid_/stat)
printf '%s pull 100k: %.2f s; CPU source %.2f s, puller %.2f s (user sys %s)  load %s\n' $TAG "$(echo "$t1-$t0"|bc -l)" "$(echo "($s1-$s0)/100"|bc -l)" "$(echo "$p1/100"|bc -l)" "$pu" "$(cut -d' ' -f1-3 /proc/loadavg)"
kill -INT $spid $ppid_; sleep 2
