//! The chain rules of a gate: [`GateState`], the verified head that accepts exactly the next
//! epoch (linked by `prev_hash`, rotated by an admin of the head), and [`verify_epoch_chain`].
use super::epoch::{is_admin_of, Epoch, EpochRecord};
use super::error::{ChainError, RecordError};
use super::{GateId, GENESIS_EPOCH};

/// The verified head of a gate's epoch chain. Accepts records one at a time: exactly the next
/// epoch, linked by `prev_hash`, signed by an admin of the current head.
#[derive(Debug, Clone)]
pub struct GateState {
    /// Hash of epoch `i + 1` at index `i`.
    hashes: Vec<[u8; 32]>,
    head: Epoch,
}

impl GateState {
    /// Start from a genesis record.
    pub fn from_genesis(record: &EpochRecord) -> Result<Self, ChainError> {
        Self::from_verified_genesis(record.verify()?)
    }

    /// [`GateState::from_genesis`] for an epoch already verified on its own
    /// ([`EpochRecord::verify`], e.g. outside a lock).
    pub fn from_verified_genesis(epoch: Epoch) -> Result<Self, ChainError> {
        if epoch.number() != GENESIS_EPOCH {
            return Err(ChainError::BadGenesis(
                "first record of a chain must be epoch 1",
            ));
        }
        Ok(GateState {
            hashes: vec![*epoch.hash()],
            head: epoch,
        })
    }

    /// Check that `record` is a valid successor of the head without applying it.
    pub fn check_next(&self, record: &EpochRecord) -> Result<Epoch, ChainError> {
        self.check_next_verified(record.verify()?)
    }

    /// [`GateState::check_next`] for an epoch already verified on its own
    /// ([`EpochRecord::verify`], e.g. outside a lock): only the link to the head and the
    /// rotator's authority are checked here, so extending a cached head costs no signature
    /// check.
    pub fn check_next_verified(&self, epoch: Epoch) -> Result<Epoch, ChainError> {
        if epoch.gate() != self.gate() {
            return Err(ChainError::WrongGate);
        }
        let head = self.head.number();
        if epoch.number() <= head {
            // Same record again: a replay. A different valid record for a known number: the
            // admins equivocated (two rotations of one epoch); the first one accepted stands.
            return Err(if self.epoch_hash(epoch.number()) == Some(epoch.hash()) {
                ChainError::ReplayedEpoch {
                    epoch: epoch.number(),
                }
            } else {
                ChainError::ForkedEpoch {
                    epoch: epoch.number(),
                }
            });
        }
        let expected = head.saturating_add(1);
        if epoch.number() != expected {
            return Err(ChainError::SkippedEpoch {
                expected,
                got: epoch.number(),
            });
        }
        if epoch.prev_hash() != self.head.hash() {
            return Err(ChainError::PrevHashMismatch);
        }
        let rotator = epoch
            .rotator_entry()
            .ok_or(RecordError::RotatorNotInRoster)?;
        if !is_admin_of(
            &self.head,
            epoch.rotator_id(),
            rotator.identity().verifying_key().as_bytes(),
        ) {
            return Err(ChainError::NotAdmin {
                rotator: epoch.rotator_id().to_string(),
            });
        }
        Ok(epoch)
    }

    /// Verify and append the next epoch; returns it.
    pub fn apply(&mut self, record: &EpochRecord) -> Result<Epoch, ChainError> {
        self.apply_verified(record.verify()?)
    }

    /// [`GateState::apply`] for an epoch already verified on its own.
    pub fn apply_verified(&mut self, epoch: Epoch) -> Result<Epoch, ChainError> {
        let epoch = self.check_next_verified(epoch)?;
        self.hashes.push(*epoch.hash());
        self.head = epoch.clone();
        Ok(epoch)
    }

    /// Every accepted epoch hash, genesis first: what a client pins
    /// ([`compare_chains`](super::compare_chains)).
    pub fn hashes(&self) -> &[[u8; 32]] {
        &self.hashes
    }

    pub fn gate(&self) -> &GateId {
        self.head.gate()
    }

    /// The current (latest) epoch.
    pub fn head(&self) -> &Epoch {
        &self.head
    }

    /// Number of the current epoch.
    pub fn epoch(&self) -> u64 {
        self.head.number()
    }

    /// Hash of the genesis epoch: pins the gate (share it in invitations).
    pub fn genesis_hash(&self) -> &[u8; 32] {
        // `hashes` always holds the genesis hash first.
        self.hashes.first().unwrap_or(self.head.hash())
    }

    /// Hash of epoch `number`, if accepted.
    pub fn epoch_hash(&self, number: u64) -> Option<&[u8; 32]> {
        let idx = usize::try_from(number.checked_sub(GENESIS_EPOCH)?).ok()?;
        self.hashes.get(idx)
    }
}

/// Verify a whole history, genesis first. Returns the state at its head.
pub fn verify_epoch_chain(records: &[EpochRecord]) -> Result<GateState, ChainError> {
    let (first, rest) = records
        .split_first()
        .ok_or(ChainError::BadGenesis("empty chain"))?;
    let mut state = GateState::from_genesis(first)?;
    for record in rest {
        state.apply(record)?;
    }
    Ok(state)
}
