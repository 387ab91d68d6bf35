//! Chain verification on several threads (native only): the sequential rules
//! ([`verify_chain_structure`]) on the calling thread while slices of the chain get their
//! signatures and event ids checked ([`first_crypto_failure`]) on scoped worker threads.
//!
//! A valid chain gets exactly [`verify_chain`]'s report (same head and Merkle root); when either
//! half finds a failure, the chain is re-verified sequentially so the first failure and its
//! reason are exactly [`verify_chain`]'s.

use crate::event::ChainEvent;
use crate::verify::{
    first_crypto_failure, verify_chain, verify_chain_structure, ChainReport, VerifyOptions,
};

/// Chains shorter than this are verified on the calling thread only.
pub const MIN_PARALLEL_EVENTS: usize = 512;

/// Threads to use by default: the machine's available parallelism (at least 1), read once
/// (asking the OS reads cgroup files: a relay asks for every pushed batch).
pub fn default_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// [`verify_chain`] using `threads` threads for signatures and event ids (see module docs).
pub fn verify_chain_parallel(
    events: &[ChainEvent],
    opts: &VerifyOptions,
    threads: usize,
) -> ChainReport {
    if threads <= 1 || events.len() < MIN_PARALLEL_EVENTS {
        return verify_chain(events, opts);
    }
    let chunk = events.len().div_ceil(threads);
    let (structure, crypto_ok) = std::thread::scope(|s| {
        let workers: Vec<_> = events
            .chunks(chunk)
            .map(|slice| s.spawn(move || first_crypto_failure(slice).is_none()))
            .collect();
        let structure = verify_chain_structure(events, opts);
        // A worker that panicked counts as a failure: the sequential path then decides.
        let crypto_ok = workers.into_iter().all(|w| w.join().unwrap_or(false));
        (structure, crypto_ok)
    });
    if structure.valid && crypto_ok {
        structure
    } else {
        verify_chain(events, opts)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::chaingen::{generate_chain, GenOptions};

    #[test]
    fn parallel_matches_sequential_on_valid_and_corrupted_chains() {
        let opts = GenOptions::default();
        let mut chain = generate_chain(1200, opts);
        let vo = VerifyOptions::at(opts.start_timestamp + 1300);
        let full = verify_chain(&chain, &vo);
        assert!(full.valid);
        assert_eq!(verify_chain_parallel(&chain, &vo, 3), full);
        // A bad signature late in the chain and a bad id earlier: the earlier one is reported.
        chain[1100].signature = chain[1099].signature.clone();
        chain[700].payload.insert("message", "tampered".into());
        let full = verify_chain(&chain, &vo);
        assert!(!full.valid);
        assert_eq!(verify_chain_parallel(&chain, &vo, 2), full);
    }
}
