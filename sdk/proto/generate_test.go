// Package proto_test checks that the committed protocol code matches its
// .proto files. (sdk/proto holds only the generator and this test; the
// protocols are its subpackages.)
package proto_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// protocVersionLine is the one line of generated code that names the
// protoc that produced it. Debian's protobuf-compiler is pinned only by
// the distribution release, so a different build of the same compiler is
// not staleness; everything else must match byte for byte.
var protocVersionLine = regexp.MustCompile(`(?m)^// \tprotoc +v.*$`)

// TestGeneratedCodeIsFresh regenerates every protocol's Go code with the
// pinned tools (generate.sh) into a temporary directory and fails if a
// committed file differs or is missing: someone edited a .proto without
// running `make proto`, or edited generated code by hand.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating protocol code installs the pinned protoc plugins; skipped in -short")
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed, so the committed generated code cannot be checked for staleness; install it with: apt-get install -y protobuf-compiler")
	}
	out := t.TempDir()
	if b, err := exec.Command("sh", "generate.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("sdk/proto/generate.sh: %v\n%s", err, b)
	}
	fresh, err := filepath.Glob(filepath.Join(out, "sdk", "proto", "*", "*.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := filepath.Glob(filepath.Join("*", "*.pb.go"))
	if len(fresh) == 0 || len(fresh) != len(committed) {
		t.Fatalf("generate.sh wrote %d .pb.go files, %d are committed: run `make proto` and commit the result", len(fresh), len(committed))
	}
	for _, f := range fresh {
		rel, _ := filepath.Rel(filepath.Join(out, "sdk", "proto"), f)
		t.Run(rel, func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(rel)
			if err != nil {
				t.Fatalf("sdk/proto/%s is not committed: run `make proto` and commit the result", rel)
			}
			if !bytes.Equal(protocVersionLine.ReplaceAll(want, nil), protocVersionLine.ReplaceAll(got, nil)) {
				t.Errorf("sdk/proto/%s is stale: run `make proto` and commit the result", rel)
			}
		})
	}
}
