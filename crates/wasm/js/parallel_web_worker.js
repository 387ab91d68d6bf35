// Module worker of postern_wasm_parallel.js: its own instance of the page's compiled wasm module
// (first message `{ init: WebAssembly.Module }`), then checks slices of a chain.
import init, { verifyChainCrypto, wasmVariant } from "./postern_wasm.js";
let ready = false;
self.onmessage = async (e) => {
  if (!ready) {
    try { await init({ module_or_path: e.data.init }); } catch (err) { self.postMessage({ initError: String(err.message || err) }); return; }
    ready = true;
    self.postMessage({ ready: true, variant: wasmVariant() });
    return;
  }
  const { id, json } = e.data;
  try { self.postMessage({ id, result: verifyChainCrypto(json) }); }
  catch (err) { self.postMessage({ id, error: { message: String(err.message || err), code: err.code } }); }
};
