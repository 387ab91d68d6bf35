//! Gates panel views: the gate list, invitations, create/join forms and the selected gate
//! (invite code, admin actions, members, messages incl. queued posts, compose, epoch history).
//! Pure functions of [`GatesState`]; every event is an [`Action`] sent through `dispatch`.
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use super::state::{Action, Env, GatesState};
use crate::model::gates::{invite_code, opened};
use crate::platform::clock::{format_time, iso_time};

pub fn panel(s: &GatesState, env: &Env, dispatch: &Callback<Action>) -> Html {
    html! {
        <section class="card gates" aria-labelledby="gates-h">
            <h2 id="gates-h">{ "Private gates" }</h2>
            <ul class="gate-list">
                { for s.gates.iter().map(|g| {
                    let id = g.meta.gate_id.clone();
                    let active = s.selected.as_deref() == Some(id.as_str());
                    html! {
                        <li key={id.clone()} class={classes!("gate-item", active.then_some("active"))}
                            data-gate={g.meta.name.clone()} data-gate-id={id.clone()}>
                            <button type="button" onclick={dispatch.reform(move |_| Action::Select(id.clone()))}>
                                { &g.meta.name }
                                if let Some(d) = &g.derived {
                                    <span class="muted small">{ format!(" · epoch {}", d.head().number()) }</span>
                                }
                            </button>
                        </li>
                    }
                }) }
            </ul>
            { for s.invitations.iter().map(|i| {
                let (a, b) = (i.found.gate_id.clone(), i.found.gate_id.clone());
                html! {
                    <p class="banner gate-invitation" role="status" data-gate-id={i.found.gate_id.clone()}>
                        { format!("{} added you to gate {} — ", env.name_of(&i.inviter), &i.found.gate_id[..8]) }
                        <button type="button" class="btn btn-small" data-accept-gate={a.clone()}
                            onclick={dispatch.reform(move |_| Action::Accept(a.clone()))}>{ "Accept" }</button>
                        { " " }
                        <button type="button" class="btn btn-small" data-ignore-gate={b.clone()}
                            onclick={dispatch.reform(move |_| Action::Ignore(b.clone()))}>{ "Ignore" }</button>
                    </p>
                }
            }) }
            <div class="gate-forms">
                <form onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::Create })}>
                    <label for="gate-name">{ "New gate name" }</label>
                    <input id="gate-name" type="text" maxlength="64" autocomplete="off" value={s.forms.name.clone()}
                        oninput={dispatch.reform(|e: InputEvent| Action::SetName(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    <button id="create-gate" type="submit" class="btn" disabled={s.busy}>{ "Create gate" }</button>
                </form>
                <form onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::Join })}>
                    <label for="join-code">{ "Join with an invite code" }</label>
                    <textarea id="join-code" rows="2" spellcheck="false" placeholder="postern-gate1.…" value={s.forms.join_code.clone()}
                        oninput={dispatch.reform(|e: InputEvent| Action::SetJoinCode(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                    <label for="join-gate-name">{ "Name for this gate" }</label>
                    <input id="join-gate-name" type="text" maxlength="64" autocomplete="off" value={s.forms.join_name.clone()}
                        oninput={dispatch.reform(|e: InputEvent| Action::SetJoinName(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    <button id="join-gate" type="submit" class="btn">{ "Join gate" }</button>
                </form>
            </div>
            if let Some(st) = &s.status {
                <p id="gate-status" class="muted small" role="status">{ st }</p>
            }
            { selected(s, env, dispatch) }
        </section>
    }
}

fn selected(s: &GatesState, env: &Env, dispatch: &Callback<Action>) -> Html {
    let Some(g) = s.sel() else { return html! {} };
    let me = env.identity.node_id();
    let d = g.derived.as_ref();
    let am_admin = d
        .and_then(|d| d.head().roster().get(&me).map(|e| e.is_admin()))
        .unwrap_or(false);
    let removed_at = d.and_then(|d| d.removed_at);
    let member_now = d.is_some_and(|d| d.head().roster().contains(&me));
    let alarmed = g.meta.alarm.is_some();
    let am_admin = am_admin && !alarmed;
    html! {
        <div class="gate-detail" data-gate-id={g.meta.gate_id.clone()}>
            <h3>{ &g.meta.name }</h3>
            if let Some(a) = &g.meta.alarm {
                <p id="gate-alarm" class="banner banner-error" role="alert" data-kind={a.kind.clone()}>{ &a.detail }</p>
            }
            if let Some(e) = &g.error {
                <p class="banner banner-warn small" role="status">{ e }</p>
            }
            <p class="small">{ "Invite code (share out of band with invited contacts):" }</p>
            <code id="gate-invite-code" class="identity-string">{ invite_code(&g.meta.gate_id, &g.meta.genesis_hash) }</code>
            <button id="gate-copy-invite" type="button" class="btn btn-small" onclick={dispatch.reform(|_| Action::CopyInvite)}>{ "Copy invite code" }</button>
            <span id="gate-copy-status" class="muted small" aria-live="polite">{ s.copy_status.clone().unwrap_or_default() }</span>
            if let Some(n) = removed_at {
                <p id="gate-removed" class="banner banner-warn" role="status">
                    { format!("You were removed at epoch {n}. Newer messages cannot be read.") }
                </p>
            }
            if am_admin {
                <div class="row gate-admin">
                    <label for="gate-invite-contact">{ "Invite contact" }</label>
                    <select id="gate-invite-contact" onchange={dispatch.reform(|e: Event| Action::SetInvitee(e.target_unchecked_into::<HtmlSelectElement>().value()))}>
                        { for env.contacts.iter().map(|c| html! {
                            <option value={c.name.clone()} selected={s.forms.invitee == c.name}>{ &c.name }</option>
                        }) }
                    </select>
                    <button id="gate-invite" type="button" class="btn" disabled={s.busy}
                        onclick={dispatch.reform(|_| Action::Invite)}>{ "Invite" }</button>
                </div>
            }
            if let Some(d) = d {
                <p class="small">{ "Members:" }</p>
                <ul class="gate-members">
                    { for d.head().roster().entries().iter().map(|e| {
                        let node = e.member_id().to_string();
                        let label = env.name_of(&node);
                        let n2 = node.clone();
                        html! {
                            <li class="gate-member" data-member={node.clone()}>
                                { label.clone() }
                                if e.is_admin() { <span class="muted small">{ " (admin)" }</span> }
                                if am_admin && node != me && !e.is_admin() {
                                    { " " }
                                    <button type="button" class="btn btn-small" data-promote-member={label.clone()}
                                        onclick={dispatch.reform({ let n = node.clone(); move |_| Action::Promote(n.clone()) })}>{ "Make admin" }</button>
                                }
                                if am_admin && node != me {
                                    { " " }
                                    <button type="button" class="btn btn-small" data-remove-member={label}
                                        onclick={dispatch.reform(move |_| Action::Remove(n2.clone()))}>{ "Remove" }</button>
                                }
                            </li>
                        }
                    }) }
                </ul>
            }
            <ol class="gate-messages" aria-label="Gate messages">
                { for g.messages.iter().map(|m| html! {
                    <li key={m.seq} class="gate-message" data-state="sent" data-epoch={m.epoch.to_string()} data-sender={m.sender.clone()} data-verified="true">
                        <div class="message-meta">
                            <span class="gate-message-sender" title={m.sender.clone()}>{ env.name_of(&m.sender) }</span>
                            <span class="verified">{ "✓ verified" }</span>
                            <span class="muted small">{ format!("epoch {}", m.epoch) }</span>
                            <time datetime={iso_time(m.timestamp)}>{ format_time(m.timestamp) }</time>
                        </div>
                        <p class="gate-message-body">{ &m.body }</p>
                    </li>
                }) }
                { for s.outbox.posts.iter().filter(|p| p.gate == g.meta.gate_id).map(|p| {
                    let text = d.and_then(|d| opened(&p.gate, 0, d, &p.message)).map(|m| m.body).unwrap_or_default();
                    html! {
                        <li key={p.message.nonce.clone()} class="gate-message gate-queued" data-state="queued" data-nonce={p.message.nonce.clone()}>
                            <div class="message-meta">
                                <span class="gate-message-sender">{ "You" }</span>
                                <span class="delivery muted small">{ "queued" }</span>
                            </div>
                            <p class="gate-message-body">{ text }</p>
                        </li>
                    }
                }) }
            </ol>
            if member_now {
                <form class="compose" onsubmit={dispatch.reform(|e: SubmitEvent| { e.prevent_default(); Action::Send })}>
                    <label for="gate-compose" class="visually-hidden">{ "Gate message" }</label>
                    <textarea id="gate-compose" rows="2" placeholder="Write to the gate…" value={s.forms.body.clone()}
                        oninput={dispatch.reform(|e: InputEvent| Action::SetBody(e.target_unchecked_into::<HtmlTextAreaElement>().value()))} />
                    <button id="gate-send" type="submit" class="btn btn-primary" disabled={s.busy || alarmed}>{ "Post" }</button>
                </form>
            }
            if let Some(d) = d {
                <details class="gate-history" open=true>
                    <summary>{ "Epoch history" }</summary>
                    <table>
                        <thead><tr><th>{ "Epoch" }</th><th>{ "Reason" }</th><th>{ "Rotator" }</th><th>{ "Roster" }</th></tr></thead>
                        <tbody>
                            { for d.epochs.iter().map(|e| html! {
                                <tr class="gate-epoch" data-epoch={e.number().to_string()}>
                                    <td>{ e.number() }</td>
                                    <td>{ format!("{:?}", e.reason()).to_lowercase() }</td>
                                    <td>{ env.name_of(e.rotator_id()) }</td>
                                    <td>{ e.roster().len() }</td>
                                </tr>
                            }) }
                        </tbody>
                    </table>
                </details>
            }
        </div>
    }
}
