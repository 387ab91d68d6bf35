//! HTTP requests of the sync loop and the error of a failed round (shared by the chain sync view
//! and the tree-head check).
use gloo_net::http::{Request, Response};
use postern_core::sync::parse_retry_after;
use wasm_bindgen::JsCast;

use crate::model::chain::{backoff_reason, incomplete_text, Rejected};
use crate::platform::clock::now_secs;

/// A failed round.
#[derive(Debug, Clone, PartialEq)]
pub enum RoundError {
    Http {
        status: u16,
        retry_after_s: u64,
        detail: String,
    },
    Unreachable(String),
    Invalid(Rejected),
    Storage(String),
    Worker(String),
    /// The relay does not hold the stored head; what its answer to our locator says, and
    /// whether that is a fork (its chain does not extend the verified copy).
    Resync {
        fork: bool,
        reason: String,
    },
    /// The relay healed a fork above its signed head: the copy was cut back from `from` to
    /// `kept` events (re-verified and synced again at once). `signed`: this browser holds a
    /// signed head of the relay (none: nothing tells the heal from a rewrite).
    Rewound {
        kept: u64,
        from: u64,
        signed: bool,
    },
}

impl RoundError {
    pub fn reason(&self) -> String {
        match self {
            RoundError::Http {
                status,
                retry_after_s,
                detail,
            } => backoff_reason(Some(*status), *retry_after_s, detail),
            RoundError::Unreachable(_) => {
                "can't reach the relay (check your connection); it is tried again automatically".into()
            }
            RoundError::Invalid(r) => match r.incomplete {
                Some(why) => format!(
                    "the relay serves a view that cannot be verified at event #{} ({}: {}, {}); sync stops after the verified prefix",
                    r.index,
                    incomplete_text(why),
                    r.reason,
                    r.detail
                ),
                None => format!(
                    "chain refused at event #{}: {} ({})",
                    r.index, r.reason, r.detail
                ),
            },
            RoundError::Storage(e) => format!("storage: {e}"),
            RoundError::Worker(e) => format!("verifier: {e}"),
            RoundError::Resync { reason, .. } => reason.clone(),
            RoundError::Rewound { kept, from, signed } => {
                crate::model::chain::rewound_note(*kept, *from, *signed)
            }
        }
    }
}

pub async fn get_text(url: &str) -> Result<String, RoundError> {
    read_text(Request::get(url).send().await).await
}

pub async fn post_text(url: &str, body: &impl serde::Serialize) -> Result<String, RoundError> {
    let req = Request::post(url)
        .json(body)
        .map_err(|e| RoundError::Unreachable(e.to_string()))?;
    read_text(req.send().await).await
}

async fn read_text(sent: Result<Response, gloo_net::Error>) -> Result<String, RoundError> {
    let resp = sent.map_err(|e| RoundError::Unreachable(e.to_string()))?;
    if !(200..300).contains(&resp.status()) {
        return Err(failure(resp).await);
    }
    resp.text()
        .await
        .map_err(|e| RoundError::Unreachable(e.to_string()))
}

/// A `GET` answer's body as bytes, never decoded on the page thread (a `/sync` page goes to
/// the verifier workers as it came).
pub async fn get_bytes(url: &str) -> Result<js_sys::ArrayBuffer, RoundError> {
    let unreachable = |e: String| RoundError::Unreachable(e);
    let resp = Request::get(url)
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !(200..300).contains(&resp.status()) {
        return Err(failure(resp).await);
    }
    let read = web_sys::Response::from(resp)
        .array_buffer()
        .map_err(|e| unreachable(format!("{e:?}")))?;
    let body = wasm_bindgen_futures::JsFuture::from(read)
        .await
        .map_err(|e| unreachable(format!("{e:?}")))?;
    body.dyn_into()
        .map_err(|_| unreachable("the body is not bytes".into()))
}

/// The error of an answer that is not 2xx.
async fn failure(resp: Response) -> RoundError {
    let status = resp.status();
    let retry = resp.headers().get("retry-after");
    let text = match resp.text().await {
        Ok(t) => t,
        Err(e) => return RoundError::Unreachable(e.to_string()),
    };
    if matches!(status, 502..=504) && !text.starts_with('{') {
        return RoundError::Unreachable(format!("HTTP {status}"));
    }
    let retry_after_s = retry
        .map(|v| parse_retry_after(&v, now_secs()))
        .unwrap_or(0);
    let detail = serde_json::from_str::<postern_core::api::ErrorBody>(&text)
        .map(|b| format!("{}: {}", b.code, b.detail))
        .unwrap_or_else(|_| text.chars().take(200).collect());
    RoundError::Http {
        status,
        retry_after_s,
        detail,
    }
}

pub async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, RoundError> {
    let text = get_text(url).await?;
    serde_json::from_str(&text).map_err(|e| RoundError::Http {
        status: 200,
        retry_after_s: 0,
        detail: format!("unreadable answer: {e}"),
    })
}
