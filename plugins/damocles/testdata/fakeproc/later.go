package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/filecoin-project/go-commp-utils/v2/zerocomm"
	commcid "github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"

	"github.com/sealhost/sealhost/internal/damocles"
)

// faked is out as a JSON object with "_fake" added: damocles' readers
// (serde, internal/damocles) skip keys they do not know.
func faked(out any) (any, error) {
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["_fake"], _ = json.Marshal(fakeNote)
	return m, nil
}

// fakeProof is n bytes that start with the fake note and go on in
// SHA-256 counter mode from seed.
func fakeProof(seed damocles.Bytes32, n int) []byte {
	p := append(make([]byte, 0, n+32), fakeNote...)
	for i := uint64(0); len(p) < n; i++ {
		sum := sha256.Sum256(binary.LittleEndian.AppendUint64(seed[:], i))
		p = append(p, sum[:]...)
	}
	return p[:n]
}

// snapEncode checks the update's files, takes comm_d_new from the staged
// data's real tree and the sector key's comm_c from its p_aux (as
// encode_into does), writes the note over the new replica and a p_aux of
// comm_c and a FAKE comm_r_last_new into the new cache, as encode_into
// leaves them.
func snapEncode(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.SnapEncodeTask
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("snap_encode task: %v", err)
	}
	if err := errors.Join(checkFile("new_replica_path", t.NewReplicaPath), checkDir("new_cache_path", t.NewCachePath), checkFile("sector_path", t.SectorPath),
		checkDir("sector_cache_path", t.SectorCachePath), checkFile("staged_data_path", t.StagedDataPath)); err != nil {
		return nil, err
	}
	size := sectorSize(damocles.SealProof(5 + int64(t.RegisteredProof)))
	var sum uint64
	for _, p := range t.PieceInfos {
		sum += p.Size
	}
	if sum != size/128*127 {
		return nil, fmt.Errorf("pieces add up to %d unpadded bytes, want %d for a %d-byte sector", sum, size/128*127, size)
	}
	tree, err := buildTreeD(t.StagedDataPath)
	if err != nil {
		return nil, err
	}
	var d damocles.Bytes32
	copy(d[:], tree[len(tree)-32:])
	key, err := os.ReadFile(filepath.Join(t.SectorCachePath, damocles.PAuxFile))
	if err != nil || len(key) != 64 {
		return nil, fmt.Errorf("the sector key's p_aux (comm_c, comm_r_last): %v (%d bytes)", err, len(key))
	}
	var c damocles.Bytes32
	copy(c[:], key[:32])
	last := digest([]byte("comm_r_last_new"), c[:], d[:])
	replica := bytes.Repeat([]byte(fakeNote+"\n"), int(size)/len(fakeNote)+1)[:size]
	if err := os.WriteFile(t.NewReplicaPath, replica, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(t.NewCachePath, damocles.PAuxFile), append(c[:], last[:]...), 0o644); err != nil {
		return nil, err
	}
	return faked(damocles.SnapEncodeOutput{CommRNew: digest([]byte("comm_r_new"), c[:], last[:]), CommRLastNew: last, CommDNew: d})
}

// snapProve answers a FAKE proof of the update proof's length (192 bytes
// a partition; 16 partitions from 32 GiB).
func snapProve(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.SnapProveTask
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("snap_prove task: %v", err)
	}
	partitions := 1
	if sectorSize(damocles.SealProof(5+int64(t.RegisteredProof))) >= 32<<30 {
		partitions = 16
	}
	seed := digest([]byte("snap_prove"), t.CommROld[:], t.CommRNew[:], t.CommDNew[:], bytes.Join(bytesOf(t.VanillaProofs), nil))
	return damocles.Bytes(fakeProof(seed, 192*partitions)), nil
}

func bytesOf(bs []damocles.Bytes) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}

// winningPoSt fails when a sector's files are missing (a winning PoSt has
// no faults to declare), else answers one FAKE 192-byte proof.
func winningPoSt(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.WinningPoStTask
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("winning_post task: %v", err)
	}
	seed := []byte("winning_post")
	for _, r := range t.Replicas {
		if err := errors.Join(checkDir("cache_dir", r.CacheDir), checkFile("sealed_file", r.SealedFile)); err != nil {
			return nil, fmt.Errorf("sector %d: %v", r.SectorID, err)
		}
		seed = append(seed, r.CommR[:]...)
	}
	return faked(damocles.WinningPoStOutput{Proofs: [][]byte{fakeProof(digest(seed, t.Seed[:]), 192)}})
}

// addPieces writes each piece after the last, as damocles'
// write_and_preprocess does (no alignment, no filling): its payload, then
// zeros to its padded size — not fr32-padded, so FAKE for data that is
// not zeros, whose commitment is a digest; a zero piece gets the real
// zero commitment.
func addPieces(raw json.RawMessage, _ knobs) (any, error) {
	var t damocles.AddPiecesTask
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("add_pieces task: %v", err)
	}
	f, err := os.OpenFile(t.StagedFilepath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open staged file: %v", err)
	}
	defer f.Close()
	type piece struct {
		damocles.PieceInfo
		Fake string `json:"_fake"`
	}
	var out []piece
	for i, p := range t.Pieces {
		data := make([]byte, p.PieceSize)
		switch {
		case p.PieceFile.URL != "":
			return nil, fmt.Errorf("pieces[%d]: fakeproc fetches no URLs", i)
		case p.PieceFile.Local != "":
			in, err := os.Open(p.PieceFile.Local)
			if err != nil {
				return nil, fmt.Errorf("open piece file: %v", err)
			}
			_, err = io.ReadFull(in, data[:p.PayloadSize])
			in.Close()
			if err != nil {
				return nil, fmt.Errorf("pieces[%d] %s: %v", i, p.PieceFile.Local, err)
			}
		}
		padded := abi.UnpaddedPieceSize(p.PieceSize).Padded()
		if _, err := f.Write(append(data, make([]byte, uint64(padded)-p.PieceSize)...)); err != nil {
			return nil, err
		}
		var comm damocles.Bytes32
		if strings.Trim(string(data), "\x00") == "" {
			d, err := commcid.CIDToPieceCommitmentV1(zerocomm.ZeroPieceCommitment(abi.UnpaddedPieceSize(p.PieceSize)))
			if err != nil {
				return nil, err
			}
			copy(comm[:], d)
		} else {
			comm = digest([]byte("piece"), data)
		}
		out = append(out, piece{damocles.PieceInfo{Commitment: comm, Size: p.PieceSize}, fakeNote})
	}
	return out, nil
}
