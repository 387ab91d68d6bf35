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
    let index: HashMap<&str, usize> = local_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_ref(), i))
        .collect();
    let head = local_ids.last().map(|s| s.as_ref());
    match_locator_by(head, |h| index.get(h).copied(), locator)
}

/// [`match_locator`] with the position of each of our ids given by `position` (an index kept
/// beside the chain, e.g. `ChainState::match_locator`'s) instead of a map of every id built per
/// call; `local_head` is our last id (`None`: no events). The same answer for distinct ids.
pub fn match_locator_by(
    local_head: Option<&str>,
    position: impl Fn(&str) -> Option<usize>,
    locator: &[String],
) -> LocatorMatch {
    let genesis = [GENESIS_HASH.to_string()];
    let locator = if locator.is_empty() {
        &genesis[..]
    } else {
        locator
    };
    let local_head = local_head.unwrap_or(GENESIS_HASH);
    let peer_head = locator.first().map(String::as_str).unwrap_or(GENESIS_HASH);
    for h in locator {
        let start = if h == GENESIS_HASH {
            Some(0)
        } else {
            position(h.as_str()).map(|i| i + 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_gives_the_same_match_as_the_map() {
        let ids: Vec<String> = (0..40).map(|i| format!("{i:064x}")).collect();
        let pos = |h: &str| ids.iter().position(|x| x == h);
        let some = |v: &[usize]| -> Vec<String> { v.iter().map(|&i| ids[i].clone()).collect() };
        let mut locators = vec![
            vec![],
            vec![GENESIS_HASH.to_string()],
            vec!["ff".repeat(32)],
            vec!["ff".repeat(32), GENESIS_HASH.to_string()],
            build_locator(&ids, 12),
            build_locator(&ids[..17], 12),
        ];
        for k in 0..ids.len() {
            let mut l = some(&[k]);
            l.insert(0, "ee".repeat(32));
            l.push(GENESIS_HASH.to_string());
            locators.push(l);
            locators.push(some(&[k, k / 2, 0]));
        }
        for n in [0, 1, 17, 40] {
            let local = &ids[..n];
            let pos_n = |h: &str| pos(h).filter(|&i| i < n);
            for l in &locators {
                assert_eq!(
                    match_locator_by(local.last().map(String::as_str), pos_n, l),
                    match_locator(local, l),
                    "{n} {l:?}"
                );
            }
        }
    }
}
