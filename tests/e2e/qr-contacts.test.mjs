// Contacts by QR code (issue 15): Alice's Chromium has a FAKE CAMERA (a .y4m file this test
// writes) showing a QR code rasterised from the SVG another profile's page draws. Alice scans
// Bob's identity code and adds him (then a DM round trip); a tampered identity code is refused
// with the paste path's words; on the safety view Bob's safety-number code matches (then "Mark
// verified") and a code of another conversation (Carol–Bob) is a loud mismatch. axe-core finds
// no serious/critical violation on the QR and scan screens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startRelay, launchBrowser, openPostern, APP_READY, identityOf, addPosternContact, compose,
  outgoing, incoming, showView, outputDir, randomCanary,
} from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const AXE = join(here, 'node_modules', 'axe-core', 'axe.min.js');
const T = 45_000;
const W = 640;
const H = 480;

/** The QR drawing of an `<svg class="qr">` on the page: its extent and dark rectangles. */
async function qrOf(page, selector) {
  const { n, d } = await page.$eval(selector, (svg) => ({
    n: Number(svg.getAttribute('data-modules')),
    d: svg.querySelector('path').getAttribute('d'),
  }));
  const rects = [...d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)].map((m) => m.slice(1, 4).map(Number));
  assert.ok(n > 21 && rects.length > 20, `QR drawing of ${selector}`);
  return { n, rects };
}

/** Write a YUV4MPEG2 (4:2:0) file of a few frames showing the QR code, centred and scaled. */
function writeY4m(file, { n, rects }) {
  const scale = Math.floor((H - 40) / n);
  const x0 = Math.floor((W - n * scale) / 2);
  const y0 = Math.floor((H - n * scale) / 2);
  const y = Buffer.alloc(W * H, 255);
  for (const [x, row, w] of rects) {
    for (let py = row * scale; py < (row + 1) * scale; py++) {
      y.fill(0, (y0 + py) * W + x0 + x * scale, (y0 + py) * W + x0 + (x + w) * scale);
    }
  }
  const uv = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, uv]);
  const head = Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`);
  writeFileSync(file, Buffer.concat([head, ...Array(5).fill(frame)]));
}

/** A profile whose context lets the test inject axe-core past the app's CSP. */
async function openApp(browser, url) {
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => { errors.push(e.message); console.error('[pageerror]', e.message); });
  await page.goto(url);
  await page.waitForSelector(APP_READY, { timeout: 30_000 });
  return { context, page, errors };
}

const axeBad = [];
async function axe(page, name) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((x) => x.target.join(' ')) }));
  });
  const bad = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  console.log(`[figures] axe ${name}: ${found.length} violation kinds, ${bad.length} serious/critical ${JSON.stringify(bad)}`);
  for (const v of bad) axeBad.push({ screen: name, ...v });
}

/**
 * Press the scanner button `id` (the camera closes by itself once a code is read; callers wait
 * for what the code did). `shotAxe`: run axe-core while the camera preview shows.
 */
async function scan(page, id, { shotAxe } = {}) {
  await page.click(`#${id}`, { timeout: T });
  if (shotAxe) {
    const open = await page.waitForSelector(`#${id}-video`, { timeout: 5_000 }).then(() => true, () => false);
    if (open) await axe(page, shotAxe);
  }
}

test('contacts by QR code with a fake camera', { timeout: 300_000 }, async (t) => {
  const out = outputDir('qr-contacts');
  const camFile = join(mkdtempSync(join(tmpdir(), 'postern-qr-')), 'camera.y4m');
  const relay = await startRelay();
  const plain = await launchBrowser();
  t.after(async () => { await plain.close(); await relay.stop(); });

  // Bob and Carol: no camera needed.
  const bob = await openPostern(plain, relay.url, { testHooks: true });
  const carol = await openPostern(plain, relay.url);
  const idB = await identityOf(bob.page);
  const nodeB = idB.split('.')[1];
  const bobQr = await qrOf(bob.page, '#identity-qr');
  writeY4m(camFile, bobQr);

  const camera = await launchBrowser({ fakeCamera: camFile });
  t.after(() => camera.close());
  const alice = await openApp(camera, relay.url);
  const page = alice.page;
  const idA = await identityOf(page);
  const nodeA = idA.split('.')[1];

  // 1. Scan Bob's identity: the same checks as a paste, then a name and "Add contact".
  assert.ok(await page.isVisible('#scan-identity'), 'Scan button where getUserMedia exists');
  await axe(page, 'add contact (QR)');
  await page.click('#show-my-qr');
  await page.waitForSelector('#my-identity-qr', { state: 'visible' });
  await scan(page, 'scan-identity', { shotAxe: 'scanner open' });
  await page.waitForFunction(() => /Scanned an identity/.test(document.querySelector('.add-contact')?.textContent || ''), null, { timeout: T });
  assert.equal(await page.inputValue('#contact-identity'), idB, 'the scanned text is Bob\'s identity');
  await page.screenshot({ path: join(out, '01-alice-scanned-bob.png'), fullPage: true });
  await page.fill('#contact-name', 'Bob');
  await page.click('#add-contact');
  await page.waitForSelector('[data-contact="Bob"]', { timeout: T });

  // 2. A DM round trip with the scanned contact.
  await addPosternContact(bob.page, 'Alice', idA);
  const hello = randomCanary('QR');
  await compose(page, 'Bob', `hello via QR ${hello}`);
  await page.waitForSelector(outgoing(hello, 'sent'), { timeout: T });
  await bob.page.click('#check-now');
  await bob.page.waitForSelector(incoming(hello), { timeout: T });
  const reply = randomCanary('BOB');
  await compose(bob.page, 'Alice', `reply ${reply}`);
  await page.click('#check-now');
  await page.waitForSelector(incoming(reply), { timeout: T });

  // 3. A tampered identity code (one character of its signed part changed) is refused.
  const parts = idB.split('.');
  const last = parts[parts.length - 1];
  const i = Math.floor(last.length / 2);
  parts[parts.length - 1] = last.slice(0, i) + (last[i] === 'A' ? 'B' : 'A') + last.slice(i + 1);
  const tampered = parts.join('.');
  // Drawn by the app's own encoder on Bob's page (test hook `qrSvgPath`).
  await page.click('#view-all');
  await page.waitForSelector('#app-ready[data-route="all"]');
  writeY4m(camFile, await qrFromText(bob.page, tampered));
  await scan(page, 'scan-identity');
  await page.waitForFunction(() => /not a valid Postern identity/.test(document.querySelector('#contact-error')?.textContent || ''), null, { timeout: T });
  assert.equal(await page.locator('.conv-item[data-node-id]').count(), 1, 'nothing added');
  await page.screenshot({ path: join(out, '02-tampered-refused.png'), fullPage: true });

  // 4. Safety numbers: Bob's code matches → "Mark verified"; Carol–Bob's code is a mismatch.
  await bob.page.goto(`${relay.url}/#/dm/${nodeA}`);
  await bob.page.waitForSelector('#safety-qr', { timeout: T });
  writeY4m(camFile, await qrOf(bob.page, '#safety-qr'));
  await page.click('[data-contact="Bob"]');
  await page.waitForSelector('#safety-qr', { timeout: T });
  await axe(page, 'safety view (QR)');
  await scan(page, 'scan-safety');
  await page.waitForSelector('#safety-scan-result[data-result="match"]', { timeout: T });
  await axe(page, 'safety scan match');
  await page.click('#mark-verified');
  await page.waitForSelector('#safety-verified', { timeout: T });
  await page.screenshot({ path: join(out, '03-safety-match-verified.png'), fullPage: true });

  await addPosternContact(carol.page, 'Bob', idB);
  await carol.page.goto(`${relay.url}/#/dm/${nodeB}`);
  await carol.page.waitForSelector('#safety-qr', { timeout: T });
  writeY4m(camFile, await qrOf(carol.page, '#safety-qr'));
  await scan(page, 'scan-safety');
  await page.waitForSelector('#safety-scan-result[data-result="mismatch"][role="alert"]', { timeout: T });
  assert.match(await page.textContent('#safety-scan-result'), /does NOT match/);
  await axe(page, 'safety scan mismatch');
  await page.screenshot({ path: join(out, '04-safety-mismatch.png'), fullPage: true });

  // 5. The identity QR on the settings page.
  await showView(page, 'settings');
  await page.waitForSelector('#identity-qr', { state: 'visible' });
  await axe(page, 'settings (identity QR)');

  assert.deepEqual(alice.errors, [], 'no page errors');
  assert.deepEqual(axeBad, [], 'no serious/critical axe violation on the QR screens');
});

/** A QR drawing of any text by the app's own encoder on `page` (test build hook). */
async function qrFromText(page, text) {
  await page.waitForFunction(() => window.__posternTest && window.__posternTest.qrSvgPath, null, { timeout: T });
  return page.evaluate((t) => window.__posternTest.qrSvgPath(t), text).then(({ n, d }) => ({
    n,
    rects: [...d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)].map((m) => m.slice(1, 4).map(Number)),
  }));
}
