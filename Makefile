# relay — see README.md. `make` lists the targets.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
STATICCHECK := $(shell go env GOPATH)/bin/staticcheck
STATICCHECK_VERSION := v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build run test cover lint check

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/relay with the version stamped
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/relay ./cmd/relay

run: ## run the relay on 127.0.0.1:8787 with ./data/relay.db
	go run -ldflags '-X main.version=$(VERSION)' ./cmd/relay

test: ## run every test with the race detector, and the server's again on NATS JetStream
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
	  echo "NOTE: no Chromium on PATH: the dashboard's browser tests (admin) will be SKIPPED. Install it with: apt-get install chromium"
	go test -race -count=1 ./...
	RELAY_TEST_STORE=nats go test -race -count=1 ./server

cover: ## test with a coverage report in cover.html
	go test -count=1 -coverprofile=cover.out ./... && go tool cover -html=cover.out -o cover.html

$(STATICCHECK):
	go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK) ## go vet, gofmt and staticcheck
	go vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...

check: lint test ## lint and test

# BENCH_FLAGS is the short standard set; override it for longer runs, e.g.
# make bench BENCH_FLAGS='-scenarios ingest,noop -duration 10s -runs 3'.
# BENCH_NATS_FLAGS and BENCH_CLUSTER_FLAGS are the sets BENCHMARKS.md's NATS
# and several-node figures come from, shortened (add -duration 10s -runs 3).
BENCH_FLAGS ?= -scenarios noop,ingest,e2e,fanout,poll,idle -duration 5s -idle 2000
BENCH_NATS_FLAGS ?= -store bolt,nats,nats-sync -scenarios noop,ingest,e2e,fanout -duration 5s
BENCH_CLUSTER_FLAGS ?= -store bolt,cluster -scenarios noop,ingest,e2e,fanout,failover -duration 5s
.PHONY: bench bench-nats bench-cluster

# bench-run builds relay and relaybench into a temp dir and runs relaybench
# on relays it starts, with the flags $(1).
define bench-run
@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
go build -o "$$tmp/relay" ./cmd/relay && \
go build -o "$$tmp/relaybench" ./cmd/relaybench && \
"$$tmp/relaybench" -start "$$tmp/relay" $(1)
endef

bench: ## build relay and relaybench into a temp dir and run the standard set on a fresh relay (rate limits off)
	$(call bench-run,$(BENCH_FLAGS))

bench-nats: ## the same on bbolt, on one nats-server and on one with sync_interval: always, side by side (~4 min)
	$(call bench-run,$(BENCH_NATS_FLAGS))

bench-cluster: ## single-node bbolt beside two relays on three nats-servers, with a node killed (~3 min)
	$(call bench-run,$(BENCH_CLUSTER_FLAGS))

.PHONY: cluster
cluster: build ## a relay of two nodes on three NATS servers, behind a load balancer on :8780 (Ctrl-C stops it)
	go run ./cmd/relaycluster -bin bin/relay
