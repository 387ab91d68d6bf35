//! Sealed gate messages: the payload of an Infonet/2 private-lane `gate_message` event.
use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::Signature;
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::{FormatError, Malformed, OpenError, SealError};
use super::key::EpochKey;
use super::limits::{
    BUCKETS, GENESIS_EPOCH, HEADER_LEN_V2, INNER_VERSION_COUNTED, MAX_BODY_LEN, MAX_CIPHERTEXT_B64,
    MESSAGE_FORMAT, NONCE_LEN, SENDER_REF_BYTES, TAG_LEN, TRANSPORT_LOCK, VERSION,
};
use super::{GateId, Role};
use crate::identity::{node_id_for_public_key, Identity, PublicIdentity};
use crate::wire::{put_lp, put_u64, take, WireError};
use crate::{b64, labels, pad};

/// A sealed gate message: exactly the fields of Infonet/2's `gate_message` payload. Everything
/// here is visible to relays; it names neither the author nor the body length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateMessage {
    pub gate: String,
    /// Standard base64 of the AEAD ciphertext (padded inner plaintext + 16-byte tag).
    pub ciphertext: String,
    /// Standard base64 of the 16-byte random message nonce.
    pub nonce: String,
    /// Per-message author pseudonym (32 hex chars), unlinkable without the epoch secret.
    pub sender_ref: String,
    pub format: String,
    pub epoch: u64,
    pub transport_lock: String,
}

/// An opened gate message whose author is authenticated against the epoch roster.
#[derive(Clone)]
pub struct OpenedGateMessage {
    pub gate: GateId,
    pub epoch: u64,
    /// The author's member id (node id).
    pub member_id: String,
    /// The author's role in that epoch.
    pub role: Role,
    pub author: PublicIdentity,
    /// Seconds since the Unix epoch, as claimed (and signed) by the author.
    pub timestamp: u64,
    /// The author's per-gate message counter (1, 2, …, signed inside the ciphertext); `None`
    /// for a legacy (inner version 1) message. See [`AuthorStreams`](super::AuthorStreams).
    pub counter: Option<u64>,
    pub body: Zeroizing<Vec<u8>>,
}

impl OpenedGateMessage {
    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, FormatError> {
        std::str::from_utf8(&self.body).map_err(|_| FormatError::Malformed("body is not UTF-8"))
    }
}

impl fmt::Debug for OpenedGateMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedGateMessage")
            .field("gate", &self.gate)
            .field("epoch", &self.epoch)
            .field("member_id", &self.member_id)
            .field("role", &self.role)
            .field("timestamp", &self.timestamp)
            .field("counter", &self.counter)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

struct Decoded {
    gate: GateId,
    nonce: [u8; NONCE_LEN],
    ct: Vec<u8>,
}

impl GateMessage {
    /// Parse JSON (unknown fields rejected).
    pub fn from_json(s: &str) -> Result<Self, FormatError> {
        serde_json::from_str(s).map_err(|_| FormatError::Malformed("gate message JSON"))
    }

    pub fn to_json(&self) -> Result<String, FormatError> {
        serde_json::to_string(self).map_err(|_| FormatError::Malformed("gate message JSON"))
    }

    /// Shape checks (no keys needed); a relay runs these before storing a message.
    pub fn validate(&self) -> Result<(), FormatError> {
        self.decode().map(|_| ())
    }

    fn decode(&self) -> Result<Decoded, FormatError> {
        if self.format != MESSAGE_FORMAT {
            return Err(FormatError::UnsupportedFormat);
        }
        if self.transport_lock != TRANSPORT_LOCK {
            return Err(FormatError::Malformed(
                "transport_lock must be private_strong",
            ));
        }
        let gate = GateId::parse(&self.gate)?;
        if self.epoch < GENESIS_EPOCH {
            return Err(FormatError::Malformed("epoch must be at least 1"));
        }
        let nonce = b64::decode_std_array::<NONCE_LEN>(&self.nonce)
            .map_err(|_| FormatError::Malformed("nonce is not 16 bytes of base64"))?;
        if self.sender_ref.len() != SENDER_REF_BYTES * 2
            || !self
                .sender_ref
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(FormatError::Malformed(
                "sender_ref is not 32 lower-case hex chars",
            ));
        }
        if self.ciphertext.len() > MAX_CIPHERTEXT_B64 {
            return Err(FormatError::Malformed("ciphertext too large"));
        }
        let ct = b64::decode_std(&self.ciphertext)
            .map_err(|_| FormatError::Malformed("ciphertext is not base64"))?;
        if !BUCKETS.iter().any(|&b| b + TAG_LEN == ct.len()) {
            return Err(FormatError::Malformed("ciphertext is not a bucket size"));
        }
        Ok(Decoded { gate, nonce, ct })
    }
}

/// Common HKDF `info` tail: `0x01 ‖ lp(gate) ‖ u64(epoch) ‖ epoch_hash`.
fn info(label: &[u8], key: &EpochKey) -> Result<Vec<u8>, WireError> {
    info_v(label, VERSION, key)
}

/// [`info`] with another version byte (the signed message of a counted message uses 0x02).
fn info_v(label: &[u8], version: u8, key: &EpochKey) -> Result<Vec<u8>, WireError> {
    let mut i = Vec::with_capacity(label.len() + 120);
    i.extend_from_slice(label);
    i.push(version);
    put_lp(&mut i, key.gate().as_str().as_bytes())?;
    put_u64(&mut i, key.epoch());
    i.extend_from_slice(key.epoch_hash());
    Ok(i)
}

/// `key ‖ aead_nonce = HKDF-SHA256(salt = nonce, ikm = epoch_secret,
/// info = GATE_MSG_KEY ‖ 0x01 ‖ lp(gate) ‖ u64(epoch) ‖ epoch_hash, L = 44)`.
fn message_key(
    key: &EpochKey,
    nonce: &[u8; NONCE_LEN],
) -> Result<(Zeroizing<[u8; 32]>, [u8; 12]), Malformed> {
    let hk = Hkdf::<Sha256>::new(Some(nonce), key.secret().expose_secret());
    let mut okm = Zeroizing::new([0u8; 44]);
    hk.expand(&info(labels::GATE_MSG_KEY, key)?, &mut okm[..])
        .map_err(|_| Malformed("hkdf length"))?;
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(&okm[..32]);
    let mut n = [0u8; 12];
    n.copy_from_slice(&okm[32..]);
    Ok((k, n))
}

/// `hex(HKDF-SHA256(salt = nonce, ikm = epoch_secret,
/// info = GATE_SENDER_REF ‖ 0x01 ‖ lp(gate) ‖ u64(epoch) ‖ epoch_hash ‖ lp(member_id), L = 16))`.
/// Fails only if an internal encoding step does (`FormatError::Malformed`).
pub fn sender_ref(
    key: &EpochKey,
    nonce: &[u8; NONCE_LEN],
    member_id: &str,
) -> Result<String, FormatError> {
    Ok(derive_sender_ref(key, nonce, member_id)?)
}

fn derive_sender_ref(
    key: &EpochKey,
    nonce: &[u8; NONCE_LEN],
    member_id: &str,
) -> Result<String, Malformed> {
    let hk = Hkdf::<Sha256>::new(Some(nonce), key.secret().expose_secret());
    let mut i = info(labels::GATE_SENDER_REF, key)?;
    put_lp(&mut i, member_id.as_bytes())?;
    let mut out = [0u8; SENDER_REF_BYTES];
    hk.expand(&i, &mut out)
        .map_err(|_| Malformed("hkdf length"))?;
    Ok(hex::encode(out))
}

/// `GATE_MSG_AAD ‖ 0x01 ‖ lp(format) ‖ lp(transport_lock) ‖ lp(gate) ‖ u64(epoch) ‖ nonce ‖ lp(sender_ref)`
fn aad(gate: &str, epoch: u64, nonce: &[u8; NONCE_LEN], sref: &str) -> Result<Vec<u8>, WireError> {
    let mut a = Vec::with_capacity(160);
    a.extend_from_slice(labels::GATE_MSG_AAD);
    a.push(VERSION);
    put_lp(&mut a, MESSAGE_FORMAT.as_bytes())?;
    put_lp(&mut a, TRANSPORT_LOCK.as_bytes())?;
    put_lp(&mut a, gate.as_bytes())?;
    put_u64(&mut a, epoch);
    a.extend_from_slice(nonce);
    put_lp(&mut a, sref.as_bytes())?;
    Ok(a)
}

/// v1: `GATE_MSG_SIG ‖ 0x01 ‖ lp(gate) ‖ u64(epoch) ‖ epoch_hash ‖ nonce ‖ lp(sender_ref) ‖
/// u64(timestamp) ‖ sha256(body)`; v2 (with a counter): `GATE_MSG_SIG ‖ 0x02 ‖ … ‖
/// u64(timestamp) ‖ u64(counter) ‖ sha256(body)`.
fn signed_message(
    key: &EpochKey,
    nonce: &[u8; NONCE_LEN],
    sref: &str,
    timestamp: u64,
    counter: Option<u64>,
    body: &[u8],
) -> Result<Vec<u8>, WireError> {
    let mut m = match counter {
        None => info(labels::GATE_MSG_SIG, key)?,
        Some(_) => info_v(labels::GATE_MSG_SIG, INNER_VERSION_COUNTED, key)?,
    };
    m.extend_from_slice(nonce);
    put_lp(&mut m, sref.as_bytes())?;
    put_u64(&mut m, timestamp);
    if let Some(c) = counter {
        put_u64(&mut m, c);
    }
    m.extend_from_slice(&Sha256::digest(body));
    Ok(m)
}

/// Seal `body` from `author` under `key` in the legacy inner format (no counter). Prefer
/// [`seal_counted`]. RNG draws: the 16-byte message nonce.
pub fn seal(
    author: &Identity,
    key: &EpochKey,
    body: &[u8],
    timestamp: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<GateMessage, SealError> {
    seal_inner(author, key, body, timestamp, None, rng)
}

/// Seal `body` from `author` under `key` with the author's per-gate `counter` (1 for the
/// author's first message in the gate, then +1 per message, across epochs), signed inside the
/// ciphertext so members detect dropped, replayed and reordered messages. The author must be
/// in the epoch roster with the same Ed25519 key. RNG draws: the 16-byte message nonce.
pub fn seal_counted(
    author: &Identity,
    key: &EpochKey,
    body: &[u8],
    timestamp: u64,
    counter: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<GateMessage, SealError> {
    seal_inner(author, key, body, timestamp, Some(counter), rng)
}

fn seal_inner(
    author: &Identity,
    key: &EpochKey,
    body: &[u8],
    timestamp: u64,
    counter: Option<u64>,
    rng: &mut impl CryptoRngCore,
) -> Result<GateMessage, SealError> {
    if body.len() > MAX_BODY_LEN {
        return Err(SealError::BodyTooLarge(body.len()));
    }
    let member_id = author.node_id();
    let author_ed = author.verifying_key();
    match key.roster().get(&member_id) {
        Some(e) if e.identity().verifying_key() == &author_ed => {}
        _ => return Err(SealError::AuthorNotInRoster),
    }
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let sref = derive_sender_ref(key, &nonce, &member_id)?;
    let sig = author.sign(&signed_message(
        key, &nonce, &sref, timestamp, counter, body,
    )?);

    let mut inner = Zeroizing::new(Vec::with_capacity(HEADER_LEN_V2 + body.len()));
    inner.push(if counter.is_some() {
        INNER_VERSION_COUNTED
    } else {
        VERSION
    });
    inner.extend_from_slice(author_ed.as_bytes());
    inner.extend_from_slice(&timestamp.to_be_bytes());
    if let Some(c) = counter {
        inner.extend_from_slice(&c.to_be_bytes());
    }
    inner.extend_from_slice(&sig.to_bytes());
    let len = u32::try_from(body.len()).map_err(|_| SealError::BodyTooLarge(body.len()))?;
    inner.extend_from_slice(&len.to_be_bytes());
    inner.extend_from_slice(body);
    pad::pad_to_bucket(&mut inner, BUCKETS).map_err(|_| SealError::BodyTooLarge(body.len()))?;

    let (k, n) = message_key(key, &nonce)?;
    let ad = aad(key.gate().as_str(), key.epoch(), &nonce, &sref)?;
    let ct = ChaCha20Poly1305::new(Key::from_slice(&k[..]))
        .encrypt(
            Nonce::from_slice(&n),
            Payload {
                msg: &inner,
                aad: &ad,
            },
        )
        .map_err(|_| SealError::Malformed("encryption failed"))?;
    Ok(GateMessage {
        gate: key.gate().as_str().to_string(),
        ciphertext: b64::encode_std(&ct),
        nonce: b64::encode_std(&nonce),
        sender_ref: sref,
        format: MESSAGE_FORMAT.to_string(),
        epoch: key.epoch(),
        transport_lock: TRANSPORT_LOCK.to_string(),
    })
}

/// Open `msg` with the key of its epoch, authenticating the author against that epoch's roster.
pub fn open(key: &EpochKey, msg: &GateMessage) -> Result<OpenedGateMessage, OpenError> {
    let malformed = |m| OpenError::Format(FormatError::Malformed(m));
    let d = msg.decode()?;
    if &d.gate != key.gate() {
        return Err(OpenError::WrongGate);
    }
    if msg.epoch != key.epoch() {
        return Err(OpenError::WrongEpoch {
            expected: key.epoch(),
            got: msg.epoch,
        });
    }
    let (k, n) = message_key(key, &d.nonce)?;
    let ad = aad(&msg.gate, msg.epoch, &d.nonce, &msg.sender_ref)?;
    let inner = Zeroizing::new(
        ChaCha20Poly1305::new(Key::from_slice(&k[..]))
            .decrypt(
                Nonce::from_slice(&n),
                Payload {
                    msg: &d.ct,
                    aad: &ad,
                },
            )
            .map_err(|_| OpenError::Decrypt)?,
    );

    let mut at = 0usize;
    let [version] = *take::<1>(&inner, &mut at)?;
    if version != VERSION && version != INNER_VERSION_COUNTED {
        return Err(malformed("inner version"));
    }
    let author_ed = *take::<32>(&inner, &mut at)?;
    let timestamp = u64::from_be_bytes(*take::<8>(&inner, &mut at)?);
    let counter = if version == INNER_VERSION_COUNTED {
        Some(u64::from_be_bytes(*take::<8>(&inner, &mut at)?))
    } else {
        None
    };
    let sig = Signature::from_bytes(take::<64>(&inner, &mut at)?);
    let body_len = usize::try_from(u32::from_be_bytes(*take::<4>(&inner, &mut at)?))
        .map_err(|_| malformed("body length"))?;
    let body_end = at
        .checked_add(body_len)
        .ok_or(malformed("length overflow"))?;
    let body = inner.get(at..body_end).ok_or(malformed("body length"))?;
    pad::check_padding(&inner, body_end, BUCKETS).map_err(|_| malformed("padding"))?;

    let member_id = node_id_for_public_key(&author_ed);
    let entry = match key.roster().get(&member_id) {
        Some(e) if e.identity().verifying_key().as_bytes() == &author_ed => e,
        _ => return Err(OpenError::AuthorNotInRoster),
    };
    let signed = signed_message(key, &d.nonce, &msg.sender_ref, timestamp, counter, body)?;
    entry
        .identity()
        .verifying_key()
        .verify_strict(&signed, &sig)
        .map_err(|_| OpenError::BadMessageSignature)?;
    if derive_sender_ref(key, &d.nonce, &member_id)? != msg.sender_ref {
        return Err(OpenError::SenderRefMismatch);
    }
    Ok(OpenedGateMessage {
        gate: d.gate,
        epoch: msg.epoch,
        member_id,
        role: entry.role(),
        author: entry.identity().clone(),
        timestamp,
        counter,
        body: Zeroizing::new(body.to_vec()),
    })
}
