import { test } from "node:test";
import assert from "node:assert/strict";
import { w, codeOf, GATES, NOW } from "./load.mjs";

// The gate API is in the gates entry only (flavour.test.mjs checks the lite entry has none).
const skip = GATES ? false : "the lite entry has no gate API";

const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

test("gate: create, add member, seal/open, remove member", { skip }, () => {
  const alice = w.Identity.generate();
  const bob = w.Identity.generate();
  const chain = w.GateChain.create(alice, NOW);
  assert.equal(chain.epoch, 1);
  assert.match(chain.gateId, /^[0-9a-f]{32}$/);

  const rec2 = chain.rotate(alice, [bob.publicIdentity], [], NOW + 1);
  assert.equal(JSON.parse(rec2).reason, "join");
  assert.deepEqual(chain.members().map((m) => m.memberId).sort(), [alice.nodeId, bob.nodeId].sort());

  // Bob verifies the published history and unwraps his key.
  const bobChain = w.GateChain.verify(chain.recordsJson());
  assert.equal(bobChain.epoch, 2);
  assert.equal(bobChain.genesisHash, chain.genesisHash);
  const bobKey = bobChain.unlock(bob);
  const msg = chain.unlock(alice).seal(alice, enc("hi gate"), NOW + 2);
  w.checkPayload("gate_message", msg); // a sealed message is a valid gate_message payload
  const opened = bobKey.open(msg);
  assert.equal(dec(opened.body), "hi gate");
  assert.equal(opened.memberId, alice.nodeId);
  assert.equal(opened.role, "admin");
  assert.equal(opened.epoch, 2);

  // Bob's keyring follows the chain.
  const ring = new w.GateKeyring(chain.gateId);
  ring.addChain(bob, bobChain);
  assert.equal(dec(ring.open(msg).body), "hi gate");
  const fromBob = ring.seal(bob, enc("from bob"), NOW + 3);
  assert.equal(dec(chain.unlock(alice).open(fromBob).body), "from bob");

  // Alice removes Bob: the new epoch is closed to him.
  const rec3 = chain.rotate(alice, [], [bob.nodeId], NOW + 4);
  assert.equal(JSON.parse(rec3).reason, "kick");
  bobChain.apply(rec3);
  assert.equal(codeOf(() => bobChain.unlock(bob)), "gate_not_a_member");
  ring.addChain(bob, bobChain);
  assert.equal(codeOf(() => ring.seal(bob, enc("still here?"), NOW + 5)), "gate_not_a_member");
  const after = chain.unlock(alice).seal(alice, enc("bob is gone"), NOW + 5);
  assert.equal(codeOf(() => ring.open(after)), "gate_not_a_member");
  assert.equal(codeOf(() => bobKey.open(after)), "gate_wrong_epoch");
  // Old epochs stay readable.
  assert.equal(dec(bobChain.unlock(bob, 2).open(msg).body), "hi gate");
});

test("gate: chain verification errors", { skip }, () => {
  const alice = w.Identity.generate();
  const mallory = w.Identity.generate();
  const chain = w.GateChain.create(alice, NOW);
  const rec2 = chain.rotate(alice, [mallory.publicIdentity], [], NOW + 1);
  const copy = w.GateChain.verify(chain.recordsJson());
  assert.equal(codeOf(() => copy.apply(rec2)), "gate_replayed_epoch");
  // Mallory is a plain member: she cannot rotate.
  assert.equal(codeOf(() => copy.rotate(mallory, [], [], NOW + 2)), "gate_not_admin");
  const records = JSON.parse(chain.recordsJson());
  records[1].created_at += 1;
  assert.equal(codeOf(() => w.GateChain.verify(JSON.stringify(records))), "gate_bad_signature");
  assert.equal(codeOf(() => w.GateChain.verify("[]")), "gate_bad_genesis");
  assert.equal(codeOf(() => w.GateChain.verify("{")), "gate_malformed");
  assert.equal(codeOf(() => new w.GateKeyring("XYZ")), "gate_bad_gate_id");
});
