// Chain sync resumed after a reload WITHOUT re-verifying what is stored: the worker's verifier
// state (core's ChainState snapshot + the ids it covers) is stored sealed beside the chain;
// on a reload the worker restores it and only events above it are verified
// (#sync-progress data-resumed-from / data-verified-session). A damaged snapshot record is
// refused with a console warning and the stored chain is replayed in full to the same head;
// the next reload resumes from the snapshot that replay stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, launchBrowser, openPostern, showView, APP_READY } from './lib/harness.mjs';

const N = 3_000;
const SNAPSHOT_KEY = '#chain_snapshot';

function seed(events) {
  const data = mkdtempSync(join(tmpdir(), 'postern-resume-e2e-'));
  const out = execFileSync(process.env.POSTERN_BIN, ['dev-seed-chain', '--data', data, '--events', String(events)], { encoding: 'utf8' });
  assert.match(out, new RegExp(`seeded ${events} events`));
  return data;
}

const progress = (page) => page.$eval('#sync-progress', (e) => ({ ...e.dataset }));

async function verified(page) {
  await page.waitForSelector('#sync-badge[data-state="verified"]', { timeout: 300_000 });
  const badge = await page.$eval('#sync-badge', (e) => ({ ...e.dataset }));
  assert.equal(badge.signatures, 'ok');
  assert.equal(badge.links, 'ok');
  assert.equal(badge.merkle, 'match');
  return { progress: await progress(page), head: await page.$eval('#sync-head', (e) => e.title) };
}

/** Change one byte in the middle of the stored (sealed) snapshot record's head. */
async function damageSnapshot(page) {
  return page.evaluate(async (key) => {
    const db = await new Promise((res, rej) => { const r = indexedDB.open('postern'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    try {
      const st = () => db.transaction('events', 'readwrite').objectStore('events');
      const v = await new Promise((res, rej) => { const r = st().get(key); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      // Sealed bytes (this build) or a sealed text (older builds): one byte or character changed.
      let bad;
      if (v instanceof Uint8Array) {
        bad = v.slice();
        bad[Math.floor(bad.length / 2)] ^= 1;
      } else if (typeof v === 'string') {
        const i = Math.floor(v.length / 2);
        bad = v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1);
      } else {
        return false;
      }
      await new Promise((res, rej) => { const r = st().put(bad, key); r.onsuccess = () => res(); r.onerror = () => rej(r.error); });
      return true;
    } finally { db.close(); }
  }, SNAPSHOT_KEY);
}

test('a reload resumes from the stored snapshot; a damaged one falls back to a full replay', { timeout: 900_000 }, async (t) => {
  const relay = await startRelay({ dataDir: seed(N) });
  t.after(() => relay.stop());
  const relayMerkle = await (await fetch(relay.url + '/api/mesh/infonet/merkle')).json();
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { context, page, errors } = await openPostern(browser, relay.url);
  const warnings = [];
  page.on('console', (m) => { if (m.type() === 'warning' && m.text().includes('snapshot')) warnings.push(m.text()); });
  const syncRequests = [];
  context.on('request', (r) => { if (r.url().includes('/api/mesh/infonet/sync')) syncRequests.push(r.url()); });
  await showView(page, 'network');

  // First sync: every event verified by this page.
  const first = await verified(page);
  assert.equal(first.progress.verified, String(N));
  assert.equal(first.progress.verifiedSession, String(N));
  assert.equal(first.progress.resumedFrom, '');
  assert.equal(first.head, relayMerkle.head_hash);

  // Reload: restored at the stored height, nothing re-verified, one (empty) page asked for
  // above the stored head, the same verified head and Merkle root; the explorer reads the
  // stored rows back.
  syncRequests.length = 0;
  let t0 = Date.now();
  await page.reload();
  await page.waitForSelector(APP_READY, { state: 'attached', timeout: 30_000 });
  await showView(page, 'network');
  const resumed = await verified(page);
  const resumeS = (Date.now() - t0) / 1000;
  assert.equal(resumed.progress.resumedFrom, String(N));
  assert.equal(resumed.progress.verifiedSession, '0');
  assert.equal(resumed.progress.verified, String(N));
  assert.equal(resumed.head, relayMerkle.head_hash);
  assert.equal(syncRequests.length, 1, syncRequests.join('\n'));
  assert.ok(syncRequests[0].includes(`after_hash=${relayMerkle.head_hash}`), syncRequests[0]);
  await page.waitForSelector(`#sync-match-count[data-count="${N}"]`, { timeout: 120_000 });
  await page.click('.sync-event button');
  await page.waitForSelector('#sync-event-detail[data-state="ok"][data-index="0"]');
  assert.deepEqual(warnings, []);

  // A damaged snapshot: refused (WARN), the stored chain replayed in full to the same head.
  assert.equal(await damageSnapshot(page), true);
  t0 = Date.now();
  await page.reload();
  await page.waitForSelector(APP_READY, { state: 'attached', timeout: 30_000 });
  await showView(page, 'network');
  const replayed = await verified(page);
  const replayS = (Date.now() - t0) / 1000;
  assert.equal(replayed.progress.resumedFrom, '');
  assert.equal(replayed.progress.verifiedSession, String(N));
  assert.equal(replayed.progress.verified, String(N));
  assert.equal(replayed.head, relayMerkle.head_hash);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /snapshot was not used/);
  assert.equal(await page.$eval('#sync-head', (e) => e.dataset.count), String(N));

  // That replay stored a fresh snapshot: the next reload resumes again.
  await page.reload();
  await page.waitForSelector(APP_READY, { state: 'attached', timeout: 30_000 });
  await showView(page, 'network');
  const again = await verified(page);
  assert.equal(again.progress.resumedFrom, String(N));
  assert.equal(again.progress.verifiedSession, '0');
  assert.equal(again.head, relayMerkle.head_hash);
  assert.deepEqual(errors, []);
  console.log(`FIGURE ${N}-event chain, reload → verified: resumed from the snapshot ${resumeS.toFixed(1)} s, `
    + `damaged snapshot → full replay ${replayS.toFixed(1)} s`);
  await context.close();
});
