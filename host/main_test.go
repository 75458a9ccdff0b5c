package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The end-to-end tests of the host command are testscript scripts in
// testdata/script/*.txtar: each runs `host ...` as a real process (the test
// binary re-executed under the name "host") and checks its exit status,
// stdout and stderr. Add a script there to test a new subcommand; the
// harness needs no change.
//
// Other test files of this package extend the harness without editing it,
// from an init function:
//
//	func init() {
//		// a program scripts can run, e.g. a fake plugin
//		testCommands["fake-plugin"] = func() int { ... }
//		// prepare each script's environment
//		testSetups = append(testSetups, func(env *testscript.Env) error { ... })
//		// once for the whole test binary, before any test; the returned
//		// function (may be nil) runs after all tests
//		testMainHooks = append(testMainHooks, func() (func(), error) { ... })
//	}

// testCommands are the programs a script can run by name, each returning
// its exit status. "host" is the command under test.
var testCommands = map[string]func() int{
	"host": func() int { return hostMain(os.Args[1:], os.Stdout, os.Stderr) },
}

// testSetups run, in order, for every script's environment.
var testSetups []func(env *testscript.Env) error

// testMainHooks run once before the tests of the binary; the cleanups they
// return run, in reverse order, after them.
var testMainHooks []func() (cleanup func(), err error)

func TestMain(m *testing.M) {
	testscript.Main(hookedM{m}, mainFuncs())
}

func mainFuncs() map[string]func() {
	out := make(map[string]func(), len(testCommands))
	for name, f := range testCommands {
		out[name] = func() { os.Exit(f()) }
	}
	return out
}

// hookedM runs testMainHooks around the tests. testscript.Main calls Run only
// in the top-level test process, never when the binary is re-executed as a
// command, so hooks run once.
type hookedM struct{ m *testing.M }

func (h hookedM) Run() int {
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	for _, hook := range testMainHooks {
		c, err := hook()
		if err != nil {
			fmt.Fprintf(os.Stderr, "TestMain hook: %v\n", err)
			return 1
		}
		if c != nil {
			cleanups = append(cleanups, c)
		}
	}
	return h.m.Run()
}

// TestScript runs every testdata/script/*.txtar. Scripts see:
//
//	$REPO  the repository root (testdata/machines, config.hcl, examples/)
//	NO_COLOR=1 so no command colours its output
func TestScript(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("NO_COLOR", "1")
			for _, s := range testSetups {
				if err := s(env); err != nil {
					return err
				}
			}
			return nil
		},
		Cmds: testScriptCmds,
	})
}

// testScriptCmds are script commands beyond testscript's own. Other test
// files may add theirs in init.
var testScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"status": cmdStatus,
}

// cmdStatus runs a program and checks its exact exit status, which `exec`
// and `! exec` cannot tell apart beyond zero and non-zero:
//
//	status 2 host plan -bogus
//
// stdout and stderr are then checked as after exec.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %q is not an exit status", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("status: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
