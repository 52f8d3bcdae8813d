package sim_test

// The fleet simulated end to end in virtual time (package sim): a whole
// export on a thousand workers, with kills and lost answers, checked for
// correctness and measured for what it costs the control table.
//
//	go test ./internal/testkit/sim/ -run TestSim -v     # every run, with its figures
//	go test ./internal/testkit/sim/ -run TestSimBig -v  # 10,000 segments on 1,000 workers
//	SIM_LONG=1 go test ./internal/testkit/sim/ -run TestSimLong -v  # TestSimScale's export at a sixth of the cap (15–40 s)

import (
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddbfleet/ddbfleet/internal/testkit/sim"
)

// controlPlaneTargets turns the control plane's scale targets from
// reported into asserted. It was off until heartbeats stopped reading the
// export and counting leases and one steward per export (not every
// worker's rescuer) came to read its segments (commit 251fb1a); the tests
// log each target's verdict and the figures either way. It was off again
// while scans ignored the read cap (each fleet then read the export at its
// own speed); they are bound by it now, so both fleets take the export's
// time at its cap and per-hour figures compare like with like.
const controlPlaneTargets = true

// Scale targets.
const (
	// flatAcrossWorkers: read units per export-hour at 1,000 workers
	// within ±20 % of those at 100 workers, for the same export.
	flatAcrossWorkers = 0.20
	// linearInSegments: read units per export-hour at 10,000 segments at
	// most 20 % above 5 × those at 2,000 segments (the same fleet).
	linearInSegments = 0.20
	// maxItemWrites: no item takes more writes in one second.
	maxItemWrites = 100
	// maxCapHeld: the read shares in hand never add up to more than this
	// many times the export's read cap (the steward republishes a share
	// only once it drifts 20 % from the fair one).
	maxCapHeld = 1.2
	// minCapUsed: the fleet reads at least this much of the cap on
	// average over the middle of the run (10–90 % of it, past the first
	// two leases).
	minCapUsed = 0.7
)

var (
	runsMu sync.Mutex
	runs   = map[sim.Scenario]sim.Result{}
)

// run simulates sc once per test binary and logs its figures.
func run(t *testing.T, sc sim.Scenario) sim.Result {
	t.Helper()
	runsMu.Lock()
	defer runsMu.Unlock()
	if r, ok := runs[sc]; ok {
		return r
	}
	r := sim.Run(t, sc)
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("\n%s", r.Table())
	requireModel(t, r)
	targetCap(t, r)
	runs[sc] = r
	return r
}

// targetCap holds the fleet to the export's read cap: held, and used.
func targetCap(t *testing.T, r sim.Result) {
	t.Helper()
	c, sc := r.Cap, r.Scenario
	// Workers joining mid-export each take cap ÷ unfinished segments on
	// top of the shares in hand until the steward's next pass re-divides:
	// the design's bound (docs/performance.md, "Scale-out overshoot") is
	// the new slots over the unfinished segments, which a fleet that
	// quadruples in one step exceeds 1.2 by.
	bound := maxCapHeld
	if sc.Added > 0 {
		bound = max(bound, 1+float64(sc.Added*sc.Slots)/float64(sc.Segments)*1.1)
	}
	target(t, c.PeakHeld <= bound, "read shares in hand at %d+%d workers peak at %.3f × the cap, at %s (at most %.2f); read units consumed per 10 s peak at %.3f × the cap",
		sc.Workers, sc.Added, c.PeakHeld, c.PeakHeldAt.Round(time.Second), bound, c.PeakRead)
	target(t, c.MeanRead >= minCapUsed, "read units consumed at %d+%d workers, mean over the middle of the run: %.3f × the cap (at least %.1f); %.3f over the whole run, which took %.2f × its reads at the cap",
		sc.Workers, sc.Added, c.MeanRead, minCapUsed, c.Overall, r.Duration.Seconds()/r.Ideal.Seconds())
}

// requireModel checks that the workers made their calls at the real
// cadence: a heartbeat every third of a lease of every attempt, one claim
// and one completion per segment give or take the kills and lost answers.
func requireModel(t *testing.T, r sim.Result) {
	t.Helper()
	sc := r.Scenario
	n := sc.Segments
	m := r.Methods
	// Heartbeats: every lease/3 of scanning; killed attempts add a few.
	want := float64(r.ScanTime) / float64(sc.Lease/3)
	if got := float64(m["Heartbeat"].Calls); got < 0.9*want || got > 1.15*want {
		t.Errorf("%d heartbeats, want about %.0f (%s of scanning, one every %s)", m["Heartbeat"].Calls, want, r.ScanTime, sc.Lease/3)
	}
	if c := m["CompleteSegment"].Calls; c < n || c > n+n/20+r.Kills*sc.Slots {
		t.Errorf("%d CompleteSegment calls for %d segments", c, n)
	}
	if c := m["ClaimSegment"].Calls; c < n || r.Claims < n {
		t.Errorf("%d ClaimSegment calls, %d claims for %d segments", c, r.Claims, n)
	}
	if d := r.SQS["DeleteMessage"]; d < n {
		t.Errorf("%d messages deleted for %d segments", d, n)
	}
}

// target reports a target's verdict, and fails the test on a miss once
// controlPlaneTargets is on.
func target(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	verdict := "holds"
	if !ok {
		verdict = "MISSED"
	}
	t.Logf("target %s: "+format, append([]any{verdict}, args...)...)
	if !ok && controlPlaneTargets {
		t.Errorf("target missed: "+format, args...)
	}
}

func hottest(r sim.Result) sim.Hot { return r.Hottest[0] }

// TestSimNoWatcher runs an export nobody waits for: a worker's rescuer
// becomes its steward, another takes over when it is killed, and the
// worker finishing the last segment finalizes the export.
func TestSimNoWatcher(t *testing.T) {
	sc := sim.Big().With(300, 30)
	sc.Watch = false
	sc.KillSteward = 8 * time.Minute
	r := run(t, sc)
	var workers int
	for owner, n := range r.Stewards {
		if strings.HasPrefix(owner, "coordinator/") {
			t.Errorf("%s stewarded with no watcher", owner)
		} else if n > 0 {
			workers++
		}
	}
	if workers < 2 {
		t.Errorf("%d workers stewarded the export; its steward was killed", workers)
	}
}

func targetHot(t *testing.T, r sim.Result) {
	t.Helper()
	h := hottest(r)
	target(t, h.Writes <= maxItemWrites, "hottest item at %d workers: %s, %d writes/s (at most %d)", r.Scenario.Workers, h.Item, h.Writes, maxItemWrites)
}

// TestSimFakeS3 runs a small export on fakes3, the S3 server the other
// unit tests use, and the same export on the sim's in-memory bucket: the
// runs must be the same call for call.
func TestSimFakeS3(t *testing.T) {
	sc := sim.Big().With(300, 30)
	sc.FakeS3 = true
	onFake := run(t, sc)
	sc.FakeS3 = false
	inMemory := run(t, sc)
	if onFake.Duration != inMemory.Duration || onFake.Events != inMemory.Events || onFake.RCU != inMemory.RCU || onFake.WCU != inMemory.WCU {
		t.Errorf("fakes3 and memS3 runs differ: %s, %d events, %.0f/%.0f units vs %s, %d events, %.0f/%.0f units",
			onFake.Duration, onFake.Events, onFake.RCU, onFake.WCU, inMemory.Duration, inMemory.Events, inMemory.RCU, inMemory.WCU)
	}
}

// TestSimScale runs one export of 2,000 segments on 100 and on 1,000
// workers: its read units per export-hour must not depend on the fleet.
func TestSimScale(t *testing.T) {
	// The same failures on both fleets (20 workers killed), so the
	// comparison is of the control plane's cost, not of ten times as many
	// takeovers.
	fleet := func(workers int) sim.Scenario {
		s := sim.Big().With(2_000, workers)
		s.KillFraction = 20 / float64(workers)
		return s
	}
	flat(t, run(t, fleet(100)), run(t, fleet(1_000)))
}

// flat compares one export's read units per export-hour on two fleets.
func flat(t *testing.T, small, large sim.Result) {
	t.Helper()
	for _, r := range []sim.Result{small, large} {
		t.Logf("%d segments, %4d workers: %s; %.0f RCU per export-hour, %.1f per segment; %.0f WCU per export-hour, %.1f per segment",
			r.Scenario.Segments, r.Scenario.Workers, r.Duration.Round(time.Second), r.RCUPerHour(), r.RCU/float64(r.Scenario.Segments),
			r.WCUPerHour(), r.WCU/float64(r.Scenario.Segments))
	}
	for _, role := range slices.Sorted(maps.Keys(large.Roles)) {
		a, b := small.Roles[role].RCU/small.Duration.Hours(), large.Roles[role].RCU/large.Duration.Hours()
		t.Logf("RCU per export-hour, %-42s %6.0f at %d workers, %6.0f at %d (%+6.0f)", role+":", a, small.Scenario.Workers, b, large.Scenario.Workers, b-a)
	}
	ratio := large.RCUPerHour() / small.RCUPerHour()
	target(t, ratio >= 1-flatAcrossWorkers && ratio <= 1+flatAcrossWorkers,
		"read units per export-hour over %s and %s, %d workers / %d workers = %.2f (want 1 ± %.2f)",
		small.Duration.Round(time.Minute), large.Duration.Round(time.Minute), large.Scenario.Workers, small.Scenario.Workers, ratio, flatAcrossWorkers)
	targetHot(t, small)
	targetHot(t, large)
}

// TestSimBig is the main scenario: 10,000 segments on 1,000 workers of 4
// slots, 5 % of them SIGKILLed and replaced, 1 % of claims and commits
// losing their answer, a read cap, and `export --wait` following.
func TestSimBig(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 segments on 1,000 workers: about 15 s")
	}
	big := run(t, sim.Big())
	if big.Duration > big.Ideal*13/10 {
		t.Errorf("the export took %s of virtual time, %.2f × its reads at the cap", big.Duration, big.Duration.Seconds()/big.Ideal.Seconds())
	}
	targetHot(t, big)
	small := run(t, sim.Big().With(2_000, 1_000))
	ratio := big.RCUPerHour() / small.RCUPerHour()
	growth := float64(big.Scenario.Segments) / float64(small.Scenario.Segments)
	target(t, ratio <= growth*(1+linearInSegments),
		"read units per export-hour, 10,000 segments / 2,000 segments = %.2f (want at most %.1f × %.2f)", ratio, growth, 1+linearInSegments)
}

// TestSimScaleOut grows the fleet mid-export, as autoscaling would: 100
// workers, then 100 or 300 more five minutes in. The newcomers' claims
// each take the cap over the unfinished segments on top of the shares the
// steward published to the leases already running, until its next pass
// re-divides the cap and their heartbeats bring their share back.
func TestSimScaleOut(t *testing.T) {
	for _, added := range []int{100, 300} {
		sc := sim.Big().With(2_000, 100)
		sc.Added, sc.AddAt = added, 5*time.Minute
		run(t, sc)
	}
}

// TestSimLong is TestSimScale's export under a sixth of its read cap, so
// it takes two hours: the costs of the export's time (the watcher, the
// steward's passes, the candidates' looks) weigh more against those of its
// segments, as in an export of days. Opt-in (SIM_LONG=1): 15–40 s.
func TestSimLong(t *testing.T) {
	if os.Getenv("SIM_LONG") == "" {
		t.Skip("SIM_LONG=1 runs it (15–40 s)")
	}
	long := func(workers int) sim.Scenario {
		sc := sim.Big().With(2_000, workers)
		sc.ReadCap /= 6
		sc.KillBy *= 6
		sc.Limit = 6 * time.Hour
		return sc
	}
	flat(t, run(t, long(100)), run(t, long(1_000)))
}
