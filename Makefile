# sealhost — see README.md. `make test` is the test command CI runs.
GO ?= go
BIN := bin

.PHONY: all build test test-main test-ffi test-interop test-real proto bench demo demo-real clean ffi ffi-real filcrypto params

all: build

build:
	$(GO) build -o $(BIN)/host ./host
	$(GO) build -o $(BIN)/plugins/mock ./plugins/mock
	$(GO) build -o $(BIN)/plugins/damocles ./plugins/damocles
	cd plugins/ffi && $(GO) build -o ../../$(BIN)/plugins/ffi .

# Every test of both modules, and the real 2KiB seal (test-real: on a cold
# machine it first builds filecoin-ffi and the parameters, about 25 minutes
# on 2 cores). Fuzz targets' seed corpora run as ordinary tests;
# `go test -fuzz=FuzzX ./pkg` explores further. `make test-main` alone is
# the quick loop.
test: build test-main test-ffi test-interop test-real

# The host's module and the sdk's (sdk/ is a Go module of its own, which
# the host requires through a replace, as a plugin author's module would).
test-main:
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...
	$(GO) test -count=1 ./...
	cd sdk && $(GO) test -count=1 ./...

test-ffi:
	cd plugins/ffi && $(GO) vet ./... && $(GO) test -count=1 ./...

# `host processor` driven by damocles' own producer, the Rust crate
# vc-processors (tools/vcinterop): cargo builds the driver (about 35 s the
# first time, its target folder cached outside the clone), then, on
# plugins/mock, four sectors seal through it, and their updates and PoSts
# go through it too (tools/vcinterop/doc.go).
VCINTEROP_TARGET = $${SEALHOST_CACHE:-/var/cache/sealhost}/vcinterop/target
test-interop: build
	CARGO_TARGET_DIR=$(VCINTEROP_TARGET) cargo build --locked --quiet --manifest-path tools/vcinterop/Cargo.toml
	VCINTEROP_BIN=$(VCINTEROP_TARGET)/debug/vcinterop $(GO) test -tags interop -count=1 -v ./tools/vcinterop/

clean:
	rm -rf $(BIN)

# The quick start: builds everything, then seals 8 sectors of
# examples/local.hcl (2 cpus, plugins/mock) through a host started inside
# `host seal`: confined in cgroups as root, unconfined (said loudly) where
# cgroups cannot be made. A host already answering on the default socket
# is used instead.
demo: build
	$(BIN)/host seal -config examples/local.hcl -sectors 8

# Every speed claim of the project, each against a baseline measured in
# the same run, printed as one table of ratios by tools/benchtable (about
# 5 minutes on 2 cores, 4 of them the real 2KiB seals, which build
# filecoin-ffi and the parameters first on a cold machine; where -count is
# 3 each value is the median of 3).
# The raw `go test -bench` output stays in $(BIN)/bench.txt;
# `go run ./tools/benchtable $(BIN)/bench.txt` reprints the table.
BENCH_OUT := $(BIN)/bench.txt
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench:
	@mkdir -p $(BIN) && : > $(BENCH_OUT)
	cd sdk && $(GO) test -run '^$$' -bench 'NoopCall' -benchtime 2000x -count 3 ./pluginclient | tee -a ../$(BENCH_OUT)
	cd sdk && $(GO) test -run '^$$' -bench 'Payload64MiB' -benchtime 5x -count 3 ./pluginclient | tee -a ../$(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'ProcessorNoop' -benchtime 2000x -count 3 ./host | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'RunServes50' -benchtime 3x -count 3 ./host | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'InFlight' -benchtime 4000x -count 3 ./host/internal/daemon | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 0.3s -count 3 ./host/internal/arbiter | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 5x -count 3 ./host/internal/dispatch | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 10x -count 3 ./internal/startbench ./host/internal/confine | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./host/internal/simulate | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 5x -count 3 ./host/internal/suggest | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'HostileConfig|Plan2000' -benchtime 3x ./host/internal/config ./host/internal/plan | tee -a $(BENCH_OUT)
	cd plugins/ffi && $(GO) test -run '^$$' -bench TreeD -benchtime 10x -count 3 . | tee -a ../../$(BENCH_OUT)
	@$(MAKE) --no-print-directory ffi-real params >/dev/null
	cd plugins/ffi && FIL_PROOFS_PARAMETER_CACHE=$$(../../$(FILCRYPTO) paramdir) CGO_ENABLED=1 \
	  $(GO) test -modfile=ffi.local.mod -tags ffi -run '^$$' -bench 'RealChildStart' -benchtime 20x -count 3 . | tee -a ../../$(BENCH_OUT)
	cd plugins/ffi && FIL_PROOFS_PARAMETER_CACHE=$$(../../$(FILCRYPTO) paramdir) CGO_ENABLED=1 \
	  $(GO) test -modfile=ffi.local.mod -tags ffi -run '^$$' -bench 'RealSeal2KiB' -benchtime 1x -timeout 30m . | tee -a ../../$(BENCH_OUT)
	@echo
	@$(GO) run ./tools/benchtable $(BENCH_OUT)

# Regenerates the plugin protocol's Go code (sdk/proto/*/*.pb.go) with
# pinned protoc plugins; protoc itself: apt-get install -y protobuf-compiler.
# sdk/proto's TestGeneratedCodeIsFresh fails when this was forgotten.
proto:
	sh sdk/proto/generate.sh

# The filecoin-ffi plugin for real sealing, on a machine where filecoin-ffi
# was built (plugins/ffi/README.md). The committed go.mod is left untouched:
# the replace lives in a throwaway module file.
ffi:
	@test -n "$(FFI_DIR)" || { echo "usage: make ffi FFI_DIR=/path/to/built/filecoin-ffi (or make ffi-real)" >&2; exit 2; }
	@test -f "$(FFI_DIR)/filcrypto.h" || { echo "$(FFI_DIR) has no filcrypto.h: build it with make filcrypto (plugins/ffi/README.md)" >&2; exit 2; }
	cd plugins/ffi && cp go.mod ffi.local.mod && cp go.sum ffi.local.sum && \
	  $(GO) mod edit -modfile=ffi.local.mod -replace github.com/filecoin-project/filecoin-ffi=$(abspath $(FFI_DIR)) && \
	  CGO_ENABLED=1 $(GO) build -modfile=ffi.local.mod -tags ffi -o ../../$(BIN)/plugins/ffi .

# filecoin-ffi's Rust library, built here from filecoin-ffi's own sources
# (tools/filcrypto/build.sh): about 10 minutes the first time on 2 cores,
# cached in $(SEALHOST_CACHE) (default /var/cache/sealhost) under a key of
# (filecoin-ffi version, features, rustc version), under a second after.
FILCRYPTO := tools/filcrypto/build.sh
filcrypto:
	@$(FILCRYPTO) lib >/dev/null

# INSECURE local Groth16 parameters (see plugins/ffi/README.md) for 2KiB
# PoRep, Winning and Window PoSt and snap updates (test-real uses all four):
# measured the first time on 2 cores 11 min, 33 s, 13 s and 16 min (1.8 GB);
# cached per circuit after. PARAM_SIZES=2048,8388608 adds 8MiB.
PARAM_SIZES ?= 2048
PARAM_CIRCUITS ?= porep,winning-post,window-post,update
params: filcrypto
	@$(FILCRYPTO) params $(PARAM_SIZES) $(PARAM_CIRCUITS) >/dev/null

# bin/plugins/ffi linked against the library `make filcrypto` built.
ffi-real: build filcrypto
	@$(MAKE) --no-print-directory ffi FFI_DIR=$$($(FILCRYPTO) dir)

# Seals 2 sectors of 2KiB for real through the host (examples/ffi-2k.hcl):
# exit 0 only if every proof verified. A first run builds the library and
# the parameters (about 17 minutes on 2 cores); later runs take about 2 minutes.
demo-real: ffi-real params
	FIL_PROOFS_PARAMETER_CACHE=$$($(FILCRYPTO) paramdir) \
	  $(BIN)/host seal -config examples/ffi-2k.hcl -sectors 2 -require-verified

# plugins/ffi's tests built with filecoin-ffi: the real 2KiB lifecycle
# through the host and the cross-checks (plugins/ffi/real_test.go), snap,
# PoSt, unseal and add_pieces on sealed sectors (real_prove*_test.go), the
# conformance kit on all eleven stages (real_conformance_test.go). They
# fail, never skip, when the library or the parameters are missing.
test-real: SHELL := /bin/bash
test-real: ffi-real params
	cd plugins/ffi && SEALHOST_FFI_DIR=$$(../../$(FILCRYPTO) dir) \
	  FIL_PROOFS_PARAMETER_CACHE=$$(../../$(FILCRYPTO) paramdir) \
	  CGO_ENABLED=1 $(GO) test -modfile=ffi.local.mod -tags ffi -count=1 -timeout 60m -v -run Real . 2>&1 | \
	  tee ../../$(BIN)/test-real.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|real(_[a-z0-9]+)?_test.go'; \
	  exit $${PIPESTATUS[0]}
