//! What a hostile peer (or a stranger) can make peer push do over HTTP: pushes that fail peer
//! auth store nothing and take no place in the push queue; requests whose body never ends
//! neither make a gapped batch wait nor fill the queue; a replayed push changes nothing.
//! (The queue's own bounds and a failing batch inside a round: `service::push_commit::hostile`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::chain::*;
use common::*;
use postern_core::api::infonet::PATH_PEER_PUSH;
use postern_core::peer::{HEADER_PEER_HMAC, HEADER_PEER_URL};

const PEER_URL: &str = "http://pusher.test:7001";
const PEER_SECRET: &str = "hostile-secret";

fn push(relay: &Relay, body: &str) -> Resp {
    peer_post(
        relay,
        PATH_PEER_PUSH,
        PEER_URL,
        PEER_SECRET,
        body.as_bytes(),
    )
}

fn receiver(data: &std::path::Path) -> Relay {
    Relay::start(data, &[&format!("--peer={PEER_URL}={PEER_SECRET}")])
}

#[test]
fn pushes_that_fail_peer_auth_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = receiver(dir.path());
    let events = gen_chain(50, 4);
    let body = push_body(&events);
    let b = body.as_bytes();
    // Wrong secret, unknown peer, a body changed after signing, v1 only from a Postern peer.
    peer_post(&relay, PATH_PEER_PUSH, PEER_URL, "not-the-secret", b)
        .assert_error(403, "peer_unauthorized");
    peer_post(
        &relay,
        PATH_PEER_PUSH,
        "http://stranger.test",
        PEER_SECRET,
        b,
    )
    .assert_error(403, "peer_unauthorized");
    let headers = peer_headers(PEER_SECRET, PEER_URL, PATH_PEER_PUSH, b);
    let altered = body.replacen("\"events\"", "\"events\" ", 1);
    post_with_headers(&relay, PATH_PEER_PUSH, &headers, altered.as_bytes())
        .assert_error(403, "peer_unauthorized");
    let v1_only: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k == HEADER_PEER_URL || k == HEADER_PEER_HMAC)
        .cloned()
        .collect();
    post_with_headers(&relay, PATH_PEER_PUSH, &v1_only, b).assert_error(403, "peer_unauthorized");
    post_with_headers(&relay, PATH_PEER_PUSH, &[], b).assert_error(403, "peer_unauthorized");
    assert_eq!(total_events(&relay), 0);
    // The signed request, then the same request replayed.
    let r = post_with_headers(&relay, PATH_PEER_PUSH, &headers, b);
    assert_eq!(r.status, 200, "{}", r.body);
    post_with_headers(&relay, PATH_PEER_PUSH, &headers, b).assert_error(403, "peer_replayed");
    // Pushed again with fresh headers: stored already, nothing changes.
    let again = push(&relay, &body).json();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(50))
    );
    assert_eq!(total_events(&relay), 50);
}

/// A peer-push request whose headers and first half of `body` were sent; the rest is sent by
/// [`Unfinished::finish`].
struct Unfinished {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl Unfinished {
    fn start(relay: &Relay, body: &str) -> Unfinished {
        let host = relay.base.trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&host).unwrap();
        let b = body.as_bytes();
        let mut head = format!(
            "POST {PATH_PEER_PUSH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            b.len()
        );
        for (k, v) in peer_headers(PEER_SECRET, PEER_URL, PATH_PEER_PUSH, b) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let half = b.len() / 2;
        stream.write_all(&b[..half]).unwrap();
        stream.flush().unwrap();
        Unfinished {
            stream,
            rest: b[half..].to_vec(),
        }
    }

    /// Send the rest of the body: the status line of the answer.
    fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).unwrap();
        let mut answer = String::new();
        self.stream.read_to_string(&mut answer).unwrap();
        answer.lines().next().unwrap_or_default().to_string()
    }
}

#[test]
fn requests_whose_body_never_ends_neither_hold_a_gapped_batch_nor_fill_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let relay = receiver(dir.path());
    let events = gen_chain(150, 4);
    let bodies: Vec<String> = events.chunks(50).map(push_body).collect();
    // More unfinished pushes of the peer (each of batch 1, signed) than it may have held.
    let unfinished: Vec<Unfinished> = (0..40)
        .map(|_| Unfinished::start(&relay, &bodies[1]))
        .collect();
    // Batch 2 lacks batch 1: refused at once as a lone push is, while those stay open.
    push(&relay, &bodies[2]).assert_error(409, "forked");
    // The peer's queue is not full of them: batch 0 is stored.
    let r = push(&relay, &bodies[0]);
    assert_eq!(r.status, 200, "{}", r.body);
    // One of them finishes: it is applied as any push; then batch 2 extends it.
    let mut unfinished = unfinished.into_iter();
    let status = unfinished.next().unwrap().finish();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let r = push(&relay, &bodies[2]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(total_events(&relay), 150);
    // The others, finished late, are duplicates.
    for u in unfinished.take(3) {
        let status = u.finish();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    }
    assert_eq!(total_events(&relay), 150);
}
