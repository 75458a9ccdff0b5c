// Package externpc2 is sealhost as lotus' external PC2 command
// (`lotus-worker run --external-pc2 'host extern-pc2'`).
//
// Lotus runs the command under `sh -c` with exactly seven variables in its
// environment (no PATH, no HOME) and then judges the result by the files it
// finds in the cache: tree-r-last, tree-c, a 64-byte p_aux, t_aux, and
// comm_d from the tree_d file. So this package does three things and no
// sealing of its own: it reads the seven variables strictly (a lotus of
// another version, or a hand-run command with one missing, gets every
// problem named at once rather than a PC2 on the wrong sector), it submits
// one PC2 task to a running host, whose processor does the work confined
// and under its locks, and it checks the cache the way lotus will before
// exiting 0, so a plugin that answers without leaving lotus' files fails
// here, where its name is known, and not later in lotus' C1 check.
//
// It also writes comm_r (the 32 bytes of PC2's sealed CID) to the cache as
// "comm_r": lotus recomputes comm_r from p_aux and ignores the file, while
// sealhost's examples/pc2-extern plugin reads it, so the two compose.
package externpc2
