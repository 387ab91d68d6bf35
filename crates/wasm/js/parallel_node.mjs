// verifyChainParallel for Node.js (worker_threads, each with its own postern-wasm instance of
// the same build as the caller: POSTERN_WASM_VARIANT is set to the caller's wasmVariant()).
//
//   import { createChainVerifierPool, verifyChainParallel } from "postern-wasm/parallel.mjs";
//   const pool = await createChainVerifierPool(os.availableParallelism());
//   const report = await pool.verifyChain(chainJson, Date.now() / 1000, 0); // same as verifyChain
//   pool.terminate();
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import os from "node:os";
import { ChainVerifierPool, splitJsonArray } from "./postern_wasm_parallel_core.mjs";

const api = createRequire(import.meta.url)("./postern_wasm.js");
export { ChainVerifierPool, splitJsonArray };

export async function createChainVerifierPool(workers = Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length)) {
  const url = new URL("./postern_wasm_parallel_worker.mjs", import.meta.url);
  const endpoints = await Promise.all(Array.from({ length: workers }, () => new Promise((resolve, reject) => {
    const w = new Worker(url, { env: { ...process.env, POSTERN_WASM_VARIANT: api.wasmVariant() } });
    let cb = null;
    w.once("error", reject);
    w.on("message", (m) => {
      if (m && m.ready) { w.off("error", reject); resolve({ variant: m.variant, post: (x) => w.postMessage(x), onMessage: (f) => { cb = f; }, terminate: () => w.terminate() }); }
      else if (cb) cb(m);
    });
  })));
  const pool = new ChainVerifierPool(endpoints, api);
  pool.wasmVariants = endpoints.map((e) => e.variant);
  return pool;
}

export async function verifyChainParallel(eventsJson, nowSeconds, maxEventAgeSeconds, { workers } = {}) {
  const pool = await createChainVerifierPool(workers);
  try { return await pool.verifyChain(eventsJson, nowSeconds, maxEventAgeSeconds); } finally { await pool.terminate(); }
}
