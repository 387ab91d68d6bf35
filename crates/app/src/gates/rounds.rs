//! Reducer part for the background rounds of the gates panel: IndexedDB re-reads (multi-tab),
//! discovery + sync (leader), joining discovered gates by the trust rule, and draining the
//! gate outbox (leader).
use rand_core::OsRng;

use super::state::{
    Discovered, DrainKey, DrainResult, Effect, Env, GateRt, GatesState, Invitation, SyncJob,
    SyncOut,
};
use crate::model::delivery::{is_permanent_gate_post_error, is_stale_epoch, outbox_retry_delay_s};
use crate::model::gate_pin::{hashes, requeue, Requeue};
use crate::model::gate_stream::{insert, remember};
use crate::model::gates::{
    derive_shared, gate_offer, may_show_invitation, GateOffer, QueuedPost, StoredGate,
};
use crate::model::tabs::TabMsg;

impl GatesState {
    /// Re-read gates, epochs, messages and the outbox from IndexedDB.
    pub fn reload(&mut self) {
        if self.rounds.reloading {
            self.rounds.reload_again = true;
            return;
        }
        self.rounds.reloading = true;
        let gen = self.outbox.gen;
        self.fx(Effect::Reload(gen));
    }

    pub(super) fn on_loaded(
        &mut self,
        gen: u64,
        mut gs: Vec<GateRt>,
        queued: Vec<QueuedPost>,
        env: &Env,
    ) -> bool {
        self.rounds.reloading = false;
        // Keep what this tab knows beyond the store (writes still in flight).
        for g in &mut gs {
            if let Some(old) = self.gates.iter().find(|o| o.meta.gate_id == g.meta.gate_id) {
                if old.derived.is_some() && old.records.len() >= g.records.len() {
                    g.records = old.records.clone();
                    g.derived = old.derived.clone();
                }
                g.error = old.error.clone();
                g.meta.after = g.meta.after.max(old.meta.after);
                // The streams rounds in flight share; stored messages they have not seen
                // (written by another tab) are fed in, keeping their stored marks.
                remember(&mut old.streams.borrow_mut(), &g.messages);
                g.streams = old.streams.clone();
                for m in &old.messages {
                    insert(&mut g.messages, m.clone());
                }
            }
            if g.derived.is_none() && !g.records.is_empty() {
                g.derived = derive_shared(env.identity, &g.meta, &g.records);
            }
        }
        for old in self.gates.drain(..) {
            if !gs.iter().any(|g| g.meta.gate_id == old.meta.gate_id) {
                gs.push(old);
            }
        }
        self.gates = gs;
        if gen == self.outbox.gen {
            self.outbox.posts = queued;
            if !env.leader
                && self.outbox.posts.is_empty()
                && self
                    .status
                    .as_deref()
                    .is_some_and(|s| s.starts_with("Queued"))
            {
                self.status = Some("Posted to the gate.".into());
            }
        } else {
            // The outbox changed while reading: read it again.
            self.rounds.reload_again = true;
        }
        if self.selected.is_none() {
            self.selected = self.gates.last().map(|g| g.meta.gate_id.clone());
        }
        if std::mem::take(&mut self.rounds.reload_again) {
            self.reload();
        } else if env.leader {
            if std::mem::take(&mut self.rounds.drain_after_reload) && !self.outbox.posts.is_empty()
            {
                self.outbox.next_try_ms = 0;
                self.drain(env);
            }
            if std::mem::take(&mut self.rounds.sync_after_reload) {
                self.start_sync(env);
            }
        }
        true
    }

    /// Leader only: send every stored queued post (any tab's), oldest first; stop at the first
    /// unreachable answer. A settled post's record is deleted (and a sent one's opened message
    /// stored) before the round reports, so the next round never sends it again.
    pub(super) fn drain(&mut self, env: &Env) {
        if !env.leader {
            return;
        }
        if self.outbox.draining {
            self.outbox.drain_again = true;
            return;
        }
        self.outbox.draining = true;
        self.outbox.drain_again = false;
        let keys: Vec<DrainKey> = self
            .gates
            .iter()
            .filter_map(|g| {
                Some((
                    g.meta.gate_id.clone(),
                    g.derived.clone()?,
                    g.streams.clone(),
                ))
            })
            .collect();
        let hold: Vec<String> = self
            .gates
            .iter()
            .filter(|g| g.meta.alarm.is_some())
            .map(|g| g.meta.gate_id.clone())
            .collect();
        self.fx(Effect::Drain(keys, hold));
    }

    /// Leader only: gate discovery and sync (relay → IndexedDB).
    pub(super) fn start_sync(&mut self, env: &Env) {
        if !env.leader {
            return;
        }
        if self.rounds.syncing {
            self.rounds.sync_again = true;
            return;
        }
        self.rounds.syncing = true;
        self.rounds.sync_again = false;
        let jobs: Vec<SyncJob> = self
            .gates
            .iter()
            .map(|g| {
                let pinned = g.derived.as_deref().map(hashes).unwrap_or_default();
                (g.meta.clone(), pinned, g.streams.clone())
            })
            .collect();
        let skip: Vec<String> = self
            .gates
            .iter()
            .map(|g| g.meta.gate_id.clone())
            .chain(self.ignored.iter().cloned())
            .collect();
        let queued: Vec<String> = self
            .outbox
            .posts
            .iter()
            .map(|p| p.message.nonce.clone())
            .collect();
        self.fx(Effect::Sync { jobs, skip, queued });
    }

    /// Join a discovered gate: persist its verified chain and local entry, then sync messages.
    pub(super) fn join_found(&mut self, found: Discovered, inviter: &str, env: &Env) {
        if self.gates.iter().any(|g| g.meta.gate_id == found.gate_id) {
            return;
        }
        let meta = StoredGate {
            gate_id: found.gate_id.clone(),
            name: format!("{} · {}", env.name_of(inviter), &found.gate_id[..8]),
            genesis_hash: found.genesis_hash,
            after: 0,
            added_at: env.now_ms,
            alarm: None,
            hidden: Default::default(),
            // Joined on a stranger's invitation (Accept): counts against their rate.
            invited_by: (inviter != env.identity.node_id()
                && !env.contacts.iter().any(|c| c.node_id == inviter))
            .then(|| inviter.to_string()),
        };
        self.fx(Effect::StoreGate {
            meta: meta.clone(),
            records: found.records.clone(),
        });
        if self.selected.is_none() {
            self.selected = Some(found.gate_id.clone());
        }
        self.gates
            .push(GateRt::new(meta, found.records, Some(found.derived)));
    }

    pub(super) fn on_synced(
        &mut self,
        results: Vec<Result<SyncOut, (String, String)>>,
        found: Option<Vec<Discovered>>,
        env: &Env,
    ) -> bool {
        self.rounds.syncing = false;
        let mut changed = false;
        if let Some(found) = &found {
            // An invitation the relay no longer offers (removed before accepting) goes.
            self.invitations
                .retain(|i| found.iter().any(|f| f.gate_id == i.found.gate_id));
        }
        for f in found.unwrap_or_default() {
            self.invitations.retain(|i| i.found.gate_id != f.gate_id);
            match gate_offer(env.contacts, &env.identity.node_id(), &f.derived.epochs) {
                GateOffer::AutoJoin { inviter } => self.join_found(f, &inviter, env),
                GateOffer::Ask { inviter } => {
                    let metas: Vec<StoredGate> =
                        self.gates.iter().map(|g| g.meta.clone()).collect();
                    let pending = self
                        .invitations
                        .iter()
                        .filter(|i| i.inviter == inviter)
                        .count();
                    if may_show_invitation(&metas, pending, &inviter, env.now_ms / 1000) {
                        self.invitations.push(Invitation { found: f, inviter })
                    }
                }
                GateOffer::Nothing => {}
            }
        }
        for r in results {
            match r {
                Ok(out) => changed |= self.apply_sync(out, env),
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
        if self.rounds.sync_again {
            self.start_sync(env);
        }
        true
    }

    /// One gate's synced chain and messages; true when something changed.
    fn apply_sync(&mut self, out: SyncOut, env: &Env) -> bool {
        let mut changed = false;
        let Some(g) = self
            .gates
            .iter_mut()
            .find(|g| g.meta.gate_id == out.gate_id)
        else {
            return false;
        };
        match out.records {
            // Only the pinned chain or a strict extension of it gets here (checked in the
            // round against the pinned hashes); a rollback or fork leaves the chain as it is.
            Some(records) if records.len() != g.records.len() || g.derived.is_none() => {
                changed = true;
                g.derived = derive_shared(env.identity, &out.meta, &records);
                g.records = records;
            }
            _ => {}
        }
        if g.meta.alarm != out.meta.alarm {
            changed = true;
            g.meta.alarm = out.meta.alarm.clone();
        }
        if g.meta.hidden != out.meta.hidden {
            changed = true;
            g.meta.hidden = out.meta.hidden;
        }
        g.meta.after = out.meta.after;
        let before = self.outbox.posts.len();
        self.outbox
            .posts
            .retain(|p| p.gate != out.gate_id || !out.seen.contains(&p.message.nonce));
        if self.outbox.posts.len() != before {
            changed = true;
            self.outbox.gen += 1;
        }
        // Already judged by the shared streams (replays and duplicates left out): one entry
        // per nonce, whatever seq the relay gave it.
        for m in out.new_messages {
            changed |= insert(&mut g.messages, m);
        }
        g.error = None;
        self.requeue_posts(&out.gate_id, env);
        changed
    }

    /// Leader: queued posts of this gate sealed under an epoch older than its verified head
    /// are re-sealed under the head, or dropped (with a note) when I was removed.
    fn requeue_posts(&mut self, gate_id: &str, env: &Env) {
        let Some(g) = self.gates.iter().find(|g| g.meta.gate_id == gate_id) else {
            return;
        };
        let Some(d) = g.derived.clone().filter(|_| g.meta.alarm.is_none()) else {
            return;
        };
        let name = g.meta.name.clone();
        let posts = std::mem::take(&mut self.outbox.posts);
        let mut kept = Vec::with_capacity(posts.len());
        let mut changed = false;
        for p in posts {
            if p.gate != gate_id {
                kept.push(p);
                continue;
            }
            let old = p.message.nonce.clone();
            let (note, put) = match requeue(env.identity, &d, &p, &mut OsRng) {
                Requeue::Keep => {
                    kept.push(p);
                    continue;
                }
                Requeue::Resealed(q) => (
                    format!(
                        "The gate rotated: a queued post was re-sealed under epoch {}.",
                        q.message.epoch
                    ),
                    Some(q),
                ),
                Requeue::Dropped { removed_at } => (
                    format!(
                        "A queued post to “{name}” was not sent: you were removed at epoch \
                         {removed_at}."
                    ),
                    None,
                ),
                Requeue::Unreadable => (
                    format!("A queued post to “{name}” could not be re-sealed and was dropped."),
                    None,
                ),
            };
            self.status = Some(note);
            kept.extend(put.clone());
            self.fx(Effect::Requeue { drop: old, put });
            changed = true;
        }
        self.outbox.posts = kept;
        if changed {
            // The stored outbox changes under this tab's hands: a reload begun before is stale.
            self.outbox.gen += 1;
        }
    }

    pub(super) fn on_drained(&mut self, results: Vec<DrainResult>, env: &Env) -> bool {
        self.outbox.draining = false;
        let mut failed = false;
        let mut settled = false;
        for (nonce, r, stored) in results {
            match r {
                Ok(_) => {
                    if let Some(m) = stored {
                        if let Some(g) = self.gates.iter_mut().find(|g| g.meta.gate_id == m.gate) {
                            insert(&mut g.messages, m);
                        }
                    }
                    self.status = Some("Posted to the gate.".into());
                }
                Err(e) if is_stale_epoch(&e) => {
                    // Kept: the next sync re-seals it under the new head (or drops it).
                    failed = true;
                    self.status = Some("The gate rotated: re-sealing the queued post…".into());
                    continue;
                }
                Err(e) if is_permanent_gate_post_error(&e) => {
                    self.status = Some(format!("Could not post: {e}"));
                }
                Err(e) => {
                    failed = true;
                    self.status = Some(if e.is_unreachable() {
                        "Queued: can't reach the relay. The post is kept and will be sent when it is back.".into()
                    } else {
                        format!("Queued: will post when the relay answers ({e}).")
                    });
                    continue;
                }
            }
            self.outbox.posts.retain(|p| p.message.nonce != nonce);
            settled = true;
        }
        if settled {
            // Records already deleted: tell the other tabs (the author sees "sent").
            self.outbox.gen += 1;
            self.post(TabMsg::Changed);
        }
        if failed {
            self.outbox.failures += 1;
            self.outbox.next_try_ms =
                env.now_ms + 1000 * outbox_retry_delay_s(self.outbox.failures, 0);
        } else {
            self.outbox.failures = 0;
            self.outbox.next_try_ms = 0;
            if self.outbox.drain_again {
                // Posts queued while this round was in flight.
                self.drain(env);
            }
        }
        self.start_sync(env);
        true
    }
}
