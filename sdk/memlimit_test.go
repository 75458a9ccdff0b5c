package sdk

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cgroup string
		files  map[string]string // under the cgroup root
		want   int64
	}{
		{"v1 hybrid, limited", "4:memory:/sealhost/x/pc1.0\n0::/\n",
			map[string]string{"memory/sealhost/x/pc1.0/memory.limit_in_bytes": "268435456\n"}, 256 << 20},
		{"v1 unlimited", "4:memory:/\n0::/\n",
			map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"v1 with several controllers on one line", "3:cpu,memory:/a\n",
			map[string]string{"memory/a/memory.limit_in_bytes": "1048576"}, 1 << 20},
		{"v2 limited", "0::/sealhost/pc2.0\n",
			map[string]string{"sealhost/pc2.0/memory.max": "1073741824\n"}, 1 << 30},
		{"v2 max", "0::/a\n", map[string]string{"a/memory.max": "max\n"}, 0},
		{"v2 under unified in a hybrid mount", "0::/a\n", map[string]string{"unified/a/memory.max": "2048\n"}, 2048},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			proc := filepath.Join(dir, "cgroup")
			os.WriteFile(proc, []byte(tc.cgroup), 0o644)
			root := filepath.Join(dir, "sys")
			for p, v := range tc.files {
				full := filepath.Join(root, p)
				os.MkdirAll(filepath.Dir(full), 0o755)
				os.WriteFile(full, []byte(v), 0o644)
			}
			got, err := cgroupMemoryLimit(proc, root)
			if err != nil || got != tc.want {
				t.Fatalf("cgroupMemoryLimit = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	t.Run("GOMEMLIMIT set wins", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "1GiB")
		if _, ok := setMemoryLimit(); ok {
			t.Fatal("setMemoryLimit overrode GOMEMLIMIT")
		}
	})
}
