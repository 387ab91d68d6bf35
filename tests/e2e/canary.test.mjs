// Proves the leak detectors can fail: a page that deliberately sends a canary (in the body, a
// header, the URL) and a file that holds it are both caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, launchBrowser, recordRequests, findLeaks, findInFiles, identitySecretForms, randomCanary } from './lib/harness.mjs';

test('request capture catches a deliberately leaking page', async (t) => {
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const records = [];
  const context = await browser.newContext();
  recordRequests(context, records);
  const page = await context.newPage();
  await page.goto(relay.url + '/api/health');
  const inBody = randomCanary('BODY');
  const inHeader = randomCanary('HEADER');
  const inUrl = randomCanary('URL');
  await page.evaluate(async ([b, h, u]) => {
    await fetch('/api/mesh/dm/send', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: b }) });
    await fetch('/api/health', { headers: { 'x-leak': h } });
    await fetch('/api/health?q=' + encodeURIComponent(u));
  }, [inBody, inHeader, inUrl]);
  const hits = findLeaks(records, [inBody, inHeader, inUrl]).map((h) => h.needle).sort();
  assert.deepEqual(hits, [inBody, inHeader, inUrl].sort());
  assert.deepEqual(findLeaks(records, [randomCanary('ABSENT')]), []);
});

test('data directory scan and secret forms catch a stored secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-leak-'));
  const canary = randomCanary('FILE');
  writeFileSync(join(dir, 'db-wal'), Buffer.concat([Buffer.alloc(100), Buffer.from(canary), Buffer.alloc(10)]));
  assert.equal(findInFiles(dir, [canary]).length, 1);
  // A fake key export: each half must be detectable in hex and base64 forms.
  const raw = Buffer.alloc(64, 7); raw[0] = 1; raw[32] = 2;
  const forms = identitySecretForms('postern-secret1.' + raw.toString('base64url'));
  assert.ok(forms.includes(raw.subarray(0, 32).toString('hex')));
  assert.ok(forms.includes(raw.subarray(32).toString('base64').replace(/=+$/, '')));
  assert.deepEqual(findLeaks([{ url: 'http://x/', headers: {}, body: JSON.stringify({ k: raw.subarray(32).toString('hex') }) }], forms).length, 1);
});
