//! [`HeadFeed`]: each round, fetch a Postern peer's newest signed tree head and the consistency
//! proof from the head pinned for it, and let the chain service check it against the pin
//! (core's `HeadPin`): consistent heads move the pin, misbehaviour is kept as evidence and
//! reported as a fork round, invalid heads as errors.
use std::io::Read;
use std::sync::Arc;

use postern_core::api::heads::{
    ConsistencyResponse, TreeHeadResponse, PATH_CONSISTENCY, PATH_TREE_HEAD,
};
use postern_core::rfc9162::Hash;
use postern_core::sync::SyncWorkerState;
use postern_core::tree_head::SignedTreeHead;

use super::pull::{Feed, PeerLink, Round};
use crate::metrics::Metrics;
use crate::service::heads::PeerHeadCheck;

/// Largest tree head or consistency answer read (a proof has at most 64 hashes).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Signed tree head checks of one peer.
pub struct HeadFeed {
    pub link: PeerLink,
    pub metrics: Arc<Metrics>,
}

/// GET `url`, the response body (at most [`MAX_RESPONSE_BYTES`]).
async fn get(agent: &ureq::Agent, url: String) -> Result<Vec<u8>, String> {
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || match agent.get(&url).call() {
        Ok(r) => {
            let mut buf = Vec::new();
            r.into_reader()
                .take(MAX_RESPONSE_BYTES + 1)
                .read_to_end(&mut buf)
                .map_err(|e| format!("reading the response failed: {e}"))?;
            if buf.len() as u64 > MAX_RESPONSE_BYTES {
                return Err("response too large".into());
            }
            Ok(buf)
        }
        Err(ureq::Error::Status(code, _)) => Err(format!("status {code}")),
        Err(e) => Err(e.to_string()),
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()))
}

fn hashes(proof: &[String]) -> Result<Vec<Hash>, String> {
    proof
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|v| <Hash>::try_from(v.as_slice()).ok())
                .ok_or_else(|| "consistency proof hash is not 32 hex bytes".to_string())
        })
        .collect()
}

impl HeadFeed {
    async fn check(&self) -> Result<Round, String> {
        let (svc, peer) = (&self.link.svc, &self.link.peer);
        let body = get(&self.link.agent, format!("{peer}{PATH_TREE_HEAD}")).await?;
        let answer: TreeHeadResponse =
            serde_json::from_slice(&body).map_err(|e| format!("tree head answer: {e}"))?;
        let Some(wire) = answer.tree_head else {
            return Ok(ok());
        };
        let sth = match SignedTreeHead::from_wire(&wire) {
            Ok(s) => s,
            Err(e) => {
                self.metrics.head_check("invalid");
                return Err(format!("invalid tree head: {e}"));
            }
        };
        let p = peer.clone();
        let pinned = svc
            .chain()
            .run("peer_pin", move |c| c.peer_pin(&p))
            .await
            .map_err(|_| "local storage error".to_string())?;
        let mut proof = Vec::new();
        if let Some(pinned) = pinned {
            let (a, b) = (pinned.head.size, sth.head.size);
            let (first, second) = (a.min(b), a.max(b));
            if first > 0 && first != second {
                let url = format!("{peer}{PATH_CONSISTENCY}?first={first}&second={second}");
                let body = get(&self.link.agent, url).await?;
                let r: ConsistencyResponse = serde_json::from_slice(&body)
                    .map_err(|e| format!("consistency answer: {e}"))?;
                if (r.first, r.second) != (first, second) {
                    return Err("consistency answer for other sizes".into());
                }
                proof = hashes(&r.proof)?;
            }
        }
        let (p, now) = (peer.clone(), svc.now());
        let checked = svc
            .chain()
            .run("check_peer_head", move |c| {
                c.check_peer_head(&p, sth, &proof, now)
            })
            .await
            .map_err(|_| "local storage error".to_string())?;
        match checked {
            PeerHeadCheck::Pinned | PeerHeadCheck::Consistent(_) => {
                self.metrics.head_check("consistent");
                Ok(ok())
            }
            PeerHeadCheck::Misbehaviour(detail) => {
                self.metrics.head_check("misbehaviour");
                tracing::warn!(peer = %peer, %detail, "peer tree head misbehaviour; evidence kept");
                Ok(Round::Fork {
                    detail,
                    peer_head: String::new(),
                })
            }
            PeerHeadCheck::Invalid(e) => {
                self.metrics.head_check("invalid");
                Err(e)
            }
        }
    }
}

fn ok() -> Round {
    Round::Ok {
        pulled: 0,
        refused: 0,
        peer_head: String::new(),
    }
}

impl Feed for HeadFeed {
    fn link(&self) -> &PeerLink {
        &self.link
    }

    async fn resume(&mut self) -> SyncWorkerState {
        SyncWorkerState::default()
    }

    async fn local_head(&self) -> String {
        String::new()
    }

    async fn round(&mut self) -> Round {
        match self.check().await {
            Ok(r) => r,
            Err(e) => {
                if !e.starts_with("invalid") {
                    self.metrics.head_check("error");
                }
                Round::err(e)
            }
        }
    }

    async fn record(&mut self, _state: &SyncWorkerState, _round: Option<&Round>) {}
}
