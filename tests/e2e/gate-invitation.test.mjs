// Trust rule, the other branch: Dave does not have Alice as a contact, so a gate she adds him
// to is only a pending invitation ("… added you to gate X — Accept / Ignore") and nothing is
// joined until he accepts. Ignore hides it for the session; after a reload it is asked again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, openPostern, identityOf, addPosternContact, outputDir, randomCanary, createGate,
} from './lib/harness.mjs';

const T = 45_000;

async function listings(page, n) {
  for (let i = 0; i < n; i++) {
    await page.waitForResponse((r) => r.url().endsWith('/api/mesh/gate/mine'), { timeout: T });
  }
}

test('a gate from a non-contact waits for Accept', async (t) => {
  const out = outputDir('gate-invitation');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const alice = await openPostern(browser, relay.url);
  const dave = await openPostern(browser, relay.url);
  await addPosternContact(alice.page, 'Dave', await identityOf(dave.page));

  const gateId = await createGate(alice.page, 'Ops', ['Dave']);
  const hello = randomCanary('INVITE');
  await alice.page.fill('#gate-compose', `hello ${hello}`);
  await alice.page.click('#gate-send');
  await alice.page.waitForSelector(`.gate-message[data-state="sent"]:has-text("${hello}")`, { timeout: T });

  // Dave: an invitation, not a gate.
  const inv = dave.page.locator(`.gate-invitation[data-gate-id="${gateId}"]`);
  await inv.waitFor({ timeout: T });
  assert.match(await inv.textContent(), new RegExp(`added you to gate ${gateId.slice(0, 8)}`));
  assert.equal(await dave.page.locator('.gate-item').count(), 0);
  await dave.page.screenshot({ path: join(out, '01-invitation.png'), fullPage: true });

  // Ignore: gone, and still not joined after further listings.
  await dave.page.click(`[data-ignore-gate="${gateId}"]`);
  await listings(dave.page, 2);
  assert.equal(await dave.page.locator('.gate-invitation').count(), 0);
  assert.equal(await dave.page.locator('.gate-item').count(), 0);

  // Asked again after a reload; Accept joins and reads the history of his epochs.
  await dave.page.reload();
  await inv.waitFor({ timeout: T });
  await dave.page.click(`[data-accept-gate="${gateId}"]`);
  await dave.page.waitForSelector(`.gate-item[data-gate-id="${gateId}"]`, { timeout: T });
  await dave.page.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });
  await dave.page.waitForSelector(`.gate-message[data-verified="true"]:has-text("${hello}")`, { timeout: T });
  assert.equal(await dave.page.locator('.gate-invitation').count(), 0);
  await dave.page.screenshot({ path: join(out, '02-accepted.png'), fullPage: true });
});
