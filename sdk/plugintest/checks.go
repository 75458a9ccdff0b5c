package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/pluginclient"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// callTimeout is Config.CallTimeout's default.
const callTimeout = 2 * time.Minute

// call sends in's request for stage.
func call(ctx context.Context, c *pluginclient.Client, stage sealv1.Stage, in *Inputs) (proto.Message, error) {
	switch stage {
	case sealv1.Stage_STAGE_TREE_D:
		return c.TreeD(ctx, in.TreeD)
	case sealv1.Stage_STAGE_PC1:
		return c.PC1(ctx, in.PC1)
	case sealv1.Stage_STAGE_PC2:
		return c.PC2(ctx, in.PC2)
	case sealv1.Stage_STAGE_C1:
		return c.C1(ctx, in.C1)
	case sealv1.Stage_STAGE_C2:
		return c.C2(ctx, in.C2)
	}
	return callLater(ctx, c, stage, in)
}

// plausible reports what is wrong with a stage's response, or nil.
func plausible(stage sealv1.Stage, resp proto.Message, in *Inputs) error {
	switch r := resp.(type) {
	case *sealv1.TreeDResponse:
		if err := checkCID(r.GetUnsealedCid(), unsealedKind); err != nil {
			return fmt.Errorf("unsealed_cid: %v", err)
		}
	case *sealv1.PC1Response:
		if len(r.GetPhase1Output()) == 0 {
			return errors.New("phase1_output is empty; want PC1's output (~1.5 KB of JSON from filecoin-ffi)")
		}
	case *sealv1.PC2Response:
		if err := checkCID(r.GetSealedCid(), sealedKind); err != nil {
			return fmt.Errorf("sealed_cid: %v", err)
		}
		if err := checkCID(r.GetUnsealedCid(), unsealedKind); err != nil {
			return fmt.Errorf("unsealed_cid: %v", err)
		}
	case *sealv1.C1Response:
		if len(r.GetPhase1Output()) == 0 {
			return errors.New("phase1_output is empty; want C1's output")
		}
	case *sealv1.C2Response:
		want, err := proofSize(in.C2.GetSector().GetRegisteredSealProof())
		if err != nil {
			return nil
		}
		if len(r.GetProof()) != want {
			return fmt.Errorf("proof is %d bytes; want %d for proof type %d (192 bytes per partition)",
				len(r.GetProof()), want, in.C2.GetSector().GetRegisteredSealProof())
		}
	default:
		if err, ok := plausibleLater(resp, in); ok {
			return err
		}
		return fmt.Errorf("response of type %T for stage %s", resp, stageName(stage))
	}
	return nil
}

// feed passes a stage's output on to the next stages' requests.
func feed(resp proto.Message, in *Inputs) {
	switch r := resp.(type) {
	case *sealv1.PC1Response:
		in.PC2.Phase1Output = r.GetPhase1Output()
	case *sealv1.PC2Response:
		in.C1.SealedCid, in.C1.UnsealedCid = r.GetSealedCid(), r.GetUnsealedCid()
		feedSealed(r, in)
	case *sealv1.C1Response:
		in.C2.Phase1Output = r.GetPhase1Output()
	default:
		feedLater(resp, in)
	}
}

func (h *harness) inputs(t testing.TB) (*Inputs, error) {
	dir := t.TempDir()
	in, err := h.cfg.Inputs(dir)
	if err != nil {
		return nil, fmt.Errorf("Config.Inputs: %v", err)
	}
	if in == nil || in.TreeD == nil || in.PC1 == nil || in.PC2 == nil || in.C1 == nil || in.C2 == nil {
		return nil, errors.New("Config.Inputs returned a nil request; start from DefaultInputs(dir) and change what your plugin needs")
	}
	if err := laterDefaults(dir, in); err != nil {
		return nil, fmt.Errorf("laying out the default requests of the stages besides sealing: %v", err)
	}
	return in, nil
}

func (h *harness) checkHandshake(t *testing.T) error {
	c, err := h.start(t, startOpts{})
	if err != nil {
		return fmt.Errorf("start: %v\nwant: the plugin completes the go-plugin handshake (call sdk.Serve from main)", err)
	}
	if v := c.ProtocolVersion(); v != sdk.ProtocolVersion {
		return fmt.Errorf("negotiated protocol version %d, want %d", v, sdk.ProtocolVersion)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("Info: %v", err)
	}
	var problems []string
	if info.GetName() == "" || (h.cfg.Name != "" && info.GetName() != h.cfg.Name) {
		problems = append(problems, fmt.Sprintf("name %q, want %q", info.GetName(), or(h.cfg.Name, "a non-empty name")))
	}
	if info.GetVersion() == "" || (h.cfg.Version != "" && info.GetVersion() != h.cfg.Version) {
		problems = append(problems, fmt.Sprintf("version %q, want %q", info.GetVersion(), or(h.cfg.Version, "a non-empty version")))
	}
	got := slices.Clone(info.GetStages())
	want := slices.Clone(h.cfg.Stages)
	slices.Sort(got)
	slices.Sort(want)
	// Compact drops duplicates: a stage listed twice is a mistake too.
	if got = slices.Compact(got); !slices.Equal(got, slices.Compact(want)) || len(got) != len(info.GetStages()) {
		problems = append(problems, fmt.Sprintf("stages %s, want %s (Config.Stages)", names(info.GetStages()), names(h.cfg.Stages)))
	}
	if info.GetProtocolVersion() != sdk.ProtocolVersion {
		problems = append(problems, fmt.Sprintf("protocol_version %d, want %d", info.GetProtocolVersion(), sdk.ProtocolVersion))
	}
	if len(problems) > 0 {
		return fmt.Errorf("Info answered %s", strings.Join(problems, "; "))
	}
	t.Logf("plugin %s %s, stages %s, sdk %q", info.GetName(), info.GetVersion(), names(info.GetStages()), info.GetSdkVersion())
	return nil
}

func (h *harness) checkStages(t *testing.T) error {
	c, err := h.start(t, startOpts{})
	if err != nil {
		return err
	}
	in, err := h.inputs(t)
	if err != nil {
		return err
	}
	var errs []error
	var took []string
	defer func() { t.Logf("took: %s", strings.Join(took, ", ")) }()
	rules := newCrossStage(in)
	for _, stage := range pipeline {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
		start := time.Now()
		resp, err := call(ctx, c, stage, in)
		cancel()
		if h.declared[stage] {
			took = append(took, fmt.Sprintf("%s %v", stageName(stage), time.Since(start).Round(time.Millisecond)))
		}
		if !h.declared[stage] {
			var ce *pluginclient.CallError
			if !errors.As(err, &ce) || ce.Code != codes.Unimplemented {
				errs = append(errs, fmt.Errorf("%s (not declared): got %v, want an UNIMPLEMENTED error", stageName(stage), or(err, "success")))
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s with a valid request: %v, want a response", stageName(stage), err))
			continue
		}
		if err := plausible(stage, resp, in); err != nil {
			errs = append(errs, fmt.Errorf("%s answered %s", stageName(stage), err))
			continue
		}
		if err := rules.check(resp); err != nil {
			errs = append(errs, err)
			continue
		}
		if r, ok := resp.(*sealv1.C2Response); ok {
			// Reported, not required: the kit's inputs are synthetic, a
			// mock or remote prover cannot verify, and verified=false is
			// honest. What the operator sees is the plugin's own line.
			t.Logf("c2: verified %v: %s", r.GetVerified(), or(r.GetVerification(), "(no verification line: set C2Response.verification to say how the proof was checked, or why not)"))
		}
		feed(resp, in)
	}
	return errors.Join(errs...)
}

// crossStage checks what the host checks between the stages of one sector
// (and what filecoin-ffi relies on), so a plugin whose every answer is
// well-formed but which disagrees with the rest of the pipeline fails
// here, not on every sector under `host seal`. The stages run in pipeline
// order on one sector; a stage the plugin does not serve is stood in for
// by the kit's known answer for its inputs.
type crossStage struct {
	// commD is the sector's comm_d as tree_d answered it, or, before
	// that, as the pieces give it: "" when the kit cannot tell (several
	// pieces, whose tree it does not compute).
	commD, commDFrom string
	// snapCommD is the new comm_d snap_encode must answer, when its
	// pieces are one piece filling the sector; "" otherwise.
	snapCommD string
}

func newCrossStage(in *Inputs) *crossStage {
	r := &crossStage{}
	ps := in.TreeD.GetPieces()
	if size, err := sdk.SectorSize(in.TreeD.GetSector().GetRegisteredSealProof()); err == nil && len(ps) == 1 && ps[0].GetSize() == size {
		r.commD, r.commDFrom = ps[0].GetPieceCid(), "its only piece fills it: the piece's CID"
	}
	ps = in.SnapEncode.GetPieces()
	if size, err := sdk.SectorSize(in.SnapEncode.GetSector().GetRegisteredSealProof()); err == nil && len(ps) == 1 && ps[0].GetSize() == size {
		r.snapCommD = ps[0].GetPieceCid()
	}
	return r
}

func (r *crossStage) check(resp proto.Message) error {
	switch v := resp.(type) {
	case *sealv1.TreeDResponse:
		if r.commD != "" && v.GetUnsealedCid() != r.commD {
			return fmt.Errorf("tree_d answered comm_d %s, but the sector's comm_d is %s (%s).\n"+
				"rule: comm_d is the commitment of the sector's pieces in order; a single piece that fills the sector is its own comm_d. The host passes tree_d's comm_d on and fails the sector when pc2 disagrees",
				v.GetUnsealedCid(), r.commD, r.commDFrom)
		}
		r.commD, r.commDFrom = v.GetUnsealedCid(), "as this plugin's tree_d answered"
	case *sealv1.SnapEncodeResponse:
		if r.snapCommD != "" && v.GetUnsealedCid() != r.snapCommD {
			return fmt.Errorf("snap_encode answered unsealed_cid (the new comm_d) %s, but the staged data's comm_d is %s (its only piece fills the sector: the piece's CID).\n"+
				"rule: the new comm_d is the commitment of the pieces encoded, as for sealing; SnapProve and the chain check the update against it",
				v.GetUnsealedCid(), r.snapCommD)
		}
	case *sealv1.PC2Response:
		if r.commD != "" && v.GetUnsealedCid() != r.commD {
			return fmt.Errorf("pc2 answered unsealed_cid (comm_d) %s, but the sector's comm_d is %s (%s).\n"+
				"rule: pc2's comm_d is the sector's data commitment, the one tree_d computed (filecoin-ffi returns it from the pc1 output's comm_d); "+
				"`host seal` fails every sector where they differ (\"pc2 returned comm_d …, tree_d returned …\"). Return the comm_d of the data you sealed, not a made-up one",
				v.GetUnsealedCid(), r.commD, r.commDFrom)
		}
	}
	return nil
}

// checkPayloadRequest sends PayloadSize bytes in the request that carries
// the most data in real life: C2's phase1_output (C1's ~51 MB output), or
// else PC2's. The check is about transport: the plugin may reject the
// contents, but its gRPC server must accept the message.
func (h *harness) checkPayloadRequest(t *testing.T) error {
	var stage sealv1.Stage
	switch {
	case h.declared[sealv1.Stage_STAGE_C2]:
		stage = sealv1.Stage_STAGE_C2
	case h.declared[sealv1.Stage_STAGE_PC2]:
		stage = sealv1.Stage_STAGE_PC2
	default:
		return skipError("the plugin serves neither c2 nor pc2, the stages whose requests carry large outputs")
	}
	c, err := h.start(t, startOpts{})
	if err != nil {
		return err
	}
	in, err := h.inputs(t)
	if err != nil {
		return err
	}
	if stage == sealv1.Stage_STAGE_C2 {
		in.C2.Phase1Output = padJSON(in.C2.GetPhase1Output(), PayloadSize)
	} else {
		in.PC2.Phase1Output = padJSON(in.PC2.GetPhase1Output(), PayloadSize)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	_, err = call(ctx, c, stage, in)
	d := time.Since(start)
	var ce *pluginclient.CallError
	if err != nil && (!errors.As(err, &ce) || ce.Code == codes.ResourceExhausted || ce.Exit != nil || ctx.Err() != nil) {
		return fmt.Errorf("%s with a %d MiB request: %v\nwant: the request delivered (a response or the plugin's own error); the plugin's gRPC server must accept messages up to %d MiB (sdk.Serve sets this)",
			stageName(stage), PayloadSize>>20, err, sdk.MaxMessageSize>>20)
	}
	t.Logf("%s: %d MiB request answered in %v (%.0f MB/s %s, the plugin's own work included): %v", stageName(stage), PayloadSize>>20, d.Round(time.Millisecond),
		float64(PayloadSize)/d.Seconds()/1e6, transport(c), or(err, "success"))
	return nil
}

// padJSON returns a JSON object of at least n bytes holding doc's fields
// (when doc is an object) plus a padding string, so a plugin that parses
// its input still finds what it needs. Built by hand: encoding/json
// would spend seconds validating 64 MiB.
func padJSON(doc []byte, n int) []byte {
	doc = bytes.TrimSpace(doc)
	rest := []byte("}")
	if len(doc) > 2 && doc[0] == '{' && json.Valid(doc) {
		if inner := bytes.TrimSpace(doc[1 : len(doc)-1]); len(inner) > 0 {
			rest = append(append([]byte{','}, inner...), '}')
		}
	}
	head := []byte(`{"_plugintest_padding":"`)
	dots := max(0, n-len(head)-1-len(rest))
	out := make([]byte, 0, len(head)+dots+1+len(rest))
	out = append(out, head...)
	out = append(out, bytes.Repeat([]byte{'.'}, dots)...)
	out = append(out, '"')
	return append(out, rest...)
}

// checkPayloadResponse asks, through LargeOutputEnv, for a C1 or PC1
// output of PayloadSize bytes.
func (h *harness) checkPayloadResponse(t *testing.T) error {
	var stage sealv1.Stage
	switch {
	case h.declared[sealv1.Stage_STAGE_C1]:
		stage = sealv1.Stage_STAGE_C1
	case h.declared[sealv1.Stage_STAGE_PC1]:
		stage = sealv1.Stage_STAGE_PC1
	default:
		return skipError("the plugin serves neither c1 nor pc1, the stages whose responses carry large outputs")
	}
	if len(h.cfg.LargeOutputEnv) == 0 {
		return skipError("Config.LargeOutputEnv is not set: the kit has no way to ask the plugin for a 64 MiB output")
	}
	c, err := h.start(t, startOpts{env: h.cfg.LargeOutputEnv})
	if err != nil {
		return err
	}
	in, err := h.inputs(t)
	if err != nil {
		return err
	}
	// C1 needs PC2's CIDs: take them from the plugin when it can give
	// them (PC2 fed the placeholder PC1 output, to keep this check's
	// traffic to the one large message).
	if stage == sealv1.Stage_STAGE_C1 && h.declared[sealv1.Stage_STAGE_PC2] {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
		resp, err := c.PC2(ctx, in.PC2)
		cancel()
		if err == nil {
			feed(resp, in)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	resp, err := call(ctx, c, stage, in)
	d := time.Since(start)
	if err != nil {
		return fmt.Errorf("%s with LargeOutputEnv %q: %v\nwant: a response of at least %d MiB", stageName(stage), h.cfg.LargeOutputEnv, err, PayloadSize>>20)
	}
	var n int
	switch r := resp.(type) {
	case *sealv1.PC1Response:
		n = len(r.GetPhase1Output())
	case *sealv1.C1Response:
		n = len(r.GetPhase1Output())
	}
	if n < PayloadSize {
		return fmt.Errorf("%s with LargeOutputEnv %q answered %d bytes, want at least %d", stageName(stage), h.cfg.LargeOutputEnv, n, PayloadSize)
	}
	t.Logf("%s: %d MiB response in %v (%.0f MB/s %s, the plugin's own work included)", stageName(stage), n>>20, d.Round(time.Millisecond), float64(n)/d.Seconds()/1e6, transport(c))
	return nil
}

// transport says how large payloads travel to and from the plugin: a
// plugin that does not accept them as files (one built without package
// sdk, or with an older one) is correct, only slower.
func transport(c *pluginclient.Client) string {
	if c.BlobDir() != "" {
		return "as a file"
	}
	return "inline through gRPC: the plugin does not set InfoResponse.accepts_blobs, so large payloads take the slow path"
}

// checkCancel starts a call, cancels it, and checks that the call
// returned and the plugin stopped working within CancelBound: every
// process it had started is gone and it no longer burns cpu. A call that
// finishes before the cancel passes (the kit says so): set SlowEnv to
// make the check bite.
// HostCancelGrace is how long the host waits, after cancelling a call,
// for the plugin to end it before killing the plugin (failing every other
// call in flight): supervise's CancelGrace default.
const HostCancelGrace = 10 * time.Second

func (h *harness) checkCancel(t *testing.T) error {
	stage := h.probe()
	c, err := h.start(t, startOpts{env: h.cfg.SlowEnv})
	if err != nil {
		return err
	}
	in, err := h.inputs(t)
	if err != nil {
		return err
	}
	// The call is named as the host names its calls, so the plugin's Info
	// says when its handler has really returned.
	const callID = "plugintest-cancel"
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), sdk.CallMetadata, callID))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := call(ctx, c, stage, in)
		done <- err
	}()
	// Let the plugin get going: start its programs, spin up its threads.
	select {
	case err := <-done:
		if len(h.cfg.SlowEnv) == 0 {
			t.Logf("%s finished (%v) before the kit could cancel it; set Config.SlowEnv to check cancellation", stageName(stage), or(err, "success"))
			return nil
		}
		return fmt.Errorf("%s with SlowEnv %q returned within 500ms (%v); want it still working, so cancellation can be seen", stageName(stage), h.cfg.SlowEnv, or(err, "success"))
	case <-time.After(500 * time.Millisecond):
	}
	before := observe(c.Pid())
	cancel()
	cancelled := time.Now()
	deadline := time.NewTimer(h.cfg.CancelBound)
	defer deadline.Stop()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s after cancel: %v, want context.Canceled or a result", stageName(stage), err)
		}
	case <-deadline.C:
		return fmt.Errorf("%s: the host's call had not returned %v after cancel; want it back within the bound", stageName(stage), h.cfg.CancelBound)
	}
	// The host's call returns at once; the plugin's work is what may go
	// on: its handler (the sdk lists it in Info.running_calls until it
	// returns), processes it started, threads still burning cpu.
	tracked := true
	for {
		handler := false
		ictx, icancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.Info(ictx)
		icancel()
		if err == nil {
			tracked = info.GetTracksCalls()
			handler = slices.Contains(info.GetRunningCalls(), callID)
		}
		now := observe(c.Pid())
		alive := now.stillAlive(before)
		busy := now.busy()
		if !handler && len(alive) == 0 && !busy {
			how := "its handler returned and it is idle"
			if !tracked {
				how = "it is idle (it does not list its running calls in Info, as the sdk does, so the kit cannot see its handler return)"
			}
			t.Logf("%s: %s %v after cancel", stageName(stage), how, time.Since(cancelled).Round(time.Millisecond))
			return nil
		}
		select {
		case <-deadline.C:
			var why []string
			if handler {
				why = append(why, "its handler has not returned (Info still lists the call in running_calls): it ignores ctx, like a busy loop or time.Sleep")
			}
			if len(alive) > 0 {
				why = append(why, fmt.Sprintf("processes it started are still running: %s", strings.Join(alive, "; ")))
			}
			if busy {
				why = append(why, fmt.Sprintf("%d of its threads still run (%.0f%% of a cpu)", now.running, now.cpu*100))
			}
			return fmt.Errorf("%s: %v after cancel, %s\n"+
				"The host keeps this call's processor slot and locks held until the call ends, and %v after the cancel kills the plugin, failing every call in flight on it.\n"+
				"want: the stage returns ctx.Err() as soon as ctx is done (select on ctx.Done(), not time.Sleep) and stops what it started (kill child processes, stop threads)",
				stageName(stage), h.cfg.CancelBound, strings.Join(why, " and "), HostCancelGrace)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

const missingCache = "a cache_path that does not exist"

// checkInvalid sends requests no conforming plugin may accept: an unknown
// proof type to every declared stage, and a missing cache folder to those
// that take paths. Each must fail with a message and retryable false.
func (h *harness) checkInvalid(t *testing.T) error {
	c, err := h.start(t, startOpts{})
	if err != nil {
		return err
	}
	var errs []error
	for _, stage := range h.cfg.Stages {
		for _, bad := range []struct {
			what   string
			change func(*Inputs) bool
		}{
			{"registered_seal_proof 9999", func(in *Inputs) bool {
				for _, s := range []*sealv1.Sector{in.TreeD.Sector, in.PC1.Sector, in.PC2.Sector, in.C1.Sector, in.C2.Sector} {
					s.RegisteredSealProof = 9999
				}
				return invalidLater(in, true, stage)
			}},
			{missingCache, func(in *Inputs) bool {
				const missing = "/nonexistent/plugintest/cache"
				in.TreeD.CachePath, in.PC1.CachePath, in.PC2.CachePath, in.C1.CachePath = missing, missing, missing, missing
				return invalidLater(in, false, stage) && stage != sealv1.Stage_STAGE_C2
			}},
		} {
			in, err := h.inputs(t)
			if err != nil {
				return err
			}
			if !bad.change(in) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
			resp, err := call(ctx, c, stage, in)
			cancel()
			var se *sdk.Error
			switch {
			case err == nil && bad.what == missingCache && faultInstead(resp, in):
				t.Logf("%s with %s: the sector reported faulty, as filecoin-ffi does", stageName(stage), bad.what)
			case err == nil:
				errs = append(errs, fmt.Errorf("%s with %s: succeeded, want an error", stageName(stage), bad.what))
			case !errors.As(err, &se) || strings.TrimSpace(se.Message) == "":
				errs = append(errs, fmt.Errorf("%s with %s: %v, want an error with a message", stageName(stage), bad.what, err))
			case se.Retryable:
				errs = append(errs, fmt.Errorf("%s with %s: %q marked retryable, want retryable=false (the same request will fail again: return sdk.Errorf)", stageName(stage), bad.what, se.Message))
			default:
				t.Logf("%s with %s: %q", stageName(stage), bad.what, se.Message)
			}
		}
	}
	return errors.Join(errs...)
}

func (h *harness) checkRetryable(t *testing.T) error {
	if len(h.cfg.FailEnv) == 0 {
		return skipError("Config.FailEnv is not set: the kit has no way to make the plugin fail transiently")
	}
	stage := h.probe()
	c, err := h.start(t, startOpts{env: h.cfg.FailEnv})
	if err != nil {
		return err
	}
	in, err := h.inputs(t)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
	defer cancel()
	_, err = call(ctx, c, stage, in)
	var se *sdk.Error
	switch {
	case err == nil:
		return fmt.Errorf("%s with FailEnv %q succeeded, want a retryable error", stageName(stage), h.cfg.FailEnv)
	case !errors.As(err, &se) || !se.Retryable || strings.TrimSpace(se.Message) == "":
		return fmt.Errorf("%s with FailEnv %q: %v, want an error with a message and retryable=true (sdk.RetryableErrorf)", stageName(stage), h.cfg.FailEnv, err)
	}
	t.Logf("%s: %q (retryable)", stageName(stage), se.Message)
	return nil
}

func (h *harness) checkConcurrent(t *testing.T) error {
	stage := h.probe()
	c, err := h.start(t, startOpts{})
	if err != nil {
		return err
	}
	n := h.cfg.Concurrency
	ins := make([]*Inputs, n)
	for i := range ins {
		if ins[i], err = h.inputs(t); err != nil {
			return err
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
			defer cancel()
			resp, err := call(ctx, c, stage, ins[i])
			if err == nil {
				err = plausible(stage, resp, ins[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	var failed []error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Errorf("call %d: %v", i, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d concurrent %s calls failed, want all to succeed:\n%v", len(failed), n, stageName(stage), errors.Join(failed...))
	}
	if st := c.ExitError(); st != nil {
		return fmt.Errorf("plugin exited during concurrent calls: %v", st)
	}
	t.Logf("%d concurrent %s calls in %v", n, stageName(stage), time.Since(start).Round(time.Millisecond))
	return nil
}

func (h *harness) checkPluginNoise(t *testing.T) error {
	if len(h.cfg.StdoutNoiseEnv) == 0 {
		return skipError("Config.StdoutNoiseEnv is not set: the kit has no way to make the plugin write to stdout")
	}
	c, err := h.start(t, startOpts{env: h.cfg.StdoutNoiseEnv})
	if err != nil {
		return fmt.Errorf("with StdoutNoiseEnv %q: %v\nwant: the plugin starts; output on fd 1 after the sdk package's init must not reach the handshake", h.cfg.StdoutNoiseEnv, err)
	}
	in, err := h.inputs(t)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
	defer cancel()
	stage := h.probe()
	resp, err := call(ctx, c, stage, in)
	if err == nil {
		err = plausible(stage, resp, in)
	}
	if err != nil {
		return fmt.Errorf("%s with StdoutNoiseEnv %q: %v, want a normal response", stageName(stage), h.cfg.StdoutNoiseEnv, err)
	}
	return nil
}

// checkNoiseBeforeStart runs the plugin behind a shell that prints a line
// to stdout first, as a wrapper script or a library constructor would,
// before any Go code can protect the handshake. The host must then either
// start the plugin anyway or fail promptly with an error that names the
// plugin and quotes the stray line; it must never hang.
func (h *harness) checkNoiseBeforeStart(t *testing.T) error {
	const noise = "plugintest: noise printed before the plugin started"
	start := time.Now()
	c, err := h.start(t, startOpts{wrap: "echo '" + noise + "'", quiet: true})
	took := time.Since(start)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CallTimeout)
		defer cancel()
		if _, err := c.Info(ctx); err != nil {
			return fmt.Errorf("the plugin started despite the noise but Info failed: %v", err)
		}
		t.Logf("the plugin started despite a line on stdout before it")
		return nil
	}
	var se *pluginclient.StartError
	msg := err.Error()
	switch {
	case !errors.As(err, &se):
		return fmt.Errorf("start failed with %T %v; want a *pluginclient.StartError", err, err)
	case !strings.Contains(msg, se.Plugin) || se.Plugin == "":
		return fmt.Errorf("start error %q does not name the plugin", msg)
	case !strings.Contains(msg, noise[:40]):
		return fmt.Errorf("start error %q does not quote the stray stdout line %q", msg, noise)
	case took > h.cfg.StartTimeout:
		return fmt.Errorf("start failed only after %v (start timeout %v); want promptly", took, h.cfg.StartTimeout)
	}
	t.Logf("failed clearly in %v: %v", took.Round(time.Millisecond), msg)
	return nil
}

func names(ss []sealv1.Stage) string {
	var n []string
	for _, s := range ss {
		n = append(n, stageName(s))
	}
	return "[" + strings.Join(n, ", ") + "]"
}

func or[T comparable](v T, alt any) any {
	var zero T
	if v == zero {
		return alt
	}
	return v
}
