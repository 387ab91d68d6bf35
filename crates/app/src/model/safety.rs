//! Contact safety: the safety number shown for a contact (core's `safety_number`), "mark
//! verified", and what a newly seen identity of a stored contact means (same keys, a v1 → v2
//! upgrade, or a key change that raises the warning when the contact was verified).
use std::str::FromStr;

use postern_core::safety::safety_number;
use postern_core::PublicIdentity;

use super::contacts::Contact;

/// The safety number of me and a stored contact (`12345 67890 …`); `None` when the stored
/// identity no longer parses.
pub fn safety_number_of(me: &PublicIdentity, c: &Contact) -> Option<String> {
    let them = PublicIdentity::from_str(&c.identity).ok()?;
    Some(safety_number(me, &them).to_string())
}

/// True when the contact was marked verified for the keys it holds now.
pub fn is_verified(c: &Contact) -> bool {
    match (&c.verified, PublicIdentity::from_str(&c.identity)) {
        (Some(v), Ok(now)) => PublicIdentity::from_str(v).is_ok_and(|v| v == now),
        _ => false,
    }
}

/// The contact marked verified for its current keys (any earlier key-change warning is
/// acknowledged by this).
pub fn mark_verified(c: &Contact) -> Contact {
    Contact {
        verified: Some(c.identity.clone()),
        key_change: None,
        ..c.clone()
    }
}

/// What a newly seen identity (a re-added string, a DM's sender) means for a stored contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Another node, the same keys, or nothing that can be trusted to change them: keep.
    Keep,
    /// The same keys, now with the owner's self-signature (v1 → v2): store the bound form.
    Upgraded(Contact),
    /// Different keys, vouched for by the contact's Ed25519 key (a bound v2 string): store
    /// them; `key_change` holds the previous identity when the contact was verified, and the
    /// verification is dropped (the safety number changed).
    KeysChanged(Contact),
}

/// Compare a seen identity with the stored contact of the same node id. An unbound (v1)
/// identity with other keys is never applied (nothing vouches for its X25519 key).
pub fn observe(c: &Contact, seen: &PublicIdentity) -> Seen {
    if seen.node_id() != c.node_id {
        return Seen::Keep;
    }
    let Ok(stored) = PublicIdentity::from_str(&c.identity) else {
        return Seen::Keep;
    };
    if let Some(up) = stored.upgraded_by(seen) {
        if stored.is_bound() {
            return Seen::Keep;
        }
        let identity = up.to_string();
        let verified = is_verified(c).then(|| identity.clone());
        return Seen::Upgraded(Contact {
            identity,
            verified,
            ..c.clone()
        });
    }
    if stored == *seen || !seen.is_bound() {
        return Seen::Keep;
    }
    let was_verified = is_verified(c) || c.key_change.is_some();
    Seen::KeysChanged(Contact {
        identity: seen.to_string(),
        verified: None,
        key_change: was_verified.then(|| c.key_change.clone().unwrap_or(c.identity.clone())),
        ..c.clone()
    })
}

/// The loud warning for a contact whose verified keys changed.
pub fn key_change_warning(c: &Contact) -> Option<String> {
    c.key_change.as_ref().map(|_| {
        format!(
            "{}'s keys changed since you verified them. Compare the new safety number with {} \
             (in person or on a call) before trusting new messages; anyone who swapped keys could \
             read what you send.",
            c.name, c.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_core::Identity;
    use rand_core::OsRng;

    fn contact(p: &PublicIdentity) -> Contact {
        Contact {
            name: "Bob".into(),
            node_id: p.node_id().to_string(),
            identity: p.to_string(),
            added_at: 1,
            verified: None,
            key_change: None,
        }
    }

    /// Bob's node id and Ed25519 key with another X25519 key, unbound (v1 form).
    fn unbound(p: &PublicIdentity) -> PublicIdentity {
        PublicIdentity::from_keys(p.verifying_key().as_bytes(), *p.dh_public().as_bytes()).unwrap()
    }

    #[test]
    fn safety_number_is_shared_and_twelve_groups() {
        let a = Identity::generate(&mut OsRng).public();
        let b = Identity::generate(&mut OsRng).public();
        let ab = safety_number_of(&a, &contact(&b)).unwrap();
        let ba = safety_number_of(&b, &contact(&a)).unwrap();
        assert_eq!(ab, ba);
        let groups: Vec<&str> = ab.split(' ').collect();
        assert_eq!(groups.len(), 12);
        assert!(groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit())));
    }

    #[test]
    fn mark_verified_holds_for_the_same_keys() {
        let bob = Identity::generate(&mut OsRng);
        let c = contact(&bob.public());
        assert!(!is_verified(&c));
        let v = mark_verified(&c);
        assert!(is_verified(&v));
        assert_eq!(observe(&v, &bob.public()), Seen::Keep);
    }

    #[test]
    fn bound_key_change_of_verified_contact_raises_warning() {
        let bob = Identity::generate(&mut OsRng);
        let now = bob.public();
        // What the contact held before: Bob's Ed25519 key with an older X25519 key (v1, so it
        // can be built here without Bob's old secret).
        let older = Identity::generate(&mut OsRng);
        let before = PublicIdentity::from_keys(
            now.verifying_key().as_bytes(),
            *older.dh_public().as_bytes(),
        )
        .unwrap();
        let c = mark_verified(&contact(&before));
        assert!(is_verified(&c));
        let Seen::KeysChanged(changed) = observe(&c, &now) else {
            panic!("a bound key change must be applied and flagged");
        };
        assert_eq!(changed.identity, now.to_string());
        assert!(!is_verified(&changed));
        assert_eq!(
            changed.key_change.as_deref(),
            Some(before.to_string().as_str())
        );
        assert!(key_change_warning(&changed)
            .unwrap()
            .contains("keys changed"));
        // Marking the new keys verified acknowledges the change.
        let ack = mark_verified(&changed);
        assert!(ack.key_change.is_none() && is_verified(&ack));
        // An unverified contact takes the owner's new keys without the warning.
        let Seen::KeysChanged(quiet) = observe(&contact(&before), &now) else {
            panic!()
        };
        assert!(quiet.key_change.is_none());
    }

    #[test]
    fn unbound_key_change_is_never_applied_and_v1_upgrades() {
        let bob = Identity::generate(&mut OsRng);
        let mallory = Identity::generate(&mut OsRng);
        let c = mark_verified(&contact(&bob.public()));
        let forged = PublicIdentity::from_keys(
            bob.public().verifying_key().as_bytes(),
            *mallory.dh_public().as_bytes(),
        )
        .unwrap();
        assert_eq!(observe(&c, &forged), Seen::Keep);
        // A stored v1 contact (migrated record) upgrades to the bound string, keeping its
        // verification.
        let v1 = mark_verified(&contact(&unbound(&bob.public())));
        assert!(v1.identity.starts_with("postern1."));
        let Seen::Upgraded(up) = observe(&v1, &bob.public()) else {
            panic!("v1 → v2 upgrade expected")
        };
        assert!(up.identity.starts_with("postern2."));
        assert!(is_verified(&up));
        // Old records without the new fields still decode (migration).
        let old = r#"{"name":"Bob","node_id":"x","identity":"y","added_at":3}"#;
        let c: Contact = serde_json::from_str(old).unwrap();
        assert!(c.verified.is_none() && c.key_change.is_none());
    }
}
