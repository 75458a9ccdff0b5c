package plan

import (
	"encoding/json"
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/sealhost/sealhost/host/internal/config"
)

// The wire form of a plan, documented in docs/plan-json.md. Cpu lists are
// canonical kernel list strings ("0-41", "2,5,8"); empty lists are "" and
// empty arrays are [], never null, so consumers need no null checks except
// where null means something (numa_preferred, range, sdr).
type jsonPlan struct {
	Config      string           `json:"config"`
	Machine     string           `json:"machine"`
	SectorSize  string           `json:"sector_size"`
	PC1Task     uint64           `json:"pc1_task_bytes"`
	Processors  []jsonProcessor  `json:"processors"`
	CPUs        []jsonCPU        `json:"cpus"`
	SpareCPUs   string           `json:"spare_cpus"`
	Locks       []jsonLock       `json:"locks"`
	GPUs        []jsonGPU        `json:"gpus"`
	Memory      []jsonMemory     `json:"memory"`
	Diagnostics []jsonDiagnostic `json:"diagnostics"`
	Urgent      []string         `json:"urgent,omitempty"`
	UrgentBurst int              `json:"urgent_burst,omitempty"`
}

type jsonProcessor struct {
	ID            string            `json:"id"`
	Stage         string            `json:"stage"`
	Plugin        string            `json:"plugin"`
	CPUs          string            `json:"cpus"`
	CPUsGiven     bool              `json:"cpus_configured"`
	BusyCPUs      string            `json:"busy_cpus"`
	NUMAPreferred *int              `json:"numa_preferred"`
	Concurrent    int               `json:"concurrent"`
	Locks         []string          `json:"locks"`
	Env           map[string]string `json:"env"`
	GPUs          []int             `json:"gpus"`
	UsesGPU       bool              `json:"uses_gpu"`
	SDR           *jsonSDR          `json:"sdr"`
}

type jsonSDR struct {
	Producers  int        `json:"producers"`
	UnitCores  int        `json:"unit_cores"`
	L3Groups   []int      `json:"l3_groups"`
	GroupCores int        `json:"group_cores"`
	Units      []string   `json:"units"`
	Tasks      []jsonTask `json:"tasks"`
}

type jsonTask struct {
	Task int    `json:"task"`
	Unit *int   `json:"unit"`
	CPUs string `json:"cpus"`
	L3   *int   `json:"l3"`
}

type jsonCPU struct {
	CPU        int      `json:"cpu"`
	NUMA       int      `json:"numa"`
	L3         int      `json:"l3"`
	Processors []string `json:"processors"`
	Spare      bool     `json:"spare"`
}

type jsonLock struct {
	Name         string             `json:"name"`
	Capacity     int                `json:"capacity"`
	Processors   []string           `json:"processors"`
	PreemptAfter *float64           `json:"preempt_after_seconds,omitempty"`
	PreemptFor   map[string]float64 `json:"preempt_for_seconds,omitempty"`
}

type jsonGPU struct {
	Index      int      `json:"index"`
	NUMA       int      `json:"numa"`
	Address    string   `json:"pci_address"`
	Processors []string `json:"processors"`
}

type jsonMemory struct {
	NUMA  int              `json:"numa"`
	Need  uint64           `json:"need_bytes"`
	Have  uint64           `json:"have_bytes"`
	Needs []jsonMemoryNeed `json:"needs"`
}

type jsonMemoryNeed struct {
	Processor string `json:"processor"`
	Bytes     uint64 `json:"bytes"`
}

type jsonDiagnostic struct {
	Severity string  `json:"severity"`
	Code     string  `json:"code"`
	Summary  string  `json:"summary"`
	Detail   string  `json:"detail"`
	Range    *string `json:"range"`
}

// WriteJSON writes the plan as one indented JSON object (docs/plan-json.md).
func (p *Plan) WriteJSON(w io.Writer) error {
	out := jsonPlan{
		Config:      p.ConfigFile,
		Machine:     p.Machine,
		SectorSize:  p.SectorSize,
		PC1Task:     p.PC1TaskBytes,
		Processors:  []jsonProcessor{},
		CPUs:        []jsonCPU{},
		SpareCPUs:   p.Spare.String(),
		Locks:       []jsonLock{},
		GPUs:        []jsonGPU{},
		Memory:      []jsonMemory{},
		Diagnostics: jsonDiagnostics(p.Diagnostics),
		Urgent:      p.Urgent,
		UrgentBurst: p.UrgentBurst,
	}
	for _, pr := range p.Processors {
		jp := jsonProcessor{
			ID: pr.ID, Stage: string(pr.Stage), Plugin: pr.Plugin,
			CPUs: pr.CPUs.String(), CPUsGiven: pr.Configured, BusyCPUs: pr.Busy.String(),
			NUMAPreferred: pr.NUMAPreferred, Concurrent: pr.Concurrent,
			Locks: nonNil(pr.Locks), Env: pr.Env, GPUs: pr.GPUs, UsesGPU: pr.UsesGPU,
		}
		if jp.Env == nil {
			jp.Env = map[string]string{}
		}
		if jp.GPUs == nil {
			jp.GPUs = []int{}
		}
		if s := pr.SDR; s != nil {
			js := &jsonSDR{Producers: s.Producers, UnitCores: s.UnitCores, L3Groups: s.Groups, GroupCores: s.GroupCores, Units: []string{}, Tasks: []jsonTask{}}
			if js.L3Groups == nil {
				js.L3Groups = []int{}
			}
			for _, u := range s.Units {
				js.Units = append(js.Units, u.String())
			}
			for _, t := range s.Tasks {
				jt := jsonTask{Task: t.Index, CPUs: t.CPUs.String()}
				if t.Unit >= 0 {
					u, l3 := t.Unit, t.L3
					jt.Unit, jt.L3 = &u, &l3
				}
				js.Tasks = append(js.Tasks, jt)
			}
			jp.SDR = js
		}
		out.Processors = append(out.Processors, jp)
	}
	for _, c := range p.CPUs {
		out.CPUs = append(out.CPUs, jsonCPU{CPU: c.CPU, NUMA: c.NUMA, L3: c.L3, Processors: nonNil(c.Processors), Spare: c.Spare})
	}
	for _, l := range p.Locks {
		jl := jsonLock{Name: l.Name, Capacity: l.Capacity, Processors: nonNil(l.Processors)}
		if l.Preempt {
			s := l.PreemptAfter.Seconds()
			jl.PreemptAfter = &s
		}
		for st, d := range l.PreemptFor {
			if jl.PreemptFor == nil {
				jl.PreemptFor = map[string]float64{}
			}
			jl.PreemptFor[st] = d.Seconds()
		}
		out.Locks = append(out.Locks, jl)
	}
	for _, g := range p.GPUs {
		out.GPUs = append(out.GPUs, jsonGPU{Index: g.Index, NUMA: g.NUMA, Address: g.Address, Processors: nonNil(g.Processors)})
	}
	for _, m := range p.Memory {
		jm := jsonMemory{NUMA: m.NUMA, Need: m.NeedBytes, Have: m.HaveBytes, Needs: []jsonMemoryNeed{}}
		for _, n := range m.Needs {
			jm.Needs = append(jm.Needs, jsonMemoryNeed{n.Processor, n.Bytes})
		}
		out.Memory = append(out.Memory, jm)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func jsonDiagnostics(diags hcl.Diagnostics) []jsonDiagnostic {
	out := []jsonDiagnostic{}
	for _, d := range diags {
		if d == nil {
			continue
		}
		jd := jsonDiagnostic{Severity: "warning", Code: config.CodeOf(d), Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagError {
			jd.Severity = "error"
		}
		if d.Subject != nil {
			s := d.Subject.String()
			jd.Range = &s
		}
		out = append(out, jd)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
