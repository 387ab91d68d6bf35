// Gates with two tabs of one profile: only the leader tab (Web Lock holder) syncs gates and
// drains the gate outbox. A post composed in the follower is sealed and stored as its own
// IndexedDB record, shown as queued, and sent by the leader exactly once; both tabs then show it
// as sent, and Bob reads it once. Posts queued in both tabs at once never overwrite each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, restartRelay, launchBrowser, openPostern, identityOf, addPosternContact, recordRequests,
  readStoreEntries, readRawStore, enableTestHooks, findLeaks, outputDir, randomCanary, APP_READY,
  openGate, showView,
} from './lib/harness.mjs';

const T = 45_000;
const GATE_API = '/api/mesh/gate/';
const POST = '/api/mesh/gate/message';
const inState = (text, state) => `.gate-message[data-state="${state}"]:has(.gate-message-body:has-text("${text}"))`;
const role = (page, r) => page.waitForSelector(`#tab-role[data-role="${r}"]`, { timeout: 30_000 });
const nonceOf = (body) => (body.match(/"nonce":"([^"]+)"/) || [])[1];
const postsOf = (records, nonce) => records.filter((r) => r.url.endsWith(POST) && r.body.includes(nonce));

async function openTab(context, url, label, tabs, errors) {
  const page = await context.newPage();
  page.on('request', (req) => tabs.push({ tab: label, url: req.url() }));
  page.on('pageerror', (e) => { errors.push(`${label}: ${e.message}`); console.error('[pageerror]', label, e.message); });
  await page.goto(url);
  await page.waitForSelector(APP_READY, { timeout: 30_000 });
  return page;
}

async function postGate(page, text) {
  await page.fill('#gate-compose', text);
  await page.click('#gate-send');
}

/** Opened `meta` records that are queued gate posts (`gate_outbox/<nonce>`), as JSON text. */
async function gateOutbox(page) {
  const rows = (await readStoreEntries(page, 'meta')).filter(([k]) => k.startsWith('gate_outbox'));
  for (const [k, v] of rows) assert.equal(k, `gate_outbox/${JSON.parse(v).message.nonce}`, 'one record per queued post, keyed by its nonce');
  return rows.map(([, v]) => v);
}

test('gate posts from a follower tab: sent once by the leader, only the leader syncs gates', async (t) => {
  const out = outputDir('gate-tabs');
  let relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const all = [];
  const tabs = [];
  const errors = [];
  const aliceCtx = await browser.newContext();
  recordRequests(aliceCtx, all);
  await enableTestHooks(aliceCtx); // gateOutbox reads through the test hook, no reload
  const tab1 = await openTab(aliceCtx, relay.url, 'tab1', tabs, errors);
  await role(tab1, 'leader');
  const tab2 = await openTab(aliceCtx, relay.url, 'tab2', tabs, errors);
  await role(tab2, 'follower');
  const bob = await openPostern(browser, relay.url);
  await addPosternContact(tab1, 'Bob', await identityOf(bob.page));
  await addPosternContact(bob.page, 'Alice', await identityOf(tab1));

  // The leader creates the gate and invites Bob; the follower shows it from IndexedDB.
  await tab1.fill('#gate-name', 'Ops');
  await tab1.click('#create-gate');
  await tab1.waitForSelector('.gate-epoch[data-epoch="1"]', { timeout: T });
  await tab1.selectOption('#gate-invite-contact', 'Bob');
  await tab1.click('#gate-invite');
  await tab1.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });
  await tab2.waitForSelector('[data-gate="Ops"]', { timeout: T });
  const gateId = await tab2.getAttribute('[data-gate="Ops"]', 'data-gate-id');
  await openGate(tab2, gateId);
  await tab2.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });
  await bob.page.waitForSelector(`.gate-item[data-gate-id="${gateId}"]`, { timeout: T });
  await openGate(bob.page, gateId);
  await bob.page.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });

  // Composed in the follower: the leader sends it, exactly once; both tabs show it sent.
  const c1 = randomCanary('GTAB2');
  await postGate(tab2, `from the follower ${c1}`);
  await tab2.waitForSelector(inState(c1, 'sent'), { timeout: T });
  await tab1.waitForSelector(inState(c1, 'sent'), { timeout: T });
  const sent1 = all.filter((r) => r.url.endsWith(POST));
  assert.equal(sent1.length, 1, 'one gate post request across both tabs');
  const n1 = nonceOf(sent1[0].body);
  assert.ok(n1, 'the posted body carries the nonce');
  assert.deepEqual(tabs.filter((r) => r.url.endsWith(POST)).map((r) => r.tab), ['tab1'], 'the leader posted it');
  await tab2.waitForFunction(() => /Posted/.test(document.querySelector('#gate-status')?.textContent || ''), null, { timeout: T });

  // Queued in both tabs at once: separate records, neither lost, each sent once.
  const [c2, c3] = [randomCanary('GBOTH1'), randomCanary('GBOTH2')];
  await Promise.all([postGate(tab2, `both follower ${c2}`), postGate(tab1, `both leader ${c3}`)]);
  for (const p of [tab1, tab2]) {
    for (const c of [c2, c3]) await p.waitForSelector(inState(c, 'sent'), { timeout: T });
  }
  const sentNow = all.filter((r) => r.url.endsWith(POST));
  assert.equal(sentNow.length, 3);
  for (const r of sentNow) assert.equal(postsOf(all, nonceOf(r.body)).length, 1, 'each nonce posted once');
  await tab2.screenshot({ path: join(out, '01-follower-sent.png'), fullPage: true });

  // Relay down: a follower post is queued in both tabs (one record, sealed only).
  await relay.stop();
  const c4 = randomCanary('GTABQ');
  await postGate(tab2, `queued in the follower ${c4}`);
  const queued = tab2.locator(inState(c4, 'queued'));
  await queued.waitFor({ timeout: T });
  const n4 = await queued.getAttribute('data-nonce');
  await tab1.waitForSelector(`.gate-message[data-state="queued"][data-nonce="${n4}"]`, { timeout: T });
  const box = await gateOutbox(tab2);
  assert.equal(box.length, 1);
  assert.equal(JSON.parse(box[0]).message.nonce, n4);
  assert.ok(!box[0].includes(c4), 'the queued post holds the sealed message only');
  const raw = await readRawStore(tab2, 'meta');
  assert.ok(raw.every((v) => typeof v === 'string' && v.startsWith('pv1.')), 'every meta record sealed at rest');
  assert.ok(!raw.some((v) => v.includes(c4) || v.includes(n4)), 'no plaintext in the gate outbox at rest');

  relay = await restartRelay(relay);
  await tab1.waitForSelector(inState(c4, 'sent'), { timeout: 60_000 });
  await tab2.waitForSelector(inState(c4, 'sent'), { timeout: T });
  assert.deepEqual(await gateOutbox(tab1), [], 'gate outbox emptied');

  // Bob reads every post once, also after further polls.
  for (const c of [c1, c2, c3, c4]) await bob.page.waitForSelector(inState(c, 'sent'), { timeout: T });
  for (let i = 0; i < 2; i++) {
    await bob.page.waitForResponse((r) => r.url().endsWith('/api/mesh/gate/messages'), { timeout: T });
  }
  for (const c of [c1, c2, c3, c4]) {
    assert.equal(await bob.page.locator('.gate-message', { hasText: c }).count(), 1, `Bob sees ${c} once`);
    for (const p of [tab1, tab2]) assert.equal(await p.locator('.gate-message', { hasText: c }).count(), 1);
  }
  // Counted posts (issue 14 item 7): each counter taken in the transaction that queued the
  // post, so the two tabs never reuse one; Bob sees no gap and no hidden replay.
  const counters = await bob.page.$$eval('.gate-message[data-state="sent"]',
    (els) => els.map((e) => Number(e.dataset.counter)).sort((a, b) => a - b));
  assert.deepEqual(counters, [1, 2, 3, 4], 'one counter per post, none reused across tabs');
  assert.equal(await bob.page.locator('.gate-message[data-stream="gap"]').count(), 0, 'no gap note');
  // Own posts read back and copies another tab stored are re-reads, not replays: nothing hidden.
  for (const p of [bob.page, tab1, tab2]) {
    assert.equal(await p.locator('#gate-hidden').count(), 0, 'no hidden-messages line');
  }

  // Only the leader talks to the gate API (sync, discovery, posts); the follower never does.
  assert.equal(tabs.filter((r) => r.tab === 'tab2' && r.url.includes(GATE_API)).length, 0, 'the follower makes no gate requests');
  assert.ok(tabs.some((r) => r.tab === 'tab1' && r.url.endsWith('/api/mesh/gate/messages')), 'the leader syncs');
  assert.deepEqual(findLeaks(all, [c1, c2, c3, c4]), [], 'no plaintext in any request');

  // The follower takes over when the leader closes, and syncs gates itself.
  await tab1.close();
  await role(tab2, 'leader');
  await tab2.waitForResponse((r) => r.url().endsWith('/api/mesh/gate/messages'), { timeout: T });
  assert.deepEqual([...errors, ...bob.errors], []);
});
