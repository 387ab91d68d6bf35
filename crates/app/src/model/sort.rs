//! The app's one stable sort: every list sort goes through a single non-generic index sort.
//!
//! `slice::sort_by` is monomorphised per element type *and* per closure (≈ 3.3 KB of wasm each:
//! quicksort + drift sort + small sorts); 17 copies were ≈ 55 KB of the page wasm. Here only
//! [`order`] instantiates the standard library's stable sort (on `usize` indices, through a
//! `dyn` comparator); the generic wrappers compare elements by index and apply the resulting
//! permutation with swaps. The result is exactly `slice::sort_by`'s (stable, same comparator).

use std::cmp::Ordering;

/// Stable sort of `v` by `cmp`: the same order as `v.sort_by(cmp)`.
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let swaps = {
        let items: &[T] = v;
        swaps_of(order(
            items.len(),
            &mut |a, b| match (items.get(a), items.get(b)) {
                (Some(x), Some(y)) => cmp(x, y),
                _ => Ordering::Equal,
            },
        ))
    };
    for (a, b) in swaps {
        v.swap(a, b);
    }
}

/// Stable sort of `v` by `key`: the same order as `v.sort_by_key(key)`.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Stable sort of `v` by `Ord`: the same order as `v.sort()`.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, |a, b| a.cmp(b));
}

/// The sorted order of `0..n`: position `k` of the result holds the index of the element that
/// goes to `k`. The only instantiation of the standard library's stable sort.
#[inline(never)]
fn order(n: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| cmp(a, b));
    idx
}

/// The swaps that turn a slice into `new[k] = old[perm[k]]` (cycle by cycle, at most n − 1).
#[inline(never)]
fn swaps_of(mut perm: Vec<usize>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for start in 0..perm.len() {
        let mut cur = start;
        while let Some(slot) = perm.get_mut(cur) {
            let next = std::mem::replace(slot, cur);
            if next == start || next == cur {
                break;
            }
            out.push((cur, next));
            cur = next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same result as the standard library's stable sort, including the order of equal keys.
    #[test]
    fn matches_std_stable_sort() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..60usize {
            for _ in 0..20 {
                let v: Vec<(u8, usize)> = (0..len)
                    .map(|i| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        ((seed % 5) as u8, i)
                    })
                    .collect();
                let mut ours = v.clone();
                let mut std_sorted = v.clone();
                sort_by_key(&mut ours, |p| p.0);
                std_sorted.sort_by_key(|p| p.0);
                assert_eq!(ours, std_sorted);
                let mut rev = v.clone();
                let mut std_rev = v;
                sort_by(&mut rev, |a, b| b.0.cmp(&a.0));
                std_rev.sort_by_key(|p| std::cmp::Reverse(p.0));
                assert_eq!(rev, std_rev);
            }
        }
    }

    #[test]
    fn sorts_strings_and_empty() {
        let mut v = vec!["b".to_string(), "a".into(), "c".into(), "a".into()];
        sort(&mut v);
        assert_eq!(v, ["a", "a", "b", "c"]);
        let mut e: Vec<u8> = Vec::new();
        sort(&mut e);
        assert!(e.is_empty());
    }
}
