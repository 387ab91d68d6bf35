// Tor Browser situations, reproduced in Firefox ESR: WebAssembly turned off (the "Safer"
// security level; pref javascript.options.wasm = false) shows a clear message instead of a
// blank page, and a private window (browser.privatebrowsing.autostart, as Tor Browser always
// runs) warns that the identity goes away with the window and leads to the backup form.
// Both come from web/browser-check.js (plain script, allowed by the relay's CSP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRelay, outputDir } from './lib/harness.mjs';
import { launchFirefox } from './lib/firefox.mjs';

test('WebAssembly disabled: the page explains what happened and what to do', async (t) => {
  const out = outputDir('firefox-no-wasm');
  const relay = await startRelay();
  const fx = await launchFirefox({ prefs: { 'javascript.options.wasm': false } });
  t.after(async () => { await fx.close(); await relay.stop(); });

  await fx.goto(relay.url);
  await fx.waitForSelector('main#no-wasm h1', { text: 'WebAssembly is turned off' });
  assert.equal(await fx.evaluate(() => typeof WebAssembly), 'undefined');
  assert.equal(await fx.evaluate(() => document.documentElement.dataset.wasm), 'missing');
  const text = await fx.textContent('#no-wasm');
  assert.match(text, /Tor Browser/);
  assert.match(text, /security level to "Standard"/);
  assert.match(text, /javascript\.options\.wasm/);
  // Accessible: one main landmark named by its heading, a real button, nothing else on screen.
  assert.equal(await fx.getAttribute('#no-wasm', 'aria-labelledby'), 'no-wasm-h');
  assert.equal(await fx.count('main'), 1);
  assert.equal(await fx.count('button#no-wasm-reload'), 1);
  assert.equal(await fx.count('#identity-string'), 0);
  await fx.screenshot(join(out, '01-no-wasm.png'));
});

test('private window: warning with a way to the backup; the app keeps working', async (t) => {
  const out = outputDir('firefox-private');
  const relay = await startRelay();
  const fx = await launchFirefox({ privateWindow: true });
  t.after(async () => { await fx.close(); await relay.stop(); });

  await fx.goto(relay.url);
  await fx.waitForSelector('#identity-string', { timeout: 45_000 });
  await fx.waitForSelector('#private-warning[data-reason="firefox-no-opfs"]');
  assert.equal(await fx.evaluate(() => document.documentElement.dataset.private), 'likely');
  assert.match(await fx.textContent('#private-warning'), /deleted when it closes/);
  await fx.screenshot(join(out, '01-private-warning.png'));

  // "Back up now" opens the export form and puts the cursor in its passphrase field.
  await fx.click('#private-backup');
  await fx.waitForFunction(() => document.activeElement && document.activeElement.id === 'backup-pass', [], 'backup passphrase focused');
  assert.equal(await fx.evaluate(() => document.getElementById('backup-pass').closest('details').open), true);
  await fx.screenshot(join(out, '02-backup-form.png'));

  // The app still renders and updates around the banner: create a gate.
  await fx.fill('#gate-name', 'Private');
  await fx.click('#create-gate');
  await fx.waitForSelector('[data-gate="Private"]', { timeout: 45_000 });
  assert.equal(await fx.count('#private-warning'), 1);
  await fx.click('#private-dismiss');
  await fx.waitForFunction(() => !document.getElementById('private-warning'), [], 'banner dismissed');
});
