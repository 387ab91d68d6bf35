// Infonet chain sync view: a relay seeded with a 10k-event signed chain (`postern
// dev-seed-chain`) is synced into IndexedDB, verified in a Web Worker running the lazily loaded
// second wasm binary `postern-worker` (signatures, links, Merkle root = the relay's), explored
// (filter by type and node, event detail) and resumed after a reload from the stored head; a relay with a tiny read rate limit
// makes the view show the 429 Retry-After reason and the next-sync time.
// Figures (printed, never asserted): sync+verify events/s and the longest main-thread gap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, launchBrowser, openPostern, showView } from './lib/harness.mjs';

const N = 10_000;

function seed(events) {
  const data = mkdtempSync(join(tmpdir(), 'postern-sync-e2e-'));
  const out = execFileSync(process.env.POSTERN_BIN, ['dev-seed-chain', '--data', data, '--events', String(events)], { encoding: 'utf8' });
  assert.match(out, new RegExp(`seeded ${events} events`));
  return data;
}

// Main-thread responsiveness probe: the longest gap between two 10 ms timer callbacks, and the
// longest task the browser reports (Long Tasks API) while syncing.
const GAP_PROBE = () => {
  window.__gaps = { max: 0, samples: 0, since: performance.now(), longestTask: 0 };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__gaps.longestTask = Math.max(window.__gaps.longestTask, e.duration);
    }).observe({ type: 'longtask' });
  } catch { /* no Long Tasks API */ }
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    const gap = now - last;
    last = now;
    window.__gaps.samples += 1;
    if (gap > window.__gaps.max) window.__gaps.max = gap;
    setTimeout(tick, 10);
  };
  setTimeout(tick, 10);
};

test('10k-event chain: synced, verified in a worker, Merkle root matches, explorer, resume', { timeout: 600_000 }, async (t) => {
  const relay = await startRelay({ dataDir: seed(N) });
  t.after(() => relay.stop());
  const relayMerkle = await (await fetch(relay.url + '/api/mesh/infonet/merkle')).json();
  assert.equal(relayMerkle.count, N);

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { context, page, errors } = await openPostern(browser, relay.url);
  await showView(page, 'network');
  const syncRequests = [];
  context.on('request', (r) => { if (r.url().includes('/api/mesh/infonet/sync')) syncRequests.push(r.url()); });

  // The verifier is the worker (the second wasm binary, postern-worker; the page has no fallback).
  await page.waitForSelector('#sync-verifier[data-verifier="worker"]', { timeout: 60_000 });
  await page.evaluate(GAP_PROBE);
  const t0 = Date.now();
  await page.waitForSelector('#sync-badge[data-state="verified"]', { timeout: 400_000 });
  const wallS = (Date.now() - t0) / 1000;
  const gaps = await page.evaluate(() => window.__gaps);

  const badge = await page.$eval('#sync-badge', (e) => ({ ...e.dataset, text: e.textContent }));
  assert.equal(badge.signatures, 'ok');
  assert.equal(badge.links, 'ok');
  assert.equal(badge.merkle, 'match');
  assert.ok(badge.text.includes(relayMerkle.merkle_root.slice(0, 16)), badge.text);
  const progress = await page.$eval('#sync-progress', (e) => ({ ...e.dataset, value: e.value, max: e.max }));
  assert.equal(progress.verified, String(N));
  assert.equal(progress.value, N);
  assert.equal(await page.$eval('#sync-head', (e) => e.dataset.count), String(N));
  assert.equal(await page.$eval('#sync-head', (e) => e.title), relayMerkle.head_hash);
  const verifier = await page.$eval('#sync-verifier', (e) => ({ ...e.dataset }));
  assert.equal(verifier.verifier, 'worker');
  // Reset + 21 pages (the last one short) + the Merkle root: every answer came from the worker.
  assert.ok(Number(verifier.workerReplies) >= 22, `worker answers: ${verifier.workerReplies}`);
  const rate = await page.$eval('#sync-rate', (e) => ({ ...e.dataset }));
  assert.equal(rate.lastEvents, String(N));
  // The worker files are the ones the service worker precaches.
  const pre = await (await fetch(relay.url + '/precache-manifest.json')).json();
  for (const f of ['/sync-worker.js', '/postern-worker.js', '/postern-worker_bg.wasm']) assert.ok(pre.files.includes(f), f);
  // The page's own wasm glue no longer exports the verifier (it lives in postern-worker only).
  const pageJs = pre.files.find((f) => /^\/postern-app-[0-9a-f]+\.js$/.test(f));
  const glue = await (await fetch(relay.url + pageJs)).text();
  assert.ok(!glue.includes('posternSyncWorkerHandle') && !glue.includes('posternWorkerOp'), 'verifier export in the page wasm');
  const workerGlue = await (await fetch(relay.url + '/postern-worker.js')).text();
  assert.ok(workerGlue.includes('posternSyncWorkerHandle') && workerGlue.includes('posternWorkerOp'));

  console.log(`FIGURE sync+verify 10k-event chain in the tab: ${Number(rate.lastRate).toFixed(0)} events/s `
    + `(round ${wallS.toFixed(1)} s wall incl. fetch + IndexedDB; worker busy ${verifier.workerBusyMs} ms)`);
  console.log(`FIGURE longest main-thread timer gap during sync+verify: ${gaps.max.toFixed(0)} ms over ${gaps.samples} samples; `
    + `longest main-thread task: ${gaps.longestTask.toFixed(0)} ms (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs)`);

  // Explorer: filter by type, then by node, open a detail.
  await page.selectOption('#sync-filter-type', 'vote');
  await page.waitForSelector('#sync-match-count[data-count="2500"]');
  const types = await page.$$eval('.sync-event', (els) => [...new Set(els.map((e) => e.dataset.type))]);
  assert.deepEqual(types, ['vote']);
  const node = await page.$eval('.sync-event', (e) => e.dataset.node);
  await page.fill('#sync-filter-node', node.slice(0, 20));
  await page.waitForSelector('#sync-match-count[data-count="625"]');
  const nodes = await page.$$eval('.sync-event', (els) => [...new Set(els.map((e) => e.dataset.node))]);
  assert.deepEqual(nodes, [node]);
  const first = await page.$eval('.sync-event', (e) => ({ ...e.dataset }));
  await page.click('.sync-event button');
  await page.waitForSelector(`#sync-event-detail[data-state="ok"][data-index="${first.index}"]`);
  const detail = await page.$eval('#sync-event-detail', (e) => ({ ...e.dataset }));
  assert.equal(detail.hash, 'match');
  assert.equal(detail.signature, 'valid');
  assert.equal(await page.textContent('#sync-event-detail [data-field="event_type"]'), 'vote');
  assert.equal(await page.textContent('#sync-event-detail [data-field="node_id"]'), node);
  assert.equal(await page.textContent('#sync-event-detail [data-field="event_id"]'), detail.eventId);

  // Reload: the stored chain is re-verified from IndexedDB and sync resumes at the stored head
  // (one page request, answered empty).
  syncRequests.length = 0;
  await page.reload();
  await page.waitForSelector('#sync-badge[data-state="verified"]', { timeout: 300_000 });
  assert.equal(await page.$eval('#sync-progress', (e) => e.dataset.verified), String(N));
  assert.equal(syncRequests.length, 1, syncRequests.join('\n'));
  assert.ok(syncRequests[0].includes(`after_hash=${relayMerkle.head_hash}`), syncRequests[0]);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a rate-limited relay: the view shows 429 with Retry-After and the next sync time', { timeout: 180_000 }, async (t) => {
  const relay = await startRelay({ dataDir: seed(1_200), extraArgs: ['--read-rate-limit-per-min', '2'] });
  t.after(() => relay.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { context, page } = await openPostern(browser, relay.url, { ready: false });
  await showView(page, 'network');
  await page.waitForSelector('#sync-backoff[data-retry-after]:not([data-retry-after=""])', { timeout: 120_000 });
  const backoff = await page.$eval('#sync-backoff', (e) => ({ ...e.dataset, text: e.textContent }));
  assert.match(backoff.text, /429/);
  assert.match(backoff.text, /Retry-After \d+ s/);
  const retryAfter = Number(backoff.retryAfter);
  assert.ok(retryAfter >= 1, `Retry-After ${retryAfter}`);
  assert.equal(await page.$eval('#sync-relay', (e) => e.dataset.state), 'rate-limited');
  const next = await page.$eval('#sync-next', (e) => ({ ...e.dataset, text: e.textContent }));
  // The next attempt waits at least the Retry-After (core's backoff: max(ladder, Retry-After)).
  assert.ok(Number(next.in) > 0, `next sync in ${next.in} s`);
  assert.match(next.text, /\(in \d+ s\)/);
  console.log(`rate limited: "${backoff.text}", next sync ${next.text}`);
  await context.close();
});
