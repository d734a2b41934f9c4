#!/usr/bin/env bash
# make bench: the same relay pods reached through the engine (kftray-bench forward) and through
# real `kubectl port-forward`, in the same run and the same mode (WebSocket tunnel vs tunnel, SPDY
# vs SPDY). Starts its own sandbox and stops it at exit. Prints the table and writes
# bench-results.json (path printed at the end; BENCH_RESULTS overrides it).
set -euo pipefail
cd "$(dirname "$0")/.."

BULK_BYTES=${BENCH_BULK_BYTES:-512M}
LATENCY_COUNT=${BENCH_LATENCY_COUNT:-1000}
CONCURRENT=${BENCH_CONCURRENT:-500}
CONCURRENT_BYTES=${BENCH_CONCURRENT_BYTES:-65536}
MODES=${BENCH_MODES:-"websocket spdy"}
KUBECTL=${KUBECTL:-/usr/bin/kubectl}

# BENCH_SCRATCH_PATH lets the release build live apart from a debug build running at the same time.
BUILD=(swift build -c release --scratch-path "${BENCH_SCRATCH_PATH:-.build}")
echo "== building (release)"
for product in kftray-bench kftray-sandbox kftray-relay; do "${BUILD[@]}" --product "$product"; done
BIN=$("${BUILD[@]}" --show-bin-path)
BENCH="$BIN/kftray-bench"

WORK=$(mktemp -d /tmp/kftray-bench.XXXXXX)
SANDBOX="$WORK/sandbox"
RUN="$WORK/run"
RESULTS=${BENCH_RESULTS:-$PWD/bench-results.json}
mkdir -p "$RUN" "$WORK/home"
export HOME="$WORK/home" KUBECONFIG="$SANDBOX/kubeconfig"
CONTEXT=sandbox-admin
NS=dev
BACKGROUND=()

cleanup() {
  local pid
  for pid in "${BACKGROUND[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BACKGROUND[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$BIN/kftray-sandbox" down --dir "$SANDBOX" >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until FILE contains a line matching REGEX; prints the first match.
wait_for_line() {
  local file=$1 regex=$2 pid=$3 i
  for i in $(seq 1 300); do
    if grep -m1 -E "$regex" "$file" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "process $pid ended; its log:" >&2; cat "$file" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$regex' in $file" >&2
  return 1
}

kube() { "$KUBECTL" --context "$CONTEXT" -n "$NS" "$@"; }

# A pod bound to the sandbox node, declared Running (what the node agent would report).
create_pod() {
  local name=$1 port=$2
  kube apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $name
  labels: {app.kubernetes.io/name: kftray-bench}
spec:
  nodeName: kftray-node
  containers:
  - name: relay
    image: ghcr.io/hcavarsan/kftray-server:v0.15.0
    ports: [{containerPort: $port}]
YAML
  kube patch pod "$name" --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null
}

# STAND-IN for the relay pods. The sandbox pods have no processes or network namespaces yet, and
# the sandbox kubelet's LoopbackPodPortDialer dials the HOST's 127.0.0.1:<port> for any bound pod.
# So this runs on host loopback what the two relay pods would run: kftray-relay in front of a bulk
# sink/source ("bulk", `kftray-bench bulk-server`) and kftray-relay in front of an echo server
# ("echo"). Not iperf3: with -n its server closes the data socket as soon as the client has written
# everything, while megabytes are still inside the forward (see Sources/Benchmarks/BulkTransfer.swift). Engine and kubectl
# both go API server -> kubelet -> relay, so the ratios are fair. The lead replaces this function
# with real relay pods once the cluster network lands.
prepare_targets_standin() {
  local bulk_server_port echo_port
  bulk_server_port=$(free_port)
  "$BENCH" bulk-server --port "$bulk_server_port" >"$WORK/bulk-server.log" 2>&1 &
  BACKGROUND+=($!)
  echo_port=$(free_port)
  "$BENCH" echo-server --port "$echo_port" >"$WORK/echo-server.log" 2>&1 &
  BACKGROUND+=($!)
  BULK_PORT=$(free_port)
  LOCAL_PORT=$BULK_PORT REMOTE_ADDRESS=127.0.0.1 REMOTE_PORT=$bulk_server_port PROXY_TYPE=tcp \
    "$BIN/kftray-relay" >"$WORK/relay-bulk.log" 2>&1 &
  BACKGROUND+=($!)
  ECHO_PORT=$(free_port)
  LOCAL_PORT=$ECHO_PORT REMOTE_ADDRESS=127.0.0.1 REMOTE_PORT=$echo_port PROXY_TYPE=tcp \
    "$BIN/kftray-relay" >"$WORK/relay-echo.log" 2>&1 &
  BACKGROUND+=($!)
  create_pod bulk "$BULK_PORT"
  create_pod echo "$ECHO_PORT"
  sleep 0.5
}

# Starts a forward to POD:PORT with IMPL (engine|kubectl) in MODE; sets FWD_PID and FWD_PORT.
start_forward() {
  local impl=$1 mode=$2 pod=$3 port=$4 log=$5 line
  if [[ $impl == engine ]]; then
    "$BENCH" forward --kubeconfig "$KUBECONFIG" --context "$CONTEXT" -n "$NS" --pod "$pod" --port "$port" \
      --transport "$mode" --verbose >"$log" 2>&1 &
    FWD_PID=$!
    line=$(wait_for_line "$log" '^listening on 127\.0\.0\.1:[0-9]+' "$FWD_PID")
    FWD_PORT=${line##*:}
  else
    FWD_PORT=$(free_port)
    local ws=true
    [[ $mode == spdy ]] && ws=false
    KUBECTL_PORT_FORWARD_WEBSOCKETS=$ws "$KUBECTL" --context "$CONTEXT" -n "$NS" port-forward --address 127.0.0.1 \
      "pod/$pod" "$FWD_PORT:$port" >"$log" 2>&1 &
    FWD_PID=$!
    wait_for_line "$log" "^Forwarding from 127\.0\.0\.1:$FWD_PORT" "$FWD_PID" >/dev/null
  fi
  BACKGROUND+=("$FWD_PID")
}

stop_forward() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

run_suite() {
  local mode=$1 impl=$2 out="$RUN/$1/$2"
  mkdir -p "$out"
  echo "== $mode / $impl"

  start_forward "$impl" "$mode" bulk "$BULK_PORT" "$out/forward-bulk.log"
  local bulk_pid=$FWD_PID bulk_port=$FWD_PORT
  "$BENCH" stats --pid "$bulk_pid" >"$out/cpu-before.json"
  echo "   bulk: $BULK_BYTES to the pod, then $BULK_BYTES from it (one connection each)"
  timeout 180 "$BENCH" bulk --port "$bulk_port" --bytes "$BULK_BYTES" --direction up >"$out/bulk-up.json" || echo "   upload failed" >&2
  timeout 180 "$BENCH" bulk --port "$bulk_port" --bytes "$BULK_BYTES" --direction down >"$out/bulk-down.json" || echo "   download failed" >&2
  "$BENCH" stats --pid "$bulk_pid" >"$out/cpu-after.json"
  stop_forward "$bulk_pid"

  start_forward "$impl" "$mode" echo "$ECHO_PORT" "$out/forward-echo.log"
  local echo_pid=$FWD_PID echo_port=$FWD_PORT
  echo "   latency: $LATENCY_COUNT x connect + 1-byte echo"
  timeout 400 "$BENCH" latency --port "$echo_port" --count "$LATENCY_COUNT" >"$out/latency.json" || echo "   latency probe failed" >&2
  "$BENCH" stats --pid "$echo_pid" --reset-peak
  echo "   concurrent: $CONCURRENT x $CONCURRENT_BYTES bytes echo"
  timeout 200 "$BENCH" concurrent --port "$echo_port" --connections "$CONCURRENT" --bytes "$CONCURRENT_BYTES" \
    >"$out/concurrent.json" || echo "   concurrent probe failed" >&2
  "$BENCH" stats --pid "$echo_pid" >"$out/rss.json"
  stop_forward "$echo_pid"
}

echo "== sandbox in $SANDBOX"
"$BIN/kftray-sandbox" up --dir "$SANDBOX" --owner-pid $$ >/dev/null
prepare_targets_standin

for mode in $MODES; do
  for impl in engine kubectl; do run_suite "$mode" "$impl"; done
done

echo
"$BENCH" report --directory "$RUN" --output "$RESULTS"
echo "raw files: $RUN"
