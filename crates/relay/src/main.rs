//! `postern`: the reference relay (`postern serve`) and the Infonet verification tools
//! (`verify-chain`, `sig-string`, `schema-check`, `merkle-root`).
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("serve") => postern_relay::serve::main_with_args(&args),
        // The Infonet CLI answers None for subcommands it does not know.
        _ => match cli::dispatch(&args) {
            Some(code) => code,
            // Unknown subcommand, `--help`, `--version`, or nothing: clap explains.
            None => postern_relay::serve::main_with_args(&args),
        },
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
