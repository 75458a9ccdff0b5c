package damocles

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// The stages after c2, as damocles-worker writes their tasks (serde's
// encodings, field order of vc-processors' builtin tasks).
var (
	snapEncodeTask = `{"registered_proof":"StackedDrg2KiBV1","new_replica_path":"/d/update/s-t01000-7","new_cache_path":"/d/update-cache/s-t01000-7",` +
		`"sector_path":"/d/sealed/s-t01000-7","sector_cache_path":"/d/cache/s-t01000-7","staged_data_path":"/d/unsealed/s-t01000-7",` +
		`"piece_infos":[{"commitment":` + ints(1, 32) + `,"size":2032}]}`
	snapEncodeOut   = `{"comm_r_new":` + ints(2, 32) + `,"comm_r_last_new":` + ints(9, 32) + `,"comm_d_new":` + ints(1, 32) + `}`
	snapProveTask   = `{"registered_proof":"StackedDrg2KiBV1","vannilla_proofs":[[1,2,3],[4]],"comm_r_old":` + ints(3, 32) + `,"comm_r_new":` + ints(2, 32) + `,"comm_d_new":` + ints(1, 32) + `}`
	winningPoStTask = `{"miner_id":1000,"proof_type":"StackedDrgWinning2KiBV1","replicas":[` +
		`{"sector_id":7,"comm_r":` + ints(1, 32) + `,"cache_dir":"/c/s-t01000-7","sealed_file":"/s/s-t01000-7"}],"seed":` + ints(4, 32) + `}`
	winningPoStOut = `{"proofs":["AAEC"]}`
	addPiecesTask  = `{"seal_proof_type":"StackedDrg2KiBV1_1","pieces":[{"piece_file":{"local":"/d/deals/a.car"},"payload_size":1016,"piece_size":1016},` +
		`{"piece_file":"pledge","payload_size":0,"piece_size":1016}],"staged_filepath":"/d/unsealed/s-t01000-7"}`
	addPiecesOut = `[{"commitment":` + ints(1, 32) + `,"size":1016},{"commitment":` + ints(5, 32) + `,"size":1016}]`
)

// snapDirs is a snap_encode request whose files are on disk: the sector
// key's p_aux (comm_c 7…), the new replica, and, when written, the new
// cache's p_aux as encode_into leaves it (the same comm_c, comm_r_last 9…).
func snapDirs(tb testing.TB, written bool) *sealv1.SnapEncodeRequest {
	tb.Helper()
	root := tb.TempDir()
	r := &sealv1.SnapEncodeRequest{NewReplicaPath: filepath.Join(root, "update"), NewCachePath: filepath.Join(root, "update-cache"),
		SectorKeyCachePath: filepath.Join(root, "cache")}
	pAux := func(c, last int) []byte {
		b := make([]byte, 64)
		for i := range 32 {
			b[i], b[32+i] = byte(c+i), byte(last+i)
		}
		return b
	}
	for _, d := range []string{r.NewCachePath, r.SectorKeyCachePath} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(r.SectorKeyCachePath, PAuxFile), pAux(7, 8), 0o644))
	must(os.WriteFile(r.NewReplicaPath, make([]byte, 2048), 0o644))
	old := time.Now().Add(-time.Minute)
	must(os.Chtimes(r.NewReplicaPath, old, old))
	if written {
		must(os.WriteFile(filepath.Join(r.NewCachePath, PAuxFile), pAux(7, 9), 0o644))
	}
	return r
}

func TestSnapEncodeCodec(t *testing.T) {
	c, _ := Lookup("snap_encode")
	m, err := c.DecodeTask(json.RawMessage(snapEncodeTask))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sealv1.SnapEncodeRequest)
	if req.GetRegisteredUpdateProof() != 0 || req.GetSector().GetRegisteredSealProof() != 5 || req.GetSector().GetMinerId() != 1000 || req.GetSector().GetSectorNumber() != 7 ||
		req.GetSectorKeyPath() != "/d/sealed/s-t01000-7" || req.GetSectorKeyCachePath() != "/d/cache/s-t01000-7" || req.GetStagedPath() != "/d/unsealed/s-t01000-7" ||
		len(req.GetPieces()) != 1 || req.GetPieces()[0].GetSize() != 2048 {
		t.Fatalf("request %v", req)
	}
	if enc, err := c.EncodeTask(req); err != nil || string(enc) != snapEncodeTask {
		t.Fatalf("encoded\n%s (%v)\nwant\n%s", enc, err, snapEncodeTask)
	}
	// The answer, as the host gives it: comm_r_new and comm_d_new.
	resp, err := c.DecodeOutput(req, json.RawMessage(snapEncodeOut))
	if err != nil {
		t.Fatal(err)
	}
	stale := snapDirs(t, true)
	later := time.Now().Add(time.Minute)
	os.Chtimes(stale.NewReplicaPath, later, later)
	other := snapDirs(t, true)
	os.WriteFile(filepath.Join(other.SectorKeyCachePath, PAuxFile), make([]byte, 64), 0o644)
	short := snapDirs(t, true)
	os.WriteFile(filepath.Join(short.NewCachePath, PAuxFile), make([]byte, 32), 0o644)
	for _, tc := range []struct {
		name string
		req  *sealv1.SnapEncodeRequest
		want string
	}{
		{"p_aux written by the encode", snapDirs(t, true), snapEncodeOut},
		{"no p_aux (an older proofs library, or the mock)", snapDirs(t, false), "damocles' output needs comm_r_last_new, which the task API's answer does not carry"},
		{"p_aux older than the new replica", stale, "an earlier encode's"},
		{"p_aux of another sector", other, "its comm_c is not the sector key's"},
		{"p_aux cut short", short, "has 32 bytes, want 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.EncodeOutput(tc.req, resp)
			if strings.HasPrefix(tc.want, "{") {
				if err != nil || string(out) != tc.want {
					t.Fatalf("output %s, %v; want %s", out, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.req.GetNewCachePath()) {
				t.Fatalf("err = %v, want %q naming the file", err, tc.want)
			}
		})
	}
	if _, err := c.DecodeTask(json.RawMessage(strings.Replace(snapEncodeTask, `"StackedDrg2KiBV1"`, `"StackedDrg2KiBV1_1"`, 1))); err == nil || !strings.Contains(err.Error(), "is not an update proof") {
		t.Errorf("a seal proof as the update proof: %v", err)
	}
}

func TestSnapProveCodec(t *testing.T) {
	c, _ := Lookup("snap_prove")
	m, err := c.DecodeTask(json.RawMessage(snapProveTask))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sealv1.SnapProveRequest)
	if len(req.GetVanillaProofs()) != 2 || string(req.GetVanillaProofs()[0]) != "\x01\x02\x03" || !strings.HasPrefix(req.GetOldSealedCid(), "bagboea4b5abc") ||
		!strings.HasPrefix(req.GetNewUnsealedCid(), "baga6ea4seaq") || req.GetOldSealedCid() == req.GetNewSealedCid() || req.GetSector().GetRegisteredSealProof() != 5 {
		t.Fatalf("request %v", req)
	}
	if enc, err := c.EncodeTask(req); err != nil || string(enc) != snapProveTask {
		t.Fatalf("encoded\n%s (%v)\nwant\n%s", enc, err, snapProveTask)
	}
	out, err := c.EncodeOutput(req, &sealv1.SnapProveResponse{Proof: []byte{0, 1, 255}})
	if err != nil || string(out) != "[0,1,255]" {
		t.Fatalf("output %s, %v", out, err)
	}
	if _, err := c.EncodeOutput(req, &sealv1.SnapProveResponse{}); err == nil || !strings.Contains(err.Error(), "no proof") {
		t.Errorf("empty proof: %v", err)
	}
	for _, bad := range []struct{ task, want string }{
		{strings.Replace(snapProveTask, `[[1,2,3],[4]]`, `[]`, 1), "vannilla_proofs is empty"},
		{strings.Replace(snapProveTask, `[[1,2,3],[4]]`, `[[1,2,300]]`, 1), "vannilla_proofs[0]: element 2"},
		{strings.Replace(snapProveTask, `"comm_r_old"`, `"comm_r_odl"`, 1), "comm_r_old is missing"},
	} {
		if _, err := c.DecodeTask(json.RawMessage(bad.task)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("decoding %s: %v, want %q", bad.task[:50], err, bad.want)
		}
	}
	if _, err := c.EncodeTask(&sealv1.SnapProveRequest{NewReplicaPath: "/r"}); err == nil || !strings.Contains(err.Error(), "no vanilla_proofs") {
		t.Errorf("a request that names files only: %v", err)
	}
}

func TestWinningPoStCodec(t *testing.T) {
	c, _ := Lookup("winning_post")
	m, err := c.DecodeTask(json.RawMessage(winningPoStTask))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sealv1.WinningPoStRequest)
	if req.GetMinerId() != 1000 || req.GetRegisteredPostProof() != 0 || len(req.GetSectors()) != 1 || req.GetSectors()[0].GetRegisteredSealProof() != 5 ||
		req.GetSectors()[0].GetSealedPath() != "/s/s-t01000-7" {
		t.Fatalf("request %v", req)
	}
	if enc, err := c.EncodeTask(req); err != nil || string(enc) != winningPoStTask {
		t.Fatalf("encoded\n%s (%v)\nwant\n%s", enc, err, winningPoStTask)
	}
	resp := &sealv1.WinningPoStResponse{Proofs: []*sealv1.PoStProof{{RegisteredPostProof: 0, Proof: []byte{0, 1, 2}}}}
	out, err := c.EncodeOutput(req, resp)
	if err != nil || string(out) != winningPoStOut {
		t.Fatalf("output %s, %v; want %s", out, err, winningPoStOut)
	}
	if back, err := c.DecodeOutput(req, out); err != nil || !proto.Equal(back, resp) {
		t.Fatalf("decoded back %v, %v", back, err)
	}
	if _, err := c.EncodeOutput(req, &sealv1.WinningPoStResponse{}); err == nil || !strings.Contains(err.Error(), "no proofs") {
		t.Errorf("no proofs: %v", err)
	}
	if _, err := c.DecodeTask(json.RawMessage(strings.Replace(winningPoStTask, "StackedDrgWinning2KiBV1", "StackedDrgWindow2KiBV1_2", 1))); err == nil || !strings.Contains(err.Error(), "is a window PoSt proof") {
		t.Errorf("a window proof type: %v", err)
	}
}

func TestAddPiecesCodec(t *testing.T) {
	c, _ := Lookup("add_pieces")
	m, err := c.DecodeTask(json.RawMessage(addPiecesTask))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sealv1.AddPiecesRequest)
	if req.GetSector().GetRegisteredSealProof() != 5 || req.GetSector().GetSectorNumber() != 7 || req.GetStagedPath() != "/d/unsealed/s-t01000-7" || len(req.GetPieces()) != 2 ||
		req.GetPieces()[0].GetPath() != "/d/deals/a.car" || req.GetPieces()[0].GetSize() != 1024 || req.GetPieces()[1].GetPath() != "" {
		t.Fatalf("request %v", req)
	}
	// The host's answer, as the pieces damocles' output names.
	back := &sealv1.AddPiecesResponse{}
	infos, err := readPieces(json.RawMessage(addPiecesOut))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range infos {
		pi, err := pieceOf(i, p)
		if err != nil {
			t.Fatal(err)
		}
		back.Pieces = append(back.Pieces, pi)
	}
	if out, err := c.EncodeOutput(req, back); err != nil || string(out) != addPiecesOut {
		t.Fatalf("output %s, %v; want %s", out, err, addPiecesOut)
	}
	for _, bad := range []struct{ task, want string }{
		{strings.Replace(addPiecesTask, `{"local":"/d/deals/a.car"}`, `{"url":"http://market/a.car"}`, 1), "reads local files only"},
		{strings.Replace(addPiecesTask, `"payload_size":1016,"piece_size":1016}`, `"payload_size":900,"piece_size":1016}`, 1), "payload_size 900 is less than piece_size 1016, and the task API's add_pieces pads nothing"},
		{strings.Replace(addPiecesTask, `"payload_size":0,"piece_size":1016`, `"payload_size":2000,"piece_size":1016`, 1), "is larger than piece_size"},
		{strings.Replace(addPiecesTask, `"piece_size":1016}`, `"piece_size":1024}`, 1), "pieces[0].piece_size 1024"},
		{strings.Replace(addPiecesTask, `"pledge"`, `"plege"`, 1), `"plege" is not a piece file`},
		{strings.Replace(addPiecesTask, `{"local":"/d/deals/a.car"}`, `{"local":"/a","url":"u"}`, 1), `want "pledge", {"local": PATH} or {"url": URL}`},
	} {
		if _, err := c.DecodeTask(json.RawMessage(bad.task)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("decoding %s: %v, want %q", bad.task[:60], err, bad.want)
		}
	}
}
