// Outbox: a message composed while the relay is down is sealed and queued in IndexedDB (no
// plaintext in the outbox), survives a reload, and is delivered exactly once when the relay
// comes back on the same port and data directory. A refusal (recipient unknown) keeps it queued
// with the error visible until a retry succeeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, restartRelay, launchBrowser, openPostern, identityOf, addPosternContact, compose,
  outgoing, incoming, pollTimes, readRawStore, findLeaks, outputDir, randomCanary,
} from './lib/harness.mjs';

test('queued while the relay is down, delivered exactly once when it is back', async (t) => {
  const out = outputDir('outbox');
  let relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const records = [];
  const alice = await openPostern(browser, relay.url, { records });
  const bob = await openPostern(browser, relay.url);
  await addPosternContact(alice.page, 'Bob', await identityOf(bob.page));
  await addPosternContact(bob.page, 'Alice', await identityOf(alice.page));
  // The shell must be cached before going offline (the reload below needs it).
  await alice.page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });

  await relay.stop();
  const canary = randomCanary('OUTBOX');
  await compose(alice.page, 'Bob', `while offline ${canary}`);
  const queued = alice.page.locator(outgoing(canary, 'queued'));
  await queued.waitFor({ timeout: 30_000 });
  assert.match(await queued.locator('.delivery').textContent(), /^queued$/);
  await alice.page.waitForFunction(() => /queued/.test(document.querySelector('#send-status')?.textContent || ''), null, { timeout: 30_000 });
  assert.doesNotMatch(await alice.page.textContent('#send-status'), /sent/i);
  await alice.page.waitForSelector('#relay-status[data-state="offline"]');
  await alice.page.screenshot({ path: join(out, '01-queued.png'), fullPage: true });

  // IndexedDB: one outbox entry holding the sealed envelope only.
  const box = await readRawStore(alice.page, 'outbox');
  assert.equal(box.length, 1);
  assert.ok(!box.some((v) => JSON.stringify(v).includes(canary)), 'no plaintext in the outbox');
  const msgId = await queued.getAttribute('data-msg-id');
  assert.ok(msgId && box[0].startsWith('pv1.'), 'the outbox entry is sealed under the store key (keys at rest)');

  // Survives a reload while offline (shell from the service worker cache).
  await alice.page.reload();
  await alice.page.waitForSelector('#relay-status[data-state="offline"]', { timeout: 30_000 });
  await alice.page.waitForSelector(outgoing(canary, 'queued'));

  // Relay back on the same port and data directory: the queued message goes out by itself.
  relay = await restartRelay(relay);
  await alice.page.waitForSelector(outgoing(canary, 'sent'), { timeout: 60_000 });
  // (Bob's tab polls by itself, so it may already read as delivered.)
  assert.match(await alice.page.locator(outgoing(canary, 'sent')).locator('.delivery').textContent(), /^(sent|✓✓ delivered)$/);
  assert.deepEqual(await readRawStore(alice.page, 'outbox'), []);
  await alice.page.screenshot({ path: join(out, '02-sent.png'), fullPage: true });

  await bob.page.click('#check-now');
  await bob.page.waitForSelector(incoming(canary), { timeout: 30_000 });
  // A retry of the same msg_id is answered as a duplicate and never shows twice.
  await alice.page.click('#check-now');
  await pollTimes(bob.page, 2);
  assert.equal(await bob.page.locator('.message').filter({ hasText: canary }).count(), 1);
  assert.equal(await alice.page.locator('.message').filter({ hasText: canary }).count(), 1);
  await bob.page.screenshot({ path: join(out, '03-bob-once.png'), fullPage: true });

  // Bob's tab stored and acked it: Alice's leader tab learns so from the relay's status
  // endpoint, shows it as delivered (still a sent message) and keeps that across a reload.
  const delivered = alice.page.locator(outgoing(canary, 'delivered'));
  await delivered.waitFor({ timeout: 90_000 });
  assert.equal(await delivered.getAttribute('data-state'), 'sent');
  assert.match(await delivered.locator('.delivery').textContent(), /^✓✓ delivered$/);
  const asked = records.filter((r) => r.url.endsWith('/api/mesh/dm/status'));
  assert.ok(asked.some((r) => r.body.includes(msgId)), 'the status of the sent msg_id was asked');
  assert.ok(asked.every((r) => JSON.parse(r.body).msg_ids.length <= 100), 'batched to ≤100 ids');
  await alice.page.reload();
  await alice.page.waitForSelector(outgoing(canary, 'delivered'), { timeout: 30_000 });
  await alice.page.screenshot({ path: join(out, '04-delivered.png'), fullPage: true });

  assert.ok(records.some((r) => r.url.endsWith('/api/mesh/dm/send') && r.body.includes(msgId)), 'the queued envelope was sent');
  assert.deepEqual(findLeaks(records, [canary]), [], 'plaintext never left the browser');
  assert.deepEqual([...alice.errors, ...bob.errors], []);
});

test('a refused message stays queued with the error visible and is retried', async (t) => {
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const alice = await openPostern(browser, relay.url);
  // Carol has an identity but her registration never reaches the relay (yet).
  const carolCtx = await browser.newContext();
  const blockRegister = (route) => route.abort();
  await carolCtx.route('**/api/mesh/dm/register', blockRegister);
  const carol = await carolCtx.newPage();
  await carol.goto(relay.url);
  await carol.waitForSelector('#identity-string', { state: 'attached', timeout: 30_000 });
  await addPosternContact(alice.page, 'Carol', await identityOf(carol));
  await addPosternContact(carol, 'Alice', await identityOf(alice.page));

  const canary = randomCanary('REFUSED');
  await compose(alice.page, 'Carol', `hello carol ${canary}`);
  const msg = alice.page.locator(outgoing(canary, 'queued'));
  await msg.locator('.message-error').waitFor({ timeout: 30_000 });
  assert.match(await msg.locator('.message-error').textContent(), /has not opened Postern/);
  assert.match(await alice.page.textContent('#relay-status'), /online/);
  assert.equal((await readRawStore(alice.page, 'outbox')).length, 1);

  // Carol registers; Alice's retry (automatic backoff, or "Check now") delivers it.
  await carolCtx.unroute('**/api/mesh/dm/register', blockRegister);
  await carol.waitForSelector('#app-ready[data-ready="true"]', { timeout: 30_000 });
  await alice.page.click('#check-now');
  await alice.page.waitForSelector(outgoing(canary, 'sent'), { timeout: 30_000 });
  assert.equal(await alice.page.locator(outgoing(canary)).locator('.message-error').count(), 0);
  assert.deepEqual(await readRawStore(alice.page, 'outbox'), []);
  await carol.click('#check-now');
  await carol.waitForSelector(incoming(canary), { timeout: 30_000 });
  await pollTimes(carol, 2);
  assert.equal(await carol.locator('.message').filter({ hasText: canary }).count(), 1);
});
