import type { ChainReport } from "./postern_wasm.js";

/** Byte offsets of the top-level elements of a JSON array text, or null if it is not one. */
export function splitJsonArray(text: string): { starts: number[]; ends: number[] } | null;

/** Verification workers, each with its own postern-wasm instance. */
export class ChainVerifierPool {
  readonly size: number;
  /** The build each worker runs ("simd" / "scalar"): the caller's (set by createChainVerifierPool). */
  wasmVariants?: string[];
  /** Same arguments and result as `verifyChain`; signatures and event ids are checked in the
   *  workers (Ed25519 batched), every sequential rule on the calling thread. An invalid chain is
   *  re-verified with `verifyChain`, so the reported failure is identical. `chunk`: events per task. */
  verifyChain(eventsJson: string, nowSeconds: number, maxEventAgeSeconds?: number, opts?: { chunk?: number }): Promise<ChainReport>;
  terminate(): Promise<unknown>;
}

/** Start `workers` workers (default: the number of cores) and wait until they are ready. */
export function createChainVerifierPool(workers?: number): Promise<ChainVerifierPool>;

/** One-shot `verifyChain` over a temporary pool (worker start-up included). */
export function verifyChainParallel(eventsJson: string, nowSeconds: number, maxEventAgeSeconds?: number, opts?: { workers?: number }): Promise<ChainReport>;
