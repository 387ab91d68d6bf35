// init() is the default export of the wasm-bindgen `web` build: it fetches and instantiates
// postern_wasm_bg.wasm (resolved relative to postern_wasm.js). Call it once before anything else.
import init, { Identity } from "../pkg/postern_wasm.js";

const out = document.getElementById("out");
try {
  await init();
  const alice = Identity.generate();
  const bob = Identity.generate();
  const envelope = alice.sealDm(bob.publicIdentity, new TextEncoder().encode("hello from Alice"),
    Math.floor(Date.now() / 1000));
  const opened = bob.openDm(envelope);
  const ok = opened.sender === alice.publicIdentity;
  out.textContent = [
    `alice: ${alice.nodeId}`,
    `bob:   ${bob.nodeId}`,
    `envelope (what a relay sees): ${envelope}`,
    `bob opened: "${new TextDecoder().decode(opened.body)}" from ${ok ? "alice (authenticated)" : "?"}`,
  ].join("\n\n");
  out.dataset.result = ok ? "ok" : "mismatch";
  alice.free();
  bob.free();
} catch (e) {
  out.textContent = `error ${e.code ?? ""}: ${e.message}`;
  out.dataset.result = "error";
}
