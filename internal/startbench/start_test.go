package startbench

import (
	"context"
	"errors"
	"fmt"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/sdk/pluginclient"
)

var mock string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "startbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mock = filepath.Join(dir, "mock")
	if out, err := exec.Command("go", "build", "-o", mock, "../../plugins/mock").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building plugins/mock: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// execOnce runs mock -help to its exit: process start and Go runtime
// start-up of the very binary the plugin benchmark starts.
func execOnce(tb testing.TB) {
	err := exec.Command(mock, "-help").Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		tb.Fatal(err)
	}
}

// startOnce starts the mock as a plugin and returns it serving.
func startOnce(tb testing.TB) *pluginclient.Client {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pluginclient.Start(ctx, pluginclient.Config{Name: "mock", Cmd: exec.Command(mock), Logger: hclog.NewNullLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func kill(tb testing.TB, c *pluginclient.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Kill(ctx); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkStart: "exec" is the baseline, "plugin" the start of a serving
// plugin (its stop is off the clock). plugin reports "x-exec", its ns/op
// over exec's.
func BenchmarkStart(b *testing.B) {
	var base time.Duration
	b.Run("exec", func(b *testing.B) {
		execOnce(b) // page cache warm, off the clock
		b.ResetTimer()
		for range b.N {
			execOnce(b)
		}
		base = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("plugin", func(b *testing.B) {
		kill(b, startOnce(b))
		b.ResetTimer()
		for range b.N {
			c := startOnce(b)
			b.StopTimer()
			kill(b, c)
			b.StartTimer()
		}
		if base > 0 {
			b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(base), "x-exec")
		}
	})
}

// TestStartServes keeps the benchmark honest: the plugin it starts is up
// and answers Info as the mock.
func TestStartServes(t *testing.T) {
	c := startOnce(t)
	defer kill(t, c)
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The mock serves every stage the protocol has.
	if want := len(sealv1.Stage_name) - 1; info.GetName() != "mock" || len(info.GetStages()) != want {
		t.Errorf("Info = %v, want the mock serving all %d stages", info, want)
	}
}
