// The package's two flavours: the default entry (postern_wasm.js, "lite") has no gate API, the
// gates entry (postern_wasm_gates.js) has everything; apart from the gate classes both export the
// same API with the same typings; a handle belongs to the instance that made it, so passing one
// to the other flavour is refused with an error (no panic, both instances keep working).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { NOW } from "./load.mjs";

const require = createRequire(import.meta.url);
const lite = require("../../pkg-node/postern_wasm.js");
const gates = require("../../pkg-node/postern_wasm_gates.js");
const GATE_CLASSES = ["GateChain", "GateEpochKey", "GateKeyring"];
const pkgFile = (dir, f) => new URL(`../../${dir}/${f}`, import.meta.url);
const nonGate = (names) => names.filter((n) => !GATE_CLASSES.includes(n)).sort();

test("the lite entries export no gate class, the gates entries all of them, the rest is equal", async () => {
  const web = { lite: await import(pkgFile("pkg", "postern_wasm.js")), gates: await import(pkgFile("pkg", "postern_wasm_gates.js")) };
  for (const [where, l, g] of [["pkg-node", lite, gates], ["pkg", web.lite, web.gates]]) {
    for (const c of GATE_CLASSES) {
      assert.equal(l[c], undefined, `${where}: lite exports ${c}`);
      assert.equal(typeof g[c], "function", `${where}: gates lacks ${c}`);
    }
    assert.deepEqual(nonGate(Object.keys(g)), Object.keys(l).sort(), where);
  }
});

test("package.json: '.' and './parallel' are lite, './gates' and './gates/parallel' the gates flavour", () => {
  for (const [dir, d, js, pd, pjs] of [["pkg", "d.ts", "js", "d.ts", "js"], ["pkg-node", "d.ts", "js", "d.mts", "mjs"]]) {
    const { exports } = JSON.parse(readFileSync(pkgFile(dir, "package.json"), "utf8"));
    assert.deepEqual(exports["."], { types: `./postern_wasm.${d}`, default: `./postern_wasm.${js}` }, dir);
    assert.deepEqual(exports["./gates"], { types: `./postern_wasm_gates.${d}`, default: `./postern_wasm_gates.${js}` }, dir);
    assert.deepEqual(exports["./parallel"], { types: `./postern_wasm_parallel.${pd}`, default: `./postern_wasm_parallel.${pjs}` }, dir);
    assert.deepEqual(exports["./gates/parallel"], { types: `./postern_wasm_gates_parallel.${pd}`, default: `./postern_wasm_gates_parallel.${pjs}` }, dir);
    for (const f of ["postern_wasm_bg.wasm", "postern_wasm_simd_bg.wasm", "postern_wasm_gates_bg.wasm", "postern_wasm_gates_simd_bg.wasm"]) {
      assert.equal(exports[`./${f}`], `./${f}`, `${dir}: ${f}`);
    }
  }
});

/** Top-level declarations of a wasm-bindgen .d.ts by name, each with its doc comment: a
 *  declaration starts at a column-0 `/**` or `export ` line and runs until the next one. */
function declarations(file) {
  const out = new Map();
  let block = null, doc = null;
  const close = () => {
    const name = block && /^export (?:default )?(?:declare )?(?:class|function|type|interface|const|enum) (\w+)/m.exec(block.join("\n"))?.[1];
    if (name) out.set(name, block.join("\n").trim());
  };
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("/**")) { close(); block = null; doc = [line]; }
    else if (line.startsWith("export ")) { close(); block = [...(doc ?? []), line]; doc = null; }
    else (doc ?? block ?? []).push(line);
  }
  close();
  return out;
}

test("typings: every declaration of the lite entry is the gates entry's, word for word", () => {
  for (const [l, g] of [["pkg-node/postern_wasm.d.ts", "pkg-node/postern_wasm_gates.d.ts"],
    ["pkg/postern_wasm_bindgen.d.ts", "pkg/postern_wasm_gates_bindgen.d.ts"]]) {
    const ld = declarations(new URL(`../../${l}`, import.meta.url));
    const gd = declarations(new URL(`../../${g}`, import.meta.url));
    assert.ok(ld.has("Identity") && ld.has("verifyChain") && ld.has("ChainReport"), l);
    // What the gates entry adds: the gate classes and the shapes they return, nothing else.
    assert.deepEqual([...gd.keys()].filter((n) => !ld.has(n)).sort(),
      [...GATE_CLASSES, "GateDrained", "GateMember", "GateReceived", "GateRole", "OpenedGateMessage"].sort(), g);
    // The web glue's InitOutput lists the module's raw exports, which differ by flavour.
    for (const [name, block] of ld) if (name !== "InitOutput") assert.equal(block, gd.get(name), `${name}: ${l} vs ${g}`);
  }
});

test("a handle from one flavour is refused by the other, and both keep working", () => {
  const liteId = lite.Identity.generate();
  const gatesId = gates.Identity.generate();
  // gates ← lite: a lite Identity is not the gates instance's Identity.
  assert.throws(() => gates.GateChain.create(liteId, NOW), { name: "Error", message: /expected instance of Identity/ });
  const chain = gates.GateChain.create(gatesId, NOW);
  assert.throws(() => chain.unlock(liteId), /expected instance of Identity/);
  assert.throws(() => new gates.GateKeyring(chain.gateId).addChain(liteId, chain), /expected instance of Identity/);
  // lite ← gates, and gates ← lite, for the event signer.
  const liteSigner = lite.EventSigner.fromSeed(new Uint8Array(32).fill(1));
  const gatesSigner = gates.EventSigner.fromSeed(new Uint8Array(32).fill(1));
  const args = ["0".repeat(64), "message", JSON.stringify({ message: "m", destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false }), NOW, 1];
  assert.throws(() => lite.signEvent(gatesSigner, ...args), /expected instance of EventSigner/);
  assert.throws(() => gates.signEvent(liteSigner, ...args), /expected instance of EventSigner/);
  // Nothing broke: the same calls with each instance's own handles work, and text crosses freely.
  const a = lite.signEvent(liteSigner, ...args), b = gates.signEvent(gatesSigner, ...args);
  assert.equal(a, b);
  assert.equal(lite.verifyChain(`[${b}]`, NOW + 10, 0).valid, true);
  const key = chain.unlock(gatesId);
  assert.equal(new TextDecoder().decode(key.open(key.seal(gatesId, new Uint8Array([104, 105]), NOW + 1)).body), "hi");
  const dm = liteId.sealDm(gatesId.publicIdentity, new Uint8Array([7]), NOW);
  assert.deepEqual([...gatesId.openDm(dm).body], [7]);
  for (const h of [key, chain, liteSigner, gatesSigner, liteId, gatesId]) h.free();
});
