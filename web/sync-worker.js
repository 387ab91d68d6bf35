/* Postern chain verifier: a module Web Worker that runs the app's OWN wasm module (no second
 * binary). The page sends {init: {js, wasm}} first — the hashed URLs of the Trunk-built
 * wasm-bindgen JS and wasm — then JSON requests; each is answered, in order, with the JSON
 * string returned by the exported `posternSyncWorkerHandle` (crates/app/src/sync/worker.rs).
 * The app's `main` sees no `window` here and mounts nothing.
 */
let ready = null;

self.onmessage = (event) => {
  const data = event.data;
  if (data && typeof data === 'object' && data.init) {
    ready = (async () => {
      const mod = await import(data.init.js);
      await mod.default({ module_or_path: data.init.wasm });
      self.postMessage(JSON.stringify({ ready: true }));
      return mod.posternSyncWorkerHandle;
    })();
    ready.catch((err) => self.postMessage(JSON.stringify({ fatal: String(err) })));
    return;
  }
  if (!ready) {
    self.postMessage(JSON.stringify({ fatal: 'request before init' }));
    return;
  }
  // Chain on `ready` so requests are answered in the order they came.
  ready = ready.then((handle) => {
    try {
      self.postMessage(handle(String(data)));
    } catch (err) {
      // A panic poisons the module: the page falls back to verifying on its own thread.
      self.postMessage(JSON.stringify({ fatal: String(err) }));
      throw err;
    }
    return handle;
  });
};
