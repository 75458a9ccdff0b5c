# sealhost — see README.md. `make test` is the test command CI runs.
GO ?= go
BIN := bin

.PHONY: all build test test-main test-ffi proto bench demo clean

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
