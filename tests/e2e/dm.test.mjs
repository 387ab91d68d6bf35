// Walking skeleton end to end: two independent browser profiles exchange sealed DMs through a
// real relay; the canary and both private keys never leave the browsers, and the relay's data
// directory never holds the canary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, recordRequests, findLeaks, findInFiles, readStoredSecret,
  identitySecretForms, outputDir, randomCanary,
} from './lib/harness.mjs';

const READY = '#app-ready[data-ready="true"]';

async function openApp(browser, url, records) {
  const context = await browser.newContext();
  recordRequests(context, records);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await page.goto(url);
  await page.waitForSelector(READY, { timeout: 30_000 });
  return { context, page };
}

async function addContact(page, name, identity) {
  await page.fill('#contact-name', name);
  await page.fill('#contact-identity', identity);
  await page.click('#add-contact');
  await page.waitForSelector(`[data-contact="${name}"]`);
}

async function send(page, contact, body) {
  await page.click(`[data-contact="${contact}"]`);
  await page.fill('#compose-body', body);
  await page.click('#send');
  await page.waitForFunction(() => /sent/i.test(document.querySelector('#send-status')?.textContent || ''), null, { timeout: 20_000 });
}

async function waitForIncoming(page, text) {
  const sel = `.message[data-direction="in"][data-verified="true"]:has-text("${text}")`;
  // Polling runs on its own; "Check now" only makes the wait shorter.
  await page.click('#check-now').catch(() => {});
  await page.waitForSelector(sel, { timeout: 30_000 });
  return page.locator(sel).first();
}

test('Alice and Bob exchange sealed DMs; no plaintext or key leaves the browser', async (t) => {
  const out = outputDir('dm');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const recA = []; const recB = [];
  const alice = await openApp(browser, relay.url, recA);
  const bob = await openApp(browser, relay.url, recB);
  await alice.page.screenshot({ path: join(out, '01-alice-identity.png'), fullPage: true });
  await bob.page.screenshot({ path: join(out, '02-bob-identity.png'), fullPage: true });

  const idA = (await alice.page.textContent('#identity-string')).trim();
  const idB = (await bob.page.textContent('#identity-string')).trim();
  assert.match(idA, /^postern2\.!sb_[0-9a-f]{32}\./);
  assert.notEqual(idA, idB);
  const nodeA = idA.split('.')[1];

  await addContact(alice.page, 'Bob', idB);
  await addContact(bob.page, 'Alice', idA);
  await alice.page.screenshot({ path: join(out, '03-alice-added-bob.png'), fullPage: true });

  const canary = randomCanary('ALICE');
  await send(alice.page, 'Bob', `hello bob ${canary}`);
  await alice.page.screenshot({ path: join(out, '04-alice-sent.png'), fullPage: true });

  const got = await waitForIncoming(bob.page, canary);
  assert.equal(await got.getAttribute('data-sender'), nodeA);
  assert.match(await got.locator('.message-sender').textContent(), /Alice/);
  await bob.page.screenshot({ path: join(out, '05-bob-received.png'), fullPage: true });

  const reply = randomCanary('BOB');
  await send(bob.page, 'Alice', `hi alice ${reply}`);
  await bob.page.screenshot({ path: join(out, '06-bob-replied.png'), fullPage: true });
  const back = await waitForIncoming(alice.page, reply);
  assert.match(await back.locator('.message-sender').textContent(), /Bob/);
  await alice.page.screenshot({ path: join(out, '07-alice-received-reply.png'), fullPage: true });

  // The private keys, read from each browser's own storage.
  const [secretA] = await readStoredSecret(alice.page);
  const [secretB] = await readStoredSecret(bob.page);
  assert.ok(secretA && secretB, 'identity secrets found in IndexedDB');
  const needles = [canary, reply, ...identitySecretForms(secretA), ...identitySecretForms(secretB)];

  const records = [...recA, ...recB];
  assert.ok(records.some((r) => r.url.includes('/api/mesh/dm/send')), 'send requests were recorded');
  assert.ok(records.some((r) => r.url.includes('/api/mesh/dm/poll')), 'poll requests were recorded');
  assert.deepEqual(findLeaks(records, needles), [], 'no canary or private key in any request');

  await relay.stop();
  assert.deepEqual(findInFiles(relay.data, needles), [], 'no canary or key in the relay data directory');
});
