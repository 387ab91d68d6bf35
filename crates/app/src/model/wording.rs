//! What the DM screens say: seal and send errors, the queued notice. Never "sent" in an error
//! (`#send-status` containing "sent" means success).
use postern_core::api::codes;
use postern_core::caps::{CapError, DEFAULT_MAILBOX_CAP, DEFAULT_PER_SENDER_CAP};
use postern_core::dm::{DmError, MAX_BODY_LEN};

use super::relay_error::RelayError;

/// Wording for a body that fails before sealing.
pub fn explain_seal_error(e: &DmError) -> String {
    match e {
        DmError::BodyTooLarge(n) => format!(
            "Message too long: {n} bytes, the limit is {MAX_BODY_LEN} bytes. Shorten it and send again."
        ),
        other => format!("Could not seal the message: {other}."),
    }
}

/// Wording for a refused or failed deposit. `recipient` is the contact's name.
/// Never contains the word "sent": `#send-status` containing it means success.
pub fn explain_send_error(e: &RelayError, recipient: &str) -> String {
    match e {
        RelayError::Unreachable(_) => {
            "Can't reach the relay: your message was not delivered. Check your connection and try again.".to_string()
        }
        RelayError::Api { code, detail, .. } => match code.as_str() {
            codes::RECIPIENT_UNKNOWN => format!(
                "{recipient} has not opened Postern on this relay yet, so the relay cannot accept \
                 messages for them. Ask them to open Postern, then send again."
            ),
            codes::SENDER_CAP_REACHED => {
                cap_text(detail, CapError::SenderCapReached { cap: DEFAULT_PER_SENDER_CAP })
            }
            codes::MAILBOX_FULL => cap_text(detail, CapError::MailboxFull { cap: DEFAULT_MAILBOX_CAP }),
            codes::PAYLOAD_TOO_LARGE => {
                format!("Message too large for the relay (limit {MAX_BODY_LEN} bytes of text).")
            }
            codes::RATE_LIMITED => "The relay is rate limiting; wait a moment and send again.".to_string(),
            _ => format!("The relay refused the message ({code}): {detail}"),
        },
        RelayError::BadResponse(d) => format!("Unexpected answer from the relay: {d}"),
    }
}

/// `#send-status` wording when a message was queued because the relay is unreachable.
/// Never contains the word "sent".
pub fn explain_queued() -> String {
    "Can't reach the relay. Your message is sealed and queued in this browser; it goes out \
     automatically when the relay is back."
        .to_string()
}

/// Prefer the relay's own explanation (it knows its configured caps); fall back to core's
/// wording with the default caps.
fn cap_text(detail: &str, fallback: CapError) -> String {
    let base = if detail.trim().is_empty() {
        fallback.to_string()
    } else {
        detail.trim().to_string()
    };
    let mut s = base;
    if let Some(first) = s.get(..1) {
        let upper = first.to_uppercase();
        s.replace_range(..1, &upper);
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    format!("Not delivered: {s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Moved from tests/browser.rs (same assertions).
    #[test]
    fn send_errors_are_explained_and_never_say_sent() {
        let api = |code: &str, detail: &str| RelayError::Api {
            status: 404,
            code: code.into(),
            detail: detail.into(),
        };
        let cases = [
            (
                RelayError::Unreachable("TypeError".into()),
                "reach the relay",
            ),
            (api(codes::RECIPIENT_UNKNOWN, ""), "has not opened Postern"),
            (api(codes::SENDER_CAP_REACHED, ""), "2 unread messages"),
            (
                api(
                    codes::SENDER_CAP_REACHED,
                    "you already have 5 unread messages waiting",
                ),
                "5 unread",
            ),
            (api(codes::MAILBOX_FULL, ""), "mailbox is full"),
            (api("weird", "boom"), "boom"),
        ];
        for (e, want) in cases {
            let text = explain_send_error(&e, "Bob");
            assert!(text.contains(want), "{text:?} should contain {want:?}");
            // The UI (and the e2e test) read "sent" in #send-status as success.
            assert!(!text.to_lowercase().contains("sent"), "{text:?}");
        }
    }
}
