//! Gate format labels, version byte, size limits and cost caps: constants only, imported by every
//! gate file.

/// Version byte bound into every gate hash, signature, AAD and inner plaintext.
pub const VERSION: u8 = 1;
/// `format` of an epoch record.
pub const EPOCH_FORMAT: &str = "postern-gate-epoch/1";
/// Number of the genesis epoch. Infonet/2 refuses `gate_message` payloads with `epoch: 0`
/// (`schema_rejection_vectors.json`, `gate_message_zero_epoch`), so epochs count from 1.
pub const GENESIS_EPOCH: u64 = 1;
/// Random bytes in a gate id (hex-encoded, lower case: 32 characters).
pub const GATE_ID_BYTES: usize = 16;
/// Largest roster. Bounds a signed epoch record to about 40 KB of JSON.
pub const MAX_MEMBERS: usize = 128;
/// `prev_hash` of the genesis epoch.
pub const ZERO_HASH: [u8; 32] = [0u8; 32];

/// `format` of a sealed gate message.
pub const MESSAGE_FORMAT: &str = "postern-gate/1";
/// `transport_lock` of every gate message: the private lane, strongest tier.
pub const TRANSPORT_LOCK: &str = "private_strong";
/// Allowed sizes of the padded inner plaintext.
/// The top bucket is 2816 (not 3072/6144) so that a complete `gate_message` payload stays within
/// Infonet's 4096-byte payload cap: 2832 ciphertext bytes are 3776 base64 chars, plus < 300 bytes
/// of other fields.
pub const BUCKETS: &[usize] = &[192, 384, 768, 1536, 2816];
/// The largest bucket.
pub const MAX_BUCKET: usize = 2816;
/// Inner plaintext version 1: version(1) ‖ author Ed25519(32) ‖ timestamp(8) ‖ signature(64) ‖
/// body_len(4). Still opened (counter `None`), no longer the default.
pub const HEADER_LEN: usize = 1 + 32 + 8 + 64 + 4;
/// Inner plaintext version 2 (adds the author's per-gate counter, signed):
/// version(1)=2 ‖ author Ed25519(32) ‖ timestamp(8) ‖ counter(8) ‖ signature(64) ‖ body_len(4).
pub const HEADER_LEN_V2: usize = HEADER_LEN + 8;
/// Version byte of an inner plaintext that carries a counter.
pub const INNER_VERSION_COUNTED: u8 = 2;
/// Largest body that fits the largest bucket (with the v2 header).
pub const MAX_BODY_LEN: usize = MAX_BUCKET - HEADER_LEN_V2;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Random per-message nonce (HKDF salt), standard base64 on the wire.
pub const NONCE_LEN: usize = 16;
/// Length of `sender_ref` in bytes (lower-case hex on the wire).
pub const SENDER_REF_BYTES: usize = 16;
/// Base64 length of the largest ciphertext (2816 + 16 bytes).
pub const MAX_CIPHERTEXT_B64: usize = (MAX_BUCKET + TAG_LEN).div_ceil(3) * 4;

// ---- Cost caps (docs/protocol.md § Private gates, "Bounded cost"), see `policy::check_gate_epoch`.

/// Most epochs (genesis + rotations) one gate may have.
pub const MAX_EPOCHS_PER_GATE: u64 = 1024;
/// Most members in one epoch's roster (the bound the roster itself enforces).
pub const MAX_MEMBERS_PER_GATE: usize = MAX_MEMBERS;
/// Most gates a member may be in (counted over the current rosters a relay stores). An epoch
/// that would add a member beyond it is refused.
pub const MAX_GATES_PER_MEMBER: usize = 64;
/// Largest page of an epoch read.
pub const MAX_EPOCHS_PAGE: u32 = 64;
/// Largest page of a `/gate/mine` read.
pub const MAX_GATES_PAGE: u32 = 64;
/// Non-contact invitations a client accepts per inviter per [`INVITE_WINDOW_SECS`]; more are
/// dropped without showing them (`policy::check_invite_rate`).
pub const MAX_STRANGER_INVITES_PER_WINDOW: usize = 3;
/// The window of [`MAX_STRANGER_INVITES_PER_WINDOW`].
pub const INVITE_WINDOW_SECS: u64 = 24 * 3600;
