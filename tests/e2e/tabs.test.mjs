// Multi-tab: two tabs of the same profile (same browser context) work at the same time. One tab
// holds the `postern-writer` Web Lock and runs polling and outbox delivery; the other stays
// usable (contacts, compose) and forwards its work over a BroadcastChannel. Closing the leader
// hands the lock to the other tab, which takes over. Nothing is sent or stored twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, restartRelay, launchBrowser, openPostern, identityOf, addPosternContact, compose, outgoing,
  incoming, pollTimes, readStore, readRawStore, enableTestHooks, findLeaks, outputDir, randomCanary, APP_READY,
} from './lib/harness.mjs';

const SEND = '/api/mesh/dm/send';
const POLL = '/api/mesh/dm/poll';

/** Open a tab in `context`, recording its requests under `label`. */
async function openTab(context, url, label, records, errors) {
  const page = await context.newPage();
  page.on('request', (req) => {
    let body = '';
    try { body = req.postDataBuffer()?.toString('latin1') || ''; } catch { body = ''; }
    records.push({ tab: label, url: req.url(), headers: req.headers(), body });
  });
  page.on('pageerror', (e) => { errors.push(`${label}: ${e.message}`); console.error('[pageerror]', label, e.message); });
  await page.goto(url);
  await page.waitForSelector(APP_READY, { timeout: 30_000 });
  return page;
}

const role = (page, r) => page.waitForSelector(`#tab-role[data-role="${r}"]`, { timeout: 30_000 });
const sendsOf = (records, msgId) => records.filter((r) => r.url.endsWith(SEND) && r.body.includes(msgId));
const pollsBy = (records, tab) => records.filter((r) => r.tab === tab && r.url.endsWith(POLL)).length;

/** Wait until `tab` made `n` more mailbox polls than now (the leader's own 4 s tick). */
async function nextPolls(page, records, tab, n = 1) {
  const target = pollsBy(records, tab) + n;
  while (pollsBy(records, tab) < target) {
    await page.waitForResponse((r) => r.url().endsWith(POLL), { timeout: 30_000 });
  }
}

function assertNoDuplicateRows(rows, what) {
  const keys = rows.map((v) => { const m = JSON.parse(v); return `${m.direction}:${m.peer_node_id}:${m.msg_id}`; });
  assert.equal(new Set(keys).size, keys.length, `no duplicated ${what} rows`);
}

test('two tabs of one profile: one syncs, the other forwards; the survivor takes over', async (t) => {
  const out = outputDir('tabs');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const records = [];
  const errors = [];
  const aliceCtx = await browser.newContext();
  await enableTestHooks(aliceCtx); // readStore opens records through the test hook, no reload
  const tab1 = await openTab(aliceCtx, relay.url, 'tab1', records, errors);
  await role(tab1, 'leader');
  assert.match(await tab1.textContent('#tab-role'), /this tab syncs/);
  const tab2 = await openTab(aliceCtx, relay.url, 'tab2', records, errors);
  await role(tab2, 'follower');
  assert.match(await tab2.textContent('#tab-role'), /another tab syncs/);
  // Same profile: the same identity in both tabs, and the follower mirrors the relay state.
  assert.equal(await identityOf(tab2), await identityOf(tab1));
  await tab2.waitForSelector('#relay-status[data-state="online"]');

  const bob = await openPostern(browser, relay.url);
  await addPosternContact(bob.page, 'Alice', await identityOf(tab1));
  // A contact added in the follower shows up in the leader.
  await addPosternContact(tab2, 'Bob', await identityOf(bob.page));
  await tab1.waitForSelector('[data-contact="Bob"]', { timeout: 30_000 });

  // Compose in the follower: the leader delivers it, exactly once.
  const c1 = randomCanary('TAB2');
  await compose(tab2, 'Bob', `from tab 2 ${c1}`);
  await tab2.waitForSelector(outgoing(c1, 'sent'), { timeout: 30_000 });
  await tab1.waitForSelector(outgoing(c1, 'sent'), { timeout: 30_000 });
  await tab2.waitForFunction(() => /sent/.test(document.querySelector('#send-status')?.textContent || ''), null, { timeout: 30_000 });
  const id1 = await tab2.locator(outgoing(c1)).getAttribute('data-msg-id');
  await pollTimes(bob.page, 1);
  await bob.page.waitForSelector(incoming(c1), { timeout: 30_000 });
  await nextPolls(tab1, records, 'tab1', 2);
  assert.equal(sendsOf(records, id1).length, 1, 'one send request for the msg_id across both tabs');
  assert.equal(sendsOf(records, id1)[0].tab, 'tab1', 'the leader sent it');
  assert.equal(await bob.page.locator('.message').filter({ hasText: c1 }).count(), 1);

  // A message from Bob appears in both tabs; only the leader polls.
  const c2 = randomCanary('BOB');
  await compose(bob.page, 'Alice', `from bob ${c2}`);
  await bob.page.waitForSelector(outgoing(c2, 'sent'), { timeout: 30_000 });
  await tab1.waitForSelector(incoming(c2), { timeout: 30_000 });
  await tab2.waitForSelector(incoming(c2), { timeout: 30_000 });
  await tab2.click('#check-now'); // forwarded to the leader
  await nextPolls(tab1, records, 'tab1', 1);
  assert.equal(pollsBy(records, 'tab2'), 0, 'the follower never polls');
  assert.ok(pollsBy(records, 'tab1') > 0);
  assert.equal(records.filter((r) => r.tab === 'tab2' && r.url.endsWith(SEND)).length, 0, 'the follower never sends');
  await tab2.screenshot({ path: join(out, '01-follower.png'), fullPage: true });

  // Close the leader: the follower takes over polling and delivery.
  await tab1.close();
  await role(tab2, 'leader');
  await nextPolls(tab2, records, 'tab2', 1);
  const c3 = randomCanary('TAKEOVER');
  await compose(tab2, 'Bob', `after takeover ${c3}`);
  await tab2.waitForSelector(outgoing(c3, 'sent'), { timeout: 30_000 });
  const id3 = await tab2.locator(outgoing(c3)).getAttribute('data-msg-id');
  await pollTimes(bob.page, 1);
  await bob.page.waitForSelector(incoming(c3), { timeout: 30_000 });
  assert.equal(sendsOf(records, id3).length, 1);
  const c4 = randomCanary('BOB2');
  await compose(bob.page, 'Alice', `to the new leader ${c4}`);
  await tab2.waitForSelector(incoming(c4), { timeout: 30_000 });
  await tab2.screenshot({ path: join(out, '02-took-over.png'), fullPage: true });

  // A new tab joins as follower of the new leader and sees the whole history.
  const tab3 = await openTab(aliceCtx, relay.url, 'tab3', records, errors);
  await role(tab3, 'follower');
  for (const c of [c1, c2, c3, c4]) await tab3.waitForSelector(`.message:has-text("${c}")`);

  // IndexedDB is consistent: every message once, nothing left in the outbox.
  const rows = await readStore(tab2, 'messages');
  assertNoDuplicateRows(rows, 'message');
  for (const c of [c1, c2, c3, c4]) {
    assert.equal(rows.filter((v) => v.includes(c)).length, 1, `one row for ${c}`);
    assert.equal(await tab2.locator('.message').filter({ hasText: c }).count(), 1);
  }
  assert.deepEqual(await readStore(tab2, 'outbox'), []);
  assert.deepEqual(findLeaks(records, [c1, c3]), [], 'plaintext never left the browser');
  assert.deepEqual([...errors, ...bob.errors], []);
});

test('without navigator.locks a tab behaves as the leader', async (t) => {
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
  });
  const records = [];
  const errors = [];
  const page = await openTab(ctx, relay.url, 'solo', records, errors);
  await role(page, 'leader');
  await nextPolls(page, records, 'solo', 1);
  assert.deepEqual(errors, []);
});

test('a newer tab upgrading the database is not blocked; the old tab asks for a reload', async (t) => {
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const ctx = await browser.newContext();
  const records = [];
  const errors = [];
  const old = await openTab(ctx, relay.url, 'old', records, errors);
  await role(old, 'leader');
  const other = await openTab(ctx, relay.url, 'other', records, errors);
  await role(other, 'follower');
  // Simulate a newer build's schema upgrade from the other tab.
  const upgraded = await other.evaluate(async () => {
    const current = await new Promise((res, rej) => { const r = indexedDB.open('postern'); r.onsuccess = () => { const v = r.result.version; r.result.close(); res(v); }; r.onerror = () => rej(r.error); });
    return new Promise((res, rej) => {
      const r = indexedDB.open('postern', current + 1);
      r.onblocked = () => res('blocked');
      r.onsuccess = () => { r.result.close(); res('upgraded'); };
      r.onerror = () => rej(r.error);
    });
  });
  assert.equal(upgraded, 'upgraded');
  for (const p of [old, other]) {
    await p.waitForSelector('#db-closed', { timeout: 30_000 });
    assert.match(await p.textContent('#db-closed'), /updated in another tab/);
  }
  // The old tab gave up the writer lock.
  await old.waitForSelector('#tab-role[data-role="retired"]');
  assert.deepEqual(errors, []);
});

test('composed in a follower while the relay is down: queued in both tabs, then delivered once', async (t) => {
  let relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const records = [];
  const errors = [];
  const ctx = await browser.newContext();
  await enableTestHooks(ctx); // readStore opens records through the test hook, no reload
  const tab1 = await openTab(ctx, relay.url, 'tab1', records, errors);
  await role(tab1, 'leader');
  const tab2 = await openTab(ctx, relay.url, 'tab2', records, errors);
  await role(tab2, 'follower');
  const bob = await openPostern(browser, relay.url);
  await addPosternContact(bob.page, 'Alice', await identityOf(tab1));
  await addPosternContact(tab2, 'Bob', await identityOf(bob.page));

  await relay.stop();
  await tab1.waitForSelector('#relay-status[data-state="offline"]', { timeout: 30_000 });
  await tab2.waitForSelector('#relay-status[data-state="offline"]', { timeout: 30_000 });
  const c = randomCanary('TABQ');
  await compose(tab2, 'Bob', `queued in a follower ${c}`);
  await tab2.waitForSelector(outgoing(c, 'queued'), { timeout: 30_000 });
  await tab1.waitForSelector(outgoing(c, 'queued'), { timeout: 30_000 });
  await tab2.waitForFunction(() => /queued/.test(document.querySelector('#send-status')?.textContent || ''), null, { timeout: 30_000 });
  const id = await tab2.locator(outgoing(c)).getAttribute('data-msg-id');
  const box = await readStore(tab2, 'outbox');
  assert.equal(box.length, 1);
  assert.equal(JSON.parse(box[0]).envelope.msg_id, id);
  const rawBox = await readRawStore(tab2, 'outbox');
  assert.equal(rawBox.length, 1);
  assert.ok(rawBox[0].startsWith('pv1.') && !rawBox[0].includes(c), 'the queued message is sealed at rest');

  relay = await restartRelay(relay);
  await tab1.waitForSelector(outgoing(c, 'sent'), { timeout: 60_000 });
  await tab2.waitForSelector(outgoing(c, 'sent'), { timeout: 30_000 });
  await tab2.waitForFunction(() => /sent/.test(document.querySelector('#send-status')?.textContent || ''), null, { timeout: 30_000 });
  await pollTimes(bob.page, 1);
  await bob.page.waitForSelector(incoming(c), { timeout: 30_000 });
  await pollTimes(bob.page, 1);
  assert.equal(await bob.page.locator('.message').filter({ hasText: c }).count(), 1);
  assert.equal(records.filter((r) => r.tab === 'tab2' && r.url.endsWith(SEND)).length, 0, 'the follower never sends');
  assert.deepEqual(await readStore(tab2, 'outbox'), []);
  assertNoDuplicateRows(await readStore(tab1, 'messages'), 'message');
  assert.deepEqual(errors, []);
});
