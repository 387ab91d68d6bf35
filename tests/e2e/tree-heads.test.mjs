// Signed tree heads in the browser (issue 13): relay A signs heads over its chain; the browser
// syncs, verifies the head against the ids it verified itself and pins it (IndexedDB, per relay
// key). Then relay B comes up on the same address with the SAME tree-head key file but another
// chain (a relay that rewrote history): the browser's next sync must raise the alarm and keep
// the evidence (both signed heads) across a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, launchBrowser, openPostern, listenAddress, readStoreEntries, showView } from './lib/harness.mjs';

function seed(events, authors) {
  const data = mkdtempSync(join(tmpdir(), 'postern-heads-e2e-'));
  const out = execFileSync(process.env.POSTERN_BIN,
    ['dev-seed-chain', '--data', data, '--events', String(events), '--authors', String(authors)], { encoding: 'utf8' });
  assert.match(out, new RegExp(`seeded ${events} events`));
  return data;
}

const FAST = ['--settle-secs=0', '--tree-head-interval-secs=1'];

/** Wait (polling the relay, not sleeping blindly) until it serves a signed head of `size`. */
async function signedHead(url, size) {
  for (;;) {
    const r = await (await fetch(url + '/api/mesh/infonet/tree-head')).json();
    if (r.tree_head && r.tree_head.size === size) return r.tree_head;
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Press "Sync now" until `selector` shows up (a round may start before the relay signed). */
async function syncUntil(page, selector, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await page.$(selector)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${selector}`);
    const button = await page.$('#sync-now:not([disabled])');
    if (button) await button.click();
    await page.waitForSelector(selector, { timeout: 3_000 }).catch(() => {});
  }
}

test('a relay that rewrites signed history is caught by the browser; evidence kept', { timeout: 300_000 }, async (t) => {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'postern-heads-key-')), 'tree-head.key');
  const relayA = await startRelay({ dataDir: seed(20, 4), extraArgs: [...FAST, '--tree-head-key-file', keyFile] });
  t.after(() => relayA.stop());
  const headA = await signedHead(relayA.url, 20);

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page } = await openPostern(browser, relayA.url, { testHooks: true });
  await showView(page, 'network');
  await syncUntil(page, '#sync-signed-head[data-state="verified"][data-size="20"]');
  const line = await page.$eval('#sync-signed-head', (e) => e.textContent);
  assert.match(line, /Signed head: size 20, verified/);
  assert.equal(await page.$('#sync-head-alarm'), null);

  // The pin is kept per relay key in IndexedDB (sealed like every record).
  const meta = await readStoreEntries(page, 'meta');
  const pinned = meta.find(([k]) => k === `tree_head_pin:${headA.relay_key}`);
  assert.ok(pinned, 'pin stored under the relay key');
  assert.deepEqual(JSON.parse(pinned[1]).pin, headA);

  // Relay B: same address, same tree-head key, another history.
  const listen = listenAddress(relayA.url);
  await relayA.stop();
  const relayB = await startRelay({ dataDir: seed(30, 3), listen, extraArgs: [...FAST, '--tree-head-key-file', keyFile] });
  t.after(() => relayB.stop());
  const headB = await signedHead(relayB.url, 30);
  assert.equal(headB.relay_key, headA.relay_key, 'same tree-head key');

  await syncUntil(page, '#sync-head-alarm[role="alert"]');
  const alarm = await page.$eval('#sync-head-alarm', (e) => ({ ...e.dataset, text: e.textContent }));
  assert.match(alarm.text, /signed history that contradicts what it showed before/);
  assert.match(alarm.text, /Evidence kept/);
  assert.equal(alarm.kind, 'inconsistent');
  assert.equal(alarm.evidence, '1');
  assert.equal(await page.$eval('#sync-signed-head', (e) => e.dataset.state), 'misbehaviour');

  // The evidence survives a reload.
  await page.reload();
  await syncUntil(page, '#sync-head-alarm[role="alert"]');
  assert.equal(await page.$eval('#sync-head-alarm', (e) => e.dataset.evidence), '1');
});
