package suggest

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/sealhost/sealhost/host/internal/arbiter"
	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/zclconf/go-cty/cty"
)

// writeHCL renders a spec as config.hcl. head are comment paragraphs for
// the top of the file (the simulated figures, once known); durations, when
// the operator gave any, become the simulation block so `host simulate`
// of the file reproduces the figures.
func writeHCL(sp *spec, sector string, pluginPath string, head []string, spare string, durations map[config.Stage]time.Duration) []byte {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	for i, p := range head {
		if i > 0 {
			comment(body, "")
		}
		comment(body, p)
	}
	body.AppendNewline()
	body.SetAttributeValue("sector_size", cty.StringVal(sector))
	body.AppendNewline()

	comment(body, "One plugin binary serves every stage through filecoin-ffi. Relative paths resolve from this file's folder.")
	pl := body.AppendNewBlock("plugin", []string{"ffi"}).Body()
	pl.SetAttributeValue("path", cty.StringVal(pluginPath))
	body.AppendNewline()

	comment(body, "Most tasks of a stage running at once: each stage's processors' concurrent summed.")
	lim := body.AppendNewBlock("limits", nil).Body()
	for _, st := range config.Stages {
		if n, ok := sp.limits[st]; ok {
			lim.SetAttributeValue(string(st), cty.NumberIntVal(int64(n)))
		}
	}
	if len(sp.locks) > 0 {
		body.AppendNewline()
		comment(body, "One lock per GPU. capacity is a count of holders, not a GPU index: 1 means one task on that GPU at a time.")
		for _, l := range sp.locks {
			lb := body.AppendNewBlock("lock", []string{l}).Body()
			lb.SetAttributeValue("capacity", cty.NumberIntVal(1))
			body.AppendNewline()
		}
		comment(body, `"fair" (the default, written out so it is seen) shares each lock between the stages and never leaves it idle while a task waits; greedy is damocles' behaviour.`)
		ab := body.AppendNewBlock("arbiter", nil).Body()
		ab.SetAttributeValue("policy", cty.StringVal(string(config.PolicyFair)))
		if sp.c2Weight > 0 {
			comment(ab, "c2's share of each lock's time over pc2's (pc2 weighs 1): see the head of the file.")
			ab.SetAttributeRaw("weights", hclwrite.TokensForObject([]hclwrite.ObjectAttrTokens{
				objectAttr(string(config.StagePC2), cty.NumberIntVal(1)),
				objectAttr(string(config.StageC2), cty.NumberFloatVal(sp.c2Weight)),
			}))
		}
		writeUrgent(ab, sp)
	}
	ids := map[config.Stage]int{}
	for _, p := range sp.procs {
		body.AppendNewline()
		id := fmt.Sprintf("%s.%d", p.stage, ids[p.stage])
		ids[p.stage]++
		for _, w := range p.why {
			comment(body, id+": "+w)
		}
		pb := body.AppendNewBlock("processor", []string{string(p.stage)}).Body()
		pb.SetAttributeValue("plugin", cty.StringVal("ffi"))
		pb.SetAttributeValue("cpuset", cty.StringVal(p.cpus.String()))
		if p.numa != nil {
			pb.SetAttributeValue("numa_preferred", cty.NumberIntVal(int64(*p.numa)))
		}
		if p.concurrent > 1 {
			pb.SetAttributeValue("concurrent", cty.NumberIntVal(int64(p.concurrent)))
		}
		if len(p.locks) > 0 {
			var ls []cty.Value
			for _, l := range p.locks {
				ls = append(ls, cty.StringVal(l))
			}
			pb.SetAttributeValue("locks", cty.ListVal(ls))
		}
		var env []hclwrite.ObjectAttrTokens
		for _, kv := range p.env {
			env = append(env, objectAttr(kv[0], cty.StringVal(kv[1])))
		}
		pb.SetAttributeRaw("env", hclwrite.TokensForObject(env))
	}
	if spare != "" {
		body.AppendNewline()
		comment(body, fmt.Sprintf("Cpus %s stay free for light work (monitoring, ssh, the host itself).", spare))
	}
	if len(durations) > 0 || sp.post != nil {
		body.AppendNewline()
		comment(body, "What `host simulate` of this file runs, so it reproduces the figures above.")
		sb := body.AppendNewBlock("simulation", nil).Body()
		if len(durations) > 0 {
			comment(sb, "The stage durations given to `host suggest -durations`.")
			var d []hclwrite.ObjectAttrTokens
			for _, st := range config.Stages {
				if v, ok := durations[st]; ok {
					d = append(d, objectAttr(string(st), cty.StringVal(formatDuration(v))))
				}
			}
			sb.SetAttributeRaw("durations", hclwrite.TokensForObject(d))
		}
		if sp.post != nil {
			writePost(sb, sp)
		}
	}
	return hclwrite.Format(f.Bytes())
}

// writeUrgent writes the arbiter's PoSt part: the urgent stages, their
// burst bound, and the per-stage preemptions with the reasons for them.
func writeUrgent(ab *hclwrite.Body, sp *spec) {
	if len(sp.urgent) == 0 {
		return
	}
	comment(ab, "PoSt goes before the fair order, the earliest deadline first: a WindowPoSt that misses its deadline is a fault, a WinningPoSt has seconds. urgent_burst (the default, written so it is seen) is how many urgent tasks in a row may take a GPU while sealing waits for it.")
	var us []cty.Value
	for _, st := range sp.urgent {
		us = append(us, cty.StringVal(string(st)))
	}
	ab.SetAttributeValue("urgent", cty.ListVal(us))
	ab.SetAttributeValue("urgent_burst", cty.NumberIntVal(arbiter.DefaultUrgentBurst))
	for _, w := range sp.postWhy {
		comment(ab, w)
	}
	if len(sp.preempt) == 0 {
		return
	}
	var locks []hclwrite.ObjectAttrTokens
	for _, l := range sp.locks {
		var stages []hclwrite.ObjectAttrTokens
		for _, p := range sp.preempt {
			if p.lock == l {
				stages = append(stages, objectAttr(string(p.stage), cty.StringVal(formatDuration(p.bound))))
			}
		}
		if len(stages) > 0 {
			locks = append(locks, hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForIdentifier(l), Value: hclwrite.TokensForObject(stages)})
		}
	}
	ab.SetAttributeRaw("preempt", hclwrite.TokensForObject(locks))
}

// writePost writes the PoSt workload simulated, every value written out
// so the operator sees and edits it; a stage -post left out is off.
func writePost(sb *hclwrite.Body, sp *spec) {
	p := sp.post
	comment(sb, "The PoSt workload (the defaults): set window_post_partitions to the partitions your deadlines prove, winning_post_per_day to the blocks you expect to win.")
	pb := sb.AppendNewBlock("post", nil).Body()
	has := func(st config.Stage) bool {
		for _, u := range sp.urgent {
			if u == st {
				return true
			}
		}
		return false
	}
	if has(config.StageWindowPoSt) {
		pb.SetAttributeValue("window_post_every", cty.StringVal(formatDuration(p.WindowEvery)))
		pb.SetAttributeValue("window_post_deadline", cty.StringVal(formatDuration(p.WindowDeadline)))
		pb.SetAttributeValue("window_post_partitions", cty.NumberIntVal(int64(p.WindowPartitions)))
	} else {
		comment(pb, "No window_post processor (-post did not ask for it): none simulated.")
		pb.SetAttributeValue("window_post_partitions", cty.NumberIntVal(0))
	}
	if has(config.StageWinningPoSt) {
		pb.SetAttributeValue("winning_post_per_day", cty.NumberFloatVal(p.WinningPerDay))
		pb.SetAttributeValue("winning_post_deadline", cty.StringVal(formatDuration(p.WinningDeadline)))
	} else {
		comment(pb, "No winning_post processor (-post did not ask for it): none simulated.")
		pb.SetAttributeValue("winning_post_per_day", cty.NumberIntVal(0))
	}
}

// objectAttr is one `name = value` of an object, kept in the order given
// (cty objects would sort their keys).
func objectAttr(name string, v cty.Value) hclwrite.ObjectAttrTokens {
	return hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForIdentifier(name), Value: hclwrite.TokensForValue(v)}
}

// comment appends text as # lines wrapped at 76 columns; "" is a bare #.
func comment(body *hclwrite.Body, text string) {
	var toks hclwrite.Tokens
	for _, line := range wrap(text, 76) {
		toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComment, Bytes: []byte(strings.TrimRight("# "+line, " ") + "\n")})
	}
	body.AppendUnstructuredTokens(toks)
}

// wrap breaks text into lines of at most width runes at spaces; a line
// starting with spaces keeps its indent (for lists in comments).
func wrap(text string, width int) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		indent := para[:len(para)-len(strings.TrimLeft(para, " "))]
		words := strings.Fields(para)
		if len(words) == 0 {
			out = append(out, "")
			continue
		}
		line := indent + words[0]
		for _, w := range words[1:] {
			if len([]rune(line))+1+len([]rune(w)) > width {
				out = append(out, line)
				line = indent + "  " + w
				if indent == "" {
					line = w
				}
				continue
			}
			line += " " + w
		}
		out = append(out, line)
	}
	return out
}

// formatDuration writes d as config's durations read it: "177m", "90s".
func formatDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
