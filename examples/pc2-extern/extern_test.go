package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func fakeJob(t *testing.T) Job {
	t.Helper()
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	if err := os.Mkdir(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	sealed := filepath.Join(dir, "sealed")
	if err := os.WriteFile(sealed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return Job{SectorNum: 7, Miner: 1000, ProofType: 8, SectorSize: 32 << 30, Cache: cache, Sealed: sealed,
		PC1Out: []byte(`{"registered_proof":"StackedDrg32GiBV1_1"}`)}
}

func fakeCommand(t *testing.T) string {
	abs, err := filepath.Abs("testdata/fake-pc2.sh")
	if err != nil {
		t.Fatal(err)
	}
	return "sh " + abs
}

func TestRunPassesTheConvention(t *testing.T) {
	j := fakeJob(t)
	dump := filepath.Join(t.TempDir(), "env")
	r := &Runner{Command: fakeCommand(t), Env: []string{"FAKE_PC2_ENV_DUMP=" + dump, "CUDA_VISIBLE_DEVICES=1", "PATH=" + os.Getenv("PATH")}}
	paux, err := r.Run(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range append(j.Environ(), "CUDA_VISIBLE_DEVICES=1") {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("the command's environment lacks %s", want)
		}
	}
	if !strings.Contains(string(env), "EXTSEAL_PC2_PC1OUT=eyJyZWdpc3RlcmVkX3Byb29mIjoiU3RhY2tlZERyZzMyR2lCVjFfMSJ9\n") {
		t.Error("EXTSEAL_PC2_PC1OUT is not the standard base64 of the PC1 output")
	}
	if paux.CommC == paux.CommRLast || paux.CommC == ([32]byte{}) {
		t.Errorf("p_aux = %x: want two distinct commitments from the fake", paux)
	}
	again, err := r.Run(context.Background(), j)
	if err != nil || again != paux {
		t.Errorf("second run = %x, %v; want the same p_aux (the fake is deterministic)", again, err)
	}
}

func TestRunFailures(t *testing.T) {
	for _, tc := range []struct {
		name, command, want string
		prepare             func(cache string)
	}{
		{"command fails", "echo oh no >&2; exit 3", `failed: exit status 3; its last output: oh no`, nil},
		{"no p_aux", "true", "exited 0 but left no p_aux", nil},
		{"stale p_aux is not used", "true", "left no p_aux", func(cache string) {
			os.WriteFile(filepath.Join(cache, "p_aux"), make([]byte, 64), 0o644)
		}},
		{"short p_aux", `printf abc > "$EXTSEAL_PC2_CACHE/p_aux"`, "is 3 bytes, want 64", nil},
		{"p_aux not in the field", `head -c 64 /dev/zero | tr '\0' '\377' > "$EXTSEAL_PC2_CACHE/p_aux"`, "not a BLS12-381 scalar", nil},
		{"no command", "", "no external pc2 command configured", nil},
		{"pc1 output too big for the environment", "true", "MAX_ARG_STRLEN", func(string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := fakeJob(t)
			if tc.prepare != nil {
				tc.prepare(j.Cache)
			}
			if strings.Contains(tc.want, "MAX_ARG") {
				j.PC1Out = make([]byte, 100<<10) // 133 KiB as base64
			}
			r := &Runner{Command: tc.command, Env: []string{"PATH=" + os.Getenv("PATH")}}
			_, err := r.Run(context.Background(), j)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestRunCancelKillsTheGroup checks that cancelling kills the program sh
// started, not only sh: a PC2 left running would hold the GPU.
func TestRunCancelKillsTheGroup(t *testing.T) {
	j := fakeJob(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := &Runner{Command: `sleep 60 & echo $! > ` + pidFile + `; wait`, Env: []string{"PATH=" + os.Getenv("PATH")}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.Run(ctx, j)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run returned %v after start, want promptly after the cancel", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return // gone, or a zombie awaiting its (dead) parent's reaper
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep (pid %s), started by the command, still runs after cancel", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCommD(t *testing.T) {
	cache := t.TempDir()
	want := [32]byte{0xfc, 0x7e, 31: 0x33}
	var nums []string
	for _, b := range want {
		nums = append(nums, strconv.Itoa(int(b)))
	}
	pc1 := []byte(`{"registered_proof":"StackedDrg2KiBV1_1","comm_d":[` + strings.Join(nums, ",") + `]}`)
	if got, err := CommD(cache, pc1); err != nil || got != want {
		t.Fatalf("CommD from the PC1 output = %x, %v; want %x", got, err, want)
	}
	// tree_d's root, when present, wins: it is what lotus reads.
	root := [32]byte{1, 2, 3}
	tree := append(make([]byte, 64), root[:]...)
	if err := os.WriteFile(filepath.Join(cache, "sc-02-data-tree-d.dat"), tree, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := CommD(cache, pc1); err != nil || got != root {
		t.Fatalf("CommD from tree_d = %x, %v; want %x", got, err, root)
	}
	for _, bad := range []string{`nope`, `{"comm_d":[1,2]}`, `{"comm_d":[` + strings.Repeat("300,", 31) + `300]}`} {
		if _, err := CommD(t.TempDir(), []byte(bad)); err == nil {
			t.Errorf("CommD(%s) succeeded, want an error", bad)
		}
	}
}

func TestReadCommRNamesTheGap(t *testing.T) {
	_, err := ReadCommR(t.TempDir(), PAux{CommC: [32]byte{1}, CommRLast: [32]byte{2}})
	if err == nil || !strings.Contains(err.Error(), "Poseidon(comm_c, comm_r_last)") || !strings.Contains(err.Error(), "0100000000") {
		t.Fatalf("ReadCommR without comm_r = %v; want an error naming the Poseidon gap and quoting p_aux", err)
	}
}
