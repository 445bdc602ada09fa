# cardgate: `make demo` runs the main job, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all deps build test demo bench fuzz reliability lint fmt pcscd clean

all: build

deps:
	@scripts/deps.sh

pcscd: deps
	@scripts/pcscd.sh start

build: deps
	$(CARGO) build --workspace --release

test: pcscd
	$(CARGO) test --workspace

demo: pcscd build
	scripts/demo.sh

bench: pcscd
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh

reliability: pcscd
	scripts/reliability.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
