// Public-channel helpers of the e2e suite: read a relay's public chain, find message events,
// post from a page's channels view, and nudge a page's chain sync until something shows up.
import assert from 'node:assert/strict';

/** A channel post in the channels view containing `text` (`extra`: more selector, e.g. a state). */
export const channelPost = (text, extra = '') => `[data-channel-post]${extra}:has-text("${text}")`;

/** The relay's public chain (the public view anyone can GET), all pages. */
export async function publicChain(url) {
  const events = [];
  let after = '';
  for (;;) {
    const r = await fetch(`${url}/api/mesh/infonet/sync?limit=500${after ? `&after_hash=${after}` : ''}`);
    assert.equal(r.status, 200);
    const page = await r.json();
    events.push(...page.events);
    if (page.events.length < 500) return events;
    after = page.events[page.events.length - 1].event_id;
  }
}

/** The `message` events of `events` whose text contains `text`. */
export function messagesWith(events, text) {
  return events.filter((e) => e.event_type === 'message' && String(e.payload?.message || '').includes(text));
}

/** Ask the page's chain sync to run until `selector` shows up (it runs every 30 s on its own). */
export async function syncUntil(page, selector, rounds = 12) {
  for (let i = 0; i < rounds; i += 1) {
    await page.$eval('#sync-now', (b) => b.click()).catch(() => {}); // on the (hidden) Network page
    try {
      await page.waitForSelector(selector, { timeout: 10_000 });
      return;
    } catch { /* not yet: sync again */ }
  }
  const why = await page.$eval('#sync-last', (e) => e.textContent).catch(() => '?');
  throw new Error(`never showed up: ${selector} (last sync: ${why.trim()})`);
}

/** Post `text` to `channel` from the page's channels view; resolves once it is listed. */
export async function postTo(page, channel, text) {
  await page.click(`[data-channel="${channel}"]`);
  await page.waitForSelector(`#channel-timeline[data-selected="${channel}"]`);
  await page.fill('#channel-post-text', text);
  await page.click('#channel-post-send');
  await page.waitForSelector(channelPost(text));
}
