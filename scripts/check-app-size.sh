#!/usr/bin/env bash
# Bundle budgets of the built UI (gzip -9 bytes), run after `trunk build --release` (make ui):
#  - first screen: dist/*.wasm + dist/*.js that a first visit downloads before the app is usable
#    (page wasm + its JS glue, boot/browser-check/sw-register scripts, sw.js), budget
#    crates/app/SIZE_BUDGET;
#  - lazily loaded part: the second wasm binary `postern-worker` (postern-worker_bg.wasm +
#    postern-worker.js) and web/sync-worker.js, fetched only when a chain sync or a backup needs
#    them (and by the service worker's precache after the page is up), budget
#    crates/app/SIZE_BUDGET_WORKER.
# Exit 1 over a budget, 2 when dist/ is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
read_budget() { grep -v '^#' "$1" | tr -d '[:space:]'; }
budget=$(read_budget crates/app/SIZE_BUDGET)
budget_lazy=$(read_budget crates/app/SIZE_BUDGET_WORKER)
shopt -s nullglob
files=(dist/*.wasm dist/*.js)
[ ${#files[@]} -gt 0 ] || { echo "check-app-size: no dist/*.wasm or dist/*.js (run make ui)" >&2; exit 2; }
is_lazy() { case "$(basename "$1")" in postern-worker_bg.wasm|postern-worker.js|sync-worker.js) return 0;; *) return 1;; esac; }
raw=0; gz=0; lazy_raw=0; lazy_gz=0; lazy_n=0
for f in "${files[@]}"; do
  r=$(stat -c %s "$f"); g=$(gzip -9c "$f" | wc -c)
  if is_lazy "$f"; then
    printf '  lazy   %-45s %9d raw %9d gzip\n' "$f" "$r" "$g"
    lazy_raw=$((lazy_raw + r)); lazy_gz=$((lazy_gz + g)); lazy_n=$((lazy_n + 1))
  else
    printf '  first  %-45s %9d raw %9d gzip\n' "$f" "$r" "$g"
    raw=$((raw + r)); gz=$((gz + g))
  fi
done
printf 'first screen: %d bytes raw, %d bytes gzip -9 (budget %d)\n' "$raw" "$gz" "$budget"
printf 'lazily loaded (worker module): %d bytes raw, %d bytes gzip -9 (budget %d)\n' "$lazy_raw" "$lazy_gz" "$budget_lazy"
status=0
if [ "$lazy_n" -ne 3 ]; then
  echo "check-app-size: expected postern-worker_bg.wasm, postern-worker.js and sync-worker.js in dist/" >&2
  status=1
fi
if [ "$gz" -gt "$budget" ]; then
  echo "check-app-size: first screen over budget by $((gz - budget)) bytes" >&2
  status=1
fi
if [ "$lazy_gz" -gt "$budget_lazy" ]; then
  echo "check-app-size: lazily loaded part over budget by $((lazy_gz - budget_lazy)) bytes" >&2
  status=1
fi
exit "$status"
