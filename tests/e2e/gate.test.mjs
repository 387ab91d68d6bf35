// Private gates end to end: Alice creates a gate, invites Bob and Carol (rotations); the gate
// appears for them after sync (Alice is their contact: no code pasted), all three post and read; Alice removes Carol and posts a canary that Bob
// reads and Carol never sees (DOM, requests of any page, relay data directory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, findLeaks, findInFiles, outputDir, randomCanary,
  openPostern, identityOf, addPosternContact, openGate,
} from './lib/harness.mjs';

const T = 45_000;

async function post(page, text) {
  await page.fill('#gate-compose', text);
  await page.click('#gate-send');
}

function gateMsg(text) {
  return `.gate-message[data-verified="true"]:has(.gate-message-body:has-text("${text}"))`;
}

test('private gate: create, invite, join, post, remove; removed member never sees the canary', async (t) => {
  const out = outputDir('gate');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const recA = []; const recB = []; const recC = [];
  const alice = await openPostern(browser, relay.url, { records: recA });
  const bob = await openPostern(browser, relay.url, { records: recB });
  const carol = await openPostern(browser, relay.url, { records: recC });
  const idA = await identityOf(alice.page);
  const idB = await identityOf(bob.page);
  const idC = await identityOf(carol.page);
  const [nodeA, nodeB, nodeC] = [idA, idB, idC].map((s) => s.split('.')[1]);

  await addPosternContact(alice.page, 'Bob', idB);
  await addPosternContact(alice.page, 'Carol', idC);
  await addPosternContact(bob.page, 'Alice', idA);
  await addPosternContact(bob.page, 'Carol', idC);
  await addPosternContact(carol.page, 'Alice', idA);
  await addPosternContact(carol.page, 'Bob', idB);
  await alice.page.screenshot({ path: join(out, '01-contacts.png'), fullPage: true });

  // Create.
  await alice.page.fill('#gate-name', 'Ops');
  await alice.page.click('#create-gate');
  await alice.page.waitForSelector('[data-gate="Ops"]', { timeout: T });
  await alice.page.waitForSelector('.gate-epoch[data-epoch="1"]', { timeout: T });
  const code = (await alice.page.textContent('#gate-invite-code')).trim();
  assert.match(code, /^postern-gate1\.[0-9a-f]{32}\.[0-9a-f]{64}$/);
  await alice.page.screenshot({ path: join(out, '02-alice-created.png'), fullPage: true });

  // Invite Bob, then Carol (two rotations).
  await alice.page.selectOption('#gate-invite-contact', 'Bob');
  await alice.page.click('#gate-invite');
  await alice.page.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });
  await alice.page.selectOption('#gate-invite-contact', 'Carol');
  await alice.page.click('#gate-invite');
  await alice.page.waitForSelector('.gate-epoch[data-epoch="3"]', { timeout: T });
  await alice.page.screenshot({ path: join(out, '03-alice-invited.png'), fullPage: true });

  // No code pasted: Bob and Carol have Alice as a contact, so their periodic sync (signed
  // gate.list, then a verified chain) joins them automatically (trust rule).
  const gateId = await alice.page.getAttribute('[data-gate="Ops"]', 'data-gate-id');
  for (const p of [bob.page, carol.page]) {
    await p.waitForSelector(`.gate-item[data-gate-id="${gateId}"]`, { timeout: T });
    await openGate(p, gateId);
    await p.waitForSelector('.gate-epoch[data-epoch="3"]', { timeout: T });
    assert.equal(await p.locator('.gate-invitation').count(), 0, 'a contact\'s gate is never a pending invitation');
    assert.match(await p.getAttribute(`.gate-item[data-gate-id="${gateId}"]`, 'data-gate'), /^Alice · /);
    assert.equal((await p.textContent('#gate-invite-code')).trim(), code);
  }
  await bob.page.screenshot({ path: join(out, '04-bob-joined.png'), fullPage: true });
  await carol.page.screenshot({ path: join(out, '05-carol-joined.png'), fullPage: true });

  // Everyone posts and reads everyone.
  const mA = randomCanary('GA'); const mB = randomCanary('GB'); const mC = randomCanary('GC');
  await post(alice.page, `alice says ${mA}`);
  await post(bob.page, `bob says ${mB}`);
  await post(carol.page, `carol says ${mC}`);
  for (const p of [alice.page, bob.page, carol.page]) {
    for (const [m, node] of [[mA, nodeA], [mB, nodeB], [mC, nodeC]]) {
      const el = p.locator(gateMsg(m));
      await el.waitFor({ timeout: T });
      assert.equal(await el.getAttribute('data-sender'), node);
      assert.equal(await el.getAttribute('data-epoch'), '3');
    }
  }
  assert.match(await bob.page.locator(gateMsg(mA)).locator('.gate-message-sender').textContent(), /Alice/);
  assert.match(await alice.page.locator(gateMsg(mC)).locator('.gate-message-sender').textContent(), /Carol/);
  await alice.page.screenshot({ path: join(out, '06-alice-timeline.png'), fullPage: true });
  await carol.page.screenshot({ path: join(out, '07-carol-timeline.png'), fullPage: true });

  // Remove Carol, post a canary.
  await alice.page.click('[data-remove-member="Carol"]');
  await alice.page.waitForSelector('.gate-epoch[data-epoch="4"]', { timeout: T });
  const canary = randomCanary('GATECANARY');
  await post(alice.page, `after removal ${canary}`);
  await alice.page.locator(gateMsg(canary)).waitFor({ timeout: T });
  const got = bob.page.locator(gateMsg(canary));
  await got.waitFor({ timeout: T });
  assert.equal(await got.getAttribute('data-epoch'), '4');
  await bob.page.screenshot({ path: join(out, '08-bob-reads-canary.png'), fullPage: true });

  await carol.page.waitForSelector('#gate-removed', { timeout: T });
  assert.match(await carol.page.textContent('#gate-removed'), /removed at epoch 4/);
  // Let Carol poll a few more times after the canary was posted.
  await carol.page.waitForTimeout(9_000);
  await carol.page.screenshot({ path: join(out, '09-carol-removed.png'), fullPage: true });
  assert.ok(!(await carol.page.evaluate(() => document.body.innerText)).includes(canary));
  assert.ok(!(await carol.page.content()).includes(canary));
  assert.equal(await carol.page.locator('.gate-message[data-epoch="4"]').count(), 0);
  // Older messages stay readable for Carol.
  await carol.page.locator(gateMsg(mA)).waitFor({ timeout: T });

  // Alice promotes Bob to admin (rotation, same members); Bob, now admin, rotates by himself and
  // re-invites Carol. Carol is back at epoch 6 and still never sees the epoch-4 canary.
  await alice.page.click('[data-promote-member="Bob"]');
  await alice.page.waitForSelector('.gate-epoch[data-epoch="5"]', { timeout: T });
  await bob.page.waitForSelector('.gate-epoch[data-epoch="5"]', { timeout: T });
  await bob.page.waitForSelector('#gate-invite', { timeout: T });
  assert.equal(await bob.page.locator(`.gate-member[data-member="${nodeB}"]`).filter({ hasText: 'admin' }).count(), 1);
  await bob.page.selectOption('#gate-invite-contact', 'Carol');
  await bob.page.click('#gate-invite');
  await alice.page.waitForSelector('.gate-epoch[data-epoch="6"]', { timeout: T });
  assert.match(await alice.page.locator('.gate-epoch[data-epoch="6"]').textContent(), /Bob/);
  await carol.page.waitForSelector('.gate-epoch[data-epoch="6"]', { timeout: T });
  await carol.page.waitForSelector('#gate-compose', { timeout: T });
  assert.ok(!(await carol.page.content()).includes(canary));
  await bob.page.screenshot({ path: join(out, '10-bob-admin.png'), fullPage: true });

  // Copy button: the invite code lands on the clipboard.
  await alice.context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await alice.page.click('#gate-copy-invite');
  await alice.page.waitForFunction(() => /copied/.test(document.querySelector('#gate-copy-status')?.textContent || ''), null, { timeout: T });
  assert.equal(await alice.page.evaluate(() => navigator.clipboard.readText()), code);

  const records = [...recA, ...recB, ...recC];
  assert.ok(records.some((r) => r.url.includes('/api/mesh/gate/epochs')), 'signed epoch reads recorded');
  assert.ok(recB.some((r) => r.url.includes('/api/mesh/gate/mine')), 'signed gate listing recorded');
  assert.ok(records.some((r) => r.url.includes('/api/mesh/gate/message')), 'gate message posts recorded');
  assert.deepEqual(findLeaks(records, [canary, mA, mB, mC]), [], 'no gate plaintext in any request');

  await relay.stop();
  assert.deepEqual(findInFiles(relay.data, [canary, mA, mB, mC]), [], 'no gate plaintext on the relay');
});
