#!/usr/bin/env node
// Trunk post_build hook (see Trunk.toml): list the built app shell and stamp the service worker.
//
//   node scripts/gen-precache.mjs [dir]     (dir defaults to $TRUNK_STAGING_DIR)
//
// First moves any inline <script> of index.html into a hashed file (extract-inline-scripts.mjs).
// Writes <dir>/precache-manifest.json = { version, build_id, files } where `files` are the
// site-root URLs of every file Trunk produced (hashed wasm/js/css, index.html, icons, the web
// manifest) and `build_id` is a SHA-256 over their names and contents, so any change to the
// build changes it. Then rewrites the `const BUILD_ID = '…';` line of <dir>/sw.js to that id:
// the worker's bytes change with every build, so browsers install the new worker, which
// precaches into a cache named after the id and deletes the caches of older builds.
// Re-running it on a modified copy of dist/ behaves like a new build (the e2e tests do that).
//
// Finally it precompresses every content-hashed asset (`name-<16 hex>.ext`, `…_bg.wasm`) and the
// lazily loaded worker module (`postern-worker.js`, `postern-worker_bg.wasm`) to
// `<file>.br` (brotli, quality 11) and `<file>.gz` (gzip -9), which the relay serves with
// `Content-Encoding` when the browser accepts it (never listed in the precache manifest: the
// worker fetches the plain URL and gets the encoded bytes transparently). Stale `.br`/`.gz`
// files (no longer matching a built file) are removed, and existing ones are rewritten, so a
// modified copy of dist/ never serves old compressed bytes.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { brotliCompressSync, constants as zc, gzipSync } from 'node:zlib';
import { extractInlineScripts } from './extract-inline-scripts.mjs';

const dir = process.argv[2] || process.env.TRUNK_STAGING_DIR;
if (!dir) {
  console.error('gen-precache: no directory (pass one or run as a Trunk hook)');
  process.exit(2);
}
// First: no inline script may stay in index.html (the relay's CSP has no 'unsafe-inline').
const boot = extractInlineScripts(dir);
if (boot.length) console.log(`gen-precache: inline scripts moved to ${boot.join(', ')}`);

const MANIFEST = 'precache-manifest.json';
const WORKER = 'sw.js';
// Never precached: the manifest itself and the worker script (browsers fetch it for updates).
const SKIP = new Set([MANIFEST, WORKER]);

const files = [];
const compressed = [];
const walk = (d) => {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else {
      const rel = relative(dir, p).split(sep).join('/');
      if (/\.(br|gz)$/.test(name)) compressed.push(rel);
      else if (!SKIP.has(rel) && !name.startsWith('.')) files.push(rel);
    }
  }
};
walk(dir);
files.sort();
if (!files.includes('index.html')) {
  console.error(`gen-precache: ${dir} has no index.html`);
  process.exit(1);
}

const whole = createHash('sha256');
for (const f of files) {
  const digest = createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  whole.update(`${f}\0${digest}\n`);
}
const buildId = whole.digest('hex').slice(0, 16);
const manifest = { version: 1, build_id: buildId, files: files.map((f) => `/${f}`) };
writeFileSync(join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');

const swPath = join(dir, WORKER);
const sw = readFileSync(swPath, 'utf8');
const re = /^const BUILD_ID = '[^']*';$/m;
if (!re.test(sw)) {
  console.error(`gen-precache: ${swPath} has no "const BUILD_ID = '…';" line`);
  process.exit(1);
}
writeFileSync(swPath, sw.replace(re, `const BUILD_ID = '${buildId}';`));
console.log(`gen-precache: build ${buildId}, ${files.length} files precached`);

// Precompressed variants of the content-hashed assets, and of the lazily loaded worker module
// (Trunk `data-type="worker"` output is unhashed: postern-worker.js / postern-worker_bg.wasm).
const HASHED = /-[0-9a-f]{16}[._]|^postern-worker(_bg\.wasm|\.js)$/;
for (const c of compressed) unlinkSync(join(dir, c));
let raw = 0, br = 0, gz = 0;
for (const f of files.filter((f) => HASHED.test(f.split('/').pop()))) {
  const bytes = readFileSync(join(dir, f));
  const b = brotliCompressSync(bytes, {
    params: { [zc.BROTLI_PARAM_QUALITY]: 11, [zc.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
  const g = gzipSync(bytes, { level: 9 });
  writeFileSync(join(dir, f + '.br'), b);
  writeFileSync(join(dir, f + '.gz'), g);
  raw += bytes.length; br += b.length; gz += g.length;
}
console.log(`gen-precache: precompressed hashed assets ${raw} B -> brotli ${br} B, gzip ${gz} B`);
