package plan

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the plan for a person: the table, the time, one line
// per path with its one-off cost, storage per month per class, and which
// numbers rest on placeholders.
func (p CostPlan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s: %s items, %.1f GiB, %s (DynamoDB refreshes size and count about every 6 hours)\n",
		p.Table, count(p.ItemCount), p.TableSizeGiB, p.BillingMode)
	fmt.Fprintf(&b, "scan: %s segments, %s read units (eventually consistent: %g per 4 KiB)\n",
		count(int64(p.Segments)), count(int64(p.ReadUnits)), ReadUnitsPer4KiB)
	fmt.Fprintf(&b, "time: %s\n\n", p.Duration.text(p.ReadCapacityCap))

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	mark := func(applies bool) string {
		if applies {
			return " *"
		}
		return ""
	}
	fmt.Fprintf(tw, "PATH\tONE-OFF\tMADE OF\n")
	fmt.Fprintf(tw, "ddbfleet, on-demand reads%s\t%s\treads %s + S3 PUTs %s + Fargate %s\n", mark(p.ScanOnDemand.AppliesToTable),
		money(p.Totals.DdbfleetOnDemandUSD), money(p.ScanOnDemand.CostUSD), money(p.S3Puts.CostUSD), money(p.Compute.CostUSD))
	if sp := p.ScanProvisioned; sp != nil {
		fmt.Fprintf(tw, "ddbfleet, provisioned reads%s\t%s\t%s RCU for %.2f h %s + S3 PUTs %s + Fargate %s\n", mark(sp.AppliesToTable),
			money(*p.Totals.DdbfleetProvisionedUSD), count(int64(sp.ReadCapacityUnits)), sp.Hours, money(sp.CostUSD), money(p.S3Puts.CostUSD), money(p.Compute.CostUSD))
	} else {
		fmt.Fprintf(tw, "ddbfleet, provisioned reads\t-\tneeds --read-capacity-cap to know how much capacity for how long\n")
	}
	pitr := "PITR already on"
	if !p.NativeExport.PITREnabled {
		pitr = "PITR is off and must be on: " + money(p.NativeExport.PITRPerMonthUSD) + " per month while it is"
	}
	fmt.Fprintf(tw, "native Export to S3\t%s\texport %s; %s\n", money(p.NativeExport.FirstMonthUSD), money(p.NativeExport.ExportUSD), pitr)
	tw.Flush()

	fmt.Fprintf(&b, "\nstorage per month of %.1f GiB (%g× compression):\n", p.Assumptions.CompressedBytes/gib, p.Assumptions.CompressionRatio)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, s := range p.Storage {
		min := ""
		if s.MinimumDays > 0 {
			min = fmt.Sprintf("billed for at least %d days", s.MinimumDays)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Class, money(s.PerMonthUSD), min)
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nS3 PUTs: %s requests for %s data files of up to %d MiB, in %d MiB upload parts (%s)\n",
		count(p.S3Puts.Requests), count(p.S3Puts.DataFiles), p.Assumptions.PartFileBytes>>20, p.Assumptions.UploadPartBytes>>20, p.S3Puts.StorageClass)
	fleet := "tasks taken as busy the whole time they run (no --fleet-slots)"
	if p.Compute.FleetVCPUs != nil {
		fleet = fmt.Sprintf("%g vCPUs for the whole export", *p.Compute.FleetVCPUs)
	}
	fmt.Fprintf(&b, "Fargate: %.2f vCPU-hours + %.2f GiB-hours; %s; %g CPU s per GiB of table\n",
		p.Compute.VCPUHours, p.Compute.GiBHours, fleet, p.Assumptions.CPUSecondsPerGiB)
	if len(p.Assumptions.Placeholders) > 0 {
		fmt.Fprintf(&b, "placeholders, not yet measured on AWS: %s\n", strings.Join(p.Assumptions.Placeholders, ", "))
	}
	fmt.Fprintf(&b, "* this table's billing mode. Prices: %s list prices, %s; see docs/cost.md\n", p.Prices.Region, p.Prices.AsOf)
	// tabwriter pads an empty last cell; trailing blanks only get in the
	// way of people and diffs.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

func (d Duration) text(rcuCap float64) string {
	if d.Seconds == nil {
		return "unbounded: give --read-capacity-cap or --fleet-slots"
	}
	name := map[string]string{"readCapacityCap": "the read capacity cap", "fleetThroughput": "fleet throughput", "fleetCpu": "fleet CPU"}[d.LimitedBy]
	var bounds []string
	if d.ReadCapSeconds != nil {
		bounds = append(bounds, fmt.Sprintf("%s RCU: %s", count(int64(rcuCap)), seconds(*d.ReadCapSeconds)))
	}
	if d.FleetThroughputSeconds != nil {
		bounds = append(bounds, "fleet throughput: "+seconds(*d.FleetThroughputSeconds))
	}
	if d.FleetCPUSeconds != nil {
		bounds = append(bounds, "fleet CPU: "+seconds(*d.FleetCPUSeconds))
	}
	return fmt.Sprintf("%s, limited by %s (%s)", seconds(*d.Seconds), name, strings.Join(bounds, "; "))
}

func seconds(s float64) string { return (time.Duration(math.Ceil(s)) * time.Second).String() }

// money shows cents from a dollar up, and more digits below, so that small
// costs neither read as free nor lose half their value to rounding.
func money(usd float64) string {
	switch {
	case usd >= 1 || usd == 0:
		return fmt.Sprintf("$%.2f", usd)
	case usd >= 0.001:
		return fmt.Sprintf("$%.3f", usd)
	}
	return fmt.Sprintf("$%.2g", usd)
}

// count writes n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
