//! postern-wasm: the JavaScript API of Postern, a thin wasm-bindgen layer over `postern-core`.
//!
//! Every protocol rule lives in `postern-core`; this crate only converts types (JSON text,
//! `Uint8Array`, plain objects) and maps core's typed errors to stable error codes.
//!
//! # Loading
//! The package ships this crate built twice: with WebAssembly SIMD (`+simd128`) and scalar.
//! With the `web` target the default export of `postern_wasm.js` is an async `init()` that loads
//! the SIMD build when the engine validates a SIMD probe, else the scalar one
//! (`init({ variant: "simd" | "scalar" })` forces either; `initSync({module})` is the synchronous
//! variant). The `nodejs` build (`pkg-node`) loads itself on `require`/`import`
//! (`POSTERN_WASM_VARIANT` forces a build). [`wasm_variant`] says which one runs.
//!
//! # Errors
//! Failures are thrown as JS `Error`s whose `code` property is a stable string, e.g.
//! `dm_decrypt`, `gate_not_a_member`, `schema_plaintext_present`, `rfc9162_root_mismatch`,
//! `json_invalid`, `invalid_argument`. The `message` is human-readable and may change.
//!
//! # Flavours
//! Feature `gates` (default) adds the gate API (`GateChain`, `GateEpochKey`, `GateKeyring`). The
//! package ships both: its default entry built without it (`--no-default-features`), the
//! `postern-wasm/gates` entry with it. A handle belongs to the instance that made it: an app that
//! uses gates imports the gates entry only.
//!
//! # Secrets
//! `Identity`, `EventSigner`, `GateEpochKey` and `GateKeyring` keep their keys inside wasm memory
//! (zeroized when dropped); JS holds only handles. Call `.free()` when done.
#![forbid(unsafe_code)]

// ChaCha20-Poly1305 over the SIMD keystream (the +simd128 build); native tests cover the composition.
#[cfg(any(test, all(target_arch = "wasm32", target_feature = "simd128")))]
mod aead;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod chacha_simd;
mod chain;
mod error;
// The gate API: only with the `gates` feature (the package's `postern-wasm/gates` entry; the
// default entry is built without it, ~68 KB smaller gzipped).
#[cfg(feature = "gates")]
mod gate;
#[cfg(feature = "gates")]
mod gate_error;
#[cfg(feature = "gates")]
mod gate_results;
mod identity;
mod merkle;
mod prims;
mod results;
mod schema;
mod variant;

pub use chain::{sign_event, verify_chain, verify_public_view, EventSigner};
#[cfg(feature = "gates")]
pub use gate::{GateChain, GateEpochKey, GateKeyring};
pub use identity::Identity;
pub use merkle::*;
pub use prims::*;
pub use schema::{check_payload, check_payload_for_append, normalize_payload};
pub use variant::wasm_variant;
