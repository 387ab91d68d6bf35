// Fork healing seen from the browser (issue 13 item 1): two relays that will peer each take a
// public post from their own profile while they cannot reach each other (a fork of the one
// chain), then each takes a post queued in its profile's outbox while it is down; once they
// peer, core's fork rule picks a branch, the loser re-links its events onto it, and:
// - both relays converge on one head holding every post exactly once (matched by what the
//   author signed — node, sequence, signature — since a re-linked event gets a new id);
// - both profiles' public-post outboxes end empty (the queued posts are delivered, once);
// - every post shows up verified exactly once in both profiles' channel views;
// - the losing side's browser says on its Network page that it followed the heal.
// Which branch wins is the rule's business: the test passes either way and logs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, openPostern, identityOf, readStoreEntries, listenAddress,
  outputDir, randomCanary, showView,
} from './lib/harness.mjs';
import { channelPost, publicChain, messagesWith, syncUntil, postTo } from './lib/channels.mjs';

const SECRET = 'fork-rebase-e2e-shared-secret';
// A fork heals only within the settle window (older events are in a signed tree head, and a
// split below one is refused): a long window keeps the heal independent of this test's pace.
// Both relays, both browsers and the peer traffic share 127.0.0.1, so the per-IP rate limits
// are off; peers pull every second.
const COMMON = [
  '--settle-secs=600', '--sync-interval-secs=1', '--public-status',
  '--rate-limit-per-min=0', '--read-rate-limit-per-min=0',
];

const post = channelPost;
const verified = (text) => post(text, '[data-verified="true"]');

/** Poll `check` (async, truthy when done) every 200 ms until `ms` have passed. */
async function waitFor(what, check, ms = 90_000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await check().catch((e) => { last = e; return null; });
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function status(url) {
  const r = await fetch(`${url}/api/mesh/infonet/status`);
  assert.equal(r.status, 200);
  return r.json();
}

/** The fork counters of a relay's `/metrics` (served with --public-status). */
async function forkFigures(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name) => Number((text.match(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm')) || [])[1] || 0);
  return {
    adopted: get('postern_forks_total{result="adopted"}'),
    kept: get('postern_forks_total{result="kept"}'),
    split: get('postern_forks_total{result="split"}'),
    relinked: get('postern_fork_events_total{result="relinked"}'),
    dropped: get('postern_fork_events_total{result="dropped"}'),
  };
}

/** What an author signed: the key a post keeps wherever it is linked. */
const statement = (e) => `${e.node_id}/${e.sequence}/${String(e.signature).toLowerCase()}`;

async function outbox(page) {
  return (await readStoreEntries(page, 'meta')).filter(([k]) => k.startsWith('channel_outbox/'));
}

async function outboxEmpty(page) {
  await page.waitForFunction(async () => {
    const rows = await window.__posternTest.readStore('meta');
    return !rows.some(([k]) => k.startsWith('channel_outbox/'));
  }, null, { timeout: 60_000, polling: 500 });
}

/** Start (again) a stopped relay on its address and data, peering with `peerUrl`. */
function peered(relay, peerUrl) {
  return startRelay({
    dataDir: relay.data,
    listen: listenAddress(relay.url),
    extraArgs: [...COMMON, `--peer=${peerUrl}=${SECRET}`, `--public-url=${relay.url}`],
  });
}

test('a fork heals: posts on both sides and queued ones end on one chain once, outboxes empty', async (t) => {
  const out = outputDir('fork-rebase');
  // Two relays that do not know each other yet: each chain grows on its own (a fork).
  let a = await startRelay({ extraArgs: COMMON });
  let b = await startRelay({ extraArgs: COMMON });
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await a.stop(); await b.stop(); });

  const alice = await openPostern(browser, a.url, { testHooks: true });
  const bob = await openPostern(browser, b.url, { testHooks: true });
  const nodeA = (await identityOf(alice.page)).split('.')[1];
  const nodeB = (await identityOf(bob.page)).split('.')[1];
  for (const p of [alice.page, bob.page]) {
    await showView(p, 'channels');
    await p.waitForSelector('#channels [data-channel="LongFast"]');
  }

  // 1. One post on each side of the fork, each appended by its own relay and synced into its
  // own profile's verified copy (as the app's 30 s sync does anyway): outboxes empty.
  const p1 = `alice on A ${randomCanary('FORK')}`;
  const p2 = `bob on B ${randomCanary('FORK')}`;
  await postTo(alice.page, 'LongFast', p1);
  await postTo(bob.page, 'LongFast', p2);
  await syncUntil(alice.page, verified(p1));
  await syncUntil(bob.page, verified(p2));
  const chainA0 = await publicChain(a.url);
  const chainB0 = await publicChain(b.url);
  assert.equal(messagesWith(chainA0, p1).length, 1);
  assert.equal(messagesWith(chainA0, p2).length, 0, 'A has not seen B yet');
  assert.equal(messagesWith(chainB0, p2).length, 1);
  assert.equal(messagesWith(chainB0, p1).length, 0, 'B has not seen A yet');
  const want = new Map([
    [statement(messagesWith(chainA0, p1)[0]), p1],
    [statement(messagesWith(chainB0, p2)[0]), p2],
  ]);
  const idsBefore = new Map([...chainA0, ...chainB0].map((e) => [statement(e), e.event_id]));
  await outboxEmpty(alice.page);
  await outboxEmpty(bob.page);

  // 2. Both relays down: one post each waits in its profile's IndexedDB outbox.
  await a.stop();
  await b.stop();
  const p3 = `alice queued ${randomCanary('FORK')}`;
  const p4 = `bob queued ${randomCanary('FORK')}`;
  await postTo(alice.page, 'LongFast', p3);
  await postTo(bob.page, 'LongFast', p4);
  for (const [page, text] of [[alice.page, p3], [bob.page, p4]]) {
    await page.waitForSelector(post(text, '[data-state="queued"]'), { timeout: 30_000 });
    const box = (await outbox(page)).map(([, v]) => JSON.parse(v));
    assert.equal(box.length, 1, 'one queued post in the outbox');
    assert.ok(box[0].text.includes(text));
    want.set(statement(box[0]), text);
  }
  await alice.page.screenshot({ path: join(out, '01-alice-queued.png'), fullPage: true });

  // 3. Both back, now peering: the fork heals while the outboxes drain.
  a = await peered(a, b.url);
  b = await peered(b, a.url);
  // The queued posts go out on the next successful chain sync (the relay is back).
  await syncUntil(alice.page, verified(p3));
  await syncUntil(bob.page, verified(p4));

  const heads = await waitFor('both relays on one head holding the 4 posts', async () => {
    const [sa, sb] = await Promise.all([status(a.url), status(b.url)]);
    const same = sa.head_hash_full === sb.head_hash_full && sa.total_events === sb.total_events;
    return same && sa.total_events === want.size ? [sa, sb] : null;
  });
  const chainA = await publicChain(a.url);
  const chainB = await publicChain(b.url);
  assert.deepEqual(chainB, chainA, 'one chain on both relays');
  for (const [chain, name] of [[chainA, 'A'], [chainB, 'B']]) {
    const got = chain.filter((e) => e.event_type === 'message').map(statement);
    assert.equal(new Set(got).size, got.length, `a post is twice on ${name}'s chain`);
    assert.deepEqual(new Set(got), new Set(want.keys()), `${name}'s chain holds exactly the 4 posts`);
    for (const text of want.values()) assert.equal(messagesWith(chain, text).length, 1, `${text} once on ${name}`);
  }
  const authors = new Set(chainA.map((e) => e.node_id));
  assert.deepEqual(authors, new Set([nodeA, nodeB]));

  // Which side lost, and what moved.
  const [fa, fb] = await Promise.all([forkFigures(a.url), forkFigures(b.url)]);
  const first = chainA[0];
  const winner = first.node_id === nodeA ? 'A' : 'B';
  const moved = chainA.filter((e) => idsBefore.has(statement(e)) && idsBefore.get(statement(e)) !== e.event_id);
  console.log(`[figures] fork-rebase: winner branch ${winner} (first event ${first.event_id.slice(0, 16)}), loser ${winner === 'A' ? 'B' : 'A'}; head ${heads[0].head_hash_full.slice(0, 16)} with ${heads[0].total_events} events`);
  console.log(`[figures] fork-rebase: relay A forks adopted=${fa.adopted} kept=${fa.kept} split=${fa.split} relinked=${fa.relinked} dropped=${fa.dropped}`);
  console.log(`[figures] fork-rebase: relay B forks adopted=${fb.adopted} kept=${fb.kept} split=${fb.split} relinked=${fb.relinked} dropped=${fb.dropped}`);
  console.log(`[figures] fork-rebase: pre-fork events with a new event id after the heal: ${moved.length}`);
  assert.equal(fa.split + fb.split, 0, 'no fork refused');
  assert.equal(fa.dropped + fb.dropped, 0, 'no post dropped');
  assert.ok(fa.adopted + fb.adopted >= 1, 'one relay adopted the other branch');
  assert.ok(moved.length >= 1, 'the losing branch was re-linked');

  // 4. In both profiles: outbox empty, every post verified exactly once after a chain sync.
  for (const [who, page] of [['alice', alice.page], ['bob', bob.page]]) {
    for (const text of want.values()) {
      await syncUntil(page, verified(text));
      assert.equal(await page.locator(post(text)).count(), 1, `${who} shows "${text}" once`);
    }
    await outboxEmpty(page);
    await page.screenshot({ path: join(out, `02-${who}-healed.png`), fullPage: true });
  }
  // The losing side's browser followed the heal (its own post was re-linked) and says so on
  // the Network page, in words; the winning side's copy only grew.
  const [loser, other] = winner === 'A' ? [bob.page, alice.page] : [alice.page, bob.page];
  const note = await loser.locator('#sync-rewound').textContent();
  console.log(`[figures] fork-rebase: the losing side's browser says: ${note}`);
  assert.match(note, /events? you had verified (was|were) replaced/);
  assert.equal(await other.locator('#sync-rewound').count(), 0, 'the winning side rewound nothing');
  // The views show the relays' (healed) events: same ids as the chain.
  for (const page of [alice.page, bob.page]) {
    for (const [key, text] of want) {
      const e = chainA.find((x) => statement(x) === key);
      assert.equal(await page.getAttribute(verified(text), 'data-event-id'), e.event_id);
    }
  }
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
