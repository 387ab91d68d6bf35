//! The `postern` command line: one clap parser for `serve` and the Infonet verification tools.
use clap::{Args, Parser, Subcommand};

pub mod serve;
pub mod verify;

pub use serve::ServeArgs;

/// Command line of the `postern` binary.
#[derive(Debug, Parser)]
#[command(name = "postern", version, about = "Postern reference relay")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay: DM spool API under /api and the web UI at /.
    Serve(Box<ServeArgs>),
    /// Verify an Infonet chain file of any age (redaction stubs link-only):
    /// FILE [--freshness] [--now UNIX_SECONDS], in any order.
    #[command(disable_help_flag = true)]
    VerifyChain(ToolArgs),
    /// Print the signature string of an event file: FILE.
    #[command(disable_help_flag = true)]
    SigString(ToolArgs),
    /// Check an event file against core's schema: FILE.
    #[command(disable_help_flag = true)]
    SchemaCheck(ToolArgs),
    /// Merkle root of a file of event ids: FILE.
    #[command(disable_help_flag = true)]
    MerkleRoot(ToolArgs),
    /// Dev/test tool: --data DIR --events N [--authors K] appends a deterministic signed chain.
    #[command(hide = true, disable_help_flag = true)]
    DevSeedChain(ToolArgs),
}

/// The arguments of a tool, checked by the tool itself (its usage line explains them).
#[derive(Debug, Clone, Args)]
pub struct ToolArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

/// Parse `args` (including the program name) and run; returns the process exit code.
pub fn run(args: &[String]) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        Command::Serve(a) => serve::serve(*a),
        Command::VerifyChain(t) => verify::verify("verify-chain", &t.args),
        Command::SigString(t) => verify::verify("sig-string", &t.args),
        Command::SchemaCheck(t) => verify::verify("schema-check", &t.args),
        Command::MerkleRoot(t) => verify::verify("merkle-root", &t.args),
        Command::DevSeedChain(t) => verify::dev_seed_chain(&t.args),
    }
}
