//! Outbound peer requests over TLS: a relay pushes to an `https://` peer whose certificate is
//! issued by a private CA given with `--peer-ca`, and refuses that peer without it. The peer
//! is a small rustls stub; certificates are made with the `openssl` CLI (test skipped if absent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::Relay;
use postern_core::api::peer::{HEADER_PEER_HMAC, PATH_REPLICATE_ENVELOPE};
use postern_core::Identity;
use rand_core::OsRng;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A CA and a server certificate for 127.0.0.1 signed by it; false if openssl is unavailable.
fn make_certs(dir: &Path) -> bool {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=postern test CA",
            ],
        ]
        .concat(),
    ) && openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    ) && openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    )
}

/// A TLS peer stub: answers every request 200 `{"ok":true}` and reports (path, has HMAC).
fn tls_stub(dir: &Path) -> (u16, mpsc::Receiver<(String, bool)>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("srv.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("srv.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (cfg, tx) = (Arc::clone(&cfg), tx.clone());
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
                let mut first = String::new();
                if tls.read_line(&mut first).is_err() {
                    return; // handshake refused by the client
                }
                let (mut len, mut hmac) = (0usize, false);
                loop {
                    let mut h = String::new();
                    if tls.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    let lower = h.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    hmac |=
                        lower.starts_with(&format!("{}:", HEADER_PEER_HMAC.to_ascii_lowercase()));
                }
                let mut body = vec![0u8; len];
                let _ = tls.read_exact(&mut body);
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                let _ = tx.send((path, hmac));
                let resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
                let s = tls.get_mut();
                let _ = s.write_all(resp.as_bytes());
                let _ = s.flush();
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    (port, rx)
}

/// The relay's (unreachable) public URL: what it signs pushes as and what clients sign for.
const PUBLIC_URL: &str = "http://127.0.0.1:9";

fn relay_cmd(data: &Path, port: u16, ca: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postern"));
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--public-url", PUBLIC_URL])
        .arg("--data")
        .arg(data)
        .arg("--web")
        .arg(data)
        .arg(format!("--peer=https://127.0.0.1:{port}=tls-secret"))
        .args([
            "--dm-pull-interval-secs",
            "3600",
            "--sync-interval-secs",
            "3600",
        ])
        .env("POSTERN_LOG", "debug")
        .env("POSTERN_RATE_LIMIT_PER_MIN", "0")
        .env("POSTERN_READ_RATE_LIMIT_PER_MIN", "0");
    if let Some(ca) = ca {
        cmd.arg("--peer-ca").arg(ca);
    }
    cmd
}

#[test]
fn pushes_reach_an_https_peer_of_a_private_ca_and_only_with_it() {
    let certs = tempfile::tempdir().unwrap();
    if !make_certs(certs.path()) {
        eprintln!("openssl not available: skipping the TLS test");
        return;
    }
    let (port, seen) = tls_stub(certs.path());
    let bob = Identity::generate(&mut OsRng);
    let alice = Identity::generate(&mut OsRng);

    // With --peer-ca: the DM push arrives over TLS, HMAC-signed.
    let data = tempfile::tempdir().unwrap();
    let mut relay = Relay::launch(relay_cmd(
        data.path(),
        port,
        Some(&certs.path().join("ca.pem")),
    ));
    relay.origin = PUBLIC_URL.to_string();
    assert_eq!(relay.register(&bob).status, 200);
    assert_eq!(
        relay
            .send(&Relay::seal(&alice, &bob.public(), b"over tls"))
            .status,
        200
    );
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let (path, hmac) = seen
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no push arrived; log:\n{}", relay.log_text()));
        if path == PATH_REPLICATE_ENVELOPE {
            assert!(hmac, "the push carries X-Peer-HMAC");
            break;
        }
    }
    drop(relay);

    // Without it the private CA is unknown: the handshake fails and the push is retried.
    let data = tempfile::tempdir().unwrap();
    let mut relay = Relay::launch(relay_cmd(data.path(), port, None));
    relay.origin = PUBLIC_URL.to_string();
    assert_eq!(relay.register(&bob).status, 200);
    assert_eq!(
        relay
            .send(&Relay::seal(&alice, &bob.public(), b"over tls"))
            .status,
        200
    );
    let end = Instant::now() + Duration::from_secs(30);
    let refused_push = |log: &str| {
        log.lines()
            .any(|l| l.contains("replication failed; retrying") && l.contains("UnknownIssuer"))
    };
    while !refused_push(&relay.log_text()) {
        assert!(
            Instant::now() < end,
            "no certificate error logged:\n{}",
            relay.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A bad --peer-ca file stops the relay at startup.
    let bad = certs.path().join("ext");
    let err = Relay::try_launch(relay_cmd(data.path(), port, Some(&bad)))
        .err()
        .expect("a bad --peer-ca is refused");
    assert!(err.contains("--peer-ca"), "{err}");
}
