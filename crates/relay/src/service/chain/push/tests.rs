//! Batch ingest gives the verdicts of event-by-event ingest: first refusal, its index and code,
//! accepted and duplicate counts, and what is stored (checked by reopening the database).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::json::Value;

use super::super::{Chain, PushOutcome};
use super::Prepared;
use crate::store::Store;

const NOW: u64 = 1_780_100_000;

fn chain_values(n: usize) -> Vec<Value> {
    let opts = GenOptions {
        authors: 5,
        start_timestamp: NOW - 50_000,
        include_gate_messages: true,
    };
    generate_chain(n, opts)
        .iter()
        .map(|e| e.to_value())
        .collect()
}

fn open(dir: &std::path::Path) -> Chain {
    Chain::open(Store::open(dir).unwrap()).unwrap()
}

/// `(index, code, accepted, duplicates)` of a refusal, or `(accepted, duplicates)` when done.
fn refused(o: PushOutcome) -> (u64, &'static str, u64, u64) {
    match o {
        PushOutcome::Refused(r) => (r.index, r.refusal.code, r.accepted, r.duplicates),
        PushOutcome::Done { .. } => panic!("expected a refusal, got {o:?}"),
    }
}

fn done(o: PushOutcome) -> (u64, u64) {
    match o {
        PushOutcome::Done {
            accepted,
            duplicates,
            ..
        } => (accepted, duplicates),
        PushOutcome::Refused(r) => panic!("refused: {r:?}"),
    }
}

#[test]
fn a_valid_batch_on_several_threads_is_stored_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let values = chain_values(300);
    let mut c = open(dir.path());
    let p = Prepared::new(values.clone(), 3);
    assert_eq!(done(c.push_prepared(&p, NOW).unwrap()), (300, 0));
    let head = c.head();
    // Again: every event is a duplicate, in the same batch too.
    let mut again = values[..10].to_vec();
    again.push(values[5].clone());
    assert_eq!(done(c.peer_push(&again, NOW).unwrap()), (0, 11));
    drop(c);
    let c = open(dir.path());
    assert_eq!(c.head(), head);
    assert_eq!(head.1, 300);
}

#[test]
fn the_first_failure_wins_and_the_accepted_prefix_is_stored() {
    for threads in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let mut values = chain_values(300);
        // A bad signature at 200 and a bad id at 250 (a later worker's slice): 200 is reported.
        let other = values[199].get("signature").cloned().unwrap();
        values[200].insert("signature", other);
        values[250].insert("event_id", Value::from("00".repeat(32)));
        let mut c = open(dir.path());
        let p = Prepared::new(values.clone(), threads);
        let r = refused(c.push_prepared(&p, NOW).unwrap());
        assert_eq!(r, (200, "invalid_signature", 200, 0), "{threads} threads");
        drop(c);
        assert_eq!(open(dir.path()).head().1, 200);

        // A duplicate inside a batch, then a value that is not an event.
        let dir = tempfile::tempdir().unwrap();
        let mut c = open(dir.path());
        let mut batch = values[..40].to_vec();
        batch.insert(20, values[3].clone());
        batch.push(Value::from("not an event"));
        batch.extend(values[40..60].iter().cloned());
        let r = refused(
            c.push_prepared(&Prepared::new(batch, threads), NOW)
                .unwrap(),
        );
        assert_eq!(r, (41, "invalid_payload", 40, 1), "{threads} threads");
        drop(c);
        assert_eq!(open(dir.path()).head().1, 40);
    }
}

#[test]
fn a_stored_copy_with_a_bad_signature_is_a_duplicate_and_the_rest_is_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let values = chain_values(160);
    let mut c = open(dir.path());
    assert_eq!(done(c.peer_push(&values[..100], NOW).unwrap()), (100, 0));
    // The signature is not part of the event id: the altered copy of 99 is already stored
    // (skipped, as event-by-event ingest skips it), and event 120 still fails.
    let mut bad99 = values[99].clone();
    bad99.insert("signature", values[98].get("signature").cloned().unwrap());
    let mut batch = vec![bad99];
    batch.extend(values[100..150].iter().cloned());
    let bad = values[110].get("signature").cloned().unwrap();
    batch[21].insert("signature", bad);
    let r = refused(c.push_prepared(&Prepared::new(batch, 2), NOW).unwrap());
    assert_eq!(r, (21, "invalid_signature", 20, 1));
    // A fork: an event that extends an event behind the head.
    let mut fork = values[100].clone();
    fork.insert("prev_hash", values[50].get("event_id").cloned().unwrap());
    let r = refused(c.peer_push(&[fork], NOW).unwrap());
    assert_eq!(r, (0, "forked", 0, 0));
    drop(c);
    assert_eq!(open(dir.path()).head().1, 120);
}

#[test]
fn stored_events_are_duplicates_after_a_restart_and_the_new_ones_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let values = chain_values(400);
    let mut c = open(dir.path());
    assert_eq!(done(c.peer_push(&values[..300], NOW).unwrap()), (300, 0));
    drop(c);
    // Reopened (the state is rebuilt from the database): 250..300 are stored, 300..400 new,
    // with a copy of a stored event and of a new one inside the batch.
    let mut c = open(dir.path());
    let mut batch = values[250..].to_vec();
    batch.insert(60, values[255].clone());
    batch.push(values[399].clone());
    let p = Prepared::new(batch, 2);
    assert_eq!(done(c.push_prepared(&p, NOW).unwrap()), (100, 52));
    drop(c);
    let c = open(dir.path());
    assert_eq!(c.head().1, 400);
}

/// The fields of a prepared batch that decide its verdict and what is stored.
fn decided(p: &Prepared) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?}",
        p.events, p.id_ok, p.texts, p.stop, p.crypto
    )
}

#[test]
fn a_batch_taken_is_prepared_as_one_kept() {
    let values = chain_values(60);
    // Each batch: the chain's first 40 events with one odd event at 20.
    type Alter = Box<dyn Fn(&mut Value)>;
    let odd: Vec<Alter> = vec![
        // A bad signature.
        Box::new(|v| v.insert("signature", Value::from("ab".repeat(64)))),
        // A repeated key (the first one counts) and an unknown member.
        Box::new(|v| {
            if let Value::Object(m) = v {
                m.push(("event_type".into(), Value::from("other")));
                m.push(("extra".into(), Value::from(1i64)));
            }
        }),
        // A field that is not a string (its Python `str()` is read).
        Box::new(|v| v.insert("event_type", Value::from(7i64))),
        // No canonical form: a timestamp that is a string.
        Box::new(|v| v.insert("timestamp", Value::from("1780000000"))),
        // Not an event.
        Box::new(|v| *v = Value::from("not an event")),
    ];
    for (n, f) in odd.iter().enumerate() {
        let mut batch = values[..40].to_vec();
        f(&mut batch[20]);
        for threads in [1, 2] {
            let kept = Prepared::new(batch.clone(), threads);
            let taken = Prepared::taking(batch.clone(), threads);
            assert_eq!(
                decided(&taken),
                decided(&kept),
                "odd event {n}, {threads} threads"
            );
            assert!(taken.values().is_empty());
            assert_eq!(kept.values(), &batch[..]);
        }
    }
}
