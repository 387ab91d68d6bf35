//! ChaCha20-Poly1305 (RFC 8439) composed from a ChaCha20 keystream backend and the poly1305 MAC.
//!
//! Used where a faster keystream than the `chacha20` crate's exists (the WebAssembly SIMD build,
//! `crate::chacha_simd`); elsewhere `prims` keeps the `chacha20poly1305` crate. The composition is
//! generic over [`Keystream`] so native tests check it (with [`Portable`]) byte for byte against
//! that crate: same length limit, MAC over `aad ‖ pad ‖ ct ‖ pad ‖ le64(aad) ‖ le64(ct)`,
//! constant-time tag check before decrypting, key material zeroized.
use chacha20poly1305::aead::Error;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::{Block, Key as MacKey, Poly1305};
use zeroize::{Zeroize, Zeroizing};

/// `chacha20poly1305`'s limit: fewer than 2^32 - 1 whole 64-byte blocks, so the 32-bit block
/// counter (starting at 1) never wraps.
const MAX_BLOCKS: u64 = u32::MAX as u64;

/// Whether `len` bytes exceed that limit. Counted in `u64`: on wasm32 `usize` is 32 bits and the
/// limit is unreachable, on 64-bit targets it is not.
fn too_long(len: usize) -> bool {
    len as u64 / 64 >= MAX_BLOCKS
}

/// ChaCha20 state words: constants, key, counter (word 12), nonce.
pub(crate) type State = [u32; 16];

/// A ChaCha20 keystream: XORs the blocks `state[12]`, `state[12] + 1`, … into `data` (the last
/// block may be partial) and advances `state[12]` past them.
pub(crate) trait Keystream {
    fn xor(state: &mut State, data: &mut [u8]);
}

/// Initial state for a 32-byte key and 12-byte nonce, counter 0.
fn init_state(key: &[u8; 32], nonce: &[u8; 12]) -> Zeroizing<State> {
    let mut s = Zeroizing::new([0u32; 16]);
    s[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for (w, b) in s[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    for (w, b) in s[13..].iter_mut().zip(nonce.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    s
}

#[inline(always)]
fn quarter(x: &mut State, a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

/// One 64-byte ChaCha20 block (RFC 8439 §2.3) for `state` as is.
pub(crate) fn block(state: &State) -> Zeroizing<[u8; 64]> {
    let mut x = Zeroizing::new(*state);
    for _ in 0..10 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 1, 5, 9, 13);
        quarter(&mut x, 2, 6, 10, 14);
        quarter(&mut x, 3, 7, 11, 15);
        quarter(&mut x, 0, 5, 10, 15);
        quarter(&mut x, 1, 6, 11, 12);
        quarter(&mut x, 2, 7, 8, 13);
        quarter(&mut x, 3, 4, 9, 14);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    for ((o, w), s) in out.chunks_exact_mut(4).zip(x.iter()).zip(state.iter()) {
        o.copy_from_slice(&w.wrapping_add(*s).to_le_bytes());
    }
    out
}

/// The one-block-at-a-time keystream: the native tests' backend (the SIMD build has its own).
#[cfg(test)]
pub(crate) struct Portable;

#[cfg(test)]
impl Keystream for Portable {
    fn xor(state: &mut State, data: &mut [u8]) {
        for chunk in data.chunks_mut(64) {
            let ks = block(state);
            for (d, k) in chunk.iter_mut().zip(ks.iter()) {
                *d ^= k;
            }
            state[12] = state[12].wrapping_add(1);
        }
    }
}

/// Poly1305 keyed from block 0 (RFC 8439 §2.6), over the padded AAD; leaves the counter at 1.
fn mac_start(state: &mut State, aad: &[u8]) -> Poly1305 {
    state[12] = 0;
    let ks = block(state);
    let mut key = MacKey::default();
    key.copy_from_slice(&ks[..32]);
    let mut mac = Poly1305::new(&key);
    key.zeroize();
    state[12] = 1;
    mac.update_padded(aad);
    mac
}

fn mac_lengths(mac: &mut Poly1305, aad: &[u8], ct: &[u8]) {
    let mut b = Block::default();
    b[..8].copy_from_slice(&(aad.len() as u64).to_le_bytes());
    b[8..].copy_from_slice(&(ct.len() as u64).to_le_bytes());
    mac.update(&[b]);
}

/// Encrypts `buf` in place and returns the 16-byte tag.
pub(crate) fn seal<K: Keystream>(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; 16], Error> {
    if too_long(buf.len()) {
        return Err(Error);
    }
    let mut state = init_state(key, nonce);
    let mut mac = mac_start(&mut state, aad);
    K::xor(&mut state, buf);
    mac.update_padded(buf);
    mac_lengths(&mut mac, aad, buf);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&mac.finalize());
    Ok(tag)
}

/// Checks `tag` (constant time) and only then decrypts `buf` in place.
pub(crate) fn open<K: Keystream>(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; 16],
) -> Result<(), Error> {
    if too_long(buf.len()) {
        return Err(Error);
    }
    let mut state = init_state(key, nonce);
    let mut mac = mac_start(&mut state, aad);
    mac.update_padded(buf);
    mac_lengths(&mut mac, aad, buf);
    mac.verify(Block::from_slice(tag)).map_err(|_| Error)?;
    K::xor(&mut state, buf);
    Ok(())
}

#[cfg(test)]
#[path = "aead_tests.rs"]
mod tests;
