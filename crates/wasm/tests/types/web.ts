// Type-checks the browser package's typings (crates/wasm/pkg) as a TypeScript user calls them:
// compiled by `tsc --noEmit` in scripts/build-wasm-pkg.sh --test, never run.
import init, {
  chooseVariant,
  ed25519PublicKey,
  chacha20Poly1305Seal,
  chacha20Poly1305Open,
  Identity,
  initSync,
  merkleRoot,
  simdSupported,
  verifyChain,
  wasmModule,
  wasmUrl,
  wasmVariant,
  type ChainReport,
  type InitOutput,
  type WasmVariant,
} from "../../pkg/postern_wasm.js";
import {
  createChainVerifierPool,
  splitJsonArray,
  verifyChainParallel,
} from "../../pkg/postern_wasm_parallel.js";

export async function useWeb(bytes: Uint8Array): Promise<string[]> {
  const out: InitOutput = await init({ variant: "auto" });
  await init({ variant: "scalar" });
  await init(new URL("x.wasm", "https://example.invalid/"));
  initSync({ module: bytes });
  const v: WasmVariant = chooseVariant("simd");
  const running: WasmVariant | null = wasmVariant();
  const url: URL = wasmUrl(v);
  const mod: WebAssembly.Module | null = wasmModule();
  const simd: boolean = simdSupported();

  const pk: Uint8Array = ed25519PublicKey(new Uint8Array(32));
  const sealed: Uint8Array = chacha20Poly1305Seal(pk, new Uint8Array(12), bytes, null);
  const opened: Uint8Array = chacha20Poly1305Open(pk, new Uint8Array(12), sealed);
  const me: Identity = Identity.generate();
  const envelope: string = me.sealDm(me.publicIdentity, opened, 0);
  const body: Uint8Array = me.openDm(envelope).body;
  me.free();

  const report: ChainReport = verifyChain("[]", 0, null);
  const head: string | null = report.head;
  const root: string = merkleRoot(head ? [head] : []);
  const parts = splitJsonArray("[1,2]");
  const starts: number[] = parts ? parts.starts : [];
  const pool = await createChainVerifierPool(2);
  const pooled: ChainReport = await pool.verifyChain("[]", 0, undefined, { chunk: 500 });
  await pool.terminate();
  const oneShot: ChainReport = await verifyChainParallel("[]", 0, undefined, { workers: 2 });

  return [String(out.memory), String(running), url.href, String(mod), String(simd), String(body.length),
    root, String(starts.length), String(pooled.valid), String(oneShot.count)];
}
