//go:build linux

package confine

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkStart measures what the shim adds to starting a plugin: the
// same helper plugin (which exits at once) started directly, and started
// confined through the shim into a fresh cgroup. The ratio confined/direct
// is reported as "x-direct".
func BenchmarkStart(b *testing.B) {
	if os.Geteuid() != 0 || Available() != nil {
		b.Skip("needs root and cgroups")
	}
	self, _ := os.Executable()
	run := func(cmd *exec.Cmd) {
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
	var direct time.Duration
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			run(exec.Command(self, "helper", "exit", "."))
		}
		direct = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("confined", func(b *testing.B) {
		m, err := NewManager(testInstancePrefix+"-bench", nil, false)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		spec := Spec{ProcessorID: "pc1.0", Plugin: self, Args: []string{"helper", "exit", "."}}
		for b.Loop() {
			cg, err := m.Prepare(spec) // a fresh cgroup per start, as on a restart
			if err != nil {
				b.Fatal(err)
			}
			run(cg.Command())
			if err := cg.Destroy(); err != nil {
				b.Fatal(err)
			}
		}
		if direct > 0 {
			b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(direct), "x-direct")
		}
	})
}
