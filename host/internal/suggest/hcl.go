package suggest

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
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
	if len(durations) > 0 {
		body.AppendNewline()
		comment(body, "The stage durations given to `host suggest -durations`, so `host simulate` of this file reproduces its figures.")
		sb := body.AppendNewBlock("simulation", nil).Body()
		var d []hclwrite.ObjectAttrTokens
		for _, st := range config.Stages {
			if v, ok := durations[st]; ok {
				d = append(d, objectAttr(string(st), cty.StringVal(formatDuration(v))))
			}
		}
		sb.SetAttributeRaw("durations", hclwrite.TokensForObject(d))
	}
	return hclwrite.Format(f.Bytes())
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
