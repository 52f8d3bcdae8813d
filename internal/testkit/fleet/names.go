package fleet

import (
	"fmt"
	"sync/atomic"
	"time"
)

// unique is the sequence behind Unique. It is the package's one piece of
// mutable state, and deliberately process-wide: names must differ between
// every test of the run (tests of one package share a process and the
// servers), which a per-test counter cannot promise. It is atomic, so
// parallel tests are safe; the time prefix separates runs and processes.
var unique atomic.Int64

// Unique returns a name no other test of this run uses, for tables, queues
// and buckets on the shared local servers. It is lower case letters,
// digits and dashes after prefix, so it is a valid bucket name too.
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d-%d", prefix, time.Now().UnixNano()%1_000_000_000, unique.Add(1))
}
