package supervise

import (
	"bufio"
	"os"
	"testing"
	"time"

	"github.com/sealhost/sealhost/host/internal/confine"
	"github.com/sealhost/sealhost/sdk"
	"k8s.io/utils/cpuset"
)

func TestZZDebug(t *testing.T) {
	m := newManager(t)
	exe, _ := os.Executable()
	cg, err := m.Prepare(confine.Spec{ProcessorID: "dbg", Plugin: exe, CPUs: cpuset.New(0), Env: map[string]string{pluginEnv: "ok"}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := cg.Command()
	cmd.Env = append(cmd.Env, sdk.MagicCookieKey+"="+sdk.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000")
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	cmd.Start()
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		t.Logf("line %q %v", l, ok)
	case <-time.After(5 * time.Second):
		t.Log("no line")
	}
	cmd.Process.Kill()
	cmd.Wait()
}
