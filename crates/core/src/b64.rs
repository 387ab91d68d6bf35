//! Base64 helpers with typed errors. Postern writes standard base64 with padding on the wire
//! (as Infonet/2 does) and URL-safe unpadded base64 in human-facing strings.
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64")]
pub struct Base64Error;

pub fn encode_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn decode_std(s: &str) -> Result<Vec<u8>, Base64Error> {
    STANDARD.decode(s).map_err(|_| Base64Error)
}

pub fn encode_url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode_url(s: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| Base64Error)
}

/// Decode standard base64 into exactly `N` bytes.
pub fn decode_std_array<const N: usize>(s: &str) -> Result<[u8; N], Base64Error> {
    decode_std(s)?.try_into().map_err(|_| Base64Error)
}

/// Decode URL-safe unpadded base64 into exactly `N` bytes.
pub fn decode_url_array<const N: usize>(s: &str) -> Result<[u8; N], Base64Error> {
    decode_url(s)?.try_into().map_err(|_| Base64Error)
}
