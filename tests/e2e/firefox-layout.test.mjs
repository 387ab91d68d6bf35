// The messenger layout in Firefox ESR (issue 15): axe-core, injected into the page over
// WebDriver, finds no serious or critical violation on the main screens (conversation, gate
// with its details drawer, channels, settings, network, and the phone's list), and at 390x844
// no screen scrolls sideways; a public post made in Firefox shows verified in a Chromium
// profile's channel view. Same screens and element ids as layout.test.mjs (Chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startRelay, launchBrowser, openPostern, identityOf, addPosternContact, outputDir, showView,
} from './lib/harness.mjs';
import { openPosternFirefox } from './lib/firefox.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const AXE_SOURCE = readFileSync(join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const T = 45_000;
const NAV = { chats: '#nav-chats', channels: '#nav-channels', network: '#nav-sync', settings: '#nav-settings' };

/** Click a section's link and wait until the app shows it. */
async function show(fx, view) {
  await fx.click(NAV[view]);
  await fx.waitForSelector(`#app-ready[data-route="${view === 'chats' ? 'home' : view}"]`);
}

/** axe-core on the whole page; returns the serious/critical findings (logs all of them). */
async function axe(fx, name) {
  if (!(await fx.evaluate(() => Boolean(window.axe)))) {
    await fx.driver.executeScript(`${AXE_SOURCE}\n;return true;`);
  }
  const found = JSON.parse(await fx.driver.executeAsyncScript(function axeRun() {
    const done = arguments[arguments.length - 1];
    window.axe.run(document, { resultTypes: ['violations'] }).then((res) => done(JSON.stringify(
      res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })),
    )), (e) => done(JSON.stringify([{ id: 'axe-error', impact: 'critical', nodes: [String(e)] }])));
  }));
  const bad = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const list = found.map((v) => `${v.id}(${v.impact})`).join(', ');
  console.log(`[figures] firefox axe ${name}: ${found.length} violation kinds, ${bad.length} serious/critical${list ? ` — ${list}` : ''}`);
  return bad.map((v) => ({ screen: name, ...v }));
}

/** The document is no wider than the window. */
async function sideScroll(fx, name) {
  const m = await fx.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
  console.log(`[figures] firefox ${m.iw}px ${name}: document.scrollWidth ${m.sw}`);
  return m.sw > m.iw ? [`${name}: scrollWidth ${m.sw} > innerWidth ${m.iw}`] : [];
}

test('Firefox ESR: accessible main screens, nothing wider than a 390 px phone', { timeout: 240_000 }, async (t) => {
  const out = outputDir('firefox-layout');
  const relay = await startRelay();
  const browser = await launchBrowser();
  let fx;
  t.after(async () => { if (fx) await fx.close(); await browser.close(); await relay.stop(); });
  fx = await openPosternFirefox(relay.url, { systemAccess: true });
  await fx.driver.manage().setTimeouts({ script: 60_000 });
  await fx.driver.manage().window().setRect({ width: 1280, height: 800 });
  const bob = await openPostern(browser, relay.url);
  const idA = (await fx.textContent('#identity-string')).trim();
  await addPosternContact(bob.page, 'Alice', idA);
  await fx.fill('#contact-name', 'Bob');
  await fx.fill('#contact-identity', await identityOf(bob.page));
  await fx.click('#add-contact');
  await fx.waitForSelector('[data-contact="Bob"]');

  // Content on every screen: a DM, a gate with Bob in it, a channel post.
  await fx.click('[data-contact="Bob"] a');
  await fx.fill('#compose-body', 'Hi Bob, the gate is up.');
  await fx.click('#send');
  await fx.waitForSelector('.message[data-direction="out"]', { text: 'the gate is up', timeout: T });
  await fx.fill('#gate-name', 'Ops');
  await fx.click('#create-gate');
  await fx.waitForSelector('.gate-epoch[data-epoch="1"]', { timeout: T });
  await fx.selectOption('#gate-invite-contact', 'Bob');
  await fx.click('#gate-invite');
  await fx.waitForSelector('.gate-epoch[data-epoch="2"]', { timeout: T });
  const gateId = await fx.getAttribute('[data-gate="Ops"]', 'data-gate-id');
  await fx.fill('#gate-compose', 'Deploy window is 18:00 UTC.');
  await fx.click('#gate-send');
  await fx.waitForSelector('.gate-message', { text: 'Deploy window', timeout: T });

  const bad = [];
  const wide = [];
  // Desktop.
  await fx.click('[data-contact="Bob"] a');
  await fx.waitForSelector('#app-ready[data-route="dm"] #compose-body');
  bad.push(...await axe(fx, 'conversation'));
  await fx.click(`.gate-item[data-gate-id="${gateId}"] a`);
  await fx.waitForSelector(`#app-ready[data-route="gate"] .conversation[data-gate-id="${gateId}"]`);
  if (!(await fx.count('#gate-drawer'))) await fx.click('#gate-details');
  await fx.waitForSelector('#gate-drawer .gate-epoch[data-epoch="2"]');
  bad.push(...await axe(fx, 'gate + drawer'));
  await show(fx, 'channels');
  await fx.waitForSelector('#channels [data-channel="LongFast"]', { timeout: T });
  await fx.click('[data-channel="LongFast"]');
  await fx.waitForSelector('#channel-timeline[data-selected="LongFast"]');
  await fx.fill('#channel-post-text', 'Hello from Firefox on LongFast');
  await fx.click('#channel-post-send');
  await fx.waitForSelector('[data-channel-post]', { text: 'Hello from Firefox', timeout: T });
  bad.push(...await axe(fx, 'channels'));
  // The post is signed in Firefox, on the relay's public chain, and verified in Chromium.
  await showView(bob.page, 'channels');
  await bob.page.click('[data-channel="LongFast"]');
  const fromFx = `[data-channel-post][data-verified="true"][data-author="${idA.split('.')[1]}"]:has-text("Hello from Firefox")`;
  for (let i = 0; i < 12 && !(await bob.page.locator(fromFx).count()); i += 1) {
    await bob.page.$eval('#sync-now', (b) => b.click()).catch(() => {}); // on the (hidden) Network page
    await bob.page.waitForSelector(fromFx, { timeout: 10_000 }).catch(() => {});
  }
  assert.equal(await bob.page.locator(fromFx).count(), 1, 'the Firefox post, verified once in Chromium');
  await show(fx, 'settings');
  bad.push(...await axe(fx, 'settings'));
  await show(fx, 'network');
  await fx.waitForSelector('#sync-badge');
  bad.push(...await axe(fx, 'network'));
  await fx.screenshot(join(out, '01-desktop-network.png'));

  // Phone: a viewport of at most 390 CSS px (a 500 px window, Firefox's narrowest, zoomed in).
  const [iw, ih] = await fx.phoneViewport(390, 844);
  console.log(`[figures] firefox phone viewport ${iw}x${ih}`);
  await show(fx, 'chats');
  wide.push(...await sideScroll(fx, 'chats'));
  bad.push(...await axe(fx, 'phone chats'));
  await fx.click('[data-contact="Bob"] a');
  await fx.waitForSelector('#app-ready[data-route="dm"] #compose-body');
  wide.push(...await sideScroll(fx, 'conversation'));
  bad.push(...await axe(fx, 'phone conversation'));
  await fx.click(`.gate-item[data-gate-id="${gateId}"] a`).catch(async () => {
    await show(fx, 'chats');
    await fx.click(`.gate-item[data-gate-id="${gateId}"] a`);
  });
  await fx.waitForSelector(`#app-ready[data-route="gate"] .conversation[data-gate-id="${gateId}"]`);
  if (!(await fx.count('#gate-drawer'))) await fx.click('#gate-details');
  await fx.waitForSelector('#gate-drawer');
  wide.push(...await sideScroll(fx, 'gate + drawer'));
  bad.push(...await axe(fx, 'phone gate + drawer'));
  for (const view of ['channels', 'settings', 'network']) {
    await show(fx, view);
    wide.push(...await sideScroll(fx, view));
    bad.push(...await axe(fx, `phone ${view}`));
  }
  await fx.screenshot(join(out, '02-phone-network.png'));
  assert.deepEqual(wide, [], 'no screen scrolls sideways at 390 px');
  assert.deepEqual(bad, [], 'no serious or critical axe violations on any screen');
});
