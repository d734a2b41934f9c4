#!/usr/bin/env bash
# Starts a sandbox cluster, talks to it with real kubectl and with the plugin, then stops it.
set -euo pipefail
bin=$1
dir=$2

"$bin/kftray-sandbox" down --dir "$dir" >/dev/null 2>&1 || true
# On failure nothing is left behind; on success the sandbox stays up for the user to keep playing.
proxy_pid=
cleanup() {
  [[ -n $proxy_pid ]] && kill -INT "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
  "$bin/kftray-sandbox" down --dir "$dir" >/dev/null 2>&1 || true
}
trap cleanup ERR INT TERM

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step kftray-sandbox up --dir "$dir"
"$bin/kftray-sandbox" up --dir "$dir"
export KUBECONFIG="$dir/kubeconfig"
# kubectl finds plugins on PATH: this is how `kubectl kftray` reaches the built binary.
export PATH="$bin:$PATH"

step kubectl get namespaces
kubectl get namespaces
step kubectl kftray version --context sandbox-dev
kubectl kftray version --context sandbox-dev
step kubectl auth can-i create pods --context sandbox-readonly -n dev
kubectl auth can-i create pods --context sandbox-readonly -n dev || true
step kubectl kftray version --context sandbox-readonly --token wrong-token
kubectl kftray version --context sandbox-readonly --token wrong-token || echo "(exit code $?)"

# The cluster runs pods as processes in their own network namespaces, with cluster DNS.
step kubectl run hello --image=busybox --restart=Never -- sh -c "'nslookup internal-service.cluster.local; wget -qO- http://internal-service.cluster.local/'"
kubectl run hello --image=busybox --restart=Never -- sh -c 'nslookup internal-service.cluster.local; wget -qO- http://internal-service.cluster.local/'
kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/hello --timeout=60s >/dev/null
step kubectl logs hello
kubectl logs hello
step kubectl run relay -n restricted --image=ghcr.io/hcavarsan/kftray-server:v0.15.0
kubectl run relay -n restricted --image=ghcr.io/hcavarsan/kftray-server:v0.15.0 || echo "(exit code $?: Pod Security 'restricted' refuses the image's defaults)"
step ip route get 10.96.0.13 "  # the host has no route into the cluster network"
ip route get 10.96.0.13

# The plugin's main job: a local port for a service only the cluster can reach, and a cloud
# database that allows only cluster addresses. One relay pod per target, deleted on exit.
step kubectl kftray proxy --context sandbox-dev 8080:internal-service.cluster.local:80 database.region.rds.amazonaws.com:5432
kubectl kftray proxy --context sandbox-dev 8080:internal-service.cluster.local:80 database.region.rds.amazonaws.com:5432 \
  > >(tee "$dir/proxy.out") 2> >(tee "$dir/proxy.err" >&2) &
proxy_pid=$!
for _ in $(seq 100); do
  curl -s -m 1 -o /dev/null http://127.0.0.1:8080/ && break
  sleep 0.2
done
step kubectl get pods -n dev -l app.kubernetes.io/managed-by=kubectl-kftray
kubectl get pods -n dev -l app.kubernetes.io/managed-by=kubectl-kftray
step curl -s http://127.0.0.1:8080/
curl -s http://127.0.0.1:8080/; echo
step "echo 'select 1;' | busybox nc 127.0.0.1 5432   # the database's stand-in echoes"
echo 'select 1;' | busybox nc -w 3 127.0.0.1 5432
# A relay pod that dies is replaced; the local port stays open.
relay=$(sed -n 's|^Forwarding from 127.0.0.1:8080 .*via dev/\(kftray-relay-[a-z0-9]*\))$|\1|p' "$dir/proxy.out")
step kubectl delete pod -n dev "$relay" --wait=false
kubectl delete pod -n dev "$relay" --wait=false
for _ in $(seq 300); do
  grep -q "forwarding again via" "$dir/proxy.err" && break
  sleep 0.2
done
step curl -s http://127.0.0.1:8080/
curl -s http://127.0.0.1:8080/; echo
step "kill -INT $proxy_pid   # Ctrl-C: the relay pods are deleted"
kill -INT "$proxy_pid"
wait "$proxy_pid" && echo "(exit code 0)"
proxy_pid=
kubectl get pods -n dev -l app.kubernetes.io/managed-by=kubectl-kftray

cat <<EOT

The sandbox is still running. Keep playing:
  export KUBECONFIG=$dir/kubeconfig PATH="$bin:\$PATH"
  kubectl kftray proxy --context sandbox-dev 8080:internal-service.cluster.local:80
  kubectl kftray proxy 5353:udp-echo.default.svc.cluster.local:5353/udp
  kubectl kftray proxy --help
Stop it with: make sandbox-down
EOT
