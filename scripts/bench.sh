#!/usr/bin/env bash
# make bench: `kubectl kftray proxy` (the built plugin, started as a user starts it: through
# kubectl's plugin discovery) against real `kubectl port-forward` to the relay pod that proxy
# created, in the same run and the same mode (WebSocket tunnel vs tunnel, SPDY vs SPDY), the two
# clients taking turns round by round; then the time from starting the command to the first byte
# through a new relay pod, against the manual habit (kubectl run, kubectl wait, kubectl port-forward). During
# the bulk phase the CPU of every process on the path is sampled (client, sandbox daemon, relay, target,
# probe) and set against the TLS cipher's own cost (openssl speed, same run) and a bare loopback relay's. Then the same probes
# (smaller) through `kftray-bench delay-proxy`, a loopback proxy adding a round-trip time between
# both clients and the API server (BENCH_RTTS, ms), and the idle RSS of a running forward. Starts its
# own sandbox and stops it at exit. Prints the table and writes bench-results.json (path printed at
# the end; BENCH_RESULTS overrides it).
set -euo pipefail
cd "$(dirname "$0")/.."

BULK_BYTES=${BENCH_BULK_BYTES:-512M}
LATENCY_COUNT=${BENCH_LATENCY_COUNT:-1000}
CONCURRENT=${BENCH_CONCURRENT:-500}
CONCURRENT_BYTES=${BENCH_CONCURRENT_BYTES:-65536}
MODES=${BENCH_MODES:-"websocket spdy"}
RUNS=${BENCH_RUNS:-3}
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
# The remote API server: round-trip times in ms (set empty to skip), smaller probes, an optional rate cap.
RTTS=${BENCH_RTTS-"20 80"}
REMOTE_BULK_BYTES=${BENCH_REMOTE_BULK_BYTES:-64M}
REMOTE_LATENCY_COUNT=${BENCH_REMOTE_LATENCY_COUNT:-200}
REMOTE_CONCURRENT=${BENCH_REMOTE_CONCURRENT:-100}
REMOTE_STARTUP_RUNS=${BENCH_REMOTE_STARTUP_RUNS:-3}
REMOTE_RATE=${BENCH_REMOTE_RATE:-}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-5}
TLS_SECONDS=${BENCH_TLS_SECONDS:-3}

# BENCH_SCRATCH_PATH lets the release build live apart from a debug build running at the same time.
BUILD=(swift build -c release --scratch-path "${BENCH_SCRATCH_PATH:-.build}")
echo "== building (release)"
for product in kubectl-kftray kftray-bench kftray-sandbox kftray-relay kftray-testserver; do "${BUILD[@]}" --product "$product"; done
BIN=$("${BUILD[@]}" --show-bin-path)
BENCH="$BIN/kftray-bench"

WORK=$(mktemp -d /tmp/kftray-bench.XXXXXX)
SANDBOX="$WORK/sandbox"
RUN="$WORK/run"
RESULTS=${BENCH_RESULTS:-$PWD/bench-results.json}
mkdir -p "$RUN" "$WORK/home"
export HOME="$WORK/home" KUBECONFIG="$SANDBOX/kubeconfig"
# kubectl finds the plugin on PATH, as it does for a user.
export PATH="$BIN:$PATH"
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-10}
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

# Stops the run when the sandbox daemon has ended: every figure after that would measure a failure.
require_sandbox() {
  kill -0 "$DAEMON_PID" 2>/dev/null && return 0
  echo "the sandbox daemon (pid $DAEMON_PID) ended during the run; the end of its log ($SANDBOX/apiserver.log):" >&2
  tail -n 60 "$SANDBOX/apiserver.log" >&2 || true
  exit 1
}

# Runs a pod from a manifest on stdin and waits until the node agent reports it Running.
run_pod() {
  local name=$1
  kube apply -f - >/dev/null
  kube wait --for=jsonpath='{.status.phase}'=Running "pod/$name" --timeout=90s >/dev/null
}

# The targets the relay pods reach. `kubectl kftray proxy` creates one relay pod per target (the
# kftray-server image, which the sandbox's node agent runs as kftray-relay in the pod's own network
# namespace), and kubectl port-forward reaches that same pod, so both clients go API server ->
# kubelet -> pod network namespace -> relay -> target and the ratios compare the clients only.
# - bulk: a sink/source pod (`kftray-bench bulk-server`, image kftray-sandbox/bench). Not iperf3
#   (the seeded bulk:5201): with -n its server closes the data socket as soon as the client has
#   written everything, while megabytes are still inside the forward (Sources/Sandbox/Benchmarks/BulkTransfer.swift).
# - echo: the seeded echo service by address (SandboxNetwork's SeededService), not by name: the
#   relay resolves its target per connection, and 500 lookups at once still overflow the DNS
#   server's socket now and then; each drop costs the resolver's 5 s retry in either client's run.
#   proxy makes a new echo relay pod per mode, so one mode's TIME_WAIT ports do not slow the next.
RELAY_PORT=8080
ECHO_TARGET=10.96.0.11:7000
prepare_targets() {
  run_pod bulk-server <<YAML
apiVersion: v1
kind: Pod
metadata: {name: bulk-server, labels: {app.kubernetes.io/name: kftray-bench}}
spec:
  containers:
  - {name: server, image: kftray-sandbox/bench, args: [bulk-server, --port, "9000", --address, 0.0.0.0]}
YAML
  BULK_TARGET="$(kube get pod bulk-server -o jsonpath='{.status.podIP}'):9000"
}

# Starts a forward with IMPL (engine: `kubectl kftray proxy` to TARGET, which creates its relay pod;
# kubectl: `kubectl port-forward` to the relay pod the engine run created) in MODE; sets FWD_PID,
# FWD_PORT and (engine) RELAY_POD.
start_forward() {
  local impl=$1 mode=$2 target=$3 log=$4 line
  FWD_PORT=$(free_port)
  if [[ $impl == engine ]]; then
    "$KUBECTL" kftray proxy --context "$CONTEXT" -n "$NS" --transport "$mode" --address 127.0.0.1 \
      "$FWD_PORT:$target" >"$log" 2>&1 &
    FWD_PID=$!
    line=$(wait_for_line "$log" '^Forwarding from 127\.0\.0\.1:[0-9]+ ' "$FWD_PID")
    RELAY_POD=${line##*via $NS/}
    RELAY_POD=${RELAY_POD%)}
  else
    local ws=true
    [[ $mode == spdy ]] && ws=false
    KUBECTL_PORT_FORWARD_WEBSOCKETS=$ws "$KUBECTL" --context "$CONTEXT" -n "$NS" port-forward --address 127.0.0.1 \
      "pod/$RELAY_POD" "$FWD_PORT:$RELAY_PORT" >"$log" 2>&1 &
    FWD_PID=$!
    wait_for_line "$log" "^Forwarding from 127\.0\.0\.1:$FWD_PORT" "$FWD_PID" >/dev/null
  fi
  BACKGROUND+=("$FWD_PID")
}

stop_forward() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Samples the CPU of every process on the path into FILE: the client given, the sandbox daemon, the
# relay pod's process (RELAY_PID), the target's process given and, when the API server is remote, the
# delay proxy (DELAY_PID), which is the network between them and shares the cores.
path_sample() {
  "$BENCH" path-stats --role "client=$2" --role "sandbox=$DAEMON_PID" --role "relay=$RELAY_PID" \
    --role "target=$3" ${DELAY_PID:+--role "delay-proxy=$DELAY_PID"} >"$1" || echo "   path sample failed" >&2
}

# Runs every probe for one mode with both clients, alternating them round by round (engine,
# kubectl, engine, ...), so that a drift of the machine's state hits both alike. Every probe is
# repeated RUNS times: the report takes medians, CPU over all bulk runs, and the highest peak RSS.
# OUT: where the files go; the sizes are arguments so the remote rows can be smaller. PATH_COST=yes
# samples the whole path around each client's transfers (loopback only: through the delay proxy
# its own CPU would be on the path). The whole path is sampled around every concurrent run, the
# delay proxy included: that run is CPU-bound, and its floor is what the path leaves to the client.
run_mode() {
  local out_root=$1 mode=$2 bulk_bytes=$3 latency_count=$4 concurrent=$5 path_cost=$6 impl r
  declare -A pid port
  for impl in engine kubectl; do mkdir -p "$out_root/$mode/$impl"; done
  require_sandbox
  echo "== $mode: bulk, $RUNS x ($bulk_bytes to the pod, then $bulk_bytes from it) per client"
  for impl in engine kubectl; do
    start_forward "$impl" "$mode" "$BULK_TARGET" "$out_root/$mode/$impl/forward-bulk.log"
    pid[$impl]=$FWD_PID port[$impl]=$FWD_PORT
    "$BENCH" stats --pid "${pid[$impl]}" >"$out_root/$mode/$impl/cpu-before.json"
  done
  if [[ $path_cost == yes ]]; then
    RELAY_PID=$("$BENCH" pod-pid --pod "$RELAY_POD" --ancestor "$DAEMON_PID")
  fi
  for r in $(seq 1 "$RUNS"); do
    for impl in engine kubectl; do
      local out="$out_root/$mode/$impl"
      if [[ $path_cost == yes ]]; then path_sample "$out/path-before-$r.json" "${pid[$impl]}" "$TARGET_PID"; fi
      timeout 180 "$BENCH" bulk --port "${port[$impl]}" --bytes "$bulk_bytes" --direction up >"$out/bulk-up-$r.json" \
        || echo "   $impl upload failed" >&2
      timeout 180 "$BENCH" bulk --port "${port[$impl]}" --bytes "$bulk_bytes" --direction down >"$out/bulk-down-$r.json" \
        || echo "   $impl download failed" >&2
      if [[ $path_cost == yes ]]; then path_sample "$out/path-after-$r.json" "${pid[$impl]}" "$TARGET_PID"; fi
    done
  done
  for impl in engine kubectl; do
    "$BENCH" stats --pid "${pid[$impl]}" >"$out_root/$mode/$impl/cpu-after.json"
    stop_forward "${pid[$impl]}"
  done

  for impl in engine kubectl; do
    start_forward "$impl" "$mode" "$ECHO_TARGET" "$out_root/$mode/$impl/forward-echo.log"
    pid[$impl]=$FWD_PID port[$impl]=$FWD_PORT
  done
  require_sandbox
  echo "== $mode: latency, $RUNS x $latency_count x connect + 1-byte echo per client"
  for r in $(seq 1 "$RUNS"); do
    for impl in engine kubectl; do
      timeout 400 "$BENCH" latency --port "${port[$impl]}" --count "$latency_count" >"$out_root/$mode/$impl/latency-$r.json" \
        || echo "   $impl latency probe failed" >&2
    done
  done
  require_sandbox
  echo "== $mode: concurrent, $RUNS x $concurrent connections x $CONCURRENT_BYTES bytes echoed per client"
  RELAY_PID=$("$BENCH" pod-pid --pod "$RELAY_POD" --ancestor "$DAEMON_PID")
  for r in $(seq 1 "$RUNS"); do
    for impl in engine kubectl; do
      local out="$out_root/$mode/$impl"
      "$BENCH" stats --pid "${pid[$impl]}" --reset-peak >/dev/null
      path_sample "$out/concurrent-path-before-$r.json" "${pid[$impl]}" "$ECHO_PID"
      timeout 200 "$BENCH" concurrent --port "${port[$impl]}" --connections "$concurrent" --bytes "$CONCURRENT_BYTES" \
        >"$out/concurrent-$r.json" || echo "   $impl concurrent probe failed" >&2
      path_sample "$out/concurrent-path-after-$r.json" "${pid[$impl]}" "$ECHO_PID"
      "$BENCH" stats --pid "${pid[$impl]}" >"$out/rss-$r.json"
    done
  done
  for impl in engine kubectl; do stop_forward "${pid[$impl]}"; done
}

# The RSS of a running forward after IDLE_SECONDS with no traffic: proxy (its own new relay pod) and
# kubectl port-forward to that pod.
run_idle() {
  local impl
  declare -A pid
  mkdir -p "$RUN/idle"
  require_sandbox
  echo "== idle: RSS of a running forward after ${IDLE_SECONDS} s without traffic"
  for impl in engine kubectl; do
    start_forward "$impl" websocket "$ECHO_TARGET" "$RUN/idle/forward-$impl.log"
    pid[$impl]=$FWD_PID
  done
  sleep "$IDLE_SECONDS"
  for impl in engine kubectl; do
    "$BENCH" stats --pid "${pid[$impl]}" >"$RUN/idle/$impl.json"
    stop_forward "${pid[$impl]}"
  done
}

# The anchors: the TLS cipher the session negotiates (curl with the engine's own TLS 1.3 list, through the same
# libcurl and OpenSSL), measured with openssl speed in this run.
run_anchors() {
  local server ca
  server=$("$KUBECTL" config view --minify --context "$CONTEXT" -o jsonpath='{.clusters[0].cluster.server}')
  ca="$WORK/ca.crt"
  "$KUBECTL" config view --raw --minify --context "$CONTEXT" -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
    | base64 -d >"$ca"
  echo "== tls: the negotiated cipher, openssl speed ${TLS_SECONDS} s each way"
  curl -sv --cacert "$ca" --tls13-ciphers 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256' \
    -o /dev/null "$server/version" 2>"$RUN/tls-curl.log" || true
  "$BENCH" tls-anchor --curl-log "$RUN/tls-curl.log" --seconds "$TLS_SECONDS" >"$RUN/tls.json" \
    || echo "   TLS anchor failed (see $RUN/tls-curl.log)" >&2
  # What any client pays besides the cipher: moving the bytes between two loopback sockets.
  echo "== bare relay: recv + send between loopback sockets, 3 x $BULK_BYTES"
  "$BENCH" relay-floor --bytes "$BULK_BYTES" >"$RUN/relay-floor.json" || echo "   relay floor failed" >&2
}

# Everything again with the API server RTT ms away: a delay proxy on loopback between both clients
# and the API server (a kubeconfig copy whose server is the proxy, tls-server-name the name in the
# sandbox's serving certificate); the kubelet <-> API server leg stays local, as for users.
run_remote() {
  local rtt=$1 out="$RUN/remote-${1}ms" proxy_port api_port proxy_pid
  mkdir -p "$out"
  api_port=$("$KUBECTL" config view --minify --context "$CONTEXT" -o jsonpath='{.clusters[0].cluster.server}')
  api_port=${api_port##*:}
  proxy_port=$(free_port)
  "$BENCH" delay-proxy --listen "127.0.0.1:$proxy_port" --to "127.0.0.1:$api_port" --rtt "${rtt}ms" \
    ${REMOTE_RATE:+--rate "$REMOTE_RATE"} >"$out/delay-proxy.log" 2>&1 &
  proxy_pid=$!
  BACKGROUND+=("$proxy_pid")
  DELAY_PID=$proxy_pid
  wait_for_line "$out/delay-proxy.log" '^listening on ' "$proxy_pid" >/dev/null
  cp "$SANDBOX/kubeconfig" "$out/kubeconfig"
  "$KUBECTL" config --kubeconfig "$out/kubeconfig" set-cluster kftray-sandbox \
    --server "https://127.0.0.1:$proxy_port" --tls-server-name kubernetes >/dev/null
  echo "== remote API server: RTT $rtt ms${REMOTE_RATE:+, $REMOTE_RATE}"
  export KUBECONFIG="$out/kubeconfig"
  for mode in $MODES; do
    run_mode "$out" "$mode" "$REMOTE_BULK_BYTES" "$REMOTE_LATENCY_COUNT" "$REMOTE_CONCURRENT" no
  done
  run_startup "$out/startup" "$REMOTE_STARTUP_RUNS" "r$rtt"
  export KUBECONFIG="$SANDBOX/kubeconfig"
  DELAY_PID=
  stop_forward "$proxy_pid"
}

# Start to first byte through a new relay pod, STARTUP_RUNS times each, alternating: proxy (its -v
# line "relay pod NS/NAME: Ready" marks Ready) against the manual habit it replaces (kubectl run of
# the same relay image, kubectl wait for Ready, kubectl port-forward), each followed by its clean-up.
run_startup() {
  local out=$1 runs=$2 tag=$3 r port name
  mkdir -p "$out"
  require_sandbox
  echo "== startup: $runs x start to first byte, proxy and the manual habit"
  for r in $(seq 1 "$runs"); do
    port=$(free_port)
    "$BENCH" startup --port "$port" --ready-marker ": Ready" --log "$out/proxy-$r.log" -- \
      "$KUBECTL" kftray proxy -v --context "$CONTEXT" -n "$NS" --address 127.0.0.1 "$port:$ECHO_TARGET" \
      >"$out/proxy-$r.json" || echo "   proxy startup probe failed" >&2
    port=$(free_port)
    name=manual-relay-$tag-$r
    # The same relay pod as proxy's: its env, port and TCP readiness probe (kubectl wait then waits for
    # the probe too), so both sides pay the same pod start.
    local overrides
    overrides=$(printf '{"spec":{"containers":[{"name":"%s","image":"ghcr.io/hcavarsan/kftray-server:v0.27.30",%s}]}}' "$name" \
      "\"env\":[{\"name\":\"LOCAL_PORT\",\"value\":\"$RELAY_PORT\"},{\"name\":\"REMOTE_ADDRESS\",\"value\":\"${ECHO_TARGET%:*}\"},{\"name\":\"REMOTE_PORT\",\"value\":\"${ECHO_TARGET#*:}\"},{\"name\":\"PROXY_TYPE\",\"value\":\"tcp\"}],\"ports\":[{\"containerPort\":$RELAY_PORT}],\"readinessProbe\":{\"tcpSocket\":{\"port\":$RELAY_PORT},\"periodSeconds\":1,\"timeoutSeconds\":1}")
    "$BENCH" startup --port "$port" --ready-marker "READY" --log "$out/manual-$r.log" -- bash -c "
      '$KUBECTL' --context $CONTEXT -n $NS run $name --image=ghcr.io/hcavarsan/kftray-server:v0.27.30 --restart=Never \
        --overrides='$overrides' >/dev/null &&
      '$KUBECTL' --context $CONTEXT -n $NS wait --for=condition=Ready pod/$name --timeout=60s >/dev/null &&
      echo READY && exec '$KUBECTL' --context $CONTEXT -n $NS port-forward --address 127.0.0.1 pod/$name $port:$RELAY_PORT" \
      >"$out/manual-$r.json" || echo "   manual startup probe failed" >&2
    kube delete pod "$name" --grace-period=0 --force >/dev/null 2>&1 || true
  done
}

echo "== sandbox in $SANDBOX"
"$BIN/kftray-sandbox" up --dir "$SANDBOX" --owner-pid $$ >/dev/null
# The API server, the kubelet and the node agent are one process; the pods are its children.
DAEMON_PID=$(cat "$SANDBOX/apiserver.pid")
prepare_targets
TARGET_PID=$("$BENCH" pod-pid --pod bulk-server --ancestor "$DAEMON_PID")
# The seeded echo service behind ECHO_TARGET: a kftray-testserver the daemon started.
ECHO_PID=$(pgrep -P "$DAEMON_PID" -f "kftray-testserver echo --port ${ECHO_TARGET#*:} --bind ${ECHO_TARGET%:*}\$")
DELAY_PID=
run_anchors

BENCH_START=$SECONDS
for mode in $MODES; do run_mode "$RUN" "$mode" "$BULK_BYTES" "$LATENCY_COUNT" "$CONCURRENT" yes; done
run_startup "$RUN/startup" "$STARTUP_RUNS" local
run_idle
for rtt in $RTTS; do run_remote "$rtt"; done
require_sandbox
echo "== measured in $((SECONDS - BENCH_START)) s (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"

echo
"$BENCH" report --directory "$RUN" --output "$RESULTS"
echo "raw files: $RUN"
