//! [`IdIndex`]: where each event id sits in a chain's id list, found by a keyed 64-bit hash of
//! the id, so a chain state holds every id once (in the list), not a second time as a map key.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Hasher for keys that already are (keyed) hashes: the `u64` itself.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Positions of ids in an id list (the list is passed to every call; this holds no ids except
/// the rare one whose hash an earlier, different id already holds). Lookups compare the id at
/// the position found, so the answer is exact whatever the hashes.
#[derive(Debug, Clone, Default)]
pub(super) struct IdIndex {
    /// Random per state (std's keyed SipHash, as every `HashMap` of the state): ids chosen to
    /// collide cannot be prepared in advance.
    keys: RandomState,
    by_hash: HashMap<u64, usize, BuildHasherDefault<Prehashed>>,
    /// Ids whose hash was taken by an earlier, different id.
    spill: HashMap<String, usize>,
    /// Tests: every id hashes alike (all but the first go to `spill`).
    #[cfg(test)]
    collide: bool,
}

impl IdIndex {
    /// The index of `ids` (each at its position); `None` if an id occurs twice.
    pub(super) fn build(ids: &[String]) -> Option<IdIndex> {
        let mut index = IdIndex::default();
        index.by_hash.reserve(ids.len());
        for (pos, id) in ids.iter().enumerate() {
            if !index.insert(ids, id, pos) {
                return None;
            }
        }
        Some(index)
    }

    fn hash(&self, id: &str) -> u64 {
        #[cfg(test)]
        if self.collide {
            return 7;
        }
        self.keys.hash_one(id)
    }

    /// Position of `id` in `ids` (the list this index was built over).
    pub(super) fn position(&self, ids: &[String], id: &str) -> Option<usize> {
        let p = *self.by_hash.get(&self.hash(id))?;
        if ids.get(p).is_some_and(|x| x == id) {
            return Some(p);
        }
        self.spill.get(id).copied()
    }

    /// Is `id` in `ids`?
    pub(super) fn contains(&self, ids: &[String], id: &str) -> bool {
        self.position(ids, id).is_some()
    }

    /// Record that `id` sits at `pos` (`ids` holds the ids before it; `id` is pushed at `pos`
    /// by the caller). `false` (and nothing changed) if `id` is already indexed.
    pub(super) fn insert(&mut self, ids: &[String], id: &str, pos: usize) -> bool {
        let h = self.hash(id);
        match self.by_hash.entry(h) {
            Entry::Vacant(v) => {
                v.insert(pos);
                true
            }
            Entry::Occupied(o) => {
                if ids.get(*o.get()).is_some_and(|x| x == id) || self.spill.contains_key(id) {
                    return false;
                }
                self.spill.insert(id.to_string(), pos);
                true
            }
        }
    }

    /// Number of ids indexed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_hash.len() + self.spill.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_found_also_when_hashes_collide() {
        let ids: Vec<String> = (0..1000).map(|i| format!("{i:064x}")).collect();
        let built = IdIndex::build(&ids).unwrap();
        let mut forced = IdIndex {
            collide: true,
            ..IdIndex::default()
        };
        for (pos, id) in ids.iter().enumerate() {
            assert!(forced.insert(&ids, id, pos));
        }
        assert_eq!(forced.spill.len(), 999);
        for index in [built, forced] {
            for (pos, id) in ids.iter().enumerate() {
                assert_eq!(index.position(&ids, id), Some(pos));
            }
            assert!(!index.contains(&ids, "absent"));
            let mut again = index.clone();
            assert!(!again.insert(&ids, &ids[0], 1000));
            assert!(!again.insert(&ids, &ids[500], 1000));
            assert_eq!(again.len(), 1000);
        }
        let dup = [ids[0].clone(), ids[1].clone(), ids[0].clone()];
        assert!(IdIndex::build(&dup).is_none());
    }
}
