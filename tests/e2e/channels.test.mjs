// Public channels (issue 15) and the public-post outbox (issue 13): a post made in one profile
// is appended to the relay's public chain as a signed `message` event and shows up, verified,
// in another profile's channel view; a post made while the relay is down is queued in
// IndexedDB, survives a reload, and is appended exactly once when the relay is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, restartRelay, launchBrowser, openPostern, identityOf, readStoreEntries,
  outputDir, randomCanary, showView,
} from './lib/harness.mjs';
import { channelPost, publicChain, messagesWith, syncUntil, postTo } from './lib/channels.mjs';

const post = channelPost;

test('a public post appears verified in another profile and on the relay; offline posts are sent once', async (t) => {
  const out = outputDir('channels');
  let relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const alice = await openPostern(browser, relay.url, { testHooks: true });
  const bob = await openPostern(browser, relay.url);
  const nodeA = (await identityOf(alice.page)).split('.')[1];
  for (const p of [alice.page, bob.page]) await showView(p, 'channels');
  await alice.page.waitForSelector('#channels [data-channel="LongFast"]');
  await bob.page.waitForSelector('#channels [data-channel="LongFast"]');

  // Online: signed, appended, on the relay's public chain once, verified in Bob's view.
  const first = randomCanary('CHANNEL');
  // Once the relay has stored the post, the app syncs the chain at once (the scheduled round
  // is up to 30 s away), so the post turns verified without "Sync now".
  let appended = false;
  alice.page.on('response', (r) => { if (r.url().endsWith('/api/infonet/append') && r.ok()) appended = true; });
  const syncAfterAppend = alice.page.waitForRequest((r) => appended && r.url().includes('/api/mesh/infonet/sync'), { timeout: 10_000 });
  await postTo(alice.page, 'LongFast', `hello LongFast ${first}`);
  await syncAfterAppend;
  await alice.page.waitForSelector(post(first, ':is([data-state="sent"],[data-state="on_chain"])'), { timeout: 30_000 });
  let chain = await publicChain(relay.url);
  let found = messagesWith(chain, first);
  assert.equal(found.length, 1, 'one message event on the relay');
  assert.equal(found[0].node_id, nodeA);
  assert.equal(found[0].payload.channel, 'LongFast');
  assert.equal(found[0].payload.destination, 'broadcast');

  const seen = post(first, '[data-verified="true"]');
  await syncUntil(bob.page, seen);
  const inBob = bob.page.locator(seen);
  assert.equal(await inBob.count(), 1);
  assert.equal(await inBob.getAttribute('data-author'), nodeA);
  assert.equal(await inBob.getAttribute('data-event-id'), found[0].event_id);
  assert.ok(Number(await bob.page.getAttribute('[data-channel="LongFast"]', 'data-count')) >= 1);
  await bob.page.screenshot({ path: join(out, '01-bob-sees-alice.png'), fullPage: true });
  // Alice's own view settles it from the chain too (the outbox record is gone).
  await syncUntil(alice.page, seen);
  await alice.page.waitForFunction(async () => {
    const rows = await window.__posternTest.readStore('meta');
    return !rows.some(([k]) => k.startsWith('channel_outbox/'));
  }, null, { timeout: 30_000 });

  // Offline: queued in IndexedDB, survives a reload, appended once when the relay is back.
  await alice.page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
  await relay.stop();
  const second = randomCanary('OFFLINE');
  await postTo(alice.page, 'LongFast', `while the relay is down ${second}`);
  await alice.page.waitForSelector(post(second, '[data-state="queued"][data-verified="false"]'), { timeout: 30_000 });
  await alice.page.waitForSelector('#channel-post-status:has-text("queued")', { timeout: 30_000 });
  const box = (await readStoreEntries(alice.page, 'meta')).filter(([k]) => k.startsWith('channel_outbox/'));
  assert.equal(box.length, 1, 'one queued post in the IndexedDB outbox');
  await alice.page.screenshot({ path: join(out, '02-queued.png'), fullPage: true });
  await alice.page.reload();
  await alice.page.waitForSelector(post(second, '[data-state="queued"]'), { timeout: 30_000 });

  relay = await restartRelay(relay);
  // The next successful chain sync tells the channels panel the relay is back.
  const onChain = post(second, '[data-verified="true"]');
  await syncUntil(alice.page, onChain);
  chain = await publicChain(relay.url);
  found = messagesWith(chain, second);
  assert.equal(found.length, 1, 'the queued post was appended exactly once');
  assert.equal(messagesWith(chain, first).length, 1);
  assert.equal(await alice.page.locator(post(second)).count(), 1, 'shown once');
  await syncUntil(bob.page, onChain);
  assert.equal(await bob.page.locator(post(second)).count(), 1);
  await alice.page.waitForFunction(async () => {
    const rows = await window.__posternTest.readStore('meta');
    return !rows.some(([k]) => k.startsWith('channel_outbox/'));
  }, null, { timeout: 30_000 });
  await bob.page.screenshot({ path: join(out, '03-bob-sees-offline-post.png'), fullPage: true });
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
