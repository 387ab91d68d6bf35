//! One spawn path for every async task of the page. Each future is boxed (`Task`) before it
//! reaches `spawn_local` or a component's scope, so the task machinery (js-sys' `Task::spawn`
//! and its JSPI twin, Yew's `send_future` wrapper) is instantiated once (once per component for
//! the message wrapper) instead of once per future type: bundle size, issue 16. Same behaviour as
//! `wasm_bindgen_futures::spawn_local`, `Scope::send_future` and `Scope::send_future_batch`:
//! the message(s) go to the component when the future ends; a dropped component drops them.
use std::future::Future;
use std::pin::Pin;

use yew::html::Scope;
use yew::Component;

/// A boxed future of the page's task queue.
pub type Task<T> = Pin<Box<dyn Future<Output = T>>>;

/// Run `fut` to completion in the page's task queue (`spawn_local`).
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    spawn_task(Box::pin(fut));
}

/// The only `spawn_local` instantiation of the page.
#[inline(never)]
fn spawn_task(task: Task<()>) {
    wasm_bindgen_futures::spawn_local(task);
}

/// Send the message `fut` yields to `link`'s component (`Scope::send_future`).
pub fn send<C: Component>(link: &Scope<C>, fut: impl Future<Output = C::Message> + 'static) {
    send_task(link, Box::pin(fut));
}

#[inline(never)]
fn send_task<C: Component>(link: &Scope<C>, task: Task<C::Message>) {
    let link = link.clone();
    spawn_task(Box::pin(async move { link.send_message(task.await) }));
}

/// Send every message `fut` yields to `link`'s component, in order, as one batch
/// (`Scope::send_future_batch`).
pub fn send_batch<C: Component>(
    link: &Scope<C>,
    fut: impl Future<Output = Vec<C::Message>> + 'static,
) {
    send_batch_task(link, Box::pin(fut));
}

#[inline(never)]
fn send_batch_task<C: Component>(link: &Scope<C>, task: Task<Vec<C::Message>>) {
    let link = link.clone();
    spawn_task(Box::pin(async move { link.send_message_batch(task.await) }));
}
