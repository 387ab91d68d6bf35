//! Epoch records: creation (genesis, rotation), canonical signed bytes, the per-member wrapping
//! of the epoch secret and the verification of one record on its own ([`Epoch`]); the chain
//! rules live in `state` ([`GateState`](super::GateState)).
use std::collections::BTreeMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::Signature;
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::PublicKey as XPublicKey;
use zeroize::Zeroizing;

use super::error::{FormatError, Malformed, RecordError, RotateError, UnwrapError};
use super::roster::{Roster, RosterEntry, RosterEntryRecord};
use super::{GateId, Reason, EPOCH_FORMAT, GENESIS_EPOCH, VERSION, ZERO_HASH};
use crate::identity::Identity;
use crate::ids::NodeId;
use crate::wire::{hex32, put_count, put_lp, put_u64, WireError};
use crate::{b64, labels};

/// Length of the epoch secret.
pub const SECRET_LEN: usize = 32;
/// Length of a slot's AEAD nonce.
pub const SLOT_NONCE_LEN: usize = 12;
/// Length of a slot's ciphertext (secret + Poly1305 tag).
pub const SLOT_CT_LEN: usize = SECRET_LEN + 16;

/// A 32-byte epoch secret. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct EpochSecret(Zeroizing<[u8; SECRET_LEN]>);

impl EpochSecret {
    /// Rebuild from stored bytes (e.g. a persisted keyring).
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        EpochSecret(Zeroizing::new(bytes))
    }

    /// The raw secret, for persistence and test vectors. Handle with care.
    pub fn expose_secret(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut s = Zeroizing::new([0u8; SECRET_LEN]);
        rng.fill_bytes(&mut s[..]);
        EpochSecret(s)
    }
}

impl fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochSecret(<redacted>)")
    }
}

/// Wire form of one wrapped slot (standard base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotRecord {
    /// 12-byte ChaCha20-Poly1305 nonce.
    pub nonce: String,
    /// 48 bytes: the encrypted 32-byte epoch secret and its tag.
    pub ct: String,
}

/// An epoch record as published (JSON). Everything here is visible to relays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochRecord {
    pub format: String,
    pub gate: String,
    pub epoch: u64,
    /// Lower-case hex of the previous epoch hash (64 zeros for genesis).
    pub prev_hash: String,
    pub reason: Reason,
    /// Seconds since the Unix epoch, as claimed by the rotator (signed, not checked).
    pub created_at: u64,
    /// member_id (node id) of the signer.
    pub rotator: String,
    /// Full roster, sorted by member_id.
    pub roster: Vec<RosterEntryRecord>,
    /// member_id → wrapped epoch secret; exactly one slot per roster member.
    pub envelope: BTreeMap<String, SlotRecord>,
    /// Standard base64 of the rotator's 64-byte Ed25519 signature over the canonical bytes.
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    nonce: [u8; SLOT_NONCE_LEN],
    ct: [u8; SLOT_CT_LEN],
}

/// Decoded, signed content of an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Body {
    gate: GateId,
    number: u64,
    prev_hash: [u8; 32],
    reason: Reason,
    created_at: u64,
    rotator: String,
    roster: Roster,
    slots: BTreeMap<String, Slot>,
}

impl Body {
    /// The canonical bytes the rotator signs (see docs/protocol.md § Private gates).
    fn signed_bytes(&self) -> Result<Vec<u8>, WireError> {
        let mut m = Vec::with_capacity(256 + self.roster.len() * 170);
        m.extend_from_slice(labels::GATE_EPOCH_SIG);
        m.push(VERSION);
        put_lp(&mut m, EPOCH_FORMAT.as_bytes())?;
        put_lp(&mut m, self.gate.as_str().as_bytes())?;
        put_u64(&mut m, self.number);
        m.extend_from_slice(&self.prev_hash);
        m.push(self.reason.to_byte());
        put_u64(&mut m, self.created_at);
        put_lp(&mut m, self.rotator.as_bytes())?;
        self.roster.encode_entries(&mut m)?;
        put_count(&mut m, self.slots.len())?;
        for (member_id, slot) in &self.slots {
            put_lp(&mut m, member_id.as_bytes())?;
            m.extend_from_slice(&slot.nonce);
            m.extend_from_slice(&slot.ct);
        }
        Ok(m)
    }

    fn rotator_entry(&self) -> Option<&RosterEntry> {
        self.roster.get(&self.rotator)
    }

    fn to_record(&self, signature: &[u8; 64]) -> EpochRecord {
        EpochRecord {
            format: EPOCH_FORMAT.to_string(),
            gate: self.gate.as_str().to_string(),
            epoch: self.number,
            prev_hash: hex::encode(self.prev_hash),
            reason: self.reason,
            created_at: self.created_at,
            rotator: self.rotator.clone(),
            roster: self.roster.to_records(),
            envelope: self
                .slots
                .iter()
                .map(|(id, s)| {
                    (
                        id.clone(),
                        SlotRecord {
                            nonce: b64::encode_std(&s.nonce),
                            ct: b64::encode_std(&s.ct),
                        },
                    )
                })
                .collect(),
            signature: b64::encode_std(signature),
        }
    }
}

/// `sha256(GATE_EPOCH_HASH ‖ signed_bytes ‖ signature)`.
fn epoch_hash(signed: &[u8], signature: &[u8; 64]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(labels::GATE_EPOCH_HASH);
    h.update(signed);
    h.update(signature);
    h.finalize().into()
}

/// HKDF-SHA256(salt = rotator_x25519 ‖ member_x25519, ikm = X25519(rotator, member),
/// info = GATE_WRAP_KEY ‖ 0x01 ‖ lp(gate) ‖ u64(epoch) ‖ roster_hash ‖ lp(member_id)) → 32 bytes.
fn wrap_key(
    shared: &[u8; 32],
    rotator_dh: &XPublicKey,
    member_dh: &XPublicKey,
    ctx: &WrapContext<'_>,
    member_id: &str,
) -> Result<Zeroizing<[u8; 32]>, Malformed> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(rotator_dh.as_bytes());
    salt[32..].copy_from_slice(member_dh.as_bytes());
    let mut info = Vec::with_capacity(160);
    info.extend_from_slice(labels::GATE_WRAP_KEY);
    info.push(VERSION);
    put_lp(&mut info, ctx.gate.as_str().as_bytes())?;
    put_u64(&mut info, ctx.number);
    info.extend_from_slice(ctx.roster_hash);
    put_lp(&mut info, member_id.as_bytes())?;
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(&info, &mut key[..])
        .map_err(|_| Malformed("hkdf length"))?;
    Ok(key)
}

/// GATE_WRAP_AAD ‖ 0x01 ‖ lp(gate) ‖ u64(epoch) ‖ prev_hash ‖ roster_hash ‖ lp(rotator_id) ‖ lp(member_id)
fn wrap_aad(ctx: &WrapContext<'_>, member_id: &str) -> Result<Vec<u8>, WireError> {
    let mut a = Vec::with_capacity(200);
    a.extend_from_slice(labels::GATE_WRAP_AAD);
    a.push(VERSION);
    put_lp(&mut a, ctx.gate.as_str().as_bytes())?;
    put_u64(&mut a, ctx.number);
    a.extend_from_slice(ctx.prev_hash);
    a.extend_from_slice(ctx.roster_hash);
    put_lp(&mut a, ctx.rotator.as_bytes())?;
    put_lp(&mut a, member_id.as_bytes())?;
    Ok(a)
}

struct WrapContext<'a> {
    gate: &'a GateId,
    number: u64,
    prev_hash: &'a [u8; 32],
    roster_hash: &'a [u8; 32],
    rotator: &'a str,
}

/// Draw a fresh secret, wrap it to every roster member, sign. RNG draws, in order: the 32-byte
/// secret, then one 12-byte nonce per member in roster order.
#[allow(clippy::too_many_arguments)]
fn build(
    rotator: &Identity,
    gate: &GateId,
    number: u64,
    prev_hash: [u8; 32],
    reason: Reason,
    created_at: u64,
    roster: Roster,
    rng: &mut impl CryptoRngCore,
) -> Result<EpochRecord, RotateError> {
    let rotator_id = rotator.node_id();
    let rotator_dh = rotator.dh_public();
    match roster.get(&rotator_id) {
        Some(e) if e.identity().is_of(rotator) => {}
        _ => return Err(RotateError::RotatorNotInRoster),
    }
    let secret = EpochSecret::random(rng);
    let roster_hash = roster.hash();
    let ctx = WrapContext {
        gate,
        number,
        prev_hash: &prev_hash,
        roster_hash: &roster_hash,
        rotator: &rotator_id,
    };
    let mut slots = BTreeMap::new();
    for entry in roster.entries() {
        let member_dh = entry.identity().dh_public();
        let shared = rotator
            .agree(member_dh)
            .ok_or(RotateError::NonContributory)?;
        let key = wrap_key(&shared, &rotator_dh, member_dh, &ctx, entry.member_id())?;
        let mut nonce = [0u8; SLOT_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let aad = wrap_aad(&ctx, entry.member_id())?;
        let ct = ChaCha20Poly1305::new(Key::from_slice(&key[..]))
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &secret.0[..],
                    aad: &aad,
                },
            )
            .map_err(|_| RotateError::Malformed("encryption failed"))?;
        let ct: [u8; SLOT_CT_LEN] = ct
            .try_into()
            .map_err(|_| RotateError::Malformed("slot length"))?;
        slots.insert(entry.member_id().to_string(), Slot { nonce, ct });
    }
    let body = Body {
        gate: gate.clone(),
        number,
        prev_hash,
        reason,
        created_at,
        rotator: rotator_id,
        roster,
        slots,
    };
    let sig = rotator.sign(&body.signed_bytes()?).to_bytes();
    Ok(body.to_record(&sig))
}

/// Create the genesis epoch (number [`GENESIS_EPOCH`]) of a new gate: the founder is the sole
/// member, admin and rotator. Use [`GateId::generate`] for a fresh gate id.
pub fn create_genesis(
    founder: &Identity,
    gate: &GateId,
    created_at: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<EpochRecord, RotateError> {
    let roster = Roster::founder(&founder.public());
    build(
        founder,
        gate,
        GENESIS_EPOCH,
        ZERO_HASH,
        Reason::Genesis,
        created_at,
        roster,
        rng,
    )
}

/// Rotate `prev` to a new epoch with the full `roster` (add members to join, leave them out to
/// kick, keep it unchanged to re-key). `rotator` must be an admin of `prev` and a member of
/// `roster` with its current keys.
pub fn rotate(
    rotator: &Identity,
    prev: &Epoch,
    roster: Roster,
    reason: Reason,
    created_at: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<EpochRecord, RotateError> {
    if reason == Reason::Genesis {
        return Err(RotateError::BadGenesis(
            "reason genesis after the first epoch",
        ));
    }
    let rotator_id = rotator.node_id();
    if !is_admin_of(prev, &rotator_id, rotator.verifying_key().as_bytes()) {
        return Err(RotateError::NotAdmin {
            rotator: rotator_id,
        });
    }
    let number = prev
        .number()
        .checked_add(1)
        .ok_or(RotateError::Malformed("epoch overflow"))?;
    build(
        rotator,
        prev.gate(),
        number,
        *prev.hash(),
        reason,
        created_at,
        roster,
        rng,
    )
}

/// Whether `rotator_id` with Ed25519 key `rotator_ed` is an admin of `prev` (may rotate it).
pub(super) fn is_admin_of(prev: &Epoch, rotator_id: &str, rotator_ed: &[u8; 32]) -> bool {
    matches!(
        prev.roster().get(rotator_id),
        Some(e) if e.is_admin() && e.identity().verifying_key().as_bytes() == rotator_ed
    )
}

/// A signature-verified epoch with a valid roster (not yet checked against its predecessor:
/// [`GateState`](super::GateState) does that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    body: Body,
    signature: [u8; 64],
    signed: Vec<u8>,
    hash: [u8; 32],
}

impl Epoch {
    pub fn gate(&self) -> &GateId {
        &self.body.gate
    }

    pub fn number(&self) -> u64 {
        self.body.number
    }

    pub fn prev_hash(&self) -> &[u8; 32] {
        &self.body.prev_hash
    }

    pub fn reason(&self) -> Reason {
        self.body.reason
    }

    pub fn created_at(&self) -> u64 {
        self.body.created_at
    }

    pub fn rotator_id(&self) -> &str {
        &self.body.rotator
    }

    pub fn roster(&self) -> &Roster {
        &self.body.roster
    }

    /// The rotator's own roster entry (a verified epoch always has one).
    pub(super) fn rotator_entry(&self) -> Option<&RosterEntry> {
        self.body.rotator_entry()
    }

    /// The epoch hash (the next epoch's `prev_hash`).
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The canonical bytes the rotator signed.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed
    }

    /// Back to the wire form.
    pub fn to_record(&self) -> EpochRecord {
        self.body.to_record(&self.signature)
    }

    /// Recover this epoch's secret with my own keys. `NotAMember` if I am not in the roster
    /// (or am listed with other keys); `SlotDecrypt` if my slot does not decrypt.
    pub fn open_secret(&self, me: &Identity) -> Result<EpochSecret, UnwrapError> {
        let not_member = UnwrapError::NotAMember {
            epoch: self.body.number,
        };
        let my_id = me.node_id();
        let entry = self.body.roster.get(&my_id).ok_or(not_member.clone())?;
        if !entry.identity().is_of(me) {
            return Err(not_member);
        }
        let slot = self
            .body
            .slots
            .get(&my_id)
            .ok_or(UnwrapError::EnvelopeMismatch)?;
        let rotator = self
            .body
            .rotator_entry()
            .ok_or(UnwrapError::RotatorNotInRoster)?;
        let rotator_dh = rotator.identity().dh_public();
        let shared = me.agree(rotator_dh).ok_or(UnwrapError::NonContributory)?;
        let roster_hash = self.body.roster.hash();
        let ctx = WrapContext {
            gate: &self.body.gate,
            number: self.body.number,
            prev_hash: &self.body.prev_hash,
            roster_hash: &roster_hash,
            rotator: &self.body.rotator,
        };
        let key = wrap_key(&shared, rotator_dh, &me.dh_public(), &ctx, &my_id)?;
        let aad = wrap_aad(&ctx, &my_id)?;
        let pt = Zeroizing::new(
            ChaCha20Poly1305::new(Key::from_slice(&key[..]))
                .decrypt(
                    Nonce::from_slice(&slot.nonce),
                    Payload {
                        msg: &slot.ct,
                        aad: &aad,
                    },
                )
                .map_err(|_| UnwrapError::SlotDecrypt)?,
        );
        let mut out = Zeroizing::new([0u8; SECRET_LEN]);
        if pt.len() != SECRET_LEN {
            return Err(UnwrapError::SlotDecrypt);
        }
        out.copy_from_slice(&pt);
        Ok(EpochSecret(out))
    }
}

impl EpochRecord {
    /// Parse JSON (unknown fields rejected).
    pub fn from_json(s: &str) -> Result<Self, FormatError> {
        serde_json::from_str(s).map_err(|_| FormatError::Malformed("epoch record JSON"))
    }

    pub fn to_json(&self) -> Result<String, FormatError> {
        serde_json::to_string(self).map_err(|_| FormatError::Malformed("epoch record JSON"))
    }

    fn decode_body(&self) -> Result<Body, RecordError> {
        let malformed = |m| RecordError::Format(FormatError::Malformed(m));
        if self.format != EPOCH_FORMAT {
            return Err(FormatError::UnsupportedFormat.into());
        }
        let gate = GateId::parse(&self.gate).map_err(FormatError::from)?;
        if self.epoch < GENESIS_EPOCH {
            return Err(malformed("epoch must be at least 1"));
        }
        let prev_hash = hex32(&self.prev_hash).ok_or(malformed("prev_hash is not 64 hex chars"))?;
        NodeId::parse(&self.rotator).map_err(|_| malformed("rotator is not a node id"))?;
        let roster = Roster::from_records(&self.roster)?;
        if self.envelope.len() != roster.len() || !self.envelope.keys().all(|k| roster.contains(k))
        {
            return Err(RecordError::EnvelopeMismatch);
        }
        let mut slots = BTreeMap::new();
        for (id, s) in &self.envelope {
            let nonce = b64::decode_std_array::<SLOT_NONCE_LEN>(&s.nonce)
                .map_err(|_| malformed("slot nonce is not 12 bytes of base64"))?;
            let ct = b64::decode_std_array::<SLOT_CT_LEN>(&s.ct)
                .map_err(|_| malformed("slot ct is not 48 bytes of base64"))?;
            slots.insert(id.clone(), Slot { nonce, ct });
        }
        Ok(Body {
            gate,
            number: self.epoch,
            prev_hash,
            reason: self.reason,
            created_at: self.created_at,
            rotator: self.rotator.clone(),
            roster,
            slots,
        })
    }

    /// The canonical bytes to sign (the record must be well-formed; the signature is ignored).
    pub fn signed_bytes(&self) -> Result<Vec<u8>, RecordError> {
        Ok(self.decode_body()?.signed_bytes()?)
    }

    /// (Re-)sign the record's content with `signer` (who must be the named rotator for the
    /// result to verify). Used after editing a record; [`create_genesis`] and [`rotate`] sign.
    pub fn sign(&mut self, signer: &Identity) -> Result<(), RecordError> {
        let signed = self.signed_bytes()?;
        self.signature = b64::encode_std(&signer.sign(&signed).to_bytes());
        Ok(())
    }

    /// Check shape, roster, envelope, the rotator's signature (strict Ed25519) and the genesis
    /// rules. Does not check the link to the previous epoch ([`GateState::apply`](super::GateState::apply) does).
    pub fn verify(&self) -> Result<Epoch, RecordError> {
        let body = self.decode_body()?;
        let signature = b64::decode_std_array::<64>(&self.signature)
            .map_err(|_| FormatError::Malformed("signature is not 64 bytes of base64"))?;
        let rotator = body
            .rotator_entry()
            .ok_or(RecordError::RotatorNotInRoster)?;
        let signed = body.signed_bytes()?;
        rotator
            .identity()
            .verifying_key()
            .verify_strict(&signed, &Signature::from_bytes(&signature))
            .map_err(|_| RecordError::BadSignature)?;
        let genesis = body.number == GENESIS_EPOCH;
        if genesis {
            if body.reason != Reason::Genesis {
                return Err(RecordError::BadGenesis(
                    "first epoch must have reason genesis",
                ));
            }
            if body.prev_hash != ZERO_HASH {
                return Err(RecordError::BadGenesis(
                    "first epoch must have a zero prev_hash",
                ));
            }
            if body.roster.len() != 1 {
                return Err(RecordError::BadGenesis(
                    "first epoch roster must be the founder alone",
                ));
            }
        } else if body.reason == Reason::Genesis {
            return Err(RecordError::BadGenesis(
                "reason genesis after the first epoch",
            ));
        }
        let hash = epoch_hash(&signed, &signature);
        Ok(Epoch {
            body,
            signature,
            signed,
            hash,
        })
    }
}
