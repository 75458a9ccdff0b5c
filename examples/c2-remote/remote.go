package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// ProveRequest is the JSON body POSTed to the proving service. []byte
// fields travel base64-encoded, as encoding/json does.
type ProveRequest struct {
	ProofType int64  `json:"proof_type"`
	SectorNum uint64 `json:"sector_num"`
	MinerID   uint64 `json:"miner_id"`
	C1Output  []byte `json:"c1_output"`
}

// ProveResponse is the service's answer to a successful request.
type ProveResponse struct {
	Proof []byte `json:"proof"`
}

// Prover sends C2 work to a remote proving service:
//
//	POST {URL}  Content-Type: application/json  body: ProveRequest
//	200 → ProveResponse; 4xx → the request is wrong, never retried;
//	5xx, 429, timeouts and connection errors → retried with backoff.
//
// Each request carries an Idempotency-Key naming the sector, so a service
// may answer a retry from the work it already did.
type Prover struct {
	URL    string
	Client *http.Client // nil: a client without an overall timeout
	// Attempts bounds the tries per Prove call (default 4).
	Attempts int
	// TryTimeout bounds one try, from sending to reading the whole answer
	// (default 30 minutes: a 32GiB C2 takes ~15 minutes on a GPU).
	TryTimeout time.Duration
	// Backoff is the first pause between tries; it doubles up to
	// MaxBackoff (defaults 1s and 30s). A Retry-After header in seconds
	// replaces it when larger, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
}

// RemoteError is a failed Prove. Retryable tells the host whether trying
// the task again later can help: a service that was down can come back,
// a request it rejected will be rejected again.
type RemoteError struct {
	Attempts  int
	Status    int // last HTTP status, 0 when no answer came
	Retryable bool
	Err       error
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("remote C2 failed after %d attempt(s): %v", e.Attempts, e.Err)
}

func (e *RemoteError) Unwrap() error { return e.Err }

// maxBody bounds what we read of an answer: a proof is 1920 bytes, and
// an error page is only quoted.
const maxBody = 1 << 20

// Prove sends req and returns the proof.
func (p *Prover) Prove(ctx context.Context, req ProveRequest) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	attempts := defaultInt(p.Attempts, 4)
	backoff := defaultDur(p.Backoff, time.Second)
	maxBackoff := defaultDur(p.MaxBackoff, 30*time.Second)
	var last *RemoteError
	for try := 1; ; try++ {
		proof, status, wait, err := p.try(ctx, body, req)
		if err == nil {
			return proof, nil
		}
		retryable := status == 0 || status == http.StatusTooManyRequests || status >= 500
		last = &RemoteError{Attempts: try, Status: status, Retryable: retryable, Err: err}
		if ctx.Err() != nil {
			// The host cancelled: report that, not the symptom it caused.
			return nil, ctx.Err()
		}
		if !retryable || try >= attempts {
			return nil, last
		}
		pause := backoff
		if wait > pause {
			pause = wait
		}
		pause = min(pause, maxBackoff)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// try makes one request. It returns the HTTP status (0 when none came)
// and the pause the service asked for with Retry-After.
func (p *Prover) try(ctx context.Context, body []byte, req ProveRequest) ([]byte, int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultDur(p.TryTimeout, 30*time.Minute))
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		// A malformed URL is a configuration mistake: 400 marks it final.
		return nil, http.StatusBadRequest, 0, fmt.Errorf("bad service URL %q: %w", p.URL, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Idempotency-Key", fmt.Sprintf("c2-f0%d-%d", req.MinerID, req.SectorNum))
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		wait := time.Duration(0)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		return nil, resp.StatusCode, wait, fmt.Errorf("%s answered %s: %s", p.URL, resp.Status, quote(b))
	}
	var out ProveResponse
	if err := json.Unmarshal(b, &out); err != nil {
		// A 200 with a body we cannot read is the service's fault.
		return nil, http.StatusBadGateway, 0, fmt.Errorf("%s answered 200 with a body that is not a ProveResponse: %v", p.URL, err)
	}
	if len(out.Proof) == 0 {
		return nil, http.StatusBadGateway, 0, errors.New(p.URL + " answered 200 without a proof")
	}
	return out.Proof, 0, 0, nil
}

func quote(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = append(b[:200:200], "…"...)
	}
	return strconv.Quote(string(b))
}

func defaultInt(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func defaultDur(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}
