package metrics

import "context"

// ScanPacer is the shape of the worker's read pacer (segexport.Pacer):
// Wait before a Scan page, Consumed with what the page cost, Throttled on
// a throttle.
type ScanPacer interface {
	Wait(ctx context.Context) error
	Consumed(units float64)
	Throttled()
}

// countingPacer is a decorator: the pacer already sees every page's cost
// and every throttle, so wrapping it counts both without touching the scan
// loop.
type countingPacer struct {
	ScanPacer
	e  *Emitter
	id string
}

var _ ScanPacer = (*countingPacer)(nil)

// Pacer wraps inner so that what it is told is also counted as
// ReadUnitsConsumed and Throttles of exportID. With a nil Emitter it
// returns inner itself.
func (e *Emitter) Pacer(exportID string, inner ScanPacer) ScanPacer {
	if e == nil {
		return inner
	}
	return &countingPacer{ScanPacer: inner, e: e, id: exportID}
}

func (p *countingPacer) Consumed(units float64) {
	p.e.ReadUnits(p.id, units)
	p.ScanPacer.Consumed(units)
}

func (p *countingPacer) Throttled() {
	p.e.Throttle(p.id)
	p.ScanPacer.Throttled()
}
