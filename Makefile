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

# Regenerates the plugin protocol's Go code (sdk/proto/*/*.pb.go) with
# pinned protoc plugins; protoc itself: apt-get install -y protobuf-compiler.
# sdk/proto/sealv1's TestGeneratedCodeIsFresh fails when this was forgotten.
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
