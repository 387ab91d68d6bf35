//! Direct-messaging state and its reducer: a [`DmState`] changed only by [`DmState::reduce`]
//! with an [`Action`]; any I/O the change needs is queued as an [`Effect`] for the component
//! to run (`dm::effects`), whose result comes back as another action. No web-sys here: the
//! time and the identity come in through [`Env`].
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use postern_core::api::dm::{MsgStatus, StatusRequest};
use postern_core::{Identity, PublicIdentity};

use crate::model::contacts::{label_of, Contact};
use crate::model::delivery::RelayError;
use crate::model::messages::{OutboxEntry, StoredMessage};
use crate::model::tabs::{duties, Role, TabMsg};
use crate::model::wording;

/// Re-publish the DH key every this many ticks (the relay's registration is an idempotent
/// upsert; this heals a relay that lost its data).
pub const REREGISTER_EVERY_TICKS: u32 = 75;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayState {
    Checking,
    Online,
    Offline,
}

impl RelayState {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayState::Checking => "checking",
            RelayState::Online => "online",
            RelayState::Offline => "offline",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    All,
    Contact(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Pending,
    Ok,
    Error,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Pending => "pending",
            StatusKind::Ok => "ok",
            StatusKind::Error => "error",
        }
    }
}

/// What the start-up load read from IndexedDB (the storage and identity go to the session).
pub struct Loaded {
    pub identity: Rc<Identity>,
    pub contacts: Vec<Contact>,
    pub messages: Vec<StoredMessage>,
    pub outbox: Vec<OutboxEntry>,
    pub created: bool,
}

/// Result of one delivery attempt of an outbox entry.
pub struct Attempt {
    pub msg_id: String,
    pub peer_node_id: String,
    pub result: Result<(), RelayError>,
}

pub struct PollOutcome {
    pub new_messages: Vec<StoredMessage>,
    pub rejected: usize,
    pub warning: Option<String>,
}

/// Contacts, messages and outbox as re-read from IndexedDB (multi-tab reload).
pub type Snapshot = (Vec<Contact>, Vec<StoredMessage>, Vec<OutboxEntry>);

pub enum Action {
    Loaded(Result<Loaded, String>),
    Registered(Result<(), RelayError>),
    /// The relay's answer to my contact list (how many sender_refs it lists).
    ContactsRegistered(Result<u64, RelayError>),
    Tick,
    CheckNow,
    Polled(Result<PollOutcome, RelayError>),
    SetContactName(String),
    SetContactIdentity(String),
    AddContact,
    ContactSaved(Result<Contact, String>),
    /// "Mark verified" for the contact of this node id (safety numbers compared).
    MarkVerified(String),
    /// A QR code read by the add-contact scanner (an identity string, checked like a paste).
    ScannedIdentity(String),
    /// A QR code read on the safety view of the contact of this node id: (node id, text).
    ScannedSafety(String, String),
    /// A stored contact was rewritten (verified, upgraded to v2, or its keys changed).
    ContactUpdated(Result<Contact, String>),
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
    /// Multi-tab: this tab's role changed (see `platform::tabs`).
    Role(Role),
    /// Multi-tab: a message from another tab of this profile.
    Tab(TabMsg),
    Reloaded {
        gen: u64,
        data: Result<Snapshot, String>,
    },
    /// This tab wrote to IndexedDB: tell the other tabs.
    Wrote,
    /// A newer tab upgrades the database: this tab's connection was closed.
    DbVersionChange,
}

/// I/O a state change asks for. Async ones answer with an [`Action`].
pub enum Effect {
    /// After the load: start the tick, the browser online/offline listeners and the tabs.
    Start,
    Register,
    /// Send my contact list to the relay (→ `ContactsRegistered`).
    RegisterContacts(Vec<Contact>),
    Poll,
    Flush(Vec<OutboxEntry>),
    CheckDelivery(Vec<StatusRequest>),
    /// Store an outgoing message's new delivery state (→ `Wrote` / `PersistFailed`).
    Persist(StoredMessage),
    SaveContact(Contact),
    /// Rewrite a stored contact (→ `ContactUpdated`).
    UpdateContact(Contact),
    Queue {
        name: String,
        local: StoredMessage,
        entry: OutboxEntry,
    },
    /// Re-read contacts, messages and outbox (→ `Reloaded { gen }`).
    Reload(u64),
    /// Copy my identity string (→ `Copied`).
    Copy(String),
    /// Post a message to the other tabs.
    Post(TabMsg),
    /// Stop the tick (retired tab).
    StopTimer,
    /// The database was closed for a newer tab: stop the tick and give the lock up.
    Resign,
}

/// What the reducer may read from outside: the clock and the unlocked identity.
pub struct Env<'a> {
    pub now_ms: u64,
    pub identity: Option<&'a Identity>,
}

impl Env<'_> {
    pub fn now_secs(&self) -> u64 {
        self.now_ms / 1000
    }
}

/// The relay as this tab knows it (the leader's view, mirrored by followers).
pub struct RelayLink {
    pub state: RelayState,
    pub error: Option<String>,
    pub registered: bool,
    pub registering: bool,
    pub polling: bool,
    pub ticks: u32,
    pub last_check: Option<u64>,
    /// How many contacts the relay lists for my mailbox's contacts' budget (last answer).
    pub contacts_registered: Option<u64>,
}

/// Sealed envelopes waiting for the relay, oldest first (mirror of the `outbox` store).
#[derive(Default)]
pub struct Outbox {
    pub entries: Vec<OutboxEntry>,
    pub flushing: bool,
    pub flush_again: bool,
    pub failures: u64,
    /// Earliest time (ms) of the next periodic retry.
    pub next_retry_ms: u64,
}

/// Delivery-status checks of sent messages (leader only): in flight, unchanged checks in a row
/// (backoff), earliest next check (ms), keys the relay no longer knows (not re-asked).
#[derive(Default)]
pub struct DeliveryCheck {
    pub checking: bool,
    pub unchanged: u64,
    pub next_ms: u64,
    pub unknown: HashSet<String>,
}

/// The add-contact form.
#[derive(Default)]
pub struct ContactForm {
    pub name: String,
    pub identity: String,
    pub error: Option<String>,
    pub hint: Option<String>,
    pub saving: bool,
}

/// The compose form and `#send-status`.
#[derive(Default)]
pub struct Compose {
    pub body: String,
    pub sending: bool,
    pub status: Option<(StatusKind, String)>,
    /// The message composed last (msg_id, recipient name, storage warning): `#send-status`
    /// follows its delivery.
    pub last: Option<(String, String, Option<String>)>,
}

/// Multi-tab re-reads: the newest generation, and what to do after it.
#[derive(Default)]
pub struct Reload {
    pub gen: u64,
    pub drain_after: bool,
    pub poll_after: bool,
    /// The last status announced to followers (leader).
    pub announced: Option<TabMsg>,
}

pub struct DmState {
    pub me: Option<PublicIdentity>,
    pub created: bool,
    pub fatal: Option<String>,
    pub role: Role,
    pub db_closed: bool,
    pub relay: RelayLink,
    pub inbox_note: Option<String>,
    pub contacts: Vec<Contact>,
    pub messages: Vec<StoredMessage>,
    pub unread: HashMap<String, usize>,
    pub view: View,
    pub outbox: Outbox,
    pub delivery: DeliveryCheck,
    pub form: ContactForm,
    pub compose: Compose,
    pub reload: Reload,
    pub copy_status: Option<String>,
    /// The last safety-number scan on the safety view: (contact node id, result).
    pub safety_scan: Option<(String, crate::model::qr::SafetyScan)>,
    /// Element id to focus after the next render.
    pub focus: Option<&'static str>,
    /// Scroll the message list to the end after the next render.
    pub scroll_messages: bool,
    /// Queued effects, taken by the component after each action.
    fx: Vec<Effect>,
}

impl Default for DmState {
    fn default() -> Self {
        DmState {
            me: None,
            created: false,
            fatal: None,
            role: Role::Pending,
            db_closed: false,
            relay: RelayLink {
                state: RelayState::Checking,
                error: None,
                registered: false,
                registering: false,
                polling: false,
                ticks: 0,
                last_check: None,
                contacts_registered: None,
            },
            inbox_note: None,
            contacts: Vec::new(),
            messages: Vec::new(),
            unread: HashMap::new(),
            view: View::All,
            outbox: Outbox::default(),
            delivery: DeliveryCheck::default(),
            form: ContactForm::default(),
            compose: Compose::default(),
            reload: Reload::default(),
            copy_status: None,
            safety_scan: None,
            focus: None,
            scroll_messages: false,
            fx: Vec::new(),
        }
    }
}

impl DmState {
    /// Identity loaded and DH key registered (`#app-ready[data-ready]`).
    pub fn ready(&self) -> bool {
        self.me.is_some() && self.relay.registered
    }

    /// Identity, contacts and messages read from storage (a view can be picked).
    pub fn loaded(&self) -> bool {
        self.me.is_some()
    }

    pub fn contact(&self, node_id: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.node_id == node_id)
    }

    pub fn contact_name_of(&self, node_id: &str) -> String {
        label_of(&self.contacts, node_id)
    }

    /// The effects queued by the last actions, oldest first.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.fx)
    }

    pub(super) fn fx(&mut self, e: Effect) {
        self.fx.push(e);
    }

    pub(super) fn post(&mut self, m: TabMsg) {
        self.fx(Effect::Post(m));
    }

    /// Apply one action; true when the view must re-render.
    pub fn reduce(&mut self, action: Action, env: &Env) -> bool {
        match action {
            Action::Loaded(Err(e)) => {
                self.fatal = Some(e);
                true
            }
            Action::Loaded(Ok(l)) => {
                self.me = Some(l.identity.public());
                self.created = l.created;
                self.contacts = l.contacts;
                self.messages = l.messages;
                self.outbox.entries = l.outbox;
                self.scroll_messages = true;
                self.fx(Effect::Start);
                self.start_register();
                true
            }
            Action::Registered(r) => self.on_registered(r),
            Action::ContactsRegistered(r) => {
                match r {
                    Ok(n) => self.relay.contacts_registered = Some(n),
                    Err(e) => self.relay_failed(&e),
                }
                true
            }
            Action::Tick => self.on_tick(env),
            Action::DeliveryChecked(r) => self.on_delivery_checked(r, env),
            Action::CheckNow => {
                self.poll_or_register();
                self.start_flush();
                true
            }
            Action::BrowserOnline => {
                self.outbox.next_retry_ms = 0;
                self.poll_or_register();
                self.start_flush();
                false
            }
            Action::BrowserOffline => {
                self.relay.state = RelayState::Offline;
                true
            }
            Action::Polled(r) => self.on_polled(r, env),
            Action::SetContactName(s) => {
                self.form.name = s;
                false
            }
            Action::SetContactIdentity(s) => {
                self.form.identity = s;
                false
            }
            Action::AddContact => self.add_contact(env),
            Action::ContactSaved(r) => self.on_contact_saved(r),
            Action::ScannedIdentity(text) => self.scanned_identity(text, env),
            Action::ScannedSafety(node, text) => self.scanned_safety(node, &text),
            Action::MarkVerified(node) => self.mark_verified(&node),
            Action::ContactUpdated(r) => self.on_contact_updated(r),
            Action::Select(v) => {
                self.select(v);
                true
            }
            Action::SetBody(s) => {
                self.compose.body = s;
                true
            }
            Action::Send => self.send(env),
            Action::Queued {
                name,
                local,
                entry,
                warn,
            } => self.on_queued(name, local, entry, warn),
            Action::Flushed(attempts) => self.on_flushed(attempts, env),
            Action::PersistFailed(e) => {
                self.inbox_note = Some(format!("Could not save a delivery state change ({e})."));
                true
            }
            Action::Copy => {
                let Some(p) = &self.me else { return false };
                let text = p.to_string();
                self.fx(Effect::Copy(text));
                false
            }
            Action::Copied(ok) => {
                self.copy_status = Some(if ok {
                    "Copied to the clipboard.".into()
                } else {
                    "Selected: press Ctrl+C (⌘C on a Mac) to copy.".into()
                });
                true
            }
            Action::Prefill(identity) => {
                self.prefill(identity);
                true
            }
            Action::Reply(node) => {
                if self.contact(&node).is_some() {
                    self.select(View::Contact(node));
                    self.focus = Some("compose-body");
                } else if let Some(m) = self.messages.iter().find(|m| m.peer_node_id == node) {
                    let id = m.peer_identity.clone();
                    self.prefill(id);
                }
                true
            }
            Action::Role(r) => self.on_role(r),
            Action::Tab(m) => self.on_tab(m),
            Action::Reloaded { gen, data } => self.on_reloaded(gen, data),
            Action::Wrote => {
                self.post(TabMsg::Changed);
                false
            }
            Action::DbVersionChange => {
                self.db_closed = true;
                self.fx(Effect::Resign);
                true
            }
        }
    }

    fn prefill(&mut self, identity: String) {
        self.form.identity = identity;
        self.form.name.clear();
        self.form.error = None;
        self.form.hint = Some("Unknown sender: give them a name to add them as a contact.".into());
        self.focus = Some("contact-name");
    }

    pub(super) fn add_contact(&mut self, env: &Env) -> bool {
        if self.me.is_some() && !self.form.saving && self.readd_contact() {
            return true;
        }
        let Some(me) = self.me.as_ref() else {
            self.form.error = Some("Postern is still starting; try again in a moment.".into());
            return true;
        };
        if self.form.saving {
            return false;
        }
        match crate::model::contacts::parse_contact(
            &self.form.name,
            &self.form.identity,
            me,
            &self.contacts,
            env.now_secs(),
        ) {
            Err(e) => self.form.error = Some(e.to_string()),
            Ok(c) => {
                self.form.error = None;
                self.form.saving = true;
                self.fx(Effect::SaveContact(c));
            }
        }
        true
    }

    fn on_contact_saved(&mut self, r: Result<Contact, String>) -> bool {
        self.form.saving = false;
        match r {
            Ok(c) => {
                self.post(TabMsg::Changed);
                self.form.name.clear();
                self.form.identity.clear();
                self.form.hint = None;
                let node = c.node_id.clone();
                self.contacts.push(c);
                crate::model::sort::sort_by_key(&mut self.contacts, |c| c.name.to_lowercase());
                self.register_contacts();
                self.select(View::Contact(node));
                self.focus = Some("compose-body");
            }
            Err(e) => self.form.error = Some(format!("Could not save the contact: {e}")),
        }
        true
    }

    pub(super) fn select(&mut self, view: View) {
        if let View::Contact(node) = &view {
            self.unread.remove(node);
        } else {
            self.unread.remove("");
        }
        if self.view != view {
            self.compose.status = None;
            self.safety_scan = None;
        }
        self.view = view;
        self.scroll_messages = true;
    }

    /// Count an incoming message as unread unless its conversation is on screen.
    pub(super) fn count_unread(&mut self, peer_node_id: &str) {
        let viewing = match &self.view {
            View::Contact(n) => n == peer_node_id,
            View::All => true,
        };
        if !viewing {
            *self.unread.entry(peer_node_id.to_string()).or_default() += 1;
        }
    }

    pub(super) fn relay_failed(&mut self, e: &RelayError) {
        if e.is_unreachable() {
            self.relay.state = RelayState::Offline;
            self.relay.error = None;
        } else {
            self.relay.state = RelayState::Online;
            self.relay.error = Some(e.to_string());
        }
    }

    /// Follower: `#send-status` follows the delivery state the leader recorded.
    pub(super) fn follow_last_composed(&mut self) {
        use crate::model::messages::{Direction, OutState};
        if duties(self.role).drain_outbox {
            return;
        }
        let Some((id, name, _)) = &self.compose.last else {
            return;
        };
        let Some(m) = self
            .messages
            .iter()
            .find(|m| m.direction == Direction::Out && &m.msg_id == id)
        else {
            return;
        };
        self.compose.status = Some(match (m.state, &m.error) {
            (OutState::Sent, _) => (StatusKind::Ok, format!("Message sent to {name}.")),
            (OutState::Delivered, _) => (
                StatusKind::Ok,
                format!("Message sent to {name} and delivered."),
            ),
            (_, Some(e)) => (StatusKind::Error, e.clone()),
            (OutState::Failed, None) => (StatusKind::Error, "The relay refused it.".into()),
            (OutState::Queued, None) if self.relay.state != RelayState::Online => {
                (StatusKind::Pending, wording::explain_queued())
            }
            (OutState::Queued, None) => (StatusKind::Pending, "Sending…".into()),
        });
    }
}
