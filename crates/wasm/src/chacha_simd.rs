//! ChaCha20 keystream with WebAssembly SIMD (`v128`): four blocks at once, one block per lane.
//!
//! Compiled only for `wasm32` with `+simd128` (the package's SIMD build). Word `i` of blocks
//! `n..n+4` lives in vector `i`; after the 20 rounds a 4×4 transpose per group of four words
//! gives each block's 16-byte rows, XORed into the data. Output equals [`crate::aead::Portable`]
//! (checked through the package's Node tests against OpenSSL, which run on this build).
use core::arch::wasm32::{
    i32x4_shuffle, i64x2_shuffle, i8x16_shuffle, u32x4, u32x4_add, u32x4_extract_lane, u32x4_shl,
    u32x4_shr, u32x4_splat, v128, v128_or, v128_xor,
};
use zeroize::Zeroizing;

use crate::aead::{Keystream, State};

#[inline(always)]
fn rotl16(x: v128) -> v128 {
    i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(x, x)
}

#[inline(always)]
fn rotl8(x: v128) -> v128 {
    i8x16_shuffle::<3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14>(x, x)
}

#[inline(always)]
fn rotl<const L: u32, const R: u32>(x: v128) -> v128 {
    v128_or(u32x4_shl(x, L), u32x4_shr(x, R))
}

#[inline(always)]
fn quarter(x: &mut [v128; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = u32x4_add(x[a], x[b]);
    x[d] = rotl16(v128_xor(x[d], x[a]));
    x[c] = u32x4_add(x[c], x[d]);
    x[b] = rotl::<12, 20>(v128_xor(x[b], x[c]));
    x[a] = u32x4_add(x[a], x[b]);
    x[d] = rotl8(v128_xor(x[d], x[a]));
    x[c] = u32x4_add(x[c], x[d]);
    x[b] = rotl::<7, 25>(v128_xor(x[b], x[c]));
}

/// Blocks `state[12] .. state[12] + 4` (counter wrapping per lane, as the portable code).
#[inline(always)]
fn blocks4(state: &State) -> [v128; 16] {
    let mut init: [v128; 16] = core::array::from_fn(|i| u32x4_splat(state[i]));
    init[12] = u32x4_add(init[12], u32x4(0, 1, 2, 3));
    let mut x = init;
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
    for (v, i) in x.iter_mut().zip(init.iter()) {
        *v = u32x4_add(*v, *i);
    }
    x
}

#[inline(always)]
fn load(b: &[u8; 16]) -> v128 {
    let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    u32x4(w(0), w(4), w(8), w(12))
}

#[inline(always)]
fn store(v: v128, b: &mut [u8; 16]) {
    b[0..4].copy_from_slice(&u32x4_extract_lane::<0>(v).to_le_bytes());
    b[4..8].copy_from_slice(&u32x4_extract_lane::<1>(v).to_le_bytes());
    b[8..12].copy_from_slice(&u32x4_extract_lane::<2>(v).to_le_bytes());
    b[12..16].copy_from_slice(&u32x4_extract_lane::<3>(v).to_le_bytes());
}

#[inline(always)]
fn xor_row(data: &mut [u8; 256], at: usize, ks: v128) {
    if let Some(Ok(row)) = data.get_mut(at..at + 16).map(<&mut [u8; 16]>::try_from) {
        let v = v128_xor(load(row), ks);
        store(v, row);
    }
}

/// XORs four keystream blocks into 256 bytes.
#[inline(always)]
fn xor4(x: &[v128; 16], data: &mut [u8; 256]) {
    for g in 0..4 {
        let (a, b, c, d) = (x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]);
        let t0 = i32x4_shuffle::<0, 4, 1, 5>(a, b);
        let t1 = i32x4_shuffle::<0, 4, 1, 5>(c, d);
        let t2 = i32x4_shuffle::<2, 6, 3, 7>(a, b);
        let t3 = i32x4_shuffle::<2, 6, 3, 7>(c, d);
        xor_row(data, 16 * g, i64x2_shuffle::<0, 2>(t0, t1));
        xor_row(data, 64 + 16 * g, i64x2_shuffle::<1, 3>(t0, t1));
        xor_row(data, 128 + 16 * g, i64x2_shuffle::<0, 2>(t2, t3));
        xor_row(data, 192 + 16 * g, i64x2_shuffle::<1, 3>(t2, t3));
    }
}

/// The four-lane SIMD keystream.
pub(crate) struct Simd;

impl Keystream for Simd {
    fn xor(state: &mut State, data: &mut [u8]) {
        let mut chunks = data.chunks_exact_mut(256);
        for chunk in &mut chunks {
            if let Ok(chunk) = <&mut [u8; 256]>::try_from(chunk) {
                xor4(&blocks4(state), chunk);
            }
            state[12] = state[12].wrapping_add(4);
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            // The tail via a zeroized scratch buffer (it holds keystream past the data).
            let mut tmp = Zeroizing::new([0u8; 256]);
            tmp[..rest.len()].copy_from_slice(rest);
            xor4(&blocks4(state), &mut tmp);
            rest.copy_from_slice(&tmp[..rest.len()]);
            state[12] = state[12].wrapping_add(rest.len().div_ceil(64) as u32);
        }
    }
}
