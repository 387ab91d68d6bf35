import { test } from "node:test";
import assert from "node:assert/strict";
import { w, codeOf, NOW } from "./load.mjs";

test("identity export/import keeps the node id", () => {
  const a = w.Identity.generate();
  assert.match(a.nodeId, /^!sb_[0-9a-f]{32}$/);
  assert.ok(a.publicIdentity.startsWith("postern2."));
  const b = w.Identity.importSecret(a.exportSecret());
  assert.equal(b.nodeId, a.nodeId);
  assert.equal(b.publicIdentity, a.publicIdentity);
  assert.equal(codeOf(() => w.Identity.importSecret("garbage")), "identity_invalid");
});

test("DM round trip, tamper and wrong recipient", () => {
  const alice = w.Identity.generate();
  const bob = w.Identity.generate();
  const carol = w.Identity.generate();
  const body = new TextEncoder().encode("hello bob");
  const envJson = alice.sealDm(bob.publicIdentity, body, NOW);
  const opened = bob.openDm(envJson);
  assert.ok(opened.body instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(opened.body), "hello bob");
  // Same node and keys; a DM carries no identity binding, so the sender reads back unbound.
  const keys = (s) => s.split(".").slice(1, 4).join(".");
  assert.equal(keys(opened.sender), keys(alice.publicIdentity));
  assert.equal(opened.timestamp, NOW);
  assert.equal(typeof opened.msgId, "string");

  const env = JSON.parse(envJson);
  const ct = Buffer.from(env.ciphertext, "base64");
  ct[10] ^= 1;
  const tampered = JSON.stringify({ ...env, ciphertext: ct.toString("base64") });
  assert.equal(codeOf(() => bob.openDm(tampered)), "dm_decrypt");
  assert.equal(codeOf(() => carol.openDm(envJson)), "dm_wrong_recipient");
  assert.equal(codeOf(() => bob.openDm("{}")), "dm_envelope_invalid");
  assert.equal(codeOf(() => alice.sealDm("nope", body, NOW)), "identity_invalid");
  assert.equal(codeOf(() => alice.sealDm(bob.publicIdentity, new Uint8Array(5000), NOW)), "dm_body_too_large");
});
