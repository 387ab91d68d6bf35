//! Request bodies for `scripts/load.sh` (not a test): `cargo run -p postern-relay --example
//! load_fixtures -- OUT_DIR [POLL_BODIES [SEND_BODIES]]` writes
//! * `appends.jsonl` — 1000 signed public `message` events (`AppendRequest` bodies);
//! * `register.json` — a DM registration of the recipient;
//! * `send.json` — one sealed DM to it (re-sending it exercises the deposit path, answered
//!   `duplicate: true`);
//! * `poll.jsonl` — POLL_BODIES signed polls by the recipient (single-use nonces: one each);
//! * `send_fresh.jsonl` — SEND_BODIES distinct sealed DMs to it (each a new deposit: validation,
//!   cap check and an fsynced insert).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use postern_core::api::dm::{
    poll_params, PollRequest, RegisterRequest, SendRequest, MAX_POLL_LIMIT,
};
use postern_core::auth::{sign_request, Action};
use postern_core::chaingen::{author_key, sample_payload};
use postern_core::event::sign_event;
use postern_core::json::Value;
use postern_core::{b64, dm, Identity};
use rand_core::OsRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(
        args.get(1)
            .expect("usage: load_fixtures OUT_DIR [POLL_BODIES]"),
    );
    let polls: usize = args
        .get(2)
        .map(|s| s.parse().expect("POLL_BODIES"))
        .unwrap_or(50_000);
    let sends: usize = args
        .get(3)
        .map(|s| s.parse().expect("SEND_BODIES"))
        .unwrap_or(20_000);
    std::fs::create_dir_all(&out).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("appends.jsonl")).unwrap());
    for i in 0..1000u64 {
        let e = sign_event(
            &author_key(1000 + (i % 10) as usize),
            "",
            "message",
            &sample_payload("message", i),
            Value::Null,
            i / 10 + 1,
        );
        let body = Value::Object(vec![
            ("event_type".into(), Value::from(e.event_type.as_str())),
            ("node_id".into(), Value::from(e.node_id.as_str())),
            ("payload".into(), e.payload.clone()),
            ("signature".into(), Value::from(e.signature.as_str())),
            ("sequence".into(), e.sequence.clone()),
            ("public_key".into(), Value::from(e.public_key.as_str())),
            (
                "public_key_algo".into(),
                Value::from(e.public_key_algo.as_str()),
            ),
        ]);
        writeln!(f, "{}", body.to_json_ordered()).unwrap();
    }
    f.flush().unwrap();

    let recipient = Identity::generate(&mut OsRng);
    let sender = Identity::generate(&mut OsRng);
    let dh = recipient.dh_public();
    let reg = RegisterRequest {
        auth: sign_request(
            &recipient,
            Action::DmRegister,
            dh.as_bytes(),
            now,
            &mut OsRng,
        ),
        dh_pub_key: b64::encode_std(dh.as_bytes()),
        binding: None,
    };
    std::fs::write(out.join("register.json"), serde_json::to_vec(&reg).unwrap()).unwrap();
    let msg_id = dm::new_msg_id(&mut OsRng);
    let env = dm::seal(
        &sender,
        &recipient.public(),
        b"load test",
        &msg_id,
        now,
        &mut OsRng,
    )
    .unwrap();
    std::fs::write(
        out.join("send.json"),
        serde_json::to_vec(&SendRequest { envelope: env }).unwrap(),
    )
    .unwrap();

    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("poll.jsonl")).unwrap());
    for _ in 0..polls {
        let req = PollRequest {
            auth: sign_request(
                &recipient,
                Action::DmPoll,
                &poll_params(MAX_POLL_LIMIT),
                now,
                &mut OsRng,
            ),
            limit: MAX_POLL_LIMIT,
        };
        writeln!(f, "{}", serde_json::to_string(&req).unwrap()).unwrap();
    }
    f.flush().unwrap();

    let mut f =
        std::io::BufWriter::new(std::fs::File::create(out.join("send_fresh.jsonl")).unwrap());
    for _ in 0..sends {
        let msg_id = dm::new_msg_id(&mut OsRng);
        let env = dm::seal(
            &sender,
            &recipient.public(),
            b"load test",
            &msg_id,
            now,
            &mut OsRng,
        )
        .unwrap();
        writeln!(
            f,
            "{}",
            serde_json::to_string(&SendRequest { envelope: env }).unwrap()
        )
        .unwrap();
    }
    f.flush().unwrap();
}
