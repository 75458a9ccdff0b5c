// Package startbench measures how long the host takes to start a real
// plugin binary (plugins/mock) through package pluginclient: process
// start, go-plugin handshake, mutual TLS, gRPC connection and health
// check. The baseline, measured in the same run, is starting the same
// binary as a plain process that exits at once (`mock -help`), so the
// ratio is what the plugin protocol adds to a bare fork and exec.
//
// It has no code of its own, only BenchmarkStart; `make bench` reads it
// into its table. It is a package of its own so the benchmark builds the
// mock once, outside the packages that own pluginclient and the mock.
package startbench
