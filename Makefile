# sealhost — see README.md. `make test` is the test command CI runs.
GO ?= go
BIN := bin

.PHONY: all build test test-main test-ffi proto bench demo clean ffi

all: build

build:
	$(GO) build -o $(BIN)/host ./host
	$(GO) build -o $(BIN)/plugins/mock ./plugins/mock
	cd plugins/ffi && $(GO) build -o ../../$(BIN)/plugins/ffi .

# Every test of both modules. Fuzz targets' seed corpora run as ordinary
# tests; `go test -fuzz=FuzzX ./pkg` explores further.
test: build test-main test-ffi

test-main:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test-ffi:
	cd plugins/ffi && $(GO) vet ./... && $(GO) test -count=1 ./...

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
# the same run, printed as one table of ratios by tools/benchtable (under
# a minute on 2 cores; where -count is 3 each value is the median of 3).
# The raw `go test -bench` output stays in $(BIN)/bench.txt;
# `go run ./tools/benchtable $(BIN)/bench.txt` reprints the table.
BENCH_OUT := $(BIN)/bench.txt
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench:
	@mkdir -p $(BIN) && : > $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'NoopCall' -benchtime 2000x -count 3 ./internal/pluginclient | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'Payload64MiB' -benchtime 5x ./internal/pluginclient | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 0.3s -count 3 ./host/internal/arbiter | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 10x -count 3 ./internal/startbench ./host/internal/confine | tee -a $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./host/internal/simulate | tee -a $(BENCH_OUT)
	cd plugins/ffi && $(GO) test -run '^$$' -bench TreeD -benchtime 10x -count 3 . | tee -a ../../$(BENCH_OUT)
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
	@test -n "$(FFI_DIR)" || { echo "usage: make ffi FFI_DIR=/path/to/built/filecoin-ffi" >&2; exit 2; }
	@test -f "$(FFI_DIR)/filcrypto.h" || { echo "$(FFI_DIR) has no filcrypto.h: run make in that filecoin-ffi checkout first (plugins/ffi/README.md)" >&2; exit 2; }
	cd plugins/ffi && cp go.mod ffi.local.mod && cp go.sum ffi.local.sum && \
	  $(GO) mod edit -modfile=ffi.local.mod -replace github.com/filecoin-project/filecoin-ffi=$(abspath $(FFI_DIR)) && \
	  CGO_ENABLED=1 $(GO) build -modfile=ffi.local.mod -tags ffi -o ../../$(BIN)/plugins/ffi .
