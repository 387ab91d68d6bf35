// Raw primitive bindings (src/prims.rs) against Node's own crypto (OpenSSL).
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { w, codeOf } from "./load.mjs";

const bytes = (n, seed) => { const b = new Uint8Array(n); let x = seed; for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; } return b; };
const PKCS8_ED = Buffer.from("302e020100300506032b657004220420", "hex");
const PKCS8_X = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X = Buffer.from("302a300506032b656e032100", "hex");

test("chacha20Poly1305Seal/Open match OpenSSL and reject tampering", () => {
  const key = bytes(32, 1), nonce = bytes(12, 2), aad = bytes(13, 3);
  for (const n of [0, 1, 64, 1024, 65536 + 7]) {
    const pt = bytes(n, n + 4);
    const c = crypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    c.setAAD(aad);
    const want = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    const sealed = w.chacha20Poly1305Seal(key, nonce, pt, aad);
    assert.ok(sealed instanceof Uint8Array);
    assert.deepEqual(Buffer.from(sealed), want);
    assert.deepEqual(w.chacha20Poly1305Open(key, nonce, sealed, aad), pt);
    const bad = sealed.slice(); bad[bad.length - 1] ^= 1;
    assert.equal(codeOf(() => w.chacha20Poly1305Open(key, nonce, bad, aad)), "aead_decrypt");
    assert.equal(codeOf(() => w.chacha20Poly1305Open(key, nonce, sealed)), "aead_decrypt"); // AAD missing
  }
  assert.deepEqual(w.chacha20Poly1305Open(key, nonce, w.chacha20Poly1305Seal(key, nonce, bytes(5, 9))), bytes(5, 9));
  assert.equal(codeOf(() => w.chacha20Poly1305Seal(key.subarray(1), nonce, bytes(1, 1))), "invalid_argument");
  assert.equal(codeOf(() => w.chacha20Poly1305Seal(key, nonce.subarray(1), bytes(1, 1))), "invalid_argument");
  assert.equal(codeOf(() => w.chacha20Poly1305Open(key, nonce, bytes(15, 1))), "invalid_argument");
});

test("Ed25519 sign / verify / verifyStrict / batch match OpenSSL", () => {
  const seed = bytes(32, 5), msg = bytes(100, 6);
  const sk = crypto.createPrivateKey({ key: Buffer.concat([PKCS8_ED, seed]), format: "der", type: "pkcs8" });
  const pub = crypto.createPublicKey(sk).export({ format: "der", type: "spki" }).subarray(-32);
  assert.deepEqual(Buffer.from(w.ed25519PublicKey(seed)), pub);
  const sig = w.ed25519Sign(seed, msg);
  assert.deepEqual(Buffer.from(sig), crypto.sign(null, msg, sk));
  const signer = new w.Ed25519Signer(seed);
  assert.deepEqual(signer.sign(msg), sig);
  assert.deepEqual(Buffer.from(signer.publicKey), pub);
  signer.free();
  assert.equal(w.ed25519Verify(pub, msg, sig), true);
  assert.equal(w.ed25519VerifyStrict(pub, msg, sig), true);
  const bad = sig.slice(); bad[10] ^= 4;
  assert.equal(w.ed25519Verify(pub, msg, bad), false);
  assert.equal(w.ed25519VerifyStrict(pub, msg, bad), false);
  assert.equal(w.ed25519Verify(pub.subarray(1), msg, sig), false);
  // Small-order key (identity point) with the trivial signature R = identity, s = 0:
  // the cofactorless check accepts it, verify_strict refuses it.
  const ident = new Uint8Array(32); ident[0] = 1;
  const weakSig = new Uint8Array(64); weakSig[0] = 1;
  assert.equal(w.ed25519Verify(ident, msg, weakSig), true);
  assert.equal(w.ed25519VerifyStrict(ident, msg, weakSig), false);

  for (const n of [1, 64, 65]) {
    const pks = new Uint8Array(32 * n), sigs = new Uint8Array(64 * n), lens = new Uint32Array(n), msgs = [];
    for (let i = 0; i < n; i++) {
      const s = bytes(32, 100 + i), m = bytes(i % 7 * 10, 200 + i);
      pks.set(w.ed25519PublicKey(s), 32 * i); sigs.set(w.ed25519Sign(s, m), 64 * i); lens[i] = m.length; msgs.push(m);
    }
    const all = Buffer.concat(msgs);
    assert.equal(w.ed25519VerifyBatch(pks, sigs, all, lens), true, `batch of ${n}`);
    const broken = sigs.slice(); broken[64 * (n - 1) + 3] ^= 1;
    assert.equal(w.ed25519VerifyBatch(pks, broken, all, lens), false);
    assert.equal(codeOf(() => w.ed25519VerifyBatch(pks, sigs, Buffer.concat([all, Buffer.from([1])]), lens)), "invalid_argument");
    assert.equal(codeOf(() => w.ed25519VerifyBatch(pks, sigs, all, Uint32Array.from([...lens, 0]))), "invalid_argument");
  }
  assert.equal(w.ed25519VerifyBatch(new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint32Array(0)), true);
});

test("x25519 and sha256 match OpenSSL", () => {
  const a = bytes(32, 7), b = bytes(32, 8);
  const ka = crypto.createPrivateKey({ key: Buffer.concat([PKCS8_X, a]), format: "der", type: "pkcs8" });
  const kb = crypto.createPrivateKey({ key: Buffer.concat([PKCS8_X, b]), format: "der", type: "pkcs8" });
  const bPub = w.x25519PublicKey(b);
  assert.deepEqual(Buffer.from(bPub), crypto.createPublicKey(kb).export({ format: "der", type: "spki" }).subarray(-32));
  const want = crypto.diffieHellman({ privateKey: ka, publicKey: crypto.createPublicKey({ key: Buffer.concat([SPKI_X, bPub]), format: "der", type: "spki" }) });
  assert.deepEqual(Buffer.from(w.x25519(a, bPub)), want);
  assert.deepEqual(w.x25519(a, bPub), w.x25519(b, w.x25519PublicKey(a)));
  assert.equal(codeOf(() => w.x25519(a, bPub.subarray(2))), "invalid_argument");
  for (const n of [0, 55, 64, 1 << 20]) {
    const d = bytes(n, 9);
    assert.deepEqual(Buffer.from(w.sha256(d)), crypto.createHash("sha256").update(d).digest());
  }
});

test("chacha20Poly1305 random keys / nonces / AAD / lengths 0..4096 match OpenSSL (SIMD keystream tail and block edges)", () => {
  let seed = 0x5eed;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  const lens = [0, 1, 63, 64, 65, 127, 128, 191, 192, 255, 256, 257, 319, 511, 512, 513, 1000, 4095];
  for (let i = 0; i < 150; i++) {
    const n = i < lens.length ? lens[i] : next() % 4096;
    const key = bytes(32, next()), nonce = bytes(12, next()), aad = bytes(next() % 70, next()), pt = bytes(n, next());
    const c = crypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    c.setAAD(aad);
    const want = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    const sealed = w.chacha20Poly1305Seal(key, nonce, pt, aad);
    assert.deepEqual(Buffer.from(sealed), want, `len ${n} aad ${aad.length}`);
    assert.deepEqual(w.chacha20Poly1305Open(key, nonce, sealed, aad), pt);
    const bad = sealed.slice(); bad[next() % bad.length] ^= 1 << (next() % 8);
    assert.equal(codeOf(() => w.chacha20Poly1305Open(key, nonce, bad, aad)), "aead_decrypt");
  }
});
