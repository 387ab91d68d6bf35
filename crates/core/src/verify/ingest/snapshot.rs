//! Versioned, canonical byte encoding of a [`ChainState`] (a relay's start-up checkpoint).
//!
//! A snapshot holds the rule state the ingest rules read (per-node sequences, key bindings,
//! revocations, the DM spool), the event count and head, and a digest of the event ids it
//! covers; the ids themselves are not in it (the relay reads them from its chain table and
//! [`ChainState::from_snapshot`] checks them against the digest, the count and the head). The
//! key cache is not state and is not encoded.
//!
//! Layout, version 1 (integers big-endian; `str` = `u32` length ‖ UTF-8 bytes; maps in
//! strictly increasing key order, so one state has exactly one encoding):
//!
//! ```text
//! MAGIC (8) ‖ u16 version ‖ u64 count ‖ u8 has_head ‖ [str head] ‖ ids_digest (32)
//! ‖ u32 n ‖ n × (str key ‖ int last)                       sequences
//! ‖ u32 n ‖ n × (str public_key ‖ str node_id)             bindings
//! ‖ u32 n ‖ n × (str public_key ‖ int revoked_at ‖ int grace_until)   revocations
//! ‖ u64 n ‖ n × (str delivery_class ‖ str key ‖ str node_id ‖ u64 ts_bits)   DM spool, in order
//! ‖ digest (32) = sha256(CHAIN_SNAPSHOT_DIGEST ‖ every byte before it)
//! int = u8 negative ‖ str decimal magnitude (no leading zero, "0" not negative)
//! ids_digest = sha256(CHAIN_SNAPSHOT_IDS ‖ for each id: u32 length ‖ id)
//! ```
//!
//! Any change to what the state holds must bump [`SNAPSHOT_VERSION`]: a reader refuses every
//! version but its own (the relay then replays its chain in full).
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::{ChainState, DmSpoolEntry, IdIndex, Revocation};
use crate::json::BigInt;
use crate::labels::{CHAIN_SNAPSHOT_DIGEST, CHAIN_SNAPSHOT_IDS, CHAIN_SNAPSHOT_TEXTS};

/// First bytes of every chain-state snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"PSTNCHST";
/// The snapshot version this build writes and reads.
pub const SNAPSHOT_VERSION: u16 = 1;

/// Why a snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a chain-state snapshot")]
    Magic,
    #[error("unknown chain-state snapshot version {0}")]
    Version(u16),
    #[error("chain-state snapshot truncated")]
    Truncated,
    #[error("chain-state snapshot digest does not match its bytes")]
    Digest,
    #[error("chain-state snapshot not canonical: {0}")]
    NonCanonical(&'static str),
    #[error("snapshot covers {snapshot} events, {given} ids given")]
    Count { snapshot: u64, given: u64 },
    #[error("event ids do not match the snapshot's digest")]
    Ids,
    #[error("snapshot head does not match the last event id")]
    Head,
}

/// What a snapshot's header says, read after checking its magic, version and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// Events covered (the height of the checkpoint).
    pub count: u64,
    /// Id of the last event covered (`None` for an empty chain).
    pub head: Option<String>,
}

/// Streaming SHA-256 of a list of texts (`u32` length ‖ bytes each) under a domain label:
/// [`ListDigest::ids`] is the snapshot's `ids_digest`; [`ListDigest::texts`] the digest a relay
/// keeps of its stored event texts.
#[derive(Debug, Clone)]
pub struct ListDigest(Sha256);

impl ListDigest {
    /// Digest of event ids (`CHAIN_SNAPSHOT_IDS`).
    pub fn ids() -> Self {
        Self::labelled(CHAIN_SNAPSHOT_IDS)
    }
    /// Digest of stored event texts (`CHAIN_SNAPSHOT_TEXTS`).
    pub fn texts() -> Self {
        Self::labelled(CHAIN_SNAPSHOT_TEXTS)
    }
    fn labelled(label: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(label);
        ListDigest(h)
    }
    /// Add the next item.
    pub fn push(&mut self, item: &str) {
        self.0.update(len32(item.len()).to_be_bytes());
        self.0.update(item.as_bytes());
    }
    /// The digest of the items pushed so far.
    pub fn finish(&self) -> [u8; 32] {
        self.0.clone().finalize().into()
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn ids_digest(ids: &[String]) -> [u8; 32] {
    let mut d = ListDigest::ids();
    for id in ids {
        d.push(id);
    }
    d.finish()
}

struct Writer(Vec<u8>);

impl Writer {
    fn str(&mut self, s: &str) {
        self.0.extend_from_slice(&len32(s.len()).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn int(&mut self, v: &BigInt) {
        self.0.push(u8::from(v.is_negative()));
        self.str(v.magnitude());
    }
}

fn sorted<V>(m: &HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    v
}

impl ChainState {
    /// The state's canonical snapshot (see the module docs for the layout).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(256 + self.dm_spool.len() * 96));
        w.0.extend_from_slice(SNAPSHOT_MAGIC);
        w.0.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        w.0.extend_from_slice(&(self.ids.len() as u64).to_be_bytes());
        match &self.head {
            Some(h) => {
                w.0.push(1);
                w.str(h);
            }
            None => w.0.push(0),
        }
        w.0.extend_from_slice(&ids_digest(&self.ids));
        w.0.extend_from_slice(&len32(self.sequences.len()).to_be_bytes());
        for (k, v) in sorted(&self.sequences) {
            w.str(k);
            w.int(v);
        }
        w.0.extend_from_slice(&len32(self.bindings.len()).to_be_bytes());
        for (k, v) in sorted(&self.bindings) {
            w.str(k);
            w.str(v);
        }
        w.0.extend_from_slice(&len32(self.revocations.len()).to_be_bytes());
        for (k, r) in sorted(&self.revocations) {
            w.str(k);
            w.int(&r.revoked_at);
            w.int(&r.grace_until);
        }
        w.0.extend_from_slice(&(self.dm_spool.len() as u64).to_be_bytes());
        for e in &self.dm_spool {
            w.str(&e.delivery_class);
            w.str(&e.key);
            w.str(&e.node_id);
            w.0.extend_from_slice(&e.ts.to_bits().to_be_bytes());
        }
        let digest = body_digest(&w.0);
        w.0.extend_from_slice(&digest);
        w.0
    }

    /// Rebuild a state from its snapshot and the event ids it covers, in order. Refused unless
    /// the magic, version and digest are right, the encoding is canonical and complete, and
    /// `ids` has the snapshot's count, head (last id) and ids digest.
    pub fn from_snapshot(bytes: &[u8], ids: Vec<String>) -> Result<ChainState, SnapshotError> {
        let (mut r, header) = open(bytes)?;
        let given = ids.len() as u64;
        if given != header.count {
            return Err(SnapshotError::Count {
                snapshot: header.count,
                given,
            });
        }
        if ids.last() != header.head.as_ref() {
            return Err(SnapshotError::Head);
        }
        if r.take(32)? != ids_digest(&ids).as_slice() {
            return Err(SnapshotError::Ids);
        }
        let mut state = ChainState {
            head: header.head,
            ..ChainState::default()
        };
        let mut last: Option<String> = None;
        for _ in 0..r.u32()? {
            let k = r.sorted_key(&mut last)?;
            state.sequences.insert(k, r.int()?);
        }
        last = None;
        for _ in 0..r.u32()? {
            let k = r.sorted_key(&mut last)?;
            state.bindings.insert(k, r.str()?);
        }
        last = None;
        for _ in 0..r.u32()? {
            let k = r.sorted_key(&mut last)?;
            let revoked_at = r.int()?;
            let grace_until = r.int()?;
            state.revocations.insert(
                k,
                Revocation {
                    revoked_at,
                    grace_until,
                },
            );
        }
        for _ in 0..r.u64()? {
            let delivery_class = r.str()?;
            let key = r.str()?;
            let node_id = r.str()?;
            let ts = f64::from_bits(r.u64()?);
            state.dm_spool.push(DmSpoolEntry {
                delivery_class,
                key,
                node_id,
                ts,
            });
        }
        if !r.0.is_empty() {
            return Err(SnapshotError::NonCanonical("bytes after the state"));
        }
        state.index = IdIndex::build(&ids).ok_or(SnapshotError::Ids)?;
        state.ids = ids;
        Ok(state)
    }
}

/// Check a snapshot's magic, version and digest and read its header, without the event ids.
pub fn snapshot_header(bytes: &[u8]) -> Result<SnapshotHeader, SnapshotError> {
    open(bytes).map(|(_, h)| h)
}

fn body_digest(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CHAIN_SNAPSHOT_DIGEST);
    h.update(body);
    h.finalize().into()
}

/// Check magic, version and digest; the reader is left after the head, without the digest.
fn open(bytes: &[u8]) -> Result<(Reader<'_>, SnapshotHeader), SnapshotError> {
    let mut r = Reader(bytes);
    if r.take(SNAPSHOT_MAGIC.len()).ok() != Some(SNAPSHOT_MAGIC.as_slice()) {
        return Err(SnapshotError::Magic);
    }
    let version = u16::from_be_bytes(r.array()?);
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version(version));
    }
    let split = bytes
        .len()
        .checked_sub(32)
        .ok_or(SnapshotError::Truncated)?;
    let (body, digest) = bytes.split_at(split);
    if body.len() < SNAPSHOT_MAGIC.len() + 2 {
        return Err(SnapshotError::Truncated);
    }
    if body_digest(body) != digest {
        return Err(SnapshotError::Digest);
    }
    r.0 = body.get(SNAPSHOT_MAGIC.len() + 2..).unwrap_or_default();
    let count = r.u64()?;
    let head = match r.u8()? {
        0 => None,
        1 => Some(r.str()?),
        _ => return Err(SnapshotError::NonCanonical("head flag")),
    };
    if head.is_none() != (count == 0) {
        return Err(SnapshotError::NonCanonical("head and count disagree"));
    }
    Ok((r, SnapshotHeader { count, head }))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if n > self.0.len() {
            return Err(SnapshotError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn str(&mut self) -> Result<String, SnapshotError> {
        let n = usize::try_from(self.u32()?).map_err(|_| SnapshotError::Truncated)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| SnapshotError::NonCanonical("text not UTF-8"))
    }
    fn int(&mut self) -> Result<BigInt, SnapshotError> {
        let neg = match self.u8()? {
            0 => false,
            1 => true,
            _ => return Err(SnapshotError::NonCanonical("sign")),
        };
        let digits = self.str()?;
        match BigInt::from_parts(neg, &digits) {
            Some(v) if v.magnitude() == digits && v.is_negative() == neg => Ok(v),
            _ => Err(SnapshotError::NonCanonical("integer")),
        }
    }
    /// A map key, which must sort strictly after the previous one.
    fn sorted_key(&mut self, last: &mut Option<String>) -> Result<String, SnapshotError> {
        let k = self.str()?;
        if last.as_ref().is_some_and(|l| *l >= k) {
            return Err(SnapshotError::NonCanonical("map keys out of order"));
        }
        *last = Some(k.clone());
        Ok(k)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "snapshot_tests.rs"]
mod tests;
