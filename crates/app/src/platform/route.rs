//! The URL fragment as the app's router: read the current [`Route`], go to one (a history
//! entry, so back/forward work), and listen for `hashchange`.
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::model::route::Route;

/// The route in the address bar now.
pub fn current() -> Route {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .map(|h| Route::parse(&h))
        .unwrap_or_default()
}

/// Go to `route` (pushes a history entry unless it is already the current one).
pub fn go(route: &Route) {
    if current() == *route {
        return;
    }
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(&route.hash());
    }
}

/// Call `f` with the new route on every `hashchange` (back, forward, links, typed URLs).
/// Keep the returned closure alive as long as the listener should run.
pub fn listen(f: impl Fn(Route) + 'static) -> Option<Closure<dyn Fn()>> {
    let w = web_sys::window()?;
    let cb = Closure::<dyn Fn()>::new(move || f(current()));
    w.add_event_listener_with_callback("hashchange", cb.as_ref().unchecked_ref())
        .ok()?;
    Some(cb)
}
