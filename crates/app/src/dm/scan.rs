//! What a scanned QR code does in the DM state: an identity read by the add-contact scanner
//! goes through the same rule as a pasted one (`model::contacts`, core's parser and
//! self-signature check); a safety-number code is compared with the contact's safety number.
use std::str::FromStr;

use postern_core::PublicIdentity;

use super::state::{DmState, Env};
use crate::model::contacts::{fingerprint, parse_identity};
use crate::model::qr::compare_safety;
use crate::model::safety::safety_number_of;

impl DmState {
    /// The scanned text fills the identity field. With a name typed (or for a stored contact:
    /// an update of its identity) it is added at once, as "Add contact" would; else it is
    /// checked now and the name is asked for.
    pub(super) fn scanned_identity(&mut self, text: String, env: &Env) -> bool {
        self.form.identity = text.trim().to_string();
        self.form.hint = None;
        let known = PublicIdentity::from_str(&self.form.identity)
            .is_ok_and(|p| self.contact(p.node_id()).is_some());
        if known || !self.form.name.trim().is_empty() {
            return self.add_contact(env);
        }
        let Some(me) = &self.me else {
            self.form.error = Some("Postern is still starting; try again in a moment.".into());
            return true;
        };
        match parse_identity(&self.form.identity, me, &self.contacts) {
            Err(e) => self.form.error = Some(e.to_string()),
            Ok(p) => {
                self.form.error = None;
                self.form.hint = Some(format!(
                    "Scanned an identity (fingerprint {}). Give them a name, then press Add contact.",
                    fingerprint(&p)
                ));
                self.focus = Some("contact-name");
            }
        }
        true
    }

    /// Compare a scanned safety-number code with the one of the contact on screen.
    pub(super) fn scanned_safety(&mut self, node: String, text: &str) -> bool {
        let (Some(me), Some(c)) = (&self.me, self.contact(&node)) else {
            return false;
        };
        let local = safety_number_of(me, c).unwrap_or_default();
        self.safety_scan = Some((node, compare_safety(text, &local)));
        true
    }
}
