// The two builds in the package (postern_wasm_simd_bg.wasm, postern_wasm_bg.wasm): the loader's
// choice (SIMD probe, forced variant, scalar fallback), identical outputs from both, and workers
// running the caller's build. build-wasm-pkg.sh --test runs the whole suite once per build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { w, BASE, FLAVOUR, parallelApi } from "./load.mjs";

const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const run = (script, args = [], env = {}) =>
  JSON.parse(execFileSync(process.execPath, [here(script), ...args], { env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 64 << 20 }));
const expected = process.env.POSTERN_WASM_VARIANT === "scalar" ? "scalar" : "simd";
const SIMD_FILE = `${BASE}_simd_bg.wasm`, SCALAR_FILE = `${BASE}_bg.wasm`;

test("pkg-node runs the SIMD build by default in Node, the scalar one when forced", () => {
  assert.equal(w.wasmVariant(), expected);
});

test("SIMD and scalar builds give identical outputs on fixed vectors", () => {
  const simd = run("variant_vectors.mjs", [], { POSTERN_WASM_VARIANT: "simd" });
  const scalar = run("variant_vectors.mjs", [], { POSTERN_WASM_VARIANT: "scalar" });
  assert.equal(simd.variant, "simd");
  assert.equal(scalar.variant, "scalar");
  delete simd.variant; delete scalar.variant;
  assert.deepEqual(simd, scalar);
  // …and they are right, not merely equal.
  assert.deepEqual(simd.batch, [true, false]);
  assert.equal(simd.chain.valid, true);
  assert.equal(simd.chain.count, 300);
  assert.equal(simd.brokenChain.valid, false);
  assert.equal(simd.brokenChain.error.index, 150);
  assert.equal(simd.sbChain.valid, true, JSON.stringify(simd.sbChain.error));
  assert.equal(simd.sbChain.count, simd.sbMeta.event_count);
  assert.equal(simd.sbChain.head, simd.sbMeta.head_hash);
  assert.equal(simd.sbChain.merkleRoot, simd.sbMeta.merkle_root);
  assert.equal(simd.merkle.root, simd.merkle.want);
  assert.equal(simd.sha256[0], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

test("pkg-node rejects an unknown POSTERN_WASM_VARIANT", () => {
  assert.throws(() => run("variant_vectors.mjs", [], { POSTERN_WASM_VARIANT: "sse" }), /POSTERN_WASM_VARIANT must be/);
});

test("web init(): SIMD when the probe validates, scalar fallback when not, a forced variant wins", () => {
  // variant_web_init.mjs loads the web entry of POSTERN_WASM_FLAVOUR (inherited): it must fetch
  // that flavour's files only.
  const auto = run("variant_web_init.mjs", ["none"]);
  assert.deepEqual(auto, { fetched: [SIMD_FILE], before: null, variant: "simd", simdSupported: true, module: true, sha256ok: true, gates: FLAVOUR === "gates" });
  const fallback = run("variant_web_init.mjs", ["none", "nosimd"]);
  assert.deepEqual(fallback, { fetched: [SCALAR_FILE], before: null, variant: "scalar", simdSupported: false, module: true, sha256ok: true, gates: FLAVOUR === "gates" });
  const forcedScalar = run("variant_web_init.mjs", [JSON.stringify({ variant: "scalar" })]);
  assert.equal(forcedScalar.variant, "scalar");
  assert.deepEqual(forcedScalar.fetched, [SCALAR_FILE]);
  const forcedSimd = run("variant_web_init.mjs", [JSON.stringify({ variant: "simd" }), "nosimd"]);
  assert.equal(forcedSimd.variant, "simd");
  assert.deepEqual(forcedSimd.fetched, [SIMD_FILE]);
  assert.throws(() => run("variant_web_init.mjs", [JSON.stringify({ variant: "sse" })]), /variant must be/);
});

test("worker pool runs the caller's build", async () => {
  const par = await parallelApi();
  const pool = await par.createChainVerifierPool(2);
  try {
    assert.deepEqual(pool.wasmVariants, [expected, expected]);
  } finally {
    await pool.terminate();
  }
});
