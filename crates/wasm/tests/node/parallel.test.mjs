// verifyChainParallel (worker_threads) gives exactly verifyChain's report, valid or not.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { w, NOW, parallelApi } from "./load.mjs";

const par = await parallelApi(); // the pool of the entry under test
const GENESIS = "0".repeat(64);
const payload = (i) => JSON.stringify({ message: `m ${i}`, destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false });

function chain(n, signers) {
  const texts = [];
  let prev = GENESIS;
  for (let i = 1; i <= n; i++) {
    const s = signers[i % signers.length];
    const json = s.signEvent(prev, "message", payload(i), NOW + i, Math.floor((i - 1) / signers.length) + 1);
    texts.push(json);
    prev = JSON.parse(json).event_id;
  }
  return texts;
}
const join = (texts) => `[${texts.join(",")}]`;
const signers = [w.EventSigner.generate(), w.EventSigner.generate(), w.EventSigner.generate()];
const TEXTS = chain(700, signers);
const pool = await par.createChainVerifierPool(2);
after(() => pool.terminate());

async function same(json, label, opts = { chunk: 64 }) {
  const want = w.verifyChain(json, NOW + 1000, 0);
  const got = await pool.verifyChain(json, NOW + 1000, 0, opts);
  assert.deepEqual(got, want, label);
  return want;
}
const withField = (text, field, fn) => { const m = new RegExp(`"${field}":"([^"]*)"`).exec(text); return text.replace(m[0], `"${field}":"${fn(m[1])}"`); };
const flipHex = (h) => (h[0] === "0" ? "1" : "0") + h.slice(1);

test("valid chains: same head, Merkle root and count", async () => {
  const r = await same(join(TEXTS), "700 events");
  assert.equal(r.valid, true);
  assert.equal(r.count, 700);
  await same(join(TEXTS.slice(0, 1)), "1 event");
  await same("[]", "empty");
  await same(` [ ${TEXTS.slice(0, 5).join(" ,\n ")} ] `, "whitespace");
  await same(join(TEXTS), "one chunk", { chunk: 10000 });
  const r2 = await par.verifyChainParallel(join(TEXTS.slice(0, 50)), NOW + 1000, 0, { workers: 1 });
  assert.deepEqual(r2, w.verifyChain(join(TEXTS.slice(0, 50)), NOW + 1000, 0));
});

test("corrupted events report the same index and reason as verifyChain", async () => {
  const cases = [];
  const mut = (i, f) => { const t = TEXTS.slice(); t[i] = f(t[i]); return t; };
  cases.push(["bad signature at 333", mut(333, (t) => withField(t, "signature", flipHex))]);
  cases.push(["bad event id at 5", mut(5, (t) => withField(t, "event_id", flipHex))]);
  cases.push(["payload edited at 640", mut(640, (t) => t.replace(/"message":"m \d+"/, '"message":"forged"'))]);
  cases.push(["bad signature at 699 (last)", mut(699, (t) => withField(t, "signature", flipHex))]);
  // A structural failure before a crypto failure, and the other way round.
  let t = mut(200, (x) => withField(x, "prev_hash", flipHex)); t[500] = withField(t[500], "signature", flipHex);
  cases.push(["broken link at 200, bad sig at 500", t]);
  t = mut(100, (x) => withField(x, "signature", flipHex)); t[400] = withField(t[400], "prev_hash", flipHex);
  cases.push(["bad sig at 100, broken link at 400", t]);
  t = mut(150, (x) => withField(x, "signature", flipHex)); t[150] = withField(t[150], "prev_hash", flipHex);
  cases.push(["bad sig and broken link at 150", t]);
  cases.push(["duplicate event at 300", (() => { const x = TEXTS.slice(); x[300] = x[299]; return x; })()]);
  cases.push(["not an object at 250", (() => { const x = TEXTS.slice(); x[250] = "42"; return x; })()]);
  cases.push(["string element at 10", (() => { const x = TEXTS.slice(); x[10] = '"a,]}"'; return x; })()]);
  for (const [label, texts] of cases) {
    const r = await same(join(texts), label);
    assert.equal(r.valid, false, label);
  }
});

test("non-arrays and bad JSON throw the same codes as verifyChain", async () => {
  for (const bad of ["{}", "[1,", "nope", "[,]", `[${TEXTS[0]},]`]) {
    let want, got;
    try { w.verifyChain(bad, NOW, 0); } catch (e) { want = e.code; }
    try { await pool.verifyChain(bad, NOW, 0); } catch (e) { got = e.code; }
    assert.ok(want, `verifyChain throws for ${bad}`);
    assert.equal(got, want, bad);
  }
});

test("splitJsonArray finds element boundaries", () => {
  const s = par.splitJsonArray(' [ {"a":"]},\\""} , [1,[2]] ,"x"] ');
  assert.deepEqual(s.starts.length, 3);
  assert.equal(par.splitJsonArray("[1,,2]"), null);
  assert.equal(par.splitJsonArray("[1] x"), null);
  assert.deepEqual(par.splitJsonArray("[]"), { starts: [], ends: [] });
});

test("verifyChainParts / verifyChainStructureParts equal the single-text calls", () => {
  const parts = [TEXTS.slice(0, 100), TEXTS.slice(100, 101), TEXTS.slice(101)].map(join);
  assert.deepEqual(w.verifyChainParts(parts, NOW + 1000, 0), w.verifyChain(join(TEXTS), NOW + 1000, 0));
  assert.deepEqual(w.verifyChainStructureParts(parts, NOW + 1000, 0), w.verifyChainStructure(join(TEXTS), NOW + 1000, 0));
  const bad = TEXTS.slice(); bad[150] = withField(bad[150], "signature", flipHex);
  const badParts = [bad.slice(0, 120), bad.slice(120)].map(join);
  const r = w.verifyChainParts(badParts, NOW + 1000, 0);
  assert.deepEqual(r, w.verifyChain(join(bad), NOW + 1000, 0));
  assert.equal(r.error.index, 150);
  assert.equal(w.verifyChainParts([], NOW, 0).count, 0);
});
