// The loopback proxy the delivery benchmarks (load.mjs, load-trace.mjs) put in front of the relay.
import http from 'node:http';

/** A pass-through proxy to `target` that counts requests per path (`state.counts`); with
 *  `state.up` false it drops every connection (the relay looks unreachable). */
export function countingProxy(target) {
  const t = new URL(target);
  const state = { counts: new Map(), up: true };
  const server = http.createServer((req, res) => {
    const path = req.url.split('?')[0];
    state.counts.set(path, (state.counts.get(path) || 0) + 1);
    if (!state.up) { req.socket.destroy(); return; }
    const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ state, server, url: `http://127.0.0.1:${server.address().port}` })));
}
