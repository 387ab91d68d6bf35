//! Contact safety in the DM panel: the reducer part (mark verified, a re-added or newly seen
//! identity of a stored contact) and the view of the selected contact's safety number with
//! "Mark verified" and the loud key-change warning. Rules in `model::safety`.
use std::str::FromStr;

use postern_core::PublicIdentity;
use yew::prelude::*;

use super::state::{Action, DmState, Effect, View};
use crate::model::contacts::Contact;
use crate::model::messages::{Direction, StoredMessage};
use crate::model::qr::{safety_payload, SafetyScan};
use crate::model::safety::{
    is_verified, key_change_warning, mark_verified, observe, safety_number_of, Seen,
};
use crate::model::tabs::TabMsg;
use crate::qr::{QrCode, Scanner};

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

/// The result of scanning the contact's safety-number code, in words.
fn scan_result(s: &DmState, node: &str, name: &str, verified: bool) -> Html {
    let Some((_, r)) = s.safety_scan.as_ref().filter(|(n, _)| n == node) else {
        return html! {};
    };
    let (state, class, text) = match r {
        SafetyScan::Match if verified => ("match", "banner banner-ok", "The scanned safety number matches.".to_string()),
        SafetyScan::Match => ("match", "banner banner-ok", format!(
            "The scanned safety number matches. If it came from {name}'s own screen, you can mark {name} verified."
        )),
        SafetyScan::Mismatch => ("mismatch", "banner banner-error", format!(
            "The scanned safety number does NOT match. Do not mark {name} verified: someone may have \
             swapped keys, or this code belongs to another conversation. Check the digits with {name} \
             in person or on a call."
        )),
        SafetyScan::NotSafety => ("other", "banner banner-warn",
            "That QR code is not a Postern safety number. Scan the code on the safety number view of your contact's Postern.".to_string()),
    };
    html! {
        <p id="safety-scan-result" class={class} data-result={state}
            role={if *r == SafetyScan::Match { "status" } else { "alert" }}>{ text }</p>
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
    let scanned = c.node_id.clone();
    html! {
        <section class="card safety" aria-labelledby="safety-h" data-contact-safety={c.name.clone()}
            data-verified={if verified { "true" } else { "false" }}>
            <h2 id="safety-h">{ format!("Safety number with {}", c.name) }</h2>
            if let Some(w) = key_change_warning(c) {
                <p id="key-change-alert" class="banner banner-error" role="alert">{ w }</p>
            }
            <p class="hint small">{ "Compare these digits with your contact (in person or on a call). If they match on both sides, nobody swapped your keys." }</p>
            <code id="safety-number" class="safety-number">{ number.clone() }</code>
            <QrCode id="safety-qr" text={safety_payload(&number)}
                label={format!("QR code of the safety number with {}", c.name)} />
            <Scanner id="scan-safety" label="Scan their safety number" reset={c.node_id.clone()}
                on_text={dispatch.reform(move |t| Action::ScannedSafety(scanned.clone(), t))} />
            { scan_result(s, &c.node_id, &c.name, verified) }
            if verified {
                <p id="safety-verified" class="small">{ "✓ Verified" }</p>
            } else {
                <button id="mark-verified" type="button" class="btn btn-small"
                    onclick={dispatch.reform(move |_| Action::MarkVerified(n.clone()))}>{ "Mark verified" }</button>
            }
        </section>
    }
}
