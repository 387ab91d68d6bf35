// Loads the Node.js build (crates/wasm/pkg-node, made by scripts/build-wasm-pkg.sh).
import { readFileSync } from "node:fs";

const mod = await import(new URL("../../pkg-node/postern_wasm.js", import.meta.url));
/** The postern-wasm API (works whether wasm-bindgen emitted CommonJS or ESM). */
export const w = mod.Identity ? mod : mod.default;

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
