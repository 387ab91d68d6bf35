// Gate message streams (issue 14 item 7): a relay that drops, withholds, reorders or replays gate
// messages is detected. Bob's page stands behind a hostile relay (a route rewriting the
// `gate/messages` answers): two of Alice's posts are withheld, then one is released late, and an
// old post is served again under another seq. Bob sees a gap note, an out-of-order note, the
// replayed post once with a line saying one was hidden, and the same after a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, openPostern, identityOf, addPosternContact, outputDir, randomCanary,
  openGate, APP_READY, createGate,
} from './lib/harness.mjs';

const T = 45_000;
const POST = '/api/mesh/gate/message';
const READ = '**/api/mesh/gate/messages';
const withText = (text) => `.gate-message[data-state="sent"]:has(.gate-message-body:has-text("${text}"))`;

async function postGate(page, text) {
  await page.fill('#gate-compose', text);
  await page.click('#gate-send');
  await page.waitForSelector(withText(text), { timeout: T });
}

test('a relay withholding, reordering or replaying gate messages is shown', async (t) => {
  const out = outputDir('gate-streams');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const alice = await openPostern(browser, relay.url);
  const bob = await openPostern(browser, relay.url);
  const errors = [];
  for (const p of [alice.page, bob.page]) p.on('pageerror', (e) => errors.push(e.message));
  await addPosternContact(alice.page, 'Bob', await identityOf(bob.page));
  await addPosternContact(bob.page, 'Alice', await identityOf(alice.page));

  // The hostile relay in front of Bob: drops the withheld nonces, adds `inject` items.
  let withholding = false;
  const withheld = new Set();
  const held = new Map();
  let inject = [];
  alice.page.on('request', (r) => {
    if (withholding && r.url().endsWith(POST)) {
      const n = (r.postData() || '').match(/"nonce":"([^"]+)"/);
      if (n) withheld.add(n[1]);
    }
  });
  const seen = [];
  await bob.page.route(READ, async (route) => {
    const resp = await route.fetch();
    const j = await resp.json();
    if (Array.isArray(j.messages)) {
      for (const m of j.messages) seen.push(m);
      j.messages = j.messages.filter((m) => {
        if (!withheld.has(m.message.nonce)) return true;
        held.set(m.message.nonce, m);
        return false;
      });
      j.messages.push(...inject);
      inject = [];
    }
    await route.fulfill({ response: resp, json: j });
  });

  const gateId = await createGate(alice.page, 'Ops', ['Bob']);
  await bob.page.waitForSelector(`.gate-item[data-gate-id="${gateId}"]`, { timeout: T });
  await openGate(bob.page, gateId);

  const [c1, c2, c3, c4] = ['GS1', 'GS2', 'GS3', 'GS4'].map((p) => randomCanary(p));
  await postGate(alice.page, `first ${c1}`);
  await bob.page.waitForSelector(withText(c1), { timeout: T });
  assert.equal(await bob.page.getAttribute(withText(c1), 'data-stream'), 'in_order');
  assert.equal(await bob.page.getAttribute(withText(c1), 'data-counter'), '1');

  // Posts 2 and 3 withheld from Bob; post 4 arrives: a gap of two, in plain words.
  withholding = true;
  await postGate(alice.page, `second ${c2}`);
  await postGate(alice.page, `third ${c3}`);
  withholding = false;
  assert.equal(withheld.size, 2);
  await postGate(alice.page, `fourth ${c4}`);
  const fourth = bob.page.locator(withText(c4));
  await fourth.waitFor({ timeout: T });
  assert.equal(await fourth.getAttribute('data-stream'), 'gap');
  assert.match(await fourth.locator('.gate-stream-note[data-stream-note="gap"]').innerText(),
    /^2 earlier messages from Alice have not arrived — the relay may be holding them back\.$/);
  await bob.page.screenshot({ path: join(out, '01-gap.png'), fullPage: true });

  // The first post served again under another seq, and post 2 released late.
  const first = seen.find((m) => !withheld.has(m.message.nonce));
  const [n2] = [...withheld];
  inject = [{ ...first, seq: first.seq + 1000 }, held.get(n2)];
  withheld.clear();
  await bob.page.waitForSelector(`${withText(c2)}[data-stream="out_of_order"]`, { timeout: T });
  assert.match(await bob.page.locator(withText(c2)).innerText(), /Arrived late/);
  assert.match(await fourth.innerText(), /1 earlier message from Alice has not arrived/);
  assert.equal(await bob.page.locator('.gate-message', { hasText: c1 }).count(), 1, 'the replayed post shows once');
  assert.equal(await bob.page.locator('.gate-message', { hasText: c3 }).count(), 0);
  // The replay is not only hidden: the conversation says so, in words.
  const hidden = bob.page.locator('#gate-hidden');
  await hidden.waitFor({ timeout: T });
  assert.equal(await hidden.getAttribute('data-replayed'), '1');
  assert.match(await hidden.innerText(), /^Hidden from this conversation: 1 message the relay delivered again \(shown once\)\.$/);

  // After a reload (streams rebuilt from IndexedDB) the marks and notes are the same.
  await bob.page.unroute(READ);
  await bob.page.reload();
  await bob.page.waitForSelector(APP_READY, { timeout: 30_000 });
  await openGate(bob.page, gateId);
  await bob.page.waitForSelector(withText(c4), { timeout: T });
  assert.equal(await bob.page.getAttribute(withText(c2), 'data-stream'), 'out_of_order');
  assert.equal(await bob.page.getAttribute(withText(c4), 'data-stream'), 'gap');
  assert.equal(await bob.page.locator('.gate-message', { hasText: c1 }).count(), 1);
  assert.equal(await bob.page.getAttribute('#gate-hidden', 'data-replayed'), '1', 'the count is kept with the gate');
  assert.deepEqual(errors, []);
});
