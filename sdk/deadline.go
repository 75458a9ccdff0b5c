package sdk

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// DeadlineMetadata is the gRPC metadata key by which the host tells a
// plugin a task's deadline, in Unix nanoseconds. The host's own call runs a
// grace period longer: a plugin that stops at the deadline answers, one that
// ignores it is killed. Serve applies it to every stage's ctx, so a plugin
// author only has to honour ctx.
const DeadlineMetadata = "sealhost-task-deadline"

// withTaskDeadline shortens ctx to the deadline the host sent, if any.
func withTaskDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx, func() {}
	}
	v := md.Get(DeadlineMetadata)
	if len(v) == 0 {
		return ctx, func() {}
	}
	ns, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, time.Unix(0, ns))
}

func deadlineInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := withTaskDeadline(ctx)
	defer cancel()
	return handler(ctx, req)
}
