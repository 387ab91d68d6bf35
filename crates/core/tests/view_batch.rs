//! `ChainState::ingest_view_prechecked` with the crypto half split in two (as the app's two
//! workers do) gives exactly `ingest_view_entry`'s accepted prefix, first rejection and state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::json::Value;
use postern_core::public_view::redact;
use postern_core::verify::{
    view_crypto_failure, ChainState, EventRejection, KeyCache, VerifyOptions, ViewEntry,
};

type Outcome = (usize, Option<EventRejection>, String, usize);

fn sequential(pages: &[&[Value]], opts: &VerifyOptions) -> Outcome {
    let mut state = ChainState::new();
    let mut accepted = 0;
    for page in pages {
        for v in *page {
            if let Err(rej) = state.ingest_view_entry(v, opts) {
                return (accepted, Some(rej), state.head().to_string(), state.len());
            }
            accepted += 1;
        }
    }
    (accepted, None, state.head().to_string(), state.len())
}

fn batched(pages: &[&[Value]], opts: &VerifyOptions) -> Outcome {
    let mut state = ChainState::new();
    let (mut a, mut b) = (KeyCache::default(), KeyCache::default());
    let mut accepted = 0;
    for page in pages {
        let entries: Vec<ViewEntry> = page.iter().map(ViewEntry::read).collect();
        let half = entries.len() / 2;
        let first = view_crypto_failure(&entries[..half], &mut a);
        let second = view_crypto_failure(&entries[half..], &mut b).map(|(i, r)| (i + half, r));
        let (n, rej) = state.ingest_view_prechecked(&entries, opts, first.or(second));
        accepted += n;
        if rej.is_some() {
            return (accepted, rej, state.head().to_string(), state.len());
        }
    }
    (accepted, None, state.head().to_string(), state.len())
}

fn compare(view: &[Value], opts: &VerifyOptions, what: &str) {
    for size in [7usize, 100, 500] {
        let pages: Vec<&[Value]> = view.chunks(size).collect();
        assert_eq!(
            sequential(&pages, opts),
            batched(&pages, opts),
            "{what}, pages of {size}"
        );
    }
}

#[test]
fn batched_view_ingest_matches_sequential() {
    let gen = GenOptions::default();
    let chain = generate_chain(600, gen);
    let opts = VerifyOptions {
        now: gen.start_timestamp + 700,
        max_event_age_s: 0,
        batch: true,
    };
    let view: Vec<Value> = chain.iter().map(|e| redact(&e.to_value())).collect();
    assert!(view.iter().any(postern_core::public_view::is_stub));
    compare(&view, &opts, "valid");
    let full = |i: usize| !postern_core::public_view::is_stub(&view[i]);
    let late = (300..600).find(|&i| full(i)).unwrap();
    let early = (100..300).find(|&i| full(i)).unwrap();
    let sig_of = |i: usize| view[i].get("signature").cloned().unwrap();

    let mut bad_sig = view.clone();
    bad_sig[late].insert("signature", sig_of(late - 1));
    compare(&bad_sig, &opts, "bad signature");

    let mut both = bad_sig.clone();
    let mut payload = both[early].get("payload").cloned().unwrap();
    payload.insert("message", "tampered".into());
    both[early].insert("payload", payload);
    compare(&both, &opts, "bad id before a bad signature");

    let mut not_obj = bad_sig.clone();
    not_obj[early] = Value::from(7i64);
    compare(&not_obj, &opts, "not an object before a bad signature");

    let mut link = bad_sig.clone();
    link[early].insert("prev_hash", Value::from("0".repeat(64).as_str()));
    compare(&link, &opts, "broken link with a bad signature too");

    let mut link_at_sig = view.clone();
    link_at_sig[late].insert("signature", sig_of(late - 1));
    link_at_sig[late].insert("network_id", Value::from("elsewhere"));
    compare(
        &link_at_sig,
        &opts,
        "structural failure on the bad-signature event",
    );

    let mut dup = view.clone();
    dup[late] = dup[early].clone();
    compare(&dup, &opts, "duplicate");
}
