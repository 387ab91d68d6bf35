//! Why a page pulled from a peer stopped verifying when the peer served a *view* of its chain
//! rather than the chain: Shadowbroker's clearnet view (private events dropped, leaving
//! `prev_hash` gaps; vote / key_rotate payloads redacted) or a relay's public view (private
//! events as redaction stubs). The classification is core's (`public_view::classify_pulled_refusal`);
//! this module turns a refused page into the [`IncompleteView`] that `sync-status` shows.
use postern_core::api::peer::codes as pcodes;
use postern_core::json::Value;
use postern_core::public_view::{classify_pulled_refusal, IncompleteReason};
use postern_core::verify::FailReason;

use super::chain::{Chain, PushRefusal};
use crate::store::{IncompleteView, StoreError};

/// Core's failure reason behind a refusal code of [`Chain::peer_push`].
fn reason_of(code: &str) -> Option<FailReason> {
    if code == pcodes::FORKED {
        return Some(FailReason::PrevHashMismatch);
    }
    [
        FailReason::InvalidSignature,
        FailReason::EventIdMismatch,
        FailReason::InvalidPayload,
    ]
    .into_iter()
    .find(|r| r.as_str() == code)
}

fn text(v: &Value, k: &str) -> String {
    v.get(k).map(Value::py_str).unwrap_or_default()
}

/// Classify the refusal `r` of the pulled `page` (already ingested up to `r.index`). `None`: an
/// ordinary invalid event or a fork, not a view.
pub fn classify(
    chain: &Chain,
    page: &[Value],
    r: &PushRefusal,
) -> Result<Option<IncompleteView>, StoreError> {
    let Some(evt) = usize::try_from(r.index).ok().and_then(|i| page.get(i)) else {
        return Ok(None);
    };
    let Some(reason) = reason_of(r.refusal.code)
        .or_else(|| postern_core::public_view::is_stub(evt).then_some(FailReason::NotAnObject))
    else {
        return Ok(None);
    };
    let prev = text(evt, "prev_hash");
    let known = chain.holds(&prev)?;
    let Some(why) = classify_pulled_refusal(evt, reason, known) else {
        return Ok(None);
    };
    let id = text(evt, "event_id");
    let detail = match why {
        IncompleteReason::Gap => format!(
            "event {id} names prev_hash {prev} that the peer did not serve (a withheld private \
             event); the verified prefix is kept, an authenticated full-chain sync is needed"
        ),
        IncompleteReason::Redacted => format!(
            "event {id} ({}) does not verify as served, its payload looks redacted ({}: {}); \
             the verified prefix is kept, an authenticated full-chain sync is needed",
            text(evt, "event_type"),
            r.refusal.code,
            r.refusal.detail
        ),
        IncompleteReason::Stub => format!(
            "event {id} is a redaction stub (the peer's public view); the verified prefix is kept, \
             configure this relay as the peer's peer (and --public-url) to get its full chain"
        ),
    };
    Ok(Some(IncompleteView {
        reason: why,
        detail,
    }))
}
