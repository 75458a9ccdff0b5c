package config

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// hostile are inputs a careless or hostile operator can give -config. On
// the code before the bounds the first overflowed the stack and the third
// produced thousands of diagnostics rendered in O(file) each.
func hostile() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 128<<10)
	for i := range random {
		random[i] = byte(r.UintN(256))
	}
	return map[string][]byte{
		"100000 nested parentheses": []byte("x = " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + "\n"),
		"2 MiB of comments":         bytes.Repeat([]byte("# padding padding padding padding\n"), 2<<20/34),
		"128 KiB of random bytes":   random,
		"10000 unknown attributes":  bytes.Repeat([]byte("nonsense = 1\n"), 10000),
	}
}

func TestHostileConfigs(t *testing.T) {
	want := map[string]string{
		"100000 nested parentheses": "Nesting too deep",
		"2 MiB of comments":         "Config file too large",
		"128 KiB of random bytes":   "",
		"10000 unknown attributes":  "",
	}
	for name, src := range hostile() {
		t.Run(name, func(t *testing.T) {
			cfg, diags := Parse(src, "hostile.hcl")
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("Parse accepted it: %v", diags)
			}
			if len(diags) > MaxDiagnostics+1 {
				t.Fatalf("%d diagnostics, want at most %d and a count", len(diags), MaxDiagnostics+1)
			}
			if w := want[name]; w != "" && diags[0].Summary != w {
				t.Fatalf("first diagnostic %q, want %q", diags[0].Summary, w)
			}
			if w := want[name]; w == "" && len(diags) == MaxDiagnostics+1 && !strings.HasPrefix(diags[MaxDiagnostics].Summary, "… and ") {
				t.Fatalf("last diagnostic %q, want the count of the rest", diags[MaxDiagnostics].Summary)
			}
			var out bytes.Buffer
			if err := WriteDiagnostics(&out, "hostile.hcl", src, diags, false); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("nesting in strings and comments does not count", func(t *testing.T) {
		src := "# " + strings.Repeat("(", 200) + "\nsector_size = \"" + strings.Repeat("[", 200) + "\"\n/* " + strings.Repeat("{", 200) + " */\n"
		if d := checkBounds([]byte(src), "ok.hcl"); d.HasErrors() {
			t.Fatalf("checkBounds = %v", d)
		}
	})
	t.Run("Load reads no more than the bound", func(t *testing.T) {
		if _, diags := Load("/dev/zero"); !diags.HasErrors() || diags[0].Summary != "Config file too large" {
			t.Fatalf("Load(/dev/zero) = %v", diags)
		}
	})
	t.Run("at the nesting bound", func(t *testing.T) {
		src := "x = " + strings.Repeat("[", MaxNesting) + strings.Repeat("]", MaxNesting) + "\n"
		if d := checkBounds([]byte(src), "ok.hcl"); d.HasErrors() {
			t.Fatalf("checkBounds at depth %d = %v", MaxNesting, d)
		}
	})
}

// BenchmarkHostileConfig: Parse and render each hostile input, as `host
// validate` does (target: well under 1 s and 100 MB each).
func BenchmarkHostileConfig(b *testing.B) {
	for name, src := range hostile() {
		b.Run(strings.ReplaceAll(name, " ", "-"), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_, diags := Parse(src, "hostile.hcl")
				var out bytes.Buffer
				WriteDiagnostics(&out, "hostile.hcl", src, diags, false)
			}
		})
	}
}

// sink keeps the baseline's allocation from being optimised away.
var sink []byte

// BenchmarkHostileConfigTarget100MB allocates 100 MB per op: the baseline,
// in the same run, of the hostile configs' memory rows (their target).
func BenchmarkHostileConfigTarget100MB(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sink = make([]byte, 100_000_000)
	}
}
