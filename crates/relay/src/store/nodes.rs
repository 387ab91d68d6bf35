//! Registered nodes: each node's Ed25519 and X25519 keys as its owner last published them.
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::error::{to_i64, to_u64};
use super::{NonceUse, Replayed, Store, StoreError};

/// A registered node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node_id: String,
    pub public_key: String,
    pub dh_pub_key: String,
    pub registered_at: u64,
}

impl Store {
    /// Register (or refresh) a node's keys, consuming the request nonce.
    pub fn register(
        &mut self,
        nonce: NonceUse<'_>,
        public_key: &str,
        dh_pub_key: &str,
        now: u64,
    ) -> Result<Result<(), Replayed>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Err(r) = Self::consume_nonce(&tx, nonce, now)? {
            return Ok(Err(r));
        }
        tx.execute(
            "INSERT INTO nodes (node_id, public_key, dh_pub_key, registered_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (node_id) DO UPDATE SET
               public_key = excluded.public_key,
               dh_pub_key = excluded.dh_pub_key,
               registered_at = excluded.registered_at",
            params![nonce.node_id, public_key, dh_pub_key, to_i64(now)],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    pub fn node(&self, node_id: &str) -> Result<Option<NodeRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT node_id, public_key, dh_pub_key, registered_at FROM nodes WHERE node_id = ?1",
                params![node_id],
                |r| {
                    Ok(NodeRecord {
                        node_id: r.get(0)?,
                        public_key: r.get(1)?,
                        dh_pub_key: r.get(2)?,
                        registered_at: to_u64(r.get(3)?),
                    })
                },
            )
            .optional()?)
    }
}
