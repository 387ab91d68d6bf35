// postern-wasm (web): the wasm-bindgen API plus a loader that picks the SIMD or scalar build.
import type { InitInput, InitOutput, SyncInitInput } from "./postern_wasm_bindgen.js";

export * from "./postern_wasm_bindgen.js";

/** The two builds shipped: `postern_wasm_simd_bg.wasm` (+simd128) and `postern_wasm_bg.wasm`. */
export type WasmVariant = "simd" | "scalar";

export interface InitOptions {
  /** Which build to load: "auto" (default) = "simd" when `simdSupported()`, else "scalar". */
  variant?: "auto" | WasmVariant;
  /** Load this instead (URL, Response, bytes or a compiled module); `variant` is then ignored. */
  module_or_path?: InitInput | Promise<InitInput>;
}

/** True when `WebAssembly.validate` accepts a tiny module using SIMD (i8x16.popcnt). */
export function simdSupported(): boolean;
/** The build `init()` would load for `variant` ("auto" resolves by detection). */
export function chooseVariant(variant?: "auto" | WasmVariant): WasmVariant;
/** URL of a build's `.wasm` next to `postern_wasm.js`. */
export function wasmUrl(variant?: "auto" | WasmVariant): URL;
/** The running build as compiled ("simd" / "scalar"), or null before `init`. */
export function wasmVariant(): WasmVariant | null;
/** The compiled module that is running, or null before `init` (the worker pool reuses it). */
export function wasmModule(): WebAssembly.Module | null;
/** Load the module once; later calls return the first call's result. */
export default function init(options?: InitOptions | InitInput | Promise<InitInput>): Promise<InitOutput>;
/** Synchronous load of bytes or a compiled module you already have (either build). */
export function initSync(options: { module: SyncInitInput } | SyncInitInput): InitOutput;
