//! Contact safety in the DM panel: the reducer part (mark verified, a re-added or newly seen
//! identity of a stored contact) and the view of the selected contact's safety number with
//! "Mark verified" and the loud key-change warning. Rules in `model::safety`.
use std::str::FromStr;

use postern_core::PublicIdentity;
use yew::prelude::*;

use super::state::{Action, DmState, Effect, View};
use crate::model::contacts::Contact;
use crate::model::messages::{Direction, StoredMessage};
use crate::model::safety::{
    is_verified, key_change_warning, mark_verified, observe, safety_number_of, Seen,
};
use crate::model::tabs::TabMsg;

impl DmState {
    pub(super) fn mark_verified(&mut self, node: &str) -> bool {
        if let Some(c) = self.contact(node) {
            let c = mark_verified(c);
            self.fx(Effect::UpdateContact(c));
        }
        false
    }

    pub(super) fn on_contact_updated(&mut self, r: Result<Contact, String>) -> bool {
        match r {
            Ok(c) => {
                self.post(TabMsg::Changed);
                if let Some(old) = self.contacts.iter_mut().find(|x| x.node_id == c.node_id) {
                    *old = c;
                }
                self.register_contacts();
            }
            Err(e) => self.inbox_note = Some(format!("Could not save the contact: {e}")),
        }
        true
    }

    /// The add-contact form holds another string of a stored contact (same node id): a v1 →
    /// v2 upgrade or a key change signed by the contact is applied to the stored contact
    /// (the warning is raised when it was verified). False when the form is not such a case.
    pub(super) fn readd_contact(&mut self) -> bool {
        let Ok(seen) = PublicIdentity::from_str(&self.form.identity) else {
            return false;
        };
        let Some(c) = self.contact(seen.node_id()) else {
            return false;
        };
        let name = c.name.clone();
        let c = match observe(c, &seen) {
            Seen::Keep => return false,
            Seen::Upgraded(c) => {
                self.form.hint = Some(format!("{name}'s identity was updated to its signed form."));
                c
            }
            Seen::KeysChanged(c) => {
                self.form.hint = Some(format!("{name}'s keys changed: compare the safety number."));
                c
            }
        };
        self.form.error = None;
        self.form.name.clear();
        self.form.identity.clear();
        self.select(View::Contact(c.node_id.clone()));
        self.fx(Effect::UpdateContact(c));
        true
    }

    /// A received DM names its sender's identity (core checked its signature and binding):
    /// apply an upgrade or a signed key change of that contact.
    pub(super) fn observe_sender(&mut self, m: &StoredMessage) {
        if m.direction != Direction::In {
            return;
        }
        let (Some(c), Ok(seen)) = (
            self.contact(&m.peer_node_id),
            PublicIdentity::from_str(&m.peer_identity),
        ) else {
            return;
        };
        match observe(c, &seen) {
            Seen::Keep => {}
            Seen::Upgraded(c) | Seen::KeysChanged(c) => self.fx(Effect::UpdateContact(c)),
        }
    }
}

/// The selected contact's safety number, "Mark verified" and the key-change warning.
pub fn panel(s: &DmState, dispatch: &Callback<Action>) -> Html {
    let (View::Contact(node), Some(me)) = (&s.view, &s.me) else {
        return html! {};
    };
    let Some(c) = s.contact(node) else {
        return html! {};
    };
    let number = safety_number_of(me, c).unwrap_or_default();
    let verified = is_verified(c);
    let n = c.node_id.clone();
    html! {
        <section class="card safety" aria-labelledby="safety-h" data-contact-safety={c.name.clone()}
            data-verified={if verified { "true" } else { "false" }}>
            <h2 id="safety-h">{ format!("Safety number with {}", c.name) }</h2>
            if let Some(w) = key_change_warning(c) {
                <p id="key-change-alert" class="banner banner-error" role="alert">{ w }</p>
            }
            <p class="hint small">{ "Compare these digits with your contact (in person or on a call). If they match on both sides, nobody swapped your keys." }</p>
            <code id="safety-number" class="safety-number">{ number }</code>
            if verified {
                <p id="safety-verified" class="small">{ "✓ Verified" }</p>
            } else {
                <button id="mark-verified" type="button" class="btn btn-small"
                    onclick={dispatch.reform(move |_| Action::MarkVerified(n.clone()))}>{ "Mark verified" }</button>
            }
        </section>
    }
}
