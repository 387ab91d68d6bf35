// Browser checks that need no WebAssembly: a classic script that runs before the app's module
// loader (Trunk's boot script), so it works where the app itself cannot start.
//
// 1. WebAssembly turned off (Tor Browser's "Safer" and "Safest" security levels, Firefox's
//    `javascript.options.wasm = false`): the loader would only throw `ReferenceError:
//    WebAssembly is not defined` and leave a blank page. Instead the page says what happened
//    and what to do (#no-wasm). State for tests: <html data-wasm="ok|missing">.
// 2. Private browsing (Firefox/Tor Browser private windows, Chromium incognito): the identity,
//    contacts and messages live in this window's storage and are deleted when it closes. Once
//    the app has started, a banner (#private-warning) says so and offers the encrypted backup
//    (#private-backup opens the "Export an encrypted backup" form of "Keys and backup").
//    State for tests: <html data-private="likely|no|unknown">, the banner's data-reason.
//    Heuristics (no browser exposes the mode directly):
//    - Firefox (and Tor Browser, whose user agent is Firefox's), secure contexts only: private
//      windows refuse the origin-private file system, `navigator.storage.getDirectory()`
//      rejecting with a SecurityError (reason "firefox-no-opfs"; measured in Firefox ESR 153).
//      Older Firefox releases hid `navigator.serviceWorker` in private windows instead (reason
//      "firefox-no-service-worker"); 153 has service workers there. Over plain http to a
//      non-local host both are missing in every window, so only secure contexts count.
//    - Chromium: incognito profiles get a storage quota far below a normal profile's (a share of
//      memory instead of disk): quota under 2 × the JS heap limit, the limit used by the
//      `detectIncognito` library (reason "chromium-small-quota"). Recent Chromium builds may
//      give incognito a disk-sized quota too: then nothing is shown (data-private="no").
(function () {
  'use strict';
  var root = document.documentElement;

  function whenBody(fn) {
    if (document.body) fn();
    else document.addEventListener('DOMContentLoaded', fn);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }

  // ---- 1. No WebAssembly ----
  if (typeof WebAssembly !== 'object' || WebAssembly === null || typeof WebAssembly.instantiate !== 'function') {
    root.dataset.wasm = 'missing';
    whenBody(function () {
      if (document.getElementById('no-wasm')) return;
      var main = el('main', { id: 'no-wasm', class: 'card', 'aria-labelledby': 'no-wasm-h' });
      // CSSOM, not a style attribute: the relay's CSP allows no inline styles.
      main.style.maxWidth = '44rem';
      main.style.margin = '2rem auto';
      main.appendChild(el('h1', { id: 'no-wasm-h' }, 'Postern cannot start: WebAssembly is turned off'));
      main.appendChild(el('p', {}, 'Postern encrypts and decrypts your messages inside this tab with WebAssembly, ' +
        'and this browser has WebAssembly disabled. Tor Browser does this at its "Safer" and "Safest" security levels.'));
      var what = el('p', {}, 'What to do:');
      main.appendChild(what);
      var ol = el('ol', {});
      ol.appendChild(el('li', {}, 'In Tor Browser: click the shield icon in the toolbar, choose "Settings…" ' +
        '(or "Change…"), set the security level to "Standard", then reload this page. ' +
        'This turns WebAssembly and JavaScript optimisations back on for every site.'));
      ol.appendChild(el('li', {}, 'In Firefox: open about:config, set javascript.options.wasm to true, then reload this page.'));
      main.appendChild(ol);
      main.appendChild(el('p', {}, 'Nothing was created, sent or stored: Postern did not start.'));
      var reload = el('button', { id: 'no-wasm-reload', type: 'button', class: 'btn' }, 'Reload');
      reload.addEventListener('click', function () { location.reload(); });
      main.appendChild(reload);
      document.body.insertBefore(main, document.body.firstChild);
    });
    return;
  }
  root.dataset.wasm = 'ok';

  // ---- 2. Private browsing ----
  function detectPrivate() {
    var ua = navigator.userAgent || '';
    if (/Firefox\//.test(ua)) {
      if (!window.isSecureContext) return Promise.resolve(undefined);
      if (!('serviceWorker' in navigator)) return Promise.resolve('firefox-no-service-worker');
      if (!navigator.storage || typeof navigator.storage.getDirectory !== 'function') return Promise.resolve(undefined);
      return navigator.storage.getDirectory().then(function () { return null; }, function (e) {
        return e && e.name === 'SecurityError' ? 'firefox-no-opfs' : undefined;
      });
    }
    var heap = window.performance && performance.memory && performance.memory.jsHeapSizeLimit;
    if (heap && navigator.storage && navigator.storage.estimate) {
      return navigator.storage.estimate().then(function (e) {
        return e && typeof e.quota === 'number' && e.quota < 2 * heap ? 'chromium-small-quota' : null;
      }, function () { return null; });
    }
    return Promise.resolve(undefined);
  }

  // Bring the backup form into view: it lives in "Keys and backup" (crates/app/src/settings.rs);
  // if the current view does not show it, follow a link to the settings view first.
  function openBackup() {
    var target = document.getElementById('backup-pass');
    // The settings page may be mounted but hidden (the messenger layout): go there first.
    if (!target || !target.offsetParent) {
      var link = document.querySelector('a[href$="/settings"], a[href="#settings"], [data-nav="settings"]');
      if (link) link.click();
    }
    var tries = 0;
    (function show() {
      var pass = document.getElementById('backup-pass');
      if (!pass || !pass.offsetParent) {
        if (++tries < 50) requestAnimationFrame(show);
        return;
      }
      for (var d = pass.parentElement; d; d = d.parentElement) if (d.tagName === 'DETAILS') d.open = true;
      pass.scrollIntoView({ block: 'center' });
      pass.focus();
    })();
  }

  function showBanner(reason) {
    if (document.getElementById('private-warning')) return;
    var bar = el('div', { id: 'private-warning', class: 'banner banner-warn', role: 'region',
      'aria-label': 'Private window warning', 'data-reason': reason });
    bar.appendChild(el('strong', {}, 'This looks like a private window. '));
    bar.appendChild(document.createTextNode('Your Postern identity, contacts and messages are deleted when it closes ' +
      '(Tor Browser always works this way). Download an encrypted backup to keep them, and import it next time. '));
    var btn = el('button', { id: 'private-backup', type: 'button', class: 'btn btn-small' }, 'Back up now');
    btn.addEventListener('click', openBackup);
    bar.appendChild(btn);
    var close = el('button', { id: 'private-dismiss', type: 'button', class: 'btn btn-small' }, 'Dismiss');
    close.addEventListener('click', function () { bar.remove(); });
    bar.appendChild(document.createTextNode(' '));
    bar.appendChild(close);
    document.body.insertBefore(bar, document.body.firstChild);
  }

  // The banner goes in once the app has mounted (Yew replaces the body's children on mount).
  // The wasm loader is `async`: it may have started the app before this deferred script ran.
  var started = !!window.wasmBindings;
  var reason;
  function maybeShow() {
    if (started && reason) showBanner(reason);
  }
  window.addEventListener('TrunkApplicationStarted', function () {
    started = true;
    maybeShow();
  });
  detectPrivate().then(function (r) {
    root.dataset.private = r ? 'likely' : r === null ? 'no' : 'unknown';
    reason = r;
    maybeShow();
  });
})();
