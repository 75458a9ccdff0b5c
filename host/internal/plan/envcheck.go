package plan

// The env checks that need no machine, for callers that write configs
// (host import) and must agree with the plan on them.

// ObsoleteEnv returns why rust-fil-proofs ignores the environment variable
// name (what obsolete-env warns about), and false when it reads it.
func ObsoleteEnv(name string) (why string, obsolete bool) {
	for _, o := range obsoleteEnv {
		if o.name == name {
			return o.why, true
		}
	}
	return "", false
}

// SDREnvError returns what rust-fil-proofs cannot use in a pc1 env's
// multicore SDR settings (what env-invalid reports), or nil.
func SDREnvError(env map[string]string) error {
	_, _, err := sdrSettings(env)
	return err
}
