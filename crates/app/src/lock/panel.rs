//! Settings → keys at rest and "Lock with a passphrase": set, change or remove the lock of the
//! store key (`Storage::lock_with` / `change_lock` / `remove_lock`; rules in `model::lock`).
use yew::prelude::*;
use zeroize::Zeroizing;

use crate::model::lock::{op_pending, op_result, validate, LockOp, OpError, MIN_PASSPHRASE};
use crate::platform::keystore::AtRest;
use crate::session::Session;

pub enum Msg {
    Current(String),
    New(String),
    New2(String),
    Run(LockOp),
    Done(LockOp, Result<(), OpError>),
}

pub struct LockPanel {
    session: Session,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
    new2: Zeroizing<String>,
    /// `(data-state, words)` of the status line.
    status: Option<(&'static str, String)>,
}

fn field(
    id: &'static str,
    label: &'static str,
    auto: &'static str,
    value: &str,
    cb: Callback<String>,
) -> Html {
    let oninput = cb.reform(|e: InputEvent| {
        e.target_unchecked_into::<web_sys::HtmlInputElement>()
            .value()
    });
    html! {
        <>
            <label for={id}>{ label }</label>
            <input id={id} type="password" autocomplete={auto} value={value.to_string()} {oninput} />
        </>
    }
}

fn at_rest_note(at_rest: AtRest) -> Html {
    match at_rest {
        AtRest::Protected => html! {
            <p id="at-rest" class="hint" data-state="protected">
                { "Your keys and messages are stored encrypted, under a key this browser keeps and never lets a page read out. That stops someone who copies the files; it does not stop someone who can open this browser profile (your computer account): keep the device locked, keep an encrypted backup, or lock Postern with a passphrase below." }
            </p>
        },
        AtRest::Passphrase => html! {
            <p id="at-rest" class="hint" data-state="passphrase">
                { "Your keys and messages are stored encrypted under a key that only your passphrase opens: the browser profile's files alone are not enough to read them, and Postern asks for the passphrase each time it starts. While it is open, anyone using this browser can read them. The passphrase cannot be recovered: keep an encrypted backup." }
            </p>
        },
        AtRest::Unprotected => html! {
            <p id="at-rest" class="banner banner-warn" data-state="unprotected" role="alert">
                { "This browser would not store a protected key, so local data is not protected at rest: anyone with access to this browser profile's files can read it. Lock it with a passphrase below, and keep an encrypted backup." }
            </p>
        },
    }
}

impl Component for LockPanel {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        let (session, _) = ctx
            .link()
            .context::<Session>(Callback::noop())
            .expect("LockPanel is rendered inside the session context");
        LockPanel {
            session,
            current: Zeroizing::default(),
            new: Zeroizing::default(),
            new2: Zeroizing::default(),
            status: None,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            Msg::Current(v) => self.current = Zeroizing::new(v),
            Msg::New(v) => self.new = Zeroizing::new(v),
            Msg::New2(v) => self.new2 = Zeroizing::new(v),
            Msg::Run(op) => {
                if matches!(self.status, Some(("pending", _))) {
                    return false;
                }
                if let Err(e) = validate(op, &self.current, &self.new, &self.new2) {
                    self.status = Some(("error", e.words()));
                    return true;
                }
                self.status = Some(("pending", op_pending(op).to_string()));
                let s = self.session.storage.clone();
                let (cur, new) = (self.current.clone(), self.new.clone());
                crate::task::send(ctx.link(), async move {
                    let r = match op {
                        LockOp::Set => s.lock_with(&new).await,
                        LockOp::Change => s.change_lock(&cur, &new).await,
                        LockOp::Remove => s.remove_lock(&cur).await,
                    };
                    Msg::Done(op, r)
                });
            }
            Msg::Done(op, r) => {
                if r.is_ok() {
                    self.current = Zeroizing::default();
                    self.new = Zeroizing::default();
                    self.new2 = Zeroizing::default();
                }
                let state = if r.is_ok() { "ok" } else { "error" };
                self.status = Some((state, op_result(op, &r)));
            }
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let at_rest = self.session.storage.at_rest();
        let locked = at_rest == AtRest::Passphrase;
        let busy = matches!(self.status, Some(("pending", _)));
        let status = match &self.status {
            Some((k, t)) => {
                html! { <p id="lock-status" class="muted small" data-state={*k} role="status">{ t.clone() }</p> }
            }
            None => html! { <p id="lock-status" class="muted small" role="status"></p> },
        };
        html! {
            <>
                { at_rest_note(at_rest) }
                <details id="lock-section" data-state={if locked { "on" } else { "off" }}>
                    <summary>{ if locked { "Passphrase lock: on (change or remove)" } else { "Lock with a passphrase" } }</summary>
                    <p class="hint small">{ format!(
                        "At least {MIN_PASSPHRASE} characters. Postern will ask for it every time it starts in this browser, in every tab. It cannot be recovered: if you forget it, only an encrypted backup brings your identity back."
                    ) }</p>
                    if locked {
                        <p class="hint small">{ "To change it, fill in all three fields; to remove the lock, only the current passphrase." }</p>
                    }
                    if locked {
                        { field("lock-current", "Current passphrase", "current-password", &self.current, link.callback(Msg::Current)) }
                    }
                    { field("lock-new", if locked { "New passphrase" } else { "Passphrase" }, "new-password", &self.new, link.callback(Msg::New)) }
                    { field("lock-new2", if locked { "Repeat the new passphrase" } else { "Repeat passphrase" }, "new-password", &self.new2, link.callback(Msg::New2)) }
                    if locked {
                        <button id="lock-change" type="button" class="btn" disabled={busy}
                            onclick={link.callback(|_| Msg::Run(LockOp::Change))}>{ "Change passphrase" }</button>
                        <button id="lock-remove" type="button" class="btn" disabled={busy}
                            onclick={link.callback(|_| Msg::Run(LockOp::Remove))}>{ "Remove the lock" }</button>
                    } else {
                        <button id="lock-set" type="button" class="btn" disabled={busy}
                            onclick={link.callback(|_| Msg::Run(LockOp::Set))}>{ "Lock with this passphrase" }</button>
                    }
                </details>
                { status }
            </>
        }
    }
}
