package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk/plugintest"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// provingService is a stand-in for a remote prover on loopback. Its path
// picks a behaviour, so the kit's environment knobs can select one:
// /ok proves, /slow never answers, /busy always answers 503.
type provingService struct {
	cancelled atomic.Int32 // /slow requests whose client went away
}

func (s *provingService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req ProveRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "not a ProveRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/slow":
		<-r.Context().Done()
		s.cancelled.Add(1)
		return
	case "/busy":
		http.Error(w, "all GPUs busy", http.StatusServiceUnavailable)
		return
	}
	partitions := 1
	switch {
	case req.ProofType < 0 || req.ProofType > 19:
		http.Error(w, "unknown proof type", http.StatusUnprocessableEntity)
		return
	case req.ProofType%5 >= 3:
		partitions = 10
	}
	proof := make([]byte, 192*partitions)
	for i := range proof {
		proof[i] = req.C1Output[i%len(req.C1Output)]
	}
	json.NewEncoder(w).Encode(ProveResponse{Proof: proof})
}

func TestConformance(t *testing.T) {
	svc := &provingService{}
	srv := httptest.NewServer(svc) // listens on 127.0.0.1 only
	defer srv.Close()
	plugintest.Run(t, plugintest.Config{
		Build:   func(t testing.TB) string { return plugintest.Build(t, ".") },
		Args:    []string{"-url", srv.URL + "/ok", "-attempts", "2", "-backoff", "10ms", "-max-backoff", "20ms"},
		Name:    "c2-remote",
		Version: "0.1.0",
		Stages:  []sealv1.Stage{sealv1.Stage_STAGE_C2},
		SlowEnv: []string{"C2_REMOTE_URL=" + srv.URL + "/slow"},
		FailEnv: []string{"C2_REMOTE_URL=" + srv.URL + "/busy"},
	})
	// The cancel check cancelled the host's call: the plugin must have
	// dropped its request to the service too.
	deadline := time.Now().Add(2 * time.Second)
	for svc.cancelled.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the service never saw the cancelled C2 request go away: the plugin ignored ctx")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		env, want string
	}{
		{[]string{"-url", "http://p:8080/v1/c2"}, "", ""},
		{nil, "https://q/v1/c2", ""},
		{[]string{"-url", "http://p"}, "http://env", ""},
		{nil, "", "want the service's http(s) endpoint"},
		{[]string{"-url", "p:8080"}, "", "want the service's http(s) endpoint"},
		{[]string{"-url", "http://p", "-attempts", "0"}, "", "-attempts ≥ 1"},
		{[]string{"-url", "http://p", "-backoff", "1m", "-max-backoff", "1s"}, "", "-max-backoff ≥ -backoff"},
	} {
		p, err := parseFlags(tc.args, tc.env)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("parseFlags(%q, env %q): %v", tc.args, tc.env, err)
		case tc.want == "" && tc.env != "" && p.URL != tc.env:
			t.Errorf("parseFlags(%q, env %q) URL = %s, want the env's", tc.args, tc.env, p.URL)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("parseFlags(%q, env %q) = %v, want an error containing %q", tc.args, tc.env, err, tc.want)
		}
	}
}
