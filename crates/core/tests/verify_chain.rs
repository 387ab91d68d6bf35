#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Chain verification: generated chains, single-field corruption, replay, revocation, legacy gate
//! signatures, ECDSA P-256 authors, locators and forks.

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use postern_core::canonical::{
    compute_event_id, node_id_from_public_key, signature_string, GENESIS_HASH, NETWORK_ID,
    PROTOCOL_VERSION,
};
use postern_core::chaingen::{author_key, generate_chain, sample_payload, GenOptions};
use postern_core::event::{sign_event, ChainEvent};
use postern_core::json::Value;
use postern_core::verify::{
    build_locator, match_locator, verify_chain, verify_event, FailReason, VerifyOptions,
};
use proptest::prelude::*;

const START: u64 = 1_780_000_000;

fn opts() -> VerifyOptions {
    VerifyOptions::at(START + 1000)
}

fn chain(n: usize) -> Vec<ChainEvent> {
    generate_chain(
        n,
        GenOptions {
            start_timestamp: START,
            ..GenOptions::default()
        },
    )
}

fn reason(events: &[ChainEvent], o: &VerifyOptions) -> Option<(usize, FailReason)> {
    verify_chain(events, o).error.map(|e| (e.index, e.reason))
}

fn relink(events: &mut [ChainEvent], from: usize) {
    for i in from..events.len() {
        if i > 0 {
            events[i].prev_hash = events[i - 1].event_id.clone();
        }
        events[i].event_id = events[i].computed_event_id();
    }
}

#[test]
fn generated_chain_is_valid_batched_and_single() {
    let c = chain(300);
    for batch in [true, false] {
        let r = verify_chain(&c, &VerifyOptions { batch, ..opts() });
        assert!(r.valid, "{:?}", r.error);
        assert_eq!(r.count, 300);
        assert_eq!(r.head.as_deref(), Some(c[299].event_id.as_str()));
        let ids: Vec<&str> = c.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(
            r.merkle_root.unwrap(),
            postern_core::merkle::merkle_root(&ids)
        );
    }
    for e in &c {
        verify_event(e, &opts()).unwrap();
    }
}

#[test]
fn empty_chain_is_valid_at_genesis() {
    let r = verify_chain(&[], &opts());
    assert!(r.valid);
    assert_eq!(r.head.as_deref(), Some(GENESIS_HASH));
    assert_eq!(r.merkle_root.as_deref(), Some(GENESIS_HASH));
}

#[derive(Debug, Clone, Copy)]
enum Field {
    EventId,
    PrevHash,
    NodeId,
    Payload,
    Timestamp,
    SequenceUp,
    SequenceDown,
    Signature,
    Network,
    PublicKey,
    AlgoUnknown,
    AlgoOther,
    Protocol,
    EventType,
}

fn corrupt(c: &mut [ChainEvent], i: usize, f: Field) -> FailReason {
    let e = &mut c[i];
    match f {
        Field::EventId => {
            e.event_id = format!("{:064x}", 0xdead_beefu64 + i as u64);
            FailReason::EventIdMismatch
        }
        Field::PrevHash => {
            e.prev_hash = format!("{:064x}", 7);
            FailReason::PrevHashMismatch
        }
        Field::NodeId => {
            e.node_id = "!sb_00000000000000000000000000000000".into();
            FailReason::NodeIdMismatch
        }
        Field::Payload => {
            let key = match e.event_type.as_str() {
                "message" => "message",
                "vote" => "target_id",
                "prediction" => "market_title",
                "gate_message" => "sender_ref",
                _ => "target_id",
            };
            e.payload.insert(key, Value::from("tampered"));
            FailReason::InvalidSignature
        }
        Field::Timestamp => {
            e.timestamp = Value::Float(e.timestamp.py_float().unwrap() + 1.0);
            FailReason::EventIdMismatch
        }
        Field::SequenceUp => {
            e.sequence = Value::from(e.sequence_int() as i64 + 1000);
            FailReason::InvalidSignature
        }
        Field::SequenceDown => {
            e.sequence = Value::from(0i64);
            FailReason::InvalidSequence
        }
        Field::Signature => {
            let mut b = e.signature.clone().into_bytes();
            b[10] = if b[10] == b'0' { b'1' } else { b'0' };
            e.signature = String::from_utf8(b).unwrap();
            FailReason::InvalidSignature
        }
        Field::Network => {
            e.network_id = "sb-mainnet-evil".into();
            FailReason::NetworkMismatch
        }
        Field::PublicKey => {
            e.public_key = base64::engine::general_purpose::STANDARD
                .encode(author_key(99).verifying_key().as_bytes());
            FailReason::NodeIdMismatch
        }
        Field::AlgoUnknown => {
            e.public_key_algo = "RSA".into();
            FailReason::UnsupportedPublicKeyAlgo
        }
        Field::AlgoOther => {
            e.public_key_algo = "ecdsa_p256".into();
            FailReason::InvalidSignature
        }
        Field::Protocol => {
            e.protocol_version = "infonet/99".into();
            FailReason::UnsupportedProtocolVersion
        }
        Field::EventType => {
            // Stay in the same sequence domain so the payload rule is what trips.
            e.event_type = match e.event_type.as_str() {
                "vote" => "stake".into(),
                "gate_message" => "dm_message".into(),
                _ => "vote".into(),
            };
            FailReason::InvalidPayload
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_single_field_corruption_is_detected(
        n in 2usize..40,
        at in 0usize..40,
        f in prop::sample::select(vec![
            Field::EventId, Field::PrevHash, Field::NodeId, Field::Payload, Field::Timestamp,
            Field::SequenceUp, Field::SequenceDown, Field::Signature, Field::Network, Field::PublicKey,
            Field::AlgoUnknown, Field::AlgoOther, Field::Protocol, Field::EventType,
        ]),
        batch in any::<bool>(),
    ) {
        let mut c = chain(n);
        let i = at % n;
        let want = corrupt(&mut c, i, f);
        let o = VerifyOptions { batch, ..opts() };
        prop_assert_eq!(reason(&c, &o), Some((i, want)), "{:?}", f);
    }

    #[test]
    fn random_events_never_panic(s in "[ -~]{0,300}") {
        if let Ok(v) = postern_core::json::parse(s.as_bytes()) {
            let _ = postern_core::verify::verify_chain_values(std::slice::from_ref(&v), &opts());
            if let Ok(e) = ChainEvent::from_value(&v) {
                let _ = verify_event(&e, &opts());
            }
        }
    }
}

#[test]
fn replayed_event_id_is_rejected() {
    let mut c = chain(5);
    let dup = c[2].clone();
    c.push(dup);
    assert_eq!(reason(&c, &opts()), Some((5, FailReason::DuplicateEventId)));
}

#[test]
fn sequence_rollback_is_rejected() {
    let key = author_key(0);
    let p = sample_payload("message", 1);
    let a = sign_event(&key, GENESIS_HASH, "message", &p, Value::from(START), 5);
    let b = sign_event(&key, &a.event_id, "message", &p, Value::from(START + 1), 3);
    assert_eq!(
        reason(&[a.clone(), b], &opts()),
        Some((1, FailReason::SequenceReplay))
    );
    // A gate message has its own sequence domain: sequence 1 after public sequence 5 is fine.
    let g = sign_event(
        &key,
        &a.event_id,
        "gate_message",
        &sample_payload("gate_message", 1),
        Value::from(START + 1),
        1,
    );
    assert!(verify_chain(&[a, g], &opts()).valid);
}

#[test]
fn stale_and_future_timestamps() {
    let c = chain(3);
    let o = VerifyOptions::at(START + 86_400 + 10);
    assert_eq!(reason(&c, &o), Some((0, FailReason::StaleTimestamp)));
    let o = VerifyOptions {
        max_event_age_s: 0,
        ..o
    };
    assert!(verify_chain(&c, &o).valid);
    let o = VerifyOptions::at(START - 86_401);
    assert_eq!(reason(&c, &o), Some((0, FailReason::StaleTimestamp)));
}

fn revoke_payload(key_b64: &str, revoked_at: u64, grace_until: u64) -> Value {
    let mut p = Value::object();
    p.insert("revoked_public_key", Value::from(key_b64));
    p.insert("revoked_public_key_algo", Value::from("Ed25519"));
    p.insert("revoked_at", Value::from(revoked_at));
    p.insert("grace_until", Value::from(grace_until));
    p.insert("reason", Value::from("compromised"));
    p
}

#[test]
fn revoked_key_may_not_sign_after_grace() {
    let key = author_key(3);
    let kb64 = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let a = sign_event(
        &key,
        GENESIS_HASH,
        "message",
        &sample_payload("message", 1),
        Value::from(START),
        1,
    );
    let r = sign_event(
        &key,
        &a.event_id,
        "key_revoke",
        &revoke_payload(&kb64, START + 1, START + 100),
        Value::from(START + 1),
        2,
    );
    let b = sign_event(
        &key,
        &r.event_id,
        "message",
        &sample_payload("message", 2),
        Value::from(START + 2),
        3,
    );
    let chain = vec![a.clone(), r.clone(), b];
    // Within grace: still accepted.
    assert!(verify_chain(&chain, &VerifyOptions::at(START + 50)).valid);
    // After grace: the post-revocation event is rejected.
    assert_eq!(
        reason(&chain, &VerifyOptions::at(START + 101)),
        Some((2, FailReason::KeyRevoked))
    );
    // A key_revoke itself is still allowed from a revoked key.
    let r2 = sign_event(
        &key,
        &r.event_id,
        "key_revoke",
        &revoke_payload(&kb64, START + 2, START + 3),
        Value::from(START + 2),
        3,
    );
    assert!(verify_chain(&[a.clone(), r.clone(), r2], &VerifyOptions::at(START + 500)).valid);
    // Revoking someone else's key is refused.
    let other =
        base64::engine::general_purpose::STANDARD.encode(author_key(4).verifying_key().as_bytes());
    let bad = sign_event(
        &key,
        &a.event_id,
        "key_revoke",
        &revoke_payload(&other, START + 1, START + 100),
        Value::from(START + 1),
        2,
    );
    assert_eq!(
        reason(&[a, bad], &opts()),
        Some((1, FailReason::RevokedKeyMismatch))
    );
}

#[test]
fn invalid_revocation_window_is_a_schema_error() {
    let key = author_key(3);
    let kb64 = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let r = sign_event(
        &key,
        GENESIS_HASH,
        "key_revoke",
        &revoke_payload(&kb64, START + 10, START + 1),
        Value::from(START),
        1,
    );
    assert_eq!(reason(&[r], &opts()), Some((0, FailReason::InvalidPayload)));
}

#[test]
fn gate_message_legacy_signature_variants() {
    let key = author_key(1);
    let vk = key.verifying_key();
    let node = node_id_from_public_key(vk.as_bytes());
    let mut p = sample_payload("gate_message", 3);
    p.insert("reply_to", Value::from("parent-1"));
    p.insert("gate_envelope", Value::from("ZW52ZWxvcGU="));
    // Legacy signer: signed without reply_to and without epoch.
    let mut legacy = p.clone();
    legacy.remove("reply_to");
    legacy.remove("epoch");
    let msg = signature_string("gate_message", &node, 1, &legacy);
    let normalized = postern_core::canonical::normalize_payload("gate_message", &p);
    let mut e = ChainEvent {
        event_id: String::new(),
        prev_hash: GENESIS_HASH.into(),
        event_type: "gate_message".into(),
        node_id: node,
        payload: normalized,
        timestamp: Value::Float(START as f64),
        sequence: Value::from(1u64),
        signature: hex::encode(key.sign(msg.as_bytes()).to_bytes()),
        network_id: NETWORK_ID.into(),
        public_key: base64::engine::general_purpose::STANDARD.encode(vk.as_bytes()),
        public_key_algo: "ed25519".into(),
        protocol_version: PROTOCOL_VERSION.into(),
    };
    e.event_id = e.computed_event_id();
    assert!(verify_chain(std::slice::from_ref(&e), &opts()).valid);
    // gate_envelope is not signed: changing it keeps the signature valid (event id changes).
    let mut e2 = e.clone();
    e2.payload.insert("gate_envelope", Value::from("b3RoZXI="));
    e2.event_id = e2.computed_event_id();
    assert!(verify_chain(&[e2], &opts()).valid);
    // The signed ciphertext is bound.
    let mut e3 = e;
    e3.payload.insert("sender_ref", Value::from("someone-else"));
    e3.event_id = e3.computed_event_id();
    assert_eq!(
        reason(&[e3], &opts()),
        Some((0, FailReason::InvalidSignature))
    );
}

#[test]
fn ecdsa_p256_author_is_accepted() {
    use p256::ecdsa::{signature::Signer as _, Signature, SigningKey};
    let sk = SigningKey::from_bytes(&[0x42u8; 32].into()).unwrap();
    let point = sk.verifying_key().to_encoded_point(false);
    let node = node_id_from_public_key(point.as_bytes());
    let p = sample_payload("message", 9);
    let msg = signature_string("message", &node, 1, &p);
    let sig: Signature = sk.sign(msg.as_bytes());
    let ts = Value::Float(START as f64 + 0.25);
    let e = ChainEvent {
        event_id: compute_event_id(
            GENESIS_HASH,
            "message",
            &node,
            &p,
            &ts,
            &Value::from(1u64),
            NETWORK_ID,
        ),
        prev_hash: GENESIS_HASH.into(),
        event_type: "message".into(),
        node_id: node,
        payload: p,
        timestamp: ts,
        sequence: Value::from(1u64),
        signature: hex::encode(sig.to_der().as_bytes()),
        network_id: NETWORK_ID.into(),
        public_key: base64::engine::general_purpose::STANDARD.encode(point.as_bytes()),
        public_key_algo: "ECDSA_P256".into(),
        protocol_version: PROTOCOL_VERSION.into(),
    };
    let mut c = chain(4);
    c.insert(0, e);
    relink(&mut c, 1);
    // Relinking invalidates the Ed25519 signatures? No: prev_hash is not signed.
    let r = verify_chain(&c, &opts());
    assert!(r.valid, "{:?}", r.error);
}

#[test]
fn forbidden_field_on_public_event_is_rejected() {
    let key = author_key(0);
    let mut p = sample_payload("message", 1);
    p.insert("ip_address", Value::from("10.0.0.1"));
    let mut e = sign_event(&key, GENESIS_HASH, "message", &p, Value::from(START), 1);
    e.payload = p; // keep the raw (un-normalised) payload on the wire
    e.event_id = e.computed_event_id();
    let r = verify_chain(&[e], &opts());
    assert_eq!(
        r.error.as_ref().map(|x| x.reason),
        Some(FailReason::InvalidPayload)
    );
}

#[test]
fn locator_shape_and_fork_matching() {
    let ids: Vec<String> = (0..100).map(|i| format!("{i:064x}")).collect();
    let loc = build_locator(&ids, 32);
    assert_eq!(loc.last().unwrap(), GENESIS_HASH);
    assert_eq!(
        &loc[..10],
        &ids.iter().rev().take(10).cloned().collect::<Vec<_>>()[..]
    );
    // After ten entries the step doubles: 99..90, then 88, 84, 76, 60, 28.
    let tail: Vec<usize> = loc[10..loc.len() - 1]
        .iter()
        .map(|h| usize::from_str_radix(h, 16).unwrap())
        .collect();
    assert_eq!(tail, vec![88, 84, 76, 60, 28]);
    assert_eq!(
        build_locator::<String>(&[], 32),
        vec![GENESIS_HASH.to_string()]
    );
    assert_eq!(build_locator(&ids, 4).len(), 4);

    // Peer is behind us: not a fork.
    let peer = build_locator(&ids[..50], 32);
    let m = match_locator(&ids, &peer);
    assert_eq!(
        (
            m.matched_hash.as_deref(),
            m.start_index,
            m.forked,
            m.diverged
        ),
        (Some(ids[49].as_str()), 50, false, false)
    );
    // Peer is ahead: we match our head, not a fork.
    let mut longer = ids.clone();
    longer.push(format!("{:064x}", 1000));
    let m = match_locator(&ids, &build_locator(&longer, 32));
    assert_eq!((m.start_index, m.forked, m.diverged), (100, false, false));
    // Diverged after index 59.
    let mut fork = ids[..60].to_vec();
    fork.extend((0..5).map(|i| format!("{:064x}", 5000 + i)));
    let m = match_locator(&ids, &build_locator(&fork, 32));
    assert!(m.diverged && !m.forked);
    assert!(m.start_index <= 60);
    // Only genesis in common although the peer has history: the reference calls that forked.
    let other: Vec<String> = (0..20).map(|i| format!("{:064x}", 9000 + i)).collect();
    let m = match_locator(&ids, &build_locator(&other, 32));
    assert_eq!(
        (
            m.matched_hash.as_deref(),
            m.start_index,
            m.forked,
            m.diverged
        ),
        (Some(GENESIS_HASH), 0, true, true)
    );
    // Empty local chain, empty peer: genesis, no fork.
    let m = match_locator::<String>(&[], &[GENESIS_HASH.to_string()]);
    assert!(!m.forked && !m.diverged);
    // Nothing in common (no genesis either).
    let m = match_locator(&ids, &["ff".repeat(32)]);
    assert_eq!((m.matched_hash, m.forked, m.diverged), (None, true, true));
}

#[test]
fn key_rotation_claim_signed_by_old_key() {
    use postern_core::verify::verify_key_rotation_claim;
    let old = author_key(7);
    let new = author_key(8);
    let b64 = |k: &ed25519_dalek::SigningKey| {
        base64::engine::general_purpose::STANDARD.encode(k.verifying_key().as_bytes())
    };
    let old_node = node_id_from_public_key(old.verifying_key().as_bytes());
    let mut claim = Value::object();
    claim.insert("old_node_id", Value::from(old_node.as_str()));
    claim.insert("old_public_key", Value::Str(b64(&old)));
    claim.insert("old_public_key_algo", Value::from("Ed25519"));
    claim.insert("new_public_key", Value::Str(b64(&new)));
    claim.insert("new_public_key_algo", Value::from("Ed25519"));
    claim.insert("timestamp", Value::from(START));
    let msg = postern_core::canonical::signature_string_with_network(
        NETWORK_ID,
        "key_rotate",
        &old_node,
        "0",
        &claim,
    );
    let mut payload = claim.clone();
    payload.insert(
        "old_signature",
        Value::Str(hex::encode(old.sign(msg.as_bytes()).to_bytes())),
    );
    verify_key_rotation_claim(&payload).unwrap();
    // The rotation event itself is signed by the new key and verifies on the chain.
    let evt = sign_event(
        &new,
        GENESIS_HASH,
        "key_rotate",
        &payload,
        Value::from(START),
        1,
    );
    assert!(verify_chain(&[evt], &opts()).valid);
    let mut forged = payload.clone();
    forged.insert("new_public_key", Value::Str(b64(&author_key(9))));
    assert_eq!(
        verify_key_rotation_claim(&forged).unwrap_err().reason,
        FailReason::InvalidSignature
    );
}

/// Fault-injection checklist: `wrong_epoch_ciphertext` — a gate message replayed under another
/// epoch no longer verifies (the epoch is signed; only its *absence* is a legacy variant).
#[test]
fn gate_epoch_mismatch_is_rejected() {
    let key = author_key(2);
    let g = sign_event(
        &key,
        GENESIS_HASH,
        "gate_message",
        &sample_payload("gate_message", 4),
        Value::from(START),
        1,
    );
    assert!(verify_chain(std::slice::from_ref(&g), &opts()).valid);
    let mut bumped = g.clone();
    let epoch = bumped
        .payload
        .get("epoch")
        .unwrap()
        .py_int()
        .unwrap()
        .to_i64()
        .unwrap();
    bumped.payload.insert("epoch", Value::from(epoch + 1));
    bumped.event_id = bumped.computed_event_id();
    assert_eq!(
        reason(&[bumped], &opts()),
        Some((0, FailReason::InvalidSignature))
    );
    // Plaintext smuggled next to the ciphertext is refused by the private-lane schema.
    let mut leak = g;
    leak.payload
        .insert("_local_plaintext", Value::from("secret"));
    leak.event_id = leak.computed_event_id();
    assert_eq!(
        reason(&[leak], &opts()),
        Some((0, FailReason::InvalidPayload))
    );
}

/// A signature whose R carries a small-order component fails `verify_strict`; the batch path
/// must agree (such signatures are routed to single verification).
#[test]
fn torsion_component_in_r_is_rejected_batched_and_single() {
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let mut c = chain(12);
    let sig = hex::decode(&c[5].signature).unwrap();
    let r = CompressedEdwardsY(sig[..32].try_into().unwrap())
        .decompress()
        .unwrap();
    let mut forged = (r + EIGHT_TORSION[1]).compress().to_bytes().to_vec();
    forged.extend_from_slice(&sig[32..]);
    c[5].signature = hex::encode(forged);
    for batch in [true, false] {
        assert_eq!(
            reason(&c, &VerifyOptions { batch, ..opts() }),
            Some((5, FailReason::InvalidSignature))
        );
    }
    // A non-canonical s (s + L) is rejected too.
    let mut c = chain(3);
    let mut sig = hex::decode(&c[1].signature).unwrap();
    // The group order L, little-endian.
    let l =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").unwrap();
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
    c[1].signature = hex::encode(sig);
    for batch in [true, false] {
        assert_eq!(
            reason(&c, &VerifyOptions { batch, ..opts() }),
            Some((1, FailReason::InvalidSignature))
        );
    }
}
