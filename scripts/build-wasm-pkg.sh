#!/usr/bin/env bash
# Build the postern-wasm JavaScript packages (crates/wasm/pkg for browsers / bundlers,
# crates/wasm/pkg-node for Node.js), optimise them with wasm-opt, print sizes, enforce the gzip
# size budget in crates/wasm/SIZE_BUDGET and, with --test, run the Node test suite.
#
#   scripts/build-wasm-pkg.sh          build + size check
#   scripts/build-wasm-pkg.sh --test   build + size check + node --test crates/wasm/tests/node
#   scripts/build-wasm-pkg.sh --simd   also build crates/wasm/pkg-simd (web, +simd128; for bench/, not shipped)
#
# Needs: rustup target wasm32-unknown-unknown, wasm-bindgen-cli equal to the wasm-bindgen
# version in Cargo.lock, binaryen's wasm-opt (tools/node_modules/.bin, or $WASM_OPT), node ≥ 18.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUN_TESTS=0
SIMD=0
for arg in "$@"; do
  case "$arg" in
    --test) RUN_TESTS=1 ;;
    --simd) SIMD=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

CRATE_DIR=crates/wasm
WASM_OPT=${WASM_OPT:-$ROOT/tools/node_modules/.bin/wasm-opt}
WASM_BINDGEN=${WASM_BINDGEN:-wasm-bindgen}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROFILE=${WASM_PKG_PROFILE:-wasm-release}
IN_WASM=$TARGET_DIR/wasm32-unknown-unknown/$PROFILE/postern_wasm.wasm
# Features rustc 1.95 enables by default for wasm32-unknown-unknown (its target_features
# section); binaryen must accept them or it refuses the module.
WASM_OPT_FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)

die() { echo "build-wasm-pkg: $*" >&2; exit 1; }

[ -x "$WASM_OPT" ] || die "wasm-opt not found at $WASM_OPT (npm i --prefix tools binaryen@132.0.0, or set WASM_OPT)"
command -v "$WASM_BINDGEN" >/dev/null || die "wasm-bindgen not found (cargo install wasm-bindgen-cli --version <Cargo.lock version>)"
LOCK_VER=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
CLI_VER=$("$WASM_BINDGEN" --version | awk '{print $2}')
[ "$LOCK_VER" = "$CLI_VER" ] || die "wasm-bindgen CLI $CLI_VER != wasm-bindgen $LOCK_VER in Cargo.lock"

echo "==> cargo build --profile $PROFILE --target wasm32-unknown-unknown -p postern-wasm"
cargo build --profile "$PROFILE" --target wasm32-unknown-unknown -p postern-wasm

VERSION=$(cargo metadata --no-deps --format-version 1 --offline \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s).packages.find(p=>p.name==="postern-wasm");process.stdout.write(p.version)})')

build_target() { # $1 = wasm-bindgen target, $2 = out dir
  local target=$1 out=$2
  echo "==> wasm-bindgen --target $target --out-dir $out"
  rm -rf "$out"
  "$WASM_BINDGEN" --target "$target" --out-dir "$out" "$IN_WASM"
  echo "==> wasm-opt -O3 $out/postern_wasm_bg.wasm"
  "$WASM_OPT" -O3 "${WASM_OPT_FEATURES[@]}" "$out/postern_wasm_bg.wasm" -o "$out/postern_wasm_bg.opt.wasm"
  mv "$out/postern_wasm_bg.opt.wasm" "$out/postern_wasm_bg.wasm"
  cp "$CRATE_DIR/README.md" "$out/README.md"
  # verifyChainParallel: hand-written JS over the generated bindings (crates/wasm/js).
  if [ "$target" = web ]; then
    cp "$CRATE_DIR/js/parallel_core.js" "$out/postern_wasm_parallel_core.js"
    cp "$CRATE_DIR/js/parallel_web.js" "$out/postern_wasm_parallel.js"
    cp "$CRATE_DIR/js/parallel_web_worker.js" "$out/postern_wasm_parallel_worker.js"
    cp "$CRATE_DIR/js/parallel.d.ts" "$out/postern_wasm_parallel.d.ts"
  else
    cp "$CRATE_DIR/js/parallel_core.js" "$out/postern_wasm_parallel_core.mjs"
    cp "$CRATE_DIR/js/parallel_node.mjs" "$out/postern_wasm_parallel.mjs"
    cp "$CRATE_DIR/js/parallel_node_worker.mjs" "$out/postern_wasm_parallel_worker.mjs"
    cp "$CRATE_DIR/js/parallel.d.ts" "$out/postern_wasm_parallel.d.mts"
  fi
  node - "$out" "$target" "$VERSION" <<'JS'
const fs = require("fs"), path = require("path");
const [out, target, version] = process.argv.slice(2);
const files = fs.readdirSync(out).filter(f => f !== "package.json" && f !== ".gitignore");
const pkg = {
  name: "postern-wasm",
  version,
  description: "Postern (Infonet/2 mesh client) protocol core for JavaScript: identities, DMs, gates, event signing and chain verification, schema checks, Merkle proofs",
  license: "AGPL-3.0-or-later",
  files,
  types: "postern_wasm.d.ts",
};
if (target === "web") {
  Object.assign(pkg, { type: "module", main: "postern_wasm.js", module: "postern_wasm.js",
    exports: { ".": { types: "./postern_wasm.d.ts", default: "./postern_wasm.js" },
               "./parallel": { types: "./postern_wasm_parallel.d.ts", default: "./postern_wasm_parallel.js" },
               "./postern_wasm_bg.wasm": "./postern_wasm_bg.wasm" },
    sideEffects: ["./snippets/*"] });
} else {
  Object.assign(pkg, { main: "postern_wasm.js", engines: { node: ">=18" },
    exports: { ".": { types: "./postern_wasm.d.ts", default: "./postern_wasm.js" },
               "./parallel": { types: "./postern_wasm_parallel.d.mts", default: "./postern_wasm_parallel.mjs" },
               "./postern_wasm_bg.wasm": "./postern_wasm_bg.wasm" } });
}
fs.writeFileSync(path.join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
JS
}

build_target web "$CRATE_DIR/pkg"
build_target nodejs "$CRATE_DIR/pkg-node"

if [ "$SIMD" = 1 ]; then
  # Same code with WebAssembly SIMD (128-bit) enabled for LLVM's auto-vectoriser, in its own
  # profile directory so the RUSTFLAGS change does not invalidate the default build.
  echo "==> RUSTFLAGS=+simd128 cargo build --profile wasm-release-simd"
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" \
    cargo build --profile wasm-release-simd --target wasm32-unknown-unknown -p postern-wasm
  IN_WASM=$TARGET_DIR/wasm32-unknown-unknown/wasm-release-simd/postern_wasm.wasm
  WASM_OPT_FEATURES+=(--enable-simd)
  build_target web "$CRATE_DIR/pkg-simd"
  IN_WASM=$TARGET_DIR/wasm32-unknown-unknown/$PROFILE/postern_wasm.wasm
fi

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
echo
printf '%-40s %10s %10s\n' file raw gzip-9
for f in "$IN_WASM" "$CRATE_DIR/pkg/postern_wasm_bg.wasm" "$CRATE_DIR/pkg/postern_wasm.js" \
         "$CRATE_DIR/pkg-node/postern_wasm_bg.wasm"; do
  printf '%-40s %10d %10d\n' "${f#"$ROOT"/}" "$(size "$f")" "$(gz "$f")"
done

BUDGET=$(grep -v '^\s*#' "$CRATE_DIR/SIZE_BUDGET" | grep -Eo '[0-9]+' | head -1)
[ -n "$BUDGET" ] || die "no byte count in $CRATE_DIR/SIZE_BUDGET"
GZ=$(gz "$CRATE_DIR/pkg/postern_wasm_bg.wasm")
if [ "$GZ" -gt "$BUDGET" ]; then
  echo "SIZE CHECK FAILED: pkg/postern_wasm_bg.wasm is $GZ bytes gzip -9, budget $BUDGET ($CRATE_DIR/SIZE_BUDGET)" >&2
  exit 1
fi
echo "size check ok: $GZ bytes gzip -9 <= budget $BUDGET"

if [ "$RUN_TESTS" = 1 ]; then
  echo "==> node --test $CRATE_DIR/tests/node"
  node --test "$CRATE_DIR"/tests/node/*.test.mjs
fi
