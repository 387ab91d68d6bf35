// Type-checks the Node package's gates entry (crates/wasm/pkg-node/postern_wasm_gates.js) from an
// ES module, and that the default entry has no gate API: compiled by `tsc --noEmit`, never run.
import { GateChain, Identity, verifyChain, type ChainReport, type GateMember } from "../../pkg-node/postern_wasm_gates.js";
import { verifyChainParallel } from "../../pkg-node/postern_wasm_gates_parallel.mjs";
import * as lite from "../../pkg-node/postern_wasm.js";

export async function useGatesNode(): Promise<number> {
  const me = Identity.generate();
  const chain = GateChain.create(me, 0);
  const members: GateMember[] = chain.members(null);
  const report: ChainReport = verifyChain("[]", 0);
  const same: lite.ChainReport = report;
  // @ts-expect-error the default (lite) entry has no gate API: import gates from postern_wasm_gates.js
  const none = lite.GateChain;
  const oneShot: ChainReport = await verifyChainParallel("[]", 0, 3600, { workers: 1 });
  return members.length + same.count + oneShot.count + (none ? 1 : 0);
}
