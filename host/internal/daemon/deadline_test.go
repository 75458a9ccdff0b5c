package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sealhost/sealhost/sdk/client"
)

func TestDeadlineOf(t *testing.T) {
	at := time.Date(2026, 12, 1, 15, 4, 5, 123456789, time.UTC)
	tests := []struct {
		name   string
		values []string
		want   time.Time
		err    string
	}{
		{"none", nil, time.Time{}, ""},
		{"rfc3339 nanos", []string{at.Format(time.RFC3339Nano)}, at, ""},
		{"with zone", []string{"2026-12-01T16:04:05.123456789+01:00"}, at, ""},
		{"not a time", []string{"in 25s"}, time.Time{}, `"in 25s" is not an RFC 3339 time`},
		{"twice", []string{at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano)}, time.Time{}, "given 2 times"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md := metadata.MD{}
			for _, v := range tc.values {
				md.Append(client.HeaderDeadline, v)
			}
			got, err := deadlineOf(metadata.NewIncomingContext(context.Background(), md))
			if tc.err != "" {
				if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want InvalidArgument with %q", err, tc.err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
}
