// Move every inline <script> of index.html (Trunk's wasm loader) into its own content-hashed
// file, so the page runs under `script-src 'self' 'wasm-unsafe-eval'` (no 'unsafe-inline', no
// hashes to keep in step). Called by gen-precache.mjs before it lists the build.
// It also orders <head> for a fast start (bench/load-trace.mjs, BENCHMARKS.md "Delivery: where
// the load time goes"): Trunk's `<link rel="modulepreload">` (JS glue) and `<link rel="preload">`
// (page wasm), which Trunk appends at the end of <head>, go to just after `<meta charset>`, so the
// wasm download starts first; the boot module goes to the end of <head>, after the `defer`red
// classic scripts (index.html), so those run before it, in document order, as before.
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
  writeFileSync(path, hoistPreloads(out));
  return written;
}

/** Preloads to just after `<meta charset…>`, module scripts with a `src` to the end of <head>. */
export function hoistPreloads(html) {
  const preload = /<link\s[^>]*\brel="(?:modulepreload|preload)"[^>]*>/g;
  const module = /<script type="module" src="[^"]*"><\/script>/g;
  const charset = /<meta charset="[^"]*"\s*\/?>/;
  const links = html.match(preload) || [];
  const modules = html.match(module) || [];
  if (!charset.test(html) || !html.includes('</head>')) return html;
  let out = html.replace(preload, '').replace(module, '');
  if (links.length) out = out.replace(charset, (m) => `${m}\n    ${links.join('\n    ')}`);
  if (modules.length) out = out.replace('</head>', `  ${modules.join('\n    ')}\n  </head>`);
  return out;
}
