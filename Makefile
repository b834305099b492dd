# seatd — the two commands a new user needs: `make run` and `make test`.

GO       ?= go
BENCH    ?= .
# make bench's reports, and the load of each of its runs: the same for seatd and the baselines it is compared with
BENCH_OUT  ?= bench-out
BENCH_LOAD ?= -load closed -buyers 64 -warmup 2s -ramp 1s -duration 8s
GOFILES   = $(shell git ls-files '*.go' 2>/dev/null | grep -v '^kitex_gen/')
# where the page tests keep their screenshots (internal/browsertest.ArtefactDir), one directory a test; git ignores it
export SEATD_ARTEFACTS ?= $(CURDIR)/.artefacts

.PHONY: build test lint fuzz fuzz-api bench bench-smoke bench-engine run walkthrough gen paysim

## build: compile every package and command
build:
	$(GO) build ./...

## test: vet, formatting, every test under the race detector, the million-seat test without it (too slow with it),
## the purchase's tests (pay, notify, refund over HTTP) and seatbench's stadium on the whole system again on a real Kafka
## broker, a short fuzz run, the API fuzz run, and make bench's smoke
test: lint
	$(GO) test -race ./...
	$(GO) test -count=1 -run '^TestLargeProgram$$' ./gateway
	SEATD_KAFKA=real $(GO) test -count=1 -run '^(TestPay|TestRefund)' ./gateway
	SEATD_KAFKA=real $(GO) test -count=1 -run '^TestSystemEveryScenario$$/^stadium$$' ./cmd/seatbench
	$(MAKE) fuzz
	$(MAKE) fuzz-api
	$(MAKE) bench-smoke

## bench-smoke: make bench in about a minute (16 buyers, 3 s a run): it fails on any check or audit difference of any
## run, not on a speed target; its reports go to .artefacts/bench-smoke
bench-smoke:
	$(MAKE) bench BENCH_LOAD='-load closed -buyers 16 -warmup 1s -duration 3s' BENCH_OUT=$(SEATD_ARTEFACTS)/bench-smoke

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
	$(GO) test -run '^$$' -fuzz '^FuzzImportProgram$$' -fuzztime $(or $(FUZZTIME),50000x) ./inventory
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEntry$$' -fuzztime $(or $(FUZZTIME),80000x) ./raftfsm
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime $(or $(FUZZTIME),50000x) ./gateway

## fuzz-api: schemathesis against a real system, driven by gateway/openapi.yaml, every check and phase (under a
## minute and a half). Needs schemathesis (pip install schemathesis==4.32.5, as .ci/run does); FUZZ_API_ARGS adds `st run` flags,
## e.g. FUZZ_API_ARGS='--max-examples 1000 --seed 7'.
fuzz-api:
	SEATD_API_FUZZ=1 FUZZ_API_ARGS='$(FUZZ_API_ARGS)' $(GO) test -run '^TestAPIFuzz$$' -count=1 -timeout 20m -v ./gateway

## bench: seatd against the baselines in under 3 minutes (issue 12), three seatbench runs on servers it starts itself:
## (a) the engine against bare Redis+Lua and PostgreSQL, best-available holds on a 10,000-seat category at full inventory;
## (b) the same through HTTP: the gateway over 3 fsyncing replicas against both behind the baselines' HTTP front;
## (c) (b) with named seats, Redis with appendfsync always. Prints each comparison table and whether each target is met
## (-expect; an unmet target is printed and does not fail make bench, a failed check or audit does); reports in BENCH_OUT
## (default bench-out/), one directory a run: docs/seatbench.md says how to read them
bench:
	$(GO) build -o $(BENCH_OUT)/seatbench ./cmd/seatbench
	@status=0; \
	echo; echo "(a) the engine against the bare baselines: best-available, 10,000 seats at full inventory (target: 1,000x redis-lua)"; \
	$(BENCH_OUT)/seatbench -scenario bestavail10k -target engine,redis-lua,postgres \
		-target-opt redis-local=true -target-opt postgres-local=true $(BENCH_LOAD) -out $(BENCH_OUT)/a-engine \
		-expect 'engine/redis-lua>=1000' || status=1; \
	echo; echo "(b) seatd through HTTP, 3 fsyncing replicas, against the baselines behind HTTP: best-available (target: 20x redis-lua-http, p99 under 50 ms)"; \
	$(BENCH_OUT)/seatbench -scenario bestavail10k -target seatd-http,redis-lua-http,postgres-http \
		-target-opt seatd-local=3 -target-opt redis-local=true -target-opt postgres-local=true $(BENCH_LOAD) -out $(BENCH_OUT)/b-http \
		-expect 'seatd-http/redis-lua-http>=20' -expect 'seatd-http:p99<50ms' || status=1; \
	echo; echo "(c) the same with named seats, Redis with appendfsync always (target: 1x redis-lua-http, 3x postgres-http)"; \
	$(BENCH_OUT)/seatbench -scenario named10k -target seatd-http,redis-lua-http,postgres-http \
		-target-opt seatd-local=3 -target-opt redis-local=true -target-opt redis-appendfsync-always=true -target-opt postgres-local=true \
		$(BENCH_LOAD) -out $(BENCH_OUT)/c-named -expect 'seatd-http/redis-lua-http>=1' -expect 'seatd-http/postgres-http>=3' || status=1; \
	exit $$status

## bench-engine: the engine and replication go benchmarks (BENCH selects, e.g. BENCH=HoldBestAvailable/venue=arena10k)
bench-engine:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./inventory ./raftfsm

## run: the whole system in one process: a seatd node, the gateway, two demo programs (Ctrl-C stops, with status 0).
## Built to bin/ and exec'd rather than go run, which reports every Ctrl-C as "exit status 1"
run:
	$(GO) build -o bin/seatdev ./cmd/seatdev
	exec bin/seatdev

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
