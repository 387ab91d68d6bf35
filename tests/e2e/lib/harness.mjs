// Shared end-to-end harness: a real `postern serve` process, Debian's Chromium driven by
// playwright-core, a recorder of every request the pages make, and leak detectors.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const OUTPUT_DIR = join(here, '..', 'output');

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic',
];

/**
 * Start `postern serve` on a random loopback port; resolves once it prints its address.
 * Options: `dataDir` (reuse a data directory), `listen` (e.g. `127.0.0.1:43123` to come back on
 * the port of a stopped relay), `web` (serve another UI directory than POSTERN_WEB).
 */
export async function startRelay({ dataDir, extraArgs = [], listen = '127.0.0.1:0', web: webDir } = {}) {
  const bin = process.env.POSTERN_BIN;
  const web = webDir || process.env.POSTERN_WEB;
  if (!bin || !web) throw new Error('POSTERN_BIN and POSTERN_WEB must be set (run via `make e2e`)');
  const data = dataDir || mkdtempSync(join(tmpdir(), 'postern-e2e-'));
  const child = spawn(bin, ['serve', '--listen', listen, '--data', data, '--web', web, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(d.toString()));
  const url = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const m = line.match(/postern listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`relay exited early (${code}): ${stderr.join('')}`)));
  });
  return {
    url, data, child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Launch headless Chromium (Debian's binary; nothing is downloaded). `fakeCamera`: a .y4m file
 * that every page of this browser gets as its camera (permission granted without a prompt).
 */
export function launchBrowser({ fakeCamera } = {}) {
  const cam = fakeCamera ? [
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${fakeCamera}`,
  ] : [];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...cam] });
}

/** Record every request a context's pages make: URL, method, headers and body. */
export function recordRequests(context, sink) {
  context.on('request', (req) => {
    let body = null;
    try { body = req.postDataBuffer(); } catch { body = null; }
    sink.push({ url: req.url(), method: req.method(), headers: req.headers(), body: body ? body.toString('latin1') : '' });
  });
  return sink;
}

function b64(buf) { return Buffer.from(buf).toString('base64'); }
function b64url(buf) { return Buffer.from(buf).toString('base64url'); }

/** All the textual forms in which a secret might travel. */
export function secretForms(secretBytes) {
  const forms = new Set();
  const add = (bytes) => {
    forms.add(Buffer.from(bytes).toString('hex'));
    forms.add(b64(bytes).replace(/=+$/, ''));
    forms.add(b64url(bytes));
  };
  add(secretBytes);
  return [...forms].filter((f) => f.length >= 16);
}

/** Secrets of a `postern-secret1.<b64url(seed‖scalar)>` export: the whole string and each key. */
export function identitySecretForms(exportString) {
  const raw = Buffer.from(exportString.split('.')[1], 'base64url');
  if (raw.length !== 64) throw new Error('unexpected secret export length');
  return [exportString, ...secretForms(raw), ...secretForms(raw.subarray(0, 32)), ...secretForms(raw.subarray(32))];
}

/** Return every recorded request in which any needle appears (URL, header names/values, body). */
export function findLeaks(records, needles) {
  const hits = [];
  for (const r of records) {
    const hay = [r.url, ...Object.entries(r.headers).flat(), r.body];
    let decoded = '';
    try { decoded = decodeURIComponent(r.url); } catch { decoded = ''; }
    hay.push(decoded);
    for (const n of needles) {
      if (hay.some((h) => h && h.includes(n))) hits.push({ url: r.url, needle: n });
    }
  }
  return hits;
}

/** Return the files under `dir` whose bytes contain any needle (as UTF-8). */
export function findInFiles(dir, needles) {
  const hits = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else {
        const bytes = readFileSync(p);
        for (const n of needles) if (bytes.includes(Buffer.from(n, 'utf8'))) hits.push({ file: p, needle: n });
      }
    }
  };
  walk(dir);
  return hits;
}

/**
 * The identity secret export string (`postern-secret1.…`) of the page's profile, through the
 * documented test hook (IndexedDB holds it only sealed under the store key): turns the hook on
 * (`localStorage["postern-test-hooks"] = "1"`), reloads, waits for the app and reads
 * `window.__posternTest.identitySecret`. Returns `[secret]` (same shape as before).
 */
export async function readStoredSecret(page) {
  await page.evaluate(() => localStorage.setItem('postern-test-hooks', '1'));
  await page.reload();
  await page.waitForSelector('#identity-string', { state: 'attached', timeout: 30_000 });
  await page.waitForFunction(() => window.__posternTest && window.__posternTest.identitySecret, null, { timeout: 30_000 });
  const secret = await page.evaluate(() => window.__posternTest.identitySecret);
  return secret ? [secret] : [];
}

/**
 * Every value in every object store of every IndexedDB database of the page's origin, rendered
 * as text (strings as is, bytes as latin1 and hex, objects as JSON): what a scan of the
 * profile's disk could find. Returns the needles found, with database/store/key.
 */
export async function scanIndexedDb(page, needles) {
  return page.evaluate(async (needles) => {
    const hits = [];
    const render = (v) => {
      if (v == null) return '';
      if (typeof v === 'string') return v;
      if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
        const b = new Uint8Array(v.buffer ? v.buffer : v);
        return String.fromCharCode(...b) + [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
      }
      if (typeof CryptoKey !== 'undefined' && v instanceof CryptoKey) return `CryptoKey(${v.type},${v.extractable})`;
      try { return JSON.stringify(v); } catch { return String(v); }
    };
    for (const { name } of await indexedDB.databases()) {
      const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      for (const store of db.objectStoreNames) {
        const [keys, values] = await new Promise((res, rej) => {
          const tx = db.transaction(store, 'readonly');
          const k = tx.objectStore(store).getAllKeys();
          const v = tx.objectStore(store).getAll();
          tx.oncomplete = () => res([k.result, v.result]); tx.onerror = () => rej(tx.error);
        });
        values.forEach((v, i) => {
          const text = render(v) + ' ' + render(keys[i]);
          for (const n of needles) if (text.includes(n)) hits.push({ db: name, store, key: String(keys[i]), needle: n });
        });
      }
      db.close();
    }
    return hits;
  }, needles);
}

export function outputDir(testName) {
  const d = join(OUTPUT_DIR, testName);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

export function randomCanary(prefix = 'CANARY') {
  return `${prefix}-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** `host:port` of a relay URL, to restart a relay on the same address (`startRelay({ listen })`). */
export function listenAddress(url) {
  return new URL(url).host;
}

/** Restart a stopped relay on the same port and data directory (optionally another `web` dir). */
export async function restartRelay(relay, { web, extraArgs = [] } = {}) {
  await relay.stop();
  return startRelay({ dataDir: relay.data, listen: listenAddress(relay.url), web, extraArgs });
}

// ---- Postern UI helpers (used by pwa / outbox tests) ----

export const APP_READY = '#app-ready[data-ready="true"]';

/** New browser context + page on the app; waits until the app is ready (registered). */
export async function openPostern(browser, url, { records, ready = true, testHooks = false } = {}) {
  const context = await browser.newContext();
  if (records) recordRequests(context, records);
  if (testHooks) await enableTestHooks(context);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => { errors.push(e.message); console.error('[pageerror]', e.message); });
  await page.goto(url);
  await page.waitForSelector(ready ? APP_READY : '#identity-string', { state: 'attached', timeout: 30_000 });
  return { context, page, errors };
}

/** The header's section links: 'chats', 'network' (chain sync, tree heads) or 'settings'. */
const VIEW_LINKS = { chats: '#nav-chats', channels: '#nav-channels', network: '#nav-sync', settings: '#nav-settings' };

/** Show one section of the app (the messenger layout shows one view at a time). */
export async function showView(page, view) {
  await page.click(VIEW_LINKS[view]);
  await page.waitForSelector(`#app-ready[data-route="${view === 'chats' ? 'home' : view}"]`);
}

/** Open a conversation from the sidebar: a gate by id, or a contact by name. */
export async function openGate(page, gateId) {
  await page.click(`.gate-item[data-gate-id="${gateId}"] a`);
  await page.waitForSelector(`#app-ready[data-route="gate"] .conversation[data-gate-id="${gateId}"]`);
}

/**
 * Create the gate `name` in `page` and invite the contacts named in `invite`, one rotation each
 * (epoch n + 1 for the n-th); resolves to the gate id once the last epoch shows.
 */
export async function createGate(page, name, invite = [], { timeout = 45_000 } = {}) {
  await page.fill('#gate-name', name);
  await page.click('#create-gate');
  await page.waitForSelector('.gate-epoch[data-epoch="1"]', { timeout });
  for (const [i, contact] of invite.entries()) {
    await page.selectOption('#gate-invite-contact', contact);
    await page.click('#gate-invite');
    await page.waitForSelector(`.gate-epoch[data-epoch="${i + 2}"]`, { timeout });
  }
  return page.getAttribute(`[data-gate="${name}"]`, 'data-gate-id');
}

export async function identityOf(page) {
  return (await page.textContent('#identity-string')).trim();
}

export async function addPosternContact(page, name, identity) {
  await page.fill('#contact-name', name);
  await page.fill('#contact-identity', identity);
  await page.click('#add-contact');
  await page.waitForSelector(`[data-contact="${name}"]`);
}

/** Select the contact, type and press Send (does not wait for delivery). */
export async function compose(page, contact, body) {
  await page.click(`[data-contact="${contact}"]`);
  await page.fill('#compose-body', body);
  await page.click('#send');
}

/** Selector of an outgoing message containing `text`, optionally in a delivery state
 * ('delivered' = sent and acknowledged by the recipient: `data-state` stays "sent"). */
export function outgoing(text, state) {
  const sel = state === 'delivered' ? '[data-delivered="true"]' : state ? `[data-state="${state}"]` : '';
  return `.message[data-direction="out"]${sel}:has-text("${text}")`;
}

export function incoming(text) {
  return `.message[data-direction="in"][data-verified="true"]:has-text("${text}")`;
}

/** Resolve after the page has completed `n` mailbox polls from now ("Check now" each time). */
export async function pollTimes(page, n = 2) {
  for (let i = 0; i < n; i++) {
    const done = page.waitForResponse((r) => r.url().endsWith('/api/mesh/dm/poll'), { timeout: 30_000 });
    await page.click('#check-now');
    await done;
  }
}

/**
 * Turn the app's test hooks on for every page of `context` from its first load
 * (`localStorage["postern-test-hooks"] = "1"` before any app script runs), so `readStore` never
 * needs a reload (a reload would hand tab leadership over in multi-tab tests).
 */
export async function enableTestHooks(context) {
  await context.addInitScript(() => { try { localStorage.setItem('postern-test-hooks', '1'); } catch {} });
}

/**
 * The OPENED records of one store of the page's `postern` IndexedDB as `[key, json]` pairs, in
 * key order, through the documented test hook `window.__posternTest.readStore` (every value is
 * sealed at rest). If the hooks are off, turns them on and reloads first (as `readStoredSecret`
 * does); prefer `enableTestHooks(context)` before opening pages.
 */
export async function readStoreEntries(page, store) {
  const has = () => page.evaluate(() => !!(window.__posternTest && window.__posternTest.readStore));
  if (!(await has())) {
    const on = await page.evaluate(() => localStorage.getItem('postern-test-hooks') === '1');
    if (!on) {
      await page.evaluate(() => localStorage.setItem('postern-test-hooks', '1'));
      await page.reload();
      await page.waitForSelector(APP_READY, { timeout: 30_000 });
    }
    await page.waitForFunction(() => window.__posternTest && window.__posternTest.readStore, null, { timeout: 30_000 });
  }
  return page.evaluate((name) => window.__posternTest.readStore(name), store);
}

/** The opened values (JSON text) of one store, in key order: see `readStoreEntries`. */
export async function readStore(page, store) {
  return (await readStoreEntries(page, store)).map(([, v]) => v);
}

/**
 * Every RAW value of one object store of the page origin's `postern` IndexedDB as stored on
 * disk (sealed `pv1.…` strings; null if the store is absent): for asserting that nothing is
 * kept in plaintext.
 */
export async function readRawStore(page, store) {
  return page.evaluate(async (storeName) => {
    const db = await new Promise((res, rej) => { const r = indexedDB.open('postern'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    try {
      if (!db.objectStoreNames.contains(storeName)) return null;
      return await new Promise((res, rej) => {
        const r = db.transaction(storeName, 'readonly').objectStore(storeName).getAll();
        r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
      });
    } finally { db.close(); }
  }, store);
}
