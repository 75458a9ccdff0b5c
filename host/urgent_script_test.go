package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sealhost/sealhost/host/internal/statusview"
	"github.com/sealhost/sealhost/sdk/client"
	"github.com/sealhost/sealhost/sdk/plugintest"
)

// Script commands that drive a running `host run` through the task API, as
// a manager would: submit starts a task in the background, await waits for
// it, waitstatus polls `host status` for a line.
//
//	submit NAME STAGE SOCKET [DEADLINE]   DEADLINE: a Go duration from now
//	await NAME...                         fails when a task failed; prints "NAME done" in finish order
//	waitstatus SOCKET REGEXP              within 20 s
func init() {
	testScriptCmds["submit"] = cmdSubmit
	testScriptCmds["await"] = cmdAwait
	testScriptCmds["waitstatus"] = cmdWaitStatus
}

type scriptTask struct {
	done chan struct{}
	err  error
}

var (
	scriptTasksMu sync.Mutex
	scriptTasks   = map[*testscript.TestScript]map[string]*scriptTask{}
	finishOrder   = map[*testscript.TestScript]*[]string{}
)

func cmdSubmit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: submit NAME STAGE SOCKET [DEADLINE]")
	}
	name, stage, socket := args[0], args[1], args[2]
	var opts []client.CallOption
	if len(args) == 4 {
		d, err := time.ParseDuration(args[3])
		if err != nil {
			ts.Fatalf("submit: deadline %q: %v", args[3], err)
		}
		opts = append(opts, client.WithDeadline(time.Now().Add(d)))
	}
	in, err := plugintest.DefaultInputs(filepath.Join(ts.Getenv("WORK"), "sector-"+name))
	if err != nil {
		ts.Fatalf("submit: %v", err)
	}
	c, err := client.Dial(socket)
	if err != nil {
		ts.Fatalf("submit: %v", err)
	}
	call := map[string]func(ctx context.Context) error{
		"pc2":          func(ctx context.Context) error { _, e := c.PC2(ctx, in.PC2, opts...); return e },
		"c2":           func(ctx context.Context) error { _, e := c.C2(ctx, in.C2, opts...); return e },
		"winning_post": func(ctx context.Context) error { _, e := c.WinningPoSt(ctx, in.WinningPoSt, opts...); return e },
		"window_post":  func(ctx context.Context) error { _, e := c.WindowPoSt(ctx, in.WindowPoSt, opts...); return e },
	}[stage]
	if call == nil {
		ts.Fatalf("submit: stage %q: use pc2, c2, winning_post or window_post", stage)
	}
	t := &scriptTask{done: make(chan struct{})}
	scriptTasksMu.Lock()
	if scriptTasks[ts] == nil {
		scriptTasks[ts] = map[string]*scriptTask{}
		finishOrder[ts] = new([]string)
	}
	scriptTasks[ts][name] = t
	order := finishOrder[ts]
	scriptTasksMu.Unlock()
	go func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		t.err = call(ctx)
		scriptTasksMu.Lock()
		*order = append(*order, name)
		scriptTasksMu.Unlock()
		close(t.done)
	}()
}

func cmdAwait(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: await NAME...")
	}
	for _, name := range args {
		scriptTasksMu.Lock()
		t := scriptTasks[ts][name]
		scriptTasksMu.Unlock()
		if t == nil {
			ts.Fatalf("await: no task %q was submitted", name)
		}
		select {
		case <-t.done:
		case <-time.After(90 * time.Second):
			ts.Fatalf("await: task %s did not finish in 90 s", name)
		}
		if t.err != nil {
			ts.Fatalf("await: task %s: %v", name, t.err)
		}
	}
	scriptTasksMu.Lock()
	defer scriptTasksMu.Unlock()
	for _, n := range *finishOrder[ts] {
		fmt.Fprintf(ts.Stdout(), "%s done\n", n)
	}
}

func cmdWaitStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitstatus SOCKET REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	if err != nil {
		ts.Fatalf("waitstatus: %v", err)
	}
	c, err := client.Dial(args[0])
	if err != nil {
		ts.Fatalf("waitstatus: %v", err)
	}
	defer c.Close()
	var text string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err != nil {
			continue
		}
		var b strings.Builder
		statusview.Write(&b, st)
		text = b.String()
		if re.MatchString(text) {
			fmt.Fprint(ts.Stdout(), text)
			return
		}
	}
	fmt.Fprint(os.Stderr, text)
	ts.Fatalf("waitstatus: no line matches %q in 20 s; last status:\n%s", args[1], text)
}
