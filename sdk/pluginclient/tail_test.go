package pluginclient

import (
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	long := strings.Repeat("x", maxTailLine+50)
	tests := []struct {
		name   string
		max    int
		writes []string
		want   []string
	}{
		{"empty", 3, nil, nil},
		{"one line", 3, []string{"a\n"}, []string{"a"}},
		{"split across writes", 3, []string{"he", "llo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"unterminated last line", 3, []string{"a\nb"}, []string{"a", "b"}},
		{"keeps the last max", 2, []string{"1\n2\n3\n4\n"}, []string{"3", "4"}},
		{"partial counts toward max", 2, []string{"1\n2\n3"}, []string{"2", "3"}},
		{"blank lines dropped", 3, []string{"\n\na\n\n"}, []string{"a"}},
		{"crlf", 3, []string{"a\r\n"}, []string{"a"}},
		{"long line truncated", 3, []string{long + "\nb\n"}, []string{long[:maxTailLine], "b"}},
		{"long partial truncated", 3, []string{long, long}, []string{long[:maxTailLine]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTailBuffer(tt.max)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			got := b.Lines()
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("Lines() = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzTailBuffer checks the bounds an error message relies on, whatever a
// plugin writes to stderr.
func FuzzTailBuffer(f *testing.F) {
	f.Add([]byte("a\nb\nc"), 2)
	f.Add([]byte(strings.Repeat("z", 2000)+"\n\r\n"), 1)
	f.Add([]byte{0, '\n', 0xff, '\n'}, 5)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 1 || max > 50 {
			return
		}
		b := newTailBuffer(max)
		// Write in uneven pieces, as a pipe delivers.
		for i := 0; i < len(data); {
			n := 1 + (i*7)%13
			n = min(n, len(data)-i)
			_, _ = b.Write(data[i : i+n])
			i += n
		}
		lines := b.Lines()
		if len(lines) > max {
			t.Fatalf("%d lines kept, max %d", len(lines), max)
		}
		for _, l := range lines {
			if len(l) > maxTailLine || l == "" || strings.Contains(l, "\n") {
				t.Fatalf("bad line %q", l)
			}
		}
	})
}
