//! Resume decisions: a verifier restored from its snapshot record continues the chain exactly
//! like one that replayed every stored event; a damaged, foreign, stale or unknown record is
//! refused (the page then replays in full) and leaves the verifier empty, never panicking.
use super::*;
use crate::model::chain::snapshot::{
    check_meta, check_restored, check_stored_head, parts, plan, read_meta, stored_summaries,
    ResumePlan, SnapshotMeta, SnapshotRefused, RECORD_V1, RECORD_VERSION,
};

/// The public view's stored texts and a verifier that accepted the first `n` of them.
fn synced(n: usize) -> (Vec<Value>, Vec<String>, Verifier) {
    let view = public_view(&vector());
    let mut v = Verifier::new();
    let stored = sync(&mut v, &view[..n], 100)
        .into_iter()
        .map(|s| s.json.unwrap_or_default())
        .collect();
    (view, stored, v)
}

fn cursor(count: u64, head: &str) -> SyncHead {
    SyncHead {
        count,
        head: head.to_string(),
        ..SyncHead::default()
    }
}

#[test]
fn a_restored_verifier_continues_like_a_full_replay() {
    let vec = vector();
    for n in [1, 50, 230, 399, 400] {
        let (view, stored, first) = synced(n);
        let record = first.snapshot_record();
        let meta = read_meta(&record).expect("meta");
        assert_eq!(meta.count, n as u64);
        assert_eq!(meta.head, first.head());
        assert_eq!(meta.sealed, first.sealed());

        let mut restored = Verifier::new();
        let ans = restored.handle(&ToWorker::restore(7, record.clone()));
        check_restored(&meta, &ans).expect("restored");
        assert_eq!(restored.snapshot_record(), record, "one state, one record");
        assert_eq!(restored.merkle_root(), first.merkle_root());
        assert_eq!(
            restored.handle(&ToWorker::locator(8)).locator,
            first.clone_locator()
        );

        // The page's checks against the stored chain pass.
        let at = |i: u64| stored.get(i as usize).cloned();
        assert_eq!(
            plan(Ok(Some(meta.clone())), &cursor(n as u64, first.head()), at),
            ResumePlan::Restore { from: n as u64 }
        );
        // The rest of the chain verifies on top of the restored state.
        sync(&mut restored, &view[n..], 100);
        assert_eq!((restored.len(), restored.sealed()), (400, 80));
        assert_eq!(restored.head(), meta_str(&vec, "head_hash"));
        assert_eq!(restored.merkle_root(), meta_str(&vec, "merkle_root"));
    }
}

#[test]
fn a_snapshot_below_the_stored_height_resumes_there_and_replays_the_rest() {
    let (_, stored, v) = synced(400);
    let (_, _, older) = synced(230);
    let meta = read_meta(&older.snapshot_record()).expect("meta");
    let at = |i: u64| stored.get(i as usize).cloned();
    assert_eq!(
        plan(Ok(Some(meta)), &cursor(400, v.head()), at),
        ResumePlan::Restore { from: 230 }
    );
    let mut r = Verifier::new();
    r.restore(&older.snapshot_record()).expect("restore");
    let a = r.replay(1, &stored[230..], NOW);
    assert_eq!((a.error, a.verified, a.sealed), (None, 400, 80));
    assert_eq!(r.merkle_root(), v.merkle_root());
}

#[test]
fn the_page_refuses_a_record_that_does_not_fit_the_stored_chain() {
    let (_, stored, v) = synced(230);
    let meta = read_meta(&v.snapshot_record()).expect("meta");
    let at = |i: u64| stored.get(i as usize).cloned();
    let full = |why| ResumePlan::Full { why: Some(why) };
    // No record: a full replay, nothing to warn about.
    assert_eq!(
        plan(Ok(None), &cursor(230, v.head()), at),
        ResumePlan::Full { why: None }
    );
    // A record that did not open under the store key.
    let bad = SnapshotRefused::Unreadable("does not open".into());
    assert_eq!(
        plan(Err(bad.clone()), &cursor(230, v.head()), at),
        full(bad)
    );
    // Above what is stored (e.g. the events' write was lost).
    assert_eq!(
        plan(Ok(Some(meta.clone())), &cursor(229, &meta.head), at),
        full(SnapshotRefused::Above {
            snapshot: 230,
            stored: 229
        })
    );
    // Same height, another head.
    assert_eq!(
        check_meta(&meta, &cursor(230, "ab")),
        Err(SnapshotRefused::Head)
    );
    // Nothing stored.
    assert_eq!(
        check_meta(&meta, &cursor(0, "")),
        Err(SnapshotRefused::Empty)
    );
    // The stored event at the snapshot's height is another one (or missing, or unreadable).
    let mut other = stored.clone();
    other.swap(228, 229);
    let at_other = |i: u64| other.get(i as usize).cloned();
    assert_eq!(
        plan(Ok(Some(meta.clone())), &cursor(231, "x"), at_other),
        full(SnapshotRefused::Head)
    );
    assert_eq!(check_stored_head(&meta, None), Err(SnapshotRefused::Head));
    assert_eq!(
        check_stored_head(&meta, Some("not json")),
        Err(SnapshotRefused::Head)
    );
    // An answer that is not the header's height and head.
    let mut ans = v.answer(1);
    ans.verified = 229;
    assert!(matches!(
        check_restored(&meta, &ans),
        Err(SnapshotRefused::Restored { verified: 229, .. })
    ));
}

/// A verifier restoring `text` after a good record: refused, left empty; why.
fn refused(good: &str, text: &str) -> String {
    let mut r = Verifier::new();
    r.restore(good).expect("good record");
    let ans = r.handle(&ToWorker::restore(3, text.to_string()));
    assert_eq!((ans.verified, ans.sealed, r.len()), (0, 0, 0), "{text:.80}");
    assert_eq!(ans.head, GENESIS_HASH);
    let e = ans.error.expect("refused");
    assert_eq!(e.reason, "snapshot_refused");
    e.detail
}

/// A record's three lines: header, state, ids.
fn lines(record: &str) -> (&str, &str, &str) {
    let mut l = record.splitn(3, '\n');
    match (l.next(), l.next(), l.next()) {
        (Some(h), Some(s), Some(i)) => (h, s, i),
        _ => panic!("not three lines: {record:.80}"),
    }
}

#[test]
fn a_damaged_or_foreign_record_is_refused_and_leaves_the_verifier_empty() {
    let (_, _, v) = synced(230);
    let record = v.snapshot_record();
    let (head_line, state, packed) = lines(&record);
    let refused = |text: &str| refused(&record, text);
    refused("");
    refused("garbage");
    refused(head_line);
    refused(&format!("{head_line}\n{state}"));
    // Another record version.
    let v3 = record.replacen(&format!("\"v\":{RECORD_VERSION}"), "\"v\":3", 1);
    assert!(refused(&v3).contains("version 3"));
    // The header claims another height or head than the state.
    let meta = read_meta(&record).expect("meta");
    let lying = SnapshotMeta {
        count: 229,
        ..meta.clone()
    };
    let lie = format!(
        "{}\n{state}\n{packed}",
        serde_json::to_string(&lying).expect("json")
    );
    assert!(refused(&lie).contains("restored 230 events"));
    // A record carrying only the ids from 30 on is one to store, not to restore from.
    assert!(refused(&v.snapshot_record_from(30)).contains("not every id"));
    // One id changed (packed, or in an older layout): core's ids digest refuses it.
    let packed = packed.strip_prefix("0:").expect("every id");
    let mut ids = postern_core::b64::decode_std(packed).expect("b64");
    assert_eq!(ids.len(), 230 * 32);
    ids[3 * 32] ^= 1;
    let changed = format!("0:{}", postern_core::b64::encode_std(&ids));
    refused(&format!("{head_line}\n{state}\n{changed}"));
    refused(&v1_record(
        &format!("{head_line}\n{state}\n{changed}"),
        false,
    ));
    refused(&v1_record(
        &format!("{head_line}\n{state}\n{changed}"),
        true,
    ));
    let short = format!("0:{}", postern_core::b64::encode_std(&ids[..ids.len() - 1]));
    assert!(refused(&format!("{head_line}\n{state}\n{short}")).contains("bad length"));
    // One byte of core's state flipped: its digest refuses it.
    let mut bytes = postern_core::b64::decode_std(state).expect("b64");
    bytes[40] ^= 1;
    let flipped = postern_core::b64::encode_std(&bytes);
    refused(&format!("{head_line}\n{flipped}\n0:{packed}"));
    // Truncated anywhere: refused, never a panic.
    for cut in (0..record.len()).step_by(97) {
        if let Some(t) = record.get(..cut) {
            refused(t);
        }
    }
}

/// `record` (layout 2, every id) in the layout of older builds (1): the header line, then a
/// JSON body with the ids packed or (`listed`) as a JSON list of hex texts, and the state.
fn v1_record(record: &str, listed: bool) -> String {
    let (head_line, state, packed) = lines(record);
    let packed = packed.strip_prefix("0:").expect("every id");
    let head_line = head_line.replacen("\"v\":2", "\"v\":1", 1);
    let mut body = serde_json::json!({ "state": state });
    if listed {
        let ids = postern_core::b64::decode_std(packed).expect("b64");
        let list: Vec<serde_json::Value> = ids
            .chunks(32)
            .map(|id| {
                id.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    .into()
            })
            .collect();
        body["ids"] = list.into();
    } else {
        body["packed"] = packed.into();
    }
    format!("{head_line}\n{body}")
}

#[test]
fn a_record_of_an_older_build_restores_the_same_state() {
    let (_, _, v) = synced(120);
    let record = v.snapshot_record();
    for listed in [false, true] {
        let older = v1_record(&record, listed);
        assert_eq!(read_meta(&older).expect("meta").v, RECORD_V1);
        let mut r = Verifier::new();
        r.restore(&older).expect("older record");
        assert_eq!(
            (r.len(), r.head(), r.merkle_root()),
            (v.len(), v.head(), v.merkle_root())
        );
        // Written back in the current layout.
        assert_eq!(r.snapshot_record(), record);
    }
}

#[test]
fn the_worker_answers_a_snapshot_request_with_the_record() {
    let (_, _, mut v) = synced(50);
    let ask = |v: &mut Verifier, from: u64| {
        let req: ToWorker = serde_json::from_str(
            &serde_json::to_string(&ToWorker::snapshot(4, from)).expect("json"),
        )
        .expect("back");
        let ans = v.handle(&req);
        let text = serde_json::to_string(&ans).expect("answer json");
        let back: FromWorker = serde_json::from_str(&text).expect("answer back");
        assert_eq!(back.verified, 50);
        back.snapshot.expect("record")
    };
    let record = ask(&mut v, 0);
    assert_eq!(record, v.snapshot_record());
    assert_eq!(read_meta(&record).expect("meta").count, 50);
    // From an index on: the same header and state, the ids from there.
    let part = ask(&mut v, 12);
    let (head, state, ids) = lines(&record);
    let (part_head, part_state, part_ids) = lines(&part);
    assert_eq!((part_head, part_state), (head, state));
    let all = postern_core::b64::decode_std(&ids[2..]).expect("b64");
    let rest = part_ids.strip_prefix("12:").expect("from 12");
    assert_eq!(
        postern_core::b64::decode_std(rest).expect("b64"),
        all[12 * 32..]
    );
    // Up to the height (no ids), and above it (every id).
    assert_eq!(lines(&ask(&mut v, 50)).2, "50:");
    assert_eq!(ask(&mut v, 51), record);
    // Other answers carry no record.
    assert_eq!(v.handle(&ToWorker::root(5)).snapshot, None);
    // An empty verifier's record is not one to resume from.
    assert_eq!(
        read_meta(&Verifier::new().snapshot_record()),
        Err(SnapshotRefused::Empty)
    );
}

#[test]
fn snapshots_stored_in_segments_at_growing_heights_restore_the_verifier_at_each() {
    use crate::model::chain::segments::{assemble, full_ids, split};
    let view = public_view(&vector());
    let mut v = Verifier::new();
    for seg in [3u64, 9, 99] {
        let (mut segments, mut full) = (Vec::<String>::new(), 0u64);
        let mut v2 = Verifier::new();
        let mut at = 0;
        for step in [1usize, 2, 40, 57, 100, 0, 130, 70] {
            sync(&mut v2, &view[at..at + step], 100);
            at += step;
            let record = v2.snapshot_record_from(full);
            let s = split(&record, seg, full).expect("split");
            let head = s.head.to_string();
            segments.truncate(s.first as usize);
            segments.extend(s.segments.iter().map(|t| t.to_string()));
            full = full_ids(s.count, seg);
            let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
            let whole = assemble(&head, &segs, seg).expect("joined");
            assert_eq!(whole, v2.snapshot_record(), "segments of {seg} at {at}");
            v.restore(&whole).expect("restored");
            assert_eq!((v.len(), v.merkle_root()), (v2.len(), v2.merkle_root()));
        }
        assert_eq!(at, 400);
    }
    // A segment stored in another one's place (same length, sealed under its key by a
    // hostile or broken store): it joins, but core refuses the ids.
    let record = v.snapshot_record();
    let s = split(&record, 3, 0).expect("split");
    let mut segs: Vec<&str> = s.segments.clone();
    segs.swap(2, 5);
    let whole = assemble(s.head, &segs, 3).expect("same lengths");
    assert!(v.restore(&whole).is_err());
}

#[test]
fn stored_texts_read_back_as_the_rows_their_verification_gave() {
    let view = public_view(&vector());
    let mut v = Verifier::new();
    let accepted = sync(&mut v, &view, 100);
    let stored: Vec<String> = accepted.iter().filter_map(|s| s.json.clone()).collect();
    let rows = stored_summaries(100, &stored[100..250]);
    let want: Vec<EventSummary> = accepted[100..250]
        .iter()
        .map(|s| EventSummary {
            json: None,
            ..s.clone()
        })
        .collect();
    assert_eq!(rows, want);
    assert!(rows.iter().any(|s| s.sealed));
    assert_eq!(stored_summaries(7, &["not json".into()]), Vec::new());
}

impl Verifier {
    fn clone_locator(&self) -> Vec<String> {
        build_locator(self.state.event_ids(), LOCATOR_LIMIT_DEFAULT)
    }
}

#[test]
fn a_record_cut_into_parts_joins_back_and_each_part_fits() {
    let record = format!("{{\"v\":1}}\n{}é{}", "a".repeat(1000), "b".repeat(37));
    for max in [1, 2, 3, 7, 64, 999, 1000, 1001, 5000] {
        let parts = parts(&record, max);
        assert_eq!(parts.concat(), record, "max {max}");
        assert!(parts
            .iter()
            .all(|p| !p.is_empty() && (p.len() <= max || p.chars().count() == 1)));
        if max >= record.len() {
            assert_eq!(parts.len(), 1);
        }
    }
    assert_eq!(parts("", 8), vec![""]);
}
