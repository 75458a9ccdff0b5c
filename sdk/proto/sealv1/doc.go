// Package sealv1 is the generated Go code for protocol version 1 between
// the sealhost host and stage plugins (seal.proto). Do not edit the .pb.go
// files: change seal.proto and run `make proto`.
package sealv1
