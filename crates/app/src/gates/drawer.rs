//! The gate details drawer: invite code (members only), admin actions (admins only: invite a
//! contact, make admin, remove), the member list and the epoch history. A removed member sees
//! only what it can still use: the history, no invite code and no actions.
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use super::state::{Action, Env, GateRt, GatesState};
use crate::model::gates::invite_code;

pub fn drawer(
    s: &GatesState,
    env: &Env,
    g: &GateRt,
    dispatch: &Callback<Action>,
    close: &Callback<MouseEvent>,
) -> Html {
    let me = env.identity.node_id();
    let d = g.derived.as_ref();
    let am_admin = d
        .and_then(|d| d.head().roster().get(&me).map(|e| e.is_admin()))
        .unwrap_or(false)
        && g.meta.alarm.is_none();
    let member_now = d.is_some_and(|d| d.head().roster().contains(&me));
    html! {
        <aside id="gate-drawer" class="drawer card gate-detail" aria-labelledby="drawer-h" data-gate-id={g.meta.gate_id.clone()}>
            <header class="drawer-header">
                <h2 id="drawer-h">{ "Gate details" }</h2>
                <button type="button" class="btn btn-small" aria-label="Close details" onclick={close.clone()}>{ "Close" }</button>
            </header>
            if member_now {
                <section aria-labelledby="invite-h">
                    <h3 id="invite-h">{ "Invite code" }</h3>
                    <p class="hint">{ "Share it out of band with people an admin has invited." }</p>
                    <code id="gate-invite-code" class="identity-string">{ invite_code(&g.meta.gate_id, &g.meta.genesis_hash) }</code>
                    <button id="gate-copy-invite" type="button" class="btn btn-small" onclick={dispatch.reform(|_| Action::CopyInvite)}>{ "Copy invite code" }</button>
                    <span id="gate-copy-status" class="muted small" aria-live="polite">{ s.copy_status.clone().unwrap_or_default() }</span>
                </section>
            }
            if am_admin {
                <section class="gate-admin" aria-labelledby="admin-h">
                    <h3 id="admin-h">{ "Add a member" }</h3>
                    if env.contacts.is_empty() {
                        <p class="hint">{ "Add a contact first; then you can invite them here." }</p>
                    } else {
                        <label for="gate-invite-contact">{ "Contact" }</label>
                        <div class="inline">
                            <select id="gate-invite-contact" onchange={dispatch.reform(|e: Event| Action::SetInvitee(e.target_unchecked_into::<HtmlSelectElement>().value()))}>
                                { for env.contacts.iter().map(|c| html! {
                                    <option value={c.name.clone()} selected={s.forms.invitee == c.name}>{ &c.name }</option>
                                }) }
                            </select>
                            <button id="gate-invite" type="button" class="btn" disabled={s.busy}
                                onclick={dispatch.reform(|_| Action::Invite)}>{ "Invite" }</button>
                        </div>
                    }
                </section>
            }
            if let Some(d) = d {
                <section aria-labelledby="members-h">
                    <h3 id="members-h">{ format!("Members ({})", d.head().roster().len()) }</h3>
                    <ul class="gate-members">
                        { for d.head().roster().entries().iter().map(|e| {
                            let node = e.member_id().to_string();
                            let label = env.name_of(&node);
                            let n2 = node.clone();
                            html! {
                                <li class="gate-member" data-member={node.clone()}>
                                    <span class="member-name">{ label.clone() }</span>
                                    if e.is_admin() { <span class="tag">{ "admin" }</span> }
                                    if am_admin && node != me && !e.is_admin() {
                                        <button type="button" class="btn btn-small" data-promote-member={label.clone()}
                                            aria-label={format!("Make admin: {label}")}
                                            onclick={dispatch.reform({ let n = node.clone(); move |_| Action::Promote(n.clone()) })}>{ "Make admin" }</button>
                                    }
                                    if am_admin && node != me {
                                        <button type="button" class="btn btn-small btn-danger" data-remove-member={label.clone()}
                                            aria-label={format!("Remove: {label}")}
                                            onclick={dispatch.reform(move |_| Action::Remove(n2.clone()))}>{ "Remove" }</button>
                                    }
                                </li>
                            }
                        }) }
                    </ul>
                </section>
                <section class="gate-history" aria-labelledby="history-h">
                    <h3 id="history-h">{ "Epoch history" }</h3>
                    <div class="table-wrap" role="region" aria-label="Epoch history table" tabindex="0">
                        <table>
                            <thead><tr><th scope="col">{ "Epoch" }</th><th scope="col">{ "Reason" }</th><th scope="col">{ "By" }</th><th scope="col">{ "Members" }</th></tr></thead>
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
                    </div>
                </section>
            } else {
                <p class="muted">{ "Fetching and verifying the gate's epochs…" }</p>
            }
        </aside>
    }
}
