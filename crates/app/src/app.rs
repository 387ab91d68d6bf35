//! The root component: loads the session (storage, identity), provides it to every panel as a
//! context, runs the DM reducer (`dm::state`) and the gates reducer (`gates::state`) with their
//! effects, owns the timers, browser listeners, the tabs channels and the route (URL fragment),
//! and hands the page to `shell`. A profile locked with a passphrase shows only the unlock
//! screen (`crate::lock`) until it opens: no timer, tabs election, poll or sync starts before
//! (each tab unlocks on its own). All crypto runs in wasm via `postern_core`; the relay only
//! ever sees sealed envelopes and signed requests.
use std::collections::HashMap;
use std::rc::Rc;

use gloo_timers::callback::Interval;
use postern_core::Identity;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::dm::state::View;
use crate::dm::{self, Action, DmState, Effect, Env};
use crate::gates::{self, GatesState};
use crate::model::lock::{OpError, Unlock, UnlockEvent};
use crate::model::route::Route;
use crate::model::tabs::duties;
use crate::platform::clock::now_millis;
use crate::platform::idb::lock::{LockedStore, Opened};
use crate::platform::idb::Storage;
use crate::platform::{dom, route, tabs};
use crate::session::Session;
use crate::shell;
use crate::sync::SyncSummary;

/// How often the mailbox is polled.
pub const POLL_INTERVAL_MS: u32 = 4_000;
/// How often gates are synced (leader) and the gate outbox retried.
const GATE_POLL_MS: u32 = 4_000;

pub enum Msg {
    /// The store was opened: ready, or locked with a passphrase (→ the unlock screen).
    Opened(Result<Opened, String>),
    UnlockInput(String),
    UnlockSubmit,
    /// An unlock attempt ended (a wrong passphrase gives the locked store back).
    Unlocked(Result<Storage, (LockedStore, OpError)>),
    /// The start-up load finished (the session's storage and the DM state's data).
    Started(Result<(Rc<Storage>, dm::state::Loaded), String>),
    Dm(Action),
    Gates(gates::Action),
    /// The URL fragment changed (link, back/forward, typed) or a view was picked.
    Route(Route),
    /// Show or hide the gate details drawer.
    ToggleDrawer,
    /// The chain sync's compact status for the header.
    Sync(SyncSummary),
}

pub struct App {
    storage: Option<Rc<Storage>>,
    identity: Option<Rc<Identity>>,
    dm: DmState,
    gates: GatesState,
    route: Route,
    /// The route's view was applied to the states (false until the first load).
    route_applied: bool,
    drawer_open: bool,
    sync: Option<SyncSummary>,
    /// Gate messages already seen per gate (for the sidebar's unread count; this tab only).
    gate_seen: HashMap<String, usize>,
    messages_ref: NodeRef,
    timer: Option<Interval>,
    gate_timer: Option<Interval>,
    listeners: Vec<Closure<dyn Fn()>>,
    tab_channel: Option<tabs::Channel>,
    gate_channel: Option<tabs::Channel>,
    _role_sub: Option<tabs::Subscription>,
    /// Move focus to the new view's heading after the next render (a view was picked).
    focus_view: bool,
    /// The locked store while the unlock screen shows and no attempt runs.
    locked: Option<LockedStore>,
    /// The unlock screen's state; `None` once the store is open (or was never locked).
    unlock: Option<Unlock>,
    unlock_pass: zeroize::Zeroizing<String>,
    focus_unlock: bool,
}

impl App {
    fn session(&self) -> Option<Session> {
        Some(Session {
            storage: self.storage.clone()?,
            identity: self.identity.clone()?,
            role: self.dm.role,
        })
    }

    fn leader(&self) -> bool {
        duties(self.dm.role).sync
    }

    fn post(&self, m: &tabs::TabMsg) {
        if let Some(c) = &self.tab_channel {
            c.post(m);
        }
    }

    fn dispatch(&mut self, ctx: &Context<Self>, action: Action) -> bool {
        let was_leader = self.leader();
        let view_before = self.dm.view.clone();
        let env = Env {
            now_ms: now_millis(),
            identity: self.identity.as_deref(),
        };
        let render = self.dm.reduce(action, &env);
        for effect in self.dm.take_effects() {
            self.run(ctx, effect);
        }
        // A conversation picked in the DM state (reply, a saved contact) is a view: follow it.
        if self.dm.view != view_before {
            let r = match &self.dm.view {
                View::Contact(n) => Route::Dm(n.clone()),
                View::All if self.route == Route::Home => Route::Home,
                View::All => Route::All,
            };
            self.navigate(ctx, r);
        }
        if self.leader() && !was_leader && self.gate_timer.is_some() {
            self.dispatch_gates(ctx, gates::Action::BecameLeader);
        }
        render
    }

    fn dispatch_gates(&mut self, ctx: &Context<Self>, action: gates::Action) -> bool {
        let Some(identity) = self.identity.clone() else {
            return false;
        };
        let picked = matches!(
            action,
            gates::Action::Created(_) | gates::Action::Join | gates::Action::Accept(_)
        );
        let before = self.gates.selected.clone();
        let env = gates::Env {
            identity: &identity,
            contacts: &self.dm.contacts,
            leader: self.leader(),
            now_ms: now_millis(),
        };
        let render = self.gates.reduce(action, &env);
        self.run_gate_effects(ctx);
        if picked && self.gates.selected != before {
            if let Some(id) = self.gates.selected.clone() {
                self.navigate(ctx, Route::Gate(id));
            }
        }
        self.sync_gate_selection();
        render
    }

    /// The gate on screen is the one the reducer acts on; its messages count as seen.
    fn sync_gate_selection(&mut self) {
        for g in &self.gates.gates {
            self.gate_seen
                .entry(g.meta.gate_id.clone())
                .or_insert(g.messages.len());
        }
        if let Route::Gate(id) = &self.route {
            self.gates.selected = Some(id.clone());
            if let Some(g) = self.gates.gates.iter().find(|g| &g.meta.gate_id == id) {
                self.gate_seen.insert(id.clone(), g.messages.len());
            }
        }
    }

    /// Show `r`: the address bar (a history entry) and the states that follow the view.
    fn navigate(&mut self, ctx: &Context<Self>, r: Route) {
        route::go(&r);
        self.apply_route(ctx, r);
    }

    fn apply_route(&mut self, ctx: &Context<Self>, r: Route) {
        // The same route again (a click on the open conversation, a reload) still brings the
        // DM view in line with it below.
        if r != self.route || !self.route_applied {
            self.route = r;
            self.route_applied = true;
            self.focus_view = true;
        }
        let want = match &self.route {
            Route::Dm(n) => Some(View::Contact(n.clone())),
            Route::Home | Route::All => Some(View::All),
            _ => None,
        };
        if let Some(v) = want {
            if self.dm.view != v && self.dm.loaded() {
                self.dispatch(ctx, Action::Select(v));
            }
        }
        self.sync_gate_selection();
    }

    fn run(&mut self, ctx: &Context<Self>, effect: Effect) {
        match effect {
            Effect::Start => self.start(ctx),
            Effect::Post(m) => self.post(&m),
            Effect::StopTimer => self.timer = None,
            Effect::Resign => {
                self.timer = None;
                self.gate_timer = None;
                tabs::resign();
            }
            other => {
                let (Some(storage), Some(id)) = (self.storage.clone(), self.identity.clone())
                else {
                    return;
                };
                crate::task::send_batch(ctx.link(), async move {
                    dm::effects::run(other, storage, id)
                        .await
                        .map(Msg::Dm)
                        .into_iter()
                        .collect::<Vec<_>>()
                });
            }
        }
    }

    /// Run the effects the gates reducer queued: tab posts here, the rest as async tasks.
    fn run_gate_effects(&mut self, ctx: &Context<Self>) {
        for effect in self.gates.take_effects() {
            if let gates::Effect::Post(m) = &effect {
                if let Some(c) = &self.gate_channel {
                    c.post(m);
                }
                continue;
            }
            let (Some(storage), Some(me)) = (self.storage.clone(), self.identity.clone()) else {
                continue;
            };
            crate::task::send_batch(ctx.link(), async move {
                gates::effects::run(effect, storage, me)
                    .await
                    .map(Msg::Gates)
                    .into_iter()
                    .collect::<Vec<_>>()
            });
        }
    }

    /// After the load: the tick, the browser online/offline events, and the tabs election.
    fn start(&mut self, ctx: &Context<Self>) {
        let link = ctx.link().clone();
        self.timer = Some(Interval::new(POLL_INTERVAL_MS, move || {
            link.send_message(Msg::Dm(Action::Tick))
        }));
        if let Some(window) = web_sys::window() {
            for (event, online) in [("online", true), ("offline", false)] {
                let link = ctx.link().clone();
                let cb = Closure::<dyn Fn()>::new(move || {
                    link.send_message(Msg::Dm(if online {
                        Action::BrowserOnline
                    } else {
                        Action::BrowserOffline
                    }))
                });
                if window
                    .add_event_listener_with_callback(event, cb.as_ref().unchecked_ref())
                    .is_ok()
                {
                    self.listeners.push(cb);
                }
            }
        }
        if let Some(storage) = &self.storage {
            let link = ctx.link().clone();
            storage.on_version_change(move || link.send_message(Msg::Dm(Action::DbVersionChange)));
        }
        let link = ctx.link().clone();
        self.tab_channel = Some(tabs::Channel::open(move |m| {
            link.send_message(Msg::Dm(Action::Tab(m)))
        }));
        let link = ctx.link().clone();
        self._role_sub = Some(tabs::subscribe(move |r| {
            link.send_message(Msg::Dm(Action::Role(r)))
        }));
        tabs::start();
        let now = tabs::role();
        if now != self.dm.role {
            ctx.link().send_message(Msg::Dm(Action::Role(now)));
        }
    }

    /// Once the identity is loaded: the gates' tabs channel and tick, and the first reload.
    fn start_gates(&mut self, ctx: &Context<Self>) {
        let link = ctx.link().clone();
        self.gate_channel = Some(tabs::Channel::open(move |m| {
            link.send_message(Msg::Gates(gates::Action::Tab(m)))
        }));
        let link = ctx.link().clone();
        self.gate_timer = Some(Interval::new(GATE_POLL_MS, move || {
            link.send_message(Msg::Gates(gates::Action::Tick))
        }));
        self.gates.reload();
        self.run_gate_effects(ctx);
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        crate::task::send(ctx.link(), async { Msg::Opened(dm::effects::open().await) });
        let link = ctx.link().clone();
        let listeners = route::listen(move |r| link.send_message(Msg::Route(r)))
            .into_iter()
            .collect();
        App {
            storage: None,
            identity: None,
            dm: DmState::default(),
            gates: GatesState::default(),
            route: route::current(),
            route_applied: false,
            drawer_open: shell::wide_screen(),
            sync: None,
            gate_seen: HashMap::new(),
            messages_ref: NodeRef::default(),
            timer: None,
            gate_timer: None,
            listeners,
            tab_channel: None,
            gate_channel: None,
            _role_sub: None,
            focus_view: false,
            locked: None,
            unlock: None,
            unlock_pass: zeroize::Zeroizing::default(),
            focus_unlock: false,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            Msg::Opened(Ok(Opened::Ready(storage))) => {
                crate::task::send(ctx.link(), async {
                    Msg::Started(dm::effects::load(storage).await)
                });
                false
            }
            Msg::Opened(Ok(Opened::Locked(locked))) => {
                let link = ctx.link().clone();
                locked
                    .on_version_change(move || link.send_message(Msg::Dm(Action::DbVersionChange)));
                self.locked = Some(locked);
                self.unlock = Some(Unlock::Idle);
                self.focus_unlock = true;
                true
            }
            Msg::Opened(Err(e)) => self.dispatch(ctx, Action::Loaded(Err(e))),
            Msg::UnlockInput(p) => {
                self.unlock_pass = zeroize::Zeroizing::new(p);
                true
            }
            Msg::UnlockSubmit => {
                let Some(state) = &self.unlock else {
                    return false;
                };
                let empty = self.unlock_pass.is_empty();
                let (next, go) = state.next(UnlockEvent::Submit { empty });
                self.unlock = Some(next);
                if go {
                    if let Some(locked) = self.locked.take() {
                        let pass = self.unlock_pass.clone();
                        crate::task::send(ctx.link(), async move {
                            Msg::Unlocked(locked.unlock(&pass).await)
                        });
                    }
                }
                true
            }
            Msg::Unlocked(Ok(storage)) => {
                self.unlock = None;
                self.unlock_pass = zeroize::Zeroizing::default();
                crate::task::send(ctx.link(), async {
                    Msg::Started(dm::effects::load(storage).await)
                });
                true
            }
            Msg::Unlocked(Err((locked, e))) => {
                self.locked = Some(locked);
                self.unlock_pass = zeroize::Zeroizing::default();
                self.focus_unlock = true;
                if let Some(state) = &self.unlock {
                    self.unlock = Some(state.next(UnlockEvent::Refused(e)).0);
                }
                true
            }
            Msg::Started(Ok((storage, loaded))) => {
                self.storage = Some(storage);
                self.identity = Some(loaded.identity.clone());
                let r = self.dispatch(ctx, Action::Loaded(Ok(loaded)));
                self.start_gates(ctx);
                let now = self.route.clone();
                self.route_applied = false;
                self.apply_route(ctx, now);
                self.focus_view = false;
                r
            }
            Msg::Started(Err(e)) => self.dispatch(ctx, Action::Loaded(Err(e))),
            Msg::Dm(action) => self.dispatch(ctx, action),
            Msg::Gates(action) => self.dispatch_gates(ctx, action),
            Msg::Route(r) => {
                self.apply_route(ctx, r);
                true
            }
            Msg::Sync(s) => {
                self.sync = Some(s);
                true
            }
            Msg::ToggleDrawer => {
                self.drawer_open = !self.drawer_open;
                true
            }
        }
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        if std::mem::take(&mut self.focus_unlock) {
            dom::focus("unlock-pass");
            return;
        }
        if let Some(status) = self.dm.announce() {
            self.post(&status);
        }
        if let Some(id) = self.dm.focus.take() {
            dom::focus(id);
        } else if std::mem::take(&mut self.focus_view) {
            dom::focus(shell::heading_id(&self.route));
        }
        if std::mem::take(&mut self.dm.scroll_messages) {
            if let Some(el) = self.messages_ref.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        if let Some(state) = &self.unlock {
            return crate::lock::screen(
                state,
                &self.unlock_pass,
                self.dm.db_closed,
                link.callback(Msg::UnlockInput),
                link.callback(|_| Msg::UnlockSubmit),
            );
        }
        let session = self.session();
        let page = shell::page(&shell::Parts {
            dm: &self.dm,
            gates: &self.gates,
            route: &self.route,
            drawer_open: self.drawer_open,
            gate_seen: &self.gate_seen,
            identity: self.identity.as_deref(),
            session: session.as_ref(),
            messages_ref: &self.messages_ref,
            dm_dispatch: link.callback(Msg::Dm),
            gate_dispatch: link.callback(Msg::Gates),
            go: link.callback(Msg::Route),
            toggle_drawer: link.callback(|_| Msg::ToggleDrawer),
            sync: self.sync.as_ref(),
            on_sync: link.callback(Msg::Sync),
        });
        match session {
            Some(session) => html! {
                <ContextProvider<Session> context={session}>{ page }</ContextProvider<Session>>
            },
            None => page,
        }
    }
}
