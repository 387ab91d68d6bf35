// Bench worker: Ed25519 batch verification with its own postern-wasm instance.
// (Import maps do not apply inside workers: absolute URL.)
import init, { ed25519VerifyBatch } from "/pkg/postern_wasm.js";
await init();
self.onmessage = (e) => {
  const { pks, sg, msgs, lens, dur } = e.data;
  let sigs = 0; const t0 = performance.now(); let t = t0;
  try {
    while (t - t0 < dur) { if (!ed25519VerifyBatch(pks, sg, msgs, lens)) throw new Error("batch failed"); sigs += lens.length; t = performance.now(); }
    self.postMessage({ sigPerSec: sigs / ((t - t0) / 1000) });
  } catch (err) { self.postMessage({ error: String(err.message || err) }); }
};
self.postMessage({ ready: true });
