# syntax=docker/dockerfile:1
#
# vllm-sentinel images (BuildKit required: cache mounts).
#
#   docker build -t vllm-sentinel --build-arg VERSION="$(git describe --tags --always --dirty)" .
#   docker build -t vllm-sim --target sim .
#
# The runtime images are distroless static:nonroot: a static binary, CA certificates, tzdata, uid/gid 65532,
# no shell. There is deliberately no HEALTHCHECK (no curl/wget in the image): orchestrators should probe
# HTTP GET /-/healthy (liveness) and /-/ready (readiness) on port 9105.

ARG GO_VERSION=1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# ---- shared builder: toolchain + module cache ----
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# Build stamp of `vllm-sentinel version`; empty: the builder's user@host and
# the build's UTC time, as make build stamps them.
ARG BUILD_USER=
ARG BUILD_DATE=
ENV GOOS=${TARGETOS} GOARCH=${TARGETARCH}

# ---- vllm-sentinel binary ----
FROM build AS build-sentinel
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.BuildUser=${BUILD_USER:-$(whoami)@$(uname -n)} \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE:-$(date -u +%Y%m%d-%H:%M:%S)}" \
        -o /out/usr/local/bin/vllm-sentinel ./cmd/vllm-sentinel \
 && install -D -m 0644 configs/example.yaml /out/etc/vllm-sentinel/config.yaml \
 && install -d -m 0700 /out/var/lib/vllm-sentinel

# ---- vllm-sim binary ----
FROM build AS build-sim
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION}" \
        -o /out/usr/local/bin/vllm-sim ./cmd/vllm-sim

# ---- vllm-sim image (target "sim"; used by deploy/docker-compose.yaml) ----
FROM ${RUNTIME_IMAGE} AS sim
ARG VERSION=dev
LABEL org.opencontainers.image.title="vllm-sim" \
      org.opencontainers.image.description="Simulated vLLM /metrics with incident scenarios" \
      org.opencontainers.image.source="https://github.com/vllm-sentinel/vllm-sentinel" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-sim /out/usr/local/bin/vllm-sim /usr/local/bin/vllm-sim
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/vllm-sim"]
CMD ["serve", "--listen", "0.0.0.0:8000"]

# ---- vllm-sentinel image (default target) ----
FROM ${RUNTIME_IMAGE} AS sentinel
ARG VERSION=dev
LABEL org.opencontainers.image.title="vllm-sentinel" \
      org.opencontainers.image.description="SLO burn-rate and early-warning alerting for vLLM" \
      org.opencontainers.image.source="https://github.com/vllm-sentinel/vllm-sentinel" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-sentinel /out/usr/local/bin/vllm-sentinel /usr/local/bin/vllm-sentinel
# Default config (configs/example.yaml); mount your own over it, read-only.
COPY --from=build-sentinel /out/etc/vllm-sentinel/config.yaml /etc/vllm-sentinel/config.yaml
# Owned by the runtime user so a fresh named volume mounted here is writable.
COPY --from=build-sentinel --chown=65532:65532 /out/var/lib/ /var/lib/
USER 65532:65532
WORKDIR /var/lib/vllm-sentinel
# The example config keeps state in ./data and listens on loopback, which
# suit a laptop; in the container, state goes to the volume and the web port
# is reachable. Environment overrides win over any mounted config.
ENV VLLM_SENTINEL_STATE_PATH=/var/lib/vllm-sentinel \
    VLLM_SENTINEL_WEB_LISTEN_ADDRESS=:9105
EXPOSE 9105
VOLUME ["/var/lib/vllm-sentinel"]
# Extra flags append to run, e.g. `docker run IMAGE --log.level=debug`;
# other commands: `docker run --entrypoint /usr/local/bin/vllm-sentinel IMAGE check --config ...`.
ENTRYPOINT ["/usr/local/bin/vllm-sentinel", "run", "--config", "/etc/vllm-sentinel/config.yaml"]
