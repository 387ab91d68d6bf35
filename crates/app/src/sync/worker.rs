//! Chain verification off the UI thread, in the lazily loaded worker module.
//!
//! The worker is `web/sync-worker.js`, a *module* Web Worker that loads `postern-worker` (the
//! second wasm binary, `src/worker_main.rs`; started by [`crate::platform::worker::spawn`]) and
//! hands every string message to its `posternSyncWorkerHandle`, which runs core's verifier.
//! The page's wasm does not link the verifier: when the worker cannot run, the sync view says
//! so (`data-verifier="failed"`) and the next round tries to start it again.
//!
//! Messages are JSON strings ([`ToWorker`] / [`FromWorker`]), except that a `/sync` page's
//! body goes as bytes beside its request (`{req, body}`, the `ArrayBuffer` transferred) and an
//! answer's accepted texts or snapshot record follow its JSON raw (`model::chain::wire`);
//! answers come back in request order and are matched by id. Nothing is fetched before the first request.
//!
//! The first sync verifies units of two full pages on two workers ([`UnitWorkers`],
//! `model::chain::unit`): a second, stateless worker checks the signatures and ids of the second
//! page while the verifier checks the first; then the verifier applies the sequential rules to
//! both with both results. When the second worker cannot run, the verifier checks everything.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use postern_core::api::infonet::PATH_SYNC;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker};

use super::fetch::{get_bytes, RoundError};
use crate::model::chain::unit::UnitIo;
use crate::model::chain::wire::decode_answer;
use crate::model::chain::{FromWorker, ToWorker, PAGE_LIMIT};
use crate::platform::worker::spawn;

/// Where the verifier runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not started yet (no request so far).
    Idle,
    Starting,
    Worker,
    /// The worker could not start or died ([`Bridge::fatal`] says why).
    Failed,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Idle => "idle",
            Mode::Starting => "starting",
            Mode::Worker => "worker",
            Mode::Failed => "failed",
        }
    }
}

type Pending = HashMap<u32, (js_sys::Function, js_sys::Function)>;
type Listener = Closure<dyn FnMut(MessageEvent)>;

struct Inner {
    worker: RefCell<Option<Worker>>,
    pending: RefCell<Pending>,
    next_id: Cell<u32>,
    mode: Cell<Mode>,
    /// Answers received from the worker.
    replies: Cell<u64>,
    /// Bumped whenever the verifier's state is lost (worker died): the chain must be replayed.
    generation: Cell<u32>,
    fatal: RefCell<Option<String>>,
    /// The second (crypto-only) worker, started with the first large page.
    helper: RefCell<Option<Bridge>>,
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

impl Default for Bridge {
    fn default() -> Self {
        Self::new()
    }
}

impl Bridge {
    /// A handle whose worker starts with the first request.
    pub fn new() -> Bridge {
        Bridge {
            inner: Rc::new(Inner {
                worker: RefCell::new(None),
                pending: RefCell::new(HashMap::new()),
                next_id: Cell::new(1),
                mode: Cell::new(Mode::Idle),
                replies: Cell::new(0),
                generation: Cell::new(0),
                fatal: RefCell::new(None),
                helper: RefCell::new(None),
                _closures: RefCell::new(Vec::new()),
            }),
        }
    }

    fn start_worker(&self) -> Result<Worker, String> {
        let worker = spawn("postern-sync-verifier")?;
        let weak = Rc::downgrade(&self.inner);
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            let data = ev.data();
            let Some(js) = data.dyn_ref::<js_sys::JsString>() else {
                return;
            };
            // Only the start is read here (a control message, or the answer's id); an answer
            // goes on as the JS string and is read into wasm once, by its caller (not copied
            // in and out again: a page answer is its ≈ 300 KB of texts).
            let start = String::from(js.slice(0, ANSWER_HEAD));
            if start.starts_with("{\"ready\"") {
                inner.mode.set(Mode::Worker);
                *inner.fatal.borrow_mut() = None;
                return;
            }
            if start.starts_with("{\"fatal\":") {
                let text = String::from(js);
                let rest = text.strip_prefix("{\"fatal\":").unwrap_or_default();
                Self::fail(&inner, rest.trim_end_matches('}').to_string());
                return;
            }
            inner.replies.set(inner.replies.get() + 1);
            let id = answer_id(&start);
            let waiting = inner.pending.borrow_mut().remove(&id);
            if let Some((resolve, _)) = waiting {
                let _ = resolve.call1(&JsValue::NULL, &data);
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
        self.inner.mode.set(Mode::Starting);
        *self.inner.worker.borrow_mut() = Some(worker.clone());
        let mut closures = self.inner._closures.borrow_mut();
        closures.clear();
        closures.extend([onmessage, onerror]);
        Ok(worker)
    }

    /// The worker is gone: fail what is waiting; the verifier's state is lost.
    fn fail(inner: &Rc<Inner>, why: String) {
        if let Some(w) = inner.worker.borrow_mut().take() {
            w.terminate();
        }
        *inner.fatal.borrow_mut() = Some(why.clone());
        inner.mode.set(Mode::Failed);
        inner.generation.set(inner.generation.get() + 1);
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

    /// Send one request and wait for its answer (starting the worker if it is not running).
    pub async fn call(&self, req: ToWorker) -> Result<FromWorker, String> {
        self.call_with(req, None).await
    }

    /// [`Bridge::call`] with `body` as the request's `body`, sent as bytes (a copy transferred
    /// to the worker; never JSON-escaped).
    pub async fn call_with_text(&self, req: ToWorker, body: &str) -> Result<FromWorker, String> {
        let bytes = js_sys::Uint8Array::from(body.as_bytes());
        self.call_with(req, Some(bytes.buffer())).await
    }

    /// [`Bridge::call`] with the request's `body` as bytes, transferred to the worker (never
    /// decoded or escaped on the page thread): posted as `{req, body}`.
    pub(super) async fn call_with(
        &self,
        req: ToWorker,
        body: Option<js_sys::ArrayBuffer>,
    ) -> Result<FromWorker, String> {
        let text = serde_json::to_string(&req).map_err(|e| e.to_string())?;
        let running = self.inner.worker.borrow().clone();
        let worker = match running {
            Some(w) => w,
            None => self.start_worker().map_err(|e| {
                let why = format!("the verification worker cannot start: {e}");
                *self.inner.fatal.borrow_mut() = Some(why.clone());
                self.inner.mode.set(Mode::Failed);
                why
            })?,
        };
        let id = req.id();
        let inner = self.inner.clone();
        let promise = js_sys::Promise::new(&mut |resolve, reject| {
            inner.pending.borrow_mut().insert(id, (resolve, reject));
        });
        let sent = match body {
            None => worker.post_message(&JsValue::from_str(&text)),
            Some(bytes) => {
                let message = js_sys::Object::new();
                js_sys::Reflect::set(&message, &"req".into(), &text.into())
                    .and_then(|_| js_sys::Reflect::set(&message, &"body".into(), &bytes))
                    .and_then(|_| {
                        worker.post_message_with_transfer(&message, &js_sys::Array::of1(&bytes))
                    })
            }
        };
        if let Err(e) = sent {
            self.inner.pending.borrow_mut().remove(&id);
            return Err(format!("cannot reach the verification worker: {e:?}"));
        }
        let answer = JsFuture::from(promise).await.map_err(|e| {
            e.as_string()
                .unwrap_or_else(|| "verification worker failed".into())
        })?;
        let answer = answer.as_string().unwrap_or_default();
        decode_answer(&answer).map_err(|e| format!("bad answer from the worker: {e}"))
    }
}

/// A `/sync` page body; a clone is a copy (each request transfers its own bytes).
pub struct PageBytes(pub js_sys::ArrayBuffer);

impl Clone for PageBytes {
    fn clone(&self) -> Self {
        PageBytes(self.0.slice(0))
    }
}

/// The verification units' I/O (`model::chain::unit`): pages fetched from the relay, the
/// verifier and the second worker (started with the first full page).
pub struct UnitWorkers<'a>(pub &'a Bridge);

impl UnitIo for UnitWorkers<'_> {
    type Body = PageBytes;
    type Err = RoundError;

    async fn fetch(&self, after: &str) -> Result<PageBytes, RoundError> {
        let url = format!("{PATH_SYNC}?after_hash={after}&limit={PAGE_LIMIT}");
        get_bytes(&url).await.map(PageBytes)
    }

    async fn verifier(
        &self,
        req: ToWorker,
        body: Option<PageBytes>,
    ) -> Result<FromWorker, RoundError> {
        self.0
            .call_with(req, body.map(|b| b.0))
            .await
            .map_err(RoundError::Worker)
    }

    async fn helper(&self, req: ToWorker, body: PageBytes) -> Option<FromWorker> {
        let helper = self.0.helper()?;
        helper.call_with(req, Some(body.0)).await.ok()
    }

    fn next_id(&self) -> u32 {
        self.0.next_id()
    }
}

impl Bridge {
    /// The second worker, unless it failed (then the verifier checks every page itself).
    fn helper(&self) -> Option<Bridge> {
        let mut slot = self.inner.helper.borrow_mut();
        let helper = slot.get_or_insert_with(Bridge::new);
        (helper.mode() != Mode::Failed).then(|| helper.clone())
    }

    /// Workers running (the verifier and the second one).
    pub fn workers(&self) -> u32 {
        let helper = self.inner.helper.borrow();
        u32::from(self.mode() == Mode::Worker)
            + u32::from(helper.as_ref().is_some_and(|h| h.mode() == Mode::Worker))
    }
}

/// UTF-16 units of a worker message read before it is handed on: enough for `{"ready"`,
/// `{"fatal":` and `{"id":` with any `u32`.
const ANSWER_HEAD: u32 = 32;

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
