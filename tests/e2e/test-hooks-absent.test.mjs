// Issue 14 item 10: the e2e test hooks (`window.__posternTest`, and the localStorage flag that
// puts the identity secret on `window`) exist only in the test build (`make ui-test`, cargo
// feature `test-hooks`, dist-test/), never in the production bundle (`make ui`, dist/, what
// `make run` serves): the flag set in a browser on the production build exposes nothing. The app
// also runs under the relay's CSP without a single violation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, launchBrowser, APP_READY } from './lib/harness.mjs';

const HOOK_STRINGS = ['__posternTest', 'postern-test-hooks', 'identitySecret'];

function bundleFiles(dir) {
  return readdirSync(dir).filter((f) => /\.(js|wasm|html)$/.test(f)).map((f) => join(dir, f));
}

function hits(dir) {
  const found = [];
  for (const f of bundleFiles(dir)) {
    const bytes = readFileSync(f);
    for (const s of HOOK_STRINGS) if (bytes.includes(Buffer.from(s))) found.push(`${f}: ${s}`);
  }
  return found;
}

const prod = process.env.POSTERN_PROD_WEB;

test('the production bundle has no test hook; the test bundle has them', () => {
  assert.ok(prod, 'POSTERN_PROD_WEB (the `make ui` dist/) must be set (run via `make e2e`)');
  assert.ok(bundleFiles(prod).some((f) => f.endsWith('.wasm')), `${prod} holds no wasm bundle`);
  assert.deepEqual(hits(prod), [], 'test hook strings in the production bundle');
  // The scan finds them where they are compiled in (so the empty result above means something).
  assert.ok(hits(process.env.POSTERN_WEB).some((h) => h.includes('__posternTest')), 'no hook in the test bundle');
});

test('production build in a browser: the hook flag exposes nothing; no CSP violation', async (t) => {
  const relay = await startRelay({ web: prod });
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  const csp = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (/Content[- ]Security[- ]Policy/i.test(m.text())) csp.push(m.text()); });
  await page.goto(relay.url);
  await page.waitForSelector(APP_READY, { timeout: 45_000 });
  // What an attacker with one line of script (or a careless extension) would try.
  await page.evaluate(() => localStorage.setItem('postern-test-hooks', '1'));
  await page.reload();
  await page.waitForSelector(APP_READY, { timeout: 45_000 });
  assert.equal(await page.evaluate(() => typeof window.__posternTest), 'undefined');
  const secretish = await page.evaluate(() => Object.keys(window).filter((k) => /postern|secret|identity/i.test(k)));
  assert.deepEqual(secretish, [], 'nothing named like a secret on window');
  assert.deepEqual(csp, [], 'CSP violations');
  assert.deepEqual(errors, []);
});
