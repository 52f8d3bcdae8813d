package plan_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/plan"
)

func TestEstimateIsHalfAUnitPer4KiBAtTheOnDemandPrice(t *testing.T) {
	// 1 TiB: 268,435,456 blocks of 4 KiB, half a unit each.
	e := plan.EstimateExport("orders", 1<<40, 1e9, plan.AutoSegments(1<<40, 0), 0, plan.DefaultPricePerMillionReads)
	require.Equal(t, 134217728.0, e.ReadUnits)
	require.InDelta(t, 16.777216, e.CostUSD, 1e-9)
	require.Equal(t, 1024, e.Segments)
	require.Nil(t, e.Seconds)
	require.Equal(t, "unbounded: depends on fleet size", e.Time)
}

func TestEstimateTimeAtTheCap(t *testing.T) {
	e := plan.EstimateExport("t", 4097, 3, 16, 0.5, 1)
	require.Equal(t, 1.0, e.ReadUnits, "a partial block costs a whole one")
	require.NotNil(t, e.Seconds)
	require.Equal(t, 2.0, *e.Seconds)
	require.Equal(t, "2s at 0.5 read units per second", e.Time)
	require.Equal(t, 1e-6, e.CostUSD)
}

func TestEstimateOfAnEmptyTable(t *testing.T) {
	e := plan.EstimateExport("t", 0, 0, 16, 100, plan.DefaultPricePerMillionReads)
	require.Zero(t, e.ReadUnits)
	require.Zero(t, e.CostUSD)
	require.Equal(t, 0.0, *e.Seconds)
}
