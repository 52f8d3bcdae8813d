package plan

import (
	"math"

	"github.com/ddbfleet/ddbfleet/shared/fault"
)

// Billing modes as DescribeTable's BillingModeSummary names them.
const (
	BillingProvisioned   = "PROVISIONED"
	BillingPayPerRequest = "PAY_PER_REQUEST"
)

// Defaults of a CostInput. The two marked placeholder are not measured on
// AWS: they stand until the bench measures them there, and the plan says
// which numbers rest on them.
const (
	// DefaultCompressionRatio is table bytes per stored byte: gzip at the
	// worker's level 5 shrank the bench's DynamoDB JSON 3.9× (docs/performance.md).
	DefaultCompressionRatio = 4.0
	// DefaultUploadPartBytes is objstore's multipart chunk: each chunk of a
	// data file is one UploadPart request.
	DefaultUploadPartBytes = 8 << 20
	// DefaultPartFileBytes is the export command's --part-size-mib default.
	DefaultPartFileBytes = 128 << 20
	// PlaceholderCPUSecondsPerGiB is worker CPU per GiB of TableSizeBytes.
	// Placeholder: the local bench measured 0.029 CPU s per 1,000 items of
	// ~860 bytes of DynamoDB JSON (~34 CPU s per GB of JSON); DynamoDB JSON
	// is larger than DynamoDB's own item size, so per GiB of table it is
	// taken as 40, rounded up.
	PlaceholderCPUSecondsPerGiB = 40.0
	// PlaceholderSlotBytesPerSecond is what one worker slot (one segment
	// being scanned) reads per second, in table bytes. Placeholder: a 1 MB
	// Scan page per ~100 ms round trip plus ~16 ms of encoding and gzip
	// per MB (62 MB/s per core, docs/performance.md) is ~8.6 MB/s; taken
	// as 8 MiB/s.
	PlaceholderSlotBytesPerSecond = 8 << 20
	// DefaultSlotsPerVCPU is the worker's default --concurrency (4) on a
	// 1-vCPU task.
	DefaultSlotsPerVCPU = 4.0
	// DefaultMemoryGiBPerVCPU is a 1 vCPU / 2 GB Fargate task.
	DefaultMemoryGiBPerVCPU = 2.0
	// exportObjects are the objects an export writes besides data files:
	// _started, manifest-files.json and .checksum, manifest-summary.json
	// and .checksum, each one PUT.
	exportObjects = 5
)

const gib = 1 << 30

// CostInput is what a cost plan is computed from: DescribeTable's numbers,
// the export's settings and the assumptions, each zero value meaning its
// default.
type CostInput struct {
	Table          string
	TableSizeBytes int64 // DescribeTable Table.TableSizeBytes
	ItemCount      int64 // DescribeTable Table.ItemCount
	// BillingMode is DescribeTable Table.BillingModeSummary.BillingMode;
	// "" reads as PROVISIONED, because DescribeTable may leave the summary
	// out for a table that was always provisioned.
	BillingMode    string
	ProvisionedRCU int64 // DescribeTable Table.ProvisionedThroughput.ReadCapacityUnits
	PITREnabled    bool  // DescribeContinuousBackups: PointInTimeRecoveryStatus ENABLED
	Segments       int
	// ReadCapacityCap is --read-capacity-cap; 0 on a provisioned table
	// means its provisioned RCU, which a Scan cannot exceed for long.
	ReadCapacityCap float64
	StorageClass    string // the class data files are written in; "" is STANDARD
	PartFileBytes   int64  // --part-size-mib in bytes
	UploadPartBytes int64
	// CompressionRatio is TableSizeBytes per byte stored.
	CompressionRatio float64
	// CPUSecondsPerGiB is worker CPU per GiB of TableSizeBytes.
	CPUSecondsPerGiB float64
	// FleetSlots is workers × --concurrency; 0 when not known, and then
	// the fleet neither bounds the time nor sizes the compute bill.
	FleetSlots         int
	SlotBytesPerSecond float64
	SlotsPerVCPU       float64
	MemoryGiBPerVCPU   float64
	Prices             *PriceList // nil is USEast1
}

// CostPlan is every number behind the comparison, in the shape `estimate
// --json` prints. Costs are USD; a nil number was not computable from the
// input (no cap and no fleet: no time).
type CostPlan struct {
	Table                        string  `json:"table"`
	ItemCount                    int64   `json:"itemCount"`
	TableSizeBytes               int64   `json:"tableSizeBytes"`
	TableSizeGiB                 float64 `json:"tableSizeGiB"`
	BillingMode                  string  `json:"billingMode"`
	ProvisionedReadCapacityUnits int64   `json:"provisionedReadCapacityUnits"`
	Segments                     int     `json:"segments"`
	// ReadUnits are those of one eventually consistent Scan of the table.
	ReadUnits float64 `json:"readUnits"`
	// ReadCapacityCap is the cap the plan assumes: the one given, or a
	// provisioned table's RCU; 0 for none.
	ReadCapacityCap float64 `json:"readCapacityCap"`

	Duration        Duration         `json:"duration"`
	ScanOnDemand    ScanOnDemand     `json:"scanOnDemand"`
	ScanProvisioned *ScanProvisioned `json:"scanProvisioned"` // nil without a cap
	NativeExport    NativeExport     `json:"nativeExport"`
	S3Puts          S3Puts           `json:"s3Puts"`
	Storage         []StorageMonth   `json:"storage"`
	Compute         Compute          `json:"compute"`
	Totals          Totals           `json:"totals"`

	Assumptions Assumptions `json:"assumptions"`
	Prices      PriceList   `json:"prices"`
}

// Duration is how long the export takes: the slowest of the bounds known.
type Duration struct {
	Seconds *float64 `json:"seconds"`
	// LimitedBy names the bound that sets Seconds: readCapacityCap,
	// fleetThroughput or fleetCpu; "" when nothing bounds it.
	LimitedBy              string   `json:"limitedBy"`
	ReadCapSeconds         *float64 `json:"readCapSeconds"`         // ReadUnits / cap
	FleetThroughputSeconds *float64 `json:"fleetThroughputSeconds"` // table bytes / (slots × per-slot rate)
	FleetCPUSeconds        *float64 `json:"fleetCpuSeconds"`        // CPU seconds / fleet vCPUs
}

// ScanOnDemand is the Scan's reads billed as on-demand request units.
type ScanOnDemand struct {
	ReadRequestUnits float64 `json:"readRequestUnits"`
	CostUSD          float64 `json:"costUSD"`
	AppliesToTable   bool    `json:"appliesToTable"` // the table is on-demand now
}

// ScanProvisioned is the capacity the Scan holds: the cap for the whole
// export. On a provisioned table that capacity is paid anyway; this is
// what it costs to add it for the export, or the share of it the export
// takes from other traffic.
type ScanProvisioned struct {
	ReadCapacityUnits float64 `json:"readCapacityUnits"`
	Hours             float64 `json:"hours"`
	CapacityUnitHours float64 `json:"capacityUnitHours"`
	CostUSD           float64 `json:"costUSD"`
	AppliesToTable    bool    `json:"appliesToTable"`
}

// NativeExport is DynamoDB's own Export to S3, which needs PITR.
type NativeExport struct {
	ExportUSD       float64 `json:"exportUSD"`
	PITREnabled     bool    `json:"pitrEnabled"`
	PITRPerMonthUSD float64 `json:"pitrPerMonthUSD"` // 0 when already on: paid anyway
	FirstMonthUSD   float64 `json:"firstMonthUSD"`   // export + one month of PITR
}

// S3Puts are the requests that write the export's objects.
type S3Puts struct {
	StorageClass string  `json:"storageClass"`
	DataFiles    int64   `json:"dataFiles"`
	Requests     int64   `json:"requests"`
	CostUSD      float64 `json:"costUSD"`
}

// StorageMonth is a month of the compressed export in one class.
type StorageMonth struct {
	Class       string  `json:"class"`
	GiB         float64 `json:"gib"`
	PerMonthUSD float64 `json:"perMonthUSD"`
	MinimumDays int     `json:"minimumDays"`
}

// Compute is the Fargate bill of the workers.
type Compute struct {
	CPUSeconds    float64 `json:"cpuSeconds"`
	BusyVCPUHours float64 `json:"busyVcpuHours"` // the work itself: a floor on any bill
	// FleetVCPUs is FleetSlots / SlotsPerVCPU; nil without a fleet, and
	// then the bill is the busy hours, as if tasks ran only while busy.
	FleetVCPUs *float64 `json:"fleetVcpus"`
	VCPUHours  float64  `json:"vcpuHours"`
	GiBHours   float64  `json:"gibHours"`
	CostUSD    float64  `json:"costUSD"`
}

// Totals are what each path costs once, storage aside (it is per month and
// about the same for all of them).
type Totals struct {
	DdbfleetOnDemandUSD    float64  `json:"ddbfleetOnDemandUSD"`    // reads + PUTs + compute
	DdbfleetProvisionedUSD *float64 `json:"ddbfleetProvisionedUSD"` // capacity + PUTs + compute
	NativeExportUSD        float64  `json:"nativeExportUSD"`        // export + a month of PITR if off
}

// Assumptions are the inputs as the plan used them, defaults filled in;
// Placeholders lists those still resting on unmeasured defaults.
type Assumptions struct {
	CompressionRatio   float64  `json:"compressionRatio"`
	CompressedBytes    float64  `json:"compressedBytes"`
	PartFileBytes      int64    `json:"partFileBytes"`
	UploadPartBytes    int64    `json:"uploadPartBytes"`
	CPUSecondsPerGiB   float64  `json:"cpuSecondsPerGiB"`
	FleetSlots         int      `json:"fleetSlots"`
	SlotBytesPerSecond float64  `json:"slotBytesPerSecond"`
	SlotsPerVCPU       float64  `json:"slotsPerVcpu"`
	MemoryGiBPerVCPU   float64  `json:"memoryGiBPerVcpu"`
	Placeholders       []string `json:"placeholders"`
}

// EstimateCost computes the cost plan of exporting one table, and of the
// paths next to it, from DescribeTable's numbers; docs/cost.md gives each
// formula. DescribeTable refreshes size and count about every six hours, so
// the plan is an estimate of the same quality.
func EstimateCost(in CostInput) (CostPlan, error) {
	if err := in.check(); err != nil {
		return CostPlan{}, err
	}
	prices := USEast1
	if in.Prices != nil {
		prices = *in.Prices
	}
	a := Assumptions{
		CompressionRatio: orFloat(in.CompressionRatio, DefaultCompressionRatio),
		PartFileBytes:    orInt(in.PartFileBytes, DefaultPartFileBytes),
		UploadPartBytes:  orInt(in.UploadPartBytes, DefaultUploadPartBytes),
		CPUSecondsPerGiB: orFloat(in.CPUSecondsPerGiB, PlaceholderCPUSecondsPerGiB),
		FleetSlots:       in.FleetSlots,
		SlotsPerVCPU:     orFloat(in.SlotsPerVCPU, DefaultSlotsPerVCPU),
		MemoryGiBPerVCPU: orFloat(in.MemoryGiBPerVCPU, DefaultMemoryGiBPerVCPU),
		Placeholders:     []string{},
	}
	if in.CPUSecondsPerGiB == 0 {
		a.Placeholders = append(a.Placeholders, "cpuSecondsPerGiB")
	}
	a.SlotBytesPerSecond = orFloat(in.SlotBytesPerSecond, PlaceholderSlotBytesPerSecond)
	if in.SlotBytesPerSecond == 0 && in.FleetSlots > 0 {
		a.Placeholders = append(a.Placeholders, "slotBytesPerSecond")
	}
	class := in.StorageClass
	if class == "" {
		class = "STANDARD"
	}
	put := prices.storagePrice(class)
	if put == nil {
		return CostPlan{}, fault.Invalidf("storage class %q: no price for it (known: %s)", class, classNames(prices))
	}

	mode := in.BillingMode
	if mode == "" {
		mode = BillingProvisioned
	}
	size := float64(in.TableSizeBytes)
	p := CostPlan{
		Table: in.Table, ItemCount: in.ItemCount, TableSizeBytes: in.TableSizeBytes, TableSizeGiB: size / gib,
		BillingMode: mode, ProvisionedReadCapacityUnits: in.ProvisionedRCU, Segments: in.Segments,
		ReadUnits: math.Ceil(size/4096) * ReadUnitsPer4KiB, ReadCapacityCap: in.ReadCapacityCap,
		Prices: prices,
	}
	if p.ReadCapacityCap == 0 && mode == BillingProvisioned {
		p.ReadCapacityCap = float64(in.ProvisionedRCU)
	}

	// Compute first: its CPU seconds bound the time on a known fleet.
	p.Compute.CPUSeconds = a.CPUSecondsPerGiB * p.TableSizeGiB
	p.Compute.BusyVCPUHours = p.Compute.CPUSeconds / 3600
	var vcpus float64
	if in.FleetSlots > 0 {
		vcpus = float64(in.FleetSlots) / a.SlotsPerVCPU
		p.Compute.FleetVCPUs = &vcpus
	}

	d := &p.Duration
	if p.ReadCapacityCap > 0 {
		d.ReadCapSeconds = ptr(p.ReadUnits / p.ReadCapacityCap)
	}
	if in.FleetSlots > 0 {
		d.FleetThroughputSeconds = ptr(size / (float64(in.FleetSlots) * a.SlotBytesPerSecond))
		d.FleetCPUSeconds = ptr(p.Compute.CPUSeconds / vcpus)
	}
	for _, b := range []struct {
		name string
		s    *float64
	}{{"readCapacityCap", d.ReadCapSeconds}, {"fleetThroughput", d.FleetThroughputSeconds}, {"fleetCpu", d.FleetCPUSeconds}} {
		if b.s != nil && (d.Seconds == nil || *b.s > *d.Seconds) {
			d.Seconds, d.LimitedBy = ptr(*b.s), b.name
		}
	}

	if in.FleetSlots > 0 && d.Seconds != nil {
		// Tasks are billed for as long as they run, busy or not.
		hours := *d.Seconds / 3600
		p.Compute.VCPUHours = vcpus * hours
		p.Compute.GiBHours = vcpus * a.MemoryGiBPerVCPU * hours
	} else {
		p.Compute.VCPUHours = p.Compute.BusyVCPUHours
		p.Compute.GiBHours = p.Compute.BusyVCPUHours * a.MemoryGiBPerVCPU
	}
	p.Compute.CostUSD = p.Compute.VCPUHours*prices.FargateVCPUHour + p.Compute.GiBHours*prices.FargateGiBHour

	p.ScanOnDemand = ScanOnDemand{
		ReadRequestUnits: p.ReadUnits, CostUSD: p.ReadUnits / 1e6 * prices.OnDemandReadPerMillion,
		AppliesToTable: mode == BillingPayPerRequest,
	}
	if p.ReadCapacityCap > 0 {
		hours := *d.Seconds / 3600
		p.ScanProvisioned = &ScanProvisioned{
			ReadCapacityUnits: p.ReadCapacityCap, Hours: hours, CapacityUnitHours: p.ReadCapacityCap * hours,
			CostUSD: p.ReadCapacityCap * hours * prices.ProvisionedRCUHour, AppliesToTable: mode == BillingProvisioned,
		}
	}

	p.NativeExport = NativeExport{ExportUSD: p.TableSizeGiB * prices.ExportPerGiB, PITREnabled: in.PITREnabled}
	if !in.PITREnabled {
		p.NativeExport.PITRPerMonthUSD = p.TableSizeGiB * prices.PITRPerGiBMonth
	}
	p.NativeExport.FirstMonthUSD = p.NativeExport.ExportUSD + p.NativeExport.PITRPerMonthUSD

	a.CompressedBytes = size / a.CompressionRatio
	p.S3Puts = puts(a, in.Segments, in.ItemCount, class, put.PutPer1000)
	for _, s := range prices.Storage {
		gibs := a.CompressedBytes / gib
		p.Storage = append(p.Storage, StorageMonth{Class: s.Class, GiB: gibs, PerMonthUSD: gibs * s.PerGiBMonth, MinimumDays: s.MinimumDays})
	}

	p.Totals.DdbfleetOnDemandUSD = p.ScanOnDemand.CostUSD + p.S3Puts.CostUSD + p.Compute.CostUSD
	if p.ScanProvisioned != nil {
		p.Totals.DdbfleetProvisionedUSD = ptr(p.ScanProvisioned.CostUSD + p.S3Puts.CostUSD + p.Compute.CostUSD)
	}
	p.Totals.NativeExportUSD = p.NativeExport.FirstMonthUSD
	p.Assumptions = a
	return p, nil
}

// puts counts the requests that write an export, taking the compressed
// bytes as spread evenly over the segments that hold items. Each segment
// writes full part files and one shorter last one; a file up to one upload
// part is a single PutObject, a larger one is CreateMultipartUpload, one
// UploadPart per chunk and CompleteMultipartUpload.
func puts(a Assumptions, segments int, items int64, class string, per1000 float64) S3Puts {
	out := S3Puts{StorageClass: class, Requests: exportObjects}
	active := int64(max(segments, 1))
	if items < active {
		active = items // a segment without items writes no file
	}
	if active > 0 && a.CompressedBytes > 0 {
		perSegment := a.CompressedBytes / float64(active)
		part := float64(a.PartFileBytes)
		full := math.Floor(perSegment / part)
		rest := perSegment - full*part
		files := int64(full)
		reqs := int64(full) * fileRequests(part, float64(a.UploadPartBytes))
		if rest > 0 {
			files++
			reqs += fileRequests(rest, float64(a.UploadPartBytes))
		}
		out.DataFiles = files * active
		out.Requests += reqs * active
	}
	out.CostUSD = float64(out.Requests) / 1000 * per1000
	return out
}

func fileRequests(bytes, uploadPart float64) int64 {
	if bytes <= uploadPart {
		return 1
	}
	return int64(math.Ceil(bytes/uploadPart)) + 2
}

func (in CostInput) check() error {
	switch {
	case in.TableSizeBytes < 0 || in.ItemCount < 0 || in.ProvisionedRCU < 0:
		return fault.Invalidf("table %s: negative size, item count or capacity from DescribeTable", in.Table)
	case in.BillingMode != "" && in.BillingMode != BillingProvisioned && in.BillingMode != BillingPayPerRequest:
		return fault.Invalidf("billing mode %q: want %s or %s", in.BillingMode, BillingProvisioned, BillingPayPerRequest)
	case in.ReadCapacityCap < 0:
		return fault.Invalidf("--read-capacity-cap %v: must not be negative", in.ReadCapacityCap)
	case in.CompressionRatio < 0:
		return fault.Invalidf("compression ratio %v: must be positive", in.CompressionRatio)
	case in.PartFileBytes < 0 || in.UploadPartBytes < 0:
		return fault.Invalidf("part sizes must not be negative")
	case in.CPUSecondsPerGiB < 0 || in.SlotBytesPerSecond < 0 || in.SlotsPerVCPU < 0 || in.MemoryGiBPerVCPU < 0 || in.FleetSlots < 0:
		return fault.Invalidf("fleet assumptions must not be negative")
	}
	return nil
}

func classNames(p PriceList) string {
	s := ""
	for i, c := range p.Storage {
		if i > 0 {
			s += ", "
		}
		s += c.Class
	}
	return s
}

func orFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func orInt(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

func ptr(f float64) *float64 { return &f }
