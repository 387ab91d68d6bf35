//! Connection hygiene (issue 14 item 8) against the real `postern` binary: a client that never
//! finishes its request headers is disconnected, an idle keep-alive connection is closed, and a
//! crowd of idle sockets — more than the relay has file descriptors — does not starve a real
//! request (the relay caps its connections below its descriptor limit and reaps idle ones).
//!
//! Every wait below is for a condition (EOF from the relay, an HTTP answer), bounded generously
//! so that a relay without the protection fails instead of hanging the suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::Relay;

/// Longest a test waits for the relay to close a connection.
const CLOSE_WITHIN: Duration = Duration::from_secs(60);

fn addr(relay: &Relay) -> String {
    relay.base.trim_start_matches("http://").to_string()
}

/// Read until EOF (the relay closed the connection): true, or false if the wait ran out.
fn closed_by_relay(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(CLOSE_WITHIN)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn start(extra: &[&str]) -> (Relay, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    (Relay::start(data.path(), extra), data)
}

#[test]
fn a_slow_header_client_is_disconnected() {
    let (relay, _d) = start(&["--header-read-timeout-secs", "1"]);
    let mut s = TcpStream::connect(addr(&relay)).unwrap();
    // Half a request head, then silence (a slowloris client).
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    assert!(
        closed_by_relay(&mut s),
        "the relay kept a slow-header connection open"
    );
}

#[test]
fn idle_connections_are_closed() {
    let (relay, _d) = start(&["--header-read-timeout-secs", "1"]);
    // Never sends a byte.
    let mut silent = TcpStream::connect(addr(&relay)).unwrap();
    // One request, then idle on the kept-alive connection.
    let mut kept = TcpStream::connect(addr(&relay)).unwrap();
    kept.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    kept.set_read_timeout(Some(CLOSE_WITHIN)).unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(
        closed_by_relay(&mut silent),
        "a silent connection stayed open"
    );
    assert!(
        closed_by_relay(&mut kept),
        "an idle keep-alive connection stayed open"
    );
}

#[test]
fn many_idle_sockets_do_not_starve_a_real_request() {
    // The relay runs with 256 descriptors; 400 sockets that never send a byte are opened first.
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_postern"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg("--web")
        .arg(web.path())
        .args(["--header-read-timeout-secs", "2"])
        .env("POSTERN_RATE_LIMIT_PER_MIN", "0")
        .env("POSTERN_READ_RATE_LIMIT_PER_MIN", "0");
    let relay = Relay::launch(cmd);
    let idle: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(addr(&relay)).unwrap())
        .collect();
    // A real request, queued behind all of them, is answered.
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let r = agent.get(&relay.url("/api/health")).call();
    let r = r.unwrap_or_else(|e| panic!("a real request starved: {e}"));
    assert_eq!(r.status(), 200);
    drop(idle);
    // And the relay never ran out of descriptors (it would log accept errors).
    assert!(
        !relay.log_text().contains("accept error"),
        "{}",
        relay.log_text()
    );
}
