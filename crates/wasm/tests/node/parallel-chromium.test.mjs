// verifyChainParallel in headless Chromium (module workers, web build crates/wasm/pkg, the entry
// of POSTERN_WASM_FLAVOUR): same report as verifyChain for a valid chain and for corrupted ones.
// Skipped when Chromium or playwright-core (tests/e2e/node_modules) is missing.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../../../..");
const PKG = path.resolve(HERE, "../../pkg");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
let chromium = null;
try { ({ chromium } = createRequire(path.join(ROOT, "tests/e2e/package.json"))("playwright-core")); } catch { /* skipped below */ }
const skip = !chromium ? "playwright-core not installed in tests/e2e" : !fs.existsSync(CHROMIUM) ? `no ${CHROMIUM}` : false;

// POSTERN_WASM_VARIANT=scalar (build-wasm-pkg.sh --test's second run) forces the scalar build;
// otherwise init() picks one by detection (Chromium: SIMD). The workers must run the same one.
const VARIANT = process.env.POSTERN_WASM_VARIANT || "auto";
const BASE = process.env.POSTERN_WASM_FLAVOUR === "gates" ? "postern_wasm_gates" : "postern_wasm";
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import init, * as w from "/pkg/${BASE}.js";
import { createChainVerifierPool, verifyChainParallel } from "/pkg/${BASE}_parallel.js";
await init({ variant: ${JSON.stringify(VARIANT)} });
const NOW = 1780000000, GENESIS = "0".repeat(64);
const signers = [w.EventSigner.generate(), w.EventSigner.generate()];
const texts = []; let prev = GENESIS;
for (let i = 1; i <= 400; i++) {
  const j = signers[i % 2].signEvent(prev, "message", JSON.stringify({ message: "m" + i, destination: "broadcast", channel: "LongFast", priority: "normal", ephemeral: false }), NOW + i, Math.floor((i - 1) / 2) + 1);
  texts.push(j); prev = JSON.parse(j).event_id;
}
const field = (t, f) => { const m = new RegExp('"' + f + '":"([^"]*)"').exec(t); return t.replace(m[0], '"' + f + '":"' + (m[1][0] === "0" ? "1" : "0") + m[1].slice(1) + '"'); };
const mut = (pairs) => { const t = texts.slice(); for (const [i, f] of pairs) t[i] = field(t[i], f); return "[" + t.join(",") + "]"; };
const cases = [["valid", "[" + texts.join(",") + "]"], ["bad signature at 277", mut([[277, "signature"]])],
  ["bad event id at 3", mut([[3, "event_id"]])], ["link at 100 + sig at 300", mut([[100, "prev_hash"], [300, "signature"]])],
  ["sig at 90 + link at 350", mut([[90, "signature"], [350, "prev_hash"]])]];
const pool = await createChainVerifierPool(2);
const out = [];
for (const [label, json] of cases) {
  const want = w.verifyChain(json, NOW + 1000, 0);
  const got = await pool.verifyChain(json, NOW + 1000, 0, { chunk: 50 });
  out.push({ label, want, got });
}
const oneShot = await verifyChainParallel(cases[1][1], NOW + 1000, 0, { workers: 2 });
out.push({ label: "one-shot", want: w.verifyChain(cases[1][1], NOW + 1000, 0), got: oneShot });
window.variants = { page: w.wasmVariant(), workers: pool.wasmVariants };
await pool.terminate();
window.result = out;
</script>`;

test("verifyChainParallel in Chromium matches verifyChain", { skip }, async () => {
  const served = [];
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url, "http://x").pathname);
    served.push(p);
    if (p === "/") { res.writeHead(200, { "content-type": "text/html" }); return res.end(PAGE); }
    const file = p.startsWith("/pkg/") && path.resolve(PKG, p.slice(5));
    if (!file || !file.startsWith(PKG) || !fs.existsSync(file)) { res.writeHead(404); return res.end(); }
    const type = file.endsWith(".wasm") ? "application/wasm" : "text/javascript";
    res.writeHead(200, { "content-type": type });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.result || null, null, { timeout: 120000 }).catch(() => {});
    assert.deepEqual(errors, []);
    const out = await page.evaluate(() => window.result);
    const variants = await page.evaluate(() => window.variants);
    assert.deepEqual(variants, { page: VARIANT === "scalar" ? "scalar" : "simd", workers: [variants.page, variants.page] });
    assert.equal(out.length, 6);
    // The page and its workers load one .wasm: the entry's own (one compiled module, posted).
    assert.deepEqual(served.filter((p) => p.endsWith(".wasm")), [`/pkg/${BASE}${variants.page === "simd" ? "_simd" : ""}_bg.wasm`]);
    assert.equal(out[0].want.valid, true);
    for (const { label, want, got } of out) {
      assert.deepEqual(got, want, label);
      if (label !== "valid") assert.equal(want.valid, false, label);
    }
  } finally {
    await browser.close();
    server.close();
  }
});
