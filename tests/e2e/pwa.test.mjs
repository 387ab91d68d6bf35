// Offline-first PWA: the web manifest and icons, the service worker precaching the build that
// the Trunk hook listed, an offline reload that shows the shell and stored messages, and a new
// build replacing the old one (its cache deleted) on the next loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startRelay, restartRelay, launchBrowser, openPostern, identityOf, addPosternContact, compose,
  outgoing, incoming, outputDir, randomCanary,
} from './lib/harness.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GEN_PRECACHE = join(REPO, 'scripts', 'gen-precache.mjs');

const controlled = (page) => page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
const cacheNames = (page) => page.evaluate(() => caches.keys());

/** Poll an async condition (the Cache API is async, which waitForFunction does not await). */
async function waitUntil(cond, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('manifest, icons and precache manifest are served and consistent with the build', async (t) => {
  const relay = await startRelay();
  t.after(() => relay.stop());
  const web = process.env.POSTERN_WEB;

  const html = await (await fetch(relay.url + '/')).text();
  assert.match(html, /<link rel="manifest" href="\/manifest.webmanifest"/);
  const mres = await fetch(relay.url + '/manifest.webmanifest');
  assert.equal(mres.status, 200);
  const manifest = JSON.parse(await mres.text());
  assert.equal(manifest.start_url, '/');
  assert.equal(manifest.display, 'standalone');
  assert.ok(manifest.name && manifest.short_name && manifest.theme_color && manifest.background_color);
  for (const size of ['192x192', '512x512']) {
    const icon = manifest.icons.find((i) => i.sizes === size && i.type === 'image/png');
    assert.ok(icon, `icon ${size}`);
    const r = await fetch(relay.url + icon.src);
    assert.equal(r.status, 200);
    const png = Buffer.from(await r.arrayBuffer());
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    const [w, h] = size.split('x').map(Number);
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [w, h]);
  }

  const pres = await fetch(relay.url + '/precache-manifest.json');
  assert.equal(pres.status, 200);
  const pre = await pres.json();
  assert.match(pre.build_id, /^[0-9a-f]{16}$/);
  assert.ok(pre.files.includes('/index.html'));
  const built = readdirSync(web);
  const wasm = built.find((f) => /^postern-app-[0-9a-f]+_bg\.wasm$/.test(f));
  const js = built.find((f) => /^postern-app-[0-9a-f]+\.js$/.test(f));
  assert.ok(wasm && js, 'hashed wasm and js in the build');
  assert.ok(pre.files.includes('/' + wasm) && pre.files.includes('/' + js), 'hashed wasm/js are precached');
  assert.ok(html.includes(js), 'index.html loads the precached js');
  for (const f of pre.files) assert.equal((await fetch(relay.url + f)).status, 200, f);
  assert.ok(!pre.files.includes('/sw.js') && !pre.files.includes('/precache-manifest.json'));
  const sw = await (await fetch(relay.url + '/sw.js')).text();
  assert.ok(sw.includes(`const BUILD_ID = '${pre.build_id}';`), 'sw.js stamped with the build id');
});

test('service worker: offline reload shows shell and stored messages; a new build takes over', async (t) => {
  const out = outputDir('pwa');
  let relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });
  const web = process.env.POSTERN_WEB;
  const build1 = JSON.parse(readFileSync(join(web, 'precache-manifest.json'), 'utf8')).build_id;

  // Figure (reported, not asserted): cold first visit (empty profile, no service worker) until
  // the app is interactive (identity created and unlocked, relay online).
  let t0 = performance.now();
  const alice = await openPostern(browser, relay.url);
  console.log(`# [figures] cold load to interactive (loopback, empty profile): ${Math.round(performance.now() - t0)} ms`);
  const bob = await openPostern(browser, relay.url);
  await addPosternContact(alice.page, 'Bob', await identityOf(bob.page));
  await addPosternContact(bob.page, 'Alice', await identityOf(alice.page));
  const canary = randomCanary('PWA');
  await compose(alice.page, 'Bob', `offline later ${canary}`);
  await alice.page.waitForSelector(outgoing(canary, 'sent'), { timeout: 30_000 });
  await bob.page.click('#check-now');
  await bob.page.waitForSelector(incoming(canary), { timeout: 30_000 });

  // The worker registered and controls the page; its cache holds this build's shell.
  const page = bob.page;
  await controlled(page);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.sw), 'registered');
  assert.deepEqual(await cacheNames(page), [`postern-shell-${build1}`]);
  const cachedUrls = await page.evaluate(async (name) => (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname), `postern-shell-${build1}`);
  assert.ok(cachedUrls.some((p) => p.endsWith('_bg.wasm')) && cachedUrls.includes('/index.html'));
  assert.ok(!cachedUrls.some((p) => p.startsWith('/api')), 'no API response is cached');

  // Relay down: reload shows the shell from the cache and the stored conversation.
  await relay.stop();
  t0 = performance.now();
  await page.reload();
  await page.waitForSelector(incoming(canary), { timeout: 30_000 });
  console.log(`# [figures] offline reload until the stored conversation shows: ${Math.round(performance.now() - t0)} ms`);
  await page.waitForSelector('#relay-status[data-state="offline"]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('#app-ready', 'data-ready'), 'false');
  assert.match(await page.textContent('#relay-status'), /offline/);
  await page.waitForSelector('[data-contact="Alice"]');
  await page.screenshot({ path: join(out, '01-offline-reload.png'), fullPage: true });
  assert.deepEqual(bob.errors, [], 'no page errors');

  // A new build: a copy of dist/ with a marker in index.html, re-stamped by the same hook.
  const web2 = mkdtempSync(join(tmpdir(), 'postern-web2-'));
  cpSync(web, web2, { recursive: true });
  const marker = randomCanary('BUILD2');
  const idx = join(web2, 'index.html');
  writeFileSync(idx, readFileSync(idx, 'utf8').replace('</head>', `<meta name="postern-build-marker" content="${marker}"></head>`));
  execFileSync(process.execPath, [GEN_PRECACHE, web2]);
  const build2 = JSON.parse(readFileSync(join(web2, 'precache-manifest.json'), 'utf8')).build_id;
  assert.notEqual(build2, build1);

  relay = await restartRelay(relay, { web: web2 });
  const markerOnPage = () => page.evaluate(() => document.querySelector('meta[name="postern-build-marker"]')?.content || null);
  await page.reload();
  await page.waitForSelector('#relay-status[data-state="online"]', { timeout: 30_000 });
  // Navigations go to the network first: the new index.html is used at once…
  assert.equal(await markerOnPage(), marker);
  // …and the new worker installs, precaches build 2 and deletes build 1's cache.
  await waitUntil(async () => JSON.stringify(await cacheNames(page)) === JSON.stringify([`postern-shell-${build2}`]), 'new build cache replaces the old one');
  await page.reload();
  await page.waitForSelector(incoming(canary), { timeout: 30_000 });
  assert.equal(await markerOnPage(), marker);
  await controlled(page);
  assert.ok((await page.evaluate(() => navigator.serviceWorker.controller.scriptURL)).endsWith('/sw.js'));
  assert.deepEqual(await cacheNames(page), [`postern-shell-${build2}`], 'old build cache deleted');

  // Offline again: the shell now comes from build 2's cache.
  await relay.stop();
  await page.reload();
  await page.waitForSelector('#relay-status[data-state="offline"]', { timeout: 30_000 });
  await page.waitForSelector(incoming(canary));
  assert.equal(await markerOnPage(), marker);
  await page.screenshot({ path: join(out, '02-new-build-offline.png'), fullPage: true });
  assert.deepEqual(bob.errors, [], 'no page errors');
});
