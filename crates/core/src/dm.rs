//! Sealed direct messages (format `postern-dm/1`). See `docs/protocol.md` § DM sealing.
//!
//! Ephemeral-static X25519 → HKDF-SHA256 → ChaCha20-Poly1305. The sender's identity and an
//! Ed25519 signature travel *inside* the ciphertext, so the relay sees only the recipient, the
//! message id, a size bucket and a pairwise pseudonym (`sender_ref`) used for per-sender caps.
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::Signature;
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use x25519_dalek::{EphemeralSecret, PublicKey as XPublicKey};
use zeroize::Zeroizing;

use crate::identity::{parse_verifying_key, Identity, PublicIdentity};
use crate::ids::NodeId;
pub use crate::ids::{is_valid_msg_id, MsgId, MAX_MSG_ID_LEN, MSG_ID_BYTES};
use crate::wire::{put_lp, take, WireError};
use crate::{b64, labels, pad};

/// Wire format name (and version) of a sealed DM envelope.
pub const FORMAT: &str = "postern-dm/1";
/// Format version byte bound into the AAD, the signature and the inner plaintext.
pub const FORMAT_VERSION: u8 = 1;
/// Allowed sizes of the padded inner plaintext.
pub const BUCKETS: &[usize] = &[256, 512, 1024, 2048, 4096];
/// version(1) ‖ sender Ed25519(32) ‖ sender X25519(32) ‖ timestamp(8) ‖ signature(64) ‖ body_len(4)
pub const HEADER_LEN: usize = 1 + 32 + 32 + 8 + 64 + 4;
/// Largest body that fits the largest bucket.
pub const MAX_BODY_LEN: usize = 4096 - HEADER_LEN;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Length of `sender_ref` in bytes (hex-encoded on the wire).
pub const SENDER_REF_BYTES: usize = 16;
/// Largest accepted base64 ciphertext (Infonet/2's DM ciphertext cap).
pub const MAX_CIPHERTEXT_B64: usize = 8192;

/// A sealed DM as stored by relays. Everything here is visible to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DmEnvelope {
    pub format: String,
    pub recipient_id: String,
    pub msg_id: String,
    /// Pairwise pseudonym of the sender towards this recipient (hex); unlinkable across recipients.
    pub sender_ref: String,
    /// Standard base64 of the 32-byte ephemeral X25519 public key.
    pub ephemeral_pub: String,
    /// Standard base64 of the AEAD ciphertext (padded inner plaintext + 16-byte tag).
    pub ciphertext: String,
}

/// Shape errors of an envelope: the checks a relay runs before storing one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    #[error("unsupported DM format (expected {FORMAT})")]
    UnsupportedFormat,
    #[error("recipient_id is not a valid node id")]
    BadRecipient,
    #[error("msg_id must be 8..=128 characters of [A-Za-z0-9_.:-]")]
    BadMsgId,
    #[error("sender_ref must be {} hex characters", SENDER_REF_BYTES * 2)]
    BadSenderRef,
    #[error("ephemeral_pub must be 32 bytes of base64")]
    BadEphemeralKey,
    #[error("ciphertext exceeds {MAX_CIPHERTEXT_B64} base64 characters")]
    CiphertextTooLarge,
    #[error("ciphertext is not base64 or not a padded bucket size")]
    BadCiphertext,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DmError {
    #[error("invalid envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("this message is addressed to another identity")]
    WrongRecipient,
    #[error("key agreement produced an all-zero secret (low-order key)")]
    NonContributory,
    #[error("message body of {0} bytes exceeds the maximum of {MAX_BODY_LEN} bytes")]
    BodyTooLarge(usize),
    #[error("decryption failed: message was modified or not sealed for this key")]
    Decrypt,
    #[error("sealed content is malformed: {0}")]
    Malformed(&'static str),
    #[error("sender key inside the message is invalid")]
    BadSenderKey,
    #[error("sender signature does not verify")]
    BadSignature,
    #[error("sender_ref does not belong to the authenticated sender")]
    SenderRefMismatch,
}

/// A successfully opened DM: the sender is authenticated by its Ed25519 signature.
pub struct OpenedDm {
    pub sender: PublicIdentity,
    pub msg_id: String,
    pub timestamp: u64,
    pub body: Zeroizing<Vec<u8>>,
}

impl OpenedDm {
    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, DmError> {
        std::str::from_utf8(&self.body).map_err(|_| DmError::Malformed("body is not UTF-8"))
    }
}

impl std::fmt::Debug for OpenedDm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedDm")
            .field("sender", &self.sender.node_id())
            .field("msg_id", &self.msg_id)
            .field("timestamp", &self.timestamp)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// A fresh random message id (32 hex chars).
pub fn new_msg_id(rng: &mut impl CryptoRngCore) -> String {
    MsgId::generate(rng).into_string()
}

/// Pairwise, directional sender pseudonym: HKDF over static-static X25519 of sender and
/// recipient, salted with both public keys (sender first). Both ends can compute it.
pub fn sender_ref(
    me: &Identity,
    sender_dh: &XPublicKey,
    recipient_dh: &XPublicKey,
    peer_dh: &XPublicKey,
) -> Result<String, DmError> {
    let shared = me.agree(peer_dh).ok_or(DmError::NonContributory)?;
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(sender_dh.as_bytes());
    salt[32..].copy_from_slice(recipient_dh.as_bytes());
    let hk = Hkdf::<Sha256>::new(Some(&salt), &shared[..]);
    let mut out = [0u8; SENDER_REF_BYTES];
    hk.expand(labels::DM_SENDER_REF, &mut out)
        .map_err(|_| DmError::Malformed("hkdf length"))?;
    Ok(hex::encode(out))
}

/// The sender_ref under which `contact` deposits into `me`'s mailbox: what `me` lists in its
/// contact list (`api::dm::ContactsRequest`) so that contact's messages use the contacts' budget.
pub fn incoming_sender_ref(me: &Identity, contact: &PublicIdentity) -> Result<String, DmError> {
    sender_ref(
        me,
        contact.dh_public(),
        &me.dh_public(),
        contact.dh_public(),
    )
}

impl DmEnvelope {
    /// Shape checks (no keys needed). The relay runs these before storing an envelope.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        self.decode().map(|_| ())
    }

    fn decode(&self) -> Result<([u8; 32], Vec<u8>), EnvelopeError> {
        if self.format != FORMAT {
            return Err(EnvelopeError::UnsupportedFormat);
        }
        NodeId::parse(&self.recipient_id).map_err(|_| EnvelopeError::BadRecipient)?;
        MsgId::parse(&self.msg_id).map_err(|_| EnvelopeError::BadMsgId)?;
        if self.sender_ref.len() != SENDER_REF_BYTES * 2
            || !self
                .sender_ref
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(EnvelopeError::BadSenderRef);
        }
        let eph = b64::decode_std_array::<32>(&self.ephemeral_pub)
            .map_err(|_| EnvelopeError::BadEphemeralKey)?;
        if self.ciphertext.len() > MAX_CIPHERTEXT_B64 {
            return Err(EnvelopeError::CiphertextTooLarge);
        }
        let ct = b64::decode_std(&self.ciphertext).map_err(|_| EnvelopeError::BadCiphertext)?;
        if !BUCKETS.iter().any(|&b| b + TAG_LEN == ct.len()) {
            return Err(EnvelopeError::BadCiphertext);
        }
        Ok((eph, ct))
    }
}

impl From<WireError> for DmError {
    fn from(e: WireError) -> Self {
        DmError::Malformed(e.as_str())
    }
}

// Fields are bounded (node ids, msg ids ≤ 128 bytes, checked before sealing or opening), so
// `put_lp` never refuses one here.
fn aad(recipient_id: &str, msg_id: &str, sender_ref: &str) -> Result<Vec<u8>, DmError> {
    let mut a = Vec::with_capacity(labels::DM_AAD.len() + 1 + 200);
    a.extend_from_slice(labels::DM_AAD);
    a.push(FORMAT_VERSION);
    put_lp(&mut a, recipient_id.as_bytes())?;
    put_lp(&mut a, msg_id.as_bytes())?;
    put_lp(&mut a, sender_ref.as_bytes())?;
    Ok(a)
}

#[allow(clippy::too_many_arguments)]
fn signed_message(
    msg_id: &str,
    recipient_id: &str,
    recipient_dh: &XPublicKey,
    sender_dh: &XPublicKey,
    timestamp: u64,
    ephemeral: &[u8; 32],
    body: &[u8],
) -> Result<Vec<u8>, DmError> {
    let mut m = Vec::with_capacity(256);
    m.extend_from_slice(labels::DM_SIG);
    m.push(FORMAT_VERSION);
    put_lp(&mut m, msg_id.as_bytes())?;
    put_lp(&mut m, recipient_id.as_bytes())?;
    m.extend_from_slice(recipient_dh.as_bytes());
    m.extend_from_slice(sender_dh.as_bytes());
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.extend_from_slice(ephemeral);
    m.extend_from_slice(&Sha256::digest(body));
    Ok(m)
}

/// HKDF-SHA256(ikm = X25519(eph, recipient), salt = eph_pub ‖ recipient_pub, info = DM_KEY)
/// → 32-byte key ‖ 12-byte nonce. The key is unique per message because the ephemeral key is.
fn message_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient_dh: &XPublicKey,
) -> Result<(Zeroizing<[u8; 32]>, [u8; 12]), DmError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient_dh.as_bytes());
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut okm = Zeroizing::new([0u8; 44]);
    hk.expand(labels::DM_KEY, &mut okm[..])
        .map_err(|_| DmError::Malformed("hkdf length"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&okm[..32]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    Ok((key, nonce))
}

/// Seal `body` from `sender` to `recipient`.
pub fn seal(
    sender: &Identity,
    recipient: &PublicIdentity,
    body: &[u8],
    msg_id: &str,
    timestamp: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<DmEnvelope, DmError> {
    if body.len() > MAX_BODY_LEN {
        return Err(DmError::BodyTooLarge(body.len()));
    }
    let msg_id = MsgId::parse(msg_id).map_err(|_| DmError::from(EnvelopeError::BadMsgId))?;
    let msg_id = msg_id.as_str();
    let sender_dh = sender.dh_public();
    let recipient_dh = recipient.dh_public();
    let sref = sender_ref(sender, &sender_dh, recipient_dh, recipient_dh)?;

    let eph_secret = EphemeralSecret::random_from_rng(&mut *rng);
    let eph_pub = XPublicKey::from(&eph_secret);
    let shared = eph_secret.diffie_hellman(recipient_dh);
    if !shared.was_contributory() {
        return Err(DmError::NonContributory);
    }
    let (key, nonce) = message_key(shared.as_bytes(), eph_pub.as_bytes(), recipient_dh)?;

    let sig = sender.sign(&signed_message(
        msg_id,
        recipient.node_id(),
        recipient_dh,
        &sender_dh,
        timestamp,
        eph_pub.as_bytes(),
        body,
    )?);
    let mut inner = Zeroizing::new(Vec::with_capacity(HEADER_LEN + body.len()));
    inner.push(FORMAT_VERSION);
    inner.extend_from_slice(sender.verifying_key().as_bytes());
    inner.extend_from_slice(sender_dh.as_bytes());
    inner.extend_from_slice(&timestamp.to_be_bytes());
    inner.extend_from_slice(&sig.to_bytes());
    inner.extend_from_slice(&(body.len() as u32).to_be_bytes());
    inner.extend_from_slice(body);
    pad::pad_to_bucket(&mut inner, BUCKETS).map_err(|_| DmError::BodyTooLarge(body.len()))?;

    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key[..]));
    let ad = aad(recipient.node_id(), msg_id, &sref)?;
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &inner,
                aad: &ad,
            },
        )
        .map_err(|_| DmError::Malformed("encryption failed"))?;
    Ok(DmEnvelope {
        format: FORMAT.to_string(),
        recipient_id: recipient.node_id().to_string(),
        msg_id: msg_id.to_string(),
        sender_ref: sref,
        ephemeral_pub: b64::encode_std(eph_pub.as_bytes()),
        ciphertext: b64::encode_std(&ct),
    })
}

/// Open an envelope addressed to `me`, authenticating the sender.
pub fn open(me: &Identity, env: &DmEnvelope) -> Result<OpenedDm, DmError> {
    let (eph, ct) = env.decode()?;
    if env.recipient_id != me.node_id() {
        return Err(DmError::WrongRecipient);
    }
    let my_dh = me.dh_public();
    let shared = me
        .agree(&XPublicKey::from(eph))
        .ok_or(DmError::NonContributory)?;
    let (key, nonce) = message_key(&shared, &eph, &my_dh)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key[..]));
    let ad = aad(&env.recipient_id, &env.msg_id, &env.sender_ref)?;
    let inner = Zeroizing::new(
        cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad: &ad })
            .map_err(|_| DmError::Decrypt)?,
    );

    let mut at = 0usize;
    let [version] = *take::<1>(&inner, &mut at)?;
    if version != FORMAT_VERSION {
        return Err(DmError::Malformed("inner version"));
    }
    let sender_ed = *take::<32>(&inner, &mut at)?;
    let sender_x = *take::<32>(&inner, &mut at)?;
    let timestamp = u64::from_be_bytes(*take::<8>(&inner, &mut at)?);
    let sig = Signature::from_bytes(take::<64>(&inner, &mut at)?);
    let body_len = u32::from_be_bytes(*take::<4>(&inner, &mut at)?) as usize;
    let body_end = at
        .checked_add(body_len)
        .ok_or(DmError::Malformed("length overflow"))?;
    let body = inner
        .get(at..body_end)
        .ok_or(DmError::Malformed("body length"))?;
    pad::check_padding(&inner, body_end, BUCKETS).map_err(|_| DmError::Malformed("padding"))?;

    let verifying = parse_verifying_key(&sender_ed).map_err(|_| DmError::BadSenderKey)?;
    let sender =
        PublicIdentity::from_keys(&sender_ed, sender_x).map_err(|_| DmError::BadSenderKey)?;
    let msg = signed_message(
        &env.msg_id,
        &env.recipient_id,
        &my_dh,
        sender.dh_public(),
        timestamp,
        &eph,
        body,
    )?;
    verifying
        .verify_strict(&msg, &sig)
        .map_err(|_| DmError::BadSignature)?;
    let expected_ref = sender_ref(me, sender.dh_public(), &my_dh, sender.dh_public())?;
    if expected_ref != env.sender_ref {
        return Err(DmError::SenderRefMismatch);
    }
    Ok(OpenedDm {
        sender,
        msg_id: env.msg_id.clone(),
        timestamp,
        body: Zeroizing::new(body.to_vec()),
    })
}
