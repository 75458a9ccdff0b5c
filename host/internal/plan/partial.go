package plan

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/topology"
)

// machineCodes are the checks of one processor (or a pair) against the
// machine, which stay true whatever else the file gets wrong. Checks over
// the whole config (a limit no processor can reach, memory summed over all
// of them) are left out of a partial plan: with broken processors left
// out they would be guesses.
var machineCodes = map[string]bool{
	string(config.CodeCPUNotPresent):        true,
	string(config.CodeNUMANotPresent):       true,
	string(config.CodeGPUNotPresent):        true,
	string(config.CodePC1PartialL3):         true,
	string(config.CodeCPUSetNUMAMismatch):   true,
	string(config.CodePC1UnitsShort):        true,
	string(config.CodeGPUSharedWithoutLock): true,
	string(config.CodeCPUOverlap):           true,
	string(config.CodeObsoleteEnv):          true,
	string(config.CodePluginNotRunnable):    true,
	string(CodeEnvInvalid):                  true,
}

// ConfigFailedWithMachine is ConfigFailed for a config whose sound part
// (config.LoadPartial) could still be checked against m: the config's
// diagnostics and, with them, the machine checks of every processor that
// decoded, so one `host validate` run reports both kinds of mistake.
func ConfigFailedWithMachine(file string, src []byte, diags hcl.Diagnostics, sound *config.Config, m *topology.Machine) *Plan {
	if sound == nil || m == nil {
		return ConfigFailed(file, src, diags)
	}
	all := append(hcl.Diagnostics{}, diags...)
	for _, d := range Build(sound, m).Diagnostics {
		if machineCodes[config.CodeOf(d)] {
			all = append(all, d)
		}
	}
	return ConfigFailed(file, src, config.CapDiagnostics(all))
}
