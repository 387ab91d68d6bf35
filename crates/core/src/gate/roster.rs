//! Gate rosters: the full member list of one epoch, sorted by member id.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::RosterError;
use super::limits::{MAX_MEMBERS, VERSION};
use super::Role;
use crate::identity::PublicIdentity;
use crate::ids::NodeId;
use crate::wire::{put_count, put_lp, WireError};
use crate::{b64, labels};

/// One member of an epoch. `member_id` is the member's node id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    member: PublicIdentity,
    role: Role,
}

impl RosterEntry {
    pub fn new(member: PublicIdentity, role: Role) -> Self {
        RosterEntry { member, role }
    }

    pub fn member_id(&self) -> &str {
        self.member.node_id()
    }

    pub fn identity(&self) -> &PublicIdentity {
        &self.member
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The wire form.
    pub fn to_record(&self) -> RosterEntryRecord {
        RosterEntryRecord {
            member_id: self.member_id().to_string(),
            ed25519: b64::encode_std(self.member.verifying_key().as_bytes()),
            x25519: b64::encode_std(self.member.dh_public().as_bytes()),
            role: self.role,
            binding: self.member.binding().map(|b| b64::encode_std(b)),
        }
    }
}

/// Wire form of a roster entry (keys as standard base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntryRecord {
    pub member_id: String,
    pub ed25519: String,
    pub x25519: String,
    pub role: Role,
    /// Standard base64 of the member's own identity binding signature (identity v2); absent
    /// for a member added from a legacy (v1) identity. Self-authenticating, so not part of the
    /// rotator-signed bytes; checked on decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
}

impl RosterEntryRecord {
    /// Validate keys and the node-id binding.
    pub fn decode(&self) -> Result<RosterEntry, RosterError> {
        NodeId::parse(&self.member_id).map_err(|_| RosterError::BadMemberId)?;
        let ed = b64::decode_std_array::<32>(&self.ed25519).map_err(|_| RosterError::BadKey)?;
        let x = b64::decode_std_array::<32>(&self.x25519).map_err(|_| RosterError::BadKey)?;
        let member = match &self.binding {
            None => PublicIdentity::from_keys(&ed, x).map_err(|_| RosterError::BadKey)?,
            Some(b) => {
                let sig = b64::decode_std_array::<64>(b).map_err(|_| RosterError::BadBinding)?;
                PublicIdentity::from_bound_keys(&ed, x, &sig).map_err(|e| match e {
                    crate::identity::IdentityError::BadBinding => RosterError::BadBinding,
                    _ => RosterError::BadKey,
                })?
            }
        };
        if member.node_id() != self.member_id {
            return Err(RosterError::NodeIdMismatch);
        }
        Ok(RosterEntry {
            member,
            role: self.role,
        })
    }
}

/// A validated roster: 1..=`MAX_MEMBERS` distinct members, at least one admin, sorted by
/// member id (byte order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    entries: Vec<RosterEntry>,
}

impl Roster {
    /// Validate and sort.
    pub fn new(mut entries: Vec<RosterEntry>) -> Result<Self, RosterError> {
        if entries.is_empty() {
            return Err(RosterError::Empty);
        }
        if entries.len() > MAX_MEMBERS {
            return Err(RosterError::TooLarge);
        }
        entries.sort_by(|a, b| a.member_id().cmp(b.member_id()));
        for pair in entries.windows(2) {
            if let [a, b] = pair {
                if a.member_id() == b.member_id() {
                    return Err(RosterError::DuplicateMember(a.member_id().to_string()));
                }
            }
        }
        if !entries.iter().any(RosterEntry::is_admin) {
            return Err(RosterError::NoAdmin);
        }
        Ok(Roster { entries })
    }

    /// The genesis roster: the founder as sole admin.
    pub fn founder(founder: &PublicIdentity) -> Self {
        Roster {
            entries: vec![RosterEntry::new(founder.clone(), Role::Admin)],
        }
    }

    /// Decode and validate a wire roster.
    pub fn from_records(records: &[RosterEntryRecord]) -> Result<Self, RosterError> {
        if records.len() > MAX_MEMBERS {
            return Err(RosterError::TooLarge);
        }
        let entries = records
            .iter()
            .map(RosterEntryRecord::decode)
            .collect::<Result<Vec<_>, _>>()?;
        Roster::new(entries)
    }

    /// Wire form, sorted by member id.
    pub fn to_records(&self) -> Vec<RosterEntryRecord> {
        self.entries.iter().map(RosterEntry::to_record).collect()
    }

    pub fn entries(&self) -> &[RosterEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false for a validated roster; present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, member_id: &str) -> Option<&RosterEntry> {
        self.entries
            .binary_search_by(|e| e.member_id().cmp(member_id))
            .ok()
            .and_then(|i| self.entries.get(i))
    }

    pub fn contains(&self, member_id: &str) -> bool {
        self.get(member_id).is_some()
    }

    pub fn admins(&self) -> impl Iterator<Item = &RosterEntry> {
        self.entries.iter().filter(|e| e.is_admin())
    }

    /// A copy with `member` added (or its keys/role replaced if already present).
    pub fn with_member(&self, member: PublicIdentity, role: Role) -> Result<Roster, RosterError> {
        let mut entries: Vec<RosterEntry> = self
            .entries
            .iter()
            .filter(|e| e.member_id() != member.node_id())
            .cloned()
            .collect();
        entries.push(RosterEntry::new(member, role));
        Roster::new(entries)
    }

    /// A copy without `member_id` (fails with `NoAdmin` if the last admin would go).
    pub fn without_member(&self, member_id: &str) -> Result<Roster, RosterError> {
        Roster::new(
            self.entries
                .iter()
                .filter(|e| e.member_id() != member_id)
                .cloned()
                .collect(),
        )
    }

    /// Canonical entry encoding: `u16(n) ‖ n × (lp(member_id) ‖ ed25519(32) ‖ x25519(32) ‖ role(1))`.
    pub(crate) fn encode_entries(&self, buf: &mut Vec<u8>) -> Result<(), WireError> {
        put_count(buf, self.entries.len())?;
        for e in &self.entries {
            put_lp(buf, e.member_id().as_bytes())?;
            buf.extend_from_slice(e.member.verifying_key().as_bytes());
            buf.extend_from_slice(e.member.dh_public().as_bytes());
            buf.push(e.role.to_byte());
        }
        Ok(())
    }

    /// `sha256(GATE_ROSTER ‖ 0x01 ‖ entries)`; bound into every wrapped slot.
    pub fn hash(&self) -> [u8; 32] {
        let mut buf = Vec::with_capacity(32 + self.entries.len() * 110);
        buf.extend_from_slice(labels::GATE_ROSTER);
        buf.push(VERSION);
        // A validated roster has ≤ MAX_MEMBERS entries with 36-byte ids: encoding cannot fail.
        let _ = self.encode_entries(&mut buf);
        Sha256::digest(&buf).into()
    }
}
