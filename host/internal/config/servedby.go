package config

import "strings"

// ServedBy says which processors serve each stage: one "stage: id, id"
// entry per stage some processor serves, in Stages order. With stages
// beyond sealing (snap, PoSt, unseal, add_pieces) an operator reads in it,
// from `host plan` and `host run`, what a manager's task of each stage
// will run on.
func ServedBy(procs []Processor) []string {
	by := map[Stage][]string{}
	for _, p := range procs {
		by[p.Stage] = append(by[p.Stage], p.ID)
	}
	var out []string
	for _, st := range Stages {
		if ids := by[st]; len(ids) > 0 {
			out = append(out, string(st)+": "+strings.Join(ids, ", "))
		}
	}
	return out
}
