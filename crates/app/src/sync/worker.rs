//! Chain verification off the UI thread.
//!
//! The worker is `web/sync-worker.js`, a *module* Web Worker that imports the app's own
//! Trunk-built wasm-bindgen JS (hashed name passed in by [`Bridge::spawn`], read from the
//! `<link rel="modulepreload">` / `<link rel="preload" as="fetch">` tags Trunk writes), so no
//! second wasm binary is shipped. In the worker the app's `main` does nothing (no `window`),
//! and every message is handed to [`sync_worker_handle`], which runs core's verifier.
//!
//! Messages are JSON strings ([`ToWorker`] / [`FromWorker`]); answers come back in request
//! order and are matched by id. If the worker cannot start, the bridge verifies on the UI
//! thread instead and says so (`data-verifier="main-thread"`).
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::model::chain::{FromWorker, Rejected, ToWorker, Verifier};

/// URL of the worker script (copied unhashed by Trunk, precached by the service worker).
pub const WORKER_URL: &str = "/sync-worker.js";

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

fn handle_with(verifier: &mut Verifier, request: &str) -> FromWorker {
    let t0 = clock_ms();
    let mut out = match serde_json::from_str::<ToWorker>(request) {
        Ok(req) => verifier.handle(&req),
        Err(e) => FromWorker {
            id: 0,
            verified: verifier.len(),
            sealed: verifier.sealed(),
            head: verifier.head().to_string(),
            received: 0,
            accepted: Vec::new(),
            error: Some(Rejected {
                index: verifier.len(),
                event_id: String::new(),
                reason: "bad_request".into(),
                detail: e.to_string(),
                incomplete: None,
            }),
            merkle_root: None,
            busy_ms: 0.0,
            in_worker: false,
            unknown_after_hash: false,
            locator: Vec::new(),
            head_check: None,
        },
    };
    out.busy_ms = clock_ms() - t0;
    out.in_worker = in_worker_scope();
    out
}

/// Worker entry point (exported from the app's wasm module): one JSON [`ToWorker`] in, one
/// JSON [`FromWorker`] out. Called by `web/sync-worker.js` for each message, in order.
#[wasm_bindgen(js_name = posternSyncWorkerHandle)]
pub fn sync_worker_handle(request: &str) -> String {
    let out = WORKER_VERIFIER.with(|v| handle_with(&mut v.borrow_mut(), request));
    serde_json::to_string(&out).unwrap_or_default()
}

/// Where the verifier runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Starting,
    Worker,
    MainThread,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Starting => "starting",
            Mode::Worker => "worker",
            Mode::MainThread => "main-thread",
        }
    }
}

type Pending = HashMap<u32, (js_sys::Function, js_sys::Function)>;
type Listener = Closure<dyn FnMut(MessageEvent)>;

struct Inner {
    worker: RefCell<Option<Worker>>,
    pending: RefCell<Pending>,
    next_id: Cell<u32>,
    inline: RefCell<Verifier>,
    mode: Cell<Mode>,
    /// Answers received from the worker.
    replies: Cell<u64>,
    /// Bumped whenever the verifier's state is lost (worker died): the chain must be replayed.
    generation: Cell<u32>,
    fatal: RefCell<Option<String>>,
    _closures: RefCell<Vec<Listener>>,
}

/// Main-thread handle to the verifier.
#[derive(Clone)]
pub struct Bridge {
    inner: Rc<Inner>,
}

impl PartialEq for Bridge {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

/// The hashed URLs of the app's JS glue and wasm, from the tags Trunk writes into index.html.
fn app_module_urls() -> Option<(String, String)> {
    let doc = web_sys::window()?.document()?;
    let attr = |sel: &str| {
        doc.query_selector(sel)
            .ok()
            .flatten()
            .and_then(|e| e.get_attribute("href"))
    };
    let js = attr("link[rel=modulepreload][href$='.js']")?;
    let wasm = attr("link[rel=preload][href$='.wasm']")?;
    Some((js, wasm))
}

impl Bridge {
    /// Start the worker (or fall back to the UI thread when that is impossible).
    pub fn spawn() -> Bridge {
        let inner = Rc::new(Inner {
            worker: RefCell::new(None),
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            inline: RefCell::new(Verifier::new()),
            mode: Cell::new(Mode::MainThread),
            replies: Cell::new(0),
            generation: Cell::new(0),
            fatal: RefCell::new(None),
            _closures: RefCell::new(Vec::new()),
        });
        let bridge = Bridge { inner };
        match app_module_urls() {
            Some((js, wasm)) => {
                if let Err(e) = bridge.start_worker(&js, &wasm) {
                    *bridge.inner.fatal.borrow_mut() = Some(e);
                }
            }
            None => {
                *bridge.inner.fatal.borrow_mut() =
                    Some("app module URLs not found (not a Trunk build)".into())
            }
        }
        bridge
    }

    /// A bridge that always verifies on the calling thread (tests).
    pub fn inline() -> Bridge {
        Bridge {
            inner: Rc::new(Inner {
                worker: RefCell::new(None),
                pending: RefCell::new(HashMap::new()),
                next_id: Cell::new(1),
                inline: RefCell::new(Verifier::new()),
                mode: Cell::new(Mode::MainThread),
                replies: Cell::new(0),
                generation: Cell::new(0),
                fatal: RefCell::new(None),
                _closures: RefCell::new(Vec::new()),
            }),
        }
    }

    fn start_worker(&self, js: &str, wasm: &str) -> Result<(), String> {
        let opts = WorkerOptions::new();
        opts.set_type(WorkerType::Module);
        opts.set_name("postern-sync-verifier");
        let worker = Worker::new_with_options(WORKER_URL, &opts).map_err(|e| format!("{e:?}"))?;
        let weak = Rc::downgrade(&self.inner);
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            let Some(text) = ev.data().as_string() else {
                return;
            };
            if text.starts_with("{\"ready\"") {
                inner.mode.set(Mode::Worker);
                return;
            }
            if let Some(rest) = text.strip_prefix("{\"fatal\":") {
                Self::fail(&inner, rest.trim_end_matches('}').to_string());
                return;
            }
            inner.replies.set(inner.replies.get() + 1);
            let id = answer_id(&text);
            let waiting = inner.pending.borrow_mut().remove(&id);
            if let Some((resolve, _)) = waiting {
                let _ = resolve.call1(&JsValue::NULL, &JsValue::from_str(&text));
            }
        });
        worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        let weak = Rc::downgrade(&self.inner);
        let onerror = Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| {
            if let Some(inner) = weak.upgrade() {
                Self::fail(&inner, "the verification worker crashed".into());
            }
        });
        worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
        let init = js_sys::Object::new();
        let urls = js_sys::Object::new();
        js_sys::Reflect::set(&urls, &"js".into(), &js.into()).map_err(|e| format!("{e:?}"))?;
        js_sys::Reflect::set(&urls, &"wasm".into(), &wasm.into()).map_err(|e| format!("{e:?}"))?;
        js_sys::Reflect::set(&init, &"init".into(), &urls).map_err(|e| format!("{e:?}"))?;
        worker.post_message(&init).map_err(|e| format!("{e:?}"))?;
        self.inner.mode.set(Mode::Starting);
        *self.inner.worker.borrow_mut() = Some(worker);
        self.inner
            ._closures
            .borrow_mut()
            .extend([onmessage, onerror]);
        Ok(())
    }

    /// The worker is gone: fail what is waiting and continue on the UI thread (from genesis).
    fn fail(inner: &Rc<Inner>, why: String) {
        if let Some(w) = inner.worker.borrow_mut().take() {
            w.terminate();
        }
        *inner.fatal.borrow_mut() = Some(why.clone());
        inner.mode.set(Mode::MainThread);
        inner.generation.set(inner.generation.get() + 1);
        *inner.inline.borrow_mut() = Verifier::new();
        for (_, (_, reject)) in inner.pending.borrow_mut().drain() {
            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(&why));
        }
    }

    pub fn mode(&self) -> Mode {
        self.inner.mode.get()
    }

    pub fn replies(&self) -> u64 {
        self.inner.replies.get()
    }

    pub fn generation(&self) -> u32 {
        self.inner.generation.get()
    }

    pub fn fatal(&self) -> Option<String> {
        self.inner.fatal.borrow().clone()
    }

    pub fn next_id(&self) -> u32 {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id.wrapping_add(1).max(1));
        id
    }

    /// Send one request and wait for its answer.
    pub async fn call(&self, req: ToWorker) -> Result<FromWorker, String> {
        let text = serde_json::to_string(&req).map_err(|e| e.to_string())?;
        let worker = self.inner.worker.borrow().clone();
        let Some(worker) = worker else {
            let out = handle_with(&mut self.inner.inline.borrow_mut(), &text);
            return Ok(out);
        };
        let id = req.id();
        let inner = self.inner.clone();
        let promise = js_sys::Promise::new(&mut |resolve, reject| {
            inner.pending.borrow_mut().insert(id, (resolve, reject));
        });
        if let Err(e) = worker.post_message(&JsValue::from_str(&text)) {
            self.inner.pending.borrow_mut().remove(&id);
            return Err(format!("cannot reach the verification worker: {e:?}"));
        }
        let answer = JsFuture::from(promise).await.map_err(|e| {
            e.as_string()
                .unwrap_or_else(|| "verification worker failed".into())
        })?;
        let answer = answer.as_string().unwrap_or_default();
        serde_json::from_str(&answer).map_err(|e| format!("bad answer from the worker: {e}"))
    }
}

/// The id of a serialized [`FromWorker`] (its first field), without a second deserializer.
fn answer_id(text: &str) -> u32 {
    text.strip_prefix("{\"id\":")
        .map(|r| {
            r.bytes().take_while(u8::is_ascii_digit).fold(0u32, |a, d| {
                a.wrapping_mul(10).wrapping_add(u32::from(d - b'0'))
            })
        })
        .unwrap_or(0)
}
