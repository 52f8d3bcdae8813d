package plan_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
	"github.com/ddbfleet/ddbfleet/shared/fault"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

const tol = 1e-9

// onDemand100GiB is an on-demand table of 100 GiB on a fleet of 8 slots
// (2 workers × 4 on 1-vCPU tasks), without a cap, PITR off.
func onDemand100GiB() plan.CostInput {
	return plan.CostInput{
		Table: "orders", TableSizeBytes: 100 << 30, ItemCount: 100_000_000, BillingMode: plan.BillingPayPerRequest,
		Segments: 100, FleetSlots: 8,
	}
}

// The expected numbers are worked by hand, not by the formulas under test:
// each comment shows the arithmetic.
func TestCostOfAnOnDemandTable(t *testing.T) {
	p, err := plan.EstimateCost(onDemand100GiB())
	require.NoError(t, err)

	// 100 GiB / 4 KiB = 26,214,400 blocks, half a unit each.
	require.Equal(t, 13_107_200.0, p.ReadUnits)
	// 13.1072 million × $0.125
	require.InDelta(t, 1.6384, p.ScanOnDemand.CostUSD, tol)
	require.True(t, p.ScanOnDemand.AppliesToTable)
	require.Zero(t, p.ReadCapacityCap, "an on-demand table has no cap unless one is given")
	require.Nil(t, p.ScanProvisioned)
	require.Nil(t, p.Totals.DdbfleetProvisionedUSD)

	// Time: no cap. Fleet throughput: 100 GiB / (8 slots × 8 MiB/s) =
	// 107,374,182,400 / 67,108,864 = 1,600 s. Fleet CPU: 40 s/GiB × 100 GiB
	// = 4,000 CPU s on 8/4 = 2 vCPUs = 2,000 s, the slower.
	require.Nil(t, p.Duration.ReadCapSeconds)
	require.InDelta(t, 1600, *p.Duration.FleetThroughputSeconds, tol)
	require.InDelta(t, 2000, *p.Duration.FleetCPUSeconds, tol)
	require.InDelta(t, 2000, *p.Duration.Seconds, tol)
	require.Equal(t, "fleetCpu", p.Duration.LimitedBy)

	// Native: 100 GiB × $0.10; PITR off: 100 × $0.20 a month.
	require.InDelta(t, 10.0, p.NativeExport.ExportUSD, tol)
	require.InDelta(t, 20.0, p.NativeExport.PITRPerMonthUSD, tol)
	require.InDelta(t, 30.0, p.NativeExport.FirstMonthUSD, tol)

	// PUTs: 100 GiB / 4 = 25 GiB over 100 segments = 256 MiB each = two
	// 128 MiB files; a file is 128/8 = 16 UploadParts + create + complete
	// = 18; 100 × 2 × 18 = 3,600, plus 5 manifest/marker objects.
	require.InDelta(t, float64(25<<30), p.Assumptions.CompressedBytes, tol)
	require.Equal(t, int64(200), p.S3Puts.DataFiles)
	require.Equal(t, int64(3605), p.S3Puts.Requests)
	require.InDelta(t, 3.605*0.005, p.S3Puts.CostUSD, tol)

	// Storage of 25 GiB a month.
	require.Len(t, p.Storage, 4)
	for i, want := range []struct {
		class string
		usd   float64
	}{{"STANDARD", 25 * 0.023}, {"STANDARD_IA", 25 * 0.0125}, {"GLACIER_IR", 25 * 0.004}, {"DEEP_ARCHIVE", 25 * 0.00099}} {
		require.Equal(t, want.class, p.Storage[i].Class)
		require.InDelta(t, 25.0, p.Storage[i].GiB, tol)
		require.InDelta(t, want.usd, p.Storage[i].PerMonthUSD, tol)
	}

	// Fargate: 2 vCPUs for 2,000 s = 4,000/3,600 vCPU-h; 4 GiB for 2,000 s
	// = 8,000/3,600 GiB-h.
	require.InDelta(t, 4000.0, p.Compute.CPUSeconds, tol)
	require.InDelta(t, 2.0, *p.Compute.FleetVCPUs, tol)
	require.InDelta(t, 4000.0/3600, p.Compute.VCPUHours, tol)
	require.InDelta(t, 8000.0/3600, p.Compute.GiBHours, tol)
	compute := 4000.0/3600*0.04048 + 8000.0/3600*0.004445
	require.InDelta(t, compute, p.Compute.CostUSD, tol)

	require.InDelta(t, 1.6384+3.605*0.005+compute, p.Totals.DdbfleetOnDemandUSD, tol)
	require.InDelta(t, 30.0, p.Totals.NativeExportUSD, tol)
	require.Equal(t, []string{"cpuSecondsPerGiB", "slotBytesPerSecond"}, p.Assumptions.Placeholders)
}

// provisioned1TiB is a provisioned table of 1 TiB with 10,000 RCU, capped
// at 5,000, fleet size not given, PITR on.
func provisioned1TiB() plan.CostInput {
	return plan.CostInput{
		Table: "events", TableSizeBytes: 1 << 40, ItemCount: 2_000_000_000, BillingMode: plan.BillingProvisioned,
		ProvisionedRCU: 10_000, ReadCapacityCap: 5_000, PITREnabled: true, Segments: 1024,
	}
}

func TestCostOfAProvisionedTableWithACap(t *testing.T) {
	p, err := plan.EstimateCost(provisioned1TiB())
	require.NoError(t, err)

	// 1 TiB / 4 KiB = 268,435,456 blocks × 0.5.
	require.Equal(t, 134_217_728.0, p.ReadUnits)
	require.InDelta(t, 16.777216, p.ScanOnDemand.CostUSD, tol, "134.217728 million × $0.125, if the table were on demand")
	require.False(t, p.ScanOnDemand.AppliesToTable)

	// At 5,000 units/s: 134,217,728 / 5,000 = 26,843.5456 s; nothing else
	// bounds it without a fleet.
	require.InDelta(t, 26843.5456, *p.Duration.Seconds, tol)
	require.Equal(t, "readCapacityCap", p.Duration.LimitedBy)
	require.Nil(t, p.Duration.FleetThroughputSeconds)
	require.Nil(t, p.Duration.FleetCPUSeconds)

	// 5,000 RCU for 26,843.5456 / 3,600 = 7.45654044… h = 37,282.702… RCU-h
	// × $0.00013 = $4.8467513….
	sp := p.ScanProvisioned
	require.NotNil(t, sp)
	require.True(t, sp.AppliesToTable)
	require.InDelta(t, 7.456540444444, sp.Hours, 1e-9)
	require.InDelta(t, 37282.70222222, sp.CapacityUnitHours, 1e-6)
	require.InDelta(t, 4.846751288889, sp.CostUSD, 1e-9)

	// Native: 1,024 GiB × $0.10, PITR already paid for.
	require.InDelta(t, 102.4, p.NativeExport.ExportUSD, tol)
	require.Zero(t, p.NativeExport.PITRPerMonthUSD)

	// 256 GiB compressed over 1,024 segments = 256 MiB each: 2 files × 18
	// requests × 1,024 + 5 = 36,869.
	require.Equal(t, int64(2048), p.S3Puts.DataFiles)
	require.Equal(t, int64(36869), p.S3Puts.Requests)
	require.InDelta(t, 36.869*0.005, p.S3Puts.CostUSD, tol)
	require.InDelta(t, 256*0.023, p.Storage[0].PerMonthUSD, tol)
	require.InDelta(t, 256*0.00099, p.Storage[3].PerMonthUSD, tol)

	// No fleet: the bill is the busy time, 40 × 1,024 = 40,960 CPU s =
	// 11.3777… vCPU-h, with 2 GiB per vCPU.
	require.Nil(t, p.Compute.FleetVCPUs)
	require.InDelta(t, 40960.0/3600, p.Compute.VCPUHours, tol)
	require.InDelta(t, 2*40960.0/3600, p.Compute.GiBHours, tol)
	compute := 40960.0/3600*0.04048 + 2*40960.0/3600*0.004445
	require.InDelta(t, compute, p.Compute.CostUSD, tol)
	require.InDelta(t, 4.846751288889+36.869*0.005+compute, *p.Totals.DdbfleetProvisionedUSD, 1e-9)
	require.Equal(t, []string{"cpuSecondsPerGiB"}, p.Assumptions.Placeholders, "the slot rate is not used without a fleet")
}

func TestAProvisionedTableWithoutACapScansAtItsCapacity(t *testing.T) {
	in := provisioned1TiB()
	in.ReadCapacityCap = 0
	in.BillingMode = "" // DescribeTable may leave the summary out for provisioned tables
	p, err := plan.EstimateCost(in)
	require.NoError(t, err)
	require.Equal(t, plan.BillingProvisioned, p.BillingMode)
	require.Equal(t, 10_000.0, p.ReadCapacityCap)
	require.InDelta(t, 13421.7728, *p.Duration.Seconds, tol)
}

func TestPutsOfSmallAndUnevenFiles(t *testing.T) {
	in := plan.CostInput{Table: "t", TableSizeBytes: 40 << 20, ItemCount: 10, Segments: 16, BillingMode: plan.BillingPayPerRequest,
		PartFileBytes: 3 << 20, UploadPartBytes: 5 << 20, CompressionRatio: 2, StorageClass: "GLACIER_IR"}
	p, err := plan.EstimateCost(in)
	require.NoError(t, err)
	// 20 MiB over 10 segments that have items (16 > 10 items) = 2 MiB
	// each: one file each, a single PutObject; 10 + 5 requests at the
	// Glacier IR PUT price.
	require.Equal(t, int64(10), p.S3Puts.DataFiles)
	require.Equal(t, int64(15), p.S3Puts.Requests)
	require.InDelta(t, 0.015*0.02, p.S3Puts.CostUSD, tol)

	in.ItemCount, in.Segments, in.CompressionRatio = 1000, 1, 1
	p, err = plan.EstimateCost(in)
	require.NoError(t, err)
	// 40 MiB in one segment, 3 MiB files: 13 full files of one PUT each,
	// and a last one of 1 MiB: 14 files, 14 + 5 requests.
	require.Equal(t, int64(14), p.S3Puts.DataFiles)
	require.Equal(t, int64(19), p.S3Puts.Requests)

	in.PartFileBytes, in.UploadPartBytes = 12<<20, 5<<20
	p, err = plan.EstimateCost(in)
	require.NoError(t, err)
	// 3 files of 12 MiB (3 upload parts + 2 = 5 each) and one of 4 MiB (1):
	// 16 + 5.
	require.Equal(t, int64(4), p.S3Puts.DataFiles)
	require.Equal(t, int64(21), p.S3Puts.Requests)

	empty, err := plan.EstimateCost(plan.CostInput{Table: "t", Segments: 16, BillingMode: plan.BillingPayPerRequest})
	require.NoError(t, err)
	require.Zero(t, empty.S3Puts.DataFiles)
	require.Equal(t, int64(5), empty.S3Puts.Requests, "an empty export still writes its markers and manifests")
	require.Nil(t, empty.Duration.Seconds)
}

func TestPricesCanBeReplaced(t *testing.T) {
	prices := plan.USEast1
	prices.OnDemandReadPerMillion = 0.25 // the price before November 2024
	in := onDemand100GiB()
	in.Prices = &prices
	p, err := plan.EstimateCost(in)
	require.NoError(t, err)
	require.InDelta(t, 3.2768, p.ScanOnDemand.CostUSD, tol)
	require.Equal(t, 0.125, plan.USEast1.OnDemandReadPerMillion, "the table in code is not changed")
}

func TestCostInputIsChecked(t *testing.T) {
	for _, mut := range []func(*plan.CostInput){
		func(in *plan.CostInput) { in.TableSizeBytes = -1 },
		func(in *plan.CostInput) { in.BillingMode = "ON_DEMAND" },
		func(in *plan.CostInput) { in.ReadCapacityCap = -1 },
		func(in *plan.CostInput) { in.CompressionRatio = -2 },
		func(in *plan.CostInput) { in.FleetSlots = -1 },
		func(in *plan.CostInput) { in.StorageClass = "ONEZONE_IA" },
	} {
		in := onDemand100GiB()
		mut(&in)
		_, err := plan.EstimateCost(in)
		require.True(t, fault.IsInvalid(err), "%+v: %v", in, err)
	}
}

// TestCostPlanJSONNames pins the names `estimate --json` will carry.
func TestCostPlanJSONNames(t *testing.T) {
	p, err := plan.EstimateCost(provisioned1TiB())
	require.NoError(t, err)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"table", "itemCount", "tableSizeBytes", "billingMode", "readUnits", "readCapacityCap", "duration",
		"scanOnDemand", "scanProvisioned", "nativeExport", "s3Puts", "storage", "compute", "totals", "assumptions", "prices"} {
		require.Contains(t, m, k)
	}
	require.Equal(t, 26843.5456, m["duration"].(map[string]any)["seconds"])
	require.Contains(t, m["scanProvisioned"].(map[string]any), "capacityUnitHours")
}

func TestCostPlanText(t *testing.T) {
	for name, in := range map[string]plan.CostInput{"on-demand-100gib": onDemand100GiB(), "provisioned-1tib": provisioned1TiB()} {
		p, err := plan.EstimateCost(in)
		require.NoError(t, err)
		var b strings.Builder
		require.NoError(t, p.WriteText(&b))
		path := filepath.Join("testdata", "cost-"+name+".txt")
		if *update {
			require.NoError(t, os.MkdirAll("testdata", 0o755))
			require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "no golden file; run: go test ./coordinator/internal/plan -update")
		require.Equal(t, string(want), b.String())
	}
}
