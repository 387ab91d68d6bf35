// worker_threads worker of postern_wasm_parallel.mjs: its own wasm instance; checks slices of a chain.
import { parentPort } from "node:worker_threads";
import { createRequire } from "node:module";
const { verifyChainCrypto, wasmVariant } = createRequire(import.meta.url)("./postern_wasm.js");
parentPort.on("message", ({ id, json }) => {
  try { parentPort.postMessage({ id, result: verifyChainCrypto(json) }); }
  catch (err) { parentPort.postMessage({ id, error: { message: String(err.message || err), code: err.code } }); }
});
parentPort.postMessage({ ready: true, variant: wasmVariant() });
