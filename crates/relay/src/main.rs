//! `postern`: the reference relay (`postern serve`) and the Infonet verification tools
//! (`verify-chain`, `sig-string`, `schema-check`, `merkle-root`); see `postern_relay::cli`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    ExitCode::from(u8::try_from(postern_relay::cli::run(&args)).unwrap_or(1))
}
