package coordcli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ddbfleet/ddbfleet/shared/export"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list every job in the control table, newest first (read only)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", Usage: "only jobs in this state: " + statesList()},
			&cli.StringFlag{Name: "table", Usage: "only jobs of this DynamoDB table"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			state := export.State(strings.ToUpper(c.String("state")))
			if state != "" && !slices.Contains(export.States(), state) {
				return fault.Invalidf("--state %q: want one of %s", c.String("state"), statesList())
			}
			e, err := newEnv(c)
			if err != nil {
				return err
			}
			sts, err := listJobs(c, e, state, c.String("table"))
			if err != nil {
				return fleetcli.Failed(err)
			}
			if c.Bool("json") {
				return e.printJSON(sts)
			}
			w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tKIND\tTABLE\tSTATE\tSTARTED\tENDED\tSEGMENTS\tFAILED\tITEMS\tBYTES")
			for _, s := range sts {
				end := s.EndTime
				if end == "" {
					end = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\n", s.ExportID, s.Kind, s.Table, s.State, s.StartTime, end,
					s.SegmentsDone, s.SegmentsTotal, s.SegmentsFailed, s.ItemCount, s.Bytes)
			}
			return w.Flush()
		},
	}
}

// listJobs is every job's status, newest first, filtered: each entry is
// what `status --json` prints for it. Every job but a COMPLETED one reads
// its segments for that: a running job's counts include what is
// committed, a FAILED one lists its failed segments, and a CANCELLED one
// counts segments whose workers have not noticed yet. A COMPLETED job's
// segments add nothing, and they are most of a long list.
func listJobs(c *cli.Context, e *env, state export.State, table string) ([]status, error) {
	exps, err := e.store.ListExports(c.Context)
	if err != nil {
		return nil, err
	}
	out := []status{}
	for _, x := range exps {
		if (state != "" && x.State != state) || (table != "" && x.Table != table) {
			continue
		}
		var segs []*export.Segment
		if x.State != export.Completed {
			if segs, err = e.store.ListSegments(c.Context, x.ExportID); err != nil {
				return nil, err
			}
		}
		out = append(out, newStatus(x, segs))
	}
	return out, nil
}

func statesList() string {
	var s []string
	for _, st := range export.States() {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}
