// Package blob moves a large bytes field of the plugin protocol out of
// band: the sender writes the bytes to a file and sends a sealv1.Blob (path,
// size, CRC-32C) in its place; the receiver reads the file back, checks
// it, and removes it.
//
// Why: through gRPC under go-plugin's automatic mutual TLS a 64 MiB field
// is copied about eight times (marshal, framing, encryption, socket
// buffers, decryption, reassembly, unmarshal) and moves at a few hundred
// MB/s; through the page cache it is one write and one read. The sdk
// (plugin side) and internal/pluginclient (host side) share this code;
// see the "Large payloads" comment in sdk/proto/sealv1/seal.proto for the
// protocol, which both sides must opt in to.
//
// Safety: files are created with mode 0600 in a directory the host made
// private (0700) for one call; a reader refuses anything but a regular file
// of exactly the announced size and checksum, so a truncated or rewritten
// file is an error rather than short data; and every failure path removes
// what it created or was handed.
package blob
