//! The relay client's error type: unreachable, refused with an API error body, or an answer
//! the app could not understand.

/// A failed relay request, as the app words and classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayError {
    /// The request never got an answer from the relay (network down, relay stopped, gateway
    /// error in front of it).
    Unreachable(String),
    /// The relay answered with an error body.
    Api {
        status: u16,
        code: String,
        detail: String,
    },
    /// The relay answered with something we could not understand.
    BadResponse(String),
}

impl RelayError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RelayError::Unreachable(_))
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            RelayError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // In plain words with what happens next; the technical cause is for the console.
            RelayError::Unreachable(_) => write!(
                f,
                "Can't reach the relay (check your connection). Nothing is lost: it is retried when the relay is back."
            ),
            RelayError::Api {
                status,
                code,
                detail,
            } => write!(f, "relay refused ({status} {code}): {detail}"),
            RelayError::BadResponse(e) => write!(f, "unexpected relay response: {e}"),
        }
    }
}
