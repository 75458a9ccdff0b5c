package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical; "" with err
		wantErr string
	}{
		{"", "", ""},
		{"  \n", "", ""},
		{"0", "0", ""},
		{"0-41", "0-41", ""},
		{"0-41\n", "0-41", ""},
		{"2,5,8,11,50-53", "2,5,8,11,50-53", ""},
		{"3,1,2", "1-3", ""},
		{"0-3,2-5", "0-5", ""},
		{"7-7", "7", ""},
		{" 0-3 , 8 ", "0-3,8", ""},
		{"8191", "8191", ""},
		{"0-41,", "", "empty element"},
		{",1", "", "empty element"},
		{"1,,2", "", "empty element"},
		{"5-", "", "not a cpu or a range"},
		{"-5", "", "not a cpu or a range"},
		{"1-2-3", "", `"2-3" is not a cpu number`},
		{"41-0", "", `runs backwards; write it low-high, like "0-41"`},
		{"a", "", `"a" is not a cpu number`},
		{"+1", "", "is not a cpu number"},
		{"0x10", "", "is not a cpu number"},
		{"8192", "", "out of range"},
		{"0-99999999999999999999", "", "out of range"},
		{"0-7:2/4", "", "stride syntax"},
		{"0 1", "", "is not a cpu number"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.in, "\n", `\n`), func(t *testing.T) {
			got, err := ParseCPUs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				if !got.IsEmpty() {
					t.Errorf("error with a non-empty set %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("got %q, want %q", got.String(), tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"512B", 512, ""},
		{"2KiB", 2 << 10, ""},
		{"8MiB", 8 << 20, ""},
		{"32GiB", 32 << 30, ""},
		{"900 GiB", 900 << 30, ""},
		{"2TiB", 2 << 40, ""},
		{"16383TiB", 16383 << 40, ""},
		{"16777215TiB", 16777215 << 40, ""},
		{"16777216TiB", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
		{"32GB", 0, "did you mean 32GiB?"},
		{"32gib", 0, "unknown unit"},
		{"1k", 0, "did you mean 1KiB?"},
		{"1.5GiB", 0, "not a size"},
		{"-1GiB", 0, "not a size"},
		{"GiB", 0, "not a size"},
		{"", 0, "not a size"},
		{"1  GiB", 0, "not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %d, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0B"}, {1000, "1000B"}, {1024, "1KiB"}, {1536 << 20, "1536MiB"},
		{900 << 30, "900GiB"}, {1 << 40, "1TiB"}, {1<<64 - 1, "18446744073709551615B"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := FormatSize(tt.in)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if back, err := ParseSize(got); err != nil || back != tt.in {
				t.Errorf("round trip: %d, %v", back, err)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"0", 0, ""},
		{"0s", 0, ""},
		{"90s", 90 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"320m", 320 * time.Minute, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"2d", 48 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"0d", 0, ""},
		{"-1h", 0, "negative"},
		{"1d-1h", 0, "not a duration"},
		{"6 hours", 0, "not a duration"},
		{"30", 0, "not a duration"},
		{"1w", 0, "not a duration"},
		{"d", 0, "not a duration"},
		{"", 0, "not a duration"},
		{"106752d", 0, "too long"},
		{"106751d24h", 0, "too long"},
		{"99999999999999999999d", 0, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
