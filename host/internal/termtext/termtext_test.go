package termtext

import "testing"

func TestClean(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "pc1: cache dir is not empty", "pc1: cache dir is not empty"},
		{"newlines and tabs kept", "a\n\tb", "a\n\tb"},
		{"utf-8 kept", "größe 32 GiB … ok", "größe 32 GiB … ok"},
		{"colour", "\x1b[31mred\x1b[0m text", "red text"},
		{"cursor up and clear line", "ok\x1b[1A\x1b[2Kfake", "okfake"},
		{"title (OSC, BEL)", "\x1b]0;pwned\x07after", "after"},
		{"title (OSC, ST)", "\x1b]2;pwned\x1b\\after", "after"},
		{"8-bit CSI", "a\u009b31mb", "ab"},
		{"carriage return overwrite", "real error\rfake", "real errorfake"},
		{"other control characters", "bell\x07 null\x00 del\x7f", "bell null del"},
		{"unterminated CSI", "x\x1b[31", "x"},
		{"lone ESC at end", "x\x1b", "x"},
		{"ESC then letter", "a\x1bcb", "ab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in); got != tc.want {
				t.Fatalf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"\x1b[31mx", "\x1b]0;t\x07", "a\rb", "ü\u009b1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Clean(s)
		for _, r := range out {
			if r == 0x1b || r == '\r' || r == 0x9b || (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
				t.Fatalf("Clean(%q) = %q keeps control rune %U", s, out, r)
			}
		}
		if Clean(out) != out {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
	})
}
