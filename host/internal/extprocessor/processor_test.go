package extprocessor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/seal"
	"github.com/sealhost/sealhost/internal/damocles"
	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// fakeHost answers tasks like the mock: a tree_d for a staged file named
// "slow-*" waits until release is closed; "fail-*" fails.
type fakeHost struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
	pc2     func(*sealv1.PC2Request) (resp *sealv1.PC2Response, started bool, err error)
}

func (f *fakeHost) TreeD(ctx context.Context, r *sealv1.TreeDRequest) (*sealv1.TreeDResponse, client.Report, error) {
	resp, err := f.treeD(ctx, r)
	return resp, client.Report{Processor: "tree_d.0"}, err
}

func (f *fakeHost) treeD(ctx context.Context, r *sealv1.TreeDRequest) (*sealv1.TreeDResponse, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	base := filepath.Base(r.GetStagedPath())
	if strings.HasPrefix(base, "slow-") {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, &client.TaskError{Stage: "tree_d", Err: &sdk.Error{Message: ctx.Err().Error(), Retryable: true}}
		}
	}
	if strings.HasPrefix(base, "fail-") {
		return nil, &client.TaskError{Stage: "tree_d", Err: &sdk.Error{Message: "tree_d: staged file is short"}}
	}
	return &sealv1.TreeDResponse{UnsealedCid: "baga6ea4seaqx"}, nil
}

func (f *fakeHost) PC1(context.Context, *sealv1.PC1Request) (*sealv1.PC1Response, client.Report, error) {
	return nil, client.Report{}, errors.New("unused")
}

func (f *fakeHost) PC2(ctx context.Context, r *sealv1.PC2Request) (*sealv1.PC2Response, client.Report, error) {
	resp, started, err := f.pc2(r)
	var rep client.Report
	if started {
		rep.Processor = "pc2.0"
	}
	return resp, rep, err
}

func (f *fakeHost) C1(context.Context, *sealv1.C1Request) (*sealv1.C1Response, client.Report, error) {
	return nil, client.Report{}, errors.New("unused")
}

func (f *fakeHost) C2(context.Context, *sealv1.C2Request) (*sealv1.C2Response, client.Report, error) {
	return nil, client.Report{}, errors.New("unused")
}

func (f *fakeHost) Status(context.Context) (*taskv1.StatusResponse, error) {
	return &taskv1.StatusResponse{Instance: "fake", Processors: []*taskv1.Processor{{Id: "tree_d.0", Stage: sealv1.Stage_STAGE_TREE_D, State: "running"}}}, nil
}

// session runs Run on pipes and collects answers by id.
type session struct {
	t     *testing.T
	in    *io.PipeWriter
	out   chan string
	log   *strings.Builder
	logMu *sync.Mutex
	done  chan error
}

type syncWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func start(t *testing.T, stage string, tasks Tasks, opts ...func(*Options)) *session {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: make(chan string, 100), log: &strings.Builder{}, logMu: &sync.Mutex{}, done: make(chan error, 1)}
	go func() {
		// Read stdout all along, as the worker does.
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.out <- sc.Text()
		}
		close(s.out)
	}()
	o := Options{Stage: stage, Tasks: tasks, Socket: "/fake.sock", Stdin: inR, Stdout: outW, Log: syncWriter{s.logMu, s.log},
		Environ: []string{"VC_CG_NAME=grp/sub-pc2-1-0", "VC_CG_CPUSET=0-3", "VENUS_WORKER_NUMA_PREFERRED=1", "PATH=/bin"}}
	for _, f := range opts {
		f(&o)
	}
	go func() { s.done <- Run(context.Background(), o); outW.Close() }()
	if first := <-s.out; first != stage+" processor ready" {
		t.Fatalf("first line %q, want the ready line", first)
	}
	t.Cleanup(func() { inW.Close() })
	return s
}

func (s *session) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

// next reads one answer.
func (s *session) next() damocles.Response {
	s.t.Helper()
	var line string
	select {
	case l, ok := <-s.out:
		if !ok {
			s.t.Fatalf("stdout ended; log:\n%s", s.logText())
		}
		line = l
	case <-time.After(10 * time.Second):
		s.t.Fatalf("no answer in 10s; log:\n%s", s.logText())
	}
	r, err := damocles.DecodeResponse([]byte(line))
	if err != nil {
		s.t.Fatalf("answer %q: %v", line, err)
	}
	return r
}

func (s *session) logText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

func treeD(staged string) string {
	return fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1_1","staged_file":%q,"cache_dir":"/d/prepared/s-t01000-1"}`, staged)
}

func treeDFor(staged, cache string) string {
	return fmt.Sprintf(`{"registered_proof":"StackedDrg2KiBV1_1","staged_file":%q,"cache_dir":%q}`, staged, cache)
}

func TestAnswers(t *testing.T) {
	h := &fakeHost{release: make(chan struct{})}
	s := start(t, "tree_d", h)
	s.send(`{"id":10,"task":` + treeDFor("slow-a", "/c/s-t01000-10") + `}`)
	s.send(`this is not JSON`)
	s.send(`{"id":11,"task":{"registered_proof":"StackedDrg2KiBV1_1"}}`)
	s.send(`{"id":12,"task":{"registered_pro`)
	s.send(`{"task":{}}`)
	s.send(``)
	s.send(`{"id":13,"task":` + treeDFor("ok", "/c/s-t01000-13") + `}`)
	s.send(`{"id":14,"task":` + treeDFor("fail-x", "/c/s-t01000-14") + `}`)
	s.send(`{"id":15,"task":` + treeDFor("slow-b", "/c/s-t01000-10") + `}`)
	want := map[uint64]string{
		11: "request 11: tree_d task: staged_file is missing",
		12: "request 12 cannot be read: cut short",
		13: "",
		14: "tree_d: staged file is short",
		15: "request 10 for the same sector files (/c/s-t01000-10) is still running",
	}
	got := map[uint64]damocles.Response{}
	for range want {
		r := s.next()
		got[r.ID] = r
	}
	close(h.release)
	got[10] = s.next()
	want[10] = ""
	for id, w := range want {
		r := got[id]
		out, err := r.Result()
		switch {
		case w == "" && (err != nil || string(out) != "true"):
			t.Errorf("request %d: %s, %v; want true", id, out, err)
		case w != "" && (err == nil || !strings.Contains(err.Error(), w)):
			t.Errorf("request %d: err %v, want %q", id, err, w)
		}
	}
	s.in.Close()
	if err := <-s.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	log := s.logText()
	for _, w := range []string{"ignoring VC_CG_NAME=grp/sub-pc2-1-0", "ignoring VC_CG_CPUSET=0-3", "ignoring VENUS_WORKER_NUMA_PREFERRED=1",
		`line 2: skipped, no id to answer`, `line 5: skipped, no id to answer`, "line 6: skipped: empty"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

// TestEOFCancels: stdin's end cancels what runs, and Run returns.
func TestEOFCancels(t *testing.T) {
	h := &fakeHost{release: make(chan struct{})}
	s := start(t, "tree_d", h)
	s.send(`{"id":1,"task":` + treeD("slow-a") + `}`)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		n := h.calls
		h.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task never reached the host")
		}
	}
	s.in.Close()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end at stdin's end with a task in flight")
	}
	if !strings.Contains(s.logText(), "stdin closed: cancelling 1 task(s) in flight") {
		t.Errorf("log:\n%s", s.logText())
	}
}

// TestHostDown: with no host on the socket every task is answered at
// once, "retryable", through the real client.
func TestHostDown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	c, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := start(t, "tree_d", seal.ClientHost{C: c}, func(o *Options) { o.Socket = sock })
	for id := 1; id <= 3; id++ {
		s.send(fmt.Sprintf(`{"id":%d,"task":%s}`, id, treeDFor("x", fmt.Sprintf("/c/%d", id))))
	}
	for range 3 {
		_, err := s.next().Result()
		if err == nil || !strings.Contains(err.Error(), "no sealhost host answers on "+sock) || !strings.Contains(err.Error(), "retryable") {
			t.Errorf("answer %v, want a retryable no-host error", err)
		}
	}
}

func TestLongLine(t *testing.T) {
	s := start(t, "tree_d", &fakeHost{}, func(o *Options) { o.MaxLine = 200 })
	s.send(`{"id":5,"task":` + treeD(strings.Repeat("x", 300)) + `}`)
	s.send(strings.Repeat("y", 300))
	s.send(`{"id":6,"task":` + treeD("ok") + `}`)
	for _, want := range []string{"request 5 is longer than 200 bytes", ""} {
		_, err := s.next().Result()
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("answer %v, want %q", err, want)
		}
	}
}

func TestUnknownStage(t *testing.T) {
	err := Run(context.Background(), Options{Stage: "c1", Stdin: strings.NewReader(""), Stdout: io.Discard, Log: io.Discard})
	if !errors.Is(err, ErrStage) || !strings.Contains(err.Error(), "inside the worker") {
		t.Errorf("Run(c1) = %v", err)
	}
}

// pc2 retries (damocles#837).

func pc2Task(cache, sealed string) string {
	pc1out := `{"registered_proof":"StackedDrg2KiBV1_1","comm_d":[` + strings.TrimSuffix(strings.Repeat("1,", 32), ",") + `]}`
	return fmt.Sprintf(`{"pc1out":%s,"cache_dir":%q,"sealed_file":%q}`, pc1out, cache, sealed)
}

var okPC2 = &sealv1.PC2Response{SealedCid: "bagboea4b5abcatlxechwbp7qoyf4rm2kcqkrgwp4cgewqjabckzeviryuhq4i4jq", UnsealedCid: "baga6ea4seaqdsvqopmj2soyhujb72jza76t4wpq5fzifvm3ctz47iyytkewnubq"}

func TestPC2Retry(t *testing.T) {
	for _, tc := range []struct {
		name         string
		workerMarker bool // damocles-worker with the #837 fix
		crash        bool // the first pc2 is cut short (the call fails after reaching a processor)
		want2        string
	}{
		{"fixed worker, crash: the worker restored sealed, retry runs", true, true, ""},
		{"old worker, clean run then rerun", false, false, ""},
		{"old worker, crash: retry refused with the fix", false, true, "copy the sector's staged file over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			sealed := filepath.Join(t.TempDir(), "s-t01000-3")
			os.WriteFile(sealed, []byte("staged"), 0o644)
			if tc.workerMarker {
				os.WriteFile(filepath.Join(cache, WorkerMarker), nil, 0o644)
			}
			calls := 0
			var seen []string
			h := &fakeHost{pc2: func(r *sealv1.PC2Request) (*sealv1.PC2Response, bool, error) {
				calls++
				ents, _ := os.ReadDir(r.GetCachePath())
				names := []string{}
				for _, e := range ents {
					names = append(names, e.Name())
				}
				seen = append(seen, strings.Join(names, " "))
				// What a pc2 writes, whether it finishes or not.
				for _, f := range []string{"p_aux", "t_aux", "sc-02-data-tree-c-0.dat", "sc-02-data-tree-r-last.dat"} {
					os.WriteFile(filepath.Join(r.GetCachePath(), f), []byte("x"), 0o644)
				}
				if tc.crash && calls == 1 {
					return nil, true, &client.TaskError{Stage: "pc2", Err: &sdk.Error{Message: "pc2: plugin died (signal: killed)", Retryable: true}}
				}
				return okPC2, true, nil
			}}
			s := start(t, "pc2", h)
			for id := 1; id <= 2; id++ {
				s.send(fmt.Sprintf(`{"id":%d,"task":%s}`, id, pc2Task(cache, sealed)))
				out, err := s.next().Result()
				if id == 1 {
					if tc.crash != (err != nil) {
						t.Fatalf("first pc2: %s, %v", out, err)
					}
					continue
				}
				if tc.want2 == "" && err != nil || tc.want2 != "" && (err == nil || !strings.Contains(err.Error(), tc.want2)) {
					t.Fatalf("second pc2: %s, %v; want %q", out, err, tc.want2)
				}
				if tc.want2 == "" && !strings.Contains(string(out), `"comm_r":[`) {
					t.Errorf("pc2 output %s", out)
				}
			}
			for i, names := range seen {
				for _, stale := range []string{"p_aux", "t_aux", "tree-c", "tree-r-last"} {
					if strings.Contains(names, stale) {
						t.Errorf("pc2 call %d saw %s left by the run before: %s", i+1, stale, names)
					}
				}
			}
			if tc.want2 != "" {
				if calls != 1 {
					t.Errorf("the refused retry reached the host")
				}
				// The operator's fix, as the message says: then it runs.
				os.Remove(filepath.Join(cache, OwnMarker))
				s.send(`{"id":3,"task":` + pc2Task(cache, sealed) + `}`)
				if _, err := s.next().Result(); err != nil {
					t.Errorf("pc2 after the manual fix: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(cache, OwnMarker)); err == nil {
				t.Errorf("%s left after a successful pc2", OwnMarker)
			}
		})
	}
}

// A pc2 that never reached a processor (no host, through the real
// client) touched nothing: its marker goes, and a retry is not refused.
func TestPC2NoHostLeavesNoMarker(t *testing.T) {
	cache := t.TempDir()
	c, err := client.Dial(filepath.Join(t.TempDir(), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := start(t, "pc2", seal.ClientHost{C: c})
	for id := 1; id <= 2; id++ {
		s.send(fmt.Sprintf(`{"id":%d,"task":%s}`, id, pc2Task(cache, "/x/sealed")))
		if _, err := s.next().Result(); err == nil || !strings.Contains(err.Error(), "no sealhost host answers") {
			t.Errorf("pc2 %d with no host: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, OwnMarker)); err == nil {
		t.Errorf("%s left by a pc2 that never reached a processor", OwnMarker)
	}
}
