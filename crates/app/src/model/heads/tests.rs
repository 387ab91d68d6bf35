//! Tests of the browser's tree-head check.
use super::*;
use postern_core::tree_head::TreeHeadKey;

fn ids(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let s = format!("{tag}{i:x}");
            format!("{s:0>64}")
        })
        .collect()
}

fn body(key: &TreeHeadKey, ids: &[String], chain_size: u64, t: u64) -> (String, TreeHeadWire) {
    let wire = key.sign("net", ids, t).to_wire();
    let answer = TreeHeadResponse {
        tree_head: Some(wire.clone()),
        chain_size,
    };
    (serde_json::to_string(&answer).unwrap(), wire)
}

fn key() -> TreeHeadKey {
    TreeHeadKey::from_seed(&[7u8; 32])
}

#[test]
fn no_head_yet() {
    let v = check_head(
        r#"{"tree_head":null,"chain_size":3}"#,
        None,
        &ids("a", 3),
        None,
    );
    assert_eq!(v.state, HeadState::None);
    assert_eq!(v.pin, None);
    assert_eq!(head_text(&v), "Signed head: none yet");
}

#[test]
fn head_over_our_ids_is_verified_and_pinned_then_moves_forward() {
    let k = key();
    let chain = ids("a", 10);
    let (b, w) = body(&k, &chain[..4], 6, 1);
    let v = check_head(&b, None, &chain, None);
    assert_eq!(v.state, HeadState::Verified);
    assert_eq!(v.pin.as_ref(), Some(&w));
    assert_eq!(
        head_text(&v),
        "Signed head: size 4, verified · pending: 2 events not yet signed"
    );
    let (b2, w2) = body(&k, &chain[..9], 9, 2);
    let v2 = check_head(&b2, Some(&w), &chain, None);
    assert_eq!(v2.state, HeadState::Verified);
    assert_eq!(v2.pin.as_ref(), Some(&w2));
    assert_eq!(head_text(&v2), "Signed head: size 9, verified");
    // An older head keeps the newer pin.
    let v3 = check_head(&b, Some(&w2), &chain, None);
    assert_eq!(v3.state, HeadState::Verified);
    assert_eq!(v3.pin.as_ref(), Some(&w2));
}

#[test]
fn head_beyond_our_ids_is_pending_and_keeps_the_pin() {
    let k = key();
    let chain = ids("a", 10);
    let (_, w) = body(&k, &chain[..3], 3, 1);
    let (b, _) = body(&k, &chain, 10, 2);
    assert_eq!(proof_needed(&b, Some(&w), 5), Some((3, 10)));
    let proof: Vec<String> = tree_head::consistency(&chain, 3)
        .unwrap()
        .iter()
        .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let v = check_head(&b, Some(&w), &chain[..5], Some(&proof));
    assert_eq!(v.state, HeadState::Pending);
    assert_eq!(v.pin.as_ref(), Some(&w));
    // Without a pin: pending, nothing pinned.
    let v = check_head(&b, None, &chain[..5], None);
    assert_eq!(v.state, HeadState::Pending);
    assert_eq!(v.pin, None);
}

#[test]
fn equivocation_same_size_other_root_keeps_both_heads() {
    let k = key();
    let (_, pinned) = body(&k, &ids("a", 5), 5, 1);
    let other = ids("b", 5);
    let (b, offered) = body(&k, &other, 5, 2);
    let v = check_head(&b, Some(&pinned), &ids("a", 5), None);
    assert_eq!(v.state, HeadState::Misbehaviour);
    let e = v.evidence.clone().unwrap();
    assert!(postern_core::head_pin::evidence_holds(&e));
    assert_eq!(e.kind, EvidenceKind::Equivocation);
    assert_eq!((e.pinned, e.offered), (pinned.clone(), offered));
    assert_eq!(v.pin, Some(pinned.clone()));
    let mut rec = HeadRecord::default();
    assert!(rec.absorb(&v));
    assert!(!rec.absorb(&v));
    assert_eq!((rec.pin, rec.evidence.len()), (Some(pinned), 1));
}

#[test]
fn rewritten_history_within_our_ids_is_inconsistent() {
    let k = key();
    let ours = ids("a", 8);
    let (_, pinned) = body(&k, &ours[..3], 3, 1);
    let (b, _) = body(&k, &ids("b", 6), 6, 2);
    let v = check_head(&b, Some(&pinned), &ours, None);
    assert_eq!(v.state, HeadState::Misbehaviour);
    assert_eq!(v.evidence.unwrap().kind, EvidenceKind::Inconsistent);
    // No pin: the head still contradicts the events we verified.
    let v = check_head(&b, None, &ours, None);
    assert_eq!(v.state, HeadState::Misbehaviour);
    assert_eq!(v.evidence.unwrap().kind, EvidenceKind::Inconsistent);
}

#[test]
fn rewritten_history_beyond_our_ids_fails_the_relays_proof() {
    let k = key();
    let ours = ids("a", 4);
    let (_, pinned) = body(&k, &ours, 4, 1);
    let theirs = ids("b", 9);
    let (b, _) = body(&k, &theirs, 9, 2);
    let proof: Vec<String> = tree_head::consistency(&theirs, 4)
        .unwrap()
        .iter()
        .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let v = check_head(&b, Some(&pinned), &ours, Some(&proof));
    assert_eq!(v.state, HeadState::Misbehaviour);
    assert_eq!(v.evidence.unwrap().kind, EvidenceKind::Inconsistent);
}

#[test]
fn bad_answers_are_invalid_not_pinned() {
    let v = check_head("nope", None, &[], None);
    assert_eq!(v.state, HeadState::Invalid);
    let k = key();
    let (b, _) = body(&k, &ids("a", 2), 2, 1);
    let forged = b.replace("\"size\":2", "\"size\":1");
    let v = check_head(&forged, None, &ids("a", 2), None);
    assert_eq!(v.state, HeadState::Invalid);
    assert_eq!(v.pin, None);
}

#[test]
fn the_rewind_bound_is_every_pin_whatever_key_the_relay_shows() {
    // No signed head anywhere yet: nothing is settled.
    assert_eq!(settled_bound(0, &[]), 0);
    // The relay's own head counts…
    assert_eq!(settled_bound(7, &[]), 7);
    // …but hiding it, or showing a head under a new key (its old pin then looks like another
    // relay's), never lowers the bound below a head this browser pinned.
    assert_eq!(settled_bound(0, &[40]), 40);
    assert_eq!(settled_bound(3, &[40, 12]), 40);
    assert_eq!(settled_bound(50, &[40]), 50);
}

#[test]
fn a_relay_that_never_signed_is_known_as_such() {
    let none = r#"{"tree_head":null,"chain_size":3}"#;
    assert!(!any_signed_head(none, &[]), "no head anywhere");
    assert!(!any_signed_head("not json", &[]));
    assert!(
        any_signed_head(none, &[5]),
        "a head pinned here, under any key"
    );
    let (b, _) = body(&key(), &ids("a", 2), 2, 1);
    assert!(any_signed_head(&b, &[]));
}
