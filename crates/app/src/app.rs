//! The root component: loads the session (storage, identity), provides it to every panel as a
//! context, runs the DM reducer (`dm::state`) and its effects, owns the timers, browser
//! listeners and the tabs channel, and lays out the page. All crypto runs in wasm via
//! `postern_core`; the relay only ever sees sealed envelopes and signed requests.
use std::rc::Rc;

use gloo_timers::callback::Interval;
use postern_core::Identity;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::dm::{self, Action, DmState, Effect, Env};
use crate::platform::clock::now_millis;
use crate::platform::idb::Storage;
use crate::platform::{dom, tabs};
use crate::session::Session;

/// How often the mailbox is polled.
pub const POLL_INTERVAL_MS: u32 = 4_000;

pub enum Msg {
    /// The start-up load finished (the session's storage and the DM state's data).
    Started(Result<(Rc<Storage>, dm::state::Loaded), String>),
    Dm(Action),
}

pub struct App {
    storage: Option<Rc<Storage>>,
    identity: Option<Rc<Identity>>,
    dm: DmState,
    messages_ref: NodeRef,
    timer: Option<Interval>,
    listeners: Vec<Closure<dyn Fn()>>,
    tab_channel: Option<tabs::Channel>,
    _role_sub: Option<tabs::Subscription>,
}

impl App {
    fn session(&self) -> Option<Session> {
        Some(Session {
            storage: self.storage.clone()?,
            identity: self.identity.clone()?,
            role: self.dm.role,
        })
    }

    fn post(&self, m: &tabs::TabMsg) {
        if let Some(c) = &self.tab_channel {
            c.post(m);
        }
    }

    fn dispatch(&mut self, ctx: &Context<Self>, action: Action) -> bool {
        let env = Env {
            now_ms: now_millis(),
            identity: self.identity.as_deref(),
        };
        let render = self.dm.reduce(action, &env);
        for effect in self.dm.take_effects() {
            self.run(ctx, effect);
        }
        render
    }

    fn run(&mut self, ctx: &Context<Self>, effect: Effect) {
        match effect {
            Effect::Start => self.start(ctx),
            Effect::Post(m) => self.post(&m),
            Effect::StopTimer => self.timer = None,
            Effect::Resign => {
                self.timer = None;
                tabs::resign();
            }
            other => {
                let (Some(storage), Some(id)) = (self.storage.clone(), self.identity.clone())
                else {
                    return;
                };
                ctx.link().send_future_batch(async move {
                    dm::effects::run(other, storage, id)
                        .await
                        .map(Msg::Dm)
                        .into_iter()
                        .collect::<Vec<_>>()
                });
            }
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
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        ctx.link()
            .send_future(async { Msg::Started(dm::effects::load().await) });
        App {
            storage: None,
            identity: None,
            dm: DmState::default(),
            messages_ref: NodeRef::default(),
            timer: None,
            listeners: Vec::new(),
            tab_channel: None,
            _role_sub: None,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            Msg::Started(Ok((storage, loaded))) => {
                self.storage = Some(storage);
                self.identity = Some(loaded.identity.clone());
                self.dispatch(ctx, Action::Loaded(Ok(loaded)))
            }
            Msg::Started(Err(e)) => self.dispatch(ctx, Action::Loaded(Err(e))),
            Msg::Dm(action) => self.dispatch(ctx, action),
        }
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        if let Some(status) = self.dm.announce() {
            self.post(&status);
        }
        if let Some(id) = self.dm.focus.take() {
            dom::focus(id);
        }
        if std::mem::take(&mut self.dm.scroll_messages) {
            if let Some(el) = self.messages_ref.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let s = &self.dm;
        let dispatch = ctx.link().callback(Msg::Dm);
        let ready = if s.ready() { "true" } else { "false" };
        let session = self.session();
        let page = html! {
            <div id="app-ready" class="app" data-ready={ready}>
                <header class="topbar">
                    <div class="brand">
                        <img src="/icon.svg" alt="" width="28" height="28" />
                        <h1>{ "Postern" }</h1>
                    </div>
                    <nav class="topnav"><a id="nav-sync" href="#sync">{ "Chain sync" }</a></nav>
                    { dm::view::relay_status(s) }
                    <p class="relay tab-role muted small" id="tab-role" data-role={s.role.as_str()}
                        title="Only one tab of this browser talks to the relay in the background; the others follow it">
                        { s.role.label() }
                    </p>
                </header>
                if s.db_closed {
                    <div id="db-closed" class="banner banner-warn" role="alert">
                        { "Postern was updated in another tab — reload this tab to continue." }
                    </div>
                }
                if let Some(f) = &s.fatal {
                    <div class="banner banner-error" role="alert">
                        <strong>{ "Postern cannot start. " }</strong>{ f }
                    </div>
                }
                if let Some(e) = &s.relay.error {
                    <div class="banner banner-warn" role="status">{ e }</div>
                }
                <div class="layout">
                    <aside class="sidebar">
                        { dm::view::identity(s, &dispatch) }
                        { dm::view::contacts(s, &dispatch) }
                        { dm::safety::panel(s, &dispatch) }
                        { dm::view::add_contact(s, &dispatch) }
                        if session.is_some() {
                            <crate::settings::Settings />
                        }
                    </aside>
                    { dm::view::conversation(s, &dispatch, &self.messages_ref) }
                </div>
                if session.is_some() {
                    <crate::gates::Gates contacts={s.contacts.clone()} />
                }
                if session.is_some() {
                    <crate::channels::Channels />
                }
                if let Some(session) = &session {
                    <crate::sync::SyncView storage={session.storage.clone()} active={session.leader()} />
                }
            </div>
        };
        match session {
            Some(session) => html! {
                <ContextProvider<Session> context={session}>{ page }</ContextProvider<Session>>
            },
            None => page,
        }
    }
}
