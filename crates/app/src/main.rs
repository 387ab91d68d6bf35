//! The `postern-app` binary: mounts the UI in the browser (Trunk builds it); empty natively.
fn main() {
    #[cfg(target_arch = "wasm32")]
    postern_app::run();
}
