package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// TestHostileConcurrent: 2000 requests at once, from several connections,
// against a running host with real mock plugins: a third valid, the rest
// hostile — every Blob field and response_blob_dir naming a victim file,
// folder, FIFO or link, strings over the bound, too many pieces, and a few
// 8 MiB messages. The host stays up (no plugin restarts, status answers, a
// valid call still works), every call gets an answer (valid ones succeed,
// hostile ones InvalidArgument with the Error detail naming the field),
// and nothing in the victims' folder changes: not one file read-and-
// removed, renamed, truncated or chmodded.
func TestHostileConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("2000 concurrent calls: skipped in -short")
	}
	h := startHost(t, "-duration 0s", `
processor "tree_d" {
  plugin = "mock"
}
lock "gpu0" {
  capacity = 1
}
processor "pc1" {
  plugin     = "mock"
  concurrent = 2
}
processor "pc2" {
  plugin = "mock"
  locks  = ["gpu0"]
}
processor "c1" {
  plugin = "mock"
}
processor "c2" {
  plugin     = "mock"
  concurrent = 4
  locks      = ["gpu0"]
}
`, hostOptions{})

	victims := t.TempDir()
	mustWrite := func(name, body string) string {
		p := filepath.Join(victims, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := mustWrite("victim", "precious")
	mustWrite("other", strings.Repeat("x", 4096))
	sub := filepath.Join(victims, "folder")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(victims, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(victims, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, victims)
	targets := []string{file, sub, fifo, link, victims}

	const n = 2000
	conns := make([]*client.Client, 8)
	for i := range conns {
		c, err := client.Dial(h.Socket())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	big := "/" + strings.Repeat("p", 5000)
	huge := "/" + strings.Repeat("h", 8<<20)
	type outcome struct {
		what string
		want codes.Code
		need string // in the error
		err  error
	}
	out := make([]outcome, n)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		c := conns[i%len(conns)]
		in := inputs(t, i)
		target := targets[i%len(targets)]
		blob := &sealv1.Blob{Path: target, Size: 8}
		var call func() error
		o := outcome{want: codes.InvalidArgument}
		switch i % 12 {
		case 0, 1, 2:
			o.what, o.want = "valid c2", codes.OK
			call = func() error { _, err := c.C2(ctx, in.C2); return err }
		case 3:
			o.what, o.want = "valid tree_d", codes.OK
			call = func() error { _, err := c.TreeD(ctx, in.TreeD); return err }
		case 4:
			o.what, o.need = "c2 blob at "+target, "phase1_output_blob is set"
			r := in.C2
			r.Phase1Output, r.Phase1OutputBlob = nil, blob
			call = func() error { _, err := c.C2(ctx, r); return err }
		case 5:
			o.what, o.need = "pc2 blob at "+target, "phase1_output_blob is set"
			r := in.PC2
			r.Phase1Output, r.Phase1OutputBlob = nil, blob
			call = func() error { _, err := c.PC2(ctx, r); return err }
		case 6:
			o.what, o.need = "pc1 response_blob_dir "+target, "response_blob_dir is set"
			r := in.PC1
			r.ResponseBlobDir = target
			call = func() error { _, err := c.PC1(ctx, r); return err }
		case 7:
			o.what, o.need = "c1 response_blob_dir "+target, "response_blob_dir is set"
			r := in.C1
			r.ResponseBlobDir = target
			call = func() error { _, err := c.C1(ctx, r); return err }
		case 8:
			o.what, o.need = "pc1 oversized staged_path", "staged_path is 5001 bytes long"
			r := in.PC1
			r.StagedPath = big
			call = func() error { _, err := c.PC1(ctx, r); return err }
		case 9:
			o.what, o.need = "c1 too many pieces", "pieces has 513 entries"
			r := in.C1
			for len(r.Pieces) <= maxList {
				r.Pieces = append(r.Pieces, r.Pieces[0])
			}
			call = func() error { _, err := c.C1(ctx, r); return err }
		case 10:
			o.what, o.need = "tree_d oversized piece cid", "piece_cid is 5000 bytes long"
			r := in.TreeD
			r.Pieces[0].PieceCid = big[1:]
			call = func() error { _, err := c.TreeD(ctx, r); return err }
		case 11:
			if i%120 == 11 {
				// A few messages of 8 MiB: within the message limit,
				// refused by the string bound, without the host falling
				// over.
				o.what, o.need = "pc2 8 MiB cache_path", "cache_path is 8388609 bytes long"
				r := in.PC2
				r.CachePath = huge
				call = func() error { _, err := c.PC2(ctx, r); return err }
			} else {
				o.what, o.need = "c2 blob and inline both", "phase1_output_blob is set"
				r := in.C2
				r.Phase1OutputBlob = blob
				call = func() error { _, err := c.C2(ctx, r); return err }
			}
		}
		out[i] = o
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].err = call()
		}()
	}
	wg.Wait()

	counts := map[codes.Code]int{}
	bad := 0
	for i, o := range out {
		code, clear := codes.OK, o.err == nil
		if o.err != nil {
			// The client reads the status and its Error detail into a
			// TaskError; a message is what a clear answer needs.
			var te *client.TaskError
			if errors.As(o.err, &te) {
				code = te.Code
				clear = te.Err != nil && te.Err.Message != "" && (o.need == "" || strings.Contains(te.Err.Message, o.need))
			} else {
				code = codes.Unknown
			}
		}
		counts[code]++
		if code != o.want || !clear {
			if bad++; bad <= 10 {
				t.Errorf("call %d (%s): %v (code %v), want %v naming %q", i, o.what, o.err, code, o.want, o.need)
			}
		}
	}
	if bad > 10 {
		t.Errorf("… %d calls in all answered wrongly", bad)
	}
	t.Logf("%d concurrent calls answered: %v", n, counts)

	if after := snapshot(t, victims); after != before {
		t.Errorf("the victims' folder changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	st := h.status(t)
	for _, p := range st.GetProcessors() {
		if p.GetState() != "running" || p.GetRestarts() != 0 {
			t.Errorf("processor %s after the storm: %s, %d restarts (%s)", p.GetId(), p.GetState(), p.GetRestarts(), p.GetLastError())
		}
	}
	if _, err := h.c.C2(ctx, inputs(t, n+1).C2); err != nil {
		t.Errorf("a valid call after the storm: %v", err)
	}
}

// snapshot describes every entry below dir (name, type, mode, size,
// modification time, content of small files), to compare before and after.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d %d", path, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(path)
			line += fmt.Sprintf(" %q", b[:min(len(b), 16)])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
