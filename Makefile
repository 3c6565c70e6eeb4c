# Tether's one entry point. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
# Agent targets: os/arch[/arm version]. The broker runs on the two 64-bit ones.
AGENT_TARGETS  := linux/arm/6 linux/arm/7 linux/arm64 linux/amd64 linux/riscv64
BROKER_TARGETS := linux/arm64 linux/amd64
# Go's own default: `make test` and a plain `go test ./...` must both fit
# it, so no package's tests may take longer; the long forms are `make soak`.
TEST_TIMEOUT ?= 10m
# `make test` runs TEST_P test binaries at once (go test -p): more than
# the 2 cores here, as several packages wait far more than they compute
# (9 min 13 s at 3, 11 min 26 s at 2: docs/benchmarks.md, "make test
# time"). Packages named in TEST_FIRST start first: the longest, so no
# long one is left running alone at the end.
TEST_P       ?= 3
MODULE       := $(shell $(GO) list -m)
TEST_FIRST   := ./broker/e2e ./scripts/powerloss ./agent/store ./broker/loadgen ./broker/serve ./broker/taskengine ./scripts/packages ./pkg/kv ./broker/cli
FUZZTIME     ?= 20s
# staticcheck, pinned: v0.8.2 is staticcheck 2026.2.2, which knows Go 1.26.
# `make lint` installs it into .cache/bin.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := .cache/bin/staticcheck-$(STATICCHECK_VERSION)
# Every shell script in the repository (by name or by #! line).
SHELL_SCRIPTS = $(shell git ls-files '*.sh' .ci/run)

.PHONY: help
help: ## show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/tether-agent and bin/tether-broker for this machine (static, CGO-free)
	$(BUILD) -o bin/tether-agent ./agent
	$(BUILD) -o bin/tether-broker ./broker

.PHONY: run
run: build ## start the scheduler (embedded broker on 127.0.0.1:1883) and one local agent; Ctrl-C stops both
	scripts/run-local.sh

.PHONY: deps
deps: ## install the system packages the tests need (Mosquitto 2, qemu-user-static, openssl)
	scripts/install-deps.sh

.PHONY: lint
lint: deps $(STATICCHECK) ## gofmt, go vet, staticcheck, go mod tidy -diff, shellcheck: all must be clean
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) mod tidy -diff
	shellcheck $(SHELL_SCRIPTS)
	@# One log key for errors: err (in Tether's code; pkg/third_party keeps upstream's).
	@if git grep -nE '\.(Debug|Info|Warn|Error)(Context)?\(.*"error", ' -- '*.go' ':!pkg/third_party'; then \
	  echo 'log errors under the key "err"'; exit 1; fi

$(STATICCHECK):
	@mkdir -p $(@D)
	GOBIN=$(CURDIR)/.cache/bin/tmp $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv .cache/bin/tmp/staticcheck $@ && rmdir .cache/bin/tmp

.PHONY: test
test: deps lint ## every test: lint, unit, integration (embedded broker, Mosquitto 2), qemu ARM runs, short soaks; with -race
	@# Allocation guards count allocations, which the race detector adds to:
	@# they run once without it, first, so the full run's summary ends the log.
	$(GO) test -count=1 -run 'Alloc' ./agent/collect/ ./agent/report/ ./broker/mqttd/
	$(GO) test -race -count=1 -p $(TEST_P) -timeout $(TEST_TIMEOUT) \
	  $(TEST_FIRST) $$($(GO) list ./... | sed 's|^$(MODULE)|.|' | grep -vxF -e "$$(printf '%s\n' $(TEST_FIRST))")

.PHONY: cross
cross: ## build per-target binaries into dist/<os>_<arch>[v<arm>]/
	@for t in $(AGENT_TARGETS); do \
	  IFS=/ read -r os arch arm <<< "$$t"; dir=dist/$${os}_$${arch}$${arm:+v$$arm}; \
	  echo "$$dir/tether-agent"; \
	  GOOS=$$os GOARCH=$$arch GOARM=$$arm $(BUILD) -o $$dir/tether-agent ./agent; \
	done
	@for t in $(BROKER_TARGETS); do \
	  IFS=/ read -r os arch <<< "$$t"; dir=dist/$${os}_$${arch}; \
	  echo "$$dir/tether-broker"; \
	  GOOS=$$os GOARCH=$$arch $(BUILD) -o $$dir/tether-broker ./broker; \
	done

# Debian packages: the agent for every Pi OS (armhf carries the armv6
# build), arm64, amd64 and riscv64; the scheduler for the 64-bit two.
DEB_VERSION ?= $(shell scripts/deb-version.sh)

.PHONY: packages
packages: cross ## build .deb packages into dist/deb/ (tether-agent: armhf arm64 amd64 riscv64; tether-broker: arm64 amd64)
	@for a in armhf:linux_armv6 arm64:linux_arm64 amd64:linux_amd64 riscv64:linux_riscv64; do \
	  scripts/package-deb.sh tether-agent $${a%%:*} dist/$${a#*:}/tether-agent $(DEB_VERSION) dist/deb; \
	done
	@for a in arm64:linux_arm64 amd64:linux_amd64; do \
	  scripts/package-deb.sh tether-broker $${a%%:*} dist/$${a#*:}/tether-broker $(DEB_VERSION) dist/deb; \
	done
	@find dist/deb -name '*.deb' -printf '%10s  %p\n' | sort -k2

.PHONY: bench
bench: ## run every benchmark with -benchmem into .cache/bench.txt (compare runs with benchstat)
	@mkdir -p .cache
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./... | tee .cache/bench.txt

.PHONY: soak
soak: deps ## the long forms of the short soaks in `make test` (TETHER_SOAK=1): a 10-minute broker outage, 2,000 SIGKILLs, a 10 s partition in a 20 MiB input, 200 + 50 power cuts
	TETHER_SOAK=1 $(GO) test -count=1 -v -timeout 3h -run '^(TestBrokerOutage|TestKill9Torture|TestInputResumesAfterAPartition)$$' ./broker/e2e/
	TETHER_SOAK=1 $(GO) test -count=1 -v -timeout 6h -run '^(TestPowerCuts|TestTaskPowerCuts)$$' ./scripts/powerloss/

.PHONY: chaos
chaos: deps ## the fault scenario's long form (TETHER_CHAOS=1): every fault of docs/security.md at once, a 60 s outage, 96 simulated agents
	TETHER_CHAOS=1 $(GO) test -count=1 -v -timeout 30m -run '^TestChaos$$' ./broker/e2e/

.PHONY: torture
torture: deps ## SIGKILL an agent behind a flapping link TORTURE_CYCLES times (default 2000); replay with TORTURE_SEED
	TORTURE_CYCLES=$(or $(TORTURE_CYCLES),2000) $(GO) test -count=1 -v -timeout 3h -run '^TestKill9Torture$$' ./broker/e2e/

.PHONY: bench-agent
bench-agent: build ## measure running agents: RSS, CPU, uplink bytes (BENCH_SECONDS, default 300)
	scripts/bench-agent.sh $(or $(BENCH_SECONDS),300)

.PHONY: powerloss
powerloss: deps ## cut a qemu VM's power POWERLOSS_CUTS times (default 200) under the store, then across a task POWERLOSS_TASK_CUTS times (default 50); replay with POWERLOSS_SEED
	POWERLOSS_CUTS=$(or $(POWERLOSS_CUTS),200) POWERLOSS_TASK_CUTS=$(or $(POWERLOSS_TASK_CUTS),50) \
	  $(GO) test -count=1 -v -timeout 6h -run '^(TestPowerCuts|TestTaskPowerCuts)$$' ./scripts/powerloss/

.PHONY: powerloss-plot
powerloss-plot: ## replay a power-cut run's ledger from its console and draw its store size and open time over its boots: RUN=.cache/powerloss/runs/<run> (default the newest store run), OUT=<prefix> (default docs/img/powerloss)
	$(GO) run ./scripts/powerloss/plotrun -check -console $(or $(RUN),$$(ls -d .cache/powerloss/runs/*-store-* | tail -1))/console.log -o $(or $(OUT),docs/img/powerloss)

.PHONY: cluster
cluster: deps ## the long forms of the NATS cluster tests (TETHER_CLUSTER=1): every ACL case, 20 agents through a rolling SIGKILL of each node, scheduler failover (500 tasks), partition (300), rolling restart of the HA region (400), three power cuts of the HA region's engine (10 agents)
	TETHER_CLUSTER=1 $(GO) test -count=1 -v -timeout 30m -run '^TestACLNATS$$' ./broker/mqttd/
	TETHER_CLUSTER=1 $(GO) test -count=1 -v -timeout 30m -run '^(TestNATSNodeLoss|TestSchedulerFailover|TestSchedulerPartition|TestRegionRollingRestart|TestRegionPowerCut)$$' ./broker/e2e/

.PHONY: load
load: build deps ## LOAD_SIZES simulated agents (default 1000 5000 10000) on the embedded broker and Mosquitto (LOAD_BROKERS; also nats): storm, drop, stop; fails if anything acknowledged is lost
	scripts/load.sh

.PHONY: sizes
sizes: cross ## print the size of every cross-built (stripped) binary, with the date, commit and Go version
	@echo "$$(date -u '+%Y-%m-%d %H:%M UTC'), $(VERSION), $$($(GO) version | cut -d' ' -f3), CGO_ENABLED=0 -trimpath -ldflags='-s -w'"
	@find dist -mindepth 2 -maxdepth 2 -type f \( -name tether-agent -o -name tether-broker \) -printf '%s %p\n' | sort -k2 | awk '{printf "%12s bytes  %6.2f MiB  %s\n", $$1, $$1/1048576, $$2}'

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

.PHONY: clean
clean: ## remove build outputs
	rm -rf bin dist .cache/run
