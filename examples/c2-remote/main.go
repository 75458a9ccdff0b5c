// Command c2-remote is a sealhost plugin that serves C2 by sending it to a
// remote proving service over HTTP. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

func main() {
	p, err := parseFlags(os.Args[1:], os.Getenv("C2_REMOTE_URL"))
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "c2-remote: %v\n", err)
		os.Exit(2)
	}
	sdk.Serve(sdk.Plugin{Name: "c2-remote", Version: "0.1.0", C2: &c2{p: p}})
}

// parseFlags reads the plugin block's args; C2_REMOTE_URL, set in a
// processor's env, overrides -url so processors can use different services.
func parseFlags(args []string, envURL string) (*Prover, error) {
	fs := flag.NewFlagSet("c2-remote", flag.ContinueOnError)
	p := &Prover{}
	u := fs.String("url", "", "the proving service's endpoint, e.g. http://prover:8080/v1/c2 (env C2_REMOTE_URL overrides)")
	fs.IntVar(&p.Attempts, "attempts", 4, "tries per C2 before giving up")
	fs.DurationVar(&p.TryTimeout, "try-timeout", 30*time.Minute, "bound on one try, answer included")
	fs.DurationVar(&p.Backoff, "backoff", time.Second, "first pause between tries; doubles each time")
	fs.DurationVar(&p.MaxBackoff, "max-backoff", 30*time.Second, "longest pause between tries")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if envURL != "" {
		*u = envURL
	}
	parsed, err := url.Parse(*u)
	if *u == "" || err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return nil, fmt.Errorf("-url %q: want the service's http(s) endpoint, e.g. -url http://prover:8080/v1/c2", *u)
	}
	if p.Attempts < 1 || p.TryTimeout <= 0 || p.Backoff <= 0 || p.MaxBackoff < p.Backoff {
		return nil, fmt.Errorf("want -attempts ≥ 1, positive -try-timeout and -backoff, and -max-backoff ≥ -backoff")
	}
	p.URL = *u
	return p, nil
}

type c2 struct{ p *Prover }

func (c *c2) C2(ctx context.Context, req *sealv1.C2Request) (*sealv1.C2Response, error) {
	s := req.GetSector()
	if pt := s.GetRegisteredSealProof(); pt < 0 || pt > 19 {
		return nil, sdk.Errorf("registered_seal_proof %d is not a seal proof (want 0..19)", pt)
	}
	if len(req.GetPhase1Output()) == 0 {
		return nil, sdk.Errorf("phase1_output is empty: pass C1's output")
	}
	sdk.Logger(ctx).Info("sending C2", "url", c.p.URL, "sector", s.GetSectorNumber(), "bytes", len(req.GetPhase1Output()))
	proof, err := c.p.Prove(ctx, ProveRequest{
		ProofType: s.GetRegisteredSealProof(), SectorNum: s.GetSectorNumber(), MinerID: s.GetMinerId(),
		C1Output: req.GetPhase1Output(),
	})
	var re *RemoteError
	switch {
	case err == nil:
		return &sealv1.C2Response{Proof: proof}, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, &re):
		return nil, &sdk.Error{Message: err.Error(), Retryable: re.Retryable}
	}
	return nil, err
}
