//! Write a deterministic, validly signed public chain as a JSON array (benchmark input for
//! `postern verify-chain` and the relay ingest benches):
//! `cargo run --release -p postern-core --example gen_chain -- N AUTHORS START_TS OUT.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use postern_core::chaingen::{generate_chain, GenOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let n: usize = arg(1, "10000").parse().expect("N");
    let authors: usize = arg(2, "16").parse().expect("AUTHORS");
    let start: u64 = arg(3, "1780000000").parse().expect("START_TS");
    let out = arg(4, "chain.json");
    let chain = generate_chain(
        n,
        GenOptions {
            authors,
            start_timestamp: start,
            include_gate_messages: false,
        },
    );
    let mut f = std::io::BufWriter::new(std::fs::File::create(&out).expect("create"));
    f.write_all(b"[").unwrap();
    for (i, e) in chain.iter().enumerate() {
        if i > 0 {
            f.write_all(b",\n").unwrap();
        }
        f.write_all(e.to_value().to_json_ordered().as_bytes())
            .unwrap();
    }
    f.write_all(b"]\n").unwrap();
    f.flush().unwrap();
    eprintln!("wrote {n} events by {authors} authors to {out}");
}
