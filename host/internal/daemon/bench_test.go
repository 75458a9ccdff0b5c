package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sealhost/sealhost/sdk/pluginclient"
)

// BenchmarkTask measures what the host adds to one no-op stage task: a c2
// call through the socket, the dispatcher, a lock and supervise ("host"),
// against the same call made straight to the same plugin over go-plugin's
// connection ("direct", the baseline measured in the same run). Report
// host/direct as the ratio.
func BenchmarkTask(b *testing.B) {
	in := inputs(b, 1)
	b.Run("direct", func(b *testing.B) {
		cmd := exec.Command(mockBin, "-duration", "0s")
		cmd.Env = os.Environ()
		c, err := pluginclient.Start(context.Background(), pluginclient.Config{Name: "mock", Cmd: cmd, Logger: hclog.NewNullLogger()})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Kill(context.Background())
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			if _, err := c.C2(ctx, in.C2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("host", func(b *testing.B) {
		h := startHost(b, "-duration 0s", `
lock "gpu0" {
  capacity = 1
}
processor "c2" {
  plugin = "mock"
  locks  = ["gpu0"]
}
`, hostOptions{})
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			if _, err := h.c.C2(ctx, in.C2); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInFlight is the host's throughput with many tasks in flight:
// inflight goroutines each making no-op c2 calls through the socket, the
// dispatcher, a lock and supervise, to one processor that takes them all
// at once ("ns/op": wall time per task, the inverse of tasks/s), against
// the same calls made by as many goroutines straight to a plugin of the
// same binary over go-plugin's connection ("direct-ns/op"). The two run
// in alternating rounds of the same run, so a busy neighbour slows both.
// Issue 14: the host at 256 in flight keeps at least 0.6× the direct
// tasks/s (ns/op within 1/0.6 of direct-ns/op).
func BenchmarkInFlight(b *testing.B) {
	const most = 256
	in := inputs(b, 1)
	cmd := exec.Command(mockBin, "-duration", "0s")
	cmd.Env = os.Environ()
	direct, err := pluginclient.Start(context.Background(), pluginclient.Config{Name: "mock", Cmd: cmd, Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Kill(context.Background())
	h := startHost(b, "-duration 0s", fmt.Sprintf(`
lock "gpu0" {
  capacity = %[1]d
}
processor "c2" {
  plugin     = "mock"
  concurrent = %[1]d
  locks      = ["gpu0"]
}
`, most), hostOptions{})
	ctx := context.Background()
	viaDirect := func() error { _, err := direct.C2(ctx, in.C2); return err }
	viaHost := func() error { _, err := h.c.C2(ctx, in.C2); return err }
	for _, inflight := range []int{1, 16, most} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			// round makes n calls, inflight at a time, and returns its
			// wall time.
			round := func(n int, call func() error) time.Duration {
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, inflight)
				begin := time.Now()
				for range inflight {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(n) {
							if err := call(); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				d := time.Since(begin)
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				return d
			}
			chunk := max(8*inflight, 64)
			round(chunk, viaDirect) // connections, stacks and buffers warm, off the clock
			round(chunk, viaHost)
			b.ResetTimer()
			var dHost, dDirect time.Duration
			for done := 0; done < b.N; done += chunk {
				n := min(chunk, b.N-done)
				dHost += round(n, viaHost)
				dDirect += round(n, viaDirect)
			}
			nf := float64(b.N)
			b.ReportMetric(float64(dHost.Nanoseconds())/nf, "ns/op")
			b.ReportMetric(float64(dDirect.Nanoseconds())/nf, "direct-ns/op")
		})
	}
}
