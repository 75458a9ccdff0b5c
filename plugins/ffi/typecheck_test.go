package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tagged adapter (ffi_cgo.go) cannot be compiled here: filecoin-ffi needs
// a Rust library and header we cannot build (field-facts §2). These tests
// type-check it against the real filecoin-ffi v1.32.0 source with go/types and
// FakeImportC, which declares an empty "C" package, so a wrong argument order
// or type in the adapter fails CI even though cgo cannot link.

type listedPkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	ImportMap  map[string]string
	Standard   bool
	Error      *struct{ Err string }
}

// listDeps asks the go command for the package graph of this plugin built
// with the ffi tag, dependencies first.
func listDeps(t *testing.T) []listedPkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", "-tags", "ffi", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

type mapImporter struct {
	pkgs    map[string]*types.Package
	current *listedPkg
}

func (m *mapImporter) Import(path string) (*types.Package, error) {
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	if real, ok := m.current.ImportMap[path]; ok {
		path = real
	}
	if p, ok := m.pkgs[path]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("package %s not loaded", path)
}

// typeCheck checks every package of the graph from source and returns the
// errors found in the plugin's own package. replace, if set, substitutes the
// contents of the plugin's files by base name (used to prove the check can
// fail).
func typeCheck(t *testing.T, pkgs []listedPkg, replace map[string]string) []error {
	t.Helper()
	fset := token.NewFileSet()
	imp := &mapImporter{pkgs: map[string]*types.Package{}}
	root := pkgs[len(pkgs)-1] // go list -deps prints the named package last
	var rootErrs []error
	for i := range pkgs {
		p := &pkgs[i]
		isRoot := p.ImportPath == root.ImportPath
		var files []*ast.File
		for _, name := range append(append([]string{}, p.GoFiles...), p.CgoFiles...) {
			var src any
			if isRoot && replace != nil {
				if s, ok := replace[name]; ok {
					src = s
				}
			}
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), src, parser.SkipObjectResolution)
			if err != nil {
				if isRoot {
					rootErrs = append(rootErrs, err)
				}
				continue
			}
			files = append(files, f)
		}
		imp.current = p
		conf := types.Config{
			Importer:    imp,
			FakeImportC: true,
			// Errors in dependencies come from code using C's types, which
			// FakeImportC leaves undefined; only the exported Go API
			// matters there.
			Error: func(err error) {
				if isRoot {
					rootErrs = append(rootErrs, err)
				}
			},
			Sizes: types.SizesFor("gc", "amd64"),
		}
		pkg, _ := conf.Check(p.ImportPath, fset, files, nil)
		imp.pkgs[p.ImportPath] = pkg
	}
	return rootErrs
}

func TestAdapterTypeChecksAgainstFFI(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is needed to list filecoin-ffi's source")
	}
	pkgs := listDeps(t)
	var sawFFI bool
	for _, p := range pkgs {
		if p.ImportPath == "github.com/filecoin-project/filecoin-ffi" {
			sawFFI = true
			if !strings.Contains(p.Dir, "filecoin-ffi@v1.32.0") {
				t.Fatalf("checked against %s, want filecoin-ffi v1.32.0", p.Dir)
			}
		}
	}
	if !sawFFI {
		t.Fatal("filecoin-ffi is not in the ffi-tagged build graph: is ffi_cgo.go still tagged `cgo && ffi`?")
	}
	root := pkgs[len(pkgs)-1]
	var hasAdapter bool
	for _, f := range root.GoFiles {
		hasAdapter = hasAdapter || f == "ffi_cgo.go"
	}
	if !hasAdapter {
		t.Fatalf("ffi_cgo.go is not part of the ffi-tagged build (files: %v)", root.GoFiles)
	}

	t.Run("adapter", func(t *testing.T) {
		for _, err := range typeCheck(t, pkgs, nil) {
			t.Error(err)
		}
	})

	// Each mutation is a mistake the check must catch; if one type-checks,
	// the test above proves nothing.
	orig, err := os.ReadFile("ffi_cgo.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ name, from, to string }{
		{"c2 sector and miner swapped", "ffi.SealCommitPhase2(phase1Out, sector, miner)", "ffi.SealCommitPhase2(phase1Out, miner, sector)"},
		{"pc1 ticket and pieces swapped", "sector, miner, ticket, pieces)", "sector, miner, pieces, ticket)"},
		{"pc2 results not CIDs", "(cid.Cid, cid.Cid, error) {\n\treturn ffi.SealPreCommitPhase2", "(string, cid.Cid, error) {\n\treturn ffi.SealPreCommitPhase2"},
		{"c1 seed dropped", "ticket, seed, pieces)", "ticket, pieces)"},
		{"window post miner and sectors swapped", "ffi.GenerateWindowPoSt(miner, privateSectors(sectors), randomness)", "ffi.GenerateWindowPoSt(privateSectors(sectors), miner, randomness)"},
		{"unseal size dropped", "unsealed, offset, size)", "unsealed, offset)"},
		{"snap encode pieces dropped", "sectorKeyCache, staged, pieces)", "sectorKeyCache, staged)"},
		{"update proof from vanilla without proofs", "unsealed, vanilla)", "unsealed)"},
	} {
		t.Run("catches "+m.name, func(t *testing.T) {
			src := string(orig)
			if !strings.Contains(src, m.from) {
				t.Fatalf("mutation does not apply: %q not in ffi_cgo.go", m.from)
			}
			errs := typeCheck(t, pkgs, map[string]string{"ffi_cgo.go": strings.Replace(src, m.from, m.to, 1)})
			if len(errs) == 0 {
				t.Fatal("the type check accepted a wrong adapter")
			}
		})
	}
}
