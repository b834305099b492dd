# seatd — the two commands a new user needs: `make run` and `make test`.

GO       ?= go
BENCH    ?= .
GOFILES   = $(shell git ls-files '*.go' 2>/dev/null | grep -v '^kitex_gen/')

.PHONY: build test lint fuzz fuzz-api bench run walkthrough gen paysim

## build: compile every package and command
build:
	$(GO) build ./...

## test: vet, formatting, every test under the race detector, the million-seat test without it (too slow with it),
## the purchase's tests (pay, notify, refund over HTTP) and seatbench's stadium on the whole system again on a real Kafka
## broker, a short fuzz run, the API fuzz run
test: lint
	$(GO) test -race ./...
	$(GO) test -count=1 -run '^TestLargeProgram$$' ./gateway
	SEATD_KAFKA=real $(GO) test -count=1 -run '^(TestPay|TestRefund)' ./gateway
	SEATD_KAFKA=real $(GO) test -count=1 -run '^TestSystemEveryScenario$$/^stadium$$' ./cmd/seatbench
	$(MAKE) fuzz
	$(MAKE) fuzz-api

## lint: go vet and gofmt (generated code excluded)
lint:
	$(GO) vet ./...
	@out="$$(gofmt -l $(GOFILES))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: run each fuzz target for a few seconds' worth of executions, or for FUZZTIME (e.g. FUZZTIME=1m).
## The defaults are counts, not durations: on Go 1.26 a wall-clock -fuzztime can end in a bare
## "context deadline exceeded" failure with no crasher (golang/go#75804, fixed in Go 1.27).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSnapshot$$' -fuzztime $(or $(FUZZTIME),500000x) ./inventory
	$(GO) test -run '^$$' -fuzz '^FuzzCommands$$' -fuzztime $(or $(FUZZTIME),50000x) ./inventory
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEntry$$' -fuzztime $(or $(FUZZTIME),80000x) ./raftfsm
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime $(or $(FUZZTIME),50000x) ./gateway

## fuzz-api: schemathesis against a real system, driven by gateway/openapi.yaml, every check and phase (under a
## minute and a half). Needs schemathesis (pip install schemathesis==4.32.5, as .ci/run does); FUZZ_API_ARGS adds `st run` flags,
## e.g. FUZZ_API_ARGS='--max-examples 1000 --seed 7'.
fuzz-api:
	SEATD_API_FUZZ=1 FUZZ_API_ARGS='$(FUZZ_API_ARGS)' $(GO) test -run '^TestAPIFuzz$$' -count=1 -timeout 20m -v ./gateway

## bench: the engine and replication benchmarks (BENCH selects, e.g. BENCH=HoldBestAvailable/venue=arena10k)
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./inventory ./raftfsm

## run: the whole system in one process: a seatd node, the gateway, two demo programs (Ctrl-C stops)
run:
	$(GO) run ./cmd/seatdev

## paysim: the payment provider simulator on 127.0.0.1:8090, its keys in .paysim/ (docs/paysim.md)
paysim:
	$(GO) run ./cmd/paysim -keys .paysim -resend-scale $(or $(RESEND_SCALE),0.01)

## walkthrough: a guided tour of the inventory engine alone, printed
walkthrough:
	$(GO) run ./cmd/seatdev -walkthrough

## gen: regenerate the Kitex code in kitex_gen/ from idl/ (committed; never edit it by hand)
gen:
	rm -rf kitex_gen
	$(GO) tool kitex -module seatd idl/inventory.thrift
	$(GO) tool kitex -module seatd idl/orderflow.thrift
