// App chain sync at scale (issue 16): a benchmark, not a test — it prints figures, asserts none.
// A relay is seeded with N signed events (`postern dev-seed-chain`, 16 authors); a fresh
// headless Chromium profile opens the app and syncs + verifies + stores the whole chain. Reported:
// from page open to "verified" (events/s end to end, the figure the target is about),
// the sync view's own round rate, the longest main-thread timer gap and long task (over the whole run,
// and apart: the app's start, and the sync from app ready to verified, with the tasks over 50 ms),
// and the same page reloaded (the verifier restored from its stored snapshot, or the stored copy
// replayed from IndexedDB). Load average is printed
// with each figure: on a shared machine read them with it.
//
//   make ui && cargo build --release --locked -p postern-relay
//   POSTERN_BIN=target/release/postern POSTERN_WEB=dist N=100000 node bench/app-sync.mjs
//
// PROFILE=<file.cpuprofile> also records a CPU profile of the page thread (Chrome DevTools
// Protocol `Profiler`) over the first sync, writes it (open it in DevTools' Performance panel)
// and prints the functions with the most self time. The worker's own time is `worker busy`.
//
// Uses tests/e2e's harness (run `npm ci --prefix tests/e2e` once).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRelay, launchBrowser, showView } from '../tests/e2e/lib/harness.mjs';

const N = Number(process.env.N || 100_000);
const TIMEOUT = Number(process.env.TIMEOUT_MS || 1_800_000);
for (const v of ['POSTERN_BIN', 'POSTERN_WEB']) process.env[v] = resolve(process.env[v] || '');

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const PROFILE = process.env.PROFILE || '';
// WORKER_PROFILE=<prefix> also records each dedicated worker's CPU profile over the first sync
// (auto-attached through the page's CDP session) to <prefix>-<n>.cpuprofile, with the top self times.
const WORKER_PROFILE = process.env.WORKER_PROFILE || '';
// TRACE=<file.json> also records a Chrome trace (`devtools.timeline`) of the first sync and prints,
// for each timer gap of the probe over 40 ms, the page thread's tasks inside it (name, wall and
// thread time: wall ≫ thread time is the thread descheduled by the OS, not work).
const TRACE = process.env.TRACE || '';
// RELOAD_PROFILE=<file.cpuprofile> records the page thread's CPU profile from the reload to
// verified again (the stored snapshot read, joined and restored) and prints its long runs.
const RELOAD_PROFILE = process.env.RELOAD_PROFILE || '';
const rate = (n, ms) => Math.round(n / (ms / 1000)).toLocaleString('en');

// The longest gap between two 10 ms timer callbacks and the longest task (Long Tasks API).
const GAP_PROBE = () => {
  window.__gaps = { max: 0, longestTask: 0, over50: 0 };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        window.__gaps.longestTask = Math.max(window.__gaps.longestTask, e.duration);
        window.__gaps.over50 += e.duration > 50 ? 1 : 0;
      }
    }).observe({ type: 'longtask', buffered: true });
  } catch { /* no Long Tasks API */ }
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    window.__gaps.max = Math.max(window.__gaps.max, now - last);
    if (now - last > 40) performance.mark('gap', { detail: now - last });
    last = now;
    setTimeout(tick, 10);
  };
  setTimeout(tick, 10);
};

// Self time per function (ms) of a CDP profile, the top 25, and the idle share.
function printProfile(profile, label = 'page thread') {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (dt[i + 1] ?? 0) / 1000;
    const f = byId.get(id).callFrame;
    const url = f.url ? f.url.split('/').pop() : '';
    const name = `${f.functionName || '(anonymous)'} ${url}`.trim();
    self.set(name, (self.get(name) || 0) + ms);
    total += ms;
  });
  console.log(`PROFILE ${label}: ${(total / 1000).toFixed(1)} s sampled, top self time:`);
  for (const [name, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`  ${ms.toFixed(0).padStart(7)} ms ${(100 * ms / total).toFixed(1).padStart(5)}%  ${name}`);
  }
}

// The page thread's long stretches of work in a CDP profile: runs of samples without an idle one
// (≈ tasks; back-to-back tasks merge), those ≥ `min` ms listed with the app functions on their
// stacks (inclusive time). Function names need a wasm build with its name section
// (`data-wasm-opt-params` with `-g`); a stripped build shows `wasm-function[N]`.
function printLongRuns(profile, min = 50) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const fn = (id) => byId.get(id).callFrame.functionName.replace(/::h[0-9a-f]{16}$/, '')
    .replace(/<impl [^<>]*(<[^<>]*>)?[^<>]*>::/g, '').replace(/<([\w:]+) as [^<>]*>::/g, '$1::')
    .replace(/(::\{\{closure\}\})+$/, '');
  const runs = [];
  let cur = null;
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i];
    if (fn(id) === '(idle)') { if (cur) runs.push(cur); cur = null; return; }
    cur ??= { start: t, end: t, stacks: [] };
    cur.end = t;
    cur.stacks.push([id, (profile.timeDeltas[i + 1] ?? 0) / 1000]);
  });
  if (cur) runs.push(cur);
  const long = runs.filter((r) => (r.end - r.start) / 1000 >= min);
  console.log(`PROFILE page thread: ${runs.length} runs of work, ${long.length} of ≥ ${min} ms:`);
  for (const r of long) {
    const incl = new Map();
    for (const [id, ms] of r.stacks) {
      const seen = new Set();
      for (let x = id; x; x = parent.get(x)) seen.add(fn(x));
      for (const n of seen) if (/postern_app::(?!task::)/.test(n)) incl.set(n, (incl.get(n) || 0) + ms);
    }
    const top = [...incl].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([n, ms]) => `${n} ${ms.toFixed(0)}`);
    console.log(`  at ${((r.start - profile.startTime) / 1e6).toFixed(2)} s: ${((r.end - r.start) / 1000).toFixed(0)} ms  ${top.join(' | ')}`);
  }
}

// The probe's gaps over 40 ms (its `performance.mark('gap')`) with the page thread's top-level
// tasks inside each: wall ms / thread ms and the first named event inside the task.
function printTraceGaps(trace) {
  const ev = trace.traceEvents || trace;
  const main = new Set(ev.filter((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const onMain = ev.filter((e) => main.has(`${e.pid}:${e.tid}`));
  const tasks = onMain.filter((e) => e.ph === 'X' && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask')).sort((a, b) => a.ts - b.ts);
  const inner = onMain.filter((e) => e.ph === 'X' && e.name !== 'RunTask' && e.name !== 'ThreadControllerImpl::RunTask').sort((a, b) => a.ts - b.ts);
  const marks = onMain.filter((e) => e.name === 'gap').sort((a, b) => a.ts - b.ts);
  const label = (t) => {
    const xs = inner.filter((e) => e.ts >= t.ts && e.ts < t.ts + t.dur).slice(0, 40);
    const names = [];
    for (const e of xs) {
      const d = e.args?.data || {};
      const n = e.name + (d.type ? `:${d.type}` : '') + (d.functionName ? `:${d.functionName}` : '') + (d.url ? `:${String(d.url).split('/').pop().slice(0, 30)}` : '');
      if (!names.includes(n)) names.push(n);
      if (names.length >= 4) break;
    }
    return names.join(' > ');
  };
  console.log(`TRACE: ${marks.length} timer gaps over 40 ms on the page thread`);
  const byGap = marks.map((m) => ({ m, gap: m.args?.data?.detail ?? JSON.parse(m.args?.data?.detail || 'null') })).sort((a, b) => (b.gap || 0) - (a.gap || 0)).slice(0, 12);
  for (const { m, gap } of byGap) {
    const g = Number(gap) || 0;
    const from = m.ts - g * 1000;
    const ts = tasks.filter((t) => t.ts + t.dur > from && t.ts < m.ts && t.dur > 1000);
    const busy = ts.reduce((a, t) => a + t.dur, 0) / 1000;
    const cpu = ts.reduce((a, t) => a + (t.tdur || 0), 0) / 1000;
    console.log(`  gap ${g.toFixed(0)} ms at ${((m.ts - tasks[0].ts) / 1e6).toFixed(2)} s: tasks > 1 ms ${busy.toFixed(0)} ms wall / ${cpu.toFixed(0)} ms thread`);
    for (const t of ts) console.log(`    ${(t.dur / 1000).toFixed(1).padStart(6)} / ${((t.tdur || 0) / 1000).toFixed(1).padStart(6)} ms  ${label(t)}`);
  }
}

const data = mkdtempSync(join(tmpdir(), 'postern-bench-app-sync-'));
let t = Date.now();
execFileSync(process.env.POSTERN_BIN, ['dev-seed-chain', '--data', data, '--events', String(N), '--authors', '16']);
console.log(`seeded ${N} events in ${((Date.now() - t) / 1000).toFixed(1)} s`);
const relay = await startRelay({
  dataDir: data,
  extraArgs: ['--rate-limit-per-min=0', '--read-rate-limit-per-min=0'],
});
const browser = await launchBrowser();
try {
  const context = await browser.newContext();
  await context.addInitScript(GAP_PROBE);
  const page = await context.newPage();
  const verified = '#sync-badge[data-state="verified"]';
  let cdp = null;
  if (PROFILE) {
    cdp = await context.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
    await cdp.send('Profiler.start');
  }
  // Workers are profiled through the page session's auto-attach (not flattened: Playwright's
  // CDPSession has no child sessions), messages wrapped in Target.sendMessageToTarget.
  const profiled = [];
  if (WORKER_PROFILE) {
    const ws = await context.newCDPSession(page);
    let nextId = 1;
    const pending = new Map();
    const toWorker = (sessionId, method, params = {}) => new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) });
    });
    ws.on('Target.receivedMessageFromTarget', ({ message }) => {
      const m = JSON.parse(message);
      if (m.id && pending.has(m.id)) { pending.get(m.id)(m.result); pending.delete(m.id); }
    });
    ws.on('Target.attachedToTarget', async ({ sessionId, targetInfo }) => {
      if (targetInfo.type !== 'worker') return;
      const w = { sessionId, url: targetInfo.url, toWorker };
      profiled.push(w);
      await toWorker(sessionId, 'Profiler.enable');
      await toWorker(sessionId, 'Profiler.setSamplingInterval', { interval: 500 });
      await toWorker(sessionId, 'Profiler.start');
      await toWorker(sessionId, 'Runtime.runIfWaitingForDebugger');
    });
    await ws.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: false });
  }
  let tracer = null;
  if (TRACE) {
    tracer = await context.newCDPSession(page);
    await tracer.send('Tracing.start', {
      transferMode: 'ReturnAsStream',
      traceConfig: { includedCategories: ['devtools.timeline', 'toplevel', 'blink.user_timing'] },
    });
  }
  const t0 = Date.now();
  await page.goto(relay.url);
  await page.waitForSelector('#app-ready[data-ready="true"]', { state: 'attached', timeout: 60_000 });
  const ready = Date.now() - t0;
  await showView(page, 'network');
  // The app's own start (first render, stores opened) is measured apart from the sync: the
  // probe is read and restarted here, once the app is ready and the sync view shown.
  const startGaps = await page.evaluate(() => {
    const g = { ...window.__gaps };
    Object.assign(window.__gaps, { max: 0, longestTask: 0, over50: 0 });
    return g;
  });
  // Polled every 250 ms: Playwright's default (every animation frame, its own selector engine)
  // cost the page thread ~15 s of a 100k sync in a profile.
  await page.waitForFunction(([sel, n]) => document.querySelector(sel)
    && document.querySelector('#sync-head')?.dataset.count === String(n), [verified, N], { timeout: TIMEOUT, polling: 250 });
  const wall = Date.now() - t0;
  if (cdp) {
    const { profile } = await cdp.send('Profiler.stop');
    writeFileSync(PROFILE, JSON.stringify(profile));
    printProfile(profile);
    printLongRuns(profile);
  }
  if (tracer) {
    const done = new Promise((r) => tracer.once('Tracing.tracingComplete', r));
    await tracer.send('Tracing.end');
    const { stream } = await done;
    const parts = [];
    for (;;) {
      const { data, eof, base64Encoded } = await tracer.send('IO.read', { handle: stream, size: 1 << 20 });
      parts.push(base64Encoded ? Buffer.from(data, 'base64').toString() : data);
      if (eof) break;
    }
    const text = parts.join('');
    writeFileSync(TRACE, text);
    printTraceGaps(JSON.parse(text));
  }
  for (const [i, w] of profiled.entries()) {
    const r = await w.toWorker(w.sessionId, 'Profiler.stop');
    if (!r || !r.profile) continue;
    writeFileSync(`${WORKER_PROFILE}-${i}.cpuprofile`, JSON.stringify(r.profile));
    printProfile(r.profile, `worker ${i} (${w.url.split('/').pop()})`);
  }
  const gaps = await page.evaluate(() => window.__gaps);
  // What the origin keeps on disk (IndexedDB and caches), as the browser counts it.
  const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage);
  console.log(`FIGURE app: stored after the sync: ${(usage / 1e6).toFixed(1)} MB (navigator.storage.estimate, ${N} events)`);
  const r = await page.$eval('#sync-rate', (e) => ({ ...e.dataset }));
  const workers = r.workers ? `${r.workers} workers, ` : '';
  const v = await page.$eval('#sync-verifier', (e) => ({ ...e.dataset }));
  console.log(`FIGURE app: page open to ${N} events verified and stored: ${(wall / 1000).toFixed(1)} s = ${rate(N, wall)} events/s `
    + `(app ready after ${ready} ms; sync view's own rate ${Number(r.lastRate || 0).toFixed(0)} events/s; verifier ${v.verifier}, ${workers}`
    + `worker busy ${v.workerBusyMs} ms)   load ${load()}`);
  console.log(`FIGURE app: longest main-thread timer gap ${Math.max(gaps.max, startGaps.max).toFixed(0)} ms, longest task ${Math.max(gaps.longestTask, startGaps.longestTask).toFixed(0)} ms   load ${load()}`);
  console.log(`FIGURE app: during the sync (app ready → verified): longest timer gap ${gaps.max.toFixed(0)} ms, longest task ${gaps.longestTask.toFixed(0)} ms, `
    + `${gaps.over50} tasks over 50 ms; app start: longest task ${startGaps.longestTask.toFixed(0)} ms   load ${load()}`);

  // What runs right after the sync (the channels board regroups on its next 4 s tick once the
  // round is over): the longest task over the next 6 s, with the probe restarted.
  await page.evaluate(() => Object.assign(window.__gaps, { max: 0, longestTask: 0, over50: 0 }));
  await new Promise((r) => setTimeout(r, 6_000));
  const after = await page.evaluate(() => window.__gaps);
  console.log(`FIGURE app: the 6 s after verified (the channels board's regroup): longest task ${after.longestTask.toFixed(0)} ms, `
    + `${after.over50} tasks over 50 ms   load ${load()}`);

  await page.evaluate(GAP_PROBE);
  let reloadCdp = null;
  if (RELOAD_PROFILE) {
    reloadCdp = await context.newCDPSession(page);
    await reloadCdp.send('Profiler.enable');
    await reloadCdp.send('Profiler.setSamplingInterval', { interval: 500 });
    await reloadCdp.send('Profiler.start');
  }
  const t1 = Date.now();
  await page.reload();
  await page.waitForSelector('#app-ready[data-ready="true"]', { state: 'attached', timeout: 60_000 });
  await page.waitForFunction((sel) => document.querySelector(sel), verified, { timeout: TIMEOUT, polling: 250 });
  const again = Date.now() - t1;
  if (reloadCdp) {
    const { profile } = await reloadCdp.send('Profiler.stop');
    writeFileSync(RELOAD_PROFILE, JSON.stringify(profile));
    printProfile(profile, 'page thread, reload');
    printLongRuns(profile);
  }
  const gaps2 = await page.evaluate(() => window.__gaps);
  // Resumed from the stored verifier snapshot (data-resumed-from) or replayed (events verified
  // by this page: data-verified-session); builds without them print "-".
  const p = await page.$eval('#sync-progress', (e) => ({ ...e.dataset }));
  console.log(`FIGURE app: reload to the stored ${N} events verified again: ${(again / 1000).toFixed(1)} s `
    + `(longest gap ${gaps2.max.toFixed(0)} ms, longest task ${gaps2.longestTask.toFixed(0)} ms; `
    + `resumed from ${p.resumedFrom || '-'}, verified this session ${p.verifiedSession ?? '-'})   load ${load()}`);
} finally {
  await browser.close();
  await relay.stop();
  rmSync(data, { recursive: true, force: true });
}
