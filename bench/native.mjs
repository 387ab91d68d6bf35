#!/usr/bin/env node
// Collect the native criterion results (crates/core/benches/primitives.rs) into bench/native.json.
//   cargo bench -p postern-core --bench primitives && node bench/native.mjs
// Reads $CARGO_TARGET_DIR (default target)/criterion/native/**/new/{estimates,benchmark}.json.
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { fileURLToPath } from "node:url";

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, "..");
const dir = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, "target"), "criterion", "native");
const out = { date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cpus: os.cpus().length, results: {} };
function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (!e.isDirectory()) continue;
    if (e.name === "new") {
      const est = JSON.parse(fs.readFileSync(path.join(p, "estimates.json"), "utf8"));
      const b = JSON.parse(fs.readFileSync(path.join(p, "benchmark.json"), "utf8"));
      const key = path.relative(dir, d).split(path.sep).join("/");
      out.results[key] = { medianNs: est.median.point_estimate, throughput: b.throughput || null };
    } else if (e.name !== "base" && e.name !== "change" && e.name !== "report") walk(p);
  }
}
if (!fs.existsSync(dir)) { console.error(`no ${dir}: run cargo bench -p postern-core --bench primitives`); process.exit(1); }
walk(dir);
fs.writeFileSync(path.join(BENCH, "native.json"), JSON.stringify(out, null, 2) + "\n");
console.log(`wrote bench/native.json (${Object.keys(out.results).length} results)`);
