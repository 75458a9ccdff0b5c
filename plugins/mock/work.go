package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sealhost/sealhost/sdk"
)

// worker emulates the cost of a stage call as the knobs ask.
type worker struct {
	k     Knobs
	mu    sync.Mutex
	rng   *rand.Rand
	noise func(string) // writes to fd 1; nil unless StdoutNoise
	// exit ends the process; tests replace it.
	exit func(mode string)
}

func newWorker(k Knobs) *worker {
	seed := k.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &worker{k: k, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), exit: crash}
}

// draw decides, under the lock the concurrent calls share, whether this
// call fails or crashes.
func (w *worker) draw() (fail, die bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rng.Float64() < w.k.FailRate, w.rng.Float64() < w.k.CrashRate
}

// do runs the emulated work of one call of stage. It returns ctx.Err()
// when cancelled, and a retryable error when the fail draw says so.
func (w *worker) do(ctx context.Context, stage string) error {
	if w.noise != nil {
		w.noise("mock: " + stage + " call starting (noise on stdout, as native code writes)\n")
	}
	if w.k.Hang[stage] {
		sdk.Logger(ctx).Warn("hanging as told (MOCK_HANG / -hang): this call will never return")
		w.spin(nil) // a wedged call may spin too; nil never closes
		select {}   // deliberately deaf to ctx: emulates a wedged native call
	}
	fail, die := w.draw()
	stop := make(chan struct{})
	defer close(stop)
	w.spin(stop)
	if w.k.Memory > 0 {
		mem, err := hold(w.k.Memory)
		if err != nil {
			return sdk.RetryableErrorf("mock: cannot hold %d bytes of memory (MOCK_MEMORY): %v", w.k.Memory, err)
		}
		defer unmap(mem)
	}
	d := w.k.Duration[stage]
	if die {
		// Crash halfway, as a real stage dies mid-task (OOM kill, a GPU fault).
		if err := sleep(ctx, d/2); err != nil {
			return err
		}
		sdk.Logger(ctx).Error("crashing as told (MOCK_CRASH_RATE / -crash-rate)", "mode", w.k.CrashMode)
		w.exit(w.k.CrashMode)
		return sdk.Errorf("mock: crash requested but the process survived")
	}
	if err := sleep(ctx, d); err != nil {
		return err
	}
	if fail {
		return sdk.RetryableErrorf("mock: injected failure of %s (fail rate %v): trying again may succeed", stage, w.k.FailRate)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// spin starts BusyThreads goroutines, each locked to its own OS thread and
// burning cpu until stop closes, so a cpuset and cpu accounting see the
// load a real multi-threaded stage makes.
func (w *worker) spin(stop <-chan struct{}) {
	for range w.k.BusyThreads {
		go func() {
			runtime.LockOSThread()
			// The thread is discarded on return rather than reused.
			var x atomic.Uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := 0; i < 1<<16; i++ {
					x.Add(uint64(i))
				}
			}
		}()
	}
}

// hold maps n bytes of anonymous memory and touches every page so they
// are resident (and charged to the cgroup) rather than merely reserved.
// An mmap rather than a Go slice: Munmap returns it at once, while the
// garbage collector would keep it for a while.
func hold(n int64) ([]byte, error) {
	mem, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	page := os.Getpagesize()
	for i := 0; i < len(mem); i += page {
		mem[i] = 1
	}
	return mem, nil
}

func unmap(mem []byte) { _ = syscall.Munmap(mem) }

func crash(mode string) {
	if mode == "kill" {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Second) // the signal is asynchronous
	}
	fmt.Fprintln(os.Stderr, "mock: exiting mid-task as told (crash)")
	os.Exit(3)
}
