package supervise

import "time"

// callRunners are goroutines that run the stage calls (Do's f) of
// in-process plugins (Config.Launch) and stay, parked, for the next one.
// Do runs such an f apart from its caller so that a plugin's death
// answers the task at once, without waiting for a call that may never
// return (a real plugin's gRPC call ends with its context, which Do ends
// at the death, so it runs on the caller's goroutine); a fresh goroutine
// per call grew its stack
// through the gRPC client's frames again on every task (13% of the host's
// CPU at 256 tasks in flight), while a kept one has the stack already.
var callRunners = make(chan func())

// runnerIdle is how long a runner waits for a call before it ends, so a
// burst of tasks leaves no crowd of goroutines behind.
const runnerIdle = 30 * time.Second

// goCall runs f on a parked runner, or on a new one when all are busy.
func goCall(f func()) {
	select {
	case callRunners <- f:
	default:
		go runCalls(f)
	}
}

func runCalls(f func()) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		f()
		f = nil // not kept alive while parked
		idle.Reset(runnerIdle)
		select {
		case f = <-callRunners:
		case <-idle.C:
			return
		}
	}
}
