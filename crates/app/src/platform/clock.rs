//! The browser clock and local time formatting (JavaScript `Date`).

/// Current time in milliseconds (browser clock).
pub fn now_millis() -> u64 {
    js_sys::Date::now() as u64
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
