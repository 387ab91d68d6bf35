// Where the cold load and the offline reload spend their time (issue 16 "Delivery"): a
// benchmark, not a test — it prints figures, asserts none. Same set-up as bench/load.mjs (the
// relay serving the production build behind a pass-through proxy on loopback, a fresh browser
// profile per run), plus:
//   - `performance.mark`s set by an init script (the app is unchanged): the boot script's
//     `WebAssembly.instantiateStreaming`/`instantiate` call and its end, `TrunkApplicationStarted`
//     (wasm-bindgen's start function has run: the Yew app is mounted), `#app-ready` attached (first
//     render), the next frame after it (painted), the first `indexedDB.open`, service-worker
//     registration and the first `new Worker`;
//   - resource timing of index.html, the JS glue and the page wasm (request start → response end);
//   - one Chromium trace per phase (categories devtools.timeline, v8.wasm, loading) for the V8
//     wasm events: streaming compile start/end, instantiate, and whether compiled code came from
//     V8's wasm code cache (`v8.wasm.moduleCacheHit`) or was written to it (`v8.wasm.cachedModule`).
// PERSISTENT=1 uses an on-disk profile per run (what a user has; V8's code cache lives on disk)
// instead of Playwright's in-memory contexts.
//
//   POSTERN_BIN=target/release/postern POSTERN_WEB=dist RUNS=5 node bench/load-trace.mjs
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from '../tests/e2e/node_modules/playwright-core/index.mjs';
import { startRelay, launchBrowser, CHROMIUM, CHROMIUM_ARGS } from '../tests/e2e/lib/harness.mjs';
import { countingProxy } from './proxy.mjs';

const RUNS = Number(process.env.RUNS || 5);
const PERSISTENT = process.env.PERSISTENT === '1';
for (const v of ['POSTERN_BIN', 'POSTERN_WEB']) process.env[v] = resolve(process.env[v] || '');
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Runs in the page before any of its scripts.
const MARKS = () => {
  const M = (n) => { try { performance.mark('pst:' + n); } catch { /* duplicate-safe */ } };
  const once = new Set();
  const M1 = (n) => { if (!once.has(n)) { once.add(n); M(n); } };
  for (const fn of ['instantiateStreaming', 'instantiate', 'compileStreaming', 'compile']) {
    const orig = WebAssembly[fn];
    if (!orig) continue;
    WebAssembly[fn] = function (...a) {
      M1(`wasm.${fn}:call`);
      const p = orig.apply(this, a);
      p.then(() => M1(`wasm.${fn}:done`), () => M1(`wasm.${fn}:error`));
      return p;
    };
  }
  const open = IDBFactory.prototype.open;
  IDBFactory.prototype.open = function (...a) {
    M1('idb.open:call');
    const r = open.apply(this, a);
    r.addEventListener('success', () => M1('idb.open:done'));
    return r;
  };
  if (self.ServiceWorkerContainer) {
    const reg = ServiceWorkerContainer.prototype.register;
    ServiceWorkerContainer.prototype.register = function (...a) { M1('sw.register'); return reg.apply(this, a); };
  }
  const W = self.Worker;
  self.Worker = class extends W { constructor(...a) { M1('worker.new'); super(...a); } };
  addEventListener('TrunkApplicationStarted', () => M1('trunk.started'));
  document.addEventListener('DOMContentLoaded', () => M1('dom.content-loaded'));
  new MutationObserver((_, obs) => {
    if (document.getElementById('app-ready')) {
      obs.disconnect();
      M1('app-ready.attached');
      requestAnimationFrame(() => setTimeout(() => M1('app-ready.painted'), 0));
    }
  }).observe(document, { subtree: true, childList: true });
};

const COLLECT = () => {
  const out = {};
  for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith('pst:')) out[m.name.slice(4)] = m.startTime;
  const res = performance.getEntriesByType('resource');
  const nav = performance.getEntriesByType('navigation')[0];
  out['html.responseEnd'] = nav ? nav.responseEnd : NaN;
  const pick = (re, key) => {
    const e = res.find((r) => re.test(r.name));
    if (e) { out[`${key}.start`] = e.startTime; out[`${key}.responseEnd`] = e.responseEnd; out[`${key}.transfer`] = e.transferSize; }
  };
  pick(/postern-app-[0-9a-f]+\.js$/, 'glue');
  pick(/postern-app-[0-9a-f]+_bg\.wasm$/, 'wasm');
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  if (fcp) out['fcp'] = fcp.startTime;
  return out;
};

/** Summarise one Chromium trace: V8's wasm events, relative to navigationStart. */
function traceSummary(buf) {
  const events = JSON.parse(buf.toString()).traceEvents || [];
  const nav = events.filter((e) => e.name === 'navigationStart').map((e) => e.ts);
  const t0 = nav.length ? Math.max(...nav) : 0;
  const byName = new Map();
  for (const e of events) {
    if (!/wasm/i.test(e.name) || e.ts < t0) continue;
    const s = byName.get(e.name) || { n: 0, dur: 0, first: Infinity, lastEnd: 0 };
    s.n += 1;
    s.dur += (e.dur || 0) / 1000;
    s.first = Math.min(s.first, (e.ts - t0) / 1000);
    s.lastEnd = Math.max(s.lastEnd, (e.ts + (e.dur || 0) - t0) / 1000);
    byName.set(e.name, s);
  }
  return [...byName].sort((a, b) => a[1].first - b[1].first)
    .map(([n, s]) => `    ${n}: ×${s.n}, first at ${s.first.toFixed(0)} ms, last end ${s.lastEnd.toFixed(0)} ms, total ${s.dur.toFixed(1)} ms`).join('\n');
}

const CATS = ['devtools.timeline', 'v8.wasm', 'disabled-by-default-v8.wasm.detailed', 'loading', 'blink.user_timing'];

const relay = await startRelay();
const proxy = await countingProxy(relay.url);
const browser = PERSISTENT ? null : await launchBrowser();
const cold = [], offline = [];
const traces = {};
try {
  for (let i = 0; i < RUNS; i++) {
    proxy.state.up = true;
    let context, dir;
    if (PERSISTENT) {
      dir = mkdtempSync(join(os.tmpdir(), 'postern-trace-'));
      context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    } else {
      context = await browser.newContext();
    }
    await context.addInitScript(MARKS);
    const page = context.pages()[0] || await context.newPage();
    const b = context.browser() || browser;
    const trace = i === 0 && b;
    if (trace) await b.startTracing(page, { categories: CATS });
    await page.goto(proxy.url);
    await page.waitForSelector('#app-ready', { state: 'attached', timeout: 60_000 });
    await page.waitForFunction(() => performance.getEntriesByName('pst:app-ready.painted').length > 0, null, { timeout: 60_000 });
    cold.push(await page.evaluate(COLLECT));
    if (trace) traces.cold = traceSummary(await b.stopTracing());
    await page.waitForSelector('#app-ready[data-ready="true"]', { state: 'attached', timeout: 60_000 });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60_000 });
    proxy.state.up = false;
    if (trace) await b.startTracing(page, { categories: CATS });
    await page.reload();
    await page.waitForSelector('#app-ready', { state: 'attached', timeout: 60_000 });
    await page.waitForFunction(() => performance.getEntriesByName('pst:app-ready.painted').length > 0, null, { timeout: 60_000 });
    offline.push(await page.evaluate(COLLECT));
    if (trace) traces.offline = traceSummary(await b.stopTracing());
    await context.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
} finally {
  if (browser) await browser.close();
  proxy.server.close();
  await relay.stop();
}

const ORDER = ['html.responseEnd', 'dom.content-loaded', 'glue.start', 'glue.responseEnd', 'wasm.start', 'wasm.responseEnd',
  'wasm.instantiateStreaming:call', 'wasm.instantiate:call', 'wasm.instantiateStreaming:done', 'wasm.instantiate:done',
  'trunk.started', 'app-ready.attached', 'app-ready.painted', 'fcp', 'idb.open:call', 'idb.open:done', 'sw.register', 'worker.new'];
for (const [name, rows] of [['cold load', cold], ['offline reload', offline]]) {
  console.log(`FIGURE load-trace: ${name}, ms from navigation start, median of ${rows.length} (range)${PERSISTENT ? ', on-disk profiles' : ''}   load ${load()}`);
  const keys = [...new Set([...ORDER, ...rows.flatMap((r) => Object.keys(r))])].filter((k) => rows.some((r) => k in r));
  for (const k of keys) {
    const xs = rows.map((r) => r[k]).filter((x) => Number.isFinite(x));
    if (!xs.length) continue;
    console.log(`  ${k.padEnd(32)} ${String(Math.round(median(xs))).padStart(6)}  (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`);
  }
}
for (const [name, s] of Object.entries(traces)) console.log(`TRACE ${name} (run 1), V8 wasm events from navigationStart:\n${s}`);
