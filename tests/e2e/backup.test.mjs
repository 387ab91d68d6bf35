// Keys at rest and encrypted backups: nothing readable in IndexedDB (no identity secret, no
// message text); Alice exports a passphrase-protected backup, a fresh browser profile imports it
// (a wrong passphrase is refused with a clear error), comes up as the same identity with the DM
// history, and receives a new DM. Prints unlock and import figures (no timed assertions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  startRelay, launchBrowser, openPostern, identityOf, addPosternContact, compose, outgoing,
  incoming, scanIndexedDb, outputDir, randomCanary, APP_READY,
  openGate, showView,
} from './lib/harness.mjs';

const PASS = 'correct horse battery staple';

async function unlockMs(page) {
  await page.waitForSelector('html[data-unlock-ms]');
  return Number(await page.getAttribute('html', 'data-unlock-ms'));
}

test('backup: export, import into a fresh profile, same identity reads and receives', async (t) => {
  const out = outputDir('backup');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const alice = await openPostern(browser, relay.url);
  const firstUnlock = await unlockMs(alice.page);
  const bob = await openPostern(browser, relay.url);
  const idA = await identityOf(alice.page);
  const idB = await identityOf(bob.page);
  await addPosternContact(alice.page, 'Bob', idB);
  await addPosternContact(bob.page, 'Alice', idA);
  await alice.page.waitForSelector('#at-rest[data-state="protected"]', { state: 'attached' });
  await alice.page.waitForSelector('#persist-status:not([data-state="checking"])', { state: 'attached' });
  const persist = await alice.page.getAttribute('#persist-status', 'data-state');

  const toBob = randomCanary('TOBOB');
  await compose(alice.page, 'Bob', `hello bob ${toBob}`);
  await alice.page.waitForSelector(outgoing(toBob, 'sent'), { timeout: 30_000 });
  await bob.page.click('#check-now');
  await bob.page.waitForSelector(incoming(toBob), { timeout: 30_000 });
  const toAlice = randomCanary('TOALICE');
  await compose(bob.page, 'Alice', `hi alice ${toAlice}`);
  await bob.page.waitForSelector(outgoing(toAlice, 'sent'), { timeout: 30_000 });
  await alice.page.click('#check-now');
  await alice.page.waitForSelector(incoming(toAlice), { timeout: 30_000 });

  // Reload: unlock from IndexedDB (non-extractable key → store key → records).
  await alice.page.reload();
  await alice.page.waitForSelector(incoming(toAlice), { timeout: 30_000 });
  const reloadUnlock = await unlockMs(alice.page);

  // Reverse check: no secret and no message text anywhere in raw IndexedDB.
  for (const p of [alice.page, bob.page]) {
    assert.deepEqual(await scanIndexedDb(p, ['postern-secret1.', toBob, toAlice]), [], 'nothing readable at rest');
  }

  // Export (passphrase + confirmation), on the settings page.
  await showView(alice.page, 'settings');
  await alice.page.click('details:has(#export-backup) > summary');
  await alice.page.fill('#backup-pass', PASS);
  await alice.page.fill('#backup-pass2', PASS + 'x');
  await alice.page.click('#export-backup');
  await alice.page.waitForSelector('#backup-status[data-state="error"]');
  assert.match(await alice.page.textContent('#backup-status'), /differ/);
  await alice.page.fill('#backup-pass2', PASS);
  const download = alice.page.waitForEvent('download', { timeout: 60_000 });
  const t0 = Date.now();
  await alice.page.click('#export-backup');
  const file = join(out, 'alice-backup.json');
  await (await download).saveAs(file);
  const exportMs = Date.now() - t0;
  await alice.page.waitForSelector('#backup-status[data-state="ok"]');
  await alice.page.screenshot({ path: join(out, '01-exported.png'), fullPage: true });
  const text = readFileSync(file, 'utf8');
  const header = JSON.parse(text);
  assert.equal(header.format, 'postern-backup');
  assert.equal(header.version, 1);
  assert.equal(header.kdf, 'argon2id');
  for (const n of ['postern-secret1.', toBob, toAlice]) assert.ok(!text.includes(n), 'backup file is encrypted');
  // Alice's old browser goes away (so it does not take the next DM from the mailbox).
  await alice.context.close();

  // A fresh profile: it starts with its own new identity.
  const fresh = await openPostern(browser, relay.url);
  assert.notEqual(await identityOf(fresh.page), idA);
  await showView(fresh.page, 'settings');
  await fresh.page.click('details:has(#import-backup) > summary');
  await fresh.page.setInputFiles('#import-file', file);
  await fresh.page.fill('#import-pass', 'not the passphrase');
  await fresh.page.click('#import-backup');
  await fresh.page.waitForSelector('#import-status[data-state="error"]', { timeout: 60_000 });
  assert.match(await fresh.page.textContent('#import-status'), /wrong passphrase/i);
  await fresh.page.screenshot({ path: join(out, '02-wrong-passphrase.png'), fullPage: true });

  await fresh.page.fill('#import-pass', PASS);
  const t1 = Date.now();
  await fresh.page.click('#import-backup');
  await fresh.page.waitForFunction((id) => document.querySelector('#identity-string')?.textContent.trim() === id, idA, { timeout: 60_000 });
  const importMs = Date.now() - t1;
  await fresh.page.waitForSelector('#import-status[data-state="ok"]');
  const report = await fresh.page.textContent('#import-status');
  await fresh.page.waitForSelector(APP_READY, { timeout: 30_000 });
  await showView(fresh.page, 'chats');
  // The same identity reads its history.
  await fresh.page.waitForSelector(incoming(toAlice));
  await fresh.page.waitForSelector(outgoing(toBob));
  await fresh.page.waitForSelector('[data-contact="Bob"]');
  await fresh.page.screenshot({ path: join(out, '03-imported.png'), fullPage: true });

  // And receives a new DM.
  const later = randomCanary('LATER');
  await compose(bob.page, 'Alice', `after the move ${later}`);
  await bob.page.waitForSelector(outgoing(later, 'sent'), { timeout: 30_000 });
  await fresh.page.click('#check-now');
  await fresh.page.waitForSelector(incoming(later), { timeout: 30_000 });
  assert.deepEqual(await scanIndexedDb(fresh.page, ['postern-secret1.', toBob, toAlice, later]), [], 'imported data sealed at rest');
  await fresh.page.screenshot({ path: join(out, '04-received-after-import.png'), fullPage: true });

  console.log(`[figures] unlock (navigation start → identity unlocked): first visit ${firstUnlock} ms, reload ${reloadUnlock} ms`);
  console.log(`[figures] backup export (Argon2id m=64MiB t=3 p=1 + download): ${exportMs} ms; import click → restored identity shown (KDF + restore + reload): ${importMs} ms`);
  console.log(`[figures] import report: ${report.trim()}`);
  console.log(`[figures] navigator.storage.persist(): ${persist}`);
});
