//! Length-prefixed canonical byte encoding shared by the DM and gate signed/AAD layouts.
use thiserror::Error;

/// Why a field could not be encoded or decoded. Callers bound every field well below the
/// limits, so these only surface on hostile or corrupt input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub(crate) enum WireError {
    #[error("field too long")]
    FieldTooLong,
    #[error("count too large")]
    CountTooLarge,
    #[error("length overflow")]
    LengthOverflow,
    #[error("truncated")]
    Truncated,
}

impl WireError {
    /// The static description, for error types that carry a `&'static str`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WireError::FieldTooLong => "field too long",
            WireError::CountTooLarge => "count too large",
            WireError::LengthOverflow => "length overflow",
            WireError::Truncated => "truncated",
        }
    }
}

/// Append `u16(len) ‖ field`. Every field passed here is bounded well below 64 KiB (ids,
/// format names, 48-byte slot ciphertexts); a longer one is refused rather than truncated.
pub(crate) fn put_lp(buf: &mut Vec<u8>, field: &[u8]) -> Result<(), WireError> {
    let len = u16::try_from(field.len()).map_err(|_| WireError::FieldTooLong)?;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(field);
    Ok(())
}

/// Append a big-endian `u64`.
pub(crate) fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Append a `u16` count (callers bound counts by their own maximum).
pub(crate) fn put_count(buf: &mut Vec<u8>, n: usize) -> Result<(), WireError> {
    let n = u16::try_from(n).map_err(|_| WireError::CountTooLarge)?;
    buf.extend_from_slice(&n.to_be_bytes());
    Ok(())
}

/// Take exactly `N` bytes at `*at`, advancing it.
pub(crate) fn take<'a, const N: usize>(
    buf: &'a [u8],
    at: &mut usize,
) -> Result<&'a [u8; N], WireError> {
    let end = at.checked_add(N).ok_or(WireError::LengthOverflow)?;
    let slice = buf.get(*at..end).ok_or(WireError::Truncated)?;
    *at = end;
    slice.try_into().map_err(|_| WireError::Truncated)
}

/// Decode exactly 32 bytes of lower-case hex.
pub(crate) fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_and_limits() {
        let mut buf = Vec::new();
        put_lp(&mut buf, b"ab").unwrap();
        assert_eq!(buf, [0, 2, b'a', b'b']);
        assert_eq!(
            put_lp(&mut buf, &vec![0u8; 65_536]),
            Err(WireError::FieldTooLong)
        );
        assert_eq!(put_count(&mut buf, 65_536), Err(WireError::CountTooLarge));
        let mut at = 0;
        assert_eq!(take::<2>(&buf, &mut at).unwrap(), &[0, 2]);
        assert_eq!(take::<3>(&buf, &mut at), Err(WireError::Truncated));
    }
}
