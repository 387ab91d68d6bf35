//! The `postern-worker` binary: the lazily loaded wasm module that `web/sync-worker.js` runs.
//! It holds what the first screen never needs — core's chain verifier (P-256, Merkle, every
//! event schema, tree-head proofs, the verifier snapshot a reload resumes from, the stateless
//! signature half of a page checked on a second worker), Argon2id / backup files and the QR
//! decoder — so the page's wasm (`postern-app`) links none of it. Exports:
//! `posternSyncWorkerHandle` / `posternSyncWorkerPage` (the chain verifier, `model::chain`; the
//! second with a `/sync` page's body as bytes) and `posternWorkerOp` (one-shot operations,
//! `model::offload`).
//! Empty natively.
fn main() {}

#[cfg(target_arch = "wasm32")]
mod exports {
    use std::cell::RefCell;

    use postern_app::model::chain::wire::encode_answer;
    use postern_app::model::chain::{FromWorker, Rejected, ToWorker, Verifier};
    use postern_app::model::offload;
    use rand_core::OsRng;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    thread_local! {
        static WORKER_VERIFIER: RefCell<Verifier> = RefCell::new(Verifier::new());
    }

    fn in_worker_scope() -> bool {
        let g = js_sys::global();
        js_sys::Reflect::has(&g, &JsValue::from_str("importScripts")).unwrap_or(false)
            && !js_sys::Reflect::has(&g, &JsValue::from_str("document")).unwrap_or(false)
    }

    fn clock_ms() -> f64 {
        // `performance` exists in windows and workers.
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
            .ok()
            .and_then(|p| {
                let now = js_sys::Reflect::get(&p, &JsValue::from_str("now")).ok()?;
                let f: js_sys::Function = now.dyn_into().ok()?;
                f.call0(&p).ok()?.as_f64()
            })
            .unwrap_or_else(js_sys::Date::now)
    }

    /// Run one request; `body`, when given, is the request's `body` as bytes (a `/sync` page
    /// sent beside its request; not UTF-8: left empty, so the page is refused as not JSON).
    fn handle_with(verifier: &mut Verifier, request: &str, body: Option<Vec<u8>>) -> FromWorker {
        let t0 = clock_ms();
        let parsed = serde_json::from_str::<ToWorker>(request).map(|mut req| {
            if let Some(b) = body {
                req.body = String::from_utf8(b).unwrap_or_default();
            }
            req
        });
        let mut out = match parsed {
            Ok(req) => verifier.handle(&req),
            Err(e) => FromWorker {
                error: Some(Rejected {
                    index: verifier.len(),
                    event_id: String::new(),
                    reason: "bad_request".into(),
                    detail: e.to_string(),
                    incomplete: None,
                }),
                ..verifier.answer(0)
            },
        };
        out.busy_ms = clock_ms() - t0;
        out.in_worker = in_worker_scope();
        out
    }

    /// One JSON `ToWorker` in, one `FromWorker` out (its JSON, then a raw trailer:
    /// `model::chain::wire`); called by `web/sync-worker.js` for
    /// each string message, in order.
    #[wasm_bindgen(js_name = posternSyncWorkerHandle)]
    pub fn sync_worker_handle(request: &str) -> String {
        let out = WORKER_VERIFIER.with(|v| handle_with(&mut v.borrow_mut(), request, None));
        encode_answer(out)
    }

    /// [`sync_worker_handle`] for a request whose `body` came beside it as bytes (a `/sync`
    /// page: `{req, body}` messages).
    #[wasm_bindgen(js_name = posternSyncWorkerPage)]
    pub fn sync_worker_page(request: &str, body: Vec<u8>) -> String {
        let out = WORKER_VERIFIER.with(|v| handle_with(&mut v.borrow_mut(), request, Some(body)));
        encode_answer(out)
    }

    /// One JSON `model::offload::Op` in, one JSON `Answer` out (Argon2id, backup seal/open).
    #[wasm_bindgen(js_name = posternWorkerOp)]
    pub fn worker_op(request: &str) -> String {
        let t0 = clock_ms();
        let mut out = offload::run_json(request, &mut OsRng);
        out.busy_ms = clock_ms() - t0;
        serde_json::to_string(&out).unwrap_or_default()
    }
}
