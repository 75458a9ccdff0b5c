package confine

import (
	"fmt"
	"regexp"

	"k8s.io/utils/cpuset"
)

// Spec describes one processor's plugin process: what to run and how to
// confine it. It is filled from a config.Processor and its config.Plugin.
type Spec struct {
	// ProcessorID names the processor ("pc1.0"); it names the cgroup too.
	ProcessorID string
	// Where is the config position to quote in errors ("config.hcl:30");
	// may be empty.
	Where string

	// CPUs is the processor's cpuset. Empty means every cpu the host's
	// own cgroup may use.
	CPUs cpuset.CPUSet
	// NUMAPreferred is the node the plugin's memory should come from
	// (MPOL_PREFERRED: a preference, not a bind). nil means no policy.
	NUMAPreferred *int
	// MemoryLimit in bytes; 0 means no limit.
	MemoryLimit uint64

	// Plugin is the real plugin binary (absolute path) and Args its
	// arguments (without argv[0]).
	Plugin string
	Args   []string
	// SHA256, when not empty, pins the plugin binary: Prepare refuses a
	// binary with another digest.
	SHA256 string

	// Env is the processor's own environment; it wins over the host's.
	Env map[string]string
	// InheritEnv passes the whole host environment when true, only
	// SafeEnv when false.
	InheritEnv bool
	// HostEnv is the host environment to inherit from; nil means
	// os.Environ().
	HostEnv []string
}

// where formats Where for an error message: " (config.hcl:30)" or "".
func (s *Spec) where() string {
	if s.Where == "" {
		return ""
	}
	return " (" + s.Where + ")"
}

// errorf prefixes an error with the processor and its config position, so
// every refusal names what the operator has to change.
func (s *Spec) errorf(format string, args ...any) error {
	return fmt.Errorf("processor %s%s: "+format, append([]any{s.ProcessorID, s.where()}, args...)...)
}

// validName restricts processor and instance names to what is safe and
// readable as a cgroup directory name.
var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
