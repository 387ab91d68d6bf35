//! DM sealing tests. The same file runs natively (`cargo test`) and in headless Chromium
//! (`cargo test --target wasm32-unknown-unknown`), where `#[test]` maps to wasm_bindgen_test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use postern_core::b64;
use postern_core::dm::{self, DmEnvelope, DmError, EnvelopeError, BUCKETS, MAX_BODY_LEN, TAG_LEN};
use postern_core::identity::{Identity, PublicIdentity};
use rand_core::OsRng;

const TS: u64 = 1_780_000_000;

fn pair() -> (Identity, Identity) {
    (
        Identity::generate(&mut OsRng),
        Identity::generate(&mut OsRng),
    )
}

fn seal(from: &Identity, to: &PublicIdentity, body: &[u8]) -> DmEnvelope {
    let id = dm::new_msg_id(&mut OsRng);
    dm::seal(from, to, body, &id, TS, &mut OsRng).unwrap()
}

#[test]
fn round_trip_authenticates_sender() {
    let (alice, bob) = pair();
    let env = seal(&alice, &bob.public(), b"hello bob");
    let opened = dm::open(&bob, &env).unwrap();
    assert_eq!(opened.text().unwrap(), "hello bob");
    assert_eq!(opened.sender, alice.public());
    assert_eq!(opened.timestamp, TS);
    assert_eq!(opened.msg_id, env.msg_id);
    // The envelope does not name the sender.
    let json = serde_json::to_string(&env).unwrap();
    assert!(!json.contains(&alice.node_id()));
    assert!(!json.contains(&b64::encode_std(alice.verifying_key().as_bytes())));
}

#[test]
fn empty_and_maximum_bodies() {
    let (alice, bob) = pair();
    for len in [0usize, 1, 115, 116, 500, MAX_BODY_LEN] {
        let body = vec![0xA5u8; len];
        let env = seal(&alice, &bob.public(), &body);
        assert_eq!(&dm::open(&bob, &env).unwrap().body[..], &body[..]);
    }
    let err = dm::seal(
        &alice,
        &bob.public(),
        &vec![0; MAX_BODY_LEN + 1],
        "abcdefgh",
        TS,
        &mut OsRng,
    );
    assert!(matches!(err, Err(DmError::BodyTooLarge(_))));
}

#[test]
fn ciphertext_sizes_are_buckets_only() {
    let (alice, bob) = pair();
    for len in [0usize, 10, 200, 1000, 3000] {
        let env = seal(&alice, &bob.public(), &vec![1u8; len]);
        let ct = b64::decode_std(&env.ciphertext).unwrap();
        assert!(
            BUCKETS.iter().any(|b| b + TAG_LEN == ct.len()),
            "{}",
            ct.len()
        );
    }
    let a = seal(&alice, &bob.public(), b"a");
    let b = seal(&alice, &bob.public(), &[b'b'; 100]);
    assert_eq!(a.ciphertext.len(), b.ciphertext.len());
}

#[test]
fn wrong_recipient_cannot_open() {
    let (alice, bob) = pair();
    let carol = Identity::generate(&mut OsRng);
    let env = seal(&alice, &bob.public(), b"for bob only");
    assert_eq!(dm::open(&carol, &env).unwrap_err(), DmError::WrongRecipient);
    // Even if the envelope is relabelled for Carol, she cannot decrypt it.
    let mut relabelled = env.clone();
    relabelled.recipient_id = carol.node_id();
    assert_eq!(dm::open(&carol, &relabelled).unwrap_err(), DmError::Decrypt);
}

#[test]
fn tamper_every_ciphertext_byte() {
    let (alice, bob) = pair();
    let env = seal(&alice, &bob.public(), b"tamper me");
    let ct = b64::decode_std(&env.ciphertext).unwrap();
    for i in 0..ct.len() {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        let mut e = env.clone();
        e.ciphertext = b64::encode_std(&bad);
        assert_eq!(
            dm::open(&bob, &e).unwrap_err(),
            DmError::Decrypt,
            "byte {i}"
        );
    }
}

#[test]
fn tamper_every_ephemeral_byte() {
    let (alice, bob) = pair();
    let env = seal(&alice, &bob.public(), b"tamper eph");
    let eph = b64::decode_std(&env.ephemeral_pub).unwrap();
    for i in 0..eph.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = eph.clone();
            bad[i] ^= bit;
            let mut e = env.clone();
            e.ephemeral_pub = b64::encode_std(&bad);
            let err = dm::open(&bob, &e).unwrap_err();
            assert!(
                matches!(err, DmError::Decrypt | DmError::NonContributory),
                "byte {i}: {err:?}"
            );
        }
    }
}

#[test]
fn tamper_bound_fields() {
    let (alice, bob) = pair();
    let env = seal(&alice, &bob.public(), b"bound");
    let mut e = env.clone();
    e.msg_id = dm::new_msg_id(&mut OsRng);
    assert_eq!(dm::open(&bob, &e).unwrap_err(), DmError::Decrypt);
    let mut e = env.clone();
    e.sender_ref = "00".repeat(16);
    assert_eq!(dm::open(&bob, &e).unwrap_err(), DmError::Decrypt);
    let mut e = env.clone();
    e.format = "postern-dm/2".into();
    assert_eq!(
        dm::open(&bob, &e).unwrap_err(),
        DmError::Envelope(EnvelopeError::UnsupportedFormat)
    );
}

#[test]
fn truncated_or_extended_ciphertext_rejected() {
    let (alice, bob) = pair();
    let env = seal(&alice, &bob.public(), b"truncate");
    let ct = b64::decode_std(&env.ciphertext).unwrap();
    for cut in [0usize, 1, 16, ct.len() - 1] {
        let mut e = env.clone();
        e.ciphertext = b64::encode_std(&ct[..cut]);
        assert!(dm::open(&bob, &e).is_err());
    }
    let mut longer = ct.clone();
    longer.push(0);
    let mut e = env.clone();
    e.ciphertext = b64::encode_std(&longer);
    assert_eq!(
        dm::open(&bob, &e).unwrap_err(),
        DmError::Envelope(EnvelopeError::BadCiphertext)
    );
    let mut e = env;
    e.ciphertext = "%%%".into();
    assert_eq!(
        dm::open(&bob, &e).unwrap_err(),
        DmError::Envelope(EnvelopeError::BadCiphertext)
    );
}

#[test]
fn all_zero_ephemeral_key_rejected() {
    let (alice, bob) = pair();
    let mut env = seal(&alice, &bob.public(), b"zero");
    env.ephemeral_pub = b64::encode_std(&[0u8; 32]);
    assert_eq!(dm::open(&bob, &env).unwrap_err(), DmError::NonContributory);
}

#[test]
fn distinct_seals_of_same_body_differ() {
    let (alice, bob) = pair();
    let a = seal(&alice, &bob.public(), b"same");
    let b = seal(&alice, &bob.public(), b"same");
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_ne!(a.ephemeral_pub, b.ephemeral_pub);
    // The pairwise sender pseudonym is stable per (sender, recipient) and differs per recipient.
    assert_eq!(a.sender_ref, b.sender_ref);
    let carol = Identity::generate(&mut OsRng);
    assert_ne!(seal(&alice, &carol.public(), b"x").sender_ref, a.sender_ref);
}

#[test]
fn envelope_json_round_trip_and_unknown_fields_rejected() {
    let (alice, bob) = pair();
    let env = seal(&alice, &bob.public(), b"json");
    let json = serde_json::to_value(&env).unwrap();
    let back: DmEnvelope = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, env);
    let mut extra = json;
    extra["sender"] = serde_json::Value::String(alice.node_id());
    assert!(serde_json::from_value::<DmEnvelope>(extra).is_err());
}

#[test]
fn recipient_computes_the_sender_ref_of_each_contact() {
    let (alice, bob) = pair();
    let env = seal(&bob, &alice.public(), b"hi");
    assert_eq!(
        dm::incoming_sender_ref(&alice, &bob.public()).unwrap(),
        env.sender_ref
    );
    // Directional: Alice's ref towards Bob differs.
    let back = seal(&alice, &bob.public(), b"hi");
    assert_ne!(back.sender_ref, env.sender_ref);
    assert_eq!(
        dm::incoming_sender_ref(&bob, &alice.public()).unwrap(),
        back.sender_ref
    );
}
