package pluginclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sealhost/sealhost/sdk"
	"github.com/sealhost/sealhost/sdk/internal/blob"
	"github.com/sealhost/sealhost/sdk/proto/sealv1"
)

// blobCall is one stage call's share of the large-payload fast path: a
// fresh 0700 directory inside the client's BlobDir holding the request's
// blob and the one the plugin may answer with. Removing the directory when
// the call returns, however it ends, is what guarantees no file outlives
// the call: a plugin that is still writing when the host gives up either
// finds the directory gone or has its file removed with it.
type blobCall struct {
	c     *Client
	stage string
	dir   string // "" when the plugin does not accept blobs
}

// newCall prepares a call of stage. A stage whose response may carry a
// blob (pc1, c1) gets its directory now, to offer it in the request; the
// others only when send has a large request to write.
func (c *Client) newCall(stage string, response bool) *blobCall {
	call := &blobCall{c: c, stage: stage}
	if response {
		call.mkdir()
	}
	return call
}

// mkdir makes the call's directory if the plugin takes blobs; on failure
// the call goes inline, which still works, only slower.
func (b *blobCall) mkdir() {
	if b.c.blobDir == "" || b.dir != "" {
		return
	}
	dir, err := os.MkdirTemp(b.c.blobDir, b.stage+"-")
	if err != nil {
		b.c.log.Warn("cannot make a directory for large payloads; sending them inline (slower)", "stage", b.stage, "error", err)
		return
	}
	b.dir = dir
}

// send writes data as a blob when it is large enough and the plugin takes
// blobs; nil means send it inline.
func (b *blobCall) send(ctx context.Context, data []byte) *sealv1.Blob {
	if b.c.blobDir == "" || len(data) < blob.Threshold {
		return nil
	}
	if b.mkdir(); b.dir == "" {
		return nil
	}
	start := time.Now()
	ref, err := blob.Write(ctx, b.dir, b.stage, data)
	if err != nil {
		b.c.log.Warn("cannot write a large request to a file; sending it inline (slower)", "stage", b.stage, "error", err)
		return nil
	}
	b.c.log.Debug("request payload passed as a file", "stage", b.stage, "bytes", len(data), "took", time.Since(start))
	return ref
}

// receive replaces a response's blob with its bytes. The blob must lie in
// this call's directory.
func (b *blobCall) receive(data *[]byte, ref **sealv1.Blob) error {
	if *ref == nil {
		return nil
	}
	// DataLoss: the plugin did its work but its answer did not arrive
	// whole; trying again may well succeed.
	fail := func(err error) error {
		return &CallError{Plugin: b.c.name, Stage: b.stage, Code: codes.DataLoss, Err: &sdk.Error{Message: err.Error(), Retryable: true}}
	}
	if b.dir == "" {
		return fail(errors.New("the response carries a blob though the host offered no directory for one (a bug in the plugin)"))
	}
	if len(*data) > 0 {
		return fail(fmt.Errorf("the response sets both phase1_output (%d bytes) and phase1_output_blob (a bug in the plugin)", len(*data)))
	}
	start := time.Now()
	v, err := blob.Read(*ref, b.dir)
	if err != nil {
		return fail(fmt.Errorf("reading the response's phase1_output: %w", err))
	}
	b.c.log.Debug("response payload received as a file", "stage", b.stage, "bytes", len(v), "took", time.Since(start))
	*data, *ref = v, nil
	return nil
}

// done removes the call's directory and whatever is left in it. A plugin
// creating its file at that very moment can make the removal fail with
// "directory not empty"; one more try after it has had time to finish
// settles that.
func (b *blobCall) done() {
	if b.dir == "" {
		return
	}
	if err := os.RemoveAll(b.dir); err != nil {
		go func() {
			time.Sleep(time.Second)
			if err := os.RemoveAll(b.dir); err != nil {
				b.c.log.Warn("cannot remove a call's directory for large payloads", "dir", b.dir, "error", err)
			}
		}()
	}
}
