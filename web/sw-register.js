// Registers Postern's service worker (web/sw.js) and tells the user when a new build has
// taken over this page. State for tests: <html data-sw="registered|error|unsupported">.
(function () {
  'use strict';
  var root = document.documentElement;
  if (!('serviceWorker' in navigator)) {
    root.dataset.sw = 'unsupported';
    return;
  }
  var hadController = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.addEventListener('controllerchange', function () {
    // First install claims an uncontrolled page: nothing changed for the user.
    if (!hadController) {
      hadController = true;
      return;
    }
    root.dataset.swUpdate = 'ready';
    if (document.getElementById('sw-update')) return;
    var bar = document.createElement('div');
    bar.id = 'sw-update';
    bar.className = 'sw-update';
    bar.setAttribute('role', 'status');
    bar.textContent = 'A new version of Postern is ready. ';
    var btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'btn btn-small';
    btn.textContent = 'Reload';
    btn.addEventListener('click', function () { location.reload(); });
    bar.appendChild(btn);
    document.body.appendChild(bar);
  });
  function register() {
    navigator.serviceWorker
      .register('/sw.js', { scope: '/', updateViaCache: 'none' })
      .then(function (reg) {
        root.dataset.sw = 'registered';
        reg.addEventListener('updatefound', function () {
          root.dataset.swUpdate = 'installing';
        });
        // A long-open tab checks for a new build when it becomes visible again.
        document.addEventListener('visibilitychange', function () {
          if (document.visibilityState === 'visible') reg.update().catch(function () {});
        });
      })
      .catch(function (e) {
        root.dataset.sw = 'error';
        console.warn('Postern: service worker registration failed:', e);
      });
  }
  // Registration starts the install, whose precache fetches the whole build and writes it to
  // Cache Storage: on a first visit that competed with the page wasm's compile and the first
  // render for the CPU (bench/load-trace.mjs). So it waits until the app has mounted and the
  // next frame is painted — by then the page's wasm is in the HTTP cache, which the precache
  // reuses (one download) — and 5 s after `load` at the latest (an app that did not start
  // still gets the offline shell). Tests: data-sw as above.
  var started = false;
  function registerOnce() {
    if (started) return;
    started = true;
    register();
  }
  function afterPaint() {
    requestAnimationFrame(function () { setTimeout(registerOnce, 0); });
  }
  // The wasm loader is `async`: the app may have started before this deferred script ran.
  if (window.wasmBindings) afterPaint();
  else window.addEventListener('TrunkApplicationStarted', afterPaint);
  function fallback() { setTimeout(registerOnce, 5000); }
  if (document.readyState === 'complete') fallback();
  else window.addEventListener('load', fallback);
})();
