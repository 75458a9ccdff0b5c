package main

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
)

// TestRunningCalls: through the plugin protocol, a cancelled call that
// shares the damocles processor (c2 here: an interrupted pc2 is not
// retryable, see TestPC2Interrupted) stays in Info's running_calls — the host
// keeps its slot and locks — until the processor is killed after the
// cancel grace; then neither call is listed, and the other one has failed
// as retryable.
func TestRunningCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the plugin")
	}
	const grace = 2 * time.Second
	cmd := exec.Command(built(t, "damocles"), "-stage", "c2", "-cancel-grace", grace.String(), "-stop-grace", "1s", "--", built(t, "fakeproc"), "processor", "c2")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FAKEPROC_DELAY=1h"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pluginclient.Start(ctx, pluginclient.Config{Name: "damocles", Cmd: cmd, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill(context.Background())
	running := func() []string {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatalf("Info: %v", err)
		}
		return info.GetRunningCalls()
	}
	named := func(id string) context.Context { return metadata.AppendToOutgoingContext(ctx, sdk.CallMetadata, id) }
	other := make(chan error, 1)
	go func() {
		in, _ := inputs(t.TempDir())
		_, err := c.C2(named("other"), in.C2)
		other <- err
	}()
	cctx, ccancel := context.WithCancel(named("cancelled"))
	done := make(chan error, 1)
	go func() {
		in, _ := inputs(t.TempDir())
		_, err := c.C2(cctx, in.C2)
		done <- err
	}()
	waitFor(t, "both calls running", 10*time.Second, func() bool { return len(running()) == 2 })
	ccancel()
	<-done // the client side returns at once
	cancelled := time.Now()
	time.Sleep(grace / 2)
	if r := running(); !slices.Contains(r, "cancelled") {
		t.Errorf("%v into the grace, running_calls %v: want the cancelled call listed, its work goes on", grace/2, r)
	}
	waitFor(t, "no call running", grace+5*time.Second, func() bool { return len(running()) == 0 })
	if d := time.Since(cancelled); d < grace {
		t.Errorf("calls gone from running_calls %v after the cancel, want the grace %v first", d, grace)
	}
	err = <-other
	if !sdk.IsRetryable(err) || !strings.Contains(err.Error(), "whose call was cancelled") {
		t.Errorf("the other call: %v, want retryable, naming the cancelled request", err)
	}
}
