#!/usr/bin/env bash
# Bundle budget of the built UI: gzip -9 size of dist/*.wasm + dist/*.js (what a first visit
# downloads besides HTML/CSS/icons) must stay within the budget in crates/app/SIZE_BUDGET.
# Run after `trunk build --release` (make ui). Exit 1 over budget, 2 when dist/ is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=$(grep -v '^#' crates/app/SIZE_BUDGET | tr -d '[:space:]')
shopt -s nullglob
files=(dist/*.wasm dist/*.js)
[ ${#files[@]} -gt 0 ] || { echo "check-app-size: no dist/*.wasm or dist/*.js (run make ui)" >&2; exit 2; }
total_raw=0; total_gz=0
for f in "${files[@]}"; do
  raw=$(stat -c %s "$f"); gz=$(gzip -9c "$f" | wc -c)
  printf '  %-50s %9d raw %9d gzip\n' "$f" "$raw" "$gz"
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz))
done
printf 'app bundle: %d bytes raw, %d bytes gzip -9 (budget %d)\n' "$total_raw" "$total_gz" "$budget"
if [ "$total_gz" -gt "$budget" ]; then
  echo "check-app-size: over budget by $((total_gz - budget)) bytes" >&2
  exit 1
fi
