//! Private gates panel. Every rule (epoch chain, rosters, key wrapping, sealing, author
//! verification) is core's `postern_core::gate`; this module only moves records between the
//! relay, IndexedDB and the screen.
use std::rc::Rc;

use gloo_timers::callback::Interval;
use postern_core::gate::{
    self, create_genesis, rotate, verify_epoch_chain, Epoch, EpochRecord, GateError, GateId,
    GateKeyring, GateMessage, Reason, Role,
};
use postern_core::{Identity, PublicIdentity};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::logic;
use crate::relay::{self, now_millis, now_secs, RelayError};
use crate::storage::{Contact, Storage, StoredGate, StoredGateMessage};
use crate::tabs::{self, TabMsg};

/// Invite code prefix: `postern-gate1.<gate_id>.<genesis_hash>`.
pub const INVITE_PREFIX: &str = "postern-gate1.";
const GATE_POLL_MS: u32 = 4_000;
const PAGE: u32 = 100;
const MAX_PAGES: usize = 5;

pub fn hex32(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn invite_code(gate_id: &str, genesis_hash: &str) -> String {
    format!("{INVITE_PREFIX}{gate_id}.{genesis_hash}")
}

/// Parse an invite code into (gate id, genesis hash hex).
pub fn parse_invite(code: &str) -> Result<(String, String), String> {
    let rest = code
        .trim()
        .strip_prefix(INVITE_PREFIX)
        .ok_or_else(|| format!("An invite code starts with {INVITE_PREFIX}"))?;
    let (gid, hash) = rest
        .split_once('.')
        .ok_or("The invite code is incomplete.")?;
    let gid = GateId::parse(gid).map_err(|e| e.to_string())?;
    if hash.len() != 64
        || !hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("The genesis hash in the invite code is malformed.".into());
    }
    Ok((gid.to_string(), hash.to_string()))
}

/// What a verified chain means for me.
pub struct Derived {
    pub epochs: Vec<Epoch>,
    pub keyring: GateKeyring,
    /// Epoch at which I was removed (first epoch without me after one with me).
    pub removed_at: Option<u64>,
}

impl Derived {
    pub fn head(&self) -> &Epoch {
        self.epochs.last().expect("verified chain is never empty")
    }
}

/// Verify a chain with core, check it is the gate of the invite, unlock my epoch keys.
pub fn derive(
    me: &Identity,
    gate_id: &str,
    genesis_hash: &str,
    records: &[EpochRecord],
) -> Result<Derived, String> {
    let state = verify_epoch_chain(records).map_err(|e| e.to_string())?;
    if state.gate().as_str() != gate_id {
        return Err(GateError::WrongGate.to_string());
    }
    if hex32(state.genesis_hash()) != genesis_hash {
        return Err("the gate's genesis does not match the invite code".into());
    }
    let mut keyring = GateKeyring::new(state.gate().clone());
    let mut epochs = Vec::with_capacity(records.len());
    let mut was_member = false;
    let mut removed_at = None;
    for r in records {
        let e = r.verify().map_err(|e| e.to_string())?;
        match keyring.add_epoch(me, &e) {
            Ok(_) => {
                was_member = true;
                removed_at = None;
            }
            Err(GateError::NotAMember { epoch }) => {
                if was_member && removed_at.is_none() {
                    removed_at = Some(epoch);
                }
            }
            Err(e) => return Err(e.to_string()),
        }
        epochs.push(e);
    }
    Ok(Derived {
        epochs,
        keyring,
        removed_at,
    })
}

pub struct GateRt {
    pub meta: StoredGate,
    pub records: Vec<EpochRecord>,
    pub messages: Vec<StoredGateMessage>,
    pub derived: Option<Rc<Derived>>,
    pub error: Option<String>,
}

#[derive(Properties)]
pub struct Props {
    pub storage: Rc<Storage>,
    pub identity: Rc<Identity>,
    pub contacts: Vec<Contact>,
    /// This tab is the writer (`tabs::duties(role).sync`): only the leader syncs gates and
    /// drains the gate outbox; the others read IndexedDB and forward work over `tabs`.
    #[prop_or(true)]
    pub leader: bool,
}

impl PartialEq for Props {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.storage, &o.storage)
            && Rc::ptr_eq(&self.identity, &o.identity)
            && self.contacts == o.contacts
            && self.leader == o.leader
    }
}

pub struct SyncOut {
    gate_id: String,
    meta: StoredGate,
    records: Vec<EpochRecord>,
    new_messages: Vec<StoredGateMessage>,
    /// Nonces of every message read from the relay (settles queued posts).
    seen: Vec<String>,
}

/// A sealed gate post waiting for the relay (gate outbox). Only the sealed message is stored;
/// the text shown while queued is opened again with my keyring. The relay deduplicates a retry
/// by (gate, nonce), so a post is stored once however often it is sent.
#[derive(Clone, Serialize, Deserialize)]
pub struct QueuedPost {
    pub gate: String,
    pub message: GateMessage,
    pub queued_at: u64,
}

/// Open one of my gate messages into its stored (verified) form.
pub fn opened(gate_id: &str, seq: u64, d: &Derived, m: &GateMessage) -> Option<StoredGateMessage> {
    let o = d.keyring.open(m).ok()?;
    Some(StoredGateMessage {
        gate: gate_id.to_string(),
        seq,
        epoch: o.epoch,
        sender: o.member_id.clone(),
        timestamp: o.timestamp,
        body: o.text().ok()?.to_string(),
    })
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
type DrainResult = (String, Result<u64, RelayError>, Option<StoredGateMessage>);

pub enum Msg {
    /// Re-read from IndexedDB: outbox generation at the start, gates, outbox.
    Loaded(u64, Vec<GateRt>, Vec<QueuedPost>),
    Drained(Vec<DrainResult>),
    /// A post composed here was stored (true) or could not be (false).
    Queued(bool),
    /// This tab wrote a gate to IndexedDB: tell the other tabs, get it synced.
    Stored,
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

pub struct Gates {
    gates: Vec<GateRt>,
    selected: Option<String>,
    syncing: bool,
    sync_again: bool,
    name: String,
    join_code: String,
    join_name: String,
    invitee: String,
    body: String,
    busy: bool,
    status: Option<String>,
    invitations: Vec<Invitation>,
    copy_status: Option<String>,
    /// Invitations ignored in this session (asked again after a reload).
    ignored: Vec<String>,
    outbox: Vec<QueuedPost>,
    draining: bool,
    out_failures: u64,
    next_try_ms: u64,
    drain_again: bool,
    /// Bumped whenever the stored outbox changes under this tab's hands: a reload begun
    /// before is stale for the outbox.
    out_gen: u64,
    reloading: bool,
    reload_again: bool,
    drain_after_reload: bool,
    sync_after_reload: bool,
    channel: Option<tabs::Channel>,
    _timer: Option<Interval>,
}

/// The stored gate outbox (one `meta` record per queued post), oldest first.
pub async fn read_outbox(s: &Storage) -> Vec<QueuedPost> {
    let mut v: Vec<QueuedPost> = s
        .gate_posts()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect();
    v.sort_by(|a, b| (a.queued_at, &a.message.nonce).cmp(&(b.queued_at, &b.message.nonce)));
    v
}

async fn load(storage: Rc<Storage>) -> Vec<GateRt> {
    let metas = storage.gates().await.unwrap_or_default();
    let records = storage.gate_epochs().await.unwrap_or_default();
    let msgs = storage.gate_messages().await.unwrap_or_default();
    metas
        .into_iter()
        .map(|meta| {
            let recs: Vec<EpochRecord> = records
                .iter()
                .filter(|r| r.gate == meta.gate_id)
                .cloned()
                .collect();
            GateRt {
                messages: msgs
                    .iter()
                    .filter(|m| m.gate == meta.gate_id)
                    .cloned()
                    .collect(),
                records: recs,
                derived: None,
                error: None,
                meta,
            }
        })
        .collect()
}

/// Fetch the chain (signed read), verify it with core, persist it, then fetch, open and
/// persist new messages.
async fn sync_gate(
    storage: Rc<Storage>,
    me: Rc<Identity>,
    mut meta: StoredGate,
    known: usize,
) -> Result<SyncOut, String> {
    let resp = relay::gate_epochs(&me, &meta.gate_id)
        .await
        .map_err(|e| e.to_string())?;
    let records = resp.records;
    let derived = derive(&me, &meta.gate_id, &meta.genesis_hash, &records)?;
    for r in records.iter().skip(known.min(records.len())) {
        storage.put_gate_epoch(r).await.map_err(|e| e.to_string())?;
    }
    let mut new_messages = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = relay::gate_messages(&me, &meta.gate_id, meta.after, PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let n = page.messages.len();
        for sm in page.messages {
            seen.push(sm.message.nonce.clone());
            if let Some(m) = opened(&meta.gate_id, sm.seq, &derived, &sm.message) {
                storage
                    .put_gate_message(&m)
                    .await
                    .map_err(|e| e.to_string())?;
                new_messages.push(m);
            }
        }
        meta.after = page.next_after.max(meta.after);
        if n < PAGE as usize {
            break;
        }
    }
    storage.put_gate(&meta).await.map_err(|e| e.to_string())?;
    Ok(SyncOut {
        gate_id: meta.gate_id.clone(),
        meta,
        records,
        new_messages,
        seen,
    })
}

/// Ask the relay which gates list me (signed `gate.list`), and for each one not in `skip`
/// fetch its chain (signed `gate.read`) and verify it with core against the listed genesis.
/// A listing or chain that fails is skipped: nothing is offered that core did not verify.
/// `None` when the listing itself failed (pending invitations are then kept as they are).
async fn discover(me: Rc<Identity>, skip: Vec<String>) -> Option<Vec<Discovered>> {
    let Ok(mine) = relay::gate_mine(&me).await else {
        return None;
    };
    let mut out = Vec::new();
    for g in mine.gates {
        if !g.current_member || skip.contains(&g.gate) {
            continue;
        }
        let Ok(resp) = relay::gate_epochs(&me, &g.gate).await else {
            continue;
        };
        if let Ok(d) = derive(&me, &g.gate, &g.genesis_hash, &resp.records) {
            out.push(Discovered {
                gate_id: g.gate,
                genesis_hash: g.genesis_hash,
                records: resp.records,
                derived: Rc::new(d),
            });
        }
    }
    Some(out)
}

impl Gates {
    /// Join a discovered gate: persist its verified chain and local entry, then sync messages.
    fn join_found(&mut self, ctx: &Context<Self>, found: Discovered, inviter: &str) {
        if self.gates.iter().any(|g| g.meta.gate_id == found.gate_id) {
            return;
        }
        let meta = StoredGate {
            gate_id: found.gate_id.clone(),
            name: format!("{} · {}", self.name_of(ctx, inviter), &found.gate_id[..8]),
            genesis_hash: found.genesis_hash,
            after: 0,
            added_at: now_millis(),
        };
        let storage = ctx.props().storage.clone();
        let (m2, recs) = (meta.clone(), found.records.clone());
        ctx.link().send_future_batch(async move {
            for r in &recs {
                let _ = storage.put_gate_epoch(r).await;
            }
            let _ = storage.put_gate(&m2).await;
            vec![Msg::Stored]
        });
        if self.selected.is_none() {
            self.selected = Some(found.gate_id.clone());
        }
        self.gates.push(GateRt {
            meta,
            records: found.records,
            messages: Vec::new(),
            derived: Some(found.derived),
            error: None,
        });
    }

    fn post(&self, m: TabMsg) {
        if let Some(c) = &self.channel {
            c.post(&m);
        }
    }

    /// Re-read gates, epochs, messages and the outbox from IndexedDB.
    fn reload(&mut self, ctx: &Context<Self>) {
        if self.reloading {
            self.reload_again = true;
            return;
        }
        self.reloading = true;
        let (s, gen) = (ctx.props().storage.clone(), self.out_gen);
        ctx.link().send_future(async move {
            let queued = read_outbox(&s).await;
            Msg::Loaded(gen, load(s).await, queued)
        });
    }

    /// Leader: sync now. Follower: ask the leader (it re-reads IndexedDB, then syncs).
    fn request_sync(&mut self, ctx: &Context<Self>) {
        if ctx.props().leader {
            self.start_sync(ctx);
        } else {
            self.post(TabMsg::Drain);
        }
    }

    /// Leader only: send every stored queued post (any tab's), oldest first; stop at the first
    /// unreachable answer. A settled post's record is deleted (and a sent one's opened message
    /// stored) before the round reports, so the next round never sends it again.
    fn drain(&mut self, ctx: &Context<Self>) {
        if !ctx.props().leader {
            return;
        }
        if self.draining {
            self.drain_again = true;
            return;
        }
        self.draining = true;
        self.drain_again = false;
        let storage = ctx.props().storage.clone();
        let keys: Vec<(String, Rc<Derived>)> = self
            .gates
            .iter()
            .filter_map(|g| Some((g.meta.gate_id.clone(), g.derived.clone()?)))
            .collect();
        ctx.link().send_future(async move {
            let mut out = Vec::new();
            for p in read_outbox(&storage).await {
                let r = relay::gate_post_message(&p.message).await.map(|r| r.seq);
                let nonce = p.message.nonce.clone();
                let mut stored = None;
                match &r {
                    Ok(seq) => {
                        stored = keys
                            .iter()
                            .find(|(g, _)| *g == p.gate)
                            .and_then(|(_, d)| opened(&p.gate, *seq, d, &p.message));
                        if let Some(m) = &stored {
                            let _ = storage.put_gate_message(m).await;
                        }
                        let _ = storage.delete_gate_post(&nonce).await;
                    }
                    Err(e) if logic::is_permanent_gate_post_error(e) => {
                        let _ = storage.delete_gate_post(&nonce).await;
                    }
                    Err(_) => {}
                }
                let stop = matches!(r, Err(RelayError::Unreachable(_)));
                out.push((nonce, r, stored));
                if stop {
                    break;
                }
            }
            Msg::Drained(out)
        });
    }

    fn sel(&self) -> Option<&GateRt> {
        let s = self.selected.as_ref()?;
        self.gates.iter().find(|g| &g.meta.gate_id == s)
    }

    fn name_of(&self, ctx: &Context<Self>, node: &str) -> String {
        if node == ctx.props().identity.node_id() {
            return "You".into();
        }
        logic::contact_name(&ctx.props().contacts, node)
            .map(str::to_string)
            .unwrap_or_else(|| logic::short_node_id(node))
    }

    /// Leader only: gate discovery and sync (relay → IndexedDB).
    fn start_sync(&mut self, ctx: &Context<Self>) {
        if !ctx.props().leader {
            return;
        }
        if self.syncing {
            self.sync_again = true;
            return;
        }
        self.syncing = true;
        self.sync_again = false;
        let storage = ctx.props().storage.clone();
        let me = ctx.props().identity.clone();
        let jobs: Vec<(StoredGate, usize)> = self
            .gates
            .iter()
            .map(|g| (g.meta.clone(), g.records.len()))
            .collect();
        let skip: Vec<String> = self
            .gates
            .iter()
            .map(|g| g.meta.gate_id.clone())
            .chain(self.ignored.iter().cloned())
            .collect();
        let queued: Vec<String> = self
            .outbox
            .iter()
            .map(|p| p.message.nonce.clone())
            .collect();
        ctx.link().send_future(async move {
            let found = discover(me.clone(), skip).await;
            let mut out = Vec::new();
            for (meta, known) in jobs {
                let id = meta.gate_id.clone();
                let r = sync_gate(storage.clone(), me.clone(), meta, known).await;
                if let Ok(o) = &r {
                    // Queued posts the relay already has are settled.
                    for n in o.seen.iter().filter(|n| queued.contains(n)) {
                        let _ = storage.delete_gate_post(n).await;
                    }
                }
                out.push(r.map_err(|e| (id, e)));
            }
            Msg::Synced(out, found)
        });
    }

    /// Rotate the selected gate to `roster` and publish the record.
    fn start_rotation(
        &mut self,
        ctx: &Context<Self>,
        change: impl FnOnce(&gate::Roster) -> Result<(gate::Roster, Reason), String> + 'static,
    ) {
        let Some(g) = self.sel() else { return };
        let Some(d) = g.derived.clone() else {
            self.status = Some("The gate is not synced yet.".into());
            return;
        };
        let me = ctx.props().identity.clone();
        let rec = change(d.head().roster()).and_then(|(roster, reason)| {
            rotate(&me, d.head(), roster, reason, now_secs(), &mut OsRng).map_err(|e| e.to_string())
        });
        self.busy = true;
        ctx.link().send_future(async move {
            let r = match rec {
                Ok(rec) => relay::gate_publish_epoch(rec)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            Msg::Rotated(r)
        });
    }
}

impl Component for Gates {
    type Message = Msg;
    type Properties = Props;

    fn create(ctx: &Context<Self>) -> Self {
        let link = ctx.link().clone();
        let channel = Some(tabs::Channel::open(move |m| link.send_message(Msg::Tab(m))));
        let link = ctx.link().clone();
        let mut g = Gates {
            gates: Vec::new(),
            selected: None,
            syncing: false,
            sync_again: false,
            name: String::new(),
            join_code: String::new(),
            join_name: String::new(),
            invitee: String::new(),
            body: String::new(),
            busy: false,
            status: None,
            invitations: Vec::new(),
            copy_status: None,
            ignored: Vec::new(),
            outbox: Vec::new(),
            draining: false,
            out_failures: 0,
            next_try_ms: 0,
            drain_again: false,
            out_gen: 0,
            reloading: false,
            reload_again: false,
            drain_after_reload: true,
            sync_after_reload: true,
            channel,
            _timer: Some(Interval::new(GATE_POLL_MS, move || {
                link.send_message(Msg::Tick)
            })),
        };
        g.reload(ctx);
        g
    }

    fn changed(&mut self, ctx: &Context<Self>, old: &Props) -> bool {
        if ctx.props().leader && !old.leader {
            // Took over: re-read what the old leader left, then sync and drain.
            self.drain_after_reload = true;
            self.sync_after_reload = true;
            self.reload(ctx);
        }
        true
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Loaded(gen, mut gs, queued) => {
                self.reloading = false;
                let me = ctx.props().identity.clone();
                // Keep what this tab knows beyond the store (writes still in flight).
                for g in &mut gs {
                    if let Some(old) = self.gates.iter().find(|o| o.meta.gate_id == g.meta.gate_id)
                    {
                        if old.derived.is_some() && old.records.len() >= g.records.len() {
                            g.records = old.records.clone();
                            g.derived = old.derived.clone();
                        }
                        g.error = old.error.clone();
                        g.meta.after = g.meta.after.max(old.meta.after);
                        for m in &old.messages {
                            if !g.messages.iter().any(|x| x.seq == m.seq) {
                                g.messages.push(m.clone());
                            }
                        }
                        g.messages.sort_by_key(|m| m.seq);
                    }
                    if g.derived.is_none() && !g.records.is_empty() {
                        g.derived = derive(&me, &g.meta.gate_id, &g.meta.genesis_hash, &g.records)
                            .ok()
                            .map(Rc::new);
                    }
                }
                for old in self.gates.drain(..) {
                    if !gs.iter().any(|g| g.meta.gate_id == old.meta.gate_id) {
                        gs.push(old);
                    }
                }
                self.gates = gs;
                if gen == self.out_gen {
                    self.outbox = queued;
                    if !ctx.props().leader
                        && self.outbox.is_empty()
                        && self
                            .status
                            .as_deref()
                            .is_some_and(|s| s.starts_with("Queued"))
                    {
                        self.status = Some("Posted to the gate.".into());
                    }
                } else {
                    // The outbox changed while reading: read it again.
                    self.reload_again = true;
                }
                if self.selected.is_none() {
                    self.selected = self.gates.last().map(|g| g.meta.gate_id.clone());
                }
                if std::mem::take(&mut self.reload_again) {
                    self.reload(ctx);
                } else if ctx.props().leader {
                    if std::mem::take(&mut self.drain_after_reload) && !self.outbox.is_empty() {
                        self.next_try_ms = 0;
                        self.drain(ctx);
                    }
                    if std::mem::take(&mut self.sync_after_reload) {
                        self.start_sync(ctx);
                    }
                }
                true
            }
            Msg::Queued(ok) => {
                self.out_gen += 1;
                if !ok {
                    self.status = Some("Could not store the post in this browser.".into());
                } else if ctx.props().leader {
                    self.next_try_ms = 0;
                    self.drain(ctx);
                } else {
                    self.post(TabMsg::Drain);
                }
                true
            }
            Msg::Stored => {
                if ctx.props().leader {
                    self.post(TabMsg::Changed);
                    self.start_sync(ctx);
                } else {
                    self.post(TabMsg::Drain);
                }
                false
            }
            Msg::Tab(m) => {
                match m {
                    TabMsg::Drain | TabMsg::Check => {
                        self.drain_after_reload = true;
                        self.sync_after_reload = true;
                    }
                    TabMsg::Changed => {}
                    _ => return false,
                }
                self.reload(ctx);
                false
            }
            Msg::Tick => {
                self.start_sync(ctx);
                if !self.outbox.is_empty() && now_millis() >= self.next_try_ms {
                    self.drain(ctx);
                }
                false
            }
            Msg::Synced(results, found) => {
                self.syncing = false;
                let me = ctx.props().identity.clone();
                let contacts = ctx.props().contacts.clone();
                let mut changed = false;
                if let Some(found) = &found {
                    // An invitation the relay no longer offers (removed before accepting) goes.
                    self.invitations
                        .retain(|i| found.iter().any(|f| f.gate_id == i.found.gate_id));
                }
                for f in found.unwrap_or_default() {
                    self.invitations.retain(|i| i.found.gate_id != f.gate_id);
                    match logic::gate_offer(&contacts, &me.node_id(), &f.derived.epochs) {
                        logic::GateOffer::AutoJoin { inviter } => self.join_found(ctx, f, &inviter),
                        logic::GateOffer::Ask { inviter } => {
                            self.invitations.push(Invitation { found: f, inviter })
                        }
                        logic::GateOffer::Nothing => {}
                    }
                }
                for r in results {
                    match r {
                        Ok(out) => {
                            if let Some(g) = self
                                .gates
                                .iter_mut()
                                .find(|g| g.meta.gate_id == out.gate_id)
                            {
                                if out.records.len() != g.records.len() || g.derived.is_none() {
                                    changed = true;
                                    g.derived = derive(
                                        &me,
                                        &out.meta.gate_id,
                                        &out.meta.genesis_hash,
                                        &out.records,
                                    )
                                    .ok()
                                    .map(Rc::new);
                                    g.records = out.records;
                                }
                                g.meta.after = out.meta.after;
                                let before = self.outbox.len();
                                self.outbox.retain(|p| {
                                    p.gate != out.gate_id || !out.seen.contains(&p.message.nonce)
                                });
                                if self.outbox.len() != before {
                                    changed = true;
                                    self.out_gen += 1;
                                }
                                for m in out.new_messages {
                                    if !g.messages.iter().any(|x| x.seq == m.seq) {
                                        g.messages.push(m);
                                        changed = true;
                                    }
                                }
                                g.messages.sort_by_key(|m| m.seq);
                                g.error = None;
                            }
                        }
                        Err((id, e)) => {
                            if let Some(g) = self.gates.iter_mut().find(|g| g.meta.gate_id == id) {
                                g.error = Some(e);
                            }
                        }
                    }
                }
                if changed {
                    self.post(TabMsg::Changed);
                }
                if self.sync_again {
                    self.start_sync(ctx);
                }
                true
            }
            Msg::Drained(results) => {
                self.draining = false;
                let mut failed = false;
                let mut settled = false;
                for (nonce, r, stored) in results {
                    match r {
                        Ok(_) => {
                            if let Some(m) = stored {
                                if let Some(g) =
                                    self.gates.iter_mut().find(|g| g.meta.gate_id == m.gate)
                                {
                                    if !g.messages.iter().any(|x| x.seq == m.seq) {
                                        g.messages.push(m);
                                        g.messages.sort_by_key(|m| m.seq);
                                    }
                                }
                            }
                            self.status = Some("Posted to the gate.".into());
                        }
                        Err(e) if logic::is_permanent_gate_post_error(&e) => {
                            self.status = Some(format!("Could not post: {e}"));
                        }
                        Err(e) => {
                            failed = true;
                            self.status =
                                Some(format!("Queued: will post when the relay answers ({e})."));
                            continue;
                        }
                    }
                    self.outbox.retain(|p| p.message.nonce != nonce);
                    settled = true;
                }
                if settled {
                    // Records already deleted: tell the other tabs (the author sees "sent").
                    self.out_gen += 1;
                    self.post(TabMsg::Changed);
                }
                if failed {
                    self.out_failures += 1;
                    self.next_try_ms =
                        now_millis() + 1000 * logic::outbox_retry_delay_s(self.out_failures, 0);
                } else {
                    self.out_failures = 0;
                    self.next_try_ms = 0;
                    if self.drain_again {
                        // Posts queued while this round was in flight.
                        self.drain(ctx);
                    }
                }
                self.start_sync(ctx);
                true
            }
            Msg::Accept(id) => {
                if let Some(i) = self.invitations.iter().position(|i| i.found.gate_id == id) {
                    let inv = self.invitations.remove(i);
                    self.selected = Some(id);
                    self.join_found(ctx, inv.found, &inv.inviter);
                }
                true
            }
            Msg::Ignore(id) => {
                self.invitations.retain(|i| i.found.gate_id != id);
                self.ignored.push(id);
                true
            }
            Msg::SetName(v) => {
                self.name = v;
                false
            }
            Msg::Create => {
                let name = self.name.trim().to_string();
                if name.is_empty() {
                    self.status = Some("Give the gate a name.".into());
                    return true;
                }
                let me = ctx.props().identity.clone();
                let storage = ctx.props().storage.clone();
                self.busy = true;
                ctx.link().send_future(async move {
                    let gid = GateId::generate(&mut OsRng);
                    let r = async {
                        let rec = create_genesis(&me, &gid, now_secs(), &mut OsRng)
                            .map_err(|e| e.to_string())?;
                        let resp = relay::gate_publish_epoch(rec.clone())
                            .await
                            .map_err(|e| e.to_string())?;
                        let meta = StoredGate {
                            gate_id: gid.to_string(),
                            name,
                            genesis_hash: resp.genesis_hash,
                            after: 0,
                            added_at: now_millis(),
                        };
                        storage.put_gate(&meta).await.map_err(|e| e.to_string())?;
                        storage
                            .put_gate_epoch(&rec)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok((meta, rec))
                    }
                    .await;
                    Msg::Created(r)
                });
                true
            }
            Msg::Created(r) => {
                self.busy = false;
                match r {
                    Ok((meta, rec)) => {
                        let me = ctx.props().identity.clone();
                        let records = vec![rec];
                        let derived = derive(&me, &meta.gate_id, &meta.genesis_hash, &records)
                            .ok()
                            .map(Rc::new);
                        self.selected = Some(meta.gate_id.clone());
                        self.status = Some(format!("Gate “{}” created.", meta.name));
                        self.gates.push(GateRt {
                            meta,
                            records,
                            messages: Vec::new(),
                            derived,
                            error: None,
                        });
                        self.name.clear();
                        self.post(TabMsg::Changed);
                    }
                    Err(e) => self.status = Some(format!("Could not create the gate: {e}")),
                }
                true
            }
            Msg::SetJoinCode(v) => {
                self.join_code = v;
                false
            }
            Msg::SetJoinName(v) => {
                self.join_name = v;
                false
            }
            Msg::Join => {
                match parse_invite(&self.join_code) {
                    Ok((gid, hash)) => {
                        if !self.gates.iter().any(|g| g.meta.gate_id == gid) {
                            let name = match self.join_name.trim() {
                                "" => format!("gate {}", &gid[..8]),
                                n => n.to_string(),
                            };
                            let meta = StoredGate {
                                gate_id: gid.clone(),
                                name,
                                genesis_hash: hash,
                                after: 0,
                                added_at: now_millis(),
                            };
                            let storage = ctx.props().storage.clone();
                            let m2 = meta.clone();
                            ctx.link().send_future(async move {
                                let _ = storage.put_gate(&m2).await;
                                Msg::Stored
                            });
                            self.gates.push(GateRt {
                                meta,
                                records: Vec::new(),
                                messages: Vec::new(),
                                derived: None,
                                error: None,
                            });
                        }
                        self.invitations.retain(|i| i.found.gate_id != gid);
                        self.selected = Some(gid);
                        self.join_code.clear();
                        self.join_name.clear();
                        self.status =
                            Some("Joining: fetching and verifying the gate's epochs…".into());
                        self.start_sync(ctx);
                    }
                    Err(e) => self.status = Some(e),
                }
                true
            }
            Msg::Select(id) => {
                self.selected = Some(id);
                true
            }
            Msg::SetInvitee(v) => {
                self.invitee = v;
                false
            }
            Msg::Invite => {
                let name = if self.invitee.is_empty() {
                    ctx.props()
                        .contacts
                        .first()
                        .map(|c| c.name.clone())
                        .unwrap_or_default()
                } else {
                    self.invitee.clone()
                };
                let Some(c) = ctx
                    .props()
                    .contacts
                    .iter()
                    .find(|c| c.name == name)
                    .cloned()
                else {
                    self.status = Some("Pick a contact to invite.".into());
                    return true;
                };
                self.start_rotation(ctx, move |roster| {
                    let p = PublicIdentity::from_str(&c.identity).map_err(|e| e.to_string())?;
                    let r = roster
                        .with_member(p, Role::Member)
                        .map_err(|e| e.to_string())?;
                    Ok((r, Reason::Join))
                });
                true
            }
            Msg::Remove(node) => {
                self.start_rotation(ctx, move |roster| {
                    let r = roster.without_member(&node).map_err(|e| e.to_string())?;
                    Ok((r, Reason::Kick))
                });
                true
            }
            Msg::Promote(node) => {
                self.start_rotation(ctx, move |roster| {
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
            Msg::CopyInvite => {
                let Some(g) = self.sel() else { return false };
                let code = invite_code(&g.meta.gate_id, &g.meta.genesis_hash);
                ctx.link().send_future(async move {
                    Msg::Copied(crate::app::copy_to_clipboard(code).await)
                });
                false
            }
            Msg::Copied(ok) => {
                self.copy_status = Some(if ok || select_invite_code() {
                    "Invite code copied.".into()
                } else {
                    "Copy failed: select the code and copy it by hand.".into()
                });
                true
            }
            Msg::Rotated(r) => {
                self.busy = false;
                self.status = Some(match r {
                    Ok(()) => "New epoch published.".into(),
                    Err(e) => format!("Rotation failed: {e}"),
                });
                self.request_sync(ctx);
                true
            }
            Msg::SetBody(v) => {
                self.body = v;
                false
            }
            Msg::Send => {
                let Some(g) = self.sel() else { return false };
                let gate_id = g.meta.gate_id.clone();
                let Some(d) = g.derived.clone() else {
                    self.status = Some("The gate is not synced yet.".into());
                    return true;
                };
                let body = std::mem::take(&mut self.body);
                if body.trim().is_empty() {
                    return true;
                }
                let me = ctx.props().identity.clone();
                match d.keyring.seal(&me, body.as_bytes(), now_secs(), &mut OsRng) {
                    Ok(message) => {
                        // Stored as its own record first; then sent by the leader tab.
                        let p = QueuedPost {
                            gate: gate_id,
                            message,
                            queued_at: now_millis(),
                        };
                        self.outbox.push(p.clone());
                        self.status = Some("Queued: posting…".into());
                        let storage = ctx.props().storage.clone();
                        ctx.link().send_future(async move {
                            let ok = match serde_json::to_string(&p) {
                                Ok(j) => storage.put_gate_post(&p.message.nonce, j).await.is_ok(),
                                Err(_) => false,
                            };
                            Msg::Queued(ok)
                        });
                    }
                    Err(e) => self.status = Some(format!("Could not seal: {e}")),
                }
                true
            }
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        html! {
            <section class="card gates" aria-labelledby="gates-h">
                <h2 id="gates-h">{ "Private gates" }</h2>
                <ul class="gate-list">
                    { for self.gates.iter().map(|g| {
                        let id = g.meta.gate_id.clone();
                        let active = self.selected.as_deref() == Some(id.as_str());
                        html! {
                            <li key={id.clone()} class={classes!("gate-item", active.then_some("active"))}
                                data-gate={g.meta.name.clone()} data-gate-id={id.clone()}>
                                <button type="button" onclick={link.callback(move |_| Msg::Select(id.clone()))}>
                                    { &g.meta.name }
                                    if let Some(d) = &g.derived {
                                        <span class="muted small">{ format!(" · epoch {}", d.head().number()) }</span>
                                    }
                                </button>
                            </li>
                        }
                    }) }
                </ul>
                { for self.invitations.iter().map(|i| {
                    let (a, b) = (i.found.gate_id.clone(), i.found.gate_id.clone());
                    html! {
                        <p class="banner gate-invitation" role="status" data-gate-id={i.found.gate_id.clone()}>
                            { format!("{} added you to gate {} — ", self.name_of(ctx, &i.inviter), &i.found.gate_id[..8]) }
                            <button type="button" class="btn btn-small" data-accept-gate={a.clone()}
                                onclick={link.callback(move |_| Msg::Accept(a.clone()))}>{ "Accept" }</button>
                            { " " }
                            <button type="button" class="btn btn-small" data-ignore-gate={b.clone()}
                                onclick={link.callback(move |_| Msg::Ignore(b.clone()))}>{ "Ignore" }</button>
                        </p>
                    }
                }) }
                <div class="gate-forms">
                    <form onsubmit={link.callback(|e: SubmitEvent| { e.prevent_default(); Msg::Create })}>
                        <label for="gate-name">{ "New gate name" }</label>
                        <input id="gate-name" type="text" maxlength="64" autocomplete="off" value={self.name.clone()}
                            oninput={link.callback(|e: InputEvent| Msg::SetName(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                        <button id="create-gate" type="submit" class="btn" disabled={self.busy}>{ "Create gate" }</button>
                    </form>
                    <form onsubmit={link.callback(|e: SubmitEvent| { e.prevent_default(); Msg::Join })}>
                        <label for="join-code">{ "Join with an invite code" }</label>
                        <textarea id="join-code" rows="2" spellcheck="false" placeholder="postern-gate1.…" value={self.join_code.clone()}
                            oninput={link.callback(|e: InputEvent| Msg::SetJoinCode(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                        <label for="join-gate-name">{ "Name for this gate" }</label>
                        <input id="join-gate-name" type="text" maxlength="64" autocomplete="off" value={self.join_name.clone()}
                            oninput={link.callback(|e: InputEvent| Msg::SetJoinName(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                        <button id="join-gate" type="submit" class="btn">{ "Join gate" }</button>
                    </form>
                </div>
                if let Some(s) = &self.status {
                    <p id="gate-status" class="muted small" role="status">{ s }</p>
                }
                { self.view_selected(ctx) }
            </section>
        }
    }
}

impl Gates {
    fn view_selected(&self, ctx: &Context<Self>) -> Html {
        let Some(g) = self.sel() else { return html! {} };
        let link = ctx.link();
        let me = ctx.props().identity.node_id();
        let d = g.derived.as_ref();
        let am_admin = d
            .and_then(|d| d.head().roster().get(&me).map(|e| e.is_admin()))
            .unwrap_or(false);
        let removed_at = d.and_then(|d| d.removed_at);
        let member_now = d.is_some_and(|d| d.head().roster().contains(&me));
        html! {
            <div class="gate-detail" data-gate-id={g.meta.gate_id.clone()}>
                <h3>{ &g.meta.name }</h3>
                if let Some(e) = &g.error {
                    <p class="banner banner-warn small" role="status">{ e }</p>
                }
                <p class="small">{ "Invite code (share out of band with invited contacts):" }</p>
                <code id="gate-invite-code" class="identity-string">{ invite_code(&g.meta.gate_id, &g.meta.genesis_hash) }</code>
                <button id="gate-copy-invite" type="button" class="btn btn-small" onclick={link.callback(|_| Msg::CopyInvite)}>{ "Copy invite code" }</button>
                <span id="gate-copy-status" class="muted small" aria-live="polite">{ self.copy_status.clone().unwrap_or_default() }</span>
                if let Some(n) = removed_at {
                    <p id="gate-removed" class="banner banner-warn" role="status">
                        { format!("You were removed at epoch {n}. Newer messages cannot be read.") }
                    </p>
                }
                if am_admin {
                    <div class="row gate-admin">
                        <label for="gate-invite-contact">{ "Invite contact" }</label>
                        <select id="gate-invite-contact" onchange={link.callback(|e: Event| Msg::SetInvitee(e.target_unchecked_into::<HtmlSelectElement>().value()))}>
                            { for ctx.props().contacts.iter().map(|c| html! {
                                <option value={c.name.clone()} selected={self.invitee == c.name}>{ &c.name }</option>
                            }) }
                        </select>
                        <button id="gate-invite" type="button" class="btn" disabled={self.busy}
                            onclick={link.callback(|_| Msg::Invite)}>{ "Invite" }</button>
                    </div>
                }
                if let Some(d) = d {
                    <p class="small">{ "Members:" }</p>
                    <ul class="gate-members">
                        { for d.head().roster().entries().iter().map(|e| {
                            let node = e.member_id().to_string();
                            let label = self.name_of(ctx, &node);
                            let n2 = node.clone();
                            html! {
                                <li class="gate-member" data-member={node.clone()}>
                                    { label.clone() }
                                    if e.is_admin() { <span class="muted small">{ " (admin)" }</span> }
                                    if am_admin && node != me && !e.is_admin() {
                                        { " " }
                                        <button type="button" class="btn btn-small" data-promote-member={label.clone()}
                                            onclick={link.callback({ let n = node.clone(); move |_| Msg::Promote(n.clone()) })}>{ "Make admin" }</button>
                                    }
                                    if am_admin && node != me {
                                        { " " }
                                        <button type="button" class="btn btn-small" data-remove-member={label}
                                            onclick={link.callback(move |_| Msg::Remove(n2.clone()))}>{ "Remove" }</button>
                                    }
                                </li>
                            }
                        }) }
                    </ul>
                }
                <ol class="gate-messages" aria-label="Gate messages">
                    { for g.messages.iter().map(|m| html! {
                        <li key={m.seq} class="gate-message" data-state="sent" data-epoch={m.epoch.to_string()} data-sender={m.sender.clone()} data-verified="true">
                            <div class="message-meta">
                                <span class="gate-message-sender" title={m.sender.clone()}>{ self.name_of(ctx, &m.sender) }</span>
                                <span class="verified">{ "✓ verified" }</span>
                                <span class="muted small">{ format!("epoch {}", m.epoch) }</span>
                                <time datetime={logic::iso_time(m.timestamp)}>{ logic::format_time(m.timestamp) }</time>
                            </div>
                            <p class="gate-message-body">{ &m.body }</p>
                        </li>
                    }) }
                    { for self.outbox.iter().filter(|p| p.gate == g.meta.gate_id).map(|p| {
                        let text = d.and_then(|d| opened(&p.gate, 0, d, &p.message)).map(|m| m.body).unwrap_or_default();
                        html! {
                            <li key={p.message.nonce.clone()} class="gate-message gate-queued" data-state="queued" data-nonce={p.message.nonce.clone()}>
                                <div class="message-meta">
                                    <span class="gate-message-sender">{ "You" }</span>
                                    <span class="delivery muted small">{ "queued" }</span>
                                </div>
                                <p class="gate-message-body">{ text }</p>
                            </li>
                        }
                    }) }
                </ol>
                if member_now {
                    <form class="compose" onsubmit={link.callback(|e: SubmitEvent| { e.prevent_default(); Msg::Send })}>
                        <label for="gate-compose" class="visually-hidden">{ "Gate message" }</label>
                        <textarea id="gate-compose" rows="2" placeholder="Write to the gate…" value={self.body.clone()}
                            oninput={link.callback(|e: InputEvent| Msg::SetBody(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                        <button id="gate-send" type="submit" class="btn btn-primary" disabled={self.busy}>{ "Post" }</button>
                    </form>
                }
                if let Some(d) = d {
                    <details class="gate-history" open=true>
                        <summary>{ "Epoch history" }</summary>
                        <table>
                            <thead><tr><th>{ "Epoch" }</th><th>{ "Reason" }</th><th>{ "Rotator" }</th><th>{ "Roster" }</th></tr></thead>
                            <tbody>
                                { for d.epochs.iter().map(|e| html! {
                                    <tr class="gate-epoch" data-epoch={e.number().to_string()}>
                                        <td>{ e.number() }</td>
                                        <td>{ format!("{:?}", e.reason()).to_lowercase() }</td>
                                        <td>{ self.name_of(ctx, e.rotator_id()) }</td>
                                        <td>{ e.roster().len() }</td>
                                    </tr>
                                }) }
                            </tbody>
                        </table>
                    </details>
                }
            </div>
        }
    }
}

/// Select the invite code and try the legacy copy command (clipboard API unavailable).
fn select_invite_code() -> bool {
    use wasm_bindgen::{JsCast, JsValue};
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Some(doc) = window.document() else {
        return false;
    };
    let Some(el) = doc.get_element_by_id("gate-invite-code") else {
        return false;
    };
    if let (Ok(Some(sel)), Ok(range)) = (window.get_selection(), doc.create_range()) {
        let _ = sel.remove_all_ranges();
        if range.select_node_contents(&el).is_ok() {
            let _ = sel.add_range(&range);
        }
    }
    js_sys::Reflect::get(&doc, &JsValue::from_str("execCommand"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call1(&doc, &JsValue::from_str("copy")).ok())
        .is_some_and(|v| v.is_truthy())
}
