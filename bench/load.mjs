// App delivery on loopback (issue 16 "Delivery"): a benchmark, not a test — it prints figures,
// asserts none. The production build is served by a relay behind a counting proxy (Node, same
// machine), so every request that reaches the network is seen, the service worker's included.
// Reported, each over RUNS fresh browser profiles (median and range):
//   - cold load: empty profile, no service worker, `page.goto` → `#app-ready` rendered (the shell
//     is on screen) and → `data-ready="true"` (identity made, relay online: interactive);
//   - how often the page wasm and the worker module's wasm were downloaded on that first visit
//     (the service worker's precache should reuse the page's download: one each at most);
//   - offline reload: the relay stopped, the page reloaded → `#app-ready` rendered from the cache.
// Load average is printed with each figure. Each time is given twice: as the page measured it
// (navigation start → `#app-ready` attached, a MutationObserver set by an init script) and as
// seen from Node (`page.goto`, which also waits for the `load` event, then `waitForSelector`'s
// polling over CDP; the figure of the earlier runs, which on a loaded machine adds 100s of ms).
// bench/load-trace.mjs splits the page's time into download, compile, first render etc.
//
//   make ui && cargo build --release --locked -p postern-relay
//   POSTERN_BIN=target/release/postern POSTERN_WEB=dist RUNS=5 node bench/load.mjs
//
// Uses tests/e2e's harness (run `npm ci --prefix tests/e2e` once).
import os from 'node:os';
import { resolve } from 'node:path';
import { startRelay, launchBrowser } from '../tests/e2e/lib/harness.mjs';
import { countingProxy } from './proxy.mjs';

const RUNS = Number(process.env.RUNS || 5);
for (const v of ['POSTERN_BIN', 'POSTERN_WEB']) process.env[v] = resolve(process.env[v] || '');
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `${Math.round(median(xs))} ms (range ${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;


// When the page wasm's bytes had arrived (ms from navigation start): the rest of the time to the
// shell is compiling, instantiating and the first render.
const WASM_FETCHED = () => {
  const e = performance.getEntriesByType('resource').find((r) => /postern-app-[0-9a-f]+_bg\.wasm$/.test(r.name));
  return e ? e.responseEnd : NaN;
};

// In the page, before its scripts: when `#app-ready` is attached (ms from navigation start).
const MARK_READY = () => {
  new MutationObserver((_, obs) => {
    if (document.getElementById('app-ready')) {
      obs.disconnect();
      performance.mark('bench:app-ready');
    }
  }).observe(document, { subtree: true, childList: true });
};
const READY_AT = () => performance.getEntriesByName('bench:app-ready')[0]?.startTime ?? NaN;

const relay = await startRelay();
const proxy = await countingProxy(relay.url);
const browser = await launchBrowser();
const shellIn = [], offlineIn = [], shell = [], interactive = [], offline = [], pageWasm = [], workerWasm = [], fetched = [], offlineFetched = [];
try {
  for (let i = 0; i < RUNS; i++) {
    proxy.state.counts.clear();
    proxy.state.up = true;
    const context = await browser.newContext();
    await context.addInitScript(MARK_READY);
    const page = await context.newPage();
    const t0 = performance.now();
    await page.goto(proxy.url);
    await page.waitForSelector('#app-ready', { state: 'attached', timeout: 60_000 });
    shell.push(performance.now() - t0);
    shellIn.push(await page.evaluate(READY_AT));
    fetched.push(await page.evaluate(WASM_FETCHED));
    await page.waitForSelector('#app-ready[data-ready="true"]', { state: 'attached', timeout: 60_000 });
    interactive.push(performance.now() - t0);
    // The service worker controls the page once its precache is complete.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60_000 });
    const wasm = (re) => [...proxy.state.counts].filter(([p]) => re.test(p)).reduce((s, [, n]) => s + n, 0);
    pageWasm.push(wasm(/^\/postern-app-[0-9a-f]+_bg\.wasm$/));
    workerWasm.push(wasm(/^\/postern-worker(-[0-9a-f]+)?_bg\.wasm$/));
    proxy.state.up = false;
    const t1 = performance.now();
    await page.reload();
    await page.waitForSelector('#app-ready', { state: 'attached', timeout: 60_000 });
    offline.push(performance.now() - t1);
    offlineIn.push(await page.evaluate(READY_AT));
    offlineFetched.push(await page.evaluate(WASM_FETCHED));
    await context.close();
  }
} finally {
  await browser.close();
  proxy.server.close();
  await relay.stop();
}
console.log(`FIGURE load: cold load to the shell on screen, in the page: ${fmt(shellIn)}; offline reload: ${fmt(offlineIn)}   load ${load()}`);
console.log(`FIGURE load: cold load to the shell on screen: ${fmt(shell)}; to interactive: ${fmt(interactive)}   load ${load()}`);
console.log(`FIGURE load: first visit downloads of the page wasm: ${pageWasm.join(', ')}; of the worker wasm: ${workerWasm.join(', ')} (per run)`);
console.log(`FIGURE load: page wasm bytes arrived at (from navigation start): cold ${fmt(fetched)}; offline ${fmt(offlineFetched)}`);
console.log(`FIGURE load: offline reload (relay unreachable) to the shell on screen: ${fmt(offline)}   load ${load()}`);
