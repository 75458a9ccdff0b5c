package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "fail (exit 1) when a row's benchmarks are missing or a ratio misses its target")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: benchtable [-strict] [FILE...]\n\nReads `go test -bench` output (the files, or stdin) and prints the\nproject's table of ratios against baselines measured in the same run.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	m := measurements{}
	add := func(r io.Reader, name string) error {
		got, err := parse(r, name)
		if err != nil {
			return err
		}
		for k, units := range got {
			if m[k] == nil {
				m[k] = map[string][]float64{}
			}
			for u, vs := range units {
				m[k][u] = append(m[k][u], vs...)
			}
		}
		return nil
	}
	if fs.NArg() == 0 {
		if err := add(stdin, "stdin"); err != nil {
			fmt.Fprintf(stderr, "benchtable: %v\n", err)
			return 1
		}
	}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "benchtable: %v\n", err)
			return 1
		}
		err = add(f, name)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "benchtable: %v\n", err)
			return 1
		}
	}
	if len(m) == 0 {
		fmt.Fprintln(stderr, "benchtable: no benchmark results in the input (did the benchmarks run? `go test -run '^$' -bench . PKG`)")
		return 1
	}
	missing, over, err := write(stdout, m, compute(m, rows))
	if err != nil {
		fmt.Fprintf(stderr, "benchtable: %v\n", err)
		return 1
	}
	if missing > 0 {
		fmt.Fprintf(stderr, "benchtable: %d row(s) not run (their benchmarks are not in the input: skipped or not selected)\n", missing)
	}
	if over > 0 {
		fmt.Fprintf(stderr, "benchtable: %d ratio(s) over target\n", over)
	}
	if *strict && (missing > 0 || over > 0) {
		return 1
	}
	return 0
}
