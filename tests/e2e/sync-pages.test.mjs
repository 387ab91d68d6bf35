// The synced chain is stored one sealed IndexedDB record per page of consecutive events
// (`p` + 12-digit first index, DB v6), not one per event; a profile holding v5's per-event
// records (made here from a real synced chain by the test hook `legacyEvents`) is converted on
// the next load without re-downloading or re-verifying anything: the verifier resumes from its
// snapshot at the same height, and the stored events read back unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, launchBrowser, openPostern, showView, readStoreEntries, APP_READY } from './lib/harness.mjs';

const N = 1_234;

function seed(events) {
  const data = mkdtempSync(join(tmpdir(), 'postern-pages-e2e-'));
  const out = execFileSync(process.env.POSTERN_BIN, ['dev-seed-chain', '--data', data, '--events', String(events)], { encoding: 'utf8' });
  assert.match(out, new RegExp(`seeded ${events} events`));
  return data;
}

/** The raw keys of the `events` store, in key order. */
const rawKeys = (page) => page.evaluate(async () => {
  const db = await new Promise((res, rej) => { const r = indexedDB.open('postern'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  try {
    return await new Promise((res, rej) => {
      const r = db.transaction('events', 'readonly').objectStore('events').getAllKeys();
      r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
    });
  } finally { db.close(); }
});

async function verified(page) {
  await page.waitForSelector('#sync-badge[data-state="verified"]', { timeout: 300_000 });
  const badge = await page.$eval('#sync-badge', (e) => ({ ...e.dataset }));
  assert.equal(badge.signatures, 'ok');
  assert.equal(badge.links, 'ok');
  assert.equal(badge.merkle, 'match');
  return {
    progress: await page.$eval('#sync-progress', (e) => ({ ...e.dataset })),
    head: await page.$eval('#sync-head', (e) => e.title),
  };
}

const pad = (i) => String(i).padStart(12, '0');

test('the chain is stored one record per page; per-event (v5) records are converted without re-verifying', { timeout: 600_000 }, async (t) => {
  const relay = await startRelay({ dataDir: seed(N) });
  t.after(() => relay.stop());
  const relayMerkle = await (await fetch(relay.url + '/api/mesh/infonet/merkle')).json();
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { context, page, errors } = await openPostern(browser, relay.url, { testHooks: true });
  const syncRequests = [];
  context.on('request', (r) => { if (r.url().includes('/api/mesh/infonet/sync')) syncRequests.push(r.url()); });
  await showView(page, 'network');

  const first = await verified(page);
  assert.equal(first.progress.verified, String(N));
  assert.equal(first.head, relayMerkle.head_hash);
  // One record per relay page of 500 (and the verifier's snapshot: its head and one segment of
  // ids), none per event.
  const snapshotKeys = ['#chain_snapshot', '#chain_snapshot/ids/000000'];
  assert.deepEqual(await rawKeys(page), [...snapshotKeys, `p${pad(0)}`, `p${pad(500)}`, `p${pad(1000)}`]);
  // The test hook still lists one [event_key, json] pair per event.
  const rows = await readStoreEntries(page, 'events');
  assert.equal(rows.length, N + 1);
  assert.equal(rows[0][0], '#chain_snapshot');
  assert.deepEqual(rows.slice(1).map(([k]) => k), Array.from({ length: N }, (_, i) => pad(i)));
  assert.equal(JSON.parse(rows[N][1]).event_id, relayMerkle.head_hash);

  // A v5 profile: the same events as per-event records.
  assert.equal(await page.evaluate(() => window.__posternTest.legacyEvents()), N);
  const legacy = await rawKeys(page);
  assert.equal(legacy.length, N + 2);
  assert.deepEqual(legacy.slice(0, 4), [...snapshotKeys, pad(0), pad(1)]);

  // The next load converts them before reading: resumed from the snapshot at N (0 verified
  // again, one empty page asked for above the stored head), same head, same stored texts.
  syncRequests.length = 0;
  await page.reload();
  await page.waitForSelector(APP_READY, { state: 'attached', timeout: 30_000 });
  await showView(page, 'network');
  const resumed = await verified(page);
  assert.equal(resumed.progress.resumedFrom, String(N));
  assert.equal(resumed.progress.verifiedSession, '0');
  assert.equal(resumed.head, relayMerkle.head_hash);
  assert.equal(syncRequests.length, 1, syncRequests.join('\n'));
  assert.ok(syncRequests[0].includes(`after_hash=${relayMerkle.head_hash}`), syncRequests[0]);
  assert.deepEqual(await rawKeys(page), [...snapshotKeys, `p${pad(0)}`, `p${pad(500)}`, `p${pad(1000)}`]);
  await page.waitForFunction(() => window.__posternTest && window.__posternTest.readStore, null, { timeout: 30_000 });
  assert.deepEqual((await readStoreEntries(page, 'events')).slice(1), rows.slice(1));
  // The explorer reads events back from the converted pages.
  await page.waitForSelector(`#sync-match-count[data-count="${N}"]`, { timeout: 120_000 });
  await page.click('.sync-event button');
  await page.waitForSelector('#sync-event-detail[data-state="ok"][data-index="0"]');
  assert.deepEqual(errors, []);
  await context.close();
});
