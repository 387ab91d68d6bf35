//! Which build of the module is running: the `+simd128` one or the scalar fallback.
//!
//! The package ships both (`postern_wasm_simd_bg.wasm`, `postern_wasm_bg.wasm`) from the same
//! source; the loader picks one (see README "Loading"). The answer comes from the compiler's
//! target features, so it is right however the module was loaded.
use wasm_bindgen::prelude::*;

/// `"simd"` when this module was compiled with WebAssembly SIMD (`+simd128`), else `"scalar"`.
#[wasm_bindgen(js_name = wasmVariant)]
pub fn wasm_variant() -> String {
    if cfg!(target_feature = "simd128") {
        "simd".into()
    } else {
        "scalar".into()
    }
}
