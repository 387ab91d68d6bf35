//! The I/O of direct messaging: each async effect reads or writes IndexedDB and/or calls the
//! relay, then answers with one [`Action`] for the reducer.
use std::rc::Rc;

use postern_core::Identity;
use rand_core::OsRng;

use super::state::{Action, Attempt, Effect, Loaded, PollOutcome};
use crate::model::delivery::RelayError;
use crate::model::messages::{open_envelope, OutboxEntry};
use crate::platform::clock::now_millis;
use crate::platform::idb::lock::Opened;
use crate::platform::idb::{Storage, StorageError, DB_NAME};
use crate::platform::{dom, hooks, relay_client as relay};

/// Envelopes fetched per poll request.
const POLL_LIMIT: u32 = 50;
/// Follow-up polls within one check when the mailbox holds more than one page.
const MAX_POLL_PAGES: usize = 5;

/// Open the database: ready (store key opened without a passphrase) or locked.
pub async fn open() -> Result<Opened, String> {
    Storage::open_or_locked(DB_NAME)
        .await
        .map_err(|e| e.to_string())
}

/// With the store open: unlock or create the identity, read contacts, messages and outbox.
pub async fn load(storage: Storage) -> Result<(Rc<Storage>, Loaded), String> {
    let storage = Rc::new(storage);
    let stored = storage
        .load_identity_secret()
        .await
        .map_err(|e| e.to_string())?;
    let (identity, created) = match stored {
        Some(secret) => {
            hooks::after_unlock(&secret, &storage);
            let id = Identity::import_secret(&secret).map_err(|e| {
                format!(
                    "The identity stored in this browser could not be read ({e}). It was left \
                     untouched; Postern will not replace it."
                )
            })?;
            (id, false)
        }
        None => {
            let fresh = Identity::generate(&mut OsRng);
            let exported = fresh.export_secret();
            // Another tab may have created an identity meanwhile: use whichever is stored.
            let kept = storage
                .save_identity_secret_if_absent(&exported)
                .await
                .map_err(|e| e.to_string())?;
            hooks::after_unlock(&kept, &storage);
            let id = Identity::import_secret(&kept).map_err(|e| e.to_string())?;
            let created = id.node_id() == fresh.node_id();
            (id, created)
        }
    };
    let contacts = storage.contacts().await.map_err(|e| e.to_string())?;
    let messages = storage.messages().await.map_err(|e| e.to_string())?;
    let outbox = storage.outbox().await.map_err(|e| e.to_string())?;
    Ok((
        storage,
        Loaded {
            identity: Rc::new(identity),
            contacts,
            messages,
            outbox,
            created,
        },
    ))
}

/// Run one async effect. `None` for the effects the component runs itself.
pub async fn run(effect: Effect, storage: Rc<Storage>, id: Rc<Identity>) -> Option<Action> {
    Some(match effect {
        Effect::Register => Action::Registered(relay::register(&id).await.map(|_| ())),
        Effect::Poll => Action::Polled(poll_once(storage, id).await),
        Effect::RegisterContacts(contacts) => {
            let refs = crate::model::contacts::contact_sender_refs(&id, &contacts);
            Action::ContactsRegistered(relay::register_contacts(&id, refs).await)
        }
        Effect::Flush(batch) => Action::Flushed(flush(batch).await),
        Effect::CheckDelivery(queries) => {
            let mut out = Vec::new();
            for q in queries {
                match relay::dm_status(&q).await {
                    Ok(resp) => out.extend(
                        resp.statuses
                            .into_iter()
                            .map(|s| (q.recipient_id.clone(), s)),
                    ),
                    Err(e) => return Some(Action::DeliveryChecked(Err(e))),
                }
            }
            Action::DeliveryChecked(Ok(out))
        }
        Effect::Persist(m) => match storage.settle_outgoing(&m).await {
            Ok(()) => Action::Wrote,
            Err(e) => Action::PersistFailed(e.to_string()),
        },
        Effect::SaveContact(c) => Action::ContactSaved(
            storage
                .put_contact(&c)
                .await
                .map(|_| c)
                .map_err(|e| e.to_string()),
        ),
        Effect::UpdateContact(c) => Action::ContactUpdated(
            storage
                .put_contact(&c)
                .await
                .map(|_| c)
                .map_err(|e| e.to_string()),
        ),
        Effect::Queue { name, local, entry } => {
            let warn = storage
                .queue_outgoing(&local, &entry)
                .await
                .err()
                .map(|e| e.to_string());
            Action::Queued {
                name,
                local,
                entry,
                warn,
            }
        }
        Effect::Reload(gen) => {
            let data = async {
                let contacts = storage.contacts().await?;
                let messages = storage.messages().await?;
                let outbox = storage.outbox().await?;
                Ok((contacts, messages, outbox))
            }
            .await
            .map_err(|e: StorageError| e.to_string());
            Action::Reloaded { gen, data }
        }
        Effect::Copy(text) => {
            let ok = dom::copy_to_clipboard(text).await;
            let copied = ok || dom::select_and_copy("identity-string");
            if !ok {
                // The re-render that follows must not clear the selection made by the fallback.
                dom::select_and_copy("identity-string");
            }
            Action::Copied(copied)
        }
        Effect::Start | Effect::Post(_) | Effect::StopTimer | Effect::Resign => return None,
    })
}

/// Send each envelope oldest first; stop at the first unreachable answer.
async fn flush(batch: Vec<OutboxEntry>) -> Vec<Attempt> {
    let mut attempts = Vec::with_capacity(batch.len());
    for e in batch {
        let result = relay::send(e.envelope).await.map(|_| ());
        let unreachable = matches!(&result, Err(err) if err.is_unreachable());
        attempts.push(Attempt {
            msg_id: e.msg_id,
            peer_node_id: e.peer_node_id,
            result,
        });
        if unreachable {
            break;
        }
    }
    attempts
}

/// Fetch, open (verify), persist, then acknowledge. A message is acknowledged only after it is
/// stored locally; envelopes that fail to open are acknowledged (dropped) and counted.
async fn poll_once(storage: Rc<Storage>, id: Rc<Identity>) -> Result<PollOutcome, RelayError> {
    let mut outcome = PollOutcome {
        new_messages: Vec::new(),
        rejected: 0,
        warning: None,
    };
    for _ in 0..MAX_POLL_PAGES {
        let resp = relay::poll(&id, POLL_LIMIT).await?;
        if resp.messages.is_empty() {
            break;
        }
        let base_ms = now_millis();
        let mut to_ack = Vec::new();
        let mut kept_back = 0usize;
        for (i, stored) in resp.messages.iter().enumerate() {
            let env = &stored.envelope;
            match open_envelope(&id, env, base_ms + i as u64) {
                Ok(m) => match storage.has_message(&m.key()).await {
                    Ok(true) => to_ack.push(env.msg_id.clone()),
                    Ok(false) => match storage.put_message(&m).await {
                        Ok(()) => {
                            to_ack.push(env.msg_id.clone());
                            outcome.new_messages.push(m);
                        }
                        Err(e) => {
                            kept_back += 1;
                            outcome.warning = Some(format!(
                                "Could not save a message ({e}); it stays on the relay."
                            ));
                        }
                    },
                    Err(e) => {
                        kept_back += 1;
                        outcome.warning = Some(format!("Could not check saved messages ({e})."));
                    }
                },
                Err(_) => {
                    outcome.rejected += 1;
                    to_ack.push(env.msg_id.clone());
                }
            }
        }
        if !to_ack.is_empty() {
            if let Err(e) = relay::ack(&id, &to_ack).await {
                outcome.warning = Some(format!(
                    "Messages were saved but the relay did not confirm removal: {e}"
                ));
                break;
            }
        }
        let more = resp.total as usize > resp.messages.len();
        if !more || kept_back > 0 || to_ack.is_empty() {
            break;
        }
    }
    Ok(outcome)
}
