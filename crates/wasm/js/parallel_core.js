// Shared logic of verifyChainParallel (web: postern_wasm_parallel.js, Node: postern_wasm_parallel.mjs).
// The chain's JSON text is cut into slices of whole events; workers (each with its own wasm
// instance) check signatures — Ed25519 in batches — and event ids with `verifyChainCrypto`,
// while the calling thread runs every sequential rule (links, sequences, schema, bindings, …)
// with `verifyChainStructure`. Both halves are postern-core code. If either half finds a
// problem, the chain is re-verified with the single-threaded `verifyChain`, so an invalid chain
// reports exactly the same first failure (index, reason) as `verifyChain`.

// Largest part handed to core in one piece: 16 Mi UTF-16 units ≤ 48 MiB of UTF-8.
const PART_CHARS = 16 * 1024 * 1024;

/** Byte offsets [start, end) of the top-level elements of a JSON array text, or null if `text`
 *  does not look like one (the caller then falls back to `verifyChain`, which reports why). */
export function splitJsonArray(text) {
  const n = text.length;
  let i = 0;
  const ws = (c) => c === 32 || c === 10 || c === 13 || c === 9;
  while (i < n && ws(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 91 /* [ */) return null;
  i++;
  const starts = [], ends = [];
  let depth = 0, start = -1, inStr = false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inStr = false;
      continue;
    }
    if (c === 34) { inStr = true; if (start < 0) start = i; continue; }
    if (ws(c)) continue;
    if (depth === 0 && (c === 44 /* , */ || c === 93 /* ] */)) {
      if (start >= 0) { starts.push(start); ends.push(lastNonWs(text, start, i)); start = -1; }
      else if (c === 44 || starts.length) return null; // empty element
      if (c === 93) { i++; break; }
      continue;
    }
    if (start < 0) start = i;
    if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) { depth--; if (depth < 0) return null; }
  }
  for (; i < n; i++) if (!ws(text.charCodeAt(i))) return null;
  if (depth !== 0 || inStr) return null;
  return { starts, ends };
}
function lastNonWs(text, from, to) {
  let e = to;
  while (e > from) { const c = text.charCodeAt(e - 1); if (c === 32 || c === 10 || c === 13 || c === 9) e--; else break; }
  return e;
}

/** A pool of verification workers. `endpoints` are objects with `post(msg)`, `onMessage(cb)`,
 *  `terminate()`; `api` is the calling thread's postern-wasm module. */
export class ChainVerifierPool {
  constructor(endpoints, api) {
    this.api = api;
    this.workers = endpoints;
    this.seq = 0;
    this.pending = new Map();
    for (const w of endpoints) w.onMessage((m) => { const p = this.pending.get(m.id); if (p) { this.pending.delete(m.id); p(m); } });
  }
  get size() { return this.workers.length; }
  call(w, json) {
    const id = ++this.seq;
    return new Promise((resolve) => { this.pending.set(id, resolve); w.post({ id, json }); });
  }
  /** Same arguments and result as `verifyChain`. `chunk`: events per worker task. */
  async verifyChain(eventsJson, nowSeconds, maxEventAgeSeconds, { chunk = 2048 } = {}) {
    const api = this.api;
    const big = eventsJson.length > PART_CHARS;
    const spans = this.workers.length || big ? splitJsonArray(eventsJson) : null;
    const n = spans ? spans.starts.length : 0;
    // Chains whose text could exceed core's 64 MiB JSON input limit go to core in parts.
    let parts = null;
    if (spans && big) {
      parts = [];
      for (let a = 0; a < n;) {
        let b = a + 1;
        while (b < n && spans.ends[b] - spans.starts[a] <= PART_CHARS) b++;
        parts.push("[" + eventsJson.slice(spans.starts[a], spans.ends[b - 1]) + "]");
        a = b;
      }
    }
    const serial = () => (parts ? api.verifyChainParts(parts, nowSeconds, maxEventAgeSeconds) : api.verifyChain(eventsJson, nowSeconds, maxEventAgeSeconds));
    if (!spans || n === 0 || !this.workers.length) return serial();
    const tasks = [];
    for (let a = 0; a < n; a += chunk) tasks.push([a, Math.min(n, a + chunk)]);
    let next = 0, bad = false, failed = null;
    const runWorker = async (w) => {
      while (next < tasks.length && !bad) {
        const [a, b] = tasks[next++];
        const m = await this.call(w, "[" + eventsJson.slice(spans.starts[a], spans.ends[b - 1]) + "]");
        if (m.error) { failed = m.error; bad = true; }
        else if (m.result) bad = true; // a bad signature or event id in [a, b)
      }
    };
    const running = Promise.all(this.workers.map(runWorker));
    // The sequential half runs here while the workers check signatures.
    let structure;
    try {
      structure = parts ? api.verifyChainStructureParts(parts, nowSeconds, maxEventAgeSeconds)
                        : api.verifyChainStructure(eventsJson, nowSeconds, maxEventAgeSeconds);
    }
    catch (e) { await running; throw e; }
    await running;
    if (failed) { const e = new Error(failed.message); e.code = failed.code; throw e; }
    if (bad || !structure.valid) return serial();
    return structure;
  }
  terminate() { const ws = this.workers; this.workers = []; return Promise.all(ws.map((w) => w.terminate())); }
}
