package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"k8s.io/utils/cpuset"
)

// Stage names a stage. Only the names in Stages may label a processor
// block.
type Stage string

const (
	StageTreeD Stage = "tree_d"
	StagePC1   Stage = "pc1"
	StagePC2   Stage = "pc2"
	StageC1    Stage = "c1"
	StageC2    Stage = "c2"

	// The stages besides sealing a sector that damocles and lotus also run
	// as separate tasks: snap deals, proving (PoSt), unsealing, and
	// writing a sector's staged file.
	StageSnapEncode  Stage = "snap_encode"
	StageSnapProve   Stage = "snap_prove"
	StageWindowPoSt  Stage = "window_post"
	StageWinningPoSt Stage = "winning_post"
	StageUnseal      Stage = "unseal"
	StageAddPieces   Stage = "add_pieces"
)

// SealingStages are the stages a sector goes through to be sealed, in
// pipeline order: what `host seal` and `host simulate` run per sector.
var SealingStages = []Stage{StageTreeD, StagePC1, StagePC2, StageC1, StageC2}

// Stages lists every stage a processor may serve: the sealing stages in
// pipeline order, then the others in the protocol's order.
var Stages = []Stage{StageTreeD, StagePC1, StagePC2, StageC1, StageC2,
	StageSnapEncode, StageSnapProve, StageWindowPoSt, StageWinningPoSt, StageUnseal, StageAddPieces}

// Policy names how the lock arbiter shares a lock between stages.
type Policy string

const (
	PolicyFair   Policy = "fair"
	PolicyFIFO   Policy = "fifo"
	PolicyGreedy Policy = "greedy"
)

// Config is a decoded, schema-checked config.hcl. Cross-references that need
// the machine (cpus present, GPUs present) are checked by package plan;
// references inside the file (plugin and lock names) are checked here.
type Config struct {
	// File is the path the config was read from; relative plugin paths
	// resolve against its folder.
	File string
	// Source is the file's bytes, kept so diagnostics can quote lines.
	Source []byte

	SectorSize  SectorSize
	SectorRange hcl.Range

	// Confine is false when the operator opted out of cgroup confinement
	// (`confine = false`). Default true.
	Confine bool

	Plugins []Plugin
	Limits  map[Stage]int
	// LimitRanges holds the range of each limits entry, for diagnostics.
	LimitRanges map[Stage]hcl.Range
	Stagger     map[Stage]time.Duration
	Locks       []Lock
	Arbiter     Arbiter
	Processors  []Processor
	Simulation  *Simulation
}

// SectorSize is one of the sizes the proofs support.
type SectorSize struct {
	Name  string // as written: "32GiB"
	Bytes uint64
}

// Plugin is a plugin binary declared once and referred to by name.
type Plugin struct {
	Name   string
	Path   string // absolute, resolved against the config file's folder
	Args   []string
	SHA256 string // lower-case hex, empty when not pinned
	Range  hcl.Range

	// PathRange and SHA256Range locate those attributes (Range when absent).
	PathRange   hcl.Range
	SHA256Range hcl.Range
}

// Lock is a named counting lock.
type Lock struct {
	Name     string
	Capacity int
	Range    hcl.Range
}

// Arbiter configures lock sharing between stages.
type Arbiter struct {
	Policy  Policy
	Weights map[Stage]float64 // stages not listed weigh 1
	// Urgent stages go before the policy's order (arbiter.Config.Urgent);
	// UrgentBurst bounds them (0: arbiter.DefaultUrgentBurst); Preempt maps
	// a lock to how long an urgent request waits for it before a
	// non-urgent holder is cancelled and requeued.
	Urgent      []Stage
	UrgentRange hcl.Range
	UrgentBurst int
	Preempt     map[string]time.Duration
	// PreemptFor is preempt's per-stage form: lock → urgent stage → bound,
	// for those stages only.
	PreemptFor map[string]map[Stage]time.Duration
	// Range is the arbiter block's header; zero when there is no block.
	Range hcl.Range
}

// Preempts reports whether any lock may be preempted for urgent work.
func (a *Arbiter) Preempts() bool { return len(a.Preempt)+len(a.PreemptFor) > 0 }

// Processor is one processor block: one plugin process serving one stage.
type Processor struct {
	ID    string // "<stage>.<n>", n counting that stage's blocks from 0
	Stage Stage
	// Index is n in ID.
	Index  int
	Plugin string // name of a Plugin
	// CPUs is the configured cpuset; HasCPUs is false when the block gave
	// none (then the processor may use every cpu of the machine).
	CPUs          cpuset.CPUSet
	HasCPUs       bool
	NUMAPreferred *int
	Concurrent    int // default 1
	Locks         []string
	Env           map[string]string
	InheritEnv    bool          // default true
	MemoryLimit   uint64        // bytes, 0 = no limit
	Timeout       time.Duration // 0 = none

	// Ranges of the block and of individual attributes, for diagnostics.
	Range       hcl.Range
	CPUsRange   hcl.Range
	NUMARange   hcl.Range
	LocksRange  hcl.Range
	EnvRange    hcl.Range
	PluginRange hcl.Range
	ConcurRange hcl.Range
	// Added after the skeleton. Like the ranges above, each is the block's
	// header range when the attribute is absent, so it is never zero.
	MemoryRange  hcl.Range
	TimeoutRange hcl.Range
	// LockRanges[i] locates Locks[i]; EnvRanges[k] locates the `K = "V"`
	// entry of Env[k].
	LockRanges []hcl.Range
	EnvRanges  map[string]hcl.Range
}

// Simulation holds the inputs of `host simulate`.
type Simulation struct {
	// SealingThreads is the number of sectors in flight; 0 when the block
	// does not set it (the simulator then picks its default).
	SealingThreads int
	// WaitSeed defaults to DefaultWaitSeed (80m, damocles' sealcalc).
	WaitSeed time.Duration
	// Durations holds only the stages the block lists; the simulator takes
	// the others from its built-in table.
	Durations map[Stage]time.Duration
	// Post is the PoSt workload (the post block); nil when there is none,
	// and then no PoSt task is simulated.
	Post  *PoSt
	Range hcl.Range
}
