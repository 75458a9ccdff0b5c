package extprocessor

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealhost/sealhost/internal/damocles"
)

// WorkerMarker is damocles-worker's own marker (damocles.PC2RunningMarker).
const WorkerMarker = damocles.PC2RunningMarker

// OwnMarker is the adapter's marker for workers without WorkerMarker.
const OwnMarker = ".sealhost-pc2-started"

// stalePC2File reports whether a cache file is one a pc2 writes, so one
// left by an earlier pc2 must go before the next: damocles-worker's own
// list (p_aux, t_aux, tree-c*, tree-r-last*).
func stalePC2File(name string) bool {
	return name == "p_aux" || name == "t_aux" || strings.Contains(name, "tree-c") || strings.Contains(name, "tree-r-last")
}

// preparePC2 makes a sector's cache ready for a pc2 run: the files an
// earlier pc2 left are removed, and, unless the worker keeps its own
// marker, a pc2 that follows an unfinished one is refused. finish is
// called with the call's outcome: ok, and started (whether the task
// reached a processor: a call that never did touched nothing).
func preparePC2(cacheDir, sealedFile string, lg *log.Logger) (finish func(ok, started bool), err error) {
	ents, err := os.ReadDir(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("pc2: cache_dir: %v", err)
	}
	for _, e := range ents {
		if !stalePC2File(e.Name()) || e.IsDir() {
			continue
		}
		p := filepath.Join(cacheDir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("pc2: removing %s, left by an earlier pc2: %v", p, err)
		}
		lg.Printf("removed %s, left by an earlier pc2 of this sector", p)
	}
	if _, err := os.Lstat(filepath.Join(cacheDir, WorkerMarker)); err == nil {
		// The worker restored the sealed file itself if it had to.
		return func(bool, bool) {}, nil
	}
	own := filepath.Join(cacheDir, OwnMarker)
	if _, err := os.Lstat(own); err == nil {
		return nil, fmt.Errorf("pc2: an earlier pc2 of this sector did not finish (%s exists), so %s may be half-encoded, and a pc2 over it seals wrong data (damocles#837). "+
			"This damocles-worker predates its own fix (no %s marker) and the task does not name the staged file to restore from: "+
			"copy the sector's staged file over %s, remove %s, then resume the sector; or upgrade damocles-worker, which does this itself", own, sealedFile, WorkerMarker, sealedFile, own)
	}
	if err := os.WriteFile(own, nil, 0o644); err != nil {
		return nil, fmt.Errorf("pc2: marking the sector's pc2 as started: %v", err)
	}
	return func(ok, started bool) {
		if ok || !started {
			os.Remove(own)
		}
	}, nil
}
