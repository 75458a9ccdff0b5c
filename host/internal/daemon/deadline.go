package daemon

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/sealhost/sealhost/sdk/client"
)

// deadlineOf reads the task deadline a caller sent (client.WithDeadline):
// zero when it sent none. A malformed one is refused rather than ignored,
// since a PoSt ordered as if it had no deadline may miss it.
func deadlineOf(ctx context.Context) (time.Time, error) {
	// Not FromIncomingContext: it copies every header, per task.
	v := metadata.ValueFromIncomingContext(ctx, client.HeaderDeadline)
	switch len(v) {
	case 0:
		return time.Time{}, nil
	case 1:
	default:
		return time.Time{}, statusError(codes.InvalidArgument, false, "header %s given %d times: send one deadline", client.HeaderDeadline, len(v))
	}
	t, err := time.Parse(time.RFC3339Nano, v[0])
	if err != nil {
		return time.Time{}, statusError(codes.InvalidArgument, false, "header %s: %q is not an RFC 3339 time such as 2026-12-01T15:04:05.123Z: %v", client.HeaderDeadline, v[0], err)
	}
	return t, nil
}
