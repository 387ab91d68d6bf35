#!/usr/bin/env node
// What a postern-wasm .wasm holds: bytes per section and, when the module still has its name
// section (the cargo output before wasm-bindgen/wasm-opt), code bytes per crate and the largest
// functions. Used for the package size work (issue 16); no dependencies.
//   node bench/wasm-size.mjs <file.wasm> [topN]
import fs from "node:fs";
import zlib from "node:zlib";

const [file, topArg] = process.argv.slice(2);
if (!file) { console.error("usage: node bench/wasm-size.mjs <file.wasm> [topN]"); process.exit(2); }
const TOP = Number(topArg || 25);
const b = fs.readFileSync(file);
let p = 8;
const leb = () => { let r = 0, s = 0, x; do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return r; };
const str = () => { const n = leb(); const t = b.toString("utf8", p, p + n); p += n; return t; };
const NAMES = ["custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "datacount", "tag"];
const sections = [];
let funcImports = 0, bodies = [], names = new Map(), dataSegs = [];
while (p < b.length) {
  const id = b[p++], size = leb(), start = p, end = p + size;
  let label = NAMES[id] || `id${id}`;
  if (id === 0) {
    label = "custom:" + str();
    if (label === "custom:name") {
      while (p < end) {
        const sub = b[p++], sl = leb(), se = p + sl;
        if (sub === 1) { const n = leb(); for (let i = 0; i < n; i++) { const idx = leb(); names.set(idx, str()); } }
        p = se;
      }
    }
  } else if (id === 2) {
    const n = leb();
    for (let i = 0; i < n; i++) { str(); str(); const kind = b[p++];
      if (kind === 0) { leb(); funcImports++; } else if (kind === 1) { p++; const f = leb(); leb(); if (f & 1) leb(); }
      else if (kind === 2) { const f = leb(); leb(); if (f & 1) leb(); } else if (kind === 3) { p += 2; } else if (kind === 4) { p++; leb(); } }
  } else if (id === 10) {
    const n = leb();
    for (let i = 0; i < n; i++) { const s = leb(); bodies.push({ idx: funcImports + i, size: s, at: p }); p += s; }
  } else if (id === 11) {
    const n = leb();
    for (let i = 0; i < n; i++) { const f = leb(); if (f === 2) leb(); if (f !== 1) { while (b[p++] !== 0x0b); } const s = leb(); dataSegs.push(s); p += s; }
  }
  sections.push({ label, size, gz: zlib.gzipSync(b.subarray(start, end), { level: 9 }).length });
  p = end;
}
const kb = (x) => x.toLocaleString("en-US");
console.log(`${file}: ${kb(b.length)} bytes raw, ${kb(zlib.gzipSync(b, { level: 9 }).length)} gzip (zlib -9)`);
for (const s of sections) console.log(`  ${s.label.padEnd(28)} ${kb(s.size).padStart(10)} raw ${kb(s.gz).padStart(10)} gzip`);
if (dataSegs.length) console.log(`  data segments: ${dataSegs.length}, largest ${dataSegs.sort((a, c) => c - a).slice(0, 5).map(kb).join(", ")}`);
if (!names.size) { console.log("  (no name section: run on target/wasm32-unknown-unknown/<profile>/postern_wasm.wasm for per-crate figures)"); process.exit(0); }
// Crate of a (legacy `_ZN` or v0 `_R`) mangled Rust name: its first path segment, or for
// `<T as Trait>::f` the crate of T.
const crateOf = (n) => {
  if (n.startsWith("__wbg") || n.startsWith("__wbindgen") || n.startsWith("__externref")) return "(wasm-bindgen glue)";
  let m = /^_ZN(\d+)/.exec(n);
  if (m) {
    const seg = n.substr(m[0].length, Number(m[1]));
    const inner = /^_?\$LT\$(?:&|\$RF\$|mut\$u20\$|\$u5b\$|\$LP\$)*([A-Za-z_][A-Za-z0-9_]*)/.exec(seg);
    return inner ? inner[1] : seg;
  }
  m = /C(?:s[0-9A-Za-z]*_)?(\d+)([A-Za-z_][A-Za-z0-9_]*)/.exec(n.slice(2));
  if (n.startsWith("_R") && m) return m[2].slice(0, Number(m[1]));
  return "(other: " + n.slice(0, 20) + ")";
};
const byCrate = new Map();
for (const f of bodies) { const n = names.get(f.idx) || "?"; f.name = n; const c = crateOf(n); const e = byCrate.get(c) || { size: 0, count: 0, gz: [] }; e.size += f.size; e.count++; e.gz.push(b.subarray(f.at, f.at + f.size)); byCrate.set(c, e); }
const total = bodies.reduce((a, f) => a + f.size, 0);
console.log(`\ncode by crate (function bodies, ${kb(total)} bytes; gzip of each crate's bodies alone):`);
for (const [c, e] of [...byCrate].sort((a, d) => d[1].size - a[1].size).slice(0, TOP))
  console.log(`  ${c.padEnd(28)} ${kb(e.size).padStart(9)} ${(100 * e.size / total).toFixed(1).padStart(5)} % ${kb(zlib.gzipSync(Buffer.concat(e.gz), { level: 9 }).length).padStart(9)} gz  ${e.count} fns`);
console.log(`\nlargest functions:`);
for (const f of [...bodies].sort((a, d) => d.size - a.size).slice(0, TOP)) console.log(`  ${kb(f.size).padStart(8)}  ${f.name.slice(0, 150)}`);
if (process.env.CRATE) {
  console.log(`\nfunctions of ${process.env.CRATE}:`);
  for (const f of bodies.filter((f) => crateOf(f.name) === process.env.CRATE).sort((a, d) => d.size - a.size).slice(0, TOP)) console.log(`  ${kb(f.size).padStart(8)}  ${f.name.slice(0, 160)}`);
}
