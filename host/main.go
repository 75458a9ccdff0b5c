// Command host runs Filecoin sealing stage plugins confined, and plans,
// validates and simulates their layout on a machine.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand. Each lives in its own cmd_*.go file and
// registers itself in init, so subcommands can be added without touching
// this file.
type command struct {
	name    string
	summary string
	// run returns the process exit status: 0 ok, 1 failure, 2 usage mistake.
	run func(args []string, stdout, stderr io.Writer) int
	// hidden commands are not listed in usage (internal entry points).
	hidden bool
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("host: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	os.Exit(hostMain(os.Args[1:], os.Stdout, os.Stderr))
}

func hostMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "host: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: host <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'host <command> -h' for a command's flags.")
}
