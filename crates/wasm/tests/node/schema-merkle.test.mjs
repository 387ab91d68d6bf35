import { test } from "node:test";
import assert from "node:assert/strict";
import { w, codeOf, gatesApi, sharedJson, NOW } from "./load.mjs";

// A sealed gate_message payload, made by the gates entry (the lite one checks it all the same).
const g = await gatesApi();
function sealedGatePayload() {
  const alice = g.Identity.generate();
  const chain = g.GateChain.create(alice, NOW);
  return JSON.parse(chain.unlock(alice).seal(alice, new Uint8Array([1, 2, 3]), NOW));
}

test("checkPayload: plaintext tripwires and other schema codes", () => {
  const p = sealedGatePayload();
  w.checkPayload("gate_message", JSON.stringify(p));
  // Core rejects a plaintext `message` on gate_message in its per-type rule (reference
  // wording); the code is the generic schema_invalid, the message names the plaintext.
  let err;
  try { w.checkPayload("gate_message", JSON.stringify({ ...p, message: "leaked plaintext" })); } catch (e) { err = e; }
  assert.equal(err.code, "schema_invalid");
  assert.match(err.message, /plaintext/);
  assert.equal(codeOf(() => w.checkPayload("gate_message", JSON.stringify({ ...p, _local_plaintext: "x" }))),
    "schema_unsupported_private_fields");
  assert.equal(codeOf(() => w.checkPayload("bogus", "{}")), "schema_unknown_event_type");
  assert.equal(codeOf(() => w.checkPayload("message", "{}")), "schema_missing_field");
  assert.equal(codeOf(() => w.checkPayload("message", "not json")), "json_invalid");
  const v = sharedJson("vectors/shadowbroker/schema_rejection_vectors.json").gate_message_plaintext_field_present;
  err = undefined;
  try { w.checkPayload(v.event_type, JSON.stringify(v.payload)); } catch (e) { err = e; }
  assert.ok(err?.code?.startsWith("schema_"));
  assert.match(err.message, new RegExp(v.expected_reason_contains));
  // Public-lane append rule.
  assert.equal(codeOf(() => w.checkPayloadForAppend("gate_message", JSON.stringify(p), false)).startsWith("schema_"), true);
  w.checkPayloadForAppend("gate_message", JSON.stringify(p), true);
});

test("Infonet Merkle root and proofs match the Shadowbroker fixtures", () => {
  const fx = sharedJson("vectors/shadowbroker/mesh-merkle-fixtures.json");
  assert.equal(w.merkleRoot(fx.leaves), fx.root);
  for (const [idx, proof] of Object.entries(fx.proofs)) {
    assert.deepEqual(w.merkleProof(fx.leaves, Number(idx)), proof);
    assert.equal(w.merkleVerifyProof(fx.leaves[Number(idx)], proof, fx.root), true);
    assert.equal(w.merkleVerifyProof("zz", proof, fx.root), false);
  }
  assert.equal(codeOf(() => w.merkleProof(fx.leaves, 99)), "merkle_index_out_of_range");
  assert.equal(codeOf(() => w.merkleProof([], 0)), "merkle_empty");
  assert.equal(codeOf(() => w.merkleVerifyProof("a", [{ hash: 1 }], fx.root)), "invalid_argument");
});

test("RFC 9162 inclusion and consistency proofs", () => {
  const leaves = [];
  for (let i = 0; i < 7; i++) leaves.push(w.rfc9162LeafHash(new TextEncoder().encode(`leaf ${i}`)));
  const cat = (arr) => { const out = new Uint8Array(arr.length * 32); arr.forEach((h, i) => out.set(h, i * 32)); return out; };
  const all = cat(leaves);
  const root = w.rfc9162Root(all);
  assert.equal(root.length, 32);
  // Empty tree root is SHA-256("").
  assert.equal(Buffer.from(w.rfc9162Root(new Uint8Array())).toString("hex"),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (let i = 0; i < 7; i++) {
    const proof = w.rfc9162InclusionProof(all, i);
    w.rfc9162VerifyInclusion(i, 7, leaves[i], proof, root);
  }
  const proof3 = w.rfc9162InclusionProof(all, 3);
  assert.equal(codeOf(() => w.rfc9162VerifyInclusion(3, 7, leaves[4], proof3, root)), "rfc9162_root_mismatch");
  assert.equal(codeOf(() => w.rfc9162VerifyInclusion(3, 7, leaves[3], proof3.subarray(32), root)), "rfc9162_wrong_proof_length");
  assert.equal(codeOf(() => w.rfc9162VerifyInclusion(3, 7, leaves[3], proof3.subarray(1), root)), "rfc9162_bad_hash_length");
  const root4 = w.rfc9162Root(cat(leaves.slice(0, 4)));
  const cons = w.rfc9162ConsistencyProof(all, 4);
  w.rfc9162VerifyConsistency(4, 7, cons, root4, root);
  assert.ok(["rfc9162_root1_mismatch", "rfc9162_root_mismatch"].includes(
    codeOf(() => w.rfc9162VerifyConsistency(4, 7, cons, root, root))));
  assert.equal(codeOf(() => w.rfc9162VerifyConsistency(4, 7, cons, root4, root4)), "rfc9162_root_mismatch");
  assert.equal(codeOf(() => w.rfc9162VerifyConsistency(5, 4, cons, root4, root)), "rfc9162_size1_greater_than_size2");
});
