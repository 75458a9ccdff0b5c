package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealhost/sealhost/internal/damocles"
)

// TestHostProcessorChain runs the stages besides sealing the whole way a
// damocles farm moving to sealhost runs them: a damocles-worker's task
// (written here as the worker writes it) to `host processor STAGE`, the
// task API of a real `host run`, this plugin, and a damocles processor
// (fakeproc) under it, and the answer back in damocles' shape. Both
// directions of internal/damocles meet here: what the bridge writes is
// read by fakeproc with damocles' task types, and what it reads back
// `host processor` writes for the worker. add_pieces' answer holds the
// pledge piece the bridge added; snap_encode's comm_r_last_new is the one
// fakeproc wrote to p_aux, which `host processor` read back.
func TestHostProcessorChain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the host")
	}
	host := built(t, "host")
	stages := []string{"add_pieces", "snap_encode", "snap_prove", "winning_post"}
	var cfg strings.Builder
	cfg.WriteString("sector_size = \"2KiB\"\n")
	for _, st := range stages {
		fmt.Fprintf(&cfg, "plugin \"damocles-%s\" {\n  path = %q\n  args = [\"-stage\", %q, \"--\", %q, %q]\n}\nprocessor %q {\n  plugin = \"damocles-%s\"\n  timeout = \"1m\"\n}\n",
			st, built(t, "damocles"), st, built(t, "fakeproc"), st, st, st)
	}
	cfgPath := filepath.Join(t.TempDir(), "config.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "dm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	socket := filepath.Join(sockDir, "h.sock")
	var hostErr bytes.Buffer
	run := exec.Command(host, "run", "-config", cfgPath, "-socket", socket, "-name", fmt.Sprintf("damocles-chain-%d", os.Getpid()), "-unconfined")
	run.Stderr = &hostErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		run.Process.Kill()
		run.Wait()
	}()
	waitFor(t, "host run serving the four processors", 60*time.Second, func() bool {
		n := 0
		for _, p := range hostStatus(socket).GetProcessors() {
			if p.GetState() == "running" {
				n++
			}
		}
		return n == len(stages)
	})

	// A 2 KiB CC sector key (its p_aux: comm_c 7s), an update's files, one
	// half-sector deal.
	dir := t.TempDir()
	key, keyCache, replica, replicaCache := filepath.Join(dir, "sealed", "s-t01000-7"), filepath.Join(dir, "cache", "s-t01000-7"),
		filepath.Join(dir, "update", "s-t01000-7"), filepath.Join(dir, "update-cache", "s-t01000-7")
	staged, deal := filepath.Join(dir, "unsealed", "s-t01000-7"), filepath.Join(dir, "deal")
	for _, d := range []string{keyCache, replicaCache, filepath.Dir(key), filepath.Dir(replica), filepath.Dir(staged)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, b := range map[string][]byte{key: make([]byte, 2048), replica: make([]byte, 2048), staged: make([]byte, 2048), deal: make([]byte, 1016),
		filepath.Join(keyCache, damocles.PAuxFile): bytes.Repeat([]byte{7}, 64)} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seq := func(from int) string {
		var s []string
		for i := range 32 {
			s = append(s, fmt.Sprint(from+i))
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	zero2KiB := "[252,126,146,130,150,229,22,250,173,233,134,178,143,146,212,74,79,36,185,53,72,82,35,55,106,121,144,39,188,24,248,51]"
	fake := string(fakeNoteBytes())
	for _, tc := range []struct {
		stage, task string
		check       func(t *testing.T, out json.RawMessage)
	}{
		{"add_pieces", `{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":{"local":"` + deal + `"},"payload_size":1016,"piece_size":1016}],"staged_filepath":"` + staged + `"}`,
			func(t *testing.T, out json.RawMessage) {
				var pieces []struct{ Size uint64 }
				json.Unmarshal(out, &pieces)
				if len(pieces) != 2 || pieces[0].Size != 1016 || pieces[1].Size != 1016 {
					t.Fatalf("pieces %s: want the deal and the pledge piece filling the sector", out)
				}
				if st, err := os.Stat(staged); err != nil || st.Size() != 2048 {
					t.Fatalf("staged file %v %v", st, err)
				}
			}},
		{"snap_encode", `{"registered_proof":"StackedDrg2KiBV1","new_replica_path":"` + replica + `","new_cache_path":"` + replicaCache + `","sector_path":"` + key +
			`","sector_cache_path":"` + keyCache + `","staged_data_path":"` + staged + `","piece_infos":[{"commitment":` + zero2KiB + `,"size":2032}]}`,
			func(t *testing.T, out json.RawMessage) {
				var o damocles.SnapEncodeOutput
				if err := json.Unmarshal(out, &o); err != nil {
					t.Fatal(err)
				}
				pAux, _ := os.ReadFile(filepath.Join(replicaCache, damocles.PAuxFile))
				if len(pAux) != 64 || !bytes.Equal(o.CommRLastNew[:], pAux[32:]) || seqJSON(o.CommDNew) != zero2KiB {
					t.Fatalf("output %s: want comm_r_last_new from the p_aux fakeproc wrote (%v), comm_d_new the zero sector's", out, pAux)
				}
			}},
		{"snap_prove", `{"registered_proof":"StackedDrg2KiBV1","vannilla_proofs":[[1,2,3]],"comm_r_old":` + seq(1) + `,"comm_r_new":` + seq(2) + `,"comm_d_new":` + zero2KiB + `}`,
			func(t *testing.T, out json.RawMessage) {
				var p damocles.Bytes
				if err := json.Unmarshal(out, &p); err != nil || len(p) != 192 || !strings.HasPrefix(string(p), fake) {
					t.Fatalf("proof %s (%v): want fakeproc's 192 bytes", out, err)
				}
			}},
		{"winning_post", `{"miner_id":1000,"proof_type":"StackedDrgWinning2KiBV1","replicas":[{"sector_id":7,"comm_r":` + seq(1) + `,"cache_dir":"` + keyCache +
			`","sealed_file":"` + key + `"}],"seed":` + seq(3) + `}`,
			func(t *testing.T, out json.RawMessage) {
				var o struct{ Proofs []string }
				json.Unmarshal(out, &o)
				if len(o.Proofs) != 1 {
					t.Fatalf("output %s: want one proof", out)
				}
				if p, err := base64.StdEncoding.DecodeString(o.Proofs[0]); err != nil || len(p) != 192 || !strings.HasPrefix(string(p), fake) {
					t.Fatalf("proof %q (%v): want fakeproc's 192 bytes in base64", o.Proofs[0], err)
				}
			}},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			// stdin stays open until the answer: its end cancels what is
			// in flight, as damocles-worker's children do.
			cmd := exec.Command(host, "processor", "-socket", socket, tc.stage)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer stdin.Close()
			fmt.Fprintf(stdin, "{\"id\":1,\"task\":%s}\n", tc.task)
			lines := bufio.NewScanner(stdout)
			lines.Buffer(nil, 1<<20)
			var got []string
			for len(got) < 2 && lines.Scan() {
				got = append(got, lines.Text())
			}
			if len(got) != 2 || got[0] != tc.stage+" processor ready" {
				t.Fatalf("host processor %s wrote %q\nstderr:\n%s\nhost:\n%s", tc.stage, got, stderr.String(), hostErr.String())
			}
			r, err := damocles.DecodeResponse([]byte(got[1]))
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Result()
			if err != nil {
				t.Fatalf("%s through the chain: %v\nhost:\n%s", tc.stage, err, hostErr.String())
			}
			tc.check(t, out)
		})
	}
}

func seqJSON(b damocles.Bytes32) string {
	j, _ := b.MarshalJSON()
	return string(j)
}

// fakeNoteBytes is how fakeproc's proofs start.
func fakeNoteBytes() []byte { return []byte("FAKE: produced by plugins/damocles/testdata/fakeproc") }
