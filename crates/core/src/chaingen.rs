//! Deterministic generator of valid Infonet/2 chains (Ed25519-signed), for tests, benches and
//! other crates' fixtures. Not used by verification.

use base64::Engine as _;
use ed25519_dalek::SigningKey;

use crate::canonical::GENESIS_HASH;
use crate::event::{sign_event, ChainEvent};
use crate::json::Value;

/// Options for [`generate_chain`].
#[derive(Debug, Clone, Copy)]
pub struct GenOptions {
    /// Number of distinct authors.
    pub authors: usize,
    /// Timestamp of the first event; later events add one second each.
    pub start_timestamp: u64,
    /// Include private-lane gate messages (own sequence domain).
    pub include_gate_messages: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            authors: 4,
            start_timestamp: 1_780_000_000,
            include_gate_messages: true,
        }
    }
}

/// Deterministic signing key number `i`.
pub fn author_key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    seed[31] = 0x5b;
    SigningKey::from_bytes(&seed)
}

fn sealed(len: usize, salt: u64) -> String {
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Payload number `i` of a generated chain for `event_type`.
pub fn sample_payload(event_type: &str, i: u64) -> Value {
    let mut p = Value::object();
    let s = |x: &str| Value::Str(x.to_string());
    match event_type {
        "message" => {
            p.insert("message", Value::Str(format!("hello #{i}")));
            p.insert("destination", s("broadcast"));
            p.insert("channel", s("LongFast"));
            p.insert("priority", s("normal"));
            p.insert("ephemeral", Value::Bool(false));
        }
        "vote" => {
            p.insert("target_id", Value::Str(format!("!sb_target{i}")));
            p.insert("vote", Value::from(if i % 2 == 0 { 1i64 } else { -1 }));
            p.insert("gate", s("infonet"));
        }
        "prediction" => {
            p.insert("market_title", Value::Str(format!("market {i}")));
            p.insert("side", s("yes"));
            p.insert("stake_amount", Value::Float(0.5 + i as f64));
        }
        "gate_message" => {
            p.insert("gate", s("finance"));
            p.insert("ciphertext", Value::Str(sealed(48, i)));
            p.insert("nonce", Value::Str(sealed(12, i + 7)));
            p.insert("sender_ref", Value::Str(format!("ref{i}")));
            p.insert("format", s("mls1"));
            p.insert("epoch", Value::from(1 + i % 3));
            p.insert("transport_lock", s("private_strong"));
        }
        _ => {
            p.insert("target_id", Value::Str(format!("!sb_t{i}")));
            p.insert("reason", s("spam"));
            p.insert("gate", s(""));
            p.insert("evidence", s(""));
        }
    }
    p
}

/// Generate a valid chain of `n` events.
pub fn generate_chain(n: usize, opts: GenOptions) -> Vec<ChainEvent> {
    let authors = opts.authors.max(1);
    let keys: Vec<SigningKey> = (0..authors).map(author_key).collect();
    let mut public_seq = vec![0u64; authors];
    let mut gate_seq = vec![0u64; authors];
    let types: &[&str] = if opts.include_gate_messages {
        &[
            "message",
            "vote",
            "prediction",
            "gate_message",
            "abuse_report",
        ]
    } else {
        &["message", "vote", "prediction", "abuse_report"]
    };
    let mut prev = GENESIS_HASH.to_string();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let a = i % authors;
        let et = types[(i / authors) % types.len()];
        let seq = if et == "gate_message" {
            &mut gate_seq[a]
        } else {
            &mut public_seq[a]
        };
        *seq += 1;
        let ts = Value::Float((opts.start_timestamp + i as u64) as f64);
        let evt = sign_event(&keys[a], &prev, et, &sample_payload(et, i as u64), ts, *seq);
        prev = evt.event_id.clone();
        out.push(evt);
    }
    out
}
