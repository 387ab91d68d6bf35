//! `postern`: the reference relay (`postern serve`) and, alongside it, the Infonet tools.
#![forbid(unsafe_code)]

use std::process::ExitCode;

// Infonet verification CLI (`verify-chain`, `sig-string`, `schema-check`, `merkle-root`) arrives
// as `src/cli.rs`; hooking it up is replacing the stub below with this one line:
//     mod cli; use cli::dispatch as external_dispatch;
fn external_dispatch(_args: &[String]) -> Option<i32> {
    None
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let rest = args.get(1..).unwrap_or(&[]);
    let code = match rest.first().map(String::as_str) {
        Some("serve") => postern_relay::serve::main_with_args(&args),
        // Other subcommands (the Infonet CLI); `dispatch` gets the arguments after the program
        // name and answers None for subcommands it does not know.
        _ => match external_dispatch(rest) {
            Some(code) => code,
            // Unknown subcommand, `--help`, `--version`, or nothing: clap explains.
            None => postern_relay::serve::main_with_args(&args),
        },
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
