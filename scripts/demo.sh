#!/usr/bin/env bash
# Starts a sandbox cluster, talks to it with real kubectl and with the plugin, then stops it.
set -euo pipefail
bin=$1
dir=$2

"$bin/kftray-sandbox" down --dir "$dir" >/dev/null 2>&1 || true
trap '"$bin/kftray-sandbox" down --dir "$dir" >/dev/null 2>&1 || true' EXIT

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
