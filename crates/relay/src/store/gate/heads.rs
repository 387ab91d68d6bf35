//! The cache of verified gate heads: core's `GateState` of each recently used gate, so an epoch
//! publish links the new record to the cached head (`GateState::apply_verified`, no signature
//! work) instead of re-verifying the whole stored chain. An entry is used only while it matches
//! the stored head (epoch number and hash), so a rolled-back transaction or a restart can never
//! make it lie; a missing or stale entry is rebuilt from the stored records, preferably by the
//! caller outside the store lock (`Store::gate_head_missing`, `Store::gate_head_put`, in the
//! parent module).
use std::collections::HashMap;

use postern_core::gate::GateState;

/// Gates whose verified head is kept in memory at most (an arbitrary one is dropped beyond).
pub const GATE_HEADS_CAP: usize = 4096;

/// Verified heads by gate id.
#[derive(Debug, Default)]
pub struct GateHeads {
    map: HashMap<String, GateState>,
}

impl GateHeads {
    /// Keep `state` as its gate's verified head.
    pub(in crate::store) fn put(&mut self, state: GateState) {
        let gate = state.gate().as_str().to_string();
        if !self.map.contains_key(&gate) && self.map.len() >= GATE_HEADS_CAP {
            if let Some(k) = self.map.keys().next().cloned() {
                self.map.remove(&k);
            }
        }
        self.map.insert(gate, state);
    }

    /// Number of cached heads.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No head cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The cached head of `gate` if it is the stored head (`head` number, hex `hash`).
    pub(in crate::store) fn matching(
        &self,
        gate: &str,
        head: u64,
        hash: &str,
    ) -> Option<&GateState> {
        self.map
            .get(gate)
            .filter(|s| s.epoch() == head && hex::encode(s.head().hash()) == hash)
    }
}
