//! DM deposit benchmark client (not a test; `bench/relay.sh` runs it): registers a recipient,
//! seals TOTAL fresh envelopes to it beforehand, then sends them as `POST /api/mesh/dm/send`
//! over CONNS keep-alive connections at once (one thread each) and prints deposits/s and the
//! p50/p99 latency. The relay must run with rate limits off and caps above TOTAL
//! (`--per-sender-cap`, `--mailbox-cap`).
//!
//! `bench_deposit RELAY_URL [CONNS] [TOTAL]` (defaults 64 and 20000)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postern_core::api::dm::{RegisterRequest, SendRequest, PATH_REGISTER, PATH_SEND};
use postern_core::auth::{sign_request_for, Action};
use postern_core::{b64, dm, Identity};
use rand_core::OsRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let relay = args
        .get(1)
        .expect("bench_deposit RELAY_URL [CONNS] [TOTAL]")
        .trim_end_matches('/')
        .to_string();
    let conns: usize = args.get(2).map_or(64, |a| a.parse().expect("CONNS"));
    let total: usize = args.get(3).map_or(20_000, |a| a.parse().expect("TOTAL"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let recipient = Identity::generate(&mut OsRng);
    let dh = recipient.dh_public();
    let reg = RegisterRequest {
        auth: sign_request_for(
            &recipient,
            &relay,
            Action::DmRegister,
            dh.as_bytes(),
            now,
            &mut OsRng,
        ),
        dh_pub_key: b64::encode_std(dh.as_bytes()),
        binding: None,
    };
    agent
        .post(&format!("{relay}{PATH_REGISTER}"))
        .send_json(&reg)
        .expect("register");
    let sender = Identity::generate(&mut OsRng);
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..total)
            .map(|_| {
                let msg_id = dm::new_msg_id(&mut OsRng);
                let env = dm::seal(
                    &sender,
                    &recipient.public(),
                    b"bench",
                    &msg_id,
                    now,
                    &mut OsRng,
                )
                .unwrap();
                serde_json::to_string(&SendRequest { envelope: env }).unwrap()
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{relay}{PATH_SEND}");
    let t0 = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let (bodies, next, url) = (Arc::clone(&bodies), Arc::clone(&next), url.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(60))
                    .build();
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return lat;
                    };
                    let t = Instant::now();
                    let r = agent
                        .post(&url)
                        .set("Content-Type", "application/json")
                        .send_string(body);
                    match r {
                        Ok(r) if r.status() == 200 => lat.push(t.elapsed()),
                        Ok(r) => panic!("deposit answered {}", r.status()),
                        Err(e) => panic!("deposit failed: {e}"),
                    }
                }
            })
        })
        .collect();
    let mut lat: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    println!(
        "dm deposits: {total} at {conns} connections: {secs:.2} s, {:.0} deposits/s, \
         p50 {:.1} ms, p99 {:.1} ms",
        total as f64 / secs,
        pct(0.50),
        pct(0.99)
    );
}
