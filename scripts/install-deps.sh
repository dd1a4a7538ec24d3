#!/usr/bin/env bash
# Installs what the tests and the demo run, when it is missing: Prometheus
# 2.42, Alertmanager and Chromium from Debian's packages, and Prometheus 3, Helm,
# Jaeger, Thanos and VictoriaMetrics built from their Go modules into a cache
# that later runs reuse.
# ONLY_PACKAGES=1 (make demo) skips the Go-built tools: only the tests need
# them. ONLY=jaeger builds Jaeger alone (the demo, in the background, for its
# trace links). Sourced (scripts/demo.sh), it only sets $tools and
# $jaeger_bin and defines the build functions.
set -euo pipefail

tools=${VLLM_SENTINEL_TOOLS:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vllm-sentinel/tools}

# Jaeger (all-in-one, v2 on the OpenTelemetry Collector), for the trace tests
# (cmd/vllm-sim) and the demo, built from the tool module tools/jaeger, whose
# go.mod and go.sum pin it and its dependencies; cached by version like Helm.
# It sets the version as Jaeger's release builds do (v1.76.0 is v2.13.0) but
# embeds no UI assets (the UI shows a placeholder; the query API is complete).
JAEGER_VERSION=v1.76.0
JAEGER_V2_VERSION=v2.13.0
jaeger="$tools/jaeger-$JAEGER_VERSION"
jaeger_bin="$jaeger/jaeger"
build_jaeger() {
  [ ! -x "$jaeger_bin" ] || return 0
  echo "building Jaeger ($JAEGER_VERSION / $JAEGER_V2_VERSION, from tools/jaeger) into $jaeger (once)" >&2
  mkdir -p "$jaeger"
  (
    cd "$(dirname "${BASH_SOURCE[0]}")/../tools/jaeger"
    x=github.com/jaegertracing/jaeger/internal/version
    CGO_ENABLED=0 ${GO:-go} build -trimpath -o "$jaeger/jaeger.tmp" -ldflags "-s -w \
      -X $x.latestVersion=$JAEGER_V2_VERSION" \
      github.com/jaegertracing/jaeger/cmd/jaeger
  )
  mv "$jaeger/jaeger.tmp" "$jaeger_bin"
}
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

build_tools() {
# Prometheus 3, for the native-histogram tests. go install builds it once
# (a few minutes); the binary is cached by version.
PROM3_VERSION=v0.316.0
prom3="$tools/prometheus-$PROM3_VERSION"
if [ ! -x "$prom3/prometheus" ]; then
  echo "building Prometheus 3 ($PROM3_VERSION) into $prom3 (once)" >&2
  mkdir -p "$prom3"
  GOBIN="$prom3" ${GO:-go} install "github.com/prometheus/prometheus/cmd/prometheus@$PROM3_VERSION"
fi

# Helm, for the chart tests (deploy/helm), built from the tool module
# tools/helm, whose go.mod and go.sum pin it and its dependencies; cached by
# version beside Prometheus 3. The flags are those of Helm's release builds:
# its version, and the Kubernetes version it lints and renders for (from
# client-go, v0.X.Y -> 1.X).
HELM_VERSION=v3.22.0
helm="$tools/helm-$HELM_VERSION"
if [ ! -x "$helm/helm" ]; then
  echo "building Helm ($HELM_VERSION, from tools/helm) into $helm (once)" >&2
  mkdir -p "$helm"
  (
    cd "$(dirname "$0")/../tools/helm"
    k8s=$(${GO:-go} list -m -f '{{.Version}}' k8s.io/client-go)   # v0.37.0
    k8s_minor=$(echo "$k8s" | cut -d. -f2)
    x=helm.sh/helm/v3
    CGO_ENABLED=0 ${GO:-go} build -trimpath -o "$helm/helm.tmp" -ldflags "-s -w \
      -X $x/internal/version.version=$HELM_VERSION \
      -X $x/pkg/lint/rules.k8sVersionMajor=1 -X $x/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
      -X $x/pkg/chartutil.k8sVersionMajor=1 -X $x/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
      "$x/cmd/helm"
  )
  mv "$helm/helm.tmp" "$helm/helm"
fi

build_jaeger

# Thanos (sidecar and querier over two Prometheus replicas), for the backend
# tests (evaluator), built from the tool module tools/thanos: go install
# refuses Thanos because its go.mod has replace directives, which the tool
# module copies. v0.40.1 because v0.42 needs a newer Go than 1.26. The tags
# and version flags are those of Thanos's release builds (.promu.yml):
# without slicelabels the sidecar's gRPC answers are garbage (it casts
# Prometheus labels to its own slice type) and it panics.
THANOS_VERSION=v0.40.1
thanos="$tools/thanos-$THANOS_VERSION"
if [ ! -x "$thanos/thanos" ]; then
  echo "building Thanos ($THANOS_VERSION, from tools/thanos) into $thanos (once, a few minutes)" >&2
  mkdir -p "$thanos"
  (
    cd "$(dirname "$0")/../tools/thanos"
    x=github.com/prometheus/common/version
    CGO_ENABLED=0 ${GO:-go} build -trimpath -tags netgo,slicelabels -o "$thanos/thanos.tmp" -ldflags "-s -w \
      -X $x.Version=${THANOS_VERSION#v} -X $x.Branch=HEAD -X $x.Revision=$THANOS_VERSION" \
      github.com/thanos-io/thanos/cmd/thanos
  )
  mv "$thanos/thanos.tmp" "$thanos/thanos"
fi

# VictoriaMetrics (single node), for the backend tests (evaluator): go
# install builds it (a minute or two), cached by version like Prometheus 3,
# with the version flag its release builds set.
VM_VERSION=v1.151.0
vm="$tools/victoria-metrics-$VM_VERSION"
if [ ! -x "$vm/victoria-metrics" ]; then
  echo "building VictoriaMetrics ($VM_VERSION) into $vm (once)" >&2
  mkdir -p "$vm"
  CGO_ENABLED=0 GOBIN="$vm" ${GO:-go} install -trimpath -ldflags "-s -w \
    -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-metrics-$VM_VERSION" \
    "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@$VM_VERSION"
fi
}
case ${ONLY:-} in
  '') ;;
  jaeger) build_jaeger; exit 0 ;;
  *) echo "ONLY=${ONLY}: want ONLY=jaeger" >&2; exit 2 ;;
esac
[ -n "${ONLY_PACKAGES:-}" ] || build_tools

need=()
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || need+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
# Chromium drives the status page's browser test; the demo does not need it.
[ -n "${ONLY_PACKAGES:-}" ] || [ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing: ${need[*]}" >&2
  echo "install them first, e.g.: sudo apt-get install ${need[*]}" >&2
  echo "(tests and the demo run /usr/bin/prometheus, /usr/bin/promtool and /usr/bin/prometheus-alertmanager; the tests also /usr/bin/chromium)" >&2
  exit 1
fi

echo "installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# The packages ship services; a temporary policy-rc.d keeps them from starting
# and taking the ports the tests and the demo use.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
