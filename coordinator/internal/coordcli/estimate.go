package coordcli

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/urfave/cli/v2"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/shared/source"
)

func estimateCommand() *cli.Command {
	return &cli.Command{
		Name:  "estimate",
		Usage: "print the read units, cost and time an export of a table would take (reads only DescribeTable)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "table", Usage: "source DynamoDB table (required)"},
			&cli.StringFlag{Name: "segments", Value: "auto", Usage: "parallel scan segments, as for export"},
			fleetSlotsFlag,
			&cli.Float64Flag{Name: "read-capacity-cap", Usage: "fleet-wide read capacity units per second (0: no cap, time not estimated)"},
			&cli.Float64Flag{Name: "price-per-million-reads", Value: plan.DefaultPricePerMillionReads,
				Usage: "USD per million on-demand read request units (default: us-east-1 since November 2024)"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			table, rcuCap, price := c.String("table"), c.Float64("read-capacity-cap"), c.Float64("price-per-million-reads")
			switch {
			case table == "":
				return fault.Invalidf("--table is required")
			case rcuCap < 0:
				return fault.Invalidf("--read-capacity-cap %v: must not be negative", rcuCap)
			case price < 0:
				return fault.Invalidf("--price-per-million-reads %v: must not be negative", price)
			}
			if _, err := plan.Segments(c.String("segments"), 0, 0); err != nil {
				return err
			}
			e, err := newEnv(c)
			if err != nil {
				return err
			}
			td, err := source.Describe(c.Context, e.clients.DynamoDB, table, e.clients.Region)
			if err != nil {
				return fleetcli.Failed(err)
			}
			size, items := aws.ToInt64(td.TableSizeBytes), aws.ToInt64(td.ItemCount)
			segments, err := plan.Segments(c.String("segments"), size, c.Int("fleet-slots"))
			if err != nil {
				return err
			}
			est := plan.EstimateExport(table, size, items, segments, rcuCap, price)
			if c.Bool("json") {
				return e.printJSON(est)
			}
			w := e.stdout
			fmt.Fprintf(w, "table %s: %d items, %d bytes (DynamoDB refreshes these about every 6 hours)\n", table, items, size)
			fmt.Fprintf(w, "  segments    %d\n", est.Segments)
			fmt.Fprintf(w, "  read units  %.0f (eventually consistent Scan: %g per 4 KiB)\n", est.ReadUnits, plan.ReadUnitsPer4KiB)
			fmt.Fprintf(w, "  cost        $%.6f on demand at $%g per million read request units (provisioned tables pay in capacity instead)\n", est.CostUSD, price)
			fmt.Fprintf(w, "  time        %s\n", est.Time)
			return nil
		},
	}
}
