//! `postern` verification subcommands: read the file, call postern-core, print, exit code.

use postern_core::cli::{merkle_root_json, schema_check_json, sig_string_json, verify_chain_json, CliResult};

const USAGE: &str = "usage: postern verify-chain FILE [--now UNIX_SECONDS] | sig-string FILE | schema-check FILE | merkle-root FILE";

fn wall_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn emit(r: &CliResult) -> i32 {
    use std::io::Write as _;
    if !r.stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(r.stdout.as_bytes());
        let _ = out.flush();
    }
    if let Some(line) = &r.stderr {
        eprintln!("{line}");
    }
    r.exit_code
}

fn read(path: &str) -> Result<Vec<u8>, CliResult> {
    std::fs::read(path).map_err(|e| CliResult::unreadable(format!("error: cannot read {path}: {e}")))
}

fn run(sub: &str, rest: &[String]) -> CliResult {
    let (file, extra) = match rest.split_first() {
        Some((f, extra)) if !f.starts_with("--") => (f.as_str(), extra),
        _ => return CliResult::unreadable(USAGE),
    };
    let mut now = None;
    match (sub, extra) {
        (_, []) => {}
        ("verify-chain", [flag, value]) if flag == "--now" => match value.parse::<u64>() {
            Ok(n) => now = Some(n),
            Err(_) => return CliResult::unreadable(format!("error: --now expects UNIX seconds, got {value:?}")),
        },
        _ => return CliResult::unreadable(USAGE),
    }
    let bytes = match read(file) {
        Ok(b) => b,
        Err(e) => return e,
    };
    match sub {
        "verify-chain" => verify_chain_json(&bytes, Some(now.unwrap_or_else(wall_clock))),
        "sig-string" => sig_string_json(&bytes),
        "schema-check" => schema_check_json(&bytes),
        _ => merkle_root_json(&bytes),
    }
}

/// Handle `args` (`args[0]` is the program name) if it names one of the verification
/// subcommands; `None` for anything else.
pub fn dispatch(args: &[String]) -> Option<i32> {
    let sub = args.get(1)?.as_str();
    if !matches!(sub, "verify-chain" | "sig-string" | "schema-check" | "merkle-root") {
        return None;
    }
    Some(emit(&run(sub, args.get(2..).unwrap_or(&[]))))
}
