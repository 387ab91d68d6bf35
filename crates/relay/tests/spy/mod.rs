//! A fake peer relay: records every request (path, headers, body) and answers each with a
//! fixed status, headers and body.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub struct Spy {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// What a spy answers one request with: status line (e.g. "200 OK"), extra header lines
/// (each ending in `\r\n`) and body.
pub type Answer = (String, String, String);

impl Spy {
    /// Answer every request with `status_line` (e.g. "200 OK"), `extra_headers` and `body`.
    pub fn start(
        status_line: &'static str,
        extra_headers: &'static str,
        body: &'static str,
    ) -> Spy {
        Spy::answering(move |_, _| (status_line.into(), extra_headers.into(), body.into()))
    }

    /// Answer each request with what `answer(path, body)` gives (a peer that picks its answer
    /// by what it is sent).
    pub fn answering(answer: impl Fn(&str, &[u8]) -> Answer + Send + Sync + 'static) -> Spy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut s) = stream else { continue };
                let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
                std::thread::spawn(move || {
                    let Some((_, path, headers, buf)) = read_request(&s) else {
                        return;
                    };
                    let (status_line, extra_headers, body) = answer(&path, &buf);
                    log.lock().unwrap().push(Seen {
                        path,
                        headers,
                        body: String::from_utf8_lossy(&buf).into_owned(),
                    });
                    let resp = format!(
                        "HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes());
                });
            }
        });
        Spy { url, seen }
    }

    pub fn bodies(&self, path: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .map(|s| s.body.clone())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// One HTTP/1.1 request: method, path, headers (names lowercased), body.
pub type Request = (String, String, Vec<(String, String)>, Vec<u8>);

/// Read one request off `s` (the body by its `Content-Length`); `None` if the connection
/// ends or fails first.
pub fn read_request(s: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim().split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some((method, path, headers, body))
}
