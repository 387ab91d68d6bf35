//! Private gates panel (own 4 s tick): [`state`] (the `GatesState` reducer; background rounds
//! in `rounds`), [`effects`] (IndexedDB + signed relay I/O answering with actions) and
//! [`view`]. Storage, identity and leadership come from the session context; only the leader
//! tab syncs gates and drains the gate outbox, the others forward work over the tabs channel.
use gloo_timers::callback::Interval;
use yew::context::ContextHandle;
use yew::prelude::*;

use crate::model::contacts::Contact;
use crate::platform::clock::now_millis;
use crate::platform::tabs;
use crate::session::Session;

mod rounds;

pub mod effects;
pub mod state;
pub mod view;

pub use state::{Action, Effect, Env, GatesState};

const GATE_POLL_MS: u32 = 4_000;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub contacts: Vec<Contact>,
}

pub enum Msg {
    Gates(Action),
    /// The session context changed (e.g. this tab became the leader).
    Session(Session),
}

pub struct Gates {
    state: GatesState,
    session: Session,
    _session_handle: Option<ContextHandle<Session>>,
    channel: Option<tabs::Channel>,
    _timer: Option<Interval>,
}

impl Gates {
    fn dispatch(&mut self, ctx: &Context<Self>, action: Action) -> bool {
        let env = Env {
            identity: &self.session.identity,
            contacts: &ctx.props().contacts,
            leader: self.session.leader(),
            now_ms: now_millis(),
        };
        let render = self.state.reduce(action, &env);
        self.run_effects(ctx);
        render
    }
}

impl Component for Gates {
    type Message = Msg;
    type Properties = Props;

    fn create(ctx: &Context<Self>) -> Self {
        let (session, handle) = ctx
            .link()
            .context::<Session>(ctx.link().callback(Msg::Session))
            .expect("Gates is rendered inside the session context");
        let link = ctx.link().clone();
        let channel = Some(tabs::Channel::open(move |m| {
            link.send_message(Msg::Gates(Action::Tab(m)))
        }));
        let link = ctx.link().clone();
        let mut g = Gates {
            state: GatesState::default(),
            session,
            _session_handle: Some(handle),
            channel,
            _timer: Some(Interval::new(GATE_POLL_MS, move || {
                link.send_message(Msg::Gates(Action::Tick))
            })),
        };
        g.state.reload();
        g.run_effects(ctx);
        g
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Gates(action) => self.dispatch(ctx, action),
            Msg::Session(session) => {
                let took_over = session.leader() && !self.session.leader();
                self.session = session;
                if took_over {
                    self.dispatch(ctx, Action::BecameLeader)
                } else {
                    true
                }
            }
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let env = Env {
            identity: &self.session.identity,
            contacts: &ctx.props().contacts,
            leader: self.session.leader(),
            now_ms: 0,
        };
        view::panel(&self.state, &env, &ctx.link().callback(Msg::Gates))
    }
}

impl Gates {
    /// Run the effects the reducer queued: tab posts here, the rest as async tasks.
    fn run_effects(&mut self, ctx: &Context<Self>) {
        for effect in self.state.take_effects() {
            if let Effect::Post(m) = &effect {
                if let Some(c) = &self.channel {
                    c.post(m);
                }
                continue;
            }
            let (storage, me) = (self.session.storage.clone(), self.session.identity.clone());
            ctx.link().send_future_batch(async move {
                effects::run(effect, storage, me)
                    .await
                    .map(Msg::Gates)
                    .into_iter()
                    .collect::<Vec<_>>()
            });
        }
    }
}
