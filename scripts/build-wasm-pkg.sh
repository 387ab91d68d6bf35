#!/usr/bin/env bash
# Build the postern-wasm JavaScript packages (crates/wasm/pkg for browsers / bundlers,
# crates/wasm/pkg-node for Node.js), optimise them with wasm-opt, print sizes, enforce the gzip
# size budgets in crates/wasm/SIZE_BUDGET and, with --test, run the Node test suite.
# Each package ships two flavours of the module (README "Loading"): the default entry
# postern_wasm.js without the gate API (`--no-default-features`: "lite") and postern_wasm_gates.js
# with everything (feature `gates`). Each flavour comes in two builds picked at load time:
# postern_wasm[_gates]_simd_bg.wasm (RUSTFLAGS +simd128) and the scalar fallback
# postern_wasm[_gates]_bg.wasm (profiles wasm-release-simd / wasm-release). Both flavours share
# a profile's directory (dependencies built once); cargo keeps one fingerprint for postern-wasm's
# unhashed artifacts, so switching the feature set rebuilds postern-wasm alone (each output is
# copied away before the next build; the glue is checked to be the flavour it should be). One JS
# glue per flavour serves both builds (checked).
#
#   scripts/build-wasm-pkg.sh          build + size check
#   scripts/build-wasm-pkg.sh --test   build + size check + tsc over the typings
#                                      (crates/wasm/tests/types) + node --test crates/wasm/tests/node
#                                      (four times: lite and gates entry, SIMD and scalar build)
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

CRATE_DIR=crates/wasm
WASM_OPT=${WASM_OPT:-$ROOT/tools/node_modules/.bin/wasm-opt}
WASM_BINDGEN=${WASM_BINDGEN:-wasm-bindgen}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROFILE=${WASM_PKG_PROFILE:-wasm-release}
SIMD_PROFILE=${WASM_PKG_SIMD_PROFILE:-wasm-release-simd}
WORK=$TARGET_DIR/wasm-pkg-work
FLAVOURS=(lite gates)
VARIANTS=(scalar simd)
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

# Output file base name of a flavour in the packages: postern_wasm (lite) / postern_wasm_gates.
base_of() { if [ "$1" = gates ]; then echo postern_wasm_gates; else echo postern_wasm; fi; }
# A build's cargo output, copied to $WORK before the other flavour's build overwrites it.
input_of() { echo "$WORK/cargo-$1-$2.wasm"; }

rm -rf "$WORK"; mkdir -p "$WORK"
for fl in "${FLAVOURS[@]}"; do
  feats=(--no-default-features); [ "$fl" = gates ] && feats=(--no-default-features --features gates)
  for v in "${VARIANTS[@]}"; do
    prof=$PROFILE; [ "$v" = simd ] && prof=$SIMD_PROFILE
    # The SIMD builds: the same code with WebAssembly SIMD (128-bit) enabled for LLVM's
    # auto-vectoriser, in their own profile directories so the RUSTFLAGS change does not
    # invalidate the scalar builds.
    flags=${RUSTFLAGS:-}; [ "$v" = simd ] && flags="$flags -C target-feature=+simd128"
    echo "==> ${flags:+RUSTFLAGS='$flags' }cargo build --profile $prof --target wasm32-unknown-unknown -p postern-wasm ${feats[*]}"
    RUSTFLAGS="$flags" cargo build --locked --profile "$prof" --target wasm32-unknown-unknown -p postern-wasm "${feats[@]}"
    cp "$TARGET_DIR/wasm32-unknown-unknown/$prof/postern_wasm.wasm" "$(input_of "$fl" "$v")"
  done
done

VERSION=$(cargo metadata --no-deps --format-version 1 --offline \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s).packages.find(p=>p.name==="postern-wasm");process.stdout.write(p.version)})')

# wasm-bindgen each build for both targets: a flavour's glue must not depend on the build (one
# glue, two .wasm files); the web and Node targets give the same .wasm, so each build is
# optimised once. Work files: $WORK/{web,node}-<flavour>-<variant>/, $WORK/<flavour>-<variant>.wasm.
for fl in "${FLAVOURS[@]}"; do
  for v in "${VARIANTS[@]}"; do
    in=$(input_of "$fl" "$v")
    "$WASM_BINDGEN" --target web --out-name postern_wasm --out-dir "$WORK/web-$fl-$v" "$in"
    "$WASM_BINDGEN" --target nodejs --out-name postern_wasm --out-dir "$WORK/node-$fl-$v" "$in"
    cmp -s "$WORK/web-$fl-$v/postern_wasm_bg.wasm" "$WORK/node-$fl-$v/postern_wasm_bg.wasm" \
      || die "wasm-bindgen gave different .wasm for the web and nodejs targets ($fl, $v)"
  done
  for f in web-%/postern_wasm.js web-%/postern_wasm.d.ts node-%/postern_wasm.js node-%/postern_wasm.d.ts; do
    cmp -s "$WORK/${f/\%/$fl-scalar}" "$WORK/${f/\%/$fl-simd}" || die "JS glue differs between the scalar and SIMD builds: $f ($fl)"
  done
done
# The flavours are what they say: the gate classes in the gates glue only.
grep -q '^export class GateChain ' "$WORK/node-gates-scalar/postern_wasm.d.ts" || die "the gates build has no GateChain"
! grep -q 'GateChain\|GateEpochKey\|GateKeyring' "$WORK/node-lite-scalar/postern_wasm.d.ts" || die "the lite build has gate classes"
for fl in "${FLAVOURS[@]}"; do
  for v in "${VARIANTS[@]}"; do
    feats=("${WASM_OPT_FEATURES[@]}"); [ "$v" = simd ] && feats+=(--enable-simd)
    echo "==> wasm-opt -O3 ($fl, $v)"
    "$WASM_OPT" -O3 "${feats[@]}" "$WORK/web-$fl-$v/postern_wasm_bg.wasm" -o "$WORK/$fl-$v.wasm"
  done
done

# A gates copy of one of js/*: its own entry's file names ("./postern_wasm.js" →
# "./postern_wasm_gates.js", the glue, the .wasm files, the pool's worker), the shared files
# (parallel core, variant chooser) unchanged. Fails unless something was renamed.
gates_copy() { # $1 = source, $2 = destination
  node - "$1" "$2" <<'JS'
const fs = require("fs");
const [from, to] = process.argv.slice(2);
const re = /(["'`])\.\/postern_wasm(?=(_bindgen\.js|_bindgen\.d\.ts|_simd_bg\.wasm|_bg\.wasm|\.js|_parallel_worker\.m?js)\1)/g;
let n = 0;
const out = fs.readFileSync(from, "utf8").replace(re, (_, q) => { n++; return `${q}./postern_wasm_gates`; });
if (!n) { console.error(`build-wasm-pkg: nothing to rename in ${from}`); process.exit(1); }
fs.writeFileSync(to, out);
JS
}

write_package_json() { # $1 = out dir, $2 = web|nodejs
  node - "$1" "$2" "$VERSION" <<'JS'
const fs = require("fs"), path = require("path");
const [out, target, version] = process.argv.slice(2);
const files = fs.readdirSync(out).filter(f => f !== "package.json" && f !== ".gitignore");
const pkg = {
  name: "postern-wasm",
  version,
  description: "Postern (Infonet/2 mesh client) protocol core for JavaScript: identities, DMs, event signing and chain verification, schema checks, Merkle proofs; gates from postern-wasm/gates",
  license: "AGPL-3.0-or-later",
  files,
  types: "postern_wasm.d.ts",
};
const wasm = Object.fromEntries(files.filter(f => f.endsWith(".wasm")).map(f => [`./${f}`, `./${f}`]));
// "." and "./parallel": no gate API (the "lite" flavour); "./gates" and "./gates/parallel": everything.
const entries = (d, js, parallelD, parallelJs) => ({
  ".": { types: `./postern_wasm.${d}`, default: `./postern_wasm.${js}` },
  "./parallel": { types: `./postern_wasm_parallel.${parallelD}`, default: `./postern_wasm_parallel.${parallelJs}` },
  "./gates": { types: `./postern_wasm_gates.${d}`, default: `./postern_wasm_gates.${js}` },
  "./gates/parallel": { types: `./postern_wasm_gates_parallel.${parallelD}`, default: `./postern_wasm_gates_parallel.${parallelJs}` },
});
if (target === "web") {
  Object.assign(pkg, { type: "module", main: "postern_wasm.js", module: "postern_wasm.js",
    exports: { ...entries("d.ts", "js", "d.ts", "js"), ...wasm },
    sideEffects: ["./snippets/*"] });
} else {
  Object.assign(pkg, { main: "postern_wasm.js", engines: { node: ">=18" },
    exports: { ...entries("d.ts", "js", "d.mts", "mjs"), ...wasm } });
}
fs.writeFileSync(path.join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
JS
}

# Browsers / bundlers: postern_wasm.js (js/entry_web.js) picks a build and re-exports the glue;
# postern_wasm_gates.js is its gates copy.
PKG=$CRATE_DIR/pkg
echo "==> $PKG"
rm -rf "$PKG"; mkdir -p "$PKG"
for fl in "${FLAVOURS[@]}"; do
  b=$(base_of "$fl")
  # The glue keeps its wasm import module name ("./postern_wasm_bg.js", the same as Node's), under
  # another file name: postern_wasm[_gates]_bindgen.js / .d.ts.
  # Its own default wasm URL (the entry always passes the build it chose; bundlers see the literal).
  sed -e 's|@ts-self-types="./postern_wasm.d.ts"|@ts-self-types="./'"$b"'_bindgen.d.ts"|' \
      -e "s|new URL('postern_wasm_bg.wasm', import.meta.url)|new URL('${b}_bg.wasm', import.meta.url)|" \
    "$WORK/web-$fl-scalar/postern_wasm.js" > "$PKG/${b}_bindgen.js"
  grep -q "new URL('${b}_bg.wasm', import.meta.url)" "$PKG/${b}_bindgen.js" || die "no default wasm URL in the $fl web glue"
  cp "$WORK/web-$fl-scalar/postern_wasm.d.ts" "$PKG/${b}_bindgen.d.ts"
  if [ -d "$WORK/web-$fl-scalar/snippets" ]; then
    if [ -d "$PKG/snippets" ]; then
      diff -r "$WORK/web-$fl-scalar/snippets" "$PKG/snippets" >/dev/null || die "snippets differ between the flavours"
    else
      cp -r "$WORK/web-$fl-scalar/snippets" "$PKG/"
    fi
  fi
done
cp "$CRATE_DIR/js/entry_web.js" "$PKG/postern_wasm.js"
cp "$CRATE_DIR/js/entry_web.d.ts" "$PKG/postern_wasm.d.ts"
cp "$CRATE_DIR/js/parallel_core.js" "$PKG/postern_wasm_parallel_core.js"
cp "$CRATE_DIR/js/parallel_web.js" "$PKG/postern_wasm_parallel.js"
cp "$CRATE_DIR/js/parallel_web_worker.js" "$PKG/postern_wasm_parallel_worker.js"
cp "$CRATE_DIR/js/parallel.d.ts" "$PKG/postern_wasm_parallel.d.ts"
gates_copy "$CRATE_DIR/js/entry_web.js" "$PKG/postern_wasm_gates.js"
gates_copy "$CRATE_DIR/js/entry_web.d.ts" "$PKG/postern_wasm_gates.d.ts"
gates_copy "$CRATE_DIR/js/parallel_web.js" "$PKG/postern_wasm_gates_parallel.js"
gates_copy "$CRATE_DIR/js/parallel_web_worker.js" "$PKG/postern_wasm_gates_parallel_worker.js"
gates_copy "$CRATE_DIR/js/parallel.d.ts" "$PKG/postern_wasm_gates_parallel.d.ts"

# Node: wasm-bindgen's CommonJS glue, its wasm path made a choice (js/variant_node.js).
NODE_PKG=$CRATE_DIR/pkg-node
echo "==> $NODE_PKG"
rm -rf "$NODE_PKG"; mkdir -p "$NODE_PKG"
for fl in "${FLAVOURS[@]}"; do
  b=$(base_of "$fl")
  node - "$WORK/node-$fl-scalar/postern_wasm.js" "$NODE_PKG/$b.js" "$fl" <<'JS'
const fs = require("fs");
const [from, to, flavour] = process.argv.slice(2);
const line = "const wasmPath = `${__dirname}/postern_wasm_bg.wasm`;";
const src = fs.readFileSync(from, "utf8");
if (src.split(line).length !== 2) { console.error(`build-wasm-pkg: expected one '${line}' in ${from}`); process.exit(1); }
fs.writeFileSync(to, src.replace(line, `const wasmPath = \`\${__dirname}/\${require('./postern_wasm_variant.js').wasmFile(undefined, ${JSON.stringify(flavour)})}\`;`));
JS
  cp "$WORK/node-$fl-scalar/postern_wasm.d.ts" "$NODE_PKG/$b.d.ts"
done
cp "$CRATE_DIR/js/variant_node.js" "$NODE_PKG/postern_wasm_variant.js"
cp "$CRATE_DIR/js/parallel_core.js" "$NODE_PKG/postern_wasm_parallel_core.mjs"
cp "$CRATE_DIR/js/parallel_node.mjs" "$NODE_PKG/postern_wasm_parallel.mjs"
cp "$CRATE_DIR/js/parallel_node_worker.mjs" "$NODE_PKG/postern_wasm_parallel_worker.mjs"
cp "$CRATE_DIR/js/parallel.d.ts" "$NODE_PKG/postern_wasm_parallel.d.mts"
gates_copy "$CRATE_DIR/js/parallel_node.mjs" "$NODE_PKG/postern_wasm_gates_parallel.mjs"
gates_copy "$CRATE_DIR/js/parallel_node_worker.mjs" "$NODE_PKG/postern_wasm_gates_parallel_worker.mjs"
gates_copy "$CRATE_DIR/js/parallel.d.ts" "$NODE_PKG/postern_wasm_gates_parallel.d.mts"

for out in "$PKG" "$NODE_PKG"; do
  for fl in "${FLAVOURS[@]}"; do
    b=$(base_of "$fl")
    cp "$WORK/$fl-scalar.wasm" "$out/${b}_bg.wasm"
    cp "$WORK/$fl-simd.wasm" "$out/${b}_simd_bg.wasm"
  done
  cp "$CRATE_DIR/README.md" "$out/README.md"
done
write_package_json "$PKG" web
write_package_json "$NODE_PKG" nodejs
rm -rf "$CRATE_DIR/pkg-simd" # the separate +simd128 package of earlier versions

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
SHIPPED=(postern_wasm_bg.wasm postern_wasm_simd_bg.wasm postern_wasm_gates_bg.wasm postern_wasm_gates_simd_bg.wasm)
echo
printf '%-52s %10s %10s\n' file raw gzip-9
for f in "$(input_of lite scalar)" "$(input_of lite simd)" "$(input_of gates scalar)" "$(input_of gates simd)" \
         "${SHIPPED[@]/#/$PKG/}" "$PKG/postern_wasm.js" "$PKG/postern_wasm_bindgen.js" "$PKG/postern_wasm_gates_bindgen.js" \
         "$NODE_PKG/postern_wasm.js" "$NODE_PKG/postern_wasm_gates.js"; do
  printf '%-52s %10d %10d\n' "${f#"$ROOT"/}" "$(size "$f")" "$(gz "$f")"
done

# SIZE_BUDGET: one "<bytes> <file>" line per shipped .wasm (gzip -9), each checked on its own.
fail=0
for f in "${SHIPPED[@]}"; do
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
  # and with Node's resolution, Node package from an ES module (crates/wasm/tests/types), each
  # against both entries.
  TSC=${TSC:-$ROOT/tools/node_modules/.bin/tsc}
  [ -x "$TSC" ] || die "tsc not found at $TSC (npm ci --prefix tools)"
  for cfg in web web-node16 node; do
    echo "==> tsc --noEmit -p $CRATE_DIR/tests/types/tsconfig.$cfg.json"
    "$TSC" -p "$CRATE_DIR/tests/types/tsconfig.$cfg.json"
  done
  # The suite once per entry (POSTERN_WASM_FLAVOUR: lite = the default import, gates) and build.
  for fl in "${FLAVOURS[@]}"; do
    echo "==> POSTERN_WASM_FLAVOUR=$fl node --test $CRATE_DIR/tests/node (default: SIMD build)"
    POSTERN_WASM_FLAVOUR=$fl node --test "$CRATE_DIR"/tests/node/*.test.mjs
    echo "==> POSTERN_WASM_FLAVOUR=$fl POSTERN_WASM_VARIANT=scalar node --test $CRATE_DIR/tests/node (scalar fallback)"
    POSTERN_WASM_FLAVOUR=$fl POSTERN_WASM_VARIANT=scalar node --test "$CRATE_DIR"/tests/node/*.test.mjs
  done
fi
