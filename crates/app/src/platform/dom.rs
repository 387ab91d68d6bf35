//! Small DOM helpers: find an element by id, focus, the clipboard, the select-and-copy
//! fallback where the clipboard API is missing, and the page's "sync the chain now" signal.
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

pub fn by_id<T: JsCast>(id: &str) -> Option<T> {
    web_sys::window()?
        .document()?
        .get_element_by_id(id)?
        .dyn_into::<T>()
        .ok()
}

/// The window event a panel fires to ask the chain sync for a round now (the sync view
/// listens; it runs one unless a round is in flight).
pub const SYNC_NOW_EVENT: &str = "postern-sync-now";

/// Ask the chain sync view (if mounted in this tab) to sync now.
pub fn request_chain_sync() {
    if let (Some(w), Ok(e)) = (web_sys::window(), web_sys::Event::new(SYNC_NOW_EVENT)) {
        let _ = w.dispatch_event(&e);
    }
}

/// A listener for a window event, removed when dropped (a component keeps it as a field).
pub struct WindowListener {
    event: &'static str,
    cb: Closure<dyn Fn()>,
}

impl WindowListener {
    pub fn new(event: &'static str, f: impl Fn() + 'static) -> Option<Self> {
        let cb = Closure::<dyn Fn()>::new(f);
        web_sys::window()?
            .add_event_listener_with_callback(event, cb.as_ref().unchecked_ref())
            .ok()?;
        Some(WindowListener { event, cb })
    }
}

impl Drop for WindowListener {
    fn drop(&mut self) {
        if let Some(w) = web_sys::window() {
            let _ =
                w.remove_event_listener_with_callback(self.event, self.cb.as_ref().unchecked_ref());
        }
    }
}

/// Focus the element with this id, if any.
pub fn focus(id: &str) {
    if let Some(el) = by_id::<web_sys::HtmlElement>(id) {
        let _ = el.focus();
    }
}

/// Select the text of the element `id` so the user can copy it by hand, and try the legacy
/// copy command; true when that command reported success.
pub fn select_and_copy(id: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Some(doc) = window.document() else {
        return false;
    };
    let Some(el) = doc.get_element_by_id(id) else {
        return false;
    };
    if let (Ok(Some(sel)), Ok(range)) = (window.get_selection(), doc.create_range()) {
        let _ = sel.remove_all_ranges();
        if range.select_node_contents(&el).is_ok() {
            let _ = sel.add_range(&range);
        }
    }
    js_sys::Reflect::get(&doc, &JsValue::from_str("execCommand"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call1(&doc, &JsValue::from_str("copy")).ok())
        .is_some_and(|v| v.is_truthy())
}

/// Write `text` to the clipboard (async clipboard API); false where it is missing or refused.
pub async fn copy_to_clipboard(text: String) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let nav = window.navigator();
    let has_clipboard = js_sys::Reflect::get(&nav, &JsValue::from_str("clipboard"))
        .map(|v| !v.is_undefined() && !v.is_null())
        .unwrap_or(false);
    if !has_clipboard {
        return false;
    }
    wasm_bindgen_futures::JsFuture::from(nav.clipboard().write_text(&text))
        .await
        .is_ok()
}
