//! Block locators and fork matching between a local chain and a peer's locator.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::canonical::GENESIS_HASH;

use super::outcome::LOCATOR_DENSE_ENTRIES;

/// Block locator: the `LOCATOR_DENSE_ENTRIES` most recent ids, then exponentially sparser ids,
/// always ending with the genesis hash; at most `max_entries` entries (minimum 2).
pub fn build_locator<S: AsRef<str>>(event_ids: &[S], max_entries: usize) -> Vec<String> {
    let max_entries = max_entries.max(2);
    let mut out = Vec::new();
    let mut idx = event_ids.len() as i128 - 1;
    let mut step: i128 = 1;
    let mut count = 0usize;
    while idx >= 0 && out.len() < max_entries - 1 {
        if let Some(id) = usize::try_from(idx).ok().and_then(|i| event_ids.get(i)) {
            out.push(id.as_ref().to_string());
        }
        if count + 1 >= LOCATOR_DENSE_ENTRIES {
            step = step.saturating_mul(2);
        }
        idx -= step;
        count += 1;
    }
    out.push(GENESIS_HASH.to_string());
    out
}

/// Where a peer's locator meets our chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocatorMatch {
    /// Common ancestor (genesis hash when only genesis is shared); `None` when nothing matches.
    pub matched_hash: Option<String>,
    /// Index of our first event after the match (0 for genesis).
    pub start_index: usize,
    /// The reference relay's `forked` flag: nothing matched, or only genesis matched although
    /// the peer sent a longer locator.
    pub forked: bool,
    /// Both sides have events after the common ancestor (or there is no common ancestor).
    pub diverged: bool,
}

/// Match a peer's locator against our event ids (first locator entry we know wins; an empty
/// locator means genesis).
pub fn match_locator<S: AsRef<str>>(local_ids: &[S], locator: &[String]) -> LocatorMatch {
    let genesis = [GENESIS_HASH.to_string()];
    let locator = if locator.is_empty() {
        &genesis[..]
    } else {
        locator
    };
    let local_head = local_ids.last().map(|s| s.as_ref()).unwrap_or(GENESIS_HASH);
    let peer_head = locator.first().map(String::as_str).unwrap_or(GENESIS_HASH);
    let index: HashMap<&str, usize> = local_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_ref(), i))
        .collect();
    for h in locator {
        let start = if h == GENESIS_HASH {
            Some(0)
        } else {
            index.get(h.as_str()).map(|i| i + 1)
        };
        if let Some(start) = start {
            let diverged = h != peer_head && h != local_head;
            let forked = h == GENESIS_HASH && locator.len() > 1;
            return LocatorMatch {
                matched_hash: Some(h.clone()),
                start_index: start,
                forked,
                diverged,
            };
        }
    }
    LocatorMatch {
        matched_hash: None,
        start_index: 0,
        forked: true,
        diverged: true,
    }
}
