//! The lazily loaded wasm module (`postern-worker`, see `src/worker_main.rs`): starts
//! `web/sync-worker.js` module workers that load it, and runs one-shot operations
//! (`model::offload`: Argon2id, backup files, QR frames) off the UI thread, in a fresh worker or a
//! [`Session`] kept for a series. The page's own wasm never links that code; nothing here is
//! fetched before a feature needs it.
use std::cell::RefCell;
use std::rc::Rc;

use postern_core::b64;
use postern_core::backup::KdfParams;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};
use zeroize::Zeroizing;

use crate::model::offload::{self, Answer, Op};

/// URL of the worker script (copied unhashed by Trunk, precached by the service worker).
pub const WORKER_URL: &str = "/sync-worker.js";
/// The lazily loaded module: wasm-bindgen JS and wasm (Trunk `data-type="worker"`, unhashed).
pub const MODULE_JS: &str = "/postern-worker.js";
pub const MODULE_WASM: &str = "/postern-worker_bg.wasm";

/// Start a module worker running `web/sync-worker.js` and send it the module URLs. The worker
/// answers `{"ready":true}` once the module is instantiated, `{"fatal":…}` if it cannot be.
pub fn spawn(name: &str) -> Result<Worker, String> {
    let err = |e: JsValue| format!("{e:?}");
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    opts.set_name(name);
    let worker = Worker::new_with_options(WORKER_URL, &opts).map_err(err)?;
    let init = js_sys::Object::new();
    let urls = js_sys::Object::new();
    js_sys::Reflect::set(&urls, &"js".into(), &MODULE_JS.into()).map_err(err)?;
    js_sys::Reflect::set(&urls, &"wasm".into(), &MODULE_WASM.into()).map_err(err)?;
    js_sys::Reflect::set(&init, &"init".into(), &urls).map_err(err)?;
    worker.post_message(&init).map_err(err)?;
    Ok(worker)
}

type Listener = Closure<dyn FnMut(MessageEvent)>;

/// Run one operation in a fresh worker (terminated afterwards, so its memory — Argon2's 64 MiB —
/// is released at once).
pub async fn run(op: &Op) -> Result<Answer, String> {
    let request = serde_json::to_string(op).map_err(|e| e.to_string())?;
    let worker = spawn("postern-op")?;
    let listeners: Rc<RefCell<Vec<Listener>>> = Rc::default();
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let text = ev.data().as_string().unwrap_or_default();
            if text.starts_with("{\"ready\"") {
                return;
            }
            let _ = resolve.call1(&JsValue::NULL, &JsValue::from_str(&text));
        });
        let on_error = Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| {
            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str("the worker crashed"));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        listeners.borrow_mut().extend([on_message, on_error]);
    });
    let message = js_sys::Object::new();
    let sent = js_sys::Reflect::set(&message, &"op".into(), &request.into())
        .and_then(|_| worker.post_message(&message));
    let answer = match sent {
        Ok(()) => JsFuture::from(promise).await,
        Err(e) => Err(e),
    };
    worker.terminate();
    drop(listeners);
    let text = answer
        .map_err(|e| {
            let why = e.as_string().unwrap_or_else(|| format!("{e:?}"));
            format!("the background worker could not run ({why})")
        })?
        .as_string()
        .unwrap_or_default();
    parse_answer(&text)
}

/// The page's reading of one answer text of `posternWorkerOp` (or the script's `fatal`).
fn parse_answer(text: &str) -> Result<Answer, String> {
    if let Some(rest) = text.strip_prefix("{\"fatal\":") {
        return Err(format!(
            "the background worker could not start ({})",
            rest.trim_end_matches('}')
        ));
    }
    serde_json::from_str(text).map_err(|e| format!("bad answer from the worker: {e}"))
}

/// One worker kept for a series of operations (the QR scanner's frames): [`Session::send`] posts
/// an [`Op`], and every answer, in order, goes to the callback given to [`Session::start`]. The
/// worker is terminated when the session is dropped.
pub struct Session {
    worker: Worker,
    _listeners: [Listener; 2],
}

impl Session {
    /// Start the worker (the module loads in the background; requests sent before it is ready
    /// wait in `web/sync-worker.js`).
    pub fn start(on_answer: impl Fn(Result<Answer, String>) + 'static) -> Result<Session, String> {
        let worker = spawn("postern-op")?;
        let on_answer = Rc::new(on_answer);
        let answer = on_answer.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let text = ev.data().as_string().unwrap_or_default();
            if !text.starts_with("{\"ready\"") {
                answer(parse_answer(&text));
            }
        });
        let on_error = Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| {
            on_answer(Err("the background worker crashed".into()))
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Session {
            worker,
            _listeners: [on_message, on_error],
        })
    }

    /// Post one operation.
    pub fn send(&self, op: &Op) -> Result<(), String> {
        let request = serde_json::to_string(op).map_err(|e| e.to_string())?;
        let message = js_sys::Object::new();
        js_sys::Reflect::set(&message, &"op".into(), &request.into())
            .and_then(|_| self.worker.post_message(&message))
            .map_err(|e| format!("{e:?}"))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // No event may reach the listeners once they are dropped with the session.
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

/// Argon2id(passphrase, salt) → 32-byte key with `params` (same KDF and checks as the backup
/// files, `postern_core::backup::derive_key`), computed in the worker. The generic operation
/// for any passphrase key (e.g. a lock of the store key).
pub async fn argon2id(
    passphrase: &str,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let op = Op::Argon2id {
        passphrase: passphrase.to_string(),
        salt: b64::encode_url(salt),
        params,
    };
    let key = offload::decode(&run(&op).await?.into_result()?)?;
    let mut out = Zeroizing::new([0u8; 32]);
    if key.len() != out.len() {
        return Err("bad key length from the worker".into());
    }
    out.copy_from_slice(&key);
    Ok(out)
}
