//! Native tests of the ChaCha20-Poly1305 composition against RFC 8439 and the chacha20poly1305 crate.
use super::*;
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};

/// splitmix64: deterministic pseudo-random test inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        core::array::from_fn(|_| self.next() as u8)
    }
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    hex::decode(s).expect("test vector hex")
}

#[test]
fn rfc8439_2_8_2_vector() {
    let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let nonce: [u8; 12] = unhex("07000000 40414243 44454647").try_into().expect("12");
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let want_ct = unhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
         3ff4def08e4b7a9de576d26586cec64b6116",
    );
    let want_tag = unhex("1ae10b594f09e26a7e902ecbd0600691");
    let mut buf = pt.to_vec();
    let tag = seal::<Portable>(&key, &nonce, &aad, &mut buf).expect("seal");
    assert_eq!(buf, want_ct);
    assert_eq!(tag.to_vec(), want_tag);
    open::<Portable>(&key, &nonce, &aad, &mut buf, &tag).expect("open");
    assert_eq!(&buf[..], &pt[..]);
}

#[test]
fn matches_chacha20poly1305_crate_and_rejects_tampering() {
    let mut rng = Rng(0x5eed);
    let fixed = [
        0usize, 1, 15, 16, 17, 63, 64, 65, 127, 128, 255, 256, 257, 511, 512, 1000, 4095,
    ];
    for case in 0..400 {
        let len = fixed
            .get(case)
            .copied()
            .unwrap_or((rng.next() % 4096) as usize);
        let aad_len = (rng.next() % 80) as usize;
        let key: [u8; 32] = rng.array();
        let nonce: [u8; 12] = rng.array();
        let aad = rng.bytes(aad_len);
        let pt = rng.bytes(len);

        let mut want = pt.clone();
        let want_tag = ChaCha20Poly1305::new((&key).into())
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut want)
            .expect("crate seal");
        let mut got = pt.clone();
        let tag = seal::<Portable>(&key, &nonce, &aad, &mut got).expect("seal");
        assert_eq!(got, want, "ciphertext, len {len} aad {aad_len}");
        assert_eq!(&tag[..], &want_tag[..], "tag, len {len} aad {aad_len}");

        let mut back = got.clone();
        open::<Portable>(&key, &nonce, &aad, &mut back, &tag).expect("open");
        assert_eq!(back, pt);

        // Tampering: ciphertext bit, tag bit, AAD, nonce — error, buffer left undecrypted.
        if len > 0 {
            let mut bad = got.clone();
            let i = (rng.next() as usize) % len;
            bad[i] ^= 1 << (rng.next() % 8);
            let before = bad.clone();
            assert!(open::<Portable>(&key, &nonce, &aad, &mut bad, &tag).is_err());
            assert_eq!(bad, before);
        }
        let mut bad_tag = tag;
        bad_tag[(rng.next() % 16) as usize] ^= 0x80;
        assert!(open::<Portable>(&key, &nonce, &aad, &mut got.clone(), &bad_tag).is_err());
        let mut bad_aad = aad.clone();
        bad_aad.push(0);
        assert!(open::<Portable>(&key, &nonce, &bad_aad, &mut got.clone(), &tag).is_err());
        let mut bad_nonce = nonce;
        bad_nonce[11] ^= 1;
        assert!(open::<Portable>(&key, &bad_nonce, &aad, &mut got.clone(), &tag).is_err());
        // The crate accepts what we seal and vice versa.
        let mut via_crate = got.clone();
        ChaCha20Poly1305::new((&key).into())
            .decrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                &aad,
                &mut via_crate,
                Tag::from_slice(&tag),
            )
            .expect("crate open");
        assert_eq!(via_crate, pt);
    }
}

#[test]
fn keystream_is_counter_addressed_and_resumable() {
    // Splitting at block boundaries, from any starting counter (incl. the u32 wrap), gives the
    // same bytes as one call: what a multi-block backend must reproduce.
    let mut rng = Rng(7);
    let key: [u8; 32] = rng.array();
    let nonce: [u8; 12] = rng.array();
    for start in [1u32, 2, u32::MAX - 2] {
        let mut s = init_state(&key, &nonce);
        s[12] = start;
        let mut whole = vec![0u8; 64 * 5 + 9];
        Portable::xor(&mut s, &mut whole);
        assert_eq!(s[12], start.wrapping_add(6));
        let mut s = init_state(&key, &nonce);
        s[12] = start;
        let mut parts = vec![0u8; whole.len()];
        let (a, b) = parts.split_at_mut(128);
        Portable::xor(&mut s, a);
        Portable::xor(&mut s, b);
        assert_eq!(parts, whole);
        for (i, chunk) in whole.chunks(64).enumerate() {
            let mut s = init_state(&key, &nonce);
            s[12] = start.wrapping_add(i as u32);
            assert_eq!(&block(&s)[..chunk.len()], chunk);
        }
    }
}

#[test]
fn rfc8439_2_3_2_block() {
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let nonce: [u8; 12] = unhex("000000090000004a00000000").try_into().expect("12");
    let mut s = init_state(&key, &nonce);
    s[12] = 1;
    let want = unhex(
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e
         d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
    );
    assert_eq!(&block(&s)[..], &want[..]);
}

#[test]
fn length_limit_is_the_crates() {
    // Counted without allocating: 2^32 - 2 whole blocks (plus a partial one) are allowed,
    // 2^32 - 1 are not (the 32-bit counter starts at 1).
    let limit = u64::from(u32::MAX) * 64;
    if let (Ok(under), Ok(at)) = (usize::try_from(limit - 1), usize::try_from(limit)) {
        assert!(!too_long(under));
        assert!(too_long(at));
    }
    assert!(!too_long(0));
    assert!(!too_long(usize::try_from(u32::MAX).unwrap_or(usize::MAX)));
}
