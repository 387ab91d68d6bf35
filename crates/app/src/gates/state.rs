//! Private-gates state and its reducer: [`GatesState::reduce`] applies an [`Action`] and queues
//! the [`Effect`]s it needs (run by the component through `gates::effects`). Every rule (epoch
//! chain, rosters, sealing, author verification) is core's, via `model::gates`.
use std::cell::RefCell;
use std::rc::Rc;
use std::str::FromStr;

use postern_core::gate::{self, rotate, EpochRecord, Reason, Role};
use postern_core::{Identity, PublicIdentity};
use rand_core::OsRng;

use crate::model::contacts::{label_of, Contact};
use crate::model::delivery::RelayError;
use crate::model::gate_stream::GateStreams;
use crate::model::gates::{
    invite_code, parse_invite, Derived, QueuedPost, StoredGate, StoredGateMessage,
};
use crate::model::tabs::TabMsg;

/// A gate's message streams (core's per-author tracker and the seq each message was kept
/// under), shared by the state and the rounds in flight so every opened message is judged
/// exactly once (see `model::gate_stream`).
pub type Streams = Rc<RefCell<GateStreams>>;

/// A gate as this tab holds it: stored entry, epoch records, opened messages (one per nonce,
/// in the relay's order), their streams, and what the verified chain means for me.
pub struct GateRt {
    pub meta: StoredGate,
    pub records: Vec<EpochRecord>,
    pub messages: Vec<StoredGateMessage>,
    pub streams: Streams,
    pub derived: Option<Rc<Derived>>,
    pub error: Option<String>,
}

impl GateRt {
    pub fn new(meta: StoredGate, records: Vec<EpochRecord>, derived: Option<Rc<Derived>>) -> Self {
        GateRt {
            meta,
            records,
            messages: Vec::new(),
            streams: Streams::default(),
            derived,
            error: None,
        }
    }
}

/// One gate's sync round: its new entry, chain and opened messages.
pub struct SyncOut {
    pub gate_id: String,
    pub meta: StoredGate,
    /// The fetched chain when it is the pinned one or a strict extension of it; `None` when
    /// the relay served a rollback or a fork (`meta.alarm` says which; the pinned chain stays).
    pub records: Option<Vec<EpochRecord>>,
    pub new_messages: Vec<StoredGateMessage>,
    /// Nonces of every message read from the relay (settles queued posts).
    pub seen: Vec<String>,
}

/// A gate the relay lists for me that I have not joined; its chain is verified by core.
pub struct Discovered {
    pub gate_id: String,
    pub genesis_hash: String,
    pub records: Vec<EpochRecord>,
    pub derived: Rc<Derived>,
}

/// A pending invitation (the inviter is not a contact): joins only on Accept.
pub struct Invitation {
    pub found: Discovered,
    pub inviter: String,
}

/// One drain attempt: nonce, relay answer, the opened message stored for a sent post.
pub type DrainResult = (String, Result<u64, RelayError>, Option<StoredGateMessage>);

/// One gate's sync job: its entry, the hashes of its pinned (verified, stored) chain and its
/// streams.
pub type SyncJob = (StoredGate, Vec<[u8; 32]>, Streams);

/// What a drain round needs of a gate: its id, verified keys and streams.
pub type DrainKey = (String, Rc<Derived>, Streams);

/// A post composed here, to be sealed under my next counter and queued (see `Effect::SealPost`).
pub struct Compose {
    pub gate: String,
    pub body: String,
    pub timestamp: u64,
    pub queued_at: u64,
    pub derived: Rc<Derived>,
    /// The highest counter of mine seen in the gate.
    pub seen: Option<u64>,
}

pub enum Action {
    /// Re-read from IndexedDB: outbox generation at the start, gates, outbox.
    Loaded(u64, Vec<GateRt>, Vec<QueuedPost>),
    Drained(Vec<DrainResult>),
    /// A post composed here was stored (true) or could not be (false).
    Queued(bool),
    /// A post composed here was sealed under my next counter and stored (or why not).
    PostQueued(Result<QueuedPost, String>),
    /// This tab wrote a gate to IndexedDB: tell the other tabs, get it synced.
    Stored,
    /// This tab became the leader (the session's role changed).
    BecameLeader,
    Tab(TabMsg),
    Tick,
    Synced(
        Vec<Result<SyncOut, (String, String)>>,
        Option<Vec<Discovered>>,
    ),
    Accept(String),
    Ignore(String),
    SetName(String),
    Create,
    Created(Result<(StoredGate, EpochRecord), String>),
    SetJoinCode(String),
    SetJoinName(String),
    Join,
    Select(String),
    SetInvitee(String),
    Invite,
    Remove(String),
    Promote(String),
    CopyInvite,
    Copied(bool),
    Rotated(Result<(), String>),
    SetBody(String),
    Send,
}

/// I/O a state change asks for; each async one answers with an [`Action`].
pub enum Effect {
    /// Re-read gates, epochs, messages and the outbox (→ `Loaded(gen, …)`).
    Reload(u64),
    /// Send the stored outbox (→ `Drained`); the keys open sent posts and hold back posts
    /// sealed under an epoch older than their head (re-sealed by the next sync); posts of the
    /// held gates (chain alarm) are not sent.
    Drain(Vec<DrainKey>, Vec<String>),
    /// Discovery + sync of every gate (→ `Synced`).
    Sync {
        jobs: Vec<SyncJob>,
        skip: Vec<String>,
        queued: Vec<String>,
    },
    /// Store a joined gate's entry and verified records (→ `Stored`).
    StoreGate {
        meta: StoredGate,
        records: Vec<EpochRecord>,
    },
    /// Create a gate: genesis, publish, store (→ `Created`).
    Create(String),
    /// Publish a rotation record (→ `Rotated`).
    Publish(Result<EpochRecord, String>),
    /// Take my next counter of the gate, seal the post with it and store it as its own record,
    /// in one IndexedDB transaction (→ `PostQueued`).
    SealPost(Compose),
    /// Delete the queued post `drop` and store its re-sealed copy `put` if any (→ `Queued`).
    Requeue {
        drop: String,
        put: Option<QueuedPost>,
    },
    /// Copy an invite code (→ `Copied`).
    Copy(String),
    Post(TabMsg),
}

/// What the reducer reads from outside: the session and the clock.
pub struct Env<'a> {
    pub identity: &'a Identity,
    pub contacts: &'a [Contact],
    pub leader: bool,
    pub now_ms: u64,
}

impl Env<'_> {
    pub fn now_secs(&self) -> u64 {
        self.now_ms / 1000
    }

    /// "You", a contact's name, or the short node id.
    pub fn name_of(&self, node: &str) -> String {
        if node == self.identity.node_id() {
            return "You".into();
        }
        label_of(self.contacts, node)
    }
}

/// The forms of the panel.
#[derive(Default)]
pub struct Forms {
    pub name: String,
    pub join_code: String,
    pub join_name: String,
    pub invitee: String,
    pub body: String,
}

/// The gate outbox as this tab sees it, and its retry schedule (leader).
#[derive(Default)]
pub struct PostOutbox {
    pub posts: Vec<QueuedPost>,
    pub draining: bool,
    pub drain_again: bool,
    pub failures: u64,
    pub next_try_ms: u64,
    /// Bumped whenever the stored outbox changes under this tab's hands: a reload begun
    /// before is stale for the outbox.
    pub gen: u64,
}

/// Rounds in flight and what to run after them.
pub struct Rounds {
    pub syncing: bool,
    pub sync_again: bool,
    pub reloading: bool,
    pub reload_again: bool,
    pub drain_after_reload: bool,
    pub sync_after_reload: bool,
}

pub struct GatesState {
    pub gates: Vec<GateRt>,
    pub selected: Option<String>,
    pub forms: Forms,
    pub busy: bool,
    pub status: Option<String>,
    pub invitations: Vec<Invitation>,
    pub copy_status: Option<String>,
    /// Invitations ignored in this session (asked again after a reload).
    pub ignored: Vec<String>,
    pub outbox: PostOutbox,
    pub rounds: Rounds,
    fx: Vec<Effect>,
}

impl Default for GatesState {
    fn default() -> Self {
        GatesState {
            gates: Vec::new(),
            selected: None,
            forms: Forms::default(),
            busy: false,
            status: None,
            invitations: Vec::new(),
            copy_status: None,
            ignored: Vec::new(),
            outbox: PostOutbox::default(),
            rounds: Rounds {
                syncing: false,
                sync_again: false,
                reloading: false,
                reload_again: false,
                drain_after_reload: true,
                sync_after_reload: true,
            },
            fx: Vec::new(),
        }
    }
}

impl GatesState {
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.fx)
    }

    pub(super) fn fx(&mut self, e: Effect) {
        self.fx.push(e);
    }

    pub(super) fn post(&mut self, m: TabMsg) {
        self.fx(Effect::Post(m));
    }

    /// The selected gate.
    pub fn sel(&self) -> Option<&GateRt> {
        let s = self.selected.as_ref()?;
        self.gates.iter().find(|g| &g.meta.gate_id == s)
    }

    /// Leader: sync now. Follower: ask the leader (it re-reads IndexedDB, then syncs).
    fn request_sync(&mut self, env: &Env) {
        if env.leader {
            self.start_sync(env);
        } else {
            self.post(TabMsg::Drain);
        }
    }

    /// Apply one action; true when the view must re-render.
    pub fn reduce(&mut self, action: Action, env: &Env) -> bool {
        match action {
            Action::Loaded(gen, gs, queued) => self.on_loaded(gen, gs, queued, env),
            Action::PostQueued(r) => {
                let ok = match r {
                    Ok(p) => {
                        if !self
                            .outbox
                            .posts
                            .iter()
                            .any(|x| x.message.nonce == p.message.nonce)
                        {
                            self.outbox.posts.push(p);
                        }
                        self.status = Some("Queued: posting…".into());
                        true
                    }
                    Err(e) => {
                        self.status = Some(format!("Could not queue the post: {e}"));
                        false
                    }
                };
                self.reduce(Action::Queued(ok), env)
            }
            Action::Queued(ok) => {
                self.outbox.gen += 1;
                if !ok {
                    self.status = Some("Could not store the post in this browser.".into());
                } else if env.leader {
                    self.outbox.next_try_ms = 0;
                    self.drain(env);
                } else {
                    self.post(TabMsg::Drain);
                }
                true
            }
            Action::Stored => {
                if env.leader {
                    self.post(TabMsg::Changed);
                    self.start_sync(env);
                } else {
                    self.post(TabMsg::Drain);
                }
                false
            }
            Action::BecameLeader => {
                // Took over: re-read what the old leader left, then sync and drain.
                self.rounds.drain_after_reload = true;
                self.rounds.sync_after_reload = true;
                self.reload();
                true
            }
            Action::Tab(m) => {
                match m {
                    TabMsg::Drain | TabMsg::Check => {
                        self.rounds.drain_after_reload = true;
                        self.rounds.sync_after_reload = true;
                    }
                    TabMsg::Changed => {}
                    _ => return false,
                }
                self.reload();
                false
            }
            Action::Tick => {
                self.start_sync(env);
                if !self.outbox.posts.is_empty() && env.now_ms >= self.outbox.next_try_ms {
                    self.drain(env);
                }
                false
            }
            Action::Synced(results, found) => self.on_synced(results, found, env),
            Action::Drained(results) => self.on_drained(results, env),
            Action::Accept(id) => {
                if let Some(i) = self.invitations.iter().position(|i| i.found.gate_id == id) {
                    let inv = self.invitations.remove(i);
                    self.selected = Some(id);
                    self.join_found(inv.found, &inv.inviter, env);
                }
                true
            }
            Action::Ignore(id) => {
                self.invitations.retain(|i| i.found.gate_id != id);
                self.ignored.push(id);
                true
            }
            Action::SetName(v) => {
                self.forms.name = v;
                false
            }
            Action::Create => {
                let name = self.forms.name.trim().to_string();
                if name.is_empty() {
                    self.status = Some("Give the gate a name.".into());
                    return true;
                }
                self.busy = true;
                self.fx(Effect::Create(name));
                true
            }
            Action::Created(r) => self.on_created(r, env),
            Action::SetJoinCode(v) => {
                self.forms.join_code = v;
                false
            }
            Action::SetJoinName(v) => {
                self.forms.join_name = v;
                false
            }
            Action::Join => self.join(env),
            Action::Select(id) => {
                self.selected = Some(id);
                true
            }
            Action::SetInvitee(v) => {
                self.forms.invitee = v;
                false
            }
            Action::Invite => self.invite(env),
            Action::Remove(node) => {
                self.start_rotation(env, move |roster| {
                    let r = roster.without_member(&node).map_err(|e| e.to_string())?;
                    Ok((r, Reason::Kick))
                });
                true
            }
            Action::Promote(node) => {
                self.start_rotation(env, move |roster| {
                    let e = roster
                        .get(&node)
                        .ok_or("not a member of the current epoch")?;
                    let r = roster
                        .with_member(e.identity().clone(), Role::Admin)
                        .map_err(|e| e.to_string())?;
                    Ok((r, Reason::Rotate))
                });
                true
            }
            Action::CopyInvite => {
                let Some(g) = self.sel() else { return false };
                let code = invite_code(&g.meta.gate_id, &g.meta.genesis_hash);
                self.fx(Effect::Copy(code));
                false
            }
            Action::Copied(ok) => {
                self.copy_status = Some(if ok {
                    "Invite code copied.".into()
                } else {
                    "Copy failed: select the code and copy it by hand.".into()
                });
                true
            }
            Action::Rotated(r) => {
                self.busy = false;
                self.status = Some(match r {
                    Ok(()) => "New epoch published.".into(),
                    Err(e) => format!("Rotation failed: {e}"),
                });
                self.request_sync(env);
                true
            }
            Action::SetBody(v) => {
                self.forms.body = v;
                false
            }
            Action::Send => self.send(env),
        }
    }

    fn on_created(&mut self, r: Result<(StoredGate, EpochRecord), String>, env: &Env) -> bool {
        self.busy = false;
        match r {
            Ok((meta, rec)) => {
                let records = vec![rec];
                let derived = crate::model::gates::derive_shared(env.identity, &meta, &records);
                self.selected = Some(meta.gate_id.clone());
                self.status = Some(format!("Gate “{}” created.", meta.name));
                self.gates.push(GateRt::new(meta, records, derived));
                self.forms.name.clear();
                self.post(TabMsg::Changed);
            }
            Err(e) => self.status = Some(format!("Could not create the gate: {e}")),
        }
        true
    }

    fn join(&mut self, env: &Env) -> bool {
        match parse_invite(&self.forms.join_code) {
            Ok((gid, hash)) => {
                if !self.gates.iter().any(|g| g.meta.gate_id == gid) {
                    let name = match self.forms.join_name.trim() {
                        "" => format!("gate {}", &gid[..8]),
                        n => n.to_string(),
                    };
                    let meta = StoredGate {
                        gate_id: gid.clone(),
                        name,
                        genesis_hash: hash,
                        after: 0,
                        added_at: env.now_ms,
                        alarm: None,
                        hidden: Default::default(),
                        invited_by: None,
                    };
                    self.fx(Effect::StoreGate {
                        meta: meta.clone(),
                        records: Vec::new(),
                    });
                    self.gates.push(GateRt::new(meta, Vec::new(), None));
                }
                self.invitations.retain(|i| i.found.gate_id != gid);
                self.selected = Some(gid);
                self.forms.join_code.clear();
                self.forms.join_name.clear();
                self.status = Some("Joining: fetching and verifying the gate's epochs…".into());
                self.start_sync(env);
            }
            Err(e) => self.status = Some(e),
        }
        true
    }

    fn invite(&mut self, env: &Env) -> bool {
        let name = if self.forms.invitee.is_empty() {
            env.contacts
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_default()
        } else {
            self.forms.invitee.clone()
        };
        let Some(c) = env.contacts.iter().find(|c| c.name == name).cloned() else {
            self.status = Some("Pick a contact to invite.".into());
            return true;
        };
        self.start_rotation(env, move |roster| {
            let p = PublicIdentity::from_str(&c.identity).map_err(|e| e.to_string())?;
            let r = roster
                .with_member(p, Role::Member)
                .map_err(|e| e.to_string())?;
            Ok((r, Reason::Join))
        });
        true
    }

    /// Rotate the selected gate to the roster `change` returns and publish the record.
    fn start_rotation(
        &mut self,
        env: &Env,
        change: impl FnOnce(&gate::Roster) -> Result<(gate::Roster, Reason), String>,
    ) {
        let Some(g) = self.sel() else { return };
        let Some(d) = g.derived.clone() else {
            self.status = Some("The gate is not synced yet.".into());
            return;
        };
        if g.meta.alarm.is_some() {
            self.status = Some("Not while the relay serves an altered epoch chain.".into());
            return;
        }
        let rec = change(d.head().roster()).and_then(|(roster, reason)| {
            rotate(
                env.identity,
                d.head(),
                roster,
                reason,
                env.now_secs(),
                &mut OsRng,
            )
            .map_err(|e| e.to_string())
        });
        self.busy = true;
        self.fx(Effect::Publish(rec));
    }

    /// Seal the composed post under the current epoch key with my next counter and queue it
    /// (its own record; the counter is taken in the same IndexedDB transaction).
    fn send(&mut self, env: &Env) -> bool {
        let Some(g) = self.sel() else { return false };
        let gate_id = g.meta.gate_id.clone();
        let Some(d) = g.derived.clone() else {
            self.status = Some("The gate is not synced yet.".into());
            return true;
        };
        if g.meta.alarm.is_some() {
            self.status =
                Some("Posting is disabled while the relay serves an altered epoch chain.".into());
            return true;
        }
        let seen = g.streams.borrow().last_counter(&env.identity.node_id());
        let body = std::mem::take(&mut self.forms.body);
        if body.trim().is_empty() {
            return true;
        }
        // Stored as its own record first; then sent by the leader tab.
        self.status = Some("Queued: posting…".into());
        self.fx(Effect::SealPost(Compose {
            gate: gate_id,
            body,
            timestamp: env.now_secs(),
            queued_at: env.now_ms,
            derived: d,
            seen,
        }));
        true
    }
}
