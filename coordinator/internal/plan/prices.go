package plan

// PriceList is the list prices a cost plan multiplies by, in USD. Prices
// differ by region and change; USEast1 is the one table of them in code,
// and docs/cost.md says where each comes from. To price another region,
// copy USEast1 and change what differs.
type PriceList struct {
	Region string `json:"region"`
	// AsOf says when the prices were taken from AWS's pricing pages.
	AsOf string `json:"asOf"`

	OnDemandReadPerMillion float64 `json:"onDemandReadPerMillion"` // DynamoDB read request units
	ProvisionedRCUHour     float64 `json:"provisionedRcuHour"`     // one read capacity unit for one hour
	ExportPerGiB           float64 `json:"exportPerGiB"`           // native Export to S3 (full), per GB of table
	PITRPerGiBMonth        float64 `json:"pitrPerGiBMonth"`        // continuous backups, per GB of table per month
	FargateVCPUHour        float64 `json:"fargateVcpuHour"`        // Linux/x86
	FargateGiBHour         float64 `json:"fargateGiBHour"`         // memory, Linux/x86

	// Storage is per S3 storage class, in the order the plan prints them.
	Storage []StoragePrice `json:"storage"`

	Sources []string `json:"sources"`
}

// StoragePrice is one S3 storage class. PUTs are priced by the class the
// object is written in, so writing straight to a colder class
// (--storage-class) costs more per request.
type StoragePrice struct {
	Class        string  `json:"class"`        // as --storage-class takes it
	PerGiBMonth  float64 `json:"perGiBMonth"`  // first 50 TB tier for STANDARD
	PutPer1000   float64 `json:"putPer1000"`   // PUT, COPY, POST, LIST
	MinimumDays  int     `json:"minimumDays"`  // deleting earlier still bills this many days
	MinimumBytes int64   `json:"minimumBytes"` // smaller objects bill as this size
}

// USEast1 is the us-east-1 list prices AWS published from 1 November 2024
// (the date DynamoDB on-demand throughput was cut by half, to $0.125 per
// million read request units) and still showed in January 2025, when they
// were written down here. AWS bills "GB" as 2^30 bytes, so every size in a
// cost plan is in GiB.
var USEast1 = PriceList{
	Region:                 "us-east-1",
	AsOf:                   "2025-01 (on-demand DynamoDB prices in force since 2024-11-01)",
	OnDemandReadPerMillion: 0.125,
	ProvisionedRCUHour:     0.00013,
	ExportPerGiB:           0.10,
	PITRPerGiBMonth:        0.20,
	FargateVCPUHour:        0.04048,
	FargateGiBHour:         0.004445,
	Storage: []StoragePrice{
		{Class: "STANDARD", PerGiBMonth: 0.023, PutPer1000: 0.005},
		{Class: "STANDARD_IA", PerGiBMonth: 0.0125, PutPer1000: 0.01, MinimumDays: 30, MinimumBytes: 128 << 10},
		{Class: "GLACIER_IR", PerGiBMonth: 0.004, PutPer1000: 0.02, MinimumDays: 90, MinimumBytes: 128 << 10},
		{Class: "DEEP_ARCHIVE", PerGiBMonth: 0.00099, PutPer1000: 0.05, MinimumDays: 180},
	},
	Sources: []string{
		"https://aws.amazon.com/dynamodb/pricing/on-demand/",
		"https://aws.amazon.com/dynamodb/pricing/provisioned/",
		"https://aws.amazon.com/s3/pricing/",
		"https://aws.amazon.com/fargate/pricing/",
	},
}

// storagePrice finds class in p, or nil.
func (p PriceList) storagePrice(class string) *StoragePrice {
	for i := range p.Storage {
		if p.Storage[i].Class == class {
			return &p.Storage[i]
		}
	}
	return nil
}
