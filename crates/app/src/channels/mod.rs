//! Public channels panel (own 4 s tick): the reducer is `model::channels` (pure, natively
//! tested), [`effects`] its IndexedDB and relay I/O, [`view`] the channel list, timeline and
//! post form. Storage, identity and leadership come from the session context; only the leader
//! tab sends the outbox, every tab queues into it.
use gloo_timers::callback::Interval;
use yew::context::ContextHandle;
use yew::prelude::*;

use crate::model::channels::{Action, ChannelsModel, Env};
use crate::platform::clock::now_millis;
use crate::platform::idb::ChainWatch;
use crate::session::Session;

pub mod effects;
pub mod view;

const CHANNELS_TICK_MS: u32 = 4_000;

pub enum Msg {
    Channels(Action),
    /// The session context changed (e.g. this tab became the leader).
    Session(Session),
}

/// `shown`: the panel's page is the one on screen. While it is hidden the board still follows
/// the chain (its reducer runs) but nothing is rendered; it renders once shown again (issue 16:
/// the hidden panel re-rendered every few seconds while a first sync stored pages).
#[derive(Properties, PartialEq)]
pub struct Props {
    #[prop_or(true)]
    pub shown: bool,
}

pub struct Channels {
    state: ChannelsModel,
    session: Session,
    _session_handle: Option<ContextHandle<Session>>,
    _timer: Option<Interval>,
    /// The session store's chain watch: the pages this tab's sync stores, folded as stored.
    _watch: ChainWatch,
}

/// Follow what this tab's sync stores through `session`'s store.
fn watch(ctx: &Context<Channels>, session: &Session) -> ChainWatch {
    let link = ctx.link().clone();
    session
        .storage
        .watch_chain(move |change| link.send_message(Msg::Channels(effects::stored(change))))
}

impl Channels {
    fn dispatch(&mut self, ctx: &Context<Self>, action: Action) -> bool {
        let env = Env {
            identity: &self.session.identity,
            leader: self.session.leader(),
            now_ms: now_millis(),
        };
        let render = self.state.reduce(action, &env);
        for effect in self.state.take_effects() {
            let storage = self.session.storage.clone();
            crate::task::send_batch(ctx.link(), async move {
                effects::run(effect, storage)
                    .await
                    .map(Msg::Channels)
                    .into_iter()
                    .collect::<Vec<_>>()
            });
        }
        render
    }
}

impl Component for Channels {
    type Message = Msg;
    type Properties = Props;

    fn create(ctx: &Context<Self>) -> Self {
        let (session, handle) = ctx
            .link()
            .context::<Session>(ctx.link().callback(Msg::Session))
            .expect("Channels is rendered inside the session context");
        let link = ctx.link().clone();
        let c = Channels {
            state: ChannelsModel::new(),
            _watch: watch(ctx, &session),
            session,
            _session_handle: Some(handle),
            _timer: Some(Interval::new(CHANNELS_TICK_MS, move || {
                link.send_message(Msg::Channels(Action::Tick))
            })),
        };
        ctx.link().send_message(Msg::Channels(Action::Tick));
        c
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Channels(action) => self.dispatch(ctx, action) && ctx.props().shown,
            Msg::Session(session) => {
                if !std::rc::Rc::ptr_eq(&session.storage, &self.session.storage) {
                    self._watch = watch(ctx, &session);
                }
                self.session = session;
                true
            }
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        view::panel(
            &self.state,
            &self.session.identity.node_id(),
            &ctx.link().callback(Msg::Channels),
        )
    }
}
