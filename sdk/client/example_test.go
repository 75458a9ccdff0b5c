package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// A sealing manager sends one stage task to the host on this machine and
// retries what the host says may succeed later (a plugin that died, a host
// restarting).
func Example() {
	c, err := client.Dial(client.DefaultSocket("sealhost"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	req := &sealv1.PC2Request{
		Sector:       &sealv1.Sector{RegisteredSealProof: 8, MinerId: 1000, SectorNumber: 42},
		Phase1Output: []byte("…PC1's output…"),
		CachePath:    "/data/cache/s-t01000-42",
		SealedPath:   "/data/sealed/s-t01000-42",
	}
	for attempt := 1; ; attempt++ {
		// The deadline covers the wait for a processor too.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
		var rep client.Report
		resp, err := c.PC2(ctx, req, client.WithReport(&rep))
		cancel()
		if err == nil {
			fmt.Printf("comm_r %s from %s (waited %s, ran %s)\n", resp.GetSealedCid(), rep.Processor, rep.Waited, rep.Ran)
			return
		}
		var te *client.TaskError
		if !sdk.IsRetryable(err) || attempt == 3 || !errors.As(err, &te) {
			log.Fatalf("pc2 of sector 42: %v", err)
		}
		log.Printf("pc2 of sector 42, attempt %d: %v (code %v); retrying", attempt, err, te.Code)
	}
}
