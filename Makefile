# ddbfleet — export DynamoDB tables to S3 with a fleet of workers.
# `make demo` and `make test` are the two commands a new machine needs.

SHELL       := /bin/bash
GO          ?= go
BIN         := $(CURDIR)/bin
STACK_DIR   ?= $(CURDIR)/.stack
export CGO_ENABLED ?= 0
LDFLAGS     := -s -w
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build test test-unit test-e2e test-race lint bench demo clean

include scripts/stack.mk
-include deployments/deployments.mk

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

build: ## Build static binaries bin/coordinator and bin/worker
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/coordinator ./coordinator
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/worker ./worker

test: ## Run every test: unit tests, then the fleet end to end on a local stack it starts
	@bash scripts/test.sh

test-unit: ## Run the fast unit tests only (no servers)
	$(GO) test ./...

test-race: ## Run every test with the race detector on
	@RACE=1 bash scripts/test.sh

lint: ## gofmt, go vet, staticcheck (and cfn-lint on the templates)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	$(GO) run $(STATICCHECK) ./...
	@if grep -q '^lint-cfn:' deployments/deployments.mk 2>/dev/null; then $(MAKE) --no-print-directory lint-cfn; fi

bench: build ## Measure export throughput against the raw-scan floor on a local stack
	@bash scripts/bench.sh

demo: build ## Start a local stack, fill a sample table, export it with 3 workers, verify it
	@bash scripts/demo.sh

clean: ## Remove build output and stop the local stack
	-@bash scripts/stack.sh down "$(STACK_DIR)" >/dev/null 2>&1
	rm -rf $(BIN) $(STACK_DIR)
