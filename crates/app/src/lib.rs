//! Postern's browser UI. Wasm-only: on native targets this library is empty.
#![cfg(target_arch = "wasm32")]

pub mod storage;
