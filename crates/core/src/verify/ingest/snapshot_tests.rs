//! Round trips and refusals of the chain-state snapshot encoding.
use super::*;
use crate::chaingen::{generate_chain, GenOptions};
use crate::verify::VerifyOptions;

/// Every field of a state, in a comparable form.
type Fields = (
    Option<String>,
    Vec<String>,
    Vec<(String, usize)>,
    Vec<(String, BigInt)>,
    Vec<(String, String)>,
    Vec<(String, BigInt, BigInt)>,
    Vec<(String, String, String, u64)>,
);

fn fields(s: &ChainState) -> Fields {
    let mut index: Vec<_> = s
        .ids
        .iter()
        .map(|id| {
            (
                id.clone(),
                s.index.position(&s.ids, id).unwrap_or(usize::MAX),
            )
        })
        .collect();
    index.sort();
    let mut seqs: Vec<_> = s
        .sequences
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    seqs.sort();
    let mut binds: Vec<_> = s
        .bindings
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    binds.sort();
    let mut revs: Vec<_> = s
        .revocations
        .iter()
        .map(|(k, r)| (k.clone(), r.revoked_at.clone(), r.grace_until.clone()))
        .collect();
    revs.sort();
    let spool = s
        .dm_spool
        .iter()
        .map(|e| {
            (
                e.delivery_class.clone(),
                e.key.clone(),
                e.node_id.clone(),
                e.ts.to_bits(),
            )
        })
        .collect();
    (
        s.head.clone(),
        s.ids.clone(),
        index,
        seqs,
        binds,
        revs,
        spool,
    )
}

fn chain_state(n: usize) -> ChainState {
    let events = generate_chain(n, GenOptions::default());
    let mut s = ChainState::new();
    let (ok, rej) = s.ingest_all(&events, &VerifyOptions::at(1_780_000_000 + n as u64));
    assert_eq!((ok, rej.map(|r| r.reason)), (n, None));
    s
}

fn with_extras(mut s: ChainState) -> ChainState {
    s.revocations.insert(
        "key-b".into(),
        Revocation {
            revoked_at: BigInt::from(-5i64),
            grace_until: BigInt::from_parts(false, "123456789012345678901234567890").unwrap(),
        },
    );
    s.revocations.insert(
        "key-a".into(),
        Revocation {
            revoked_at: BigInt::zero(),
            grace_until: BigInt::from(7u64),
        },
    );
    for i in 0..3 {
        s.dm_spool.push(DmSpoolEntry {
            delivery_class: if i == 1 { "shared" } else { "request" }.into(),
            key: format!("target{i}"),
            node_id: format!("!sb_{i}"),
            ts: 1_780_000_000.25 + f64::from(i),
        });
    }
    s
}

#[test]
fn a_verified_chain_state_round_trips_canonically() {
    for n in [0, 1, 25] {
        let s = with_extras(chain_state(n));
        let bytes = s.snapshot();
        let header = snapshot_header(&bytes).unwrap();
        assert_eq!(header.count, n as u64);
        assert_eq!(header.head.as_deref(), s.ids.last().map(String::as_str));
        let back = ChainState::from_snapshot(&bytes, s.ids.clone()).unwrap();
        assert_eq!(fields(&back), fields(&s));
        assert_eq!(back.snapshot(), bytes, "one state, one encoding");
    }
}

#[test]
fn a_restored_state_judges_the_next_events_as_the_original() {
    let events = generate_chain(30, GenOptions::default());
    let opts = VerifyOptions::at(1_780_000_100);
    let mut full = ChainState::new();
    assert_eq!(full.ingest_all(&events, &opts).0, 30);
    let mut part = ChainState::new();
    assert_eq!(part.ingest_all(&events[..20], &opts).0, 20);
    let mut restored = ChainState::from_snapshot(&part.snapshot(), part.ids.clone()).unwrap();
    assert_eq!(restored.ingest_all(&events[20..], &opts), (10, None));
    assert_eq!(fields(&restored), fields(&full));
    // A replayed event is refused by the restored state as by the original.
    let again = restored.ingest(&events[5], &opts).unwrap_err();
    assert_eq!(
        again.reason,
        full.ingest(&events[5], &opts).unwrap_err().reason
    );
}

#[test]
fn wrong_ids_count_head_version_or_bytes_are_refused() {
    let s = chain_state(10);
    let bytes = s.snapshot();
    let ids = s.ids.clone();
    let mut other = ids.clone();
    other.swap(2, 3);
    assert_eq!(
        ChainState::from_snapshot(&bytes, other).err(),
        Some(SnapshotError::Ids)
    );
    assert!(matches!(
        ChainState::from_snapshot(&bytes, ids[..9].to_vec()),
        Err(SnapshotError::Count { .. })
    ));
    let mut last = ids.clone();
    last[9] = "f".repeat(64);
    assert_eq!(
        ChainState::from_snapshot(&bytes, last).err(),
        Some(SnapshotError::Head)
    );
    // Another version: refused before anything else is read (its digest is not looked at).
    let mut v2 = bytes.clone();
    v2[9] = 2;
    assert_eq!(snapshot_header(&v2), Err(SnapshotError::Version(2)));
    let mut magic = bytes.clone();
    magic[0] ^= 1;
    assert_eq!(snapshot_header(&magic), Err(SnapshotError::Magic));
    for at in [12, bytes.len() / 2, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        assert_eq!(
            ChainState::from_snapshot(&b, ids.clone()).err(),
            Some(SnapshotError::Digest),
            "byte {at}"
        );
    }
    assert!(ChainState::from_snapshot(&bytes[..bytes.len() - 1], ids).is_err());
}

#[test]
fn a_non_canonical_body_with_a_valid_digest_is_refused() {
    // Two sequences written out of order, digest recomputed: still refused.
    let mut s = ChainState::new();
    s.sequences.insert("a".into(), BigInt::from(1u64));
    s.sequences.insert("b".into(), BigInt::from(2u64));
    let good = s.snapshot();
    let body = &good[..good.len() - 32];
    let a = b"\0\0\0\x01a\0\0\0\0\x011";
    let b = b"\0\0\0\x01b\0\0\0\0\x012";
    let at = body.windows(a.len()).position(|w| w == a).unwrap();
    let mut swapped = body.to_vec();
    swapped[at..at + a.len()].copy_from_slice(b);
    swapped[at + a.len()..at + 2 * a.len()].copy_from_slice(a);
    let d = body_digest(&swapped);
    swapped.extend_from_slice(&d);
    assert_eq!(
        ChainState::from_snapshot(&swapped, Vec::new()).err(),
        Some(SnapshotError::NonCanonical("map keys out of order"))
    );
}

#[cfg(not(target_arch = "wasm32"))]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn int() -> impl Strategy<Value = BigInt> {
        (any::<bool>(), "[0-9]{1,30}").prop_map(|(n, d)| BigInt::from_parts(n, &d).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_state_round_trips(
            ids in proptest::collection::hash_set("[0-9a-f]{1,64}", 0..12),
            seqs in proptest::collection::hash_map(".{0,12}", int(), 0..6),
            binds in proptest::collection::hash_map(".{0,12}", ".{0,12}", 0..6),
            revs in proptest::collection::hash_map(".{0,12}", (int(), int()), 0..4),
            spool in proptest::collection::vec((".{0,8}", ".{0,8}", ".{0,8}", any::<u64>()), 0..6),
        ) {
            let ids: Vec<String> = ids.into_iter().collect();
            let s = ChainState {
                head: ids.last().cloned(),
                index: IdIndex::build(&ids).unwrap_or_default(),
                ids,
                sequences: seqs,
                bindings: binds,
                revocations: revs
                    .into_iter()
                    .map(|(k, (revoked_at, grace_until))| (k, Revocation { revoked_at, grace_until }))
                    .collect(),
                dm_spool: spool
                    .into_iter()
                    .map(|(delivery_class, key, node_id, ts)| DmSpoolEntry {
                        delivery_class, key, node_id, ts: f64::from_bits(ts),
                    })
                    .collect(),
                keys: crate::verify::KeyCache::default(),
            };
            let bytes = s.snapshot();
            let back = ChainState::from_snapshot(&bytes, s.ids.clone()).unwrap();
            prop_assert_eq!(fields(&back), fields(&s));
            prop_assert_eq!(back.snapshot(), bytes);
        }

        #[test]
        fn any_corruption_is_refused_without_panic(
            n in 0usize..8,
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            cut in any::<prop::sample::Index>(),
        ) {
            let s = with_extras(chain_state(n));
            let bytes = s.snapshot();
            let mut b = bytes.clone();
            b[at.index(bytes.len())] ^= flip;
            prop_assert!(ChainState::from_snapshot(&b, s.ids.clone()).is_err());
            let short = &bytes[..cut.index(bytes.len())];
            prop_assert!(ChainState::from_snapshot(short, s.ids.clone()).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ChainState::from_snapshot(&b, Vec::new());
            let mut framed = SNAPSHOT_MAGIC.to_vec();
            framed.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
            framed.extend_from_slice(&b);
            let d = body_digest(&framed);
            framed.extend_from_slice(&d);
            let _ = ChainState::from_snapshot(&framed, Vec::new());
        }
    }
}
