package export

import "time"

// RetentionDue reports whether the export's control rows must be made to
// expire later: it is not finished, and they expire within half of
// retention. Rows are stamped to expire retention after they are written,
// so an export that runs longer (or waits in PENDING or RUNNING that long)
// would lose rows to TTL while still being worked on. Acting at half
// leaves half a retention of margin for rescuers that are down or failing,
// and bounds the re-stamping to once per half retention. A finished
// export's rows expire as stamped.
func (e *Export) RetentionDue(now time.Time, retention time.Duration) bool {
	return !e.State.Terminal() && !e.ExpiresAt.IsZero() && e.ExpiresAt.Sub(now) < retention/2
}
