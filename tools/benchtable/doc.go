// Command benchtable reads `go test -bench` output and prints one table of
// ratios: each of the project's speed claims, measured against a baseline
// measured in the same run (never against a number remembered from another
// machine or another day). `make bench` runs the benchmarks and pipes their
// output here.
//
//	go test -run '^$' -bench . ./... | go run ./tools/benchtable
//	go run ./tools/benchtable bench.txt
//
// The output is parsed with golang.org/x/perf/benchfmt, so custom units
// reported with b.ReportMetric ("plain-ns/op", "sem-ns/op") count like
// ns/op. With -count above 1 each value is the median of its runs. A row
// whose benchmarks are missing from the input (skipped: not root, or not
// run) says so instead of failing the table; -strict makes that an error.
//
// The rows are the project's, listed in rows.go: what is measured, against
// which baseline, and the target where the project set one. The ratio is
// always measured over baseline, so lower is better.
package main
