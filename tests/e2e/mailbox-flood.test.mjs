// Issue 14 item 6 (mailbox lock-out): a sustained flood of anonymous deposits with random
// sender_refs keeps Alice's mailbox "full" for strangers, yet Bob (her contact) still gets his
// DM in and Alice's browser shows it. Before the fix the flood filled the one shared mailbox
// budget and every deposit of Bob's was refused `mailbox_full` for as long as it lasted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, openPostern, identityOf, addPosternContact, compose, incoming,
  outgoing, outputDir, randomCanary,
} from './lib/harness.mjs';

/** A well-formed sealed envelope to `recipientId` under a fresh random sender_ref (junk inside:
 * the relay cannot tell, and Alice's app drops it when it fails to open). */
function junkEnvelope(recipientId) {
  return {
    format: 'postern-dm/1',
    recipient_id: recipientId,
    msg_id: randomBytes(16).toString('hex'),
    sender_ref: randomBytes(16).toString('hex'),
    ephemeral_pub: randomBytes(32).toString('base64'),
    ciphertext: randomBytes(256 + 16).toString('base64'),
  };
}

/** Deposit junk for `recipientId` without pause until `stop()`; counts answers by code. */
function startFlood(relayUrl, recipientId) {
  const counts = { stored: 0, mailbox_full: 0, other: 0 };
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const r = await fetch(`${relayUrl}/api/mesh/dm/send`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ envelope: junkEnvelope(recipientId) }),
        });
        const body = await r.json().catch(() => ({}));
        if (r.ok) counts.stored++;
        else if (body.code === 'mailbox_full') counts.mailbox_full++;
        else counts.other++;
      } catch {
        counts.other++;
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  return { counts, async stop() { running = false; await Promise.all(workers); } };
}

test('a contact\'s DM gets through a sustained flood of anonymous deposits', async (t) => {
  const out = outputDir('mailbox-flood');
  // The write rate limit is per client IP and everything here is 127.0.0.1: lift it so the
  // flood is limited only by the mailbox rules under test.
  const relay = await startRelay({ extraArgs: ['--rate-limit-per-min', '1000000', '--read-rate-limit-per-min', '1000000'] });
  const browser = await launchBrowser();
  let flood;
  t.after(async () => { if (flood) await flood.stop(); await browser.close(); await relay.stop(); });

  const alice = await openPostern(browser, relay.url);
  const bob = await openPostern(browser, relay.url);
  const idA = await identityOf(alice.page);
  const idB = await identityOf(bob.page);
  const nodeA = idA.split('.')[1];
  await addPosternContact(alice.page, 'Bob', idB);
  await addPosternContact(bob.page, 'Alice', idA);
  // Alice's app has told the relay her contacts' sender_refs (the contacts' budget).
  await alice.page.waitForSelector('#contacts-registered[data-count="1"]', { state: 'attached', timeout: 30_000 });

  flood = startFlood(relay.url, nodeA);
  // Wait until the flood is refused for a full mailbox: from here on the strangers' budget is
  // full and stays full (the flood refills whatever Alice's app drops).
  const deadline = Date.now() + 60_000;
  while (flood.counts.mailbox_full < 50) {
    assert.ok(Date.now() < deadline, `flood never filled the mailbox: ${JSON.stringify(flood.counts)}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  const canary = randomCanary('FLOOD');
  await compose(bob.page, 'Alice', `through the flood ${canary}`);
  await bob.page.waitForSelector(outgoing(canary, 'sent'), { timeout: 30_000 });
  await alice.page.click('#check-now').catch(() => {});
  const got = alice.page.locator(incoming(canary)).first();
  await got.waitFor({ timeout: 60_000 });
  assert.equal(await got.getAttribute('data-sender'), idB.split('.')[1]);
  await alice.page.screenshot({ path: join(out, 'alice-received-under-flood.png'), fullPage: true });

  // The flood was still being refused while Bob's message got in.
  const before = flood.counts.mailbox_full;
  while (flood.counts.mailbox_full <= before) await new Promise((r) => setTimeout(r, 50));
  const c = flood.counts;
  console.log(`flood: ${c.stored} junk stored, ${c.mailbox_full} refused mailbox_full, ${c.other} other`);
  assert.equal(c.other, 0, 'every flood deposit was either stored or refused mailbox_full');
});
