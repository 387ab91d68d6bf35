//! Gate views for the messenger layout: the sidebar's invitations and create/join forms, and
//! the conversation pane of the selected gate (messages incl. queued posts, compose). The
//! details drawer (invite, members, epoch history) is [`super::drawer`]. Pure functions of
//! [`GatesState`]; every event is an [`Action`] sent through `dispatch`.
use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use super::state::{Action, Env, GateRt, GatesState};
use crate::model::gate_stream::{display_code, hidden_note, note};
use crate::model::gates::opened;
use crate::platform::clock::{day_label, format_clock, iso_time};

/// `#gate-status`: where the last gate operation stands (shown in the pane or the sidebar).
pub fn status(s: &GatesState) -> Html {
    html! {
        <p id="gate-status" class="muted small" role="status">{ s.status.clone().unwrap_or_default() }</p>
    }
}

pub fn invitations(s: &GatesState, env: &Env, dispatch: &Callback<Action>) -> Html {
    html! {
        { for s.invitations.iter().map(|i| {
            let (a, b) = (i.found.gate_id.clone(), i.found.gate_id.clone());
            html! {
                <div class="banner gate-invitation" role="status" data-gate-id={i.found.gate_id.clone()}>
                    <p>{ format!("{} added you to gate {} — join only if you know them.", env.name_of(&i.inviter), &i.found.gate_id[..8]) }</p>
                    <div class="row">
                        <button type="button" class="btn btn-small btn-primary" data-accept-gate={a.clone()}
                            onclick={dispatch.reform(move |_| Action::Accept(a.clone()))}>{ "Accept" }</button>
                        <button type="button" class="btn btn-small" data-ignore-gate={b.clone()}
                            onclick={dispatch.reform(move |_| Action::Ignore(b.clone()))}>{ "Ignore" }</button>
                    </div>
                </div>
            }
        }) }
    }
}

/// Create a gate, or join one with an invite code.
pub fn forms(s: &GatesState, dispatch: &Callback<Action>, with_status: bool) -> Html {
    html! {
        <div class="gate-forms">
            <form class="stack" onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::Create })}>
                <label for="gate-name">{ "New gate name" }</label>
                <div class="inline">
                    <input id="gate-name" type="text" maxlength="64" autocomplete="off" value={s.forms.name.clone()}
                        oninput={dispatch.reform(|e: InputEvent| Action::SetName(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    <button id="create-gate" type="submit" class="btn" disabled={s.busy}>{ "Create gate" }</button>
                </div>
            </form>
            <form class="stack" onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::Join })}>
                <label for="join-code">{ "Join with an invite code" }</label>
                <textarea id="join-code" rows="2" spellcheck="false" placeholder="postern-gate1.…" value={s.forms.join_code.clone()}
                    oninput={dispatch.reform(|e: InputEvent| Action::SetJoinCode(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                <label for="join-gate-name">{ "Name for this gate" }</label>
                <div class="inline">
                    <input id="join-gate-name" type="text" maxlength="64" autocomplete="off" value={s.forms.join_name.clone()}
                        oninput={dispatch.reform(|e: InputEvent| Action::SetJoinName(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    <button id="join-gate" type="submit" class="btn">{ "Join gate" }</button>
                </div>
            </form>
            if with_status { { status(s) } }
        </div>
    }
}

/// The selected gate's conversation: header (details toggle), messages, compose.
pub fn conversation(
    s: &GatesState,
    env: &Env,
    g: &GateRt,
    dispatch: &Callback<Action>,
    drawer_open: bool,
    toggle_drawer: &Callback<MouseEvent>,
) -> Html {
    let me = env.identity.node_id();
    let d = g.derived.as_ref();
    let removed_at = d.and_then(|d| d.removed_at);
    let member_now = d.is_some_and(|d| d.head().roster().contains(&me));
    let alarmed = g.meta.alarm.is_some();
    let mut last_day = String::new();
    let mut bubbles = Vec::with_capacity(g.messages.len() + 4);
    for m in &g.messages {
        if let Some(sep) = day_sep(&mut last_day, m.timestamp) {
            bubbles.push(sep);
        }
        let mine = m.sender == me;
        let key = if m.nonce.is_empty() {
            format!("seq-{}", m.seq)
        } else {
            m.nonce.clone()
        };
        let stream = display_code(m, &g.messages);
        let stream_note = note(m, &g.messages, &env.name_of(&m.sender));
        bubbles.push(html! {
            <li {key} class={classes!("gate-message", "bubble", if mine { "out" } else { "in" })}
                data-state="sent" data-epoch={m.epoch.to_string()} data-sender={m.sender.clone()} data-verified="true"
                data-stream={stream} data-counter={m.counter.map(|c| c.to_string())}>
                <div class="message-meta">
                    <span class="gate-message-sender" title={m.sender.clone()}>{ env.name_of(&m.sender) }</span>
                    <span class="verified" title="Signature verified: sent by this member">{ "✓ verified" }</span>
                    <time datetime={iso_time(m.timestamp)}>{ format_clock(m.timestamp) }</time>
                    <span class="muted">{ format!("epoch {}", m.epoch) }</span>
                    if mine { <span class="delivery sent" title="Accepted by the relay">{ "sent" }</span> }
                </div>
                <p class="gate-message-body">{ &m.body }</p>
                if let Some(n) = stream_note {
                    <p class="gate-stream-note small" data-stream-note={stream}>{ n }</p>
                }
            </li>
        });
    }
    let epoch = d.map(|d| d.head().number());
    html! {
        <section class="conversation card" aria-labelledby="gate-h" data-gate-id={g.meta.gate_id.clone()}>
            <header class="conv-header">
                <a class="back btn btn-small" href="#/">{ "← Chats" }</a>
                <div class="conv-title">
                    <h2 id="gate-h" tabindex="-1">{ &g.meta.name }</h2>
                    <span class="muted small">{
                        match (epoch, d) {
                            (Some(n), Some(d)) => format!("Private gate · {} members · epoch {n}", d.head().roster().len()),
                            _ => "Private gate · verifying its epochs…".to_string(),
                        }
                    }</span>
                </div>
                <button id="gate-details" type="button" class="btn" aria-expanded={drawer_open.to_string()}
                    aria-controls="gate-drawer" onclick={toggle_drawer.clone()}>{ "Details" }</button>
            </header>
            if let Some(a) = &g.meta.alarm {
                <p id="gate-alarm" class="banner banner-error" role="alert" data-kind={a.kind.clone()}>{ &a.detail }</p>
            }
            if let Some(e) = &g.error {
                <p class="banner banner-warn small" role="status">{ e }</p>
            }
            if let Some(n) = removed_at {
                <p id="gate-removed" class="banner banner-warn" role="status">
                    { format!("You were removed at epoch {n}. Newer messages cannot be read; older ones stay here.") }
                </p>
            }
            <ol class="messages gate-messages" aria-label="Gate messages" tabindex="0">
                { for bubbles }
                { for s.outbox.posts.iter().filter(|p| p.gate == g.meta.gate_id).map(|p| {
                    let text = d.and_then(|d| opened(&p.gate, 0, d, &p.message)).map(|m| m.body).unwrap_or_default();
                    html! {
                        <li key={p.message.nonce.clone()} class="gate-message bubble out gate-queued" data-state="queued" data-nonce={p.message.nonce.clone()}>
                            <div class="message-meta">
                                <span class="gate-message-sender">{ "You" }</span>
                                <span class="delivery queued" title="Sealed and waiting in this browser for the relay">{ "queued" }</span>
                            </div>
                            <p class="gate-message-body">{ text }</p>
                        </li>
                    }
                }) }
            </ol>
            if let Some(n) = hidden_note(&g.meta.hidden) {
                <p id="gate-hidden" class="gate-stream-note small" role="status"
                    data-replayed={g.meta.hidden.replayed.to_string()} data-reused={g.meta.hidden.reused.to_string()}
                    data-stale={g.meta.hidden.stale.to_string()}>{ n }</p>
            }
            if g.messages.is_empty() && !s.outbox.posts.iter().any(|p| p.gate == g.meta.gate_id) {
                <p class="empty muted">{ "No messages yet. Only members of the current epoch can read what is posted here." }</p>
            }
            if member_now {
                <form class="compose" onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::Send })}>
                    <label for="gate-compose" class="visually-hidden">{ "Message to the gate" }</label>
                    <textarea id="gate-compose" rows="2" placeholder="Write to the gate…" value={s.forms.body.clone()}
                        oninput={dispatch.reform(|e: InputEvent| Action::SetBody(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                    <div class="compose-actions">
                        { status(s) }
                        <button id="gate-send" type="submit" class="btn btn-primary" disabled={s.busy || alarmed}>{ "Post" }</button>
                    </div>
                </form>
            } else {
                { status(s) }
            }
        </section>
    }
}

/// A day separator before the first message of each day (keyed like the messages).
pub fn day_sep(last: &mut String, secs: u64) -> Option<Html> {
    let day = day_label(secs);
    if *last == day {
        return None;
    }
    *last = day.clone();
    Some(html! { <li class="day-sep" key={format!("day-{day}")}><span>{ day }</span></li> })
}
