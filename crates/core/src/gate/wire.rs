//! Canonical byte-encoding helpers shared by the gate submodules.
use super::GateError;

/// Append `u16(len) ‖ field`. Every field passed here is bounded well below 64 KiB (ids,
/// format names, 48-byte slot ciphertexts); a longer one is refused rather than truncated.
pub(crate) fn put_lp(buf: &mut Vec<u8>, field: &[u8]) -> Result<(), GateError> {
    let len = u16::try_from(field.len()).map_err(|_| GateError::Malformed("field too long"))?;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(field);
    Ok(())
}

pub(crate) fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Append a `u16` count (callers bound counts by `MAX_MEMBERS`).
pub(crate) fn put_count(buf: &mut Vec<u8>, n: usize) -> Result<(), GateError> {
    let n = u16::try_from(n).map_err(|_| GateError::Malformed("count too large"))?;
    buf.extend_from_slice(&n.to_be_bytes());
    Ok(())
}

/// Take exactly `N` bytes at `*at`, advancing it.
pub(crate) fn take<'a, const N: usize>(
    buf: &'a [u8],
    at: &mut usize,
) -> Result<&'a [u8; N], GateError> {
    let end = at
        .checked_add(N)
        .ok_or(GateError::Malformed("length overflow"))?;
    let slice = buf.get(*at..end).ok_or(GateError::Malformed("truncated"))?;
    *at = end;
    slice
        .try_into()
        .map_err(|_| GateError::Malformed("truncated"))
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
