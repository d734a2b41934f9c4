# The newcomer's commands. Each target installs what it needs first (idempotently).
SHELL := /bin/bash
SWIFT ?= swift
SANDBOX_DIR ?= /tmp/kftray-sandbox
BIN = $(shell $(SWIFT) build --show-bin-path)
# make install: where (PREFIX) and into which staging root (DESTDIR, for packagers).
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man/man1
SHAREDIR = $(DESTDIR)$(PREFIX)/share
# An already built kubectl-kftray to install as is; empty: build a stripped release binary first.
PLUGIN ?=

# How often each fault case runs under `make faults` (`make test` runs each once).
FAULT_REPEATS ?= 10

.PHONY: deps profile-deps build test faults demo sandbox-up sandbox-down dist clean bench fuzz docs install uninstall

deps:
	@scripts/install-deps.sh

# perf and valgrind, for profiling the engine (not needed by the tests).
profile-deps:
	@scripts/install-deps.sh profiling

build: deps
	$(SWIFT) build

# Everything CI runs: unit tests, the sandbox over real TLS, real kubectl, the built binaries.
test: build
	KFTRAY_BIN_DIR="$(BIN)" $(SWIFT) test

# The fault suite, every case repeated FAULT_REPEATS times (figures on lines `fault figures: ...`),
# the sandbox's restart test, then every fuzz target for its fixed budget (FUZZ_SECONDS each).
faults: build
	KFTRAY_BIN_DIR="$(BIN)" KFTRAY_FAULT_REPEATS=$(FAULT_REPEATS) KFTRAY_FAULTS_ALONE=1 $(SWIFT) test --filter 'FaultTests|SandboxRestartTests'
	@scripts/fuzz.sh $(FUZZ_SECONDS)

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

# libFuzzer + AddressSanitizer on every parser that reads outside bytes, FUZZ_SECONDS per target, from
# the seeds in Tests/FuzzSeeds; a finding is left in .build-fuzz/findings with its reproduce command.
FUZZ_SECONDS ?= 30
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# Release archive for this platform and the krew manifest that points at it.
dist: deps
	@scripts/dist.sh

# The generated documentation, from the parser: completion scripts, the kubectl helper and the man page
# (from man/kubectl-kftray.1.in). DocumentationDriftTests fail until this has been run after a flag change.
docs: build
	"$(BIN)/kubectl-kftray" --generate-completion-script bash > completions/kubectl-kftray.bash
	"$(BIN)/kubectl-kftray" --generate-completion-script zsh > completions/_kubectl-kftray
	"$(BIN)/kubectl-kftray" --generate-completion-script fish > completions/kubectl-kftray.fish
	"$(BIN)/kubectl-kftray" completion helper > completions/kubectl_complete-kftray
	"$(BIN)/kubectl-kftray" __man man/kubectl-kftray.1.in > man/kubectl-kftray.1.tmp
	mv man/kubectl-kftray.1.tmp man/kubectl-kftray.1

# The plugin, kubectl's completion helper next to it, the man page, and the scripts for
# kubectl-kftray typed directly in bash, zsh and fish.
install:
	@set -e; plugin="$(PLUGIN)"; \
	if [ -z "$$plugin" ]; then \
	  $(SWIFT) build -c release --static-swift-stdlib --product kubectl-kftray; \
	  plugin="$$($(SWIFT) build -c release --show-bin-path)/kubectl-kftray"; strip_it=1; \
	fi; \
	install -D -m 0755 "$$plugin" "$(BINDIR)/kubectl-kftray"; \
	if [ -n "$${strip_it:-}" ]; then strip "$(BINDIR)/kubectl-kftray"; fi; \
	install -D -m 0755 completions/kubectl_complete-kftray "$(BINDIR)/kubectl_complete-kftray"; \
	install -D -m 0644 man/kubectl-kftray.1 "$(MANDIR)/kubectl-kftray.1"; \
	install -D -m 0644 completions/kubectl-kftray.bash "$(SHAREDIR)/bash-completion/completions/kubectl-kftray"; \
	install -D -m 0644 completions/_kubectl-kftray "$(SHAREDIR)/zsh/site-functions/_kubectl-kftray"; \
	install -D -m 0644 completions/kubectl-kftray.fish "$(SHAREDIR)/fish/vendor_completions.d/kubectl-kftray.fish"; \
	echo "installed kubectl-kftray, kubectl_complete-kftray and kubectl-kftray.1 under $(DESTDIR)$(PREFIX)"

uninstall:
	rm -f "$(BINDIR)/kubectl-kftray" "$(BINDIR)/kubectl_complete-kftray" "$(MANDIR)/kubectl-kftray.1" \
	  "$(SHAREDIR)/bash-completion/completions/kubectl-kftray" "$(SHAREDIR)/zsh/site-functions/_kubectl-kftray" \
	  "$(SHAREDIR)/fish/vendor_completions.d/kubectl-kftray.fish"

clean:
	rm -rf .build dist
