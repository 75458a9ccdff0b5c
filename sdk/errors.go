package sdk

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a stage failure as the host sees it: a message for the operator
// and whether running the same request again can help. Return one (through
// Errorf or RetryableErrorf) from a stage; any other error reaches the host
// as a non-retryable Error carrying err.Error().
//
// On the host side the same type comes back out of the client's error
// chain, so errors.As(err, &sdkErr) works at both ends.
type Error struct {
	Message   string
	Retryable bool
}

func (e *Error) Error() string {
	// A message passed on from another retryable error (a plugin's, through
	// the host's task API) already says so; once is enough.
	if e.Retryable && !strings.HasSuffix(e.Message, retryableMark) {
		return e.Message + retryableMark
	}
	return e.Message
}

const retryableMark = " (retryable)"

// Errorf returns a non-retryable *Error: the request is wrong or the data
// is broken, and trying again will fail the same way.
func Errorf(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// RetryableErrorf returns a retryable *Error: the failure is transient (a
// remote prover unreachable, a resource briefly exhausted).
func RetryableErrorf(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...), Retryable: true}
}

// IsRetryable reports whether err carries an *Error marked retryable.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}
