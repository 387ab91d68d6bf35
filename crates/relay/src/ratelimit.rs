//! Per-client token buckets (keyed by peer IP; IPv6 by its /64).
//!
//! A bucket holds at most `per_min` tokens and refills at `per_min / 60` tokens per second; each
//! request takes one. An empty bucket answers how long until the next token (the `Retry-After`).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are dropped.
const MAX_TRACKED_CLIENTS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// One limit (e.g. writes) for all clients.
#[derive(Debug)]
pub struct RateLimiter {
    per_min: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// The client key of an address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 prefix.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl RateLimiter {
    /// `per_min == 0` disables the limit.
    pub fn new(per_min: u32) -> Self {
        RateLimiter {
            per_min,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_min(&self) -> u32 {
        self.per_min
    }

    /// Take a token for `ip` at `now`; `Err(retry_after)` when the bucket is empty.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_min == 0 {
            return Ok(());
        }
        let cap = f64::from(self.per_min);
        let rate = cap / 60.0; // tokens per second
        let key = client_key(ip);
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED_CLIENTS && !map.contains_key(&key) {
            // Drop clients whose bucket has refilled: they lose nothing.
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < cap
            });
            if map.len() >= MAX_TRACKED_CLIENTS {
                map.clear();
            }
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(cap);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }
}

/// Whole seconds for a `Retry-After` header (at least 1).
pub fn retry_after_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_drains_refills_and_is_per_client() {
        let l = RateLimiter::new(3);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a, t0).is_ok());
        }
        let wait = l.check(a, t0).unwrap_err();
        assert_eq!(retry_after_secs(wait), 20);
        assert!(l.check(b, t0).is_ok(), "another client is not affected");
        assert!(l.check(a, t0 + Duration::from_secs(19)).is_err());
        assert!(
            l.check(a, t0 + Duration::from_secs(21)).is_ok(),
            "refilled after Retry-After"
        );
        assert!(RateLimiter::new(0).check(a, t0).is_ok());
    }

    #[test]
    fn ipv6_by_prefix() {
        let x: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(client_key(x), client_key(y));
        let m: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(client_key(m), "10.1.2.3".parse::<IpAddr>().unwrap());
    }
}
