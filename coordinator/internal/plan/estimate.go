package plan

import (
	"fmt"
	"math"
	"time"
)

// DefaultPricePerMillionReads is DynamoDB's on-demand price per million
// read request units in us-east-1 (USD), as published after the November
// 2024 price cut. Other regions and later changes differ: pass
// --price-per-million-reads.
const DefaultPricePerMillionReads = 0.125

// ReadUnitsPer4KiB is what an eventually consistent Scan costs per 4 KiB
// read, the kind of read every ddbfleet worker issues.
const ReadUnitsPer4KiB = 0.5

// Estimate is what an export of a table would take, before running it.
type Estimate struct {
	Table                string   `json:"table"`
	ItemCount            int64    `json:"itemCount"`
	TableSizeBytes       int64    `json:"tableSizeBytes"`
	Segments             int      `json:"segments"`
	ReadUnits            float64  `json:"readUnits"`
	PricePerMillionReads float64  `json:"pricePerMillionReads"`
	CostUSD              float64  `json:"costUSD"`
	ReadCapacityCap      float64  `json:"readCapacityCap"`
	Seconds              *float64 `json:"seconds"` // null without a cap
	Time                 string   `json:"time"`
}

// EstimateExport computes the read units of a full eventually consistent
// Scan (ceil(size / 4 KiB) × 0.5), their on-demand price, and how long
// they take at rcuCap units per second. Without a cap the time depends on
// how many workers run, so it is not guessed. DescribeTable's size and
// count are refreshed by DynamoDB about every six hours, so this is an
// estimate of the same quality.
func EstimateExport(table string, sizeBytes, items int64, segments int, rcuCap, pricePerMillion float64) Estimate {
	units := math.Ceil(float64(sizeBytes)/4096) * ReadUnitsPer4KiB
	e := Estimate{
		Table: table, ItemCount: items, TableSizeBytes: sizeBytes, Segments: segments,
		ReadUnits: units, PricePerMillionReads: pricePerMillion, CostUSD: units / 1e6 * pricePerMillion,
		ReadCapacityCap: rcuCap, Time: "unbounded: depends on fleet size",
	}
	if rcuCap > 0 {
		s := units / rcuCap
		e.Seconds = &s
		e.Time = fmt.Sprintf("%s at %g read units per second", time.Duration(math.Ceil(s)*float64(time.Second)), rcuCap)
	}
	return e
}
