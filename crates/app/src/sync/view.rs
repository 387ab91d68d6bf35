//! The "Chain sync" panel: relay status, chain head, last/next sync with the backoff reason,
//! progress with events/s, the verification badge and the event explorer.
//!
//! The loop: a 1 s tick asks core's scheduler (`SyncWorkerState::should_run`); a round pages
//! through `GET /api/mesh/infonet/sync?after_hash=<local head>&limit=500`, hands each raw page
//! to the verifier (Web Worker), stores the accepted events of the page in ONE IndexedDB
//! transaction together with the new cursor, and finally compares the locally computed Merkle
//! root with the relay's `/merkle`. A page saying `unknown_after_hash` (the relay does not hold
//! the stored head) makes the round ask again with the verified copy's locator (`POST` sync)
//! (`model::chain::resync`): a fork heal above what the relay signed is followed (the copy cut
//! back to the match point, re-verified, synced on); otherwise the round fails with what the
//! answer says and the copy is kept. Failures go through `finish_err` (core's backoff ladder,
//! a 429's `Retry-After` honoured). On load the stored chain is replayed through the verifier
//! before syncing resumes from the stored head. `active = false` stops starting new rounds
//! (a round in flight finishes), so only a leader tab needs to sync. A round itself is
//! `super::round`; it reports to this view with `super::msg::Msg`.
use std::cell::Cell;
use std::rc::Rc;

use gloo_timers::callback::Interval;
use yew::prelude::*;

use super::explorer::{Events, Explorer};
use super::fetch::RoundError;
use super::msg::{Msg, RelayInfo};
use super::round::round;
use super::worker::Bridge;
use crate::model::chain::snapshot::stored_summaries;
use crate::model::chain::SyncHead;
use crate::model::chain::{events, progress_fraction, short, Badge, MerkleCheck, RateMeter};
use crate::model::heads::{HeadRecord, HeadVerdict};
use crate::platform::clock::{now_millis, now_secs};
use crate::platform::dom::WindowListener;
use crate::platform::idb::Storage;

#[derive(Properties)]
pub struct Props {
    pub storage: Rc<Storage>,
    /// Start rounds (a leader tab); `false` keeps showing what is stored.
    #[prop_or(true)]
    pub active: bool,
    /// The compact status for the page header, sent when it changes (not compared).
    #[prop_or_default]
    pub on_status: Callback<SyncSummary>,
}

/// The chain sync in one line for the header: badge state, events verified, a relay alarm.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncSummary {
    pub state: &'static str,
    pub verified: u64,
    pub alarm: bool,
}

impl PartialEq for Props {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.storage, &o.storage) && self.active == o.active
    }
}

pub struct SyncView {
    bridge: Bridge,
    _tick: Option<Interval>,
    /// Listens for [`crate::platform::dom::SYNC_NOW_EVENT`] (e.g. a public post was stored).
    _sync_now: Option<WindowListener>,
    loaded: bool,
    load_error: Option<String>,
    cursor: SyncHead,
    /// Events the verifier holds, and the bridge generation they belong to.
    verifier_count: u64,
    /// Of those, private events held as stubs (verified link-only).
    verifier_sealed: u64,
    verifier_generation: u32,
    /// The height the verifier was last restored to from the stored snapshot (not re-verified).
    resumed_from: Option<u64>,
    /// Events this page's verifier accepted (pages and replays; not restored ones).
    session_verified: u64,
    /// Bumped by every reset: explorer rows read for an older resume are dropped.
    epoch: Rc<Cell<u32>>,
    /// Explorer rows below this height are still to be read back (after a restore).
    backfill_to: Option<u64>,
    running: bool,
    phase: &'static str,
    relay: Option<RelayInfo>,
    /// The last fork heal this page followed, in words.
    rewound: Option<String>,
    summaries: Events,
    badge: Badge,
    meter: RateMeter,
    /// Sync+verify throughput of the last finished round (events/s, events).
    last_rate: Option<(f64, u64)>,
    last_error: Option<RoundError>,
    worker_busy_ms: f64,
    /// The last tree-head check and what is kept for that relay.
    head: Option<(HeadVerdict, HeadRecord)>,
    /// What the header was last told, and when (ms).
    summary: SyncSummary,
    summary_at_ms: u64,
}

/// Time left in words: "12 s", "3 min 5 s".
fn eta_text(secs: f64) -> String {
    let s = secs.max(0.0).ceil() as u64;
    match s {
        0..=59 => format!("{s} s"),
        _ => format!("{} min {} s", s / 60, s % 60),
    }
}

fn fmt_time(secs: u64) -> String {
    if secs == 0 {
        return "never".into();
    }
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0));
    String::from(d.to_locale_time_string("en-GB"))
}

impl Component for SyncView {
    type Message = Msg;
    type Properties = Props;

    fn create(ctx: &Context<Self>) -> Self {
        let storage = ctx.props().storage.clone();
        crate::task::send(ctx.link(), async move {
            Msg::Loaded(storage.sync_head().await.map_err(|e| e.to_string()))
        });
        let link = ctx.link().clone();
        SyncView {
            bridge: Bridge::new(),
            _tick: Some(Interval::new(1_000, move || link.send_message(Msg::Tick))),
            _sync_now: WindowListener::new(crate::platform::dom::SYNC_NOW_EVENT, {
                let link = ctx.link().clone();
                move || link.send_message(Msg::SyncNow)
            }),
            loaded: false,
            load_error: None,
            cursor: SyncHead::default(),
            verifier_count: 0,
            verifier_sealed: 0,
            verifier_generation: 0,
            resumed_from: None,
            session_verified: 0,
            epoch: Rc::new(Cell::new(0)),
            backfill_to: None,
            running: false,
            phase: "idle",
            relay: None,
            rewound: None,
            summaries: Events::default(),
            badge: Badge::Unverified,
            meter: RateMeter::default(),
            last_rate: None,
            last_error: None,
            worker_busy_ms: 0.0,
            head: None,
            summary: SyncSummary::default(),
            summary_at_ms: 0,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            Msg::Loaded(Ok(mut cursor)) => {
                // Resume: run now unless a backoff (e.g. a 429's Retry-After) is still pending.
                if cursor.scheduler.consecutive_failures == 0 {
                    cursor.scheduler.next_sync_due_at = 0;
                }
                cursor.scheduler.last_outcome = match cursor.scheduler.last_outcome {
                    postern_core::sync::SyncOutcome::Running => {
                        postern_core::sync::SyncOutcome::Idle
                    }
                    o => o,
                };
                self.cursor = cursor;
                self.loaded = true;
                self.maybe_start(ctx);
                true
            }
            Msg::Loaded(Err(e)) => {
                self.load_error = Some(e);
                true
            }
            Msg::Tick => {
                self.maybe_start(ctx);
                true
            }
            Msg::SyncNow => {
                if !self.running {
                    self.cursor.scheduler.next_sync_due_at = 0;
                    self.maybe_start(ctx);
                }
                true
            }
            Msg::Reset => {
                self.summaries = Events::default();
                self.verifier_count = 0;
                self.verifier_sealed = 0;
                self.badge = Badge::Verifying;
                self.meter = RateMeter::start(now_millis() as f64, 0);
                self.resumed_from = None;
                self.epoch.set(self.epoch.get().wrapping_add(1));
                self.backfill_to = None;
                true
            }
            Msg::Backfill(epoch, chunk) => {
                if epoch == self.epoch.get() && !chunk.is_empty() {
                    self.summaries = self.summaries.before(chunk);
                }
                true
            }
            Msg::Resumed(height) => {
                self.resumed_from = Some(height);
                self.backfill_to = Some(height);
                self.meter = RateMeter::start(now_millis() as f64, height);
                true
            }
            Msg::Relay(r) => {
                self.relay = Some(r);
                true
            }
            Msg::Phase(p) => {
                // Said again before every page: re-rendered only when it changes.
                let changed = self.phase != p;
                self.phase = p;
                changed
            }
            Msg::Verified(ans) => {
                self.worker_busy_ms += ans.busy_ms;
                self.verifier_count = ans.verified;
                self.verifier_sealed = ans.sealed;
                self.session_verified += ans.accepted.len() as u64;
                if !ans.accepted.is_empty() {
                    let chunk = ans.accepted.into_iter().map(|mut s| {
                        s.json = None;
                        s
                    });
                    self.summaries = self.summaries.with(chunk.collect());
                }
                self.meter.record(now_millis() as f64, ans.verified);
                if let Some(r) = ans.error {
                    self.badge = Badge::Invalid(r);
                } else {
                    self.badge = Badge::Verifying;
                }
                true
            }
            Msg::Head(v, rec) => {
                self.head = Some((v, rec));
                true
            }
            Msg::Rewound(note) => {
                self.rewound = Some(note);
                true
            }
            Msg::Done(result) => {
                self.running = false;
                if let Some(end) = self.backfill_to.take() {
                    self.backfill(ctx, end);
                }
                self.phase = "idle";
                if let Some(r) = self.meter.per_second() {
                    self.last_rate = Some((r, self.meter.events()));
                }
                match result {
                    Ok((cursor, merkle)) => {
                        self.badge = Badge::Checked {
                            count: cursor.count,
                            sealed: self.verifier_sealed,
                            merkle,
                        };
                        self.cursor = cursor;
                        self.last_error = None;
                    }
                    Err((cursor, err)) => {
                        if let RoundError::Invalid(r) = &err {
                            self.badge = Badge::Invalid(r.clone());
                        } else if matches!(self.badge, Badge::Verifying) {
                            self.badge = Badge::Checked {
                                count: self.verifier_count,
                                sealed: self.verifier_sealed,
                                merkle: MerkleCheck::Pending,
                            };
                        }
                        self.cursor = cursor;
                        self.last_error = Some(err);
                    }
                }
                true
            }
        }
    }

    fn rendered(&mut self, ctx: &Context<Self>, _first: bool) {
        let now = SyncSummary {
            state: self.badge.state(),
            verified: self.verifier_count,
            alarm: self
                .head
                .as_ref()
                .is_some_and(|(_, rec)| !rec.evidence.is_empty()),
        };
        // During a sync the count changes with every page: the header (and with it the whole
        // page) is re-rendered at most once a second for it.
        let at = now_millis();
        let count_only = now.state == self.summary.state && now.alarm == self.summary.alarm;
        if now != self.summary && !(count_only && at < self.summary_at_ms + 1_000) {
            self.summary = now.clone();
            self.summary_at_ms = at;
            ctx.props().on_status.emit(now);
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let now = now_secs();
        let s = &self.cursor.scheduler;
        let relay_total = self.relay.as_ref().map(|r| r.total).unwrap_or(0);
        let total = relay_total.max(self.verifier_count);
        let frac = progress_fraction(self.verifier_count, total);
        let rate = self.meter.per_second();
        let eta = self
            .meter
            .eta_secs(total.saturating_sub(self.verifier_count))
            .filter(|_| self.running && total > self.verifier_count);
        let (sigs, links) = self.badge.chain_checks();
        let relay_state = match (&self.relay, &self.last_error) {
            (_, Some(RoundError::Http { status: 429, .. })) => "rate-limited",
            (_, Some(RoundError::Unreachable(_))) => "offline",
            (Some(r), _) if r.reachable => "online",
            _ => "unknown",
        };
        let next_in = s.next_sync_due_at.saturating_sub(now);
        let backoff = self
            .last_error
            .as_ref()
            .map(RoundError::reason)
            .unwrap_or_default();
        let incomplete = match &self.badge {
            Badge::Invalid(r) => r.incomplete.map(|w| w.as_str()).unwrap_or_default(),
            _ => "",
        };
        let retry_after = match &self.last_error {
            Some(RoundError::Http { retry_after_s, .. }) => retry_after_s.to_string(),
            _ => String::new(),
        };
        html! {
            <section id="sync" class="card sync" aria-labelledby="sync-h"
                data-running={self.running.to_string()} data-active={ctx.props().active.to_string()}>
                <h2 id="sync-h">{ "Infonet chain sync" }</h2>
                if let Some(e) = &self.load_error {
                    <p class="error" role="alert">{ format!("Stored chain unreadable: {e}") }</p>
                }
                <dl class="sync-status">
                    <dt>{ "Relay" }</dt>
                    <dd><span id="sync-relay" data-state={relay_state}>{ relay_state }</span>
                        if let Some(r) = &self.relay {
                            { " · head " }<code id="sync-relay-head" title={r.head.clone()}>{ short(&r.head) }</code>
                            { " · " }<span id="sync-relay-total">{ r.total }</span>{ if r.total == 1 { " event" } else { " events" } }
                        }
                    </dd>
                    <dt>{ "Local chain" }</dt>
                    <dd><code id="sync-head" data-count={self.cursor.count.to_string()} title={self.cursor.head.clone()}>
                        { if self.cursor.head.is_empty() { "(empty)" } else { short(&self.cursor.head) } }</code>
                        { format!(" · {} stored", events(self.cursor.count)) }</dd>
                    <dt>{ "Last sync" }</dt>
                    <dd id="sync-last" data-outcome={format!("{:?}", s.last_outcome).to_lowercase()}>
                        { format!("{} ({:?})", fmt_time(s.last_sync_finished_at), s.last_outcome).to_lowercase() }
                        if s.last_sync_ok_at > 0 { { format!(" · last ok {}", fmt_time(s.last_sync_ok_at)) } }
                    </dd>
                    <dt>{ "Next sync" }</dt>
                    <dd id="sync-next" data-due={s.next_sync_due_at.to_string()} data-in={next_in.to_string()}>
                        { if self.running { "running now".to_string() }
                          else if !ctx.props().active { "paused (another tab syncs)".to_string() }
                          else { format!("{} (in {} s)", fmt_time(s.next_sync_due_at.max(now)), next_in) } }
                    </dd>
                    if !backoff.is_empty() {
                        <dt>{ "Waiting because" }</dt>
                        <dd id="sync-backoff" data-retry-after={retry_after} data-failures={s.consecutive_failures.to_string()}>{ backoff }</dd>
                    }
                </dl>
                <div class="sync-progress-row">
                    <progress id="sync-progress" max={total.max(1).to_string()} value={self.verifier_count.to_string()}
                        data-verified={self.verifier_count.to_string()} data-total={total.to_string()}
                        data-phase={self.phase} data-sealed={self.verifier_sealed.to_string()}
                        data-resumed-from={self.resumed_from.map(|h| h.to_string()).unwrap_or_default()}
                        data-verified-session={self.session_verified.to_string()}></progress>
                    <span class="sync-progress-text">{ format!("{} / {} ({:.0}%) · {}", self.verifier_count, total, frac * 100.0, self.phase) }</span>
                    <span id="sync-rate" data-rate={rate.map(|r| format!("{r:.1}")).unwrap_or_default()}
                        data-last-rate={self.last_rate.map(|(r, _)| format!("{r:.1}")).unwrap_or_default()}
                        data-last-events={self.last_rate.map(|(_, n)| n.to_string()).unwrap_or_default()}
                        data-eta-s={eta.map(|s| format!("{s:.0}")).unwrap_or_default()}
                        data-workers={self.bridge.workers().to_string()}>
                        { match (rate, self.last_rate) {
                            (Some(r), _) if self.running => format!(" · {r:.0} events/s{}",
                                eta.map(|s| format!(" · about {} left", eta_text(s))).unwrap_or_default()),
                            (_, Some((r, n))) => format!(" · last round: {} at {r:.0} events/s", events(n)),
                            _ => String::new(),
                        } }
                    </span>
                </div>
                <p id="sync-badge" class={classes!("sync-badge", self.badge.state())} role="status"
                    data-state={self.badge.state()} data-signatures={sigs} data-links={links}
                    data-merkle={self.badge.merkle_state()} data-sealed={self.verifier_sealed.to_string()}
                    data-incomplete={incomplete}>{ self.badge.label() }</p>
                { super::heads::view(&self.head) }
                if let Some(n) = &self.rewound {
                    <p id="sync-rewound" class="banner banner-warn small" role="status">{ n }</p>
                }
                <p id="sync-verifier" class="muted" data-verifier={self.bridge.mode().as_str()}
                    data-worker-replies={self.bridge.replies().to_string()}
                    data-worker-busy-ms={format!("{:.0}", self.worker_busy_ms)}>
                    { match self.bridge.mode().as_str() {
                        "worker" => format!("Verification runs in a Web Worker ({} answers).", self.bridge.replies()),
                        "starting" => "Starting the verification worker…".to_string(),
                        "idle" => "The verification worker starts with the first sync.".to_string(),
                        _ => format!("The verification worker is not running, so nothing can be verified ({}); \
                            the next sync tries again.", self.bridge.fatal().unwrap_or_default()),
                    } }
                </p>
                <button id="sync-now" type="button" class="btn" disabled={self.running || !ctx.props().active}
                    onclick={ctx.link().callback(|_| Msg::SyncNow)}>{ "Sync now" }</button>
                <Explorer storage={ctx.props().storage.clone()} events={self.summaries.clone()} />
            </section>
        }
    }
}

/// Stored events read back per explorer backfill step (one key range, one short task).
const BACKFILL_CHUNK: u64 = 500;

impl SyncView {
    /// Read the explorer rows of the stored events below `end` (restored, not replayed), top
    /// down in key ranges, after the round; stops when the verifier is reset.
    fn backfill(&self, ctx: &Context<Self>, mut end: u64) {
        let storage = ctx.props().storage.clone();
        let link = ctx.link().clone();
        let epoch = self.epoch.clone();
        let mine = epoch.get();
        crate::task::spawn(async move {
            while end > 0 && epoch.get() == mine {
                let start = end.saturating_sub(BACKFILL_CHUNK);
                let Ok(texts) = storage.event_texts_range(start, end).await else {
                    return;
                };
                link.send_message(Msg::Backfill(mine, stored_summaries(start, &texts)));
                end = start;
            }
        });
    }

    fn maybe_start(&mut self, ctx: &Context<Self>) {
        let now = now_secs();
        if !self.loaded
            || self.running
            || !ctx.props().active
            || !self.cursor.scheduler.should_run(now)
        {
            return;
        }
        self.running = true;
        self.phase = "starting";
        let mut cursor = self.cursor.clone();
        cursor.scheduler = cursor.scheduler.begin("", &cursor.head, now);
        self.cursor = cursor.clone();
        let replay = self.verifier_count != cursor.count
            || self.verifier_generation != self.bridge.generation();
        self.verifier_generation = self.bridge.generation();
        self.meter = RateMeter::start(
            now_millis() as f64,
            if replay { 0 } else { self.verifier_count },
        );
        if self.summaries.is_empty() || replay {
            self.badge = Badge::Verifying;
        }
        let scope = ctx.link().clone();
        let storage = ctx.props().storage.clone();
        let bridge = self.bridge.clone();
        crate::task::spawn(async move {
            let report = scope.callback(|m| m);
            let out = round(&report, &storage, &bridge, cursor, replay).await;
            scope.send_message(Msg::Done(out));
        });
    }
}
