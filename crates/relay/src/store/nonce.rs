//! Single-use request nonces: consumed inside the transaction of the signed operation.
use rusqlite::params;

use super::error::to_i64;
use super::{Store, StoreError};

/// The nonce was already used by this node within its validity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed;

/// A single-use request nonce to consume as part of a signed operation.
#[derive(Debug, Clone, Copy)]
pub struct NonceUse<'a> {
    pub node_id: &'a str,
    pub nonce: &'a str,
    /// Until when the nonce must be remembered (request timestamp + allowed window).
    pub expires_at: u64,
}

/// An owned [`NonceUse`]: the nonce of a verified signed request, carried to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    pub node_id: String,
    pub nonce: String,
    /// Until when the nonce must be remembered (request timestamp + allowed window).
    pub expires_at: u64,
}

impl Nonce {
    /// The nonce of a signed request (`auth::nonce_retention_until` decides how long it is kept).
    pub fn of(auth: &postern_core::auth::RequestAuth) -> Nonce {
        Nonce {
            node_id: auth.node_id.clone(),
            nonce: auth.nonce.clone(),
            expires_at: postern_core::auth::nonce_retention_until(auth),
        }
    }

    pub fn as_use(&self) -> NonceUse<'_> {
        NonceUse {
            node_id: &self.node_id,
            nonce: &self.nonce,
            expires_at: self.expires_at,
        }
    }
}

impl Store {
    /// Consume a nonce inside `tx`; prunes expired nonces first.
    pub(super) fn consume_nonce(
        tx: &rusqlite::Transaction<'_>,
        n: NonceUse<'_>,
        now: u64,
    ) -> Result<Result<(), Replayed>, StoreError> {
        tx.execute(
            "DELETE FROM nonces WHERE expires_at < ?1",
            params![to_i64(now)],
        )?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO nonces (node_id, nonce, expires_at) VALUES (?1, ?2, ?3)",
            params![n.node_id, n.nonce, to_i64(n.expires_at)],
        )?;
        Ok(if inserted == 1 { Ok(()) } else { Err(Replayed) })
    }
}
