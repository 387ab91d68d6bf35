//! The page frame: header (brand, the three sections, a compact relay/sync status), banners,
//! the sidebar ([`sidebar`]) and the view of the route: a conversation pane (DM or gate, with
//! the gate details drawer), the settings, channels or network page. Those pages stay mounted
//! while hidden so their state (backup forms, the public-post outbox, the chain sync loop) lives on.
mod parts;
mod sidebar;

pub use parts::{link, Parts};

use yew::prelude::*;

use crate::dm::{self, DmState};
use crate::gates::{self, drawer, view as gate_view};
use crate::model::route::Route;

/// Below this width the details drawer starts closed and overlays the conversation.
const WIDE_PX: f64 = 1000.0;

/// The drawer starts open where there is room for it.
pub fn wide_screen() -> bool {
    web_sys::window()
        .and_then(|w| w.inner_width().ok())
        .and_then(|v| v.as_f64())
        .is_some_and(|w| w >= WIDE_PX)
}

/// The heading that takes focus when `route` is shown.
pub fn heading_id(route: &Route) -> &'static str {
    match route {
        Route::Home | Route::All | Route::Dm(_) => "conv-h",
        Route::Gate(_) => "gate-h",
        Route::Settings => "settings-page-h",
        Route::Network => "network-page-h",
        Route::Channels => "channels-page-h",
    }
}

/// The header's chain status: a link to the Network page.
fn sync_pill(p: &Parts) -> Html {
    let Some(s) = p.sync else { return html! {} };
    let (state, text) = match (s.alarm, s.state) {
        (true, _) => ("alarm", "Relay alarm: see Network".to_string()),
        (_, "verified") => (
            "verified",
            format!(
                "Chain verified ({})",
                crate::model::chain::events(s.verified)
            ),
        ),
        (_, "verifying") => ("verifying", "Chain: verifying…".to_string()),
        (_, "unverified") => ("unverified", "Chain: not synced yet".to_string()),
        (_, "partial") => (
            "partial",
            format!("Chain: {} checked", crate::model::chain::events(s.verified)),
        ),
        _ => ("problem", "Chain problem: see Network".to_string()),
    };
    html! {
        <a id="header-sync" class={classes!("sync-pill", state)} data-state={state} href="#/network"
            onclick={link(&p.go, Route::Network)}>{ text }</a>
    }
}

fn nav_link(p: &Parts, id: &'static str, route: Route, text: &'static str) -> Html {
    let current = match (&route, p.route) {
        (Route::Home, r) => !matches!(r, Route::Settings | Route::Network | Route::Channels),
        (a, b) => a == b,
    };
    html! {
        <a id={id} href={route.hash()} class={classes!("nav-link", current.then_some("active"))}
            aria-current={current.then_some("page")} onclick={link(&p.go, route)}>{ text }</a>
    }
}

fn header(p: &Parts) -> Html {
    let s = p.dm;
    html! {
        <header class="topbar">
            <h1 class="brand-h">
                <a class="brand" href="#/" onclick={link(&p.go, Route::Home)}>
                    <img src="/icon.svg" alt="" width="28" height="28" />
                    { "Postern" }
                </a>
            </h1>
            <nav class="topnav" aria-label="Sections">
                { nav_link(p, "nav-chats", Route::Home, "Chats") }
                { nav_link(p, "nav-channels", Route::Channels, "Channels") }
                { nav_link(p, "nav-sync", Route::Network, "Network") }
                { nav_link(p, "nav-settings", Route::Settings, "Settings") }
            </nav>
            <div class="status-line">
                { dm::view::relay_status(s) }
                { sync_pill(p) }
                <p class="relay tab-role muted small" id="tab-role" data-role={s.role.as_str()}
                    title="Only one tab of this browser talks to the relay in the background; the others follow it">
                    { s.role.label() }
                </p>
                { dm::view::check_now(s, &p.dm_dispatch) }
            </div>
        </header>
    }
}

fn banners(s: &DmState) -> Html {
    html! {
        <>
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
            if s.relay.state == dm::state::RelayState::Offline {
                <div id="offline-note" class="banner banner-warn" role="status">
                    { "Can't reach the relay. Your messages are kept in this browser and will be sent when it is back." }
                </div>
            }
            if let Some(e) = &s.relay.error {
                <div class="banner banner-warn" role="status">{ e }</div>
            }
        </>
    }
}

/// The conversation pane of the route (and the gate drawer).
fn pane(p: &Parts) -> Html {
    let toggle = p.toggle_drawer.reform(|_: MouseEvent| ());
    match (p.route, p.identity) {
        (Route::Gate(id), Some(me)) => {
            let env = gates::Env {
                identity: me,
                contacts: &p.dm.contacts,
                leader: false,
                now_ms: 0,
            };
            match p.gates.gates.iter().find(|g| &g.meta.gate_id == id) {
                Some(g) => html! {
                    <>
                        { gate_view::conversation(p.gates, &env, g, &p.gate_dispatch, p.drawer_open, &toggle) }
                        if p.drawer_open { { drawer::drawer(p.gates, &env, g, &p.gate_dispatch, &toggle) } }
                    </>
                },
                None => html! {
                    <section class="conversation card" aria-labelledby="gate-h">
                        <header class="conv-header">
                            <a class="back btn btn-small" href="#/">{ "← Chats" }</a>
                            <h2 id="gate-h" tabindex="-1">{ "Gate" }</h2>
                        </header>
                        <p class="empty muted">{ "This gate is not in this browser (yet). Join it with an invite code, or pick a conversation." }</p>
                    </section>
                },
            }
        }
        (Route::Gate(_), None) => html! {
            <section class="conversation card"><p class="empty muted">{ "Loading…" }</p></section>
        },
        _ => html! {
            <>
                { dm::view::conversation(p.dm, &p.dm_dispatch, p.messages_ref) }
                { dm::safety::panel(p.dm, &p.dm_dispatch) }
            </>
        },
    }
}

pub fn page(p: &Parts) -> Html {
    let s = p.dm;
    let ready = if s.ready() { "true" } else { "false" };
    let route = p.route;
    let on_page = |r: Route| *route == r;
    let drawer = matches!(route, Route::Gate(_)) && p.drawer_open;
    html! {
        <div id="app-ready" class="app" data-ready={ready} data-route={route.kind()}>
            <a class="skip-link" href="#main" onclick={Callback::from(|e: MouseEvent| {
                e.prevent_default();
                crate::platform::dom::focus("main");
            })}>{ "Skip to content" }</a>
            { header(p) }
            { banners(s) }
            <div class={classes!("layout", drawer.then_some("with-drawer"))}>
                { sidebar::sidebar(p) }
                <main id="main" class="main" tabindex="-1">
                    if route.is_conversation() || *route == Route::Home {
                        <div class="panes">{ pane(p) }</div>
                    }
                    <div class="page settings-page" hidden={!on_page(Route::Settings)}>
                        <h2 id="settings-page-h" class="page-title" tabindex="-1">{ "Settings" }</h2>
                        { dm::view::identity(s, &p.dm_dispatch) }
                        if p.session.is_some() {
                            <crate::settings::Settings />
                        }
                    </div>
                    <div class="page channels-page" hidden={!on_page(Route::Channels)}>
                        <h2 id="channels-page-h" class="page-title" tabindex="-1">{ "Public channels" }</h2>
                        if p.session.is_some() {
                            <crate::channels::Channels shown={on_page(Route::Channels)} />
                        }
                    </div>
                    <div class="page network-page" hidden={!on_page(Route::Network)}>
                        <h2 id="network-page-h" class="page-title" tabindex="-1">{ "Network" }</h2>
                        <p class="hint">{ "This browser keeps its own verified copy of the Infonet's public chain and checks each relay's signed tree head against it." }</p>
                        if let Some(session) = p.session {
                            <crate::sync::SyncView storage={session.storage.clone()} active={session.leader()} on_status={p.on_sync.clone()} />
                            if on_page(Route::Network) { <crate::sync::peers::RelayPeers /> }
                        }
                    </div>
                </main>
            </div>
        </div>
    }
}
