// Type-checks the Node package's typings (crates/wasm/pkg-node) from an ES module, as a
// TypeScript user on Node calls them: compiled by `tsc --noEmit`, never run.
import { Identity, verifyChain, sha256, type ChainReport } from "../../pkg-node/postern_wasm.js";
import {
  createChainVerifierPool,
  verifyChainParallel,
} from "../../pkg-node/postern_wasm_parallel.mjs";

export async function useNode(): Promise<number> {
  const id = Identity.generate();
  const nodeId: string = id.nodeId;
  id.free();
  const digest: Uint8Array = sha256(new TextEncoder().encode(nodeId));
  const report: ChainReport = verifyChain("[]", 0);
  const pool = await createChainVerifierPool();
  const size: number = pool.size;
  const pooled: ChainReport = await pool.verifyChain("[]", 0);
  await pool.terminate();
  const oneShot: ChainReport = await verifyChainParallel("[]", 0, 3600, { workers: 1 });
  return digest.length + report.count + size + pooled.count + oneShot.count;
}
