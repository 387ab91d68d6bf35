//! Per-gate keyring: every epoch secret a member has unlocked (to read history), the epochs it
//! was shut out of, and a bounded queue of messages for epochs it has not seen yet.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand_core::CryptoRngCore;

use super::epoch::Epoch;
use super::error::{AddEpochError, OpenError, ReceiveError, SealError, UnwrapError};
use super::key::EpochKey;
use super::message::{self, GateMessage, OpenedGateMessage};
use super::GateId;
use crate::identity::Identity;

/// Most messages a keyring holds for epochs it has not seen yet.
pub const MAX_PENDING: usize = 256;

/// Outcome of [`GateKeyring::receive`].
#[derive(Debug, Clone)]
pub enum Received {
    /// Opened and authenticated.
    Opened(Box<OpenedGateMessage>),
    /// Queued until the rotation to `epoch` arrives ([`GateKeyring::add_epoch`] opens it then).
    Pending { epoch: u64 },
}

/// Messages released from the queue when their epoch arrives, each with its open result.
pub type Drained = Vec<(GateMessage, Result<OpenedGateMessage, OpenError>)>;

pub struct GateKeyring {
    gate: GateId,
    keys: BTreeMap<u64, EpochKey>,
    /// Epochs that exist but whose roster does not include me.
    locked: BTreeSet<u64>,
    pending: BTreeMap<u64, Vec<GateMessage>>,
    pending_len: usize,
}

impl GateKeyring {
    pub fn new(gate: GateId) -> Self {
        GateKeyring {
            gate,
            keys: BTreeMap::new(),
            locked: BTreeSet::new(),
            pending: BTreeMap::new(),
            pending_len: 0,
        }
    }

    pub fn gate(&self) -> &GateId {
        &self.gate
    }

    /// Record a verified epoch (from [`super::GateState::apply`]): unlock my slot and open any
    /// queued messages of that epoch. If I am not in its roster the epoch is marked locked, its
    /// queued messages are dropped and `Unwrap(NotAMember)` is returned.
    pub fn add_epoch(&mut self, me: &Identity, epoch: &Epoch) -> Result<Drained, AddEpochError> {
        if epoch.gate() != &self.gate {
            return Err(AddEpochError::WrongGate);
        }
        match EpochKey::unlock(me, epoch) {
            Ok(key) => self.insert_key(key),
            Err(e @ UnwrapError::NotAMember { .. }) => {
                self.locked.insert(epoch.number());
                if let Some(q) = self.pending.remove(&epoch.number()) {
                    self.pending_len = self.pending_len.saturating_sub(q.len());
                }
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Insert an already unlocked key (e.g. restored from storage); opens queued messages.
    /// Fails only with `WrongGate`.
    pub fn insert_key(&mut self, key: EpochKey) -> Result<Drained, AddEpochError> {
        if key.gate() != &self.gate {
            return Err(AddEpochError::WrongGate);
        }
        let n = key.epoch();
        self.locked.remove(&n);
        let queued = self.pending.remove(&n).unwrap_or_default();
        self.pending_len = self.pending_len.saturating_sub(queued.len());
        let drained = queued
            .into_iter()
            .map(|m| {
                let r = message::open(&key, &m);
                (m, r)
            })
            .collect();
        self.keys.insert(n, key);
        Ok(drained)
    }

    /// Highest epoch this keyring knows of (unlocked or locked).
    pub fn latest_epoch(&self) -> Option<u64> {
        let k = self.keys.keys().next_back().copied();
        let l = self.locked.iter().next_back().copied();
        k.max(l)
    }

    /// The key of the latest epoch, if I am a member of it.
    pub fn current(&self) -> Option<&EpochKey> {
        let latest = self.latest_epoch()?;
        self.keys.get(&latest)
    }

    pub fn key(&self, epoch: u64) -> Option<&EpochKey> {
        self.keys.get(&epoch)
    }

    /// Epochs I hold keys for, ascending.
    pub fn epochs(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.keys().copied()
    }

    pub fn pending_len(&self) -> usize {
        self.pending_len
    }

    /// Open a message of a known epoch (no queueing).
    pub fn open(&self, msg: &GateMessage) -> Result<OpenedGateMessage, OpenError> {
        msg.validate()?;
        if msg.gate != self.gate.as_str() {
            return Err(OpenError::WrongGate);
        }
        if let Some(key) = self.keys.get(&msg.epoch) {
            return message::open(key, msg);
        }
        if self.locked.contains(&msg.epoch) {
            return Err(OpenError::NotAMember { epoch: msg.epoch });
        }
        Err(OpenError::UnknownEpoch { epoch: msg.epoch })
    }

    /// Open a message, or queue it if its epoch is later than any this keyring knows.
    pub fn receive(&mut self, msg: GateMessage) -> Result<Received, ReceiveError> {
        msg.validate().map_err(OpenError::from)?;
        if msg.gate != self.gate.as_str() {
            return Err(OpenError::WrongGate.into());
        }
        let epoch = msg.epoch;
        if self.keys.contains_key(&epoch) || self.locked.contains(&epoch) {
            return Ok(Received::Opened(Box::new(self.open(&msg)?)));
        }
        if self.latest_epoch().is_some_and(|latest| epoch <= latest) {
            return Err(OpenError::UnknownEpoch { epoch }.into());
        }
        if self.pending.get(&epoch).is_some_and(|q| q.contains(&msg)) {
            return Ok(Received::Pending { epoch });
        }
        if self.pending_len >= MAX_PENDING {
            return Err(ReceiveError::PendingFull);
        }
        self.pending.entry(epoch).or_default().push(msg);
        self.pending_len += 1;
        Ok(Received::Pending { epoch })
    }

    /// Seal under the latest epoch (fails with `NotAMember` if I was removed from it), legacy
    /// inner format without a counter. Prefer [`GateKeyring::seal_counted`].
    pub fn seal(
        &self,
        author: &Identity,
        body: &[u8],
        timestamp: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<GateMessage, SealError> {
        message::seal(author, self.latest_key()?, body, timestamp, rng)
    }

    /// Seal under the latest epoch with the author's per-gate `counter` (see
    /// [`message::seal_counted`]); fails with `NotAMember` if I was removed from that epoch.
    pub fn seal_counted(
        &self,
        author: &Identity,
        body: &[u8],
        timestamp: u64,
        counter: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<GateMessage, SealError> {
        message::seal_counted(author, self.latest_key()?, body, timestamp, counter, rng)
    }

    fn latest_key(&self) -> Result<&EpochKey, SealError> {
        let latest = self
            .latest_epoch()
            .ok_or(SealError::UnknownEpoch { epoch: 0 })?;
        self.keys
            .get(&latest)
            .ok_or(SealError::NotAMember { epoch: latest })
    }
}

impl fmt::Debug for GateKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateKeyring")
            .field("gate", &self.gate)
            .field("epochs", &self.keys.keys().collect::<Vec<_>>())
            .field("locked", &self.locked)
            .field("pending", &self.pending_len)
            .finish()
    }
}
