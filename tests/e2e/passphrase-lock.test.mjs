// Passphrase lock of the store key: Alice locks her browser's data with a passphrase (short and
// mismatched inputs refused in words), exchanges DMs with Bob, and after a reload sees only the
// unlock screen (no relay request before unlock); a wrong passphrase is refused with a message,
// the right one shows the conversation intact. Raw IndexedDB and web storage hold neither the
// store key, nor the identity secret, nor the passphrase, and the keyring holds no WebCrypto
// key or raw key while locked. A second tab unlocks on its own; the passphrase is changed, then
// the lock is removed and a reload opens without a prompt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startRelay, launchBrowser, openPostern, identityOf, addPosternContact, compose, outgoing,
  incoming, scanIndexedDb, outputDir, randomCanary, APP_READY, showView, recordRequests,
  identitySecretForms, secretForms,
} from './lib/harness.mjs';

const PASS = 'correct horse battery staple';
const PASS2 = 'tr0ub4dor and three more';
const UNLOCK = '#unlock-screen';

/** The raw keyring (`vault` store): keys and a description of each value's type. */
async function rawVault(page) {
  return page.evaluate(async () => {
    const db = await new Promise((res, rej) => { const r = indexedDB.open('postern'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    try {
      return await new Promise((res, rej) => {
        const tx = db.transaction('vault', 'readonly');
        const k = tx.objectStore('vault').getAllKeys();
        const v = tx.objectStore('vault').getAll();
        tx.oncomplete = () => res(k.result.map((key, i) => [String(key),
          (typeof CryptoKey !== 'undefined' && v.result[i] instanceof CryptoKey) ? 'CryptoKey' : typeof v.result[i]]));
        tx.onerror = () => rej(tx.error);
      });
    } finally { db.close(); }
  });
}

/** Every localStorage and sessionStorage value of the page, as one string. */
async function webStorageText(page) {
  return page.evaluate(() => {
    const all = [];
    for (const s of [localStorage, sessionStorage]) for (let i = 0; i < s.length; i++) all.push(s.key(i), s.getItem(s.key(i)));
    return all.join('\n');
  });
}

async function unlockWith(page, pass) {
  await page.fill('#unlock-pass', pass);
  await page.click('#unlock-submit');
}

async function lockForm(page) {
  await showView(page, 'settings');
  const open = await page.evaluate(() => document.querySelector('#lock-section')?.open);
  if (!open) await page.click('#lock-section > summary');
}

test('passphrase lock: set, unlock after reload (wrong refused), change, remove', async (t) => {
  const out = outputDir('passphrase-lock');
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const alice = await openPostern(browser, relay.url, { testHooks: true });
  const bob = await openPostern(browser, relay.url);
  const idA = await identityOf(alice.page);
  const idB = await identityOf(bob.page);
  await addPosternContact(alice.page, 'Bob', idB);
  await addPosternContact(bob.page, 'Alice', idA);

  // Set the lock: the form refuses short and mismatched passphrases in words.
  await lockForm(alice.page);
  await alice.page.waitForSelector('#at-rest[data-state="protected"]', { state: 'attached' });
  await alice.page.fill('#lock-new', 'short');
  await alice.page.fill('#lock-new2', 'short');
  await alice.page.click('#lock-set');
  await alice.page.waitForSelector('#lock-status[data-state="error"]');
  assert.match(await alice.page.textContent('#lock-status'), /at least 10 characters/);
  await alice.page.fill('#lock-new', PASS);
  await alice.page.fill('#lock-new2', PASS + 'x');
  await alice.page.click('#lock-set');
  await alice.page.waitForFunction(() => /differ/.test(document.querySelector('#lock-status')?.textContent || ''));
  await alice.page.fill('#lock-new2', PASS);
  const t0 = Date.now();
  await alice.page.click('#lock-set');
  await alice.page.waitForSelector('#lock-status[data-state="ok"]', { timeout: 60_000 });
  const lockMs = Date.now() - t0;
  await alice.page.waitForSelector('#at-rest[data-state="passphrase"]', { state: 'attached' });
  await alice.page.waitForSelector('#lock-section[data-state="on"]', { state: 'attached' });
  await alice.page.screenshot({ path: join(out, '01-locked-settings.png'), fullPage: true });

  // A DM each way while unlocked.
  await showView(alice.page, 'chats');
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

  // Nothing on disk opens the records: no store key, identity secret or passphrase in raw
  // IndexedDB or web storage, and the keyring holds only the passphrase-sealed key.
  const secret = await alice.page.evaluate(() => window.__posternTest.identitySecret);
  const storeKey = await alice.page.evaluate(() => window.__posternTest.storeKey);
  assert.equal(Buffer.from(storeKey, 'base64url').length, 32);
  const needles = [...identitySecretForms(secret), ...secretForms(Buffer.from(storeKey, 'base64url')), PASS, toBob, toAlice];
  assert.deepEqual(await scanIndexedDb(alice.page, needles), [], 'no key material or text in raw IndexedDB');
  const vault = await rawVault(alice.page);
  const keys = vault.map(([k]) => k);
  assert.ok(keys.includes('store_key_locked'), `lock record present: ${keys}`);
  for (const k of ['wrap_key', 'store_key', 'store_key_raw']) assert.ok(!keys.includes(k), `${k} is gone while locked`);
  assert.ok(!vault.some(([, type]) => type === 'CryptoKey'), 'no WebCrypto key left that could open the store');
  const web = await webStorageText(alice.page);
  for (const n of needles) assert.ok(!web.includes(n), 'no key material in localStorage/sessionStorage');

  // Reload: only the unlock screen, and no relay request until it is unlocked. The unlocked
  // page is left for a blank one first, so a poll its timers send in the meantime is not
  // counted as the reloaded page's (a race that failed one CI run).
  const appUrl = alice.page.url();
  await alice.page.goto('about:blank');
  const requests = [];
  recordRequests(alice.context, requests);
  await alice.page.goto(appUrl);
  await alice.page.waitForSelector(UNLOCK);
  assert.equal(await alice.page.$('#app-ready'), null, 'no other view before unlock');
  await alice.page.waitForFunction(() => document.activeElement?.id === 'unlock-pass');
  assert.equal(await alice.page.getAttribute('label[for="unlock-pass"]', 'for'), 'unlock-pass');
  assert.match(await alice.page.textContent('#unlock-forgot'), /backup/);
  await alice.page.click('#unlock-submit');
  await alice.page.waitForSelector('#unlock-status[data-state="error"]');
  assert.match(await alice.page.textContent('#unlock-status'), /Enter your passphrase/);
  await unlockWith(alice.page, 'not the passphrase');
  await alice.page.waitForFunction(() => /does not open/.test(document.querySelector('#unlock-status')?.textContent || ''), null, { timeout: 60_000 });
  assert.equal(await alice.page.getAttribute('#unlock-status', 'role'), 'alert');
  assert.equal(await alice.page.getAttribute('#unlock-pass', 'aria-invalid'), 'true');
  await alice.page.screenshot({ path: join(out, '02-wrong-passphrase.png'), fullPage: true });
  const apiBefore = requests.filter((r) => new URL(r.url).pathname.startsWith('/api/'));
  assert.deepEqual(apiBefore.map((r) => r.url), [], 'no relay request while locked');

  const t1 = Date.now();
  await unlockWith(alice.page, PASS);
  await alice.page.waitForSelector(APP_READY, { timeout: 60_000 });
  const unlockMs = Date.now() - t1;
  await alice.page.waitForSelector(incoming(toAlice), { timeout: 30_000 });
  await alice.page.waitForSelector(outgoing(toBob));
  await alice.page.screenshot({ path: join(out, '03-unlocked.png'), fullPage: true });
  assert.deepEqual(await scanIndexedDb(alice.page, needles), [], 'still nothing readable after unlock');

  // A second tab of the same profile unlocks on its own.
  const second = await alice.context.newPage();
  await second.goto(relay.url);
  await second.waitForSelector(UNLOCK);
  await unlockWith(second, PASS);
  await second.waitForSelector(APP_READY, { timeout: 60_000 });
  await second.close();

  // Messaging still works after unlock.
  const later = randomCanary('LATER');
  await compose(bob.page, 'Alice', `after unlock ${later}`);
  await bob.page.waitForSelector(outgoing(later, 'sent'), { timeout: 30_000 });
  await alice.page.click('#check-now');
  await alice.page.waitForSelector(incoming(later), { timeout: 30_000 });

  // Change the passphrase: the current one is checked.
  await lockForm(alice.page);
  await alice.page.fill('#lock-current', 'not the passphrase');
  await alice.page.fill('#lock-new', PASS2);
  await alice.page.fill('#lock-new2', PASS2);
  await alice.page.click('#lock-change');
  await alice.page.waitForFunction(() => /not the current passphrase/.test(document.querySelector('#lock-status')?.textContent || ''), null, { timeout: 60_000 });
  await alice.page.fill('#lock-current', PASS);
  await alice.page.click('#lock-change');
  await alice.page.waitForSelector('#lock-status[data-state="ok"]', { timeout: 60_000 });
  await alice.page.reload();
  await alice.page.waitForSelector(UNLOCK);
  await unlockWith(alice.page, PASS);
  await alice.page.waitForFunction(() => /does not open/.test(document.querySelector('#unlock-status')?.textContent || ''), null, { timeout: 60_000 });
  await unlockWith(alice.page, PASS2);
  await alice.page.waitForSelector(APP_READY, { timeout: 60_000 });

  // Remove the lock: a reload opens without a prompt, conversation intact.
  await lockForm(alice.page);
  await alice.page.fill('#lock-current', PASS2);
  await alice.page.click('#lock-remove');
  await alice.page.waitForSelector('#lock-status[data-state="ok"]', { timeout: 60_000 });
  await alice.page.waitForSelector('#at-rest[data-state="protected"]', { state: 'attached' });
  const after = (await rawVault(alice.page)).map(([k]) => k);
  assert.ok(!after.includes('store_key_locked') && after.includes('store_key') && after.includes('wrap_key'), `keyring back to WebCrypto: ${after}`);
  await alice.page.reload();
  await alice.page.waitForSelector(APP_READY, { timeout: 30_000 });
  assert.equal(await alice.page.$(UNLOCK), null);
  await showView(alice.page, 'chats');
  await alice.page.click('[data-contact="Bob"]');
  await alice.page.waitForSelector(incoming(later), { timeout: 30_000 });
  await alice.page.waitForSelector(incoming(toAlice));
  await alice.page.screenshot({ path: join(out, '04-lock-removed.png'), fullPage: true });

  console.log(`[figures] set lock (Argon2id m=64MiB t=3 p=1 + write): ${lockMs} ms; unlock click → app ready: ${unlockMs} ms`);
});
