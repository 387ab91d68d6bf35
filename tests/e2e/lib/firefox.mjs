// Firefox side of the e2e harness: Debian's firefox-esr (headless) driven over WebDriver by
// selenium-webdriver through a geckodriver built from crates.io (`make test` installs both).
// The driver path is always passed explicitly, so selenium-manager never runs and nothing is
// downloaded. Each `launchFirefox` is a fresh profile (like a Playwright context).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Builder, By } from 'selenium-webdriver';
import firefox from 'selenium-webdriver/firefox.js';

export const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';

function geckodriverPath() {
  if (process.env.GECKODRIVER_PATH) return process.env.GECKODRIVER_PATH;
  const cargoBin = join(homedir(), '.cargo', 'bin', 'geckodriver');
  if (existsSync(cargoBin)) return cargoBin;
  try {
    return execFileSync('sh', ['-c', 'command -v geckodriver'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('geckodriver not found: run `make test-tools` (cargo install geckodriver) or set GECKODRIVER_PATH');
  }
}
export const GECKODRIVER = geckodriverPath();

export const APP_READY = '#app-ready[data-ready="true"]';
const T = 30_000;

/**
 * Start a headless Firefox ESR with a fresh profile. `prefs` are about:config preferences
 * (e.g. `{ 'javascript.options.wasm': false }`); `privateWindow` starts in private browsing
 * (`browser.privatebrowsing.autostart`, as Tor Browser does). Returns a `FirefoxPage`.
 */
export async function launchFirefox({ prefs = {}, privateWindow = false, systemAccess = false } = {}) {
  const options = new firefox.Options().setBinary(FIREFOX).addArguments('-headless');
  const all = {
    // Quiet, offline-friendly profile: no update checks, telemetry or first-run pages.
    'app.update.disabledForTesting': true,
    'browser.shell.checkDefaultBrowser': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.enabled': false,
    ...(privateWindow ? { 'browser.privatebrowsing.autostart': true } : {}),
    ...prefs,
  };
  for (const [k, v] of Object.entries(all)) options.setPreference(k, v);
  const service = new firefox.ServiceBuilder(GECKODRIVER);
  // Chrome-context scripts (only `phoneViewport` uses them) need geckodriver's consent.
  if (systemAccess) service.addArguments('--allow-system-access');
  const driver = await new Builder().forBrowser('firefox').setFirefoxOptions(options).setFirefoxService(service).build();
  return new FirefoxPage(driver);
}

/** A Firefox window with Playwright-like helpers (CSS selectors; every wait polls a condition). */
export class FirefoxPage {
  constructor(driver) { this.driver = driver; }

  async close() { await this.driver.quit().catch(() => {}); }

  goto(url) { return this.driver.get(url); }

  /**
   * Reload as a user does (`location.reload()`): WebDriver's refresh bypasses the cache and the
   * service worker in Firefox, so offline it would land on an error page. Resolves once a new
   * document has loaded.
   */
  async reload() {
    await this.evaluate(() => { window.__fxOldDocument = true; setTimeout(() => location.reload(), 0); });
    await this.waitForFunction(() => !window.__fxOldDocument && document.readyState === 'complete', [], 'reloaded document');
  }

  evaluate(fn, ...args) { return this.driver.executeScript(fn, ...args); }

  /** Wait until `fn(...args)` (run in the page) returns a truthy value; returns it. */
  async waitForFunction(fn, args = [], what = String(fn), timeout = T) {
    return this.driver.wait(async () => {
      try { return await this.driver.executeScript(fn, ...args); } catch { return false; }
    }, timeout, `timed out waiting for ${what}`);
  }

  /** Wait for an element matching `selector`, optionally whose text contains `text`. */
  waitForSelector(selector, { text, timeout = T } = {}) {
    return this.waitForFunction((sel, txt) => {
      return [...document.querySelectorAll(sel)].some((e) => txt == null || e.textContent.includes(txt));
    }, [selector, text ?? null], text ? `${selector} containing "${text}"` : selector, timeout);
  }

  count(selector) {
    return this.evaluate((sel) => document.querySelectorAll(sel).length, selector);
  }

  async textContent(selector) {
    await this.waitForSelector(selector);
    return this.evaluate((sel) => document.querySelector(sel).textContent, selector);
  }

  async getAttribute(selector, name, { text } = {}) {
    await this.waitForSelector(selector, { text });
    return this.evaluate((sel, n, txt) => {
      const e = [...document.querySelectorAll(sel)].find((x) => txt == null || x.textContent.includes(txt));
      return e.getAttribute(n);
    }, selector, name, text ?? null);
  }

  /** A real WebDriver click on the first element matching `selector`. */
  async click(selector) {
    await this.waitForSelector(selector);
    const el = await this.driver.findElement(By.css(selector));
    await this.evaluate((e) => e.scrollIntoView({ block: 'center' }), el);
    await el.click();
  }

  /** Replace an input's value and fire `input`/`change`, as a user's typing would. */
  async fill(selector, value) {
    await this.waitForSelector(selector);
    await this.evaluate((sel, v) => {
      const e = document.querySelector(sel);
      e.focus();
      const proto = e instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
      Object.getOwnPropertyDescriptor(proto, 'value').set.call(e, v);
      e.dispatchEvent(new Event('input', { bubbles: true }));
      e.dispatchEvent(new Event('change', { bubbles: true }));
    }, selector, value);
  }

  /** Choose the `<option>` whose label or value is `label` and fire `change`. */
  async selectOption(selector, label) {
    await this.waitForFunction((sel, l) => {
      const s = document.querySelector(sel);
      return s && [...s.options].some((o) => o.value === l || o.textContent.trim() === l);
    }, [selector, label], `${selector} option ${label}`);
    await this.evaluate((sel, l) => {
      const s = document.querySelector(sel);
      s.value = [...s.options].find((o) => o.value === l || o.textContent.trim() === l).value;
      s.dispatchEvent(new Event('input', { bubbles: true }));
      s.dispatchEvent(new Event('change', { bubbles: true }));
    }, selector, label);
  }

  /**
   * A viewport at most `width` CSS px wide: Firefox keeps windows at least 500 px wide, so the
   * window is 500 px and the page zoomed (as a user's Ctrl + would) until its viewport fits.
   * Gecko's zoom moves in steps of 60 app units per CSS px over n per device px, so the viewport
   * is the widest such step not wider than `width` (383 px for 390). Needs `systemAccess`.
   * Resolves to the resulting `[innerWidth, innerHeight]`.
   */
  async phoneViewport(width = 390, height = 844) {
    const zoom = 60 / Math.floor((60 * width) / 500);
    await this.driver.manage().window().setRect({ width: 500, height: Math.round(height * zoom) + 90 });
    await this.driver.setContext(firefox.Context.CHROME);
    try {
      await this.driver.executeScript((z) => ZoomManager.setZoomForBrowser(gBrowser.selectedBrowser, z), zoom); // eslint-disable-line no-undef
    } finally {
      await this.driver.setContext(firefox.Context.CONTENT);
    }
    return this.waitForFunction((w) => window.innerWidth <= w && [window.innerWidth, window.innerHeight], [width], `a viewport of at most ${width} px`);
  }

  async screenshot(path) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, await this.driver.takeScreenshot(), 'base64');
  }
}

/** Launch Firefox on the app and wait until it is ready (identity created, relay online). */
export async function openPosternFirefox(url, opts = {}) {
  const page = await launchFirefox(opts);
  await page.goto(url);
  await page.waitForSelector(APP_READY, { timeout: 45_000 });
  return page;
}
