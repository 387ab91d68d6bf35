/* Postern service worker: the app shell works offline; mailbox data never enters a cache.
 *
 * - Precache: on install, every file of this build listed in /precache-manifest.json (written
 *   at build time by scripts/gen-precache.mjs) goes into the cache `postern-shell-<build id>`.
 *   Content-hashed files come from the HTTP cache when the page already downloaded them (the
 *   relay serves them `immutable`, brotli/gzip-encoded), so a first visit downloads the wasm once.
 *   BUILD_ID below is stamped by the same script, so each build is a byte-different worker.
 * - New build: browsers re-fetch /sw.js on navigation; a changed worker installs, skips
 *   waiting, claims the open pages and deletes the caches of older builds. An old build never
 *   sticks: navigations always try the network first.
 * - Navigations: network first, falling back to the cached /index.html when the relay is down.
 * - Other same-origin GETs (content-hashed assets, icons): cache first.
 * - /api/… and everything not GET: not handled here at all (network only, never cached).
 */
const BUILD_ID = 'unstamped';
const CACHE_PREFIX = 'postern-shell-';
const CACHE = CACHE_PREFIX + BUILD_ID;
const MANIFEST_URL = '/precache-manifest.json';

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const resp = await fetch(MANIFEST_URL, { cache: 'no-store' });
    if (!resp.ok) throw new Error(`precache manifest: HTTP ${resp.status}`);
    const manifest = await resp.json();
    if (manifest.build_id !== BUILD_ID) {
      // Deployed while we were installing: the next navigation installs the matching worker.
      throw new Error(`precache manifest is for build ${manifest.build_id}, this worker is ${BUILD_ID}`);
    }
    const cache = await caches.open(CACHE);
    // Content-hashed files are immutable: take them from the HTTP cache when the page has just
    // downloaded them (one wasm download on a first visit); revalidate everything else.
    const hashed = (f) => /-[0-9a-f]{16}[._]/.test(f.split('/').pop());
    await cache.addAll(manifest.files.map((f) => new Request(f, { cache: hashed(f) ? 'default' : 'no-cache' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith(CACHE_PREFIX) && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

function isApi(path) {
  return path === '/api' || path.startsWith('/api/') || path === '/metrics';
}

async function networkFirstShell(request) {
  try {
    const resp = await fetch(request);
    // A gateway in front of a stopped relay: prefer the cached shell.
    if (resp.status >= 502 && resp.status <= 504) {
      const cached = await caches.match('/index.html', { cacheName: CACHE });
      if (cached) return cached;
    }
    return resp;
  } catch (err) {
    const cached = await caches.match('/index.html', { cacheName: CACHE });
    if (cached) return cached;
    throw err;
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { cacheName: CACHE });
  if (cached) return cached;
  // Not part of this build's shell: straight from the network, not stored.
  return fetch(request);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (isApi(url.pathname) || url.pathname === MANIFEST_URL || url.pathname === '/sw.js') return;
  if (request.mode === 'navigate') {
    event.respondWith(networkFirstShell(request));
    return;
  }
  event.respondWith(cacheFirst(request));
});
