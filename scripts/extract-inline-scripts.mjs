// Move every inline <script> of index.html (Trunk's wasm loader) into its own content-hashed
// file, so the page runs under `script-src 'self' 'wasm-unsafe-eval'` (no 'unsafe-inline', no
// hashes to keep in step). Called by gen-precache.mjs before it lists the build.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Rewrite `<dir>/index.html`; returns the names of the files written. */
export function extractInlineScripts(dir) {
  const path = join(dir, 'index.html');
  const html = readFileSync(path, 'utf8');
  const written = [];
  // An inline script: a <script> start tag without src, its body, </script>.
  const re = /<script(?![^>]*\bsrc=)([^>]*)>([\s\S]*?)<\/script>/g;
  const out = html.replace(re, (whole, attrs, body) => {
    if (!body.trim()) return whole;
    const name = `boot-${createHash('sha256').update(body).digest('hex').slice(0, 16)}.js`;
    writeFileSync(join(dir, name), body.trim() + '\n');
    written.push(name);
    const type = /\btype="module"/.test(attrs) ? ' type="module"' : '';
    return `<script${type} src="/${name}"></script>`;
  });
  if (/<script(?![^>]*\bsrc=)[^>]*>\s*\S/.test(out)) {
    throw new Error('extract-inline-scripts: an inline script is left in index.html');
  }
  writeFileSync(path, out);
  return written;
}
