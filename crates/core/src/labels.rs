//! Domain-separation labels. Every hash, KDF, signature and AEAD input in Postern starts with
//! (or is keyed by) one of these constants, so no two contexts can ever share an input.

/// HKDF `info` for the DM sealing key and nonce (ephemeral-static X25519).
pub const DM_KEY: &[u8] = b"postern/dm/v1/key";
/// Prefix of the AEAD associated data of a sealed DM.
pub const DM_AAD: &[u8] = b"postern/dm/v1/aad";
/// Prefix of the message the DM sender signs with Ed25519 (inside the ciphertext).
pub const DM_SIG: &[u8] = b"postern/dm/v1/sig";
/// HKDF `info` for the pairwise sender pseudonym shown to the relay.
pub const DM_SENDER_REF: &[u8] = b"postern/dm/v1/sender-ref";
/// Prefix of the message an identity signs to bind its X25519 key (and any future key) to its
/// Ed25519 key (identity string version 2, see docs/protocol.md § Identity).
pub const IDENTITY_BINDING: &[u8] = b"postern/identity/v2/binding";
/// Prefix of the hash a contact pair's safety number is read from.
pub const SAFETY_NUMBER: &[u8] = b"postern/safety-number/v1";
/// Prefix of the message signed to authenticate a request to a relay.
pub const RELAY_AUTH: &[u8] = b"postern/relay-auth/v1";
/// Prefix of the message signed to authenticate a request to a relay, bound to the relay's
/// origin (v2: the origin follows the action).
pub const RELAY_AUTH_V2: &[u8] = b"postern/relay-auth/v2";
/// HKDF salt of the peer key of Postern's peer auth v2 (v1 is Shadowbroker's `sb-peer-auth-v1`).
pub const PEER_AUTH_V2_SALT: &[u8] = b"postern/peer-auth/v2/key";
/// Prefix of the bytes MACed by Postern's peer auth v2.
pub const PEER_AUTH_V2: &[u8] = b"postern/peer-auth/v2";

// ---- Private gates (`postern-gate/1`, see docs/protocol.md § Private gates) ----

/// Prefix of the roster hash: `sha256(GATE_ROSTER ‖ 0x01 ‖ u16(n) ‖ entries)`.
pub const GATE_ROSTER: &[u8] = b"postern/gate/v1/roster";
/// Prefix of the canonical bytes an epoch rotator signs with Ed25519.
pub const GATE_EPOCH_SIG: &[u8] = b"postern/gate/v1/epoch-sig";
/// Prefix of the epoch hash: `sha256(GATE_EPOCH_HASH ‖ signed bytes ‖ signature)`.
pub const GATE_EPOCH_HASH: &[u8] = b"postern/gate/v1/epoch-hash";
/// HKDF `info` prefix of the key that wraps an epoch secret to one member.
pub const GATE_WRAP_KEY: &[u8] = b"postern/gate/v1/wrap-key";
/// Prefix of the AEAD associated data of a wrapped epoch-secret slot.
pub const GATE_WRAP_AAD: &[u8] = b"postern/gate/v1/wrap-aad";
/// HKDF `info` prefix of the per-message key and AEAD nonce of a gate message.
pub const GATE_MSG_KEY: &[u8] = b"postern/gate/v1/msg-key";
/// Prefix of the AEAD associated data of a gate message.
pub const GATE_MSG_AAD: &[u8] = b"postern/gate/v1/msg-aad";
/// Prefix of the message a gate author signs with Ed25519 (inside the ciphertext).
pub const GATE_MSG_SIG: &[u8] = b"postern/gate/v1/msg-sig";
/// HKDF `info` prefix of the per-message author pseudonym shown to the relay.
pub const GATE_SENDER_REF: &[u8] = b"postern/gate/v1/sender-ref";

// ---- Keys at rest and encrypted backups (see docs/protocol.md § Keys at rest, § Backup file) ----

/// Prefix of the AEAD associated data of a record sealed under the browser's store key:
/// `VAULT_RECORD_AAD ‖ u32(len store) ‖ store ‖ u32(len key) ‖ key`.
pub const VAULT_RECORD_AAD: &[u8] = b"postern/vault/v1/record-aad";
/// AES-GCM `additionalData` when the store key is wrapped by the non-extractable WebCrypto key.
pub const VAULT_WRAP_AAD: &[u8] = b"postern/vault/v1/wrap-aad";
/// `format` field of a backup file (`postern-backup`, version 1).
pub const BACKUP_FORMAT: &str = "postern-backup";
/// Prefix of the AEAD associated data of a backup file (binds version, KDF parameters, salt).
pub const BACKUP_AAD: &[u8] = b"postern/backup/v1/aad";
/// `format` field of the passphrase lock of the store key (`postern-lock`, version 1).
pub const LOCK_FORMAT: &str = "postern-lock";
/// Prefix of the Argon2id salt of the passphrase lock: `salt = LOCK_KDF_SALT ‖ random[16]`, so
/// the lock's key-encryption key never equals a backup key even for the same passphrase.
pub const LOCK_KDF_SALT: &[u8] = b"postern/lock/v1/kdf-salt";
/// Prefix of the AEAD associated data of the passphrase-sealed store key (binds the purpose,
/// the lock and vault format versions, the KDF parameters and the salt).
pub const LOCK_AAD: &[u8] = b"postern/lock/v1/aad";
/// Purpose bound into the lock's AAD: what the sealed bytes are (the vault's store key).
pub const LOCK_PURPOSE_STORE_KEY: &[u8] = b"postern/lock/v1/purpose/store-key";

// ---- Verification ----

/// Prefix of the hash that seeds the coefficients and subsets of an Ed25519 strict batch
/// verification (`strict_batch`): Fiat–Shamir over every signature, key and message hash.
pub const ED25519_BATCH_SEED: &[u8] = b"postern/ed25519-strict-batch/v1/seed";

// ---- Federation (see docs/protocol.md § Signed tree heads) ----

/// Prefix of the bytes a relay signs in a tree head (`postern-sth/1`).
pub const TREE_HEAD_SIG: &[u8] = b"postern/tree-head/v1/sig";

// ---- Relay chain-state checkpoints (see `verify::ChainState::snapshot`) ----

/// Prefix of the SHA-256 digest that closes a chain-state snapshot (over every byte before it).
pub const CHAIN_SNAPSHOT_DIGEST: &[u8] = b"postern/chain-snapshot/v1/digest";
/// Prefix of the SHA-256 digest over the event ids a chain-state snapshot covers.
pub const CHAIN_SNAPSHOT_IDS: &[u8] = b"postern/chain-snapshot/v1/ids";
/// Prefix of the SHA-256 digest over the stored event texts a relay checkpoint covers.
pub const CHAIN_SNAPSHOT_TEXTS: &[u8] = b"postern/chain-snapshot/v1/texts";
