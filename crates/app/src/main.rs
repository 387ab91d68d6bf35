fn main() {
    #[cfg(target_arch = "wasm32")]
    postern_app::run();
}
