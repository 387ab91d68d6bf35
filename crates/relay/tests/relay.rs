//! End-to-end tests of the real `postern serve` binary over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{now, urlencode, Relay, Rng};
use postern_core::api::dm::*;
use postern_core::api::MAX_BODY_BYTES;
use postern_core::auth::{sign_request_for, Action};
use postern_core::{b64, dm, Identity};
use rand_core::{OsRng, RngCore};
use serde_json::json;

fn ids(p: &PollResponse) -> Vec<String> {
    p.messages
        .iter()
        .map(|m| m.envelope.msg_id.clone())
        .collect()
}

#[test]
fn register_lookup_send_poll_open_ack() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let health = relay.get("/api/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["ok"], true);
    assert_eq!(health.json()["version"], env!("CARGO_PKG_VERSION"));

    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    for id in [&alice, &bob] {
        let r = relay.register(id);
        assert_eq!(r.status, 200, "{}", r.body);
        let reg: RegisterResponse = r.json_as();
        assert!(reg.ok);
        assert_eq!(reg.node_id, id.node_id());
    }
    let bob_pub = relay.lookup(&bob.node_id());
    assert_eq!(bob_pub, bob.public());

    let env = Relay::seal(&alice, &bob_pub, b"hello bob");
    let r = relay.send(&env);
    assert_eq!(r.status, 200, "{}", r.body);
    let sent: SendResponse = r.json_as();
    assert!(sent.ok && !sent.duplicate);
    assert_eq!(sent.msg_id, env.msg_id);
    assert!(sent.expires_at > now());

    // Poll is non-destructive: twice, same answer.
    let first = relay.poll(&bob);
    let second = relay.poll(&bob);
    assert_eq!(first, second);
    assert_eq!(first.total, 1);
    assert_eq!(first.messages.len(), 1);
    assert_eq!(first.messages[0].envelope, env);
    assert_eq!(first.messages[0].expires_at, sent.expires_at);
    // Alice's mailbox is empty.
    assert_eq!(relay.poll(&alice).total, 0);

    let opened = dm::open(&bob, &first.messages[0].envelope).unwrap();
    assert_eq!(opened.sender, alice.public());
    assert_eq!(opened.text().unwrap(), "hello bob");

    let acked = relay.ack(&bob, std::slice::from_ref(&env.msg_id));
    assert_eq!(acked.removed, 1);
    let after = relay.poll(&bob);
    assert_eq!(after.total, 0);
    assert!(after.messages.is_empty());
    // Acking again removes nothing.
    assert_eq!(
        relay.ack(&bob, std::slice::from_ref(&env.msg_id)).removed,
        0
    );

    // Re-registering (e.g. from a second tab) is accepted.
    assert_eq!(relay.register(&bob).status, 200);
}

/// Issue 14, finding 1 (relay part): the relay checks the identity's binding signature on
/// register and serves it from `pubkey`, so a contact fetched from the relay is bound (v2) and a
/// relay-side key swap fails the contact's check; a binding over other keys is refused.
#[test]
fn register_checks_and_pubkey_serves_the_identity_binding() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &[]);
    let bob = Identity::generate(&mut OsRng);
    let mallory = Identity::generate(&mut OsRng);
    let signed = |dh: &[u8; 32], binding: Option<String>| {
        let auth = sign_request_for(
            &bob,
            &relay.origin,
            Action::DmRegister,
            dh,
            now(),
            &mut OsRng,
        );
        RegisterRequest {
            auth,
            dh_pub_key: b64::encode_std(dh),
            binding,
        }
    };
    // Bob's own binding does not cover Mallory's X25519 key.
    let bob_binding = b64::encode_std(bob.public().binding().unwrap());
    let swapped = signed(mallory.dh_public().as_bytes(), Some(bob_binding.clone()));
    relay
        .post(PATH_REGISTER, &swapped)
        .assert_error(400, "bad_request");
    let garbage = signed(bob.dh_public().as_bytes(), Some("AAAA".into()));
    relay
        .post(PATH_REGISTER, &garbage)
        .assert_error(400, "bad_request");

    assert_eq!(relay.register(&bob).status, 200);
    let r = relay.get(&format!(
        "{PATH_PUBKEY}?node_id={}",
        urlencode(&bob.node_id())
    ));
    let p: PubkeyResponse = r.json_as();
    assert_eq!(p.binding.as_deref(), Some(bob_binding.as_str()));
    let fetched = p.identity().unwrap();
    assert!(fetched.is_bound());
    assert_eq!(fetched, bob.public());
    // A relay that swaps the X25519 key in its answer is caught by the contact's check.
    let mut forged = p.clone();
    forged.dh_pub_key = b64::encode_std(mallory.dh_public().as_bytes());
    assert!(forged.identity().is_err());
    // An older client refreshing without a binding does not downgrade the stored one.
    let legacy = signed(bob.dh_public().as_bytes(), None);
    assert_eq!(relay.post(PATH_REGISTER, &legacy).status, 200);
    assert!(relay.lookup(&bob.node_id()).is_bound());
}

#[test]
fn refused_requests() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let mallory = Identity::generate(&mut OsRng);
    for id in [&alice, &bob, &mallory] {
        assert_eq!(relay.register(id).status, 200);
    }
    let env = Relay::seal(&alice, &relay.lookup(&bob.node_id()), b"for bob only");
    assert_eq!(relay.send(&env).status, 200);

    // Unauthenticated.
    relay
        .post(PATH_POLL, &json!({"limit": 10}))
        .assert_error(401, "unauthorized");
    relay
        .post(PATH_ACK, &json!({"msg_ids": [env.msg_id]}))
        .assert_error(401, "unauthorized");
    relay
        .post(
            PATH_REGISTER,
            &json!({"dh_pub_key": b64::encode_std(bob.dh_public().as_bytes())}),
        )
        .assert_error(401, "unauthorized");

    // Wrong key: Mallory claims Bob's node id with her own key...
    let mut auth = relay.poll_auth(&mallory, 10, now());
    auth.node_id = bob.node_id();
    relay
        .post(PATH_POLL, &PollRequest { auth, limit: 10 })
        .assert_error(401, "unauthorized");
    // ...or presents Bob's public key with her own signature.
    let mut auth = relay.poll_auth(&mallory, 10, now());
    auth.node_id = bob.node_id();
    auth.public_key = b64::encode_std(bob.verifying_key().as_bytes());
    relay
        .post(PATH_POLL, &PollRequest { auth, limit: 10 })
        .assert_error(401, "unauthorized");
    // Signed over a different limit than sent.
    let auth = relay.poll_auth(&bob, 10, now());
    relay
        .post(PATH_POLL, &PollRequest { auth, limit: 11 })
        .assert_error(401, "unauthorized");
    // Signed for another action.
    let auth = sign_request_for(
        &bob,
        &relay.base,
        Action::DmAck,
        &poll_params(10),
        now(),
        &mut OsRng,
    );
    relay
        .post(PATH_POLL, &PollRequest { auth, limit: 10 })
        .assert_error(401, "unauthorized");

    // Stale, both directions.
    for ts in [now() - 3600, now() + 3600] {
        let auth = relay.poll_auth(&bob, 10, ts);
        relay
            .post(PATH_POLL, &PollRequest { auth, limit: 10 })
            .assert_error(401, "unauthorized");
    }

    // Replayed nonce: the first use works, the second is refused.
    let auth = relay.poll_auth(&bob, 10, now());
    let req = PollRequest { auth, limit: 10 };
    assert_eq!(relay.post(PATH_POLL, &req).status, 200);
    relay
        .post(PATH_POLL, &req)
        .assert_error(401, "replayed_nonce");
    // Same for register and ack.
    let dh = bob.dh_public();
    let reg = RegisterRequest {
        auth: sign_request_for(
            &bob,
            &relay.base,
            Action::DmRegister,
            dh.as_bytes(),
            now(),
            &mut OsRng,
        ),
        dh_pub_key: b64::encode_std(dh.as_bytes()),
        binding: None,
    };
    assert_eq!(relay.post(PATH_REGISTER, &reg).status, 200);
    relay
        .post(PATH_REGISTER, &reg)
        .assert_error(401, "replayed_nonce");

    // Bad limits.
    for limit in [0, MAX_POLL_LIMIT + 1] {
        let auth = relay.poll_auth(&bob, limit, now());
        relay
            .post(PATH_POLL, &PollRequest { auth, limit })
            .assert_error(400, "bad_request");
    }

    // Mallory acks Bob's message from her own (valid) account: nothing is removed.
    let ack = relay.ack(&mallory, std::slice::from_ref(&env.msg_id));
    assert_eq!(ack.removed, 0);
    assert_eq!(ids(&relay.poll(&bob)), vec![env.msg_id.clone()]);
    // Replayed ack.
    let msg_ids = vec![env.msg_id.clone()];
    let auth = sign_request_for(
        &mallory,
        &relay.base,
        Action::DmAck,
        &postern_core::auth::ack_params(&msg_ids),
        now(),
        &mut OsRng,
    );
    let req = AckRequest { auth, msg_ids };
    assert_eq!(relay.post(PATH_ACK, &req).status, 200);
    relay
        .post(PATH_ACK, &req)
        .assert_error(401, "replayed_nonce");
    // Too many ids.
    let many: Vec<String> = (0..=MAX_ACK_IDS).map(|i| format!("msg-{i:08}")).collect();
    let auth = sign_request_for(
        &bob,
        &relay.base,
        Action::DmAck,
        &postern_core::auth::ack_params(&many),
        now(),
        &mut OsRng,
    );
    relay
        .post(
            PATH_ACK,
            &AckRequest {
                auth,
                msg_ids: many,
            },
        )
        .assert_error(400, "bad_request");

    // Register with a low-order DH key is refused even when correctly signed.
    let zero = [0u8; 32];
    let reg = RegisterRequest {
        auth: sign_request_for(
            &bob,
            &relay.base,
            Action::DmRegister,
            &zero,
            now(),
            &mut OsRng,
        ),
        dh_pub_key: b64::encode_std(&zero),
        binding: None,
    };
    relay
        .post(PATH_REGISTER, &reg)
        .assert_error(400, "bad_request");
    // Bob's key is unchanged.
    assert_eq!(relay.lookup(&bob.node_id()), bob.public());

    // Unknown recipient.
    let stranger = Identity::generate(&mut OsRng);
    let env = Relay::seal(&alice, &stranger.public(), b"anyone there?");
    relay.send(&env).assert_error(404, "recipient_unknown");
    relay
        .get(&format!(
            "{PATH_PUBKEY}?node_id={}",
            urlencode(&stranger.node_id())
        ))
        .assert_error(404, "recipient_unknown");
    relay
        .get(&format!("{PATH_PUBKEY}?node_id=nope"))
        .assert_error(400, "bad_request");
    relay.get(PATH_PUBKEY).assert_error(400, "bad_request");

    // A tampered envelope fails the shape checks.
    let mut bad = Relay::seal(&alice, &relay.lookup(&bob.node_id()), b"x");
    bad.ciphertext.push_str("AAAA");
    relay.send(&bad).assert_error(400, "bad_request");
}

#[test]
fn caps_and_idempotent_retries() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let alice = Identity::generate(&mut OsRng);
    let carol = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    for id in [&alice, &bob, &carol] {
        assert_eq!(relay.register(id).status, 200);
    }
    let bob_pub = relay.lookup(&bob.node_id());
    let m1 = Relay::seal(&alice, &bob_pub, b"one");
    let m2 = Relay::seal(&alice, &bob_pub, b"two");
    let m3 = Relay::seal(&alice, &bob_pub, b"three");
    let first: SendResponse = relay.send(&m1).json_as();
    assert!(!first.duplicate);
    assert_eq!(relay.send(&m2).status, 200);
    // Cap (2) reached, but a retry of a stored message is still accepted, idempotently.
    let retry = relay.send(&m1);
    assert_eq!(retry.status, 200, "{}", retry.body);
    let retry: SendResponse = retry.json_as();
    assert!(retry.duplicate);
    assert_eq!(retry.expires_at, first.expires_at);
    // A third distinct message is refused...
    relay.send(&m3).assert_error(429, "sender_cap_reached");
    assert!(relay.send(&m3).json()["detail"]
        .as_str()
        .unwrap()
        .contains("unread"));
    // ...but another sender is not affected.
    assert_eq!(
        relay
            .send(&Relay::seal(&carol, &bob_pub, b"hi from carol"))
            .status,
        200
    );
    assert_eq!(relay.poll(&bob).total, 3);
    // After Bob acks one, Alice can send again.
    assert_eq!(relay.ack(&bob, std::slice::from_ref(&m1.msg_id)).removed, 1);
    let r = relay.send(&m3);
    assert_eq!(r.status, 200, "{}", r.body);
    let p = relay.poll(&bob);
    assert_eq!(p.total, 3);
    assert!(ids(&p).contains(&m3.msg_id));
    drop(relay);

    // Mailbox cap, on a relay configured with a small one.
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        data.path(),
        &[
            "--mailbox-cap",
            "2",
            "--per-sender-cap",
            "5",
            "--ttl-secs",
            "600",
        ],
    );
    assert_eq!(relay.register(&bob).status, 200);
    let bob_pub = relay.lookup(&bob.node_id());
    let a: SendResponse = relay.send(&Relay::seal(&alice, &bob_pub, b"1")).json_as();
    let ttl = a.expires_at - now();
    assert!((590..=600).contains(&ttl), "ttl {ttl}");
    assert_eq!(relay.send(&Relay::seal(&carol, &bob_pub, b"2")).status, 200);
    relay
        .send(&Relay::seal(&alice, &bob_pub, b"3"))
        .assert_error(429, "mailbox_full");
}

#[test]
fn hostile_input_gets_json_4xx() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(relay.register(&bob).status, 200);
    let alice = Identity::generate(&mut OsRng);
    let valid_send = serde_json::to_vec(&SendRequest {
        envelope: Relay::seal(&alice, &bob.public(), b"valid"),
    })
    .unwrap();
    let valid_poll = serde_json::to_vec(&PollRequest {
        auth: relay.poll_auth(&bob, 5, now()),
        limit: 5,
    })
    .unwrap();

    // Oversize body.
    let mut big = b"{\"envelope\":\"".to_vec();
    big.resize(MAX_BODY_BYTES + 1, b'A');
    relay
        .post_raw(PATH_SEND, Some("application/json"), &big)
        .assert_error(413, "payload_too_large");
    // Malformed JSON.
    relay
        .post_raw(PATH_SEND, Some("application/json"), b"{\"envelope\": ")
        .assert_error(400, "bad_request");
    // Wrong / missing content type.
    relay
        .post_raw(PATH_SEND, Some("text/plain"), &valid_send)
        .assert_error(415, "unsupported_media_type");
    relay
        .post_raw(PATH_POLL, None, &valid_poll)
        .assert_error(415, "unsupported_media_type");
    // Unknown field.
    let r = relay.post(PATH_SEND, &json!({"envelope": {}, "extra": 1}));
    assert!((400..500).contains(&r.status));
    r.assert_error_body();
    // Wrong method, unknown API paths.
    relay.get(PATH_SEND).assert_error(405, "method_not_allowed");
    relay
        .request("DELETE", PATH_POLL)
        .assert_error(405, "method_not_allowed");
    relay.get("/api/nope").assert_error(404, "not_found");
    relay
        .post_raw("/api/mesh/dm/nope", Some("application/json"), b"{}")
        .assert_error(404, "not_found");
    // The UI is not built: a small HTML page says so, for any non-API path.
    for path in ["/", "/some/deep/route"] {
        let r = relay.get(path);
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/html"));
        assert!(r.body.contains("make build"));
    }

    // Seeded garbage to every endpoint.
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let seeds: [&[u8]; 2] = [&valid_send, &valid_poll];
    let posts = [PATH_REGISTER, PATH_SEND, PATH_POLL, PATH_ACK];
    let mut accepted_mutants = 0;
    // The bar: 10,000 random or malformed requests, only 4xx, and the relay keeps serving.
    const HOSTILE_REQUESTS: usize = 10_000;
    for i in 0..HOSTILE_REQUESTS {
        let body: Vec<u8> = match i % 4 {
            0 => {
                let n = rng.below(300);
                rng.bytes(n)
            }
            1 => {
                // Valid JSON with bytes flipped.
                let mut b = seeds[rng.below(2)].to_vec();
                let at = rng.below(b.len());
                b[at] ^= 1 + (rng.next() % 255) as u8;
                b
            }
            2 => {
                // Truncated valid JSON.
                let b = seeds[rng.below(2)];
                b[..rng.below(b.len())].to_vec()
            }
            _ => {
                // Structurally valid JSON with random values.
                let v = match rng.below(6) {
                    0 => json!({"auth": rng.next(), "limit": rng.next()}),
                    1 => {
                        json!({"auth": {"node_id": bob.node_id(), "public_key": "", "timestamp": rng.next(),
                                  "nonce": "00", "signature": ""}, "limit": 5})
                    }
                    2 => {
                        json!({"envelope": {"format": "postern-dm/1", "recipient_id": bob.node_id(),
                                  "msg_id": "x".repeat(rng.below(200)), "sender_ref": "0", "ephemeral_pub": "",
                                  "ciphertext": ""}})
                    }
                    3 => json!({"msg_ids": [rng.next()], "auth": null}),
                    4 => serde_json::from_str(&format!("{}{}", "[".repeat(40), "]".repeat(40)))
                        .unwrap(),
                    _ => json!("just a string"),
                };
                serde_json::to_vec(&v).unwrap()
            }
        };
        let path = posts[rng.below(posts.len())];
        let r = relay.post_raw(path, Some("application/json"), &body);
        // A one-byte change inside a sealed envelope's base64 or msg_id can still be a
        // well-formed (if undecryptable) envelope: the relay cannot tell, and stores it.
        if r.status == 200 && path == PATH_SEND && i % 4 == 1 {
            accepted_mutants += 1;
            continue;
        }
        assert!(
            (400..500).contains(&r.status),
            "#{i} {path} -> {} {}",
            r.status,
            r.body
        );
        r.assert_error_body();
    }
    // Deep nesting.
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let r = relay.post_raw(PATH_SEND, Some("application/json"), deep.as_bytes());
    assert!((400..500).contains(&r.status));
    // Garbage query strings.
    for _ in 0..40 {
        let n = rng.below(60);
        let q: String = rng.bytes(n).iter().map(|b| format!("%{b:02X}")).collect();
        let r = relay.get(&format!("{PATH_PUBKEY}?node_id={q}"));
        assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
        r.assert_error_body();
        let r = relay.get(&format!("{PATH_PUBKEY}?{q}"));
        assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
    }
    // Still serving, and the valid request still works.
    assert_eq!(relay.get("/api/health").status, 200);
    assert!(
        accepted_mutants < HOSTILE_REQUESTS / 8,
        "{accepted_mutants}"
    );
    let carol = Identity::generate(&mut OsRng);
    assert_eq!(
        relay
            .send(&Relay::seal(&carol, &bob.public(), b"still works"))
            .status,
        200
    );
    assert!(!relay.log_text().contains("panicked"));
}

#[test]
fn data_survives_restart() {
    let data = tempfile::tempdir().unwrap();
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let relay = Relay::start(data.path(), &[]);
    assert_eq!(relay.register(&alice).status, 200);
    assert_eq!(relay.register(&bob).status, 200);
    let m1 = Relay::seal(&alice, &relay.lookup(&bob.node_id()), b"before restart");
    assert_eq!(relay.send(&m1).status, 200);
    // Graceful stop on SIGTERM.
    let status = relay.terminate();
    assert!(status.success(), "exit status {status:?}");

    let relay = Relay::start(data.path(), &[]);
    assert_eq!(relay.lookup(&bob.node_id()), bob.public());
    assert_eq!(ids(&relay.poll(&bob)), vec![m1.msg_id.clone()]);
    let m2 = Relay::seal(&alice, &relay.lookup(&bob.node_id()), b"before crash");
    assert_eq!(relay.send(&m2).status, 200);
    // An acknowledged write survives even a hard kill.
    relay.kill();

    let relay = Relay::start(data.path(), &[]);
    let p = relay.poll(&bob);
    assert_eq!(ids(&p), vec![m1.msg_id.clone(), m2.msg_id.clone()]);
    assert_eq!(
        dm::open(&bob, &p.messages[1].envelope)
            .unwrap()
            .text()
            .unwrap(),
        "before crash"
    );
    // Dedup state survives too.
    assert!(relay.send(&m2).json_as::<SendResponse>().duplicate);
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn relay_stores_ciphertext_only() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    // Alice (the sender) never registers: senders are anonymous to the relay.
    assert_eq!(relay.register(&bob).status, 200);
    let mut raw = [0u8; 24];
    OsRng.fill_bytes(&mut raw);
    let canary = format!("canary-{}", hex_of(&raw));
    let env = Relay::seal(&alice, &relay.lookup(&bob.node_id()), canary.as_bytes());
    assert_eq!(relay.send(&env).status, 200);
    assert_eq!(relay.poll(&bob).total, 1);

    let mut files = Vec::new();
    files_under(data.path(), &mut files);
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "no WAL file: {files:?}"
    );
    let forms: Vec<Vec<u8>> = vec![
        canary.as_bytes().to_vec(),
        raw.to_vec(),
        hex_of(&raw).into_bytes(),
        b64::encode_std(&raw).into_bytes(),
        // Alice's identity is inside the ciphertext only.
        alice.node_id().into_bytes(),
        b64::encode_std(alice.verifying_key().as_bytes()).into_bytes(),
    ];
    let mut saw_msg_id = false;
    let mut all = files.clone();
    all.push(relay.log.clone());
    for f in &all {
        let bytes = std::fs::read(f).unwrap();
        for form in &forms {
            assert!(
                !contains(&bytes, form),
                "{} leaks a plaintext form",
                f.display()
            );
        }
        saw_msg_id |= contains(&bytes, env.msg_id.as_bytes());
    }
    let log = relay.log_text();
    assert!(log.contains("request"), "log is empty?");
    assert!(!log.contains(&env.ciphertext[..40]) && !log.contains(&env.msg_id));
    // Positive control: the envelope itself is in there, so the scan does see stored data.
    assert!(
        saw_msg_id,
        "msg_id not found in {all:?}: the scan is not looking at the data"
    );
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn serves_the_web_ui() {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<html>postern app</html>").unwrap();
    std::fs::write(web.path().join("app.js"), "console.log(1)").unwrap();
    let relay = Relay::start_with_web(data.path(), web.path(), &[]);
    let r = relay.get("/");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "<html>postern app</html>")
    );
    let r = relay.get("/contacts/bob");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "<html>postern app</html>")
    );
    let r = relay.get("/app.js");
    assert_eq!((r.status, r.body.as_str()), (200, "console.log(1)"));
    assert!(r.content_type.contains("javascript"), "{}", r.content_type);
    // The shell always revalidates (a new build is picked up); hashed assets are immutable.
    assert_eq!(r.cache_control, "no-cache");
    assert_eq!(relay.get("/").cache_control, "no-cache");
    std::fs::write(web.path().join("app-0123456789abcdef.js"), "console.log(2)").unwrap();
    let r = relay.get("/app-0123456789abcdef.js");
    assert!(r.cache_control.contains("immutable"), "{}", r.cache_control);
    let r = relay.get("/../../etc/passwd");
    assert!(!r.body.contains("root:"));
    relay.get("/api/unknown").assert_error(404, "not_found");
}

#[test]
fn cli_help_and_unknown_subcommand() {
    let bin = env!("CARGO_BIN_EXE_postern");
    let help = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("serve"));
    let bad = std::process::Command::new(bin)
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let bad = std::process::Command::new(bin)
        .args(["serve", "--per-sender-cap", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn configured_by_environment() {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "env ui").unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_postern"));
    cmd.arg("serve")
        .env("POSTERN_LISTEN", "127.0.0.1:0")
        .env("POSTERN_DATA", data.path())
        .env("POSTERN_WEB", web.path())
        .env("POSTERN_TTL_SECS", "120");
    let relay = Relay::launch(cmd);
    assert_eq!(relay.get("/").body, "env ui");
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(relay.register(&bob).status, 200);
    let alice = Identity::generate(&mut OsRng);
    let sent: SendResponse = relay
        .send(&Relay::seal(&alice, &bob.public(), b"x"))
        .json_as();
    assert!(sent.expires_at <= now() + 120);
    assert!(data.path().join("postern.sqlite3").is_file());
}

#[test]
fn startup_failure_exits_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    // The data "directory" is a file.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open the database"));
}

#[test]
fn trickled_body_times_out_with_json_408() {
    use std::io::{Read, Write};
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &["--request-timeout-secs", "1"]);
    let addr = relay.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    write!(
        s,
        "POST {PATH_SEND} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"env"
    )
    .unwrap();
    // Never send the rest; the relay must answer on its own.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !String::from_utf8_lossy(&buf).contains("}") {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("no answer: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert_eq!(relay.get("/api/health").status, 200);
}

#[test]
fn concurrent_deposits_never_exceed_the_cap() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(relay.register(&bob).status, 200);
    let alice = Identity::generate(&mut OsRng);
    let envs: Vec<_> = (0..12)
        .map(|i| Relay::seal(&alice, &bob.public(), format!("m{i}").as_bytes()))
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = envs
            .iter()
            .map(|e| s.spawn(|| relay.send(e).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 429).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(relay.poll(&bob).total, 2);
}

/// `kill -9` in the middle of a burst of deposits: every deposit the relay acknowledged with a
/// 2xx before dying is still there after a restart (WAL + synchronous=FULL, commit before reply).
#[test]
fn sigkill_during_a_deposit_burst_loses_nothing_acknowledged() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    let data = tempfile::tempdir().unwrap();
    let caps = ["--per-sender-cap", "1000", "--mailbox-cap", "1000"];
    let relay = Relay::start(data.path(), &caps);
    let recipients: Vec<Identity> = (0..10).map(|_| Identity::generate(&mut OsRng)).collect();
    for r in &recipients {
        assert_eq!(relay.register(r).status, 200);
    }
    let sender = Identity::generate(&mut OsRng);
    let batches: Vec<Vec<(String, Vec<u8>)>> = recipients
        .iter()
        .map(|r| {
            (0..100)
                .map(|i| {
                    let env = Relay::seal(&sender, &r.public(), format!("burst {i}").as_bytes());
                    let body = serde_json::to_vec(&json!({ "envelope": env })).unwrap();
                    (env.msg_id, body)
                })
                .collect()
        })
        .collect();
    let acked = Mutex::new(Vec::<String>::new());
    let acked_count = AtomicUsize::new(0);
    let url = relay.url(PATH_SEND);
    std::thread::scope(|s| {
        for batch in &batches {
            let (acked, acked_count, url) = (&acked, &acked_count, &url);
            s.spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(std::time::Duration::from_secs(20))
                    .build();
                for (msg_id, body) in batch {
                    match agent
                        .post(url)
                        .set("Content-Type", "application/json")
                        .send_bytes(body)
                    {
                        Ok(r) if r.status() == 200 => {
                            acked.lock().unwrap().push(msg_id.clone());
                            acked_count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(_) | Err(ureq::Error::Status(..)) => {}
                        // The relay is gone: the rest of this batch was never acknowledged.
                        Err(ureq::Error::Transport(_)) => break,
                    }
                }
            });
        }
        // Kill it mid-burst, once a good share of deposits has been acknowledged.
        while acked_count.load(Ordering::SeqCst) < 120 {
            std::thread::yield_now();
        }
        let status = std::process::Command::new("kill")
            .args(["-9", &relay.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    });
    let acked = acked.into_inner().unwrap();
    assert!(acked.len() >= 120, "{}", acked.len());
    eprintln!("acknowledged before SIGKILL: {} of 1000", acked.len());
    drop(relay);

    let relay = Relay::start(data.path(), &caps);
    let mut stored = std::collections::HashSet::new();
    for r in &recipients {
        let p = relay.poll(r);
        stored.extend(p.messages.into_iter().map(|m| m.envelope.msg_id));
    }
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged deposits lost: {lost:?}",
        lost.len()
    );
}

/// A SIGTERM sent the moment the address line is printed stops the relay gracefully (exit 0)
/// instead of killing it with the signal's default action: the relay listens for its signals
/// before it prints the line that scripts and tests wait for.
#[test]
fn sigterm_right_after_the_address_line_is_a_clean_stop() {
    for _ in 0..10 {
        let data = tempfile::tempdir().unwrap();
        let relay = Relay::start(data.path(), &[]);
        let status = relay.terminate();
        assert!(status.success(), "exit status {status:?}");
    }
}
