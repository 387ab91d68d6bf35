//! Settings: keys at rest and the passphrase lock (`crate::lock::panel`), persistent storage
//! (`navigator.storage.persist()`), encrypted backup export and import (core's `backup`, run in
//! the lazily loaded worker module: `platform::worker`, so Argon2id never blocks this page and
//! the page's wasm does not link it).
use std::rc::Rc;

use postern_core::b64;
use postern_core::backup::KdfParams;
use postern_core::Identity;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;
use yew::prelude::*;
use zeroize::Zeroizing;

use crate::model::offload::{self, Op};
use crate::platform::idb::backup::BackupRecords;
use crate::platform::idb::Storage;
use crate::session::Session;

/// Shortest passphrase accepted for a new backup (the lock's rule).
pub use crate::model::lock::MIN_PASSPHRASE;
const IMPORT_REPORT: &str = "postern-import-report";

#[derive(Clone, Copy, PartialEq)]
enum St {
    Pending,
    Ok,
    Error,
}

impl St {
    fn as_str(self) -> &'static str {
        match self {
            St::Pending => "pending",
            St::Ok => "ok",
            St::Error => "error",
        }
    }
}

pub enum Msg {
    Persist(&'static str),
    Pass(String),
    Pass2(String),
    Export,
    Exported(Result<(String, f64), String>),
    ImportPass(String),
    Import,
    Imported(Result<String, String>),
}

pub struct Settings {
    session: Session,
    persist: &'static str,
    pass: Zeroizing<String>,
    pass2: Zeroizing<String>,
    import_pass: Zeroizing<String>,
    export_status: Option<(St, String)>,
    import_status: Option<(St, String)>,
    file_ref: NodeRef,
}

fn session() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Ask for persistent storage (and report whether it is granted).
async fn request_persist() -> &'static str {
    let Some(sm) = web_sys::window().map(|w| w.navigator().storage()) else {
        return "unsupported";
    };
    if JsValue::from(sm.clone()).is_undefined() {
        return "unsupported";
    }
    let already = match sm.persisted() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_bool()),
        Err(_) => None,
    };
    if already == Some(true) {
        return "granted";
    }
    match sm.persist() {
        Ok(p) => match JsFuture::from(p).await.ok().and_then(|v| v.as_bool()) {
            Some(true) => "granted",
            Some(false) => "denied",
            None => "unsupported",
        },
        Err(_) => "unsupported",
    }
}

fn download(name: &str, text: &str) -> Result<(), String> {
    let err = |e: JsValue| format!("{e:?}");
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts).map_err(err)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = doc
        .create_element("a")
        .map_err(err)?
        .dyn_into()
        .map_err(|_| "no anchor")?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

async fn export(
    storage: Rc<Storage>,
    node: String,
    pass: Zeroizing<String>,
) -> Result<(String, f64), String> {
    let records = storage.export_records().await.map_err(|e| e.to_string())?;
    let payload = Zeroizing::new(serde_json::to_vec(&records).map_err(|e| e.to_string())?);
    drop(records);
    let t0 = perf_now();
    let op = Op::BackupSeal {
        passphrase: pass.to_string(),
        payload: b64::encode_url(&payload),
        params: KdfParams::DEFAULT,
    };
    let file = crate::platform::worker::run(&op).await?.into_result()?;
    let ms = perf_now() - t0;
    let day = js_sys::Date::new_0()
        .to_iso_string()
        .as_string()
        .unwrap_or_default();
    let short: String = node.chars().skip(4).take(8).collect();
    download(
        &format!(
            "postern-backup-{short}-{}.json",
            day.get(..10).unwrap_or("")
        ),
        &file,
    )?;
    Ok((file, ms))
}

async fn import(
    storage: Rc<Storage>,
    me: Rc<Identity>,
    file: web_sys::File,
    pass: Zeroizing<String>,
) -> Result<String, String> {
    let text = JsFuture::from(file.text())
        .await
        .map_err(|_| "the file could not be read".to_string())?
        .as_string()
        .ok_or("the file is not text")?;
    let t0 = perf_now();
    let op = Op::BackupOpen {
        passphrase: pass.to_string(),
        file: text,
    };
    let answer = crate::platform::worker::run(&op).await?;
    // The worker's own time: key derivation and decryption (not its start-up).
    let kdf_ms = answer.busy_ms;
    let payload = offload::decode(&answer.into_result()?)?;
    let records: BackupRecords = std::str::from_utf8(&payload)
        .ok()
        .and_then(|p| serde_json::from_str(p).ok())
        .ok_or("the backup's contents are not readable by this version")?;
    let secret = records
        .identity_secret()
        .ok_or("the backup holds no identity")?;
    let restored = Identity::import_secret(secret)
        .map_err(|e| format!("the identity in the backup is invalid ({e})"))?;
    let my_node = me.node_id().to_string();
    let n = storage
        .import_records(&records, Some(&my_node))
        .await
        .map_err(|e| e.to_string())?;
    let total_ms = perf_now() - t0;
    Ok(format!(
        "Restored identity {} and {n} records ({} contacts, {} messages, {} gates) in {:.0} ms \
         (key derivation {:.0} ms).",
        crate::model::contacts::fingerprint(&restored.public()),
        records.count("contacts"),
        records.count("messages"),
        records.count("gates"),
        total_ms,
        kdf_ms
    ))
}

impl Component for Settings {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        crate::task::send(ctx.link(), async { Msg::Persist(request_persist().await) });
        // The report of an import that reloaded the page.
        let import_status = session().and_then(|s| {
            let r = s.get_item(IMPORT_REPORT).ok().flatten();
            let _ = s.remove_item(IMPORT_REPORT);
            r.map(|r| (St::Ok, r))
        });
        let (session, _) = ctx
            .link()
            .context::<Session>(Callback::noop())
            .expect("Settings is rendered inside the session context");
        Settings {
            session,
            persist: "checking",
            pass: Zeroizing::default(),
            pass2: Zeroizing::default(),
            import_pass: Zeroizing::default(),
            export_status: None,
            import_status,
            file_ref: NodeRef::default(),
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Self::Message) -> bool {
        match msg {
            Msg::Persist(p) => self.persist = p,
            Msg::Pass(p) => self.pass = Zeroizing::new(p),
            Msg::Pass2(p) => self.pass2 = Zeroizing::new(p),
            Msg::ImportPass(p) => self.import_pass = Zeroizing::new(p),
            Msg::Export => {
                if self.pass.chars().count() < MIN_PASSPHRASE {
                    self.export_status = Some((
                        St::Error,
                        format!("Use a passphrase of at least {MIN_PASSPHRASE} characters."),
                    ));
                } else if *self.pass != *self.pass2 {
                    self.export_status =
                        Some((St::Error, "The two passphrases differ.".to_string()));
                } else {
                    self.export_status = Some((St::Pending, "Encrypting the backup…".to_string()));
                    let (s, node) = (
                        self.session.storage.clone(),
                        self.session.identity.node_id().to_string(),
                    );
                    let pass = self.pass.clone();
                    crate::task::send(ctx.link(), async move {
                        Msg::Exported(export(s, node, pass).await)
                    });
                }
            }
            Msg::Exported(r) => {
                self.export_status = Some(match r {
                    Ok((file, ms)) => {
                        self.pass = Zeroizing::default();
                        self.pass2 = Zeroizing::default();
                        (
                            St::Ok,
                            format!(
                                "Backup saved ({} KB, key derivation {ms:.0} ms). Keep the file \
                                 and the passphrase: both are needed to restore.",
                                file.len().div_ceil(1024)
                            ),
                        )
                    }
                    Err(e) => (St::Error, format!("Backup failed: {e}")),
                });
            }
            Msg::Import => {
                let file = self
                    .file_ref
                    .cast::<HtmlInputElement>()
                    .and_then(|i| i.files())
                    .and_then(|f| f.get(0));
                match file {
                    None => {
                        self.import_status =
                            Some((St::Error, "Choose a backup file first.".to_string()))
                    }
                    Some(_) if self.import_pass.is_empty() => {
                        self.import_status =
                            Some((St::Error, "Enter the backup's passphrase.".to_string()))
                    }
                    Some(file) => {
                        self.import_status =
                            Some((St::Pending, "Decrypting the backup…".to_string()));
                        let (s, me) = (self.session.storage.clone(), self.session.identity.clone());
                        let pass = self.import_pass.clone();
                        crate::task::send(ctx.link(), async move {
                            Msg::Imported(import(s, me, file, pass).await)
                        });
                    }
                }
            }
            Msg::Imported(Ok(report)) => {
                self.import_pass = Zeroizing::default();
                // Reload so every view (identity, contacts, gates) reads the restored data.
                if let Some(s) = session() {
                    let _ = s.set_item(IMPORT_REPORT, &report);
                }
                self.import_status = Some((St::Ok, format!("{report} Reloading…")));
                if let Some(w) = web_sys::window() {
                    let _ = w.location().reload();
                }
            }
            Msg::Imported(Err(e)) => {
                self.import_status = Some((St::Error, format!("Import failed: {e}")));
            }
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let persist_text = match self.persist {
            "granted" => "granted: the browser will not evict Postern's data under storage pressure",
            "denied" => "not granted: the browser may evict Postern's data under storage pressure; keep a backup",
            "unsupported" => "not supported by this browser; keep a backup",
            _ => "checking…",
        };
        let status = |s: &Option<(St, String)>, id: &'static str| match s {
            Some((k, t)) => {
                html! { <p id={id} class="muted small" data-state={k.as_str()} role="status">{ t.clone() }</p> }
            }
            None => html! { <p id={id} class="muted small" role="status"></p> },
        };
        let busy_export = matches!(self.export_status, Some((St::Pending, _)));
        let busy_import = matches!(self.import_status, Some((St::Pending, _)));
        html! {
            <section class="card settings" aria-labelledby="settings-h">
                <h2 id="settings-h">{ "Keys and backup" }</h2>
                <crate::lock::panel::LockPanel />
                <p class="small">{ "Persistent storage: " }
                    <span id="persist-status" data-state={self.persist}>{ persist_text }</span>
                </p>
                <details>
                    <summary>{ "Export an encrypted backup" }</summary>
                    <label for="backup-pass">{ "Passphrase" }</label>
                    <input id="backup-pass" type="password" autocomplete="new-password" value={self.pass.to_string()}
                        oninput={link.callback(|e: InputEvent| Msg::Pass(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    <label for="backup-pass2">{ "Repeat passphrase" }</label>
                    <input id="backup-pass2" type="password" autocomplete="new-password" value={self.pass2.to_string()}
                        oninput={link.callback(|e: InputEvent| Msg::Pass2(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    <button id="export-backup" type="button" class="btn" disabled={busy_export}
                        onclick={link.callback(|_| Msg::Export)}>{ "Download backup" }</button>
                </details>
                { status(&self.export_status, "backup-status") }
                <details>
                    <summary>{ "Import a backup" }</summary>
                    <p class="hint small">{ "Restores the identity, contacts, gates and message history of the backup into this browser. An identity already here is kept aside, not deleted." }</p>
                    <input id="import-file" type="file" accept=".json,application/json" ref={self.file_ref.clone()} />
                    <label for="import-pass">{ "Passphrase" }</label>
                    <input id="import-pass" type="password" autocomplete="current-password" value={self.import_pass.to_string()}
                        oninput={link.callback(|e: InputEvent| Msg::ImportPass(e.target_unchecked_into::<HtmlInputElement>().value()))} />
                    <button id="import-backup" type="button" class="btn" disabled={busy_import}
                        onclick={link.callback(|_| Msg::Import)}>{ "Import backup" }</button>
                </details>
                { status(&self.import_status, "import-status") }
            </section>
        }
    }
}
