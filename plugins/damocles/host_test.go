package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

// hostConfig is a 2KiB config whose stages in damoclesStages run through
// this plugin over fakeproc and the rest on plugins/mock.
func hostConfig(t *testing.T, damoclesStages []string, extra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "sector_size = \"2KiB\"\nplugin \"mock\" {\n  path = %q\n}\n", built(t, "mock"))
	on := map[string]bool{}
	for _, st := range damoclesStages {
		on[st] = true
		fmt.Fprintf(&b, "plugin \"damocles-%s\" {\n  path = %q\n  args = [\"-stage\", %q, \"--\", %q, \"processor\", %q]\n}\n",
			st, built(t, "damocles"), st, built(t, "fakeproc"), st)
	}
	for _, st := range []string{"tree_d", "pc1", "pc2", "c1", "c2"} {
		plugin := "mock"
		if on[st] {
			plugin = "damocles-" + st
		}
		fmt.Fprintf(&b, "processor %q {\n  plugin = %q\n  concurrent = 2\n  timeout = \"1m\"\n%s}\n", st, plugin, extra)
	}
	p := filepath.Join(t.TempDir(), "config.hcl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHostSeal seals sectors through a real host (`host seal`, its host
// in-process, confined when the test runs as root) with damocles
// processors for some stages and the mock for the others: the host's
// cross-stage checks (pc2's comm_d against tree_d's) hold, and every
// sector's proof comes back, said to be unverified.
func TestHostSeal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the host and seals sectors")
	}
	host := built(t, "host")
	for _, tc := range []struct {
		name   string
		stages []string
	}{
		{"pc2 and c2", []string{"pc2", "c2"}},
		{"every damocles stage", []string{"tree_d", "pc1", "pc2", "c2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := hostConfig(t, tc.stages, "")
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(host, "seal", "-config", cfg, "-sectors", "3", "-in-process", "-json", "-progress", "lines",
				"-workdir", filepath.Join(t.TempDir(), "w"))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("host seal: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			var sum struct {
				OK     bool `json:"ok"`
				Done   int  `json:"done"`
				Stages []struct {
					Stage      string         `json:"stage"`
					Processors map[string]int `json:"processors"`
				} `json:"stages"`
				Results []struct {
					ProofBytes   int    `json:"proof_bytes"`
					Verified     bool   `json:"verified"`
					Verification string `json:"verification"`
					UnsealedCID  string `json:"unsealed_cid"`
					SealedCID    string `json:"sealed_cid"`
				} `json:"results"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
				t.Fatalf("summary: %v\n%s", err, stdout.String())
			}
			if !sum.OK || sum.Done != 3 || len(sum.Results) != 3 {
				t.Fatalf("ok %v, %d of 3 done\n%s\n%s", sum.OK, sum.Done, stdout.String(), stderr.String())
			}
			for _, s := range sum.Stages {
				if n := s.Processors[s.Stage+".0"]; n != 3 {
					t.Errorf("stage %s: %d tasks on %s.0, want 3", s.Stage, n, s.Stage)
				}
			}
			for i, r := range sum.Results {
				if r.ProofBytes != 192 || r.Verified || !strings.Contains(r.Verification, "not verified by sealhost: damocles c2 processor") {
					t.Errorf("sector %d: proof %d bytes, verified %v, %q", i, r.ProofBytes, r.Verified, r.Verification)
				}
				if !strings.HasPrefix(r.UnsealedCID, "baga6ea4seaq") || !strings.HasPrefix(r.SealedCID, "bagboea4b5abc") {
					t.Errorf("sector %d: CIDs %q %q", i, r.UnsealedCID, r.SealedCID)
				}
			}
		})
	}
}

// TestHostConfines runs `host run` with a damocles pc2 processor: the
// damocles child is the plugin's, in the plugin's cgroup with the
// processor's cpuset, gets the processor's env without VC_CG_*, and dies
// with the host when the host is SIGKILLed.
func TestHostConfines(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the host")
	}
	host := built(t, "host")
	cfg := hostConfig(t, []string{"pc2"}, "  cpuset = \"0\"\n  env = { VC_CG_NAME = \"damocles/sub-pc2\", FAKEPROC_MARK = \"from-the-processor-block\" }\n")
	sockDir, err := os.MkdirTemp("", "dm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	socket := filepath.Join(sockDir, "h.sock")
	confined := os.Geteuid() == 0
	args := []string{"run", "-config", cfg, "-socket", socket, "-name", fmt.Sprintf("damocles-test-%d", os.Getpid())}
	if !confined {
		args = append(args, "-unconfined")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(host, args...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var pluginPid int
	var cgroup string
	waitFor(t, "host run serving a running pc2.0", 60*time.Second, func() bool {
		for _, p := range hostStatus(socket).GetProcessors() {
			if p.GetId() == "pc2.0" && p.GetState() == "running" {
				pluginPid, cgroup = int(p.GetPid()), p.GetCgroup()
				return true
			}
		}
		return false
	})
	kids := children(pluginPid)
	if len(kids) != 1 {
		t.Fatalf("plugin %d has children %v, want the one damocles processor\nhost stderr:\n%s", pluginPid, kids, stderr.String())
	}
	kid := kids[0]
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", kid)); filepath.Base(exe) != "fakeproc" {
		t.Errorf("the plugin's child is %s, want fakeproc", exe)
	}
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", kid))
	if !bytes.Contains(env, []byte("FAKEPROC_MARK=from-the-processor-block\x00")) || bytes.Contains(env, []byte("VC_CG_NAME")) ||
		bytes.Contains(env, []byte("PLUGIN_CLIENT_CERT")) {
		t.Errorf("child environment %q: want the processor's env, without VC_CG_* or go-plugin's variables", bytes.ReplaceAll(env, []byte{0}, []byte{' '}))
	}
	if confined {
		pc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pluginPid))
		kc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", kid))
		if len(pc) == 0 || !bytes.Equal(pc, kc) || !bytes.Contains(kc, []byte(filepath.Base(cgroup))) {
			t.Errorf("child cgroups\n%s\nplugin's (%s)\n%s\nwant the same", kc, cgroup, pc)
		}
		if cpus := statusField(kid, "Cpus_allowed_list"); cpus != "0" {
			t.Errorf("child runs on cpus %q, want the processor's cpuset 0", cpus)
		}
	} else {
		t.Log("not root: the host runs unconfined, the cgroup check is skipped")
	}
	// A pc2 through the host's task API reaches the child.
	c, err := client.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, err := inputs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := c.PC2(ctx, in.PC2); err != nil || !strings.HasPrefix(resp.GetSealedCid(), "bagboea4b5abc") {
		t.Fatalf("pc2 through the host: %v, %v", resp, err)
	}
	// SIGKILL the host: nothing of the plugin's survives it.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitFor(t, "plugin and damocles processor gone with the host", 10*time.Second, func() bool { return !alive(pluginPid) && !alive(kid) })
}

// hostStatus is the status of the host on socket, nil while it does not
// answer.
func hostStatus(socket string) *taskv1.StatusResponse {
	c, err := client.Dial(socket)
	if err != nil {
		return nil
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, _ := c.Status(ctx)
	return st
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if strings.TrimSpace(statusField(n, "PPid")) == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// statusField reads one field of /proc/PID/status.
func statusField(pid int, field string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
