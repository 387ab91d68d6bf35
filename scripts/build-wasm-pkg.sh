#!/usr/bin/env bash
# Build the postern-wasm JavaScript packages (crates/wasm/pkg for browsers / bundlers,
# crates/wasm/pkg-node for Node.js), optimise them with wasm-opt, print sizes, enforce the gzip
# size budgets in crates/wasm/SIZE_BUDGET and, with --test, run the Node test suite.
# Each package ships two builds of the same module, picked at load time (README "Loading"):
# postern_wasm_simd_bg.wasm (RUSTFLAGS +simd128, profile wasm-release-simd) and the scalar
# fallback postern_wasm_bg.wasm (profile wasm-release). One JS glue serves both (checked).
#
#   scripts/build-wasm-pkg.sh          build + size check
#   scripts/build-wasm-pkg.sh --test   build + size check + tsc over the typings
#                                      (crates/wasm/tests/types) + node --test crates/wasm/tests/node
#                                      (twice: SIMD build, then POSTERN_WASM_VARIANT=scalar)
#   scripts/build-wasm-pkg.sh --simd   accepted for compatibility (the SIMD build is always made)
#
# Needs: rustup target wasm32-unknown-unknown, wasm-bindgen-cli equal to the wasm-bindgen
# version in Cargo.lock, binaryen's wasm-opt (tools/node_modules/.bin, or $WASM_OPT), node ≥ 18;
# --test also needs TypeScript's tsc (tools/node_modules/.bin, or $TSC).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUN_TESTS=0
for arg in "$@"; do
  case "$arg" in
    --test) RUN_TESTS=1 ;;
    --simd) ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

CRATE_DIR=crates/wasm
WASM_OPT=${WASM_OPT:-$ROOT/tools/node_modules/.bin/wasm-opt}
WASM_BINDGEN=${WASM_BINDGEN:-wasm-bindgen}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROFILE=${WASM_PKG_PROFILE:-wasm-release}
SIMD_PROFILE=${WASM_PKG_SIMD_PROFILE:-wasm-release-simd}
IN_SCALAR=$TARGET_DIR/wasm32-unknown-unknown/$PROFILE/postern_wasm.wasm
IN_SIMD=$TARGET_DIR/wasm32-unknown-unknown/$SIMD_PROFILE/postern_wasm.wasm
WORK=$TARGET_DIR/wasm-pkg-work
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
cargo build --locked --profile "$PROFILE" --target wasm32-unknown-unknown -p postern-wasm
# Same code with WebAssembly SIMD (128-bit) enabled for LLVM's auto-vectoriser, in its own
# profile directory so the RUSTFLAGS change does not invalidate the scalar build.
echo "==> RUSTFLAGS=+simd128 cargo build --profile $SIMD_PROFILE --target wasm32-unknown-unknown -p postern-wasm"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" \
  cargo build --locked --profile "$SIMD_PROFILE" --target wasm32-unknown-unknown -p postern-wasm

VERSION=$(cargo metadata --no-deps --format-version 1 --offline \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s).packages.find(p=>p.name==="postern-wasm");process.stdout.write(p.version)})')

# wasm-bindgen both builds for both targets: the glue must not depend on the build (one glue,
# two .wasm files); the web and Node targets give the same .wasm, so each build is optimised once.
rm -rf "$WORK"; mkdir -p "$WORK"
for v in scalar simd; do
  in=$IN_SCALAR; [ "$v" = simd ] && in=$IN_SIMD
  "$WASM_BINDGEN" --target web --out-dir "$WORK/web-$v" "$in"
  "$WASM_BINDGEN" --target nodejs --out-dir "$WORK/node-$v" "$in"
  cmp -s "$WORK/web-$v/postern_wasm_bg.wasm" "$WORK/node-$v/postern_wasm_bg.wasm" \
    || die "wasm-bindgen gave different .wasm for the web and nodejs targets ($v)"
done
for f in web-%/postern_wasm.js web-%/postern_wasm.d.ts node-%/postern_wasm.js node-%/postern_wasm.d.ts; do
  cmp -s "$WORK/${f/\%/scalar}" "$WORK/${f/\%/simd}" || die "JS glue differs between the scalar and SIMD builds: $f"
done
for v in scalar simd; do
  feats=("${WASM_OPT_FEATURES[@]}"); [ "$v" = simd ] && feats+=(--enable-simd)
  echo "==> wasm-opt -O3 ($v)"
  "$WASM_OPT" -O3 "${feats[@]}" "$WORK/web-$v/postern_wasm_bg.wasm" -o "$WORK/$v.wasm"
done

write_package_json() { # $1 = out dir, $2 = web|nodejs
  node - "$1" "$2" "$VERSION" <<'JS'
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
const wasm = { "./postern_wasm_bg.wasm": "./postern_wasm_bg.wasm", "./postern_wasm_simd_bg.wasm": "./postern_wasm_simd_bg.wasm" };
if (target === "web") {
  Object.assign(pkg, { type: "module", main: "postern_wasm.js", module: "postern_wasm.js",
    exports: { ".": { types: "./postern_wasm.d.ts", default: "./postern_wasm.js" },
               "./parallel": { types: "./postern_wasm_parallel.d.ts", default: "./postern_wasm_parallel.js" },
               ...wasm },
    sideEffects: ["./snippets/*"] });
} else {
  Object.assign(pkg, { main: "postern_wasm.js", engines: { node: ">=18" },
    exports: { ".": { types: "./postern_wasm.d.ts", default: "./postern_wasm.js" },
               "./parallel": { types: "./postern_wasm_parallel.d.mts", default: "./postern_wasm_parallel.mjs" },
               ...wasm } });
}
fs.writeFileSync(path.join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
JS
}

# Browsers / bundlers: postern_wasm.js (js/entry_web.js) picks a build and re-exports the glue.
PKG=$CRATE_DIR/pkg
echo "==> $PKG"
rm -rf "$PKG"; mkdir -p "$PKG"
# The glue keeps its wasm import module name ("./postern_wasm_bg.js", the same as Node's), under
# another file name: postern_wasm_bindgen.js / .d.ts.
sed 's|@ts-self-types="./postern_wasm.d.ts"|@ts-self-types="./postern_wasm_bindgen.d.ts"|' \
  "$WORK/web-scalar/postern_wasm.js" > "$PKG/postern_wasm_bindgen.js"
cp "$WORK/web-scalar/postern_wasm.d.ts" "$PKG/postern_wasm_bindgen.d.ts"
[ -d "$WORK/web-scalar/snippets" ] && cp -r "$WORK/web-scalar/snippets" "$PKG/"
cp "$CRATE_DIR/js/entry_web.js" "$PKG/postern_wasm.js"
cp "$CRATE_DIR/js/entry_web.d.ts" "$PKG/postern_wasm.d.ts"
cp "$CRATE_DIR/js/parallel_core.js" "$PKG/postern_wasm_parallel_core.js"
cp "$CRATE_DIR/js/parallel_web.js" "$PKG/postern_wasm_parallel.js"
cp "$CRATE_DIR/js/parallel_web_worker.js" "$PKG/postern_wasm_parallel_worker.js"
cp "$CRATE_DIR/js/parallel.d.ts" "$PKG/postern_wasm_parallel.d.ts"

# Node: wasm-bindgen's CommonJS glue, its wasm path made a choice (js/variant_node.js).
NODE_PKG=$CRATE_DIR/pkg-node
echo "==> $NODE_PKG"
rm -rf "$NODE_PKG"; mkdir -p "$NODE_PKG"
node - "$WORK/node-scalar/postern_wasm.js" "$NODE_PKG/postern_wasm.js" <<'JS'
const fs = require("fs");
const [from, to] = process.argv.slice(2);
const line = "const wasmPath = `${__dirname}/postern_wasm_bg.wasm`;";
const src = fs.readFileSync(from, "utf8");
if (src.split(line).length !== 2) { console.error(`build-wasm-pkg: expected one '${line}' in ${from}`); process.exit(1); }
fs.writeFileSync(to, src.replace(line, "const wasmPath = `${__dirname}/${require('./postern_wasm_variant.js').wasmFile()}`;"));
JS
cp "$WORK/node-scalar/postern_wasm.d.ts" "$NODE_PKG/postern_wasm.d.ts"
cp "$CRATE_DIR/js/variant_node.js" "$NODE_PKG/postern_wasm_variant.js"
cp "$CRATE_DIR/js/parallel_core.js" "$NODE_PKG/postern_wasm_parallel_core.mjs"
cp "$CRATE_DIR/js/parallel_node.mjs" "$NODE_PKG/postern_wasm_parallel.mjs"
cp "$CRATE_DIR/js/parallel_node_worker.mjs" "$NODE_PKG/postern_wasm_parallel_worker.mjs"
cp "$CRATE_DIR/js/parallel.d.ts" "$NODE_PKG/postern_wasm_parallel.d.mts"

for out in "$PKG" "$NODE_PKG"; do
  cp "$WORK/scalar.wasm" "$out/postern_wasm_bg.wasm"
  cp "$WORK/simd.wasm" "$out/postern_wasm_simd_bg.wasm"
  cp "$CRATE_DIR/README.md" "$out/README.md"
done
write_package_json "$PKG" web
write_package_json "$NODE_PKG" nodejs
rm -rf "$CRATE_DIR/pkg-simd" # the separate +simd128 package of earlier versions

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
echo
printf '%-44s %10s %10s\n' file raw gzip-9
for f in "$IN_SCALAR" "$IN_SIMD" "$PKG/postern_wasm_bg.wasm" "$PKG/postern_wasm_simd_bg.wasm" \
         "$PKG/postern_wasm.js" "$PKG/postern_wasm_bindgen.js" "$NODE_PKG/postern_wasm.js"; do
  printf '%-44s %10d %10d\n' "${f#"$ROOT"/}" "$(size "$f")" "$(gz "$f")"
done

# SIZE_BUDGET: one "<bytes> <file>" line per shipped .wasm (gzip -9), each checked on its own.
fail=0
for f in postern_wasm_bg.wasm postern_wasm_simd_bg.wasm; do
  budget=$(grep -v '^\s*#' "$CRATE_DIR/SIZE_BUDGET" | awk -v f="$f" '$2 == f {print $1}')
  [ -n "$budget" ] || die "no budget line for $f in $CRATE_DIR/SIZE_BUDGET"
  got=$(gz "$PKG/$f")
  if [ "$got" -gt "$budget" ]; then
    echo "SIZE CHECK FAILED: pkg/$f is $got bytes gzip -9, budget $budget ($CRATE_DIR/SIZE_BUDGET)" >&2
    fail=1
  else
    echo "size check ok: $f $got bytes gzip -9 <= budget $budget"
  fi
done
[ "$fail" = 0 ] || exit 1

if [ "$RUN_TESTS" = 1 ]; then
  # The shipped typings as a TypeScript user compiles against them: browser package with bundler
  # and with Node's resolution, Node package from an ES module (crates/wasm/tests/types).
  TSC=${TSC:-$ROOT/tools/node_modules/.bin/tsc}
  [ -x "$TSC" ] || die "tsc not found at $TSC (npm ci --prefix tools)"
  for cfg in web web-node16 node; do
    echo "==> tsc --noEmit -p $CRATE_DIR/tests/types/tsconfig.$cfg.json"
    "$TSC" -p "$CRATE_DIR/tests/types/tsconfig.$cfg.json"
  done
  echo "==> node --test $CRATE_DIR/tests/node (default: SIMD build)"
  node --test "$CRATE_DIR"/tests/node/*.test.mjs
  echo "==> POSTERN_WASM_VARIANT=scalar node --test $CRATE_DIR/tests/node (scalar fallback)"
  POSTERN_WASM_VARIANT=scalar node --test "$CRATE_DIR"/tests/node/*.test.mjs
fi
