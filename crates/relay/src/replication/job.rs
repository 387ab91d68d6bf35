//! One delivery attempt of an outbound replication job (a row of the durable outbox, queued
//! as a [`Job`] by the store) and how its answer is classified.
use postern_core::api::codes;
use postern_core::api::peer::{codes as pcodes, PeerPushRejection};

pub use crate::store::Job;

/// How an outbound attempt ended.
pub enum Attempt {
    Ok,
    /// The peer refused it (4xx other than a rate limit): do not retry.
    Rejected(u16, String),
    /// A Postern peer refused a chain push 409 `forked` because it does not hold `missing`, the
    /// event the push extends (a gap, not a fork: `PeerPushRejection::missing`); `text` as in
    /// `Rejected`.
    Gap {
        missing: String,
        text: String,
    },
    /// Transport failure, 5xx, 408 or rate limit: retry after at least `retry_after` seconds.
    Retry(String, u64),
}

/// POST one job's exact body to `url` with the peer-auth `headers`. A `peer_stale` (the clocks
/// disagree by more than the window) or `peer_busy` refusal is retried, not dropped.
pub fn send_once(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> Attempt {
    let mut req = agent.post(url).set("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = req.send_bytes(body);
    match resp {
        Ok(_) => Attempt::Ok,
        Err(ureq::Error::Status(code, r)) => {
            let retry_after = r
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let text = r.into_string().unwrap_or_default();
            let rate_limited =
                code == 429 && text.contains(&format!("\"{}\"", codes::RATE_LIMITED));
            let stale = code == 401 && text.contains("\"peer_stale\"");
            if code >= 500 || code == 408 || rate_limited || stale {
                Attempt::Retry(format!("status {code}"), retry_after)
            } else if let Some(missing) = gap(code, &text) {
                Attempt::Gap {
                    missing,
                    text: text.chars().take(200).collect(),
                }
            } else {
                Attempt::Rejected(code, text.chars().take(200).collect())
            }
        }
        Err(e) => Attempt::Retry(e.to_string(), 0),
    }
}

/// The `missing` member of a 409 `forked` peer-push answer.
fn gap(code: u16, text: &str) -> Option<String> {
    if code != 409 {
        return None;
    }
    let r: PeerPushRejection = serde_json::from_str(text).ok()?;
    (r.code == pcodes::FORKED).then_some(r.missing?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use postern_core::api::peer::PATH_PEER_PUSH;

    #[test]
    fn push_body_splices_exact_events() {
        let (path, body) = Job::Events {
            events: vec!["{\"a\":1.0}".into(), "{}".into()],
        }
        .path_and_body();
        assert_eq!(path, PATH_PEER_PUSH);
        assert_eq!(body, b"{\"events\":[{\"a\":1.0},{}]}");
    }
}
