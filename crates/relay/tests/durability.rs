//! Group commit keeps every acknowledged write durable: a relay killed with SIGKILL while
//! several clients deposit DMs concurrently (their deposits sharing transactions and fsyncs)
//! holds, after a restart, every deposit it answered 200.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use postern_core::api::dm::{SendRequest, PATH_SEND};
use postern_core::Identity;
use rand_core::OsRng;

const CLIENTS: usize = 16;
const ACKED_BEFORE_KILL: usize = 300;

#[test]
fn every_acknowledged_deposit_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--rate-limit-per-min",
        "0",
        "--per-sender-cap",
        "1000000",
        "--mailbox-cap",
        "1000000",
    ];
    let relay = Relay::start(dir.path(), &flags);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(relay.register(&bob).status, 200);
    let bob_pub = relay.lookup(&bob.node_id());
    let url = relay.url(PATH_SEND);
    // Acknowledged msg_ids, and a signal for each new one.
    let acked = Arc::new((Mutex::new(Vec::<String>::new()), Condvar::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, acked, stop, bob_pub) = (
                url.clone(),
                Arc::clone(&acked),
                Arc::clone(&stop),
                bob_pub.clone(),
            );
            std::thread::spawn(move || {
                let alice = Identity::generate(&mut OsRng);
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(30))
                    .build();
                while !stop.load(Ordering::SeqCst) {
                    let env = Relay::seal(&alice, &bob_pub, b"durable?");
                    let msg_id = env.msg_id.clone();
                    let resp = agent.post(&url).send_json(SendRequest { envelope: env });
                    // Refused, or the relay is gone: only 200s count.
                    if matches!(resp, Ok(ref r) if r.status() == 200) {
                        acked.0.lock().unwrap().push(msg_id);
                        acked.1.notify_all();
                    }
                }
            })
        })
        .collect();
    // Kill while deposits are in flight: wait for a condition, not a time.
    {
        let (list, signal) = &*acked;
        let mut seen = list.lock().unwrap();
        while seen.len() < ACKED_BEFORE_KILL {
            let (next, timeout) = signal.wait_timeout(seen, Duration::from_secs(120)).unwrap();
            seen = next;
            assert!(
                !timeout.timed_out(),
                "only {} deposits answered",
                seen.len()
            );
        }
    }
    relay.kill();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let acked: Vec<String> = acked.0.lock().unwrap().clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);

    // Restart on the same data (the database recovers its log), then read the spool back.
    let relay = Relay::start(dir.path(), &flags);
    assert_eq!(relay.get("/api/health").status, 200);
    let db = rusqlite::Connection::open(dir.path().join("postern.sqlite3")).unwrap();
    let mut stmt = db
        .prepare("SELECT msg_id FROM messages WHERE recipient_id = ?1")
        .unwrap();
    let stored: HashSet<String> = stmt
        .query_map([bob.node_id()], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged deposits lost after kill -9: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    drop(relay);
}

/// Start-up checks the stored chain by hashes instead of re-verifying every signature
/// (issue 16): an intact database starts with every event; one whose stored bytes of an event
/// were altered (its content no longer hashes to its id) does not start, and says why.
#[test]
fn start_up_checks_the_stored_chain_by_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::process::Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["dev-seed-chain", "--data"])
        .arg(dir.path())
        .args(["--events", "40"])
        .output()
        .unwrap();
    assert!(seed.status.success(), "{seed:?}");
    let relay = Relay::start(dir.path(), &[]);
    let status = relay.get("/api/mesh/infonet/status").json();
    assert_eq!(status["total_events"], 40, "{status}");
    relay.terminate();

    let db = rusqlite::Connection::open(dir.path().join("postern.sqlite3")).unwrap();
    let text: String = db
        .query_row("SELECT event FROM infonet_chain WHERE idx = 17", [], |r| {
            r.get(0)
        })
        .unwrap();
    let seq = "\"sequence\":";
    let at = text.find(seq).expect("stored event has a sequence") + seq.len();
    let altered = format!("{}9{}", &text[..at], &text[at..]);
    db.execute(
        "UPDATE infonet_chain SET event = ?1 WHERE idx = 17",
        [&altered],
    )
    .unwrap();
    drop(db);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_postern"));
    let web = tempfile::tempdir().unwrap();
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .arg("--web")
        .arg(web.path());
    let err = match Relay::try_launch(cmd) {
        Ok(_) => panic!("a relay with an altered stored event started"),
        Err(e) => e,
    };
    assert!(
        err.contains("chain event 17") && err.contains("does not hash to its event_id"),
        "{err}"
    );
}
