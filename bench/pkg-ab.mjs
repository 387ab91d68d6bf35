#!/usr/bin/env node
// A/B of two builds of the Node package (crates/wasm/pkg-node) in one process, interleaved: each
// operation runs for BENCH_RUN_MS on A, then on B (the order flips every pass), BENCH_PASSES
// passes; prints the median ops/s of each and the median of the per-pass ratios B/A, plus the
// process CPU time (user+sys) of the whole run. Both packages load the build POSTERN_WASM_VARIANT
// picks (default: SIMD).
//   node bench/pkg-ab.mjs /path/to/pkg-node-A /path/to/pkg-node-B
//   node bench/pkg-ab.mjs crates/wasm/pkg-node crates/wasm/pkg-node/postern_wasm_gates.js   (an entry file:
//        here the package's default, gate-free entry against its gates entry; gate cases are
//        skipped unless both have the gate API)
//   BENCH_ONLY=sign,x25519 BENCH_PASSES=5 POSTERN_WASM_VARIANT=scalar node bench/pkg-ab.mjs A B
// Operations that need a key (signing, key generation, X25519, DM, gate unwrap) are what the
// curve25519 basepoint tables speed up; verification and AEAD should not move (size work, issue 16).
import { createRequire } from "node:module";
import path from "node:path";
import os from "node:os";

const [dirA, dirB] = process.argv.slice(2).map((d) => path.resolve(d));
if (!dirA || !dirB) { console.error("usage: node bench/pkg-ab.mjs PKG_NODE_A|ENTRY.js PKG_NODE_B|ENTRY.js"); process.exit(2); }
const require = createRequire(import.meta.url);
const entry = (d) => (d.endsWith(".js") ? d : path.join(d, "postern_wasm.js"));
const A = require(entry(dirA));
const B = require(entry(dirB));
const RUN_MS = Number(process.env.BENCH_RUN_MS || 400);
const PASSES = Number(process.env.BENCH_PASSES || 5);
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(",") : null;
const NOW = 1780000000;
const fill = (n, s) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + s * 17 + 7) & 255);
const enc = (s) => new TextEncoder().encode(s);

// Each case: name, setup(w) → op; op() is one operation (per = items it handles, for the unit).
const cases = [
  ["keygen", "Identity.generate()", (w) => () => w.Identity.generate().free()],
  ["sign", "signEvent (message event)", (w) => {
    const s = w.EventSigner.fromSeed(fill(32, 1)); let i = 0;
    return () => s.signEvent("0".repeat(64), "message", JSON.stringify({ message: `hi ${i}`, destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false }), NOW + i, ++i);
  }],
  ["sign", "ed25519Sign(seed, 64 B)", (w) => { const s = fill(32, 2), m = fill(64, 3); return () => w.ed25519Sign(s, m); }],
  ["sign", "Ed25519Signer.sign(64 B)", (w) => { const s = new w.Ed25519Signer(fill(32, 2)), m = fill(64, 3); return () => s.sign(m); }],
  ["x25519", "x25519PublicKey", (w) => { const s = fill(32, 4); return () => w.x25519PublicKey(s); }],
  ["x25519", "x25519(secret, public)", (w) => { const s = fill(32, 4), p = w.x25519PublicKey(fill(32, 5)); return () => w.x25519(s, p); }],
  ["dm", "sealDm 1 KiB", (w) => { const a = w.Identity.generate(), b = w.Identity.generate(), body = fill(1024, 6); return () => a.sealDm(b.publicIdentity, body, NOW); }],
  ["dm", "openDm 1 KiB", (w) => { const a = w.Identity.generate(), b = w.Identity.generate(); const e = a.sealDm(b.publicIdentity, fill(1024, 6), NOW); return () => b.openDm(e); }],
  ["gate", "GateChain.unlock (gate unwrap, 2 members)", (w) => {
    const a = w.Identity.generate(), b = w.Identity.generate(), c = w.GateChain.create(a, NOW);
    c.rotate(a, [b.publicIdentity], [], NOW + 1);
    const bc = w.GateChain.verify(c.recordsJson());
    return () => bc.unlock(b).free();
  }],
  ["gate", "GateEpochKey.seal 1 KiB", (w) => { const a = w.Identity.generate(), k = w.GateChain.create(a, NOW).unlock(a), body = fill(1024, 7); return () => k.seal(a, body, NOW + 2); }],
  ["verify", "ed25519VerifyStrict (64 B)", (w) => { const s = fill(32, 8), m = fill(64, 9), pk = w.ed25519PublicKey(s), sig = w.ed25519Sign(s, m); return () => { if (!w.ed25519VerifyStrict(pk, m, sig)) throw new Error("bad"); }; }],
  ["verify", "ed25519VerifyBatch 256 (per signature)", (w) => {
    const n = 256, pks = new Uint8Array(32 * n), sg = new Uint8Array(64 * n), ms = new Uint8Array(64 * n), lens = new Uint32Array(n).fill(64);
    for (let i = 0; i < n; i++) { const s = fill(32, 100 + i), m = fill(64, 1000 + i); pks.set(w.ed25519PublicKey(s), 32 * i); sg.set(w.ed25519Sign(s, m), 64 * i); ms.set(m, 64 * i); }
    return Object.assign(() => { if (!w.ed25519VerifyBatch(pks, sg, ms, lens)) throw new Error("bad"); }, { per: n });
  }],
  ["chain", "verifyChain 5k events (per event)", (w) => {
    const n = 5000, s = w.EventSigner.fromSeed(fill(32, 11)); const t = []; let prev = "0".repeat(64);
    for (let i = 1; i <= n; i++) { const j = s.signEvent(prev, "message", JSON.stringify({ message: `hello ${i}`, destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false }), NOW + i, i); t.push(j); prev = JSON.parse(j).event_id; }
    const text = `[${t.join(",")}]`;
    return Object.assign(() => { if (!w.verifyChain(text, NOW + n + 10, 0).valid) throw new Error("invalid"); }, { per: n });
  }],
  ["aead", "chacha20Poly1305Seal 64 KiB (MB/s)", (w) => { const k = fill(32, 12), nn = fill(12, 13), pt = fill(65536, 14); return Object.assign(() => w.chacha20Poly1305Seal(k, nn, pt), { per: 65536 / 1e6 }); }],
  ["aead", "chacha20Poly1305Open 64 KiB (MB/s)", (w) => { const k = fill(32, 12), nn = fill(12, 13), ct = w.chacha20Poly1305Seal(k, nn, fill(65536, 14)); return Object.assign(() => w.chacha20Poly1305Open(k, nn, ct), { per: 65536 / 1e6 }); }],
];

function run(op) {
  let n = 0; const t0 = performance.now(), end = t0 + RUN_MS;
  do { op(); n++; } while (performance.now() < end);
  return (n * (op.per || 1)) / ((performance.now() - t0) / 1000);
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString("en") : x.toFixed(1));

console.log(`A = ${dirA} (${A.wasmVariant()})\nB = ${dirB} (${B.wasmVariant()})\nrun ${RUN_MS} ms x ${PASSES} passes, interleaved; load before: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
console.log(`| operation | A /s | B /s | B/A (median of pairs) |\n|---|---:|---:|---:|`);
const cpu0 = process.cpuUsage();
for (const [group, name, setup] of cases) {
  if (ONLY && !ONLY.includes(group)) continue;
  if (group === "gate" && !(A.GateChain && B.GateChain)) { console.log(`| ${name} | (no gate API in ${A.GateChain ? "B" : "A"}) | | |`); continue; }
  const ops = [setup(A), setup(B)];
  run(ops[0]); run(ops[1]); // warm-up
  const r = [[], []];
  for (let p = 0; p < PASSES; p++) for (const k of p % 2 ? [1, 0] : [0, 1]) r[k].push(run(ops[k]));
  console.log(`| ${name} | ${fmt(median(r[0]))} | ${fmt(median(r[1]))} | ${median(r[1].map((b, i) => b / r[0][i])).toFixed(3)} |`);
}
const cpu = process.cpuUsage(cpu0);
console.log(`CPU user+sys ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s; load after: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
