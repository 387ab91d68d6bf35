// postern-wasm for browsers and bundlers (copied into pkg/ as postern_wasm.js by
// scripts/build-wasm-pkg.sh). The package ships two builds of the same module:
// postern_wasm_simd_bg.wasm (WebAssembly SIMD, +simd128) and postern_wasm_bg.wasm (scalar).
// `init()` loads the SIMD build when the engine validates a tiny SIMD probe module, else the
// scalar one; `init({ variant: "simd" | "scalar" })` forces either. Everything else is the
// wasm-bindgen API (postern_wasm_bindgen.js), re-exported unchanged.
import initBindgen, { initSync as initSyncBindgen, wasmVariant as runningVariant } from "./postern_wasm_bindgen.js";

export * from "./postern_wasm_bindgen.js";

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)): validated, never run.
// i8x16.popcnt is in the final SIMD proposal only, so pre-standard SIMD engines say no.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** True when this engine validates WebAssembly SIMD (128-bit) code. */
export function simdSupported() {
  try {
    return typeof WebAssembly === "object" && typeof WebAssembly.validate === "function" && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** The build `init()` loads for `variant`: "simd" / "scalar" as given, "auto" by detection. */
export function chooseVariant(variant = "auto") {
  if (variant === "simd" || variant === "scalar") return variant;
  if (variant === "auto") return simdSupported() ? "simd" : "scalar";
  throw new TypeError(`postern-wasm: variant must be "auto", "simd" or "scalar", not ${String(variant)}`);
}

/** URL of a build's .wasm file next to this module (literal URLs, so bundlers see both assets). */
export function wasmUrl(variant) {
  return chooseVariant(variant) === "simd"
    ? new URL("./postern_wasm_simd_bg.wasm", import.meta.url)
    : new URL("./postern_wasm_bg.wasm", import.meta.url);
}

let loadedModule = null;
let initPromise = null;

/** The compiled `WebAssembly.Module` that is running (null before init); workers reuse it. */
export function wasmModule() {
  return loadedModule;
}

/** "simd" or "scalar": the build that is running (as compiled), or null before init. */
export function wasmVariant() {
  return loadedModule ? runningVariant() : null;
}

async function compile(src) {
  src = await src;
  if (src instanceof WebAssembly.Module) return src;
  if (typeof src === "string" || src instanceof URL || (typeof Request === "function" && src instanceof Request)) src = await fetch(src);
  if (typeof Response === "function" && src instanceof Response) {
    if (!src.ok) throw new Error(`postern-wasm: failed to fetch wasm: ${src.status} ${src.statusText} ${src.url}`);
    if (typeof WebAssembly.compileStreaming === "function" && src.headers.get("content-type") === "application/wasm") {
      return WebAssembly.compileStreaming(src);
    }
    return WebAssembly.compile(await src.arrayBuffer());
  }
  return WebAssembly.compile(src);
}

async function load(options) {
  // Also accepts wasm-bindgen's forms: init(urlOrResponseOrBytesOrModule), init({ module_or_path }).
  const opts = options !== null && typeof options === "object" && Object.getPrototypeOf(options) === Object.prototype
    ? options
    : { module_or_path: options };
  const variant = chooseVariant(opts.variant ?? "auto");
  const module = await compile(opts.module_or_path ?? wasmUrl(variant));
  const out = await initBindgen({ module_or_path: module });
  loadedModule = module;
  return out;
}

/** Load the module once: `init()`, `init({ variant })`, `init({ module_or_path })`. Later calls
 *  return the first call's result (whatever variant they ask for). */
export default function init(options) {
  if (!initPromise) {
    initPromise = load(options);
    initPromise.catch(() => { initPromise = null; });
  }
  return initPromise;
}

/** Synchronous variant for bytes or a compiled module you already have (either build). */
export function initSync(options) {
  const opts = options !== null && typeof options === "object" && Object.getPrototypeOf(options) === Object.prototype
    ? options
    : { module: options };
  const module = opts.module instanceof WebAssembly.Module ? opts.module : new WebAssembly.Module(opts.module);
  const out = initSyncBindgen({ module });
  if (!loadedModule) loadedModule = module;
  return out;
}
