# sealhost: see README.md.
GO ?= go
BIN := bin

.PHONY: all build test fuzz-seeds proto bench clean

all: build

build:
	$(GO) build -o $(BIN)/host ./host
	$(GO) build -o $(BIN)/plugins/mock ./plugins/mock

# Every test, including the fuzz targets' seed corpora (go test runs them as
# ordinary tests).
test: build
	$(GO) vet ./...
	$(GO) test -count=1 ./...

clean:
	rm -rf $(BIN)
