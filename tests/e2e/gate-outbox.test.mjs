// Gate outbox: a gate post composed while the relay is down is sealed at once and queued
// (ciphertext only in IndexedDB), survives a reload, and is posted exactly once when the relay
// comes back (every retry sends the same sealed message; the relay deduplicates by nonce).
// Also: Bob gets the gate without a code (Alice is his contact).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, restartRelay, launchBrowser, openPostern, identityOf, addPosternContact,
  readStoreEntries, readRawStore, findLeaks, outputDir, randomCanary,
  openGate, showView, createGate,
} from './lib/harness.mjs';

const T = 45_000;
const inState = (text, state) => `.gate-message[data-state="${state}"]:has(.gate-message-body:has-text("${text}"))`;

test('gate post queued while the relay is down, posted exactly once when it is back', async (t) => {
  const out = outputDir('gate-outbox');
  let relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const recA = [];
  const alice = await openPostern(browser, relay.url, { records: recA, testHooks: true });
  const bob = await openPostern(browser, relay.url);
  await addPosternContact(alice.page, 'Bob', await identityOf(bob.page));
  await addPosternContact(bob.page, 'Alice', await identityOf(alice.page));
  await alice.page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });

  const gateId = await createGate(alice.page, 'Ops', ['Bob']);
  await bob.page.waitForSelector(`.gate-item[data-gate-id="${gateId}"]`, { timeout: T });
  await openGate(bob.page, gateId);
  await bob.page.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });

  await relay.stop();
  const canary = randomCanary('GATEOUTBOX');
  await alice.page.fill('#gate-compose', `offline post ${canary}`);
  await alice.page.click('#gate-send');
  const queued = alice.page.locator(inState(canary, 'queued'));
  await queued.waitFor({ timeout: T });
  const nonce = await queued.getAttribute('data-nonce');
  await alice.page.waitForFunction(() => /Queued/.test(document.querySelector('#gate-status')?.textContent || ''), null, { timeout: T });
  await alice.page.screenshot({ path: join(out, '01-queued.png'), fullPage: true });

  // IndexedDB: one queued post record (opened through the test hook), sealed at rest.
  const meta = await readStoreEntries(alice.page, 'meta');
  const box = meta.filter(([k]) => k.startsWith('gate_outbox'));
  assert.equal(box.length, 1, 'one record per queued post');
  assert.equal(box[0][0], `gate_outbox/${nonce}`);
  assert.equal(JSON.parse(box[0][1]).message.nonce, nonce);
  assert.ok(!meta.some(([, v]) => v.includes(canary)), 'the queued post holds no plaintext (sealed message only)');
  const raw = await readRawStore(alice.page, 'meta');
  assert.ok(raw.every((v) => typeof v === 'string' && v.startsWith('pv1.')), 'every meta record sealed at rest');
  assert.ok(!raw.some((v) => v.includes(canary) || v.includes(nonce)), 'no plaintext in the gate outbox at rest');

  // Survives a reload while offline.
  await alice.page.reload();
  await alice.page.waitForSelector(inState(canary, 'queued'), { timeout: T });

  // Relay back: posted by itself, shown once as sent.
  relay = await restartRelay(relay);
  await alice.page.waitForSelector(inState(canary, 'sent'), { timeout: 60_000 });
  await alice.page.waitForFunction((c) => [...document.querySelectorAll('.gate-message')].filter((e) => e.textContent.includes(c)).length === 1, canary, { timeout: T });
  await alice.page.screenshot({ path: join(out, '02-sent.png'), fullPage: true });
  const after = await readStoreEntries(alice.page, 'meta');
  assert.ok(!after.some(([k, v]) => k.startsWith('gate_outbox') || v.includes(nonce)), 'gate outbox emptied');

  // Bob reads it exactly once, also after further polls.
  await bob.page.waitForSelector(inState(canary, 'sent'), { timeout: T });
  for (let i = 0; i < 2; i++) {
    await bob.page.waitForResponse((r) => r.url().endsWith('/api/mesh/gate/messages'), { timeout: T });
  }
  assert.equal(await bob.page.locator('.gate-message', { hasText: canary }).count(), 1);

  // Every attempt carried the same sealed message (retries are idempotent on its nonce).
  const posts = recA.filter((r) => r.url.endsWith('/api/mesh/gate/message'));
  assert.ok(posts.length >= 1);
  assert.equal(new Set(posts.map((r) => r.body)).size, 1, 'one sealed message, retried unchanged');
  assert.ok(posts[0].body.includes(nonce));
  assert.deepEqual(findLeaks(recA, [canary]), [], 'no plaintext in any request');
});
