package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealhost/sealhost/sdk"
)

// PC2 encodes the sealed file in place: PC1 leaves it a copy of the staged
// data and PC2 turns that copy into the replica. A PC2 that stops half way
// (its child killed, the plugin or the box gone) leaves a file that is
// neither, and a retry over it seals garbage that only C1 or the chain
// notices ("Invalid vanilla proof", damocles#837). So this plugin leaves a
// marker in the cache for the length of every PC2 and, when a PC2 finds the
// marker of an earlier one, first copies the staged file over the sealed
// file again — PC1 records which staged file it sealed from — and removes
// the earlier run's trees and aux files.
const (
	// stagedRecordFile holds the staged file's absolute path, written by
	// a PC1 that succeeded.
	stagedRecordFile = "sealhost-pc1-staged"
	// pc2RunningFile exists while a PC2 of this cache runs, and stays
	// after one that did not finish.
	pc2RunningFile = ".sealhost-ffi-pc2-running"
)

// recordStaged is PC1's part: remember the staged file for PC2's restore.
func recordStaged(cacheDir, staged string) error {
	abs, err := filepath.Abs(staged)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cacheDir, stagedRecordFile), []byte(abs+"\n"), 0o644)
}

// pc2Outputs are what a PC2 writes into the cache (rust-fil-proofs' names).
var pc2Outputs = []string{"sc-02-data-tree-c*.dat", "sc-02-data-tree-r-last*.dat", "p_aux", "t_aux"}

// beginPC2 makes the sealed file and the cache what PC2 expects, undoing an
// earlier PC2 that did not finish, and marks this one as running. restored
// says whether it had to.
func beginPC2(cacheDir, sealed string) (restored bool, err error) {
	marker := filepath.Join(cacheDir, pc2RunningFile)
	if _, err := os.Stat(marker); err == nil {
		if err := restoreSealed(cacheDir, sealed); err != nil {
			return false, err
		}
		restored = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, sdk.Errorf("pc2: %v", err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return restored, sdk.Errorf("pc2: marking the cache: %v", err)
	}
	return restored, nil
}

// endPC2 clears the marker after a PC2 that finished.
func endPC2(cacheDir string) {
	os.Remove(filepath.Join(cacheDir, pc2RunningFile))
}

func restoreSealed(cacheDir, sealed string) error {
	rec, err := os.ReadFile(filepath.Join(cacheDir, stagedRecordFile))
	if err != nil {
		return sdk.Errorf("pc2: an earlier pc2 of this sector did not finish and may have left %s half-encoded, and the cache has no record of the staged file PC1 sealed from (%v; a PC1 by another plugin?): copy the staged (unsealed) file over the sealed file, delete %s, and retry",
			sealed, err, filepath.Join(cacheDir, pc2RunningFile))
	}
	staged := strings.TrimSpace(string(rec))
	if err := copyOver(staged, sealed); err != nil {
		return sdk.Errorf("pc2: an earlier pc2 of this sector did not finish; restoring the sealed file from the staged file %s failed: %v", staged, err)
	}
	for _, pat := range pc2Outputs {
		m, _ := filepath.Glob(filepath.Join(cacheDir, pat))
		for _, f := range m {
			if err := os.Remove(f); err != nil {
				return sdk.Errorf("pc2: removing %s left by the unfinished pc2: %v", f, err)
			}
		}
	}
	return nil
}

// copyOver replaces dst's contents with src's, in place (the sealed file
// may be linked or opened by name elsewhere), and syncs it.
func copyOver(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if st, err := in.Stat(); err == nil && st.Size() != n {
		return fmt.Errorf("copied %d of %d bytes", n, st.Size())
	}
	return nil
}
