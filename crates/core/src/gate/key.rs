//! [`EpochKey`]: one epoch's secret with the epoch identity and roster it seals and opens under.
use std::fmt;

use super::epoch::{Epoch, EpochSecret};
use super::error::UnwrapError;
use super::roster::Roster;
use super::GateId;
use crate::identity::Identity;

/// What is needed to seal and open messages of one epoch: the secret plus the epoch's identity
/// (gate, number, hash) and roster (to authenticate authors). The secret is zeroized on drop.
#[derive(Clone)]
pub struct EpochKey {
    gate: GateId,
    epoch: u64,
    epoch_hash: [u8; 32],
    roster: Roster,
    secret: EpochSecret,
}

impl EpochKey {
    /// Unwrap my slot of a verified epoch.
    pub fn unlock(me: &Identity, epoch: &Epoch) -> Result<Self, UnwrapError> {
        let secret = epoch.open_secret(me)?;
        Ok(EpochKey::from_parts(epoch, secret))
    }

    /// Rebuild from a verified epoch and a stored secret.
    pub fn from_parts(epoch: &Epoch, secret: EpochSecret) -> Self {
        EpochKey {
            gate: epoch.gate().clone(),
            epoch: epoch.number(),
            epoch_hash: *epoch.hash(),
            roster: epoch.roster().clone(),
            secret,
        }
    }

    pub fn gate(&self) -> &GateId {
        &self.gate
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn epoch_hash(&self) -> &[u8; 32] {
        &self.epoch_hash
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    pub fn secret(&self) -> &EpochSecret {
        &self.secret
    }
}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochKey")
            .field("gate", &self.gate)
            .field("epoch", &self.epoch)
            .field("epoch_hash", &hex::encode(self.epoch_hash))
            .field("members", &self.roster.len())
            .field("secret", &"<redacted>")
            .finish()
    }
}
