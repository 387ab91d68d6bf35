// Child process of variant.test.mjs: loads pkg-node (build chosen by POSTERN_WASM_VARIANT) and
// prints, as JSON, the outputs of fixed inputs through every kind of code the module runs.
import { readFileSync } from "node:fs";
import { w, sharedJson, NOW } from "./load.mjs";

const bytes = (n, seed) => { const b = new Uint8Array(n); let x = seed; for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; } return b; };
const hex = (b) => Buffer.from(b).toString("hex");
const out = { variant: w.wasmVariant() };

// Raw primitives.
const key = bytes(32, 1), nonce = bytes(12, 2);
out.aead = [0, 1, 63, 64, 1024, 65536 + 7].map((n) => hex(w.chacha20Poly1305Seal(key, nonce, bytes(n, n + 3), bytes(n % 17, 5))));
out.sha256 = [0, 55, 64, 1 << 20].map((n) => hex(w.sha256(bytes(n, 9))));
out.ed25519 = [0, 1, 5].map((i) => hex(w.ed25519Sign(bytes(32, 10 + i), bytes(100 * i, 20 + i))));
out.x25519 = [0, 1, 2].map((i) => hex(w.x25519(bytes(32, 30 + i), w.x25519PublicKey(bytes(32, 40 + i)))));
const n = 70, pks = new Uint8Array(32 * n), sigs = new Uint8Array(64 * n), lens = new Uint32Array(n), msgs = [];
for (let i = 0; i < n; i++) { const s = bytes(32, 100 + i), m = bytes(i % 9 * 7, 200 + i); pks.set(w.ed25519PublicKey(s), 32 * i); sigs.set(w.ed25519Sign(s, m), 64 * i); lens[i] = m.length; msgs.push(m); }
const bad = sigs.slice(); bad[64 * 33 + 5] ^= 1;
out.batch = [w.ed25519VerifyBatch(pks, sigs, Buffer.concat(msgs), lens), w.ed25519VerifyBatch(pks, bad, Buffer.concat(msgs), lens)];

// Infonet/2 events: a signed chain (deterministic key), its report, and a corrupted copy's.
const signer = w.EventSigner.fromSeed(bytes(32, 7));
const texts = []; let prev = "0".repeat(64);
for (let i = 1; i <= 300; i++) {
  const j = signer.signEvent(prev, "message", JSON.stringify({ message: `m ${i} ü`, destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false }), NOW + i + 0.25, i);
  texts.push(j); prev = JSON.parse(j).event_id;
}
out.signed = texts[299];
out.chain = w.verifyChain(`[${texts.join(",")}]`, NOW + 1000, 0);
const broken = texts.slice(); broken[150] = broken[150].replace(/"signature":"(.)/, (_, c) => `"signature":"${c === "0" ? "1" : "0"}`);
out.brokenChain = w.verifyChain(`[${broken.join(",")}]`, NOW + 1000, 0);

// Shadowbroker's own 400-event chain (all event types, Ed25519 and P-256 keys, a rotation and a
// revocation), as raw text (floats kept as written), judged at the vector's verify_now.
const sbText = readFileSync(new URL("../../../../../shared/vectors/shadowbroker/sb-interleaved-chain.json", import.meta.url), "utf8");
out.sbMeta = sharedJson("vectors/shadowbroker/sb-interleaved-chain.json").meta; // JSON.parse: fields only
out.sbChain = w.verifyChain(rawArray(sbText, '"events"'), out.sbMeta.verify_now, 0);
const fx = sharedJson("vectors/shadowbroker/mesh-merkle-fixtures.json");
out.merkle = { root: w.merkleRoot(fx.leaves), want: fx.root, proof: w.merkleProof(fx.leaves, 3) };
out.normalized = w.normalizePayload("message", JSON.stringify({ message: "x", destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false }));
process.stdout.write(JSON.stringify(out));

/** The text of the JSON array that follows `key` in `text`, byte for byte. */
function rawArray(text, key) {
  const start = text.indexOf("[", text.indexOf(key) + key.length);
  let depth = 0, inStr = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inStr) { if (c === "\\") i++; else if (c === '"') inStr = false; }
    else if (c === '"') inStr = true;
    else if (c === "[" || c === "{") depth++;
    else if ((c === "]" || c === "}") && --depth === 0) return text.slice(start, i + 1);
  }
  throw new Error(`no array after ${key}`);
}
