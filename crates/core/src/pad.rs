//! Size-bucket padding: plaintexts are zero-padded up to the smallest bucket that fits, so the
//! relay learns only the bucket, never the exact length.
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PadError {
    #[error("content of {len} bytes exceeds the largest bucket ({max} bytes)")]
    TooLarge { len: usize, max: usize },
    #[error("padded length {0} is not one of the allowed buckets")]
    NotABucket(usize),
    #[error("padding bytes are not all zero")]
    NonZeroPadding,
}

/// Smallest bucket that holds `len` bytes.
pub fn bucket_for(buckets: &[usize], len: usize) -> Result<usize, PadError> {
    buckets
        .iter()
        .copied()
        .find(|&b| b >= len)
        .ok_or(PadError::TooLarge {
            len,
            max: buckets.last().copied().unwrap_or(0),
        })
}

/// Append zero bytes until `buf.len()` is a bucket size.
pub fn pad_to_bucket(buf: &mut Vec<u8>, buckets: &[usize]) -> Result<(), PadError> {
    let target = bucket_for(buckets, buf.len())?;
    buf.resize(target, 0);
    Ok(())
}

/// Check a padded buffer: its length must be a bucket, and everything after `content_len` zero.
pub fn check_padding(buf: &[u8], content_len: usize, buckets: &[usize]) -> Result<(), PadError> {
    if !buckets.contains(&buf.len()) {
        return Err(PadError::NotABucket(buf.len()));
    }
    match buf.get(content_len..) {
        Some(rest) if rest.iter().all(|&b| b == 0) => Ok(()),
        Some(_) => Err(PadError::NonZeroPadding),
        None => Err(PadError::TooLarge {
            len: content_len,
            max: buf.len(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    const B: &[usize] = &[16, 32, 64];

    #[test]
    fn pads_to_smallest_bucket() {
        let mut v = vec![1u8; 17];
        pad_to_bucket(&mut v, B).unwrap();
        assert_eq!(v.len(), 32);
        check_padding(&v, 17, B).unwrap();
        v[31] = 1;
        assert_eq!(check_padding(&v, 17, B), Err(PadError::NonZeroPadding));
        assert!(matches!(
            pad_to_bucket(&mut vec![0; 65], B),
            Err(PadError::TooLarge { .. })
        ));
        assert_eq!(check_padding(&[0; 20], 3, B), Err(PadError::NotABucket(20)));
        assert!(check_padding(&[0; 16], 17, B).is_err());
    }
}
