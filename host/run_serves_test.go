package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/sdk/client"
)

// BenchmarkRunServes50 is how soon `host run` answers on its socket with
// 50 processors configured, from the exec of the command to the first
// Status answer ("ns/op"; the target is 100 ms, slept in the same run as
// "target-ns/op"), and until every plugin runs ("running-ns/op",
// informative). The host must not make callers wait for its plugins'
// start to learn that it is there.
func BenchmarkRunServes50(b *testing.B) {
	src := fmt.Sprintf("sector_size = \"2KiB\"\nplugin \"mock\" {\n  path = %q\n  args = [\"-duration\", \"0s\"]\n}\n%s",
		runTestMock, strings.Repeat("processor \"c2\" {\n  plugin = \"mock\"\n}\n", 50))
	cfg := filepath.Join(b.TempDir(), "config.hcl")
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "hs")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	bin := runTestHostBinary(b)
	var serving, running, slept time.Duration
	for i := range b.N {
		socket := filepath.Join(sockDir, fmt.Sprintf("h%d.sock", i))
		args := []string{"run", "-config", cfg, "-socket", socket, "-name", fmt.Sprintf("hostbench-serve-%d-%d", os.Getpid(), i), "-log-level", "error"}
		if confine.Available() != nil {
			args = append(args, "-unconfined")
		}
		cmd := exec.Command(bin, args...)
		begin := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		first, all, err := pollStatus(socket, 50, 30*time.Second)
		if err == nil {
			serving += first.Sub(begin)
			running += all.Sub(begin)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if werr := cmd.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("host run: %v", werr)
		}
		if err != nil {
			b.Fatal(err)
		}
		t := time.Now()
		time.Sleep(100 * time.Millisecond)
		slept += time.Since(t)
	}
	n := float64(b.N)
	b.ReportMetric(float64(serving.Nanoseconds())/n, "ns/op")
	b.ReportMetric(float64(running.Nanoseconds())/n, "running-ns/op")
	b.ReportMetric(float64(slept.Nanoseconds())/n, "target-ns/op")
}

// pollStatus asks socket for Status every millisecond, as a client that
// dials in a loop would, and says when it first answered and when it
// first listed want processors all running.
func pollStatus(socket string, want int, d time.Duration) (first, all time.Time, err error) {
	deadline := time.Now().Add(d)
	var c *client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for time.Now().Before(deadline) {
		if c == nil {
			if _, err := os.Stat(socket); err == nil {
				if c, err = client.Dial(socket); err != nil {
					return first, all, err
				}
			}
		}
		if c != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			st, err := c.Status(ctx)
			cancel()
			if err == nil {
				now := time.Now()
				if first.IsZero() {
					first = now
				}
				up := 0
				for _, p := range st.GetProcessors() {
					if p.GetState() == "running" {
						up++
					}
				}
				if up == want {
					return first, now, nil
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	return first, all, fmt.Errorf("no host with %d processors running on %s after %s", want, socket, d)
}
