//! The browser clock and local time formatting (JavaScript `Date`).

/// Current time in milliseconds (browser clock).
pub fn now_millis() -> u64 {
    js_sys::Date::now() as u64
}

/// Let the page run: resolves in a later task (a zero timeout), so long work split by it never
/// makes one long main-thread task.
pub async fn next_task() {
    let later = js_sys::Promise::new(&mut |resolve, _| {
        let set = web_sys::window().map(|w| w.set_timeout_with_callback(&resolve));
        if !matches!(set, Some(Ok(_))) {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(later).await;
}

/// Current time in whole seconds (browser clock).
pub fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Local time for a timestamp in seconds.
pub fn format_time(secs: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0));
    String::from(d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// ISO-8601 time for `<time datetime>`.
pub fn iso_time(secs: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0));
    String::from(d.to_iso_string())
}

fn date(secs: u64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0))
}

/// Local hour and minute for a message bubble (the full time is in its `<time datetime>`).
pub fn format_clock(secs: u64) -> String {
    let opts = js_sys::Object::new();
    for (k, v) in [("hour", "2-digit"), ("minute", "2-digit")] {
        let _ = js_sys::Reflect::set(&opts, &k.into(), &v.into());
    }
    String::from(date(secs).to_locale_time_string_with_options("default", &opts))
}

/// "Today", "Yesterday" or the local date: the day separators of a conversation.
pub fn day_label(secs: u64) -> String {
    let day = |d: &js_sys::Date| {
        String::from(d.to_locale_date_string("default", &wasm_bindgen::JsValue::UNDEFINED))
    };
    let now = now_secs();
    let label = day(&date(secs));
    if label == day(&date(now)) {
        "Today".into()
    } else if label == day(&date(now.saturating_sub(86_400))) {
        "Yesterday".into()
    } else {
        label
    }
}
