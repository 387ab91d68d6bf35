// Child process of variant.test.mjs: loads the web package's entry (pkg/postern_wasm.js, or
// pkg/postern_wasm_gates.js with POSTERN_WASM_FLAVOUR=gates) in Node as a browser would, with
// fetch served from disk, and prints which file was fetched and what runs.
//   node variant_web_init.mjs '<init options JSON or "none">' [nosimd]
import { readFile } from "node:fs/promises";
import crypto from "node:crypto";

const [optsArg, engine] = process.argv.slice(2);
const fetched = [];
globalThis.fetch = async (url) => {
  fetched.push(String(url).split("/").pop());
  return new Response(await readFile(new URL(url)), { headers: { "content-type": "application/wasm" } });
};
// An engine without SIMD: the probe (and only the probe) fails validation.
if (engine === "nosimd") {
  const validate = WebAssembly.validate;
  WebAssembly.validate = (b) => (b.length < 64 ? false : validate(b));
}
const entry = process.env.POSTERN_WASM_FLAVOUR === "gates" ? "postern_wasm_gates.js" : "postern_wasm.js";
const pkg = await import(new URL(`../../pkg/${entry}`, import.meta.url));
const before = pkg.wasmVariant();
await (optsArg === "none" ? pkg.default() : pkg.default(JSON.parse(optsArg)));
const data = new TextEncoder().encode("postern");
process.stdout.write(JSON.stringify({
  fetched, before, variant: pkg.wasmVariant(), simdSupported: pkg.simdSupported(),
  module: pkg.wasmModule() instanceof WebAssembly.Module,
  sha256ok: Buffer.from(pkg.sha256(data)).equals(crypto.createHash("sha256").update(data).digest()),
  gates: typeof pkg.GateChain === "function",
}));
