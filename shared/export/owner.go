package export

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
)

// Process names this process among live ones: host/pid.
func Process() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// NewOwner names one claim — a segment's lease, a finalize claim, a
// stewardship — made by process: "<process>/<random>". Unique per call, so
// a retried claim whose answer was lost is recognised as this one and no
// other; Holders reads the process back from a lease's owner.
func NewOwner(process string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return process + "/" + hex.EncodeToString(b)
}
