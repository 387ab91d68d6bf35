# Postern. The two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
export PATH := $(CURDIR)/tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export TRUNK_SKIP_VERSION_CHECK := true
export CHROMEDRIVER ?= /usr/bin/chromedriver

LISTEN ?= 127.0.0.1:8080
DATA ?= ./data
RELAY := target/release/postern

.PHONY: run test lint build ui ui-test relay e2e test-native test-wasm test-wasm-pkg wasm-pkg bench tools test-tools clean

## make run: install what is missing, build UI (release) + relay, serve on http://$(LISTEN)
run: tools build
	$(RELAY) serve --listen $(LISTEN) --data $(DATA) --web dist

## make test: install what is missing, then every test (native, wasm in Chromium, e2e).
## No incremental build caches: a single clean run does not use them, and they cost gigabytes
## of disk (a CI machine may have little free).
test: export CARGO_INCREMENTAL = 0
test: test-tools
	$(MAKE) lint
	$(MAKE) test-native
	$(MAKE) test-wasm
	$(MAKE) test-wasm-pkg
	$(MAKE) ui
	scripts/check-app-size.sh
	$(MAKE) ui-test
	$(MAKE) e2e RELAY=target/debug/postern

## make lint: layout rules (file length, module docs, no import cycles), formatting, and clippy
## (native workspace; wasm32 for the browser crates, and for core's lib + tests, which make
## test-wasm runs; the package's +simd128 build, which has its own code, in its own target dir;
## postern-wasm also without its default `gates` feature, the package's default entry) with
## warnings as errors
lint:
	scripts/check-layout.sh
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown -p postern-app -p postern-wasm --all-targets -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown -p postern-core --lib --tests -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown -p postern-app --features test-hooks -- -D warnings
	RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_DIR=target/clippy-simd cargo clippy --locked --target wasm32-unknown-unknown -p postern-wasm --all-targets -- -D warnings
	cargo clippy --locked -p postern-wasm --no-default-features --all-targets -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown -p postern-wasm --no-default-features --all-targets -- -D warnings
	RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_DIR=target/clippy-simd cargo clippy --locked --target wasm32-unknown-unknown -p postern-wasm --no-default-features --all-targets -- -D warnings

tools:
	@scripts/install-tools.sh run

test-tools:
	@scripts/install-tools.sh test

build: ui relay

ui:
	trunk build --release

## make ui-test: the UI with the e2e test hooks (cargo feature `test-hooks`) into dist-test/;
## `make e2e` runs on it and checks that dist/ (what `make run` serves) has none of them
ui-test:
	trunk build --release --features test-hooks --dist dist-test

relay:
	cargo build --release --locked -p postern-relay

test-native:
	cargo test --locked -p postern-core -p postern-relay -p postern-app
	cargo build --locked -p postern-relay

test-wasm:
	cargo test --locked --target wasm32-unknown-unknown -p postern-core -p postern-wasm -p postern-app

## make wasm-pkg: the postern-wasm JS packages (crates/wasm/pkg, pkg-node; default and gates entries, SIMD + scalar builds each) + gzip size budget checks
wasm-pkg:
	scripts/build-wasm-pkg.sh

test-wasm-pkg:
	scripts/build-wasm-pkg.sh --test

## make bench: the side-by-side benchmark suite (not part of `make test`, ~20 min): JS peers from
## bench/package-lock.json, the package (SIMD + scalar builds), native criterion ceiling, then the
## headless-Chromium run; regenerates BENCHMARKS.md, bench/results.json, bench/chart.svg
bench: test-tools
	npm ci --prefix bench --no-audit --no-fund
	scripts/build-wasm-pkg.sh
	cargo bench --locked -p postern-core --bench primitives
	node bench/native.mjs
	node bench/run.mjs

## make e2e: browser end-to-end tests only (expects `make build` and `make ui-test` output)
e2e:
	cd tests/e2e && POSTERN_BIN=$(CURDIR)/$(RELAY) POSTERN_WEB=$(CURDIR)/dist-test POSTERN_PROD_WEB=$(CURDIR)/dist node --test --test-concurrency=1 *.test.mjs

clean:
	rm -rf dist dist-test target tests/e2e/output
