//! The passphrase lock's views: the unlock screen a locked profile shows at start-up (nothing
//! else is rendered or started before it succeeds) and the Settings section ([`panel`]).
pub mod panel;

use yew::prelude::*;

use crate::model::lock::{Unlock, FORGOT_HINT, LOCKED_NOTE};

/// The unlock screen. `closed`: another tab upgraded the database (reload needed).
pub fn screen(
    state: &Unlock,
    pass: &str,
    closed: bool,
    on_input: Callback<String>,
    on_submit: Callback<()>,
) -> Html {
    let working = matches!(state, Unlock::Working { .. });
    let submit = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        on_submit.emit(());
    });
    let input = on_input.reform(|e: InputEvent| {
        e.target_unchecked_into::<web_sys::HtmlInputElement>()
            .value()
    });
    let msg = state.message();
    let role = if state.state() == "error" {
        "alert"
    } else {
        "status"
    };
    html! {
        <div id="unlock-screen" class="app unlock-screen" data-state={state.state()}>
            <header class="topbar">
                <h1 class="brand-h"><span class="brand">
                    <img src="/icon.svg" alt="" width="28" height="28" />{ "Postern" }
                </span></h1>
            </header>
            <main id="main" class="main">
                <section class="card unlock-card" aria-labelledby="unlock-h">
                    <h2 id="unlock-h">{ "Postern is locked" }</h2>
                    <p class="hint">{ "Your keys and messages in this browser are locked with a passphrase. Enter it to open them." }</p>
                    if closed {
                        <p id="db-closed" class="banner banner-warn" role="alert">
                            { "Postern was updated in another tab — reload this tab to continue." }
                        </p>
                    }
                    <form id="unlock-form" onsubmit={submit}>
                        <label for="unlock-pass">{ "Passphrase" }</label>
                        <input id="unlock-pass" type="password" autocomplete="current-password"
                            aria-invalid={state.invalid().then_some("true")} aria-describedby="unlock-status"
                            value={pass.to_string()} oninput={input} />
                        <button id="unlock-submit" type="submit" class="btn" disabled={working || closed}>{ "Unlock" }</button>
                    </form>
                    <p id="unlock-status" class="small" role={role} data-state={state.state()}>
                        { msg.unwrap_or_default() }
                    </p>
                    <p class="hint small">{ LOCKED_NOTE }</p>
                    <p id="unlock-forgot" class="hint small">{ FORGOT_HINT }</p>
                </section>
            </main>
        </div>
    }
}
