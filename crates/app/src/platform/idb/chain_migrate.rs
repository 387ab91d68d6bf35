//! Conversion of the v5 chain layout (one sealed record per event, key = 12-digit index) into
//! page records (`model::chain::pages`), run once per open store before the first chain read or
//! write. Bounded chunks: each reads at most [`READ_CHUNK`] legacy records, opens a run of at
//! most `PAGE_MAX` consecutive ones and puts them as one page record and deletes them, in ONE
//! read-write transaction (the opening and sealing are synchronous inside it). A tab closed in
//! the middle leaves whole chunks converted and the rest per-event: the next open goes on from
//! there; two tabs converting at once serialise on the transactions and agree on the chunks.
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange;

use super::chain::page_err;
use super::{io, Storage, StorageError, STORE_EVENTS};
use crate::model::chain::pages::{self, Migrate, LEGACY_END, LEGACY_FROM};

/// Legacy records read per conversion step.
const READ_CHUNK: u32 = pages::PAGE_MAX as u32;

impl Storage {
    /// Convert any per-event records left by DB v5 into page records (once per open store;
    /// afterwards a no-op).
    pub(super) async fn ensure_chain_pages(&self) -> Result<(), StorageError> {
        if self.chain_pages.get() {
            return Ok(());
        }
        let mut after: Option<String> = None;
        loop {
            let tx = self.write_tx(STORE_EVENTS)?;
            let st = tx.object_store(STORE_EVENTS).map_err(io)?;
            let range: KeyRange<String> = match &after {
                None => (LEGACY_FROM.to_string()..LEGACY_END.to_string()).into(),
                Some(k) => KeyRange::Bound(k.clone(), true, LEGACY_END.to_string(), true),
            };
            let keys: Vec<String> = st
                .get_all_keys::<String>()
                .with_query::<String, _>(range.clone())
                .with_limit(READ_CHUNK)
                .primitive()
                .map_err(io)?
                .await
                .map_err(io)?
                .collect::<Result<_, _>>()
                .map_err(io)?;
            match pages::migrate_step(&keys) {
                Migrate::Done => break,
                // Not a per-event key (never written by any build): left alone, read on after it.
                Migrate::Skip(n) => after = Some(keys[n - 1].clone()),
                Migrate::Convert { start, run } => {
                    let values: Vec<String> = st
                        .get_all::<String>()
                        .with_query::<String, _>(range)
                        .with_limit(run.len() as u32)
                        .primitive()
                        .map_err(io)?
                        .await
                        .map_err(io)?
                        .collect::<Result<_, _>>()
                        .map_err(io)?;
                    let run_keys = &keys[run];
                    if values.len() != run_keys.len() {
                        return Err(super::corrupt("events: legacy records changed"));
                    }
                    let opened = run_keys
                        .iter()
                        .zip(&values)
                        .map(|(k, v)| self.open_sealed(STORE_EVENTS, k, v))
                        .collect::<Result<Vec<_>, _>>()?;
                    let texts: Vec<&str> = opened.iter().map(|t| t.as_str()).collect();
                    let key = pages::page_key(start);
                    let sealed = self.seal_bytes(STORE_EVENTS, &key, &pages::encode(&texts));
                    st.put(sealed).with_key(key).primitive().map_err(io)?;
                    let (Some(lo), Some(hi)) = (run_keys.first(), run_keys.last()) else {
                        return Err(page_err(pages::PageError::Header));
                    };
                    st.delete::<String, _>(lo.clone()..=hi.clone())
                        .primitive()
                        .map_err(io)?;
                    tx.commit().await.map_err(io)?;
                }
            }
        }
        self.chain_pages.set(true);
        Ok(())
    }

    /// Test builds only (`window.__posternTest.legacyEvents`): rewrite the stored page records
    /// as v5's per-event records (one transaction), so an e2e test can check the conversion on
    /// a real synced chain. The next open of the store converts them back.
    #[cfg(feature = "test-hooks")]
    pub async fn to_legacy_events_for_tests(&self) -> Result<u64, StorageError> {
        let texts = self.event_texts().await?;
        let sealed: Vec<(String, String)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let key = crate::model::chain::event_key(i as u64);
                let v = self.seal(STORE_EVENTS, &key, t);
                (key, v)
            })
            .collect();
        let tx = self.write_tx(STORE_EVENTS)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        st.delete::<String, _>(pages::page_key(0)..pages::PAGES_END.to_string())
            .primitive()
            .map_err(io)?;
        for (k, v) in sealed {
            st.put(v).with_key(k).primitive().map_err(io)?;
        }
        tx.commit().await.map_err(io)?;
        Ok(texts.len() as u64)
    }
}
