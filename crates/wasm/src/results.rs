//! The plain objects returned to JavaScript: serde-derived conversion, tsify-derived TypeScript shapes.
//!
//! Each type here is a JS-facing view of a core result (field names in camelCase, numbers as JS
//! numbers, bytes as `Uint8Array`, absent values as `null`). `#[derive(Serialize)]` builds the
//! object through `serde-wasm-bindgen`; `#[derive(Tsify)]` writes the matching TypeScript
//! declaration into `postern_wasm.d.ts`, with these doc comments. Exported functions return the
//! `…Js` aliases (the declared TypeScript type) through [`to_js`], so a conversion failure is a
//! JS error with code `internal`, never a panic.
use postern_core::{dm, merkle, public_view, verify};
use serde::{Serialize, Serializer};
use tsify_next::Tsify;
use wasm_bindgen::JsValue;
use zeroize::Zeroizing;

use crate::error::js_error;

/// Convert a result value into its declared JS type.
pub fn to_js<T: Tsify + Serialize>(value: &T) -> Result<T::JsType, JsValue> {
    value.into_js().map_err(|e| js_error("internal", e))
}

/// Convert a list of result values into a JS array of their declared type (`T[]`).
pub fn to_js_vec<T: Tsify + Serialize>(values: &[T]) -> Result<Vec<T::JsType>, JsValue> {
    values.iter().map(to_js).collect()
}

/// Bytes as one fresh `Uint8Array` (serde-wasm-bindgen's `serialize_bytes`).
pub(crate) fn bytes<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(b)
}

/// A DM opened by `Identity.openDm`; the sender is authenticated.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct OpenedDm {
    /// The sender's public identity string (`postern1.…`).
    sender: String,
    msg_id: String,
    /// Seconds since the Unix epoch, as signed by the sender.
    timestamp: f64,
    #[serde(serialize_with = "bytes")]
    #[tsify(type = "Uint8Array")]
    body: Zeroizing<Vec<u8>>,
}

pub type OpenedDmJs = <OpenedDm as Tsify>::JsType;

impl From<dm::OpenedDm> for OpenedDm {
    fn from(m: dm::OpenedDm) -> Self {
        OpenedDm {
            sender: m.sender.to_string(),
            msg_id: m.msg_id.to_string(),
            timestamp: m.timestamp as f64,
            body: m.body,
        }
    }
}

/// First failure found by `verifyChain`. `reason` is core's stable snake_case `FailReason`.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ChainFailure {
    index: f64,
    event_id: String,
    reason: String,
    detail: String,
}

/// Result of `verifyChain` (core's `ChainReport`).
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(missing_as_null)]
pub struct ChainReport {
    valid: bool,
    count: f64,
    /// Event id of the last event when valid, else null.
    head: Option<String>,
    /// Infonet Merkle root over all event ids when valid, else null.
    merkle_root: Option<String>,
    error: Option<ChainFailure>,
}

pub type ChainReportJs = <ChainReport as Tsify>::JsType;

impl From<&verify::ChainReport> for ChainReport {
    fn from(r: &verify::ChainReport) -> Self {
        ChainReport {
            valid: r.valid,
            count: r.count as f64,
            head: r.head.clone(),
            merkle_root: r.merkle_root.clone(),
            error: r.error.as_ref().map(|f| ChainFailure {
                index: f.index as f64,
                event_id: f.event_id.clone(),
                reason: f.reason.as_str().to_string(),
                detail: f.detail.clone(),
            }),
        }
    }
}

/// Result of `verifyPublicView` (core's `PublicViewReport`): the fields of `verifyChain`'s
/// report, plus how many events were verified in full and how many redaction stubs (private
/// events of the public view) were verified link-only.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(missing_as_null)]
pub struct PublicViewReport {
    valid: bool,
    count: f64,
    /// Event id of the last element when valid, else null.
    head: Option<String>,
    /// Infonet Merkle root over all event ids (stubs included) when valid, else null: the full
    /// chain's root.
    merkle_root: Option<String>,
    error: Option<ChainFailure>,
    /// Events verified with every rule.
    full: f64,
    /// Redaction stubs verified link-only.
    link_only: f64,
}

pub type PublicViewReportJs = <PublicViewReport as Tsify>::JsType;

impl From<&public_view::PublicViewReport> for PublicViewReport {
    fn from(r: &public_view::PublicViewReport) -> Self {
        let ChainReport {
            valid,
            count,
            head,
            merkle_root,
            error,
        } = ChainReport::from(&r.report);
        PublicViewReport {
            valid,
            count,
            head,
            merkle_root,
            error,
            full: r.full as f64,
            link_only: r.link_only as f64,
        }
    }
}

/// The first signature or event-id failure in a slice (`verifyChainCrypto`); `index` is relative
/// to the slice. Typed `any` in the declarations, as before.
#[derive(Serialize)]
pub struct CryptoFailure {
    pub index: f64,
    pub reason: &'static str,
}

/// `{index, reason}`, or `null` when there is no failure.
pub fn crypto_failure_js(failure: Option<CryptoFailure>) -> Result<JsValue, JsValue> {
    let ser = serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true);
    failure.serialize(&ser).map_err(|e| js_error("internal", e))
}

/// Which side of the path a Merkle proof step's sibling hash is on.
#[derive(Serialize, Tsify, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum MerkleSide {
    Left,
    Right,
}

/// One step of an Infonet Merkle proof.
#[derive(Serialize, Tsify)]
pub struct MerkleProofStep {
    hash: String,
    side: MerkleSide,
}

pub type MerkleProofStepJs = <MerkleProofStep as Tsify>::JsType;

impl From<merkle::ProofStep> for MerkleProofStep {
    fn from(s: merkle::ProofStep) -> Self {
        MerkleProofStep {
            hash: s.hash,
            side: match s.side {
                merkle::Side::Left => MerkleSide::Left,
                merkle::Side::Right => MerkleSide::Right,
            },
        }
    }
}
