#!/usr/bin/env bash
# Fuzzes every parser that reads bytes from outside (see `kftray-fuzz list`, Sources/Fuzz) with
# libFuzzer and AddressSanitizer, SECONDS_PER_TARGET each (default 30), on a fresh copy of the
# committed seeds (Tests/FuzzSeeds/<target>/, regressions included). Exits non-zero if any target
# crashes, hangs, runs out of memory or breaks an invariant; the input is left in
# .build-fuzz/findings/<target>/ and the command that reproduces it is printed.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_SANITIZERS=fuzzer scripts/fuzz.sh 10    # without AddressSanitizer
#   FUZZ_JOBS=2 scripts/fuzz.sh 60                 # two targets at a time
#
# The build is separate from `swift build` (.build-fuzz, release, sanitizers, lld: gold fails on
# AddressSanitizer's objects); the first one takes several minutes, later ones are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

budget="${1:-30}"
shift || true
sanitizers="${FUZZ_SANITIZERS:-fuzzer,address}"
jobs="${FUZZ_JOBS:-1}"
scratch=.build-fuzz
seeds=Tests/FuzzSeeds

if ! command -v swift > /dev/null; then
  scripts/install-deps.sh
fi

build() {
  swift build --scratch-path "$scratch" -c release --product kftray-fuzz \
    -Xswiftc "-sanitize=$1" -Xswiftc -DKFTRAY_LIBFUZZER -Xswiftc -use-ld=lld
}
started=$(date +%s)
mkdir -p "$scratch"
echo "== building kftray-fuzz with -sanitize=$sanitizers (in $scratch)"
if ! build "$sanitizers" > "$scratch/build.log" 2>&1; then
  if [ "$sanitizers" != fuzzer ]; then
    tail -20 "$scratch/build.log"
    echo "== the $sanitizers build failed; fuzzing without AddressSanitizer"
    sanitizers=fuzzer
    build fuzzer > "$scratch/build.log" 2>&1 || { tail -40 "$scratch/build.log"; echo "fuzz build failed (log: $scratch/build.log)"; exit 2; }
  else
    tail -40 "$scratch/build.log"
    echo "fuzz build failed (log: $scratch/build.log)"
    exit 2
  fi
fi
binary="$(swift build --scratch-path "$scratch" -c release --show-bin-path)/kftray-fuzz"
built=$(date +%s)
echo "   built in $((built - started)) s"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("$binary" list | cut -f1)
fi

# A leak in a parser is memory that grows with every input: LeakSanitizer reports it as a crash.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
# Scratch files of the targets (the kubeconfig target writes its inputs) stay under the build directory.
export TMPDIR="$PWD/$scratch/tmp"
mkdir -p "$TMPDIR"
# Swift's own crash backtracer reads memory AddressSanitizer guards and buries the real report.
export SWIFT_BACKTRACE=enable=no

run_target() {
  local target=$1
  local corpus="$scratch/corpus/$target" findings="$scratch/findings/$target" log="$scratch/logs/$target.log"
  rm -rf "$corpus" "$findings"
  mkdir -p "$corpus" "$findings" "$scratch/logs"
  # Flattened: libFuzzer reads a corpus directory one level deep.
  find "$seeds/$target" -type f -exec sh -c 'cp "$1" "$2/$(echo "${1#*/FuzzSeeds/}" | tr / _)"' _ {} "$corpus" \;
  local dict=()
  if [ -f "$seeds/dictionaries/$target.dict" ]; then dict=(-dict="$seeds/dictionaries/$target.dict"); fi
  local status=0
  "$binary" "$target" -max_total_time="$budget" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$findings/" "${dict[@]}" "$corpus" > "$log" 2>&1 || status=$?
  local runs rate
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$status" -eq 0 ]; then
    printf '%-18s ok    %10s runs %8s/s  corpus %s -> %s files\n' "$target" "${runs:-?}" "${rate:-?}" \
      "$(find "$seeds/$target" -type f | wc -l)" "$(find "$corpus" -type f | wc -l)"
    return 0
  fi
  printf '%-18s FAIL  exit %s after %s runs (log: %s)\n' "$target" "$status" "${runs:-?}" "$log"
  grep -m3 -E 'invariant violated|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|Fatal error|SUMMARY' "$log" | sed 's/^/    /' || true
  for input in "$findings"/*; do
    [ -e "$input" ] || continue
    echo "    input:      $input"
    echo "    reproduce:  $binary $target $input"
    echo "    or:         swift build && \$(swift build --show-bin-path)/kftray-fuzz replay $target $input"
    echo "    once fixed: cp $input $seeds/$target/regressions/  (replayed by FuzzSeedTests in make test)"
  done
  return 1
}

failed=0
echo "== fuzzing ${#targets[@]} targets for $budget s each (sanitizers: $sanitizers, $jobs at a time)"
if [ "$jobs" -le 1 ]; then
  for target in "${targets[@]}"; do run_target "$target" || failed=$((failed + 1)); done
else
  # Each target's summary comes out when it ends.
  pids=()
  for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
    run_target "$target" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
fi
echo "== done in $(($(date +%s) - started)) s (build $((built - started)) s); $failed of ${#targets[@]} targets failed"
[ "$failed" -eq 0 ]
