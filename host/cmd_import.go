package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sealhost/sealhost/host/internal/config"
	"github.com/sealhost/sealhost/host/internal/damoclesconf"
)

func init() {
	register(command{
		name:    "import",
		summary: "translate a damocles-worker TOML's processors into a config.hcl",
		run:     runImport,
	})
}

func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the config to `FILE` instead of stdout (not written when there is an error)")
	pluginDir := fs.String("plugins", damoclesconf.DefaultPluginDir, "the `DIR` of sealhost's plugin binaries, as the config names it (relative to the config's folder): DIR/ffi for damocles' built-in processors, DIR/damocles for processors with a bin")
	sectorSize := fs.String("sector-size", "", "the `SIZE` the worker seals (default: sealing.allowed_sizes if it names one, else 32GiB)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: host import [-o FILE] [-plugins DIR] [-sector-size SIZE] damocles.toml")
		fmt.Fprintln(stderr, "\nWrites the sealhost config equivalent to the [processors] of a damocles-worker\n"+
			"config: processors (cpuset, numa, concurrent, envs, locks), stage limits,\n"+
			"staggers and ext_locks. Every place where the config behaves differently\n"+
			"from damocles is printed on stderr with its TOML file:line,col: errors\n"+
			"(nothing is written), warnings (read them) and notes. The rest of the\n"+
			"worker config stays with damocles.")
		fmt.Fprintln(stderr, "\nExit status: 0 written (warnings allowed), 1 an error, 2 a usage mistake.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "host import: want one damocles-worker TOML file")
		fs.Usage()
		return 2
	}
	in := fs.Arg(0)
	if *out != "" && sameFile(in, *out) {
		fmt.Fprintf(stderr, "host import: -o %s is the TOML file itself; write the config elsewhere\n", *out)
		return 2
	}
	src, err := readLimited(in)
	if err != nil {
		fmt.Fprintf(stderr, "host import: %v\n", err)
		return 1
	}
	res := damoclesconf.Translate(src, damoclesconf.Options{File: in, PluginDir: *pluginDir, SectorSize: *sectorSize})
	if err := res.Diagnostics.Write(stderr, in, src); err != nil {
		fmt.Fprintf(stderr, "host import: %v\n", err)
		return 1
	}
	if res.Diagnostics.HasErrors() {
		fmt.Fprintf(stderr, "%s: %s; nothing written\n", in, res.Diagnostics.Summary())
		return 1
	}
	dest := "stdout"
	if *out == "" {
		if _, err := stdout.Write(res.HCL); err != nil {
			fmt.Fprintf(stderr, "host import: %v\n", err)
			return 1
		}
	} else {
		if err := os.WriteFile(*out, res.HCL, 0o644); err != nil {
			fmt.Fprintf(stderr, "host import: %v\n", err)
			return 1
		}
		dest = *out
	}
	check := *out
	if check == "" {
		check = "FILE"
	}
	fmt.Fprintf(stderr, "%s: %s; written to %s. Next: host validate -config %s\n", in, res.Diagnostics.Summary(), dest, filepath.ToSlash(check))
	return 0
}

// readLimited reads at most one byte more than a config may hold, so a
// huge file is refused by the size check instead of read whole.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
}
