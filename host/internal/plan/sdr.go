package plan

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/utils/cpuset"
)

// Environment variables of rust-fil-proofs that shape how pc1 uses cores.
const (
	envMulticoreSDR = "FIL_PROOFS_USE_MULTICORE_SDR"
	envProducers    = "FIL_PROOFS_MULTICORE_SDR_PRODUCERS"
	// defaultProducers is rust-fil-proofs' default for envProducers.
	defaultProducers = 3
)

// SDR is the multicore SDR model of one pc1 processor: how rust-fil-proofs
// (storage-proofs-porep, stacked/vanilla/cores.rs) splits the process's
// cpuset into units and which unit each running task takes.
type SDR struct {
	// Producers is FIL_PROOFS_MULTICORE_SDR_PRODUCERS (default 3).
	Producers int
	// UnitCores is Producers+1: a task's main thread and its producers
	// each bind to one hardware thread of its own core.
	UnitCores int
	// Groups are the L3 groups the cpuset covers, as machine indices
	// (-1 when the machine reports no L3).
	Groups []int
	// GroupCores is the number of cores rust-fil-proofs puts in each group.
	GroupCores int
	// Units are every unit that fits, in the order rust-fil-proofs hands
	// them out: one per group first, then a second per group, and so on.
	// Each holds the hardware threads the unit's threads bind to.
	Units []cpuset.CPUSet
	// Tasks are the processor's concurrent tasks: task i takes unit i when
	// there is one; the others run unbound.
	Tasks []Task
}

// Task is one concurrently running pc1 task of a processor.
type Task struct {
	Index int
	// Unit is the index in SDR.Units the task takes, or -1 when no unit
	// is left and the task runs unbound anywhere in the cpuset.
	Unit int
	// CPUs are the hardware threads its threads bind to (empty if unbound).
	CPUs cpuset.CPUSet
	// L3 is the machine index of the unit's L3 group (-1 if unbound or
	// the machine reports no L3).
	L3 int
}

// Unbound returns how many tasks found no unit.
func (s *SDR) Unbound() int {
	n := 0
	for _, t := range s.Tasks {
		if t.Unit < 0 {
			n++
		}
	}
	return n
}

// parseBoolEnv reads a boolean the way rust-fil-proofs' settings do (the
// config crate): true/false, 1/0, yes/no, on/off, any case.
func parseBoolEnv(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use 1 or 0)", v)
}

// sdrSettings returns whether multicore SDR is on and its producer count,
// as rust-fil-proofs would read them from env.
func sdrSettings(env map[string]string) (on bool, producers int, err error) {
	producers = defaultProducers
	if v, ok := env[envMulticoreSDR]; ok {
		if on, err = parseBoolEnv(v); err != nil {
			return false, 0, fmt.Errorf("%s=%s: %v", envMulticoreSDR, v, err)
		}
	}
	if v, ok := env[envProducers]; ok {
		n, perr := strconv.Atoi(strings.TrimSpace(v))
		if perr != nil || n < 0 {
			return on, 0, fmt.Errorf("%s=%s: not a count of producer threads (a whole number, default 3)", envProducers, v)
		}
		if on && n == 0 {
			// Seen here with rust-fil-proofs 18.1 (filecoin-ffi v1.32.0):
			// a 2KiB pc1 with no producer never finished.
			return on, 0, fmt.Errorf("%s=0: multicore SDR with no producer thread hangs pc1 (rust-fil-proofs 18.1); use 1 or more", envProducers)
		}
		producers = n
	}
	return on, producers, nil
}

// partialL3 describes an L3 group a cpuset covers only in part.
type partialL3 struct {
	group int           // machine index
	have  cpuset.CPUSet // cpus of the group inside the cpuset
	whole cpuset.CPUSet // all cpus of the group
}

// sdrModel computes the units of a pc1 processor on set (its present cpus).
// It returns the partially covered groups instead when set touches more than
// one L3 group and does not cover each whole: rust-fil-proofs then counts a
// number of cores that is not a multiple of its groups and aborts (or, when
// the count divides by luck, builds units that straddle caches).
//
// When set lies inside one L3 group, rust-fil-proofs finds a single shared
// cache and groups the cores heuristically into units of UnitCores; that is
// the same as one group, so it is modelled the same way.
func (x *machine) sdrModel(set cpuset.CPUSet, producers, concurrent int) (*SDR, []partialL3, bool) {
	s := &SDR{Producers: producers, UnitCores: producers + 1}
	var partial []partialL3
	var groups [][]cpuset.CPUSet // cores per touched group
	for gi, g := range x.l3 {
		in := g.cpus.Intersection(set)
		if in.Size() == 0 {
			continue
		}
		cores := x.coresIn(in)
		s.Groups = append(s.Groups, g.index)
		groups = append(groups, cores)
		if len(cores) < len(g.cores) {
			partial = append(partial, partialL3{group: x.l3Label(gi), have: in, whole: g.cpus})
		}
	}
	if len(groups) > 1 && len(partial) > 0 {
		return nil, partial, false
	}
	// rust-fil-proofs walks all cores in order and cuts them into
	// len(groups) equal groups by index, so unequal groups misalign too.
	var all []cpuset.CPUSet
	for _, g := range groups {
		all = append(all, g...)
	}
	if len(groups) > 1 && len(all)%len(groups) != 0 {
		return nil, nil, false
	}
	if len(groups) > 0 {
		s.GroupCores = len(all) / len(groups)
	}
	perGroup := 0
	if s.UnitCores > 0 {
		perGroup = s.GroupCores / s.UnitCores
	}
	for k := 0; k < perGroup; k++ {
		for gi := range groups {
			cores := all[gi*s.GroupCores : (gi+1)*s.GroupCores][k*s.UnitCores : (k+1)*s.UnitCores]
			var threads []int
			for _, core := range cores {
				// The thread hwloc binds to: the core's first thread
				// inside the process's cpuset.
				threads = append(threads, core.Intersection(set).List()[0])
			}
			s.Units = append(s.Units, cpuset.New(threads...))
		}
	}
	for i := 0; i < concurrent; i++ {
		t := Task{Index: i, Unit: -1, CPUs: cpuset.New(), L3: -1}
		if i < len(s.Units) {
			t.Unit = i
			t.CPUs = s.Units[i]
			t.L3 = x.l3Label(x.l3Of[s.Units[i].List()[0]])
		}
		s.Tasks = append(s.Tasks, t)
	}
	return s, nil, true
}

// busy returns the cpus a pc1 processor's running tasks occupy: each bound
// unit's cores with all their hardware threads (an SMT sibling of a busy
// thread shares its core), plus the whole cpuset when some task runs
// unbound, since such a task's threads may land anywhere in it.
func (x *machine) sdrBusy(s *SDR, set cpuset.CPUSet) cpuset.CPUSet {
	busy := cpuset.New()
	for _, t := range s.Tasks {
		if t.Unit < 0 {
			return set.Union(busy)
		}
		for _, c := range t.CPUs.List() {
			busy = busy.Union(x.coreOf[c])
		}
	}
	return busy
}

// unitsFor returns how many units fit on set with the given producer count,
// for suggesting a producer count in pc1-units-short.
func (x *machine) unitsFor(set cpuset.CPUSet, producers int) int {
	s, _, ok := x.sdrModel(set, producers, 0)
	if !ok {
		return 0
	}
	return len(s.Units)
}
