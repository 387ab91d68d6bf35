//! Test harness: start the real `postern` binary and talk HTTP to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use postern_core::api::dm::*;
use postern_core::auth::{sign_request_for, Action, RequestAuth};
use postern_core::{b64, dm, Identity, PublicIdentity};
use rand_core::OsRng;
use serde_json::Value;

pub mod chain;

pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`wait_for`] waits for a condition before failing the test.
pub const WAIT: Duration = Duration::from_secs(60);

/// Poll `cond` until it holds; fail the test naming `what` after [`WAIT`].
pub fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_within(what, WAIT, cond)
}

/// Poll `cond` until it holds; fail the test naming `what` after `deadline`.
pub fn wait_within(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for {what}");
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A running relay process; killed on drop.
pub struct Relay {
    child: Option<Child>,
    pub base: String,
    /// The origin client requests are signed for: `base`, unless the relay runs with a
    /// `--public-url` the test does not reach it at.
    pub origin: String,
    pub log: PathBuf,
    _logdir: tempfile::TempDir,
    _web: Option<tempfile::TempDir>,
    agent: ureq::Agent,
}

impl Relay {
    /// Start on a fresh random port with `data` as data dir and an empty web dir.
    pub fn start(data: &Path, extra: &[&str]) -> Relay {
        let web = tempfile::tempdir().unwrap();
        let mut r = Self::start_with_web(data, web.path(), extra);
        r._web = Some(web);
        r
    }

    pub fn start_with_web(data: &Path, web: &Path, extra: &[&str]) -> Relay {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postern"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data)
            .arg("--web")
            .arg(web)
            .args(extra);
        // Most tests fire many requests from one address: rate limits are off unless a test
        // passes the flags (flags win over the environment).
        if std::env::var_os("POSTERN_RATE_LIMIT_PER_MIN").is_none() {
            cmd.env("POSTERN_RATE_LIMIT_PER_MIN", "0");
        }
        if std::env::var_os("POSTERN_READ_RATE_LIMIT_PER_MIN").is_none() {
            cmd.env("POSTERN_READ_RATE_LIMIT_PER_MIN", "0");
        }
        Self::launch(cmd)
    }

    /// Spawn `cmd` (a `postern serve …`) and wait for its address line.
    pub fn launch(cmd: Command) -> Relay {
        Self::try_launch(cmd).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Relay::launch`], but a relay that exits (or prints something else) before its
    /// address line is an `Err` with its log, e.g. when a chosen port was taken meanwhile.
    pub fn try_launch(mut cmd: Command) -> Result<Relay, String> {
        // Tests read /metrics and the replication status, which a relay keeps private unless
        // told otherwise; a command that sets (or removes) the variable keeps its choice
        // (tests/web_surface.rs checks the default).
        if !cmd.get_envs().any(|(k, _)| k == "POSTERN_PUBLIC_STATUS") {
            cmd.env("POSTERN_PUBLIC_STATUS", "true");
        }
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("relay.log");
        let stderr = std::fs::File::create(&log).unwrap();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn postern");
        let stdout = child.stdout.take().unwrap();
        // Wait for the address line (on a thread, so a hung relay fails the test instead of
        // hanging it).
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "relay did not print its address; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
        };
        let Some(addr) = line.trim().strip_prefix("postern listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "unexpected first stdout line {line:?}; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ));
        };
        // No pooled connections: the relay closes a connection after some error answers (e.g. a
        // 413 or 415 whose body it never read), and a POST sent on such a closed pooled
        // connection fails with "Unexpected EOF" (ureq retries only idempotent requests).
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(20))
            .max_idle_connections(0)
            .build();
        Ok(Relay {
            child: Some(child),
            base: addr.to_string(),
            origin: addr.to_string(),
            log,
            _logdir: logdir,
            _web: None,
            agent,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Turn a ureq result into a [`Resp`] (HTTP error statuses are responses, not failures).
    pub fn finish(resp: Result<ureq::Response, ureq::Error>) -> Resp {
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let status = resp.status();
        let content_type = resp.header("content-type").unwrap_or("").to_string();
        let cache_control = resp.header("cache-control").unwrap_or("").to_string();
        let body = resp.into_string().unwrap();
        Resp {
            status,
            content_type,
            cache_control,
            body,
        }
    }

    pub fn post_raw(&self, path: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
        let mut req = self.agent.post(&self.url(path));
        if let Some(ct) = content_type {
            req = req.set("Content-Type", ct);
        }
        Self::finish(req.send_bytes(body))
    }

    pub fn post(&self, path: &str, body: &impl serde::Serialize) -> Resp {
        self.post_raw(
            path,
            Some("application/json"),
            &serde_json::to_vec(body).unwrap(),
        )
    }

    pub fn get(&self, path: &str) -> Resp {
        Self::finish(self.agent.get(&self.url(path)).call())
    }

    pub fn request(&self, method: &str, path: &str) -> Resp {
        Self::finish(self.agent.request(method, &self.url(path)).call())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM and wait (bounded) for a clean exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("relay did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (no chance to clean up).
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // ---- protocol helpers, doing exactly what the browser does ----

    pub fn register(&self, id: &Identity) -> Resp {
        let dh = id.dh_public();
        let auth = sign_request_for(
            id,
            &self.origin,
            Action::DmRegister,
            dh.as_bytes(),
            now(),
            &mut OsRng,
        );
        self.post(
            PATH_REGISTER,
            &RegisterRequest {
                auth,
                dh_pub_key: b64::encode_std(dh.as_bytes()),
                binding: id.public().binding().map(|b| b64::encode_std(b)),
            },
        )
    }

    /// Look a node up and build its public identity from the relay's answer.
    pub fn lookup(&self, node_id: &str) -> PublicIdentity {
        let r = self.get(&format!("{PATH_PUBKEY}?node_id={}", urlencode(node_id)));
        assert_eq!(r.status, 200, "{}", r.body);
        let p: PubkeyResponse = r.json_as();
        let public = p.identity().unwrap();
        assert_eq!(public.node_id(), node_id);
        public
    }

    pub fn seal(from: &Identity, to: &PublicIdentity, body: &[u8]) -> dm::DmEnvelope {
        let msg_id = dm::new_msg_id(&mut OsRng);
        dm::seal(from, to, body, &msg_id, now(), &mut OsRng).unwrap()
    }

    pub fn send(&self, env: &dm::DmEnvelope) -> Resp {
        self.post(
            PATH_SEND,
            &SendRequest {
                envelope: env.clone(),
            },
        )
    }

    /// A poll signed for this relay.
    pub fn poll_auth(&self, id: &Identity, limit: u32, ts: u64) -> RequestAuth {
        sign_request_for(
            id,
            &self.origin,
            Action::DmPoll,
            &poll_params(limit),
            ts,
            &mut OsRng,
        )
    }

    pub fn poll(&self, id: &Identity) -> PollResponse {
        let r = self.post(
            PATH_POLL,
            &PollRequest {
                auth: self.poll_auth(id, MAX_POLL_LIMIT, now()),
                limit: MAX_POLL_LIMIT,
            },
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json_as()
    }

    pub fn ack(&self, id: &Identity, msg_ids: &[String]) -> AckResponse {
        let auth = sign_request_for(
            id,
            &self.origin,
            Action::DmAck,
            &postern_core::auth::ack_params(msg_ids),
            now(),
            &mut OsRng,
        );
        let r = self.post(
            PATH_ACK,
            &AckRequest {
                auth,
                msg_ids: msg_ids.to_vec(),
            },
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json_as()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub cache_control: String,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("unexpected body ({e}): {:?}", self.body))
    }

    /// Assert a structured error with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.assert_error_body();
        assert_eq!(self.json()["code"], code, "body: {}", self.body);
    }

    /// Assert the body is an `ErrorBody` in JSON.
    pub fn assert_error_body(&self) {
        assert!(
            self.content_type.starts_with("application/json"),
            "content type {:?} of {:?}",
            self.content_type,
            self.body
        );
        let e: postern_core::api::ErrorBody = self.json_as();
        assert!(!e.ok);
        assert!(!e.code.is_empty() && !e.detail.is_empty());
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Tiny deterministic PRNG for fuzz-ish inputs (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A free local port (a relay that later finds it taken exits, and the caller chooses again).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Secret shared by every peer pair of a [`Mesh`].
pub const MESH_SECRET: &str = "mesh-shared-secret";

/// Relays that peer along `edges` (undirected, indices into the nodes). Every relay must know
/// its peers' URLs before it starts, so ports are chosen up front; a port taken between
/// choosing and binding makes that relay exit, and [`Mesh::start`] chooses again.
pub struct Mesh {
    pub dirs: Vec<tempfile::TempDir>,
    pub ports: Vec<u16>,
    pub edges: Vec<(usize, usize)>,
    pub extra: Vec<String>,
    /// Pass `--public-url` (outbound pushes); without it peers only pull.
    pub push: bool,
}

impl Mesh {
    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    /// The `postern serve` command of node `i` (its data dir, port and peers).
    pub fn command(&self, i: usize) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postern"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.ports[i]))
            .arg("--data")
            .arg(self.dirs[i].path())
            .arg("--web")
            .arg(self.dirs[i].path());
        if self.push {
            cmd.arg(format!("--public-url={}", self.url(i)));
        }
        for &(a, b) in &self.edges {
            let other = if a == i {
                b
            } else if b == i {
                a
            } else {
                continue;
            };
            cmd.arg(format!("--peer={}={MESH_SECRET}", self.url(other)));
        }
        cmd.args(&self.extra)
            .env("POSTERN_RATE_LIMIT_PER_MIN", "0")
            .env("POSTERN_READ_RATE_LIMIT_PER_MIN", "0");
        cmd
    }

    /// Start node `i` on its (already chosen) port, e.g. again after stopping it. Its peers know
    /// that port, so a restart cannot choose another: when something else holds the port for a
    /// moment (a connection of a test running beside this one may get it as its local port once
    /// the node let it go), wait until it is free again (up to 30 s) and start once more.
    pub fn start_node(&self, i: usize) -> Result<Relay, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Relay::try_launch(self.command(i)) {
                Err(e) if e.contains("Address already in use") && Instant::now() < deadline => {
                    while std::net::TcpListener::bind(("127.0.0.1", self.ports[i])).is_err()
                        && Instant::now() < deadline
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                started => return started,
            }
        }
    }

    /// Start `n` relays peering along `edges`, each with `extra` flags.
    pub fn start(n: usize, edges: &[(usize, usize)], extra: &[&str]) -> (Mesh, Vec<Relay>) {
        Self::start_with(n, edges, extra, true)
    }

    /// Like [`Mesh::start`]; `push: false` leaves out `--public-url` (no outbound pushes).
    pub fn start_with(
        n: usize,
        edges: &[(usize, usize)],
        extra: &[&str],
        push: bool,
    ) -> (Mesh, Vec<Relay>) {
        let dirs = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut mesh = Mesh {
            dirs,
            ports: Vec::new(),
            edges: edges.to_vec(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            push,
        };
        let mut last_err = String::new();
        for _ in 0..5 {
            mesh.ports = (0..n).map(|_| free_port()).collect();
            // A port taken between choosing and binding: choose again (no wait, unlike a restart).
            let started: Vec<Result<Relay, String>> =
                (0..n).map(|i| Relay::try_launch(mesh.command(i))).collect();
            if started.iter().all(|r| r.is_ok()) {
                let relays = started.into_iter().map(|r| r.unwrap()).collect();
                return (mesh, relays);
            }
            last_err = started
                .into_iter()
                .filter_map(|r| r.err())
                .collect::<Vec<_>>()
                .join("\n");
        }
        panic!("could not start the mesh: {last_err}");
    }
}

/// The peer-auth headers a Postern relay at `own` sends with `POST path` and `body` at `ts`:
/// the v2 headers (method, path, timestamp, nonce, body) and the v1 body HMAC.
pub fn peer_headers_at(
    secret: &str,
    own: &str,
    path: &str,
    body: &[u8],
    ts: u64,
) -> Vec<(String, String)> {
    use postern_core::peer::{normalize_peer_url, peer_key, sign_body, v2};
    let url = normalize_peer_url(own).unwrap();
    let k1 = peer_key(secret.as_bytes(), &url);
    let k2 = v2::peer_key_v2(secret.as_bytes(), &url);
    let h = v2::sign(&k2, "POST", path, body, ts, &mut OsRng);
    let mut headers = vec![
        (
            postern_core::peer::HEADER_PEER_URL.to_string(),
            own.to_string(),
        ),
        (
            postern_core::peer::HEADER_PEER_HMAC.to_string(),
            sign_body(&k1, body),
        ),
    ];
    headers.extend(
        h.pairs()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    headers
}

/// [`peer_headers_at`] now.
pub fn peer_headers(secret: &str, own: &str, path: &str, body: &[u8]) -> Vec<(String, String)> {
    peer_headers_at(secret, own, path, body, now())
}

/// POST `body` to `relay` with exactly `headers`.
pub fn post_with_headers(
    relay: &Relay,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let mut req = agent
        .post(&relay.url(path))
        .set("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    Relay::finish(req.send_bytes(body))
}

/// POST `body` to `relay` signed (peer auth v2) as the Postern peer `own` with `secret`.
pub fn peer_post(relay: &Relay, path: &str, own: &str, secret: &str, body: &[u8]) -> Resp {
    post_with_headers(relay, path, &peer_headers(secret, own, path, body), body)
}
