// Firefox ESR (the base of Tor Browser) end to end, against a Chromium peer on one relay: a new
// identity in Firefox, sealed DMs both ways with the delivery tick, a private gate created in
// Firefox that the Chromium contact joins and both post to, then the relay stopped and Firefox
// reloading offline from its service worker's cache with the same identity and conversation.
// Same element ids as dm.test.mjs, gate.test.mjs and pwa.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, openPostern, identityOf, addPosternContact, compose, outgoing, incoming,
  outputDir, randomCanary, openGate,
} from './lib/harness.mjs';
import { openPosternFirefox } from './lib/firefox.mjs';

const T = 45_000;
const IN = '.message[data-direction="in"][data-verified="true"]';
const GATE_MSG = '.gate-message[data-verified="true"]';

test('Firefox ESR and Chromium: DMs with delivery, a shared gate, offline reload in Firefox', async (t) => {
  const out = outputDir('firefox');
  const relay = await startRelay();
  const browser = await launchBrowser();
  let fx;
  t.after(async () => { if (fx) await fx.close(); await browser.close(); await relay.stop(); });

  // Identities: Alice in Firefox, Bob in Chromium.
  fx = await openPosternFirefox(relay.url);
  const bob = await openPostern(browser, relay.url);
  const idA = (await fx.textContent('#identity-string')).trim();
  const idB = await identityOf(bob.page);
  assert.match(idA, /^postern2\.!sb_[0-9a-f]{32}\./);
  assert.notEqual(idA, idB);
  const [nodeA, nodeB] = [idA, idB].map((s) => s.split('.')[1]);
  assert.equal(await fx.evaluate(() => document.documentElement.dataset.wasm), 'ok');
  assert.equal(await fx.count('#private-warning'), 0, 'no private-window warning in a normal window');

  // Contacts both ways.
  await fx.fill('#contact-name', 'Bob');
  await fx.fill('#contact-identity', idB);
  await fx.click('#add-contact');
  await fx.waitForSelector('[data-contact="Bob"]');
  await addPosternContact(bob.page, 'Alice', idA);

  // Firefox → Chromium, delivered (Bob's ack comes back).
  const m1 = randomCanary('FX');
  await fx.click('[data-contact="Bob"]');
  await fx.fill('#compose-body', `from firefox ${m1}`);
  await fx.click('#send');
  const got = bob.page.locator(incoming(m1)).first();
  await bob.page.click('#check-now').catch(() => {});
  await got.waitFor({ timeout: T });
  assert.equal(await got.getAttribute('data-sender'), nodeA);
  await fx.waitForSelector('.message[data-direction="out"][data-delivered="true"]', { text: m1, timeout: T });

  // Chromium → Firefox, verified and named.
  const m2 = randomCanary('CR');
  await compose(bob.page, 'Alice', `from chromium ${m2}`);
  await fx.click('#check-now');
  await fx.waitForSelector(IN, { text: m2, timeout: T });
  assert.equal(await fx.getAttribute(IN, 'data-sender', { text: m2 }), nodeB);
  await bob.page.waitForSelector(outgoing(m2, 'delivered'), { timeout: T });
  await fx.screenshot(join(out, '01-firefox-dm.png'));

  // A gate created in Firefox; Bob (Alice is his contact) joins it on his next sync.
  await fx.fill('#gate-name', 'Fox');
  await fx.click('#create-gate');
  await fx.waitForSelector('[data-gate="Fox"]', { timeout: T });
  await fx.waitForSelector('.gate-epoch[data-epoch="1"]', { timeout: T });
  await fx.selectOption('#gate-invite-contact', 'Bob');
  await fx.click('#gate-invite');
  await fx.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });
  const gateId = await fx.getAttribute('[data-gate="Fox"]', 'data-gate-id');
  await bob.page.waitForSelector(`.gate-item[data-gate-id="${gateId}"]`, { timeout: T });
  await openGate(bob.page, gateId);
  await bob.page.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });

  const g1 = randomCanary('GFX');
  const g2 = randomCanary('GCR');
  await fx.fill('#gate-compose', `fox says ${g1}`);
  await fx.click('#gate-send');
  await bob.page.fill('#gate-compose', `chromium says ${g2}`);
  await bob.page.click('#gate-send');
  for (const [m, node] of [[g1, nodeA], [g2, nodeB]]) {
    await fx.waitForSelector(GATE_MSG, { text: m, timeout: T });
    assert.equal(await fx.getAttribute(GATE_MSG, 'data-sender', { text: m }), node);
    const el = bob.page.locator(`${GATE_MSG}:has(.gate-message-body:has-text("${m}"))`);
    await el.waitFor({ timeout: T });
    assert.equal(await el.getAttribute('data-sender'), node);
  }
  await fx.screenshot(join(out, '02-firefox-gate.png'));

  // Offline: the service worker controls the page; with the relay stopped a reload shows the
  // shell from the cache, the same identity and the stored conversation.
  await fx.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller !== null
    && document.documentElement.dataset.sw === 'registered', [], 'service worker in control');
  await relay.stop();
  await fx.reload();
  await fx.waitForSelector('#relay-status[data-state="offline"]', { timeout: T });
  assert.equal((await fx.textContent('#identity-string')).trim(), idA, 'identity kept across the offline reload');
  await fx.click('[data-contact="Bob"]');
  await fx.waitForSelector(IN, { text: m2, timeout: T });
  await fx.waitForSelector('.message[data-direction="out"]', { text: m1 });
  assert.equal(await fx.getAttribute('#app-ready', 'data-ready'), 'false');
  await fx.screenshot(join(out, '03-firefox-offline.png'));
});
