// Move every inline <script> of index.html (Trunk's wasm loader) into its own content-hashed
// file, so the page runs under `script-src 'self' 'wasm-unsafe-eval'` (no 'unsafe-inline', no
// hashes to keep in step). Called by gen-precache.mjs before it lists the build.
// It also orders <head> for a fast start (bench/load-trace.mjs, BENCHMARKS.md "Delivery: where
// the load time goes"): Trunk's `<link rel="modulepreload">` (JS glue) and `<link rel="preload">`
// (page wasm), which Trunk appends at the end of <head>, go to just after `<meta charset>`, so the
// wasm download starts first; the boot module goes to the end of <head> (it is `async`, see
// below; the classic scripts in index.html are `defer`red and cope with either order).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BODY_READY = `if (document.readyState === 'loading') {
  await new Promise((ok) => document.addEventListener('readystatechange', ok, { once: true }));
}
`;

/** Rewrite `<dir>/index.html`; returns the names of the files written. */
export function extractInlineScripts(dir) {
  const path = join(dir, 'index.html');
  const html = readFileSync(path, 'utf8');
  const written = [];
  // An inline script: a <script> start tag without src, its body, </script>.
  const re = /<script(?![^>]*\bsrc=)([^>]*)>([\s\S]*?)<\/script>/g;
  const out = html.replace(re, (whole, attrs, body) => {
    if (!body.trim()) return whole;
    const module = /\btype="module"/.test(attrs);
    // Trunk's wasm loader runs `async`: as soon as it and the JS glue are fetched, without
    // waiting for the stylesheets and the deferred scripts (DOMContentLoaded). The app mounts
    // on <body>, so it first waits for the end of parsing (readyState "interactive", which
    // comes before both). The deferred scripts see `window.wasmBindings` if it started first.
    const boot = module && body.includes('TrunkApplicationStarted');
    const text = (boot ? BODY_READY : '') + body.trim() + '\n';
    const name = `boot-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.js`;
    writeFileSync(join(dir, name), text);
    written.push(name);
    const type = module ? ' type="module"' : '';
    return `<script${type}${boot ? ' async' : ''} src="/${name}"></script>`;
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
  const module = /<script type="module"(?: async)? src="[^"]*"><\/script>/g;
  const charset = /<meta charset="[^"]*"\s*\/?>/;
  const links = html.match(preload) || [];
  const modules = html.match(module) || [];
  if (!charset.test(html) || !html.includes('</head>')) return html;
  let out = html.replace(preload, '').replace(module, '');
  if (links.length) out = out.replace(charset, (m) => `${m}\n    ${links.join('\n    ')}`);
  if (modules.length) out = out.replace('</head>', `  ${modules.join('\n    ')}\n  </head>`);
  return out;
}
