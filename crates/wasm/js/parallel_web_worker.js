// Module worker of postern_wasm_parallel.js: its own wasm instance; checks slices of a chain.
import init, { verifyChainCrypto } from "./postern_wasm.js";
await init();
self.onmessage = (e) => {
  const { id, json } = e.data;
  try { self.postMessage({ id, result: verifyChainCrypto(json) }); }
  catch (err) { self.postMessage({ id, error: { message: String(err.message || err), code: err.code } }); }
};
self.postMessage({ ready: true });
