//! The sidebar: every conversation — direct messages and gates together — with its last
//! message and unread count, newest activity first; gate invitations; and the "new
//! conversation" forms (add a contact, create or join a gate). More sections (e.g. public
//! channels) mount here as further `Item` kinds or sections.
use yew::prelude::*;

use super::parts::{link, Parts};
use crate::dm::view::add_contact;
use crate::gates::{self, view as gate_view};
use crate::model::contacts::short_node_id;
use crate::model::messages::Direction;
use crate::model::route::Route;
use crate::platform::clock::format_clock;

/// One row of the conversation list.
struct Item {
    route: Route,
    name: String,
    /// "Gate" or "Direct message" for screen readers and the icon.
    kind: &'static str,
    preview: String,
    /// Last activity (seconds), the sort key.
    at: u64,
    unread: usize,
    /// `data-*` attributes of the e2e contract (`data-contact`/`data-node-id`, or
    /// `data-gate`/`data-gate-id`): name and id.
    class: &'static str,
    data: (String, String),
}

fn preview(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 60 {
        one_line.chars().take(59).collect::<String>() + "…"
    } else {
        one_line
    }
}

fn items(p: &Parts) -> Vec<Item> {
    let s = p.dm;
    let mut out = Vec::new();
    for c in &s.contacts {
        let last = s.messages.iter().rfind(|m| m.peer_node_id == c.node_id);
        let text = match last {
            Some(m) if m.direction == Direction::Out => format!("You: {}", preview(&m.body)),
            Some(m) => preview(&m.body),
            None => "No messages yet".into(),
        };
        out.push(Item {
            route: Route::Dm(c.node_id.clone()),
            name: c.name.clone(),
            kind: "Direct message",
            preview: text,
            at: last.map_or(c.added_at / 1000, |m| m.timestamp),
            unread: s.unread.get(&c.node_id).copied().unwrap_or(0),
            class: "contact-item",
            data: (c.name.clone(), c.node_id.clone()),
        });
    }
    for g in &p.gates.gates {
        let id = &g.meta.gate_id;
        let last = g.messages.last();
        let text = match (last, p.identity) {
            (Some(m), Some(me)) if m.sender == me.node_id() => format!("You: {}", preview(&m.body)),
            (Some(m), _) => {
                let who = s
                    .contact(&m.sender)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| short_node_id(&m.sender));
                format!("{who}: {}", preview(&m.body))
            }
            (None, _) => match &g.derived {
                Some(d) => format!("{} members · no messages yet", d.head().roster().len()),
                None => "Verifying the gate…".into(),
            },
        };
        let seen = p.gate_seen.get(id).copied().unwrap_or(g.messages.len());
        out.push(Item {
            route: Route::Gate(id.clone()),
            name: g.meta.name.clone(),
            kind: "Gate",
            preview: text,
            at: last.map_or(g.meta.added_at / 1000, |m| m.timestamp),
            unread: g.messages.len().saturating_sub(seen),
            class: "gate-item",
            data: (g.meta.name.clone(), id.clone()),
        });
    }
    crate::model::sort::sort_by(&mut out, |a, b| {
        b.at.cmp(&a.at).then_with(|| a.name.cmp(&b.name))
    });
    out
}

fn row(it: Item, p: &Parts) -> Html {
    let active = *p.route == it.route;
    let href = it.route.hash();
    let gate = it.kind == "Gate";
    let (name, id) = it.data;
    let icon = if gate { "#" } else { "@" };
    let (dm_name, dm_id) = if gate {
        (None, None)
    } else {
        (Some(name.clone()), Some(id.clone()))
    };
    let (gate_name, gate_id) = if gate {
        (Some(name), Some(id))
    } else {
        (None, None)
    };
    html! {
        <li class={classes!("conv-item", it.class, active.then_some("active"))}
            data-contact={dm_name} data-node-id={dm_id} data-gate={gate_name} data-gate-id={gate_id}>
            <a href={href} onclick={link(&p.go, it.route.clone())} aria-current={active.then_some("page")}>
                <span class="avatar" aria-hidden="true">{ icon }</span>
                <span class="conv-text">
                    <span class="conv-line">
                        <span class="contact-name"><span class="visually-hidden">{ format!("{}: ", it.kind) }</span>{ &it.name }</span>
                        if it.at > 0 { <span class="conv-time muted small">{ format_clock(it.at) }</span> }
                    </span>
                    <span class="conv-line">
                        <span class="conv-preview muted small">{ &it.preview }</span>
                        if it.unread > 0 { <span class="badge">{ it.unread }<span class="visually-hidden">{ " unread" }</span></span> }
                    </span>
                </span>
            </a>
        </li>
    }
}

pub fn sidebar(p: &Parts) -> Html {
    let s = p.dm;
    let all_unread = s.unread.get("").copied().unwrap_or(0);
    let all_active = matches!(p.route, Route::All) || (*p.route == Route::Home);
    let list = items(p);
    let empty = list.is_empty();
    html! {
        <aside class="sidebar" aria-label="Conversations">
            <div class="card conv-card">
                <h2 id="contacts-h">{ "Chats" }</h2>
                <ul class="contact-list conv-list" aria-labelledby="contacts-h">
                    <li class={classes!("conv-item", "contact-item", all_active.then_some("active"))}>
                        <a id="view-all" href="#/all" onclick={link(&p.go, Route::All)}
                            aria-current={all_active.then_some("page")}>
                            <span class="avatar" aria-hidden="true">{ "*" }</span>
                            <span class="conv-text">
                                <span class="conv-line">
                                    <span class="contact-name">{ "All messages" }</span>
                                    if all_unread > 0 { <span class="badge">{ all_unread }<span class="visually-hidden">{ " unread" }</span></span> }
                                </span>
                            </span>
                        </a>
                    </li>
                    { for list.into_iter().map(|it| row(it, p)) }
                </ul>
                if empty {
                    <p class="muted small">{ "No conversations yet. Add a contact below with their public identity, or create a gate." }</p>
                }
            </div>
            if let Some(id) = p.identity {
                { gate_view::invitations(p.gates, &gates::Env { identity: id, contacts: &s.contacts, leader: false, now_ms: 0 }, &p.gate_dispatch) }
            }
            { add_contact(s, &p.dm_dispatch, p.route) }
            <section class="card" aria-labelledby="new-gate-h">
                <h2 id="new-gate-h">{ "Private gates" }</h2>
                { gate_view::forms(p.gates, &p.gate_dispatch, !matches!(p.route, Route::Gate(_))) }
            </section>
        </aside>
    }
}
