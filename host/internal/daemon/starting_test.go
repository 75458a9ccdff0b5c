package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/supervise"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// TestServesWhileStarting: the task API answers while the processors are
// still being set up (here 20 plugin digests to check, twice each, before
// their plugins start): status lists every processor as starting before
// any plugin was launched, and a task sent then waits for its processor
// and succeeds. Before, the socket answered only after every processor's
// cgroup was made and digest checked, while the first plugins were
// already starting (50 processors: 2 s of a host that did not answer).
func TestServesWhileStarting(t *testing.T) {
	const n = 20
	f, err := os.Open(mockBin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	_, err = io.Copy(sum, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := fmt.Sprintf("sector_size = \"2KiB\"\nplugin \"mock\" {\n  path   = %q\n  sha256 = %q\n}\n%s",
		mockBin, hex.EncodeToString(sum.Sum(nil)), strings.Repeat("processor \"c2\" {\n  plugin = \"mock\"\n}\n", n))
	file := filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(file)
	if diags.HasErrors() {
		t.Fatalf("test config: %v", diags)
	}
	sock := filepath.Join(dir, "s")
	// Launches wait at the gate until the first status has answered (or
	// 10 s pass): a host that served only after its plugins started would
	// answer late with them running, and fail below; without the gate a
	// loaded machine could run the (instant) launches before this test's
	// first poll and fail a host that serves at once.
	var launched atomic.Int64
	gate := make(chan struct{})
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	defer open()
	type started struct {
		h   *Host
		err error
	}
	done := make(chan started, 1)
	go func() {
		h, err := Start(Options{
			Config:     cfg,
			Instance:   fmt.Sprintf("%s-st-%d", testInstance, instanceSeq.Add(1)),
			Socket:     sock,
			Unconfined: true,
			Logger:     hclog.NewNullLogger(),
			Backoff:    fastBackoff,
			launch: func(string) func(context.Context, string) (supervise.Conn, error) {
				return func(context.Context, string) (supervise.Conn, error) {
					select {
					case <-gate:
					case <-time.After(10 * time.Second):
					}
					launched.Add(1)
					return newEchoPlugin(sealv1.Stage_STAGE_C2), nil
				}
			},
		})
		done <- started{h, err}
	}()
	var h *Host
	defer func() {
		if h == nil {
			if s := <-done; s.err == nil {
				h = s.h
			}
		}
		if h != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := h.Shutdown(ctx, 0); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		}
	}()

	// The first answer, polled as a client that dials in a loop would.
	var c *client.Client
	var st *taskv1.StatusResponse
	var launchedThen int64
	deadline := time.Now().Add(30 * time.Second)
	for st == nil {
		if time.Now().After(deadline) {
			t.Fatal("the socket never answered")
		}
		select {
		case s := <-done:
			h = s.h
			if s.err != nil {
				t.Fatalf("Start: %v", s.err)
			}
		default:
		}
		if c == nil {
			if _, err := os.Stat(sock); err == nil {
				if c, err = client.Dial(sock); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
		}
		if c != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			st, _ = c.Status(ctx)
			cancel()
			launchedThen = launched.Load()
		}
		time.Sleep(time.Millisecond)
	}
	open()
	if launchedThen != 0 {
		t.Errorf("status first answered after %d plugins were launched, want before any", launchedThen)
	}
	if len(st.GetProcessors()) != n {
		t.Fatalf("status lists %d processors, want %d", len(st.GetProcessors()), n)
	}
	for _, p := range st.GetProcessors() {
		if p.GetState() != string(supervise.Starting) {
			t.Errorf("processor %s is %q in the first status, want starting", p.GetId(), p.GetState())
		}
	}

	// A task sent now waits for a processor rather than being refused.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.C2(ctx, inputs(t, 1).C2); err != nil {
		t.Errorf("c2 sent while the host started: %v", err)
	}
	if launched.Load() == 0 {
		t.Error("the task succeeded with no plugin launched")
	}
}
