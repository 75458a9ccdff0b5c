package pluginclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestSDKDocExample builds the plugin printed in package sdk's doc.go and
// runs it through the host's client, so the documentation's example is
// known to compile and to behave as its comments say.
func TestSDKDocExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	doc, err := os.ReadFile("../doc.go")
	if err != nil {
		t.Fatal(err)
	}
	src := extractExample(t, string(doc))

	// An overlay places the example inside this module without writing
	// into the source tree.
	dir := t.TempDir()
	mainGo := filepath.Join(dir, "main.go")
	if err := os.WriteFile(mainGo, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgDir, err := filepath.Abs("../internal/docexample")
	if err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(pkgDir, "main.go"): mainGo}})
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "example-c2")
	build := exec.Command("go", "build", "-overlay", overlayFile, "-o", bin, "./internal/docexample")
	build.Dir = ".." // the sdk module
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the example in sdk/doc.go does not build: %v\n%s\n%s", err, out, src)
	}

	c := start(t, "", pluginclient.Config{Cmd: exec.Command(bin)})
	info, err := c.Info(context.Background())
	if err != nil || info.GetName() != "example-c2" || len(info.GetStages()) != 1 || info.GetStages()[0] != sealv1.Stage_STAGE_C2 {
		t.Fatalf("Info = %v, %v", info, err)
	}
	in := []byte("c1 output")
	resp, err := c.C2(context.Background(), &sealv1.C2Request{Sector: sector(5), Phase1Output: in})
	if sum := sha256.Sum256(in); err != nil || !bytes.Equal(resp.GetProof(), sum[:]) {
		t.Errorf("C2 = %v, %v", resp, err)
	}
	_, err = c.C2(context.Background(), &sealv1.C2Request{Sector: sector(5)})
	var se *sdk.Error
	if !errors.As(err, &se) || se.Retryable || se.Message != "c2: empty phase1_output for sector 5" {
		t.Errorf("C2 with no input: %v", err)
	}
}

// extractExample returns the tab-indented Go program that follows "A
// complete plugin" in a doc comment, without the comment markers.
func extractExample(t *testing.T, doc string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "// A complete plugin")
	if !ok {
		t.Fatal(`sdk/doc.go has no "A complete plugin" example`)
	}
	var b strings.Builder
	started := false
	for _, line := range strings.Split(rest, "\n")[1:] {
		switch {
		case strings.HasPrefix(line, "//\t"):
			started = true
			b.WriteString(strings.TrimPrefix(line, "//\t") + "\n")
		case line == "//" && started:
			b.WriteString("\n")
		case line == "//":
		default:
			if started {
				return b.String()
			}
		}
		if started && strings.HasPrefix(line, "// #") {
			return b.String()
		}
	}
	if !started {
		t.Fatal("sdk/doc.go's example has no code")
	}
	return b.String()
}
