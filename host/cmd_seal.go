package main

import (
	"context"

	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/mattn/go-isatty"
	"golang.org/x/sys/unix"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/host/internal/daemon"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/seal"
	"github.com/sealhost/sealhost/host/internal/topology"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/proto/taskv1"
)

func init() {
	register(command{
		name:    "seal",
		summary: "seal synthetic CC sectors through every stage, to prove a box works",
		run:     runSeal,
	})
}

const sealUsage = `usage: host seal -config FILE -sectors N [flags]

Pushes N synthetic committed-capacity sectors through tree_d, pc1, pc2, c1
and c2: through the host answering on the default socket (or -socket), or,
when none answers, through a host started inside this command from -config
(confined in cgroups when this process may create them, otherwise
unconfined, said loudly). Each sector gets real files in a work folder as
lotus lays them out: a staged file of the sector size holding zeros, an
empty sealed file, a cache folder; its one piece is the zero piece of the
full size. Progress bars per stage are drawn on stderr while it runs (plain
lines when stderr is not a terminal), then a summary is printed: sectors
done, per-stage run and wait times, tasks per processor, lock shares, and
per sector comm_d, comm_r, proof size and whether the c2 plugin verified
the proof (filecoin-ffi VerifySeal) before answering. Proofs that were not
verified (the mock's are fake) are named on a line starting UNVERIFIED,
with the plugin's reason.

Exit status: 0 every sector sealed (with -require-verified: and every
proof verified), 1 some sector failed, a proof came back unverified under
-require-verified, or the host could not run, 2 a usage mistake.`

type sealFlags struct {
	config, socket, name, topology, workdir string
	progress                                string
	sectors                                 int
	asJSON, inProcess, unconfined, keep     bool
	requireVerified                         bool
	waitSeed                                time.Duration
	seed, miner, first                      uint64
}

func runSeal(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host seal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f sealFlags
	fs.StringVar(&f.config, "config", "", "the config `FILE`: its sector size, and the host to start when none is running (required)")
	fs.IntVar(&f.sectors, "sectors", 0, "how many sectors to seal, all at once (required, at least 1)")
	fs.StringVar(&f.socket, "socket", "", "seal through the host on this unix socket `PATH`, and fail if none answers (default: the default socket of `host run` if a host answers there, else in-process)")
	fs.StringVar(&f.name, "name", "", "seal through the host instance `NAME` (`host run -name NAME`), found at its default socket, and fail if none answers")
	fs.BoolVar(&f.inProcess, "in-process", false, "always start a host inside this command, even if one answers on the default socket")
	fs.BoolVar(&f.unconfined, "unconfined", false, "run the in-process host's plugins without cgroups even where cgroups work")
	fs.StringVar(&f.topology, "topology", "", "check the config against the machine at `PATH` (a /sys-like folder or `host topology -json` output) instead of this one")
	fs.BoolVar(&f.asJSON, "json", false, "print the summary as one JSON object (its fields: docs/seal-json.md)")
	fs.BoolVar(&f.requireVerified, "require-verified", false, "exit 1 unless every sector's proof came back verified by its c2 plugin (a real verifier, not a fake)")
	fs.DurationVar(&f.waitSeed, "wait-seed", 0, "pause between pc2 and c1 standing for the chain's seed wait (mainnet: ~75m)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the sectors' tickets and interactive seeds: the same seed gives the same randomness")
	fs.Uint64Var(&f.miner, "miner", 1000, "miner actor id of the sectors")
	fs.Uint64Var(&f.first, "first", 1, "number of the first sector")
	fs.StringVar(&f.workdir, "workdir", "", "folder for the sectors' files (default: a new temporary folder, removed after a run where every sector sealed)")
	fs.BoolVar(&f.keep, "keep", false, "keep the work folder even when every sector sealed")
	fs.StringVar(&f.progress, "progress", "auto", "progress on stderr: `auto` (bars on a terminal, else lines), bars, lines or off")
	fs.Usage = func() {
		fmt.Fprintln(stderr, sealUsage)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "host seal: "+format+"\n", a...)
		fmt.Fprintln(stderr, "run 'host seal -h' for the flags")
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q: this command takes flags only", fs.Arg(0))
	case f.config == "":
		return usageErr("-config is required")
	case f.sectors < 1:
		return usageErr("-sectors %d: want at least 1 sector (e.g. -sectors 8)", f.sectors)
	case f.waitSeed < 0:
		return usageErr("-wait-seed %v: want 0 or more", f.waitSeed)
	case f.progress != "auto" && f.progress != "bars" && f.progress != "lines" && f.progress != "off":
		return usageErr("-progress %q: want auto, bars, lines or off", f.progress)
	case (f.socket != "" || f.name != "") && f.inProcess:
		return usageErr("-socket and -name exclude -in-process: they seal through a running host, -in-process starts its own")
	case f.socket != "" && f.name != "":
		return usageErr("-socket and -name exclude each other: give the host's socket, or its name to find the socket")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal stops the run (sectors in flight fail, the
		// summary still prints, the host is stopped); a second one kills.
		<-ctx.Done()
		stop()
	}()
	return sealMain(ctx, f, stdout, stderr)
}

func sealMain(ctx context.Context, f sealFlags, stdout, stderr io.Writer) int {
	cfg, ok := loadSealConfig(f, stderr)
	if !ok {
		return 1
	}
	workdir := f.workdir
	made := false
	if workdir == "" {
		d, err := os.MkdirTemp("", "sealhost-seal-")
		if err != nil {
			fmt.Fprintf(stderr, "host seal: work folder: %v\n", err)
			return 1
		}
		workdir, made = d, true
	} else if err := os.MkdirAll(workdir, 0o755); err != nil {
		fmt.Fprintf(stderr, "host seal: work folder: %v\n", err)
		return 1
	}
	// MkdirTemp makes it 0700: a running host under another user must
	// reach the sectors' files.
	_ = os.Chmod(workdir, 0o755)
	rc := sealIn(ctx, f, cfg, workdir, stdout, stderr)
	// sealIn has stopped any in-process host, which logged into workdir.
	if rc == 0 && made && !f.keep {
		_ = os.RemoveAll(workdir)
	}
	return rc
}

// sealIn seals through a running host or an in-process one, which it
// stops before returning.
func sealIn(ctx context.Context, f sealFlags, cfg *config.Config, workdir string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "host seal: "+format+"\n", a...)
		return 1
	}
	var (
		c     *client.Client
		where string
		host  *daemon.Host
	)
	if !f.inProcess {
		sock, explicit := f.socket, f.socket != "" || f.name != ""
		switch {
		case f.name != "":
			sock = client.FindSocket(f.name)
		case sock == "":
			sock = client.DefaultSocket(daemon.DefaultInstance)
		}
		rc, st, err := probeHost(ctx, sock)
		switch {
		case err == nil:
			c = rc
			where = fmt.Sprintf("the host on %s (pid %d, config %s)", sock, st.GetPid(), st.GetConfigFile())
			if st.GetConfigFile() != "" && !sameFile(st.GetConfigFile(), f.config) {
				fmt.Fprintf(stderr, "host seal: note: the running host uses %s, not %s; sectors are %s as -config says\n", st.GetConfigFile(), f.config, cfg.SectorSize.Name)
			}
		case f.name != "":
			return fail("no host %q answers on %s: %v (start one with `host run -config FILE -name %s`, or drop -name to seal through a host started here)", f.name, sock, err, f.name)
		case explicit:
			return fail("no host answers on %s: %v (start one with `host run -config FILE -socket %s`, or drop -socket to seal through a host started here)", sock, err, sock)
		}
	}
	if c == nil {
		h, desc, stop, err := startInProcess(ctx, f, cfg, workdir, stderr)
		if err != nil {
			return fail("%v (its log: %s)", err, filepath.Join(workdir, "host.log"))
		}
		host, where = h, desc
		defer stop()
		c, err = client.Dial(host.Socket())
		if err != nil {
			return fail("%v", err)
		}
	}
	defer c.Close()

	sectors, err := seal.Prepare(seal.PrepareRequest{Dir: workdir, SectorBytes: cfg.SectorSize.Bytes,
		MinerID: f.miner, First: f.first, Count: f.sectors, RandSeed: f.seed})
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stderr, "sealing %d %s sectors through %s\nwork folder %s\n", f.sectors, cfg.SectorSize.Name, where, workdir)

	h := seal.ClientHost{C: c}
	prog := seal.NewProgress(f.sectors)
	rctx, stopRender := context.WithCancel(ctx)
	rendered := make(chan struct{})
	if mode := progressMode(f.progress, stderr); mode != "off" {
		r := &seal.Renderer{W: stderr, Progress: prog, Terminal: mode == "bars", Width: termWidth(stderr), Status: h.Status}
		if mode == "lines" {
			r.Interval = time.Second
		}
		go func() { r.Run(rctx); close(rendered) }()
	} else {
		close(rendered)
	}
	sum, err := seal.Run(ctx, seal.Request{Host: h, Sectors: sectors, WaitSeed: f.waitSeed, Progress: prog})
	stopRender()
	<-rendered
	if err != nil {
		return fail("%v", err)
	}
	sum.Host = where
	if f.asJSON {
		err = sum.WriteJSON(stdout)
	} else {
		fmt.Fprintln(stdout)
		err = sum.WriteText(stdout)
	}
	if err != nil {
		return fail("%v", err)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "host seal: interrupted: the sectors in flight were cancelled")
	}
	rc := 0
	if !sum.OK() {
		fmt.Fprintf(stderr, "host seal: %d of %d sectors failed; their files stay in %s\n", sum.Sectors-sum.Done, sum.Sectors, workdir)
		if host != nil {
			fmt.Fprintf(stderr, "host seal: the in-process host's log: %s\n", filepath.Join(workdir, "host.log"))
		}
		rc = 1
	}
	if f.requireVerified && !sum.AllVerified() {
		requireVerifiedFailed(sum, workdir, stderr)
		rc = 1
	}
	return rc
}

// sameFile reports whether two paths name one file however they are
// written (relative or absolute, through links); paths that cannot be
// looked up are compared as cleaned absolute paths.
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	absA, _ := filepath.Abs(a)
	absB, _ := filepath.Abs(b)
	return absA == absB
}

// requireVerifiedFailed says which sectors -require-verified refuses: those
// sealed with an unverified proof, with their c2's reason, and those that
// failed before they had a proof.
func requireVerifiedFailed(sum *seal.Summary, workdir string, stderr io.Writer) {
	var why []string
	for _, g := range sum.ProofGroups() {
		if !g.Verified {
			why = append(why, fmt.Sprintf("%s came back unverified (%s)", seal.Sectors(g.Sectors), g.Why()))
		}
	}
	var failed []uint64
	for _, r := range sum.Results {
		if !r.Done {
			failed = append(failed, r.Sector)
		}
	}
	if len(failed) > 0 {
		why = append(why, fmt.Sprintf("%s failed before a proof", seal.Sectors(failed)))
	}
	fmt.Fprintf(stderr, "host seal: -require-verified: %d of %d proofs verified: %s; the files stay in %s\n",
		sum.Verified, sum.Sectors, strings.Join(why, "; "), workdir)
}

// loadSealConfig loads and plans the config, printing its errors. Warnings
// are only counted: `host plan` shows them.
func loadSealConfig(f sealFlags, stderr io.Writer) (*config.Config, bool) {
	cfg, diags := config.Load(f.config)
	if diags.HasErrors() || cfg == nil {
		var src []byte
		if cfg != nil {
			src = cfg.Source
		} else {
			src, _ = os.ReadFile(f.config)
		}
		_ = config.WriteDiagnostics(stderr, f.config, src, diags, false)
		fmt.Fprintf(stderr, "host seal: %s has errors; nothing was started\n", f.config)
		return nil, false
	}
	m, err := topology.Load(f.topology)
	if err != nil {
		fmt.Fprintf(stderr, "host seal: %v\n", err)
		return nil, false
	}
	p := plan.Build(cfg, m)
	p.AddConfigDiagnostics(diags)
	if p.HasErrors() {
		_ = config.WriteDiagnostics(stderr, p.ConfigFile, p.Source(), p.Diagnostics, false)
		fmt.Fprintf(stderr, "host seal: %s: %s; nothing was started (`host plan -config %s` shows the layout)\n", f.config, p.CountLine(), f.config)
		return nil, false
	}
	return cfg, true
}

// probeHost dials sock and asks for the host's status, which says a host
// is there and serving.
func probeHost(ctx context.Context, sock string) (*client.Client, *taskv1.StatusResponse, error) {
	if st, err := os.Stat(sock); err != nil {
		return nil, nil, err
	} else if st.Mode()&os.ModeSocket == 0 {
		return nil, nil, fmt.Errorf("%s is not a socket", sock)
	}
	c, err := client.Dial(sock)
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := c.Status(pctx)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, st, nil
}

// startInProcess starts a host from cfg inside this process, confined when
// cgroups can be made here, and waits for every plugin to be up. Its log
// goes to host.log in the work folder, so it does not tear the progress
// bars.
func startInProcess(ctx context.Context, f sealFlags, cfg *config.Config, workdir string, stderr io.Writer) (h *daemon.Host, desc string, stop func(), err error) {
	unconfined := f.unconfined || !cfg.Confine
	if !unconfined {
		if err := confine.Available(); err != nil {
			fmt.Fprintf(stderr, "host seal: UNCONFINED: %v\nhost seal: going on without cgroups: plugins run on any cpu, without memory limits\n", err)
			unconfined = true
		}
	}
	logf, err := os.Create(filepath.Join(workdir, "host.log"))
	if err != nil {
		return nil, "", nil, err
	}
	defer func() {
		if err != nil {
			logf.Close()
		}
	}()
	log := hclog.New(&hclog.LoggerOptions{Name: "host", Output: logf, Level: hclog.Info})
	sock := filepath.Join(workdir, "host.sock")
	if len(sock) > 100 {
		d, err := os.MkdirTemp("", "shs")
		if err != nil {
			return nil, "", nil, err
		}
		sock = filepath.Join(d, "host.sock")
	}
	instance := fmt.Sprintf("seal-%d", os.Getpid())
	h, err = daemon.Start(daemon.Options{Config: cfg, Instance: instance, Socket: sock, Unconfined: unconfined, Logger: log})
	if err != nil {
		return nil, "", nil, fmt.Errorf("starting the in-process host: %w", err)
	}
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Shutdown(sctx, 5*time.Second); err != nil {
			fmt.Fprintf(stderr, "host seal: stopping the in-process host: %v\n", err)
		}
		logf.Close()
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err = h.WaitRunning(wctx); err != nil {
		stop()
		return nil, "", nil, fmt.Errorf("the in-process host's plugins did not start: %w", err)
	}
	how := "confined in cgroups"
	if !h.Confined() {
		how = "UNCONFINED"
	}
	return h, fmt.Sprintf("an in-process host (instance %s, %d processors, %s)", instance, len(cfg.Processors), how), stop, nil
}

func progressMode(mode string, w io.Writer) string {
	if mode != "auto" {
		return mode
	}
	if fd, ok := w.(interface{ Fd() uintptr }); ok && isatty.IsTerminal(fd.Fd()) && os.Getenv("TERM") != "dumb" {
		return "bars"
	}
	return "lines"
}

func termWidth(w io.Writer) int {
	if fd, ok := w.(interface{ Fd() uintptr }); ok {
		if ws, err := unix.IoctlGetWinsize(int(fd.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}
