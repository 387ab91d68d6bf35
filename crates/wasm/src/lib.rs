//! postern-wasm: JavaScript bindings over postern-core.
