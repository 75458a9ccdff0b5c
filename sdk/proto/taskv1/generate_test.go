package taskv1_test

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

// TestGeneratedCodeIsFresh regenerates the task API's Go code with the
// pinned tools (sdk/proto/generate.sh) into a temporary directory and
// fails if the committed files differ: someone edited task.proto without
// running `make proto`, or edited generated code by hand.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating protocol code installs the pinned protoc plugins; skipped in -short")
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed, so the committed generated code cannot be checked for staleness; install it with: apt-get install -y protobuf-compiler")
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "../generate.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sdk/proto/generate.sh: %v\n%s", err, b)
	}
	for _, name := range []string{"task.pb.go", "task_grpc.pb.go"} {
		fresh, err := os.ReadFile(filepath.Join(out, "sdk", "proto", "taskv1", name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fresh = protocVersionLine.ReplaceAll(fresh, nil)
		committed = protocVersionLine.ReplaceAll(committed, nil)
		if !bytes.Equal(fresh, committed) {
			t.Errorf("sdk/proto/taskv1/%s is stale: run `make proto` and commit the result", name)
		}
	}
}
