//! Segmented snapshot records: whatever heights the snapshots are taken at, the head and the
//! segments stored one record after another join into exactly the whole record; what a
//! damaged or hostile store holds (a segment missing, extra, cut or too long) is refused.
use proptest::prelude::*;

use super::*;
use crate::model::chain::snapshot::SnapshotMeta;
use postern_core::b64;

/// A layout-2 record of the ids `from..` of `ids` (its state a stand-in: only the worker
/// reads it).
fn record(ids: &[[u8; 32]], from: usize) -> String {
    let meta = SnapshotMeta {
        v: RECORD_VERSION,
        count: ids.len() as u64,
        head: "head".into(),
        sealed: 0,
    };
    let packed: Vec<u8> = ids[from..].iter().flatten().copied().collect();
    format!(
        "{}\nSTATE\n{from}:{}",
        serde_json::to_string(&meta).expect("json"),
        b64::encode_std(&packed)
    )
}

/// What the page's store holds: the head and segments 0.. (as `platform::idb::chain_snapshot`
/// writes them: the head replaced, segments from `first` replaced and the ones above dropped).
#[derive(Default)]
struct Store {
    head: String,
    segments: Vec<String>,
    full: u64,
}

impl Store {
    fn put(&mut self, record: &str, seg: u64) -> Result<(), SnapshotRefused> {
        let s = split(record, seg, self.full)?;
        self.head = s.head.to_string();
        self.segments.truncate(s.first as usize);
        self.segments
            .extend(s.segments.iter().map(|t| t.to_string()));
        self.full = full_ids(s.count, seg);
        Ok(())
    }
    fn read(&self, seg: u64) -> Result<String, SnapshotRefused> {
        let segs: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        assemble(&self.head, &segs, seg)
    }
}

proptest! {
    /// Snapshots at growing heights, each carrying only the ids from the first segment not
    /// stored in full: read back, the store always gives the whole record of the last one, and
    /// no full segment is ever written twice.
    #[test]
    fn records_stored_one_after_another_join_into_the_whole_record(
        seg in prop::sample::select(vec![3u64, 6, 9, 30, 99]),
        steps in prop::collection::vec(1usize..80, 1..8),
        seed in any::<u8>(),
    ) {
        let total: usize = steps.iter().sum();
        let ids: Vec<[u8; 32]> = (0..total).map(|i| [seed ^ (i as u8), (i >> 8) as u8, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]).collect();
        let mut store = Store::default();
        let mut height = 0;
        for step in steps {
            height += step;
            let from = store.full as usize;
            let before = store.segments.clone();
            store.put(&record(&ids[..height], from), seg).expect("stored");
            // The full segments below `from` were not touched.
            let kept = from / seg as usize;
            prop_assert_eq!(&store.segments[..kept], &before[..kept]);
            prop_assert_eq!(store.read(seg).expect("joined"), record(&ids[..height], 0));
            prop_assert_eq!(store.segments.len() as u64, (height as u64).div_ceil(seg));
        }
    }

    /// A record carrying every id (`from` 0) can always be stored, whatever is stored.
    #[test]
    fn a_whole_record_replaces_any_store(n in 1usize..200, stored in 0u64..400) {
        let ids: Vec<[u8; 32]> = (0..n).map(|i| [i as u8; 32]).collect();
        let r = record(&ids, 0);
        let s = split(&r, 6, stored).expect("split");
        prop_assert_eq!(s.first, 0);
        prop_assert_eq!(s.segments.len() as u64, (n as u64).div_ceil(6));
    }
}

#[test]
fn a_record_whose_ids_start_above_what_is_stored_or_off_a_boundary_is_not_stored() {
    let ids: Vec<[u8; 32]> = (0..40).map(|i| [i as u8; 32]).collect();
    // Ids from 12 when only 6 are stored: 6..12 would be missing.
    assert!(split(&record(&ids, 12), 6, 6).is_err());
    // From 9 with segments of 6: not a boundary.
    assert!(split(&record(&ids, 9), 6, 12).is_err());
    // Segments must be a positive multiple of 3 ids.
    assert!(split(&record(&ids, 0), 4, 0).is_err());
    assert!(split(&record(&ids, 0), 0, 0).is_err());
    // The ids text must hold exactly the ids `from..count`.
    let r = record(&ids, 6);
    assert!(split(&r[..r.len() - 4], 6, 6).is_err());
    assert!(split(&format!("{r}AAAA"), 6, 6).is_err());
    // No ids line, no start, a start that is not a number, or a layout-1 record.
    assert!(split(r.rsplit_once('\n').expect("lines").0, 6, 6).is_err());
    assert!(split(&r.replacen("\n6:", "\n", 1), 6, 6).is_err());
    assert!(split(&r.replacen("\n6:", "\nsix:", 1), 6, 6).is_err());
    let v1 = r.replacen("\"v\":2", "\"v\":1", 1);
    assert!(split(&v1, 6, 6).is_err());
    // Good: from 6 with 6 stored, and with more stored.
    assert_eq!(split(&r, 6, 6).expect("ok").first, 1);
    assert_eq!(split(&r, 6, 36).expect("ok").first, 1);
}

#[test]
fn a_store_with_a_segment_missing_extra_cut_or_too_long_is_refused() {
    let ids: Vec<[u8; 32]> = (0..20).map(|i| [i as u8; 32]).collect();
    let mut store = Store::default();
    store.put(&record(&ids, 0), 6).expect("stored");
    assert_eq!(store.segments.len(), 4);
    let whole = store.read(6).expect("joined");
    assert_eq!(whole, record(&ids, 0));
    let refused = |segments: Vec<String>| {
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        assemble(&store.head, &segs, 6).expect_err("refused")
    };
    let s = store.segments.clone();
    refused(s[..3].to_vec());
    refused([s.clone(), vec![s[3].clone()]].concat());
    let mut cut = s.clone();
    cut[1].pop();
    refused(cut);
    let mut long = s.clone();
    long[3].push_str("AAAA");
    refused(long);
    // A head that is not a layout-2 head with ids from 0, or a whole record as the head.
    let segs: Vec<&str> = s.iter().map(String::as_str).collect();
    assert!(assemble(&whole, &segs, 6).is_err());
    assert!(assemble(&format!("{}\n", store.head), &segs, 6).is_err());
    assert!(assemble(&store.head.replacen("\"v\":2", "\"v\":1", 1), &segs, 6).is_err());
    assert!(assemble("garbage", &segs, 6).is_err());
    assert!(is_segmented(&store.head));
    assert!(!is_segmented(
        "{\"v\":1,\"count\":3,\"head\":\"h\",\"sealed\":0}\n{}"
    ));
}
