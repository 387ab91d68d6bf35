//! `ChainState::ingest_all` (shared key cache) agrees with event-by-event `ingest` and with
//! `verify_chain`: same accepted prefix, same first rejection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::verify::{verify_chain, ChainState, FailReason, VerifyOptions};

const NOW: u64 = 1_780_000_100;

#[test]
fn ingest_all_matches_ingest_and_verify_chain() {
    let events = generate_chain(60, GenOptions::default());
    let opts = VerifyOptions {
        now: NOW,
        max_event_age_s: 0,
        batch: true,
    };
    let mut a = ChainState::new();
    assert_eq!(a.ingest_all(&events[..25], &opts), (25, None));
    assert_eq!(a.ingest_all(&events[25..], &opts), (35, None));
    let report = verify_chain(&events, &opts);
    assert_eq!(Some(a.head().to_string()), report.head);
    assert_eq!(a.len(), 60);

    // A bad signature at 40 and a broken link: the same first failure as one by one.
    let mut bad = events.clone();
    let sig = &mut bad[40].signature;
    let last = if sig.ends_with('0') { "1" } else { "0" };
    sig.replace_range(sig.len() - 1.., last);
    bad.remove(50);
    let mut b = ChainState::new();
    let (n, rej) = b.ingest_all(&bad, &opts);
    let mut c = ChainState::new();
    let one_by_one = bad
        .iter()
        .position(|e| c.ingest(e, &opts).is_err())
        .unwrap();
    assert_eq!(
        (n, rej.unwrap().reason),
        (one_by_one, FailReason::InvalidSignature)
    );
    assert_eq!(b.len(), 40);
    assert_eq!(b.head(), c.head());
}
