#!/usr/bin/env bash
# Layout rules for crates/*/src: no file over 700 lines (test files aside), a `//!` module doc
# on every file, no import cycle between the files of a crate. Exit 1 with one line per
# violation. Extra arguments go to scripts/check_layout.py (e.g. --edges to print the graph).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/check_layout.py "$@" .
