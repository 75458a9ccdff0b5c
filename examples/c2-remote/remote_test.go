package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// service is a proving service for tests: it answers with a proof derived
// from the request after failing the first `fail` requests with status
// failStatus, or sleeping `stall` on each of them.
type service struct {
	fail       int32
	failStatus int
	stall      time.Duration
	calls      atomic.Int32
	keys       []string
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.calls.Add(1)
	s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	var req ProveRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.C1Output) == 0 {
		http.Error(w, "body is not a ProveRequest with a c1_output", http.StatusBadRequest)
		return
	}
	if n <= s.fail {
		if s.stall > 0 {
			select {
			case <-time.After(s.stall):
			case <-r.Context().Done():
			}
			return
		}
		http.Error(w, "prover busy", s.failStatus)
		return
	}
	proof := make([]byte, 192)
	for i := range proof {
		proof[i] = req.C1Output[i%len(req.C1Output)] ^ byte(i)
	}
	json.NewEncoder(w).Encode(ProveResponse{Proof: proof})
}

func TestProve(t *testing.T) {
	req := ProveRequest{ProofType: 5, SectorNum: 7, MinerID: 1000, C1Output: []byte("c1 output")}
	for _, tc := range []struct {
		name      string
		svc       *service
		attempts  int
		wantCalls int32
		wantErr   string // empty: success
		retryable bool
	}{
		{name: "healthy", svc: &service{}, attempts: 3, wantCalls: 1},
		{name: "flaky 503 then ok", svc: &service{fail: 2, failStatus: 503}, attempts: 3, wantCalls: 3},
		{name: "429 then ok", svc: &service{fail: 1, failStatus: 429}, attempts: 3, wantCalls: 2},
		{name: "down for good", svc: &service{fail: 99, failStatus: 500}, attempts: 3, wantCalls: 3,
			wantErr: `after 3 attempt(s)`, retryable: true},
		{name: "rejects request", svc: &service{fail: 99, failStatus: 422}, attempts: 3, wantCalls: 1,
			wantErr: `422 Unprocessable Entity: "prover busy"`, retryable: false},
		{name: "stalls then ok", svc: &service{fail: 1, stall: time.Second}, attempts: 2, wantCalls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.svc)
			defer srv.Close()
			p := &Prover{URL: srv.URL, Attempts: tc.attempts, TryTimeout: 200 * time.Millisecond,
				Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
			proof, err := p.Prove(context.Background(), req)
			if got := tc.svc.calls.Load(); got != tc.wantCalls {
				t.Errorf("service saw %d requests, want %d", got, tc.wantCalls)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Prove: %v, want a proof", err)
				}
				if len(proof) != 192 || proof[1] != req.C1Output[1]^1 {
					t.Errorf("proof = %x, want the service's 192 bytes", proof)
				}
				return
			}
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("Prove error = %v (%T), want a *RemoteError", err, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if re.Retryable != tc.retryable {
				t.Errorf("Retryable = %v, want %v", re.Retryable, tc.retryable)
			}
			for _, k := range tc.svc.keys {
				if k != "c2-f01000-7" {
					t.Errorf("Idempotency-Key = %q, want c2-f01000-7 on every try", k)
				}
			}
		})
	}
}

func TestProveHonoursCancel(t *testing.T) {
	svc := &service{fail: 99, stall: time.Minute}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	p := &Prover{URL: srv.URL, Attempts: 10, TryTimeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := p.Prove(ctx, ProveRequest{C1Output: []byte("x")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Prove error = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Prove returned %v after cancel, want promptly", d)
	}
}

func TestProveRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "later", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(ProveResponse{Proof: []byte{1}})
	}))
	defer srv.Close()
	p := &Prover{URL: srv.URL, Backoff: time.Millisecond, MaxBackoff: 2 * time.Second}
	start := time.Now()
	if _, err := p.Prove(context.Background(), ProveRequest{C1Output: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("second try came after %v, want the 1s the service asked for", d)
	}
}

func TestProveBadAnswers(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not json", "<html>", "not a ProveResponse"},
		{"no proof", "{}", "without a proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			p := &Prover{URL: srv.URL, Attempts: 2, Backoff: time.Millisecond}
			_, err := p.Prove(context.Background(), ProveRequest{C1Output: []byte("x")})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Prove error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
