# vllm-sentinel: two commands matter.
#   make demo   simulator + Prometheus + Alertmanager + sentinel on loopback
#   make test   everything CI runs
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell whoami)@$(shell uname -n)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VPKG := github.com/prometheus/common/version
LDFLAGS := -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) -X $(VPKG).Branch=main \
	-X $(VPKG).BuildUser=$(BUILD_USER) -X $(VPKG).BuildDate=$(BUILD_DATE)
BIN := bin
GOTEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: all build test race deps vet lint demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# deps installs the real Prometheus and Alertmanager the integration tests run.
deps:
	@./scripts/install-deps.sh

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test $(GOTEST_FLAGS) ./...

# race runs the packages with goroutines under the race detector.
race: deps
	$(GO) test -race $(GOTEST_FLAGS) ./evaluator/... ./notify/... ./web/... ./cmd/vllm-sentinel/...

lint: vet
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

demo:
	@echo "make demo: installing Prometheus and Alertmanager if they are missing (Jaeger, if not built yet, builds in the background while the demo runs)"
	@ONLY_PACKAGES=1 ./scripts/install-deps.sh
	@echo "make demo: building vllm-sentinel and vllm-sim (the first build compiles their dependencies: a minute or two)"
	@$(MAKE) --no-print-directory build >/dev/null
	@./scripts/demo.sh

clean:
	rm -rf $(BIN)

# fuzz runs every fuzz target of the module, FUZZTIME (default 30s) each.
FUZZTIME ?= 30s
.PHONY: fuzz
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh
