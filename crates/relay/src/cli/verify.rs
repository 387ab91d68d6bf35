//! The Infonet verification subcommands (`verify-chain`, `sig-string`, `schema-check`,
//! `merkle-root`: read the file, call postern-core, print, exit code) and the
//! `dev-seed-chain` test tool.

use postern_core::cli::{
    merkle_root_json, schema_check_json, sig_string_json, verify_chain_json, CliResult,
};

use crate::clock::system_now;
use crate::service::chain::PushOutcome;
use crate::service::Chain;
use crate::store::Store;

const USAGE: &str = "usage: postern verify-chain FILE [--freshness] [--now UNIX_SECONDS] | sig-string FILE | schema-check FILE | merkle-root FILE";

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
    std::fs::read(path)
        .map_err(|e| CliResult::unreadable(format!("error: cannot read {path}: {e}")))
}

/// `postern verify-chain`: options in any order.
#[derive(clap::Parser, Debug)]
#[command(
    name = "postern verify-chain",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct VerifyChainArgs {
    /// Events file (a JSON array, or an object with `events`); may hold redaction stubs.
    file: String,
    /// Apply the ingest freshness window (24 h) at --now, else at the wall clock. Without it
    /// (and without --now) history of any age verifies.
    #[arg(long)]
    freshness: bool,
    /// Clock for the freshness window and revocation grace (UNIX seconds); implies --freshness.
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<String>,
}

/// The other subcommands: exactly one file.
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true, disable_version_flag = true)]
struct FileArg {
    file: String,
}

/// The clock `verify-chain` verifies at: `None` verifies history of any age.
fn verify_clock(a: &VerifyChainArgs) -> Result<Option<u64>, CliResult> {
    match a.now.as_deref() {
        Some(value) => match value.parse::<u64>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(CliResult::unreadable(format!(
                "error: --now expects UNIX seconds, got {value:?}"
            ))),
        },
        None if a.freshness => Ok(Some(system_now())),
        None => Ok(None),
    }
}

fn run(sub: &str, rest: &[String]) -> CliResult {
    use clap::Parser as _;
    let argv = std::iter::once(sub.to_string()).chain(rest.iter().cloned());
    if sub == "verify-chain" {
        let Ok(a) = VerifyChainArgs::try_parse_from(argv) else {
            return CliResult::unreadable(USAGE);
        };
        let clock = match verify_clock(&a) {
            Ok(c) => c,
            Err(e) => return e,
        };
        return match read(&a.file) {
            Ok(bytes) => verify_chain_json(&bytes, clock),
            Err(e) => e,
        };
    }
    let Ok(FileArg { file }) = FileArg::try_parse_from(argv) else {
        return CliResult::unreadable(USAGE);
    };
    let bytes = match read(&file) {
        Ok(b) => b,
        Err(e) => return e,
    };
    match sub {
        "sig-string" => sig_string_json(&bytes),
        "schema-check" => schema_check_json(&bytes),
        _ => merkle_root_json(&bytes),
    }
}

/// Dev/test tool: `postern dev-seed-chain --data DIR --events N [--authors K]` appends a
/// deterministic, validly signed public chain of N events (`postern_core::chaingen`, timestamps
/// ending now) to the relay database in DIR, through the same core verification a peer push
/// uses. For load tests and the browser sync e2e test; never needed in production.
pub fn dev_seed_chain(rest: &[String]) -> i32 {
    const SEED_USAGE: &str = "usage: postern dev-seed-chain --data DIR --events N [--authors K]";
    let (mut data, mut events, mut authors) = (None, None, 4usize);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            eprintln!("{SEED_USAGE}");
            return 2;
        };
        match flag.as_str() {
            "--data" => data = Some(std::path::PathBuf::from(value)),
            "--events" => events = value.parse::<usize>().ok(),
            "--authors" => match value.parse::<usize>() {
                Ok(a) if a > 0 => authors = a,
                _ => events = None,
            },
            _ => events = None,
        }
    }
    let (Some(data), Some(n)) = (data, events) else {
        eprintln!("{SEED_USAGE}");
        return 2;
    };
    let now = system_now();
    let opts = postern_core::chaingen::GenOptions {
        authors,
        start_timestamp: now.saturating_sub(n as u64),
        include_gate_messages: false,
    };
    let values: Vec<_> = postern_core::chaingen::generate_chain(n, opts)
        .iter()
        .map(|e| e.to_value())
        .collect();
    let opened = Store::open(&data).and_then(Chain::open);
    let mut chain = match opened {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot open the database in {}: {e}", data.display());
            return 1;
        }
    };
    match chain.peer_push(&values, now) {
        Ok(PushOutcome::Done {
            accepted,
            duplicates,
            head_hash,
        }) => {
            println!("seeded {accepted} events ({duplicates} already stored), head {head_hash}");
            0
        }
        Ok(PushOutcome::Refused(r)) => {
            eprintln!(
                "error: event {} refused ({}: {}); the chain already holds other events?",
                r.index, r.refusal.code, r.refusal.detail
            );
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Run verification subcommand `sub` (`verify-chain`, `sig-string`, `schema-check` or
/// `merkle-root`) on its arguments; returns the exit code.
pub fn verify(sub: &str, args: &[String]) -> i32 {
    emit(&run(sub, args))
}
