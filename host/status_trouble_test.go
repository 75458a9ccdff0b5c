package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/client"
)

// TestSocketTroubleWords: what `host status` says when its call fails,
// by what it met. A host in its teardown answers that it is shutting down,
// and status says so rather than asking whether a host runs.
func TestSocketTroubleWords(t *testing.T) {
	dir, err := os.MkdirTemp("", "st")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	shutting := &client.TaskError{Stage: "status", Code: codes.Unavailable,
		Err: &sdk.Error{Message: "host sealhost is shutting down and takes no calls; retry once a host runs again", Retryable: true}}
	for _, tc := range []struct {
		name, path string
		err        error
		want, not  string
	}{
		{"a host shutting down", live, shutting, "the host on " + live + " answered: host sealhost is shutting down", "is `host run` running"},
		{"no socket", filepath.Join(dir, "none.sock"), errors.New("connection refused"), "there is no socket there", "answered:"},
		{"a socket that does not answer", live, &client.TaskError{Stage: "status", Code: codes.Unavailable, Err: &sdk.Error{Message: "connection reset"}}, "is `host run` running", "answered:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := socketTrouble(tc.path, tc.err)
			if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
				t.Errorf("socketTrouble = %q, want %q and not %q", got, tc.want, tc.not)
			}
		})
	}
}
