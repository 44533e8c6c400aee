# minsw: `make lab` runs the three-node lab replaying the tutorial;
# `make test` runs every test (unit, real containerd, real netns, the IPVS
# VM). Both install what they need first (run as root on Debian 12).
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/minsw

.PHONY: all build deps test unit ipvs-vm fuzz bench bench-control lab lab-down lab-updates vet proto chaos

all: build

deps:
	@scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/minsw

# go.mod stays tidy: a dependency the code no longer needs, or one marked
# indirect that the code imports, fails the build here.
vet:
	$(GO) mod tidy -diff
	@unformatted=$$($$($(GO) env GOROOT)/bin/gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:" $$unformatted; exit 1; fi
	$(GO) vet ./...

# Unit and integration tests. -p 1: many tests build kernel objects and run
# containerd; running packages one at a time keeps them from starving each
# other on a 2-core machine.
unit: deps build
	$(GO) test -p 1 -count=1 -timeout 30m ./...

ipvs-vm: deps
	netdriver/lb/ipvs/vmtest/run.sh

# A bounded fuzz run of every parser that reads what a peer or a client
# sends (join tokens, certificate requests, gossip messages, DNS queries);
# the committed seed corpora also run in `unit`. Bounded by a count of
# inputs, not a duration: when a duration runs out while Go is minimising a
# new input, the run ends in "context deadline exceeded", a failure that
# says nothing about the code (seen in CI). 200,000 inputs take 3-15 s each.
FUZZTIME ?= 200000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./manager/jointoken
	$(GO) test -run '^$$' -fuzz '^FuzzParseCSR$$' -fuzztime $(FUZZTIME) ./manager/ca
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./worker/gossip
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) ./netdriver/dns
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./cmd/minsw/internal/storageopts

test: vet unit ipvs-vm fuzz

# The chaos suite: three real managers on loopback under leader and
# follower kills, a paused leader, a partition, a whole-cluster restart and
# a follower down past a snapshot; porcupine checks each history and a table
# is printed. A few minutes; `unit` runs the short version.
chaos: build
	MINSW_CHAOS=full $(GO) test -count=1 -v -run '^TestChaos$$' -timeout 10m ./chaos/

bench: deps
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 3x ./manager/... ./scheduler/...

# The control plane's figures (leader kill, whole-cluster restart at 3,000
# services, raft.db after 50,000 updates, damaged data) as one table.
bench-control:
	GO=$(GO) scripts/control-plane-figures.sh

lab: deps build
	@if [ -x e2e/lab/lab.sh ]; then e2e/lab/lab.sh up; else scripts/single-node-demo.sh; fi

lab-down:
	@if [ -x e2e/lab/lab.sh ]; then e2e/lab/lab.sh down; fi

# The rolling-update figures: a three-node lab of its own (beside any `make
# lab`), `service update --image minsw/web:v1 -> v2` of 4 replicas under four
# load loops (VIP and routing mesh, new and keep-alive connections), for
# start-first and stop-first with and without a health check, then how long
# an unhealthy task stays in the lbs. A few minutes; prints one table.
lab-updates: deps
	MINSW_E2E_UPDATES=1 $(GO) test -count=1 -v -run '^TestRollingUpdateLoad$$' -timeout 20m ./e2e/

proto:
	proto/gen.sh
