package confine

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBuildEnv(t *testing.T) {
	host := []string{"PATH=/usr/bin", "HOME=/root", "SECRET=s", "LANG=C.UTF-8", "CUDA_VISIBLE_DEVICES=0,1", "TMPDIR=/tmp", "broken", "=x", "DUP=1", "DUP=2"}
	for _, tc := range []struct {
		name    string
		host    []string
		inherit bool
		env     map[string]string
		tmpdir  string
		want    []string
	}{
		{"inherit all, sorted, last duplicate wins, TMPDIR replaced", host, true, nil, "/t/pc1.0",
			[]string{"CUDA_VISIBLE_DEVICES=0,1", "DUP=2", "HOME=/root", "LANG=C.UTF-8", "PATH=/usr/bin", "SEALHOST_BLOB_DIR=/t/pc1.0", "SECRET=s", "TMPDIR=/t/pc1.0"}},
		{"processor env beats host env", host, true, map[string]string{"CUDA_VISIBLE_DEVICES": "1", "PATH": "/opt/bin", "NEW": "n"}, "/t",
			[]string{"CUDA_VISIBLE_DEVICES=1", "DUP=2", "HOME=/root", "LANG=C.UTF-8", "NEW=n", "PATH=/opt/bin", "SEALHOST_BLOB_DIR=/t", "SECRET=s", "TMPDIR=/t"}},
		{"no inherit passes only the safe set that is set", host, false, nil, "/t",
			[]string{"HOME=/root", "LANG=C.UTF-8", "PATH=/usr/bin", "SEALHOST_BLOB_DIR=/t", "TMPDIR=/t"}},
		{"no inherit with LD_LIBRARY_PATH set", []string{"LD_LIBRARY_PATH=/cuda", "SECRET=s"}, false, nil, "",
			[]string{"LD_LIBRARY_PATH=/cuda"}},
		{"no inherit, processor env still applies", host, false, map[string]string{"SECRET": "mine", "FIL_PROOFS_USE_MULTICORE_SDR": "1"}, "/t",
			[]string{"FIL_PROOFS_USE_MULTICORE_SDR=1", "HOME=/root", "LANG=C.UTF-8", "PATH=/usr/bin", "SEALHOST_BLOB_DIR=/t", "SECRET=mine", "TMPDIR=/t"}},
		{"explicit TMPDIR in processor env wins; the blob directory stays the host's", host, false, map[string]string{"TMPDIR": "/fast"}, "/t",
			[]string{"HOME=/root", "LANG=C.UTF-8", "PATH=/usr/bin", "SEALHOST_BLOB_DIR=/t", "TMPDIR=/fast"}},
		{"the blob directory cannot be moved by the processor's env", host, false, map[string]string{"SEALHOST_BLOB_DIR": "/"}, "/t",
			[]string{"HOME=/root", "LANG=C.UTF-8", "PATH=/usr/bin", "SEALHOST_BLOB_DIR=/t", "TMPDIR=/t"}},
		{"empty value kept", nil, true, map[string]string{"EMPTY": ""}, "",
			[]string{"EMPTY="}},
		{"nothing", nil, false, nil, "", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := BuildEnv(tc.host, tc.inherit, tc.env, tc.tmpdir)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("BuildEnv =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestVerifySHA256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("#!/bin/sh\n"))
	good := hex.EncodeToString(sum[:])
	other := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name, path, want string
		errs             []string // all must appear; none means success
	}{
		{"match", path, good, nil},
		{"match upper case", path, strings.ToUpper(good), nil},
		{"mismatch shows both digests and the fix", path, other,
			[]string{"has sha256 " + good, "config pins " + other, "refusing to launch", `set sha256 = "` + good + `"`}},
		{"short", path, "abc", []string{"not 64 hex digits", "sha256sum " + path}},
		{"not hex", path, strings.Repeat("zz", 32), []string{"is not hex"}},
		{"missing file", path + ".gone", good, []string{"no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySHA256(tc.path, tc.want)
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
