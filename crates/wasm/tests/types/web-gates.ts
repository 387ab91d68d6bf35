// Type-checks the browser package's gates entry (crates/wasm/pkg/postern_wasm_gates.js) and that
// the default entry has no gate API: compiled by `tsc --noEmit` with web.ts, never run.
import init, {
  GateChain,
  GateKeyring,
  Identity,
  initSync,
  verifyChain,
  wasmUrl,
  wasmVariant,
  type ChainReport,
  type GateMember,
  type GateReceived,
  type InitOutput,
  type OpenedGateMessage,
  type WasmVariant,
} from "../../pkg/postern_wasm_gates.js";
import { createChainVerifierPool } from "../../pkg/postern_wasm_gates_parallel.js";
import type * as lite from "../../pkg/postern_wasm.js";
// @ts-expect-error the default (lite) entry has no gate API: import gates from postern_wasm_gates.js
import { GateChain as NoGateChain } from "../../pkg/postern_wasm.js";

export async function useGatesWeb(bytes: Uint8Array, liteApi: typeof lite): Promise<string[]> {
  const out: InitOutput = await init({ variant: "auto" });
  initSync({ module: bytes });
  const running: WasmVariant | null = wasmVariant();
  const url: URL = wasmUrl("scalar");

  const alice: Identity = Identity.generate();
  const chain: GateChain = GateChain.create(alice, 0, null);
  const members: GateMember[] = chain.members();
  const key = chain.unlock(alice);
  const sealed: string = key.seal(alice, bytes, 1);
  const opened: OpenedGateMessage = key.open(sealed);
  const ring = new GateKeyring(chain.gateId);
  ring.addChain(alice, chain);
  const received: GateReceived = ring.receive(sealed);

  // The non-gate API is the same in both entries: a report of one is the other's type.
  const report: lite.ChainReport = verifyChain("[]", 0, null);
  const again: ChainReport = liteApi.verifyChain("[]", 0, null);
  // @ts-expect-error no gate class through the lite entry
  liteApi.GateKeyring;
  const pool = await createChainVerifierPool(2);
  const pooled: ChainReport = await pool.verifyChain("[]", 0);
  await pool.terminate();

  return [String(out.memory), String(running), url.href, members[0].role, opened.author, received.status,
    String(report.valid), String(again.count), String(pooled.count), String(NoGateChain)];
}
