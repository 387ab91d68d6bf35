/* Postern background worker: a module Web Worker that runs the lazily loaded second wasm
 * binary, `postern-worker` (crates/app/src/worker_main.rs: core's chain verifier, tree-head
 * proofs, the verifier snapshot, Argon2id, backup files and the QR decoder; the page's own
 * wasm links none of that). A sync may run two of these workers: the stateful verifier and a
 * stateless one checking half of a page's signatures. The page sends
 * {init: {js, wasm}} first — the URLs of the module's wasm-bindgen JS and wasm — then either
 *  - JSON strings (chain sync): each answered, in order, with the string returned by
 *    `posternSyncWorkerHandle` (its JSON, then after a newline maybe a raw trailer: a page's
 *    texts or a snapshot record, crates/app/src/model/chain/wire.rs; crates/app/src/sync/worker.rs
 *    is the page side), or
 *  - {req: "<JSON>", body: ArrayBuffer} (a chain sync request with a `/sync` page's bytes,
 *    transferred): answered likewise by `posternSyncWorkerPage`, or
 *  - {op: "<JSON>"} (one-shot operations, crates/app/src/platform/worker.rs): answered with
 *    the JSON string returned by `posternWorkerOp`.
 * It answers {"ready":true} once the module is instantiated, {"fatal":…} when it cannot be.
 */
let ready = null;

self.onmessage = (event) => {
  const data = event.data;
  if (data && typeof data === 'object' && data.init) {
    ready = (async () => {
      const mod = await import(data.init.js);
      await mod.default({ module_or_path: data.init.wasm });
      self.postMessage(JSON.stringify({ ready: true }));
      return mod;
    })();
    ready.catch((err) => self.postMessage(JSON.stringify({ fatal: String(err) })));
    return;
  }
  if (!ready) {
    self.postMessage(JSON.stringify({ fatal: 'request before init' }));
    return;
  }
  // Chain on `ready` so requests are answered in the order they came.
  ready = ready.then((mod) => {
    try {
      if (data && typeof data === 'object' && typeof data.op === 'string') {
        self.postMessage(mod.posternWorkerOp(data.op));
      } else if (data && typeof data === 'object' && typeof data.req === 'string') {
        self.postMessage(mod.posternSyncWorkerPage(data.req, new Uint8Array(data.body)));
      } else {
        self.postMessage(mod.posternSyncWorkerHandle(String(data)));
      }
    } catch (err) {
      // A panic poisons the module: the page drops this worker (and may start a new one).
      self.postMessage(JSON.stringify({ fatal: String(err) }));
      throw err;
    }
    return mod;
  });
};
