package damoclesconf

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Position is a place in the TOML file, 1-based. Line 0 means the file as a
// whole.
type Position struct {
	Line, Column int
}

// doc is a decoded TOML file and where each of its keys is written.
//
// Values come from go-toml's decoder (map[string]any, []any, string, int64,
// float64, bool, time values); positions from its AST, keyed by the path
// the decoder's values are reached by (see pathKey): "processors.pc1[0].
// envs.CUDA_VISIBLE_DEVICES". Two passes over one small file are cheaper
// than one hand-written decoder that must agree with TOML on every rule.
type doc struct {
	root map[string]any
	pos  map[string]Position
	// vpos is where the value of a key = value is written, when it is a
	// scalar or an inline table (an array's own position is its key's).
	vpos map[string]Position
	// lineStarts[i] is the byte offset where line i+1 begins.
	lineStarts []int
	src        []byte
}

// errTOML is a file that is not TOML, with where.
type errTOML struct {
	pos Position
	msg string
}

func (e *errTOML) Error() string { return e.msg }

// parseTOML decodes src. A file that is not valid TOML returns an *errTOML.
func parseTOML(src []byte) (*doc, error) {
	d := &doc{pos: map[string]Position{}, vpos: map[string]Position{}, src: src, lineStarts: []int{0}}
	for i, c := range src {
		if c == '\n' {
			d.lineStarts = append(d.lineStarts, i+1)
		}
	}
	var root map[string]any
	if err := toml.Unmarshal(src, &root); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return nil, &errTOML{pos: Position{line, col}, msg: strings.TrimPrefix(de.Error(), "toml: ")}
		}
		return nil, &errTOML{msg: strings.TrimPrefix(err.Error(), "toml: ")}
	}
	if root == nil {
		root = map[string]any{}
	}
	d.root = root
	if err := d.positions(); err != nil {
		return nil, err
	}
	return d, nil
}

// at returns the position of byte offset off.
func (d *doc) at(off int) Position {
	line := sort.Search(len(d.lineStarts), func(i int) bool { return d.lineStarts[i] > off })
	return Position{Line: line, Column: off - d.lineStarts[line-1] + 1}
}

func (d *doc) rawPos(p *unstable.Parser, n *unstable.Node) (Position, bool) {
	if n == nil || n.Raw.Length == 0 {
		return Position{}, false
	}
	return d.at(int(n.Raw.Offset)), true
}

// record keeps the first place path was written: a table made implicitly by
// a dotted key or header is where it was first named.
func (d *doc) record(path string, pos Position) {
	if _, ok := d.pos[path]; !ok && pos.Line > 0 {
		d.pos[path] = pos
	}
}

// positions walks the AST and records where each path is written. The
// decoder has already accepted the file, so the AST is TOML-valid; only
// the paths need working out: a [[table]] header appends an element, and a
// later header naming that array reaches into its last element.
func (d *doc) positions() error {
	var p unstable.Parser
	p.Reset(d.src)
	arrays := map[string]int{} // array-of-tables path -> elements so far
	cur := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys := d.keyParts(&p, e)
			if len(keys) == 0 {
				continue
			}
			path := ""
			for i, k := range keys {
				path = joinKey(path, k.name)
				last := i == len(keys)-1
				d.record(path, k.pos)
				if last && e.Kind == unstable.ArrayTable {
					n := arrays[path]
					arrays[path] = n + 1
					path = indexKey(path, n)
					d.record(path, k.pos)
					continue
				}
				if n := arrays[path]; n > 0 {
					path = indexKey(path, n-1)
				}
			}
			cur = path
		case unstable.KeyValue:
			keys := d.keyParts(&p, e)
			path := cur
			for _, k := range keys {
				path = joinKey(path, k.name)
				d.record(path, k.pos)
			}
			d.value(&p, path, e.Value())
		}
	}
	if err := p.Error(); err != nil {
		// The decoder accepted the file; the parser it is built on must too.
		return &errTOML{msg: "toml: " + err.Error()}
	}
	return nil
}

type keyPart struct {
	name string
	pos  Position
}

func (d *doc) keyParts(p *unstable.Parser, e *unstable.Node) []keyPart {
	var out []keyPart
	it := e.Key()
	for it.Next() {
		k := it.Node()
		pos, _ := d.rawPos(p, k)
		out = append(out, keyPart{name: string(k.Data), pos: pos})
	}
	return out
}

// value records the positions inside an inline value: array elements and
// inline-table keys.
func (d *doc) value(p *unstable.Parser, path string, v *unstable.Node) {
	if v == nil {
		return
	}
	if pos, ok := d.rawPos(p, v); ok {
		if _, seen := d.vpos[path]; !seen {
			d.vpos[path] = pos
		}
	}
	switch v.Kind {
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			ep := indexKey(path, i)
			if pos, ok := d.rawPos(p, c); ok {
				d.record(ep, pos)
			} else if pos, ok := d.pos[path]; ok {
				d.record(ep, pos)
			}
			d.value(p, ep, c)
			i++
		}
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			kp := path
			for _, k := range d.keyParts(p, kv) {
				kp = joinKey(kp, k.name)
				d.record(kp, k.pos)
			}
			d.value(p, kp, kv.Value())
		}
	}
}

// joinKey appends key to a path, quoting it when TOML would need quotes, so
// a path reads as the TOML key it came from.
func joinKey(path, key string) string {
	k := quoteKey(key)
	if path == "" {
		return k
	}
	return path + "." + k
}

func quoteKey(key string) string {
	if key == "" {
		return `""`
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return strconv.Quote(key)
		}
	}
	return key
}

func indexKey(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// posOf returns where path is written, or, when it is not (a value the
// decoder made up, which does not happen for keys), where its nearest
// written parent is.
func (d *doc) posOf(path string) Position {
	for path != "" {
		if p, ok := d.pos[path]; ok {
			return p
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			break
		}
		path = path[:cut]
	}
	return Position{}
}

// line returns the text of line n (1-based) without its newline.
func (d *doc) line(n int) string {
	if n < 1 || n > len(d.lineStarts) {
		return ""
	}
	start := d.lineStarts[n-1]
	end := len(d.src)
	if n < len(d.lineStarts) {
		end = d.lineStarts[n] - 1
	}
	return strings.TrimRight(string(d.src[start:end]), "\r")
}
