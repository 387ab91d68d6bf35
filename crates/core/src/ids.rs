//! Validated ids: the node-id and msg-id syntax rules and the [`NodeId`] / [`MsgId`] newtypes.
//!
//! Text from the wire is checked once, where it is parsed, and travels on as a type that can
//! only hold a well-formed id. Both keep `as_str` / `into_string` / `Display` so string-based
//! callers keep working. `identity` and `dm` re-export the rules under their earlier paths.
use std::fmt;
use std::str::FromStr;

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Prefix of every Infonet/2 node id.
pub const NODE_ID_PREFIX: &str = "!sb_";
/// Number of hex characters of sha256(public key) in a node id.
pub const NODE_ID_HEX_LEN: usize = 32;

/// Infonet/2 node id of a raw public key: `"!sb_" + sha256(pk)[..32 hex]`.
pub fn node_id_for_public_key(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    let mut id = String::with_capacity(NODE_ID_PREFIX.len() + NODE_ID_HEX_LEN);
    id.push_str(NODE_ID_PREFIX);
    id.push_str(&hex::encode(&digest[..NODE_ID_HEX_LEN / 2]));
    id
}

/// Syntactic check of a node id (`!sb_` + 32 lower-case hex chars).
pub fn is_valid_node_id(s: &str) -> bool {
    match s.strip_prefix(NODE_ID_PREFIX) {
        Some(rest) => {
            rest.len() == NODE_ID_HEX_LEN
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

/// Random bytes in a message id (hex-encoded on the wire).
pub const MSG_ID_BYTES: usize = 16;
/// Longest accepted msg_id.
pub const MAX_MSG_ID_LEN: usize = 128;

/// Syntactic msg_id check shared by client and relay.
pub fn is_valid_msg_id(s: &str) -> bool {
    (8..=MAX_MSG_ID_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// A string that is not a well-formed id of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("node id is not !sb_ followed by 32 lower-case hex chars")]
    BadNodeId,
    #[error("msg_id must be 8-128 characters of [A-Za-z0-9_.:-]")]
    BadMsgId,
}

macro_rules! string_id {
    ($name:ident, $check:path, $err:expr) => {
        impl $name {
            /// Parse and validate.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if $check(s) {
                    Ok($name(s.to_string()))
                } else {
                    Err($err)
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                if $check(&s) {
                    Ok($name(s))
                } else {
                    Err($err)
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// An Infonet/2 node id: `!sb_` + 32 lower-case hex characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

string_id!(NodeId, is_valid_node_id, IdError::BadNodeId);

impl NodeId {
    /// The node id bound to a raw public key (always well formed).
    pub fn from_public_key(public_key: &[u8]) -> Self {
        NodeId(node_id_for_public_key(public_key))
    }
}

/// A DM message id: 8–128 characters of `[A-Za-z0-9_.:-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MsgId(String);

string_id!(MsgId, is_valid_msg_id, IdError::BadMsgId);

impl MsgId {
    /// A fresh random message id (32 hex chars).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut raw = [0u8; MSG_ID_BYTES];
        rng.fill_bytes(&mut raw);
        MsgId(hex::encode(raw))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_and_serde_round_trip() {
        let node = NodeId::from_public_key(&[7u8; 32]);
        assert_eq!(NodeId::parse(node.as_str()).unwrap(), node);
        assert_eq!(NodeId::parse("!sb_XYZ"), Err(IdError::BadNodeId));
        assert_eq!(MsgId::parse("short"), Err(IdError::BadMsgId));
        let m = MsgId::parse("msg-0001").unwrap();
        assert_eq!(m, "msg-0001");
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, "\"msg-0001\"");
        assert_eq!(serde_json::from_str::<MsgId>(&json).unwrap(), m);
        assert!(serde_json::from_str::<NodeId>("\"nope\"").is_err());
    }
}
