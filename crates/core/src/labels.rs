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
/// Prefix of the message signed to authenticate a request to a relay.
pub const RELAY_AUTH: &[u8] = b"postern/relay-auth/v1";
