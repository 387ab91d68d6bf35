// The messenger layout (issue 15): axe-core finds no serious or critical violation on the main
// screens (conversation, gate with its details drawer, channels, settings, network), at desktop
// and at phone width; at 390x844 no screen scrolls sideways; back/forward and a deep link move
// between views. Saves its screenshots to tests/e2e/output/screenshots/; with UPDATE_SCREENSHOTS=1
// to docs/screenshots/, the ones README.md shows ("Screens"), so a test run leaves tracked files alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import {
  startRelay, launchBrowser, openPostern, APP_READY, identityOf, addPosternContact, openGate, showView,
  compose, outgoing, incoming,
} from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const AXE = join(here, 'node_modules', 'axe-core', 'axe.min.js');
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1'
  ? join(here, '..', '..', 'docs', 'screenshots')
  : join(here, 'output', 'screenshots');
const T = 45_000;
const route = (r) => `#app-ready[data-ready="true"][data-route="${r}"]`;

/** Serious or critical axe findings of every screen (asserted empty at the end). */
const axeBad = [];

/** axe-core on the whole page: logs every violation, keeps the serious/critical ones. */
async function axe(page, name) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  const bad = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const list = found.map((v) => `${v.id}(${v.impact})`).join(', ');
  console.log(`[figures] axe ${name}: ${found.length} violation kinds, ${bad.length} serious/critical${list ? ` — ${list}` : ''}`);
  for (const v of bad) axeBad.push({ screen: name, ...v });
}

/** At the current viewport: the document is no wider than the window. */
async function noSideScroll(page, name) {
  const m = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
  console.log(`[figures] ${m.iw}px ${name}: document.scrollWidth ${m.sw}`);
  assert.ok(m.sw <= m.iw, `${name}: scrollWidth ${m.sw} > innerWidth ${m.iw}`);
}

/** Like openPostern, in a context that lets the test inject axe-core past the app's CSP. */
async function openApp(browser, url) {
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector(APP_READY, { timeout: 30_000 });
  return { context, page, errors };
}

async function shot(page, file) {
  await page.screenshot({ path: join(SHOTS, file) });
}

test('messenger layout: accessible main screens, phone width, back/forward', { timeout: 240_000 }, async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const relay = await startRelay();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await relay.stop(); });

  const alice = await openApp(browser, relay.url);
  const bob = await openPostern(browser, relay.url);
  const page = alice.page;
  await addPosternContact(page, 'Bob', await identityOf(bob.page));
  await addPosternContact(bob.page, 'Alice', await identityOf(page));

  // A conversation both ways.
  await compose(page, 'Bob', 'Hi Bob! The gate for the ops team is up, I will add you.');
  await page.waitForSelector(outgoing('ops team', 'sent'), { timeout: T });
  await compose(bob.page, 'Alice', 'Great, thanks. Verified your fingerprint on the call.');
  await page.click('#check-now');
  await page.waitForSelector(incoming('Verified your fingerprint'), { timeout: T });

  // A gate with Bob in it and a post from each.
  await page.fill('#gate-name', 'Ops');
  await page.click('#create-gate');
  await page.waitForSelector(`${route('gate')} .gate-epoch[data-epoch="1"]`, { timeout: T });
  const gateId = await page.getAttribute('[data-gate="Ops"]', 'data-gate-id');
  await page.selectOption('#gate-invite-contact', 'Bob');
  await page.click('#gate-invite');
  await page.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });
  await bob.page.waitForSelector(`.gate-item[data-gate-id="${gateId}"]`, { timeout: T });
  await openGate(bob.page, gateId);
  await bob.page.fill('#gate-compose', 'Deploy window is 18:00 UTC.');
  await bob.page.click('#gate-send');
  await page.fill('#gate-compose', 'Ack, I will watch the relay.');
  await page.click('#gate-send');
  await page.waitForSelector('.gate-message[data-verified="true"]:has-text("Deploy window")', { timeout: T });
  await page.waitForSelector('.gate-message[data-state="sent"]:has-text("watch the relay")', { timeout: T });

  // Desktop: the four main screens.
  await page.click('[data-contact="Bob"]');
  await page.waitForSelector(route('dm'));
  await axe(page, 'conversation');
  await shot(page, 'desktop-conversation.png');

  await openGate(page, gateId);
  await page.waitForSelector('#gate-drawer .gate-epoch[data-epoch="2"]');
  await axe(page, 'gate + drawer');
  await shot(page, 'desktop-gate.png');

  await showView(page, 'channels');
  await page.click('[data-channel="LongFast"]');
  await page.waitForSelector('#channel-timeline[data-selected="LongFast"]', { timeout: T });
  await page.fill('#channel-post-text', 'Relay maintenance tonight at 22:00 UTC, expect a short gap.');
  await page.click('#channel-post-send');
  await page.waitForSelector('[data-channel-post]:has-text("Relay maintenance")', { timeout: T });
  await axe(page, 'channels');
  await shot(page, 'desktop-channels.png');

  await showView(page, 'settings');
  await axe(page, 'settings');
  await shot(page, 'desktop-settings.png');

  await showView(page, 'network');
  await page.waitForSelector('#sync-badge');
  await axe(page, 'network');
  await shot(page, 'desktop-network.png');

  // Back/forward between views, and a deep link.
  await page.goBack();
  await page.waitForSelector(route('settings'));
  await page.goBack();
  await page.waitForSelector(route('channels'));
  await page.goBack();
  await page.waitForSelector(`${route('gate')} .conversation[data-gate-id="${gateId}"]`);
  await page.goForward();
  await page.waitForSelector(route('channels'));
  await page.goto(`${relay.url}#/dm/${(await page.getAttribute('[data-contact="Bob"]', 'data-node-id'))}`);
  await page.waitForSelector(`${route('dm')} ${incoming('Verified your fingerprint')}`, { timeout: T });

  // Phone: 390x844 — the list, then each view without its sidebar; nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await showView(page, 'chats');
  assert.ok(await page.isVisible('.sidebar'), 'the list is the phone\'s home');
  assert.ok(!(await page.isVisible('#compose-body')), 'no conversation next to the list on a phone');
  await noSideScroll(page, 'chats');
  await axe(page, 'phone chats');
  await shot(page, 'phone-chats.png');

  await page.click('[data-contact="Bob"]');
  await page.waitForSelector(route('dm'));
  assert.ok(!(await page.isVisible('.sidebar')), 'the sidebar collapses in a conversation');
  await noSideScroll(page, 'conversation');
  await axe(page, 'phone conversation');
  await shot(page, 'phone-conversation.png');

  await page.click('.back');
  await page.waitForSelector(route('home'));
  await openGate(page, gateId);
  if (!(await page.isVisible('#gate-drawer'))) await page.click('#gate-details');
  await page.waitForSelector('#gate-drawer');
  await noSideScroll(page, 'gate + drawer');
  await axe(page, 'phone gate + drawer');
  await page.locator('#gate-drawer').scrollIntoViewIfNeeded();
  await shot(page, 'phone-gate-details.png');

  await showView(page, 'channels');
  await noSideScroll(page, 'channels');
  await axe(page, 'phone channels');
  await shot(page, 'phone-channels.png');
  await showView(page, 'settings');
  await noSideScroll(page, 'settings');
  await axe(page, 'phone settings');
  await shot(page, 'phone-settings.png');
  await showView(page, 'network');
  await noSideScroll(page, 'network');
  await axe(page, 'phone network');
  await shot(page, 'phone-network.png');
  assert.deepEqual(axeBad, [], 'no serious or critical axe violations on any screen');
  assert.deepEqual([...alice.errors, ...bob.errors], []);
});
