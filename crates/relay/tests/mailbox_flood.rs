//! Mailbox lock-out (issue 14 item 6) against the real `postern` binary: a sustained flood of
//! anonymous deposits with random sender_refs cannot keep a contact's DM out, once the owner
//! registered its contacts' sender_refs (`POST /api/mesh/dm/contacts`). Without a list the
//! mailbox keeps the old single budget, which such a flood fills.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{now, Relay};
use postern_core::api::dm::{ContactsRequest, ContactsResponse, PATH_CONTACTS};
use postern_core::auth::{contacts_params, sign_request_for, Action};
use postern_core::caps::{canonical_contact_list, DEFAULT_STRANGER_CAP};
use postern_core::dm::{self, DmEnvelope};
use postern_core::{b64, Identity};
use rand_core::{OsRng, RngCore};

/// A well-formed envelope under a fresh random sender_ref (what an anonymous flooder sends).
fn junk(recipient: &str) -> DmEnvelope {
    let r = |n: usize| {
        let mut b = vec![0u8; n];
        OsRng.fill_bytes(&mut b);
        b
    };
    DmEnvelope {
        format: dm::FORMAT.to_string(),
        recipient_id: recipient.to_string(),
        msg_id: hex::encode(r(16)),
        sender_ref: hex::encode(r(16)),
        ephemeral_pub: b64::encode_std(&r(32)),
        ciphertext: b64::encode_std(&r(256 + dm::TAG_LEN)),
    }
}

fn register_contacts(relay: &Relay, owner: &Identity, contacts: &[&Identity]) -> u64 {
    let refs = canonical_contact_list(
        contacts
            .iter()
            .map(|c| dm::incoming_sender_ref(owner, &c.public()).unwrap())
            .collect(),
    );
    let auth = sign_request_for(
        owner,
        &relay.base,
        Action::DmContacts,
        &contacts_params(&refs),
        now(),
        &mut OsRng,
    );
    let r = relay.post(
        PATH_CONTACTS,
        &ContactsRequest {
            auth,
            sender_refs: refs,
        },
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json_as::<ContactsResponse>().count
}

/// Deposit `n` junk envelopes; (stored, refused as mailbox_full).
fn flood(relay: &Relay, recipient: &str, n: usize) -> (usize, usize) {
    let (mut stored, mut full) = (0, 0);
    for _ in 0..n {
        let r = relay.send(&junk(recipient));
        match r.status {
            200 => stored += 1,
            _ => {
                r.assert_error(429, "mailbox_full");
                full += 1;
            }
        }
    }
    (stored, full)
}

#[test]
fn a_contacts_dm_gets_in_under_a_sustained_anonymous_flood() {
    let data = tempfile::tempdir().unwrap();
    // Carol sends three messages the owner keeps unread: room for them under the pair cap.
    let relay = Relay::start(data.path(), &["--per-sender-cap", "4"]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let carol = Identity::generate(&mut OsRng);
    assert_eq!(relay.register(&alice).status, 200);
    assert_eq!(register_contacts(&relay, &alice, &[&bob, &carol]), 2);
    let to = alice.node_id();
    let a = alice.public();

    // The flood: far more than the whole mailbox cap (64), every one under a new sender_ref.
    let (stored, full) = flood(&relay, &to, 300);
    assert_eq!(stored, DEFAULT_STRANGER_CAP);
    assert_eq!(full, 300 - DEFAULT_STRANGER_CAP);
    // Bob's DM gets in while the flood is refused ...
    let m1 = Relay::seal(&bob, &a, b"through the flood");
    let r = relay.send(&m1);
    assert_eq!(r.status, 200, "{}", r.body);
    // ... and keeps getting in as the flood goes on and the owner drops the junk it polls.
    for round in 0..3 {
        let (_, full) = flood(&relay, &to, 50);
        assert!(full > 0, "round {round}: the flood was not refused");
        let m = Relay::seal(&carol, &a, format!("round {round}").as_bytes());
        let r = relay.send(&m);
        assert_eq!(r.status, 200, "round {round}: {}", r.body);
        let polled = relay.poll(&alice);
        let junk_ids: Vec<String> = polled
            .messages
            .iter()
            .filter(|m| dm::open(&alice, &m.envelope).is_err())
            .map(|m| m.envelope.msg_id.clone())
            .collect();
        assert!(junk_ids.len() <= DEFAULT_STRANGER_CAP);
        if !junk_ids.is_empty() {
            relay.ack(&alice, &junk_ids);
        }
    }
    let got = relay.poll(&alice);
    let opened: Vec<String> = got
        .messages
        .iter()
        .filter_map(|m| dm::open(&alice, &m.envelope).ok())
        .map(|o| o.text().unwrap().to_string())
        .collect();
    for want in ["through the flood", "round 0", "round 1", "round 2"] {
        assert!(
            opened.iter().any(|t| t == want),
            "{want} missing: {opened:?}"
        );
    }
}

#[test]
fn without_a_contact_list_the_flood_fills_the_shared_budget() {
    // The documented limit: an owner that registered no list has one budget of mailbox_cap.
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &["--mailbox-cap", "16"]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(relay.register(&alice).status, 200);
    let (stored, _) = flood(&relay, &alice.node_id(), 40);
    assert_eq!(stored, 16);
    relay
        .send(&Relay::seal(&bob, &alice.public(), b"locked out"))
        .assert_error(429, "mailbox_full");
    // Registering the list fixes it at once (the 16 junk messages are strangers' now).
    register_contacts(&relay, &alice, &[&bob]);
    let r = relay.send(&Relay::seal(&bob, &alice.public(), b"let in"));
    assert_eq!(r.status, 200, "{}", r.body);
}
