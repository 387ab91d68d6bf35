// Wall time per point of core's two prime-order checks of the strict batch's `R`s in wasm
// (issue 16: where `SUBSET_CHECK_MIN` goes): exact (one multiplication by ℓ per point) against
// random subset sums, per batch size. A benchmark, not a test: prints figures, asserts nothing.
//
//   cargo build --profile wasm-release --target wasm32-unknown-unknown --example r_check_cost \
//     -p postern-core --no-default-features
//   node bench/r-check-wasm.mjs [path/to/r_check_cost.wasm]
//
// `wasm-release` is the app worker's profile (index.html). The example's wasm-bindgen imports
// (from dev-dependencies) are never called: stubbed.
import { readFileSync } from 'node:fs';
import os from 'node:os';

const path = process.argv[2]
  || 'target/wasm32-unknown-unknown/wasm-release/examples/r_check_cost.wasm';
const module = new WebAssembly.Module(readFileSync(path));
const imports = {};
for (const i of WebAssembly.Module.imports(module)) {
  imports[i.module] ??= {};
  imports[i.module][i.name] = () => { throw new Error(`stub ${i.name} called`); };
}
const { exports } = new WebAssembly.Instance(module, imports);
const SIZES = (process.env.SIZES || '128,160,192,224,256,320,384,500,1000').split(',').map(Number);
const REPS = Number(process.env.REPS || 5);

function perPoint(kind, n) {
  exports.check(kind); // warm-up
  const t = performance.now();
  for (let r = 0; r < REPS; r++) {
    if (exports.check(kind) !== 1) throw new Error('a prime-order point failed');
  }
  return ((performance.now() - t) * 1000) / (REPS * n);
}

console.log(`load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const n of SIZES) {
  exports.prepare(n);
  // Alternating, so a load change hits both.
  const e1 = perPoint(1, n); const s1 = perPoint(2, n);
  const s2 = perPoint(2, n); const e2 = perPoint(1, n);
  const exact = (e1 + e2) / 2; const subset = (s1 + s2) / 2;
  console.log(`n = ${String(n).padStart(5)}: exact ${exact.toFixed(1)} µs/point, subset sums ${subset.toFixed(1)} µs/point (${subset < exact ? 'subset' : 'exact'} cheaper)`);
}
console.log(`load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
