package damoclesconf

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/zclconf/go-cty/cty"
)

// model is the sealhost config being written, in the order it is written.
type model struct {
	sourceFile     string
	sectorSize     string
	plugins        []pluginBlock
	limits         []stageValue
	stagger        []stageValue
	locks          []lockBlock
	procs          []procBlock
	sealingThreads int
}

type pluginBlock struct {
	name, path string
	args       []string
	bridge     bool
	comment    string
}

type stageValue struct {
	stage config.Stage
	value string // an integer or a duration, as written
}

type envVar struct{ name, value string }

type procBlock struct {
	stage      config.Stage
	id         string
	line       int // of the TOML block
	plugin     string
	cpuset     string
	numa       *int
	concurrent int
	locks      []string
	env        []envVar // TOML order
	inheritEnv *bool    // written only when false
}

func (p *procBlock) envMap() map[string]string {
	m := make(map[string]string, len(p.env))
	for _, e := range p.env {
		m[e.name] = e.value
	}
	return m
}

func sortStageValues(vs []stageValue) {
	rank := func(s config.Stage) int {
		for i, st := range config.Stages {
			if st == s {
				return i
			}
		}
		return len(config.Stages)
	}
	sort.SliceStable(vs, func(i, j int) bool { return rank(vs[i].stage) < rank(vs[j].stage) })
}

// write renders the model as config.hcl with hclwrite, which quotes and
// escapes every string (a TOML value may hold anything) and aligns '='.
func (m *model) write(sourceFile string) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	src := filepath.Base(sourceFile)
	comment(b, fmt.Sprintf("sealhost config imported by `host import` from %s (damocles-worker).", src),
		"Every place it behaves differently from damocles was printed by the import,",
		"with its TOML line. Check it against the machine before running it:",
		"  host validate -config THIS_FILE")
	b.AppendNewline()
	b.SetAttributeValue("sector_size", cty.StringVal(m.sectorSize))

	for _, p := range m.plugins {
		b.AppendNewline()
		comment(b, p.comment)
		blk := b.AppendNewBlock("plugin", []string{p.name}).Body()
		blk.SetAttributeValue("path", cty.StringVal(p.path))
		if len(p.args) > 0 {
			blk.SetAttributeRaw("args", stringList(p.args))
		}
	}
	if len(m.limits) > 0 {
		b.AppendNewline()
		comment(b, "processors.limitation.concurrent: most tasks of a stage at once")
		blk := b.AppendNewBlock("limits", nil).Body()
		for _, l := range m.limits {
			blk.SetAttributeRaw(string(l.stage), hclwrite.Tokens{{Type: hclsyntax.TokenNumberLit, Bytes: []byte(l.value)}})
		}
	}
	if len(m.stagger) > 0 {
		b.AppendNewline()
		comment(b, "processors.limitation.staggered: least time between two task starts of a stage")
		blk := b.AppendNewBlock("stagger", nil).Body()
		for _, s := range m.stagger {
			blk.SetAttributeValue(string(s.stage), cty.StringVal(s.value))
		}
	}
	for _, l := range m.locks {
		b.AppendNewline()
		if l.comment != "" {
			comment(b, l.comment)
		}
		blk := b.AppendNewBlock("lock", []string{l.name}).Body()
		blk.SetAttributeRaw("capacity", hclwrite.Tokens{{Type: hclsyntax.TokenNumberLit, Bytes: []byte(fmt.Sprint(l.capacity))}})
	}
	for _, p := range m.procs {
		b.AppendNewline()
		comment(b, fmt.Sprintf("%s: [[processors.%s]] at %s:%d", p.id, p.stage, src, p.line))
		blk := b.AppendNewBlock("processor", []string{string(p.stage)}).Body()
		blk.SetAttributeValue("plugin", cty.StringVal(p.plugin))
		if p.cpuset != "" {
			blk.SetAttributeValue("cpuset", cty.StringVal(p.cpuset))
		}
		if p.numa != nil {
			blk.SetAttributeRaw("numa_preferred", number(*p.numa))
		}
		if p.concurrent > 1 {
			blk.SetAttributeRaw("concurrent", number(p.concurrent))
		}
		if len(p.locks) > 0 {
			blk.SetAttributeRaw("locks", stringList(p.locks))
		}
		if len(p.env) > 0 {
			var attrs []hclwrite.ObjectAttrTokens
			for _, e := range p.env {
				attrs = append(attrs, hclwrite.ObjectAttrTokens{
					Name:  hclwrite.TokensForIdentifier(e.name),
					Value: hclwrite.TokensForValue(cty.StringVal(e.value)),
				})
			}
			blk.SetAttributeRaw("env", hclwrite.TokensForObject(attrs))
		}
		if p.inheritEnv != nil {
			blk.SetAttributeValue("inherit_env", cty.BoolVal(*p.inheritEnv))
		}
	}
	if m.sealingThreads > 0 {
		b.AppendNewline()
		comment(b, "[[sealing_thread]] blocks of the worker: sectors in flight, for `host simulate`")
		blk := b.AppendNewBlock("simulation", nil).Body()
		blk.SetAttributeRaw("sealing_threads", number(m.sealingThreads))
	}
	return hclwrite.Format(f.Bytes())
}

func comment(b *hclwrite.Body, lines ...string) {
	var toks hclwrite.Tokens
	for _, l := range lines {
		// A comment ends at the line's end; a newline in it (from a file
		// name, say) would start HCL text.
		l = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, l)
		toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComment, Bytes: []byte("# " + l + "\n")})
	}
	b.AppendUnstructuredTokens(toks)
}

func number(n int) hclwrite.Tokens {
	return hclwrite.Tokens{{Type: hclsyntax.TokenNumberLit, Bytes: []byte(fmt.Sprint(n))}}
}

func stringList(list []string) hclwrite.Tokens {
	elems := make([]hclwrite.Tokens, len(list))
	for i, s := range list {
		elems[i] = hclwrite.TokensForValue(cty.StringVal(s))
	}
	return hclwrite.TokensForTuple(elems)
}
