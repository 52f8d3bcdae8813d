// Package fault owns ddbfleet's error vocabulary and its one retry helper.
//
// Every error that crosses a package boundary is, or wraps, one of these
// kinds (after rclone's fserrors):
//   - Invalid: the operator asked for something impossible; exit code 2.
//   - Fatal: nothing this process does can succeed (the control table is
//     missing, access is denied); stop and say so.
//   - Permanent: this piece of work will fail the same way every time
//     (a lost lease, a corrupt file, a bad item).
//   - Retryable: throttling, 5xx, timeouts, dropped connections. A
//     retryable error may carry RetryAfter, the least time to wait first.
//
// Errors are classified by type only: the kinds marked here, the AWS SDK's
// API error codes and HTTP statuses, and the connection error types of the
// SDK and the standard library. Never by message text: a truncated gzip
// stream (io.ErrUnexpectedEOF) is a corrupt file, not a dropped connection.
package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Kind says what the caller may do about an error.
type Kind int

const (
	// KindUnknown is an unclassified error; Classify decides.
	KindUnknown Kind = iota
	// KindRetryable errors may succeed if tried again later.
	KindRetryable
	// KindPermanent errors will fail the same way every time.
	KindPermanent
	// KindInvalid errors come from operator input; the CLI exits 2.
	KindInvalid
	// KindFatal errors mean the process cannot do any work: stop.
	KindFatal
)

func (k Kind) String() string {
	switch k {
	case KindRetryable:
		return "retryable"
	case KindPermanent:
		return "permanent"
	case KindInvalid:
		return "invalid"
	case KindFatal:
		return "fatal"
	default:
		return "unknown"
	}
}

// Error attaches a Kind (and, for a retryable error, the least delay before
// the next try) to an error.
type Error struct {
	Kind       Kind
	RetryAfter time.Duration
	Err        error
	throttle   bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Retryable marks err as worth retrying.
func Retryable(err error) error { return wrap(KindRetryable, err) }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return wrap(KindPermanent, err) }

// Fatal marks err as stopping the whole process.
func Fatal(err error) error { return wrap(KindFatal, err) }

// RetryAfter marks err as retryable no sooner than d from now.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindRetryable, RetryAfter: d, Err: err}
}

// Throttled marks err as the service asking us to slow down (IsThrottle
// reports true, and it is retryable).
func Throttled(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindRetryable, Err: err, throttle: true}
}

// Delay is the RetryAfter err carries, or 0.
func Delay(err error) time.Duration {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.RetryAfter
	}
	return 0
}

// Invalidf reports bad operator input; the message must name what is wrong.
func Invalidf(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Err: fmt.Errorf(format, args...)}
}

func wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// Throttling error codes across DynamoDB, SQS and S3.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"ThrottledException":                     true,
	"RequestLimitExceeded":                   true,
	"TooManyRequestsException":               true,
	"SlowDown":                               true,
	"RequestThrottled":                       true,
	"RequestThrottledException":              true,
	"LimitExceededException":                 true,
	"TransactionInProgressException":         true,
}

// transientCodes are server-side faults that usually clear by themselves.
var transientCodes = map[string]bool{
	"InternalServerError":          true,
	"InternalError":                true,
	"InternalFailure":              true,
	"ServiceUnavailable":           true,
	"ServiceUnavailableException":  true,
	"RequestTimeout":               true,
	"RequestTimeoutException":      true,
	"TransactionConflict":          true,
	"TransactionConflictException": true,
}

// IsThrottle reports whether err is the service asking us to slow down.
// Pacing uses it to back off the whole segment, not just one call.
func IsThrottle(err error) bool {
	var fe *Error
	if errors.As(err, &fe) && fe.throttle {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && throttleCodes[ae.ErrorCode()]
}

// Classify returns the Kind of err, looking through wrapping.
func Classify(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var fe *Error
	if errors.As(err, &fe) && fe.Kind != KindUnknown {
		return fe.Kind
	}
	if errors.Is(err, context.Canceled) {
		return KindPermanent
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindRetryable
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if throttleCodes[code] || transientCodes[code] {
			return KindRetryable
		}
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429) {
			return KindRetryable
		}
		return KindPermanent
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429) {
		return KindRetryable
	}
	// Dropped, reset and refused connections: the SDK wraps a failed send
	// in an error that says so (RequestSendError), the standard library
	// in net.Error and errno values.
	var ce interface{ ConnectionError() bool }
	if errors.As(err, &ce) && ce.ConnectionError() {
		return KindRetryable
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return KindRetryable
	}
	for _, errno := range []error{syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE, net.ErrClosed} {
		if errors.Is(err, errno) {
			return KindRetryable
		}
	}
	return KindPermanent
}

// IsRetryable is Classify(err) == KindRetryable.
func IsRetryable(err error) bool { return Classify(err) == KindRetryable }

// IsFatal reports errors that stop the process.
func IsFatal(err error) bool { return Classify(err) == KindFatal }

// IsInvalid reports operator input errors.
func IsInvalid(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Kind == KindInvalid
}

// ExitCode maps an error to the process exit code of the contract:
// 0 success, 2 invalid input, 1 anything else.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case IsInvalid(err):
		return 2
	default:
		return 1
	}
}
