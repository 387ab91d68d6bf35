#!/usr/bin/env node
// One command: `node bench/run.mjs` (BENCH_QUICK=1 for a smoke run). BENCH_ONLY=aead,chain runs
// only those parts (sha, ed25519, x25519, aead, postern, chain) and writes bench/results-subset.json
// plus a table on stdout, leaving results.json / BENCHMARKS.md / chart.svg alone.
// Serves bench/page, crates/wasm/pkg and the needed node_modules on 127.0.0.1 (random port),
// runs the suite in headless Chromium, writes bench/results.json, BENCHMARKS.md, bench/chart.svg.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execSync } from "node:child_process";
import { chromium } from "playwright-core";

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, "..");
const QUICK = process.env.BENCH_QUICK === "1";
const cfg = {
  runMs: Number(process.env.BENCH_RUN_MS || (QUICK ? 200 : 1000)),
  passes: Number(process.env.BENCH_PASSES || 3),
  chainN: Number(process.env.BENCH_CHAIN_N || (QUICK ? 10000 : 100000)),
  quick: QUICK,
  only: process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(",") : null,
};
const REPORT_ONLY = process.env.BENCH_REPORT_ONLY === "1";
const PKG = process.env.POSTERN_PKG || path.join(ROOT, "crates/wasm/pkg");
if (!REPORT_ONLY && !fs.existsSync(path.join(PKG, "postern_wasm_bg.wasm"))) {
  console.error(`no ${PKG}/postern_wasm_bg.wasm: run CARGO_TARGET_DIR=target/wasm-pkg scripts/build-wasm-pkg.sh`);
  process.exit(1);
}
let out;
if (REPORT_ONLY) {
  out = JSON.parse(fs.readFileSync(path.join(BENCH, "results.json"), "utf8"));
  Object.assign(cfg, out.config);
} else {
const MOUNTS = { "/page/": path.join(BENCH, "page"), "/pkg/": PKG, "/nm/": path.join(BENCH, "node_modules"), "/pkg-scalar/": PKG };
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

const server = http.createServer((req, res) => {
  const url = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const p = url === "/" ? "/page/index.html" : url;
  const mount = Object.keys(MOUNTS).find((m) => p.startsWith(m));
  const file = mount && path.resolve(MOUNTS[mount], p.slice(mount.length));
  if (!file || !file.startsWith(MOUNTS[mount]) || !fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404); return res.end("not found"); }
  res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream", "cache-control": "no-store" });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.log("[page]", m.text()));
  page.on("pageerror", (e) => console.error("[pageerror]", e.message));
  await page.goto(base + "/");
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 60000 });
  out = await page.evaluate((c) => window.runSuite(c), cfg);
  out.browserVersion = browser.version();
} finally {
  await browser.close();
  server.close();
}

const sh = (c) => { try { return execSync(c, { cwd: ROOT, encoding: "utf8" }).trim(); } catch { return ""; } };
out.machine = { cpus: (await import("node:os")).cpus().length, cpuModel: (await import("node:os")).cpus()[0]?.model, node: process.version };
out.commit = sh("git rev-parse --short HEAD");
out.pkgWasmBytes = fs.statSync(path.join(PKG, "postern_wasm_bg.wasm")).size;
out.date = new Date().toISOString();
out.load = sh("uptime");
if (cfg.only) {
  fs.writeFileSync(path.join(BENCH, "results-subset.json"), JSON.stringify(out, null, 2) + "\n");
  const v = (r) => (r.mbPerSec != null ? `${r.mbPerSec.toFixed(1)} MB/s` : `${Math.round(r.opsPerSec)} ${r.unit || "ops/s"}`);
  for (const r of out.results) console.log(`| ${r.group} | ${r.impl} | ${r.error ? "error " + r.error : v(r)} | ${r.passes ? r.passes.map((x) => Math.round(r.bytes ? (x * r.bytes) / 1e6 : x)).join(", ") : ""} |`);
  console.log(`load after the run: ${out.load}\nwrote bench/results-subset.json (BENCH_ONLY=${cfg.only}); BENCHMARKS.md not regenerated`);
  process.exit(0);
}
fs.writeFileSync(path.join(BENCH, "results.json"), JSON.stringify(out, null, 2) + "\n");
}

// ---------- native ceiling (bench/native.json from `cargo bench -p postern-core --bench primitives`) ----------
out.results = out.results.filter((r) => !r.native);
const NATIVE = path.join(BENCH, "native.json");
let native = null;
if (fs.existsSync(NATIVE)) {
  native = JSON.parse(fs.readFileSync(NATIVE, "utf8"));
  const N = out.chain?.n;
  const map = [
    ["SHA-256 1 MiB", "sha256_1mib"],
    ["Ed25519 sign (64 B msg)", "ed25519_sign", "native (seed per call)"],
    ["Ed25519 sign (64 B msg)", "ed25519_sign_expanded", "native (key handle)"],
    ["Ed25519 verify (64 B msg)", "ed25519_verify"],
    ["Ed25519 verify_strict (64 B msg)", "ed25519_verify_strict"],
    ["Ed25519 verify batch of 64", "ed25519_verify_batch/64"],
    ["Ed25519 verify batch of 256", "ed25519_verify_batch/256"],
    ["X25519 shared secret", "x25519"],
    ...[["64 B", 64], ["1 KiB", 1024], ["64 KiB", 65536]].flatMap(([l, n]) => [[`ChaCha20-Poly1305 seal ${l}`, `aead_seal/${n}`], [`ChaCha20-Poly1305 open ${l}`, `aead_open/${n}`]]),
    ["Postern DM seal (1 KiB)", "dm_seal_1k"], ["Postern DM open (1 KiB)", "dm_open_1k"],
    ["Postern gate message seal (1 KiB)", "gate_seal_1k"], ["Postern gate message open (1 KiB)", "gate_open_1k"],
    [`verify chain of ${N} events`, N === 100000 ? "chain_100k_batched" : null, "native (1 thread)"],
  ];
  for (const [group, key, impl = "native"] of map) {
    const r = key && native.results[key];
    if (!r || !out.results.some((x) => x.group === group)) continue;
    const ops = 1e9 / r.medianNs;
    const row = { group, impl, native: true, opsPerSec: ops, passes: [ops], note: `criterion median, ${key} (crates/core/benches/primitives.rs)` };
    if (r.throughput?.Bytes) { row.bytes = r.throughput.Bytes; row.mbPerSec = (ops * r.throughput.Bytes) / 1e6; }
    else if (r.throughput?.Elements > 1) { row.opsPerSec = ops * r.throughput.Elements; row.passes = [row.opsPerSec]; row.unit = group.startsWith("verify chain") ? "events/s" : "sig/s"; }
    if (row.unit === "events/s") row.seconds = N / row.opsPerSec;
    out.results.push(row);
  }
  // keep native rows next to their group
  const order = [...new Set(out.results.map((r) => r.group))];
  out.results.sort((a, b) => order.indexOf(a.group) - order.indexOf(b.group));
}

// ---------- BENCHMARKS.md ----------
const groups = [...new Set(out.results.map((r) => r.group))];
const fmt = (x) => x >= 100 ? Math.round(x).toLocaleString("en-US") : x >= 10 ? x.toFixed(1) : x.toFixed(2);
const val = (r) => (r.mbPerSec != null ? r.mbPerSec : r.opsPerSec);
const unit = (r) => (r.mbPerSec != null ? "MB/s" : r.unit || "ops/s");
let md = `Generated by \`node bench/run.mjs\`${cfg.quick ? " (**quick mode**, `BENCH_QUICK=1`: 0.2 s runs — smoke figures only)" : ""} on ${out.date.slice(0, 10)} — this block is rewritten by every run: do not edit it by hand.\n\n`;
md += `- Browser: headless Chromium ${out.browserVersion} (\`/usr/bin/chromium\`), ${out.machine.cpus} cores (${out.machine.cpuModel}), Node ${out.machine.node}\n`;
md += `- Postern: \`crates/wasm/pkg\` (wasm-bindgen web target, wasm-opt -O3, ${out.pkgWasmBytes.toLocaleString("en-US")} bytes), tree at ${out.commit}\n`;
md += `- Method: identical inputs for every implementation (outputs cross-checked before timing); each figure is the median of ${cfg.passes} runs of ${cfg.runMs / 1000} s after a warm-up run, all in one page load. Async APIs (WebCrypto) are awaited one call at a time. The VM is noisy (±30% per pass): treat differences under ~1.3× as noise. Raw passes are in \`bench/results.json\`.\n`;
if (native) md += `- Native: the same Rust functions on the same machine with criterion (\`cargo bench -p postern-core --bench primitives\`, then \`node bench/native.mjs\`), ${native.date.slice(0, 16)}Z, release profile (opt-level 3, thin LTO, no target-cpu tuning): rows marked "native".\n`;
if (process.env.BENCH_CONCURRENT_NOTE) md += `- Machine load: ${process.env.BENCH_CONCURRENT_NOTE}\n`;
md += `- Chain: ${out.chain.n} \`message\` events (${(out.chain.bytes / 1e6).toFixed(2)} MB JSON) built in the page with \`EventSigner.signEvent\`; each verification figure is the median of ${cfg.passes} full passes.\n\n`;
md += `| Operation | Implementation | Throughput | vs peers | Note |\n|---|---|---:|---|---|\n`;
for (const g of groups) {
  const rows = out.results.filter((r) => r.group === g);
  for (const r of rows) {
    if (r.error) { md += `| ${g} | ${r.impl} | error | | ${r.error} |\n`; continue; }
    const peers = rows.filter((p) => p !== r && !p.error).map((p) => `${(val(r) / val(p)).toFixed(2)}× ${p.impl}`).join(", ");
    md += `| ${g} | ${r.impl} | ${fmt(val(r))} ${unit(r)}${r.mbPerSec != null ? ` (${fmt(r.opsPerSec)} ops/s)` : ""} | ${peers || "—"} | ${r.note || ""} |\n`;
  }
}
md += `\nRatios read "this row's throughput ÷ that peer's" (>1 = this row is faster).\n\n`;
{
  // Headline ratios against the issue's targets.
  const get = (g, i) => out.results.find((r) => r.group === g && r.impl === i && !r.error);
  const ratio = (a, b) => (a && b ? val(a) / val(b) : NaN);
  const N = out.chain.n;
  const h = [];
  const aead = ratio(get("ChaCha20-Poly1305 seal 64 KiB", "Postern"), get("ChaCha20-Poly1305 seal 64 KiB", "libsodium"));
  h.push(["AEAD seal 64 KiB vs libsodium.js", "≥ 1.2×", `${aead.toFixed(2)}×`, aead >= 1.2]);
  const wk = out.results.find((r) => r.group === "Ed25519 verify batch of 256" && /workers/.test(r.impl) && !r.error);
  const wcSeq = get("Ed25519 verify (64 B msg)", "WebCrypto");
  const ed = ratio(wk, wcSeq);
  const wcSeq256 = get("Ed25519 verify batch of 256", "WebCrypto");
  const ed2 = ratio(wk, wcSeq256);
  h.push(["Ed25519 verify, batched (256) + workers vs WebCrypto sequential", "≥ 2×", `${ed.toFixed(2)}× vs the single-key verify row (${fmt(val(wk || { opsPerSec: NaN }))} vs ${fmt(val(wcSeq || { opsPerSec: NaN }))} sig/s); ${ed2.toFixed(2)}× vs WebCrypto verifying the same 256 signatures one await at a time (${fmt(val(wcSeq256 || { opsPerSec: NaN }))} sig/s)`, ed >= 2 ? true : ed2 >= 2 ? "partly" : false]);
  const cw = out.results.find((r) => r.group === `verify chain of ${N} events` && /workers/.test(r.impl) && !r.error);
  const cs = get(`verify chain of ${N} events`, "Postern");
  if (cw) h.push([`${N.toLocaleString("en-US")}-event chain in the tab (workers)`, N === 100000 ? "≤ 3 s" : "(100k target)", `${cw.seconds.toFixed(2)} s (1 thread: ${cs ? cs.seconds.toFixed(2) : "?"} s)`, N === 100000 && cw.seconds <= 3]);
  out.headline = h;
  md += `## Headline vs targets\n\n| Target | Goal | Measured | Met |\n|---|---|---|---|\n`;
  const scalarAead = ratio(get("ChaCha20-Poly1305 seal 64 KiB", "Postern (scalar fallback)"), get("ChaCha20-Poly1305 seal 64 KiB", "libsodium"));
  if (scalarAead === scalarAead) h.splice(1, 0, ["AEAD seal 64 KiB vs libsodium.js, scalar fallback (engines without SIMD)", "—", `${scalarAead.toFixed(2)}×`, "n/a"]);
  for (const [t, g, m, ok] of h) md += `| ${t} | ${g} | ${m} | ${ok === "partly" || ok === "n/a" ? ok : ok ? "yes" : "**no**"} |\n`;
  md += `\nPackage and app size targets: see "Bundle sizes" below.\n\n`;
}
{
  // Bundle sizes: what a first visit downloads (app) and what a JS user ships (postern-wasm).
  const zlib = await import("node:zlib");
  const sizeOf = (files) => files.reduce((a, f) => {
    const b = fs.readFileSync(f);
    // GNU gzip -9 when available (what the budget scripts use; zlib's level 9 is ~1 % larger).
    let gz; try { gz = Number(execSync(`gzip -9 -c '${f}' | wc -c`, { encoding: "utf8" }).trim()); } catch { gz = zlib.gzipSync(b, { level: 9 }).length; }
    return { raw: a.raw + b.length, gz: a.gz + gz };
  }, { raw: 0, gz: 0 });
  const list = (dir, re) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => re.test(f)).map((f) => path.join(dir, f)) : []);
  // First number of the first non-comment line (app), or of the line naming `file` (package).
  const budget = (f, file) => Number(fs.readFileSync(path.join(ROOT, f), "utf8").split("\n").filter((l) => l.trim() && !l.startsWith("#") && (!file || l.split(/\s+/)[1] === file))[0]?.split(/\s+/)[0]);
  const app = list(path.join(ROOT, "dist"), /\.(wasm|js)$/);
  const pkg = list(PKG, /_bg\.wasm$/).sort();
  md += `### Bundle sizes at this run\n\n| Bundle | Raw | gzip -9 | Budget (gzip -9) |\n|---|---:|---:|---:|\n`;
  // As scripts/check-app-size.sh: the first screen, and the lazily loaded worker module.
  const lazy = (f) => ["postern-worker_bg.wasm", "postern-worker.js", "sync-worker.js"].includes(path.basename(f));
  const first = app.filter((f) => !lazy(f)), worker = app.filter(lazy);
  if (first.length) { const s = sizeOf(first); md += `| UI first screen (dist/*.wasm + dist/*.js but the worker module) | ${s.raw.toLocaleString("en-US")} | ${s.gz.toLocaleString("en-US")} | ${budget("crates/app/SIZE_BUDGET").toLocaleString("en-US")} |\n`; }
  if (worker.length) { const s = sizeOf(worker); md += `| UI lazily loaded worker module | ${s.raw.toLocaleString("en-US")} | ${s.gz.toLocaleString("en-US")} | ${budget("crates/app/SIZE_BUDGET_WORKER").toLocaleString("en-US")} |\n`; }
  for (const f of pkg) { const s = sizeOf([f]); md += `| postern-wasm package: ${path.basename(f)} | ${s.raw.toLocaleString("en-US")} | ${s.gz.toLocaleString("en-US")} | ${budget("crates/wasm/SIZE_BUDGET", path.basename(f)).toLocaleString("en-US")} |\n`; }
  const glue = list(PKG, /^postern_wasm(_bindgen|_parallel(_core|_worker)?)?\.js$/);
  if (glue.length) { const s = sizeOf(glue); md += `| postern-wasm JS glue (postern_wasm*.js) | ${s.raw.toLocaleString("en-US")} | ${s.gz.toLocaleString("en-US")} | — |\n`; }
  md += `\nBoth budgets are enforced in \`make test\` (scripts/check-app-size.sh, scripts/build-wasm-pkg.sh).\n\n`;
}
// Only the block between the two markers is this run's; everything else in BENCHMARKS.md (the
// targets table, the relay, app and delivery sections, every before/after) is written by hand
// and kept as it is. A file without the markers gets the block on top.
{
  const BEGIN = "<!-- bench/run.mjs: generated block begins -->";
  const END = "<!-- bench/run.mjs: generated block ends; the rest of this file is kept as written -->";
  const file = path.join(ROOT, "BENCHMARKS.md");
  const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "# Benchmarks\n\n";
  const b = old.indexOf(BEGIN), e = old.indexOf(END);
  const block = `${BEGIN}\n${md.trimEnd()}\n\n${END}`;
  const next = b >= 0 && e > b ? old.slice(0, b) + block + old.slice(e + END.length) : `${block}\n\n${old}`;
  fs.writeFileSync(file, next);
}

// ---------- chart.svg (hand-rolled): one panel per group, bars relative to the group's best ----------
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const W = 760, barH = 16, gap = 4, labelW = 250, barW = 380;
let y = 40, body = "";
const colors = { noble: "#4e79a7", libsodium: "#f28e2b", WebCrypto: "#59a14f", Postern: "#e15759", "noble (JS equivalent)": "#4e79a7" };
const colorOf = (impl) => colors[impl] || (impl.startsWith("native") ? "#555" : impl.startsWith("Postern") ? "#b22a2e" : impl.startsWith("WebCrypto") ? "#59a14f" : "#999");
for (const g of groups) {
  const rows = out.results.filter((r) => r.group === g && !r.error);
  if (!rows.length) continue;
  const max = Math.max(...rows.map(val));
  body += `<text x="10" y="${y + 12}" font-weight="bold">${esc(g)}</text>\n`; y += 18;
  for (const r of rows) {
    const w = Math.max(1, (val(r) / max) * barW);
    body += `<text x="20" y="${y + 12}">${esc(r.impl)}</text><rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colorOf(r.impl)}"/>`;
    body += `<text x="${labelW + w + 6}" y="${y + 12}">${esc(fmt(val(r)) + " " + unit(r))}</text>\n`;
    y += barH + gap;
  }
  y += 10;
}
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 10}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n<text x="10" y="22" font-size="15" font-weight="bold">Postern crypto benchmarks — headless Chromium ${esc(out.browserVersion)}${cfg.quick ? " (quick mode)" : ""}</text>\n${body}</svg>\n`;
fs.writeFileSync(path.join(BENCH, "chart.svg"), svg);
console.log(`wrote bench/results.json, BENCHMARKS.md, bench/chart.svg`);
