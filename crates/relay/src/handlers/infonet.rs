//! Infonet chain handlers (`/api/mesh/infonet/*`, `/api/infonet/append`) and `/metrics`.
//! Rules live in `postern-core`; the one chain and its verification in
//! [`crate::service::chain`]. Sync answers an authenticated peer relay (`X-Peer-Url` +
//! `X-Peer-HMAC`) with the full chain and anyone else with core's public view (private events
//! as link-only redaction stubs); status, Merkle root and locator cover the whole chain.
//!
//! Event lists are rendered from the exact stored JSON (core's ordered writer), never through a
//! lossy number conversion, so what is served is byte-for-byte what was verified.
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use postern_core::api::codes;
use postern_core::api::infonet::{
    clamp_locator_limit, clamp_sync_limit, AppendRequest, LocatorQuery, LocatorResponse,
    MerkleProofEntry, MerkleResponse, PrivateStatusResponse, StatusResponse, SyncPostRequest,
    SyncQuery, FIELD_UNKNOWN_AFTER_HASH, LOCATOR_LIMIT_MAX, PATH_SYNC,
};
use postern_core::canonical::{GENESIS_HASH, NETWORK_ID, PROTOCOL_VERSION};
use postern_core::json::{self, Value};

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::state::AppState;
use crate::metrics::{Gauges, PeerGauges};
use crate::service::chain::{class_of, After, View};

/// Nesting allowed in an append body.
const APPEND_MAX_DEPTH: usize = 32;
/// Longest hash string worth looking up.
const MAX_HASH_CHARS: usize = 128;

/// A JSON body rendered by core's exact writer, optionally led by an `events` array spliced
/// from stored event texts (each already core's exact JSON of a verified event).
pub struct ExactJson(Value, Option<Vec<String>>);

impl IntoResponse for ExactJson {
    fn into_response(self) -> Response {
        let rest = self.0.to_json_ordered();
        let body = match self.1 {
            None => rest,
            Some(events) => {
                let tail = rest.strip_prefix('{').unwrap_or("}");
                let sep = if tail == "}" { "" } else { "," };
                format!("{{\"events\":[{}]{sep}{tail}", events.join(","))
            }
        };
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The view a sync request gets: the full chain for an authenticated peer relay, the public
/// view for anyone else. Peer headers that do not authenticate are refused (403
/// `peer_unauthorized`), never silently downgraded.
fn view_for(
    st: &AppState,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<View, ApiError> {
    if claims_peer(headers) {
        let now = st.services().now();
        st.peer_keys()
            .authenticate(method, PATH_SYNC, headers, body, now)?;
        return Ok(View::Full);
    }
    Ok(View::Public)
}

/// Whether a request says it comes from a peer relay (then it must authenticate as one).
fn claims_peer(headers: &HeaderMap) -> bool {
    headers.contains_key(postern_core::peer::HEADER_PEER_URL)
        || headers.contains_key(postern_core::peer::HEADER_PEER_HMAC)
}

fn trunc(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub async fn status(State(st): State<AppState>) -> Result<ApiJson<StatusResponse>, ApiError> {
    let (head, count) = st
        .services()
        .chain()
        .run("status", |c| Ok(c.head()))
        .await?;
    Ok(ApiJson(StatusResponse::new(&head, count, true)))
}

pub async fn private_status(
    State(st): State<AppState>,
) -> Result<ApiJson<PrivateStatusResponse>, ApiError> {
    let (head_hash, count) = st
        .services()
        .chain()
        .run("private_status", |c| Ok((c.head().0, c.private_count())))
        .await?;
    Ok(ApiJson(PrivateStatusResponse { head_hash, count }))
}

pub async fn merkle(State(st): State<AppState>) -> Result<ApiJson<MerkleResponse>, ApiError> {
    let (root, head, count) = st
        .services()
        .chain()
        .run("merkle", |c| {
            let (h, n) = c.head();
            Ok((c.merkle_root(), h, n))
        })
        .await?;
    Ok(ApiJson(MerkleResponse {
        merkle_root: root,
        head_hash: head,
        count,
        network_id: NETWORK_ID.into(),
    }))
}

pub async fn locator(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<LocatorQuery>,
) -> Result<ApiJson<LocatorResponse>, ApiError> {
    let limit = clamp_locator_limit(q.limit);
    let (locator, head_hash, count) = st
        .services()
        .chain()
        .run("locator", move |c| {
            let (h, n) = c.head();
            Ok((c.locator(limit), h, n))
        })
        .await?;
    Ok(ApiJson(LocatorResponse {
        locator,
        head_hash,
        count,
        network_id: NETWORK_ID.into(),
    }))
}

/// `GET /api/mesh/infonet/sync?after_hash=&limit=`: the events after `after_hash` (genesis
/// when absent), in full for an authenticated peer (HMAC over the empty body), as the public
/// view otherwise. An `after_hash` this relay does not have is answered as Shadowbroker does,
/// 200 with no events, plus `unknown_after_hash: true` (the client resyncs with a locator).
pub async fn sync_get(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SyncQuery>,
) -> Result<ExactJson, ApiError> {
    let view = view_for(&st, &Method::GET, &headers, b"")?;
    if q.protocol_version
        .as_deref()
        .is_some_and(|p| p != PROTOCOL_VERSION)
    {
        return Err(ApiError::unsupported_protocol());
    }
    let after = match q.after_hash.as_deref() {
        None | Some("") => GENESIS_HASH.to_string(),
        Some(h) => h.to_string(),
    };
    let limit = clamp_sync_limit(q.limit);
    let expected = q.expected_head;
    // A hash this long is on no chain; it is still checked against `expected_head` first.
    let lookup = (after.chars().count() <= MAX_HASH_CHARS).then(|| after.clone());
    let found = st
        .services()
        .chain()
        .run("sync", move |c| {
            let (head, _) = c.head();
            if let Some(e) = expected.filter(|e| !e.is_empty()) {
                if e != head {
                    return Ok(Err((head, e)));
                }
            }
            match lookup {
                Some(a) => Ok(Ok(c.events_after(&a, limit, view)?)),
                None => Ok(Ok(After::Unknown)),
            }
        })
        .await?;
    let found = found.map_err(|(head, e)| ApiError::head_mismatch(&head, &e))?;
    let (texts, unknown) = match found {
        After::Found(t) => (t, false),
        After::Unknown => (Vec::new(), true),
    };
    let count = texts.len() as u64;
    let mut out = obj(vec![
        ("after_hash", Value::Str(after)),
        ("count", Value::from(count)),
        ("protocol_version", Value::from(PROTOCOL_VERSION)),
    ]);
    if unknown {
        out.insert(FIELD_UNKNOWN_AFTER_HASH, Value::Bool(true));
    }
    Ok(ExactJson(out, Some(texts)))
}

/// `POST /api/mesh/infonet/sync {protocol_version, locator, limit, expected_head?,
/// include_proofs?}`: the events after the common ancestor of the peer's locator, in full for
/// an authenticated peer (HMAC over the exact body), as the public view otherwise. As
/// Shadowbroker answers: a locator sharing nothing with the chain gets no events, `matched_hash`
/// `""` and `forked: true` (with proofs: the root and total, `merkle_start` 0, no proofs); one
/// sharing only genesis (and longer than it) gets the events from the start, `forked: true`.
pub async fn sync_post(
    State(st): State<AppState>,
    request: Request,
) -> Result<ExactJson, ApiError> {
    let headers = request.headers().clone();
    let (view, req) = if claims_peer(&headers) {
        let body = Bytes::from_request(request, &st).await?;
        let view = view_for(&st, &Method::POST, &headers, &body)?;
        let req: SyncPostRequest = serde_json::from_slice(&body).map_err(ApiError::wrong_shape)?;
        (view, req)
    } else {
        let ApiJson(req) = ApiJson::<SyncPostRequest>::from_request(request, &st).await?;
        (View::Public, req)
    };
    if req.protocol_version != PROTOCOL_VERSION {
        return Err(ApiError::unsupported_protocol());
    }
    if req.locator.len() > LOCATOR_LIMIT_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("locator has more than {LOCATOR_LIMIT_MAX} entries"),
        ));
    }
    let limit = clamp_sync_limit(req.limit);
    let expected = req.expected_head;
    let locator = req.locator;
    let proofs = req.include_proofs;
    let found = st
        .services()
        .chain()
        .run("sync_locator", move |c| {
            let (head, total) = c.head();
            if let Some(e) = expected.filter(|e| !e.is_empty()) {
                if e != head {
                    return Ok(Err((head, e)));
                }
            }
            let (m, texts) = c.events_for_locator(&locator, limit, view)?;
            let proofs = proofs.then(|| (c.proofs(m.start_index, texts.len()), total));
            Ok(Ok((head, m, texts, proofs)))
        })
        .await?;
    let (head, m, texts, proofs) = found.map_err(|(head, e)| ApiError::head_mismatch(&head, &e))?;
    let count = texts.len() as u64;
    let mut out = obj(vec![
        (
            "matched_hash",
            Value::Str(m.matched_hash.unwrap_or_default()),
        ),
        ("forked", Value::Bool(m.forked)),
        ("head_hash", Value::Str(head)),
        ("count", Value::from(count)),
        ("protocol_version", Value::from(PROTOCOL_VERSION)),
    ]);
    if let Some(((root, entries), total)) = proofs {
        let entries: Vec<MerkleProofEntry> = entries
            .into_iter()
            .map(|(i, id, proof)| MerkleProofEntry {
                index: i as u64,
                // The event id itself, as Shadowbroker's verifier and web client expect it.
                leaf: id,
                proof,
            })
            .collect();
        let proofs_json = serde_json::to_value(&entries).unwrap_or(serde_json::Value::Null);
        out.insert("merkle_root", Value::Str(root));
        out.insert("merkle_total", Value::from(total));
        out.insert("merkle_start", Value::from(m.start_index as u64));
        out.insert("merkle_proofs", Value::from(&proofs_json));
    }
    Ok(ExactJson(out, Some(texts)))
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, detail)
}

/// Read the append body: exact JSON (core's reader), `payload` kept as sent.
fn parse_append(body: &[u8]) -> Result<AppendRequest, ApiError> {
    let limits = json::Limits {
        max_depth: APPEND_MAX_DEPTH,
        max_input_bytes: body.len(),
    };
    let v = json::parse_with_limits(body, limits)
        .map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
    if !matches!(v, Value::Object(_)) {
        return Err(bad("request body must be a JSON object"));
    }
    let payload = match v.get("payload") {
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => return Err(bad("payload must be a JSON object")),
        None => return Err(bad("missing field `payload`")),
    };
    if !matches!(v.get("network_id"), None | Some(Value::Str(_))) {
        return Err(bad("network_id must be a string"));
    }
    let mut req: AppendRequest =
        serde_json::from_value(serde_json::Value::from(&v)).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::BAD_REQUEST,
                format!("request body does not match the append shape: {e}"),
            )
        })?;
    // The payload exactly as sent (the serde round trip above may normalise numbers).
    req.payload = payload;
    Ok(req)
}

/// `POST /api/infonet/append`: see `postern_core::api::infonet::AppendRequest`.
pub async fn append(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<ExactJson, ApiError> {
    let body = body.map_err(ApiError::from)?;
    let input = match parse_append(&body) {
        Ok(i) => i,
        Err(e) => {
            st.metrics().append_rejected(e.code());
            return Err(e);
        }
    };
    let now = st.services().now();
    let stamp = precise_timestamp(now);
    let lane = class_of(&input.event_type);
    let outcome = st
        .services()
        .chain()
        .run("append", move |c| c.append(input, now, stamp))
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let e = ApiError::from(e);
            st.metrics().append_rejected(e.code());
            return Err(e);
        }
    };
    match outcome {
        Ok(a) => {
            if a.duplicate {
                st.metrics().append_duplicate();
            } else {
                st.metrics().append_accepted(lane);
            }
            tracing::info!(
                lane,
                event_type = %trunc(&a.event.event_type),
                node = %a.event.node_id.get(..12).unwrap_or(""),
                index = a.index,
                event_id = %a.event.event_id.get(..16).unwrap_or(""),
                duplicate = a.duplicate,
                "infonet append"
            );
            // A new event was queued for the peers by the store, in the append's transaction.
            let mut out = obj(vec![
                ("ok", Value::Bool(true)),
                ("event", a.event.to_value()),
            ]);
            if a.duplicate {
                out.insert(
                    "detail",
                    Value::from("duplicate: this signed event is already on the chain"),
                );
            }
            out.insert("lane", Value::from(lane));
            out.insert("index", Value::from(a.index));
            out.insert("duplicate", Value::Bool(a.duplicate));
            Ok(ExactJson(out, None))
        }
        Err(r) => {
            st.metrics().append_rejected(r.code);
            tracing::info!(lane, code = r.code, "infonet append refused");
            Err(r.into())
        }
    }
}

/// The relay's timestamp for an append: `now` with the sub-second part of the system clock
/// when that clock agrees with `now` (a float like Python's `time.time()`), else `now`.
fn precise_timestamp(now: u64) -> f64 {
    let sys = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    if sys.trunc() == now as f64 {
        sys
    } else {
        now as f64
    }
}

/// `GET /metrics` (Prometheus text format).
pub async fn metrics(State(st): State<AppState>) -> Result<Response, ApiError> {
    let gauges = st
        .services()
        .chain()
        .run("metrics", |c| {
            let (dm_nodes, dm_messages) = c.store().spool_sizes()?;
            let (total, private) = (c.head().1, c.private_count());
            let forks = c.fork_stats();
            let peers = c
                .peer_counts()?
                .into_iter()
                .map(|(peer, f, equivocations)| PeerGauges {
                    peer,
                    forks_adopted: f.adopted,
                    forks_kept: f.kept,
                    fork_splits: f.split,
                    events_rebased: f.rebased,
                    events_dropped: f.dropped,
                    equivocations,
                })
                .collect();
            Ok(Gauges {
                peers,
                forks_adopted: forks.adopted,
                forks_kept: forks.kept,
                fork_splits: forks.splits,
                events_relinked: forks.relinked,
                events_dropped: forks.dropped,
                public_events: total.saturating_sub(private),
                private_events: private,
                legacy_private_events: c.store().legacy_private_count()?,
                startup_checkpoint: c.startup().checkpoint.unwrap_or(0),
                startup_replayed: c.startup().replayed,
                checkpoint_height: c.checkpoint_height(),
                dm_nodes,
                dm_messages,
            })
        })
        .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics().render(gauges),
    )
        .into_response())
}
