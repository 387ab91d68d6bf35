//! Peer-push ingest benchmark client (not a test; `bench/relay.sh` runs it): pushes a chain to a
//! relay's `POST /api/mesh/infonet/peer-push` in batches, signed as the peer `OWN_URL` (the
//! relay must list `OWN_URL=SECRET` as a `--peer`), and prints events/s.
//!
//! `bench_push RELAY_URL OWN_URL SECRET CHAIN [BATCH] [IN_FLIGHT]`
//!
//! CHAIN is a JSON file holding an array of events or `{"events": [...]}` (the shared
//! Shadowbroker vectors), or `gen:N[:AUTHORS]` for core's deterministic chain of N public
//! events (`chaingen`, 16 authors by default). BATCH defaults to 50, the protocol's maximum.
//! IN_FLIGHT (default 1: one request at a time, as a Shadowbroker peer pushes) sends windows
//! of that many batches at once, as our own push worker does (`replication::push`): each
//! window's requests are started oldest first, and a batch refused while a batch before it
//! was unanswered is sent again in the next window. With `SLIDE=1` the IN_FLIGHT requests are
//! a sliding window instead, as our push worker sends: the next batch starts as soon as the
//! oldest in flight is answered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use postern_core::api::infonet::PATH_PEER_PUSH;
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::json::{self, Value};
use postern_core::peer::{normalize_peer_url, peer_key, sign_body, v2};
use postern_core::peer::{HEADER_PEER_HMAC, HEADER_PEER_URL};
use rand_core::OsRng;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Each event of the chain as JSON text.
fn load_chain(spec: &str) -> Vec<String> {
    if let Some(rest) = spec.strip_prefix("gen:") {
        let mut parts = rest.split(':');
        let n: usize = parts.next().unwrap().parse().expect("gen:N");
        let authors: usize = parts.next().map_or(16, |a| a.parse().expect("AUTHORS"));
        let opts = GenOptions {
            authors,
            start_timestamp: now().saturating_sub(n as u64 + 60),
            include_gate_messages: false,
        };
        return generate_chain(n, opts)
            .iter()
            .map(|e| e.to_value().to_json_ordered())
            .collect();
    }
    let bytes = std::fs::read(spec).expect("read chain file");
    let v = json::parse_with_limits(
        &bytes,
        json::Limits {
            max_depth: 64,
            max_input_bytes: bytes.len(),
        },
    )
    .expect("chain file is JSON");
    let events = match &v {
        Value::Array(a) => a.as_slice(),
        _ => v
            .get("events")
            .and_then(Value::as_array)
            .expect("an array of events or {\"events\": [...]}"),
    };
    events.iter().map(Value::to_json_ordered).collect()
}

/// Push one batch; `Ok((accepted, duplicates))` or `Err(answer)`.
fn push_one(
    agent: &ureq::Agent,
    url: &str,
    own: &str,
    keys: &Keys,
    body: &str,
) -> Result<(u64, u64), String> {
    let signed = v2::sign(
        &keys.v2,
        "POST",
        PATH_PEER_PUSH,
        body.as_bytes(),
        now(),
        &mut OsRng,
    );
    let mut req = agent
        .post(url)
        .set("Content-Type", "application/json")
        .set(HEADER_PEER_URL, own)
        .set(HEADER_PEER_HMAC, &sign_body(&keys.v1, body.as_bytes()));
    for (k, v) in signed.pairs() {
        req = req.set(k, v);
    }
    match req.send_string(body) {
        Ok(r) => {
            let v: serde_json::Value = r.into_json().expect("json answer");
            Ok((
                v["accepted"].as_u64().unwrap_or(0),
                v["duplicates"].as_u64().unwrap_or(0),
            ))
        }
        Err(ureq::Error::Status(code, r)) => {
            Err(format!("{code} {}", r.into_string().unwrap_or_default()))
        }
        Err(e) => Err(e.to_string()),
    }
}

struct Keys {
    v1: [u8; 32],
    v2: [u8; 32],
}

/// `(accepted, duplicates, batches resent)`.
type Totals = (u64, u64, u64);

/// Windows of `in_flight` batches: all started, then every answer awaited before the next
/// window. A batch refused while a batch before it was unanswered is sent again in the next
/// window; a refusal of the oldest unacknowledged batch is final (as in our push worker).
fn push_lockstep(
    agent: &ureq::Agent,
    url: &str,
    own: &str,
    keys: &Keys,
    bodies: &[String],
    in_flight: usize,
) -> Totals {
    let (mut accepted, mut duplicates, mut resent) = (0u64, 0u64, 0u64);
    // Batches not yet acknowledged, oldest first (as the rows of our push worker's outbox).
    let mut unacked: VecDeque<usize> = (0..bodies.len()).collect();
    while !unacked.is_empty() {
        let window: Vec<usize> = unacked.iter().take(in_flight).copied().collect();
        let answers: Vec<Result<(u64, u64), String>> = if window.len() == 1 {
            vec![push_one(agent, url, own, keys, &bodies[window[0]])]
        } else {
            std::thread::scope(|s| {
                let hs: Vec<_> = window
                    .iter()
                    .map(|&i| {
                        let body = &bodies[i];
                        s.spawn(move || push_one(agent, url, own, keys, body))
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            })
        };
        for (k, (&i, a)) in window.iter().zip(answers).enumerate() {
            match a {
                Ok((acc, dup)) => {
                    accepted += acc;
                    duplicates += dup;
                    unacked.retain(|&j| j != i);
                }
                Err(e) if k == 0 => panic!("push refused after {accepted} events: {e}"),
                Err(_) => resent += 1,
            }
        }
    }
    (accepted, duplicates, resent)
}

/// A sliding window (`SLIDE=1`, as our push worker sends): up to `in_flight` batches in
/// flight, answers taken oldest first, the next batch started as soon as the oldest is
/// answered. A batch refused while a batch before it was unanswered is final only when it was
/// sent with none before it unanswered; otherwise nothing more starts until every request in
/// flight is answered, and the refused batches are sent again first.
fn push_sliding(
    agent: &ureq::Agent,
    url: &str,
    own: &str,
    keys: &Keys,
    bodies: &[String],
    in_flight: usize,
) -> Totals {
    let (mut accepted, mut duplicates, mut resent) = (0u64, 0u64, 0u64);
    // Batches still to start, oldest first; batches to send again after the barrier.
    let mut pending: VecDeque<usize> = (0..bodies.len()).collect();
    let mut missed: Vec<usize> = Vec::new();
    std::thread::scope(|s| {
        // (batch, started with none before it unanswered, answer to come), oldest first.
        let mut flight = VecDeque::new();
        loop {
            if flight.is_empty() && !missed.is_empty() {
                for i in missed.drain(..).rev() {
                    pending.push_front(i);
                }
            }
            while missed.is_empty() && flight.len() < in_flight {
                let Some(i) = pending.pop_front() else { break };
                let body = &bodies[i];
                let alone = flight.is_empty();
                flight.push_back((
                    i,
                    alone,
                    s.spawn(move || push_one(agent, url, own, keys, body)),
                ));
            }
            let Some((i, alone, h)) = flight.pop_front() else {
                break;
            };
            match h.join().unwrap() {
                Ok((acc, dup)) => {
                    accepted += acc;
                    duplicates += dup;
                }
                Err(e) if alone => panic!("push refused after {accepted} events: {e}"),
                Err(_) => {
                    resent += 1;
                    missed.push(i);
                }
            }
        }
    });
    (accepted, duplicates, resent)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "bench_push RELAY_URL OWN_URL SECRET CHAIN [BATCH] [IN_FLIGHT]";
    let arg = |i: usize| args.get(i).map(String::as_str).expect(usage);
    let relay = arg(1).trim_end_matches('/').to_string();
    let own = normalize_peer_url(arg(2)).expect("OWN_URL");
    let secret = arg(3).as_bytes();
    let events = load_chain(arg(4));
    let batch: usize = args.get(5).map_or(50, |b| b.parse().expect("BATCH"));
    let in_flight: usize = args
        .get(6)
        .map_or(1, |b| b.parse().expect("IN_FLIGHT"))
        .max(1);
    let keys = Keys {
        v1: peer_key(secret, &own),
        v2: v2::peer_key_v2(secret, &own),
    };
    let agent = ureq::AgentBuilder::new()
        .max_idle_connections_per_host(in_flight)
        .build();
    let url = format!("{relay}{PATH_PEER_PUSH}");
    let bodies: Vec<String> = events
        .chunks(batch)
        .map(|chunk| format!("{{\"events\":[{}]}}", chunk.join(",")))
        .collect();
    let slide = std::env::var("SLIDE").is_ok_and(|v| v == "1");
    let t0 = Instant::now();
    let (accepted, duplicates, resent) = if slide {
        push_sliding(&agent, &url, &own, &keys, &bodies, in_flight)
    } else {
        push_lockstep(&agent, &url, &own, &keys, &bodies, in_flight)
    };
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "peer-push: {} events in batches of {batch}, {in_flight} in flight ({}): {secs:.2} s, \
         {:.0} events/s (accepted {accepted}, duplicates {duplicates}, batches resent {resent})",
        events.len(),
        if slide { "sliding" } else { "lockstep" },
        events.len() as f64 / secs
    );
    if accepted + duplicates != events.len() as u64 {
        std::process::exit(1);
    }
}
