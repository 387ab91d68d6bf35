//! Start-up hooks once the identity is unlocked: the unlock time on `<html>` and, in test
//! builds only (feature `test-hooks`) behind a localStorage flag the e2e harness sets,
//! `window.__posternTest`.

fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Called once the identity is unlocked: records the unlock time (ms since navigation start)
/// as `html[data-unlock-ms]`; in a test build (cargo feature `test-hooks`, `make ui-test`)
/// also the e2e hooks below. A production build (`make ui`) has no trace of them.
pub fn after_unlock(secret: &str, storage: &std::rc::Rc<super::idb::Storage>) {
    let ms = perf_now();
    let Some(w) = web_sys::window() else {
        return;
    };
    if let Some(root) = w.document().and_then(|d| d.document_element()) {
        let _ = root.set_attribute("data-unlock-ms", &format!("{ms:.0}"));
    }
    #[cfg(feature = "test-hooks")]
    test_hooks::expose(&w, secret, storage);
    #[cfg(not(feature = "test-hooks"))]
    let _ = (secret, storage);
}

/// Test builds only: when `localStorage["postern-test-hooks"] == "1"` (set by the e2e harness),
/// `window.__posternTest.identitySecret` (so the leak scans know the private keys),
/// `window.__posternTest.storeKey` (b64url, so scans can look for it on disk),
/// `window.__posternTest.readStore(name)` (the opened records of a store; `events`: one pair per
/// stored event, as in DB v5's per-event layout),
/// `window.__posternTest.legacyEvents()` (rewrites the stored chain pages as v5's per-event
/// records; resolves to the number of events; the next load converts them back) and
/// `window.__posternTest.qrSvgPath(text)` (the app's QR drawing of any text, for fake cameras).
#[cfg(feature = "test-hooks")]
mod test_hooks {
    use std::cell::RefCell;
    use std::rc::Rc;

    use wasm_bindgen::JsValue;

    use crate::platform::idb::Storage;

    thread_local! {
        /// The app's unlocked store (a passphrase-locked profile cannot be reopened here).
        static STORE: RefCell<Option<Rc<Storage>>> = const { RefCell::new(None) };
    }

    pub(super) fn expose(w: &web_sys::Window, secret: &str, storage: &Rc<Storage>) {
        let hooks = w
            .local_storage()
            .ok()
            .flatten()
            .and_then(|l| l.get_item("postern-test-hooks").ok().flatten());
        if hooks.as_deref() != Some("1") {
            return;
        }
        let obj = js_sys::Object::new();
        STORE.with(|s| *s.borrow_mut() = Some(storage.clone()));
        let _ = js_sys::Reflect::set(&obj, &"identitySecret".into(), &secret.into());
        let key = storage.store_key_for_tests();
        let _ = js_sys::Reflect::set(&obj, &"storeKey".into(), &key.into());
        let read = wasm_bindgen::closure::Closure::<dyn Fn(String) -> js_sys::Promise>::new(
            |store: String| {
                wasm_bindgen_futures::future_to_promise(async move {
                    read_store(&store).await.map_err(|e| JsValue::from_str(&e))
                })
            },
        );
        let _ = js_sys::Reflect::set(&obj, &"readStore".into(), &read.into_js_value());
        let legacy = wasm_bindgen::closure::Closure::<dyn Fn() -> js_sys::Promise>::new(|| {
            wasm_bindgen_futures::future_to_promise(async move {
                let s = STORE
                    .with(|s| s.borrow().clone())
                    .ok_or_else(|| JsValue::from_str("the store is not unlocked"))?;
                let n = s
                    .to_legacy_events_for_tests()
                    .await
                    .map_err(|e| JsValue::from_str(&e.to_string()))?;
                Ok(JsValue::from_f64(n as f64))
            })
        });
        let _ = js_sys::Reflect::set(&obj, &"legacyEvents".into(), &legacy.into_js_value());
        let qr = wasm_bindgen::closure::Closure::<dyn Fn(String) -> JsValue>::new(|t: String| {
            let o = js_sys::Object::new();
            if let Some(m) = crate::model::qr::encode(&t) {
                let _ = js_sys::Reflect::set(&o, &"n".into(), &(m.extent() as u32).into());
                let _ = js_sys::Reflect::set(&o, &"d".into(), &m.svg_path().into());
            }
            o.into()
        });
        let _ = js_sys::Reflect::set(&obj, &"qrSvgPath".into(), &qr.into_js_value());
        let _ = js_sys::Reflect::set(w, &"__posternTest".into(), &obj);
    }

    /// `window.__posternTest.readStore(name)`: the OPENED records of one store as an array of
    /// `[key, json]` pairs, in key order (IndexedDB holds them only sealed), read through the
    /// app's own unlocked store.
    async fn read_store(store: &str) -> Result<JsValue, String> {
        let s = STORE
            .with(|s| s.borrow().clone())
            .ok_or("the store is not unlocked")?;
        let rows = s.opened_records(store).await;
        let out = js_sys::Array::new();
        for (k, v) in rows.map_err(|e| e.to_string())? {
            let pair = js_sys::Array::new();
            pair.push(&JsValue::from_str(&k));
            pair.push(&JsValue::from_str(&v));
            out.push(&pair);
        }
        Ok(out.into())
    }
}
