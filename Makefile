# Sextant developer targets. `make test` is what CI runs (.ci/run).

GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 100ms
FUZZTIME  ?= 20s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/sextantdb/sextant/internal/cli.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: bench-peers bench-native all build test testrace testpurego testinvariants vet fmt lint bench fuzz clean

all: lint test

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/sextant ./cmd/sextant

# The packages whose code has invariants.Enabled checks (hnsw's graph checker
# after Repair and Reconnect, the filter's ordered index after a merge), and
# the ones that drive them hardest (engine, the root package's churn tests).
INVARIANT_PKGS ?= . ./internal/engine/... ./internal/filter/... ./internal/index/...

# lint (gofmt -l, go mod tidy -diff, vet, staticcheck), the chromadb client for
# the compatibility suite (tests/compat, pinned by its package-lock.json), the
# full tests (recall tests included), the race detector on the short tests,
# the pure-Go kernels, then the short tests with the invariants tag (-race
# enables the same checks, under the race detector's slowdown). Keep the
# whole under ~12 minutes on 2 cores.
test: lint
	cd tests/compat && npm ci --no-audit --no-fund --loglevel=error
	$(GO) test -timeout 15m $(PKGS)
	$(GO) test -race -short -timeout 15m $(PKGS)
	$(GO) test -short -tags purego ./internal/vec/... ./internal/index/...
	$(GO) test -short -tags invariants -timeout 10m $(INVARIANT_PKGS)

testrace:
	$(GO) test -race -short -timeout 15m $(PKGS)

# The portable kernels, without assembly.
testpurego:
	$(GO) test -tags purego ./internal/vec/... ./internal/index/...

# The short tests with the invariants tag (see INVARIANT_PKGS).
testinvariants:
	$(GO) test -short -tags invariants -timeout 10m $(INVARIANT_PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w .

# gofmt -l lists nothing, go.mod and go.sum are tidy, vet and staticcheck
# (fetched through the module proxy at the pinned version) find nothing.
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

bench:
	$(GO) test -short -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# Every fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME each.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		dir=$$(dirname $$f); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== $$dir $$fn"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$dir; \
		done; \
	done

clean:
	rm -rf bin

# Side by side on ../shared/data (see docs/benchmarks.md): hnswlib-native (the
# anchor) and sextant bench as JSON lines compared by compare.py, then Debian's
# hnswlib and FAISS (peers.py, its own table), then one compare.py table of every
# engine (peers.py's CSV through scripts/peers-jsonl.py). Not part of `make test`.
SHARED   ?= ../shared
DATASETS ?= glove-twitter-25:cosine fashion-mnist-784:l2 wordnet-use512:cosine
PEER_ARGS ?= --m 16 --ef-construction 100 --ef 10,20,40,80,160,320 --k 10 --threads 2
# Measured passes per ef for both engines; each reports its fastest (the
# machines are shared: one pass of 1,000 glove queries lasts ~10 ms).
RUNS ?= 3
# Rounds of the whole sweep. The engine that runs first on a data set
# alternates from round to round; with ROUNDS > 1 compare.py is given the
# median of each engine's rounds per ef (scripts/median-rounds.py): one round
# moves the ratios by 15-50% on these machines. Raw lines: /tmp/sextant-peers-*.jsonl.
ROUNDS ?= 1
bench-peers: bench-native
	@/usr/bin/python3 -c 'import numpy, hnswlib, faiss' 2>/dev/null || \
		apt-get install -y -q python3-numpy python3-hnswlib python3-faiss || \
		(apt-get update -q && apt-get install -y -q python3-numpy python3-hnswlib python3-faiss)
	@rm -f /tmp/sextant-peers-*.csv
	@set -e; for ds in $(DATASETS); do n=$${ds%%:*}; \
		/usr/bin/python3 $(SHARED)/bench/peers.py $$n --data-dir $(SHARED)/data --M 16 --efc 100 --nq 1000 \
			--csv /tmp/sextant-peers-$$n.csv; done
	@echo; echo "== every engine (Debian's hnswlib and FAISS: one round, queries in one call on one thread)"
	@/usr/bin/python3 scripts/peers-jsonl.py /tmp/sextant-peers-*.csv > /tmp/sextant-peers-p.jsonl
	@if [ $(ROUNDS) = 1 ]; then \
		/usr/bin/python3 $(SHARED)/bench/compare.py --baseline hnswlib-native /tmp/sextant-peers-h.jsonl \
			/tmp/sextant-peers-s.jsonl /tmp/sextant-peers-p.jsonl; \
	else \
		/usr/bin/python3 scripts/median-rounds.py /tmp/sextant-peers-h.jsonl /tmp/sextant-peers-s.jsonl | \
			/usr/bin/python3 $(SHARED)/bench/compare.py --baseline hnswlib-native - /tmp/sextant-peers-p.jsonl; \
	fi

# The hnswlib-native vs sextant part of bench-peers alone.
bench-native: build
	@rm -f /tmp/sextant-peers-h.jsonl /tmp/sextant-peers-s.jsonl
	@set -e; D=$(SHARED)/data; \
	native() { $(SHARED)/bench/hnswlib-native --base $$D/$$1.base.fvecs --query $$D/$$1.query.fvecs \
		--gt $$D/$$1.gt.ivecs --metric $$2 $(PEER_ARGS) --queries 1000 --runs $(RUNS) >> /tmp/sextant-peers-h.jsonl; }; \
	sextant() { bin/sextant bench --base $$D/$$1.base.fvecs --query $$D/$$1.query.fvecs \
		--gt $$D/$$1.gt.ivecs --metric $$2 $(PEER_ARGS) --queries 1000 --runs $(RUNS) --json >> /tmp/sextant-peers-s.jsonl; }; \
	i=0; for r in $$(seq $(ROUNDS)); do for ds in $(DATASETS); do n=$${ds%%:*}; m=$${ds##*:}; i=$$((i + 1)); \
		echo "== round $$r/$(ROUNDS): $$n ($$m)"; \
		if [ $$((i % 2)) = 1 ]; then native $$n $$m; sextant $$n $$m; else sextant $$n $$m; native $$n $$m; fi; \
	done; done
	@if [ $(ROUNDS) = 1 ]; then \
		/usr/bin/python3 $(SHARED)/bench/compare.py --baseline hnswlib-native /tmp/sextant-peers-h.jsonl /tmp/sextant-peers-s.jsonl; \
	else \
		/usr/bin/python3 scripts/median-rounds.py /tmp/sextant-peers-h.jsonl /tmp/sextant-peers-s.jsonl | \
			/usr/bin/python3 $(SHARED)/bench/compare.py --baseline hnswlib-native -; \
	fi
