# Evently: `make run` for a local stack with demo data, `make test` for the
# whole suite. Both start what they need (see deploy/stack.sh).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STACK   := bash deploy/stack.sh
BIN     := bin
GO      ?= go
STATICCHECK_VERSION := v0.8.2
# Everything below talks to the stack on its documented defaults; export
# DATABASE_URL, REDIS_URL or KAFKA_BROKERS to point elsewhere.

.PHONY: help
help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: stack
stack: ## start PostgreSQL, Redis and Kafka on 127.0.0.1 (idempotent)
	@$(STACK) up

.PHONY: stack-cluster
stack-cluster: ## the stack with Kafka as three replicated brokers (stack-stop first if a single node runs)
	@$(STACK) up --cluster

.PHONY: stack-stop
stack-stop: ## stop what make stack started
	@$(STACK) down

.PHONY: stack-clean
stack-clean: ## stop the stack and wipe its state
	@$(STACK) clean

.PHONY: web-build
web-build: ## rebuild the web front end (web/ -> api/assets/web, committed; npm packages in web/node_modules)
	@bash deploy/web-build.sh

.PHONY: web-check
web-check: ## type-check web/ and check the committed bundle in api/assets/web is what it builds
	@bash deploy/web-build.sh --check

.PHONY: build
build: ## build every command into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: run
run: stack build ## stack, migrations, demo data, API + workers + payment simulator
	@eval "$$($(STACK) env)"; export EVENTLY_JWT_SECRET=$${EVENTLY_JWT_SECRET:-dev-only-secret-change-me-0123456789abcdef}; \
	$(BIN)/evently migrate up && $(BIN)/evently seed && exec bash deploy/run-dev.sh

.PHONY: test
test: ## start the stack (fsync off: tests need no crash safety), then run every test with -race, the browser test, a brief fuzz and Schemathesis
	@EVENTLY_PG_FAST=1 $(STACK) up
	@eval "$$($(STACK) env)"; $(GO) test -race -count=1 -timeout 25m ./...
	@$(MAKE) --no-print-directory web-test
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory schemathesis

.PHONY: web-test
web-test: ## the browser test: headless Chromium buys seats on a fresh database (screenshots in web/screenshots)
	@EVENTLY_PG_FAST=1 $(STACK) up
	@eval "$$($(STACK) env)"; bash deploy/web-test.sh

# Each HTTP fuzz target explores for FUZZTIME beyond its seed corpus (which
# every go test runs). Findings land in api/testdata/fuzz/; commit them.
FUZZTIME ?= 15s
FUZZ_TARGETS := FuzzHandlers FuzzBookingHandlers FuzzIdentityBodies
.PHONY: fuzz
fuzz: ## fuzz the HTTP handlers for FUZZTIME each (default 15s): no input may cause a 500
	@EVENTLY_PG_FAST=1 $(STACK) up
	@eval "$$($(STACK) env)"; for t in $(FUZZ_TARGETS); do \
		$(GO) test ./api/ -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -parallel 2 || exit 1; done

# Schemathesis (PyPI, pinned, venv in .tools/) generates requests from
# api/openapi.yaml against a fresh API, workers and paysim of their own;
# SCHEMATHESIS_TIMEOUT bounds it (deploy/schemathesis.sh).
.PHONY: schemathesis
schemathesis: build ## property-based test of the running API against its contract, as the demo organizer (under 3 minutes)
	@EVENTLY_PG_FAST=1 $(STACK) up
	@eval "$$($(STACK) env)"; bash deploy/schemathesis.sh

.PHONY: check
check: ## gofmt, go vet, staticcheck, the OpenAPI validator, the compose check and the web bundle check
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.stack/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null 2>&1 || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	@$(MAKE) --no-print-directory openapi-check
	@$(MAKE) --no-print-directory compose-check
	@$(MAKE) --no-print-directory web-check

.PHONY: compose-check
compose-check: ## validate docker-compose.yml against the Compose spec's schema, and the Grafana files (venv in .tools/)
	@bash deploy/compose-check.sh

.PHONY: openapi-check
openapi-check: ## validate api/openapi.yaml with openapi-spec-validator (venv in .tools/, built once)
	@bash deploy/openapi-check.sh

.PHONY: bench
bench: stack build ## the on-sale benchmark suite; rewrites BENCHMARKS.md results
	@eval "$$($(STACK) env)"; bash deploy/bench.sh
