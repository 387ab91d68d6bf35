//! After each sync round: fetch the relay's signed tree head, check it in the verifier (which
//! holds the verified ids) against the pin kept for that relay key, keep pin and evidence in
//! IndexedDB, and show the result (an alarm on misbehaviour).
use postern_core::api::heads::{ConsistencyResponse, PATH_CONSISTENCY, PATH_TREE_HEAD};
use yew::prelude::*;

use super::fetch::{get_json, get_text};
use super::worker::Bridge;
use crate::model::chain::ToWorker;
use crate::model::heads::{
    answer_relay_key, answer_size, any_signed_head, head_text, proof_needed, settled_bound,
    HeadRecord, HeadVerdict,
};
use crate::platform::idb::Storage;

/// Check the relay's newest signed head; `held` is how many events the verifier holds.
pub async fn check(
    storage: &Storage,
    bridge: &Bridge,
    held: u64,
) -> Result<(HeadVerdict, HeadRecord), String> {
    let body = get_text(PATH_TREE_HEAD).await.map_err(|e| e.reason())?;
    let relay_key = answer_relay_key(&body);
    let mut rec = match &relay_key {
        Some(k) => storage.head_record(k).await.map_err(|e| e.to_string())?,
        None => HeadRecord::default(),
    };
    let proof = match proof_needed(&body, rec.pin.as_ref(), held) {
        Some((first, second)) => {
            let url = format!("{PATH_CONSISTENCY}?first={first}&second={second}");
            get_json::<ConsistencyResponse>(&url)
                .await
                .ok()
                .map(|r| r.proof)
        }
        None => None,
    };
    let ans = bridge
        .call(ToWorker::head(
            bridge.next_id(),
            body,
            rec.pin.clone(),
            proof,
        ))
        .await?;
    let verdict = ans.head_check.unwrap_or_default();
    if let Some(k) = relay_key {
        if rec.absorb(&verdict) {
            storage
                .put_head_record(&k, &rec)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok((verdict, rec))
}

/// How many events the copy must keep whatever a relay says (`model::heads::settled_bound`):
/// the relay's newest tree head, and every head pinned in this browser, for any relay key;
/// and whether any signed head is known at all (`model::heads::any_signed_head`).
pub async fn settled(storage: &Storage) -> Result<(u64, bool), String> {
    let body = get_text(PATH_TREE_HEAD).await.map_err(|e| e.reason())?;
    let pins = storage.pinned_sizes().await.map_err(|e| e.to_string())?;
    Ok((
        settled_bound(answer_size(&body), &pins),
        any_signed_head(&body, &pins),
    ))
}

/// The signed-head line and, when evidence is kept, the alarm.
pub fn view(head: &Option<(HeadVerdict, HeadRecord)>) -> Html {
    let Some((v, rec)) = head else {
        return html! {};
    };
    let state = format!("{:?}", v.state).to_lowercase();
    html! {<>
        <p id="sync-signed-head" class="muted" data-state={state} data-size={v.size.to_string()}
            data-chain-size={v.chain_size.to_string()}>{ head_text(v) }</p>
        if let Some(pin) = &rec.pin {
            <p id="sync-pin" class="muted small" data-size={pin.size.to_string()} data-signed-ms={pin.timestamp_ms.to_string()}>
                { format!("Pinned in this browser: size {}, root {}, signed {} by relay key {}.",
                    pin.size, crate::model::chain::short(&pin.root), crate::platform::clock::format_time(pin.timestamp_ms / 1000),
                    crate::model::chain::short(&pin.relay_key)) }
            </p>
        } else {
            <p id="sync-pin" class="muted small">{ "Nothing pinned yet: the first signed head this browser verifies is kept as the pin." }</p>
        }
        if let Some(e) = rec.evidence.last() {
            <p id="sync-head-alarm" class="error" role="alert" data-evidence={rec.evidence.len().to_string()}
                data-kind={format!("{:?}", e.kind).to_lowercase()}>
                { format!("Warning: this relay signed history that contradicts what it showed before \
                   (two signed heads of sizes {} and {} cannot both be true). Evidence kept in this browser.",
                   e.pinned.size, e.offered.size) }
            </p>
        }
    </>}
}
