// verifyChainParallel for browsers (module workers, each with its own postern-wasm instance of
// the same build as the page: the compiled module is handed to each worker).
//
//   import init from "postern-wasm";
//   import { createChainVerifierPool, verifyChainParallel } from "postern-wasm/parallel";
//   await init();                          // or init({ variant: "scalar" }): workers follow
//   const pool = await createChainVerifierPool(navigator.hardwareConcurrency);
//   const report = await pool.verifyChain(chainJson, Date.now() / 1000, 0); // same as verifyChain
//   pool.terminate();
import init, * as api from "./postern_wasm.js";
import { ChainVerifierPool, splitJsonArray } from "./postern_wasm_parallel_core.js";

export { ChainVerifierPool, splitJsonArray };

const defaultWorkers = () => Math.max(1, (globalThis.navigator && navigator.hardwareConcurrency) || 2);

/** Start `workers` module workers and wait until each has instantiated the page's wasm module
 *  (the build `init()` chose). `pool.wasmVariants` lists what each worker runs. */
export async function createChainVerifierPool(workers = defaultWorkers()) {
  await init();
  const module = api.wasmModule();
  const url = new URL("./postern_wasm_parallel_worker.js", import.meta.url);
  const endpoints = await Promise.all(Array.from({ length: workers }, () => new Promise((resolve, reject) => {
    const w = new Worker(url, { type: "module" });
    let cb = null;
    w.onerror = (e) => reject(new Error("verifier worker failed to start: " + (e.message || e)));
    w.onmessage = (e) => {
      if (e.data && e.data.ready) { w.onerror = null; resolve({ variant: e.data.variant, post: (m) => w.postMessage(m), onMessage: (f) => { cb = f; }, terminate: () => w.terminate() }); }
      else if (e.data && e.data.initError) reject(new Error("verifier worker failed to start: " + e.data.initError));
      else if (cb) cb(e.data);
    };
    w.postMessage({ init: module });
  })));
  const pool = new ChainVerifierPool(endpoints, api);
  pool.wasmVariants = endpoints.map((e) => e.variant);
  return pool;
}

/** `verifyChain` with signature and event-id checks spread over `workers` module workers.
 *  Resolves to exactly what `verifyChain(eventsJson, nowSeconds, maxEventAgeSeconds)` returns. */
export async function verifyChainParallel(eventsJson, nowSeconds, maxEventAgeSeconds, { workers } = {}) {
  const pool = await createChainVerifierPool(workers);
  try { return await pool.verifyChain(eventsJson, nowSeconds, maxEventAgeSeconds); } finally { pool.terminate(); }
}
