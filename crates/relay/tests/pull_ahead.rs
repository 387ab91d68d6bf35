//! Pull sync with pages fetched and verified ahead (issue 16): a page that carries a forged
//! event stops the round at that event — what came before it is stored, none of the pages
//! already fetched and prepared after it is — and nothing stored is lost; once the peer serves
//! the true chain, the pull completes to the peer's exact chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{wait_within, Relay};

fn status(r: &Relay) -> (String, u64) {
    let v = r.get("/api/mesh/infonet/status").json();
    (
        v["head_hash_full"].as_str().unwrap_or_default().to_string(),
        v["total_events"].as_u64().unwrap_or(0),
    )
}

/// A proxy to `target` that, while `tamper` is set, replaces the first occurrence of `victim`
/// in any response with `forged` (the event's own `event_id`: its id no longer verifies).
/// Counts the chain sync requests it forwards.
struct Proxy {
    url: String,
    tamper: Arc<AtomicBool>,
    syncs: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(target: String, victim: String, forged: String) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let tamper = Arc::new(AtomicBool::new(true));
        let syncs = Arc::new(AtomicUsize::new(0));
        let (t, s) = (Arc::clone(&tamper), Arc::clone(&syncs));
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(stream) = stream else { continue };
                let (target, victim, forged) = (target.clone(), victim.clone(), forged.clone());
                let (t, s) = (Arc::clone(&t), Arc::clone(&s));
                std::thread::spawn(move || {
                    serve(stream, &target, &victim, &forged, &t, &s);
                });
            }
        });
        Proxy { url, tamper, syncs }
    }
}

/// Forward each request of one keep-alive connection.
fn serve(
    stream: TcpStream,
    target: &str,
    victim: &str,
    forged: &str,
    tamper: &AtomicBool,
    syncs: &AtomicUsize,
) {
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.trim().split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let url = format!("{target}{path}");
        let resp = if method == "POST" {
            ureq::post(&url)
                .set("Content-Type", "application/json")
                .send_bytes(&body)
        } else {
            ureq::get(&url).call()
        };
        let (code, mut text) = match resp {
            Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
            Err(_) => return,
        };
        if path.contains("/infonet/sync") {
            syncs.fetch_add(1, Ordering::SeqCst);
            if tamper.load(Ordering::SeqCst) {
                text = text.replacen(victim, forged, 1);
            }
        }
        let head = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        if w.write_all(head.as_bytes()).is_err() || w.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

/// Event ids of `r`'s chain, in order (through `GET sync`, 500 at a time).
fn chain_ids(r: &Relay, n: usize) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    while ids.len() < n {
        let after = ids
            .last()
            .map_or(String::new(), |l| format!("&after_hash={l}"));
        let v = r
            .get(&format!("/api/mesh/infonet/sync?limit=500{after}"))
            .json();
        let events = v["events"].as_array().unwrap().clone();
        assert!(!events.is_empty(), "{v}");
        ids.extend(
            events
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string()),
        );
    }
    ids
}

#[test]
fn a_forged_event_in_a_page_fetched_ahead_stops_there_and_loses_nothing() {
    // 4 pages of 500: the forged event is the 251st of the second page, so the third and
    // fourth pages are (typically) already fetched and prepared when it is refused.
    let n = 1_700;
    let a_dir = tempfile::tempdir().unwrap();
    let seed = std::process::Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["dev-seed-chain", "--data"])
        .arg(a_dir.path())
        .args(["--events", &n.to_string(), "--authors", "5"])
        .output()
        .unwrap();
    assert!(seed.status.success(), "{seed:?}");
    let a = Relay::start(a_dir.path(), &[]);
    let ids = chain_ids(&a, 751);
    let victim = ids[750].clone();
    let mut forged = victim.clone();
    let last = if forged.ends_with('0') { "1" } else { "0" };
    forged.replace_range(63.., last);
    let proxy = Proxy::start(a.base.clone(), victim, forged);

    let b_dir = tempfile::tempdir().unwrap();
    let peer = format!("--peer={}=pull-ahead-secret", proxy.url);
    let b = Relay::start(b_dir.path(), &[&peer, "--sync-interval-secs", "1"]);
    wait_within(
        "B to store up to the forged event",
        Duration::from_secs(120),
        || status(&b).1 >= 750,
    );
    // Two more rounds against the same forged page: B never goes past it.
    let seen = proxy.syncs.load(Ordering::SeqCst);
    wait_within("B to retry twice", Duration::from_secs(60), || {
        proxy.syncs.load(Ordering::SeqCst) >= seen + 2
    });
    assert_eq!(status(&b), (ids[749].clone(), 750));
    let st = b.get("/api/mesh/infonet/sync-status").json();
    assert_eq!(st["fork_detected"], false, "{st}");

    // The peer now serves its true chain: the pull completes, every event once.
    proxy.tamper.store(false, Ordering::SeqCst);
    let want = status(&a);
    assert_eq!(want.1, n);
    wait_within(
        "B to pull A's whole chain",
        Duration::from_secs(120),
        || status(&b) == want,
    );
    let root = |r: &Relay| r.get("/api/mesh/infonet/merkle").json()["merkle_root"].clone();
    assert_eq!(root(&b), root(&a));
}
