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
    /// Standard base64 of the owner's binding signature over both keys (identity v2), checked
    /// before it was stored; `None` for a node that registered without one.
    pub binding: Option<String>,
}

impl Store {
    /// Register (or refresh) a node's keys, consuming the request nonce. A refresh without a
    /// binding keeps the stored one while the keys are unchanged (an older client must not
    /// downgrade a bound identity) and drops it when they change (it no longer covers them).
    pub fn register(
        &mut self,
        nonce: NonceUse<'_>,
        public_key: &str,
        dh_pub_key: &str,
        binding: Option<&str>,
        now: u64,
    ) -> Result<Result<(), Replayed>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Err(r) = Self::consume_nonce(&tx, nonce, now)? {
            return Ok(Err(r));
        }
        tx.execute(
            "INSERT INTO nodes (node_id, public_key, dh_pub_key, registered_at, binding)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (node_id) DO UPDATE SET
               binding = CASE
                 WHEN excluded.binding IS NOT NULL THEN excluded.binding
                 WHEN nodes.public_key = excluded.public_key
                  AND nodes.dh_pub_key = excluded.dh_pub_key THEN nodes.binding
                 ELSE NULL END,
               public_key = excluded.public_key,
               dh_pub_key = excluded.dh_pub_key,
               registered_at = excluded.registered_at",
            params![nonce.node_id, public_key, dh_pub_key, to_i64(now), binding],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    pub fn node(&self, node_id: &str) -> Result<Option<NodeRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT node_id, public_key, dh_pub_key, registered_at, binding
                 FROM nodes WHERE node_id = ?1",
                params![node_id],
                |r| {
                    Ok(NodeRecord {
                        node_id: r.get(0)?,
                        public_key: r.get(1)?,
                        dh_pub_key: r.get(2)?,
                        registered_at: to_u64(r.get(3)?),
                        binding: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }
}
