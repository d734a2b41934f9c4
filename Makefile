# The newcomer's commands. Each target installs what it needs first (idempotently).
SHELL := /bin/bash
SWIFT ?= swift
SANDBOX_DIR ?= /tmp/kftray-sandbox
BIN = $(shell $(SWIFT) build --show-bin-path)

.PHONY: deps build test demo sandbox-up sandbox-down dist clean bench

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Everything CI runs: unit tests, the sandbox over real TLS, real kubectl, the built binaries.
test: build
	KFTRAY_BIN_DIR="$(BIN)" $(SWIFT) test

# Starts the local sandbox cluster and uses it the way a newcomer would.
demo: build
	@scripts/demo.sh "$(BIN)" "$(SANDBOX_DIR)"

sandbox-up: build
	"$(BIN)/kftray-sandbox" up --dir "$(SANDBOX_DIR)"

sandbox-down:
	"$(BIN)/kftray-sandbox" down --dir "$(SANDBOX_DIR)"

# Engine vs kubectl port-forward through its own sandbox: table + bench-results.json.
bench: deps
	@scripts/bench.sh

# Release archive for this platform and the krew manifest that points at it.
dist: deps
	@scripts/dist.sh

clean:
	rm -rf .build dist
