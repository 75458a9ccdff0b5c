package daemon

import (
	"context"
	"os"
	"os/exec"
	"testing"

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
