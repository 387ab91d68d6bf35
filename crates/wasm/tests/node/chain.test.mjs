import { test } from "node:test";
import assert from "node:assert/strict";
import { w, codeOf, NOW } from "./load.mjs";

const GENESIS = "0".repeat(64);
const msgPayload = (text) =>
  JSON.stringify({ message: text, destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false });

// Events travel as JSON *text*: Infonet ids hash Python-style values, and a JS
// JSON.parse/JSON.stringify round trip would turn the float timestamp 1780000001.0 into the
// integer 1780000001 and so change the event id. Parse only to read fields.
function buildChain(n) {
  const signer = w.EventSigner.generate();
  const texts = [];
  const events = [];
  let prev = GENESIS;
  for (let i = 1; i <= n; i++) {
    const json = i % 2 ? w.signEvent(signer, prev, "message", msgPayload(`hello ${i}`), NOW + i, i)
                       : signer.signEvent(prev, "message", msgPayload(`hello ${i}`), NOW + i, i);
    const evt = JSON.parse(json);
    texts.push(json);
    events.push(evt);
    prev = evt.event_id;
  }
  return { signer, events, chainJson: `[${texts.join(",")}]`, texts };
}

test("signEvent produces Infonet/2 events that verifyChain accepts", () => {
  const { signer, events, chainJson } = buildChain(5);
  const e = events[0];
  assert.equal(e.node_id, signer.nodeId);
  assert.equal(e.public_key, signer.publicKey);
  assert.equal(e.public_key_algo, "Ed25519");
  assert.equal(e.prev_hash, GENESIS);
  assert.match(chainJson, /"timestamp":1780000001\.0/);
  const report = w.verifyChain(chainJson, NOW + 10);
  assert.equal(report.valid, true, JSON.stringify(report.error));
  assert.equal(report.count, 5);
  assert.equal(report.head, events[4].event_id);
  assert.equal(report.merkleRoot, w.merkleRoot(events.map((x) => x.event_id)));
  assert.equal(report.error, null);
});

test("verifyChain reports a tampered copy", () => {
  const { events, texts, chainJson } = buildChain(4);
  texts[2] = texts[2].replace('"hello 3"', '"forged"');
  const report = w.verifyChain(`[${texts.join(",")}]`, NOW + 10);
  assert.equal(report.valid, false);
  assert.equal(report.head, null);
  assert.equal(report.error.index, 2);
  assert.equal(report.error.eventId, events[2].event_id);
  assert.ok(["event_id_mismatch", "invalid_signature"].includes(report.error.reason), report.error.reason);

  const stale = w.verifyChain(chainJson, NOW + 10 * 86_400);
  assert.equal(stale.valid, false);
  assert.equal(stale.error.reason, "stale_timestamp");
  assert.equal(w.verifyChain(chainJson, NOW + 10 * 86_400, 0).valid, true);
  // The JS JSON round trip pitfall (see buildChain) is reported, not silently accepted.
  assert.equal(w.verifyChain(JSON.stringify(events), NOW + 10).error.reason, "event_id_mismatch");

  assert.equal(codeOf(() => w.verifyChain("[", NOW)), "json_invalid");
  assert.equal(codeOf(() => w.verifyChain("{}", NOW)), "invalid_argument");
});

test("EventSigner seed round trip", () => {
  const a = w.EventSigner.generate();
  const seed = a.exportSeed();
  assert.equal(seed.length, 32);
  assert.equal(w.EventSigner.fromSeed(seed).nodeId, a.nodeId);
  assert.equal(codeOf(() => w.EventSigner.fromSeed(new Uint8Array(3))), "invalid_argument");
  assert.equal(codeOf(() => w.signEvent(a, GENESIS, "message", "{", NOW, 1)), "json_invalid");
  assert.equal(codeOf(() => w.signEvent(a, GENESIS, "message", msgPayload("x"), NOW, -1)), "invalid_argument");
});
