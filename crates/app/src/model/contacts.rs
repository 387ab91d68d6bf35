//! Contacts: the stored record, the add-contact rule (core's identity parser) and node-id labels.
use std::str::FromStr;

use postern_core::identity::{IdentityError, NODE_ID_PREFIX};
use postern_core::PublicIdentity;
use serde::{Deserialize, Serialize};

/// Longest contact name accepted.
pub const MAX_CONTACT_NAME_CHARS: usize = 64;

/// A stored contact: a user-chosen label plus the contact's public identity string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub node_id: String,
    /// Public identity string (`postern2.…`, or a legacy `postern1.…` stored before identity
    /// v2), as parsed and re-printed by core.
    pub identity: String,
    pub added_at: u64,
    /// The identity string the user marked verified (safety numbers compared); absent in
    /// records stored before safety numbers (they read as not verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
    /// The verified identity this contact had before its keys changed, until the new keys are
    /// verified: the loud warning stands while it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_change: Option<String>,
}

/// Short, human-checkable form of a node id: the first 8 hex chars, grouped `abcd-ef01`.
pub fn short_node_id(node_id: &str) -> String {
    let hex = node_id.strip_prefix(NODE_ID_PREFIX).unwrap_or(node_id);
    let head: String = hex.chars().take(8).collect();
    if head.len() == 8 {
        format!("{}-{}", &head[..4], &head[4..])
    } else {
        head
    }
}

/// Fingerprint of a public identity (core's `short_id`, grouped for reading aloud).
pub fn fingerprint(public: &PublicIdentity) -> String {
    short_node_id(public.node_id())
}

/// The label for a node id: the contact name if known.
pub fn contact_name<'a>(contacts: &'a [Contact], node_id: &str) -> Option<&'a str> {
    contacts
        .iter()
        .find(|c| c.node_id == node_id)
        .map(|c| c.name.as_str())
}

/// The contact name of a node id, else its short form.
pub fn label_of(contacts: &[Contact], node_id: &str) -> String {
    contact_name(contacts, node_id)
        .map(str::to_string)
        .unwrap_or_else(|| short_node_id(node_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactError {
    EmptyName,
    NameTooLong,
    EmptyIdentity,
    Invalid(IdentityError),
    IsSelf,
    DuplicateName(String),
    DuplicateIdentity(String),
}

impl std::fmt::Display for ContactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContactError::EmptyName => write!(f, "Give the contact a name."),
            ContactError::NameTooLong => {
                write!(
                    f,
                    "The name is too long (at most {MAX_CONTACT_NAME_CHARS} characters)."
                )
            }
            ContactError::EmptyIdentity => {
                write!(f, "Paste the contact's public identity (postern2.…).")
            }
            ContactError::Invalid(e) => write!(f, "That is not a valid Postern identity: {e}."),
            ContactError::IsSelf => write!(f, "That is your own identity."),
            ContactError::DuplicateName(n) => write!(f, "You already have a contact named “{n}”."),
            ContactError::DuplicateIdentity(n) => {
                write!(f, "This identity is already saved as “{n}”.")
            }
        }
    }
}

/// The contact list the relay keeps for my mailbox: the sender_ref each contact deposits under
/// (core's `incoming_sender_ref`), sorted and unique. Deposits under these count against the
/// contacts' budget, so an anonymous flood cannot lock contacts out (issue 14 item 6).
pub fn contact_sender_refs(me: &postern_core::Identity, contacts: &[Contact]) -> Vec<String> {
    let mut refs: Vec<String> = contacts
        .iter()
        .filter_map(|c| PublicIdentity::from_str(&c.identity).ok())
        .filter_map(|p| postern_core::dm::incoming_sender_ref(me, &p).ok())
        .collect();
    super::sort::sort(&mut refs);
    refs.dedup();
    refs
}

/// The identity part of the add-contact rule (core's parser: a tampered string fails its
/// self-signature), shared by a pasted and a scanned string.
pub fn parse_identity(
    identity: &str,
    me: &PublicIdentity,
    existing: &[Contact],
) -> Result<PublicIdentity, ContactError> {
    if identity.trim().is_empty() {
        return Err(ContactError::EmptyIdentity);
    }
    let public = PublicIdentity::from_str(identity).map_err(ContactError::Invalid)?;
    if public.node_id() == me.node_id() {
        return Err(ContactError::IsSelf);
    }
    if let Some(c) = existing.iter().find(|c| c.node_id == public.node_id()) {
        return Err(ContactError::DuplicateIdentity(c.name.clone()));
    }
    Ok(public)
}

/// Validate the add-contact form with core's parser.
pub fn parse_contact(
    name: &str,
    identity: &str,
    me: &PublicIdentity,
    existing: &[Contact],
    now: u64,
) -> Result<Contact, ContactError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ContactError::EmptyName);
    }
    if name.chars().count() > MAX_CONTACT_NAME_CHARS {
        return Err(ContactError::NameTooLong);
    }
    let public = parse_identity(identity, me, existing)?;
    if let Some(c) = existing.iter().find(|c| c.name.eq_ignore_ascii_case(name)) {
        return Err(ContactError::DuplicateName(c.name.clone()));
    }
    Ok(Contact {
        name: name.to_string(),
        node_id: public.node_id().to_string(),
        identity: public.to_string(),
        added_at: now,
        verified: None,
        key_change: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_core::Identity;
    use rand_core::OsRng;

    // Moved from tests/browser.rs (`contact_form_uses_core_parser`).
    #[test]
    fn contact_form_uses_core_parser() {
        let me = Identity::generate(&mut OsRng).public();
        let bob = Identity::generate(&mut OsRng).public();
        let bob_s = bob.to_string();
        let ok = parse_contact("  Bob ", &format!("\n{bob_s}\n"), &me, &[], 1).unwrap();
        assert_eq!(ok.name, "Bob");
        assert_eq!(ok.node_id, bob.node_id());
        assert_eq!(ok.identity, bob_s);

        assert_eq!(
            parse_contact("", &bob_s, &me, &[], 1),
            Err(ContactError::EmptyName)
        );
        assert_eq!(
            parse_contact("Bob", " ", &me, &[], 1),
            Err(ContactError::EmptyIdentity)
        );
        assert_eq!(
            parse_contact("Me", &me.to_string(), &me, &[], 1),
            Err(ContactError::IsSelf)
        );
        assert!(matches!(
            parse_contact("Bob", "postern1.nope", &me, &[], 1),
            Err(ContactError::Invalid(IdentityError::Malformed(_)))
        ));
        let existing = vec![ok.clone()];
        assert_eq!(
            parse_contact("Robert", &bob_s, &me, &existing, 1),
            Err(ContactError::DuplicateIdentity("Bob".into()))
        );
        let carol = Identity::generate(&mut OsRng).public().to_string();
        assert_eq!(
            parse_contact("bob", &carol, &me, &existing, 1),
            Err(ContactError::DuplicateName("Bob".into()))
        );
        // Errors are worded for people.
        let text = ContactError::Invalid(IdentityError::NodeIdMismatch).to_string();
        assert!(text.contains("not a valid Postern identity"), "{text}");
    }

    #[test]
    fn contact_list_holds_the_refs_contacts_deposit_under() {
        let alice = Identity::generate(&mut OsRng);
        let [bob, carol] = [(); 2].map(|_| Identity::generate(&mut OsRng));
        let c = |n: &str, id: &Identity| {
            parse_contact(n, &id.public().to_string(), &alice.public(), &[], 1).unwrap()
        };
        let refs = contact_sender_refs(
            &alice,
            &[c("Bob", &bob), c("Carol", &carol), c("Bob2", &bob)],
        );
        assert_eq!(refs.len(), 2, "sorted and unique");
        assert!(refs.windows(2).all(|w| w[0] < w[1]));
        // What Bob computes when sealing to Alice.
        let a = alice.public();
        let bob_sends =
            postern_core::dm::sender_ref(&bob, &bob.dh_public(), a.dh_public(), a.dh_public())
                .unwrap();
        assert!(refs.contains(&bob_sends));
    }

    // Moved from tests/browser.rs (`short_ids`).
    #[test]
    fn short_ids() {
        assert_eq!(
            short_node_id("!sb_0123456789abcdef0123456789abcdef"),
            "0123-4567"
        );
        let p = Identity::generate(&mut OsRng).public();
        assert_eq!(fingerprint(&p).replace('-', ""), p.short_id());
    }
}
