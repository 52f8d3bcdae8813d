package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Table renders a run's figures: control-table calls and capacity units
// per method (in all, per segment, per virtual minute), the hottest item
// of each kind, SQS calls per API.
func (r Result) Table() string {
	var b strings.Builder
	sc := r.Scenario
	minutes := r.Duration.Minutes()
	n := float64(sc.Segments)
	fmt.Fprintf(&b, "%d segments, %d workers × %d slots, lease %s, %.0f–%.0f RCU a segment scanned at most %.0f RCU/s unpaced, read cap %.0f RCU/s, %d–%d parts; %d killed, %d answers lost, %d claims\n",
		sc.Segments, sc.Workers, sc.Slots, sc.Lease, sc.ReadMin, sc.ReadMax, sc.ScanRate, sc.ReadCap, sc.PartsMin, sc.PartsMax, r.Kills, r.Lost, r.Claims)
	fmt.Fprintf(&b, "export took %s of virtual time, %.2f × its reads at the cap (%s) (%d events, %s of wall time)\n", r.Duration.Round(time.Second),
		r.Duration.Seconds()/r.Ideal.Seconds(), r.Ideal.Round(time.Second), r.Events, r.Wall.Round(time.Millisecond))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tcalls\tper segment\tper minute\tRCU\tWCU\tRCU/segment\tWCU/segment\t")
	names := slices.Sorted(maps.Keys(r.Methods))
	slices.SortStableFunc(names, func(a, b string) int { return r.Methods[b].Calls - r.Methods[a].Calls })
	var calls int
	for _, name := range names {
		m := r.Methods[name]
		calls += m.Calls
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.1f\t%.0f\t%.0f\t%.2f\t%.2f\t\n", name, m.Calls, float64(m.Calls)/n, float64(m.Calls)/minutes,
			m.RCU, m.WCU, m.RCU/n, m.WCU/n)
	}
	fmt.Fprintf(tw, "total\t%d\t%.2f\t%.1f\t%.0f\t%.0f\t%.2f\t%.2f\t\n", calls, float64(calls)/n, float64(calls)/minutes, r.RCU, r.WCU, r.RCU/n, r.WCU/n)
	_ = tw.Flush()
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "by caller\tcalls\tRCU\tWCU\tRCU/export-hour\tRCU/segment\t")
	roles := slices.Sorted(maps.Keys(r.Roles))
	slices.SortStableFunc(roles, func(a, b string) int { return int(r.Roles[b].RCU - r.Roles[a].RCU) })
	for _, role := range roles {
		m := r.Roles[role]
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.2f\t\n", role, m.Calls, m.RCU, m.WCU, m.RCU/r.Duration.Hours(), m.RCU/n)
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "read units: %.0f per export-hour, %.2f per segment; write units: %.0f per export-hour, %.2f per segment\n",
		r.RCUPerHour(), r.RCU/n, r.WCUPerHour(), r.WCU/n)
	b.WriteString("hottest item of each kind (most writes in one second):")
	for _, h := range r.Hottest {
		fmt.Fprintf(&b, " %s %d/s at %s;", h.Item, h.Writes, h.At)
	}
	b.WriteString("\nSQS calls:")
	var sqs int
	for _, api := range slices.Sorted(maps.Keys(r.SQS)) {
		fmt.Fprintf(&b, " %s %d (%.2f/segment);", api, r.SQS[api], float64(r.SQS[api])/n)
		sqs += r.SQS[api]
	}
	fmt.Fprintf(&b, " total %d (%.2f/segment)\n", sqs, float64(sqs)/n)
	if len(r.Stewards) > 0 {
		var coord, workers, passes int
		for owner, n := range r.Stewards {
			if strings.HasPrefix(owner, "coordinator/") {
				coord += n
			} else {
				workers++
				passes += n
			}
		}
		fmt.Fprintf(&b, "rescue passes as steward: %d by the --wait watcher, %d by %d workers\n", coord, passes, workers)
	}
	if r.S3 != nil {
		b.WriteString("S3 calls:")
		for _, api := range slices.Sorted(maps.Keys(r.S3)) {
			fmt.Fprintf(&b, " %s %d;", api, r.S3[api])
		}
		b.WriteString("\n")
	}
	if sc.ReadCap > 0 {
		c := r.Cap
		fmt.Fprintf(&b, "read cap: shares in hand peaked at %.3f × the cap (at %s); read units consumed per %s peaked at %.3f × the cap after the warm-up, "+
			"above the cap for %s (%.0f RCU past it); in the middle of the run (10–90 %%) %.3f × the cap consumed, %.3f held, on average; %.3f over the whole run\n",
			c.PeakHeld, c.PeakHeldAt.Round(time.Second), capWindow, c.PeakRead, c.Over, c.OverRead, c.MeanRead, c.MeanHeld, c.Overall)
	}
	return b.String()
}
