//! The relay's own peer checks on the Network page: `GET /api/mesh/infonet/heads/status`
//! (served only with `--public-status`), per peer its last signed head, whether it was
//! consistent and when it was checked, whether it matches this relay's chain, the forks
//! resolved with its events and this relay's events rebased since the relay started, and the
//! misbehaviour seen. A relay without the endpoint gets one plain sentence.
use postern_core::api::heads::{HeadsStatusResponse, PeerHeadStatus, PATH_HEADS_STATUS};
use postern_core::head_pin::EvidenceKind;
use yew::prelude::*;

use super::fetch::{get_json, RoundError};
use crate::model::chain::short;

pub enum Msg {
    Fetch,
    Got(Result<HeadsStatusResponse, RoundError>),
}

pub struct RelayPeers {
    status: Option<Result<HeadsStatusResponse, RoundError>>,
    loading: bool,
}

fn when(secs: u64) -> String {
    if secs == 0 {
        return "never".into();
    }
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0));
    String::from(d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not checked",
    }
}

fn peer_row(p: &PeerHeadStatus) -> Html {
    let listed = p
        .evidence
        .iter()
        .filter(|k| matches!(k, EvidenceKind::Equivocation))
        .count();
    let other = p.evidence.len() - listed;
    // An older relay sends no count: the evidence it lists.
    let equivocations = p.equivocations.max(listed as u64);
    let f = &p.forks;
    let forks_title = format!(
        "took their branch {}, kept ours {}, refused (below a signed head) {}",
        f.adopted, f.kept, f.split
    );
    let rebased_title = format!("our events dropped: {}", f.dropped);
    html! {
        <tr class="peer-head" data-peer={p.peer.clone()} data-consistent={yes_no(p.consistent)}
            data-evidence={p.evidence.len().to_string()}>
            <th scope="row"><code>{ &p.peer }</code></th>
            <td>{ match &p.last_head {
                Some(h) => html! { <span title={h.root.clone()}>{ format!("size {} · {}", h.size, short(&h.root)) }</span> },
                None => html! { { "none yet" } },
            } }</td>
            <td>{ format!("{} · {}", yes_no(p.consistent), when(p.checked_at)) }</td>
            <td>{ yes_no(p.matches_our_chain) }</td>
            <td class="forks-resolved" title={forks_title}>{ f.resolved() }</td>
            <td class="events-rebased" title={rebased_title}>{ f.rebased }</td>
            <td>{ equivocations }</td>
            <td>{ if other == 0 { "none".to_string() } else { format!("{other} other") } }
                if !p.last_error.is_empty() { <div class="muted small">{ &p.last_error }</div> }
            </td>
        </tr>
    }
}

impl Component for RelayPeers {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        ctx.link().send_message(Msg::Fetch);
        RelayPeers {
            status: None,
            loading: false,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Fetch => {
                self.loading = true;
                crate::task::send(ctx.link(), async {
                    Msg::Got(get_json(PATH_HEADS_STATUS).await)
                });
            }
            Msg::Got(r) => {
                self.loading = false;
                self.status = Some(r);
            }
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let body = match &self.status {
            None => html! { <p class="muted">{ "Asking the relay…" }</p> },
            Some(Err(RoundError::Http { status: 404, .. })) => html! {
                <p id="peers-status" class="muted" data-state="unpublished">
                    { "This relay does not publish its checks of other relays (its operator can turn that on with --public-status)." }
                </p>
            },
            Some(Err(RoundError::Unreachable(_))) => html! {
                <p id="peers-status" class="muted" data-state="offline">
                    { "Can't reach the relay. Try again when you are back online." }
                </p>
            },
            Some(Err(e)) => html! {
                <p id="peers-status" class="muted" data-state="error">{ format!("The relay's answer could not be read ({}).", e.reason()) }</p>
            },
            Some(Ok(s)) if s.peers.is_empty() => html! {
                <p id="peers-status" class="muted" data-state="none">{ "This relay checks no other relays." }</p>
            },
            Some(Ok(s)) => html! {
                <div id="peers-status" class="table-wrap" data-state="ok" data-peers={s.peers.len().to_string()}
                    role="region" aria-label="Peer relays" tabindex="0">
                    <table class="peers">
                        <thead><tr>
                            <th scope="col">{ "Peer" }</th><th scope="col">{ "Last signed head" }</th>
                            <th scope="col">{ "Consistent · checked" }</th><th scope="col">{ "Matches this relay" }</th>
                            <th scope="col">{ "Forks resolved" }</th><th scope="col">{ "Events rebased" }</th>
                            <th scope="col">{ "Equivocations" }</th><th scope="col">{ "Other evidence" }</th>
                        </tr></thead>
                        <tbody>{ for s.peers.iter().map(peer_row) }</tbody>
                    </table>
                </div>
            },
        };
        html! {
            <section class="card peers-card" aria-labelledby="peers-h">
                <h2 id="peers-h">{ "What this relay checked of other relays" }</h2>
                { body }
                <button id="peers-refresh" type="button" class="btn btn-small" disabled={self.loading}
                    onclick={ctx.link().callback(|_| Msg::Fetch)}>{ "Refresh" }</button>
            </section>
        }
    }
}
