// Which build pkg-node's postern_wasm.js (and postern_wasm_gates.js) loads (copied into pkg-node/
// as postern_wasm_variant.js). POSTERN_WASM_VARIANT=simd|scalar forces one; unset or "auto" picks
// the SIMD build (postern_wasm[_gates]_simd_bg.wasm) when the engine validates a tiny SIMD probe
// module, else the scalar one (postern_wasm[_gates]_bg.wasm). Read once, when the entry is first
// required.
"use strict";

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)): validated, never run.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

function simdSupported() {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

function chooseVariant(variant = process.env.POSTERN_WASM_VARIANT || "auto") {
  if (variant === "simd" || variant === "scalar") return variant;
  if (variant === "auto") return simdSupported() ? "simd" : "scalar";
  throw new TypeError(`postern-wasm: POSTERN_WASM_VARIANT must be "auto", "simd" or "scalar", not ${String(variant)}`);
}

/** The .wasm file of a build: flavour "lite" (the default entry, no gate API) or "gates". */
function wasmFile(variant, flavour = "lite") {
  if (flavour !== "lite" && flavour !== "gates") throw new TypeError(`postern-wasm: unknown flavour ${String(flavour)}`);
  const base = flavour === "gates" ? "postern_wasm_gates" : "postern_wasm";
  return chooseVariant(variant) === "simd" ? `${base}_simd_bg.wasm` : `${base}_bg.wasm`;
}

module.exports = { simdSupported, chooseVariant, wasmFile };
