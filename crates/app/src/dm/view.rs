//! Direct-messaging views: relay status and "Check now" (header), my identity (settings page),
//! the add-contact form (sidebar) and the conversation pane with its compose form (the
//! conversation list is the shell's sidebar). Pure functions of [`DmState`]; every event is an
//! [`Action`] sent through `dispatch`.
use postern_core::dm::MAX_BODY_LEN;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use super::state::{Action, DmState, RelayState, View};
use crate::gates::view::day_sep;
use crate::model::contacts::{fingerprint, short_node_id};
use crate::model::messages::{Direction, OutState, StoredMessage};
use crate::model::route::Route;
use crate::platform::clock::{format_clock, format_time, iso_time};
use crate::qr::{QrCode, Scanner};

/// Ctrl+Enter (⌘+Enter) in the compose box sends the latest text.
fn send_on_ctrl_enter(dispatch: &Callback<Action>) -> Callback<KeyboardEvent> {
    let dispatch = dispatch.clone();
    Callback::from(move |e: KeyboardEvent| {
        if e.key() == "Enter" && (e.ctrl_key() || e.meta_key()) {
            e.prevent_default();
            // Make sure the latest text is in state before sending.
            let v = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            dispatch.emit(Action::SetBody(v));
            dispatch.emit(Action::Send);
        }
    })
}

pub fn relay_status(s: &DmState) -> Html {
    let (state, text) = match s.relay.state {
        RelayState::Checking => ("checking", "connecting"),
        RelayState::Online => ("online", "online"),
        RelayState::Offline => ("offline", "offline"),
    };
    html! {
        <p class="relay" title="Connection to this Postern relay">
            { "Relay: " }
            <span id="relay-status" class={classes!("relay-status", state)} data-state={state} role="status">{ text }</span>
            if let Some(n) = s.relay.contacts_registered {
                <span id="contacts-registered" hidden=true data-count={n.to_string()}></span>
            }
        </p>
    }
}

pub fn identity(s: &DmState, dispatch: &Callback<Action>) -> Html {
    let Some(p) = &s.me else {
        return html! {
            <section class="card" aria-labelledby="me-h">
                <h2 id="me-h">{ "Your identity" }</h2>
                if s.fatal.is_none() {
                    <p class="muted">{ "Loading your identity…" }</p>
                }
            </section>
        };
    };
    html! {
        <section class="card identity" aria-labelledby="me-h">
            <h2 id="me-h">{ "Your identity" }</h2>
            if s.created {
                <p class="hint">{ "A new identity was created and saved in this browser." }</p>
            }
            <p class="hint">{ "Share this with people who should be able to write to you:" }</p>
            <code id="identity-string" class="identity-string" tabindex="0">{ p.to_string() }</code>
            <div class="row">
                <button id="copy-identity" type="button" class="btn" onclick={dispatch.reform(|_| Action::Copy)}>
                    { "Copy" }
                </button>
                <span class="fingerprint">
                    { "Fingerprint " }
                    <strong id="fingerprint" title={p.node_id().to_string()}>{ fingerprint(p) }</strong>
                </span>
            </div>
            <p id="copy-status" class="muted small" aria-live="polite">{ s.copy_status.clone().unwrap_or_default() }</p>
            <p class="hint small">{ "Or let them scan it with Postern's \u{201c}Scan QR code\u{201d}:" }</p>
            <QrCode id="identity-qr" text={p.to_string()}
                label="QR code of your public identity (the same text as shown above)" />
        </section>
    }
}

pub fn add_contact(s: &DmState, dispatch: &Callback<Action>, route: &Route) -> Html {
    html! {
        <section class="card add-contact" aria-labelledby="add-h">
            <h2 id="add-h">{ "Add contact" }</h2>
            <form onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::AddContact })} novalidate=true>
                if let Some(h) = &s.form.hint {
                    <p class="hint">{ h }</p>
                }
                <label for="contact-name">{ "Name" }</label>
                <input id="contact-name" type="text" autocomplete="off" maxlength="64"
                    value={s.form.name.clone()}
                    oninput={dispatch.reform(|e: InputEvent| Action::SetContactName(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                <label for="contact-identity">{ "Their public identity" }</label>
                <textarea id="contact-identity" rows="4" spellcheck="false" autocomplete="off"
                    placeholder="postern2.!sb_…"
                    aria-describedby="contact-error"
                    value={s.form.identity.clone()}
                    oninput={dispatch.reform(|e: InputEvent| Action::SetContactIdentity(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                <Scanner id="scan-identity" label="Scan QR code" reset={route.hash()}
                    on_text={dispatch.reform(Action::ScannedIdentity)} />
                <p id="contact-error" class="error" role="alert">{ s.form.error.clone().unwrap_or_default() }</p>
                <button id="add-contact" type="submit" class="btn btn-primary" disabled={s.form.saving}>{ "Add contact" }</button>
            </form>
            <p class="hint share">
                { "They need yours too: " }
                <button id="copy-identity-quick" type="button" class="btn btn-small" disabled={s.me.is_none()}
                    onclick={dispatch.reform(|_| Action::Copy)}>{ "Copy my identity" }</button>
                <span class="muted small" aria-live="polite">{ s.copy_status.clone().unwrap_or_default() }</span>
            </p>
            if let Some(p) = &s.me {
                <details class="my-qr">
                    <summary id="show-my-qr">{ "Show my QR code" }</summary>
                    <QrCode id="my-identity-qr" text={p.to_string()}
                        label="QR code of your public identity, for their Postern to scan" />
                </details>
            }
        </section>
    }
}

fn message(s: &DmState, dispatch: &Callback<Action>, m: &StoredMessage) -> Html {
    let contact = s.contact(&m.peer_node_id);
    let my_node =
        s.me.as_ref()
            .map(|p| p.node_id().to_string())
            .unwrap_or_default();
    let (sender_node, sender_label) = match m.direction {
        Direction::Out => (my_node, "You".to_string()),
        Direction::In => (
            m.peer_node_id.clone(),
            contact
                .map(|c| c.name.clone())
                .unwrap_or_else(|| short_node_id(&m.peer_node_id)),
        ),
    };
    let to_label = match (m.direction, s.view == View::All) {
        (Direction::Out, true) => Some(format!(
            "to {}",
            contact
                .map(|c| c.name.clone())
                .unwrap_or_else(|| short_node_id(&m.peer_node_id))
        )),
        _ => None,
    };
    let verified = (m.direction == Direction::In).then_some("true");
    let out_state = (m.direction == Direction::Out).then_some(m.state.as_str());
    // Delivered refines sent: `data-state` stays "sent", `data-delivered` marks the ack.
    let (data_state, delivered) = match m.state {
        OutState::Delivered => (
            out_state.map(|_| OutState::Sent.as_str()),
            out_state.map(|_| "true"),
        ),
        _ => (out_state, None),
    };
    let out_error = if m.direction == Direction::Out {
        m.error.clone()
    } else {
        None
    };
    let node = m.peer_node_id.clone();
    let ident = m.peer_identity.clone();
    html! {
        <li key={m.key()} class={classes!("message", "bubble", m.direction.as_str())}
            data-direction={m.direction.as_str()} data-sender={sender_node}
            data-verified={verified} data-msg-id={m.msg_id.clone()} data-state={data_state} data-delivered={delivered}>
            <div class="message-meta">
                <span class="message-sender" title={m.peer_node_id.clone()}>{ sender_label }</span>
                if let Some(t) = to_label { <span class="muted">{ t }</span> }
                if m.direction == Direction::In {
                    <span class="verified" title="Signature verified: sent by the holder of this identity">{ "✓ verified" }</span>
                }
                <time datetime={iso_time(m.timestamp)} title={format_time(m.timestamp)}>{ format_clock(m.timestamp) }</time>
                if let Some(state) = out_state {
                    <span class={classes!("delivery", state)} title={match m.state {
                        OutState::Queued => "Sealed and waiting in this browser's outbox for the relay",
                        OutState::Sent => "Accepted by the relay",
                        OutState::Failed => "Refused by the relay; not retried",
                        OutState::Delivered => "The recipient's device acknowledged it",
                    }}>{ if m.state == OutState::Delivered { "✓✓ delivered" } else { state } }</span>
                }
            </div>
            <p class="message-body">{ &m.body }</p>
            if let Some(e) = out_error {
                <p class="message-error small" role="status">{ e }</p>
            }
            if m.direction == Direction::In {
                <div class="message-actions">
                    if contact.is_some() {
                        <button type="button" class="btn btn-small reply"
                            onclick={dispatch.reform(move |_| Action::Reply(node.clone()))}>{ "Reply" }</button>
                    } else {
                        <span class="unknown">{ "Unknown sender" }</span>
                        <button type="button" class="btn btn-small add-sender"
                            onclick={dispatch.reform(move |_| Action::Prefill(ident.clone()))}>{ "Add contact" }</button>
                    }
                </div>
            }
        </li>
    }
}

pub fn conversation(s: &DmState, dispatch: &Callback<Action>, messages_ref: &NodeRef) -> Html {
    let (title, list): (String, Vec<&StoredMessage>) = match &s.view {
        View::All => ("All messages".into(), s.messages.iter().collect()),
        View::Contact(n) => (
            s.contact(n)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| short_node_id(n)),
            s.messages.iter().filter(|m| &m.peer_node_id == n).collect(),
        ),
    };
    let selected = match &s.view {
        View::Contact(n) => Some(n.clone()),
        View::All => None,
    };
    let mut last_day = String::new();
    let mut bubbles = Vec::with_capacity(list.len() + 4);
    for m in &list {
        if let Some(sep) = day_sep(&mut last_day, m.timestamp) {
            bubbles.push(sep);
        }
        bubbles.push(message(s, dispatch, m));
    }
    let bytes = s.compose.body.len();
    let over = bytes > MAX_BODY_LEN;
    let (status_kind, status_text) = match &s.compose.status {
        Some((k, t)) => (k.as_str(), t.clone()),
        None => ("", String::new()),
    };
    html! {
        <section class="conversation card" aria-labelledby="conv-h">
            <header class="conv-header">
                <a class="back btn btn-small" href="#/">{ "← Chats" }</a>
                <div class="conv-title">
                    <h2 id="conv-h" tabindex="-1">{ title }</h2>
                    if let Some(c) = selected.as_deref().and_then(|n| s.contact(n)) {
                        <span class="muted small" title={c.node_id.clone()}>{ format!("Direct message · {}", short_node_id(&c.node_id)) }</span>
                    } else {
                        <span class="muted small">{ "Every direct message, newest last" }</span>
                    }
                </div>
            </header>
            if let Some(n) = &s.inbox_note {
                <p class="banner banner-warn small" role="status">{ n }</p>
            }
            <ol class="messages" ref={messages_ref.clone()} aria-label="Messages" aria-live="polite" tabindex="0">
                { for bubbles }
            </ol>
            if list.is_empty() {
                <p class="empty muted">{
                    if selected.is_some() { "No messages yet. Say hello!" } else { "No messages yet. Messages are end-to-end encrypted in this tab; the relay only sees sealed envelopes." }
                }</p>
            }
            <form class="compose" onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::Send })}>
                <div class="compose-to">
                    <label for="compose-to">{ "To" }</label>
                    <select id="compose-to" onchange={dispatch.reform(|e: Event| {
                        let v = e.target_unchecked_into::<HtmlSelectElement>().value();
                        if v.is_empty() { Action::Select(View::All) } else { Action::Select(View::Contact(v)) }
                    })}>
                        <option value="" selected={selected.is_none()}>{ "Choose a contact…" }</option>
                        { for s.contacts.iter().map(|c| html! {
                            <option key={c.node_id.clone()} value={c.node_id.clone()}
                                selected={selected.as_deref() == Some(c.node_id.as_str())}>{ &c.name }</option>
                        }) }
                    </select>
                    <span class={classes!("counter", "small", over.then_some("over"))} aria-live="polite">
                        { format!("{bytes} / {MAX_BODY_LEN} bytes") }
                    </span>
                </div>
                <label for="compose-body" class="visually-hidden">{ "Message" }</label>
                <textarea id="compose-body" rows="3" placeholder="Write a message… (Ctrl+Enter to send)"
                    value={s.compose.body.clone()}
                    oninput={dispatch.reform(|e: InputEvent| Action::SetBody(e.target_unchecked_into::<HtmlTextAreaElement>().value()))}
                    onkeydown={send_on_ctrl_enter(dispatch)} />
                <div class="compose-actions">
                    <p id="send-status" class={classes!("send-status", status_kind)} data-state={status_kind} role="status" aria-live="polite">
                        { status_text }
                    </p>
                    <button id="send" type="submit" class="btn btn-primary" disabled={s.compose.sending || s.me.is_none()}>
                        { if s.compose.sending { "Sending…" } else { "Send" } }
                    </button>
                </div>
            </form>
        </section>
    }
}

/// The header's mailbox controls: when it was last checked, and "Check now".
pub fn check_now(s: &DmState, dispatch: &Callback<Action>) -> Html {
    html! {
        <div class="inbox-controls">
            <span class="muted small checked" aria-live="polite">
                { if s.relay.polling { "Checking…".to_string() } else {
                    s.relay.last_check.map(|t| format!("Checked {}", format_clock(t))).unwrap_or_default()
                } }
            </span>
            <button id="check-now" type="button" class="btn btn-small" disabled={s.me.is_none()}
                onclick={dispatch.reform(|_| Action::CheckNow)}>{ "Check now" }</button>
        </div>
    }
}
