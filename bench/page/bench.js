// Postern crypto benchmark suite, run inside headless Chromium by bench/run.mjs.
// Every figure = median of `passes` timed runs of `runMs` each (after one warm-up run),
// all inside one page load. Inputs are identical across implementations.
import { sha256 } from "@noble/hashes/sha2.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import sodium from "libsodium-wrappers";
// index.html maps "postern-wasm" to the package's gates entry (postern_wasm_gates.js): the suite
// benchmarks the gate API too; the default entry is the same code without it.
import init, * as pw from "postern-wasm";
import { createChainVerifierPool } from "postern-wasm/parallel";

const logEl = document.getElementById("log");
const log = (s) => { console.log(s); logEl.textContent += "\n" + s; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const enc = new TextEncoder();
const fill = (n, seed = 7) => { const b = new Uint8Array(n); let x = seed; for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; } return b; };
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s) => { const b = new Uint8Array(s.length / 2); for (let i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16); return b; };
const b64dec = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const concat = (a, b) => { const o = new Uint8Array(a.length + b.length); o.set(a); o.set(b, a.length); return o; };

let CFG;
// Time `fn` (sync) repeatedly for runMs; return ops/s. Calls are batched to keep timer overhead out.
function runSync(fn, ms) {
  let ops = 0, batch = 1; const t0 = performance.now(); let t = t0;
  while (t - t0 < ms) { for (let i = 0; i < batch; i++) fn(); ops += batch; t = performance.now(); if (t - t0 < ms / 20) batch *= 2; }
  return ops / ((t - t0) / 1000);
}
async function runAsync(fn, ms) {
  let ops = 0; const t0 = performance.now(); let t = t0;
  while (t - t0 < ms) { await fn(); ops++; t = performance.now(); }
  return ops / ((t - t0) / 1000);
}
async function measure(fn, { async = false } = {}) {
  const run = async ? runAsync : runSync;
  await run(fn, Math.max(50, CFG.runMs / 4)); // warm-up (JIT, wasm tier-up)
  const passes = [];
  for (let p = 0; p < CFG.passes; p++) { passes.push(await run(fn, CFG.runMs)); await new Promise((r) => setTimeout(r, 0)); }
  return { opsPerSec: median(passes), passes };
}

const results = [];
async function bench(group, impl, fn, { bytes = 0, async = false, note = "", per = 1, unit } = {}) {
  let r;
  try { r = await measure(fn, { async }); }
  catch (e) { log(`  ${group} / ${impl}: ERROR ${e.code || ""} ${e.message}`); results.push({ group, impl, error: String(e.message || e), note }); return; }
  if (per !== 1) r = { opsPerSec: r.opsPerSec * per, passes: r.passes.map((x) => x * per) };
  const row = { group, impl, opsPerSec: r.opsPerSec, passes: r.passes, note };
  if (unit) row.unit = unit;
  if (bytes) { row.bytes = bytes; row.mbPerSec = (r.opsPerSec * bytes) / 1e6; }
  results.push(row);
  log(`  ${group} / ${impl}: ${bytes ? row.mbPerSec.toFixed(1) + " MB/s" : Math.round(r.opsPerSec) + " ops/s"} (passes ${r.passes.map((x) => Math.round(bytes ? (x * bytes) / 1e6 : x)).join(", ")})`);
}
// Interleaved: every pass runs each implementation once in turn (A B C, A B C, …), so a load
// change on the shared machine hits all rows of a pass alike; each row also gets the median of
// its per-pass ratios to every other row ("paired"), the figure to read on a noisy machine.
async function benchGroup(group, entries, { bytes = 0 } = {}) {
  const live = [];
  for (const [impl, fn, note = ""] of entries) {
    try { runSync(fn, Math.max(50, CFG.runMs / 4)); live.push({ impl, fn, note, passes: [] }); }
    catch (e) { log(`  ${group} / ${impl}: ERROR ${e.message}`); results.push({ group, impl, error: String(e.message || e), note }); }
  }
  for (let p = 0; p < CFG.passes; p++) {
    for (const e of live) e.passes.push(runSync(e.fn, CFG.runMs));
    await new Promise((r) => setTimeout(r, 0));
  }
  for (const e of live) {
    const paired = Object.fromEntries(live.filter((o) => o !== e).map((o) => [o.impl, median(e.passes.map((x, i) => x / o.passes[i]))]));
    const row = { group, impl: e.impl, opsPerSec: median(e.passes), passes: e.passes, note: (e.note ? e.note + "; " : "") + `interleaved passes, paired ratio vs libsodium ${paired.libsodium ? paired.libsodium.toFixed(2) + "×" : "—"}`, paired };
    if (bytes) { row.bytes = bytes; row.mbPerSec = (row.opsPerSec * bytes) / 1e6; }
    results.push(row);
    log(`  ${group} / ${e.impl}: ${bytes ? row.mbPerSec.toFixed(1) + " MB/s" : Math.round(row.opsPerSec) + " ops/s"} (passes ${e.passes.map((x) => Math.round(bytes ? (x * bytes) / 1e6 : x)).join(", ")}) paired: ${Object.entries(paired).map(([k, v]) => `${v.toFixed(2)}× ${k}`).join(", ")}`);
  }
}
const WORKERS = Math.max(2, navigator.hardwareConcurrency || 2);
// Batch verification in module workers: each worker loops for runMs; the figure is the sum.
let edWorkers = null;
async function benchWorkers(group, impl, data, n, note) {
  try {
    if (!edWorkers) {
      edWorkers = await Promise.all(Array.from({ length: WORKERS }, () => new Promise((res, rej) => {
        const w = new Worker("/page/ed-worker.js", { type: "module" });
        w.onerror = (e) => rej(new Error("worker: " + e.message));
        w.onmessage = (e) => { if (e.data.ready) res(w); };
      })));
    }
    const once = (ms) => Promise.all(edWorkers.map((w) => new Promise((res, rej) => {
      w.onmessage = (e) => (e.data.error ? rej(new Error(e.data.error)) : res(e.data.sigPerSec));
      w.postMessage({ ...data, dur: ms });
    }))).then((xs) => xs.reduce((a, b) => a + b, 0));
    await once(Math.max(50, CFG.runMs / 4));
    const passes = [];
    for (let p = 0; p < CFG.passes; p++) passes.push(await once(CFG.runMs));
    const row = { group, impl, opsPerSec: median(passes), passes, unit: "sig/s", note };
    results.push(row);
    log(`  ${group} / ${impl}: ${Math.round(row.opsPerSec)} sig/s (passes ${passes.map(Math.round).join(", ")})`);
  } catch (e) { log(`  ${group} / ${impl}: ERROR ${e.message}`); results.push({ group, impl, error: String(e.message || e), note }); }
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
function check(cond, what) { if (!cond) throw new Error("cross-check failed: " + what); }

// PKCS#8 wrappers for raw 32-byte Ed25519 / X25519 private keys (RFC 8410).
const PKCS8_ED = unhex("302e020100300506032b657004220420");
const PKCS8_X = unhex("302e020100300506032b656e04220420");

async function suite(cfg) {
  CFG = cfg;
  const subtle = crypto.subtle;
  await sodium.ready;
  await init(); // as a user loads the package: the build chosen by detection (SIMD in Chromium)
  log(`postern-wasm loaded by default: ${pw.wasmVariant()} build (simdSupported ${pw.simdSupported()})`);
  // The same package forced to its scalar fallback: a second module instance (served again under
  // /pkg-scalar/, since one module URL holds one instance).
  let ps = null;
  try { const m = await import("/pkg-scalar/postern_wasm_gates.js"); await m.default({ variant: "scalar" }); ps = m; log(`pkg-scalar loaded: ${m.wasmVariant()}`); } catch (e) { log("no pkg-scalar: " + e.message); }
  const on = (part) => !cfg.only || cfg.only.includes(part);
  log(`runMs=${cfg.runMs} passes=${cfg.passes} chainN=${cfg.chainN} only=${cfg.only || "all"} ua=${navigator.userAgent}`);

  // ---- SHA-256, 1 MiB ----
  if (on("sha")) {
    const data = fill(1 << 20);
    const leafPrefixed = concat(new Uint8Array([0]), data);
    check(same(sha256(leafPrefixed), pw.rfc9162LeafHash(data)), "noble sha256(0x00||d) == postern rfc9162LeafHash(d)");
    check(same(sha256(data), new Uint8Array(await subtle.digest("SHA-256", data))), "noble == webcrypto sha256");
    const G = "SHA-256 1 MiB";
    await bench(G, "noble", () => sha256(data), { bytes: data.length });
    await bench(G, "WebCrypto", () => subtle.digest("SHA-256", data), { bytes: data.length, async: true, note: "async, one await per digest" });
    check(same(sha256(data), pw.sha256(data)), "noble == postern sha256");
    await bench(G, "Postern", () => pw.sha256(data), { bytes: data.length, note: "sha256(): includes the copy into wasm memory" });
    if (ps) await bench(G, "Postern (scalar fallback)", () => ps.sha256(data), { bytes: data.length });
  }

  // ---- Ed25519 ----
  if (on("ed25519")) {
    const seed = fill(32, 1), msg = fill(64, 2);
    const nPub = ed25519.getPublicKey(seed);
    const kp = sodium.crypto_sign_seed_keypair(seed);
    check(same(nPub, kp.publicKey), "ed25519 public keys agree");
    const wPriv = await subtle.importKey("pkcs8", concat(PKCS8_ED, seed), { name: "Ed25519" }, false, ["sign"]);
    const wPub = await subtle.importKey("raw", nPub, { name: "Ed25519" }, false, ["verify"]);
    const sig = ed25519.sign(msg, seed);
    check(same(sig, sodium.crypto_sign_detached(msg, kp.privateKey)), "ed25519 signatures agree (noble/libsodium)");
    check(same(sig, new Uint8Array(await subtle.sign({ name: "Ed25519" }, wPriv, msg))), "ed25519 signatures agree (noble/WebCrypto)");
    const signer = new pw.Ed25519Signer(seed);
    check(same(sig, pw.ed25519Sign(seed, msg)) && same(sig, signer.sign(msg)), "ed25519 signatures agree (noble/Postern)");
    check(pw.ed25519Verify(nPub, msg, sig) && pw.ed25519VerifyStrict(nPub, msg, sig), "Postern verifies");
    let G = "Ed25519 sign (64 B msg)";
    await bench(G, "noble", () => ed25519.sign(msg, seed), { note: "sign(msg, seed): key expanded per call" });
    await bench(G, "libsodium", () => sodium.crypto_sign_detached(msg, kp.privateKey), { note: "64-byte expanded secret key" });
    await bench(G, "WebCrypto", () => subtle.sign({ name: "Ed25519" }, wPriv, msg), { async: true, note: "async, one await per op" });
    await bench(G, "Postern", () => pw.ed25519Sign(seed, msg), { note: "ed25519Sign(seed, msg): key expanded per call (as noble)" });
    await bench(G, "Postern (key handle)", () => signer.sign(msg), { note: "Ed25519Signer.sign: expanded key kept in wasm (as libsodium)" });
    G = "Ed25519 verify (64 B msg)";
    await bench(G, "noble", () => { if (!ed25519.verify(sig, msg, nPub)) throw new Error("bad"); }, { note: "default (ZIP-215) rules" });
    await bench(G, "libsodium", () => { if (!sodium.crypto_sign_verify_detached(sig, msg, kp.publicKey)) throw new Error("bad"); });
    await bench(G, "WebCrypto", async () => { if (!(await subtle.verify({ name: "Ed25519" }, wPub, sig, msg))) throw new Error("bad"); }, { async: true, note: "async, one await per op" });
    await bench(G, "Postern", () => { if (!pw.ed25519Verify(nPub, msg, sig)) throw new Error("bad"); }, { note: "ed25519Verify (dalek verify)" });
    if (ps) await bench(G, "Postern (scalar fallback)", () => { if (!ps.ed25519Verify(nPub, msg, sig)) throw new Error("bad"); });
    G = "Ed25519 verify_strict (64 B msg)";
    await bench(G, "noble", () => { if (!ed25519.verify(sig, msg, nPub, { zip215: false })) throw new Error("bad"); }, { note: "zip215: false (RFC 8032 strict)" });
    await bench(G, "libsodium", () => { if (!sodium.crypto_sign_verify_detached(sig, msg, kp.publicKey)) throw new Error("bad"); }, { note: "libsodium always rejects small-order / non-canonical encodings" });
    await bench(G, "Postern", () => { if (!pw.ed25519VerifyStrict(nPub, msg, sig)) throw new Error("bad"); }, { note: "ed25519VerifyStrict (dalek verify_strict; what Postern applies to events)" });

    // Batches: n distinct keys and messages.
    for (const n of [64, 256]) {
      const seeds = Array.from({ length: n }, (_, i) => fill(32, 100 + i));
      const msgs = Array.from({ length: n }, (_, i) => fill(64, 1000 + i));
      const pubs = seeds.map((s) => ed25519.getPublicKey(s));
      const sigs = seeds.map((s, i) => ed25519.sign(msgs[i], s));
      const pks = new Uint8Array(32 * n), sg = new Uint8Array(64 * n), ms = new Uint8Array(64 * n), lens = new Uint32Array(n).fill(64);
      for (let i = 0; i < n; i++) { pks.set(pubs[i], 32 * i); sg.set(sigs[i], 64 * i); ms.set(msgs[i], 64 * i); }
      check(pw.ed25519VerifyBatch(pks, sg, ms, lens), "batch verifies");
      const wPubs = await Promise.all(pubs.map((p) => subtle.importKey("raw", p, { name: "Ed25519" }, false, ["verify"])));
      G = `Ed25519 verify batch of ${n}`;
      const U = { per: n, unit: "sig/s" };
      await bench(G, "noble", () => { for (let i = 0; i < n; i++) if (!ed25519.verify(sigs[i], msgs[i], pubs[i])) throw new Error("bad"); }, { ...U, note: "sequential verify" });
      await bench(G, "libsodium", () => { for (let i = 0; i < n; i++) if (!sodium.crypto_sign_verify_detached(sigs[i], msgs[i], pubs[i])) throw new Error("bad"); }, { ...U, note: "sequential verify" });
      await bench(G, "WebCrypto", async () => { for (let i = 0; i < n; i++) if (!(await subtle.verify({ name: "Ed25519" }, wPubs[i], sigs[i], msgs[i]))) throw new Error("bad"); }, { ...U, async: true, note: "sequential: one await per signature" });
      await bench(G, "WebCrypto (Promise.all)", async () => { const r = await Promise.all(wPubs.map((k, i) => subtle.verify({ name: "Ed25519" }, k, sigs[i], msgs[i]))); if (!r.every(Boolean)) throw new Error("bad"); }, { ...U, async: true, note: "all n verify calls in flight at once" });
      await bench(G, "Postern", () => { if (!pw.ed25519VerifyBatch(pks, sg, ms, lens)) throw new Error("bad"); }, { ...U, note: "ed25519VerifyBatch, one thread" });
      if (ps) await bench(G, "Postern (scalar fallback)", () => { if (!ps.ed25519VerifyBatch(pks, sg, ms, lens)) throw new Error("bad"); }, { ...U, note: "one thread" });
      await benchWorkers(G, `Postern × ${WORKERS} workers`, { pks, sg, msgs: ms, lens }, n, `ed25519VerifyBatch in ${WORKERS} module workers (own wasm instance each), summed`);
    }
    signer.free();
  }

  // ---- X25519 ----
  if (on("x25519")) {
    const a = fill(32, 3), b = fill(32, 4);
    const bPub = x25519.getPublicKey(b);
    const shared = x25519.getSharedSecret(a, bPub);
    check(same(shared, sodium.crypto_scalarmult(a, bPub)), "x25519 noble == libsodium");
    const wA = await subtle.importKey("pkcs8", concat(PKCS8_X, a), { name: "X25519" }, false, ["deriveBits"]);
    const wB = await subtle.importKey("raw", bPub, { name: "X25519" }, false, []);
    check(same(shared, new Uint8Array(await subtle.deriveBits({ name: "X25519", public: wB }, wA, 256))), "x25519 noble == WebCrypto");
    const G = "X25519 shared secret";
    await bench(G, "noble", () => x25519.getSharedSecret(a, bPub));
    await bench(G, "libsodium", () => sodium.crypto_scalarmult(a, bPub));
    await bench(G, "WebCrypto", () => subtle.deriveBits({ name: "X25519", public: wB }, wA, 256), { async: true, note: "async, one await per op" });
    check(same(shared, pw.x25519(a, bPub)), "x25519 noble == Postern");
    await bench(G, "Postern", () => pw.x25519(a, bPub), { note: "x25519(secret, public)" });
    if (ps) await bench(G, "Postern (scalar fallback)", () => ps.x25519(a, bPub));
  }

  // ---- ChaCha20-Poly1305 (IETF, 12-byte nonce) seal ----
  if (on("aead")) {
    const key = fill(32, 5), nonce = fill(12, 6);
    for (const size of [64, 1024, 65536]) {
      const pt = fill(size, 8);
      const ct = chacha20poly1305(key, nonce).encrypt(pt);
      check(same(ct, sodium.crypto_aead_chacha20poly1305_ietf_encrypt(pt, null, null, nonce, key)), "aead noble == libsodium " + size);
      check(same(ct, pw.chacha20Poly1305Seal(key, nonce, pt)), "aead noble == Postern " + size);
      const label = size >= 1024 ? size / 1024 + " KiB" : size + " B";
      await benchGroup(`ChaCha20-Poly1305 seal ${label}`, [
        ["noble", () => chacha20poly1305(key, nonce).encrypt(pt)],
        ["libsodium", () => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(pt, null, null, nonce, key)],
        ["Postern", () => pw.chacha20Poly1305Seal(key, nonce, pt), `chacha20Poly1305Seal, default load (${pw.wasmVariant()} build): copy in + copy out included`],
        ...(ps ? [["Postern (scalar fallback)", () => ps.chacha20Poly1305Seal(key, nonce, pt), "init({ variant: \"scalar\" })"]] : []),
      ], { bytes: size });
      await benchGroup(`ChaCha20-Poly1305 open ${label}`, [
        ["noble", () => chacha20poly1305(key, nonce).decrypt(ct)],
        ["libsodium", () => sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, ct, null, nonce, key)],
        ["Postern", () => pw.chacha20Poly1305Open(key, nonce, ct), `chacha20Poly1305Open, default load (${pw.wasmVariant()} build): copy in + copy out included`],
        ...(ps ? [["Postern (scalar fallback)", () => ps.chacha20Poly1305Open(key, nonce, ct), "init({ variant: \"scalar\" })"]] : []),
      ], { bytes: size });
    }
  }

  // ---- Postern end-to-end: DM and gate messages, 1 KiB body ----
  if (on("postern")) {
    const NOW = 1780000000;
    const body = fill(1024, 9);
    const alice = pw.Identity.generate(), bob = pw.Identity.generate();
    const env = alice.sealDm(bob.publicIdentity, body, NOW);
    check(same(bob.openDm(env).body, body), "DM round trip");
    await bench("Postern DM seal (1 KiB)", "Postern", () => alice.sealDm(bob.publicIdentity, body, NOW), { note: "Identity.sealDm → envelope JSON" });
    await bench("Postern DM open (1 KiB)", "Postern", () => bob.openDm(env), { note: "Identity.openDm(envelope JSON)" });
    try {
      const chain = pw.GateChain.create(alice, NOW);
      chain.rotate(alice, [bob.publicIdentity], [], NOW + 1);
      const aKey = chain.unlock(alice);
      const bKey = pw.GateChain.verify(chain.recordsJson()).unlock(bob);
      const msg = aKey.seal(alice, body, NOW + 2);
      check(same(bKey.open(msg).body, body), "gate round trip");
      await bench("Postern gate message seal (1 KiB)", "Postern", () => aKey.seal(alice, body, NOW + 2), { note: "GateEpochKey.seal, 2-member gate" });
      await bench("Postern gate message open (1 KiB)", "Postern", () => bKey.open(msg), { note: "GateEpochKey.open" });
    } catch (e) { log("gate bench failed: " + (e.code || "") + " " + e.message); results.push({ group: "Postern gate message (1 KiB)", impl: "Postern", error: String(e.message) }); }
  }

  // ---- Infonet/2 chain: build with signEvent, verify with verifyChain vs a JS/noble equivalent ----
  const chainInfo = {};
  if (on("chain")) {
    const N = cfg.chainN, NOW = 1780000000, GENESIS = "0".repeat(64);
    const signer = pw.EventSigner.fromSeed(fill(32, 10));
    const payload = (i) => JSON.stringify({ message: `hello ${i}`, destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false });
    const texts = new Array(N); let prev = GENESIS;
    const t0 = performance.now();
    for (let i = 1; i <= N; i++) {
      const json = signer.signEvent(prev, "message", payload(i), NOW + i, i);
      texts[i - 1] = json; // keep the raw text: a JSON.parse → stringify round trip changes event ids
      prev = JSON.parse(json).event_id;
    }
    const buildMs = performance.now() - t0;
    const chainJson = `[${texts.join(",")}]`;
    chainInfo.n = N; chainInfo.bytes = chainJson.length; chainInfo.buildMs = buildMs;
    results.push({ group: `Postern signEvent (message event)`, impl: "Postern", opsPerSec: N / (buildMs / 1000), passes: [N / (buildMs / 1000)], note: `one pass: building the ${N}-event chain incl. JSON.parse of each result to read event_id` });
    log(`  built ${N}-event chain in ${buildMs.toFixed(0)} ms (${(chainJson.length / 1e6).toFixed(2)} MB JSON)`);
    const nowV = NOW + N + 10, maxAge = 0;
    // core's JSON parser takes at most 64 MiB per call: ≥ ~95k events go in as parts.
    const PARTS = Math.max(1, Math.ceil(chainJson.length / (32 << 20)));
    const per = Math.ceil(N / PARTS);
    const parts = Array.from({ length: PARTS }, (_, k) => `[${texts.slice(k * per, (k + 1) * per).join(",")}]`);
    const verifySingle = (p) => (PARTS === 1 ? p.verifyChain(chainJson, nowV, maxAge) : p.verifyChainParts(parts, nowV, maxAge));
    chainInfo.parts = PARTS;
    const rep = verifySingle(pw);
    check(rep.valid && rep.count === N, "verifyChain accepts the chain: " + JSON.stringify(rep.error));

    // JS equivalent on @noble: per event, recompute the event id (sha256 over the canonical
    // material, timestamp taken from the raw text), check prev_hash link, node_id binding and
    // the Ed25519 signature over the Infonet/2 signature string. Message payloads only.
    const canon = (v) => { // Python json.dumps(sort_keys=True, separators=(",", ":")), ASCII payloads
      if (v === null || typeof v !== "object") return JSON.stringify(v);
      if (Array.isArray(v)) return "[" + v.map(canon).join(",") + "]";
      return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canon(v[k])).join(",") + "}";
    };
    const TS_RE = /"timestamp":(-?[0-9.eE+-]+)/;
    function jsVerifyChain(text) {
      const raw = JSON.parse(text);
      // timestamps as written (float text), found per event from the raw array text
      let prevId = GENESIS, pos = 0; const pkCache = new Map();
      for (let i = 0; i < raw.length; i++) {
        const e = raw[i];
        const m = TS_RE.exec(text.slice(text.indexOf('"timestamp":', pos), text.indexOf('"timestamp":', pos) + 40));
        pos = text.indexOf('"timestamp":', pos) + 12;
        const tsText = m[1];
        if (e.prev_hash !== prevId) return { valid: false, index: i, reason: "prev_hash_mismatch" };
        const pc = canon(e.payload);
        const material = `${e.prev_hash}:${e.event_type}:${e.node_id}:${pc}:${tsText}:${e.sequence}:${e.network_id}`;
        if (hex(sha256(enc.encode(material))) !== e.event_id) return { valid: false, index: i, reason: "event_id_mismatch" };
        let pk = pkCache.get(e.public_key);
        if (!pk) { pk = b64dec(e.public_key); if ("!sb_" + hex(sha256(pk)).slice(0, 32) !== e.node_id) return { valid: false, index: i, reason: "node_binding" }; pkCache.set(e.public_key, pk); }
        const sigMsg = `${e.protocol_version}|${e.network_id}|${e.event_type}|${e.node_id}|${e.sequence}|${pc}`;
        if (!ed25519.verify(unhex(e.signature), enc.encode(sigMsg), pk)) return { valid: false, index: i, reason: "invalid_signature" };
        prevId = e.event_id;
      }
      return { valid: true, count: raw.length, head: prevId };
    }
    const wcKeys = new Map();
    async function jsVerifyChainWebCrypto(text) {
      const raw = JSON.parse(text);
      let prevId = GENESIS, pos = 0; const pkCache = new Map(); const pending = [];
      for (let i = 0; i < raw.length; i++) {
        const e = raw[i];
        const at = text.indexOf('"timestamp":', pos);
        const tsText = TS_RE.exec(text.slice(at, at + 40))[1];
        pos = at + 12;
        if (e.prev_hash !== prevId) return { valid: false, index: i, reason: "prev_hash_mismatch" };
        const pc = canon(e.payload);
        const material = `${e.prev_hash}:${e.event_type}:${e.node_id}:${pc}:${tsText}:${e.sequence}:${e.network_id}`;
        if (hex(sha256(enc.encode(material))) !== e.event_id) return { valid: false, index: i, reason: "event_id_mismatch" };
        let pk = pkCache.get(e.public_key);
        if (!pk) {
          const rawPk = b64dec(e.public_key);
          if ("!sb_" + hex(sha256(rawPk)).slice(0, 32) !== e.node_id) return { valid: false, index: i, reason: "node_binding" };
          pk = wcKeys.get(e.public_key) || (await crypto.subtle.importKey("raw", rawPk, { name: "Ed25519" }, false, ["verify"]));
          wcKeys.set(e.public_key, pk); pkCache.set(e.public_key, pk);
        }
        const sigMsg = `${e.protocol_version}|${e.network_id}|${e.event_type}|${e.node_id}|${e.sequence}|${pc}`;
        pending.push(crypto.subtle.verify({ name: "Ed25519" }, pk, unhex(e.signature), enc.encode(sigMsg)));
        prevId = e.event_id;
      }
      const ok = await Promise.all(pending);
      const bad = ok.indexOf(false);
      return bad < 0 ? { valid: true, count: raw.length, head: prevId } : { valid: false, index: bad, reason: "invalid_signature" };
    }
    const jr = jsVerifyChain(chainJson);
    check((await jsVerifyChainWebCrypto(chainJson)).head === rep.head, "WebCrypto JS equivalent accepts the chain");
    check(jr.valid && jr.head === rep.head, "JS/noble equivalent accepts the chain: " + JSON.stringify(jr));
    const pool = await createChainVerifierPool(WORKERS);
    {
      const pr = await pool.verifyChain(chainJson, nowV, maxAge);
      check(JSON.stringify(pr) === JSON.stringify(rep), "pool.verifyChain == verifyChain (valid chain)");
      // A corrupted copy (bad signature in the middle) must report the same failure.
      const k = Math.floor(N / 2), bad = texts.slice();
      bad[k] = bad[k].replace(/"signature":"(.)/, (m, c) => `"signature":"${c === "0" ? "1" : "0"}`);
      const badJson = `[${bad.join(",")}]`;
      const badParts = Array.from({ length: PARTS }, (_, j) => `[${bad.slice(j * per, (j + 1) * per).join(",")}]`);
      const a = PARTS === 1 ? pw.verifyChain(badJson, nowV, maxAge) : pw.verifyChainParts(badParts, nowV, maxAge), b = await pool.verifyChain(badJson, nowV, maxAge);
      check(!a.valid && a.error.index === k && JSON.stringify(a) === JSON.stringify(b), "pool.verifyChain == verifyChain (corrupted chain): " + JSON.stringify([a.error, b.error]));
    }
    const G = `verify chain of ${N} events`;
    const chainRows = [
      ["Postern", () => { if (!verifySingle(pw).valid) throw new Error("invalid"); }, `${PARTS === 1 ? "verifyChain(chain JSON text)" : `verifyChainParts(${PARTS} JSON array texts)`}, one thread: parse + full Infonet/2 rules + batched Ed25519 + Merkle root; default load (${pw.wasmVariant()} build)`],
      ...(ps ? [["Postern (scalar fallback)", () => { if (!verifySingle(ps).valid) throw new Error("invalid"); }, "same, the package forced to its scalar build (init({ variant: \"scalar\" }))"]] : []),
      [`Postern × ${WORKERS} workers`, async () => { if (!(await pool.verifyChain(chainJson, nowV, maxAge)).valid) throw new Error("invalid"); }, `ChainVerifierPool.verifyChain (postern-wasm/parallel): signatures (batched) + event ids in ${WORKERS} module workers, sequential rules on the page thread; warm pool; workers run ${pool.wasmVariants} (the page's build)`],
      ["noble (JS equivalent)", () => { if (!jsVerifyChain(chainJson).valid) throw new Error("invalid"); }, "JSON.parse + sha256 ids (noble) + prev links + node binding + ed25519.verify (noble); no schema/Merkle/replay rules"],
      ["WebCrypto + noble (JS equivalent)", async () => { if (!(await jsVerifyChainWebCrypto(chainJson)).valid) throw new Error("invalid"); }, "as above, signatures with WebCrypto Ed25519 (all verify promises of the chain in flight, then awaited)"],
    ];
    // Interleaved passes (each implementation once per pass, in turn), as benchGroup.
    const chainPasses = chainRows.map(() => []);
    for (let p = 0; p < cfg.passes; p++) {
      for (let k = 0; k < chainRows.length; k++) { const t = performance.now(); await chainRows[k][1](); chainPasses[k].push(N / ((performance.now() - t) / 1000)); }
    }
    chainRows.forEach(([impl, , note], k) => {
      const ps = chainPasses[k];
      const paired = Object.fromEntries(chainRows.filter((_, o) => o !== k).map(([other], o2) => { const o = chainRows.findIndex((r) => r[0] === other); return [other, median(ps.map((x, i) => x / chainPasses[o][i]))]; }));
      results.push({ group: G, impl, opsPerSec: median(ps), passes: ps, unit: "events/s", note: note + "; interleaved passes", paired, seconds: N / median(ps) });
      log(`  ${G} / ${impl}: ${Math.round(median(ps))} events/s = ${(N / median(ps)).toFixed(2)} s (passes ${ps.map(Math.round).join(", ")}) paired: ${Object.entries(paired).map(([o, v]) => `${v.toFixed(2)}× ${o}`).join(", ")}`);
    });
    await pool.terminate();
  }
  return { config: cfg, userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency, chain: chainInfo, results };
}

window.runSuite = suite;
window.benchReady = true;
log("ready");
