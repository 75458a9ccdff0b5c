package blob_test

import (
	"context"
	"testing"

	"github.com/sealhost/sealhost/sdk/internal/blob"
)

func BenchmarkWrite(b *testing.B) {
	data := make([]byte, 64<<20)
	dir := b.TempDir()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		ref, err := blob.Write(context.Background(), dir, "w", data)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := blob.Read(ref, dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func BenchmarkRead(b *testing.B) {
	data := make([]byte, 64<<20)
	dir := b.TempDir()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		b.StopTimer()
		ref, err := blob.Write(context.Background(), dir, "w", data)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := blob.Read(ref, dir); err != nil {
			b.Fatal(err)
		}
	}
}
