// Issue 14 against a hostile relay or ex-member, in real browsers:
// - a tampered identity string (X25519 key swapped) is refused by the add-contact form; the
//   genuine one shows the same safety number on both sides, and "Mark verified" is kept in the
//   contact record;
// - a removed member's post (sealed under the epoch before its removal) is refused by the relay
//   (409 stale_epoch) and never shown to the remaining members; her app drops the queued post
//   with a note instead of re-sealing it;
// - a relay that serves a rolled-back epoch chain raises the alarm in the gate view and
//   posting is disabled;
// - a post queued before a rotation is re-sealed under the new epoch and delivered once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, outputDir, randomCanary, openPostern, identityOf,
  addPosternContact, readStoreEntries, openGate, createGate,
} from './lib/harness.mjs';

const T = 45_000;

/** The messenger layout shows one conversation at a time: open the (only) gate a member got. */
async function openAnyGate(page) {
  const item = await page.waitForSelector('.gate-item[data-gate-id]', { timeout: T });
  await openGate(page, await item.getAttribute('data-gate-id'));
}

/** Resolve after the page has completed `n` gate message reads from now. */
async function gateReads(page, n = 2) {
  for (let i = 0; i < n; i++) {
    await page.waitForResponse((r) => r.url().endsWith('/api/mesh/gate/messages'), { timeout: T });
  }
}

test('a tampered identity string is refused', async (t) => {
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const alice = await openPostern(browser, relay.url);
  const bob = await openPostern(browser, relay.url);
  const idA = await identityOf(alice.page);
  const idB = await identityOf(bob.page);
  assert.match(idB, /^postern2\./, 'identities are shared as v2 (self-signed) strings');
  // Mallory swaps Bob's X25519 key for her own (here: Alice's), keeping Bob's node id and
  // Ed25519 key: the string used to parse as Bob.
  const parts = idB.split('.');
  parts[3] = idA.split('.')[3];
  const forged = parts.join('.');
  await alice.page.fill('#contact-name', 'Bob?');
  await alice.page.fill('#contact-identity', forged);
  await alice.page.click('#add-contact');
  await alice.page.waitForFunction(() => /altered/.test(document.querySelector('#contact-error')?.textContent || ''), null, { timeout: T });
  assert.equal(await alice.page.locator('[data-contact="Bob?"]').count(), 0, 'no contact from a tampered string');
  // The genuine string is accepted and shows a safety number (12 groups of 5 digits).
  await addPosternContact(alice.page, 'Bob', idB);
  await alice.page.click('[data-contact="Bob"]');
  const sn = (await alice.page.textContent('#safety-number')).trim();
  assert.match(sn, /^(\d{5} ){11}\d{5}$/);
  await addPosternContact(bob.page, 'Alice', idA);
  await bob.page.click('[data-contact="Alice"]');
  assert.equal((await bob.page.textContent('#safety-number')).trim(), sn, 'both sides see the same number');
  // Mark verified: shown, and kept in the contact record (IndexedDB) across a reload.
  await alice.page.click('#mark-verified');
  await alice.page.waitForSelector('#safety-verified', { timeout: T });
  const contacts = await readStoreEntries(alice.page, 'contacts');
  const bobRec = JSON.parse(contacts.find(([, v]) => JSON.parse(v).name === 'Bob')[1]);
  assert.equal(bobRec.verified, idB, 'the verified identity is stored with the contact');
  await alice.page.click('[data-contact="Bob"]');
  await alice.page.waitForSelector('#safety-verified', { timeout: T });
  assert.equal(await alice.page.locator('#key-change-alert').count(), 0);
  await alice.page.screenshot({ path: join(outputDir('gate-hardening'), '01-safety-number.png'), fullPage: true });
});

test('a removed member\'s post is refused by the relay and never shown to members', async (t) => {
  const out = outputDir('gate-hardening');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const alice = await openPostern(browser, relay.url);
  const bob = await openPostern(browser, relay.url);
  const carol = await openPostern(browser, relay.url, { testHooks: true });
  const [idA, idB, idC] = [await identityOf(alice.page), await identityOf(bob.page), await identityOf(carol.page)];
  await addPosternContact(alice.page, 'Bob', idB);
  await addPosternContact(alice.page, 'Carol', idC);
  await addPosternContact(bob.page, 'Alice', idA);
  await addPosternContact(carol.page, 'Alice', idA);

  await createGate(alice.page, 'Ops', ['Bob', 'Carol']);
  for (const p of [bob.page, carol.page]) { await openAnyGate(p); await p.waitForSelector('.gate-epoch[data-epoch="3"]', { timeout: T }); }

  // Carol loses the relay's gate endpoints and posts: the post is sealed under epoch 3, queued.
  await carol.page.route('**/api/mesh/gate/**', (route) => route.abort());
  const canary = randomCanary('EXMEMBER');
  await carol.page.fill('#gate-compose', `stale post ${canary}`);
  await carol.page.click('#gate-send');
  const queued = carol.page.locator(`.gate-message[data-state="queued"]:has-text("${canary}")`);
  await queued.waitFor({ timeout: T });
  const nonce = await queued.getAttribute('data-nonce');
  const box = (await readStoreEntries(carol.page, 'meta')).filter(([k]) => k === `gate_outbox/${nonce}`);
  assert.equal(box.length, 1);
  const sealed = JSON.parse(box[0][1]).message;
  assert.equal(sealed.epoch, 3);

  // Alice removes Carol (epoch 4). Carol, holding epoch 3's key, sends her sealed post anyway
  // (from outside her page: its gate requests are still blocked).
  await alice.page.click('[data-remove-member="Carol"]');
  await alice.page.waitForSelector('.gate-epoch[data-epoch="4"]', { timeout: T });
  const r = await fetch(`${relay.url}/api/mesh/gate/message`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: sealed }),
  });
  assert.equal(r.status, 409);
  assert.equal((await r.json()).code, 'stale_epoch');

  // Carol's app comes back: it learns of the removal and never sends the post.
  await carol.page.unroute('**/api/mesh/gate/**');
  await carol.page.waitForSelector('#gate-removed', { timeout: T });
  await carol.page.waitForFunction(() => /not sent: you were removed at epoch 4/.test(document.querySelector('#gate-status')?.textContent || ''), null, { timeout: T });
  await queued.waitFor({ state: 'detached', timeout: T });
  assert.equal((await readStoreEntries(carol.page, 'meta')).filter(([k]) => k.startsWith('gate_outbox/')).length, 0,
    'the stale post left Carol\'s outbox');
  // Bob reads the gate several times: the post is never shown.
  await bob.page.waitForSelector('.gate-epoch[data-epoch="4"]', { timeout: T });
  await gateReads(bob.page, 3);
  assert.ok(!(await bob.page.content()).includes(canary), 'a removed member\'s post is never shown');
  assert.ok(!(await alice.page.content()).includes(canary));
  await bob.page.screenshot({ path: join(out, '02-bob-no-stale-post.png'), fullPage: true });
});

test('a rolled-back gate chain raises the alarm and disables posting', async (t) => {
  const out = outputDir('gate-hardening');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const alice = await openPostern(browser, relay.url);
  const bob = await openPostern(browser, relay.url);
  const [idA, idB] = [await identityOf(alice.page), await identityOf(bob.page)];
  await addPosternContact(alice.page, 'Bob', idB);
  await addPosternContact(bob.page, 'Alice', idA);
  await createGate(alice.page, 'Ops', ['Bob']);
  await alice.page.click('[data-promote-member="Bob"]');
  await alice.page.waitForSelector('.gate-epoch[data-epoch="3"]', { timeout: T });
  await openAnyGate(bob.page);
  await bob.page.waitForSelector('.gate-epoch[data-epoch="3"]', { timeout: T });
  assert.equal(await bob.page.locator('#gate-alarm').count(), 0);

  // A hostile relay now serves Bob the chain without its last epoch (a rollback).
  await bob.context.route('**/api/mesh/gate/epochs', async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    json.records = json.records.slice(0, -1);
    json.more = false;
    await route.fulfill({ response, json });
  });
  const alarm = bob.page.locator('#gate-alarm[data-kind="rollback"]');
  await alarm.waitFor({ timeout: T });
  assert.match(await alarm.textContent(), /rolled back|shorter/i);
  assert.ok(await bob.page.locator('#gate-send').isDisabled(), 'posting disabled while the alarm stands');
  // The pinned chain is kept: epoch 3 still shown.
  assert.equal(await bob.page.locator('.gate-epoch[data-epoch="3"]').count(), 1);
  await bob.page.screenshot({ path: join(out, '03-rollback-alarm.png'), fullPage: true });
});

test('a post queued before a rotation is re-sealed under the new epoch and delivered', async (t) => {
  const out = outputDir('gate-hardening');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const alice = await openPostern(browser, relay.url);
  const bob = await openPostern(browser, relay.url, { testHooks: true });
  const [idA, idB] = [await identityOf(alice.page), await identityOf(bob.page)];
  await addPosternContact(alice.page, 'Bob', idB);
  await addPosternContact(bob.page, 'Alice', idA);
  await createGate(alice.page, 'Ops');
  await alice.page.selectOption('#gate-invite-contact', 'Bob');
  await alice.page.click('#gate-invite');
  await openAnyGate(bob.page);
  await bob.page.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });

  // Bob posts while his gate requests fail: sealed under epoch 2, queued.
  await bob.page.route('**/api/mesh/gate/**', (route) => route.abort());
  const canary = randomCanary('RESEAL');
  await bob.page.fill('#gate-compose', `queued before the rotation ${canary}`);
  await bob.page.click('#gate-send');
  const queued = bob.page.locator(`.gate-message[data-state="queued"]:has-text("${canary}")`);
  await queued.waitFor({ timeout: T });
  const nonce = await queued.getAttribute('data-nonce');
  const box = (await readStoreEntries(bob.page, 'meta')).filter(([k]) => k === `gate_outbox/${nonce}`);
  assert.equal(JSON.parse(box[0][1]).message.epoch, 2);

  // Alice rotates (epoch 3); Bob comes back: the post is re-sealed under epoch 3 and sent.
  await alice.page.click('[data-promote-member="Bob"]');
  await alice.page.waitForSelector('.gate-epoch[data-epoch="3"]', { timeout: T });
  await bob.page.unroute('**/api/mesh/gate/**');
  await bob.page.waitForSelector(`.gate-message[data-state="sent"][data-epoch="3"]:has-text("${canary}")`, { timeout: T });
  await alice.page.waitForSelector(`.gate-message[data-epoch="3"]:has-text("${canary}")`, { timeout: T });
  assert.equal(await alice.page.locator(`.gate-message:has-text("${canary}")`).count(), 1, 'delivered once');
  assert.equal((await readStoreEntries(bob.page, 'meta')).filter(([k]) => k.startsWith('gate_outbox/')).length, 0);
  await alice.page.screenshot({ path: join(out, '04-resealed-post.png'), fullPage: true });
});
