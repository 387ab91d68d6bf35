// Loads the Node.js build (crates/wasm/pkg-node, made by scripts/build-wasm-pkg.sh): the entry
// POSTERN_WASM_FLAVOUR names — "lite" (default: postern_wasm.js, no gate API) or "gates"
// (postern_wasm_gates.js); build-wasm-pkg.sh --test runs the suite with each.
import { readFileSync } from "node:fs";

/** Which entry the suite runs against: "lite" or "gates". */
export const FLAVOUR = process.env.POSTERN_WASM_FLAVOUR || "lite";
if (FLAVOUR !== "lite" && FLAVOUR !== "gates") throw new Error(`POSTERN_WASM_FLAVOUR must be "lite" or "gates", not ${FLAVOUR}`);
/** Whether the entry under test has the gate API. */
export const GATES = FLAVOUR === "gates";
/** The entry's file base name in both packages: postern_wasm or postern_wasm_gates. */
export const BASE = GATES ? "postern_wasm_gates" : "postern_wasm";
/** URL of a file in pkg-node. */
export const nodePkg = (file) => new URL(`../../pkg-node/${file}`, import.meta.url);

const api = async (file) => { const m = await import(nodePkg(file)); return m.Identity ? m : m.default; };
/** The postern-wasm API of the entry under test (works whether wasm-bindgen emitted CommonJS or ESM). */
export const w = await api(`${BASE}.js`);
/** The gates entry, whatever the flavour under test (for fixtures such as sealed gate payloads:
 *  only JSON text passes between the two instances). */
export const gatesApi = () => api("postern_wasm_gates.js");
/** The entry's worker pool module (postern_wasm[_gates]_parallel.mjs). */
export const parallelApi = () => import(nodePkg(`${BASE}_parallel.mjs`));

/** Read a JSON file from the shared directory next to the checkout (`<repo>/../shared`), or
 * from $POSTERN_SHARED. */
export function sharedJson(rel) {
  const base = process.env.POSTERN_SHARED
    ? new URL(`file://${process.env.POSTERN_SHARED.replace(/\/?$/, "/")}`)
    : new URL("../../../../../shared/", import.meta.url);
  return JSON.parse(readFileSync(new URL(rel, base), "utf8"));
}

/** Assert that `fn` throws an Error with `code`; returns the error. */
export function codeOf(fn) {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`threw a non-Error: ${e}`);
    return e.code;
  }
  throw new Error("did not throw");
}

export const NOW = 1_780_000_000;
