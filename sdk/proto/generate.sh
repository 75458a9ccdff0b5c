#!/bin/sh
# Regenerates the Go code for sdk/proto/*/*.proto with pinned tools.
#
# Usage: sdk/proto/generate.sh [OUTDIR]
#   OUTDIR defaults to the repository root (regenerate in place); the
#   staleness test passes a temporary directory and compares.
#
# protoc comes from Debian's protobuf-compiler package; the two Go plugins
# are installed at exact versions from the Go proxy into a throwaway GOBIN,
# so the output does not depend on whatever happens to be on PATH.
set -eu

PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v protoc >/dev/null 2>&1; then
	echo "generate.sh: protoc not found; install it with: apt-get install -y protobuf-compiler" >&2
	exit 1
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install "$PROTOC_GEN_GO"
GOBIN=$bin go install "$PROTOC_GEN_GO_GRPC"

cd "$root"
for proto in sdk/proto/*/*.proto; do
	protoc \
		--plugin=protoc-gen-go="$bin/protoc-gen-go" \
		--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
		-I . \
		--go_out="$out" --go_opt=paths=source_relative \
		--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
		"$proto"
done
