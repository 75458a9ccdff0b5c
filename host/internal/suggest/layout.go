package suggest

import (
	"fmt"
	"sort"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/plan"
	"github.com/sealhost/sealhost/host/internal/topology"
	"k8s.io/utils/cpuset"
)

// Layout constants, each a choice the package doc explains.
const (
	// maxProducers is rust-fil-proofs' default FIL_PROOFS_MULTICORE_SDR_PRODUCERS.
	maxProducers = 3
	// kernelShare is the part of a node's memory left to the kernel and
	// the host: the seed counts 1.96 of 2 TiB usable.
	kernelShare = 0.02
	// pc2Cores is how many cores a pc2 processor gets.
	pc2Cores = 8
)

// parentCacheBytes is rust-fil-proofs' SDR parent cache for a sector size:
// 56 GiB for 32GiB sectors, 112 GiB for 64GiB, in proportion below.
func parentCacheBytes(sectorBytes uint64) uint64 { return sectorBytes / 32 * 56 }

// core is one physical core: all its hardware threads.
type core = cpuset.CPUSet

// NodeLayout is how one NUMA node is used, with the reasons.
type NodeLayout struct {
	Node        int    `json:"node"`
	MemoryBytes uint64 `json:"memory_bytes"`
	// Groups is the number of whole L3 groups on the node; GroupCores
	// their cores each (0 when they differ).
	Groups     int `json:"groups"`
	GroupCores int `json:"group_cores"`
	// Producers, UnitCores and UnitsPerGroup are the multicore SDR
	// settings chosen for pc1.
	Producers     int `json:"producers"`
	UnitCores     int `json:"unit_cores"`
	UnitsPerGroup int `json:"units_per_group"`
	// MemoryTasks is how many pc1 tasks the node's memory holds.
	MemoryTasks int `json:"memory_tasks"`
	// PC1Groups and PC1Tasks are what pc1 gets; PC1CPUs its cpuset.
	PC1Groups int    `json:"pc1_groups"`
	PC1Tasks  int    `json:"pc1_tasks"`
	PC1CPUs   string `json:"pc1_cpus"`
	// Idle are the pc1 groups' cores no task's unit takes; Unused the
	// cores of the groups pc1 does not get; Spare the cores kept free;
	// Pool what is left for pc2 and c2, in order.
	Idle   string `json:"idle"`
	Unused string `json:"unused"`
	Spare  string `json:"spare"`
	Pool   string `json:"pool"`
	// Why explains the node's pc1 in a sentence.
	Why string `json:"why"`

	pc1   cpuset.CPUSet
	idle  []core
	spare []core
	pool  []core
}

// Layout is what every candidate shares: pc1, the spare cores, and the
// cores left for pc2 and c2, per node.
type Layout struct {
	Nodes []NodeLayout `json:"nodes"`
	Spare string       `json:"spare"`
	// TaskBytes is one pc1 task's memory; ParentCacheBytes the parent
	// cache counted on each node.
	TaskBytes        uint64 `json:"task_bytes"`
	ParentCacheBytes uint64 `json:"parent_cache_bytes"`
}

// producersFor picks the multicore SDR producer count for groups of n
// cores: the most units per group that leave a core idle, with the most
// producers among those; failing that (a group too small to leave a core),
// the most units at all. ok is false when no unit fits.
func producersFor(n int) (producers, units int, ok bool) {
	best, bestUnits := 0, 0
	for idleWanted := 1; idleWanted >= 0; idleWanted-- {
		for p := maxProducers; p >= 1; p-- {
			u := n / (p + 1)
			if u == 0 || n-u*(p+1) < idleWanted {
				continue
			}
			if u > bestUnits {
				best, bestUnits = p, u
			}
		}
		if bestUnits > 0 {
			return best, bestUnits, true
		}
	}
	return 0, 0, false
}

// groupsOf returns the node's L3 groups as lists of cores, in cpu order.
// A machine that reports no L3 has one group per node (rust-fil-proofs
// then finds a single cache and groups heuristically, as plan models it).
func groupsOf(m *topology.Machine, node int) [][]core {
	var out [][]core
	if len(m.L3) == 0 {
		if cpus := m.NodeCPUs(node); cpus.Size() > 0 {
			out = append(out, m.Cores(cpus))
		}
		return out
	}
	for _, g := range m.L3GroupsOn(node) {
		if cores := m.Cores(g.CPUs); len(cores) > 0 {
			out = append(out, cores)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0].List()[0] < out[j][0].List()[0] })
	return out
}

func union(cores []core) cpuset.CPUSet {
	s := cpuset.New()
	for _, c := range cores {
		s = s.Union(c)
	}
	return s
}

// layout decides pc1, the spare cores and the pool on every node.
func layout(m *topology.Machine, sector config.SectorSize, spare int) (*Layout, error) {
	l := &Layout{TaskBytes: plan.PC1TaskBytes(sector.Bytes), ParentCacheBytes: parentCacheBytes(sector.Bytes)}
	var nodes []int
	for _, id := range m.NodeIDs() {
		if m.NodeCPUs(id).Size() > 0 {
			nodes = append(nodes, id)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("the machine has no NUMA node with cpus")
	}
	for i, id := range nodes {
		nl := NodeLayout{Node: id, MemoryBytes: m.NodeMemory(id)}
		groups := groupsOf(m, id)
		nl.Groups = len(groups)
		size := 0
		for gi, g := range groups {
			if gi == 0 {
				size = len(g)
			} else if len(g) != size {
				size = 0
				break
			}
		}
		nl.GroupCores = size
		// Quota of spare cores: spread evenly, the remainder to the first nodes.
		want := spare / len(nodes)
		if i < spare%len(nodes) {
			want++
		}
		if err := nl.place(groups, l, want); err != nil {
			return nil, fmt.Errorf("NUMA node %d: %v", id, err)
		}
		l.Nodes = append(l.Nodes, nl)
	}
	all := cpuset.New()
	for _, n := range l.Nodes {
		all = all.Union(union(n.spare))
	}
	l.Spare = all.String()
	return l, nil
}

func (nl *NodeLayout) place(groups [][]core, l *Layout, spareWanted int) error {
	usable := float64(nl.MemoryBytes)*(1-kernelShare) - float64(l.ParentCacheBytes)
	if usable > 0 && l.TaskBytes > 0 {
		nl.MemoryTasks = int(usable / float64(l.TaskBytes))
	}
	var unused []core
	if nl.GroupCores > 0 && nl.MemoryTasks > 0 {
		p, u, ok := producersFor(nl.GroupCores)
		if ok {
			nl.Producers, nl.UnitCores, nl.UnitsPerGroup = p, p+1, u
			nl.PC1Groups = min(len(groups), (nl.MemoryTasks+u-1)/u)
			nl.PC1Tasks = min(nl.PC1Groups*u, nl.MemoryTasks)
		}
	}
	// Units are handed out one per group first, then a second per group
	// (rust-fil-proofs' order, as plan models it); task i takes unit i.
	taken := make([]int, nl.PC1Groups)
	left := nl.PC1Tasks
	for k := 0; k < nl.UnitsPerGroup && left > 0; k++ {
		for g := 0; g < nl.PC1Groups && left > 0; g++ {
			taken[g]++
			left--
		}
	}
	var pc1 []core
	for g, cores := range groups {
		if g >= nl.PC1Groups {
			unused = append(unused, cores...)
			continue
		}
		pc1 = append(pc1, cores...)
		nl.idle = append(nl.idle, cores[taken[g]*nl.UnitCores:]...)
	}
	nl.pc1 = union(pc1)
	switch {
	case nl.PC1Tasks == 0 && nl.MemoryTasks == 0:
		nl.Why = fmt.Sprintf("no pc1: %s less %.0f%% and the %s parent cache holds no task of %s",
			config.HumanSize(nl.MemoryBytes), 100*kernelShare, config.HumanSize(l.ParentCacheBytes), config.HumanSize(l.TaskBytes))
	case nl.PC1Tasks == 0:
		nl.Why = "no pc1: the L3 groups differ in size or are too small for a multicore SDR unit"
	default:
		idleWord := "no core idle"
		if spareCores := nl.GroupCores - nl.UnitsPerGroup*nl.UnitCores; spareCores > 0 {
			idleWord = fmt.Sprintf("%d idle", spareCores)
		}
		nl.Why = fmt.Sprintf("%d producer%s: units of %d cores fit each %d-core L3 group %d time%s (%s); %s less %.0f%% and the %s parent cache holds %d tasks of %s, so pc1 takes %d of the node's %d groups",
			nl.Producers, plural(nl.Producers), nl.UnitCores, nl.GroupCores, nl.UnitsPerGroup, plural(nl.UnitsPerGroup), idleWord,
			config.HumanSize(nl.MemoryBytes), 100*kernelShare, config.HumanSize(l.ParentCacheBytes), nl.MemoryTasks, config.HumanSize(l.TaskBytes),
			nl.PC1Groups, len(groups))
	}
	// Spare: the last idle pc1 cores, then the last unused cores.
	idle := append([]core(nil), nl.idle...)
	for len(nl.spare) < spareWanted && len(idle) > 0 {
		nl.spare = append(nl.spare, idle[len(idle)-1])
		idle = idle[:len(idle)-1]
	}
	for len(nl.spare) < spareWanted && len(unused) > 0 {
		nl.spare = append(nl.spare, unused[len(unused)-1])
		unused = unused[:len(unused)-1]
	}
	if len(nl.spare) < spareWanted {
		return fmt.Errorf("%d spare cores wanted, but only %d are not pc1's: lower -spare", spareWanted, len(nl.spare))
	}
	nl.pool = append(idle, unused...)
	nl.PC1CPUs = nl.pc1.String()
	nl.Idle = union(nl.idle).String()
	nl.Unused = union(unused).String()
	nl.Spare = union(nl.spare).String()
	nl.Pool = union(nl.pool).String()
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
