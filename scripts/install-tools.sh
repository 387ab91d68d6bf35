#!/usr/bin/env bash
# Idempotent installer for everything Postern needs on a fresh Debian machine with rustup.
#   scripts/install-tools.sh run    - what `make run` needs (wasm target, trunk, wasm-bindgen-cli, wasm-opt)
#   scripts/install-tools.sh test   - plus Chromium + ChromeDriver and Firefox ESR (apt), geckodriver
#                                     (crates.io) and the e2e npm packages
# Every step checks first and is skipped when the right version is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-run}"
TRUNK_VERSION="0.21.14"
# Newest geckodriver on crates.io that builds on our Rust; drives Debian's firefox-esr (e2e).
GECKODRIVER_VERSION="0.37.1"
# wasm-bindgen-cli must equal the wasm-bindgen crate locked in Cargo.lock.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1;34m[install]\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "rustup component add $component"
    rustup component add "$component"
  fi
done

if ! trunk --version 2>/dev/null | grep -q "trunk $TRUNK_VERSION"; then
  say "cargo install trunk $TRUNK_VERSION (takes ~8 min once)"
  cargo install --locked trunk --version "$TRUNK_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes ~5 min once)"
  # Without --locked: the CLI's own lockfile wants a crate version the registry lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ ! -x tools/node_modules/.bin/wasm-opt ] || [ ! -x tools/node_modules/.bin/tsc ]; then
  say "npm ci in tools/ (binaryen wasm-opt, TypeScript tsc; pinned)"
  npm ci --prefix tools --no-audit --no-fund
fi

# Trunk runs `cargo metadata`, which `offline = true` does not cover: fetch once.
cargo fetch --locked >/dev/null 2>&1 || cargo fetch

if [ "$MODE" = "test" ]; then
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    say "apt-get install chromium chromium-driver"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium chromium-driver
  fi
  if [ ! -x /usr/bin/firefox-esr ]; then
    say "apt-get install firefox-esr"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y firefox-esr
  fi
  if ! geckodriver --version 2>/dev/null | grep -q "geckodriver $GECKODRIVER_VERSION"; then
    say "cargo install geckodriver $GECKODRIVER_VERSION (takes ~4 min once)"
    cargo install --locked geckodriver --version "$GECKODRIVER_VERSION"
  fi
  if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -d tests/e2e/node_modules/selenium-webdriver ]; then
    say "npm ci in tests/e2e (playwright-core, selenium-webdriver; they drive Debian's browsers, download none)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/e2e --no-audit --no-fund
  fi
fi
say "tools ready"
