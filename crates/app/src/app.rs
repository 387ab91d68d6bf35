//! The Yew UI. All crypto runs here in wasm via `postern_core`; the relay only ever sees sealed
//! envelopes and signed requests.
use std::collections::HashMap;
use std::rc::Rc;
use std::str::FromStr;

use gloo_timers::callback::Interval;
use postern_core::api::dm::{DeliveryState, MsgStatus};
use postern_core::dm::MAX_BODY_LEN;
use postern_core::{Identity, PublicIdentity};
use rand_core::OsRng;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::logic;
use crate::relay::{self, now_millis, now_secs, RelayError};
use crate::storage::{
    message_key, Contact, Direction, OutState, OutboxEntry, Storage, StoredMessage, DB_NAME,
};
use crate::tabs::{self, Role, TabMsg};

/// How often the mailbox is polled.
pub const POLL_INTERVAL_MS: u32 = 4_000;
/// Envelopes fetched per poll request.
const POLL_LIMIT: u32 = 50;
/// Re-publish the DH key every this many ticks (the relay's registration is an idempotent
/// upsert; this heals a relay that lost its data).
const REREGISTER_EVERY_TICKS: u32 = 75;
/// Follow-up polls within one check when the mailbox holds more than one page.
const MAX_POLL_PAGES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayState {
    Checking,
    Online,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    All,
    Contact(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusKind {
    Pending,
    Ok,
    Error,
}

impl StatusKind {
    fn as_str(self) -> &'static str {
        match self {
            StatusKind::Pending => "pending",
            StatusKind::Ok => "ok",
            StatusKind::Error => "error",
        }
    }
}

pub struct Loaded {
    storage: Rc<Storage>,
    identity: Rc<Identity>,
    contacts: Vec<Contact>,
    messages: Vec<StoredMessage>,
    outbox: Vec<OutboxEntry>,
    created: bool,
}

/// Result of one delivery attempt of an outbox entry.
pub struct Attempt {
    msg_id: String,
    peer_node_id: String,
    result: Result<(), RelayError>,
}

pub struct PollOutcome {
    new_messages: Vec<StoredMessage>,
    rejected: usize,
    warning: Option<String>,
}

/// Contacts, messages and outbox as re-read from IndexedDB (multi-tab reload).
type Snapshot = (Vec<Contact>, Vec<StoredMessage>, Vec<OutboxEntry>);

pub enum Msg {
    Loaded(Result<Loaded, String>),
    Registered(Result<(), RelayError>),
    Tick,
    CheckNow,
    Polled(Result<PollOutcome, RelayError>),
    SetContactName(String),
    SetContactIdentity(String),
    AddContact,
    ContactSaved(Result<Contact, String>),
    Select(View),
    SetBody(String),
    Send,
    /// A composed message was sealed and written to the outbox (`warn`: it could not be
    /// persisted; it is still queued in memory).
    Queued {
        name: String,
        local: StoredMessage,
        entry: OutboxEntry,
        warn: Option<String>,
    },
    Flushed(Vec<Attempt>),
    /// Answers of `POST /api/mesh/dm/status` for our sent messages: (recipient, status).
    DeliveryChecked(Result<Vec<(String, MsgStatus)>, RelayError>),
    /// Persisting a delivery state change failed.
    PersistFailed(String),
    /// The browser's `online` / `offline` events.
    BrowserOnline,
    BrowserOffline,
    Copy,
    Copied(bool),
    Prefill(String),
    Reply(String),
    /// Multi-tab: this tab's role changed (see `tabs`).
    Role(Role),
    /// Multi-tab: a message from another tab of this profile.
    Tab(TabMsg),
    /// Re-read contacts, messages and outbox from IndexedDB (another tab wrote); `drain`: then
    /// poll and deliver the outbox (leader only).
    Reload {
        drain: bool,
    },
    Reloaded {
        gen: u64,
        data: Result<Snapshot, String>,
    },
    /// This tab wrote to IndexedDB: tell the other tabs.
    Wrote,
    /// A newer tab upgrades the database: this tab's connection was closed.
    DbVersionChange,
}

pub struct App {
    storage: Option<Rc<Storage>>,
    identity: Option<Rc<Identity>>,
    public: Option<PublicIdentity>,
    created: bool,
    fatal: Option<String>,
    registered: bool,
    registering: bool,
    ticks: u32,
    relay: RelayState,
    relay_error: Option<String>,
    polling: bool,
    last_check: Option<u64>,
    inbox_note: Option<String>,
    contacts: Vec<Contact>,
    messages: Vec<StoredMessage>,
    /// Sealed envelopes waiting for the relay, oldest first (mirror of the `outbox` store).
    outbox: Vec<OutboxEntry>,
    flushing: bool,
    flush_again: bool,
    outbox_failures: u64,
    /// Earliest time (ms) of the next periodic outbox retry.
    next_retry_ms: u64,
    /// Delivery-status checks of sent messages (leader only): in flight, unchanged checks in a
    /// row (backoff), earliest next check (ms), keys the relay no longer knows (not re-asked).
    checking_delivery: bool,
    delivery_unchanged: u64,
    next_delivery_ms: u64,
    delivery_unknown: std::collections::HashSet<String>,
    /// The message composed last (msg_id, recipient name, storage warning): `#send-status`
    /// follows its delivery.
    last_composed: Option<(String, String, Option<String>)>,
    unread: HashMap<String, usize>,
    view: View,
    contact_name: String,
    contact_identity: String,
    contact_error: Option<String>,
    contact_hint: Option<String>,
    saving_contact: bool,
    body: String,
    sending: bool,
    send_status: Option<(StatusKind, String)>,
    copy_status: Option<String>,
    focus: Option<&'static str>,
    scroll_messages: bool,
    messages_ref: NodeRef,
    _timer: Option<Interval>,
    _listeners: Vec<Closure<dyn Fn()>>,
    /// Multi-tab (see `tabs`): role, channel, last status announced to followers.
    role: Role,
    tab_channel: Option<tabs::Channel>,
    _role_sub: Option<tabs::Subscription>,
    announced: Option<TabMsg>,
    reload_gen: u64,
    drain_after_reload: bool,
    poll_after_reload: bool,
    db_closed: bool,
}

async fn load() -> Result<Loaded, String> {
    let storage = Storage::open(DB_NAME).await.map_err(|e| e.to_string())?;
    let stored = storage
        .load_identity_secret()
        .await
        .map_err(|e| e.to_string())?;
    let (identity, created) = match stored {
        Some(secret) => {
            crate::settings::after_unlock(&secret);
            let id = Identity::import_secret(&secret).map_err(|e| {
                format!(
                    "The identity stored in this browser could not be read ({e}). It was left \
                     untouched; Postern will not replace it."
                )
            })?;
            (id, false)
        }
        None => {
            let fresh = Identity::generate(&mut OsRng);
            let exported = fresh.export_secret();
            // Another tab may have created an identity meanwhile: use whichever is stored.
            let kept = storage
                .save_identity_secret_if_absent(&exported)
                .await
                .map_err(|e| e.to_string())?;
            crate::settings::after_unlock(&kept);
            let id = Identity::import_secret(&kept).map_err(|e| e.to_string())?;
            let created = id.node_id() == fresh.node_id();
            (id, created)
        }
    };
    let contacts = storage.contacts().await.map_err(|e| e.to_string())?;
    let messages = storage.messages().await.map_err(|e| e.to_string())?;
    let outbox = storage.outbox().await.map_err(|e| e.to_string())?;
    Ok(Loaded {
        storage: Rc::new(storage),
        identity: Rc::new(identity),
        contacts,
        messages,
        outbox,
        created,
    })
}

/// Fetch, open (verify), persist, then acknowledge. A message is acknowledged only after it is
/// stored locally; envelopes that fail to open are acknowledged (dropped) and counted.
async fn poll_once(storage: Rc<Storage>, id: Rc<Identity>) -> Result<PollOutcome, RelayError> {
    let mut outcome = PollOutcome {
        new_messages: Vec::new(),
        rejected: 0,
        warning: None,
    };
    for _ in 0..MAX_POLL_PAGES {
        let resp = relay::poll(&id, POLL_LIMIT).await?;
        if resp.messages.is_empty() {
            break;
        }
        let base_ms = now_millis();
        let mut to_ack = Vec::new();
        let mut kept_back = 0usize;
        for (i, stored) in resp.messages.iter().enumerate() {
            let env = &stored.envelope;
            match logic::open_envelope(&id, env, base_ms + i as u64) {
                Ok(m) => match storage.has_message(&m.key()).await {
                    Ok(true) => to_ack.push(env.msg_id.clone()),
                    Ok(false) => match storage.put_message(&m).await {
                        Ok(()) => {
                            to_ack.push(env.msg_id.clone());
                            outcome.new_messages.push(m);
                        }
                        Err(e) => {
                            kept_back += 1;
                            outcome.warning = Some(format!(
                                "Could not save a message ({e}); it stays on the relay."
                            ));
                        }
                    },
                    Err(e) => {
                        kept_back += 1;
                        outcome.warning = Some(format!("Could not check saved messages ({e})."));
                    }
                },
                Err(_) => {
                    outcome.rejected += 1;
                    to_ack.push(env.msg_id.clone());
                }
            }
        }
        if !to_ack.is_empty() {
            if let Err(e) = relay::ack(&id, &to_ack).await {
                outcome.warning = Some(format!(
                    "Messages were saved but the relay did not confirm removal: {e}"
                ));
                break;
            }
        }
        let more = resp.total as usize > resp.messages.len();
        if !more || kept_back > 0 || to_ack.is_empty() {
            break;
        }
    }
    Ok(outcome)
}

fn by_id<T: JsCast>(id: &str) -> Option<T> {
    web_sys::window()?
        .document()?
        .get_element_by_id(id)?
        .dyn_into::<T>()
        .ok()
}

/// Select the identity text so the user can copy it by hand, and try the legacy copy command.
fn select_identity_fallback() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Some(doc) = window.document() else {
        return false;
    };
    let Some(el) = doc.get_element_by_id("identity-string") else {
        return false;
    };
    if let (Ok(Some(sel)), Ok(range)) = (window.get_selection(), doc.create_range()) {
        let _ = sel.remove_all_ranges();
        if range.select_node_contents(&el).is_ok() {
            let _ = sel.add_range(&range);
        }
    }
    let exec = js_sys::Reflect::get(&doc, &JsValue::from_str("execCommand"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match exec {
        Some(f) => f
            .call1(&doc, &JsValue::from_str("copy"))
            .map(|v| v.is_truthy())
            .unwrap_or(false),
        None => false,
    }
}

pub(crate) async fn copy_to_clipboard(text: String) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let nav = window.navigator();
    let has_clipboard = js_sys::Reflect::get(&nav, &JsValue::from_str("clipboard"))
        .map(|v| !v.is_undefined() && !v.is_null())
        .unwrap_or(false);
    if !has_clipboard {
        return false;
    }
    wasm_bindgen_futures::JsFuture::from(nav.clipboard().write_text(&text))
        .await
        .is_ok()
}

impl App {
    fn contact(&self, node_id: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.node_id == node_id)
    }

    fn ready(&self) -> bool {
        self.identity.is_some() && self.registered
    }

    fn start_register(&mut self, ctx: &Context<Self>) {
        let Some(id) = self.identity.clone() else {
            return;
        };
        if !tabs::duties(self.role).sync {
            return;
        }
        if self.registering {
            return;
        }
        self.registering = true;
        ctx.link()
            .send_future(async move { Msg::Registered(relay::register(&id).await.map(|_| ())) });
    }

    fn start_poll(&mut self, ctx: &Context<Self>) {
        let (Some(storage), Some(id)) = (self.storage.clone(), self.identity.clone()) else {
            return;
        };
        if !tabs::duties(self.role).sync {
            if tabs::duties(self.role).forward {
                self.post(TabMsg::Check);
            }
            return;
        }
        if self.polling {
            return;
        }
        self.polling = true;
        ctx.link()
            .send_future(async move { Msg::Polled(poll_once(storage, id).await) });
    }

    /// Deliver the outbox in order. Each envelope keeps its msg_id, so a retry of one the relay
    /// already holds is answered `duplicate: true`: delivery is exactly once.
    fn start_flush(&mut self, ctx: &Context<Self>) {
        // Only the leader tab drains the outbox; others hand it the work (see `tabs`).
        if !tabs::duties(self.role).drain_outbox {
            if !self.outbox.is_empty() {
                self.forward_drain();
            }
            return;
        }
        if self.flushing {
            self.flush_again = true;
            return;
        }
        if self.outbox.is_empty() {
            return;
        }
        self.flushing = true;
        self.flush_again = false;
        let batch = self.outbox.clone();
        ctx.link().send_future(async move {
            let mut attempts = Vec::with_capacity(batch.len());
            for e in batch {
                let result = relay::send(e.envelope).await.map(|_| ());
                let unreachable = matches!(&result, Err(err) if err.is_unreachable());
                attempts.push(Attempt {
                    msg_id: e.msg_id,
                    peer_node_id: e.peer_node_id,
                    result,
                });
                if unreachable {
                    break;
                }
            }
            Msg::Flushed(attempts)
        });
    }

    /// Ask the relay which of our sent messages their recipients acknowledged (leader only; no
    /// request while nothing is unsettled).
    fn start_delivery_check(&mut self, ctx: &Context<Self>) {
        if !tabs::duties(self.role).sync || self.checking_delivery {
            return;
        }
        let queries = logic::delivery_queries(&self.messages, &self.delivery_unknown);
        if queries.is_empty() {
            return;
        }
        self.checking_delivery = true;
        ctx.link().send_future(async move {
            let mut out = Vec::new();
            for q in queries {
                match relay::dm_status(&q).await {
                    Ok(resp) => out.extend(
                        resp.statuses
                            .into_iter()
                            .map(|s| (q.recipient_id.clone(), s)),
                    ),
                    Err(e) => return Msg::DeliveryChecked(Err(e)),
                }
            }
            Msg::DeliveryChecked(Ok(out))
        });
    }

    /// The relay answered after being offline (or unknown): drain the outbox at once.
    fn came_online(&mut self, ctx: &Context<Self>, was: RelayState) {
        if was != RelayState::Online && !self.outbox.is_empty() {
            self.start_flush(ctx);
        }
    }

    fn persist_outgoing(&self, ctx: &Context<Self>, m: StoredMessage) {
        let Some(storage) = self.storage.clone() else {
            return;
        };
        ctx.link().send_future_batch(async move {
            match storage.settle_outgoing(&m).await {
                Ok(()) => vec![Msg::Wrote],
                Err(e) => vec![Msg::PersistFailed(e.to_string())],
            }
        });
    }

    fn contact_name_of(&self, node_id: &str) -> String {
        self.contact(node_id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| logic::short_node_id(node_id))
    }

    fn relay_failed(&mut self, e: &RelayError) {
        if e.is_unreachable() {
            self.relay = RelayState::Offline;
            self.relay_error = None;
        } else {
            self.relay = RelayState::Online;
            self.relay_error = Some(e.to_string());
        }
    }

    fn select(&mut self, view: View) {
        if let View::Contact(node) = &view {
            self.unread.remove(node);
        } else {
            self.unread.remove("");
        }
        if self.view != view {
            self.send_status = None;
        }
        self.view = view;
        self.scroll_messages = true;
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        ctx.link().send_future(async { Msg::Loaded(load().await) });
        App {
            storage: None,
            identity: None,
            public: None,
            created: false,
            fatal: None,
            registered: false,
            registering: false,
            ticks: 0,
            relay: RelayState::Checking,
            relay_error: None,
            polling: false,
            last_check: None,
            inbox_note: None,
            contacts: Vec::new(),
            messages: Vec::new(),
            outbox: Vec::new(),
            flushing: false,
            flush_again: false,
            outbox_failures: 0,
            checking_delivery: false,
            delivery_unchanged: 0,
            next_delivery_ms: 0,
            delivery_unknown: Default::default(),
            next_retry_ms: 0,
            last_composed: None,
            unread: HashMap::new(),
            view: View::All,
            contact_name: String::new(),
            contact_identity: String::new(),
            contact_error: None,
            contact_hint: None,
            saving_contact: false,
            body: String::new(),
            sending: false,
            send_status: None,
            copy_status: None,
            focus: None,
            scroll_messages: false,
            messages_ref: NodeRef::default(),
            _timer: None,
            _listeners: Vec::new(),
            role: Role::Pending,
            tab_channel: None,
            _role_sub: None,
            announced: None,
            reload_gen: 0,
            drain_after_reload: false,
            poll_after_reload: false,
            db_closed: false,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            Msg::Loaded(Err(e)) => {
                self.fatal = Some(e);
                true
            }
            Msg::Loaded(Ok(l)) => {
                self.public = Some(l.identity.public());
                self.identity = Some(l.identity);
                self.storage = Some(l.storage);
                self.created = l.created;
                self.contacts = l.contacts;
                self.messages = l.messages;
                self.outbox = l.outbox;
                self.scroll_messages = true;
                let link = ctx.link().clone();
                self._timer = Some(Interval::new(POLL_INTERVAL_MS, move || {
                    link.send_message(Msg::Tick)
                }));
                if let Some(window) = web_sys::window() {
                    for (event, msg) in [("online", true), ("offline", false)] {
                        let link = ctx.link().clone();
                        let cb = Closure::<dyn Fn()>::new(move || {
                            link.send_message(if msg {
                                Msg::BrowserOnline
                            } else {
                                Msg::BrowserOffline
                            })
                        });
                        if window
                            .add_event_listener_with_callback(event, cb.as_ref().unchecked_ref())
                            .is_ok()
                        {
                            self._listeners.push(cb);
                        }
                    }
                }
                self.start_tabs(ctx);
                self.start_register(ctx);
                true
            }
            Msg::Registered(r) => {
                self.registering = false;
                match r {
                    Ok(()) => {
                        self.registered = true;
                        let was = self.relay;
                        self.relay = RelayState::Online;
                        self.relay_error = None;
                        self.start_poll(ctx);
                        self.came_online(ctx, was);
                    }
                    Err(e) => self.relay_failed(&e),
                }
                true
            }
            Msg::Tick => {
                if !tabs::duties(self.role).sync {
                    return false;
                }
                self.ticks = self.ticks.wrapping_add(1);
                if !self.registered || self.ticks % REREGISTER_EVERY_TICKS == 0 {
                    self.start_register(ctx);
                }
                if self.registered {
                    self.start_poll(ctx);
                }
                if !self.outbox.is_empty() && !self.flushing && now_millis() >= self.next_retry_ms {
                    self.start_flush(ctx);
                }
                if !self.checking_delivery && now_millis() >= self.next_delivery_ms {
                    self.start_delivery_check(ctx);
                }
                false
            }
            Msg::DeliveryChecked(r) => {
                self.checking_delivery = false;
                let mut moved = false;
                for (peer, st) in r.unwrap_or_default() {
                    let key = message_key(Direction::Out, &peer, &st.msg_id);
                    match st.state {
                        DeliveryState::Delivered => {
                            let found = self
                                .messages
                                .iter_mut()
                                .find(|m| m.key() == key && m.state == OutState::Sent);
                            if let Some(m) = found {
                                m.state = OutState::Delivered;
                                m.error = None;
                                let m = m.clone();
                                self.persist_outgoing(ctx, m);
                                moved = true;
                            }
                        }
                        // Expired (or pruned) on the relay: it will never say more.
                        DeliveryState::Unknown => {
                            self.delivery_unknown.insert(key);
                        }
                        DeliveryState::Pending => {}
                    }
                }
                self.delivery_unchanged = if moved {
                    0
                } else {
                    self.delivery_unchanged + 1
                };
                self.next_delivery_ms =
                    now_millis() + 1000 * logic::delivery_check_delay_s(self.delivery_unchanged);
                if moved {
                    self.follow_last_composed();
                }
                moved
            }
            Msg::CheckNow => {
                if !self.registered {
                    self.start_register(ctx);
                } else {
                    self.start_poll(ctx);
                }
                self.start_flush(ctx);
                true
            }
            Msg::BrowserOnline => {
                self.next_retry_ms = 0;
                if !self.registered {
                    self.start_register(ctx);
                } else {
                    self.start_poll(ctx);
                }
                self.start_flush(ctx);
                false
            }
            Msg::BrowserOffline => {
                self.relay = RelayState::Offline;
                true
            }
            Msg::Polled(r) => {
                self.polling = false;
                match r {
                    Ok(out) => {
                        let was = self.relay;
                        self.relay = RelayState::Online;
                        self.relay_error = None;
                        self.came_online(ctx, was);
                        self.last_check = Some(now_secs());
                        self.inbox_note = match (out.rejected, out.warning) {
                            (0, None) => None,
                            (0, Some(w)) => Some(w),
                            (n, w) => Some(format!(
                                "{n} message(s) failed verification and were discarded.{}",
                                w.map(|w| format!(" {w}")).unwrap_or_default()
                            )),
                        };
                        if !out.new_messages.is_empty() {
                            self.post(TabMsg::Changed);
                            self.delivery_unchanged = 0;
                            self.next_delivery_ms = 0;
                            for m in out.new_messages {
                                let viewing = match &self.view {
                                    View::Contact(n) => *n == m.peer_node_id,
                                    View::All => true,
                                };
                                if !viewing {
                                    *self.unread.entry(m.peer_node_id.clone()).or_default() += 1;
                                }
                                if self.contact(&m.peer_node_id).is_none() && self.view != View::All
                                {
                                    *self.unread.entry(String::new()).or_default() += 1;
                                }
                                if !self.messages.iter().any(|x| x.key() == m.key()) {
                                    self.messages.push(m);
                                }
                            }
                            crate::storage::sort_messages(&mut self.messages);
                            self.scroll_messages = true;
                        }
                    }
                    Err(e) => self.relay_failed(&e),
                }
                true
            }
            Msg::SetContactName(s) => {
                self.contact_name = s;
                false
            }
            Msg::SetContactIdentity(s) => {
                self.contact_identity = s;
                false
            }
            Msg::AddContact => {
                let (Some(me), Some(storage)) = (self.public.as_ref(), self.storage.clone()) else {
                    self.contact_error =
                        Some("Postern is still starting; try again in a moment.".into());
                    return true;
                };
                if self.saving_contact {
                    return false;
                }
                match logic::parse_contact(
                    &self.contact_name,
                    &self.contact_identity,
                    me,
                    &self.contacts,
                    now_secs(),
                ) {
                    Err(e) => self.contact_error = Some(e.to_string()),
                    Ok(c) => {
                        self.contact_error = None;
                        self.saving_contact = true;
                        ctx.link().send_future(async move {
                            Msg::ContactSaved(
                                storage
                                    .put_contact(&c)
                                    .await
                                    .map(|_| c)
                                    .map_err(|e| e.to_string()),
                            )
                        });
                    }
                }
                true
            }
            Msg::ContactSaved(r) => {
                self.saving_contact = false;
                match r {
                    Ok(c) => {
                        self.post(TabMsg::Changed);
                        self.contact_name.clear();
                        self.contact_identity.clear();
                        self.contact_hint = None;
                        let node = c.node_id.clone();
                        self.contacts.push(c);
                        self.contacts.sort_by_key(|c| c.name.to_lowercase());
                        self.select(View::Contact(node));
                        self.focus = Some("compose-body");
                    }
                    Err(e) => self.contact_error = Some(format!("Could not save the contact: {e}")),
                }
                true
            }
            Msg::Select(v) => {
                self.select(v);
                true
            }
            Msg::SetBody(s) => {
                self.body = s;
                true
            }
            Msg::Send => {
                if self.sending {
                    return false;
                }
                let Some(me) = self.identity.clone() else {
                    return false;
                };
                let View::Contact(node) = &self.view else {
                    self.send_status = Some((
                        StatusKind::Error,
                        "Choose a contact to write to first.".into(),
                    ));
                    return true;
                };
                let Some(contact) = self.contact(node).cloned() else {
                    self.send_status = Some((
                        StatusKind::Error,
                        "Choose a contact to write to first.".into(),
                    ));
                    return true;
                };
                if self.body.trim().is_empty() {
                    self.send_status = Some((StatusKind::Error, "Type a message first.".into()));
                    return true;
                }
                let recipient = match PublicIdentity::from_str(&contact.identity) {
                    Ok(p) => p,
                    Err(e) => {
                        self.send_status = Some((
                            StatusKind::Error,
                            format!("This contact's stored identity is invalid: {e}."),
                        ));
                        return true;
                    }
                };
                let (env, local) =
                    match logic::seal_text(&me, &recipient, &self.body, now_secs(), now_millis()) {
                        Ok(x) => x,
                        Err(e) => {
                            self.send_status =
                                Some((StatusKind::Error, logic::explain_seal_error(&e)));
                            return true;
                        }
                    };
                // Sealed now; only the envelope waits in the outbox (the plaintext copy is the
                // local record every sent message has).
                let entry = OutboxEntry {
                    msg_id: local.msg_id.clone(),
                    peer_node_id: local.peer_node_id.clone(),
                    envelope: env,
                    queued_at: local.stored_at,
                };
                self.sending = true;
                self.send_status = Some((StatusKind::Pending, "Sending…".into()));
                let storage = self.storage.clone();
                let name = contact.name.clone();
                ctx.link().send_future(async move {
                    let warn = match storage {
                        Some(s) => s
                            .queue_outgoing(&local, &entry)
                            .await
                            .err()
                            .map(|e| e.to_string()),
                        None => Some("storage is not open".to_string()),
                    };
                    Msg::Queued {
                        name,
                        local,
                        entry,
                        warn,
                    }
                });
                true
            }
            Msg::Queued {
                name,
                local,
                entry,
                warn,
            } => {
                self.sending = false;
                self.body.clear();
                self.last_composed = Some((local.msg_id.clone(), name, warn));
                if !self.messages.iter().any(|m| m.key() == local.key()) {
                    self.messages.push(local);
                    crate::storage::sort_messages(&mut self.messages);
                }
                if !self.outbox.iter().any(|e| e.key() == entry.key()) {
                    self.outbox.push(entry);
                }
                self.scroll_messages = true;
                self.focus = Some("compose-body");
                if tabs::duties(self.role).drain_outbox {
                    self.post(TabMsg::Changed);
                }
                self.start_flush(ctx);
                self.follow_last_composed();
                true
            }
            Msg::Flushed(attempts) => {
                self.flushing = false;
                let mut failed = false;
                let mut unreachable = false;
                let mut answered = false;
                for a in attempts {
                    let key = message_key(Direction::Out, &a.peer_node_id, &a.msg_id);
                    let name = self.contact_name_of(&a.peer_node_id);
                    let mine = matches!(&self.last_composed, Some((id, _, _)) if *id == a.msg_id);
                    let (state, error, status) = match &a.result {
                        Ok(()) => {
                            answered = true;
                            let mut text = format!("Message sent to {name}.");
                            if let Some((_, _, Some(w))) = &self.last_composed {
                                text.push_str(&format!(" (Could not keep a local copy: {w})"));
                            }
                            self.delivery_unchanged = 0;
                            self.next_delivery_ms = 0;
                            (OutState::Sent, None, (StatusKind::Ok, text))
                        }
                        Err(e) if e.is_unreachable() => {
                            unreachable = true;
                            failed = true;
                            // Still queued; nothing to persist.
                            if mine {
                                self.send_status =
                                    Some((StatusKind::Pending, logic::explain_queued()));
                            }
                            continue;
                        }
                        Err(e) if logic::is_permanent_send_error(e) => {
                            answered = true;
                            let text = logic::explain_send_error(e, &name);
                            (
                                OutState::Failed,
                                Some(text.clone()),
                                (StatusKind::Error, text),
                            )
                        }
                        Err(e) => {
                            answered = true;
                            failed = true;
                            let text = format!(
                                "{} It stays queued and is retried automatically.",
                                logic::explain_send_error(e, &name)
                            );
                            (
                                OutState::Queued,
                                Some(text.clone()),
                                (StatusKind::Error, text),
                            )
                        }
                    };
                    if state != OutState::Queued {
                        self.outbox.retain(|e| {
                            e.key() != crate::storage::outbox_key(&a.peer_node_id, &a.msg_id)
                        });
                    }
                    if mine {
                        self.send_status = Some(status);
                    }
                    if let Some(m) = self.messages.iter_mut().find(|m| m.key() == key) {
                        if m.state != state || m.error != error {
                            m.state = state;
                            m.error = error;
                            let m = m.clone();
                            self.persist_outgoing(ctx, m);
                        }
                    }
                }
                if unreachable {
                    self.relay = RelayState::Offline;
                } else if answered {
                    self.relay = RelayState::Online;
                }
                if failed {
                    self.outbox_failures += 1;
                    self.next_retry_ms =
                        now_millis() + 1000 * logic::outbox_retry_delay_s(self.outbox_failures, 0);
                } else {
                    self.outbox_failures = 0;
                    self.next_retry_ms = 0;
                }
                // Something was queued during this attempt: try it now (fails fast if the
                // relay is still down, and sets its status).
                if std::mem::take(&mut self.flush_again) {
                    self.start_flush(ctx);
                }
                true
            }
            Msg::PersistFailed(e) => {
                self.inbox_note = Some(format!("Could not save a delivery state change ({e})."));
                true
            }
            Msg::Copy => {
                let Some(p) = &self.public else { return false };
                let text = p.to_string();
                ctx.link()
                    .send_future(async move { Msg::Copied(copy_to_clipboard(text).await) });
                false
            }
            Msg::Copied(ok) => {
                self.copy_status = Some(if ok || select_identity_fallback() {
                    "Copied to the clipboard.".into()
                } else {
                    "Selected: press Ctrl+C (⌘C on a Mac) to copy.".into()
                });
                if !ok {
                    // The re-render below must not clear the selection made by the fallback.
                    select_identity_fallback();
                }
                true
            }
            Msg::Prefill(identity) => {
                self.contact_identity = identity;
                self.contact_name.clear();
                self.contact_error = None;
                self.contact_hint =
                    Some("Unknown sender: give them a name to add them as a contact.".into());
                self.focus = Some("contact-name");
                true
            }
            Msg::Reply(node) => {
                if self.contact(&node).is_some() {
                    self.select(View::Contact(node));
                    self.focus = Some("compose-body");
                } else if let Some(m) = self.messages.iter().find(|m| m.peer_node_id == node) {
                    let id = m.peer_identity.clone();
                    return <Self as Component>::update(self, ctx, Msg::Prefill(id));
                }
                true
            }
            Msg::Role(r) => self.on_role(ctx, r),
            Msg::Tab(m) => self.on_tab(ctx, m),
            Msg::Reload { drain } => {
                self.start_reload(ctx, drain);
                false
            }
            Msg::Reloaded { gen, data } => self.on_reloaded(ctx, gen, data),
            Msg::Wrote => {
                self.post(TabMsg::Changed);
                false
            }
            Msg::DbVersionChange => {
                self.db_closed = true;
                self._timer = None;
                tabs::resign();
                true
            }
        }
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        self.announce();
        if let Some(id) = self.focus.take() {
            if let Some(el) = by_id::<HtmlElement>(id) {
                let _ = el.focus();
            }
        }
        if std::mem::take(&mut self.scroll_messages) {
            if let Some(el) = self.messages_ref.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let ready = if self.ready() { "true" } else { "false" };
        html! {
            <div id="app-ready" class="app" data-ready={ready}>
                <header class="topbar">
                    <div class="brand">
                        <img src="/icon.svg" alt="" width="28" height="28" />
                        <h1>{ "Postern" }</h1>
                    </div>
                    <nav class="topnav"><a id="nav-sync" href="#sync">{ "Chain sync" }</a></nav>
                    { self.view_relay_status() }
                    <p class="relay tab-role muted small" id="tab-role" data-role={self.role.as_str()}
                        title="Only one tab of this browser talks to the relay in the background; the others follow it">
                        { self.role.label() }
                    </p>
                </header>
                if self.db_closed {
                    <div id="db-closed" class="banner banner-warn" role="alert">
                        { "Postern was updated in another tab — reload this tab to continue." }
                    </div>
                }
                if let Some(f) = &self.fatal {
                    <div class="banner banner-error" role="alert">
                        <strong>{ "Postern cannot start. " }</strong>{ f }
                    </div>
                }
                if let Some(e) = &self.relay_error {
                    <div class="banner banner-warn" role="status">{ e }</div>
                }
                <div class="layout">
                    <aside class="sidebar">
                        { self.view_identity(ctx) }
                        { self.view_contacts(ctx) }
                        { self.view_add_contact(ctx) }
                        if let (Some(storage), Some(identity)) = (self.storage.clone(), self.identity.clone()) {
                            <crate::settings::Settings {storage} {identity} />
                        }
                    </aside>
                    { self.view_conversation(ctx) }
                </div>
                if let (Some(storage), Some(identity)) = (self.storage.clone(), self.identity.clone()) {
                    <crate::gates::Gates {storage} {identity} contacts={self.contacts.clone()} leader={tabs::duties(self.role).sync} />
                }
                if let Some(storage) = self.storage.clone() {
                    <crate::sync::SyncView {storage} active={tabs::duties(self.role).sync} />
                }
            </div>
        }
    }
}

impl App {
    fn view_relay_status(&self) -> Html {
        let (state, text) = match self.relay {
            RelayState::Checking => ("checking", "connecting"),
            RelayState::Online => ("online", "online"),
            RelayState::Offline => ("offline", "offline"),
        };
        html! {
            <p class="relay" title="Connection to this Postern relay">
                { "Relay: " }
                <span id="relay-status" class={classes!("relay-status", state)} data-state={state} role="status">{ text }</span>
            </p>
        }
    }

    fn view_identity(&self, ctx: &Context<Self>) -> Html {
        let Some(p) = &self.public else {
            return html! {
                <section class="card" aria-labelledby="me-h">
                    <h2 id="me-h">{ "Your identity" }</h2>
                    if self.fatal.is_none() {
                        <p class="muted">{ "Loading your identity…" }</p>
                    }
                </section>
            };
        };
        html! {
            <section class="card identity" aria-labelledby="me-h">
                <h2 id="me-h">{ "Your identity" }</h2>
                if self.created {
                    <p class="hint">{ "A new identity was created and saved in this browser." }</p>
                }
                <p class="hint">{ "Share this with people who should be able to write to you:" }</p>
                <code id="identity-string" class="identity-string" tabindex="0">{ p.to_string() }</code>
                <div class="row">
                    <button id="copy-identity" type="button" class="btn" onclick={ctx.link().callback(|_| Msg::Copy)}>
                        { "Copy" }
                    </button>
                    <span class="fingerprint">
                        { "Fingerprint " }
                        <strong id="fingerprint" title={p.node_id().to_string()}>{ logic::fingerprint(p) }</strong>
                    </span>
                </div>
                <p id="copy-status" class="muted small" aria-live="polite">{ self.copy_status.clone().unwrap_or_default() }</p>
            </section>
        }
    }

    fn view_contacts(&self, ctx: &Context<Self>) -> Html {
        let all_unread = self.unread.get("").copied().unwrap_or(0);
        html! {
            <nav class="card contacts" aria-labelledby="contacts-h">
                <h2 id="contacts-h">{ "Conversations" }</h2>
                <ul class="contact-list">
                    <li class={classes!("contact-item", (self.view == View::All).then_some("active"))}>
                        <button type="button" id="view-all"
                            aria-current={(self.view == View::All).then_some("true")}
                            onclick={ctx.link().callback(|_| Msg::Select(View::All))}>
                            <span class="contact-name">{ "All messages" }</span>
                            if all_unread > 0 { <span class="badge" aria-label="unread">{ all_unread }</span> }
                        </button>
                    </li>
                    { for self.contacts.iter().map(|c| {
                        let active = self.view == View::Contact(c.node_id.clone());
                        let node = c.node_id.clone();
                        let unread = self.unread.get(&c.node_id).copied().unwrap_or(0);
                        html! {
                            <li key={c.node_id.clone()} class={classes!("contact-item", active.then_some("active"))}
                                data-contact={c.name.clone()} data-node-id={c.node_id.clone()}
                                onclick={ctx.link().callback(move |_| Msg::Select(View::Contact(node.clone())))}>
                                <button type="button" aria-current={active.then_some("true")}>
                                    <span class="contact-name">{ &c.name }</span>
                                    <span class="contact-id">{ logic::short_node_id(&c.node_id) }</span>
                                    if unread > 0 { <span class="badge" aria-label="unread">{ unread }</span> }
                                </button>
                            </li>
                        }
                    }) }
                </ul>
                if self.contacts.is_empty() {
                    <p class="muted small">{ "No contacts yet. Add one below with their public identity." }</p>
                }
            </nav>
        }
    }

    fn view_add_contact(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        html! {
            <section class="card add-contact" aria-labelledby="add-h">
                <h2 id="add-h">{ "Add contact" }</h2>
                <form onsubmit={link.callback(|e: SubmitEvent| { e.prevent_default(); Msg::AddContact })} novalidate=true>
                    if let Some(h) = &self.contact_hint {
                        <p class="hint">{ h }</p>
                    }
                    <label for="contact-name">{ "Name" }</label>
                    <input id="contact-name" type="text" autocomplete="off" maxlength="64"
                        value={self.contact_name.clone()}
                        oninput={link.callback(|e: InputEvent| Msg::SetContactName(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    <label for="contact-identity">{ "Their public identity" }</label>
                    <textarea id="contact-identity" rows="4" spellcheck="false" autocomplete="off"
                        placeholder="postern1.!sb_…"
                        aria-describedby="contact-error"
                        value={self.contact_identity.clone()}
                        oninput={link.callback(|e: InputEvent| Msg::SetContactIdentity(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                    <p id="contact-error" class="error" role="alert">{ self.contact_error.clone().unwrap_or_default() }</p>
                    <button id="add-contact" type="submit" class="btn btn-primary" disabled={self.saving_contact}>{ "Add contact" }</button>
                </form>
            </section>
        }
    }

    fn view_message(&self, ctx: &Context<Self>, m: &StoredMessage) -> Html {
        let contact = self.contact(&m.peer_node_id);
        let my_node = self
            .public
            .as_ref()
            .map(|p| p.node_id().to_string())
            .unwrap_or_default();
        let (sender_node, sender_label) = match m.direction {
            Direction::Out => (my_node, "You".to_string()),
            Direction::In => (
                m.peer_node_id.clone(),
                contact
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| logic::short_node_id(&m.peer_node_id)),
            ),
        };
        let to_label = match (m.direction, self.view == View::All) {
            (Direction::Out, true) => Some(format!(
                "to {}",
                contact
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| logic::short_node_id(&m.peer_node_id))
            )),
            _ => None,
        };
        let verified = (m.direction == Direction::In).then_some("true");
        let out_state = (m.direction == Direction::Out).then_some(m.state.as_str());
        // Delivered refines sent: `data-state` stays "sent", `data-delivered` marks the ack.
        let (data_state, delivered) = match m.state {
            OutState::Delivered => (
                out_state.map(|_| OutState::Sent.as_str()),
                out_state.map(|_| "true"),
            ),
            _ => (out_state, None),
        };
        let out_error = if m.direction == Direction::Out {
            m.error.clone()
        } else {
            None
        };
        let node = m.peer_node_id.clone();
        let ident = m.peer_identity.clone();
        html! {
            <li key={m.key()} class={classes!("message", m.direction.as_str())}
                data-direction={m.direction.as_str()} data-sender={sender_node}
                data-verified={verified} data-msg-id={m.msg_id.clone()} data-state={data_state} data-delivered={delivered}>
                <div class="message-meta">
                    <span class="message-sender" title={m.peer_node_id.clone()}>{ sender_label }</span>
                    if let Some(t) = to_label { <span class="muted">{ t }</span> }
                    if m.direction == Direction::In {
                        <span class="verified" title="Signature verified: sent by the holder of this identity">{ "✓ verified" }</span>
                    }
                    <time datetime={logic::iso_time(m.timestamp)}>{ logic::format_time(m.timestamp) }</time>
                    if let Some(state) = out_state {
                        <span class={classes!("delivery", state)} title={match m.state {
                            OutState::Queued => "Sealed and waiting in this browser's outbox for the relay",
                            OutState::Sent => "Accepted by the relay",
                            OutState::Failed => "Refused by the relay; not retried",
                            OutState::Delivered => "The recipient's device acknowledged it",
                        }}>{ if m.state == OutState::Delivered { "✓✓ delivered" } else { state } }</span>
                    }
                </div>
                <p class="message-body">{ &m.body }</p>
                if let Some(e) = out_error {
                    <p class="message-error small" role="status">{ e }</p>
                }
                if m.direction == Direction::In {
                    <div class="message-actions">
                        if contact.is_some() {
                            <button type="button" class="btn btn-small reply"
                                onclick={ctx.link().callback(move |_| Msg::Reply(node.clone()))}>{ "Reply" }</button>
                        } else {
                            <span class="unknown">{ "Unknown sender" }</span>
                            <button type="button" class="btn btn-small add-sender"
                                onclick={ctx.link().callback(move |_| Msg::Prefill(ident.clone()))}>{ "Add contact" }</button>
                        }
                    </div>
                }
            </li>
        }
    }

    fn view_conversation(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let (title, list): (String, Vec<&StoredMessage>) = match &self.view {
            View::All => ("All messages".into(), self.messages.iter().collect()),
            View::Contact(n) => (
                self.contact(n)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| logic::short_node_id(n)),
                self.messages
                    .iter()
                    .filter(|m| &m.peer_node_id == n)
                    .collect(),
            ),
        };
        let selected = match &self.view {
            View::Contact(n) => Some(n.clone()),
            View::All => None,
        };
        let bytes = self.body.len();
        let over = bytes > MAX_BODY_LEN;
        let (status_kind, status_text) = match &self.send_status {
            Some((k, t)) => (k.as_str(), t.clone()),
            None => ("", String::new()),
        };
        html! {
            <main class="conversation card" aria-labelledby="conv-h">
                <header class="conv-header">
                    <h2 id="conv-h">{ title }</h2>
                    <div class="inbox-controls">
                        <span class="muted small" aria-live="polite">
                            { if self.polling { "Checking…".to_string() } else {
                                self.last_check.map(|t| format!("Checked {}", logic::format_time(t))).unwrap_or_default()
                            } }
                        </span>
                        <button id="check-now" type="button" class="btn" disabled={self.identity.is_none()}
                            onclick={link.callback(|_| Msg::CheckNow)}>{ "Check now" }</button>
                    </div>
                </header>
                if let Some(n) = &self.inbox_note {
                    <p class="banner banner-warn small" role="status">{ n }</p>
                }
                <ol class="messages" ref={self.messages_ref.clone()} aria-label="Messages" aria-live="polite">
                    { for list.iter().map(|m| self.view_message(ctx, m)) }
                </ol>
                if list.is_empty() {
                    <p class="empty muted">{
                        if selected.is_some() { "No messages yet. Say hello!" } else { "No messages yet. Messages are end-to-end encrypted in this tab; the relay only sees sealed envelopes." }
                    }</p>
                }
                <form class="compose" onsubmit={link.callback(|e: SubmitEvent| { e.prevent_default(); Msg::Send })}>
                    <div class="compose-to">
                        <label for="compose-to">{ "To" }</label>
                        <select id="compose-to" onchange={link.callback(|e: Event| {
                            let v = e.target_unchecked_into::<HtmlSelectElement>().value();
                            if v.is_empty() { Msg::Select(View::All) } else { Msg::Select(View::Contact(v)) }
                        })}>
                            <option value="" selected={selected.is_none()}>{ "Choose a contact…" }</option>
                            { for self.contacts.iter().map(|c| html! {
                                <option key={c.node_id.clone()} value={c.node_id.clone()}
                                    selected={selected.as_deref() == Some(c.node_id.as_str())}>{ &c.name }</option>
                            }) }
                        </select>
                        <span class={classes!("counter", "small", over.then_some("over"))} aria-live="polite">
                            { format!("{bytes} / {MAX_BODY_LEN} bytes") }
                        </span>
                    </div>
                    <label for="compose-body" class="visually-hidden">{ "Message" }</label>
                    <textarea id="compose-body" rows="3" placeholder="Write a message… (Ctrl+Enter to send)"
                        value={self.body.clone()}
                        oninput={link.callback(|e: InputEvent| Msg::SetBody(e.target_unchecked_into::<HtmlTextAreaElement>().value()))}
                        onkeydown={link.batch_callback(|e: KeyboardEvent| {
                            if e.key() == "Enter" && (e.ctrl_key() || e.meta_key()) {
                                e.prevent_default();
                                // Make sure the latest text is in state before sending.
                                let v = e.target_unchecked_into::<HtmlTextAreaElement>().value();
                                vec![Msg::SetBody(v), Msg::Send]
                            } else { vec![] }
                        })} />
                    <div class="compose-actions">
                        <p id="send-status" class={classes!("send-status", status_kind)} data-state={status_kind} role="status" aria-live="polite">
                            { status_text }
                        </p>
                        <button id="send" type="submit" class="btn btn-primary" disabled={self.sending || self.identity.is_none()}>
                            { if self.sending { "Sending…" } else { "Send" } }
                        </button>
                    </div>
                </form>
            </main>
        }
    }
}

/// Multi-tab glue (see `tabs`): the leader runs register/poll/outbox; followers read IndexedDB
/// and forward work to it.
impl App {
    fn start_tabs(&mut self, ctx: &Context<Self>) {
        if let Some(storage) = &self.storage {
            let link = ctx.link().clone();
            storage.on_version_change(move || link.send_message(Msg::DbVersionChange));
        }
        let link = ctx.link().clone();
        self.tab_channel = Some(tabs::Channel::open(move |m| link.send_message(Msg::Tab(m))));
        let link = ctx.link().clone();
        self._role_sub = Some(tabs::subscribe(move |r| link.send_message(Msg::Role(r))));
        tabs::start();
        let now = tabs::role();
        if now != self.role {
            ctx.link().send_message(Msg::Role(now));
        }
    }

    fn post(&self, m: TabMsg) {
        if let Some(c) = &self.tab_channel {
            c.post(&m);
        }
    }

    /// Ask the leader tab to poll and deliver the outbox now.
    fn forward_drain(&self) {
        if tabs::duties(self.role).forward {
            self.post(TabMsg::Drain);
        }
    }

    /// Leader: tell the followers how the relay is doing (only when it changed).
    fn announce(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let status = TabMsg::Status {
            relay: match self.relay {
                RelayState::Checking => "checking",
                RelayState::Online => "online",
                RelayState::Offline => "offline",
            }
            .into(),
            registered: self.registered,
            last_check: self.last_check,
            error: self.relay_error.clone(),
        };
        if self.announced.as_ref() != Some(&status) {
            self.post(status.clone());
            self.announced = Some(status);
        }
    }

    fn on_role(&mut self, ctx: &Context<Self>, r: Role) -> bool {
        if r == self.role {
            return false;
        }
        self.role = r;
        match r {
            Role::Leader => {
                // Take over: register, poll, and deliver whatever the others queued.
                self.registering = false;
                self.polling = false;
                self.flushing = false;
                self.announced = None;
                self.start_register(ctx);
                self.start_reload(ctx, true);
            }
            Role::Follower => self.post(TabMsg::Hello),
            Role::Retired => self._timer = None,
            Role::Pending => {}
        }
        true
    }

    fn on_tab(&mut self, ctx: &Context<Self>, m: TabMsg) -> bool {
        let leader = tabs::duties(self.role).sync;
        match m {
            // Followers re-read too: a Drain means another follower just queued something.
            TabMsg::Drain => self.start_reload(ctx, leader),
            TabMsg::Check => {
                self.poll_after_reload |= leader;
                self.start_reload(ctx, leader);
            }
            TabMsg::Changed => self.start_reload(ctx, false),
            TabMsg::Hello => {
                self.announced = None;
                self.announce();
            }
            TabMsg::Status {
                relay,
                registered,
                last_check,
                error,
            } => {
                if leader || self.db_closed {
                    return false;
                }
                self.relay = match relay.as_str() {
                    "online" => RelayState::Online,
                    "offline" => RelayState::Offline,
                    _ => RelayState::Checking,
                };
                self.registered = registered;
                self.last_check = last_check;
                self.relay_error = error;
                self.follow_last_composed();
                return true;
            }
        }
        false
    }

    fn start_reload(&mut self, ctx: &Context<Self>, drain: bool) {
        let Some(storage) = self.storage.clone() else {
            return;
        };
        if self.db_closed {
            return;
        }
        self.reload_gen += 1;
        self.drain_after_reload |= drain;
        let gen = self.reload_gen;
        ctx.link().send_future(async move {
            let data = async {
                let contacts = storage.contacts().await?;
                let messages = storage.messages().await?;
                let outbox = storage.outbox().await?;
                Ok((contacts, messages, outbox))
            }
            .await
            .map_err(|e: crate::storage::StorageError| e.to_string());
            Msg::Reloaded { gen, data }
        });
    }

    fn on_reloaded(
        &mut self,
        ctx: &Context<Self>,
        gen: u64,
        data: Result<Snapshot, String>,
    ) -> bool {
        if gen != self.reload_gen {
            // A newer reload is on its way (and carries the pending drain).
            return false;
        }
        match data {
            Ok((contacts, messages, outbox)) => {
                self.contacts = contacts;
                let known: std::collections::HashSet<String> =
                    self.messages.iter().map(|m| m.key()).collect();
                let (messages, outbox) =
                    tabs::merge_reload(&self.messages, &self.outbox, messages, outbox);
                for m in messages
                    .iter()
                    .filter(|m| m.direction == Direction::In && !known.contains(&m.key()))
                {
                    let viewing = match &self.view {
                        View::Contact(n) => *n == m.peer_node_id,
                        View::All => true,
                    };
                    if !viewing {
                        *self.unread.entry(m.peer_node_id.clone()).or_default() += 1;
                    }
                    self.scroll_messages = true;
                }
                self.messages = messages;
                self.outbox = outbox;
                self.follow_last_composed();
            }
            Err(e) => {
                if !self.db_closed {
                    self.inbox_note = Some(format!("Could not read browser storage ({e})."));
                }
            }
        }
        let poll = std::mem::take(&mut self.poll_after_reload);
        if std::mem::take(&mut self.drain_after_reload) && tabs::duties(self.role).sync {
            self.next_retry_ms = 0;
            if !self.registered {
                self.start_register(ctx);
            } else if poll {
                self.start_poll(ctx);
            }
            self.start_flush(ctx);
        }
        true
    }

    /// Follower: `#send-status` follows the delivery state the leader recorded.
    fn follow_last_composed(&mut self) {
        if tabs::duties(self.role).drain_outbox {
            return;
        }
        let Some((id, name, _)) = &self.last_composed else {
            return;
        };
        let Some(m) = self
            .messages
            .iter()
            .find(|m| m.direction == Direction::Out && &m.msg_id == id)
        else {
            return;
        };
        self.send_status = Some(match (m.state, &m.error) {
            (OutState::Sent, _) => (StatusKind::Ok, format!("Message sent to {name}.")),
            (OutState::Delivered, _) => (
                StatusKind::Ok,
                format!("Message sent to {name} and delivered."),
            ),
            (_, Some(e)) => (StatusKind::Error, e.clone()),
            (OutState::Failed, None) => (StatusKind::Error, "The relay refused it.".into()),
            (OutState::Queued, None) if self.relay != RelayState::Online => {
                (StatusKind::Pending, logic::explain_queued())
            }
            (OutState::Queued, None) => (StatusKind::Pending, "Sending…".into()),
        });
    }
}
