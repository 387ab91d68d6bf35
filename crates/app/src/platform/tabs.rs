//! Multi-tab coordination in the browser: the Web Lock election and the BroadcastChannel (the
//! pure role machine and messages are `model::tabs`). One writer tab, any number of readers.
//!
//! Every tab of the same profile shares one IndexedDB database. Background writers (DM polling +
//! ack, outbox draining, DH key registration, and later gate refresh / chain sync) run only in
//! the **leader**: the tab holding the Web Lock [`LOCK_NAME`] (held for the tab's lifetime, so
//! when the leader closes, the browser hands the lock to the next waiting tab, which takes over
//! at once). The other tabs are **followers**: they read from IndexedDB, perform only writes that
//! are safe from any tab (a contact `put`, a sealed message queued in one transaction), and ask
//! the leader over the BroadcastChannel [`CHANNEL_NAME`] to act ([`TabMsg::Drain`]). The leader
//! tells them when it wrote something ([`TabMsg::Changed`]) and how the relay is doing
//! ([`TabMsg::Status`]).
//!
//! Without `navigator.locks` the tab behaves as leader (as before multi-tab support).
//!
//! Other modules hook leadership through [`is_leader`] / [`subscribe`].
use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

pub use crate::model::tabs::{duties, next_role, Duties, LockEvent, Role, TabMsg};

/// Web Lock whose holder is the writer tab.
pub const LOCK_NAME: &str = "postern-writer";
/// BroadcastChannel shared by the tabs of one profile.
pub const CHANNEL_NAME: &str = "postern-tabs";

type Subscriber = Rc<dyn Fn(Role)>;

struct Shared {
    role: Role,
    started: bool,
    next_id: u64,
    subs: Vec<(u64, Subscriber)>,
    /// Resolves the promise that keeps the lock held.
    release: Option<js_sys::Function>,
}

thread_local! {
    static SHARED: RefCell<Shared> = const { RefCell::new(Shared {
        role: Role::Pending,
        started: false,
        next_id: 0,
        subs: Vec::new(),
        release: None,
    }) };
}

/// This tab's current role.
pub fn role() -> Role {
    SHARED.with(|s| s.borrow().role)
}

/// True when this tab runs the background writers.
pub fn is_leader() -> bool {
    role() == Role::Leader
}

/// Keeps a [`subscribe`] callback registered; dropping it unsubscribes.
pub struct Subscription(u64);

impl Drop for Subscription {
    fn drop(&mut self) {
        let id = self.0;
        SHARED.with(|s| s.borrow_mut().subs.retain(|(i, _)| *i != id));
    }
}

/// Call `cb` with the new role on every leadership change.
pub fn subscribe(cb: impl Fn(Role) + 'static) -> Subscription {
    SHARED.with(|s| {
        let mut s = s.borrow_mut();
        let id = s.next_id;
        s.next_id += 1;
        s.subs.push((id, Rc::new(cb)));
        Subscription(id)
    })
}

fn apply(ev: LockEvent) {
    let (changed, role, subs) = SHARED.with(|s| {
        let mut s = s.borrow_mut();
        let new = next_role(s.role, ev);
        let changed = new != s.role;
        s.role = new;
        let subs: Vec<Subscriber> = s.subs.iter().map(|(_, f)| f.clone()).collect();
        (changed, new, subs)
    });
    // Outside the borrow: a subscriber may read the role or subscribe.
    if changed {
        for f in subs {
            f(role);
        }
    }
}

fn lock_manager() -> Option<(JsValue, js_sys::Function)> {
    let nav = web_sys::window()?.navigator();
    let locks = js_sys::Reflect::get(&nav, &JsValue::from_str("locks")).ok()?;
    if locks.is_undefined() || locks.is_null() {
        return None;
    }
    let request = js_sys::Reflect::get(&locks, &JsValue::from_str("request"))
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    Some((locks, request))
}

/// Lock callback once granted: become leader and hold the lock until [`resign`] (or the tab
/// closes) by returning a promise that only `release` settles.
fn hold() -> JsValue {
    if role() == Role::Retired {
        // Granted after this tab gave up: hand the lock straight on.
        return JsValue::UNDEFINED;
    }
    let mut release = None;
    let held = js_sys::Promise::new(&mut |resolve, _reject| release = Some(resolve));
    SHARED.with(|s| s.borrow_mut().release = release);
    apply(LockEvent::Granted);
    held.into()
}

fn ignore_rejection(p: JsValue) {
    let catch = js_sys::Reflect::get(&p, &JsValue::from_str("catch"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(catch) = catch {
        let noop = Closure::once_into_js(|_: JsValue| {});
        let _ = catch.call1(&p, &noop);
    }
}

/// Join the election (idempotent). The answer arrives through [`subscribe`].
pub fn start() {
    let first = SHARED.with(|s| !std::mem::replace(&mut s.borrow_mut().started, true));
    if !first {
        return;
    }
    let Some((locks, request)) = lock_manager() else {
        apply(LockEvent::Unsupported);
        return;
    };
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"ifAvailable".into(), &JsValue::TRUE);
    let (locks2, request2) = (locks.clone(), request.clone());
    let first_try = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        if !lock.is_null() && !lock.is_undefined() {
            return hold();
        }
        apply(LockEvent::Unavailable);
        // Wait in the queue: granted when the leader tab goes away.
        let wait = Closure::once_into_js(|_lock: JsValue| -> JsValue { hold() });
        if let Ok(p) = request2.call2(&locks2, &LOCK_NAME.into(), &wait) {
            ignore_rejection(p);
        }
        JsValue::UNDEFINED
    });
    match request.call3(&locks, &LOCK_NAME.into(), &opts, &first_try) {
        Ok(p) => ignore_rejection(p),
        // The lock manager refused (e.g. opaque origin): behave as a single tab.
        Err(_) => apply(LockEvent::Unsupported),
    }
}

/// Give the lock up for good (this tab can no longer write, e.g. its database connection was
/// closed for a newer tab's upgrade), so another tab can lead.
pub fn resign() {
    let release = SHARED.with(|s| s.borrow_mut().release.take());
    if let Some(f) = release {
        let _ = f.call0(&JsValue::UNDEFINED);
    }
    apply(LockEvent::Released);
}

/// The tabs' BroadcastChannel. Without BroadcastChannel support posting does nothing.
pub struct Channel {
    bc: Option<web_sys::BroadcastChannel>,
    _on_message: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
}

impl Channel {
    /// Open the channel; `on_msg` receives every well-formed message from the other tabs.
    pub fn open(on_msg: impl Fn(TabMsg) + 'static) -> Channel {
        let Ok(bc) = web_sys::BroadcastChannel::new(CHANNEL_NAME) else {
            return Channel {
                bc: None,
                _on_message: None,
            };
        };
        let cb =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if let Some(m) = e.data().as_string().as_deref().and_then(TabMsg::decode) {
                    on_msg(m);
                }
            });
        bc.set_onmessage(Some(cb.as_ref().unchecked_ref()));
        Channel {
            bc: Some(bc),
            _on_message: Some(cb),
        }
    }

    pub fn post(&self, m: &TabMsg) {
        if let Some(bc) = &self.bc {
            let _ = bc.post_message(&JsValue::from_str(&m.encode()));
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        if let Some(bc) = &self.bc {
            bc.set_onmessage(None);
            bc.close();
        }
    }
}
